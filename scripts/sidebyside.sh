#!/usr/bin/env bash
# Side-by-side runs of the public-API benchmark (../shared/sidebyside/bench.cpp)
# built against the C++ engine and against this library, alternately and
# back to back, then the medians and ratios (compare.py). This script builds
# nothing: build both bench programs first with ../shared/sidebyside/build.sh
# (and the C++ engine with its oracle-build.sh).
#
#   UP=/path/up/bench OURS=/path/ours/bench scripts/sidebyside.sh OUT [ROUNDS]
#
# Optional: SIMPLE_UP / SIMPLE_OURS = upstream's benchmark/simple_test.cpp
# built unchanged against each library (it writes /mnt/ramdisk/eloq_store_perf,
# a tmpfs: `mount -t tmpfs -o size=8g tmpfs /mnt/ramdisk`).
# DIR = where the stores go (default /tmp/sbs-stores); ONLY = a regex of the
# configurations to run (defaults, two-shard, append). Each configuration
# writes OUT/<config>.{up,ours}.jsonl and prints its comparison.
set -eu
OUT=${1:?usage: UP=... OURS=... scripts/sidebyside.sh OUT [ROUNDS]}
ROUNDS=${2:-2}
: "${UP:?set UP to the bench built against the C++ engine}"
: "${OURS:?set OURS to the bench built against this library}"
HERE=$(cd "$(dirname "$0")/.." && pwd)
COMPARE=${COMPARE:-$HERE/../shared/sidebyside/compare.py}
DIR=${DIR:-/tmp/sbs-stores}
mkdir -p "$OUT" "$DIR"
OUT=$(cd "$OUT" && pwd)

ini() { # name, then INI lines
    local f="$OUT/$1.ini"; shift
    printf '%s\n' "$@" > "$f"; echo "$f"
}
TWO=$(ini two '[run]' 'num_threads = 2' 'buffer_pool_size = 64MB' '[permanent]' 'data_page_size = 4KB')
APPEND=$(ini append '[run]' 'num_threads = 1' '[permanent]' 'data_page_size = 4KB' \
    'data_file_size = 8MB' 'data_append_mode = true')

# name | bench flags
CONFIGS=(
    "defaults|--workload load,read,scan,write,mixed --kv_size 256 --partitions 4 --max_key 100000"
    "two-shard|--kvoptions $TWO --workload load,read,scan,write,mixed --kv_size 256 --partitions 8 --max_key 400000"
    "append|--kvoptions $APPEND --workload load,write,read,scan --kv_size 1024 --partitions 4 --max_key 100000"
)

for c in "${CONFIGS[@]}"; do
    name=${c%%|*}; flags=${c#*|}
    [[ $name =~ ${ONLY:-.} ]] || continue
    rm -f "$OUT/$name.up.jsonl" "$OUT/$name.ours.jsonl"
    for r in $(seq "$ROUNDS"); do
        for who in up ours; do
            bin=$UP; [[ $who == ours ]] && bin=$OURS
            echo "== $name round $r: $who" >&2
            # shellcheck disable=SC2086
            "$bin" $flags --dir "$DIR/$name-$who" --fresh 1 2>>"$OUT/$name.$who.err" \
                | grep '^{' >> "$OUT/$name.$who.jsonl"
            rm -rf "${DIR:?}/$name-$who"
        done
    done
    echo "### $name: $flags"
    python3 "$COMPARE" "$OUT/$name.up.jsonl" "$OUT/$name.ours.jsonl"
done

if [[ -n ${SIMPLE_UP:-} && -n ${SIMPLE_OURS:-} ]]; then
    echo "### upstream benchmark/simple_test (1M keys, one partition, default options)"
    for r in $(seq "$ROUNDS"); do
        for who in up ours; do
            bin=$SIMPLE_UP; [[ $who == ours ]] && bin=$SIMPLE_OURS
            rm -rf /mnt/ramdisk/eloq_store_perf
            echo "-- round $r: $who"
            /usr/bin/time -f "user %U s, sys %S s, peak RSS %M KB" "$bin" 2>&1 \
                | grep -E 'completed in|Time taken|Throughput|user' | tee -a "$OUT/simple.$who.txt"
        done
    done
    rm -rf /mnt/ramdisk/eloq_store_perf
fi
