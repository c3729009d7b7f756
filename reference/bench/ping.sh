#!/usr/bin/env bash
# bench ping: ping/pong round trips per second against cairnd, 50 connections,
# unpipelined and with 16 in flight, against redis-benchmark PING_MBULK on
# redis-server with the same client counts, in the same run. Both servers are
# single-threaded and plaintext on 127.0.0.1; cairnd over TLS is reported too.
# Also the server process's CPU time per round trip (utime + stime from
# /proc/PID/stat over the measured interval, in microseconds), which does
# not depend on the load generators' own cost, with a line for its ratio
# (cairnd / redis-server, plaintext, the higher of 1 and 16 in flight;
# at most 1: cairnd spends no more CPU per round trip than redis-server).
# The load generator's 50 connections all come from 127.0.0.1, one host, as
# redis-benchmark's do: cairnd runs with --noban 127.0.0.1 so that admission
# (ADM-3's pre-handshake cap per network group) does not turn them away.
# Last line: ratio: R, the lower of the two cairn/redis rate ratios.
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
rpid=$!
pids+=($!)
cport=$(port); tport=$(port)
"$build/bin/cairnd" --datadir "$work/plain" --listen "127.0.0.1:$cport" --plaintext --log-level warn \
  --max-per-ip 1000 --max-inbound 1000 --noban 127.0.0.1 >"$work/cairnd.log" 2>&1 &
cpid=$!
pids+=($!)
"$build/bin/cairnd" --datadir "$work/tls" --listen "127.0.0.1:$tport" --log-level warn \
  --max-per-ip 1000 --max-inbound 1000 --noban 127.0.0.1 >"$work/cairnd-tls.log" 2>&1 &
tpid=$!
pids+=($!)
# utime + stime of a process, in microseconds
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1e6 / hz }' "/proc/$1/stat"; }
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
requests=$((secs * 150000))
redis_rps() { # pipeline; prints "RATE CPU_US_PER_ROUND_TRIP" (redis-server's CPU)
  local n=$((requests * $1 / 4 + 50000)) c0 c1 rate
  c0=$(cpu_us "$rpid")
  rate=$(redis-benchmark -p "$rport" -t ping_mbulk -c 50 -P "$1" -n "$n" -q 2>/dev/null |
    tr '\r' '\n' | awk '/PING_MBULK/ && /requests per second/ {for (i=1;i<=NF;i++) if ($i ~ /^[0-9.]+$/) v=$i} END {print v}')
  c1=$(cpu_us "$rpid")
  awk -v r="$rate" -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%s %.3f\n", r, (b - a) / n }'
}
cairn_rps() { # server pid, address, in flight, extra; prints "RATE CPU_US_PER_ROUND_TRIP"
  CAIRN_BENCH_SERVER_PID=$1 "$build/bin/bench_ping" "$2" 50 "$3" "$secs" "${@:4}"
}
echo "bench ping: round trips per second, 50 connections, 127.0.0.1, single-threaded servers"
read -r r1 rc1 < <(redis_rps 1)
read -r c1 cc1 < <(cairn_rps "$cpid" "127.0.0.1:$cport" 1)
read -r r16 rc16 < <(redis_rps 16)
read -r c16 cc16 < <(cairn_rps "$cpid" "127.0.0.1:$cport" 16)
read -r t1 tc1 < <(cairn_rps "$tpid" "127.0.0.1:$tport" 1 --tls)
read -r t16 tc16 < <(cairn_rps "$tpid" "127.0.0.1:$tport" 16 --tls)
printf '%-34s %12s %12s %8s\n' "" "cairnd" "redis" "ratio"
awk -v c1="$c1" -v r1="$r1" -v c16="$c16" -v r16="$r16" -v t1="$t1" -v t16="$t16" \
  -v cc1="$cc1" -v rc1="$rc1" -v cc16="$cc16" -v rc16="$rc16" -v tc1="$tc1" -v tc16="$tc16" 'BEGIN {
  printf "%-34s %12.0f %12.0f %8.2f\n", "1 in flight (plaintext)", c1, r1, c1 / r1
  printf "%-34s %12.0f %12.0f %8.2f\n", "16 in flight (plaintext)", c16, r16, c16 / r16
  printf "%-34s %12.0f %12s\n", "1 in flight (TLS 1.3)", t1, "-"
  printf "%-34s %12.0f %12s\n", "16 in flight (TLS 1.3)", t16, "-"
  print "server CPU per round trip (us, utime+stime from /proc)"
  printf "%-34s %12.2f %12.2f %8.2f\n", "1 in flight (plaintext)", cc1, rc1, cc1 / rc1
  printf "%-34s %12.2f %12.2f %8.2f\n", "16 in flight (plaintext)", cc16, rc16, cc16 / rc16
  printf "%-34s %12.2f %12s\n", "1 in flight (TLS 1.3)", tc1, "-"
  printf "%-34s %12.2f %12s\n", "16 in flight (TLS 1.3)", tc16, "-"
  a = cc1 / rc1; b = cc16 / rc16
  printf "cpu ratio: %.2f (cairnd / redis-server CPU per round trip, plaintext, the higher of the two; target <= 1)\n", (a > b ? a : b)
  a = c1 / r1; b = c16 / r16
  printf "ratio: %.2f\n", a < b ? a : b
}'
