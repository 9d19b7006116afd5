# ctest cxx.install_consumer: installs the build tree into a temporary
# prefix, checks the installed files, then builds and runs the project in
# cpp-compat/consumer against it twice: with find_package (namespaced,
# plain and static targets) and with pkg-config.
# Inputs: BUILD_DIR WORK_DIR CONSUMER_DIR LIBDIR INCLUDEDIR VERSION SONAME
#         CXX PKG_CONFIG GENERATOR
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")

set(lib "${prefix}/${LIBDIR}")
set(inc "${prefix}/${INCLUDEDIR}")
foreach(f "${lib}/libeloqstore.so.${VERSION}" "${lib}/libeloqstore.a"
          "${inc}/eloqstore.h" "${inc}/eloqstore/eloq_store.h"
          "${inc}/eloqstore/kv_options.h" "${inc}/eloqstore/types.h"
          "${inc}/eloqstore/error.h" "${inc}/eloqstore/comparator.h"
          "${inc}/eloqstore/coding.h" "${inc}/eloqstore/utils.h"
          "${inc}/eloqstore/common.h" "${inc}/eloqstore/external/span.hpp"
          "${lib}/pkgconfig/eloqstore.pc"
          "${lib}/cmake/eloqstore/eloqstoreConfig.cmake"
          "${lib}/cmake/eloqstore/eloqstoreConfigVersion.cmake")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
foreach(l "${SONAME}" libeloqstore.so)
  if(NOT IS_SYMLINK "${lib}/${l}")
    message(FATAL_ERROR "${lib}/${l} is not a symlink")
  endif()
  file(READ_SYMLINK "${lib}/${l}" target)
  if(NOT target STREQUAL "libeloqstore.so.${VERSION}")
    message(FATAL_ERROR "${lib}/${l} -> ${target}")
  endif()
endforeach()
# The C++ headers are not dropped next to system headers.
if(EXISTS "${inc}/error.h" OR EXISTS "${inc}/types.h")
  message(FATAL_ERROR "C++ headers installed directly into ${inc}")
endif()

# 1. find_package.
set(build "${WORK_DIR}/consumer-build")
run("${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX}")
run("${CMAKE_COMMAND}" --build "${build}")
foreach(app app_namespaced app_plain app_static)
  file(REMOVE_RECURSE "${WORK_DIR}/store-${app}")
  run("${build}/${app}" "${WORK_DIR}/store-${app}")
  if(NOT run_out MATCHES "consumer ok")
    message(FATAL_ERROR "${app}: ${run_out}")
  endif()
  message(STATUS "find_package: ${app} ran")
endforeach()
# The shared programs need the installed soname.
execute_process(COMMAND ldd "${build}/app_plain" OUTPUT_VARIABLE ldd_out)
if(NOT ldd_out MATCHES "libeloqstore\\.so\\.[0-9]+ => ${lib}")
  message(FATAL_ERROR "app_plain does not use the installed library:\n${ldd_out}")
endif()

# 2. pkg-config.
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config is not installed (apt-get install pkg-config)")
endif()
set(ENV{PKG_CONFIG_PATH} "${lib}/pkgconfig")
run("${PKG_CONFIG}" --cflags eloqstore)
string(STRIP "${run_out}" cflags)
run("${PKG_CONFIG}" --libs eloqstore)
string(STRIP "${run_out}" libs)
run("${PKG_CONFIG}" --modversion eloqstore)
string(STRIP "${run_out}" modversion)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config version ${modversion}, expected ${VERSION}")
endif()
separate_arguments(cflags UNIX_COMMAND "${cflags}")
separate_arguments(libs UNIX_COMMAND "${libs}")
set(app "${WORK_DIR}/app_pkgconfig")
run("${CXX}" -std=c++20 ${cflags} "${CONSUMER_DIR}/main.cpp" -o "${app}" ${libs})
set(ENV{LD_LIBRARY_PATH} "${lib}")
file(REMOVE_RECURSE "${WORK_DIR}/store-pc")
run("${app}" "${WORK_DIR}/store-pc")
if(NOT run_out MATCHES "consumer ok")
  message(FATAL_ERROR "app_pkgconfig: ${run_out}")
endif()
message(STATUS "pkg-config: app_pkgconfig ran (${cflags} ... ${libs})")
