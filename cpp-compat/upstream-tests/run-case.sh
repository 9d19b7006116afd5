#!/bin/sh
# Runs one test case of the upstream test harness (registered by
# cmake/eloqstore_upstream_build.cmake):
#
#   run-case.sh RUN_DIR BUILD_LOG PROGRAM CATCH2_ARGS...
#
# RUN_DIR is emptied and the case runs in it, with ELOQSTORE_TEST_ROOT (the
# replacement tests/common.h puts test_path and the cloud cache there) and
# TMPDIR pointing into it, so cases cannot see each other's files. It is
# removed after a pass and kept after a failure. When PROGRAM was not built,
# the case fails with the compiler's output from BUILD_LOG.
set -u
run_dir=$1
build_log=$2
program=$3
shift 3
if [ ! -x "$program" ]; then
    echo "upstream-tests: $program was not built, so this case cannot run."
    if [ -f "$build_log" ]; then
        echo "---- build output ($build_log) ----"
        cat "$build_log"
    fi
    exit 1
fi
rm -rf "$run_dir" && mkdir -p "$run_dir/tmp" || exit 1
ELOQSTORE_TEST_ROOT=$run_dir
TMPDIR=$run_dir/tmp
export ELOQSTORE_TEST_ROOT TMPDIR
cd "$run_dir" || exit 1
"$program" "$@"
rc=$?
if [ "$rc" -eq 0 ]; then
    cd / && rm -rf "$run_dir"
else
    echo "upstream-tests: exit status $rc; the case's files are kept in $run_dir"
fi
exit "$rc"
