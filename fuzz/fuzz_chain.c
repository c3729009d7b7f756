/*
 * fuzz_chain: the chain state machine (spec §9.5-§9.8, §10.1-§10.4;
 * reference/lib/chain/include/cairn/chain.h): block validation in
 * context, orphans, remembered failures, headers-first records, fork choice
 * and reorgs, locators and GetHeaders answers, the mempool and the miner.
 *
 * The network is a test network with 2-bit proof-of-work (mining costs ~4
 * hashes), so the harness can build valid blocks; the input chooses how
 * each block is built and broken. Input: operations until the end.
 *   0 build    parent u8, flags u8, dt u16, salt u8: a block on built block
 *              `parent` (0 = genesis). flags: 1 version 2, 2 bits 3, 4 bad
 *              PoW, 8 height + 1, 16 wrong root, 32 bad or duplicate entry,
 *              64 time = the parent's median, 128 build only (submit later).
 *              dt: ms after the parent; 0xFFFF = far in the future.
 *   1 submit   which u8: submit a built block (again)
 *   2 headers  which u8, count u8: headers-first, the `count` headers ending
 *              at a built block
 *   3 clock    s u16: the wall clock advances
 *   4 queries  which u8: locator, GetHeaders answer, missing bodies
 *   5 mine     count u8, then per entry len u8 + bytes: mempool, template,
 *              solve, submit
 *
 * Oracles: every add_block result (status, error and reason) equals a model
 * of the order of §9.5 (size, count, version, bits, PoW, genesis, orphan,
 * failed parent, link/height, time, entries, duplicates, root), including
 * orphans released when their parent arrives and blocks remembered as
 * failed; after every operation the tip is the linked, non-failed block of
 * most work (ties: the one linked in full first) [FORK-10], the active chain is its
 * ancestry, and every model record is in the index with the right flags;
 * locators are 1..64 IDs from the tip down to genesis, dense then
 * exponentially spaced; GetHeaders answers continue the active chain after
 * the first known locator entry; missing bodies are data-less records in
 * height order; a template mined on the tip is accepted and becomes it.
 */
#include <string.h>

#include "common.h"
#include "fuzz_network.h"
#include "cairn/chain.h"
#include "cairn/merkle.h"

#define NET_BITS  2
#define MAX_BUILT 48
#define MAX_E     6

typedef struct built {
    uint8_t raw[96], id[32];
    cairn_block_header hdr;
    cairn_bytes_ref e[MAX_E];
    size_t n;
    uint8_t store[MAX_E][48];
    int parent;     /* index into built[], 0 = genesis */
    int root_ok;    /* entries_root is the MTH of the entries */
    int pre_reason; /* context-free verdict (version, bits, PoW) */
    int body_reason;
    /* The model: what the chain knows of this block. */
    int rec, data, failed, pool;
    uint32_t fail_reason;
    uint64_t lseq; /* [FORK-10] when it and all its ancestors were first valid and stored */
} built;

static cairn_network net;
static uint8_t genesis_entry[] = "\0Cairn fuzz network: 2-bit proof of work";
static built blk[MAX_BUILT];
static uint64_t lclock;
static int n_blk;
static cairn_sha256_ctx *sha;

static void init_network(void)
{
    if (sha)
        return;
    FUZZ_CHECK(cairn_sha256_ctx_new(&sha) == 0, "sha256 context");
    fuzz_network_init(&net, "fuzznet", NET_BITS, genesis_entry, sizeof(genesis_entry) - 1);
}

/* ---- model ------------------------------------------------------------------------------ */

static int linked(int i)
{
    for (; i; i = blk[i].parent)
        if (!blk[i].data)
            return 0;
    return 1;
}

/* [FORK-10] Between equal work, the tip linked in full first stays: after every operation the
 * blocks that became linked (body stored, ancestry complete, none failed) get the same stamp. */
static void model_stamp(void)
{
    lclock++;
    for (int i = 1; i < n_blk; i++)
        if (!blk[i].lseq && blk[i].data && !blk[i].failed && linked(i))
            blk[i].lseq = lclock;
}

static int better(int a, int b)
{
    if (blk[a].hdr.height != blk[b].hdr.height) /* equal bits: work follows height */
        return blk[a].hdr.height > blk[b].hdr.height;
    return b != 0 && blk[a].lseq < blk[b].lseq;
}

static int model_tip(void)
{
    int t = 0;
    for (int i = 1; i < n_blk; i++)
        if (blk[i].data && !blk[i].failed && linked(i) && better(i, t))
            t = i;
    return t;
}

static uint64_t model_median(int p)
{
    uint64_t t[11];
    size_t n = 0;
    for (int i = p;; i = blk[i].parent) {
        t[n++] = blk[i].hdr.time_ms;
        if (i == 0 || n == 11)
            break;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (t[j] < t[i]) {
                uint64_t x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    return t[n / 2];
}

static int find_built(const uint8_t id[32])
{
    for (int i = 0; i < n_blk; i++)
        if (memcmp(blk[i].id, id, 32) == 0)
            return i;
    return -1;
}

static void mark_failed(int b, uint32_t reason)
{
    blk[b].failed = 1;
    blk[b].fail_reason = reason;
    /* Descendants among the records, failed or not: by the order of §9.5 the
     * link (a failed parent) is checked before their own body. */
    for (int i = 1; i < n_blk; i++)
        if (blk[i].rec && i != b)
            for (int a = blk[i].parent; a; a = blk[a].parent)
                if (a == b) {
                    blk[i].failed = 1;
                    blk[i].fail_reason = CAIRN_BLOCK_BAD_LINK;
                    break;
                }
}

typedef struct verdict {
    int rv;
    int status;
    uint32_t reason;
} verdict;

static void release(int parent, uint64_t now);

/* What cairn_chain_add_block must answer for block b, applied to the model. */
static verdict model_add(int b, uint64_t now)
{
    built *x = &blk[b];
    verdict v = {0, 0, 0};
    if (x->pre_reason) {
        v.rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
        v.reason = (uint32_t)x->pre_reason;
        return v;
    }
    int is_new = !x->rec;
    if (x->rec) {
        if (x->failed) {
            v.rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
            v.reason = x->fail_reason;
            return v;
        }
        if (x->data) {
            v.status = CAIRN_CHAIN_DUPLICATE;
            return v;
        }
    } else {
        if (x->hdr.height == 0) {
            v.rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
            v.reason = CAIRN_BLOCK_BAD_GENESIS;
            return v;
        }
        built *p = &blk[x->parent];
        if (x->parent != 0 && !p->rec) {
            v.status = CAIRN_CHAIN_ORPHAN;
            x->pool = 1;
            return v;
        }
        uint32_t r = 0;
        if (p->failed)
            r = CAIRN_BLOCK_BAD_LINK;
        else if (p->hdr.height == UINT64_MAX || x->hdr.height != p->hdr.height + 1)
            r = CAIRN_BLOCK_BAD_HEIGHT;
        else if (x->hdr.time_ms <= model_median(x->parent))
            r = CAIRN_BLOCK_TIME_TOO_OLD;
        else if ((unsigned __int128)x->hdr.time_ms > (unsigned __int128)now + 120000)
            r = CAIRN_BLOCK_TIME_TOO_NEW;
        if (r) {
            v.rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
            v.reason = r;
            return v; /* not remembered */
        }
    }
    if (x->body_reason) {
        v.rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
        v.reason = (uint32_t)x->body_reason;
        if (x->root_ok) { /* the header commits to the bad body: remembered */
            x->rec = 1;
            mark_failed(b, v.reason);
        }
        return v;
    }
    (void)is_new;
    x->rec = x->data = 1;
    x->pool = 0;
    v.status = CAIRN_CHAIN_ADDED;
    release(b, now);
    return v;
}

/* Orphans waiting on `parent` are validated in full, transitively. */
static void release(int parent, uint64_t now)
{
    for (int i = 1; i < n_blk; i++)
        if (blk[i].pool && blk[i].parent == parent) {
            blk[i].pool = 0;
            model_add(i, now); /* a failure drops it (or remembers it) */
        }
}

/* ---- building blocks ---------------------------------------------------------------------- */

static void seal(built *b, int pow_ok)
{
    for (uint64_t k = 0;; k++) {
        b->hdr.nonce = k;
        cairn_block_header_encode(b->raw, &b->hdr);
        FUZZ_CHECK(cairn_block_id(sha, b->id, b->raw) == 0, "id");
        if (cairn_pow_ok(b->id, NET_BITS) == pow_ok)
            return;
    }
}

static int build(fuzz_in *in)
{
    int parent = fuzz_u8(in) % n_blk;
    uint8_t flags = fuzz_u8(in);
    uint16_t dt = fuzz_u16(in);
    uint8_t salt = fuzz_u8(in);
    if (n_blk == MAX_BUILT)
        return -1;
    built *b = &blk[n_blk], *p = &blk[parent];
    memset(b, 0, sizeof(*b));
    b->parent = parent;
    b->hdr.version = flags & 1 ? 2 : 1;
    b->hdr.height = p->hdr.height + 1 + (flags & 8 ? 1 : 0);
    b->hdr.bits = flags & 2 ? NET_BITS + 1 : NET_BITS;
    memcpy(b->hdr.prev_id, p->id, 32);
    uint64_t median = model_median(parent);
    b->hdr.time_ms = flags & 64 ? median : dt == 0xFFFF ? UINT64_MAX - dt : p->hdr.time_ms + 1 + dt;
    b->n = 1 + salt % 4;
    for (size_t i = 0; i < b->n; i++) {
        int len = snprintf((char *)b->store[i] + 1, 40, "%d.%u.%zu", n_blk, salt, i);
        b->store[i][0] = 0x00;
        b->e[i].data = b->store[i];
        b->e[i].len = (size_t)len + 1;
    }
    if (flags & 32) {
        if (b->n > 1 && (salt & 0x80))
            b->e[1] = b->e[0]; /* duplicate entry */
        else
            b->store[0][0] = 7; /* unknown kind */
    }
    FUZZ_CHECK(cairn_block_entries_root(sha, b->hdr.entries_root, b->e, b->n) == 0, "root");
    b->root_ok = !(flags & 16);
    if (!b->root_ok)
        b->hdr.entries_root[salt % 32] ^= 1;
    seal(b, !(flags & 4));
    /* The context-free and body verdicts, from the spec's rules. */
    if (b->hdr.version != 1)
        b->pre_reason = CAIRN_BLOCK_BAD_VERSION;
    else if (b->hdr.bits != NET_BITS)
        b->pre_reason = CAIRN_BLOCK_BAD_BITS;
    else if (!cairn_pow_ok(b->id, b->hdr.bits))
        b->pre_reason = CAIRN_BLOCK_BAD_POW;
    if (flags & 32)
        b->body_reason = b->store[0][0] == 7 ? CAIRN_BLOCK_BAD_ENTRY : CAIRN_BLOCK_DUPLICATE_ENTRY;
    else if (!b->root_ok)
        b->body_reason = CAIRN_BLOCK_BAD_ROOT;
    n_blk++;
    return flags & 128 ? -1 : n_blk - 1;
}

/* ---- checks ---------------------------------------------------------------------------- */

static void submit(cairn_chain *c, int i, const fuzz_env *e)
{
    cairn_chain_result res;
    uint32_t reason = 99;
    int rv = cairn_chain_add_block(c, blk[i].raw, 96, blk[i].e, blk[i].n, &res, &reason);
    verdict v = model_add(i, e->wall);
    model_stamp();
    FUZZ_CHECK(rv == v.rv && reason == v.reason && (rv != 0 || res.status == v.status),
               "block %d (height %llu): rv %d reason %u status %d, model rv %d reason %u status %d",
               i, (unsigned long long)blk[i].hdr.height, rv, reason, rv ? 0 : res.status, v.rv,
               v.reason, v.status);
}

static void check_index(cairn_chain *c)
{
    model_stamp();
    int t = model_tip();
    const cairn_chain_block *tip = cairn_chain_tip(c);
    /* Blocks linked by the same operation (a parent releasing several orphans) tie in the
     * model; the library's order among them is its own. */
    int k = find_built(tip->id);
    if (k > 0 && k != t && blk[k].lseq == blk[t].lseq && blk[k].hdr.height == blk[t].hdr.height &&
        blk[k].data && !blk[k].failed && linked(k))
        t = k;
    FUZZ_CHECK(memcmp(tip->id, blk[t].id, 32) == 0,
               "tip at height %llu, model tip %d at height %llu",
               (unsigned long long)tip->hdr.height, t, (unsigned long long)blk[t].hdr.height);
    /* The active chain is the tip's ancestry. */
    const cairn_chain_block *a = tip;
    for (int i = t;; i = blk[i].parent) {
        const cairn_chain_block *at = cairn_chain_at(c, blk[i].hdr.height);
        FUZZ_CHECK(at && memcmp(at->id, blk[i].id, 32) == 0 && cairn_chain_is_active(c, at),
                   "active chain at %llu", (unsigned long long)blk[i].hdr.height);
        FUZZ_CHECK(a && memcmp(a->id, blk[i].id, 32) == 0, "tip ancestry differs");
        a = a->parent;
        if (i == 0)
            break;
    }
    FUZZ_CHECK(cairn_chain_at(c, tip->hdr.height + 1) == NULL, "a block above the tip");
    for (int i = 1; i < n_blk; i++) {
        const cairn_chain_block *r = cairn_chain_find(c, blk[i].id);
        FUZZ_CHECK(!!r == !!blk[i].rec, "block %d: in the index %d, model %d", i, !!r, blk[i].rec);
        if (!r)
            continue;
        FUZZ_CHECK(!!(r->flags & CAIRN_CHAIN_HAVE_DATA) == !!blk[i].data &&
                       !!(r->flags & CAIRN_CHAIN_FAILED) == !!blk[i].failed,
                   "block %d flags 0x%x, model data %d failed %d", i, r->flags, blk[i].data,
                   blk[i].failed);
        if (blk[i].failed)
            FUZZ_CHECK(r->fail_reason == blk[i].fail_reason, "block %d fail reason %u, model %u", i,
                       r->fail_reason, blk[i].fail_reason);
        FUZZ_CHECK(!!(r->flags & CAIRN_CHAIN_LINKED) == (blk[i].data && linked(i)),
                   "block %d linked flag", i);
    }
    const cairn_chain_block *best = cairn_chain_best_header(c);
    FUZZ_CHECK(best && !(best->flags & CAIRN_CHAIN_FAILED) &&
                   cairn_work_cmp(&best->work, &tip->work) >= 0,
               "best header has less work than the tip, or failed");
}

static void queries(cairn_chain *c, uint8_t which)
{
    const cairn_chain_block *tip = cairn_chain_tip(c);
    /* §10.1 the locator */
    uint8_t loc[64][32];
    const cairn_chain_block *from = which & 1 ? NULL : tip->parent ? tip->parent : tip;
    size_t n = cairn_chain_locator(c, from, loc, 64);
    const cairn_chain_block *start = from ? from : tip;
    FUZZ_CHECK(n >= 1 && n <= 64, "locator of %zu", n);
    FUZZ_CHECK(memcmp(loc[0], start->id, 32) == 0, "locator does not start at its block");
    FUZZ_CHECK(memcmp(loc[n - 1], net.genesis_id, 32) == 0, "locator does not end at genesis");
    uint64_t prev_h = 0, step = 1;
    for (size_t i = 0; i < n; i++) {
        const cairn_chain_block *b = cairn_chain_find(c, loc[i]);
        FUZZ_CHECK(b, "locator entry %zu unknown", i);
        FUZZ_CHECK(cairn_chain_block_ancestor(start, b->hdr.height) == b,
                   "locator entry %zu not an ancestor", i);
        if (i) {
            FUZZ_CHECK(b->hdr.height < prev_h, "locator not descending");
            uint64_t gap = prev_h - b->hdr.height;
            if (i < 10)
                FUZZ_CHECK(gap == 1, "the first 10 locator entries are not dense");
            else if (i < n - 1)
                FUZZ_CHECK(gap >= step, "locator steps shrink");
            if (i >= 10)
                step = gap;
        }
        prev_h = b->hdr.height;
    }
    /* §10.1 GetHeaders from a block on the active chain */
    const cairn_chain_block *known = cairn_chain_at(c, (which >> 1) % (tip->hdr.height + 1));
    uint32_t max = (which >> 4) & 1 ? 3 : 0;
    static uint8_t out[64][96];
    size_t cnt = 99;
    uint8_t one[1][32];
    memcpy(one[0], known->id, 32);
    FUZZ_CHECK(cairn_chain_get_headers(c, (const uint8_t(*)[32])one, 1, NULL, max, out, 64, &cnt) ==
                   0,
               "get_headers failed");
    uint64_t expect = tip->hdr.height - known->hdr.height;
    if (max && expect > max)
        expect = max;
    if (expect > 64)
        expect = 64;
    FUZZ_CHECK(cnt == expect, "get_headers returned %zu, expected %llu", cnt,
               (unsigned long long)expect);
    for (size_t i = 0; i < cnt; i++) {
        const cairn_chain_block *b = cairn_chain_at(c, known->hdr.height + 1 + i);
        uint8_t raw[96];
        cairn_block_header_encode(raw, &b->hdr);
        FUZZ_CHECK(memcmp(raw, out[i], 96) == 0, "get_headers header %zu is not the active chain's",
                   i);
    }
    /* §10.1 missing bodies on the best-header chain */
    const cairn_chain_block *miss[16];
    size_t m = cairn_chain_missing_bodies(c, which % 4, miss, 16);
    for (size_t i = 0; i < m; i++) {
        FUZZ_CHECK(!(miss[i]->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)),
                   "missing body %zu has data or failed", i);
        FUZZ_CHECK(i == 0 || miss[i]->hdr.height > miss[i - 1]->hdr.height,
                   "missing bodies not in height order");
    }
}

static void headers(cairn_chain *c, fuzz_in *in, uint64_t now)
{
    int end = fuzz_u8(in) % n_blk;
    size_t count = 1 + fuzz_u8(in) % 8;
    int run[8];
    size_t k = 0;
    for (int i = end; i && k < count; i = blk[i].parent)
        run[k++] = i;
    if (!k)
        return;
    cairn_bytes_ref h[8];
    for (size_t i = 0; i < k; i++) { /* oldest first */
        h[i].data = blk[run[k - 1 - i]].raw;
        h[i].len = 96;
    }
    size_t n_new = 99;
    uint32_t reason = 99;
    int rv = cairn_chain_add_headers(c, h, k, &n_new, &reason);
    FUZZ_CHECK(rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK), "add_headers %d", rv);
    FUZZ_CHECK((rv == 0) == (reason == 0), "add_headers %d with reason %u", rv, reason);
    /* Sync the model's records from the index (header rules are checked by
     * fuzz_block and the add_block model), then release orphans as the
     * chain does for each new record. */
    size_t added = 0;
    for (size_t i = 0; i < k; i++) {
        built *b = &blk[run[k - 1 - i]];
        if (!b->rec && cairn_chain_find(c, b->id)) {
            FUZZ_CHECK(!b->pre_reason, "a header that fails precheck was stored");
            b->rec = 1;
            added++;
        }
    }
    FUZZ_CHECK(added == n_new, "add_headers says %zu new, %zu appeared", n_new, added);
    for (size_t i = 0; i < k; i++)
        if (blk[run[k - 1 - i]].rec)
            release(run[k - 1 - i], now);
}

/* [REL-24] [REL-25] The recent-entry index as a multiset, against a model: the
 * mined block's entries enter twice and leave one at a time; an entry in it is
 * neither pending nor added to the pool again until it has left. */
static void check_recent(cairn_mempool *pool, const built *b)
{
    uint8_t ids[MAX_E][32];
    size_t distinct = 0;
    for (size_t i = 0; i < b->n; i++) {
        fuzz_hash2(ids[i], 0x00, b->e[i].data, b->e[i].len, NULL, 0);
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= memcmp(ids[i], ids[j], 32) == 0;
        distinct += !seen;
    }
    size_t base = cairn_mempool_recent_count(pool);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < b->n; i++)
            FUZZ_CHECK(cairn_mempool_recent_add(pool, b->e[i].data, b->e[i].len) == 0,
                       "recent_add");
    FUZZ_CHECK(cairn_mempool_recent_count(pool) == base + distinct, "recent count %zu, model %zu",
               cairn_mempool_recent_count(pool), base + distinct);
    for (size_t i = 0; i < b->n; i++) {
        FUZZ_CHECK(cairn_mempool_recent_contains(pool, ids[i]), "a recent entry is not recent");
        uint8_t id[32];
        uint32_t reason = 99;
        size_t before = cairn_mempool_count(pool);
        FUZZ_CHECK(cairn_mempool_add(pool, b->e[i].data, b->e[i].len, id, &reason) == 0 &&
                       cairn_mempool_count(pool) == before && !cairn_mempool_contains(pool, id),
                   "an entry of a recent block went back into the pool [REL-25]");
    }
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < b->n; i++)
            FUZZ_CHECK(cairn_mempool_recent_remove(pool, b->e[i].data, b->e[i].len) == 0,
                       "recent_remove");
        for (size_t i = 0; i < b->n; i++)
            FUZZ_CHECK(cairn_mempool_recent_contains(pool, ids[i]) == (round == 0),
                       "after %d removals an entry of a block added twice is%s recent", round + 1,
                       round ? " still" : " no longer");
    }
    FUZZ_CHECK(cairn_mempool_recent_count(pool) == base, "recent count %zu after removal, was %zu",
               cairn_mempool_recent_count(pool), base);
}

static void mine(cairn_chain *c, fuzz_in *in, fuzz_env *e)
{
    cairn_mempool *pool;
    FUZZ_CHECK(cairn_mempool_new(&pool, &e->mem, 8, 4096) == 0, "mempool");
    size_t count = fuzz_u8(in) % 8;
    for (size_t i = 0; i < count; i++) {
        size_t len;
        const uint8_t *d = fuzz_bytes(in, fuzz_u8(in) % 41, &len);
        uint8_t id[32], leaf[32];
        uint32_t reason = 99;
        int rv = cairn_mempool_add(pool, d, len, id, &reason);
        int valid = len >= 1 && (d[0] == 0 || (d[0] == 1 && !fuzz_manifest_violation(d, len)));
        FUZZ_CHECK(valid ? (rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_BUSY))
                         : rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY),
                   "mempool_add %d for an entry valid=%d", rv, valid);
        if (rv == 0) {
            fuzz_hash2(leaf, 0x00, d, len, NULL, 0);
            FUZZ_CHECK(memcmp(id, leaf, 32) == 0 && cairn_mempool_contains(pool, id),
                       "mempool entry ID");
        }
    }
    if (n_blk < MAX_BUILT) {
        built *b = &blk[n_blk];
        memset(b, 0, sizeof(*b));
        cairn_bytes_ref ents[MAX_E];
        size_t n = 0;
        FUZZ_CHECK(cairn_miner_template(c, pool, e->wall, &b->hdr, ents, MAX_E, &n) == 0,
                   "template");
        FUZZ_CHECK(n <= MAX_E && n <= cairn_mempool_count(pool), "template entries");
        for (size_t i = 0; i < n; i++) {
            memcpy(b->store[i], ents[i].data, ents[i].len);
            b->e[i].data = b->store[i];
            b->e[i].len = ents[i].len;
        }
        b->n = n;
        FUZZ_CHECK(cairn_miner_solve(sha, &b->hdr, UINT64_MAX, b->raw, b->id) == 0, "solve");
        b->parent = find_built(cairn_chain_tip(c)->id);
        FUZZ_CHECK(b->parent >= 0, "tip is not a built block");
        b->root_ok = 1;
        n_blk++;
        int dup = 0;
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n; j++)
                dup |= b->e[i].len == b->e[j].len &&
                       memcmp(b->e[i].data, b->e[j].data, b->e[i].len) == 0;
        FUZZ_CHECK(!dup, "the mempool gave the same entry twice");
        submit(c, n_blk - 1, e);
        FUZZ_CHECK(memcmp(cairn_chain_tip(c)->id, b->id, 32) == 0,
                   "a block mined on the tip did not become the tip");
        /* [REL-15] the entries of a block that joined the chain leave the pool,
         * and only they. */
        size_t before = cairn_mempool_count(pool);
        FUZZ_CHECK(cairn_mempool_remove(pool, b->e, n) == 0, "mempool_remove");
        FUZZ_CHECK(cairn_mempool_count(pool) == before - n, "remove: %zu entries left of %zu - %zu",
                   cairn_mempool_count(pool), before, n);
        for (size_t i = 0; i < n; i++) {
            uint8_t id[32];
            fuzz_hash2(id, 0x00, b->e[i].data, b->e[i].len, NULL, 0);
            FUZZ_CHECK(!cairn_mempool_contains(pool, id), "a removed entry is still pending");
        }
        cairn_bytes_ref rest[8];
        size_t left = cairn_mempool_select(pool, rest, 8);
        FUZZ_CHECK(left == cairn_mempool_count(pool), "select gives %zu of %zu", left,
                   cairn_mempool_count(pool));
        FUZZ_CHECK(cairn_mempool_remove(pool, b->e, n) == 0 &&
                       cairn_mempool_count(pool) == before - n,
                   "removing twice changed the pool");
        check_recent(pool, b);
    }
    cairn_mempool_del(pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_network();
    fuzz_env e;
    fuzz_env_init(&e, 7);
    e.wall = net.genesis_time_ms + 86400000ull;
    cairn_chain_config cfg = {0};
    cfg.net = &net;
    cfg.env = &e.env;
    cairn_chain *c;
    FUZZ_CHECK(cairn_chain_new(&c, &cfg) == 0, "chain_new");
    /* built[0] is the genesis block, stored from the start. */
    memset(blk, 0, sizeof(blk));
    FUZZ_CHECK(cairn_network_genesis(&net, &blk[0].hdr, blk[0].raw) == 0, "genesis");
    memcpy(blk[0].id, net.genesis_id, 32);
    blk[0].e[0] = (cairn_bytes_ref){net.genesis_entry, net.genesis_entry_len};
    blk[0].n = 1;
    blk[0].rec = blk[0].data = blk[0].root_ok = 1;
    n_blk = 1;
    FUZZ_CHECK(memcmp(cairn_chain_genesis(c)->id, net.genesis_id, 32) == 0, "genesis record");

    fuzz_in in = {data, data + size};
    for (int ops = 0; fuzz_left(&in) && ops < 200; ops++) {
        switch (fuzz_u8(&in) % 6) {
        case 0: {
            int b = build(&in);
            if (b > 0)
                submit(c, b, &e);
            break;
        }
        case 1: {
            int b = fuzz_u8(&in) % n_blk;
            if (b > 0)
                submit(c, b, &e);
            else { /* the genesis block itself: already stored */
                cairn_chain_result res;
                uint32_t reason;
                FUZZ_CHECK(cairn_chain_add_block(c, blk[0].raw, 96, blk[0].e, 1, &res, &reason) ==
                                   0 &&
                               res.status == CAIRN_CHAIN_DUPLICATE,
                           "genesis again is not a duplicate");
            }
            break;
        }
        case 2:
            headers(c, &in, e.wall);
            break;
        case 3:
            e.wall += (uint64_t)fuzz_u16(&in) * 1000;
            break;
        case 4:
            queries(c, fuzz_u8(&in));
            break;
        default:
            mine(c, &in, &e);
        }
        check_index(c);
    }
    cairn_chain_del(c);
    FUZZ_CHECK(e.live == 0, "the chain leaked %ld allocations", e.live);
    return 0;
}
