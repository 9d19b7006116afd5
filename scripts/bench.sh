#!/usr/bin/env bash
# Benchmarks on this machine: the disk's own limits, then upstream
# simple_bench's workloads on a store in $ELOQSTORE_BENCH_DIR (default
# /tmp), so each figure can be read as a fraction of the disk's limit.
# Usage: scripts/bench.sh [quick]   ("quick" shortens every run)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet
bin=$PWD/target/release/eloqstore
base=${ELOQSTORE_BENCH_DIR:-/tmp}/eloqstore-bench-run
rm -rf "$base" && mkdir -p "$base"
secs=20; max_key=4000000; size_mb=2048
if [[ ${1:-} == quick ]]; then secs=3; max_key=400000; size_mb=256; fi
threads=$(nproc)

echo "== disk baseline ($base)"
"$bin" disk-baseline --dir "$base" --size-mb $size_mb --secs $secs --json

ini() { # $1 = append mode, $2 = compression
    cat > "$base/opts.ini" <<INI
[run]
num_threads = $threads
buffer_pool_size = 400MB
fd_limit = 5000
io_queue_size = 4096
skip_verify_checksum = true
enable_compression = $2
[permanent]
store_path = $base/store
data_page_size = 4KB
data_file_size = ${3:-1GB}
data_append_mode = $1
INI
}

run() { echo "== $*"; "$bin" bench --kvoptions="$base/opts.ini" --json "$@" 2>/dev/null | tail -1; }

ini false false
run --load --kv_size=128 --batch_size=8192 --partitions=8 --max_key=$max_key
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
run --workload=read --kv_size=128 --partitions=8 --max_key=$max_key --read_per_part=16 --test_secs=$secs
run --workload=scan --kv_size=128 --partitions=8 --max_key=$max_key --read_per_part=2 --test_secs=$secs
run --workload=write-read --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=$max_key \
    --write_batchs=$((secs * 20)) --read_per_part=8
rm -rf "$base/store"
ini false false
run --workload=write --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=$max_key --write_batchs=$((secs * 20))
du -sb "$base/store" | awk '{print "on-disk bytes:", $1}'

echo "== append mode (8 MiB files)"
for comp in false true; do
    rm -rf "$base/store"
    ini true $comp 8MB
    run --workload=write --values=text --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=$max_key \
        --write_batchs=$((secs * 10))
    du -sb "$base/store" | awk -v c=$comp '{print "on-disk bytes (text values, compression " c "):", $1}'
done
rm -rf "$base/store"
ini true false 8MB
run --workload=write --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=$max_key --write_batchs=$((secs * 10))
echo "== append mode, overwrites with compaction"
rm -rf "$base/store"
run --load --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=100000
run --workload=write --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=100000 --write_batchs=$((secs * 10))
du -sb "$base/store" | awk '{print "on-disk bytes (800 MB live):", $1}'
rm -rf "$base"
