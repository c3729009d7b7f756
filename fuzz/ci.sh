#!/usr/bin/env bash
# Fuzzing in CI (issue 7), called by .ci/run:
#   1. installs clang-14 + libclang-rt-14-dev (+ the project's dev packages)
#      when missing, fetches protobuf-c's Debian source and builds the fuzz
#      tree with clang-14 (-fsanitize=fuzzer,address,undefined, protobuf-c
#      instrumented);
#   2. replays every corpus and regression input under ASan+UBSan (ctest
#      fuzz_replay_*, fuzz_expect_msg);
#   3. runs every target FUZZ_EMPTY_SECONDS (10) from an empty corpus, then
#      FUZZ_SECONDS (60) from a copy of its checked-in corpus, FUZZ_JOBS (2)
#      at a time; the checked-in corpus is never modified here.
# Exits non-zero on any crash, oracle failure, leak or timeout; the inputs
# are left in $FUZZ_OUT/artifacts (minimise with fuzz_<t> -minimize_crash=1,
# then add the file under fuzz/regressions/<t>/).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/fuzz/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_EMPTY_SECONDS=${FUZZ_EMPTY_SECONDS:-10}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_OUT=${FUZZ_OUT:-$FUZZ_BUILD/ci-out}

fuzz_install_deps || exit 1
fuzz_build || { echo "fuzz build failed"; exit 1; }

echo "== replay of corpora and regressions (ASan+UBSan)"
ctest --test-dir "$FUZZ_BUILD" -R '^fuzz_' --output-on-failure -j "$FUZZ_JOBS" || exit 1

rm -rf "$FUZZ_OUT"
mkdir -p "$FUZZ_OUT"
targets=$(fuzz_targets)

# One run: `t mode` where mode is empty|corpus. Writes $FUZZ_OUT/<t>.<mode>.{log,rc}.
run() {
    local t=$1 mode=$2 dir=$FUZZ_OUT/$1.$2.corpus secs
    mkdir -p "$dir"
    if [ "$mode" = corpus ]; then
        cp -r "$FUZZ_DIR/corpus/$t/." "$dir/" 2>/dev/null || true
        secs=$FUZZ_SECONDS
    else
        secs=$FUZZ_EMPTY_SECONDS
    fi
    fuzz_one "$t" "$secs" "$dir" "$FUZZ_OUT/$t.$mode.log"
    echo $? >"$FUZZ_OUT/$t.$mode.rc"
}

echo "== fuzzing: ${FUZZ_EMPTY_SECONDS}s from empty, ${FUZZ_SECONDS}s from the corpus, $FUZZ_JOBS at a time"
jobs_run=0
for t in $targets; do
    for mode in empty corpus; do
        run "$t" "$mode" &
        jobs_run=$((jobs_run + 1))
        if [ "$jobs_run" -ge "$FUZZ_JOBS" ]; then
            wait -n
            jobs_run=$((jobs_run - 1))
        fi
    done
done
wait

passed=0
failed=0
printf '%-16s %-7s %10s %8s  %s\n' target from exec/s corpus result
for t in $targets; do
    for mode in empty corpus; do
        rc=$(cat "$FUZZ_OUT/$t.$mode.rc" 2>/dev/null || echo 99)
        read -r eps units <<<"$(fuzz_stats "$FUZZ_OUT/$t.$mode.log")"
        if [ "$rc" = 0 ]; then
            result=ok
            passed=$((passed + 1))
        else
            result="FAILED (rc $rc): see $FUZZ_OUT/$t.$mode.log"
            failed=$((failed + 1))
        fi
        printf '%-16s %-7s %10s %8s  %s\n' "$t" "$mode" "$eps" "$units" "$result"
    done
done
for t in $targets; do
    for mode in empty corpus; do
        if [ "$(cat "$FUZZ_OUT/$t.$mode.rc" 2>/dev/null)" != 0 ]; then
            echo "---- $t ($mode): last lines of the log"
            tail -n 40 "$FUZZ_OUT/$t.$mode.log"
            ls "$FUZZ_OUT/artifacts" 2>/dev/null
        fi
    done
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
