#!/usr/bin/env python3
"""Independent check of spec/vectors/frames.json, handshake.json, files.json and sessions.json.

Uses nothing from the reference implementation: Google's protoc generates
Python classes from proto/cairn.proto, Google's protobuf runtime decodes and
encodes, hashlib computes SHA-256. Checks that
  - every valid frame has the magic, the registered type number and length,
  - its payload decodes to exactly the stated fields (proto3 JSON mapping),
  - the stated fields encode back to exactly the payload (canonical form),
  - every invalid vector names a registered error code, and the encoding class
    that a scanner written here from spec §5.3 (MALFORMED, NON_CANONICAL, then
    INVALID_FIELD for unknown fields and out-of-range varints, canonical rules
    on known fields only) derives from Google's descriptors agrees with it,
  - each handshake's transcript hash and auth inputs follow spec §6.3/§6.4,
  - each file's chunks, root (RFC 6962), manifest, file ID and chunk proofs
    (RFC 9162 verification) follow spec §11,
  - each session trace (sessions.json), replayed frame by frame through a small
    model of spec §6-§8 written here (legal types by state from
    spec/state-table.json's rules, field rules of step 3, request accounting,
    Ed25519 Auth verification with the `cryptography` package), ends with the
    close the trace expects, and every side sends the one code the model
    derives.
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


def sha(b):
    return hashlib.sha256(b).digest()


def mth(leaves):
    """RFC 6962 Merkle Tree Hash over leaf hashes."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def verify_path(leaf, index, n, path, root):
    """RFC 9162 section 2.1.3.2 inclusion proof verification."""
    if index >= n:
        return False
    fn, sn, r = index, n - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            if not fn & 1:
                while (fn & 1) == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_file(v):
    size, log2 = v["size"], v["chunk_log2"]
    cs = 1 << log2
    data = bytes((i * 131 + (i >> 8) * 7 + 1) & 0xFF for i in range(size))
    chunks = [data[i:i + cs] for i in range(0, size, cs)]
    leaves = [sha(b"\x00" + c) for c in chunks]
    root = mth(leaves)
    name = v["file_name"].encode()
    manifest = (b"\x01" + struct.pack(">QB", size, log2) + root + bytes([len(name)]) + name)
    problems = []
    if len(chunks) != v["chunks"]:
        problems.append("chunk count")
    if root.hex() != v["root_hex"]:
        problems.append("root")
    if manifest.hex() != v["manifest_hex"]:
        problems.append("manifest")
    if sha(manifest[:42]).hex() != v["file_id_hex"]:
        problems.append("file id")
    for c in v["chunk_proofs"]:
        i = c["index"]
        path = [bytes.fromhex(h) for h in c["proof_hex"]]
        if leaves[i].hex() != c["leaf_hash_hex"] or len(chunks[i]) != c["length"]:
            problems.append("chunk %d leaf" % i)
        if not verify_path(leaves[i], i, len(leaves), path, root):
            problems.append("chunk %d proof" % i)
        if path and verify_path(leaves[i], i, len(leaves), path[:-1] + [bytes(32)], root):
            problems.append("chunk %d: a damaged proof verifies" % i)
    return problems


class Malformed(Exception):
    pass


def varint(b, i):
    """(value, next index, minimal) of the varint at b[i:] (spec ENC-5, ENC-6)."""
    v = 0
    for k in range(10):
        if i + k >= len(b):
            raise Malformed()
        c = b[i + k]
        if k == 9 and c > 1:
            raise Malformed()
        v |= (c & 0x7F) << (7 * k)
        if not c & 0x80:
            return v, i + k + 1, k == 0 or c != 0
    raise Malformed()


def scan(desc, b):
    """Spec §5.3 on one (sub)message: None, "NON_CANONICAL" or "INVALID_FIELD"; raises
    Malformed. Canonical rules apply to known fields only (§5.3 "Unknown fields")."""
    from google.protobuf.descriptor import FieldDescriptor as F
    worst, last, oneofs, i = None, 0, set(), 0

    def note(w):
        nonlocal worst
        if worst != "NON_CANONICAL":
            worst = w
    while i < len(b):
        key, i, kmin = varint(b, i)
        num, wt = key >> 3, key & 7
        if num == 0 or num > (1 << 29) - 1 or wt in (3, 4, 6, 7):
            raise Malformed()
        f = desc.fields_by_number.get(num)
        if f is None:  # ENC-23: however it is written
            if wt == 0:
                _, i, _ = varint(b, i)
            elif wt == 2:
                n, i, _ = varint(b, i)
                if i + n > len(b):
                    raise Malformed()
                i += n
            else:
                i += 8 if wt == 1 else 4
                if i > len(b):
                    raise Malformed()
            note("INVALID_FIELD")
            continue
        lendel = f.type in (F.TYPE_BYTES, F.TYPE_MESSAGE, F.TYPE_STRING)
        if wt != (2 if lendel else 0):
            raise Malformed()  # ENC-11
        repeated = f.label == F.LABEL_REPEATED
        if not kmin or num < last or (num == last and not repeated):
            note("NON_CANONICAL")  # ENC-13, ENC-16, ENC-17
        if f.containing_oneof is not None:
            if f.containing_oneof.name in oneofs:
                note("NON_CANONICAL")  # ENC-18
            oneofs.add(f.containing_oneof.name)
        singular = not repeated and f.containing_oneof is None and f.type != F.TYPE_MESSAGE
        if lendel:
            n, i, lmin = varint(b, i)
            if i + n > len(b):
                raise Malformed()
            if f.type == F.TYPE_MESSAGE:
                w = scan(f.message_type, b[i:i + n])
                if w:
                    note(w)
            elif singular and n == 0:
                note("NON_CANONICAL")  # ENC-19
            if not lmin:
                note("NON_CANONICAL")  # ENC-14
            i += n
        else:
            v, i, vmin = varint(b, i)
            if not vmin or (singular and v == 0):
                note("NON_CANONICAL")  # ENC-15, ENC-19
            elif f.type == F.TYPE_UINT32 and v > 0xFFFFFFFF:
                note("INVALID_FIELD")  # ENC-22
            elif f.type == F.TYPE_ENUM and 0x7FFFFFFF < v < (1 << 64) - (1 << 31):
                note("INVALID_FIELD")
        last = max(last, num)
    return worst


def encoding_class(pb, raw):
    """The §5.3 class of a frame's payload, "" when its header is not a plain registered
    type, or None when the encoding is clean (a field rule or a later step decides)."""
    if len(raw) < 8:
        return ""
    magic, typ, length = struct.unpack(">HHI", raw[:8])
    name = next((k for k, v in TYPES.items() if v == typ), None)
    if magic != 0xCA1E or name is None or length != len(raw) - 8:
        return ""
    try:
        return scan(getattr(pb, name).DESCRIPTOR, raw[8:])
    except Malformed:
        return "MALFORMED"


NON_FATAL = {"BUSY", "RATE_LIMITED", "INVALID_ENTRY"}
# Closes that are a side's own decision, not a verdict on what it received (§5.9, last row).
LOCAL_CLOSE = {"SHUTDOWN", "TOO_MANY_PEERS", "DISCOURAGED"}
REQUESTS = {"GetHeaders": {"Headers"}, "GetBlock": {"Block", "NotFound"},
            "SubmitEntry": {"EntryAck"}, "GetManifest": {"Manifest", "NotFound"},
            "GetChunk": {"Chunk", "NotFound"}, "GetPeers": {"Peers"}}
RESPONSES = {"Headers", "Block", "NotFound", "EntryAck", "Manifest", "Chunk", "Peers"}


class Side:
    def __init__(self, role):
        self.role = role
        self.state = "AWAIT_HELLO"
        self.hello = None          # own Hello payload, as sent
        self.peer_hello = None
        self.mine = {}             # our outstanding requests: id -> type
        self.theirs = set()        # the peer's unanswered requests
        self.closed = False        # sent or received a fatal Error
        self.decided = None        # the code the model says this side must send
        self.expect_id = None      # [ADDR-3] the node ID this side dialled, when it knows one


def transcript(hi, hr):
    return hashlib.sha256(b"cairn/1 transcript" + struct.pack(">I", len(hi)) + hi +
                          struct.pack(">I", len(hr)) + hr + struct.pack(">I", 0)).digest()


def receive(pb, codes_by_num, y, x, name, payload):
    """What side y does with a frame from x: None (accepted) or the code it must close with."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.exceptions import InvalidSignature
    ready = y.state == "READY"
    # step 2: legal in this state (spec §8.4)
    if name == "Hello" and y.state != "AWAIT_HELLO":
        return "UNEXPECTED_MESSAGE"
    if name == "Auth" and y.state != "AWAIT_AUTH":
        return "UNEXPECTED_MESSAGE"
    if not ready and name not in ("Hello", "Auth", "Error"):
        return "UNEXPECTED_MESSAGE"
    # step 3: decode, canonical, field rules
    m = getattr(pb, name)()
    m.ParseFromString(payload)
    if m.SerializeToString() != payload:
        return "NON_CANONICAL"
    rid = getattr(m, "request_id", 0)
    if name == "Error":
        code = codes_by_num.get(m.code, "unknown")
        if m.code == 0 or len(m.message) > 256:
            return "INVALID_FIELD"
        if code in NON_FATAL and rid == 0:
            return "INVALID_FIELD"
        if code not in NON_FATAL:
            y.closed = True
            return None
        if not ready:
            return "UNKNOWN_REQUEST"
        if rid not in y.mine:
            return "UNKNOWN_REQUEST"
        if code == "INVALID_ENTRY" and y.mine[rid] != "SubmitEntry":
            return "UNEXPECTED_MESSAGE"
        del y.mine[rid]
        return None
    if (name in REQUESTS or name in RESPONSES) and rid == 0:
        return "INVALID_FIELD"
    # steps 4 and 5
    if name == "Hello":
        y.peer_hello = payload
        y.state = "AWAIT_AUTH"
    elif name == "Auth":
        hi, hr = (x.hello, y.hello) if x.role == "initiator" else (y.hello, x.hello)
        hello = pb.Hello()
        hello.ParseFromString(y.peer_hello)
        msg = b"cairn/1 auth" + (b"I" if x.role == "initiator" else b"R") + transcript(hi, hr)
        try:
            Ed25519PublicKey.from_public_bytes(hello.node_key).verify(m.signature, msg)
        except InvalidSignature:
            return "BAD_SIGNATURE"
        if y.expect_id is not None and hashlib.sha256(hello.node_key).digest() != y.expect_id:
            return "WRONG_NODE_ID"  # ADDR-3: after BAD_SIGNATURE, before DUPLICATE_PEER
        y.state = "READY"
    elif name in REQUESTS:
        if rid in y.theirs:
            return "DUPLICATE_REQUEST_ID"
        if len(y.theirs) >= 64:
            return "TOO_MANY_REQUESTS"
        y.theirs.add(rid)
    elif name in RESPONSES:
        if rid not in y.mine:
            return "UNKNOWN_REQUEST"
        if name not in REQUESTS[y.mine[rid]]:
            return "UNEXPECTED_MESSAGE"
        del y.mine[rid]
    return None


def check_trace(pb, codes_by_num, t):
    """Replays one trace; returns a list of problems."""
    sides = {"initiator": Side("initiator"), "responder": Side("responder")}
    for role, hx in t.get("expected_node_id", {}).items():
        sides[role].expect_id = bytes.fromhex(hx)
    problems = []
    closer = None
    for i, f in enumerate(t["frames"]):
        raw = bytes.fromhex(f["hex"])
        magic, typ, length = struct.unpack(">HHI", raw[:8])
        payload = raw[8:]
        name = next((k for k, v in TYPES.items() if v == typ), None)
        if magic != 0xCA1E or length != len(payload) or name != f["type"]:
            problems.append("frame %d: header" % i)
            continue
        x = sides[f["from"]]
        y = sides["responder" if f["from"] == "initiator" else "initiator"]
        # the sender's own bookkeeping
        m = getattr(pb, name)()
        m.ParseFromString(payload)
        if x.closed and closer is not None and closer[0] == x.role:
            problems.append("frame %d: %s sends after its fatal Error (CLOSE-1)" % (i, x.role))
        if name == "Hello" and x.hello is None:
            x.hello = payload
        if name in REQUESTS:
            x.mine[m.request_id] = name
        if name in RESPONSES or (name == "Error" and m.request_id in x.theirs):
            x.theirs.discard(m.request_id)
        if name == "Error":
            code = codes_by_num.get(m.code, "unknown")
            fatal = code not in NON_FATAL
            if x.decided is not None:
                if code != x.decided:
                    problems.append("frame %d: %s sends %s, the model says %s"
                                    % (i, x.role, code, x.decided))
                x.decided = None
            elif fatal and not f.get("crafted") and not x.closed and code not in LOCAL_CLOSE:
                problems.append("frame %d: %s closes with %s, which the model does not predict"
                                % (i, x.role, code))
            if fatal and closer is None and not f.get("crafted"):
                closer = (x.role, code)
            if fatal and not f.get("crafted"):
                x.closed = True
        if y.closed or y.decided is not None:
            continue  # CLOSE-3: input after the end is ignored
        verdict = receive(pb, codes_by_num, y, x, name, payload)
        if verdict is not None:
            y.decided = verdict
    for s in sides.values():
        if s.decided is not None:
            problems.append("%s never sent the %s the model expects" % (s.role, s.decided))
    want = (t["expect"]["closed_by"], t["expect"]["code"])
    if closer != want:
        problems.append("closes %s, expected %s" % (closer, want))
    return problems


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
    classified = 0
    for v in frames["invalid"]:
        raw = bytes.fromhex(v["hex"])
        if v["error"] not in codes:
            failures += 1
            print("FAIL invalid %r: unregistered error %s" % (v["name"], v["error"]))
        cls = encoding_class(pb, raw)
        if cls == "":
            continue
        classified += 1
        if (v["error"] in ("MALFORMED", "NON_CANONICAL") or cls is not None) and \
                cls != v["error"]:
            failures += 1
            print("FAIL invalid %r: §5.3 gives %s, the vector says %s"
                  % (v["name"], cls, v["error"]))
    if classified < 30:
        failures += 1
        print("FAIL only %d invalid frame vectors were classified" % classified)

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

    with open(os.path.join(root, "spec", "vectors", "files.json")) as f:
        files = json.load(f)
    for v in files["vectors"]:
        problems = check_file(v)
        if problems:
            failures += 1
            print("FAIL files %r: %s" % (v["name"], "; ".join(problems)))

    with open(os.path.join(root, "spec", "vectors", "sessions.json")) as f:
        sessions = json.load(f)
    codes_by_num = {v: k for k, v in pb.ErrorCode.items()}
    for t in sessions["traces"]:
        problems = check_trace(pb, codes_by_num, t)
        if problems:
            failures += 1
            print("FAIL session %r: %s" % (t["name"], "; ".join(problems)))
    if len(sessions["traces"]) < 9:
        failures += 1
        print("FAIL sessions.json: too few traces")

    total = (len(frames["valid"]) + len(frames["invalid"]) + len(hs["vectors"]) +
             len(files["vectors"]) + len(sessions["traces"]))
    print("%d passed, %d failed" % (total - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
