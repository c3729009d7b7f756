/*
 * bench codec: decode throughput of our receive path — frame header checks,
 * canonical wire scan, protobuf-c unpack into a budgeted arena, semantic
 * validation — against bare protobuf_c_message_unpack (default allocator)
 * plus free_unpacked on the same payloads, in the same run. Prints figures
 * per payload and a last line "ratio: R" (ours / bare, higher is better).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cairn/port.h"
#include "cairn/session.h"

typedef struct payload {
    const char *name;
    uint16_t type;
    cairn_buf frame;
} payload;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make(payload *p, const char *name, const ProtobufCMessage *m)
{
    p->name = name;
    p->type = cairn_msg_type_of(m);
    cairn_buf_init(&p->frame, cairn_port_mem());
    if (cairn_msg_encode(m, &p->frame)) {
        fprintf(stderr, "cannot encode %s\n", name);
        exit(1);
    }
}

static volatile size_t sink;

static double run_ours(const payload *p, long iters)
{
    cairn_frame_decoder fd;
    cairn_msg_decoder md;
    cairn_frame_decoder_init(&fd, cairn_port_mem(), CAIRN_FRAME_MAX_MIN);
    cairn_msg_decoder_init(&md, cairn_port_mem());
    const uint8_t *f = cairn_buf_data(&p->frame);
    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        const uint8_t *q = f;
        cairn_frame fr;
        ProtobufCMessage *m;
        if (cairn_frame_decoder_next(&fd, &q, f + p->frame.len, &fr) ||
            cairn_msg_decode(&md, fr.type, fr.payload, fr.length, &m))
            abort();
        sink += m->descriptor->n_fields;
    }
    double t = now_s() - t0;
    cairn_frame_decoder_free(&fd);
    cairn_msg_decoder_free(&md);
    return t;
}

static double run_bare(const payload *p, long iters)
{
    const ProtobufCMessageDescriptor *d = cairn_msg_descriptor(p->type);
    const uint8_t *payload_bytes = cairn_buf_data(&p->frame) + CAIRN_FRAME_HEADER_LEN;
    size_t len = p->frame.len - CAIRN_FRAME_HEADER_LEN;
    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, payload_bytes);
        if (!m)
            abort();
        sink += m->descriptor->n_fields;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return now_s() - t0;
}

int main(void)
{
    static uint8_t hdrs[2000][96], entries[256][1024], chunk[256 * 1024], hashes[64][32];
    static ProtobufCBinaryData hv[2000], ev[256], pv[64];
    for (int i = 0; i < 2000; i++) {
        memset(hdrs[i], i, 96);
        hv[i] = (ProtobufCBinaryData){96, hdrs[i]};
    }
    for (int i = 0; i < 256; i++) {
        memset(entries[i], i, 1024);
        ev[i] = (ProtobufCBinaryData){1024, entries[i]};
    }
    for (int i = 0; i < 64; i++) {
        memset(hashes[i], i + 1, 32);
        pv[i] = (ProtobufCBinaryData){32, hashes[i]};
    }
    memset(chunk, 0x5a, sizeof(chunk));

    payload ps[7];
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = 0x0123456789abcdefull;
    make(&ps[0], "Ping", &ping.base);
    Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT;
    h.version = 1;
    h.network_id = h.node_key = h.tip_id = h.total_work = pv[0];
    h.services = 15;
    h.tip_height = 123456;
    h.max_frame_size = CAIRN_FRAME_MAX_MIN;
    h.nonce = 42;
    h.user_agent = (ProtobufCBinaryData){12, (uint8_t *)"cairnd/0.1.0"};
    h.listen_port = 7317;
    h.time_ms = 1767225600000ull;
    make(&ps[1], "Hello", &h.base);
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.request_id = 1;
    gh.n_locator = 64;
    gh.locator = pv;
    make(&ps[2], "GetHeaders 64", &gh.base);
    Cairn__V1__Headers hs = CAIRN__V1__HEADERS__INIT;
    hs.request_id = 1;
    hs.n_headers = 2000;
    hs.headers = hv;
    make(&ps[3], "Headers 2000", &hs.base);
    Cairn__V1__Block b = CAIRN__V1__BLOCK__INIT;
    b.request_id = 1;
    b.header = hv[0];
    b.n_entries = 256;
    b.entries = ev;
    make(&ps[4], "Block 256x1KiB", &b.base);
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    c.request_id = 1;
    c.index = 77;
    c.data = (ProtobufCBinaryData){sizeof(chunk), chunk};
    c.n_proof = 18;
    c.proof = pv;
    make(&ps[5], "Chunk 256KiB", &c.base);
    static Cairn__V1__PeerAddress pa[1000];
    static Cairn__V1__PeerAddress *pp[1000];
    uint8_t ip[4] = {127, 0, 0, 1};
    for (int i = 0; i < 1000; i++) {
        cairn__v1__peer_address__init(&pa[i]);
        pa[i].ip = (ProtobufCBinaryData){4, ip};
        pa[i].port = 7000 + (uint32_t)i;
        pa[i].services = 1;
        pa[i].last_seen_ms = 1767225600000ull + (uint64_t)i;
        pp[i] = &pa[i];
    }
    Cairn__V1__Peers peers = CAIRN__V1__PEERS__INIT;
    peers.request_id = 1;
    peers.n_peers = 1000;
    peers.peers = pp;
    make(&ps[6], "Peers 1000", &peers.base);

    printf("bench codec: frame + scan + unpack (arena) + validate  vs  bare "
           "protobuf_c_message_unpack + free_unpacked\n");
    printf("%-16s %9s %12s %12s %12s %12s %7s\n", "payload", "bytes", "ours msg/s", "bare msg/s",
           "ours MB/s", "bare MB/s", "ratio");
    double sum_ours = 0, sum_bare = 0; /* seconds for one pass over the mix */
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        size_t len = ps[i].frame.len;
        long iters = (long)(200e6 / (double)(len + 200)); /* ~200 MB of input per round */
        if (iters < 200)
            iters = 200;
        double best_o = 1e9, best_b = 1e9;
        for (int round = 0; round < 5; round++) { /* interleaved, best of 5 */
            double o = run_ours(&ps[i], iters), bb = run_bare(&ps[i], iters);
            best_o = o < best_o ? o : best_o;
            best_b = bb < best_b ? bb : best_b;
        }
        double per_o = best_o / (double)iters, per_b = best_b / (double)iters;
        sum_ours += per_o;
        sum_bare += per_b;
        printf("%-16s %9zu %12.0f %12.0f %12.1f %12.1f %7.2f\n", ps[i].name, len, 1 / per_o,
               1 / per_b, (double)len / per_o / 1e6, (double)len / per_b / 1e6, per_b / per_o);
    }
    printf("mix (one of each): ours %.1f us, bare %.1f us per pass\n", sum_ours * 1e6,
           sum_bare * 1e6);
    printf("ratio: %.2f\n", sum_bare / sum_ours);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        cairn_buf_free(&ps[i].frame);
    return 0;
}
