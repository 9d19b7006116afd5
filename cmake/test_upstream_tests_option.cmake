# ctest cxx.upstream_tests_option: configures a nested build of this project
# with -DELOQSTORE_UPSTREAM_TESTS=cpp-compat/upstream-sample (a suite shaped
# like upstream's: a tests/ folder whose own common.h/common.cpp need the
# AWS SDK and glog, files that use test_utils.h, include engine-internal
# headers, have a case excluded by name, or do not build), builds it, runs
# its ctest and checks what the harness promises:
#   - the suite's common.h/.cpp are replaced by the project's support;
#   - internal headers a file does not use get empty stand-ins;
#   - the excluded case is listed, disabled, and not compiled;
#   - the cases of a file that does not build fail with the compiler's
#     message; every other case, and the support's own tests (MapVerifier
#     catching a tampered store among them), pass.
#   - the sample's cloud case (on the sample's S3 list) and the support's
#     S3 client tests pass against the S3 server fixture the harness starts
#     (scripts/s3-test-server.sh, on S3_PORT rather than upstream's 9900).
# Inputs: SOURCE_DIR WORK_DIR SAMPLE_DIR CARGO_TARGET_DIR GENERATOR S3_PORT
function(run out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_var} "${out}\n${err}" PARENT_SCOPE)
  set(${out_var}_rc "${rc}" PARENT_SCOPE)
endfunction()

function(expect text regex what)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: /${regex}/ not found in:\n${text}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
run(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}"
    -G "${GENERATOR}"
    "-DELOQSTORE_UPSTREAM_TESTS=${SAMPLE_DIR}"
    "-DELOQSTORE_UPSTREAM_TESTS_EXCLUDE=${SAMPLE_DIR}/excluded.txt"
    "-DELOQSTORE_UPSTREAM_TESTS_S3=${SAMPLE_DIR}/s3-cases.txt"
    "-DELOQSTORE_UPSTREAM_S3_PORT=${S3_PORT}"
    "-DELOQSTORE_CARGO_TARGET_DIR=${CARGO_TARGET_DIR}"
    -DELOQSTORE_ASAN=OFF
    -DELOQSTORE_BUILD_TESTS=OFF
    -DELOQSTORE_BUILD_CXX_TESTS=OFF
    -DELOQSTORE_BUILD_EXAMPLES=OFF)
if(NOT configure_rc EQUAL 0)
  message(FATAL_ERROR "nested configure failed:\n${configure}")
endif()
expect("${configure}" "4 test files, 4 to build" "configure summary")
file(READ "${WORK_DIR}/upstream-tests/report.txt" report)
expect("${report}" "common\\.cpp: replaced by the project's test support" "report")
foreach(h "tasks/task_manager\\.h" "\\.\\./include/manifest_buffer\\.h"
          "storage/page_mapper\\.h" "async_io_manager\\.h")
  expect("${report}" "stand-in \\(empty\\): ${h}" "report")
endforeach()
expect("${report}" "sample_internals\\.cpp: 3 cases, 1 excluded" "report")
# The excluded case is not in the compiled copy.
file(READ "${WORK_DIR}/upstream-tests/stage/tests/sample_internals.cpp" staged)
if(staged MATCHES "SetPoolSizesForTest")
  message(FATAL_ERROR "the excluded case was compiled:\n${staged}")
endif()
expect("${staged}" "excluded case \"sample: uses engine internals\"" "staged copy")

run(build "${CMAKE_COMMAND}" --build "${WORK_DIR}")
if(NOT build_rc EQUAL 0)
  message(FATAL_ERROR "nested build failed (a test file that does not build "
                      "must not fail the build):\n${build}")
endif()
expect("${build}" "upstream_sample_broken does not build" "build output")

run(tests "${CMAKE_CTEST_COMMAND}" --test-dir "${WORK_DIR}" --output-on-failure)
message(STATUS "nested ctest:\n${tests}")
foreach(name
    "upstream.sample_store.sample: MapVerifier over a persistent store"
    "upstream.sample_store.sample: append mode and an in-memory store"
    "upstream.sample_store.sample: ConcurrencyTester"
    "upstream.sample_store.sample: fresh directory \\(1\\)"
    "upstream.sample_store.sample: fresh directory \\(2\\)"
    "upstream.sample_internals.sample: public helpers next to internal includes"
    "upstream.sample_internals.sample: built with assertions on"
    "upstream.support.MapVerifier catches a wrong value"
    "upstream.support.MapVerifier catches a missing key"
    "upstream.support.MapVerifier catches an extra key"
    "upstream.support.ConcurrencyTester catches a torn segment"
    "upstream.sample_cloud.sample: a cloud store through the S3 fixture"
    "upstream.support.S3 client: put, get, copy, move, delete"
    "upstream.support.S3 client: a request signed with the wrong secret is refused"
    "upstream.s3_server.start"
    "upstream.s3_server.stop")
  expect("${tests}" "${name} [.]+ +Passed" "test result")
endforeach()
expect("${tests}" "upstream\\.sample_internals\\.sample: uses engine internals [.*]+ *(Disabled|Not Run)"
       "excluded case")
foreach(name "first case" "second case")
  expect("${tests}" "upstream\\.sample_broken\\.sample: broken file, ${name} [.*]+ *Failed"
         "case of the file that does not build")
endforeach()
expect("${tests}" "was not built" "failure message")
expect("${tests}" "IouringMgr" "compiler output in the failure")
# Everything else passed: only the two broken cases failed.
string(REGEX MATCH "tests passed, ([0-9]+) tests failed out of ([0-9]+)" m "${tests}")
if(NOT CMAKE_MATCH_1 EQUAL 2)
  message(FATAL_ERROR "expected exactly 2 failures (the broken file): ${m}")
endif()
