/*
 * fuzz_block: the block header codec and the context-free block checks
 * (spec §9.1, §9.4, §9.5; reference/lib/codec/include/cairn/block.h).
 *
 * Input:
 *   bits_sel u8 | flags u8 | hdr_len_sel u8 | header (96 bytes, or the
 *   length hdr_len_sel picks) | parent_height u64 | link u8 | median u64 |
 *   now u64 | entries: (len u16 | bytes)*
 * bits_sel: 0 mod 4 = the network requires the header's own bits, 1 = 12
 * (devnet), 2 = 22 (testnet), 3 = bits_sel >> 2. flags: bit 0 set
 * entries_root to the entries' MTH, bit 1 mine a nonce when bits <= 10,
 * bits 3-7 all set repeat the entry list to 4096 (+1 with bit 2) entries (the
 * count limit, with a short input; only the size and count checks run then). An entry length of
 * 0xFFFF / 0xFFFE stands for a synthetic 65537 / 65536-byte data entry (the size limits).
 *
 * Oracles, each against a model written here from the spec: header
 * decode/encode round trip; block ID = SHA-256 of the 96 bytes (one-shot,
 * reused context and NULL context agree); leading zero bits and PoW for
 * every bits value; cairn_block_precheck's result and reason in the spec's
 * order (size, count, version, bits, PoW); entry syntax and entry IDs;
 * cairn_block_check_body's reason (entries, duplicates, root) and
 * root_matches; the entries root against a recursive RFC 6962 MTH; link,
 * height and time-window checks; the median; chain-work addition; reason
 * names.
 */
#include <string.h>

#include "common.h"
#include "cairn/block.h"
#include "cairn/merkle.h"

#define MAX_ENTRIES 5000

static uint8_t big[65537]; /* synthetic entries: a data record of zeros */

static unsigned model_zero_bits(const uint8_t id[32])
{
    unsigned n = 0;
    for (unsigned i = 0; i < 256; i++) {
        if (id[i / 8] & (0x80 >> (i % 8)))
            break;
        n++;
    }
    return n;
}

static uint32_t model_entry_reason(const uint8_t *e, size_t len)
{
    if (len > 65536)
        return CAIRN_BLOCK_BAD_SIZE;
    if (len == 0 || (e[0] != 0 && e[0] != 1))
        return CAIRN_BLOCK_BAD_ENTRY;
    if (e[0] == 1 && fuzz_manifest_violation(e, len))
        return CAIRN_BLOCK_BAD_ENTRY;
    return 0;
}

/* 256-bit big-endian w += 2^bits (wrapping), by bytes from the bottom. */
static void model_work_add(uint8_t w[32], uint32_t bits)
{
    if (bits >= 256)
        return;
    unsigned carry = 1u << (bits % 8);
    for (int i = 31 - (int)(bits / 8); i >= 0; i--) {
        unsigned v = w[i] + carry;
        w[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

static void check_codec(const uint8_t *raw, const cairn_block_header *h)
{
    uint8_t enc[96];
    FUZZ_CHECK(cairn_block_header_encode(enc, h) == enc + 96, "encode length");
    FUZZ_CHECK(memcmp(enc, raw, 96) == 0, "header does not re-encode to the same bytes");
    FUZZ_CHECK(h->version == cairn_get_u32(raw) && h->height == cairn_get_u64(raw + 4) &&
                   h->time_ms == cairn_get_u64(raw + 12) && h->bits == cairn_get_u32(raw + 20) &&
                   h->nonce == cairn_get_u64(raw + 24) && memcmp(h->prev_id, raw + 32, 32) == 0 &&
                   memcmp(h->entries_root, raw + 64, 32) == 0,
               "header fields are not the spec's layout");
}

static void check_pow(const uint8_t id[32], uint32_t hdr_bits)
{
    unsigned zb = model_zero_bits(id);
    FUZZ_CHECK(cairn_pow_zero_bits(id) == zb, "zero bits %u, model %u", cairn_pow_zero_bits(id),
               zb);
    const uint32_t probe[] = {0, 1, 7, 8, 9, zb, zb + 1, hdr_bits, 255, 256, 257, UINT32_MAX};
    for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
        FUZZ_CHECK(cairn_pow_ok(id, probe[i]) == (probe[i] <= zb), "pow_ok(%u) with %u zero bits",
                   probe[i], zb);
}

/* One input, decoded, and what the steps below work out from it. */
typedef struct block_case {
    uint8_t bits_sel, flags, link;
    size_t hdr_len;
    uint8_t raw[112];
    uint64_t parent_height, median, now;
    cairn_bytes_ref *entries;
    size_t n, total;
    int hashed, any_big;
    uint8_t (*leaves)[32];
    uint8_t mth[32];
    cairn_block_header hdr;
    uint8_t id[32];
    uint32_t net_bits;
    uint32_t want; /* the precheck model's reason */
    cairn_sha256_ctx *ctx;
} block_case;

static void read_case(block_case *c, const uint8_t *data, size_t size)
{
    fuzz_in in = {data, data + size};
    c->bits_sel = fuzz_u8(&in);
    c->flags = fuzz_u8(&in);
    uint8_t hdr_sel = fuzz_u8(&in);
    c->hdr_len = hdr_sel < 200 ? 96 : (size_t)(hdr_sel - 200) * 2; /* 0..110 */
    memset(c->raw, 0, sizeof(c->raw));
    size_t got;
    const uint8_t *hp = fuzz_bytes(&in, c->hdr_len, &got);
    memcpy(c->raw, hp, got);
    c->parent_height = fuzz_u64(&in);
    c->link = fuzz_u8(&in);
    c->median = fuzz_u64(&in);
    c->now = fuzz_u64(&in);

    static cairn_bytes_ref entries[MAX_ENTRIES];
    size_t n = 0;
    while (fuzz_left(&in) >= 2 && n < 128) {
        uint16_t l = fuzz_u16(&in);
        if (l >= 0xFFFE) {
            entries[n].data = big;
            entries[n++].len = l == 0xFFFF ? 65537 : 65536;
            continue;
        }
        entries[n].data = fuzz_bytes(&in, l, &entries[n].len);
        n++;
    }
    /* flags >> 3 == 31: repeat the list up to 4096 + (flags bit 2) entries,
     * at and over the count limit. */
    if ((c->flags >> 3) == 31 && n) {
        size_t want = 4096 + ((c->flags >> 2) & 1);
        for (size_t i = n; i < want; i++)
            entries[i] = entries[i % n];
        n = want;
    }
    c->entries = entries;
    c->n = n;
}

/* Header codec: 95 bytes are too few, 96 decode. */
static void check_header_decode(block_case *c)
{
    const uint8_t *p = c->raw;
    FUZZ_CHECK(cairn_block_header_decode(&p, c->raw + 95, &c->hdr) == CAIRN_ERR_AGAIN &&
                   p == c->raw,
               "95 bytes decoded");
    FUZZ_CHECK(cairn_block_header_decode(&p, c->raw + 96, &c->hdr) == 0 && p == c->raw + 96,
               "96 bytes did not decode");
}

/* Leaf hashes, entry IDs and entry checks, the MTH and the entries root. */
static void hash_entries(block_case *c)
{
    const cairn_bytes_ref *entries = c->entries;
    size_t n = c->n;
    c->leaves = calloc(n ? n : 1, 32);
    FUZZ_CHECK(c->leaves, "out of memory");
    c->total = 0;
    for (size_t i = 0; i < n; i++)
        c->total += entries[i].len;
    /* Hash the body only when its size is legal: an oversized one is
     * rejected by size alone, and hashing hundreds of MiB is no test. */
    c->hashed = c->total <= 2097152 && n <= 256;
    for (size_t i = 0; i < n && c->hashed; i++) {
        fuzz_hash2(c->leaves[i], 0x00, entries[i].data, entries[i].len, NULL, 0);
        if (i < 64) {
            uint8_t eid[32];
            FUZZ_CHECK(
                cairn_entry_id(i & 1 ? c->ctx : NULL, eid, entries[i].data, entries[i].len) == 0 &&
                    memcmp(eid, c->leaves[i], 32) == 0,
                "entry ID is not SHA-256(0x00 || entry)");
            uint32_t reason = 99;
            int rv = cairn_entry_check(entries[i].data, entries[i].len, &reason);
            uint32_t want = model_entry_reason(entries[i].data, entries[i].len);
            FUZZ_CHECK(reason == want && (rv == 0) == (want == 0) &&
                           (rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)),
                       "entry %zu: check %d reason %u, model %u", i, rv, reason, want);
        }
    }
    memset(c->mth, 0, sizeof(c->mth));
    if (c->hashed) {
        if (n <= 128)
            fuzz_mth((const uint8_t(*)[32])c->leaves, n, c->mth);
        else
            FUZZ_CHECK(cairn_merkle_root(c->ctx, c->mth, (const uint8_t(*)[32])c->leaves, n) == 0,
                       "root");
        uint8_t root[32];
        FUZZ_CHECK(cairn_block_entries_root(c->ctx, root, entries, n) == 0 &&
                       memcmp(root, c->mth, 32) == 0,
                   "entries root differs from RFC 6962 MTH (n=%zu)", n);
    }
}

/* The header made interesting on request (the real root, a real PoW), then its
 * codec, its ID three ways and its PoW. */
static void shape_header(block_case *c)
{
    uint8_t *raw = c->raw;
    const uint8_t *p;
    if (c->flags & 1)
        memcpy(raw + 64, c->mth, 32);
    p = raw;
    cairn_block_header_decode(&p, raw + 96, &c->hdr);
    if ((c->flags & 2) && c->hdr.bits <= 10) {
        uint8_t id[32];
        for (uint32_t k = 0; k < 4096; k++) {
            cairn_put_u64(raw + 24, c->hdr.nonce + k);
            FUZZ_CHECK(cairn_sha256(id, raw, 96) == 0, "sha256");
            if (model_zero_bits(id) >= c->hdr.bits)
                break;
        }
        p = raw;
        cairn_block_header_decode(&p, raw + 96, &c->hdr);
    }
    check_codec(raw, &c->hdr);

    uint8_t id2[32], id3[32];
    FUZZ_CHECK(cairn_sha256(c->id, raw, 96) == 0, "sha256");
    FUZZ_CHECK(cairn_block_id(c->ctx, id2, raw) == 0 && cairn_block_id(NULL, id3, raw) == 0 &&
                   memcmp(c->id, id2, 32) == 0 && memcmp(c->id, id3, 32) == 0,
               "block ID is not SHA-256 of the 96 bytes");
    check_pow(c->id, c->hdr.bits);
}

/* cairn_block_precheck in the spec's order, with entries and as a lone header. */
static void check_precheck(block_case *c)
{
    const cairn_block_header *hdr = &c->hdr;
    uint8_t bits_sel = c->bits_sel;
    c->net_bits = bits_sel % 4 == 0   ? hdr->bits
                  : bits_sel % 4 == 1 ? 12
                  : bits_sel % 4 == 2 ? 22
                                      : (uint32_t)(bits_sel >> 2);
    c->any_big = 0;
    for (size_t i = 0; i < c->n; i++)
        c->any_big |= c->entries[i].len > 65536;
    uint32_t want = 0;
    if (c->hdr_len != 96 || c->any_big || c->total > 2097152)
        want = CAIRN_BLOCK_BAD_SIZE;
    else if (c->n > 4096)
        want = CAIRN_BLOCK_BAD_COUNT;
    else if (hdr->version != 1)
        want = CAIRN_BLOCK_BAD_VERSION;
    else if (hdr->bits != c->net_bits)
        want = CAIRN_BLOCK_BAD_BITS;
    else if (model_zero_bits(c->id) < hdr->bits)
        want = CAIRN_BLOCK_BAD_POW;
    c->want = want;
    cairn_block_header ph;
    uint8_t pid[32];
    uint32_t reason = 99;
    int rv = cairn_block_precheck((c->flags & 4) ? NULL : c->ctx, c->raw, c->hdr_len, c->entries,
                                  c->n, c->net_bits, &ph, pid, &reason);
    FUZZ_CHECK(reason == want && (rv == 0) == (want == 0) &&
                   (rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK)),
               "precheck %d reason %u, model %u", rv, reason, want);
    if (c->hdr_len == 96)
        FUZZ_CHECK(ph.version == hdr->version && ph.height == hdr->height &&
                       ph.time_ms == hdr->time_ms && ph.bits == hdr->bits &&
                       ph.nonce == hdr->nonce && memcmp(ph.prev_id, hdr->prev_id, 32) == 0 &&
                       memcmp(ph.entries_root, hdr->entries_root, 32) == 0 &&
                       memcmp(pid, c->id, 32) == 0,
                   "precheck header or ID differ");
    /* The lone-header form. */
    rv = cairn_block_precheck(c->ctx, c->raw, c->hdr_len, NULL, 0, c->net_bits, &ph, pid, &reason);
    uint32_t want_lone = c->hdr_len != 96 ? CAIRN_BLOCK_BAD_SIZE
                         : want == CAIRN_BLOCK_BAD_SIZE || want == CAIRN_BLOCK_BAD_COUNT
                             ? (hdr->version != 1                    ? CAIRN_BLOCK_BAD_VERSION
                                : hdr->bits != c->net_bits           ? CAIRN_BLOCK_BAD_BITS
                                : model_zero_bits(c->id) < hdr->bits ? CAIRN_BLOCK_BAD_POW
                                                                     : 0)
                             : want;
    FUZZ_CHECK(reason == want_lone, "lone-header precheck reason %u, model %u", reason, want_lone);
}

/* Body checks: entries, duplicates, root. Sizes must have passed. */
static void check_body(block_case *c)
{
    if (!c->hashed || c->any_big)
        return;
    const cairn_bytes_ref *entries = c->entries;
    size_t n = c->n;
    uint32_t body_want = 0, reason = 99;
    for (size_t i = 0; i < n && !body_want; i++)
        if (model_entry_reason(entries[i].data, entries[i].len))
            body_want = CAIRN_BLOCK_BAD_ENTRY;
    for (size_t i = 0; i < n && !body_want && n <= 512; i++)
        for (size_t j = i + 1; j < n && !body_want; j++)
            if (entries[i].len == entries[j].len &&
                memcmp(entries[i].data, entries[j].data, entries[i].len) == 0)
                body_want = CAIRN_BLOCK_DUPLICATE_ENTRY;
    int match = memcmp(c->mth, c->hdr.entries_root, 32) == 0;
    int root_matches = -1;
    fuzz_env e;
    fuzz_env_init(&e, 1);
    int rv = cairn_block_check_body(c->ctx, &e.mem, entries, n, c->hdr.entries_root, &reason,
                                    &root_matches);
    if (n <= 512) {
        if (!body_want && !match)
            body_want = CAIRN_BLOCK_BAD_ROOT;
        FUZZ_CHECK(reason == body_want && (rv == 0) == (body_want == 0),
                   "check_body %d reason %u, model %u", rv, reason, body_want);
    }
    FUZZ_CHECK(root_matches == match, "root_matches %d, model %d", root_matches, match);
    FUZZ_CHECK(e.live == 0, "check_body leaked");
}

/* Link and height against a parent; the time window; the median. */
static void check_link_time(block_case *c)
{
    const cairn_block_header *hdr = &c->hdr;
    uint8_t link = c->link;
    uint64_t median = c->median, now = c->now;
    uint32_t reason = 99;
    cairn_block_header parent = *hdr;
    parent.height = c->parent_height;
    uint8_t parent_id[32];
    memcpy(parent_id, hdr->prev_id, 32);
    if (link & 1)
        parent_id[link >> 3 & 31] ^= (uint8_t)(1u << (link & 7));
    uint32_t lwant = memcmp(hdr->prev_id, parent_id, 32) != 0 ? CAIRN_BLOCK_BAD_LINK
                     : c->parent_height == UINT64_MAX || hdr->height != c->parent_height + 1
                         ? CAIRN_BLOCK_BAD_HEIGHT
                         : 0;
    int rv = cairn_block_check_link(hdr, &parent, parent_id, &reason);
    FUZZ_CHECK(reason == lwant && (rv == 0) == (lwant == 0), "link reason %u, model %u", reason,
               lwant);
    if (link & 2)
        median = hdr->time_ms - (link >> 4); /* near the edge */
    if (link & 4)
        now = hdr->time_ms - 120000 + (link >> 4) - 8;
    unsigned __int128 limit = (unsigned __int128)now + 120000;
    uint32_t twant = hdr->time_ms <= median                    ? CAIRN_BLOCK_TIME_TOO_OLD
                     : (unsigned __int128)hdr->time_ms > limit ? CAIRN_BLOCK_TIME_TOO_NEW
                                                               : 0;
    rv = cairn_block_check_time(hdr, median, now, &reason);
    FUZZ_CHECK(reason == twant && (rv == 0) == (twant == 0), "time reason %u, model %u", reason,
               twant);
    uint64_t times[11];
    size_t nt = (link >> 4) % 12;
    for (size_t i = 0; i < nt; i++)
        times[i] =
            i < c->n && c->entries[i].len >= 8 ? cairn_get_u64(c->entries[i].data) : i * median;
    uint64_t sorted[11];
    memcpy(sorted, times, sizeof(sorted));
    for (size_t i = 0; i < nt; i++)
        for (size_t j = i + 1; j < nt; j++)
            if (sorted[j] < sorted[i]) {
                uint64_t t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    if (nt)
        FUZZ_CHECK(cairn_block_median_time(times, nt) == sorted[nt / 2], "median of %zu", nt);
}

/* Chain work against a big-integer model, and the reason registry. */
static void check_work_and_reasons(const block_case *c)
{
    const uint8_t *raw = c->raw;
    uint32_t bits = c->hdr.bits;
    cairn_work w, w0;
    memcpy(w.be, raw + 64, 32);
    w0 = w;
    uint8_t mw[32];
    memcpy(mw, raw + 64, 32);
    cairn_work_add_block(&w, bits % 300);
    model_work_add(mw, bits % 300);
    FUZZ_CHECK(memcmp(w.be, mw, 32) == 0, "work add differs from the model");
    int cmp = cairn_work_cmp(&w0, &w);
    FUZZ_CHECK(bits % 300 >= 256 ? cmp == 0 : (cmp < 0 || memcmp(mw, raw + 64, 32) < 0),
               "work did not grow (or wrap)");
    FUZZ_CHECK(cairn_work_cmp(&w, &w) == 0, "cmp not reflexive");

    for (uint32_t r = 0; r <= CAIRN_BLOCK_REASON_MAX + 1; r++) {
        const char *nm = cairn_block_reason_name(r);
        FUZZ_CHECK((nm != NULL) == (r >= 1 && r <= 13), "reason %u name", r);
        if (nm)
            FUZZ_CHECK(cairn_block_reason_from_name(nm) == r, "reason %s round trip", nm);
        FUZZ_CHECK(cairn_block_reason_is_permanent(r) == (r != 0 && r != 7), "permanent %u", r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static block_case bc;
    block_case *c = &bc;
    read_case(c, data, size);
    FUZZ_CHECK(cairn_sha256_ctx_new(&c->ctx) == 0, "sha256 context");
    check_header_decode(c);
    hash_entries(c);
    shape_header(c);
    check_precheck(c);
    check_body(c);
    check_link_time(c);
    check_work_and_reasons(c);
    free(c->leaves);
    cairn_sha256_ctx_del(c->ctx);
    return 0;
}
