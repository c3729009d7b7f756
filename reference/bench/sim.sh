#!/usr/bin/env bash
# reference/bench/run sim [SCENARIO.json] — the network simulator on 10,000
# nodes (reference/sim/scenarios/bitcoin2014-10k.json by default): block
# propagation percentiles against the 2014 Bitcoin measurement, wall time and
# peak memory. Final line "ratio:" = simulated seconds per wall second
# (both measured in this run). Never fails on a figure; a machine without
# ns-3 gets a note instead.
set -uo pipefail
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
scenario=${1:-$here/../sim/scenarios/bitcoin2014-10k.json}
if ! pkg-config --exists ns3-core 2>/dev/null; then
  echo "sim: ns-3 (libns3-dev) not installed; run scripts/deps"
  exit 0
fi
cmake --build "$build" -j"$(nproc)" --target cairn-sim >/dev/null || { echo "sim: cairn-sim did not build"; exit 0; }
out=${CAIRN_BENCH_OUT:-$build/sim}
mkdir -p "$out"
name=$(basename "$scenario" .json)
# The machine is shared: the run may not take more than 11 GiB of address
# space (10,000 nodes peak well below that: reference/sim/README.md); past it
# allocation fails and the run ends instead of the machine swapping.
# CAIRN_SIM_NICE (default 19) is its niceness: 0 on a machine given to it.
(ulimit -v "${CAIRN_SIM_MAX_KB:-11534336}" &&
  exec nice -n "${CAIRN_SIM_NICE:-19}" timeout "${CAIRN_SIM_TIMEOUT:-7200}" "$build/bin/cairn-sim" "$scenario" --out "$out/$name") |
  tee "$out/$name.txt"
st=${PIPESTATUS[0]}
[ "$st" -eq 0 ] || { echo "sim: cairn-sim exited with $st"; exit 0; }
if command -v gnuplot >/dev/null; then
  gnuplot -e "dat='$out/$name.cdf.dat'; out='$out/$name.png'; title='cairn-sim $name'" "$here/../sim/plot.gp" &&
    echo "plot: $out/$name.png"
fi
python3 - "$out/$name.json" "$out/$name.txt" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()
ref = {"p50": 3.3, "p90": 13.5, "p95": 25.0, "p99": 100.5}
mb = r["summary"]["median_block"]
print("full block / Bitcoin 2014:", "  ".join("%s %s" % (k, "-" if mb[k] is None else "%.2f" % (mb[k] / v)) for k, v in ref.items()))
m = re.search(r"sim/wall ([0-9.]+)", txt)
print("ratio: %s" % (m.group(1) if m else "0"))
PY
