# Fails unless every function declared in include/eloqstore.h is called
# from at least one C test source.
#
#   cmake -DHEADER=include/eloqstore.h -DSOURCES="a.c;b.c" -P check_coverage.cmake
if(NOT HEADER OR NOT SOURCES)
  message(FATAL_ERROR "usage: cmake -DHEADER=... -DSOURCES=... -P check_coverage.cmake")
endif()

# Declarations: a line starting with a return type, then the name and "(".
# (Comment lines start with " *" and function-pointer typedefs have "(*".)
file(STRINGS "${HEADER}" decl_lines REGEX "^[A-Za-z].*[ *]eloqstore_[a-z0-9_]+\\(")
set(functions "")
foreach(line IN LISTS decl_lines)
  if(line MATCHES "^typedef")
    continue()
  endif()
  string(REGEX MATCH "eloqstore_[a-z0-9_]+\\(" name "${line}")
  string(REGEX REPLACE "\\($" "" name "${name}")
  list(APPEND functions "${name}")
endforeach()
list(REMOVE_DUPLICATES functions)
list(LENGTH functions n_functions)
# The header declares 57 functions today; a parse that finds few means
# the header's format changed and this check must be updated.
if(n_functions LESS 50)
  message(FATAL_ERROR "found only ${n_functions} functions in ${HEADER}: the parser is out of date")
endif()

set(all_sources "")
foreach(src IN LISTS SOURCES)
  file(READ "${src}" text)
  # Drop comments so a function named only in a comment does not count.
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  string(APPEND all_sources "${text}\n")
endforeach()

set(missing "")
foreach(fn IN LISTS functions)
  if(NOT all_sources MATCHES "[^A-Za-z0-9_]${fn}[ \t\n]*\\(")
    list(APPEND missing "${fn}")
  endif()
endforeach()

if(missing)
  string(REPLACE ";" "\n  " missing_lines "${missing}")
  message(FATAL_ERROR "functions of ${HEADER} no C test calls:\n  ${missing_lines}")
endif()
message(STATUS "all ${n_functions} functions of ${HEADER} are called by the C tests")
