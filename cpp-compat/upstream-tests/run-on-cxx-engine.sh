#!/usr/bin/env bash
# Builds the staged upstream test files with the replacement test support
# against the C++ engine instead of this library, and runs their cases the
# way the harness does (one process per case, a fresh directory each): the
# check that the replacement support keeps upstream's meaning.
#
#   run-on-cxx-engine.sh ORACLE STAGE OUT
#
# ORACLE: a build of upstream EloqStore as made by the project's
#   ../shared/sidebyside/oracle-build.sh (src/, build/libeloqstore.a,
#   prefix/ with Catch2 v3 and liburing); local mode only, so the cases of
#   s3-cases.txt are not run. STAGE: <build>/upstream-tests/stage of a
#   harness build (the copies with excluded cases cut). OUT: a work folder.
# Prints one line per case (PASS/FAIL, seconds, file | case) and writes them
# to OUT/results.txt; logs in OUT/logs. Uses the real glog and Catch2 v3.
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 ORACLE STAGE OUT" >&2; exit 2; }
oracle=$(realpath "$1")
stage=$(realpath "$2")
mkdir -p "$3"
out=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
support=$here/support

mkdir -p "$out/tests" "$out/obj" "$out/logs" "$out/run"
ln -sfn "$oracle/src/include" "$out/include"
for f in "$stage"/tests/*.cpp; do
    n=$(basename "$f")
    case $n in common.cpp | selftest_*) continue ;; esac
    cp "$f" "$out/tests/$n"
done
for f in common.h common.cpp test_utils.h test_utils.cpp s3_client.h s3_client.cpp; do
    ln -sf "$support/$f" "$out/tests/$f"
done

cxxflags=(-std=gnu++20 -O2 -g -w -I"$out/include" -I"$oracle/src" -I"$oracle/prefix/include"
    -I"$oracle/src/external" -I"$oracle/src/external/abseil")
mapfile -t absl < <(find "$oracle/build/external/abseil" -name 'libabsl_*.a' | sort)
libs=("$oracle/build/libeloqstore.a" "$oracle/prefix/lib/liburing.a"
    -Wl,--start-group "${absl[@]}" -Wl,--end-group
    -lglog -lgflags -lboost_context -lcurl -ljsoncpp -lzstd -lpthread -lrt)
for s in common test_utils s3_client; do
    g++ "${cxxflags[@]}" -c "$out/tests/$s.cpp" -o "$out/obj/$s.o"
done

# Cases needing S3 (file | * or file | case).
declare -A s3
while IFS='|' read -r file case; do
    file=$(echo "$file" | xargs)
    case=$(echo "$case" | sed 's/^ *//; s/ *$//')
    [[ -z $file || $file == \#* ]] && continue
    s3["$file|$case"]=1
done <"$here/s3-cases.txt"

: >"$out/results.txt"
for src in "$out"/tests/*.cpp; do
    stem=$(basename "$src" .cpp)
    case $stem in common | test_utils | s3_client) continue ;; esac
    [[ -n ${s3["$stem|*"]:-} ]] && continue
    # A file whose cases are all excluded has no staged cases left.
    grep -q 'TEST_CASE' "$src" || continue
    exe=$out/up_$stem
    if ! g++ "${cxxflags[@]}" "$src" "$out"/obj/*.o "$oracle/prefix/lib/libCatch2Main.a" \
        "$oracle/prefix/lib/libCatch2.a" "${libs[@]}" -o "$exe" >"$out/logs/$stem.build.log" 2>&1; then
        echo "BUILD-FAILED $stem (see $out/logs/$stem.build.log)" | tee -a "$out/results.txt"
        continue
    fi
    "$exe" --list-tests --verbosity quiet | while IFS= read -r name; do
        [[ -z $name || -n ${s3["$stem|$name"]:-} ]] && continue
        spec=$(printf '%s' "$name" | sed 's/[][,*~"\\]/\\&/g')
        log=$out/logs/$stem.$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log
        start=$(date +%s)
        if "$here/run-case.sh" "$out/run/$stem-$$-$RANDOM" /dev/null "$exe" "$spec" >"$log" 2>&1; then
            r=PASS
        else
            r=FAIL
        fi
        echo "$r $(($(date +%s) - start))s $stem | $name" | tee -a "$out/results.txt"
    done
done
