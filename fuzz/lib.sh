# Shared by fuzz/ci.sh, fuzz/run and fuzz/coverage.sh (sourced, not run).
# Needs: $ROOT (the repository).

FUZZ_DIR=$ROOT/fuzz
FUZZ_BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
FUZZ_CC=${FUZZ_CC:-clang-14}

# Every target, in the order they run. block/merkle/manifest/chain exist once
# the chain headers and library do (fuzz/CMakeLists.txt checks the same).
FUZZ_ALL="frame msg session_server session_client block merkle manifest chain casefile"

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
# not pulled in by clang-14 on Debian 12), llvm-14 for llvm-cov/profdata.
fuzz_install_deps() {
    local need=() p
    # The project's own dependencies first (configuring the tree needs them).
    if [ -x "$ROOT/scripts/deps" ]; then "$ROOT/scripts/deps" >/dev/null || return 1; fi
    for p in clang-14 libclang-rt-14-dev llvm-14 dpkg-dev libprotobuf-c-dev protobuf-c-compiler \
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
    CC=$FUZZ_CC cmake -S "$ROOT" -B "$FUZZ_BUILD" -DCAIRN_FUZZ=ON -DCAIRN_BENCH=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$FUZZ_BUILD.configure.log" 2>&1 ||
        { cat "$FUZZ_BUILD.configure.log"; return 1; }
    local targets=() t
    for t in $FUZZ_ALL; do
        if grep -q "fuzz_${t}_replay" "$FUZZ_BUILD/Makefile" 2>/dev/null ||
           grep -q "fuzz_${t}_replay" "$FUZZ_BUILD/build.ninja" 2>/dev/null; then
            targets+=("fuzz_$t" "fuzz_${t}_replay")
        fi
    done
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
