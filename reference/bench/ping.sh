#!/usr/bin/env bash
# bench ping: ping/pong round trips per second against cairnd, 50 connections,
# unpipelined and with 16 in flight, against redis-benchmark PING_MBULK on
# redis-server with the same client counts, in the same run. Both servers are
# single-threaded and plaintext on 127.0.0.1; cairnd over TLS is reported too.
# Last line: ratio: R, the lower of the two cairn/redis ratios.
set -euo pipefail
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/deps"
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target cairnd bench_ping >/dev/null
work=$(mktemp -d /tmp/cairn-bench-ping-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs=${CAIRN_BENCH_SECONDS:-4}

rport=$(port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
cport=$(port); tport=$(port)
"$build/bin/cairnd" --datadir "$work/plain" --listen "127.0.0.1:$cport" --plaintext --log-level warn \
  --max-per-ip 1000 --max-inbound 1000 >"$work/cairnd.log" 2>&1 &
pids+=($!)
"$build/bin/cairnd" --datadir "$work/tls" --listen "127.0.0.1:$tport" --log-level warn \
  --max-per-ip 1000 --max-inbound 1000 >"$work/cairnd-tls.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
requests=$((secs * 150000))
redis_rps() { # pipeline
  redis-benchmark -p "$rport" -t ping_mbulk -c 50 -P "$1" -n $((requests * $1 / 4 + 50000)) -q 2>/dev/null |
    tr '\r' '\n' | awk '/PING_MBULK/ && /requests per second/ {for (i=1;i<=NF;i++) if ($i ~ /^[0-9.]+$/) v=$i} END {print v}'
}
echo "bench ping: round trips per second, 50 connections, 127.0.0.1, single-threaded servers"
r1=$(redis_rps 1); c1=$("$build/bin/bench_ping" "127.0.0.1:$cport" 50 1 "$secs")
r16=$(redis_rps 16); c16=$("$build/bin/bench_ping" "127.0.0.1:$cport" 50 16 "$secs")
t1=$("$build/bin/bench_ping" "127.0.0.1:$tport" 50 1 "$secs" --tls)
t16=$("$build/bin/bench_ping" "127.0.0.1:$tport" 50 16 "$secs" --tls)
printf '%-34s %12s %12s %8s\n' "" "cairnd" "redis" "ratio"
awk -v c1="$c1" -v r1="$r1" -v c16="$c16" -v r16="$r16" -v t1="$t1" -v t16="$t16" 'BEGIN {
  printf "%-34s %12.0f %12.0f %8.2f\n", "1 in flight (plaintext)", c1, r1, c1 / r1
  printf "%-34s %12.0f %12.0f %8.2f\n", "16 in flight (plaintext)", c16, r16, c16 / r16
  printf "%-34s %12.0f %12s\n", "1 in flight (TLS 1.3)", t1, "-"
  printf "%-34s %12.0f %12s\n", "16 in flight (TLS 1.3)", t16, "-"
  a = c1 / r1; b = c16 / r16
  printf "ratio: %.2f\n", a < b ? a : b
}'
