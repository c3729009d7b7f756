#!/usr/bin/env bash
# Line coverage of reference/lib reached by the checked-in corpora and
# regressions (issue 7, item 8; issue 18: >= 90 % of the files the targets
# link, and the files no target links are named; reference/lib/node, the node
# core, included), and of the address book apart. Builds the replay drivers with clang-14
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
CC=$FUZZ_CC cmake -S "$ROOT" -B "$COV_BUILD" -DCAIRN_BENCH=OFF -DCAIRN_SIM=OFF -DCMAKE_BUILD_TYPE=Debug \
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
# The address book (fuzz_addrbook): the node core's addrbook.c and netaddr.c
# (counted in the table above too), reported apart.
book_sources=$(ls "$ROOT"/reference/lib/node/addrbook.c "$ROOT"/reference/lib/node/netaddr.c 2>/dev/null || true)
if [ -n "$book_sources" ] && [ -x "$COV_BUILD/bin/fuzz_addrbook_replay" ]; then
    echo "== the address book (fuzz_addrbook)"
    llvm-cov-14 report "$COV_BUILD/bin/fuzz_addrbook_replay" -instr-profile="$prof/all.profdata" \
        $book_sources | tee "$prof/report-addrbook.txt"
fi
if [ -n "$html" ]; then
    llvm-cov-14 show "$first" "${rest[@]}" -instr-profile="$prof/all.profdata" \
        -format=html -output-dir="$html" $sources
    echo "html in $html"
fi
