#!/usr/bin/env bash
# conform_record_faults: recorded cases are real tests. The cases that
# conform_record (and conform_record_pcap, when it could capture) left in
# OUTDIR/recorded/ FAIL against a cairnd built with a fault the recorded
# exchange covers (cairn/fault.h, the switches of the suite's self-test):
#   sign_wrong_role  every case (the server's Auth, which the harness verifies)
#   pong_nonce       the recorded `cairn ping` sessions (REC-*-001: the Pongs)
#   no_binding       every case, replayed over TLS (the Auth's channel binding)
# The fault build is conform_faults' tree (a resource lock keeps them apart).
# usage: conform_record_faults.sh SOURCE_DIR FAULT_BUILD_DIR CAIRN_CONFORM OUTDIR
set -u
src=$1 fb=$2 conform=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/record_lib.sh"
files=$here/../fixtures/files
rec=$out/recorded
ls "$rec"/plain/*.case "$rec"/tls/*.case >/dev/null 2>&1 ||
    { echo "no recorded cases in $rec: conform_record runs first"; exit 1; }
echo "== fault build in $fb"
cmake -S "$src" -B "$fb" -DCAIRN_FAULT_INJECTION=ON -DCAIRN_SANITIZE=OFF \
    -DCAIRN_FUZZ_REPLAY=OFF -DCAIRN_BENCH=OFF \
    >"$fb.cmake.log" 2>&1 || { cat "$fb.cmake.log"; exit 1; }
cmake --build "$fb" -j"$(nproc)" --target cairnd >"$fb.build.log" 2>&1 ||
    { tail -n 40 "$fb.build.log"; exit 1; }
faulty=$fb/bin/cairnd cairnd=$fb/bin/cairnd
tmp=$(mktemp -d /tmp/conform-record-faults.XXXXXX)
trap 'stop_node; rm -rf "$tmp"' EXIT
all=() pings=()
for f in "$rec"/*/*.case; do
    all+=("$f")
    case "$f" in *-001.case) pings+=("$f") ;; esac
done
echo "${#all[@]} recorded cases, ${#pings[@]} of them ping sessions"
failures=0
# The faulty build without a fault: the cases pass (the faults, not the build, fail them).
replay_pass "$tmp/none" tls "$rec"/* || failures=$((failures + 1))
replay_fail "$tmp/role" sign_wrong_role tls "${all[@]}" || failures=$((failures + 1))
replay_fail "$tmp/pong" pong_nonce plaintext "${pings[@]}" || failures=$((failures + 1))
replay_fail "$tmp/binding" no_binding tls "${all[@]}" || failures=$((failures + 1))
echo "$failures fault runs where a recorded case did not FAIL"
[ "$failures" -eq 0 ]
