/*
 * What one peer may make the node do: per-session rates for requests
 * [REQ-21] and entries [REL-22], [REL-23], the upload budget [REQ-21], and
 * the upkeep of the recent-entry index that keeps the pool and the miner
 * away from entries already mined [REL-24], [REL-25].
 */
#include "node_int.h"

void bucket_refill(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst)
{
    if (!b->started) { /* a new session starts with a full bucket */
        b->tokens = burst;
        b->last_ms = now;
        b->started = 1;
        return;
    }
    if (now <= b->last_ms)
        return;
    uint64_t dt = now - b->last_ms;
    int64_t add = dt > 3600000 ? burst : (int64_t)dt * per_s / 1000;
    if (b->tokens + add >= burst) {
        b->tokens = burst;
        b->last_ms = now;
    } else if (add > 0) {
        /* Slow buckets (under 1,000 tokens a second) are credited only the
         * time their whole tokens stand for, so that one refilled more often
         * than a token's time (GetHeaders: 50 ms) still fills; fast ones
         * lose less than a token per refill. */
        b->tokens += add;
        b->last_ms = per_s < 1000 ? b->last_ms + (uint64_t)add * 1000 / (uint64_t)per_s : now;
    }
}

int bucket_take(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst, int64_t cost)
{
    bucket_refill(b, now, per_s, burst);
    if (b->tokens < cost)
        return 0;
    b->tokens -= cost;
    return 1;
}

/* [REQ-21] The request rate of `type`; 1 when the request may be served. */
int limits_request_ok(peer *p, uint16_t type)
{
    uint64_t now = node_now(p->n);
    /* the upload budget may be overdrawn by the last response; it must be
     * back above zero before anything else is served */
    const cairn_node_config *c = &p->n->cfg;
    bucket_refill(&p->rl_upload, now, (int64_t)c->upload_per_s, (int64_t)c->upload_burst);
    if (type != CAIRN_T_SUBMIT_ENTRY && type != CAIRN_T_GET_PEERS && p->rl_upload.tokens <= 0)
        return 0;
    switch (type) {
    case CAIRN_T_GET_HEADERS:
        return bucket_take(&p->rl_headers, now, NODE_GETHEADERS_PER_S, NODE_GETHEADERS_BURST, 1);
    case CAIRN_T_GET_BLOCK:
    case CAIRN_T_GET_CHUNK:
    case CAIRN_T_GET_MANIFEST:
        return bucket_take(&p->rl_data, now, c->getdata_per_s, c->getdata_burst, 1);
    default:
        return 1;
    }
}

void limits_charge_upload(peer *p, size_t bytes)
{
    p->rl_upload.tokens -= (int64_t)bytes;
}

/* [REL-22] One new entry of `len` bytes from this peer; 1 when within its rate. */
int limits_entry_ok(peer *p, size_t len)
{
    uint64_t now = node_now(p->n);
    bucket_refill(&p->rl_entry_bytes, now, NODE_ENTRY_BYTES_PER_S, NODE_ENTRY_BYTES_BURST);
    bucket_refill(&p->rl_entry_count, now, NODE_ENTRY_COUNT_PER_S, NODE_ENTRY_COUNT_BURST);
    if (p->rl_entry_bytes.tokens < (int64_t)len || p->rl_entry_count.tokens < 1)
        return 0;
    p->rl_entry_bytes.tokens -= (int64_t)len;
    p->rl_entry_count.tokens--;
    return 1;
}

/* ---- the recent-entry index [REL-24], [REL-25] ------------------------------------ */

struct recent_walk {
    cairn_mempool *pool;
    int add;
};

static int recent_entry(void *ud, const uint8_t *entry, size_t len)
{
    struct recent_walk *w = ud;
    if (w->add)
        cairn_mempool_recent_add(w->pool, entry, len);
    else
        cairn_mempool_recent_remove(w->pool, entry, len);
    return 0;
}

static void recent_block(node *n, const cairn_chain_block *b, int add)
{
    struct recent_walk w = {n->pool, add};
    if (b && b->hdr.height > 0 &&
        n->store->get_block(n->store->ud, b->id, NULL, recent_entry, &w) < 0)
        LOGW(n, "store: entries of block %llu unreadable for the recent-entry index",
             (unsigned long long)b->hdr.height);
}

void limits_rebuild_recent(node *n)
{
    cairn_mempool_recent_clear(n->pool);
    const cairn_chain_block *b = cairn_chain_tip(n->chain);
    for (int i = 0; b && i < CAIRN_RECENT_ENTRY_WINDOW; i++, b = b->parent)
        recent_block(n, b, 1);
}

void limits_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork)
{
    if (!old_tip || fork != old_tip ||
        new_tip->hdr.height - old_tip->hdr.height >= CAIRN_RECENT_ENTRY_WINDOW) {
        limits_rebuild_recent(n); /* a reorganisation or a long jump: start over */
        return;
    }
    for (const cairn_chain_block *b = new_tip; b && b != fork; b = b->parent)
        recent_block(n, b, 1);
    /* blocks that left the window: heights old-W+1 .. new-W */
    for (uint64_t h = old_tip->hdr.height + 1; h <= new_tip->hdr.height; h++)
        if (h >= CAIRN_RECENT_ENTRY_WINDOW)
            recent_block(n, cairn_chain_at(n->chain, h - CAIRN_RECENT_ENTRY_WINDOW), 0);
}
