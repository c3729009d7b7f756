#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script (issue 18): builds every fuzz
# target from the environment the fuzzing infrastructure gives
#   $CC $CFLAGS       compiler and flags (sanitizer and coverage flags included)
#   $CXX $CXXFLAGS    (the tree is C only; passed on for completeness)
#   $LIB_FUZZING_ENGINE   engine link flag or library (-fsanitize=fuzzer, ...)
#   $SRC              sources: the project in $SRC/cairn unless this script
#                     runs from inside a checkout; protobuf-c in $SRC/protobuf-c
#                     when present (else Debian's source package is fetched)
#   $WORK             scratch (the CMake tree)
#   $OUT              results
# and puts beside each binary $OUT/fuzz_<t> its seed corpus
# fuzz_<t>_seed_corpus.zip (the checked-in corpus and regressions), its
# dictionary fuzz_<t>.dict and fuzz_<t>.options (libFuzzer flags). fuzz/ci.sh
# runs it with clang-14 + -fsanitize=fuzzer (fuzz/oss-fuzz/check.sh).
# Metadata for an OSS-Fuzz project directory: project.yaml beside this file.

here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/../CMakeLists.txt" ] && [ -f "$here/../../CMakeLists.txt" ]; then
    root=$(cd "$here/../.." && pwd)
else
    root=$SRC/cairn
fi
: "${CC:?}" "${CFLAGS?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}" "${WORK:?}"
CXX=${CXX:-clang++}
CXXFLAGS=${CXXFLAGS:-}
build=$WORK/cairn-build

# Instrumented protobuf-c: $SRC/protobuf-c (OSS-Fuzz clones it), else the
# Debian source package matching the installed headers.
if [ -f "${SRC:-/nonexistent}/protobuf-c/protobuf-c/protobuf-c.c" ]; then
    pbc=$SRC/protobuf-c
else
    pbc=$WORK/protobuf-c-src
    bash "$root/fuzz/build-protobuf-c.sh" "$pbc"
fi

# The custom mutator calls libFuzzer's LLVMFuzzerMutate: libFuzzer only.
mutator=OFF
case " $LIB_FUZZING_ENGINE " in *" -fsanitize=fuzzer "*) mutator=ON ;; esac

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
    -DCMAKE_BUILD_TYPE=None -DCAIRN_FUZZ=OFF -DCAIRN_SANITIZE=OFF -DCAIRN_BENCH=OFF -DCAIRN_SIM=OFF \
    -DCAIRN_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" -DCAIRN_FUZZ_MUTATOR=$mutator \
    -DCAIRN_PROTOBUF_C_SRC="$pbc" >"$WORK/cairn-configure.log" 2>&1 ||
    { cat "$WORK/cairn-configure.log"; exit 1; }

targets=()
for t in frame msg session_server session_client block merkle manifest chain casefile \
         json tls_conn store_open addrbook node_core; do
    if grep -q "fuzz_${t}_replay" "$build/Makefile"; then
        targets+=("$t")
    fi
done
cmake --build "$build" -j "${FUZZ_BUILD_JOBS:-$(nproc)}" \
    --target $(printf 'fuzz_%s ' "${targets[@]}")

mkdir -p "$OUT"
for t in "${targets[@]}"; do
    cp "$build/bin/fuzz_$t" "$OUT/"
    case $t in session_*) dict=session ;; *) dict=$t ;; esac
    cp "$root/fuzz/dict/$dict.dict" "$OUT/fuzz_$t.dict"
    printf '[libfuzzer]\ndict = fuzz_%s.dict\ntimeout = 25\nrss_limit_mb = 2560\nclose_fd_mask = 1\n' \
        "$t" >"$OUT/fuzz_$t.options"
    rm -f "$OUT/fuzz_${t}_seed_corpus.zip"
    files=$(find "$root/fuzz/corpus/$t" "$root/fuzz/regressions/$t" -type f 2>/dev/null | sort)
    if [ -n "$files" ]; then
        # -j: flat names (corpus files are content hashes, regressions named).
        echo "$files" | zip -q -j -@ "$OUT/fuzz_${t}_seed_corpus.zip"
    fi
done
echo "built ${#targets[@]} targets into $OUT: ${targets[*]}"
