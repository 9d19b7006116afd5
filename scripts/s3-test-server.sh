#!/usr/bin/env bash
# An S3-compatible server on loopback for tests.
#
#   scripts/s3-test-server.sh start PORT DIR [BUCKET...]
#   scripts/s3-test-server.sh stop PORT DIR
#
# start: serves S3 at http://127.0.0.1:PORT (path-style requests, region
#   us-east-1, credentials minioadmin / minioadmin), keeping its pid, log
#   and data under DIR; waits until it answers, then creates each BUCKET. A
#   server this script started earlier with the same DIR is stopped first.
#   Fails if something else holds PORT.
# stop: stops the server started with DIR (only that process) and waits for
#   it to exit. Stopping when none runs succeeds.
#
# The server is s3s-fs 0.14.1 (crates.io; `cargo install`ed once when
# missing) run by scripts/s3-server.sh: objects persist as files under
# DIR/data across stop and start, and request signatures are checked.
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
mkdir -p "$dir"
export ELOQSTORE_S3_PORT=$port ELOQSTORE_S3_DIR=$dir/data
server="$(dirname "$0")/s3-server.sh"

case $cmd in
start)
    "$server" stop >/dev/null
    "$server" start "$@"
    ;;
stop)
    "$server" stop
    ;;
*)
    usage
    ;;
esac
