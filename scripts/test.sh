#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit, integration,
# property and fixture tests. Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

# The C++-written fixture stores (see tests/common/mod.rs for the lookup).
if [[ -z "${ELOQSTORE_FIXTURES:-}" && ! -d ../shared/fixtures && -d /work/shared/fixtures ]]; then
    export ELOQSTORE_FIXTURES=/work/shared/fixtures
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test (io_uring)"
ELOQSTORE_IO=uring cargo test --release
echo "== cargo test (sync fallback driver)"
ELOQSTORE_IO=sync cargo test --release
echo "== all tests passed"
