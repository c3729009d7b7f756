#!/usr/bin/env bash
# [TLS-5] [TLS-9] cairnd speaks TLS 1.3 only, with ALPN cairn/1: openssl s_client with
# TLS 1.2 is refused, with TLS 1.3 and ALPN cairn/1 it is accepted, with
# another ALPN it gets no_application_protocol; offered only the mandatory
# parameters (TLS_AES_128_GCM_SHA256, X25519, ed25519: TLS-26, TLS-27) it
# accepts them. Usage: tls_profile.sh CAIRND
set -u
cairnd=$1
dir=$(mktemp -d /tmp/cairn-tls-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$cairnd" --datadir "$dir/n" --listen "127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
  (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
fail=0
check() { # name expect-regex args...
  local name=$1 re=$2; shift 2
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>&1 | tr -d "\\0")
  if echo "$out" | grep -Eq "$re"; then echo "PASS $name"; else echo "FAIL $name"; echo "$out" | tail -5; fail=1; fi
}
check "TLS 1.2 refused" "alert protocol version|no protocols available|wrong version|unsupported protocol" -tls1_2
check "TLS 1.3 with ALPN cairn/1 accepted" "ALPN protocol: cairn/1" -tls1_3 -alpn cairn/1
check "TLS 1.3 with another ALPN refused" "no application protocol|alert number 120" -tls1_3 -alpn http/1.1
check "certificate is Ed25519, self-signed" "Peer signature type: Ed25519|Server public key is 256 bit" -tls1_3 -alpn cairn/1
mand="-tls1_3 -alpn cairn/1 -ciphersuites TLS_AES_128_GCM_SHA256 -groups X25519 -sigalgs ed25519"
check "only TLS_AES_128_GCM_SHA256 offered: accepted" "Cipher is TLS_AES_128_GCM_SHA256" $mand
check "only X25519 offered: accepted" "Server Temp Key: X25519" $mand
check "only ed25519 offered: CertificateVerify is Ed25519" "Peer signature type: [Ee]d25519" $mand
check "TLS_CHACHA20_POLY1305_SHA256 alone also accepted" "Cipher is TLS_CHACHA20_POLY1305_SHA256" -tls1_3 -alpn cairn/1 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
[ $fail = 0 ] && echo "8 passed, 0 failed" || echo "failures above"
exit $fail
