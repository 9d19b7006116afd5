#!/usr/bin/env bash
# An S3-compatible server on loopback for tests.
#
#   scripts/s3-test-server.sh start PORT DIR [BUCKET...]
#   scripts/s3-test-server.sh stop PORT DIR
#
# start: serves S3 at http://127.0.0.1:PORT (path-style requests, region
#   us-east-1, credentials minioadmin / minioadmin accepted), keeping its
#   pid, log and data under DIR; waits until it answers, then creates each
#   BUCKET. A server this script started earlier with the same DIR is
#   stopped first. Fails if something else holds PORT.
# stop: stops the server started with DIR (only that process) and waits for
#   it to exit. Stopping when none runs succeeds.
#
# The implementation today is moto's server (PyPI moto[server]; installed
# with pip for the current user when missing), which keeps objects in
# memory: data does not outlive stop. It does not check request signatures.
# Callers must rely only on the interface above.
set -euo pipefail

usage() {
    echo "usage: $0 start PORT DIR [BUCKET...] | stop PORT DIR" >&2
    exit 2
}

[[ $# -ge 3 ]] || usage
cmd=$1
port=$2
dir=$3
shift 3
[[ $port =~ ^[0-9]+$ ]] || usage
pidfile=$dir/server.pid
logfile=$dir/server.log
endpoint=http://127.0.0.1:$port

python=${PYTHON:-python3}

stop_server() {
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# An S3 request signed with SigV4 by curl; prints the HTTP status.
s3_request() {
    local method=$1 path=$2
    curl -s -o /dev/null -w '%{http_code}' -X "$method" \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user minioadmin:minioadmin \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
        "$endpoint$path" || true
}

ensure_moto() {
    if "$python" -c 'import moto.server, flask, werkzeug' 2>/dev/null; then
        return 0
    fi
    echo "s3-test-server: installing moto[server] with pip" >&2
    "$python" -m pip install --quiet --user 'moto[server]' ||
        "$python" -m pip install --quiet 'moto[server]'
    "$python" -c 'import moto.server' || {
        echo "s3-test-server: moto is not importable after installing it" >&2
        exit 1
    }
}

case $cmd in
start)
    command -v curl >/dev/null || { echo "s3-test-server: curl is needed" >&2; exit 1; }
    mkdir -p "$dir"
    stop_server
    if [[ $(s3_request GET /) != 000 ]]; then
        echo "s3-test-server: something already listens on $endpoint" >&2
        exit 1
    fi
    ensure_moto
    : >"$logfile"
    # Its own session, so that the test run's signals and exit leave it
    # alone until stop.
    setsid "$python" -m moto.server -H 127.0.0.1 -p "$port" >>"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 300); do
        if [[ $(s3_request GET /) == 200 ]]; then
            break
        fi
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            echo "s3-test-server: the server exited; its log:" >&2
            cat "$logfile" >&2
            rm -f "$pidfile"
            exit 1
        fi
        sleep 0.1
    done
    if [[ $(s3_request GET /) != 200 ]]; then
        echo "s3-test-server: no answer from $endpoint after 30 s" >&2
        stop_server
        exit 1
    fi
    for bucket in "$@"; do
        status=$(s3_request PUT "/$bucket")
        if [[ $status != 200 && $status != 409 ]]; then
            echo "s3-test-server: creating bucket $bucket: HTTP $status" >&2
            stop_server
            exit 1
        fi
    done
    echo "s3-test-server: serving $endpoint (pid $(cat "$pidfile"), log $logfile)"
    ;;
stop)
    stop_server
    echo "s3-test-server: stopped the server of $dir"
    ;;
*)
    usage
    ;;
esac
