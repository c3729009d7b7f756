#!/usr/bin/env bash
# Fuzzing in CI (issues 7 and 18), called by scripts/test:
#   1. installs clang-14 + libclang-rt-14-dev + afl++ (+ the project's dev
#      packages) when missing, fetches protobuf-c's Debian source and builds
#      the fuzz tree with clang-14 (-fsanitize=fuzzer,address,undefined,
#      protobuf-c instrumented) and the AFL++ tree (fuzz/afl.sh build);
#   2. replays every corpus and regression input under ASan+UBSan (ctest
#      fuzz_replay_*, fuzz_expect_msg);
#   3. builds every target through fuzz/oss-fuzz/build.sh with the OSS-Fuzz
#      variables set to clang-14 + -fsanitize=fuzzer into a temporary $OUT,
#      and runs each packed binary on a few inputs of its seed corpus;
#   4. runs every target with libFuzzer FUZZ_EMPTY_SECONDS (10) from an empty
#      corpus and FUZZ_SECONDS (30) from a copy of its checked-in corpus, and
#      with AFL++ AFL_SECONDS (20) from a copy of the corpus, FUZZ_JOBS (2) at
#      a time; the checked-in corpus is never modified here. (30 s since the
#      14th target, node_core: 14 x (10 + 30 + 20) s / 2 jobs keeps the stage
#      at the 7 nominal minutes of 12 x (10 + 40 + 20) s / 2.)
# Exits non-zero on any crash, oracle failure, leak or timeout; the inputs
# are left in $FUZZ_OUT/artifacts (libFuzzer) and $FUZZ_OUT/<t>.afl/default/
# {crashes,hangs} (AFL++); minimise with fuzz_<t> -minimize_crash=1, then
# add the file under fuzz/regressions/<t>/. FUZZ_SKIP_OSSFUZZ=1 and
# AFL_SECONDS=0 leave steps out.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/fuzz/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_EMPTY_SECONDS=${FUZZ_EMPTY_SECONDS:-10}
AFL_SECONDS=${AFL_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_OUT=${FUZZ_OUT:-$FUZZ_BUILD/ci-out}

fuzz_install_deps || exit 1
start=$(date +%s)
fuzz_build || { echo "fuzz build failed"; exit 1; }
if [ "$AFL_SECONDS" != 0 ]; then
    echo "== AFL++ build"
    afl_build >"$FUZZ_BUILD/afl-build.log" 2>&1 ||
        { tail -n 40 "$FUZZ_BUILD/afl-build.log"; echo "AFL++ build failed"; exit 1; }
fi

echo "== replay of corpora and regressions (ASan+UBSan)"
ctest --test-dir "$FUZZ_BUILD" -R '^fuzz_' --output-on-failure -j "$FUZZ_JOBS" || exit 1

rm -rf "$FUZZ_OUT"
mkdir -p "$FUZZ_OUT"
targets=$(fuzz_targets)

if [ "${FUZZ_SKIP_OSSFUZZ:-0}" != 1 ]; then
    echo "== OSS-Fuzz build (fuzz/oss-fuzz/build.sh, clang-14 + -fsanitize=fuzzer)"
    bash "$FUZZ_DIR/oss-fuzz/check.sh" "$FUZZ_OUT/oss-fuzz" || { echo "OSS-Fuzz build failed"; exit 1; }
fi

modes="empty corpus"
[ "$AFL_SECONDS" != 0 ] && modes="$modes afl"

# One run: `t mode` where mode is empty|corpus|afl. Writes $FUZZ_OUT/<t>.<mode>.{log,rc}.
run() {
    local t=$1 mode=$2 dir=$FUZZ_OUT/$1.$2.corpus secs
    if [ "$mode" = afl ]; then
        afl_one "$t" "$AFL_SECONDS" "$FUZZ_DIR/corpus/$t" "$FUZZ_OUT/$t.afl" "$FUZZ_OUT/$t.afl.log"
        echo $? >"$FUZZ_OUT/$t.afl.rc"
        return
    fi
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

echo "== fuzzing: libFuzzer ${FUZZ_EMPTY_SECONDS}s from empty and ${FUZZ_SECONDS}s from the corpus, AFL++ ${AFL_SECONDS}s from the corpus, $FUZZ_JOBS at a time"
jobs_run=0
for t in $targets; do
    for mode in $modes; do
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
    for mode in $modes; do
        rc=$(cat "$FUZZ_OUT/$t.$mode.rc" 2>/dev/null || echo 99)
        if [ "$mode" = afl ]; then
            eps=$(afl_stat "$FUZZ_OUT/$t.afl" execs_per_sec)
            units=$(afl_stat "$FUZZ_OUT/$t.afl" corpus_count)
        else
            read -r eps units <<<"$(fuzz_stats "$FUZZ_OUT/$t.$mode.log")"
        fi
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
    for mode in $modes; do
        if [ "$(cat "$FUZZ_OUT/$t.$mode.rc" 2>/dev/null)" != 0 ]; then
            echo "---- $t ($mode): last lines of the log"
            tail -n 40 "$FUZZ_OUT/$t.$mode.log"
            ls "$FUZZ_OUT/artifacts" "$FUZZ_OUT/$t.afl/default/crashes" \
                "$FUZZ_OUT/$t.afl/default/hangs" 2>/dev/null
        fi
    done
done
echo "fuzz: $passed passed, $failed failed ($(($(date +%s) - start)) s)"
[ "$failed" -eq 0 ]
