#!/usr/bin/env bash
# conform_client: the client suite against the reference client, run by the
# harness with the documented template (one fresh port per case).
# usage: conform_client.sh CAIRN_CONFORM CAIRN OUTDIR [extra cairn-conform args]
set -u
conform=$1 cairn=$2 out=$3
shift 3
mkdir -p "$out"
exec "$conform" client --exec "$cairn {action} {addr}" \
    --junit "$out/conform-client.xml" --json "$out/conform-client.json" \
    --known-failures "$(cd "$(dirname "$0")" && pwd)/known-departures-cairn.txt" "$@"
