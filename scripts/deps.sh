#!/usr/bin/env bash
# Installs the system packages the build and tests need, when missing.
# Debian/Ubuntu (apt-get); needs root or sudo for the install step.
set -euo pipefail

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# nm and readelf: tests/c_symbols.rs inspects the shared library.
command -v nm >/dev/null 2>&1 || missing+=(binutils)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
# libclang (and clang's own headers) for bindgen in tests/c_layout.rs,
# unless LIBCLANG_PATH points at another installation.
if [[ -z "${LIBCLANG_PATH:-}" ]] && command -v dpkg >/dev/null 2>&1 &&
    ! dpkg -s libclang-dev >/dev/null 2>&1; then
    missing+=(libclang-dev)
fi
# Catch2 for the C++ layer's tests, which scripts/test.sh builds with CMake
# (cpp-compat/ accepts Debian's Catch2 v2 package).
if [[ -f "$(dirname "$0")/../cpp-compat/CMakeLists.txt" ]] && command -v dpkg >/dev/null 2>&1 &&
    ! dpkg -s catch2 >/dev/null 2>&1; then
    missing+=(catch2)
fi

# libcurl's headers for the upstream test harness's S3 helpers
# (cpp-compat/upstream-tests; its self-test runs in the CMake build).
if [[ -d "$(dirname "$0")/../cpp-compat/upstream-tests" ]] && command -v dpkg >/dev/null 2>&1 &&
    ! dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 && ! dpkg -s libcurl4-gnutls-dev >/dev/null 2>&1; then
    missing+=(libcurl4-openssl-dev)
fi

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    # (sorted and unique: binutils may be listed twice)
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi
