#!/usr/bin/env bash
# conform_record: record mode round trip. A plaintext cairnd, the recorder
# proxying one `cairn ping` session to it, then the recorded case replayed by
# the harness against the node: over plaintext, and over TLS against a second
# node (the harness computes its own Auth, so a recording stays replayable).
# usage: conform_record.sh CAIRN_CONFORM CAIRND CAIRN OUTDIR
set -u
conform=$1 cairnd=$2 cli=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
tmp=$(mktemp -d /tmp/conform-record.XXXXXX)
rec_pid=
trap 'stop_node; [ -n "$rec_pid" ] && kill "$rec_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$out"
start_node "$cairnd" "$tmp" --plaintext
upstream=$port
listen=$(free_port)
"$conform" record --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$upstream" \
    -o "$tmp/recorded.case" --id REC-PING-001 2>"$tmp/rec.log" &
rec_pid=$!
for _ in $(seq 1 200); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $listen)))" 2>/dev/null && break
    sleep 0.05
done
# The probe above was the recorder's one accepted connection: start it again.
wait "$rec_pid" 2>/dev/null
"$conform" record --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$upstream" \
    -o "$tmp/recorded.case" --id REC-PING-001 2>"$tmp/rec.log" &
rec_pid=$!
ok=
for _ in $(seq 1 100); do
    if "$cli" ping "127.0.0.1:$listen" --plaintext --count 2 --interval 0 >"$tmp/cli.log" 2>&1; then
        ok=1; break
    fi
    sleep 0.05
done
[ -n "$ok" ] || { echo "the client could not ping through the recorder"; cat "$tmp/cli.log" "$tmp/rec.log"; exit 1; }
wait "$rec_pid"
rec_pid=
cp "$tmp/recorded.case" "$out/recorded.case"
echo "--- recorded case"; cat "$tmp/recorded.case"
echo "--- replay (plaintext)"
"$conform" server "127.0.0.1:$upstream" --plaintext --case "$tmp/recorded.case" || exit 1
stop_node
mkdir -p "$tmp/tls"
start_node "$cairnd" "$tmp/tls"
echo "--- replay (TLS)"
"$conform" server "127.0.0.1:$port" --case "$tmp/recorded.case"
