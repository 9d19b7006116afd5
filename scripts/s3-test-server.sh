#!/usr/bin/env bash
# The S3-compatible server of every cloud test (cargo tests, ctest fixtures,
# the upstream test harness, benchmarks, CI): s3s-fs 0.14.1 from crates.io
# on loopback, storing objects as files.
#
#   scripts/s3-test-server.sh install
#   scripts/s3-test-server.sh start PORT DIR [BUCKET...]
#   scripts/s3-test-server.sh stop PORT DIR
#   scripts/s3-test-server.sh kill PORT DIR
#   scripts/s3-test-server.sh status PORT DIR
#
# install: `cargo install`s s3s-fs when it is missing (a few minutes, once).
# start: serves S3 at http://127.0.0.1:PORT (path-style requests, region
#   us-east-1, request signatures checked against the credentials
#   minioadmin / minioadmin, or $ELOQSTORE_S3_ACCESS_KEY /
#   $ELOQSTORE_S3_SECRET_KEY), creates each BUCKET, and returns once it
#   answers. A server this script started earlier with the same DIR is
#   stopped first. Fails (exit 1) if something else holds PORT.
# stop: stops the server started with DIR (only that process) and waits for
#   it to exit. Stopping when none runs succeeds.
# kill: SIGKILLs it at once (a crash); its objects stay for the next start.
# status: exit 0 when it runs.
#
# DIR holds the objects (DIR/data/<bucket>/<key>, kept across stop and
# start), the pid (DIR/server.pid) and the log (DIR/server.log). The binary
# is $S3S_FS, else s3s-fs on PATH, else $CARGO_HOME/bin/s3s-fs.
set -euo pipefail

version=0.14.1

usage() {
    echo "usage: $0 install | start PORT DIR [BUCKET...] | stop|kill|status PORT DIR" >&2
    exit 2
}

find_binary() {
    if [[ -n "${S3S_FS:-}" ]]; then
        echo "$S3S_FS"
    elif command -v s3s-fs >/dev/null 2>&1; then
        command -v s3s-fs
    elif [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]]; then
        echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
    fi
}

install() {
    local bin
    bin=$(find_binary)
    if [[ -n "$bin" ]] && "$bin" --version 2>/dev/null | grep -q " $version\$"; then
        return 0
    fi
    echo "s3-test-server: installing s3s-fs $version (cargo install, once)" >&2
    cargo install s3s-fs --version "=$version" --features binary --locked >&2
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
if [[ $cmd == install ]]; then
    [[ $# -eq 0 ]] || usage
    install
    exit 0
fi
[[ $# -ge 2 ]] || usage
port=$1
dir=$2
shift 2
[[ $port =~ ^[0-9]+$ ]] || usage
pidfile=$dir/server.pid
logfile=$dir/server.log

running() {
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

stop_server() { # $1 = signal
    if running; then
        local pid
        pid=$(cat "$pidfile")
        kill "-$1" "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        fi
    fi
    rm -f "$pidfile"
}

case $cmd in
start)
    mkdir -p "$dir/data"
    stop_server TERM
    if listening; then
        echo "s3-test-server: something already listens on 127.0.0.1:$port" >&2
        exit 1
    fi
    install
    bin=$(find_binary)
    for b in "$@"; do
        mkdir -p "$dir/data/$b" # s3s-fs keeps a bucket as a directory
    done
    # Its own session: the caller's signals and exit leave it alone. Its
    # start-up line in the log says it holds the port (not another process).
    RUST_LOG=s3s_fs=info setsid "$bin" --host 127.0.0.1 --port "$port" \
        --access-key "${ELOQSTORE_S3_ACCESS_KEY:-minioadmin}" \
        --secret-key "${ELOQSTORE_S3_SECRET_KEY:-minioadmin}" \
        "$dir/data" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 400); do
        if ! running; then
            echo "s3-test-server: s3s-fs exited; its log ($logfile):" >&2
            tail -20 "$logfile" >&2 || true
            rm -f "$pidfile"
            exit 1
        fi
        if grep -q "server is running at" "$logfile" && listening; then
            echo "s3-test-server: s3s-fs at http://127.0.0.1:$port (pid $(cat "$pidfile"), buckets: $*; data $dir/data)"
            exit 0
        fi
        sleep 0.05
    done
    echo "s3-test-server: no answer on 127.0.0.1:$port after 20 s" >&2
    stop_server KILL
    exit 1
    ;;
stop)
    stop_server TERM
    ;;
kill)
    stop_server KILL
    ;;
status)
    if running; then
        echo "s3-test-server: running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
    else
        echo "s3-test-server: stopped"
        exit 1
    fi
    ;;
*)
    usage
    ;;
esac
