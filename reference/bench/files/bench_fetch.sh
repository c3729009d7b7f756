#!/usr/bin/env bash
# bench fetch: time to fetch and verify a 1 GiB file over 127.0.0.1.
#
#   floor   openssl dgst -sha256 FILE (file in the page cache): hashing alone
#   nginx   curl -s http://127.0.0.1:PORT/f | openssl dgst -sha256, from
#           nginx-light with sendfile on (installed here when missing)
#   cairn   cairn fetch ID --from ... -o OUT: every chunk verified against the
#           file ID and written to OUT, from one cairnd --share and from three,
#           plaintext and TLS 1.3
#
# Each figure is the best of CAIRN_BENCH_RUNS runs (default 3) of the whole
# command, process start included. OUT is on tmpfs (/dev/shm) when it has
# room, so that disk writeback does not add noise; nginx's pipeline writes
# nothing. CAIRN_BENCH_FETCH_MB sets the file size (default 1024);
# CAIRN_SHARE_CHUNK_LOG2=14..20 makes cairnd use that chunk size instead of
# its default (256 KiB for 1 GiB).
# The "/floor" column is time / floor time; a "floor ratio" line gives it for
# one and three seeders (targets: 1.3 plaintext, 1.4 TLS). The "cpu s" column
# is the CPU time (user + system) of that best run: the command's processes,
# plus the seeding cairnd processes for a fetch (from /proc/PID/stat). It
# depends much less on what else the machine runs than the wall time does;
# "cpu/floor" divides it by the floor's CPU time.
# Last line: ratio: R = nginx pipeline time / cairn time (1 seeder, plaintext).
set -euo pipefail
bin=$1
mb=${CAIRN_BENCH_FETCH_MB:-1024}
runs=${CAIRN_BENCH_RUNS:-3}
# the cairn binary users run: the Release build's, or CAIRN_BENCH_CAIRN (an
# installed one)
cairn=${CAIRN_BENCH_CAIRN:-$bin/cairn}

need=()
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /tmp/cairn-bench-fetch-XXXXXX)
shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}' || echo 0)
if [ "${shm_free:-0}" -gt $(((mb + 64) * 1024)) ]; then
  outdir=$(mktemp -d /dev/shm/cairn-bench-fetch-XXXXXX)
else
  outdir=$work/out
  mkdir -p "$outdir"
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$outdir"
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
now() { echo "$EPOCHREALTIME"; }
hz=$(getconf CLK_TCK)
# CPU ticks (user + system) of the waited-for children of shell $1, plus
# those of the processes in $servers
ticks() {
  local t
  t=$(awk '{ sub(/.*\) /, ""); print $14 + $15 }' "/proc/$1/stat")
  for p in $servers; do
    t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$t"
}
servers=
# best of $runs runs of "$@" (a prepare function named by $prep runs untimed
# before each); prints "SECONDS CPU_SECONDS" of the fastest run
best() {
  local prep=$1 b= bc= me=$BASHPID
  shift
  for _ in $(seq "$runs"); do
    $prep
    local t0 t1 c0 c1
    c0=$(ticks "$me")
    t0=$(now)
    if ! "$@" >/dev/null 2>"$work/last.err"; then
      echo "failed: $* ($(tail -1 "$work/last.err"))" >&2
      return 1
    fi
    t1=$(now)
    c1=$(ticks "$me")
    read -r b bc < <(awk -v a="$t0" -v z="$t1" -v b="$b" -v bc="$bc" -v c=$((c1 - c0)) -v hz="$hz" \
      'BEGIN { d = z - a; if (b == "" || d < b) { b = d; bc = c / hz }; printf "%.3f %.2f\n", b, bc }')
  done
  echo "$b $bc"
}
noprep() { :; }
clear_out() { rm -f "$outdir"/*; }

mkdir -p "$work/www"
chmod 755 "$work" "$work/www" # nginx's workers run as another user
head -c $((mb * 1024 * 1024)) /dev/urandom >"$work/www/f"
want=$(openssl dgst -sha256 "$work/www/f" | awk '{print $NF}')
id=$("$cairn" manifest "$work/www/f" --json ${CAIRN_SHARE_CHUNK_LOG2:+--chunk-log2 $CAIRN_SHARE_CHUNK_LOG2} | python3 -c 'import json,sys; print(json.load(sys.stdin)["file_id"])')

# nginx: one worker, sendfile, no logs
nport=$(port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 64; }
http {
  sendfile on;
  tcp_nopush on;
  access_log off;
  server { listen 127.0.0.1:$nport; root $work/www; }
}
EOF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

# cairnd: three plaintext nodes and three TLS nodes sharing the same file
# (not in a $(...) subshell: the pids must reach cleanup)
node() { # name, extra args; the address in $addr, the pid in $pid
  local p
  p=$(port)
  "$bin/cairnd" --datadir "$work/$1" --listen "127.0.0.1:$p" --share "$work/www" --log-level warn \
    "${@:2}" >"$work/$1.log" 2>&1 &
  pids+=($!)
  pid=$!
  addr="127.0.0.1:$p"
}
plain=() tls=() plain_pids=() tls_pids=()
for i in 1 2 3; do node "p$i" --plaintext; plain+=("$addr"); plain_pids+=("$pid"); done
for i in 1 2 3; do node "t$i"; tls+=("$addr"); tls_pids+=("$pid"); done
wait_port "$nport"
for a in "${plain[@]}" "${tls[@]}"; do wait_port "${a##*:}"; done

fetch() { # --plaintext? addrs...
  local args=() mode=$1
  shift
  for a in "$@"; do args+=(--from "$a"); done
  [ "$mode" = plain ] && args+=(--plaintext)
  "$cairn" fetch "$id" "${args[@]}" -o "$outdir/f" --no-discover --timeout 60 --force
}
# warm up every node once (first reads, sessions) and check the bytes
for a in "${plain[@]}"; do clear_out; fetch plain "$a" >/dev/null; done
for a in "${tls[@]}"; do clear_out; fetch tls "$a" >/dev/null; done
got=$(openssl dgst -sha256 "$outdir/f" | awk '{print $NF}')
[ "$got" = "$want" ] || { echo "cairn fetched different bytes" >&2; exit 1; }
got=$(curl -s "http://127.0.0.1:$nport/f" | openssl dgst -sha256 | awk '{print $NF}')
[ "$got" = "$want" ] || { echo "nginx served different bytes" >&2; exit 1; }

# measure NAME SERVERS PREP COMMAND...: best() into t_NAME (seconds) and c_NAME (CPU seconds)
measure() {
  local name=$1 r
  servers=$2
  r=$(best "${@:3}")
  read -r "t_$name" "c_$name" <<<"$r"
}
nmaster=$(cat "$work/nginx/nginx.pid")
measure floor "" noprep openssl dgst -sha256 "$work/www/f"
measure nginx "$nmaster $(cat "/proc/$nmaster/task/$nmaster/children" 2>/dev/null || true)" \
  noprep sh -c "curl -s http://127.0.0.1:$nport/f | openssl dgst -sha256"
measure p1 "${plain_pids[0]}" clear_out fetch plain "${plain[0]}"
measure p3 "${plain_pids[*]}" clear_out fetch plain "${plain[@]}"
measure t1 "${tls_pids[0]}" clear_out fetch tls "${tls[0]}"
measure t3 "${tls_pids[*]}" clear_out fetch tls "${tls[@]}"

echo "bench fetch: $mb MiB over 127.0.0.1, best of $runs, $(nproc) cores; cairn writes to ${outdir%/*}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %8s %10s %9s %9s %7s %9s\n' "" "seconds" "MiB/s" "/floor" "nginx/x" "cpu s" "cpu/floor"
row() {
  awk -v n="$1" -v t="$2" -v c="$3" -v mb="$mb" -v f="$t_floor" -v g="$t_nginx" -v cf="$c_floor" \
    'BEGIN { printf "%-44s %8.3f %10.0f %9.2f %9.2f %7.2f %9.2f\n", n, t, mb / t, t / f, g / t, c, c / cf }'
}
row "hash only: openssl dgst -sha256 (floor)" "$t_floor" "$c_floor"
row "nginx sendfile | curl | openssl dgst" "$t_nginx" "$c_nginx"
row "cairn fetch, 1 cairnd, plaintext" "$t_p1" "$c_p1"
row "cairn fetch, 3 cairnd, plaintext" "$t_p3" "$c_p3"
row "cairn fetch, 1 cairnd, TLS 1.3" "$t_t1" "$c_t1"
row "cairn fetch, 3 cairnd, TLS 1.3" "$t_t3" "$c_t3"
awk -v f="$t_floor" -v p1="$t_p1" -v p3="$t_p3" -v t1="$t_t1" -v t3="$t_t3" 'BEGIN {
  printf "floor ratio, 1 seeder: plaintext %.2f (target 1.3), TLS %.2f (target 1.4)\n", p1 / f, t1 / f
  printf "floor ratio, 3 seeders: plaintext %.2f (target 1.3), TLS %.2f (target 1.4)\n", p3 / f, t3 / f
}'
awk -v f="$c_floor" -v p1="$c_p1" -v p3="$c_p3" -v t1="$c_t1" -v t3="$c_t3" 'BEGIN {
  printf "cpu ratio (client + seeders / floor), 1 seeder: plaintext %.2f, TLS %.2f; 3 seeders: plaintext %.2f, TLS %.2f\n", p1 / f, t1 / f, p3 / f, t3 / f
}'
echo "cairn: $cairn"
awk -v g="$t_nginx" -v c="$t_p1" 'BEGIN { printf "ratio: %.2f\n", g / c }'
