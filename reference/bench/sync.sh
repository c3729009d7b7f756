#!/usr/bin/env bash
# bench sync: a fresh cairnd syncs a devnet chain from one seeder over
# 127.0.0.1, plaintext and TLS 1.3:
#   (a) 100,000 small blocks (1 entry of 128 bytes each)
#   (b) 500 blocks of 1 MiB (16 entries of 64 KiB each)
# Baseline in the same run: the same blocks ingested into a fresh store in
# batches of 100 by one process (`bench ingest`'s batch rate: the store's
# limit, with no network and no peer).
#
# A sync is timed from the start of the fresh node to its "sync: caught up"
# log line (process start, handshake and headers included). The chains are
# mined once and kept in BUILD/bench-sync/ (minutes for (a) at devnet
# difficulty); the seeders serve that datadir. Each figure is the best of
# CAIRN_BENCH_RUNS runs (default 3). CAIRN_BENCH_SYNC_SMALL and
# CAIRN_BENCH_SYNC_BIG change the chain lengths; CAIRN_BENCH_DIR is where
# the fresh stores go (default /tmp).
# Last line: ratio: R = sync rate / batch-ingest rate for (a) over TLS.
set -euo pipefail
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/deps"
cmake --build "$build" -j"$(nproc)" --target cairnd bench_sync >/dev/null
runs=${CAIRN_BENCH_RUNS:-3}
n_small=${CAIRN_BENCH_SYNC_SMALL:-100000}
n_big=${CAIRN_BENCH_SYNC_BIG:-500}
tmp=${CAIRN_BENCH_DIR:-/tmp}
cache=$build/bench-sync
mkdir -p "$cache"
work=$(mktemp -d "$tmp/cairn-bench-sync-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

small=$cache/small-$n_small big=$cache/big-$n_big
echo "bench sync: preparing the chains in $cache (mined once, then reused)" >&2
"$build/bin/bench_sync" gen "$small" "$n_small" 1 128
"$build/bin/bench_sync" gen "$big" "$n_big" 16 65536

# best of $runs: baseline ingest seconds of a chain dir
ingest() {
  local b= t
  for _ in $(seq "$runs"); do
    t=$(CAIRN_BENCH_DIR=$tmp "$build/bin/bench_sync" ingest "$1" | awk '{print $4}')
    b=$(awk -v t="$t" -v b="$b" 'BEGIN { printf "%.3f", (b == "" || t < b) ? t : b }')
  done
  echo "$b"
}
# seconds for a fresh node to sync chain dir $1 over mode $2 (plain|tls)
sync_once() {
  local sport mode=() t0 t1 sp np
  [ "$2" = plain ] && mode=(--plaintext)
  sport=$(port)
  "$build/bin/cairnd" --datadir "$1" --listen "127.0.0.1:$sport" "${mode[@]}" --log-level warn \
    >"$work/seeder.log" 2>&1 &
  sp=$!
  pids+=("$sp")
  wait_port "$sport"
  rm -rf "$work/fresh"
  t0=$EPOCHREALTIME
  "$build/bin/cairnd" --datadir "$work/fresh" --peer "127.0.0.1:$sport" "${mode[@]}" \
    --outbound 0 >"$work/fresh.log" 2>&1 &
  np=$!
  pids+=("$np")
  local ok=0
  for _ in $(seq 120000); do # at most ~20 minutes
    if grep -q "sync: caught up" "$work/fresh.log"; then ok=1; break; fi
    kill -0 "$np" 2>/dev/null || break
    sleep 0.01
  done
  t1=$EPOCHREALTIME
  kill "$np" "$sp" 2>/dev/null || true
  wait "$np" "$sp" 2>/dev/null || true
  if [ "$ok" != 1 ]; then
    echo "sync did not finish; the fresh node's log ends with:" >&2
    tail -5 "$work/fresh.log" >&2
    return 1
  fi
  awk -v a="$t0" -v z="$t1" 'BEGIN { printf "%.3f", z - a }'
}
sync_best() {
  local b= t
  for _ in $(seq "$runs"); do
    t=$(sync_once "$1" "$2")
    b=$(awk -v t="$t" -v b="$b" 'BEGIN { printf "%.3f", (b == "" || t < b) ? t : b }')
  done
  echo "$b"
}

s_ing=$(ingest "$small")
s_plain=$(sync_best "$small" plain)
s_tls=$(sync_best "$small" tls)
b_ing=$(ingest "$big")
b_plain=$(sync_best "$big" plain)
b_tls=$(sync_best "$big" tls)

echo "bench sync: a fresh cairnd syncs from one seeder over 127.0.0.1, best of $runs, $(nproc) cores; stores in $tmp"
printf '%-48s %8s %10s %8s %9s\n' "" "seconds" "blocks/s" "MiB/s" "/ingest"
row() { # label seconds blocks bytes-per-block baseline-seconds
  awk -v l="$1" -v t="$2" -v n="$3" -v bb="$4" -v base="$5" \
    'BEGIN { printf "%-48s %8.3f %10.0f %8.1f %9.2f\n", l, t, n / t, n * bb / t / 1048576, base / t }'
}
sb=$((96 + 128)) bb=$((96 + 16 * 65536))
row "(a) $n_small x 128 B: batch ingest (baseline)" "$s_ing" "$n_small" "$sb" "$s_ing"
row "(a) sync, plaintext" "$s_plain" "$n_small" "$sb" "$s_ing"
row "(a) sync, TLS 1.3" "$s_tls" "$n_small" "$sb" "$s_ing"
row "(b) $n_big x 1 MiB: batch ingest (baseline)" "$b_ing" "$n_big" "$bb" "$b_ing"
row "(b) sync, plaintext" "$b_plain" "$n_big" "$bb" "$b_ing"
row "(b) sync, TLS 1.3" "$b_tls" "$n_big" "$bb" "$b_ing"
awk -v a="$s_ing" -v b="$s_tls" 'BEGIN { printf "ratio: %.2f\n", a / b }'
