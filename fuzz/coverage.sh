#!/usr/bin/env bash
# Line coverage of reference/lib reached by the checked-in corpora and
# regressions (issue 7, item 8; issue 18: >= 90 % of the files the targets
# link, and the files no target links are named), and of the node's address
# book while it lives in reference/node/. Builds the replay drivers with clang-14
# source-based coverage in build-fuzzcov/ (no sanitizers, no libFuzzer),
# replays every corpus, and prints llvm-cov's report for reference/lib.
#   fuzz/coverage.sh [--html DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/fuzz/lib.sh"
COV_BUILD=${COV_BUILD:-$ROOT/build-fuzzcov}
html=
[ "${1:-}" = --html ] && html=${2:?--html DIR}

fuzz_install_deps
flags="-fprofile-instr-generate -fcoverage-mapping"
CC=$FUZZ_CC cmake -S "$ROOT" -B "$COV_BUILD" -DCAIRN_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
targets=()
for t in $FUZZ_ALL; do
    grep -q "fuzz_${t}_replay" "$COV_BUILD/Makefile" && targets+=("$t")
done
cmake --build "$COV_BUILD" -j 2 --target $(printf 'fuzz_%s_replay ' "${targets[@]}") >/dev/null

prof=$COV_BUILD/profiles
rm -rf "$prof"
mkdir -p "$prof"
objects=()
for t in "${targets[@]}"; do
    LLVM_PROFILE_FILE="$prof/$t.profraw" "$COV_BUILD/bin/fuzz_${t}_replay" \
        "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/regressions/$t" 2>/dev/null
    objects+=(-object "$COV_BUILD/bin/fuzz_${t}_replay")
done
llvm-profdata-14 merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
# The first -object is positional for llvm-cov.
first=${objects[1]}
rest=("${objects[@]:2}")
sources=$(find "$ROOT/reference/lib" -name '*.c' | sort)
llvm-cov-14 report "$first" "${rest[@]}" -instr-profile="$prof/all.profdata" $sources |
    tee "$prof/report.txt"
# Files no target links (llvm-cov leaves them out of the table and the total).
for f in $sources; do
    rel=${f#"$ROOT/reference/lib/"}
    grep -q "^$rel " "$prof/report.txt" ||
        echo "not linked by any target (outside the total): reference/lib/$rel"
done
# The address book (fuzz_addrbook) lives in the node until the node core moves
# it under reference/lib/node/ (then the table above counts it): reported apart.
node_sources=$(ls "$ROOT"/reference/node/addrbook.c "$ROOT"/reference/node/netaddr.c 2>/dev/null || true)
if [ -n "$node_sources" ] && [ -x "$COV_BUILD/bin/fuzz_addrbook_replay" ] &&
   [ ! -e "$ROOT/reference/lib/node/addrbook.c" ]; then
    echo "== the node's address book (outside the reference/lib total)"
    llvm-cov-14 report "$first" "${rest[@]}" -instr-profile="$prof/all.profdata" $node_sources |
        tee "$prof/report-node.txt"
fi
if [ -n "$html" ]; then
    llvm-cov-14 show "$first" "${rest[@]}" -instr-profile="$prof/all.profdata" \
        -format=html -output-dir="$html" $sources
    echo "html in $html"
fi
