/*
 * The chain: validation of headers and blocks against the index (§9.5), fork
 * choice and atomic reorgs (§9.6), and loading from the store.
 *
 * Every change follows one pattern: validate, prepare everything that can
 * fail (records, table and active-chain capacity), write the change to the
 * store in one call, and only then update memory, which can no longer fail.
 * A failed store write leaves memory as it was.
 *
 * Validity here depends only on a block and its ancestors, never on which
 * chain is active, so a reorg re-validates nothing: it moves the tip.
 */
#include "chain_int.h"

#define INVALID_BLOCK CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK)

static int fail(uint32_t *reason, uint32_t r)
{
    *reason = r;
    return INVALID_BLOCK;
}

static int store_write(cairn_chain *c, const cairn_chain_write *w)
{
    return c->store ? c->store->write(c->store->ud, w) : 0;
}

uint64_t cairn_chain_median_time(const cairn_chain_block *b)
{
    uint64_t t[CAIRN_BLOCK_MEDIAN_SPAN];
    size_t n = 0;
    for (; b && n < CAIRN_BLOCK_MEDIAN_SPAN; b = b->parent)
        t[n++] = b->hdr.time_ms;
    return cairn_block_median_time(t, n);
}

/* §9.5 The rules that need the parent: link, height, time. */
static int check_context(cairn_chain *c, const cairn_block_header *hdr,
                         const cairn_chain_block *parent, uint32_t *reason)
{
    if (parent->flags & CAIRN_CHAIN_FAILED)
        return fail(reason, CAIRN_BLOCK_BAD_LINK); /* descends from an invalid block */
    int rv = cairn_block_check_link(hdr, &parent->hdr, parent->id, reason);
    if (rv != 0)
        return rv;
    uint64_t now = c->env->wall_ms(c->env->ud);
    return cairn_block_check_time(hdr, cairn_chain_median_time(parent), now, reason);
}

int cairn_chain_is_active(const cairn_chain *c, const cairn_chain_block *b)
{
    return b->hdr.height < c->active_len && c->active[b->hdr.height] == b;
}

/* Moves the active tip to `t` (capacity reserved, change already durable). */
static void switch_tip(cairn_chain *c, cairn_chain_block *t, cairn_chain_result *res)
{
    cairn_chain_block *old = c->tip, *fork = t;
    while (!cairn_chain_is_active(c, fork))
        fork = fork->parent;
    uint64_t depth = old->hdr.height - fork->hdr.height;
    for (cairn_chain_block *x = t; x != fork; x = x->parent)
        c->active[x->hdr.height] = x;
    c->active_len = (size_t)t->hdr.height + 1;
    c->tip = t;
    if (res) {
        res->tip_changed = 1;
        if (depth > res->reorg_depth)
            res->reorg_depth = depth;
    }
    if (c->cfg.on_tip)
        c->cfg.on_tip(c->cfg.ud, old, t, fork);
}

/*
 * Marks `b` invalid with `reason` and its descendants with BAD_LINK. A new
 * record joins the index only to remember the verdict; if there is no room
 * for it, it is simply not remembered.
 */
static void mark_failed(cairn_chain *c, cairn_chain_block *b, uint32_t reason, int is_new)
{
    if (is_new) {
        b->flags = CAIRN_CHAIN_FAILED;
        b->fail_reason = reason;
        if (chain_reserve(c, 1) == 0)
            chain_insert(c, b);
        return;
    }
    int rescan = 0;
    for (cairn_chain_block *x = b; x; x = chain_walk_next(b, x, 0, 0)) {
        x->flags |= CAIRN_CHAIN_FAILED;
        x->fail_reason = x == b ? reason : CAIRN_BLOCK_BAD_LINK;
        rescan |= x == c->best_header;
    }
    if (rescan)
        chain_rescan_best_header(c);
}

/*
 * Validates the body of record `b` (header already valid in context) and
 * stores it. If `b` becomes linked, it and its waiting descendants are tip
 * candidates; the best of them replaces the tip in the same store write.
 */
static int accept_body(cairn_chain *c, cairn_chain_block *b, int is_new,
                       const cairn_bytes_ref *entries, size_t n, cairn_chain_result *res,
                       uint32_t *reason)
{
    int match = 0;
    int rv =
        cairn_block_check_body(c->sha, c->mem, entries, n, b->hdr.entries_root, reason, &match);
    if (rv == INVALID_BLOCK && match) /* the header commits to this bad body */
        mark_failed(c, b, *reason, is_new);
    if (rv != 0)
        return rv;

    int linked = b->parent->flags & CAIRN_CHAIN_LINKED;
    cairn_chain_block *best = NULL;
    const uint32_t want = CAIRN_CHAIN_HAVE_DATA, skip = CAIRN_CHAIN_FAILED;
    if (linked)
        for (cairn_chain_block *x = b; x; x = chain_walk_next(b, x, want, skip)) {
            x->seq = ++c->next_seq; /* [FORK-10] received in full now */
            if (!best || chain_better(x, best))
                best = x;
        }
    cairn_chain_block *tip = best && chain_better(best, c->tip) ? best : NULL;
    if ((is_new && (rv = chain_reserve(c, 1)) != 0) ||
        (tip && (rv = chain_reserve_active(c, tip->hdr.height)) != 0))
        return rv;

    cairn_chain_write w = {.block = b, .entries = entries, .n_entries = n, .tip = tip};
    b->flags |= CAIRN_CHAIN_HAVE_DATA; /* as the store sees it */
    if ((rv = store_write(c, &w)) != 0) {
        b->flags &= ~(uint32_t)CAIRN_CHAIN_HAVE_DATA;
        return rv;
    }
    if (is_new)
        chain_insert(c, b);
    if (linked)
        for (cairn_chain_block *x = b; x; x = chain_walk_next(b, x, want, skip))
            x->flags |= CAIRN_CHAIN_LINKED;
    if (tip)
        switch_tip(c, tip, res);
    res->status = CAIRN_CHAIN_ADDED;
    res->block = b;
    return 0;
}

static int add_block_one(cairn_chain *c, const uint8_t *header, size_t header_len,
                         const cairn_bytes_ref *entries, size_t n, cairn_chain_result *res,
                         uint32_t *reason)
{
    cairn_block_header hdr;
    uint8_t id[CAIRN_HASH_LEN];
    memset(res, 0, sizeof(*res));
    /* [VAL-1] size, count, version, bits, PoW */
    int rv = cairn_block_precheck(c->sha, header, header_len, entries, n, c->net->bits, &hdr, id,
                                  reason);
    if (rv != 0)
        return rv;
    cairn_chain_block *b = chain_find(c, id);
    if (b) {
        if (b->flags & CAIRN_CHAIN_FAILED)
            return fail(reason, b->fail_reason);
        if (b->flags & CAIRN_CHAIN_HAVE_DATA) {
            res->status = CAIRN_CHAIN_DUPLICATE;
            res->block = b;
            return 0;
        }
        return accept_body(c, b, 0, entries, n, res, reason);
    }
    if (hdr.height == 0)
        return fail(reason, CAIRN_BLOCK_BAD_GENESIS); /* the real genesis is always known */
    cairn_chain_block *parent = chain_find(c, hdr.prev_id);
    if (!parent) {
        res->status = CAIRN_CHAIN_ORPHAN;
        return chain_orphan_add(c, id, header, entries, n);
    }
    if ((rv = check_context(c, &hdr, parent, reason)) != 0)
        return rv;
    chain_arena_mark mark = chain_arena_get_mark(c);
    if (!(b = chain_record_new(c, id, &hdr, parent)))
        return CAIRN_ERR_NOMEM;
    rv = accept_body(c, b, 1, entries, n, res, reason);
    if (rv != 0 && !(b->flags & CAIRN_CHAIN_FAILED && chain_find(c, id) == b))
        chain_records_abandon(c, mark, &b, 1); /* keep it only when remembered as failed */
    return rv;
}

/*
 * Lets in the orphans that wait on `id` and, transitively, on each orphan
 * accepted. Orphans that fail are dropped: their sender is long gone and the
 * caller's block was fine.
 */
static void release_orphans(cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN],
                            cairn_chain_result *res)
{
    if (c->n_orphans == 0)
        return;
    /* Each orphan is taken at most once, so the queue never outgrows this. */
    size_t cap = c->n_orphans + 1, head = 0, len = 0;
    uint8_t(*q)[CAIRN_HASH_LEN] = cairn_mem_malloc(c->mem, cap * CAIRN_HASH_LEN);
    if (!q)
        return; /* they stay in the pool */
    memcpy(q[len++], id, CAIRN_HASH_LEN);
    while (head < len) {
        chain_orphan *o;
        while ((o = chain_orphan_take(c, q[head])) != NULL) {
            cairn_chain_result r;
            uint32_t why;
            if (add_block_one(c, o->header, CAIRN_BLOCK_HEADER_LEN, o->entries, o->n, &r, &why) ==
                    0 &&
                r.status == CAIRN_CHAIN_ADDED) {
                if (res) {
                    res->orphans_accepted++;
                    res->tip_changed |= r.tip_changed;
                    if (r.reorg_depth > res->reorg_depth)
                        res->reorg_depth = r.reorg_depth;
                }
                if (len < cap)
                    memcpy(q[len++], o->id, CAIRN_HASH_LEN);
            }
            chain_orphan_free(c, o);
        }
        head++;
    }
    cairn_mem_free(c->mem, q);
}

int cairn_chain_add_block(cairn_chain *c, const uint8_t *header, size_t header_len,
                          const cairn_bytes_ref *entries, size_t n, cairn_chain_result *res,
                          uint32_t *reason)
{
    cairn_chain_result local;
    uint32_t why;
    if (!res)
        res = &local;
    if (!reason)
        reason = &why;
    *reason = CAIRN_BLOCK_OK;
    int rv = add_block_one(c, header, header_len, entries, n, res, reason);
    if (rv == 0 && res->status == CAIRN_CHAIN_ADDED) {
        release_orphans(c, res->block->id, res);
        chain_prune_low_work(c); /* [SYNC-44] a heavier tip: headers may be low-work now */
    }
    return rv;
}

/* §10.1 Context-free checks of the whole batch and its contiguity. */
static int precheck_headers(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                            cairn_block_header *hdrs, uint8_t (*ids)[CAIRN_HASH_LEN],
                            uint32_t *reason)
{
    for (size_t i = 0; i < n; i++) {
        int rv = cairn_block_precheck(c->sha, headers[i].data, headers[i].len, NULL, 0,
                                      c->net->bits, &hdrs[i], ids[i], reason);
        if (rv != 0)
            return rv;
        if (i > 0 && memcmp(hdrs[i].prev_id, ids[i - 1], CAIRN_HASH_LEN) != 0)
            return fail(reason, CAIRN_BLOCK_BAD_LINK);
        if (hdrs[i].height == 0 && memcmp(ids[i], c->net->genesis_id, CAIRN_HASH_LEN) != 0)
            return fail(reason, CAIRN_BLOCK_BAD_GENESIS);
    }
    return 0;
}

/*
 * Validates headers in order into new records `out`; stops at the first bad
 * one, and silently once `low_budget` records with no more work than the
 * active tip have been made (a caller's allowance; the node-wide bound is SYNC-44).
 */
static int link_headers(cairn_chain *c, size_t n, const cairn_block_header *hdrs,
                        const uint8_t (*ids)[CAIRN_HASH_LEN], size_t low_budget,
                        cairn_chain_block **out, size_t *n_out, size_t *n_low, uint32_t *reason)
{
    cairn_chain_block *prev = NULL;
    int rv = 0;
    *n_out = *n_low = 0;
    for (size_t i = 0; i < n; i++) {
        cairn_chain_block *b = *n_out ? NULL : chain_find(c, ids[i]);
        if (b) { /* already known: the batch continues from it */
            if (b->flags & CAIRN_CHAIN_FAILED)
                return fail(reason, b->fail_reason);
            prev = b;
            continue;
        }
        if (!prev && !(prev = chain_find(c, hdrs[i].prev_id)))
            return fail(reason, CAIRN_BLOCK_BAD_LINK); /* first does not link to a known block */
        if ((rv = check_context(c, &hdrs[i], prev, reason)) != 0)
            break;
        cairn_work w = prev->work;
        cairn_work_add_block(&w, hdrs[i].bits);
        if (cairn_work_cmp(&w, &c->tip->work) <= 0 && (*n_low)++ == low_budget) {
            (*n_low)--; /* past the allowance: this header and the rest are dropped */
            break;
        }
        if (!(b = chain_record_new(c, ids[i], &hdrs[i], prev)))
            return CAIRN_ERR_NOMEM;
        out[(*n_out)++] = b;
        prev = b;
    }
    return rv;
}

int cairn_chain_add_headers(cairn_chain *c, const cairn_bytes_ref *headers, size_t n, size_t *n_new,
                            uint32_t *reason)
{
    return cairn_chain_add_headers_limited(c, headers, n, NULL, n_new, reason);
}

static int add_headers(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                       size_t *low_work_budget, const cairn_chain_block **pin, size_t *n_new,
                       uint32_t *reason);

int cairn_chain_add_headers_limited(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                                    size_t *low_work_budget, size_t *n_new, uint32_t *reason)
{
    return add_headers(c, headers, n, low_work_budget, NULL, n_new, reason);
}

int cairn_chain_add_headers_pinned(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                                   const cairn_chain_block **pin, size_t *n_new, uint32_t *reason)
{
    *pin = NULL;
    return add_headers(c, headers, n, NULL, pin, n_new, reason);
}

static int add_headers(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                       size_t *low_work_budget, const cairn_chain_block **pin, size_t *n_new,
                       uint32_t *reason)
{
    int rv;
    size_t k = 0, low = 0;
    *n_new = 0;
    *reason = CAIRN_BLOCK_OK;
    if (n == 0)
        return 0;
    cairn_block_header *hdrs = cairn_mem_calloc(c->mem, n, sizeof(*hdrs));
    uint8_t(*ids)[CAIRN_HASH_LEN] = cairn_mem_calloc(c->mem, n, CAIRN_HASH_LEN);
    cairn_chain_block **recs = cairn_mem_calloc(c->mem, n, sizeof(*recs));
    chain_arena_mark mark = chain_arena_get_mark(c);
    if (!hdrs || !ids || !recs) {
        rv = CAIRN_ERR_NOMEM;
        goto out;
    }
    if ((rv = precheck_headers(c, headers, n, hdrs, ids, reason)) != 0)
        goto out;
    rv = link_headers(c, n, hdrs, (const uint8_t(*)[CAIRN_HASH_LEN])ids,
                      low_work_budget ? *low_work_budget : SIZE_MAX, recs, &k, &low, reason);
    if ((rv != 0 && rv != INVALID_BLOCK) || k == 0)
        goto out; /* a local failure stores nothing */
    int wrv = chain_reserve(c, k);
    cairn_chain_write w = {.headers = (const cairn_chain_block *const *)recs, .n_headers = k};
    if (wrv == 0)
        wrv = store_write(c, &w);
    if (wrv != 0) {
        rv = wrv;
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        chain_insert(c, recs[i]);
    *n_new = k;
    if (low_work_budget)
        *low_work_budget -= low;
    /* Orphans whose parent header just arrived can now be checked in full. */
    for (size_t i = 0; i < k; i++)
        release_orphans(c, recs[i]->id, NULL);
    if (pin) { /* the last header stored, kept from the pruning below */
        const cairn_chain_block *last = recs[k - 1];
        if (cairn_chain_pin(c, last) == 0)
            *pin = last;
    }
    chain_prune_low_work(c); /* [SYNC-44] */
out:
    if (recs && *n_new == 0)
        chain_records_abandon(c, mark, recs, k);
    cairn_mem_free(c->mem, recs);
    cairn_mem_free(c->mem, ids);
    cairn_mem_free(c->mem, hdrs);
    return rv;
}
