/* Seeds of the address-book family: Peers answers, floods, dials and their outcomes. */
#include <string.h>

#include "gen_seeds.h"

/* The operations and address kinds of fuzz_addrbook.c. */
enum { PEERS, FLOOD, INBOUND, CONFIGURE, DIAL, CLOSE, TIME, DISCOURAGE, SAVE_LOAD };
enum {
    DIAL_REFUSED = 0,
    DIAL_FAILS = 1,
    DIAL_READY = 2,
    DIAL_WRONG_ID = 3,
    DIAL_THEN_CLOSE = 0x80
};

typedef struct book_script {
    uint8_t b[16384];
    size_t n;
} book_script;

static void put(book_script *s, const void *p, size_t n)
{
    if (s->n + n <= sizeof(s->b)) {
        memcpy(s->b + s->n, p, n);
        s->n += n;
    }
}

static void u8(book_script *s, uint8_t v)
{
    put(s, &v, 1);
}

static void u16(book_script *s, uint16_t v)
{
    u8(s, (uint8_t)(v >> 8));
    u8(s, (uint8_t)v);
}

static void u32(book_script *s, uint32_t v)
{
    u16(s, (uint16_t)(v >> 16));
    u16(s, (uint16_t)v);
}

static void start(book_script *s, uint8_t flags, uint64_t key)
{
    s->n = 0;
    u8(s, flags);
    for (int i = 7; i >= 0; i--)
        u8(s, (uint8_t)(key >> (8 * i)));
}

/* An IPv4 address (kind 0). */
static void v4(book_script *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    uint8_t ip[4] = {a, b, c, d};
    u8(s, 0);
    put(s, ip, 4);
    u16(s, port);
}

/* One of the harness's special addresses (kind 3), at `port`. */
static void special(book_script *s, uint8_t index, uint16_t port)
{
    u8(s, 3);
    u8(s, index);
    u16(s, port);
}

static void dial(book_script *s, uint8_t outcome, uint16_t id)
{
    u8(s, DIAL);
    u8(s, outcome);
    u16(s, id);
}

static void time_ms(book_script *s, uint32_t ms, uint8_t scale)
{
    u8(s, TIME);
    u32(s, ms);
    u8(s, scale);
}

static void flood(book_script *s, uint8_t src_a, uint16_t count, uint32_t seed, uint8_t mode)
{
    u8(s, FLOOD);
    v4(s, src_a, 77, 1, 1, 7317);
    u16(s, count);
    u32(s, seed);
    u8(s, mode);
}

/* A Peers answer from `src_a`.77.1.1 with the addresses given as (ip, port, node_id?). */
static void peers(book_script *s, uint8_t src_a, const uint8_t (*ips)[16], const size_t *ip_len,
                  size_t count, int with_ids)
{
    Cairn__V1__PeerAddress pa[16], *pp[16];
    uint8_t ids[16][32];
    Cairn__V1__Peers m = CAIRN__V1__PEERS__INIT;
    for (size_t i = 0; i < count && i < 16; i++) {
        cairn__v1__peer_address__init(&pa[i]);
        pa[i].ip = (ProtobufCBinaryData){ip_len[i], (uint8_t *)ips[i]};
        pa[i].port = 7317 + (uint32_t)i;
        pa[i].services = 7;
        pa[i].last_seen_ms = 1767225600000ull - 1000 * i;
        memset(ids[i], (int)(0x40 + i), 32);
        if (with_ids)
            pa[i].node_id = (ProtobufCBinaryData){32, ids[i]};
        pp[i] = &pa[i];
    }
    m.request_id = 1;
    m.n_peers = count;
    m.peers = pp;
    cairn_buf b;
    cairn_buf_init(&b, &heap);
    frame_of(&m.base, &b);
    u8(s, PEERS);
    v4(s, src_a, 77, 1, 1, 7317);
    u16(s, (uint16_t)(b.len - 8));
    put(s, cairn_buf_data(&b) + 8, b.len - 8);
    cairn_buf_free(&b);
}

void addrbook_seeds(void)
{
    static book_script s;
    static const uint8_t ips[8][16] = {
        {1, 2, 3, 4},
        {5, 6, 7, 8},
        {93, 184, 216, 34},
        {0x2a, 0x00, 0x14, 0x50, [15] = 1},
        {[10] = 0xff, [11] = 0xff, 151, 101, 1, 1}, /* IPv4-mapped [ADDR-1] */
        {10, 0, 0, 1},                              /* private [ADDR-9] */
        {127, 0, 0, 1},                             /* loopback */
        {8, 8, 4, 4},
    };
    static const size_t lens[8] = {4, 4, 4, 16, 16, 4, 4, 4};

    /* A Peers answer, dials with every outcome, a close, save and load. */
    for (int flags = 0; flags < 2; flags++) {
        start(&s, (uint8_t)(flags | 1 << 3 | 3 << 1), 0x0123456789abcdefull);
        peers(&s, 20, ips, lens, 8, flags);
        dial(&s, DIAL_READY, 1);
        time_ms(&s, 600, 1);
        dial(&s, DIAL_FAILS, 2);
        time_ms(&s, 600, 1);
        dial(&s, DIAL_WRONG_ID, 3);
        time_ms(&s, 600, 1);
        dial(&s, DIAL_REFUSED, 4);
        u8(&s, CLOSE);
        u8(&s, 0);
        u8(&s, SAVE_LOAD);
        emit("addrbook", s.b, s.n);
    }

    /* Floods from several sources and groups, many dials reaching the tried table. */
    for (int variant = 0; variant < 3; variant++) {
        start(&s, (uint8_t)(7 << 3), 0x5eed0000ull + (uint64_t)variant);
        for (uint8_t src = 0; src < 6; src++)
            flood(&s, (uint8_t)(30 + src), 1023, 0x1000u * src + (uint32_t)variant,
                  (uint8_t)(variant == 1   ? (src & 3) << 1 | 1
                            : variant == 2 ? 4 | 8
                                           : 0));
        for (int i = 0; i < 60; i++) {
            dial(&s,
                 (uint8_t)(i % 5 == 4 ? DIAL_FAILS : DIAL_READY | (i % 3 ? DIAL_THEN_CLOSE : 0)),
                 (uint16_t)i);
            time_ms(&s, 600, 1);
            if (i % 9 == 8) {
                u8(&s, CLOSE);
                u8(&s, (uint8_t)i);
            }
        }
        if (variant == 0) {
            time_ms(&s, 35u * 86400 * 1000 / 2, 2); /* entries grow stale */
            time_ms(&s, 35u * 86400 * 1000 / 2, 2);
            flood(&s, 40, 1023, 0x77, 0);
        }
        u8(&s, SAVE_LOAD);
        emit("addrbook", s.b, s.n);
    }

    /* Local-network mode: private and loopback addresses, an inbound listen port, ourselves. */
    start(&s, 1 | 1 << 1, 42);
    peers(&s, 10, ips, lens, 8, 1);
    u8(&s, INBOUND);
    special(&s, 2, 40000); /* 10.1.2.3 */
    u16(&s, 7318);
    u32(&s, 0x01020304);
    u8(&s, INBOUND);
    special(&s, 0, 40001); /* 127.0.0.1, announcing our own port */
    u16(&s, 7317);
    u32(&s, 0x05060708);
    dial(&s, DIAL_READY, 9);
    u8(&s, SAVE_LOAD);
    emit("addrbook", s.b, s.n);

    /* Configured addresses: first to be dialled, backoff to their cap, WRONG_NODE_ID. */
    start(&s, 2 << 3, 7);
    for (uint8_t i = 0; i < 3; i++) {
        u8(&s, CONFIGURE);
        v4(&s, 192, 168, 1, (uint8_t)(10 + i), 7317);
        u8(&s, i & 1);
        if (i & 1)
            put(&s, ff32, 32);
    }
    for (int i = 0; i < 12; i++) {
        dial(&s, (uint8_t)(i % 4 == 3 ? DIAL_WRONG_ID : DIAL_FAILS), (uint16_t)i);
        time_ms(&s, 61000, 0);
    }
    peers(&s, 50, ips, lens, 5, 0);
    for (int i = 0; i < 8; i++) {
        dial(&s, DIAL_FAILS, 0);
        time_ms(&s, 3600000, 0);
    }
    emit("addrbook", s.b, s.n);

    /* Discouraged addresses are not dialled; IPv4-mapped forms of known ones are known. */
    start(&s, 4 << 3, 99);
    peers(&s, 60, ips, lens, 5, 0);
    u8(&s, DISCOURAGE);
    v4(&s, 1, 2, 3, 4, 0);
    u8(&s, DISCOURAGE);
    u8(&s, 2); /* ::ffff:5.6.7.8 */
    put(&s, ips[1], 4);
    u16(&s, 1);
    for (int i = 0; i < 4; i++) {
        u8(&s, INBOUND);
        u8(&s, 4 | 0x80); /* an address of the book, IPv4-mapped */
        u8(&s, (uint8_t)i);
        u16(&s, 7317);
        u32(&s, 0);
        dial(&s, DIAL_READY, (uint16_t)i);
        time_ms(&s, 600, 1);
    }
    emit("addrbook", s.b, s.n);
}
