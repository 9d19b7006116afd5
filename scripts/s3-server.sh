#!/usr/bin/env bash
# A local S3-compatible server for the cloud tier's tests: s3s-fs 0.14.1
# (crates.io), storing objects as files under a directory.
#
#   scripts/s3-server.sh install      # cargo install s3s-fs, only when missing
#   scripts/s3-server.sh start [BUCKET...]  # 127.0.0.1:9900, minioadmin/minioadmin, bucket "eloqstore"
#   scripts/s3-server.sh stop         # stops the server this script started
#   scripts/s3-server.sh status
#
# The defaults are what upstream's C++ tests hard-code. Environment
# overrides: ELOQSTORE_S3_HOST, ELOQSTORE_S3_PORT, ELOQSTORE_S3_ACCESS_KEY,
# ELOQSTORE_S3_SECRET_KEY, ELOQSTORE_S3_BUCKET, ELOQSTORE_S3_DIR (the data
# directory, default /tmp/eloqstore-s3-<port>), S3S_FS (the binary).
# Objects persist under the data directory across stop/start (and kill -9).
# start fails if something else already listens on the port.
# The Rust tests do not need this script: tests/common starts a server of
# their own on a free port.
set -euo pipefail

host=${ELOQSTORE_S3_HOST:-127.0.0.1}
port=${ELOQSTORE_S3_PORT:-9900}
ak=${ELOQSTORE_S3_ACCESS_KEY:-minioadmin}
sk=${ELOQSTORE_S3_SECRET_KEY:-minioadmin}
bucket=${ELOQSTORE_S3_BUCKET:-eloqstore}
dir=${ELOQSTORE_S3_DIR:-/tmp/eloqstore-s3-$port}
pidfile=$dir.pid
logfile=$dir.log
version=0.14.1

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
    echo "installing s3s-fs $version (cargo install, a few minutes once)" >&2
    cargo install s3s-fs --version "=$version" --features binary --locked >&2
}

running() {
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        if ! running; then
            echo "s3s-fs exited; its log ($logfile):" >&2
            tail -20 "$logfile" >&2 || true
            return 1
        fi
        sleep 0.05
    done
    echo "s3s-fs did not open $host:$port within 10 s" >&2
    return 1
}

start() {
    local buckets=("$@")
    [[ ${#buckets[@]} -gt 0 ]] || buckets=("$bucket")
    if running; then
        echo "s3s-fs already running (pid $(cat "$pidfile")) on $host:$port"
        return 0
    fi
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
        echo "something already listens on $host:$port" >&2
        return 1
    fi
    install
    local bin b
    bin=$(find_binary)
    for b in "${buckets[@]}"; do
        mkdir -p "$dir/$b" # s3s-fs keeps a bucket as a directory
    done
    # Its own session: the caller's signals and exit leave it alone.
    setsid "$bin" --host "$host" --port "$port" --access-key "$ak" --secret-key "$sk" "$dir" \
        >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    wait_port
    echo "s3s-fs running (pid $(cat "$pidfile")) at http://$host:$port, buckets ${buckets[*]}, data $dir"
}

stop() {
    if running; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "s3s-fs stopped (pid $pid)"
    fi
    rm -f "$pidfile"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    stop) stop ;;
    status)
        if running; then echo "running (pid $(cat "$pidfile")) on $host:$port"; else echo "stopped"; exit 1; fi
        ;;
    *)
        echo "usage: $0 install | start [BUCKET...] | stop | status" >&2
        exit 2
        ;;
esac
