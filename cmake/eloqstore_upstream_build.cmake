# Build step of the upstream test harness (cmake -DSETTINGS=... -P this),
# run by the target eloqstore_upstream_tests; SETTINGS is written by
# cmake/eloqstore_upstream_tests.cmake at configure time.
#
# 1. Configures and builds cpp-compat/upstream-tests (the staged test files,
#    one program each) in BINARY_DIR, keeping going past failures. A program
#    that does not build gets its compiler output in LOG_DIR/<program>.log
#    and no stale executable.
# 2. Writes CTEST_FILE: one ctest per test case. Built programs are asked
#    for their cases (Catch2's listing); the cases the source scan found are
#    added, so a case missing from its program (or from a program that did
#    not build) still shows up, failing. Excluded cases are registered
#    disabled, with their reason.
# This step itself fails only when the harness is broken, never because an
# upstream file does not build.
cmake_minimum_required(VERSION 3.16)
include("${SETTINGS}")
file(MAKE_DIRECTORY "${LOG_DIR}")

set(build_s3_selftest OFF)
if(S3_NEEDED)
  set(build_s3_selftest ON)
endif()
set(programs "")
foreach(stem IN LISTS BUILD_STEMS)
  list(APPEND programs "upstream_${stem}")
endforeach()
list(APPEND programs upstream_support_verifier)
if(build_s3_selftest)
  list(APPEND programs upstream_support_s3)
endif()

# 1. Configure (cheap when nothing changed) and build.
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}"
          -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
          "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX}"
          "-DSTAGE_DIR=${STAGE_DIR}" "-DPROJECT_ROOT=${PROJECT_ROOT}"
          "-DLIBRARY=${LIBRARY}" "-DASAN=${ASAN}"
          "-DBUILD_STEMS=${BUILD_STEMS}" "-DHELPERS=${HELPERS}"
          "-DBUILD_S3_SELFTEST=${build_s3_selftest}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "upstream tests: configuring ${SOURCE_DIR} failed:\n${out}\n${err}")
endif()

if(GENERATOR MATCHES "Ninja")
  set(keep_going -- -k 0)
elseif(GENERATOR MATCHES "Makefiles")
  set(keep_going -- -k)
else()
  set(keep_going "")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BINARY_DIR}" -j "${JOBS}" ${keep_going}
  RESULT_VARIABLE build_rc)

set(built "")
foreach(p IN LISTS programs)
  set(exe "${BINARY_DIR}/${p}")
  set(log "${LOG_DIR}/${p}.log")
  if(NOT build_rc EQUAL 0)
    # Build it alone to learn whether it is one of the failures, and why.
    execute_process(
      COMMAND "${CMAKE_COMMAND}" --build "${BINARY_DIR}" --target "${p}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      file(WRITE "${log}" "${out}\n${err}")
      file(REMOVE "${exe}")
      message(WARNING "upstream tests: ${p} does not build; its cases will fail (see ${log})")
      continue()
    endif()
  endif()
  file(REMOVE "${log}")
  list(APPEND built "${p}")
endforeach()

# 2. The ctest registrations.
if(CATCH_MAJOR EQUAL 2)
  set(list_args --list-test-names-only)
else()
  set(list_args --list-tests --verbosity quiet)
endif()

# Catch2's test spec for exactly this name.
function(spec_of out name)
  set(s "${name}")
  foreach(c "\\" "," "[" "]" "*" "~" "\"")
    string(REPLACE "${c}" "\\${c}" s "${s}")
  endforeach()
  set(${out} "${s}" PARENT_SCOPE)
endfunction()

function(list_cases out exe)
  set(ENV{ASAN_OPTIONS} "detect_leaks=0")
  execute_process(COMMAND "${exe}" ${list_args}
                  OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE r)
  if(NOT r MATCHES "^[0-9]+$" OR (CATCH_MAJOR EQUAL 3 AND NOT r EQUAL 0))
    message(FATAL_ERROR "upstream tests: cannot list the cases of ${exe} (${r}): ${e}")
  endif()
  string(REPLACE ";" "\\;" o "${o}")
  string(REPLACE "\n" ";" lines "${o}")
  set(names "")
  foreach(l IN LISTS lines)
    string(REGEX REPLACE "\r$" "" l "${l}")
    if(NOT l STREQUAL "")
      list(APPEND names "${l}")
    endif()
  endforeach()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

set(script "")
set(index 0)
# add_case(<ctest name> <program> <case> <run dir> <kind>): kind is
# "local", "difference" (a documented difference: label `difference`) or
# "s3" (needs the S3 server).
macro(add_case ctest_name program case_name run_dir kind)
  spec_of(spec "${case_name}")
  string(APPEND script
    "add_test([==[${ctest_name}]==] [==[${RUN_CASE}]==] [==[${run_dir}]==]"
    " [==[${LOG_DIR}/${program}.log]==] [==[${BINARY_DIR}/${program}]==]"
    " [==[${spec}]==] --warn NoTests)\n"
    "set_tests_properties([==[${ctest_name}]==] PROPERTIES TIMEOUT ${TIMEOUT}")
  set(env "${SANITIZER_ENV}")
  if("${kind}" STREQUAL "s3")
    # Upstream's cases use 127.0.0.1:9900 (the default port); the harness's
    # own S3 tests and samples read the fixture's address from here.
    list(APPEND env "ELOQSTORE_S3_TEST_ENDPOINT=${S3_ENDPOINT}")
  endif()
  if(env)
    string(APPEND script " ENVIRONMENT [==[${env}]==]")
  endif()
  if("${kind}" STREQUAL "s3")
    string(APPEND script " FIXTURES_REQUIRED upstream_s3 RESOURCE_LOCK upstream_s3"
                         " LABELS [==[upstream;s3]==]")
  elseif("${kind}" STREQUAL "difference")
    string(APPEND script " LABELS [==[upstream;difference]==]")
  else()
    string(APPEND script " LABELS upstream")
  endif()
  string(APPEND script ")\n")
endmacro()

set(counts "")
foreach(stem IN LISTS ALL_STEMS)
  set(program "upstream_${stem}")
  set(names "")
  if(program IN_LIST built)
    list_cases(names "${BINARY_DIR}/${program}")
  endif()
  # Cases the scan found that the program does not list (or all of them
  # when it did not build), except the excluded ones.
  foreach(c IN LISTS CASES_${stem})
    if(NOT c IN_LIST names AND NOT c IN_LIST EXCLUDED_${stem})
      list(APPEND names "${c}")
    endif()
  endforeach()
  set(n_run 0)
  foreach(c IN LISTS names)
    set(kind local)
    if("*" IN_LIST S3_${stem} OR c IN_LIST S3_${stem})
      set(kind s3)
    elseif(c IN_LIST DIFF_${stem})
      set(kind difference)
    endif()
    math(EXPR index "${index} + 1")
    add_case("upstream.${stem}.${c}" "${program}" "${c}"
             "${RUN_ROOT}/${stem}/${index}" "${kind}")
    math(EXPR n_run "${n_run} + 1")
  endforeach()
  set(n_ex 0)
  foreach(c IN LISTS EXCLUDED_${stem})
    set(reason "${REASON_${stem}_${c}}")
    string(APPEND script
      "add_test([==[upstream.${stem}.${c}]==] [==[${CMAKE_COMMAND}]==] -E echo"
      " [==[excluded: ${reason}]==])\n"
      "set_tests_properties([==[upstream.${stem}.${c}]==] PROPERTIES DISABLED TRUE"
      " LABELS [==[upstream;excluded]==])\n")
    math(EXPR n_ex "${n_ex} + 1")
  endforeach()
  list(APPEND counts "${stem}: ${n_run} registered, ${n_ex} excluded")
endforeach()

# The test support's own tests.
foreach(p upstream_support_verifier upstream_support_s3)
  if(p STREQUAL "upstream_support_s3" AND NOT build_s3_selftest)
    continue()
  endif()
  set(names "")
  if(p IN_LIST built)
    list_cases(names "${BINARY_DIR}/${p}")
  else()
    set(names "BUILD")
  endif()
  set(kind local)
  if(p STREQUAL "upstream_support_s3")
    set(kind s3)
  endif()
  foreach(c IN LISTS names)
    math(EXPR index "${index} + 1")
    add_case("upstream.support.${c}" "${p}" "${c}" "${RUN_ROOT}/support/${index}" "${kind}")
  endforeach()
endforeach()

file(WRITE "${CTEST_FILE}.new" "${script}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different
                "${CTEST_FILE}.new" "${CTEST_FILE}")
string(REPLACE ";" "\n  " counts "${counts}")
message(STATUS "upstream tests: ctest cases written to ${CTEST_FILE}\n  ${counts}")
