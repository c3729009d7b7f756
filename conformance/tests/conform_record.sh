#!/usr/bin/env bash
# conform_record: record mode, live. The recorder relays `cairn ping`, `submit`,
# `headers` and `fetch` to a cairnd, once in plaintext and once over TLS
# (decrypted with the key log the client writes), one case per connection;
# every recorded case has exactly one terminal step and replays PASS against a
# fresh cairnd, over TLS and over plaintext. A TLS session without a key log is
# refused with a message and no case. The cases are left in
# OUTDIR/recorded/{plain,tls}/REC-{PLAIN,TLS}-00{1..4}.case (ping, submit,
# headers, fetch) for conform_record_faults.
# usage: conform_record.sh CAIRN_CONFORM CAIRND CAIRN OUTDIR
set -u
conform=$1 cairnd=$2 cli=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/record_lib.sh"
tmp=$(mktemp -d /tmp/conform-record.XXXXXX)
rec_pid=
trap 'stop_node; [ -n "$rec_pid" ] && kill "$rec_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
files=$here/../fixtures/files
rm -rf "$out/recorded/plain" "$out/recorded/tls"
mkdir -p "$out/recorded"

# record_live MODE DIR: the four commands through the recorder into DIR.
record_live() {
    local mode=$1 dir=$2 cliopt= recopt= kl= prefix
    mkdir -p "$tmp/$mode"
    if [ "$mode" = plain ]; then
        start_node "$cairnd" "$tmp/$mode" --plaintext --share "$files"
        cliopt=--plaintext recopt=--plaintext
    else
        start_node "$cairnd" "$tmp/$mode" --share "$files"
        kl=$tmp/$mode/keylog
        recopt="--tls --keylog $kl"
    fi
    local listen
    listen=$(free_port)
    prefix=REC-$(echo "$mode" | tr '[:lower:]' '[:upper:]')
    # shellcheck disable=SC2086
    "$conform" record --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$port" \
        -o "$dir/" --id "$prefix" --sessions 4 $recopt 2>"$tmp/$mode/rec.log" &
    rec_pid=$!
    wait_port "$listen" || { cat "$tmp/$mode/rec.log"; exit 1; }
    # The client writes the key log: the recorder waits for secrets it has not written yet.
    # shellcheck disable=SC2086
    run_commands "127.0.0.1:$listen" "$tmp/$mode" env ${kl:+SSLKEYLOGFILE=$kl} "$cli" $cliopt ||
        { cat "$tmp/$mode/rec.log"; exit 1; }
    wait_recorder "$rec_pid" 60 || { echo "the recorder failed"; cat "$tmp/$mode/rec.log"; exit 1; }
    rec_pid=
    stop_node
    cat "$tmp/$mode/rec.log"
    check_recorded "$dir" 4 || exit 1
}

echo "=== plaintext"
record_live plain "$out/recorded/plain"
echo "=== TLS, key log written by the client"
record_live tls "$out/recorded/tls"
grep -q "TLS 1.3, decrypted with the key log" "$out/recorded/tls/REC-TLS-001.case" ||
    { echo "the TLS recording does not say it was decrypted"; exit 1; }

echo "=== replays"
for transport in tls plaintext; do
    replay_pass "$tmp/replay-$transport" "$transport" "$out/recorded/plain" "$out/recorded/tls" ||
        exit 1
done

echo "=== a TLS session without a key log is refused"
mkdir -p "$tmp/nokl"
start_node "$cairnd" "$tmp/nokl"
listen=$(free_port)
"$conform" record --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$port" \
    -o "$tmp/nokl/out/" --sessions 1 2>"$tmp/nokl/rec.log" &
rec_pid=$!
wait_port "$listen" || exit 1
if "$cli" ping "127.0.0.1:$listen" --count 1 >"$tmp/nokl/cli.log" 2>&1; then
    echo "the ping went through a recorder without a key log"; exit 1
fi
kill -INT "$rec_pid" # SIGINT ends a live recording
wait_recorder "$rec_pid" 10
[ $? -eq 1 ] || { echo "the recorder did not stop on SIGINT with status 1 (no case)"; exit 1; }
rec_pid=
cat "$tmp/nokl/rec.log"
grep -q -- "--keylog FILE" "$tmp/nokl/rec.log" || { echo "no message about the key log"; exit 1; }
[ -z "$(ls -A "$tmp/nokl/out" 2>/dev/null)" ] || { echo "a refused session left a case"; exit 1; }
stop_node
if "$conform" record --tls --listen "127.0.0.1:$listen" --upstream "127.0.0.1:1" \
    -o "$tmp/x.case" 2>"$tmp/tls-usage.log"; then
    echo "--tls without --keylog was accepted"; exit 1
fi
grep -q -- "--tls needs --keylog" "$tmp/tls-usage.log" || { cat "$tmp/tls-usage.log"; exit 1; }
echo "conform_record: OK"
