#!/usr/bin/env bash
# conform_record_pcap: record mode from a capture file. dumpcap captures the
# loopback traffic of `cairn ping`, `submit`, `headers` and `fetch` against a
# TLS cairnd that writes a key log, and of three commands (ping, submit,
# headers) against a plaintext cairnd; `record --pcap` turns the captures into
# four and three cases that replay PASS against a fresh cairnd; the plaintext
# capture rewritten with other link layers (BSD loopback, Linux cooked v1/v2,
# raw IP) and with segments out of order and retransmitted (pcap_variants.py)
# gives the same cases. Capturing on `lo` needs root (or dumpcap's
# capabilities): without it the test is skipped (exit 77). The cases are left in OUTDIR/recorded/pcap-{tls,plain}/ for
# conform_record_faults.
# usage: conform_record_pcap.sh CAIRN_CONFORM CAIRND CAIRN OUTDIR
set -u
conform=$1 cairnd=$2 cli=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/record_lib.sh"
files=$here/../fixtures/files
tmp=$(mktemp -d /tmp/conform-record-pcap.XXXXXX)
cap_pid=
trap 'stop_node; [ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
command -v dumpcap >/dev/null || { echo "SKIP: no dumpcap (Debian package tshark)"; exit 77; }
if ! timeout 10 dumpcap -i lo -f 'tcp port 9' -a duration:1 -w "$tmp/probe.pcapng" -q \
    >"$tmp/probe.log" 2>&1; then
    echo "SKIP: cannot capture on lo (needs root or dumpcap's capabilities):"
    cat "$tmp/probe.log"
    exit 77
fi
rm -rf "$out/recorded/pcap-tls" "$out/recorded/pcap-plain"

# capture MODE CMDS: a cairnd, dumpcap on its port (bounded to 120 s), the commands.
capture() {
    local mode=$1 n=$2 opt= fmt=
    mkdir -p "$tmp/$mode"
    [ "$mode" = plain ] && opt=--plaintext fmt=-P # classic pcap, for pcap_variants.py
    # shellcheck disable=SC2086
    SSLKEYLOGFILE=$tmp/$mode/keylog start_node "$cairnd" "$tmp/$mode" $opt --share "$files"
    # shellcheck disable=SC2086
    timeout 150 dumpcap $fmt -i lo -f "tcp port $port" -a duration:120 -w "$tmp/$mode/cap.pcapng" -q \
        >"$tmp/$mode/dumpcap.log" 2>&1 &
    cap_pid=$!
    # dumpcap has opened the interface once its output file exists
    for _ in $(seq 1 200); do [ -s "$tmp/$mode/cap.pcapng" ] && break; sleep 0.05; done
    sleep 0.5
    local addr=127.0.0.1:$port id
    id=$(fetch_id)
    # shellcheck disable=SC2086
    "$cli" ping "$addr" $opt --count 2 --interval 0 >"$tmp/$mode/ping.log" 2>&1 &&
        "$cli" submit "$addr" $opt --data "captured $mode" >"$tmp/$mode/submit.log" 2>&1 &&
        "$cli" headers "$addr" $opt >"$tmp/$mode/headers.log" 2>&1 &&
        if [ "$n" -eq 4 ]; then
            "$cli" fetch "$id" --from "$addr" $opt --no-discover -o "$tmp/$mode/fetched.bin" \
                >"$tmp/$mode/fetch.log" 2>&1
        fi || { echo "a client command failed"; cat "$tmp/$mode"/*.log; exit 1; }
    sleep 0.5 # the last FIN reaches the capture
    kill -INT "$cap_pid"
    wait "$cap_pid"
    cap_pid=
    stop_node
    ls -l "$tmp/$mode/cap.pcapng"
}

echo "=== TLS capture, key log written by cairnd"
capture tls 4
"$conform" record --pcap "$tmp/tls/cap.pcapng" --keylog "$tmp/tls/keylog" \
    -o "$out/recorded/pcap-tls" --id REC-PCAP-TLS || exit 1
check_recorded "$out/recorded/pcap-tls" 4 || exit 1
echo "=== the same capture without the key log: no case"
if "$conform" record --pcap "$tmp/tls/cap.pcapng" -o "$tmp/nokl" 2>"$tmp/nokl.log"; then
    echo "record --pcap wrote cases from TLS without a key log"; exit 1
fi
cat "$tmp/nokl.log"
grep -q -- "--keylog" "$tmp/nokl.log" || exit 1

echo "=== plaintext capture of three commands"
capture plain 3
"$conform" record --pcap "$tmp/plain/cap.pcapng" -o "$out/recorded/pcap-plain" \
    --id REC-PCAP-PLAIN || exit 1
check_recorded "$out/recorded/pcap-plain" 3 || exit 1

echo "=== the same capture with other link layers, segments out of order and retransmitted"
python3 "$here/pcap_variants.py" "$tmp/plain/cap.pcapng" "$tmp" || exit 1
for v in null sll sll2 raw shuffled; do
    "$conform" record --pcap "$tmp/$v.pcap" -o "$tmp/out-$v" --id REC-PCAP-PLAIN 2>/dev/null ||
        { echo "$v: no case"; exit 1; }
    diff -r "$out/recorded/pcap-plain" "$tmp/out-$v" ||
        { echo "$v: the cases differ from those of the original capture"; exit 1; }
    echo "  $v.pcap: the same $(find "$tmp/out-$v" -name '*.case' | wc -l) cases"
done

echo "=== replays"
for transport in tls plaintext; do
    replay_pass "$tmp/replay-$transport" "$transport" "$out/recorded/pcap-tls" \
        "$out/recorded/pcap-plain" || exit 1
done
echo "conform_record_pcap: OK"
