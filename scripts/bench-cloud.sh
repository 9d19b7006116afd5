#!/usr/bin/env bash
# Cloud-tier benchmarks against a local S3 server (s3s-fs), next to the
# same workloads on a local append-mode store, in one run:
#   load MiB/s, cold-read latency (local cache wiped), warm-read latency,
#   prewarm MiB/s.
# Usage: scripts/bench-cloud.sh [quick]
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet
bin=$PWD/target/release/eloqstore
base=${ELOQSTORE_BENCH_DIR:-/tmp}/eloqstore-bench-cloud
rm -rf "$base" && mkdir -p "$base"
secs=10; max_key=400000
if [[ ${1:-} == quick ]]; then secs=3; max_key=100000; fi
threads=$(nproc)
s3_port=${ELOQSTORE_S3_PORT:-19977}
scripts/s3-test-server.sh start "$s3_port" "$base/s3" eloqstore
trap 'scripts/s3-test-server.sh stop "$s3_port" "$base/s3"' EXIT

ini() { # $1 = cloud (true/false), $2 = extra [run] lines
    local cloud=""
    if [[ $1 == true ]]; then
        cloud="cloud_store_path = eloqstore/bench
cloud_endpoint = http://127.0.0.1:$s3_port"
    fi
    cat > "$base/opts.ini" <<INI
[run]
num_threads = $threads
buffer_pool_size = 400MB
fd_limit = 5000
skip_verify_checksum = true
$2
[permanent]
store_path = $base/store
data_page_size = 4KB
data_file_size = 8MB
data_append_mode = true
$cloud
INI
}

run() { echo "== $*"; "$bin" bench --kvoptions="$base/opts.ini" --json "$@" 2>/dev/null | tail -1; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
load=(--load --kv_size=1024 --batch_size=20000 --partitions=8 --max_key=$max_key)
read=(--workload=read --kv_size=1024 --partitions=8 --max_key=$max_key --read_per_part=1 --test_secs=$secs)

# local: load, then reads with the page cache dropped (cold) and again
# (warm). cloud: load (the cache keeps what it wrote), warm reads from that
# cache, cold reads with the cache wiped (every first touch of a data file
# downloads it whole), then prewarm into a wiped cache and warm reads after
# it.
for mode in local cloud; do
    cloud=false; [[ $mode == cloud ]] && cloud=true
    echo "#### $mode"
    rm -rf "$base/store"
    ini $cloud "allow_reuse_local_caches = true"
    run "${load[@]}"
    du -sb "$base/store" | awk '{print "local bytes:", $1}'
    if [[ $mode == local ]]; then
        drop_caches
        echo "-- cold"
        run "${read[@]}"
        echo "-- warm"
        run "${read[@]}"
        continue
    fi
    du -sb "$base/s3/data/eloqstore/bench" | awk '{print "bucket bytes:", $1}'
    echo "-- warm (the cache the load left)"
    run "${read[@]}"
    rm -rf "$base/store"
    drop_caches
    echo "-- cold (cache wiped)"
    run "${read[@]}"
    rm -rf "$base/store"
    ini true "allow_reuse_local_caches = true
prewarm_cloud_cache = true
prewarm_task_count = 4"
    echo "-- prewarm (cache wiped)"
    run --workload=prewarm
    echo "-- warm (after prewarm)"
    ini true "allow_reuse_local_caches = true"
    run "${read[@]}"
done
rm -rf "$base/store"
