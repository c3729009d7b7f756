#!/usr/bin/env bash
# Nodes on distinct hosts: every cairnd in its own network namespace, all on
# a bridge inside a "hub" namespace, addresses 10.231.x.y and up (several /16
# network groups) that exist only inside the namespaces this script creates
# and removes. Nothing is added to the namespace the test runs in.
#
# usage: netns_test.sh CAIRND CAIRN [SCENARIO...]
#   scenarios: partition neighbour flood (default: all)
# Exit 77 (skipped) when network namespaces cannot be created here.
set -u
cairnd=$1 cairn=$2
shift 2
scenarios=${*:-partition neighbour flood}
# the issue asks for a slot within 2 s; sanitizer builds on a shared machine need more
ping_timeout=${CAIRN_NETNS_PING_TIMEOUT:-5}
tag=c$$
work=$(mktemp -d /tmp/cairn-netns.XXXXXX)
nss=()
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ "${keep:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! ip netns add "$tag-hub" 2>/dev/null; then
    echo "SKIP: network namespaces are not permitted here (needs root and 'ip netns')"
    exit 77
fi
nss+=("$tag-hub")
hub() { ip netns exec "$tag-hub" "$@"; }
hub ip link set lo up
hub ip link add br0 type bridge && hub ip link set br0 up
hub ip link add br1 type bridge && hub ip link set br1 up

fail() { echo "FAIL: $*"; keep=1; exit 1; }

# host NAME ADDR...: a namespace with one veth on br0 and these addresses (/8 on-link)
host() {
    local name=$1 ns=$tag-$1
    shift
    ip netns add "$ns" || fail "netns add $ns"
    nss+=("$ns")
    ip netns exec "$ns" ip link set lo up
    ip link add "v$tag$name" type veth peer name eth0 netns "$ns" 2>/dev/null ||
        { ip netns exec "$tag-hub" true; }
    ip link set "v$tag$name" netns "$tag-hub"
    hub ip link set "v$tag$name" master br0 up
    for a in "$@"; do ip netns exec "$ns" ip addr add "$a/8" dev eth0; done
    ip netns exec "$ns" ip link set eth0 up
}
on() { local ns=$tag-$1; shift; ip netns exec "$ns" "$@"; }

# node NAME ADDR [cairnd args...]: cairnd in NAME's namespace on ADDR:7317
node() {
    local name=$1 addr=$2
    shift 2
    mkdir -p "$work/$name"
    # the node's own pid, whatever `ip netns exec` does in between
    on "$name" sh -c 'echo $$ >"$0.pid"; exec "$@"' "$work/$name" \
        "$cairnd" --datadir "$work/$name" --listen "$addr:7317" --log-level debug "$@" \
        >>"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$work/$name.pid" ] && break; sleep 0.1; done
    eval "pid_$name=\$(cat \"$work/$name.pid\")"
    pids+=("$(cat "$work/$name.pid")")
    local pt=
    case " $* " in *" --plaintext "*) pt=--plaintext ;; esac
    for _ in $(seq 100); do
        on "$name" "$cairn" info "$addr:7317" $pt --timeout 2 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "node $name did not start (see $work/$name.log)"
}
stop() {
    local p
    eval "p=\$pid_$1"
    kill "$p" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
}
# tip FROM ADDR: "height id" of the node at ADDR, asked from FROM's namespace
tip() {
    on "$1" "$cairn" info "$2:7317" --json --timeout 3 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["height"], d["tip"])' 2>/dev/null
}

scenario_partition() {
    echo "== partition: 6 nodes in two groups mine apart, heal, converge on most work"
    local a=(10.231.0.1 10.231.0.2 10.231.0.3) b=(10.232.0.1 10.232.0.2 10.232.0.3)
    local all=("${a[@]}" "${b[@]}") names=(pa1 pa2 pa3 pb1 pb2 pb3)
    for i in 0 1 2 3 4 5; do host "${names[$i]}" "${all[$i]}"; done
    for i in 0 1 2 3 4 5; do
        local args=()
        # sessions cut by the partition are noticed in seconds, not after 90 s
        args+=(--idle-timeout-ms 4000 --ping-interval-ms 1000)
        for j in 0 1 2 3 4 5; do [ "$i" != "$j" ] && args+=(--peer "${all[$j]}:7317"); done
        case $i in 0) args+=(--mine --mine-interval 150) ;; 3) args+=(--mine --mine-interval 600) ;; esac
        node "${names[$i]}" "${all[$i]}" "${args[@]}"
    done
    # split: group b moves to the other bridge
    for n in pb1 pb2 pb3; do hub ip link set "v$tag$n" master br1; done
    sleep 8
    local ta tb
    ta=$(tip pa2 10.231.0.2) tb=$(tip pb2 10.232.0.2)
    echo "   apart: group a at ${ta%% *}, group b at ${tb%% *}"
    [ "${ta#* }" != "${tb#* }" ] || fail "the groups did not diverge"
    stop pa1 # the miners stop, so the heavier side's tip is the target
    stop pb1
    sleep 1
    ta=$(tip pa2 10.231.0.2)
    tb=$(tip pb2 10.232.0.2)
    local target=${ta#* } want=${ta%% *}
    [ "${tb%% *}" -gt "${ta%% *}" ] && target=${tb#* } want=${tb%% *}
    [ "${tb%% *}" = "${ta%% *}" ] && fail "equal work on both sides; no single answer to check"
    for n in pb1 pb2 pb3; do hub ip link set "v$tag$n" master br0; done
    local ok=0
    for _ in $(seq 40); do
        ok=1
        for i in 1 2 4 5; do
            local t
            t=$(tip "${names[$i]}" "${all[$i]}")
            [ "${t#* }" = "$target" ] || ok=0
        done
        [ $ok = 1 ] && break
        sleep 0.5
    done
    [ $ok = 1 ] || fail "after healing the nodes did not all reach the heavier tip $target"
    echo "   healed: pa2 pa3 pb2 pb3 all on the heavier side's tip, height $want ${target:0:16}"
}

scenario_neighbour() {
    echo "== neighbour: a discouraged host's honest neighbour (same /16) is unaffected"
    host nv 10.233.0.1
    host nbad 10.233.0.5
    host ngood 10.233.0.6
    node nv 10.233.0.1 --plaintext # garbage over TLS is a TLS error; in plaintext it is BAD_MAGIC
    on nbad python3 -c '
import socket; s=socket.create_connection(("10.233.0.1",7317),3); s.sendall(b"GET / HTTP/1.1\r\n\r\n")
s.settimeout(3)
try: s.recv(100)
except Exception: pass'
    grep -q "10.233.0.5.*discouraged for" "$work/nv.log" || fail "the bad host was not discouraged"
    on ngood "$cairn" ping 10.233.0.1:7317 --plaintext --count 2 --timeout 5 >/dev/null ||
        fail "the neighbour's ping failed"
    on nbad "$cairn" ping 10.233.0.1:7317 --plaintext --count 1 --timeout 5 >/dev/null ||
        fail "the discouraged host itself should get a free slot (MIS-10)"
    echo "   neighbour served; discouraged host let in while slots are free"
}

scenario_flood() {
    echo "== flood: silent connections from 64 addresses in 4 network groups; honest pings"
    local addrs=()
    for g in 240 241 242 243; do for h in $(seq 1 16); do addrs+=("10.$g.0.$h"); done; done
    host fv 10.234.0.1
    host fatt "${addrs[@]}"
    host fhon 10.235.0.1
    node fv 10.234.0.1
    on fatt python3 - "${addrs[@]}" >"$work/flood.out" 2>&1 <<'PY' &
import select, socket, sys, time
srcs = sys.argv[1:]
socks = {}
def open_one(i):
    s = socket.socket()
    s.setblocking(False)
    s.bind((srcs[i // 4], 0))
    try:
        s.connect(("10.234.0.1", 7317))
    except BlockingIOError:
        pass
    socks[s] = i
for i in range(len(srcs) * 4):
    open_one(i)
end = time.time() + 20
reopened = 0
while time.time() < end:
    r, _, _ = select.select(list(socks), [], [], 0.05)
    for s in r:
        i = socks.pop(s)
        s.close()
        open_one(i)
        reopened += 1
print("reopened", reopened)
PY
    local fpid=$!
    pids+=($fpid)
    sleep 1
    local ok=0 n=0
    for _ in $(seq 15); do
        n=$((n + 1))
        on fhon "$cairn" ping 10.234.0.1:7317 --count 1 --timeout "$ping_timeout" >/dev/null && ok=$((ok + 1))
        sleep 0.5
    done
    wait $fpid
    echo "   $ok of $n honest pings within $ping_timeout s; attacker $(cat "$work/flood.out")"
    [ $((ok * 10)) -ge $((n * 9)) ] || fail "fewer than 90 % of the honest pings got a slot"
}

for s in $scenarios; do "scenario_$s"; done
echo "netns: all scenarios passed"
