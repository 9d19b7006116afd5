# ctest lib_has_no_kill_points: the shipped library is built without the
# `kill-points` cargo feature, so it never reads ELOQSTORE_KILL_AT and no
# environment variable can make it abort (see src/killpoint.rs).
#
#   cmake -DLIB=.../libeloqstore.so -P check_no_kill_points.cmake
if(NOT EXISTS "${LIB}")
  message(FATAL_ERROR "LIB is not set or missing (${LIB})")
endif()
file(STRINGS "${LIB}" hits REGEX "ELOQSTORE_KILL_AT|kill point")
if(hits)
  message(FATAL_ERROR "${LIB} contains kill points: ${hits}")
endif()
message(STATUS "${LIB} has no kill points")
