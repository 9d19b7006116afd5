#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit, integration,
# property and fixture tests; a short run of every fuzz target; then the C
# ABI tests (C, under ASan too, and Python) through CMake and ctest.
# Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

# The C++-written fixture stores (see tests/common/mod.rs for the lookup).
if [[ -z "${ELOQSTORE_FIXTURES:-}" && ! -d ../shared/fixtures && -d /work/shared/fixtures ]]; then
    export ELOQSTORE_FIXTURES=/work/shared/fixtures
fi

# The S3 server of the cloud tests (s3s-fs; a one-time cargo install).
scripts/s3-test-server.sh install

echo "== cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
# The library as users build it (no `internals`): dead code and missing
# docs of the public API are only visible here.
cargo clippy --lib -- -D warnings
cargo clippy --lib --no-default-features -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
echo "== cargo test (io_uring)"
# (the test targets build the crate with its `kill-points` feature through
# the dev-dependency on itself, so the crash tests run here)
ELOQSTORE_IO=uring cargo test --release
echo "== cargo test (sync fallback driver)"
ELOQSTORE_IO=sync cargo test --release
echo "== fuzz targets, 20 s each (scripts/fuzz.sh; needs the nightly toolchain)"
# From the committed seeds only: libFuzzer reads its whole corpus before the
# time limit counts, and a corpus grown by long runs (fuzz/work) takes minutes.
rm -rf fuzz/target/ci-work
FUZZ_WORK=fuzz/target/ci-work scripts/fuzz.sh

# The C ABI from C and Python: CMake builds the library with cargo (into
# build/cargo), the C tests of ffi-tests/ (and the C++ layer's tests), and
# ctest runs them with the Python ctypes test. Then the same C tests again,
# compiled with AddressSanitizer (leak detection on), in build/asan, which
# reuses the cargo build of build/.
jobs=$(nproc 2>/dev/null || echo 2)
echo "== cmake build + ctest (C ABI, C++ layer, Python)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
echo "== cmake build + ctest under AddressSanitizer"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DELOQSTORE_ASAN=ON \
    -DELOQSTORE_CARGO_TARGET_DIR="$PWD/build/cargo"
cmake --build build/asan -j"$jobs"
(cd build/asan && ctest --output-on-failure -j"$jobs")
echo "== all tests passed"
