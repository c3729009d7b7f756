#!/usr/bin/env python3
"""Independent check of spec/vectors/frames.json and handshake.json.

Uses nothing from the reference implementation: Google's protoc generates
Python classes from proto/cairn.proto, Google's protobuf runtime decodes and
encodes, hashlib computes SHA-256. Checks that
  - every valid frame has the magic, the registered type number and length,
  - its payload decodes to exactly the stated fields (proto3 JSON mapping),
  - the stated fields encode back to exactly the payload (canonical form),
  - every invalid vector names a registered error code,
  - each handshake's transcript hash and auth inputs follow spec §6.3/§6.4.
Usage: check_vectors.py REPO_ROOT
"""
import hashlib
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

TYPES = {
    "Hello": 0x0001, "Auth": 0x0002, "Error": 0x0003, "Ping": 0x0004, "Pong": 0x0005,
    "NotFound": 0x0006, "GetHeaders": 0x0010, "Headers": 0x0011, "GetBlock": 0x0012,
    "Block": 0x0013, "Announce": 0x0014, "SubmitEntry": 0x0015, "EntryAck": 0x0016,
    "Entries": 0x0017, "GetManifest": 0x0020, "Manifest": 0x0021, "GetChunk": 0x0022,
    "Chunk": 0x0023, "GetPeers": 0x0030, "Peers": 0x0031,
}


def main(root):
    from google.protobuf import json_format

    out = tempfile.mkdtemp()
    subprocess.run(["protoc", "-I", os.path.join(root, "proto"), "--python_out", out,
                    os.path.join(root, "proto", "cairn.proto")], check=True)
    sys.path.insert(0, out)
    pb = importlib.import_module("cairn_pb2")
    codes = set(pb.ErrorCode.keys())

    failures = 0
    with open(os.path.join(root, "spec", "vectors", "frames.json")) as f:
        frames = json.load(f)
    seen_types = set()
    for v in frames["valid"]:
        raw = bytes.fromhex(v["hex"])
        magic, typ, length = struct.unpack(">HHI", raw[:8])
        payload = raw[8:]
        problems = []
        if magic != 0xCA1E:
            problems.append("magic")
        if TYPES.get(v["type"]) != typ:
            problems.append("type number %#06x" % typ)
        if length != len(payload):
            problems.append("length")
        cls = getattr(pb, v["type"])
        msg = cls()
        msg.ParseFromString(payload)
        as_json = json_format.MessageToDict(msg)
        if as_json != v["fields"]:
            problems.append("fields differ: %s" % as_json)
        again = json_format.ParseDict(v["fields"], cls()).SerializeToString()
        if again != payload:
            problems.append("re-encoding differs: %s" % again.hex())
        seen_types.add(v["type"])
        if problems:
            failures += 1
            print("FAIL valid %r: %s" % (v["name"], "; ".join(problems)))
    missing = set(TYPES) - seen_types
    if missing:
        failures += 1
        print("FAIL no valid vector for %s" % sorted(missing))
    for v in frames["invalid"]:
        bytes.fromhex(v["hex"])
        if v["error"] not in codes:
            failures += 1
            print("FAIL invalid %r: unregistered error %s" % (v["name"], v["error"]))

    with open(os.path.join(root, "spec", "vectors", "handshake.json")) as f:
        hs = json.load(f)
    for v in hs["vectors"]:
        hi = bytes.fromhex(v["initiator"]["hello_payload_hex"])
        hr = bytes.fromhex(v["responder"]["hello_payload_hex"])
        b = bytes.fromhex(v["binding_hex"])
        th = hashlib.sha256(b"cairn/1 transcript" + struct.pack(">I", len(hi)) + hi +
                            struct.pack(">I", len(hr)) + hr + struct.pack(">I", len(b)) + b).digest()
        problems = []
        if th.hex() != v["transcript_hash_hex"]:
            problems.append("transcript hash")
        if (b"cairn/1 auth" + b"I" + th).hex() != v["initiator_auth_input_hex"]:
            problems.append("initiator auth input")
        if (b"cairn/1 auth" + b"R" + th).hex() != v["responder_auth_input_hex"]:
            problems.append("responder auth input")
        for side in ("initiator", "responder"):
            s = v[side]
            key = bytes.fromhex(s["public_key_hex"])
            if hashlib.sha256(key).hexdigest() != s["node_id_hex"]:
                problems.append(side + " node id")
            hello = pb.Hello()
            hello.ParseFromString(bytes.fromhex(s["hello_payload_hex"]))
            if hello.node_key != key:
                problems.append(side + " Hello.node_key")
        if problems:
            failures += 1
            print("FAIL handshake %r: %s" % (v["name"], "; ".join(problems)))

    total = len(frames["valid"]) + len(frames["invalid"]) + len(hs["vectors"])
    print("%d passed, %d failed" % (total - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
