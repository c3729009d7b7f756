#!/usr/bin/env python3
"""spec/vectors/ed25519.json: the Ed25519 verification rule of spec §6.4.1.

  ed25519_vectors.py generate SPECCHECK_CASES_JSON CCTV_VECTORS_JSON > spec/vectors/ed25519.json
  ed25519_vectors.py check spec/vectors/ed25519.json

The inputs, byte for byte (their SHA-256 is recorded in the output):
  git -C ed25519-speccheck show 65519336fda78a3d016e947df6d82848aca0c9da:cases.json
  git -C CCTV show 1e3d2860d46e94e777e1b17c7a6f2436387e3ecc:ed25519/ed25519vectors.json

generate reads the two published vector sets (ed25519-speccheck's cases.json,
C2SP CCTV's ed25519/ed25519vectors.json; their repositories and commits are
recorded in the output) and gives each vector the verdict Cairn requires,
derived from what each source says about the vector (the condition table of
"Taming the many EdDSAs", CCTV's flags) and from the prechecks of the rule,
computed here with integers. It adds a few vectors of our own (RFC 8032
TEST 1, the forged Auth of the identity key, S + L).

check needs nothing but the file: libsodium (Debian 12: 1.0.18, through
python3-nacl) verifies every vector, and its verdict must be the file's; the
reason recorded for each invalid vector must be the first precheck that fails
(or "equation"). The reference's own verifier is checked against the same file
by the cmocka test test_vectors_ed25519.
"""
import hashlib
import json
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493

# The 14 encodings of the 8 small-order points (CCTV's list; libsodium's
# blocklist of 7 with the sign bit ignored).
SMALL_ORDER = [bytes.fromhex(h) for h in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)]
SMALL_ORDER += [s[:31] + bytes([s[31] | 0x80]) for s in SMALL_ORDER]

RULE = ("Spec §6.4.1: with A = the 32-byte key and R, S = the two halves of the signature, a "
        "signature is valid only if (1) A is a canonical encoding (y < 2^255 - 19) and (2) not one "
        "of the 14 encodings of a point of small order, (3) R is canonical and (4) not of small "
        "order, (5) S < L, and (6) the cofactorless equation holds: k = SHA-512(R || A || M) mod L "
        "with R and A as received, and [S]B - [k]A encodes to exactly the 32 bytes R. This is "
        "libsodium's crypto_sign_verify_detached (1.0.18).")

# "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020), the
# condition table of ed25519-speccheck's README, case by case.
SPECCHECK_CONDITIONS = [
    "S = 0, A and R of small order",
    "0 < S < L, A of small order, R of mixed order",
    "0 < S < L, A of mixed order, R of small order",
    "0 < S < L, A and R of mixed order, both equations hold",
    "0 < S < L, A and R of mixed order, only the cofactored equation holds",
    "0 < S < L, A of mixed order, R of order L, only the cofactored equation holds "
    "(fails it if 8h is pre-reduced)",
    "S > L, A and R of order L",
    "S >> L (high bits set), A and R of order L",
    "non-canonical R (of small order), reduced for the hash",
    "non-canonical R (of small order), not reduced for the hash",
    "non-canonical A (of small order), reduced for the hash",
    "non-canonical A (of small order), not reduced for the hash",
]
# Cairn's verdict for each row: only row 3 passes every precheck and the
# cofactorless equation (libsodium's row of the paper's results table).
SPECCHECK_VALID = [False, False, False, True, False, False, False, False, False, False, False,
                   False]
# Rows whose prechecks all pass, so only the equation decides.
SPECCHECK_EQUATION = {3: True, 4: False, 5: False}

CCTV_REJECT = {"low_order_A", "low_order_R", "non_canonical_A", "non_canonical_R",
               "low_order_residue"}


def canonical(p):
    return int.from_bytes(p, "little") & (2**255 - 1) < P


def precheck(key, sig):
    """The first of steps (1)-(5) that fails, or None."""
    if not canonical(key):
        return "A non-canonical"
    if key in SMALL_ORDER:
        return "A of small order"
    if not canonical(sig[:32]):
        return "R non-canonical"
    if sig[:32] in SMALL_ORDER:
        return "R of small order"
    if int.from_bytes(sig[32:], "little") >= L:
        return "S >= L"
    return None


def vector(vid, source, what, key, sig, msg, valid, flags=None):
    reason = precheck(key, sig)
    if valid and reason:
        sys.exit(f"{vid}: marked valid but {reason}")
    if not valid and not reason:
        reason = "equation"
    v = {"id": vid, "source": source}
    if what:
        v["condition"] = what
    v.update({"key": key.hex(), "sig": sig.hex(), "msg": msg.hex(), "valid": valid})
    if flags is not None:
        v["flags"] = flags
    if not valid:
        v["reason"] = reason
    return v


def generate(speccheck_path, cctv_path):
    raw_spec = open(speccheck_path, "rb").read()
    raw_cctv = open(cctv_path, "rb").read()
    out = []
    # Our own: RFC 8032 section 7.1 TEST 1, the forged Auth, S + L.
    k1 = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    s1 = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                       "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    out.append(vector("cairn-0", "cairn", "RFC 8032 section 7.1 TEST 1", k1, s1, b"", True))
    s1l = s1[:32] + (int.from_bytes(s1[32:], "little") + L).to_bytes(32, "little")
    out.append(vector("cairn-1", "cairn", "RFC 8032 TEST 1 with S + L", k1, s1l, b"", False))
    ident = bytes([1]) + bytes(31)
    auth = b"cairn/1 auth" + b"R" + bytes(32)
    out.append(vector("cairn-2", "cairn",
                      "the forged Auth: identity key, R = identity, S = 0 (verifies for any "
                      "message under the cofactorless equation alone)",
                      ident, ident + bytes(32), auth, False))
    for s in SMALL_ORDER:
        if s != ident:
            out.append(vector(f"cairn-{len(out)}", "cairn",
                              "the same forgery under another small-order key", s,
                              ident + bytes(32), auth, False))
    for i, c in enumerate(json.loads(raw_spec)):
        key, sig, msg = (bytes.fromhex(c[k]) for k in ("pub_key", "signature", "message"))
        if i in SPECCHECK_EQUATION:
            assert precheck(key, sig) is None, i
        v = vector(f"speccheck-{i}", "ed25519-speccheck", SPECCHECK_CONDITIONS[i], key, sig, msg,
                   SPECCHECK_VALID[i])
        out.append(v)
    for c in json.loads(raw_cctv):
        flags = c["flags"] or []
        valid = not CCTV_REJECT & set(flags)
        out.append(vector(f"cctv-{c['number']}", "CCTV", None,
                          bytes.fromhex(c["key"]), bytes.fromhex(c["sig"]), c["msg"].encode(),
                          valid, flags))
    doc = {
        "description": "Ed25519 signatures with the verdict Cairn requires (spec §6.4.1, AUTH-10, "
                       "AUTH-11): valid means BAD_SIGNATURE must not follow, invalid means it must. "
                       "key = A, sig = R || S, msg = the signed bytes, all hex.",
        "rule": RULE,
        "generator": "reference/tools/vectors/ed25519_vectors.py generate SPECCHECK CCTV",
        "checked_by": ["reference/tests/test_vectors_ed25519.c (libcairn on OpenSSL)",
                       "reference/tools/vectors/ed25519_vectors.py check (libsodium via "
                       "python3-nacl)"],
        "sources": [
            {"name": "cairn", "what": "vectors cairn-*, made by the generator"},
            {"name": "ed25519-speccheck",
             "repository": "https://github.com/novifinancial/ed25519-speccheck",
             "commit": "65519336fda78a3d016e947df6d82848aca0c9da", "file": "cases.json",
             "sha256": hashlib.sha256(raw_spec).hexdigest(),
             "what": "all 12 vectors of the condition table of Chalkias, Garillot, Nikolaenko, "
                     "'Taming the many EdDSAs', SSR 2020; condition = the table's row"},
            {"name": "CCTV", "repository": "https://github.com/C2SP/CCTV",
             "commit": "1e3d2860d46e94e777e1b17c7a6f2436387e3ecc",
             "file": "ed25519/ed25519vectors.json",
             "sha256": hashlib.sha256(raw_cctv).hexdigest(),
             "what": "all vectors (low-order and non-canonical A and R, low-order components "
                     "and residues, re-encoded k), msg as its ASCII bytes; invalid exactly when "
                     "flagged low_order_A, low_order_R, non_canonical_A, non_canonical_R or "
                     "low_order_residue"},
        ],
        "vectors": out,
    }
    # One vector per line keeps the file readable and diffs small.
    lines = json.dumps({k: v for k, v in doc.items() if k != "vectors"}, indent=2,
                       ensure_ascii=False)[:-2]
    body = ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in out)
    sys.stdout.write(lines + ',\n  "vectors": [\n' + body + "\n  ]\n}\n")


def check(path):
    import nacl.bindings
    import nacl.exceptions
    doc = json.load(open(path))
    n = valid = 0
    bad = []
    ids = set()
    for v in doc["vectors"]:
        key, sig, msg = (bytes.fromhex(v[k]) for k in ("key", "sig", "msg"))
        if v["id"] in ids or len(key) != 32 or len(sig) != 64:
            bad.append(f"{v['id']}: duplicate or wrong length")
        ids.add(v["id"])
        try:
            nacl.bindings.crypto_sign_open(sig + msg, key)
            ok = True
        except nacl.exceptions.BadSignatureError:
            ok = False
        if ok != v["valid"]:
            bad.append(f"{v['id']}: file says valid={v['valid']}, libsodium says {ok}")
        reason = precheck(key, sig) or ("equation" if not ok else None)
        if v.get("reason") != reason:
            bad.append(f"{v['id']}: reason {v.get('reason')}, the rule gives {reason}")
        if "flags" in v and v["valid"] != (not CCTV_REJECT & set(v["flags"])):
            bad.append(f"{v['id']}: verdict does not follow from the CCTV flags")
        n += 1
        valid += ok
    srcs = {v["source"] for v in doc["vectors"]}
    spec = sum(v["source"] == "ed25519-speccheck" for v in doc["vectors"])
    if spec != 12 or srcs != {"cairn", "ed25519-speccheck", "CCTV"} or not 0 < valid < n:
        bad.append(f"expected all 12 speccheck vectors and both verdicts, got {spec}, {valid}/{n}")
    for b in bad:
        print("FAIL", b)
    print(f"{n} vectors, {valid} valid, {n - valid} invalid: "
          f"{'libsodium agrees with every verdict' if not bad else f'{len(bad)} failures'}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "generate":
        generate(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    else:
        sys.exit(__doc__)
