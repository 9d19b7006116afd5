# ctest cxx.extra_tests_option: configures a nested build of this project
# with -DELOQSTORE_EXTRA_TESTS_DIR=cpp-compat/extra-sample (a good test
# file, a helper file, and a broken file), builds it, runs its ctest, and
# checks that the good file's test cases ran and passed while the broken
# file was reported with its reason.
# Inputs: SOURCE_DIR WORK_DIR SAMPLE_DIR CARGO_TARGET_DIR GENERATOR
function(run out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_var} "${out}\n${err}" PARENT_SCOPE)
  set(${out_var}_rc "${rc}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
# The nested build checks the option's mechanics; it is not built with
# AddressSanitizer even when the outer build is (the C++ API tests are).
set(ASAN OFF)
run(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}"
    -G "${GENERATOR}"
    "-DELOQSTORE_EXTRA_TESTS_DIR=${SAMPLE_DIR}"
    "-DELOQSTORE_CARGO_TARGET_DIR=${CARGO_TARGET_DIR}"
    "-DELOQSTORE_ASAN=${ASAN}"
    -DELOQSTORE_BUILD_TESTS=OFF
    -DELOQSTORE_BUILD_CXX_TESTS=OFF
    -DELOQSTORE_BUILD_EXAMPLES=OFF)
if(NOT configure_rc EQUAL 0)
  message(FATAL_ERROR "nested configure failed:\n${configure}")
endif()
# The broken file is named with its reason at configure time.
if(NOT configure MATCHES "broken_test\\.cpp does not build" OR
   NOT configure MATCHES "test_utils\\.h")
  message(FATAL_ERROR "the broken file was not reported:\n${configure}")
endif()
if(NOT configure MATCHES "1 of 2 test files and 1 helper files build; 1 files left out")
  message(FATAL_ERROR "unexpected summary:\n${configure}")
endif()
file(READ "${WORK_DIR}/extra-tests/report.txt" report)
if(NOT report MATCHES "broken_test\\.cpp: does not build")
  message(FATAL_ERROR "report without the broken file:\n${report}")
endif()

run(build "${CMAKE_COMMAND}" --build "${WORK_DIR}")
if(NOT build_rc EQUAL 0)
  message(FATAL_ERROR "nested build failed:\n${build}")
endif()

run(tests "${CMAKE_CTEST_COMMAND}" --test-dir "${WORK_DIR}" --output-on-failure)
message(STATUS "nested ctest:\n${tests}")
# Both test cases of the good file ran and passed; the broken file shows
# up as not run, with no test of it counted as passed.
foreach(name "extra.sample_test.sample: write then scan an in-memory store"
             "extra.sample_test.sample: reading a missing key gives NotFound")
  string(REPLACE "." "\\." re "${name}")
  if(NOT tests MATCHES "${re} [.]+ +Passed")
    message(FATAL_ERROR "'${name}' did not pass")
  endif()
endforeach()
if(NOT tests MATCHES "extra\\.unbuilt\\.broken_test [.*]+ *(Disabled|Not Run)")
  message(FATAL_ERROR "the broken file is not listed as not run")
endif()
if(NOT tests MATCHES "100% tests passed, 0 tests failed out of 2")
  message(FATAL_ERROR "unexpected nested ctest result")
endif()
