#!/usr/bin/env bash
# The longer cloud soak (not part of CI; CI runs the bounded versions):
# the engine model test in cloud mode with several seeds, the kill -9 test
# of cloud commits (cache wiped or reused between restarts) with many
# cycles, and the fault tests (server killed mid-upload) several times,
# each against its own s3s-fs server on loopback.
#
#   scripts/soak-cloud.sh [OPS [CYCLES [ROUNDS]]]
#
# OPS model operations per seed (default 10000, CI: 700), CYCLES kills
# (default 500, CI: 9), ROUNDS seeds and fault-test repetitions (default 3).
# About an hour on 2 idle cores with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-10000}
cycles=${2:-500}
rounds=${3:-3}
scripts/s3-test-server.sh install
cargo build --release --tests --quiet
for seed in $(seq 1 "$rounds"); do
    echo "== model_cloud: $ops operations, seed $seed"
    ELOQSTORE_MODEL_OPS=$ops ELOQSTORE_MODEL_SEED=$seed \
        cargo test --release --quiet --test engine_model -- model_cloud
done
echo "== kill_during_cloud_writes: $cycles kills"
ELOQSTORE_CRASH_CYCLES=$cycles cargo test --release --quiet --test crash -- kill_during_cloud_writes
for r in $(seq 1 "$rounds"); do
    echo "== cloud fault tests, round $r"
    cargo test --release --quiet --test cloud_faults
done
echo "== cloud soak passed"
