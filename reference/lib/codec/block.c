/*
 * Block header codec, proof-of-work, entry syntax and the context-free block
 * checks (spec §9.1, §9.4, §9.5, §11.2).
 */
#include "cairn/block.h"

#include <stdlib.h>

#include "cairn/merkle.h"

#define INVALID_BLOCK CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK)
#define INVALID_ENTRY CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)

static const char *const reason_names[CAIRN_BLOCK_REASON_MAX + 1] = {
    [CAIRN_BLOCK_BAD_SIZE] = "BAD_SIZE",         [CAIRN_BLOCK_BAD_COUNT] = "BAD_COUNT",
    [CAIRN_BLOCK_BAD_VERSION] = "BAD_VERSION",   [CAIRN_BLOCK_BAD_LINK] = "BAD_LINK",
    [CAIRN_BLOCK_BAD_HEIGHT] = "BAD_HEIGHT",     [CAIRN_BLOCK_TIME_TOO_OLD] = "TIME_TOO_OLD",
    [CAIRN_BLOCK_TIME_TOO_NEW] = "TIME_TOO_NEW", [CAIRN_BLOCK_BAD_POW] = "BAD_POW",
    [CAIRN_BLOCK_BAD_BITS] = "BAD_BITS",         [CAIRN_BLOCK_BAD_ROOT] = "BAD_ROOT",
    [CAIRN_BLOCK_BAD_ENTRY] = "BAD_ENTRY",       [CAIRN_BLOCK_DUPLICATE_ENTRY] = "DUPLICATE_ENTRY",
    [CAIRN_BLOCK_BAD_GENESIS] = "BAD_GENESIS",
};

const char *cairn_block_reason_name(uint32_t reason)
{
    return reason <= CAIRN_BLOCK_REASON_MAX ? reason_names[reason] : NULL;
}

uint32_t cairn_block_reason_from_name(const char *name)
{
    for (uint32_t r = 1; r <= CAIRN_BLOCK_REASON_MAX; r++)
        if (strcmp(reason_names[r], name) == 0)
            return r;
    return 0;
}

int cairn_block_reason_is_permanent(uint32_t reason)
{
    return reason != CAIRN_BLOCK_OK && reason != CAIRN_BLOCK_TIME_TOO_NEW;
}

static int fail(uint32_t *reason, uint32_t r)
{
    *reason = r;
    return INVALID_BLOCK;
}

/* ---- Header ----------------------------------------------------------------- */

uint8_t *cairn_block_header_encode(uint8_t *p, const cairn_block_header *h)
{
    p = cairn_put_u32(p, h->version);
    p = cairn_put_u64(p, h->height);
    p = cairn_put_u64(p, h->time_ms);
    p = cairn_put_u32(p, h->bits);
    p = cairn_put_u64(p, h->nonce);
    memcpy(p, h->prev_id, CAIRN_HASH_LEN);
    memcpy(p + CAIRN_HASH_LEN, h->entries_root, CAIRN_HASH_LEN);
    return p + 2 * CAIRN_HASH_LEN;
}

int cairn_block_header_decode(const uint8_t **src, const uint8_t *end, cairn_block_header *out)
{
    const uint8_t *p = *src;
    if (end - p < CAIRN_BLOCK_HEADER_LEN)
        return CAIRN_ERR_AGAIN;
    out->version = cairn_get_u32(p);
    out->height = cairn_get_u64(p + 4);
    out->time_ms = cairn_get_u64(p + 12);
    out->bits = cairn_get_u32(p + 20);
    out->nonce = cairn_get_u64(p + 24);
    memcpy(out->prev_id, p + 32, CAIRN_HASH_LEN);
    memcpy(out->entries_root, p + 64, CAIRN_HASH_LEN);
    *src = p + CAIRN_BLOCK_HEADER_LEN;
    return 0;
}

int cairn_block_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN],
                   const uint8_t header[CAIRN_BLOCK_HEADER_LEN])
{
    if (!ctx)
        return cairn_sha256(id, header, CAIRN_BLOCK_HEADER_LEN);
    return cairn_sha256_ctx_digest(ctx, id, header, CAIRN_BLOCK_HEADER_LEN);
}

unsigned cairn_pow_zero_bits(const uint8_t id[CAIRN_HASH_LEN])
{
    unsigned n = 0;
    for (size_t i = 0; i < CAIRN_HASH_LEN; i++) {
        if (id[i] == 0) {
            n += 8;
            continue;
        }
        return n + (unsigned)__builtin_clz(id[i]) - 24;
    }
    return n;
}

int cairn_pow_ok(const uint8_t id[CAIRN_HASH_LEN], uint32_t bits)
{
    if (bits > 256)
        return 0;
    /* Whole zero bytes first, then the partial byte: no loop over all 32. */
    uint32_t whole = bits / 8, rest = bits % 8;
    for (uint32_t i = 0; i < whole; i++)
        if (id[i])
            return 0;
    return rest == 0 || (id[whole] >> (8 - rest)) == 0;
}

void cairn_work_add_block(cairn_work *w, uint32_t bits)
{
    if (bits >= 256)
        return;
    int i = 31 - (int)(bits / 8);
    unsigned carry = 1u << (bits % 8);
    for (; i >= 0 && carry; i--) {
        unsigned v = w->be[i] + carry;
        w->be[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

int cairn_work_cmp(const cairn_work *a, const cairn_work *b)
{
    return memcmp(a->be, b->be, sizeof(a->be));
}

/* ---- Entries ---------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), and
 * the [FILE-7] name rules: no '/', '\\', NUL, C0 controls or DEL. */
static int name_ok(const uint8_t *s, size_t n)
{
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F || c == '/' || c == '\\')
                return 0;
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int cairn_manifest_entry_parse(const uint8_t *m, size_t len, cairn_manifest_entry *out)
{
    if (len < CAIRN_MANIFEST_MIN_LEN || m[0] != CAIRN_ENTRY_MANIFEST)
        return INVALID_ENTRY;
    uint64_t size = cairn_get_u64(m + 1);
    uint8_t log2 = m[9];
    size_t name_len = m[42];
    if (len != CAIRN_MANIFEST_MIN_LEN + name_len || size > CAIRN_FILE_MAX_SIZE ||
        log2 < CAIRN_CHUNK_LOG2_MIN || log2 > CAIRN_CHUNK_LOG2_MAX ||
        !name_ok(m + CAIRN_MANIFEST_MIN_LEN, name_len))
        return INVALID_ENTRY;
    if (out) {
        out->size = size;
        out->chunk_log2 = log2;
        out->root = m + 10;
        out->name = m + CAIRN_MANIFEST_MIN_LEN;
        out->name_len = name_len;
    }
    return 0;
}

/* Content rules of one entry whose length is already known to be in range. */
static int entry_content_ok(const uint8_t *e, size_t len)
{
    if (len == 0)
        return 0;
    switch (e[0]) {
    case CAIRN_ENTRY_DATA:
        return 1;
    case CAIRN_ENTRY_MANIFEST:
        return cairn_manifest_entry_parse(e, len, NULL) == 0;
    default:
        return 0;
    }
}

int cairn_entry_check(const uint8_t *entry, size_t len, uint32_t *reason)
{
    *reason = CAIRN_BLOCK_OK;
    if (len > CAIRN_ENTRY_MAX_LEN)
        *reason = CAIRN_BLOCK_BAD_SIZE;
    else if (!entry_content_ok(entry, len))
        *reason = CAIRN_BLOCK_BAD_ENTRY;
    return *reason ? INVALID_ENTRY : 0;
}

int cairn_entry_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN], const uint8_t *entry,
                   size_t len)
{
    return cairn_merkle_leaf_hash(ctx, id, entry, len);
}

/* ---- Block checks ----------------------------------------------------------- */

int cairn_block_precheck(cairn_sha256_ctx *ctx, const uint8_t *header, size_t header_len,
                         const cairn_bytes_ref *entries, size_t n, uint32_t net_bits,
                         cairn_block_header *hdr, uint8_t id[CAIRN_HASH_LEN], uint32_t *reason)
{
    *reason = CAIRN_BLOCK_OK;
    if (header_len != CAIRN_BLOCK_HEADER_LEN)
        return fail(reason, CAIRN_BLOCK_BAD_SIZE);
    const uint8_t *p = header;
    cairn_block_header_decode(&p, header + header_len, hdr);
    int rv = cairn_block_id(ctx, id, header);
    if (rv != 0)
        return rv;
    /* §9.5 size: each entry and their sum, then count. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].len > CAIRN_ENTRY_MAX_LEN)
            return fail(reason, CAIRN_BLOCK_BAD_SIZE);
        total += entries[i].len;
        if (total > CAIRN_BLOCK_MAX_BODY_BYTES)
            return fail(reason, CAIRN_BLOCK_BAD_SIZE);
    }
    if (n > CAIRN_BLOCK_MAX_ENTRIES)
        return fail(reason, CAIRN_BLOCK_BAD_COUNT);
    if (hdr->version != CAIRN_BLOCK_VERSION)
        return fail(reason, CAIRN_BLOCK_BAD_VERSION);
    if (hdr->bits != net_bits)
        return fail(reason, CAIRN_BLOCK_BAD_BITS);
    if (!cairn_pow_ok(id, hdr->bits))
        return fail(reason, CAIRN_BLOCK_BAD_POW);
    return 0;
}

int cairn_block_check_link(const cairn_block_header *hdr, const cairn_block_header *parent,
                           const uint8_t parent_id[CAIRN_HASH_LEN], uint32_t *reason)
{
    *reason = CAIRN_BLOCK_OK;
    if (memcmp(hdr->prev_id, parent_id, CAIRN_HASH_LEN) != 0)
        return fail(reason, CAIRN_BLOCK_BAD_LINK);
    if (parent->height == UINT64_MAX || hdr->height != parent->height + 1)
        return fail(reason, CAIRN_BLOCK_BAD_HEIGHT);
    return 0;
}

int cairn_block_check_time(const cairn_block_header *hdr, uint64_t median_ms, uint64_t now_ms,
                           uint32_t *reason)
{
    *reason = CAIRN_BLOCK_OK;
    if (hdr->time_ms <= median_ms)
        return fail(reason, CAIRN_BLOCK_TIME_TOO_OLD);
    if (now_ms <= UINT64_MAX - CAIRN_BLOCK_MAX_FUTURE_MS &&
        hdr->time_ms > now_ms + CAIRN_BLOCK_MAX_FUTURE_MS)
        return fail(reason, CAIRN_BLOCK_TIME_TOO_NEW);
    return 0;
}

uint64_t cairn_block_median_time(const uint64_t *times, size_t n)
{
    uint64_t t[CAIRN_BLOCK_MEDIAN_SPAN];
    if (n == 0)
        return 0;
    if (n > CAIRN_BLOCK_MEDIAN_SPAN)
        n = CAIRN_BLOCK_MEDIAN_SPAN;
    memcpy(t, times, n * sizeof(*t));
    for (size_t i = 1; i < n; i++) /* insertion sort: n <= 11 */
        for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
            uint64_t x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[n / 2];
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_HASH_LEN);
}

int cairn_block_entries_root(cairn_sha256_ctx *ctx, uint8_t root[CAIRN_HASH_LEN],
                             const cairn_bytes_ref *entries, size_t n)
{
    cairn_merkle_builder b;
    uint8_t leaf[CAIRN_HASH_LEN];
    cairn_merkle_builder_init(&b, ctx);
    for (size_t i = 0; i < n; i++) {
        int rv = cairn_merkle_leaf_hash(ctx, leaf, entries[i].data, entries[i].len);
        if (rv != 0 || (rv = cairn_merkle_builder_add(&b, leaf)) != 0)
            return rv;
    }
    return cairn_merkle_builder_root(&b, root);
}

int cairn_block_check_body(cairn_sha256_ctx *ctx, const cairn_mem *mem,
                           const cairn_bytes_ref *entries, size_t n,
                           const uint8_t root[CAIRN_HASH_LEN], uint32_t *reason, int *root_matches)
{
    int rv = 0;
    uint8_t got[CAIRN_HASH_LEN];
    uint8_t(*leaves)[CAIRN_HASH_LEN] = NULL;
    *reason = CAIRN_BLOCK_OK;
    if (n) {
        /* Leaf hashes twice over: in order for the root, sorted for duplicates. */
        leaves = cairn_mem_calloc(mem, 2 * n, CAIRN_HASH_LEN);
        if (!leaves)
            return CAIRN_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!*reason && !entry_content_ok(entries[i].data, entries[i].len))
            *reason = CAIRN_BLOCK_BAD_ENTRY;
        if ((rv = cairn_merkle_leaf_hash(ctx, leaves[i], entries[i].data, entries[i].len)) != 0)
            goto out;
    }
    if (!*reason && n > 1) {
        memcpy(leaves[n], leaves[0], n * CAIRN_HASH_LEN);
        qsort(leaves[n], n, CAIRN_HASH_LEN, cmp_hash);
        for (size_t i = n + 1; i < 2 * n; i++)
            if (memcmp(leaves[i - 1], leaves[i], CAIRN_HASH_LEN) == 0) {
                *reason = CAIRN_BLOCK_DUPLICATE_ENTRY;
                break;
            }
    }
    if ((rv = cairn_merkle_root(ctx, got, (const uint8_t(*)[CAIRN_HASH_LEN])leaves, n)) != 0)
        goto out;
    int match = memcmp(got, root, CAIRN_HASH_LEN) == 0;
    if (root_matches)
        *root_matches = match;
    if (!*reason && !match)
        *reason = CAIRN_BLOCK_BAD_ROOT;
    rv = *reason ? INVALID_BLOCK : 0;
out:
    cairn_mem_free(mem, leaves);
    return rv;
}
