#!/usr/bin/env bash
# The main job: builds the `eloqstore` tool and runs it on the C++-written
# fixture stores (verify every page, decode a manifest, scan entries).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
fixtures=${ELOQSTORE_FIXTURES:-../shared/fixtures}
[[ -d $fixtures ]] || fixtures=/work/shared/fixtures

cargo build --release --quiet
bin=target/release/eloqstore
for fx in "$fixtures"/*/; do
    [[ -f $fx/options.ini ]] || continue
    echo "== $(basename "$fx"): eloqstore check"
    "$bin" check --options "$fx/options.ini" --archives | tail -1
done
echo "== many_versions: eloqstore manifest"
"$bin" manifest --options "$fixtures/many_versions/options.ini" --table t0 --partition 0 | head -14
echo "== basic: eloqstore scan (first 3 entries)"
"$bin" scan --options "$fixtures/basic/options.ini" | head -3
