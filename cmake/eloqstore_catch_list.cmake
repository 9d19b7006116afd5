# Run by eloqstore_catch_discover after a test program is built: lists its
# Catch2 test cases and writes one add_test per case to OUT.
# Inputs: EXE, OUT, PREFIX, CATCH_MAJOR, ENV_FILE, TIMEOUT, WORKDIR.
if(CATCH_MAJOR EQUAL 2)
  set(list_args --list-test-names-only)
else()
  set(list_args --list-tests --verbosity quiet)
endif()
# Listing runs no test; keep sanitizer leak checks quiet for it.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
execute_process(COMMAND "${EXE}" ${list_args}
                OUTPUT_VARIABLE out ERROR_VARIABLE err
                RESULT_VARIABLE rc)
# Catch2 v2 exits with the number of test cases listed.
if(NOT rc MATCHES "^[0-9]+$" OR (CATCH_MAJOR EQUAL 3 AND NOT rc EQUAL 0))
  message(FATAL_ERROR "cannot list the test cases of ${EXE} (${rc}): ${err}")
endif()

file(STRINGS "${ENV_FILE}" env_lines)
list(FILTER env_lines EXCLUDE REGEX "^$")

string(REPLACE ";" "\\;" out "${out}")
string(REPLACE "\n" ";" lines "${out}")
set(script "")
set(count 0)
foreach(name IN LISTS lines)
  string(REGEX REPLACE "\r$" "" name "${name}")
  if(name STREQUAL "")
    continue()
  endif()
  # A test spec naming exactly this case: escape Catch2's special characters.
  set(spec "${name}")
  foreach(c "\\" "," "[" "]" "*" "~" "\"")
    string(REPLACE "${c}" "\\${c}" spec "${spec}")
  endforeach()
  set(ctest_name "${PREFIX}${name}")
  string(APPEND script
    "add_test([==[${ctest_name}]==] [==[${EXE}]==] [==[${spec}]==]"
    " --warn NoTests)\n"
    "set_tests_properties([==[${ctest_name}]==] PROPERTIES"
    " WORKING_DIRECTORY [==[${WORKDIR}]==] TIMEOUT ${TIMEOUT}")
  if(env_lines)
    # One bracket argument holding the ;-separated list of entries.
    string(APPEND script " ENVIRONMENT [==[${env_lines}]==]")
  endif()
  string(APPEND script ")\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXE} has no Catch2 test cases")
endif()
file(WRITE "${OUT}" "${script}")
