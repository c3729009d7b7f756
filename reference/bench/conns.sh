#!/usr/bin/env bash
# bench conns: resident memory cairnd spends per idle connection, with 10,000
# connections whose handshake completed, plaintext and TLS 1.3.
# Targets: <= 16 KiB plaintext, <= 64 KiB TLS.
set -euo pipefail
build=$1
count=${2:-10000}
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/deps"
cmake --build "$build" -j"$(nproc)" --target cairnd bench_conns >/dev/null
work=$(mktemp -d /tmp/cairn-bench-conns-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ulimit -n "$(ulimit -Hn)"
echo "bench conns: cairnd resident memory per idle connection, $count connections"
printf '%-12s %14s %14s %14s %8s\n' "" "before (KiB)" "after (KiB)" "per conn (KiB)" "target"
for mode in plaintext tls; do
  p=$(port)
  flags=(--plaintext); [ "$mode" = tls ] && flags=()
  "$build/bin/cairnd" --datadir "$work/$mode" --listen "127.0.0.1:$p" "${flags[@]}" --log-level warn \
    --max-inbound $((count + 100)) --max-per-ip $((count + 100)) --idle-timeout-ms 600000 \
    >"$work/$mode.log" 2>&1 &
  pid=$!
  pids+=($pid)
  sleep 0.5
  targs=(); [ "$mode" = tls ] && targs=(--tls)
  read -r before after per < <("$build/bin/bench_conns" "127.0.0.1:$p" "$pid" "$count" "${targs[@]}")
  target=16; [ "$mode" = tls ] && target=64
  printf '%-12s %14s %14s %14.2f %8s\n' "$mode" "$before" "$after" "$per" "<= $target"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
