# Every dependency is a Debian package installed by tools/install_deps.sh.
find_package(PkgConfig REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing>=2.3)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# sd_notify for systemd's Type=notify (the packaged service).
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
# hiredis: the asynchronous Redis client (limits shared across nodes).
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# toml11 (header-only) reads the shaping file.
find_path(TOML11_INCLUDE_DIR toml.hpp)
if(NOT TOML11_INCLUDE_DIR)
  message(FATAL_ERROR "toml11 (toml.hpp) is missing: run tools/install_deps.sh")
endif()
find_package(absl REQUIRED)
find_package(Threads REQUIRED)
if(RINGPOST_TESTS)
  find_package(GTest REQUIRED)
endif()
if(RINGPOST_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# BoringSSL from android-libboringssl-dev. OpenSSL 3 is on the machine too, so
# the include directory goes first and the libraries are linked by full path,
# with an rpath: the wrong library can never be picked up silently.
set(BORINGSSL_INCLUDE_DIR /usr/include/android)
set(BORINGSSL_LIB_DIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
foreach(f ${BORINGSSL_INCLUDE_DIR}/openssl/base.h ${BORINGSSL_LIB_DIR}/libssl.so ${BORINGSSL_LIB_DIR}/libcrypto.so)
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "BoringSSL file ${f} is missing: run tools/install_deps.sh")
  endif()
endforeach()
add_library(ringpost_boringssl INTERFACE)
target_include_directories(ringpost_boringssl SYSTEM BEFORE INTERFACE ${BORINGSSL_INCLUDE_DIR})
target_link_libraries(ringpost_boringssl INTERFACE ${BORINGSSL_LIB_DIR}/libssl.so ${BORINGSSL_LIB_DIR}/libcrypto.so)
target_link_options(ringpost_boringssl INTERFACE "LINKER:-rpath,${BORINGSSL_LIB_DIR}")
