/*
 * Per-case captures for Wireshark (--pcap DIR), written with libpcap's
 * pcap_dump. The harness sees the plaintext of each connection (after TLS),
 * so the capture is a reconstruction: the real addresses and ports of each
 * connection, a synthetic three-way handshake when it is first seen, one TCP
 * segment per write or read (cut at 60000 bytes) with the time it happened,
 * and FINs when the case ends. Wireshark's Cairn dissector decodes it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <pcap/pcap.h>

#include "capture.h"

#define MAX_STREAMS 64
#define MAX_SEG     60000

typedef struct stream {
    const void *conn;
    int fd;
    struct sockaddr_in local, peer; /* the harness's end and the IUT's */
    uint32_t seq_out, seq_in;       /* next sequence numbers, harness -> IUT and back */
} stream;

static struct {
    pcap_t *dead;
    pcap_dumper_t *dump;
    stream s[MAX_STREAMS];
    int n;
    uint16_t ip_id;
} cap;

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)(p[n - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* One Ethernet + IPv4 + TCP packet from `out`'s point of view. */
static void packet(stream *s, int outbound, uint8_t flags, const uint8_t *data, size_t n)
{
    static uint8_t buf[14 + 20 + 20 + MAX_SEG];
    const struct sockaddr_in *src = outbound ? &s->local : &s->peer;
    const struct sockaddr_in *dst = outbound ? &s->peer : &s->local;
    uint32_t *seq = outbound ? &s->seq_out : &s->seq_in, *ack = outbound ? &s->seq_in : &s->seq_out;
    uint8_t *eth = buf, *ip = buf + 14, *tcp = ip + 20;
    memset(buf, 0, 54);
    memcpy(eth, outbound ? "\x02\0\0\0\0\x02\x02\0\0\0\0\x01" : "\x02\0\0\0\0\x01\x02\0\0\0\0\x02",
           12);
    put16(eth + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(40 + n));
    put16(ip + 4, cap.ip_id++);
    put16(ip + 6, 0x4000); /* don't fragment */
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    memcpy(ip + 12, &src->sin_addr, 4);
    memcpy(ip + 16, &dst->sin_addr, 4);
    put16(ip + 10, csum(0, ip, 20));
    memcpy(tcp, &src->sin_port, 2);
    memcpy(tcp + 2, &dst->sin_port, 2);
    put32(tcp + 4, *seq);
    put32(tcp + 8, flags == 0x02 ? 0 : *ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (n)
        memcpy(tcp + 20, data, n);
    /* pseudo-header: addresses, protocol, TCP length */
    uint32_t sum = 0;
    for (int i = 12; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    sum += IPPROTO_TCP + (uint32_t)(20 + n);
    put16(tcp + 16, csum(sum, tcp, 20 + n));
    struct pcap_pkthdr h;
    gettimeofday(&h.ts, NULL);
    h.caplen = h.len = (bpf_u_int32)(54 + n);
    pcap_dump((u_char *)cap.dump, &h, buf);
    *seq += (uint32_t)n + ((flags & 0x03) ? 1 : 0); /* SYN and FIN take a number */
}

int cf_capture_begin(const char *dir, const char *case_id)
{
    cf_capture_end();
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.pcap", dir, case_id);
    cap.dead = pcap_open_dead(DLT_EN10MB, 65535);
    if (!cap.dead)
        return -1;
    cap.dump = pcap_dump_open(cap.dead, path);
    if (!cap.dump) {
        fprintf(stderr, "cairn-conform: %s: %s\n", path, pcap_geterr(cap.dead));
        pcap_close(cap.dead);
        cap.dead = NULL;
        errno = EIO;
        return -1;
    }
    cap.n = 0;
    return 0;
}

void cf_capture_end(void)
{
    if (!cap.dump)
        return;
    for (int i = 0; i < cap.n; i++) {
        packet(&cap.s[i], 1, 0x11, NULL, 0); /* FIN, ACK both ways */
        packet(&cap.s[i], 0, 0x11, NULL, 0);
        packet(&cap.s[i], 1, 0x10, NULL, 0);
    }
    pcap_dump_close(cap.dump);
    pcap_close(cap.dead);
    cap.dump = NULL;
    cap.dead = NULL;
    cap.n = 0;
}

/* The stream of a connection: by its addresses when the socket still has
 * them, else by the connection object it was last seen under. */
static stream *find(const void *conn, int fd, int initiator)
{
    struct sockaddr_in l, p;
    socklen_t ll = sizeof(l), pl = sizeof(p);
    int named = getsockname(fd, (struct sockaddr *)&l, &ll) == 0 &&
                getpeername(fd, (struct sockaddr *)&p, &pl) == 0 && l.sin_family == AF_INET;
    for (int i = cap.n - 1; i >= 0; i--) {
        stream *s = &cap.s[i];
        if (named ? (s->local.sin_port == l.sin_port && s->peer.sin_port == p.sin_port &&
                     s->local.sin_addr.s_addr == l.sin_addr.s_addr &&
                     s->peer.sin_addr.s_addr == p.sin_addr.s_addr)
                  : (s->conn == conn && s->fd == fd))
            return s;
    }
    if (cap.n == MAX_STREAMS)
        return NULL;
    stream *s = &cap.s[cap.n++];
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    s->fd = fd;
    if (named) {
        s->local = l;
        s->peer = p;
    } else { /* a socket already gone: made-up ports that say so */
        s->local.sin_family = s->peer.sin_family = AF_INET;
        s->local.sin_addr.s_addr = s->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->local.sin_port = htons((uint16_t)(40000 + cap.n));
        s->peer.sin_port = htons(7317);
    }
    s->seq_out = 1000;
    s->seq_in = 5000;
    packet(s, initiator, 0x02, NULL, 0);  /* SYN */
    packet(s, !initiator, 0x12, NULL, 0); /* SYN, ACK */
    packet(s, initiator, 0x10, NULL, 0);  /* ACK */
    return s;
}

void cf_capture_bytes(const void *conn, int fd, int initiator, int outbound, const uint8_t *p,
                      size_t n)
{
    if (!cap.dump || n == 0)
        return;
    stream *s = find(conn, fd, initiator);
    if (!s)
        return;
    for (size_t off = 0; off < n; off += MAX_SEG) {
        size_t k = n - off < MAX_SEG ? n - off : MAX_SEG;
        packet(s, outbound, 0x18, p + off, k); /* PSH, ACK */
    }
}
