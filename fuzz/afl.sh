#!/usr/bin/env bash
# AFL++, the second engine, on the same LLVMFuzzerTestOneInput harnesses,
# dictionaries and corpora as libFuzzer (issue 18).
#
#   fuzz/afl.sh build
#       afl-clang-fast + ASan + UBSan + instrumented protobuf-c, linked with
#       AFL++'s libAFLDriver.a, every target into build-afl/bin/fuzz_<t>
#       ($AFL_BUILD; Debian 12 afl++ 4.04c).
#   fuzz/afl.sh run [--seconds N] [--empty] [--jobs J] [--out DIR] [TARGET...]
#       AFL++ on each TARGET (default: all) for N seconds (default 60), J at a
#       time (default 1), from a copy of fuzz/corpus/<t>/ (--empty: from one
#       empty input); findings in DIR/<t>/default/{queue,crashes,hangs}
#       (default build-afl/afl-out). Fails when a crash or hang was saved.
#       Replay a crash with build-fuzz/bin/fuzz_<t>_replay FILE, minimise it
#       with afl-tmin or libFuzzer's -minimize_crash=1 and keep it under
#       fuzz/regressions/<t>/. The checked-in corpus is never modified; merge
#       a queue with fuzz/run's libFuzzer -merge=1.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/fuzz/lib.sh"

usage() { sed -n '2,20p' "$0"; exit "${1:-0}"; }

cmd=${1:-}
[ -n "$cmd" ] || usage 2
shift
case $cmd in
build)
    fuzz_install_deps || exit 1
    afl_build
    exit $?
    ;;
run) ;;
-h|--help) usage 0 ;;
*) usage 2 ;;
esac

secs=60
jobs=1
empty=0
out=$AFL_BUILD/afl-out
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) secs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --empty) empty=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(afl_targets)
[ ${#targets[@]} -gt 0 ] || { echo "no AFL++ targets in $AFL_BUILD: run fuzz/afl.sh build" >&2; exit 1; }
mkdir -p "$out"

one() {
    local t=$1 seeds=$FUZZ_DIR/corpus/$1
    [ "$empty" = 1 ] && seeds=/nonexistent
    afl_one "$t" "$secs" "$seeds" "$out/$t" "$out/$t.log"
    echo $? >"$out/$t.rc"
}

running=0
for t in "${targets[@]}"; do
    one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-16s %10s %10s %8s %8s  %s\n' target exec/s execs queue edges result
for t in "${targets[@]}"; do
    rc=$(cat "$out/$t.rc" 2>/dev/null || echo 99)
    if [ "$rc" = 0 ]; then r=ok; else r="FAILED (rc $rc): see $out/$t.log, $out/$t/default/crashes"; status=1; fi
    printf '%-16s %10s %10s %8s %8s  %s\n' "$t" "$(afl_stat "$out/$t" execs_per_sec)" \
        "$(afl_stat "$out/$t" execs_done)" "$(afl_stat "$out/$t" corpus_count)" \
        "$(afl_stat "$out/$t" bitmap_cvg)" "$r"
done
exit $status
