# Catch2 for the C++ test suites, and one ctest per Catch2 test case.
#
#   eloqstore_find_catch2()   finds Catch2 v3, else Catch2 v2 (Debian's
#                             `catch2` package) with the v3 header names
#                             (<catch2/catch_test_macros.hpp>, ...) mapped
#                             onto v2's single header by a shim directory.
#                             Defines the interface targets
#                               eloqstore_catch2       headers (+ library)
#                               eloqstore_catch2_main  the same plus main()
#                             and ELOQSTORE_CATCH2_MAJOR (2 or 3); leaves
#                             ELOQSTORE_CATCH2_FOUND false when neither exists.
#   eloqstore_catch_discover(target PREFIX p [ENVIRONMENT k=v...]
#                            [TIMEOUT s] [WORKING_DIRECTORY d])
#                             after each build of `target`, lists its test
#                             cases and registers each as ctest "<p><name>"
#                             (ctest names the program <p>NOT_BUILT, failing,
#                             until it is built).
include_guard(GLOBAL)

# Cache entries, so that every directory scope sees them whichever one
# included this file first.
get_filename_component(_es_shim
                       "${CMAKE_CURRENT_LIST_DIR}/../cpp-compat/catch2-v3-shim"
                       ABSOLUTE)
set(ELOQSTORE_CATCH2_SHIM_DIR "${_es_shim}" CACHE INTERNAL
    "Catch2 v3 header names over Catch2 v2")
set(_ELOQSTORE_CATCH_LIST_SCRIPT
    "${CMAKE_CURRENT_LIST_DIR}/eloqstore_catch_list.cmake" CACHE INTERNAL
    "Lists the test cases of a Catch2 program for ctest")
unset(_es_shim)

macro(eloqstore_find_catch2)
  # Catch2's imported targets are visible only in the directory that found
  # the package (and below): look it up here if this scope cannot see them.
  if(NOT TARGET Catch2::Catch2WithMain)
    find_package(Catch2 3 CONFIG QUIET)
    if(NOT Catch2_FOUND)
      find_package(Catch2 2 CONFIG QUIET)
    endif()
  endif()
  set(ELOQSTORE_CATCH2_FOUND FALSE)
  if(TARGET Catch2::Catch2WithMain AND DEFINED Catch2_VERSION)
    set(ELOQSTORE_CATCH2_FOUND TRUE)
    string(REGEX MATCH "^[0-9]+" ELOQSTORE_CATCH2_MAJOR "${Catch2_VERSION}")
    if(NOT TARGET eloqstore_catch2)
      add_library(eloqstore_catch2 INTERFACE)
      add_library(eloqstore_catch2_main INTERFACE)
      target_link_libraries(eloqstore_catch2 INTERFACE Catch2::Catch2)
      target_link_libraries(eloqstore_catch2_main INTERFACE
                            eloqstore_catch2 Catch2::Catch2WithMain)
      if(ELOQSTORE_CATCH2_MAJOR EQUAL 2)
        # Before the system include directory, so that the v3 names resolve
        # to the shim, which includes <catch2/catch.hpp>.
        target_include_directories(eloqstore_catch2 INTERFACE
                                   "${ELOQSTORE_CATCH2_SHIM_DIR}")
      endif()
      message(STATUS "eloqstore C++ tests: Catch2 ${Catch2_VERSION}")
    endif()
  endif()
endmacro()

function(eloqstore_catch_discover target)
  cmake_parse_arguments(ARG "" "PREFIX;TIMEOUT;WORKING_DIRECTORY"
                        "ENVIRONMENT" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  if(NOT ARG_WORKING_DIRECTORY)
    set(ARG_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_ctest")
  set(tests_file "${dir}/tests.cmake")
  set(include_file "${dir}/include.cmake")
  set(env_file "${dir}/environment.txt")
  string(REPLACE ";" "\n" env_lines "${ARG_ENVIRONMENT}")
  # Rewritten only when it changes, so reconfiguring does not relist.
  file(WRITE "${env_file}.in" "${env_lines}\n")
  configure_file("${env_file}.in" "${env_file}" COPYONLY)
  # Regenerated whenever the program or the listing script changes.
  add_custom_command(
    OUTPUT "${tests_file}"
    COMMAND "${CMAKE_COMMAND}"
            "-DEXE=$<TARGET_FILE:${target}>"
            "-DOUT=${tests_file}"
            "-DPREFIX=${ARG_PREFIX}"
            "-DCATCH_MAJOR=${ELOQSTORE_CATCH2_MAJOR}"
            "-DENV_FILE=${env_file}"
            "-DTIMEOUT=${ARG_TIMEOUT}"
            "-DWORKDIR=${ARG_WORKING_DIRECTORY}"
            -P "${_ELOQSTORE_CATCH_LIST_SCRIPT}"
    DEPENDS ${target} "${_ELOQSTORE_CATCH_LIST_SCRIPT}" "${env_file}"
    COMMENT "Listing the Catch2 test cases of ${target}"
    VERBATIM)
  add_custom_target(${target}_ctest_list ALL DEPENDS "${tests_file}")
  file(WRITE "${include_file}"
"if(EXISTS \"${tests_file}\")
  include(\"${tests_file}\")
else()
  add_test([==[${ARG_PREFIX}NOT_BUILT]==] [==[${target}_NOT_BUILT]==])
endif()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
