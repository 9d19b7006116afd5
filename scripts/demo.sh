#!/usr/bin/env bash
# The main job: a short benchmark on an embedded default (a store in a
# temporary directory: writes and reads at once, then a read-only run),
# then `eloqstore check` on the C++-written fixture stores.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet
bin=target/release/eloqstore

echo "== eloqstore bench --workload=write-read (temporary store)"
"$bin" bench --workload=write-read --kv_size=1024 --batch_size=5000 --partitions=8 \
    --max_key=400000 --write_batchs=200 --read_per_part=8 2>/dev/null

fixtures=${ELOQSTORE_FIXTURES:-../shared/fixtures}
[[ -d $fixtures ]] || fixtures=/work/shared/fixtures
if [[ -d $fixtures ]]; then
    for fx in "$fixtures"/*/; do
        [[ -f $fx/options.ini ]] || continue
        printf '== %-14s eloqstore check: ' "$(basename "$fx")"
        "$bin" check --options "$fx/options.ini" --archives | tail -1
    done
fi
