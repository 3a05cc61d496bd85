# Small helpers so every target is declared the same way (STYLE.md, Layout and build).

set(RINGPOST_WARNINGS -Wall -Wextra -Wnon-virtual-dtor -Wswitch)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND RINGPOST_WARNINGS -Wshadow=local)
endif()
if(RINGPOST_WERROR)
  list(APPEND RINGPOST_WARNINGS -Werror)
endif()

function(ringpost_apply_options target)
  target_compile_options(${target} PRIVATE ${RINGPOST_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# ringpost_library(NAME SOURCES ... [HEADERS ...] DEPS ... [PURE]): a static library
# ringpost_NAME. Every library is also entered in the layering manifest that
# cmake/check_layering.py reads at build time: a file may include only headers of its
# own library and of the libraries it depends on (DEPS, transitively), so the link
# graph is the layering check for headers too. A header belongs to the library that
# compiles its .cc, or that lists it in HEADERS, or else to the one library declared
# in its folder. PURE libraries (protocol engines, codecs, policy) include no
# socket, file, ring or clock header.
function(ringpost_library name)
  cmake_parse_arguments(ARG "PURE" "" "SOURCES;HEADERS;DEPS" ${ARGN})
  add_library(ringpost_${name} STATIC ${ARG_SOURCES})
  ringpost_apply_options(ringpost_${name})
  # Our code reports errors with Status, never exceptions.
  target_compile_options(ringpost_${name} PRIVATE -fno-exceptions)
  target_link_libraries(ringpost_${name} PUBLIC ${ARG_DEPS})
  file(RELATIVE_PATH folder ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(deps "")
  foreach(dep ${ARG_DEPS})
    if(dep MATCHES "^ringpost_")
      list(APPEND deps ${dep})
    endif()
  endforeach()
  set(pure 0)
  if(ARG_PURE)
    set(pure 1)
  endif()
  string(REPLACE ";" "," sources "${ARG_SOURCES}")
  string(REPLACE ";" "," headers "${ARG_HEADERS}")
  string(REPLACE ";" "," deps "${deps}")
  set_property(GLOBAL APPEND PROPERTY RINGPOST_LAYERING
    "ringpost_${name}\t${folder}\t${sources}\t${headers}\t${deps}\t${pure}")
endfunction()

# Writes the manifest and adds the build step that checks it (call once, after every
# library is declared).
function(ringpost_layering_check)
  get_property(entries GLOBAL PROPERTY RINGPOST_LAYERING)
  set(manifest ${PROJECT_BINARY_DIR}/layering_manifest.tsv)
  string(REPLACE ";" "\n" content "${entries}")
  file(WRITE ${manifest} "${content}\n")
  set(checked "")
  foreach(entry ${entries})
    string(REPLACE "\t" ";" fields "${entry}")
    list(GET fields 1 folder)
    file(GLOB files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.h ${PROJECT_SOURCE_DIR}/${folder}/*.cc)
    list(APPEND checked ${files})
  endforeach()
  list(REMOVE_DUPLICATES checked)
  set(stamp ${PROJECT_BINARY_DIR}/layering.stamp)
  add_custom_command(OUTPUT ${stamp}
    COMMAND python3 ${PROJECT_SOURCE_DIR}/cmake/check_layering.py ${PROJECT_SOURCE_DIR} ${manifest}
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${checked} ${manifest} ${PROJECT_SOURCE_DIR}/cmake/check_layering.py
    COMMENT "Checking that every include follows the library graph")
  add_custom_target(check_layering ALL DEPENDS ${stamp})
endfunction()

# ringpost_binary(NAME SOURCES ... DEPS ...)
function(ringpost_binary name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  ringpost_apply_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# ringpost_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
function(ringpost_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  ringpost_apply_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    RINGPOST_BINARY_DIR="${PROJECT_BINARY_DIR}" RINGPOST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# ringpost_fuzzer(NAME SOURCES ... DEPS ...): a libFuzzer target, only with RINGPOST_FUZZ
# (clang). Its corpus is tests/testdata/fuzz/NAME; ctest replays it.
function(ringpost_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT RINGPOST_FUZZ)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  ringpost_apply_options(${name})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/testdata/fuzz/${name})
  add_test(NAME ${name}_replay COMMAND ${name} -runs=0 ${corpus})
  set_tests_properties(${name}_replay PROPERTIES LABELS "fuzz")
endfunction()

# ringpost_benchmark(NAME SOURCES ... DEPS ...)
function(ringpost_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  ringpost_apply_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
endfunction()
