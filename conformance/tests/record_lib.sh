# Shared by the record-mode ctests (conform_record*.sh); needs lib.sh and
# $conform, $cairnd, $cli, $tmp.

# wait_port PORT: until something accepts on 127.0.0.1:PORT (bounded). The
# probe does not connect: it asks the kernel whether the port is listening.
wait_port() {
    local p
    p=$(printf '%04X' "$1")
    for _ in $(seq 1 200); do
        grep -q "^ *[0-9]*: 0100007F:$p 00000000:0000 0A" /proc/net/tcp 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1"
    return 1
}

# wait_recorder PID SECONDS: its exit status, once it exits by itself; after
# SECONDS it is stopped (SIGINT, then SIGKILL) and the status is 124. (Not
# `timeout`: it signals its whole process group, sanitizer threads included.)
wait_recorder() {
    local pid=$1 n=$(($2 * 20))
    for _ in $(seq 1 "$n"); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; return; }
        sleep 0.05
    done
    echo "the recorder is still running after $2 s: stopping it"
    kill -INT "$pid" 2>/dev/null
    sleep 2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    return 124
}

# The fixture file the fetch downloads (three chunks of 16 KiB or more).
fetch_id() {
    "$cli" manifest "$files/eight.bin" | awk '$1 == "file_id" { print $2 }'
}

# run_commands ADDR DIR CMD...: ping, submit, headers and fetch against ADDR
# with CMD (the client and its options), in that order, one connection each.
run_commands() {
    local addr=$1 d=$2 id
    shift 2
    id=$(fetch_id)
    "$@" ping "$addr" --count 2 --interval 0 >"$d/ping.log" 2>&1 &&
        "$@" submit "$addr" --data "recorded $(basename "$d")" >"$d/submit.log" 2>&1 &&
        "$@" headers "$addr" >"$d/headers.log" 2>&1 &&
        "$@" fetch "$id" --from "$addr" --no-discover -o "$d/fetched.bin" >"$d/fetch.log" 2>&1 &&
        cmp -s "$d/fetched.bin" "$files/eight.bin" && return 0
    echo "a client command failed:"
    cat "$d"/*.log
    return 1
}

# check_recorded DIR N: N cases; each ends in exactly one terminal step.
check_recorded() {
    local dir=$1 n=$2 got f t
    got=$(find "$dir" -name '*.case' | wc -l)
    [ "$got" -eq "$n" ] || { echo "$dir: $got cases, want $n"; ls -l "$dir"; return 1; }
    for f in "$dir"/*.case; do
        t=$(grep -cE '^(close( abort)?|expect close(-with .*)?)$' "$f")
        [ "$t" -eq 1 ] || { echo "$f: $t terminal steps, want 1"; cat "$f"; return 1; }
        tail -n 1 "$f" | grep -qE '^(close|expect close)' ||
            { echo "$f: the terminal step is not the last one"; cat "$f"; return 1; }
        grep -q '^auth$' "$f" || { echo "$f: no auth step"; cat "$f"; return 1; }
    done
}

# replay_pass WORK TRANSPORT DIR...: every case of the DIRs PASSes against a
# fresh cairnd (with the fixture files, over TRANSPORT: tls or plaintext).
replay_pass() {
    local w=$1 transport=$2 opt= f args=()
    shift 2
    mkdir -p "$w"
    [ "$transport" = plaintext ] && opt=--plaintext
    # shellcheck disable=SC2086
    start_node "$cairnd" "$w" $opt --share "$files"
    for f in "$@"; do
        for f in "$f"/*.case; do args+=(--case "$f"); done
    done
    # shellcheck disable=SC2086
    "$conform" server "127.0.0.1:$port" $opt --json "$w/report.json" "${args[@]}" >"$w/log" 2>&1
    stop_node
    python3 - "$w/report.json" "$transport" "${#args[@]}" <<'PY' || { cat "$w/log"; return 1; }
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
for c in cases:
    print("  replay over %-9s %-16s %s" % (sys.argv[2], c["id"], c["verdict"]))
ok = len(cases) * 2 == int(sys.argv[3]) and all(c["verdict"] == "PASS" for c in cases)
sys.exit(0 if ok else 1)
PY
}

# replay_fail WORK FAULT TRANSPORT DIR...: every case of the DIRs FAILs against a
# fresh cairnd built with fault injection ($faulty) and running FAULT.
replay_fail() {
    local w=$1 fault=$2 transport=$3 opt= f args=()
    shift 3
    mkdir -p "$w"
    [ "$transport" = plaintext ] && opt=--plaintext
    # shellcheck disable=SC2086
    CAIRN_FAULTS=$fault start_node "$faulty" "$w" $opt --share "$files"
    for f in "$@"; do args+=(--case "$f"); done
    # shellcheck disable=SC2086
    "$conform" server "127.0.0.1:$port" $opt --json "$w/report.json" "${args[@]}" >"$w/log" 2>&1
    stop_node
    python3 - "$w/report.json" "$fault" "$transport" "${#args[@]}" <<'PY' || { cat "$w/log"; return 1; }
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
for c in cases:
    print("  fault %-16s over %-9s %-16s %s" % (sys.argv[2], sys.argv[3], c["id"], c["verdict"]))
ok = len(cases) * 2 == int(sys.argv[4]) and all(c["verdict"] == "FAIL" for c in cases)
sys.exit(0 if ok else 1)
PY
}
