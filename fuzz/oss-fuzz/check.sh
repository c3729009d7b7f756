#!/usr/bin/env bash
# CI check of fuzz/oss-fuzz/build.sh (called by fuzz/ci.sh): runs it with the
# OSS-Fuzz variables set to clang-14 + -fsanitize=fuzzer into DIR/out (DIR/work
# scratch), requires for every target configured in the regular fuzz build a
# binary, a seed corpus zip, a dictionary and an options file in $OUT, and
# runs each binary on up to 16 inputs of its seed corpus.
#   fuzz/oss-fuzz/check.sh DIR
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/fuzz/lib.sh"
dir=${1:?usage: $0 DIR}
rm -rf "$dir"
mkdir -p "$dir/out" "$dir/work" "$dir/src"

# The regular fuzz build's protobuf-c source, when there is one, saves a fetch.
[ -f "$FUZZ_BUILD/protobuf-c-src/protobuf-c/protobuf-c.c" ] &&
    ln -s "$FUZZ_BUILD/protobuf-c-src" "$dir/src/protobuf-c"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize-address-use-after-scope"
if ! CC=clang-14 CXX=clang++-14 \
    CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only $san -fsanitize=fuzzer-no-link" \
    CXXFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only $san -fsanitize=fuzzer-no-link" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer SRC=$dir/src OUT=$dir/out WORK=$dir/work \
    bash "$FUZZ_DIR/oss-fuzz/build.sh" >"$dir/build.log" 2>&1; then
    tail -n 40 "$dir/build.log"
    exit 1
fi
tail -n 1 "$dir/build.log"

status=0
for t in $(fuzz_targets); do
    for f in "fuzz_$t" "fuzz_${t}_seed_corpus.zip" "fuzz_$t.dict" "fuzz_$t.options"; do
        [ -s "$dir/out/$f" ] || { echo "oss-fuzz: $f missing"; status=1; }
    done
    [ -x "$dir/out/fuzz_$t" ] || continue
    seeds=$dir/work/seeds-$t
    mkdir -p "$seeds"
    unzip -q -o "$dir/out/fuzz_${t}_seed_corpus.zip" -d "$seeds"
    mapfile -t inputs < <(find "$seeds" -type f | sort | head -n 16)
    if (cd "$dir/out" && ./"fuzz_$t" -dict="fuzz_$t.dict" -timeout=25 "${inputs[@]}") \
        >"$dir/$t.log" 2>&1; then
        echo "oss-fuzz: fuzz_$t ran ${#inputs[@]} seed inputs"
    else
        echo "oss-fuzz: fuzz_$t FAILED on its seeds, see $dir/$t.log"
        tail -n 20 "$dir/$t.log"
        status=1
    fi
done
exit $status
