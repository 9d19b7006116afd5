# -DELOQSTORE_UPSTREAM_TESTS=<upstream checkout, or its tests/ folder>: builds
# upstream EloqStore's own Catch2 test files, unmodified, against this
# library and registers every test case as the ctest
# upstream.<file>.<case>, run in a fresh directory of its own.
#
# At configure time (this file):
#   - the test files are staged in <build>/upstream-tests/stage, laid out as
#     upstream's tree: tests/<file>.cpp (copies; a file with excluded cases
#     has exactly those TEST_CASE blocks cut out, line numbers kept),
#     tests/common.h + common.cpp and include/test_utils.h (the project's
#     replacements for upstream's test support, cpp-compat/upstream-tests/
#     support, written over the public API), include/*.h (this library's
#     headers), and an empty stand-in for every other header a test file
#     includes that neither provides (an engine-internal header the file
#     includes but, once excluded cases are cut, does not use);
#   - the exclusion list (ELOQSTORE_UPSTREAM_TESTS_EXCLUDE, default
#     cpp-compat/upstream-tests/excluded.txt), the list of cases that need S3
#     (ELOQSTORE_UPSTREAM_TESTS_S3, default .../s3-cases.txt) and the list of
#     documented differences (ELOQSTORE_UPSTREAM_TESTS_DIFFERENCES, default
#     .../known-differences.txt: those cases run and get the label
#     `difference`) are read;
#   - the target eloqstore_upstream_tests (in ALL) is defined, and the S3
#     server fixture when a case needs it.
# At build time, cmake/eloqstore_upstream_build.cmake builds the staged
# files as a separate CMake project (cpp-compat/upstream-tests), one program
# per test file, keeping going past a file that does not build, and writes
# the ctest registrations:
#   upstream.<file>.<case>     runs the case (run-case.sh); fails with the
#                              compiler's output if its file did not build
#   upstream.<file>.<case>     disabled, printing the reason, if excluded
#   upstream.support.<case>    the replacement support's own tests
#   upstream.s3_server.start/stop  the S3 fixture (127.0.0.1:9900,
#                              scripts/s3-test-server.sh)
# Nothing is skipped silently. A report is written to
# <build>/upstream-tests/report.txt.
include_guard(GLOBAL)

set(ELOQSTORE_UPSTREAM_TESTS_EXCLUDE
    "${PROJECT_SOURCE_DIR}/cpp-compat/upstream-tests/excluded.txt" CACHE FILEPATH
    "Upstream test cases not built (they use engine internals): file | case | reason")
set(ELOQSTORE_UPSTREAM_TESTS_S3
    "${PROJECT_SOURCE_DIR}/cpp-compat/upstream-tests/s3-cases.txt" CACHE FILEPATH
    "Upstream test cases that need the S3 test server: file | case (or *)")
set(ELOQSTORE_UPSTREAM_TESTS_DIFFERENCES
    "${PROJECT_SOURCE_DIR}/cpp-compat/upstream-tests/known-differences.txt" CACHE FILEPATH
    "Upstream test cases that fail by a documented, deliberate difference (label `difference`): file | case | README entry")
set(ELOQSTORE_UPSTREAM_TESTS_TIMEOUT 1800 CACHE STRING
    "ctest timeout of one upstream test case, in seconds")
set(ELOQSTORE_UPSTREAM_S3_PORT 9900 CACHE STRING
    "Port of the S3 test server on 127.0.0.1 (upstream's cases need 9900; the harness's own S3 tests follow this port)")

# Reads "a | b | c" lines (# comments and blank lines skipped) into
# <prefix>_<n>_0.. variables; <prefix>_COUNT is the number of lines.
function(_eloqstore_upstream_read_table file prefix)
  set(n 0)
  if(EXISTS "${file}")
    file(STRINGS "${file}" lines ENCODING UTF-8)
    foreach(line IN LISTS lines)
      if(line MATCHES "^[ \t]*(#|$)")
        continue()
      endif()
      string(REPLACE "|" ";" fields "${line}")
      set(i 0)
      foreach(f IN LISTS fields)
        string(STRIP "${f}" f)
        set(${prefix}_${n}_${i} "${f}" PARENT_SCOPE)
        math(EXPR i "${i} + 1")
      endforeach()
      math(EXPR n "${n} + 1")
    endforeach()
  elseif(NOT file STREQUAL "")
    message(FATAL_ERROR "upstream tests: ${file} does not exist")
  endif()
  set(${prefix}_COUNT ${n} PARENT_SCOPE)
endfunction()

# Quotes a value for a CMake script (bracket argument).
function(_eloqstore_upstream_quote out value)
  set(${out} "[==[${value}]==]" PARENT_SCOPE)
endfunction()

function(eloqstore_add_upstream_tests path)
  get_filename_component(path "${path}" ABSOLUTE)
  if(IS_DIRECTORY "${path}/tests")
    set(dir "${path}/tests")
  elseif(IS_DIRECTORY "${path}")
    set(dir "${path}")
  else()
    message(FATAL_ERROR "ELOQSTORE_UPSTREAM_TESTS: ${path} is not a directory")
  endif()
  file(GLOB sources LIST_DIRECTORIES false CONFIGURE_DEPENDS
       "${dir}/*.cpp" "${dir}/*.cc" "${dir}/*.cxx")
  list(SORT sources)
  if(NOT sources)
    message(FATAL_ERROR "ELOQSTORE_UPSTREAM_TESTS: no C++ sources in ${dir}")
  endif()

  include("${PROJECT_SOURCE_DIR}/cmake/eloqstore_catch2.cmake")
  eloqstore_find_catch2()
  if(NOT ELOQSTORE_CATCH2_FOUND)
    message(FATAL_ERROR "ELOQSTORE_UPSTREAM_TESTS needs Catch2 (v3, or v2: "
                        "apt-get install catch2)")
  endif()
  find_package(CURL QUIET)
  if(NOT CURL_FOUND OR CURL_VERSION_STRING VERSION_LESS 7.75)
    message(FATAL_ERROR "ELOQSTORE_UPSTREAM_TESTS needs libcurl >= 7.75 with "
                        "its headers (apt-get install libcurl4-openssl-dev) for "
                        "the S3 helpers of the test support")
  endif()

  set(harness "${PROJECT_SOURCE_DIR}/cpp-compat/upstream-tests")
  set(support "${harness}/support")
  set(work "${CMAKE_BINARY_DIR}/upstream-tests")
  set(stage "${work}/stage")
  set(report "${work}/report.txt")
  # The stage is kept between configures and only changed files are
  # rewritten, so that reconfiguring does not rebuild every test program.
  # `staged` collects what this configure stages; anything else left there
  # by an earlier one is removed at the end.
  if(NOT EXISTS "${work}/standins.txt")
    file(REMOVE_RECURSE "${stage}")
  endif()
  file(MAKE_DIRECTORY "${stage}/tests" "${stage}/include" "${stage}/src"
       "${work}/scan")
  set(staged "")
  set(old_standins "")
  if(EXISTS "${work}/standins.txt")
    file(STRINGS "${work}/standins.txt" old_standins)
  endif()
  file(WRITE "${report}" "ELOQSTORE_UPSTREAM_TESTS=${path}\ntest files: ${dir}\n\n")

  # This library's headers, as upstream's include/.
  file(GLOB headers "${PROJECT_SOURCE_DIR}/include/*.h")
  foreach(h IN LISTS headers)
    get_filename_component(n "${h}" NAME)
    file(CREATE_LINK "${h}" "${stage}/include/${n}" SYMBOLIC)
    list(APPEND staged "${stage}/include/${n}")
  endforeach()
  file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/external"
       "${stage}/include/external" SYMBOLIC)
  list(APPEND staged "${stage}/include/external")
  # The replacement test support, where upstream has its own.
  foreach(pair "tests/common.h=common.h" "tests/common.cpp=common.cpp"
               "include/test_utils.h=test_utils.h"
               "src/test_utils.cpp=test_utils.cpp"
               "include/s3_client.h=s3_client.h" "src/s3_client.cpp=s3_client.cpp"
               "tests/selftest_verifier.cpp=selftest_verifier.cpp"
               "tests/selftest_s3.cpp=selftest_s3.cpp")
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 to)
    list(GET pair 1 from)
    file(CREATE_LINK "${support}/${from}" "${stage}/${to}" SYMBOLIC)
    list(APPEND staged "${stage}/${to}")
  endforeach()
  set(replaced_files common.cpp selftest_verifier.cpp selftest_s3.cpp)

  # The case scanner (scan_cases.cpp), built now.
  set(scanner "${work}/scan/scan_cases")
  if(NOT EXISTS "${scanner}" OR
     "${harness}/scan_cases.cpp" IS_NEWER_THAN "${scanner}")
    try_compile(ok "${work}/scan/build"
      SOURCES "${harness}/scan_cases.cpp"
      CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
      COPY_FILE "${scanner}"
      OUTPUT_VARIABLE out)
    if(NOT ok)
      message(FATAL_ERROR "upstream tests: cannot build scan_cases.cpp:\n${out}")
    endif()
  endif()

  _eloqstore_upstream_read_table("${ELOQSTORE_UPSTREAM_TESTS_EXCLUDE}" ex)
  _eloqstore_upstream_read_table("${ELOQSTORE_UPSTREAM_TESTS_S3}" s3)
  _eloqstore_upstream_read_table("${ELOQSTORE_UPSTREAM_TESTS_DIFFERENCES}" diff)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               "${ELOQSTORE_UPSTREAM_TESTS_EXCLUDE}" "${harness}/scan_cases.cpp")
  foreach(f "${ELOQSTORE_UPSTREAM_TESTS_S3}" "${ELOQSTORE_UPSTREAM_TESTS_DIFFERENCES}")
    if(EXISTS "${f}")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${f}")
    endif()
  endforeach()

  # Where a quoted #include of a staged test file can be found (besides
  # the file's own directory).
  set(search_dirs "${stage}/include" "${support}/shim")
  if(ELOQSTORE_CATCH2_MAJOR EQUAL 2)
    list(APPEND search_dirs "${ELOQSTORE_CATCH2_SHIM_DIR}")
  endif()
  get_target_property(catch_inc Catch2::Catch2 INTERFACE_INCLUDE_DIRECTORIES)
  if(catch_inc)
    list(APPEND search_dirs ${catch_inc})
  endif()
  list(APPEND search_dirs ${CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES} /usr/include)

  set(manifest "")
  set(build_stems "")
  set(helpers "")
  set(all_stems "")
  set(standins "")
  foreach(src IN LISTS sources)
    get_filename_component(name "${src}" NAME)
    get_filename_component(stem "${src}" NAME_WE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
    if(name IN_LIST replaced_files)
      file(APPEND "${report}" "${name}: replaced by the project's test support (not compiled)\n")
      continue()
    endif()
    # This file's excluded cases.
    set(excluded_names "")
    set(ex_file "${work}/scan/${stem}.excluded")
    file(WRITE "${ex_file}" "")
    math(EXPR last "${ex_COUNT} - 1")
    if(ex_COUNT GREATER 0)
      foreach(i RANGE ${last})
        if(ex_${i}_0 STREQUAL stem)
          file(APPEND "${ex_file}" "${ex_${i}_1}\n")
          list(APPEND excluded_names "${ex_${i}_1}")
          _eloqstore_upstream_quote(qc "${ex_${i}_1}")
          _eloqstore_upstream_quote(qr "${ex_${i}_2}")
          string(APPEND manifest "list(APPEND EXCLUDED_${stem} ${qc})\n"
                                 "set(\"REASON_${stem}_${ex_${i}_1}\" ${qr})\n")
        endif()
      endforeach()
    endif()
    execute_process(
      COMMAND "${scanner}" "${src}" "${work}/scan/${name}" "${ex_file}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    configure_file("${work}/scan/${name}" "${stage}/tests/${name}" COPYONLY)
    list(APPEND staged "${stage}/tests/${name}")
    if(rc EQUAL 2)
      message(WARNING "upstream tests: stale exclusion list entry: ${err}")
      file(APPEND "${report}" "WARNING: ${err}")
    elseif(NOT rc EQUAL 0)
      message(FATAL_ERROR "upstream tests: cannot read ${src}: ${err}")
    endif()
    string(REPLACE ";" "\\;" out "${out}")
    string(REPLACE "\n" ";" lines "${out}")
    set(cases "")
    set(includes "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^case\t(.*)$")
        list(APPEND cases "${CMAKE_MATCH_1}")
      elseif(line MATCHES "^include\t(.*)$")
        list(APPEND includes "${CMAKE_MATCH_1}")
      elseif(line MATCHES "^other\t(.*)$")
        file(APPEND "${report}" "${name}: uses ${CMAKE_MATCH_1}; its cases are registered from the built program only\n")
      endif()
    endforeach()
    if(NOT cases)
      list(APPEND helpers "${name}")
      file(APPEND "${report}" "${name}: no test cases; compiled into every test program\n")
    else()
      list(APPEND all_stems "${stem}")
      foreach(c IN LISTS cases)
        _eloqstore_upstream_quote(qc "${c}")
        string(APPEND manifest "list(APPEND CASES_${stem} ${qc})\n")
      endforeach()
      list(LENGTH cases n_cases)
      list(LENGTH excluded_names n_ex)
      if(n_ex EQUAL n_cases)
        file(APPEND "${report}" "${name}: all ${n_cases} cases excluded; not compiled\n")
        continue()
      endif()
      list(APPEND build_stems "${stem}")
      file(APPEND "${report}" "${name}: ${n_cases} cases, ${n_ex} excluded\n")
    endif()
    # Stand-ins for the quoted includes nothing provides.
    foreach(inc IN LISTS includes)
      set(found FALSE)
      foreach(d "${stage}/tests" ${search_dirs})
        get_filename_component(candidate "${d}/${inc}" ABSOLUTE)
        # (A stand-in from an earlier configure does not count.)
        if(EXISTS "${candidate}" AND NOT candidate IN_LIST old_standins)
          set(found TRUE)
          break()
        endif()
      endforeach()
      if(found)
        continue()
      endif()
      if(inc MATCHES "^\\.\\./")
        get_filename_component(target "${stage}/tests/${inc}" ABSOLUTE)
      else()
        set(target "${stage}/include/${inc}")
      endif()
      string(FIND "${target}" "${stage}/" at)
      if(NOT at EQUAL 0)
        file(APPEND "${report}" "${name}: #include \"${inc}\" is outside the staged tree; no stand-in\n")
        continue()
      endif()
      if(NOT target IN_LIST standins)
        list(APPEND standins "${target}")
        list(APPEND staged "${target}")
        file(WRITE "${work}/scan/standin.h"
          "// Empty stand-in for upstream EloqStore's internal header \"${inc}\",\n"
          "// made by the upstream test harness (cmake/eloqstore_upstream_tests.cmake):\n"
          "// this library does not provide engine internals. A test file that\n"
          "// includes it without using it builds; one that uses it does not.\n"
          "#pragma once\n")
        configure_file("${work}/scan/standin.h" "${target}" COPYONLY)
        file(APPEND "${report}" "stand-in (empty): ${inc} (included by ${name})\n")
      endif()
    endforeach()
  endforeach()

  # Remove what an earlier configure staged and this one did not.
  string(REPLACE ";" "\n" standin_lines "${standins}")
  file(WRITE "${work}/standins.txt" "${standin_lines}\n")
  file(GLOB_RECURSE present LIST_DIRECTORIES false "${stage}/*")
  foreach(f IN LISTS present)
    if(NOT f IN_LIST staged AND NOT f MATCHES "^${stage}/include/external/")
      file(REMOVE "${f}")
    endif()
  endforeach()

  # Cases that need S3.
  set(s3_needed FALSE)
  math(EXPR last "${s3_COUNT} - 1")
  if(s3_COUNT GREATER 0)
    foreach(i RANGE ${last})
      if(s3_${i}_0 IN_LIST all_stems)
        set(s3_needed TRUE)
        _eloqstore_upstream_quote(qc "${s3_${i}_1}")
        string(APPEND manifest "list(APPEND S3_${s3_${i}_0} ${qc})\n")
      endif()
    endforeach()
  endif()

  # Cases that fail by a documented difference.
  math(EXPR last "${diff_COUNT} - 1")
  if(diff_COUNT GREATER 0)
    foreach(i RANGE ${last})
      _eloqstore_upstream_quote(qc "${diff_${i}_1}")
      string(APPEND manifest "list(APPEND DIFF_${diff_${i}_0} ${qc})\n")
    endforeach()
  endif()

  list(LENGTH sources n_src)
  list(LENGTH build_stems n_build)
  list(LENGTH all_stems n_tests)
  set(summary "upstream tests from ${dir}: ${n_tests} test files, ${n_build} to build")
  message(STATUS "${summary} (details in ${report})")
  file(APPEND "${report}" "\n${summary}\n")

  # What the build script needs.
  if(ELOQSTORE_ASAN)
    set(asan ON)
  else()
    set(asan OFF)
  endif()
  cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
  set(settings "${work}/settings.cmake")
  set(head "")
  foreach(v
      "SOURCE_DIR=${harness}" "BINARY_DIR=${work}/build" "STAGE_DIR=${stage}"
      "GENERATOR=${CMAKE_GENERATOR}" "CXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "PROJECT_ROOT=${PROJECT_SOURCE_DIR}" "LIBRARY=${ELOQSTORE_SHARED_REAL}"
      "ASAN=${asan}" "SANITIZER_ENV=${ELOQSTORE_SANITIZER_ENV}"
      "CATCH_MAJOR=${ELOQSTORE_CATCH2_MAJOR}" "JOBS=${jobs}"
      "RUN_ROOT=${work}/run" "LOG_DIR=${work}/logs"
      "RUN_CASE=${harness}/run-case.sh" "CTEST_FILE=${work}/cases.cmake"
      "TIMEOUT=${ELOQSTORE_UPSTREAM_TESTS_TIMEOUT}" "S3_NEEDED=${s3_needed}"
      "S3_ENDPOINT=http://127.0.0.1:${ELOQSTORE_UPSTREAM_S3_PORT}"
      "CMAKE_PREFIX=${CMAKE_PREFIX_PATH}")
    string(FIND "${v}" "=" eq)
    string(SUBSTRING "${v}" 0 ${eq} k)
    math(EXPR eq "${eq} + 1")
    string(SUBSTRING "${v}" ${eq} -1 val)
    _eloqstore_upstream_quote(q "${val}")
    string(APPEND head "set(${k} ${q})\n")
  endforeach()
  foreach(s IN LISTS build_stems)
    string(APPEND head "list(APPEND BUILD_STEMS [==[${s}]==])\n")
  endforeach()
  foreach(s IN LISTS all_stems)
    string(APPEND head "list(APPEND ALL_STEMS [==[${s}]==])\n")
  endforeach()
  foreach(h IN LISTS helpers)
    string(APPEND head "list(APPEND HELPERS [==[${h}]==])\n")
  endforeach()
  file(WRITE "${settings}.in" "${head}${manifest}")
  configure_file("${settings}.in" "${settings}" COPYONLY)

  add_custom_target(eloqstore_upstream_tests ALL
    COMMAND "${CMAKE_COMMAND}" "-DSETTINGS=${settings}"
            -P "${PROJECT_SOURCE_DIR}/cmake/eloqstore_upstream_build.cmake"
    COMMENT "Building upstream's test files against eloqstore (cpp-compat/upstream-tests)"
    USES_TERMINAL
    VERBATIM)
  add_dependencies(eloqstore_upstream_tests eloqstore_cargo)

  # The S3 server fixture, when some case needs it.
  if(s3_needed)
    set(s3dir "${work}/s3-server")
    add_test(NAME upstream.s3_server.start
      COMMAND "${PROJECT_SOURCE_DIR}/scripts/s3-test-server.sh" start
              "${ELOQSTORE_UPSTREAM_S3_PORT}" "${s3dir}" eloqstore)
    add_test(NAME upstream.s3_server.stop
      COMMAND "${PROJECT_SOURCE_DIR}/scripts/s3-test-server.sh" stop
              "${ELOQSTORE_UPSTREAM_S3_PORT}" "${s3dir}")
    set_tests_properties(upstream.s3_server.start PROPERTIES
      FIXTURES_SETUP upstream_s3 RESOURCE_LOCK upstream_s3 TIMEOUT 600)
    set_tests_properties(upstream.s3_server.stop PROPERTIES
      FIXTURES_CLEANUP upstream_s3 RESOURCE_LOCK upstream_s3 TIMEOUT 120)
  endif()

  # The cases, registered by the build.
  set(include_file "${work}/ctest-include.cmake")
  file(WRITE "${include_file}"
"if(EXISTS [==[${work}/cases.cmake]==])
  include([==[${work}/cases.cmake]==])
else()
  add_test(upstream.NOT_BUILT [==[${CMAKE_COMMAND}]==] -E echo
           \"build the target eloqstore_upstream_tests first\")
  set_tests_properties(upstream.NOT_BUILT PROPERTIES WILL_FAIL TRUE)
endif()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
