#!/usr/bin/env python3
"""ctest checks of the Wireshark dissector (cairn.lua) with tshark.

  test_wireshark.py example SRC            the example session of spec Appendix A
  test_wireshark.py live    SRC BIN        a live plaintext capture on loopback
  test_wireshark.py tls     SRC BIN        a live TLS capture with SSLKEYLOGFILE
  test_wireshark.py pcapdir SRC DIR        every capture of cairn-conform --pcap

SRC is the source tree, BIN the directory of cairnd and cairn. Every check
decodes with tshark -T pdml and compares message names and field values.
Captures need permission to capture on `lo` (root or CAP_NET_RAW); without it
the live tests exit 77, which ctest reports as skipped."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

SKIP = 77
ALL_TYPES = ["Hello", "Auth", "Error", "Ping", "Pong", "NotFound", "GetHeaders", "Headers",
             "GetBlock", "Block", "Announce", "SubmitEntry", "EntryAck", "Entries", "GetManifest",
             "Manifest", "GetChunk", "Chunk", "GetPeers", "Peers"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def tshark_opts(src):
    return ["-X", "lua_script:" + os.path.join(src, "reference/tools/wireshark/cairn.lua"),
            "-o", 'uat:protobuf_search_paths:"%s","TRUE"' % os.path.join(src, "proto"),
            "-o", "protobuf.pbf_as_hf:TRUE", "-o", "protobuf.preload_protos:TRUE"]


class Frame:
    """One Cairn frame as tshark decoded it."""

    def __init__(self, packet, proto):
        self.packet = packet
        self.fields = {}  # name -> [(show, value)]
        self.experts = []
        for f in proto.iter("field"):
            name = f.get("name", "")
            self.fields.setdefault(name, []).append(
                (f.get("show", ""), f.get("value", ""), f.get("showname", "")))
            if name == "_ws.expert.message":
                self.experts.append(f.get("show", ""))
        self.msg = self.first("cairn.msg")

    def first(self, name, part=0):
        v = self.fields.get(name)
        return v[0][part] if v else None

    def all(self, name, part=0):
        return [x[part] for x in self.fields.get(name, [])]

    def pbf(self, field, part=0):
        return self.first("pbf.cairn.v1.%s.%s" % (self.msg, field), part)


def decode(src, pcap, extra=()):
    out = subprocess.run(["tshark"] + tshark_opts(src) + list(extra) + ["-r", pcap, "-T", "pdml"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit("tshark failed: " + out.stderr)
    frames = []
    for packet in ET.fromstring(out.stdout).iter("packet"):
        num = int(next(f.get("show") for f in packet.iter("field") if f.get("name") == "frame.number"))
        for proto in packet.iter("proto"):
            if proto.get("name") == "cairn":
                frames.append(Frame(num, proto))
    return frames


# ---- the example session of Appendix A ----------------------------------------

def example_sections(path):
    """(direction, message name, JSON mapping) of each frame of Appendix A."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"^### \d+\. (Initiator|Responder) sends (\w+)[^\n]*\n(.*?)(?=^### |\Z)",
                         text, re.S | re.M):
        js = re.search(r"```json\n(.*?)```", m.group(3), re.S)
        out.append((m.group(1)[0], m.group(2), json.loads(js.group(1)) if js else {}))
    return out


def snake(name):
    return re.sub(r"([A-Z])", lambda c: "_" + c.group(1).lower(), name)


def check_json_fields(frame, mapping, where):
    """Each proto3 JSON field of the spec's mapping is the field tshark shows."""
    for key, want in mapping.items():
        name = snake(key)
        show, value = frame.pbf(name, 0), frame.pbf(name, 1)
        if isinstance(want, str) and re.fullmatch(r"-?\d+", want):
            ok = show == want  # 64-bit integers are strings in proto3 JSON
        elif isinstance(want, int):
            ok = show == str(want)
        elif isinstance(want, str) and re.fullmatch(r"[A-Z_]+", want):  # an enum value
            ok = want in (frame.pbf(name, 2) or "")
        elif isinstance(want, str):
            ok = value == base64.b64decode(want).hex()
        elif isinstance(want, list):
            vals = frame.all("pbf.cairn.v1.%s.%s" % (frame.msg, name), 1)
            ok = vals == [base64.b64decode(x).hex() for x in want]
        else:
            ok = False
        check(ok, "%s: %s.%s = %r (tshark: %r)" % (where, frame.msg, name, want, show))


def example(src):
    tmp = tempfile.mkdtemp(prefix="cairn-ws-")
    try:
        md = os.path.join(src, "spec/example-session.md")
        sections = example_sections(md)
        gen = os.path.join(src, "reference/tools/wireshark/session2pcap.py")
        for mss in (0, 7):
            pcap = os.path.join(tmp, "example-%d.pcap" % mss)
            subprocess.run([sys.executable, gen, "--mss", str(mss), pcap, md], check=True)
            frames = decode(src, pcap)
            where = "example, " + ("one segment per frame" if mss == 0 else "7-byte segments")
            check([f.msg for f in frames] == [s[1] for s in sections],
                  "%s: messages %s" % (where, " ".join(f.msg or "?" for f in frames)))
            for f, (_, _, mapping) in zip(frames, sections):
                check(not f.experts, "%s: %s has no expert warnings %s" % (where, f.msg, f.experts))
                check_json_fields(f, mapping, where)
            by = {f.msg: f for f in frames}
            if "Block" in by:
                b = by["Block"]
                check(b.first("cairn.header.height") == "0" and b.first("cairn.header.version") == "1",
                      where + ": Block header decoded: version 1, height 0")
                check(b.first("cairn.entry.kind") == "0x00", where + ": genesis entry is a data record")
            hellos = [f for f in frames if f.msg == "Hello"]
            check([h.first("cairn.text") for h in hellos] == ["cairn/0.1.0", "cairnd/0.1.0"],
                  where + ": Hello user agents shown as text")
            err = by.get("Error")
            check(err is not None and err.pbf("code") == "23" and "SHUTDOWN" in err.pbf("code", 2)
                  and err.first("cairn.text") == "done", where + ": Error SHUTDOWN (23), \"done\"")
        # frames that fail the header checks of spec §4.2, in one capture each
        bad = [
            ("beefca1e00040000", "BAD_MAGIC [FRM-6]", "Bad magic"),
            ("ca1e000000000000", "UNKNOWN_TYPE [FRM-7]", "Unknown"),
            ("ca1e000700000000", "UNKNOWN_TYPE [FRM-8]", "Unknown"),
            ("ca1e000401000001", "FRAME_TOO_LARGE [FRM-9]", "Ping"),
            ("ca1e000400000021", "FRAME_TOO_LARGE [FRM-11]", "Ping"),
            ("ca1e80010000000101", "ignorable after READY [FRM-17]", "Extension"),
        ]
        for i, (hexb, expect, msg) in enumerate(bad):
            pcap = os.path.join(tmp, "bad-%d.pcap" % i)
            subprocess.run([sys.executable, gen, pcap, "--frames",
                            "I:ca1e000400000000", "I:" + hexb], check=True)
            frames = decode(src, pcap)
            check(len(frames) == 2 and frames[0].msg == "Ping" and not frames[0].experts and
                  any(expect in e for e in frames[1].experts) and
                  (frames[1].msg or "Bad magic") == msg,
                  "header check %s flags %s" % (hexb, expect))
    finally:
        shutil.rmtree(tmp)


# ---- live captures ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Capture:
    """dumpcap on lo with a capture filter on the test's ports."""

    def __init__(self, path, ports):
        self.path = path
        flt = " or ".join("tcp port %d" % p for p in ports)
        self.log = open(path + ".log", "w+")
        self.p = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", flt, "-w", path],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        self.p.kill()
        self.p.wait()
        self.log.seek(0)
        print("capture on lo is not permitted here: " + self.log.read().strip())
        sys.exit(SKIP)

    def stop(self):
        time.sleep(0.5)  # let the last segments reach the ring buffer
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=20)


class Nodes:
    def __init__(self, bindir, tmp, env=None):
        self.bindir, self.tmp, self.env, self.procs = bindir, tmp, env, []

    def start(self, name, port, *args):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        self.procs.append(subprocess.Popen(
            [os.path.join(self.bindir, "cairnd"), "--datadir", os.path.join(self.tmp, name),
             "--listen", "127.0.0.1:%d" % port] + list(args),
            stdout=log, stderr=subprocess.STDOUT, env=self.env))
        self.wait_ready(port, "--plaintext" in args)

    def cairn(self, *args, ok=True):
        r = subprocess.run([os.path.join(self.bindir, "cairn")] + list(args), capture_output=True,
                           text=True, timeout=60, env=self.env, cwd=self.tmp)
        if ok and r.returncode != 0:
            sys.exit("cairn %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def wait_ready(self, port, plaintext):
        args = ["info", "127.0.0.1:%d" % port, "--timeout", "1"] + (["--plaintext"] if plaintext else [])
        for _ in range(100):
            if self.cairn(*args, ok=False).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit("node on port %d did not come up" % port)

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def live(src, bindir):
    tmp = tempfile.mkdtemp(prefix="cairn-ws-live-")
    nodes = None
    try:
        pa, pb = free_port(), free_port()
        a, b = "127.0.0.1:%d" % pa, "127.0.0.1:%d" % pb
        share = os.path.join(tmp, "share")
        os.mkdir(share)
        content = bytes((i * 7 + 3) & 0xFF for i in range(40000))
        with open(os.path.join(share, "stone.bin"), "wb") as f:
            f.write(content)
        cap = Capture(os.path.join(tmp, "live.pcapng"), [pa, pb])
        nodes = Nodes(bindir, tmp)
        nodes.start("a", pa, "--plaintext", "--mine", "--mine-interval", "300", "--share", share)
        nodes.start("b", pb, "--plaintext", "--peer", a)
        P = ["--plaintext"]
        man = json.loads(nodes.cairn("manifest", os.path.join(share, "stone.bin"), "--json").stdout)
        nodes.cairn("ping", a, *P)
        nodes.cairn("headers", a, *P)
        nodes.cairn("block", a, "0", *P)
        nodes.cairn("block", a, "999999", *P, ok=False)  # NotFound
        ack = json.loads(nodes.cairn("submit", a, "--data", "wireshark sees this", "--json", *P).stdout)
        nodes.cairn("peers", b, *P)
        # the file's manifest must be mined before peers serve it; fetch retries until then
        for _ in range(100):
            r = nodes.cairn("fetch", man["file_id"], "--from", a, "--no-discover", "--plaintext",
                            "-o", os.path.join(tmp, "got.bin"), "--timeout", "2", ok=False)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        check(open(os.path.join(tmp, "got.bin"), "rb").read() == content, "live: fetched file intact")
        time.sleep(1)  # an Announce or two from the miner to b
        cap.stop()
        nodes.stop()
        nodes = None
        frames = decode(src, cap.path, ["-d", "tcp.port==%d,cairn" % pa, "-d", "tcp.port==%d,cairn" % pb])
        seen = {f.msg for f in frames}
        for t in ALL_TYPES:
            check(t in seen, "live: a %s frame decoded by name" % t)
        check(not [f for f in frames if f.experts and f.msg != "Extension"],
              "live: no frame flagged by the header checks")
        by = {}
        for f in frames:
            by.setdefault(f.msg, []).append(f)
        sub = by.get("SubmitEntry", [None])[0]
        check(sub is not None and sub.first("cairn.entry.data", 1) ==
              ("wireshark sees this".encode().hex()), "live: SubmitEntry's entry data decoded")
        acks = [f.pbf("entry_id", 1) for f in by.get("EntryAck", [])]
        check(ack["entry_id"] in acks, "live: EntryAck carries the entry ID cairn printed")
        mans = by.get("Manifest", [])
        check(any(m.first("cairn.manifest.name") == "stone.bin" and
                  m.first("cairn.manifest.size") == str(len(content)) and
                  m.first("cairn.manifest.root", 1) == man["root"] for m in mans),
              "live: Manifest decoded: name, size and root match cairn manifest")
        chunks = by.get("Chunk", [])
        check(len(chunks) >= 1 and all(c.pbf("data", 1) for c in chunks), "live: Chunk data decoded")
        hdrs = by.get("Headers", [])
        check(any(h.all("cairn.header.height") for h in hdrs) and
              all(len(h.all("cairn.header.height")) == len(h.all("pbf.cairn.v1.Headers.headers"))
                  for h in hdrs), "live: every block header of Headers decoded")
        anns = by.get("Announce", [])
        check(any(int(x.first("cairn.header.height") or 0) >= 1 for x in anns),
              "live: Announce's block header decoded")
        nf = by.get("NotFound", [None])[0]
        check(nf is not None and nf.pbf("request_id") is not None, "live: NotFound names its request")
        peers = by.get("Peers", [])
        check(any(p.first("pbf.cairn.v1.PeerAddress.port") == str(pa) for p in peers),
              "live: Peers from b name a's port")
        print("live: %d frames, types: %s" % (len(frames), " ".join(sorted(seen))))
    finally:
        if nodes:
            nodes.stop()
        shutil.rmtree(tmp)


def tls(src, bindir):
    tmp = tempfile.mkdtemp(prefix="cairn-ws-tls-")
    nodes = None
    try:
        port = free_port()
        addr = "127.0.0.1:%d" % port
        keylog = os.path.join(tmp, "keys.log")
        env = dict(os.environ, SSLKEYLOGFILE=keylog)
        cap = Capture(os.path.join(tmp, "tls.pcapng"), [port])
        nodes = Nodes(bindir, tmp, env)
        nodes.start("n", port)
        r = nodes.cairn("ping", addr)
        check("SSLKEYLOGFILE" in r.stderr, "tls: cairn warns that it writes the key log")
        nodes.cairn("block", addr, "0")
        cap.stop()
        nodes.stop()
        nodes = None
        check("SSLKEYLOGFILE is set" in open(os.path.join(tmp, "n.log")).read(),
              "tls: cairnd logs a warning about the key log")
        lines = open(keylog).read().splitlines()
        check(lines and all(re.fullmatch(r"[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+", l) for l in lines) and
              any(l.startswith("CLIENT_TRAFFIC_SECRET_0 ") for l in lines),
              "tls: key log in NSS format (%d lines)" % len(lines))
        plain = decode(src, cap.path)
        check(plain == [], "tls: without the key log nothing decodes as Cairn")
        frames = decode(src, cap.path, ["-o", "tls.keylog_file:" + keylog])
        names = [f.msg for f in frames]
        for t in ["Hello", "Auth", "Ping", "Pong", "GetBlock", "Block", "Error"]:
            check(t in names, "tls: a %s frame decrypted and decoded by name" % t)
        hellos = [f.first("cairn.text") or "" for f in frames if f.msg == "Hello"]
        check(any(h.startswith("cairnd/") for h in hellos) and any(h.startswith("cairn/") for h in hellos),
              "tls: both Hellos' user agents decoded")
        blk = [f for f in frames if f.msg == "Block"]
        check(blk and blk[0].first("cairn.header.height") == "0", "tls: the genesis block header decoded")
        print("tls: %d frames: %s" % (len(frames), " ".join(names)))
    finally:
        if nodes:
            nodes.stop()
        shutil.rmtree(tmp)


def pcapdir(src, d):
    files = sorted(f for f in os.listdir(d) if f.endswith(".pcap"))
    check(files != [], "pcapdir: captures in %s" % d)
    for name in files:
        if os.path.getsize(os.path.join(d, name)) == 24:  # the pcap header alone
            print("ok   pcapdir: %s is empty (the case made no connection: skipped)" % name)
            continue
        # no -d: the dissector's heuristic finds Cairn on the IUT's port
        frames = decode(src, os.path.join(d, name))
        check(frames != [] and frames[0].msg == "Hello" and all(f.msg or f.experts for f in frames),
              "pcapdir: %s decodes (%s)" % (name, " ".join(f.msg or "?" for f in frames[:12])))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, src = sys.argv[1], sys.argv[2]
    if shutil.which("tshark") is None:
        print("tshark is not installed (scripts/deps installs it)")
        sys.exit(SKIP)
    if mode == "example":
        example(src)
    elif mode == "live":
        live(src, sys.argv[3])
    elif mode == "tls":
        tls(src, sys.argv[3])
    elif mode == "pcapdir":
        pcapdir(src, sys.argv[3])
    else:
        sys.exit(__doc__)
    print("%d failed" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
