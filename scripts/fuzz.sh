#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer) of the
# targets in fuzz/fuzz_targets. Needs the nightly toolchain; installs
# cargo-fuzz when missing. Fails, naming the reproducer, when a target
# finds a crash, a panic, a leak, a timeout or an out-of-memory.
#
#   scripts/fuzz.sh                       # CI: every target for FUZZ_SECS=20 s
#   FUZZ_SECS=3600 scripts/fuzz.sh        # long run: an hour per target
#   FUZZ_SECS=600 scripts/fuzz.sh c_abi   # some targets only
#
# FUZZ_FORK=N runs N fuzzing processes per target that keep going after a
# finding (libFuzzer's -fork with -ignore_crashes/ooms/timeouts): every
# finding is saved, and the script still fails at the end if there is one.
# New corpus entries go to $FUZZ_WORK/corpus/<target> (default fuzz/work,
# not committed); the seeds in fuzz/corpus/<target> are only read.
# libFuzzer reads the whole corpus before FUZZ_SECS starts counting: a
# corpus grown by long runs makes short runs longer (scripts/test.sh uses a
# fresh FUZZ_WORK).
# Reproduce a finding: cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECS:-20}
work=${FUZZ_WORK:-fuzz/work}
fork=${FUZZ_FORK:-0}
# Per-input time limit (s): a slower input is reported as a hang.
timeout=${FUZZ_TIMEOUT:-20}
rss_mb=${FUZZ_RSS_MB:-2048}

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: scripts/fuzz.sh needs the nightly Rust toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

all=$(cargo +nightly fuzz list)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets <<<"$all"
fi
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$all" || { echo "error: no fuzz target $t (have: $(echo $all))" >&2; exit 1; }
done

echo "== cargo fuzz build (release, AddressSanitizer, debug assertions)"
cargo +nightly fuzz build

mkdir -p "$work/logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t"
    args=(-max_total_time="$secs" -timeout="$timeout" -rss_limit_mb="$rss_mb"
          -print_final_stats=1)
    [[ -f fuzz/dict/$t.dict ]] && args+=(-dict="fuzz/dict/$t.dict")
    if [[ $fork -gt 0 ]]; then
        args+=(-fork="$fork" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    fi
    log="$work/logs/$t.log"
    before=$(ls "fuzz/artifacts/$t")
    echo "== fuzz $t for ${secs}s (log: $log)"
    set +e
    cargo +nightly fuzz run "$t" "$work/corpus/$t" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    set -e
    new=$(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$t"))
    # Executions: the final stats line, or (fork mode) the last status line.
    execs=$({ grep -o 'stat::number_of_executed_units: [0-9]*' "$log" || true; } | awk '{s+=$2} END {print s+0}')
    if [[ $execs -eq 0 ]]; then
        execs=$({ grep -o '^#[0-9]*' "$log" || true; } | tail -1 | tr -d '#')
    fi
    cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | awk '{print $2}')
    if [[ $rc -ne 0 || -n $new ]]; then
        failed+=("$t")
        summary+=("$(printf '%-16s %12s execs  cov %-6s FAILED' "$t" "${execs:-?}" "${cov:-?}")")
        echo "!! $t failed (exit $rc); findings:"
        grep -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY:' "$log" | sort | uniq -c | head -20 || true
        echo "   reproducers:"
        sed -n "s|^|   fuzz/artifacts/$t/|p" <<<"$new" | head -20
    else
        summary+=("$(printf '%-16s %12s execs  cov %-6s ok' "$t" "${execs:-?}" "${cov:-?}")")
    fi
done

echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing found problems in: ${failed[*]} (reproducers under fuzz/artifacts/)" >&2
    exit 1
fi
