#!/usr/bin/env python3
"""Independent check of spec/vectors/blocks.json and merkle.json.

Uses nothing but the Python standard library (hashlib, json, struct): the
block rules of spec §9 and RFC 6962 / RFC 9162 Merkle trees are written out
again here from the spec, not from the reference implementation. Checks that
  - each network's genesis parameters give its genesis ID,
  - every valid block has the stated ID and passes every rule in its context,
  - every invalid block fails, first, the rule its reason code names,
  - every invalid Headers batch fails with its reason,
  - every Merkle root, audit path and (in)valid proof is what RFC 6962 says.
Usage: check_chain_vectors.py REPO_ROOT
"""
import hashlib
import json
import os
import struct
import sys

REASONS = {
    1: "BAD_SIZE", 2: "BAD_COUNT", 3: "BAD_VERSION", 4: "BAD_LINK", 5: "BAD_HEIGHT",
    6: "TIME_TOO_OLD", 7: "TIME_TOO_NEW", 8: "BAD_POW", 9: "BAD_BITS", 10: "BAD_ROOT",
    11: "BAD_ENTRY", 12: "DUPLICATE_ENTRY", 13: "BAD_GENESIS",
}
CODE = {name: code for code, name in REASONS.items()}


def sha256(b):
    return hashlib.sha256(b).digest()


# ---- RFC 6962 ------------------------------------------------------------------------

def leaf_hash(d):
    return sha256(b"\x00" + d)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth_hashes(leaves):
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth_hashes(leaves[:k]), mth_hashes(leaves[k:]))


def mth(data):
    return mth_hashes([leaf_hash(d) for d in data])


def audit_path(m, leaves):
    n = len(leaves)
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return audit_path(m, leaves[:k]) + [mth_hashes(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth_hashes(leaves[:k])]


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---- Blocks (spec §9) --------------------------------------------------------------------

def parse(h):
    version, height, time_ms, bits, nonce = struct.unpack(">IQQIQ", h[:32])
    return {"version": version, "height": height, "time": time_ms, "bits": bits,
            "nonce": nonce, "prev": h[32:64], "root": h[64:96], "id": sha256(h)}


def zero_bits(i):
    n = 0
    for byte in i:
        if byte == 0:
            n += 8
            continue
        return n + 8 - byte.bit_length()
    return n


def name_ok(name):
    if name in (b".", b".."):
        return False
    try:
        text = name.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return not any(c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def entry_ok(e):
    if len(e) == 0:
        return False
    if e[0] == 0x00:
        return True
    if e[0] != 0x01 or len(e) < 43:
        return False
    size = struct.unpack(">Q", e[1:9])[0]
    log2, name_len = e[9], e[42]
    return (len(e) == 43 + name_len and size <= 1 << 50 and 14 <= log2 <= 20
            and name_ok(e[43:]))


def genesis_of(net):
    entry = bytes.fromhex(net["genesis_entry_hex"])
    h = struct.pack(">IQQIQ", 1, 0, net["genesis_time_ms"], net["bits"], net["genesis_nonce"])
    return h + bytes(32) + mth([entry])


def validate(net, header, entries, ancestors, now):
    """The reason name of the first rule broken, or 'OK', in the spec's order."""
    if len(header) != 96:
        return "BAD_SIZE"
    if any(len(e) > 65536 for e in entries) or sum(len(e) for e in entries) > 2097152:
        return "BAD_SIZE"
    if len(entries) > 4096:
        return "BAD_COUNT"
    h = parse(header)
    if h["version"] != 1:
        return "BAD_VERSION"
    if h["bits"] != net["bits"]:
        return "BAD_BITS"
    if zero_bits(h["id"]) < h["bits"]:
        return "BAD_POW"
    genesis = parse(genesis_of(net))
    if h["height"] == 0:
        return "OK" if h["id"] == genesis["id"] else "BAD_GENESIS"
    chain = [genesis] + [parse(a) for a in ancestors]
    parent = chain[-1]
    if h["prev"] != parent["id"]:
        return "ORPHAN (vector context is wrong)"
    if h["height"] != parent["height"] + 1:
        return "BAD_HEIGHT"
    times = sorted(b["time"] for b in chain[-11:])
    if h["time"] <= times[len(times) // 2]:
        return "TIME_TOO_OLD"
    if h["time"] > now + 120000:
        return "TIME_TOO_NEW"
    if not all(entry_ok(e) for e in entries):
        return "BAD_ENTRY"
    if len(set(entries)) != len(entries):
        return "DUPLICATE_ENTRY"
    if mth(entries) != h["root"]:
        return "BAD_ROOT"
    return "OK"


def check_fork_choice(net, v, fail):
    """FORK-5 and FORK-10, independently: a block counts once it and all its
    ancestors have arrived; the tip has the most work (fixed bits: the greatest
    height) and, between equal work, the lowest arrival sequence."""
    gid = sha256(genesis_of(net))
    height = {gid: 0}
    linked_seq = {gid: 0}
    waiting = []  # (header, parent) not yet linked
    seq = 0
    tip = gid
    if len(v["arrivals"]) != len(v["tips_hex"]):
        fail("fork_choice %r: one tip per arrival" % v["name"])
    for i, a in enumerate(v["arrivals"]):
        header = bytes.fromhex(a["header_hex"])
        entries = [bytes.fromhex(e) for e in a["entries_hex"]]
        h = parse(header)
        if h["bits"] != net["bits"] or zero_bits(h["id"]) < net["bits"] \
                or mth(entries) != h["root"]:
            fail("fork_choice %r: arrival %d is not a valid block" % (v["name"], i))
        waiting.append(h)
        progress = True
        while progress:  # link what now connects, parents first
            progress = False
            for w in list(waiting):
                if w["prev"] in linked_seq:
                    waiting.remove(w)
                    if w["height"] != height[w["prev"]] + 1:
                        fail("fork_choice %r: height" % v["name"])
                    seq += 1
                    linked_seq[w["id"]] = seq
                    height[w["id"]] = w["height"]
                    progress = True
        tip = max(linked_seq, key=lambda b: (height[b], -linked_seq[b]))
        if tip.hex() != v["tips_hex"][i]:
            fail("fork_choice %r: after arrival %d the tip is %s" % (v["name"], i, tip.hex()))


def check_blocks(doc, fail):
    nets = {n["name"]: n for n in doc["networks"]}
    for net in nets.values():
        gid = sha256(genesis_of(net)).hex()
        if gid != net["genesis_id_hex"]:
            fail("network %s: genesis ID %s" % (net["name"], gid))
    for v in doc["valid"]:
        net = nets[v["network"]]
        header = bytes.fromhex(v["header_hex"])
        entries = [bytes.fromhex(e) for e in v["entries_hex"]]
        ancestors = [bytes.fromhex(a) for a in v["ancestors_hex"]]
        if sha256(header).hex() != v["id_hex"]:
            fail("valid %r: ID" % v["name"])
        for i, a in enumerate(ancestors):  # the context must itself be valid (bodies unknown)
            if validate(net, a, [], ancestors[:i], v["now_ms"]) not in ("OK", "BAD_ROOT"):
                fail("valid %r: ancestor %d" % (v["name"], i + 1))
        got = validate(net, header, entries, ancestors, v["now_ms"])
        if got != "OK":
            fail("valid %r: %s" % (v["name"], got))
    for v in doc["invalid"]:
        net = nets[v["network"]]
        got = validate(net, bytes.fromhex(v["header_hex"]),
                       [bytes.fromhex(e) for e in v["entries_hex"]],
                       [bytes.fromhex(a) for a in v["ancestors_hex"]], v["now_ms"])
        if REASONS.get(v["reason"]) != v["reason_name"] or got != v["reason_name"]:
            fail("invalid %r: expected %s, got %s" % (v["name"], v["reason_name"], got))
    for v in doc["invalid_headers"]:
        net = nets[v["network"]]
        hs = [parse(bytes.fromhex(h)) for h in v["headers_hex"]]
        known = {parse(genesis_of(net))["id"]}
        genesis_id = parse(genesis_of(net))["id"]
        got = "OK"
        # SYNC-17 pass 1, header by header: contiguity, then the genesis rule
        for i, h in enumerate(hs):
            if i > 0 and h["prev"] != hs[i - 1]["id"]:
                got = "BAD_LINK"
                break
            if h["height"] == 0 and h["id"] != genesis_id:
                got = "BAD_GENESIS"
                break
        if got == "OK" and hs[0]["prev"] not in known and hs[0]["id"] not in known:
            got = "BAD_LINK"
        if got != v["reason_name"] or CODE[v["reason_name"]] != v["reason"]:
            fail("invalid_headers %r: got %s" % (v["name"], got))
    for v in doc["fork_choice"]:
        check_fork_choice(nets[v["network"]], v, fail)
    counts = (len(doc["valid"]), len(doc["invalid"]), len(doc["invalid_headers"]),
              len(doc["fork_choice"]))
    covered = {v["reason_name"] for v in doc["invalid"] + doc["invalid_headers"]}
    missing = set(REASONS.values()) - covered
    if missing:
        fail("no invalid vector for %s" % sorted(missing))
    return counts


def check_merkle(doc, fail):
    for v in doc["roots"]:
        data = [bytes.fromhex(d) for d in v["leaves_hex"]]
        if mth(data).hex() != v["root_hex"]:
            fail("root %r" % v["name"])
    sizes = {len(v["leaves_hex"]) for v in doc["roots"]}
    if not set(range(10)) <= sizes:
        fail("roots do not cover 0..9 leaves")
    trees = {len(v["leaves_hex"]): [leaf_hash(bytes.fromhex(d)) for d in v["leaves_hex"]]
             for v in doc["roots"] if v["name"].endswith("leaves")}
    for v in doc["proofs"]:
        path = [bytes.fromhex(p) for p in v["path_hex"]]
        leaves = trees[v["tree_size"]]
        leaf = leaf_hash(bytes.fromhex(v["leaf_hex"]))
        if leaf != leaves[v["index"]] or path != audit_path(v["index"], leaves):
            fail("proof %r: not the RFC 6962 audit path" % v["name"])
        if not verify_inclusion(leaf, v["index"], v["tree_size"], path,
                                bytes.fromhex(v["root_hex"])):
            fail("proof %r does not verify" % v["name"])
    for v in doc["invalid_proofs"]:
        if verify_inclusion(leaf_hash(bytes.fromhex(v["leaf_hex"])), v["index"], v["tree_size"],
                            [bytes.fromhex(p) for p in v["path_hex"]],
                            bytes.fromhex(v["root_hex"])):
            fail("invalid proof %r verifies" % v["name"])
    return len(doc["roots"]), len(doc["proofs"]), len(doc["invalid_proofs"])


def main(root):
    failures = []
    vec = os.path.join(root, "spec", "vectors")
    with open(os.path.join(vec, "blocks.json")) as f:
        b = check_blocks(json.load(f), failures.append)
    with open(os.path.join(vec, "merkle.json")) as f:
        m = check_merkle(json.load(f), failures.append)
    for msg in failures:
        print("FAIL", msg)
    print("blocks.json: %d valid, %d invalid blocks, %d invalid header batches, "
          "%d fork-choice sequences" % b)
    print("merkle.json: %d roots, %d proofs, %d invalid proofs" % m)
    print("%s" % ("FAILED" if failures else "all vectors agree with SHA-256 and RFC 6962"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
