# Shared by the conformance ctests: start and stop a node under test.
# A free loopback port: bind port 0, read it, release it (loopback only).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
node_pid=
# start_node CAIRND DIR [ARGS...]: sets $port; waits until the port accepts.
start_node() {
    local bin=$1 d=$2
    shift 2
    port=$(free_port)
    "$bin" --datadir "$d/node" --listen "127.0.0.1:$port" "$@" >"$d/node.log" 2>&1 &
    node_pid=$!
    for _ in $(seq 1 200); do
        if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$node_pid" 2>/dev/null; then
            echo "the node did not start:"; cat "$d/node.log"; exit 1
        fi
        sleep 0.05
    done
    echo "the node does not accept connections on $port"; exit 1
}
stop_node() {
    if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
        kill -TERM "$node_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$node_pid" 2>/dev/null
        wait "$node_pid" 2>/dev/null
    fi
    node_pid=
}
