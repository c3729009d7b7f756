#!/usr/bin/env bash
# conform_faults: a suite that cannot fail proves nothing. Builds the reference
# with -DCAIRN_FAULT_INJECTION=ON in its own tree (incremental), then for each
# line of faults.txt runs the listed cases against the faulty cairnd or cairn
# and checks that every one of them FAILs. The same cases pass against the
# normal build (conform_server, conform_client).
# usage: conform_faults.sh SOURCE_DIR FAULT_BUILD_DIR CAIRN_CONFORM
set -u
src=$1 fb=$2 conform=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
echo "== fault build in $fb"
cmake -S "$src" -B "$fb" -DCAIRN_FAULT_INJECTION=ON -DCAIRN_SANITIZE=OFF \
    -DCAIRN_FUZZ_REPLAY=OFF -DCAIRN_BENCH=OFF \
    >"$fb.cmake.log" 2>&1 || { cat "$fb.cmake.log"; exit 1; }
cmake --build "$fb" -j"$(nproc)" --target cairnd cairn_cli >"$fb.build.log" 2>&1 ||
    { tail -n 40 "$fb.build.log"; exit 1; }
cairnd=$fb/bin/cairnd cli=$fb/bin/cairn
tmp=$(mktemp -d /tmp/conform-faults.XXXXXX)
trap 'stop_node; rm -rf "$tmp"' EXIT
failures=0 checked=0
while read -r fault role cases; do
    case "$fault" in ''|'#'*) continue ;; esac
    out=$tmp/$fault-$role.json
    if [ "$role" = server ]; then
        rm -rf "$tmp/node"; mkdir -p "$tmp/node"
        CAIRN_FAULTS=$fault start_node "$cairnd" "$tmp/node"
        "$conform" server "127.0.0.1:$port" --json "$out" $cases >"$tmp/log" 2>&1
        stop_node
    else
        CAIRN_FAULTS=$fault "$conform" client --exec "$cli {action} {addr}" --json "$out" \
            $cases >"$tmp/log" 2>&1
    fi
    # every listed case must have run and FAILed
    python3 - "$out" "$fault" "$role" $cases <<'PY' || { failures=$((failures+1)); cat "$tmp/log"; }
import json, sys
out, fault, role, want = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    got = {c["id"]: c["verdict"] for c in json.load(open(out))["cases"]}
except Exception as e:
    print("%s/%s: no report (%s)" % (fault, role, e)); sys.exit(1)
bad = [c for c in want if got.get(c) != "FAIL"]
for c in want:
    print("  %-24s %-8s %-14s %s" % (fault, role, c, got.get(c, "not run")))
if bad:
    print("fault %s (%s): the suite did NOT catch it in %s" % (fault, role, " ".join(bad)))
sys.exit(1 if bad else 0)
PY
    checked=$((checked+1))
done <"$here/faults.txt"
echo "$checked fault lines checked, $failures not caught"
[ "$failures" -eq 0 ]
