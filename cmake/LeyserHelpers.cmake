# Build rules shared by every leyser target: language level, warnings, sanitizers.

option(LEYSER_WERROR "Treat warnings as errors (ON in CI, OFF for consumers)" OFF)
set(LEYSER_SANITIZE "" CACHE STRING "Sanitizers: empty, 'address,undefined' or 'thread'")

set(LEYSER_WARNINGS
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough -Wformat=2 -Wvla
  -Wconversion -Wno-sign-conversion)

if(LEYSER_SANITIZE STREQUAL "")
  set(LEYSER_SANITIZE_FLAGS "")
elseif(LEYSER_SANITIZE STREQUAL "address,undefined" OR LEYSER_SANITIZE STREQUAL "thread")
  set(LEYSER_SANITIZE_FLAGS -fsanitize=${LEYSER_SANITIZE} -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
else()
  message(FATAL_ERROR "LEYSER_SANITIZE must be empty, 'address,undefined' or 'thread'")
endif()

# Applies leyser's compile settings to `target`.
function(leyser_target_settings target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  target_compile_options(${target} PRIVATE ${LEYSER_WARNINGS} ${LEYSER_SANITIZE_FLAGS})
  if(LEYSER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(LEYSER_SANITIZE_FLAGS)
    target_link_options(${target} PRIVATE ${LEYSER_SANITIZE_FLAGS})
  endif()
endfunction()

# leyser_cc_test(NAME SRCS... [DEPS ...]): a GoogleTest binary registered with CTest.
function(leyser_cc_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  leyser_target_settings(${name})
  target_link_libraries(${name} PRIVATE leyser leyser_testing ${ARG_DEPS}
                        GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "LEYSER_TEST_TMPDIR=${CMAKE_BINARY_DIR}/test-tmp")
endfunction()
