#!/usr/bin/env bash
# bench memory: cairnd's resident memory with 117 authenticated peers that
# never read (spec §14.5, SEC-7..SEC-10), over TLS, next to the figure the
# spec states for that case; the baseline is the same node idle, in the same
# run. Each peer asks 64 times for a 2 MiB block and sends Pings without ever
# reading. The spec's figure must be at least the measured growth.
set -euo pipefail
build=$1
count=${2:-117}
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/deps"
cmake --build "$build" -j"$(nproc)" --target cairnd bench_memory >/dev/null
work=$(mktemp -d /tmp/cairn-bench-memory-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/bin/cairnd" --datadir "$work/node" --listen "127.0.0.1:$p" --mine --log-level warn \
  --idle-timeout-ms 600000 >"$work/node.log" 2>&1 &
pid=$!
sleep 0.5
# The spec's figure: "117 such peers hold at most N MB" in §14.5.
spec_mb=$(grep -oE '117 such peers hold at most [0-9]+ MB' "$root/spec/cairn-v1.md" | grep -oE '[0-9]+ MB' | grep -oE '[0-9]+')
read -r idle loaded block open < <(nice "$build/bin/bench_memory" "127.0.0.1:$p" "$pid" "$count")
awk -v idle="$idle" -v loaded="$loaded" -v block="$block" -v open="$open" -v n="$count" \
    -v spec="$spec_mb" 'BEGIN {
  grow = (loaded - idle) * 1024 / 1e6;
  printf "bench memory: cairnd resident memory, %d authenticated TLS peers that never read\n", n;
  printf "  each asks 64 times for a block of %d bytes, then sends Pings; %d sessions still open\n", block, open;
  printf "  %-34s %10.1f MB\n", "idle cairnd (baseline)", idle * 1024 / 1e6;
  printf "  %-34s %10.1f MB\n", "with the peers (peak)", loaded * 1024 / 1e6;
  printf "  %-34s %10.1f MB  (%.2f MB per peer)\n", "growth", grow, grow / n;
  printf "  %-34s %10d MB  (spec 14.5, 117 peers that never read)\n", "spec worst case", spec;
  printf "  spec figure >= measured: %s\n", (spec * n / 117 >= grow) ? "yes" : "NO";
  printf "ratio: %.3f\n", grow / (spec * n / 117);
}'
