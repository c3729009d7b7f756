/*
 * Writes spec/vectors/blocks.json and spec/vectors/merkle.json from the
 * reference implementation. Every block vector is also run through the
 * library (a memory-only cairn_chain with the vector's clock) and the
 * generator fails if the library disagrees with the vector.
 *
 * Usage: gen_chain_vectors SPEC_DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cairn/chain.h"
#include "cairn/merkle.h"
#include "cairn/port.h"

#define MAX_ANC 16
#define MAX_E   8

typedef struct blk {
    cairn_block_header h;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    cairn_bytes_ref e[MAX_E];
    size_t n;
} blk;

static cairn_sha256_ctx *sha;
static int failures;

static json_t *hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    cairn_hex_encode(s, p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static void seal(blk *b)
{
    cairn_block_entries_root(sha, b->h.entries_root, b->e, b->n);
    b->h.nonce = 0;
    cairn_miner_solve(sha, &b->h, UINT64_MAX, b->raw, b->id);
}

static void reencode(blk *b)
{
    cairn_block_header_encode(b->raw, &b->h);
    cairn_block_id(sha, b->id, b->raw);
}

static void genesis(blk *b, const cairn_network *net)
{
    memset(b, 0, sizeof(*b));
    cairn_network_genesis(net, &b->h, b->raw);
    cairn_block_id(sha, b->id, b->raw);
    b->e[0] = (cairn_bytes_ref){net->genesis_entry, net->genesis_entry_len};
    b->n = 1;
}

/* An unsealed child of `p`, time + 1 s, with the given entries. */
static void child(blk *b, const blk *p, const cairn_bytes_ref *e, size_t n)
{
    memset(b, 0, sizeof(*b));
    b->h.version = CAIRN_BLOCK_VERSION;
    b->h.height = p->h.height + 1;
    b->h.time_ms = p->h.time_ms + 1000;
    b->h.bits = p->h.bits;
    memcpy(b->h.prev_id, p->id, CAIRN_HASH_LEN);
    memcpy(b->e, e, n * sizeof(*e));
    b->n = n;
}

static json_t *entries_json(const blk *b)
{
    json_t *a = json_array();
    for (size_t i = 0; i < b->n; i++)
        json_array_append_new(a, hex(b->e[i].data, b->e[i].len));
    return a;
}

/* ---- Library cross-check -------------------------------------------------------------- */

static uint64_t fixed_now;
static uint64_t fake_wall(void *ud)
{
    (void)ud;
    return fixed_now;
}

/* Runs ancestors then `b` through a fresh chain; returns the reason (0 = accepted). */
static uint32_t library_verdict(const cairn_network *net, const blk *anc, size_t n_anc,
                                const blk *b, size_t header_len, uint64_t now)
{
    cairn_env env = *cairn_port_env();
    env.wall_ms = fake_wall;
    fixed_now = now;
    cairn_chain_config cfg = {.net = net, .env = &env};
    cairn_chain *c;
    uint32_t why = 0;
    if (cairn_chain_new(&c, &cfg) != 0)
        abort();
    for (size_t i = 0; i < n_anc; i++)
        if (cairn_chain_add_block(c, anc[i].raw, 96, anc[i].e, anc[i].n, NULL, &why) != 0)
            abort();
    cairn_chain_result r;
    int rv = cairn_chain_add_block(c, b->raw, header_len, b->e, b->n, &r, &why);
    if (rv == 0 && r.status != CAIRN_CHAIN_ADDED && r.status != CAIRN_CHAIN_DUPLICATE)
        why = 99;
    cairn_chain_del(c);
    return why;
}

/* ---- blocks.json ------------------------------------------------------------------------ */

static json_t *valid, *invalid, *invalid_headers;

static json_t *context(const char *net, const blk *anc, size_t n_anc, uint64_t now)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n_anc; i++)
        json_array_append_new(a, hex(anc[i].raw, 96));
    return json_pack("{s:s, s:o, s:I}", "network", net, "ancestors_hex", a, "now_ms",
                     (json_int_t)now);
}

static void add_valid(const char *name, const cairn_network *net, const blk *b, const blk *anc,
                      size_t n_anc, uint64_t now)
{
    if (library_verdict(net, anc, n_anc, b, 96, now) != 0 && b->h.height != 0) {
        fprintf(stderr, "library rejects valid vector %s\n", name);
        failures++;
    }
    json_t *v = json_pack("{s:s, s:o, s:o, s:o}", "name", name, "header_hex", hex(b->raw, 96),
                          "id_hex", hex(b->id, 32), "entries_hex", entries_json(b));
    json_object_update_new(v, context(net->name, anc, n_anc, now));
    json_array_append_new(valid, v);
}

static void add_invalid(const char *name, const cairn_network *net, const blk *b, size_t hlen,
                        const blk *anc, size_t n_anc, uint64_t now, uint32_t reason)
{
    uint32_t got = library_verdict(net, anc, n_anc, b, hlen, now);
    if (got != reason) {
        fprintf(stderr, "%s: library says %u, vector says %u\n", name, got, reason);
        failures++;
    }
    json_t *v = json_pack("{s:s, s:o, s:o}", "name", name, "header_hex", hex(b->raw, hlen),
                          "entries_hex", entries_json(b));
    json_object_update_new(v, context(net->name, anc, n_anc, now));
    json_object_set_new(v, "reason", json_integer(reason));
    json_object_set_new(v, "reason_name", json_string(cairn_block_reason_name(reason)));
    json_array_append_new(invalid, v);
}

/* Entry storage that outlives the vectors. */
static uint8_t ebuf[64][320];
static size_t ebuf_used;

static cairn_bytes_ref data_entry(const char *text)
{
    uint8_t *p = ebuf[ebuf_used++];
    size_t n = strlen(text);
    p[0] = CAIRN_ENTRY_DATA;
    memcpy(p + 1, text, n);
    return (cairn_bytes_ref){p, n + 1};
}

static cairn_bytes_ref manifest_entry(uint64_t size, uint8_t log2, const char *name)
{
    uint8_t *p = ebuf[ebuf_used++];
    size_t n = strlen(name);
    p[0] = CAIRN_ENTRY_MANIFEST;
    cairn_put_u64(p + 1, size);
    p[9] = log2;
    for (int i = 0; i < 32; i++)
        p[10 + i] = (uint8_t)(0xc0 + i);
    p[42] = (uint8_t)n;
    memcpy(p + 43, name, n);
    return (cairn_bytes_ref){p, 43 + n};
}

/* 4097 one-byte entries: more views than a blk holds, so built apart. */
static void count_vector(const cairn_network *dev, const blk *a, const blk *p,
                         const cairn_bytes_ref *e, uint64_t now)
{
    blk b;
    static cairn_bytes_ref many[CAIRN_BLOCK_MAX_ENTRIES + 1];
    static uint8_t zero[1];
    for (int i = 0; i <= CAIRN_BLOCK_MAX_ENTRIES; i++)
        many[i] = (cairn_bytes_ref){zero, 1};
    child(&b, p, e, 1);
    seal(&b); /* the count rule comes before the entries are looked at */
    {
        /* 4097 entries: build the JSON by hand (more than MAX_E views). */
        uint32_t why = 0;
        cairn_env env = *cairn_port_env();
        env.wall_ms = fake_wall;
        fixed_now = now;
        cairn_chain_config cfg = {.net = dev, .env = &env};
        cairn_chain *c;
        cairn_chain_new(&c, &cfg);
        for (int i = 0; i < 3; i++)
            cairn_chain_add_block(c, a[i].raw, 96, a[i].e, a[i].n, NULL, NULL);
        cairn_chain_add_block(c, b.raw, 96, many, CAIRN_BLOCK_MAX_ENTRIES + 1, NULL, &why);
        cairn_chain_del(c);
        if (why != CAIRN_BLOCK_BAD_COUNT) {
            fprintf(stderr, "4097 entries: library says %u\n", why);
            failures++;
        }
        json_t *ea = json_array();
        for (int i = 0; i <= CAIRN_BLOCK_MAX_ENTRIES; i++)
            json_array_append_new(ea, json_string("00"));
        json_t *v = json_pack("{s:s, s:o, s:o}", "name", "4097 entries", "header_hex",
                              hex(b.raw, 96), "entries_hex", ea);
        json_object_update_new(v, context(dev->name, a, 3, now));
        json_object_set_new(v, "reason", json_integer(CAIRN_BLOCK_BAD_COUNT));
        json_object_set_new(v, "reason_name", json_string("BAD_COUNT"));
        json_array_append_new(invalid, v);
    }
}

/* The context-free rules, genesis and height. */
static void invalid_block_vectors(const cairn_network *dev, const blk *a)
{
    const uint64_t now = a[11].h.time_ms + 60000;
    blk b;
    cairn_bytes_ref e = data_entry("an invalid block");
    /* Most vectors: a child of a[2] (height 3) with otherwise valid fields. */
    const blk *p = &a[2];
    child(&b, p, &e, 1);
    seal(&b);
    add_invalid("header of 95 bytes", dev, &b, 95, a, 3, now, CAIRN_BLOCK_BAD_SIZE);

    static uint8_t big[CAIRN_ENTRY_MAX_LEN + 1];
    cairn_bytes_ref be = {big, sizeof(big)};
    child(&b, p, &be, 1);
    seal(&b);
    add_invalid("entry of 65537 bytes", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_SIZE);

    count_vector(dev, a, p, &e, now);

    child(&b, p, &e, 1);
    b.h.version = 2;
    seal(&b);
    add_invalid("version 2", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_VERSION);

    child(&b, p, &e, 1);
    b.h.bits = 8;
    seal(&b);
    add_invalid("bits 8 on devnet (PoW meets 8 bits)", dev, &b, 96, a, 3, now,
                CAIRN_BLOCK_BAD_BITS);

    child(&b, p, &e, 1);
    seal(&b);
    do {
        b.h.nonce++;
        reencode(&b);
    } while (cairn_pow_ok(b.id, dev->bits));
    add_invalid("ID with too few leading zero bits", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_POW);

    blk fake;
    genesis(&fake, dev);
    fake.h.time_ms += 1;
    seal(&fake);
    add_invalid("height 0, not the genesis block", dev, &fake, 96, NULL, 0, now,
                CAIRN_BLOCK_BAD_GENESIS);

    child(&b, p, &e, 1);
    b.h.height = 5;
    seal(&b);
    add_invalid("height parent + 2", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_HEIGHT);
}

/* The rules that need the ancestors' times, the clock, or the body. */
static void context_vectors(const cairn_network *dev, const blk *a, const blk *g)
{
    const uint64_t now = a[11].h.time_ms + 60000;
    blk b;
    cairn_bytes_ref e = data_entry("an invalid block");
    const blk *p;

    /* Time against the median of the last 11 blocks ending at the parent. */
    p = &a[11];
    uint64_t times[11];
    for (int i = 0; i < 11; i++)
        times[i] = a[11 - i].h.time_ms;
    uint64_t median = cairn_block_median_time(times, 11);
    child(&b, p, &e, 1);
    b.h.time_ms = median;
    seal(&b);
    add_invalid("time equal to the median of the last 11", dev, &b, 96, a, 12, now,
                CAIRN_BLOCK_TIME_TOO_OLD);
    child(&b, p, &e, 1);
    b.h.time_ms = median + 1; /* before its parent, after the median: valid */
    seal(&b);
    add_valid("time before the parent's, one ms after the median", dev, &b, a, 12, now);

    child(&b, &a[0], &e, 1);
    b.h.time_ms = g->h.time_ms;
    seal(&b);
    add_invalid("time equal to the median of one ancestor (genesis)", dev, &b, 96, a, 1, now,
                CAIRN_BLOCK_TIME_TOO_OLD);

    child(&b, p, &e, 1);
    b.h.time_ms = now + CAIRN_BLOCK_MAX_FUTURE_MS + 1;
    seal(&b);
    add_invalid("time 120001 ms past the clock", dev, &b, 96, a, 12, now, CAIRN_BLOCK_TIME_TOO_NEW);
    child(&b, p, &e, 1);
    b.h.time_ms = now + CAIRN_BLOCK_MAX_FUTURE_MS;
    seal(&b);
    add_valid("time exactly 120000 ms past the clock", dev, &b, a, 12, now);

    p = &a[2];
    child(&b, p, &e, 1);
    seal(&b);
    b.e[0] = data_entry("another body");
    add_invalid("entries that do not hash to entries_root", dev, &b, 96, a, 3, now,
                CAIRN_BLOCK_BAD_ROOT);

    cairn_bytes_ref bad_kind = data_entry("kind 2");
    ((uint8_t *)bad_kind.data)[0] = 0x02;
    child(&b, p, &bad_kind, 1);
    seal(&b);
    add_invalid("entry of unknown kind 0x02", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_ENTRY);

    cairn_bytes_ref two[2] = {e, {ebuf[0], 0}};
    child(&b, p, two, 2);
    seal(&b);
    add_invalid("empty entry", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_ENTRY);

    cairn_bytes_ref dots = manifest_entry(1000, 14, "..");
    child(&b, p, &dots, 1);
    seal(&b);
    add_invalid("manifest named \"..\"", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_ENTRY);

    cairn_bytes_ref small = manifest_entry(1000, 13, "x");
    child(&b, p, &small, 1);
    seal(&b);
    add_invalid("manifest with chunk_log2 13", dev, &b, 96, a, 3, now, CAIRN_BLOCK_BAD_ENTRY);

    cairn_bytes_ref dup[3] = {e, data_entry("between"), e};
    child(&b, p, dup, 3);
    seal(&b);
    add_invalid("the same entry twice", dev, &b, 96, a, 3, now, CAIRN_BLOCK_DUPLICATE_ENTRY);
}

/* Headers batches (Headers message): contiguous, first linked to a known block. */
static void header_batch_vectors(const cairn_network *dev, const blk *a)
{
    struct {
        const char *name;
        int idx[3];
        int n;
    } cases[] = {
        {"gap: heights 1 and 3", {0, 2, -1}, 2},
        {"first header's parent unknown", {1, 2, -1}, 2},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
        cairn_env env = *cairn_port_env();
        env.wall_ms = fake_wall;
        fixed_now = a[11].h.time_ms + 60000;
        cairn_chain_config cfg = {.net = dev, .env = &env};
        cairn_chain *c;
        cairn_chain_new(&c, &cfg);
        cairn_bytes_ref h[3];
        json_t *arr = json_array();
        for (int i = 0; i < cases[k].n; i++) {
            h[i] = (cairn_bytes_ref){a[cases[k].idx[i]].raw, 96};
            json_array_append_new(arr, hex(h[i].data, 96));
        }
        size_t n_new;
        uint32_t why = 0;
        cairn_chain_add_headers(c, h, (size_t)cases[k].n, &n_new, &why);
        cairn_chain_del(c);
        if (why != CAIRN_BLOCK_BAD_LINK) {
            fprintf(stderr, "%s: library says %u\n", cases[k].name, why);
            failures++;
        }
        json_array_append_new(invalid_headers,
                              json_pack("{s:s, s:s, s:o, s:i, s:s}", "name", cases[k].name,
                                        "network", dev->name, "headers_hex", arr, "reason",
                                        CAIRN_BLOCK_BAD_LINK, "reason_name", "BAD_LINK"));
    }
}

/*
 * [VAL-1] [SYNC-17] A second header at height 0 in one Headers response: pass
 * 1 checks contiguity before the genesis rule, so it is BAD_LINK when it does
 * not link to the header before it and BAD_GENESIS when it does.
 */
static void height0_batch_vectors(const cairn_network *dev, const blk *g)
{
    blk x[2];
    genesis(&x[0], dev); /* prev_id zero, like the genesis block */
    x[0].h.time_ms += 1;
    seal(&x[0]);
    genesis(&x[1], dev);
    x[1].h.time_ms += 2;
    memcpy(x[1].h.prev_id, g->id, CAIRN_HASH_LEN);
    seal(&x[1]);
    const char *names[2] = {"second header at height 0, not linked: BAD_LINK before BAD_GENESIS",
                            "second header at height 0, linked to genesis: BAD_GENESIS"};
    const uint32_t want[2] = {CAIRN_BLOCK_BAD_LINK, CAIRN_BLOCK_BAD_GENESIS};
    for (int k = 0; k < 2; k++) {
        cairn_env env = *cairn_port_env();
        env.wall_ms = fake_wall;
        fixed_now = g->h.time_ms + 60000;
        cairn_chain_config cfg = {.net = dev, .env = &env};
        cairn_chain *c;
        cairn_chain_new(&c, &cfg);
        cairn_bytes_ref h[2] = {{g->raw, 96}, {x[k].raw, 96}};
        size_t n_new;
        uint32_t why = 0;
        cairn_chain_add_headers(c, h, 2, &n_new, &why);
        cairn_chain_del(c);
        if (why != want[k]) {
            fprintf(stderr, "%s: library says %u\n", names[k], why);
            failures++;
        }
        json_array_append_new(invalid_headers,
                              json_pack("{s:s, s:s, s:[o, o], s:i, s:s}", "name", names[k],
                                        "network", dev->name, "headers_hex", hex(g->raw, 96),
                                        hex(x[k].raw, 96), "reason", (int)want[k], "reason_name",
                                        cairn_block_reason_name(want[k])));
    }
}

/*
 * [FORK-5] [FORK-10] Fork choice: blocks delivered in full, in the order
 * given (a block whose parent has not arrived waits for it); the active tip
 * after each arrival. Between equal work the tip received first stays.
 * Each case is a list of indexes into `fb` (fb[0..1] on genesis, ...).
 */
static json_t *fork_choice;

static void fork_choice_vectors(const cairn_network *dev, const blk *g)
{
    /* x1, y1: two blocks at height 1 (equal work); x2 on x1, y2 on y1; y3 on y2. */
    static blk fb[5];
    cairn_bytes_ref e[5];
    static const char *const text[5] = {"fork x1", "fork y1", "fork x2", "fork y2", "fork y3"};
    static const int parent[5] = {-1, -1, 0, 1, 3};
    for (int i = 0; i < 5; i++) {
        e[i] = data_entry(text[i]);
        child(&fb[i], parent[i] < 0 ? g : &fb[parent[i]], &e[i], 1);
        seal(&fb[i]);
    }
    int small1 = memcmp(fb[0].id, fb[1].id, 32) < 0 ? 0 : 1, large1 = 1 - small1;
    int small2 = memcmp(fb[2].id, fb[3].id, 32) < 0 ? 2 : 3, large2 = 5 - small2;
    struct {
        const char *name;
        int n, order[5];
    } cases[] = {
        {"equal work: the larger ID arrived first and stays", 2, {large1, small1}},
        {"equal work: the smaller ID arrived first and stays", 2, {small1, large1}},
        {"equal work at height 2 on two branches: the first stays", 4, {0, 1, large2, small2}},
        {"more work wins whatever the order", 3, {0, 1, 3}},
        {"more work wins: a reorganisation of depth 2", 5, {0, 2, 1, 3, 4}},
        {"a child before its parent: linked when the parent arrives, and then first",
         4,
         {0, 3, 2, 1}},
    };
    cairn_env env = *cairn_port_env();
    env.wall_ms = fake_wall;
    for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
        fixed_now = fb[4].h.time_ms + 60000;
        cairn_chain_config cfg = {.net = dev, .env = &env};
        cairn_chain *c;
        if (cairn_chain_new(&c, &cfg) != 0)
            abort();
        json_t *blocks = json_array(), *tips = json_array();
        for (int i = 0; i < cases[k].n; i++) {
            const blk *b = &fb[cases[k].order[i]];
            uint32_t why = 0;
            if (cairn_chain_add_block(c, b->raw, 96, b->e, b->n, NULL, &why) != 0) {
                fprintf(stderr, "%s: block refused (%u)\n", cases[k].name, why);
                failures++;
            }
            json_array_append_new(blocks, json_pack("{s:o, s:o}", "header_hex", hex(b->raw, 96),
                                                    "entries_hex", entries_json(b)));
            json_array_append_new(tips, hex(cairn_chain_tip(c)->id, 32));
        }
        cairn_chain_del(c);
        json_array_append_new(fork_choice,
                              json_pack("{s:s, s:s, s:o, s:o}", "name", cases[k].name, "network",
                                        dev->name, "arrivals", blocks, "tips_hex", tips));
    }
}

static json_t *blocks_json(void)
{
    const cairn_network *dev = cairn_network_devnet(), *test = cairn_network_testnet();
    valid = json_array();
    invalid = json_array();
    invalid_headers = json_array();
    blk g, tg, a[12], t1;
    genesis(&g, dev);
    genesis(&tg, test);
    const uint64_t now = g.h.time_ms + 100000;
    add_valid("devnet genesis", dev, &g, NULL, 0, now);
    add_valid("testnet genesis", test, &tg, NULL, 0, now);

    /* Devnet chain A: heights 1..12 with a variety of bodies. */
    cairn_bytes_ref bodies[12][3];
    size_t counts[12];
    char text[64];
    for (int i = 0; i < 12; i++) {
        snprintf(text, sizeof(text), "block %d", i + 1);
        bodies[i][0] = data_entry(text);
        counts[i] = 1;
    }
    counts[1] = 0; /* an empty block: root = SHA-256("") */
    bodies[2][1] = manifest_entry(5000000, 16, "cairn-spec.pdf");
    bodies[2][2] = data_entry("a third entry");
    counts[2] = 3;
    bodies[4][0] = manifest_entry(0, 14, "empty file");
    for (int i = 0; i < 12; i++) {
        child(&a[i], i ? &a[i - 1] : &g, bodies[i], counts[i]);
        seal(&a[i]);
    }
    static const char *const names[] = {
        "devnet height 1, one data entry",
        "devnet height 2, no entries",
        "devnet height 3, manifest + data",
        "devnet height 4",
        "devnet height 5, 0-byte file manifest",
        "devnet height 6",
        "devnet height 7",
        "devnet height 8",
        "devnet height 9",
        "devnet height 10",
        "devnet height 11",
        "devnet height 12",
    };
    for (int i = 0; i < 12; i++)
        add_valid(names[i], dev, &a[i], a, (size_t)i, a[11].h.time_ms + 60000);
    cairn_bytes_ref te = data_entry("testnet block 1");
    child(&t1, &tg, &te, 1);
    seal(&t1);
    add_valid("testnet height 1", test, &t1, NULL, 0, now);

    invalid_block_vectors(dev, a);
    context_vectors(dev, a, &g);
    header_batch_vectors(dev, a);
    height0_batch_vectors(dev, &g);
    fork_choice = json_array();
    fork_choice_vectors(dev, &g);

    json_t *nets = json_array();
    const cairn_network *all[] = {dev, test};
    for (int i = 0; i < 2; i++)
        json_array_append_new(nets,
                              json_pack("{s:s, s:i, s:I, s:I, s:o, s:o}", "name", all[i]->name,
                                        "bits", (int)all[i]->bits, "genesis_time_ms",
                                        (json_int_t)all[i]->genesis_time_ms, "genesis_nonce",
                                        (json_int_t)all[i]->genesis_nonce, "genesis_entry_hex",
                                        hex(all[i]->genesis_entry, all[i]->genesis_entry_len),
                                        "genesis_id_hex", hex(all[i]->genesis_id, 32)));
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "description",
        "Cairn v1 blocks (spec §9). header_hex: the 96-byte header (version u32 | height u64 | "
        "time_ms u64 | bits u32 | nonce u64 | prev_id | entries_root, big-endian); id_hex = "
        "SHA-256(header). entries_hex: the block's entries; entries_root is their RFC 6962 MTH. "
        "Context: ancestors_hex are the network's blocks from height 1 up to the parent (empty: "
        "the parent is genesis, or there is none), now_ms the validator's clock. valid: accepted "
        "in that context. invalid: rejected with `reason` (registry §15.4), the checks run in the "
        "spec's order (size, count, version, bits, PoW, genesis, link/height, time, entries, "
        "duplicates, root). invalid_headers: Headers batches rejected with `reason`; the "
        "validator knows only genesis. fork_choice: valid blocks delivered in full in the order "
        "of `arrivals` (a block whose parent has not arrived waits for it) to a node that knows "
        "only genesis; tips_hex[i] is the active tip after arrival i: the most work, and between "
        "equal work the tip received first (FORK-10). Not covered by a vector (too large for a "
        "file): entries totalling more than 2 MiB (BAD_SIZE).",
        "generator", "reference/tools/chain/gen_chain_vectors.c", "networks", nets, "valid", valid,
        "invalid", invalid, "invalid_headers", invalid_headers, "fork_choice", fork_choice);
}

/* ---- merkle.json ------------------------------------------------------------------------ */

/* Leaf i of the vector trees: the ASCII text "leaf <i>"; leaf 0 of one tree is empty. */
static size_t leaf_data(uint8_t *out, size_t i)
{
    return (size_t)snprintf((char *)out, 16, "leaf %zu", i);
}

static json_t *merkle_json(void)
{
    enum { MAXN = 17 };
    json_t *roots = json_array(), *proofs = json_array(), *bad = json_array();
    uint8_t d[MAXN + 1][16], l[MAXN + 1][32], r[32], path[64][32];
    size_t dl[MAXN + 1];
    for (size_t i = 0; i <= MAXN; i++) {
        dl[i] = leaf_data(d[i], i);
        cairn_merkle_leaf_hash(sha, l[i], d[i], dl[i]);
    }
    for (size_t n = 0; n <= MAXN; n++) {
        json_t *lv = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(lv, hex(d[i], dl[i]));
        cairn_merkle_root(sha, r, (const uint8_t(*)[32])l, n);
        char name[32];
        snprintf(name, sizeof(name), "%zu leaves", n);
        json_array_append_new(roots, json_pack("{s:s, s:o, s:o}", "name", name, "leaves_hex", lv,
                                               "root_hex", hex(r, 32)));
    }
    /* One empty leaf: root = SHA-256(0x00). */
    cairn_merkle_leaf_hash(sha, r, "", 0);
    json_array_append_new(roots, json_pack("{s:s, s:[s], s:o}", "name", "one empty leaf",
                                           "leaves_hex", "", "root_hex", hex(r, 32)));
    /* Inclusion proofs: every index of trees of 1..9 leaves, and some of 17. */
    for (size_t n = 1; n <= MAXN; n++) {
        if (n > 9 && n != MAXN)
            continue;
        cairn_merkle_root(sha, r, (const uint8_t(*)[32])l, n);
        for (size_t m = 0; m < n; m++) {
            if (n == MAXN && m % 4 != 0)
                continue;
            size_t len;
            cairn_merkle_proof(sha, (const uint8_t(*)[32])l, n, m, path, 64, &len);
            if (cairn_merkle_verify(sha, l[m], m, n, (const uint8_t(*)[32])path, len, r) != 0)
                failures++;
            json_t *p = json_array();
            for (size_t k = 0; k < len; k++)
                json_array_append_new(p, hex(path[k], 32));
            char name[48];
            snprintf(name, sizeof(name), "leaf %zu of %zu", m, n);
            json_t *v = json_pack("{s:s, s:i, s:i, s:o, s:o, s:o}", "name", name, "tree_size",
                                  (int)n, "index", (int)m, "leaf_hex", hex(d[m], dl[m]), "path_hex",
                                  p, "root_hex", hex(r, 32));
            json_array_append_new(proofs, v);
            if (n == 7 && len > 0) { /* proofs that must not verify */
                static const char *const why[] = {"wrong index", "path one short", "flipped bit"};
                for (int k = 0; k < 3; k++) {
                    json_t *b = json_deep_copy(v);
                    char bn[80];
                    snprintf(bn, sizeof(bn), "%s: %s", name, why[k]);
                    json_object_set_new(b, "name", json_string(bn));
                    if (k == 0)
                        json_object_set_new(b, "index", json_integer((int)((m + 1) % n)));
                    if (k == 1)
                        json_array_remove(json_object_get(b, "path_hex"), len - 1);
                    if (k == 2) {
                        path[0][31] ^= 1;
                        json_array_set_new(json_object_get(b, "path_hex"), 0, hex(path[0], 32));
                        path[0][31] ^= 1;
                    }
                    json_array_append_new(bad, b);
                }
            }
        }
    }
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o}", "description",
        "RFC 6962 Merkle Tree Hash (spec §9.3): leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || "
        "left || right), empty tree = SHA-256(\"\"), split at the largest power of two below n. "
        "leaves_hex: the leaf data d (not hashes). proofs: RFC 6962 audit paths, leaf upward, for "
        "leaf `index` of a tree of `tree_size` leaves; invalid_proofs must fail verification "
        "(RFC 9162 §2.1.3.2).",
        "generator", "reference/tools/chain/gen_chain_vectors.c", "roots", roots, "proofs", proofs,
        "invalid_proofs", bad);
}

static int write_json(const char *spec, const char *file, json_t *j)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/vectors/%s", spec, file);
    int rv = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (rv)
        fprintf(stderr, "cannot write %s\n", path);
    json_decref(j);
    return rv;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_chain_vectors SPEC_DIR\n");
        return 2;
    }
    if (cairn_sha256_ctx_new(&sha) != 0)
        return 1;
    int rv = write_json(argv[1], "blocks.json", blocks_json());
    rv |= write_json(argv[1], "merkle.json", merkle_json());
    cairn_sha256_ctx_del(sha);
    if (failures)
        fprintf(stderr, "%d vector(s) disagree with the library\n", failures);
    return rv || failures ? 1 : 0;
}
