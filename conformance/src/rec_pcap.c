/*
 * `record --pcap`: every TCP connection of a capture file with Cairn traffic
 * becomes a case. libpcap reads the file (pcap or pcapng) and its link layer
 * is one that captures on a loopback interface produce: DLT_NULL/DLT_LOOP
 * (BSD loopback), DLT_EN10MB (Linux `lo` under tcpdump, dumpcap and tshark),
 * DLT_LINUX_SLL and DLT_LINUX_SLL2 (`-i any`), or raw IP. Each connection's
 * two byte streams are put back together by sequence number: retransmitted
 * bytes are dropped, segments that arrive early wait for the gap to fill.
 * The client is the side that sent the SYN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pcap/pcap.h>

#include "rec.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

typedef struct seg {
    struct seg *next;
    uint32_t seq;
    int fin;
    size_t n;
    uint8_t p[];
} seg;

typedef struct endpoint {
    int family;
    uint8_t addr[16];
    uint16_t port;
} endpoint;

typedef struct flow {
    struct flow *next;
    endpoint ep[2]; /* [1] client, [0] server */
    uint32_t next_seq[2];
    int have_seq[2], fin[2];
    seg *ooo[2];
    rec_conn *rc;
    int guessed; /* no SYN seen */
    char desc[176];
} flow;

static int ep_eq(const endpoint *a, const endpoint *b)
{
    return a->family == b->family && a->port == b->port &&
           !memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

static void ep_str(const endpoint *e, char *buf, size_t n)
{
    char a[64];
    inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, a, sizeof(a));
    snprintf(buf, n, e->family == 4 ? "%s:%u" : "[%s]:%u", a, e->port);
}

/* The IP packet inside a link-layer frame, or NULL. */
static const uint8_t *link_payload(int dlt, const uint8_t *p, size_t n, size_t *len)
{
    size_t off;
    uint16_t proto = 0;
    switch (dlt) {
    case DLT_NULL:
    case DLT_LOOP:
        if (n < 4)
            return NULL;
        off = 4; /* the address family, in either byte order: the IP version decides */
        break;
    case DLT_EN10MB:
        if (n < 14)
            return NULL;
        off = 14;
        proto = (uint16_t)(p[12] << 8 | p[13]);
        while ((proto == 0x8100 || proto == 0x88a8) && n >= off + 4) { /* VLAN tags */
            proto = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
            off += 4;
        }
        if (proto != 0x0800 && proto != 0x86dd)
            return NULL;
        break;
    case DLT_LINUX_SLL:
        if (n < 16)
            return NULL;
        off = 16;
        break;
    case DLT_LINUX_SLL2:
        if (n < 20)
            return NULL;
        off = 20;
        break;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
        off = 0;
        break;
    default:
        return NULL;
    }
    if (n <= off)
        return NULL;
    *len = n - off;
    return p + off;
}

static int link_known(int dlt)
{
    switch (dlt) {
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
        return 1;
    }
    return 0;
}

static void deliver(flow *f, int from_client, uint32_t seq, const uint8_t *p, size_t n, int fin);

static void drain_ooo(flow *f, int d)
{
    int progress = 1;
    while (progress) {
        progress = 0;
        for (seg **pp = &f->ooo[d]; *pp; pp = &(*pp)->next) {
            seg *s = *pp;
            if ((int32_t)(s->seq - f->next_seq[d]) <= 0) {
                *pp = s->next;
                deliver(f, d, s->seq, s->p, s->n, s->fin);
                free(s);
                progress = 1;
                break;
            }
        }
    }
}

static void deliver(flow *f, int d, uint32_t seq, const uint8_t *p, size_t n, int fin)
{
    if (f->fin[d])
        return;
    if (!f->have_seq[d]) {
        f->next_seq[d] = seq;
        f->have_seq[d] = 1;
    }
    int32_t diff = (int32_t)(seq - f->next_seq[d]);
    if (diff > 0) { /* early: wait for the gap */
        seg *s = malloc(sizeof(*s) + n);
        if (!s)
            return;
        s->seq = seq, s->fin = fin, s->n = n;
        memcpy(s->p, p, n);
        s->next = f->ooo[d];
        f->ooo[d] = s;
        return;
    }
    size_t skip = (size_t)-diff; /* bytes already delivered (a retransmission) */
    if (skip > n || (skip == n && !fin))
        return;
    if (n > skip) {
        rec_conn_data(f->rc, d, p + skip, n - skip);
        f->next_seq[d] += (uint32_t)(n - skip);
    }
    if (fin) {
        f->fin[d] = 1;
        f->next_seq[d]++;
        rec_conn_eof(f->rc, d, 0);
    }
    drain_ooo(f, d);
}

static void free_flow(flow *f)
{
    for (int d = 0; d < 2; d++)
        for (seg *s = f->ooo[d], *nx; s; s = nx) {
            nx = s->next;
            free(s);
        }
    rec_conn_free(f->rc);
    free(f);
}

int rec_pcap(const char *path, const rec_opts *o, const char *outdir, const char *id_prefix)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (!pc) {
        fprintf(stderr, "cairn-conform: %s: %s\n", path, err);
        return 1;
    }
    int dlt = pcap_datalink(pc);
    if (!link_known(dlt)) {
        fprintf(stderr, "cairn-conform: %s: link type %s is not one this reader knows\n", path,
                pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
        pcap_close(pc);
        return 1;
    }
    if (mkdir(outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "cairn-conform: %s: %s\n", outdir, strerror(errno));
        pcap_close(pc);
        return 1;
    }
    flow *flows = NULL, **tail = &flows;
    struct pcap_pkthdr *h;
    const u_char *data;
    int r;
    size_t packets = 0;
    while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
        packets++;
        size_t len;
        const uint8_t *ip = link_payload(dlt, data, h->caplen, &len);
        if (!ip || len < 20)
            continue;
        endpoint src, dst;
        memset(&src, 0, sizeof(src));
        memset(&dst, 0, sizeof(dst));
        const uint8_t *tcp;
        size_t tlen;
        if ((ip[0] >> 4) == 4) {
            size_t ihl = (size_t)(ip[0] & 15) * 4;
            size_t tot = (size_t)(ip[2] << 8 | ip[3]);
            if (ip[9] != 6 || ihl < 20 || tot > len || tot < ihl)
                continue;
            src.family = dst.family = 4;
            memcpy(src.addr, ip + 12, 4);
            memcpy(dst.addr, ip + 16, 4);
            tcp = ip + ihl, tlen = tot - ihl;
        } else if ((ip[0] >> 4) == 6 && len >= 40) {
            size_t pl = (size_t)(ip[4] << 8 | ip[5]);
            if (ip[6] != 6 || 40 + pl > len) /* extension headers: not on loopback */
                continue;
            src.family = dst.family = 6;
            memcpy(src.addr, ip + 8, 16);
            memcpy(dst.addr, ip + 24, 16);
            tcp = ip + 40, tlen = pl;
        } else {
            continue;
        }
        if (tlen < 20 || (size_t)(tcp[12] >> 4) * 4 > tlen)
            continue;
        size_t doff = (size_t)(tcp[12] >> 4) * 4;
        src.port = (uint16_t)(tcp[0] << 8 | tcp[1]);
        dst.port = (uint16_t)(tcp[2] << 8 | tcp[3]);
        uint32_t seq =
            (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
        int syn = tcp[13] & 0x02, ack = tcp[13] & 0x10, fin = tcp[13] & 0x01, rst = tcp[13] & 0x04;
        flow *f = NULL;
        int from_client = 0;
        for (flow *x = flows; x; x = x->next) {
            if (x->fin[0] + x->fin[1] == 2 && syn && !ack)
                continue; /* a finished connection: a new SYN starts another one */
            if (ep_eq(&x->ep[1], &src) && ep_eq(&x->ep[0], &dst))
                f = x, from_client = 1;
            else if (ep_eq(&x->ep[0], &src) && ep_eq(&x->ep[1], &dst))
                f = x, from_client = 0;
        }
        if (!f) {
            if (rst)
                continue;
            f = calloc(1, sizeof(*f));
            if (!f)
                break;
            /* the SYN's sender is the client; without a SYN, the first sender */
            int client_is_src = !(syn && ack);
            f->ep[1] = client_is_src ? src : dst;
            f->ep[0] = client_is_src ? dst : src;
            f->guessed = !syn;
            char a[80], b[80];
            ep_str(&f->ep[1], a, sizeof(a));
            ep_str(&f->ep[0], b, sizeof(b));
            snprintf(f->desc, sizeof(f->desc), "%s -> %s", a, b);
            rec_opts fo = *o;
            fo.upstream = f->desc;
            f->rc = rec_conn_new(&fo, f->desc);
            if (!f->rc) {
                free(f);
                break;
            }
            *tail = f;
            tail = &f->next;
            from_client = client_is_src;
        }
        int d = from_client;
        if (syn) { /* the data starts after the SYN's sequence number */
            f->next_seq[d] = seq + 1;
            f->have_seq[d] = 1;
            continue;
        }
        if (rst) {
            if (!f->fin[d]) {
                f->fin[d] = 1;
                rec_conn_eof(f->rc, d, 1);
            }
            continue;
        }
        size_t n = tlen - doff;
        if (n || fin)
            deliver(f, d, seq, tcp + doff, n, fin);
    }
    if (r == PCAP_ERROR)
        fprintf(stderr, "cairn-conform: %s: %s (read up to there)\n", path, pcap_geterr(pc));
    pcap_close(pc);
    int written = 0, conns = 0, rv = 0;
    for (flow *f = flows, *nx; f; f = nx) {
        nx = f->next;
        conns++;
        if (f->guessed)
            fprintf(stderr,
                    "cairn-conform: %s: the capture starts after the connection opened (no "
                    "SYN): the first sender is taken as the client\n",
                    f->desc);
        char cid[128], file[4096];
        snprintf(cid, sizeof(cid), "%s-%03d", id_prefix, written + 1);
        snprintf(file, sizeof(file), "%s/%s.case", outdir, cid);
        int w = rec_conn_write(f->rc, cid, file);
        if (w == 0) {
            written++;
            fprintf(stderr, "cairn-conform: %s: wrote %s\n", f->desc, file);
        } else if (w < 0) {
            rv = 1;
        }
        free_flow(f);
    }
    fprintf(stderr, "cairn-conform: %s: %zu packets, %d TCP connection(s), %d case(s) written\n",
            path, packets, conns, written);
    return rv ? rv : (written ? 0 : 1);
}
