#!/usr/bin/env python3
"""Rewrites a classic pcap of Ethernet frames (what dumpcap -P writes on lo)
into the variants `record --pcap` must read alike: other link layers (BSD
loopback, Linux cooked v1 and v2, raw IP) and a capture with TCP segments out
of order and retransmitted. usage: pcap_variants.py IN.pcap OUTDIR"""
import os
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
magic = data[:4]
end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
ver_maj, ver_min, zone, sig, snap, link = struct.unpack(end + "HHiIII", data[4:24])
assert link == 1, "want an Ethernet capture, got link type %d" % link
pkts, off = [], 24
while off + 16 <= len(data):
    ts, tf, caplen, wirelen = struct.unpack(end + "IIII", data[off:off + 16])
    pkts.append((ts, tf, data[off + 16:off + 16 + caplen]))
    off += 16 + caplen


def write(name, linktype, frames):
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, tf, fr in frames:
            f.write(struct.pack("<IIII", ts, tf, len(fr), len(fr)) + fr)


def ip(fr):
    return fr[14:]


def ethertype(fr):
    return fr[12:14]


def fam(fr):
    return 2 if ethertype(fr) == b"\x08\x00" else 10


write("null.pcap", 0, [(t, u, struct.pack("<I", fam(p)) + ip(p)) for t, u, p in pkts])
write("sll.pcap", 113, [(t, u, b"\x00\x00\x03\x04\x00\x06" + b"\0" * 8 + ethertype(p) + ip(p))
                        for t, u, p in pkts])
write("sll2.pcap", 276, [(t, u, ethertype(p) + b"\0\0" + struct.pack(">I", 1) + b"\x03\x04\x00\x06"
                          + b"\0" * 8 + ip(p)) for t, u, p in pkts])
write("raw.pcap", 101, [(t, u, ip(p)) for t, u, p in pkts])


def seg(p):
    """(flow and direction, payload length) of an IPv4 TCP frame, or None."""
    i = ip(p)
    if ethertype(p) != b"\x08\x00" or i[9] != 6:
        return None
    ihl = (i[0] & 15) * 4
    t = i[ihl:]
    n = struct.unpack(">H", i[2:4])[0] - ihl - (t[12] >> 4) * 4
    return (i[12:20], t[0:4]), n


shuffled, swaps, dups, i = [], 0, 0, 0
while i < len(pkts):
    a = seg(pkts[i][2])
    b = seg(pkts[i + 1][2]) if i + 1 < len(pkts) else None
    if a and b and a[1] > 0 and b[1] > 0 and a[0] == b[0]:
        shuffled += [pkts[i + 1], pkts[i], pkts[i]]  # early segment, then the gap, then a retransmit
        swaps, dups, i = swaps + 1, dups + 1, i + 2
        continue
    shuffled.append(pkts[i])
    if a and a[1] > 0 and i % 3 == 0:
        shuffled.append(pkts[i])  # retransmitted
        dups += 1
    i += 1
write("shuffled.pcap", 1, shuffled)
print("%d packets; shuffled: %d swapped pairs, %d retransmitted segments" % (len(pkts), swaps, dups))
sys.exit(0 if dups else 1)
