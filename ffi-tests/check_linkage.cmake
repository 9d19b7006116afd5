# Fails unless PROGRAM loads libeloqstore through its soname from the
# library directory of this build (EXPECTED, a path).
#
#   cmake -DPROGRAM=... -DEXPECTED=.../lib/libeloqstore.so.0 -P check_linkage.cmake
execute_process(COMMAND ldd "${PROGRAM}" OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ldd ${PROGRAM} failed (${rc}):\n${out}")
endif()
get_filename_component(soname "${EXPECTED}" NAME)
string(REGEX MATCH "${soname} => ([^ \n]+)" line "${out}")
if(NOT line)
  message(FATAL_ERROR "${PROGRAM} does not load ${soname}:\n${out}")
endif()
set(found "${CMAKE_MATCH_1}")
get_filename_component(found_real "${found}" REALPATH)
get_filename_component(expected_real "${EXPECTED}" REALPATH)
if(NOT found_real STREQUAL expected_real)
  message(FATAL_ERROR "${PROGRAM} loads ${found} (${found_real}), not ${expected_real}")
endif()
message(STATUS "${PROGRAM} loads ${found_real}")
