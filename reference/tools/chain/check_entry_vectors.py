#!/usr/bin/env python3
"""Independent check of spec/vectors/entries.json (spec §10.4).

Written from the spec text with the Python standard library only:
  - recent_window: an entry may go into the block at next_height only if
    none of the RECENT_ENTRY_WINDOW blocks before it holds it (REL-24);
  - fair_pool: each submission's outcome and evictions follow REL-17..REL-19
    (shares of one eighth, eviction of the newest entries of the source that
    holds the most bytes while it holds more than the submitter would), and
    the final selection is every entry left (REL-26, one block holds them).
Usage: check_entry_vectors.py REPO_ROOT
"""
import hashlib
import json
import os
import struct
import sys


def entry_id(e):
    return hashlib.sha256(b"\x00" + e).hexdigest()


def tagged(tag, index, length):
    e = b"\x00" + tag.encode() + struct.pack(">I", index)
    return e + b"\x00" * (length - len(e))


def check_window(v, fail):
    w, nxt = v["window"], v["next_height"]
    chain = {h: tagged("block", h, 16) for h in range(1, nxt)}
    recent = {entry_id(chain[h]) for h in range(max(1, nxt - w), nxt)}
    for c in v["candidates"]:
        e = bytes.fromhex(c["entry_hex"])
        if entry_id(e) != c["entry_id"]:
            fail("recent_window: wrong entry ID for %s" % c["entry_hex"])
        h = c.get("in_block_at_height")
        if h is not None and chain[h] != e:
            fail("recent_window: entry of height %d is not block %d's entry" % (h, h))
        if c["may_include"] != (entry_id(e) not in recent):
            fail("recent_window: may_include wrong for %s" % c["entry_id"])


def check_pool(v, fail):
    max_count, max_bytes, div = v["max_count"], v["max_bytes"], v["share_divisor"]
    pool = {}  # source -> list of (id, len), oldest first
    ids = set()

    def held(s):
        return sum(n for _, n in pool.get(s, []))

    def total():
        return sum(len(x) for x in pool.values()), sum(held(s) for s in pool)

    for i, st in enumerate(v["steps"]):
        s, e = st["source"], bytes.fromhex(st["entry_hex"])
        eid, n = entry_id(e), len(e)
        evicted = []
        if eid in ids:
            result = "have"
        elif len(pool.get(s, [])) >= max(1, max_count // div) or held(s) + n > max_bytes // div:
            result = "busy"  # REL-18
        else:
            result = "added"
            trial = {k: list(x) for k, x in pool.items()}
            while True:
                count = sum(len(x) for x in trial.values())
                size = sum(m for x in trial.values() for _, m in x)
                if count < max_count and size + n <= max_bytes:
                    break
                big = max((k for k in trial if trial[k]),
                          key=lambda k: sum(m for _, m in trial[k]))
                mine = sum(m for _, m in trial.get(s, []))
                if big == s or sum(m for _, m in trial[big]) <= mine + n:
                    result = "busy"  # REL-19: no larger source to make room
                    break
                evicted.append(trial[big].pop()[0])
            if result == "added":
                pool = trial
                for x in evicted:
                    ids.discard(x)
                pool.setdefault(s, []).append((eid, n))
                ids.add(eid)
            else:
                evicted = []
        if result != st["result"]:
            fail("fair_pool step %d (%s): %s, the vector says %s" % (i, s, result, st["result"]))
        if sorted(evicted) != sorted(st["evicted"]):
            fail("fair_pool step %d: evicted %s, the vector says %s" % (i, evicted, st["evicted"]))
        if (st["pool_count"], st["pool_bytes"]) != total():
            fail("fair_pool step %d: pool size %s, the vector says %s"
                 % (i, total(), (st["pool_count"], st["pool_bytes"])))
    if sorted(v["selected_ids"]) != sorted(ids):
        fail("fair_pool: the selection is not every entry left in the pool")


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    with open(os.path.join(root, "spec", "vectors", "entries.json")) as f:
        d = json.load(f)
    errors = []
    check_window(d["recent_window"], errors.append)
    check_pool(d["fair_pool"], errors.append)
    for e in errors:
        print("FAIL", e)
    steps = len(d["fair_pool"]["steps"])
    print("entries.json: %d window candidates, %d pool steps, %s"
          % (len(d["recent_window"]["candidates"]), steps, "FAILED" if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
