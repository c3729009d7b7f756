#!/usr/bin/env bash
# ctest sim_smoke: runs a scenario twice with its seed and asserts behaviour,
# never timings: the two runs print the same digest and write identical
# results; blocks were mined; every online node ends on the most-work tip;
# with a partition, packets were really dropped and the nodes converged after
# it healed.   smoke.sh CAIRN_SIM SCENARIO.json
set -euo pipefail
sim=$1
scenario=$2
# Under AddressSanitizer, recording a stack per allocation (ns-3 allocates per
# packet) is most of the run; errors are still found without those stacks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_context_size=0"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The two runs side by side (one core each).
"$sim" "$scenario" --out "$dir/a" >"$dir/a.txt" &
pa=$!
rc=0
"$sim" "$scenario" --out "$dir/b" >"$dir/b.txt" || rc=$?
[ "$rc" -eq 0 ] || { cat "$dir/b.txt"; echo "FAIL: run b exited with $rc"; exit 1; }
wait "$pa" || { cat "$dir/a.txt"; echo "FAIL: run a failed"; exit 1; }
cat "$dir/a.txt" "$dir/b.txt"
da=$(grep '^digest ' "$dir/a.txt")
db=$(grep '^digest ' "$dir/b.txt")
[ "$da" = "$db" ] || { echo "FAIL: digests differ: $da / $db"; exit 1; }
cmp "$dir/a.json" "$dir/b.json" || { echo "FAIL: results differ for one seed"; exit 1; }
python3 - "$dir/a.json" "$scenario" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sc = json.load(open(sys.argv[2]))
s = r["summary"]
fail = []
if s["blocks_mined"] < 3:
    fail.append("fewer than 3 blocks mined: %d" % s["blocks_mined"])
if s["best_height"] < 2:
    fail.append("best chain height %d" % s["best_height"])
if not s["all_on_best_tip"]:
    fail.append("%d of %d online nodes on the most-work tip" % (s["nodes_on_best_tip"], r["online_at_end"]))
if r["online_at_end"] < 0.9 * sc["nodes"] - sc.get("churn_spare", 0):
    fail.append("only %d nodes online at the end" % r["online_at_end"])
best = [b for b in r["blocks"] if b["in_best_chain"]]
if any(b["block"]["p50"] is None for b in best):
    fail.append("a block of the best chain never reached half of the nodes")
if sc.get("split_s", 0) < sc.get("heal_s", 0):
    if s["partition_dropped_packets"] == 0:
        fail.append("the partition dropped nothing")
    if s.get("converged_after_heal_s") is None:
        fail.append("never converged after the partition healed")
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
PY
echo "sim_smoke: ok ($da)"
