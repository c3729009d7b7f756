#!/usr/bin/env bash
# conform_server: a fresh cairnd on a free loopback port with a temporary
# datadir, the whole server suite against it (TLS), then the node is stopped.
# usage: conform_server.sh CAIRN_CONFORM CAIRND OUTDIR [extra cairn-conform args]
set -u
conform=$1 cairnd=$2 out=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib.sh"
dir=$(mktemp -d /tmp/conform-server.XXXXXX)
trap 'stop_node; rm -rf "$dir"' EXIT
mkdir -p "$out"
# Timers short enough for the cases that wait for them (the harness is told).
# CONFORM_NO_SHARE=1: a node that offers no FILES service (the REQ-15 cases).
share=(--share "$here/fixtures/files") require=(--require-files)
[ "${CONFORM_NO_SHARE:-0}" = 1 ] && share=() require=()
# CONFORM_DEFAULT_TIMERS=1: the spec's timers (10 s, 90 s, 30 s) instead, for the cases whose
# bounds (SYNC-50, REL-27: 5 s) a short ping interval would hide: with it, every session wakes
# often enough to flush output that another peer's event queued.
timers=(--handshake-timeout-ms 1500 --idle-timeout-ms 3000 --ping-interval-ms 1000)
told=(--iut-handshake-timeout 1500 --iut-idle-timeout 3000 --iut-ping-interval 1000)
[ "${CONFORM_DEFAULT_TIMERS:-0}" = 1 ] && timers=() told=()
start_node "$cairnd" "$dir" "${share[@]}" "${timers[@]}" ${CAIRND_EXTRA:-}
"$conform" server "127.0.0.1:$port" --junit "$out/conform-server.xml" \
    --json "$out/conform-server.json" --known-failures "$here/tests/known-departures-cairnd.txt" \
    "${told[@]}" "${require[@]}" "$@"
rv=$?
if [ $rv -ne 0 ]; then
    echo "--- cairnd log (last 60 lines)"
    tail -n 60 "$dir/node.log"
fi
exit $rv
