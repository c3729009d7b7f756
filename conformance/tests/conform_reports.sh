#!/usr/bin/env bash
# conform_reports: cairn-conform --html DIR --pcap DIR against a fresh cairnd
# on a selection of cases; the HTML is parsed (check_html.py: a page per
# case, requirement texts from the spec, permitted outcomes, timed wire log,
# no script) and every capture is decoded by tshark with the Cairn dissector.
# usage: conform_reports.sh CAIRN_CONFORM CAIRND SOURCE_DIR
set -u
conform=$1 cairnd=$2 src=$3
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/conform-reports.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/conform_server.sh" "$conform" "$cairnd" "$out/junit" --html "$out/html" --pcap "$out/pcap" \
    SRV-FRM-00 SRV-HS-00 SRV-FILE-00 >"$out/run.log" 2>&1
rv=$?
tail -3 "$out/run.log"
[ $rv -eq 0 ] || { cat "$out/run.log"; exit 1; }
python3 "$here/check_html.py" "$out/html" "$src/spec/cairn-v1.md" "$out/pcap" || exit 1
python3 "$src/reference/tools/wireshark/test_wireshark.py" pcapdir "$src" "$out/pcap"
