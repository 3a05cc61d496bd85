# Small helpers so every target is declared the same way (STYLE.md, Layout and build).

set(RINGPOST_WARNINGS -Wall -Wextra -Wshadow=local -Wnon-virtual-dtor -Wswitch)
if(RINGPOST_WERROR)
  list(APPEND RINGPOST_WARNINGS -Werror)
endif()

function(ringpost_apply_options target)
  target_compile_options(${target} PRIVATE ${RINGPOST_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# ringpost_library(NAME SOURCES ... DEPS ...): a static library ringpost_NAME.
function(ringpost_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(ringpost_${name} STATIC ${ARG_SOURCES})
  ringpost_apply_options(ringpost_${name})
  # Our code reports errors with Status, never exceptions.
  target_compile_options(ringpost_${name} PRIVATE -fno-exceptions)
  target_link_libraries(ringpost_${name} PUBLIC ${ARG_DEPS})
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
