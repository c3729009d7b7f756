#!/usr/bin/env python3
"""Independent check of spec/vectors/tls-binding.json (spec §6.3, §6.4).

Uses nothing from the reference or from OpenSSL's TLS code: HKDF-Expand-Label
(RFC 8446 §7.1, RFC 5869) is written out here with hashlib and hmac, the
exporter follows RFC 8446 §7.5, th and the Auth inputs follow spec §6.3/§6.4,
and python3-cryptography derives the Ed25519 keys from the seeds, re-signs
(Ed25519 is deterministic) and verifies. Usage: check_tls_binding.py FILE
"""
import hashlib
import hmac
import json
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

LABEL = b"EXPORTER-cairn/1 channel binding"


def hkdf_expand(h, prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), h).digest()
        out += t
        i += 1
    return out[:n]


def hkdf_label(n, label, ctx):
    full = b"tls13 " + label
    return struct.pack(">HB", n, len(full)) + full + bytes([len(ctx)]) + ctx


def check(v, fail):
    name = v["cipher_suite"]
    h = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384}[v["hash"]]
    hlen = h().digest_size
    secret = bytes.fromhex(v["exporter_secret_hex"])
    words = v["keylog_line"].split()
    if words[0] != "EXPORTER_SECRET" or len(bytes.fromhex(words[1])) != 32 or \
            bytes.fromhex(words[2]) != secret or len(secret) != hlen:
        fail(name, "key log line")
    if v["label"].encode() != LABEL:
        fail(name, "label")
    empty = h(b"").digest()
    if bytes.fromhex(v["empty_hash_hex"]) != empty:
        fail(name, "Hash(\"\")")
    info1 = hkdf_label(hlen, LABEL, empty)
    if bytes.fromhex(v["derive_secret_hkdf_label_hex"]) != info1:
        fail(name, "HkdfLabel of Derive-Secret")
    derived = hkdf_expand(h, secret, info1, hlen)
    if bytes.fromhex(v["derived_secret_hex"]) != derived:
        fail(name, "Derive-Secret(EXPORTER_SECRET, label, \"\")")
    info2 = hkdf_label(32, b"exporter", empty)
    if bytes.fromhex(v["exporter_hkdf_label_hex"]) != info2:
        fail(name, "HkdfLabel of the exporter")
    b = hkdf_expand(h, derived, info2, 32)
    if bytes.fromhex(v["binding_hex"]) != b:
        fail(name, "exporter value (binding)")
    hi = bytes.fromhex(v["initiator"]["hello_payload_hex"])
    hr = bytes.fromhex(v["responder"]["hello_payload_hex"])
    th = hashlib.sha256(b"cairn/1 transcript" + struct.pack(">I", len(hi)) + hi +
                        struct.pack(">I", len(hr)) + hr + struct.pack(">I", len(b)) + b).digest()
    if bytes.fromhex(v["transcript_hash_hex"]) != th:
        fail(name, "transcript hash")
    for side, role in (("initiator", b"I"), ("responder", b"R")):
        s = v[side]
        msg = b"cairn/1 auth" + role + th
        if bytes.fromhex(s["auth_input_hex"]) != msg or len(msg) != 45:
            fail(name, side + " auth input")
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s["seed_hex"]))
        pub = key.public_key()
        if pub.public_bytes(Encoding.Raw, PublicFormat.Raw).hex() != s["public_key_hex"]:
            fail(name, side + " public key")
        sig = bytes.fromhex(s["auth_signature_hex"])
        if key.sign(msg) != sig:
            fail(name, side + " signature (Ed25519 is deterministic)")
        pub.verify(sig, msg)  # raises on failure
        # A signature over the transcript without the binding must differ.
        if key.sign(b"cairn/1 auth" + role + hashlib.sha256(
                b"cairn/1 transcript" + struct.pack(">I", len(hi)) + hi +
                struct.pack(">I", len(hr)) + hr + b"\0\0\0\0").digest()) == sig:
            fail(name, side + " signature does not depend on the binding")


def main():
    doc = json.load(open(sys.argv[1]))
    errors = []
    vs = doc["vectors"]
    for v in vs:
        check(v, lambda n, what: errors.append(f"{n}: {what}"))
    if not any(v["cipher_suite"] == "TLS_AES_128_GCM_SHA256" for v in vs):
        errors.append("no vector for the mandatory cipher suite")
    for e in errors:
        print("FAIL", e)
    print(f"{len(vs)} vectors: " + ("exporter, th, Auth inputs and signatures all agree"
                                    if not errors else f"{len(errors)} failures"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
