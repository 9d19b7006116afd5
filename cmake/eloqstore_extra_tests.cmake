# ELOQSTORE_EXTRA_TESTS_DIR: builds an existing Catch2 test suite (e.g. one
# written for upstream EloqStore) against this library.
#
# In <dir>, each .cpp/.cc/.cxx file that defines Catch2 test cases becomes a
# test program; the other source files form a helper library linked into
# each. Catch2 v3 is used when installed, else Debian's Catch2 v2 with the v3
# header names mapped onto it. Every test case is registered with ctest as
# "extra.<file>: <test case>".
#
# Each file is first compiled at configure time (test programs are also
# linked, with the helpers and the library, which is built for that). A file
# that does not build is left out and reported: a configure warning with
# the compiler's first lines, the full output in
# <build>/extra-tests/report.txt, and a ctest "extra.unbuilt.<file>" that
# prints the reason. That ctest is disabled (listed as not run) unless
# ELOQSTORE_EXTRA_TESTS_STRICT is ON, when it fails. The other files build
# and run as usual.
#
# Include directories: <dir>, <dir>/.., this repository's include/ and the
# ones listed in ELOQSTORE_EXTRA_TESTS_INCLUDES.
include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/eloqstore_catch2.cmake")

option(ELOQSTORE_EXTRA_TESTS_STRICT
       "Make extra test files that do not build fail ctest instead of being listed as not run" OFF)
set(ELOQSTORE_EXTRA_TESTS_INCLUDES "" CACHE STRING
    "More include directories for ELOQSTORE_EXTRA_TESTS_DIR (;-separated)")

# Builds the library now: test programs are link-checked against it.
function(_eloqstore_extra_build_library out_var)
  set(lib "${ELOQSTORE_CARGO_TARGET_DIR}/release/libeloqstore.so")
  message(STATUS "extra tests: building the library for the link checks")
  # During a first configure CMake exports CC and CXX (its compilers) to
  # the processes it starts; build scripts of C dependencies (zstd-sys) track
  # them, so cargo would rebuild here, and again in the build, whose
  # environment lacks them. Drop them when CMake put them there.
  set(unset_env "")
  if(DEFINED ENV{CC} AND "$ENV{CC}" STREQUAL "${CMAKE_C_COMPILER}")
    list(APPEND unset_env --unset=CC)
  endif()
  if(DEFINED ENV{CXX} AND "$ENV{CXX}" STREQUAL "${CMAKE_CXX_COMPILER}")
    list(APPEND unset_env --unset=CXX)
  endif()
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env ${unset_env}
            "CARGO_TARGET_DIR=${ELOQSTORE_CARGO_TARGET_DIR}"
            "${CARGO_EXECUTABLE}" build --release --lib
            --manifest-path "${PROJECT_SOURCE_DIR}/Cargo.toml"
            ${_eloqstore_cargo_flags}
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT EXISTS "${lib}")
    message(FATAL_ERROR "cargo build failed:\n${out}\n${err}")
  endif()
  set(${out_var} "${lib}" PARENT_SCOPE)
endfunction()

# Reports why `src` does not build: a warning with the first error lines,
# the full output (in the variable named by output_var) in the report, and
# the short reason in <work>/reasons/<file>.txt.
function(_eloqstore_extra_unbuilt src output_var report work)
  get_filename_component(name "${src}" NAME)
  string(REGEX MATCHALL "[^\n]*(error|undefined reference)[^\n]*" errs
         "${${output_var}}")
  list(LENGTH errs n)
  if(n GREATER 8)
    list(SUBLIST errs 0 8 errs)
  endif()
  string(REPLACE ";" "\n    " short "${errs}")
  if(short STREQUAL "")
    set(short "(see ${report})")
  endif()
  message(WARNING "extra tests: ${name} does not build and is left out:\n    ${short}")
  file(APPEND "${report}" "\n==== ${name}: does not build\n${${output_var}}\n")
  file(WRITE "${work}/reasons/${name}.txt"
       "${src} does not build against eloqstore:\n    ${short}\n"
       "(full compiler output in ${report})\n")
endfunction()

function(eloqstore_add_extra_tests dir)
  get_filename_component(dir "${dir}" ABSOLUTE)
  if(NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "ELOQSTORE_EXTRA_TESTS_DIR ${dir} is not a directory")
  endif()
  eloqstore_find_catch2()
  if(NOT ELOQSTORE_CATCH2_FOUND)
    message(FATAL_ERROR "ELOQSTORE_EXTRA_TESTS_DIR needs Catch2 (v3, or v2: "
                        "apt-get install catch2)")
  endif()
  find_package(Threads REQUIRED)

  file(GLOB sources LIST_DIRECTORIES false CONFIGURE_DEPENDS
       "${dir}/*.cpp" "${dir}/*.cc" "${dir}/*.cxx")
  list(SORT sources)
  if(NOT sources)
    message(FATAL_ERROR "ELOQSTORE_EXTRA_TESTS_DIR ${dir} has no C++ sources")
  endif()

  set(work "${CMAKE_BINARY_DIR}/extra-tests")
  file(REMOVE_RECURSE "${work}/reasons")
  file(MAKE_DIRECTORY "${work}/reasons")
  set(report "${work}/report.txt")
  file(WRITE "${report}" "ELOQSTORE_EXTRA_TESTS_DIR=${dir}\n")

  get_filename_component(parent "${dir}" DIRECTORY)
  set(includes "${dir}" "${parent}" "${PROJECT_SOURCE_DIR}/include"
      ${ELOQSTORE_EXTRA_TESTS_INCLUDES})
  # try_compile gets them as -I flags (a list inside CMAKE_FLAGS would be
  # split apart).
  set(include_flags "")
  if(ELOQSTORE_CATCH2_MAJOR EQUAL 2)
    list(APPEND include_flags "-I${ELOQSTORE_CATCH2_SHIM_DIR}")
  endif()
  foreach(d IN LISTS includes)
    list(APPEND include_flags "-I${d}")
  endforeach()

  # Classify: files with test cases are test programs; a file defining
  # main() runs Catch2 itself.
  set(tests "")
  set(helpers "")
  set(own_main FALSE)
  foreach(src IN LISTS sources)
    file(READ "${src}" text)
    if(text MATCHES "(^|[^A-Za-z0-9_])(TEST_CASE|TEST_CASE_METHOD|SCENARIO|TEMPLATE_TEST_CASE|TEMPLATE_PRODUCT_TEST_CASE|TEMPLATE_LIST_TEST_CASE|METHOD_AS_TEST_CASE|TEMPLATE_TEST_CASE_SIG)[ \t\r\n]*\\(")
      list(APPEND tests "${src}")
    else()
      list(APPEND helpers "${src}")
    endif()
    if(text MATCHES "(^|[^A-Za-z0-9_])int[ \t\r\n]+main[ \t\r\n]*\\(")
      set(own_main TRUE)
    endif()
  endforeach()

  set(unbuilt "")

  # 1. Helpers: each must compile.
  set(good_helpers "")
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
  foreach(src IN LISTS helpers)
    get_filename_component(name "${src}" NAME)
    string(MAKE_C_IDENTIFIER "${name}" id)
    unset(_es_extra_ok CACHE)
    try_compile(_es_extra_ok "${work}/check/helper_${id}"
      SOURCES "${src}"
      COMPILE_DEFINITIONS ${include_flags}
      LINK_LIBRARIES Catch2::Catch2
      CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
      OUTPUT_VARIABLE output)
    if(_es_extra_ok)
      list(APPEND good_helpers "${src}")
      file(APPEND "${report}" "helper ${name}: compiles\n")
    else()
      _eloqstore_extra_unbuilt("${src}" output "${report}" "${work}")
      list(APPEND unbuilt "${src}")
    endif()
  endforeach()
  unset(CMAKE_TRY_COMPILE_TARGET_TYPE)

  # 2. Test programs: each must compile and link with the helpers, Catch2
  # and the library.
  _eloqstore_extra_build_library(libfile)
  if(own_main)
    set(catch_lib Catch2::Catch2)
  else()
    set(catch_lib Catch2::Catch2WithMain)
  endif()
  set(good_tests "")
  foreach(src IN LISTS tests)
    get_filename_component(name "${src}" NAME)
    string(MAKE_C_IDENTIFIER "${name}" id)
    unset(_es_extra_ok CACHE)
    try_compile(_es_extra_ok "${work}/check/test_${id}"
      SOURCES "${src}" ${good_helpers}
      COMPILE_DEFINITIONS ${include_flags}
      LINK_LIBRARIES "${libfile}" ${catch_lib} Threads::Threads
      CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
      OUTPUT_VARIABLE output)
    if(_es_extra_ok)
      list(APPEND good_tests "${src}")
      file(APPEND "${report}" "test ${name}: builds\n")
    else()
      _eloqstore_extra_unbuilt("${src}" output "${report}" "${work}")
      list(APPEND unbuilt "${src}")
    endif()
  endforeach()
  unset(_es_extra_ok CACHE)

  # 3. The real targets.
  if(good_helpers)
    add_library(eloqstore_extra_helpers OBJECT ${good_helpers})
    target_include_directories(eloqstore_extra_helpers PRIVATE ${includes})
    target_link_libraries(eloqstore_extra_helpers PRIVATE
      eloqstore eloqstore_catch2 eloqstore_sanitizer)
    set_target_properties(eloqstore_extra_helpers PROPERTIES
      CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON)
  endif()
  foreach(src IN LISTS good_tests)
    get_filename_component(stem "${src}" NAME_WE)
    string(MAKE_C_IDENTIFIER "${stem}" id)
    set(t "extra_${id}")
    add_executable(${t} "${src}")
    target_include_directories(${t} PRIVATE ${includes})
    if(own_main)
      target_link_libraries(${t} PRIVATE eloqstore_catch2)
    else()
      target_link_libraries(${t} PRIVATE eloqstore_catch2_main)
    endif()
    target_link_libraries(${t} PRIVATE eloqstore eloqstore_sanitizer
                          Threads::Threads)
    if(good_helpers)
      target_link_libraries(${t} PRIVATE eloqstore_extra_helpers)
    endif()
    set_target_properties(${t} PROPERTIES CXX_STANDARD 20
                          CXX_STANDARD_REQUIRED ON)
    eloqstore_catch_discover(${t}
      PREFIX "extra.${stem}."
      ENVIRONMENT ${ELOQSTORE_SANITIZER_ENV}
      WORKING_DIRECTORY "${work}"
      TIMEOUT 1800)
  endforeach()

  foreach(src IN LISTS unbuilt)
    get_filename_component(name "${src}" NAME)
    get_filename_component(stem "${src}" NAME_WE)
    add_test(NAME "extra.unbuilt.${stem}"
             COMMAND "${CMAKE_COMMAND}" -E cat "${work}/reasons/${name}.txt")
    if(ELOQSTORE_EXTRA_TESTS_STRICT)
      set_tests_properties("extra.unbuilt.${stem}" PROPERTIES WILL_FAIL TRUE)
    else()
      set_tests_properties("extra.unbuilt.${stem}" PROPERTIES DISABLED TRUE)
    endif()
  endforeach()

  list(LENGTH good_tests n_good)
  list(LENGTH tests n_tests)
  list(LENGTH good_helpers n_helpers)
  list(LENGTH unbuilt n_bad)
  set(summary "extra tests from ${dir}: ${n_good} of ${n_tests} test files and ${n_helpers} helper files build; ${n_bad} files left out")
  if(n_bad GREATER 0)
    string(APPEND summary " (reasons in ${report})")
  endif()
  message(STATUS "${summary}")
  file(APPEND "${report}" "\n${summary}\n")
endfunction()
