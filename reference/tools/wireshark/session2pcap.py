#!/usr/bin/env python3
"""Write a Cairn exchange as a classic pcap file with synthetic Ethernet, IPv4
and TCP headers (handshake, data, FIN), for tshark and the dissector.

  session2pcap.py [--mss N] [--port P] OUT.pcap spec/example-session.md
  session2pcap.py [--mss N] [--port P] OUT.pcap --frames I:HEX R:HEX ...

From the example session (spec Appendix A) it takes each "Initiator sends" /
"Responder sends" section's first hex block; with --frames, each argument is
one direction (I = initiator -> responder, R = the reverse) and its bytes.
Consecutive bytes in one direction form one stream chunk cut into segments of
at most --mss bytes (default: one segment per frame), so a small --mss splits
headers and payloads across segments and puts several frames in one, which
exercises the dissector's reassembly. The initiator is 127.0.0.1:40000, the
responder 127.0.0.2:PORT (default 7317)."""
import argparse
import re
import struct
import sys


def example_frames(path):
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"^### \d+\. (Initiator|Responder) sends [^\n]*\n(.*?)(?=^### |\Z)",
                         text, re.S | re.M):
        block = re.search(r"```\n([0-9a-f\n]+)```", m.group(2))
        if not block:
            sys.exit(f"{path}: no hex block under '{m.group(0).splitlines()[0]}'")
        out.append(("I" if m.group(1) == "Initiator" else "R",
                    bytes.fromhex(block.group(1).replace("\n", ""))))
    if not out:
        sys.exit(f"{path}: no frames found")
    return out


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Writer:
    def __init__(self, f, port):
        self.f = f
        self.t = 1767225600.0
        self.ends = {"I": (bytes([127, 0, 0, 1]), 40000), "R": (bytes([127, 0, 0, 2]), port)}
        self.seq = {"I": 1000, "R": 5000}
        self.ipid = 1
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET

    def packet(self, d, flags, payload=b""):
        o = "R" if d == "I" else "I"
        (sip, sport), (dip, dport) = self.ends[d], self.ends[o]
        ack = self.seq[o] if flags != 0x02 else 0
        tcp = struct.pack("!HHIIBBHHH", sport, dport, self.seq[d], ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = sip + dip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), self.ipid, 0x4000,
                         64, 6, 0, sip, dip)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        self.ipid += 1
        eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
        frame = eth + ip + tcp + payload
        self.t += 0.001
        sec = int(self.t)
        self.f.write(struct.pack("<IIII", sec, int((self.t - sec) * 1e6), len(frame), len(frame)))
        self.f.write(frame)
        self.seq[d] = (self.seq[d] + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mss", type=int, default=0)
    ap.add_argument("--port", type=int, default=7317)
    ap.add_argument("out")
    ap.add_argument("source", nargs="?")
    ap.add_argument("--frames", nargs="+")
    a = ap.parse_args()
    if a.frames:
        frames = [(s[0], bytes.fromhex(s[2:])) for s in a.frames]
    elif a.source:
        frames = example_frames(a.source)
    else:
        ap.error("give the example session file or --frames")
    # chunks: consecutive frames of one direction, or single frames
    chunks = []
    for d, b in frames:
        if a.mss and chunks and chunks[-1][0] == d:
            chunks[-1] = (d, chunks[-1][1] + b)
        else:
            chunks.append((d, b))
    with open(a.out, "wb") as f:
        w = Writer(f, a.port)
        w.packet("I", 0x02)  # SYN
        w.packet("R", 0x12)  # SYN, ACK
        w.packet("I", 0x10)  # ACK
        for d, b in chunks:
            step = a.mss or len(b)
            for i in range(0, len(b), step):
                w.packet(d, 0x18, b[i:i + step])  # PSH, ACK
        w.packet("I", 0x11)  # FIN, ACK
        w.packet("R", 0x11)
        w.packet("I", 0x10)


if __name__ == "__main__":
    main()
