# Shared by fuzz/ci.sh, fuzz/run, fuzz/afl.sh and fuzz/coverage.sh (sourced,
# not run).
# Needs: $ROOT (the repository).

FUZZ_DIR=$ROOT/fuzz
FUZZ_BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
FUZZ_CC=${FUZZ_CC:-clang-14}
AFL_BUILD=${AFL_BUILD:-$ROOT/build-afl}
AFL_CC=${AFL_CC:-afl-clang-fast}
AFL_DRIVER=${AFL_DRIVER:-/usr/lib/afl/libAFLDriver.a}

# Every target, in the order they run. block/merkle/manifest/chain exist once
# the chain headers and library do (fuzz/CMakeLists.txt checks the same).
FUZZ_ALL="frame msg session_server session_client block merkle manifest chain casefile json tls_conn store_open addrbook node_core"

fuzz_targets() {
    local t
    for t in $FUZZ_ALL; do
        [ -x "$FUZZ_BUILD/bin/fuzz_$t" ] && echo "$t"
    done
    return 0
}

# The dictionary of a target.
fuzz_dict() {
    case $1 in
    session_*) echo "$FUZZ_DIR/dict/session.dict" ;;
    *) echo "$FUZZ_DIR/dict/$1.dict" ;;
    esac
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# clang-14 with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev is
# not pulled in by clang-14 on Debian 12), llvm-14 for llvm-cov/profdata,
# afl++ (4.04c: afl-clang-fast, libAFLDriver.a) for the second engine, zip
# for the OSS-Fuzz seed corpora.
fuzz_install_deps() {
    local need=() p
    # The project's own dependencies first (configuring the tree needs them).
    if [ -x "$ROOT/scripts/deps" ]; then "$ROOT/scripts/deps" >/dev/null || return 1; fi
    for p in clang-14 libclang-rt-14-dev llvm-14 afl++ zip dpkg-dev libprotobuf-c-dev protobuf-c-compiler \
             libjansson-dev cmake pkg-config libssl-dev libcmocka-dev; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
}

# Configures and builds the clang fuzz tree (libFuzzer binaries and their
# sanitized replay twins) with instrumented protobuf-c.
fuzz_build() {
    bash "$FUZZ_DIR/build-protobuf-c.sh" "$FUZZ_BUILD/protobuf-c-src"
    mkdir -p "$FUZZ_BUILD"
    CC=$FUZZ_CC cmake -S "$ROOT" -B "$FUZZ_BUILD" -DCAIRN_FUZZ=ON -DCAIRN_BENCH=OFF -DCAIRN_SIM=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$FUZZ_BUILD/configure.log" 2>&1 ||
        { cat "$FUZZ_BUILD/configure.log"; return 1; }
    local targets=() t
    for t in $(fuzz_configured "$FUZZ_BUILD"); do targets+=("fuzz_$t" "fuzz_${t}_replay"); done
    cmake --build "$FUZZ_BUILD" -j "${FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}" fuzz_expect
}

# Runs `fuzz_<t>` for $2 seconds on corpus dir $3 (fuzzed in place); the
# libFuzzer log goes to $4. Returns libFuzzer's status.
fuzz_one() {
    local t=$1 secs=$2 corpus=$3 log=$4
    mkdir -p "$corpus" "$(dirname "$log")/artifacts"
    "$FUZZ_BUILD/bin/fuzz_$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
        -dict="$(fuzz_dict "$t")" -print_final_stats=1 -close_fd_mask=1 \
        -artifact_prefix="$(dirname "$log")/artifacts/$t-" "$corpus" >"$log" 2>&1
}

# exec/s and corpus units from a libFuzzer log.
fuzz_stats() {
    local eps units
    eps=$(awk '/stat::average_exec_per_sec/ {print $2}' "$1")
    units=$(grep -o 'corp: [0-9]*' "$1" | tail -n 1 | awk '{print $2}')
    echo "${eps:-?} ${units:-?}"
}

# The CMake targets of every fuzz target configured in build dir $1, as
# "fuzz_<t>" names (each also has fuzz_<t>_replay).
fuzz_configured() {
    local t
    for t in $FUZZ_ALL; do
        if grep -q "fuzz_${t}_replay" "$1/Makefile" 2>/dev/null ||
           grep -q "fuzz_${t}_replay" "$1/build.ninja" 2>/dev/null; then
            echo "$t"
        fi
    done
}

# ---- AFL++ (fuzz/afl.sh) ------------------------------------------------------

# Builds every target with afl-clang-fast (PCGUARD instrumentation), ASan and
# UBSan, linked with AFL++'s libAFLDriver.a (it runs LLVMFuzzerTestOneInput in
# persistent mode on shared-memory test cases), in $AFL_BUILD. Same sources,
# instrumented protobuf-c, no custom mutator.
afl_build() {
    bash "$FUZZ_DIR/build-protobuf-c.sh" "$AFL_BUILD/protobuf-c-src"
    mkdir -p "$AFL_BUILD"
    AFL_QUIET=1 CC=$AFL_CC cmake -S "$ROOT" -B "$AFL_BUILD" -DCAIRN_SANITIZE=ON -DCAIRN_FUZZ=OFF \
        -DCAIRN_FUZZ_ENGINE="$AFL_DRIVER" -DCAIRN_FUZZ_MUTATOR=OFF -DCAIRN_BENCH=OFF -DCAIRN_SIM=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$AFL_BUILD/configure.log" 2>&1 ||
        { cat "$AFL_BUILD/configure.log"; return 1; }
    local targets=() t
    for t in $(fuzz_configured "$AFL_BUILD"); do targets+=("fuzz_$t"); done
    AFL_QUIET=1 cmake --build "$AFL_BUILD" -j "${FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}"
}

afl_targets() {
    local t
    for t in $FUZZ_ALL; do
        [ -x "$AFL_BUILD/bin/fuzz_$t" ] && echo "$t"
    done
    return 0
}

# Runs AFL++ on `fuzz_<t>` for $2 seconds: seeds from dir $3 (an empty or
# missing dir gets one empty seed), findings in dir $4 (afl-fuzz -o), the log
# in $5. Returns 0 when afl-fuzz ran and saved no crash and no hang.
afl_one() {
    local t=$1 secs=$2 seeds=$3 out=$4 log=$5 in
    in=$(mktemp -d)
    # AFL++ refuses inputs over 1 MiB; the checked-in corpora stay far below.
    [ -d "$seeds" ] && find "$seeds" -maxdepth 1 -type f -size -1024k -exec cp {} "$in/" \;
    # A slow target (node_core: ~50-100 ms per input under ASan) would spend a
    # short run calibrating its whole corpus: its AFL_SEED_CAP smallest files.
    local cap
    case $t in node_core) cap=${AFL_SEED_CAP:-120} ;; *) cap=${AFL_SEED_CAP:-0} ;; esac
    if [ "$cap" -gt 0 ]; then
        ls -S "$in" | head -n -"$cap" | while read -r f; do rm -f "$in/$f"; done
    fi
    [ -n "$(ls -A "$in")" ] || printf '' >"$in/empty"
    rm -rf "$out"
    mkdir -p "$(dirname "$log")"
    # -m none: ASan reserves terabytes of shadow; -t: the same 25 s as libFuzzer.
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
        AFL_FAST_CAL=1 AFL_SKIP_CRASHES=0 AFL_NO_WARN_INSTABILITY=1 \
        ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0 \
        UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:symbolize=0 \
        afl-fuzz -i "$in" -o "$out" -x "$(fuzz_dict "$t")" -m none -t 25000 -V "$secs" \
        -- "$AFL_BUILD/bin/fuzz_$t" >"$log" 2>&1
    local rv=$?
    rm -rf "$in"
    [ "$rv" = 0 ] || return "$rv"
    local crashes hangs
    crashes=$(afl_stat "$out" saved_crashes)
    hangs=$(afl_stat "$out" saved_hangs)
    [ "${crashes:-1}" = 0 ] && [ "${hangs:-1}" = 0 ]
}

# One field of an AFL++ output dir's fuzzer_stats.
afl_stat() {
    awk -v k="$2" '$1 == k {print $3}' "$1/default/fuzzer_stats" 2>/dev/null
}
