/*
 * Headers-first sync, parallel body download, announcements, entry relay and
 * mining (spec §10). Validation, fork choice and storage are the chain's;
 * this file decides whom to ask for what, and when.
 */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "node.h"

/* Bodies looked at per scheduling round (the download window ahead of the tip). */
#define FETCH_AHEAD         256
#define MINE_TRIES_PER_STEP 20000

static int ready_with(peer *p, uint64_t service)
{
    return p->ready && p->conn && (p->info.services & service) &&
           cairn_session_state(peer_session(p)) == CAIRN_SS_READY;
}

static void close_invalid(peer *p, int rv, uint32_t reason, const char *what)
{
    char why[96];
    uint32_t code = cairn_err_wire_code(rv);
    if (code == CAIRN_E_INVALID_BLOCK) {
        snprintf(why, sizeof(why), "%s: %s", what, cairn_block_reason_name(reason));
        if (!cairn_block_reason_is_permanent(reason))
            p->no_discourage = 1; /* [VAL-20] TIME_TOO_NEW is not misbehaviour */
        cairn_session_close_detail(peer_session(p), code, reason, why);
    } else if (code) {
        snprintf(why, sizeof(why), "%s: %s", what, cairn_strerror(rv));
        cairn_session_close(peer_session(p), code, why);
    } else {
        LOGE("peer %s: %s: %s", p->addr, what, cairn_strerror(rv));
        cairn_session_close(peer_session(p), CAIRN_E_INTERNAL_ERROR, "local failure");
    }
}

void sync_start_headers(peer *p)
{
    node *n = p->n;
    if (!ready_with(p, CAIRN_SERVICE_CHAIN) || p->headers_rid)
        return;
    const cairn_chain_block *best = cairn_chain_best_header(n->chain);
    /* [SYNC-21] only from peers that claim more work than we know of */
    if (memcmp(p->info.total_work, best->work.be, 32) <= 0)
        return;
    uint8_t loc[CAIRN_LOCATOR_MAX][CAIRN_HASH_LEN];
    size_t k = cairn_chain_locator(n->chain, best, loc, CAIRN_LOCATOR_MAX);
    ProtobufCBinaryData lv[CAIRN_LOCATOR_MAX];
    for (size_t i = 0; i < k; i++)
        lv[i] = (ProtobufCBinaryData){CAIRN_HASH_LEN, loc[i]};
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.n_locator = k;
    gh.locator = lv;
    if (cairn_session_request(peer_session(p), &gh.base, &p->headers_rid) == 0)
        LOGD("peer %s: GetHeaders from height %llu", p->addr, (unsigned long long)best->hdr.height);
}

/* Whether some peer already waits for this body. */
static int requested(node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    for (peer *p = n->peers; p; p = p->next)
        for (unsigned i = 0; i < p->n_bodies; i++)
            if (memcmp(p->bodies[i].id, id, CAIRN_HASH_LEN) == 0)
                return 1;
    return 0;
}

/* [SYNC] bodies from several peers, each with a window of 16 in flight */
static void fetch_bodies(node *n)
{
    const cairn_chain_block *missing[FETCH_AHEAD];
    /* Bodies are missing from the fork point of the active chain and the
     * best header on: a better branch can fork below our tip. */
    const cairn_chain_block *tip = cairn_chain_tip(n->chain),
                            *best = cairn_chain_best_header(n->chain);
    uint64_t h = tip->hdr.height < best->hdr.height ? tip->hdr.height : best->hdr.height;
    const cairn_chain_block *a = cairn_chain_block_ancestor(tip, h);
    const cairn_chain_block *b = cairn_chain_block_ancestor(best, h);
    while (a && b && a != b) {
        a = a->parent;
        b = b->parent;
    }
    uint64_t from = a ? a->hdr.height + 1 : 1;
    size_t count = cairn_chain_missing_bodies(n->chain, from, missing, FETCH_AHEAD);
    peer *next = n->peers;
    for (size_t i = 0; i < count; i++) {
        if (requested(n, missing[i]->id))
            continue;
        /* round robin over peers with room that have the block's height */
        peer *chosen = NULL;
        for (int tries = 0; tries < 2 && !chosen; tries++) {
            for (peer *p = next; p; p = p->next)
                if (ready_with(p, CAIRN_SERVICE_CHAIN) && p->n_bodies < NODE_BODY_WINDOW &&
                    p->info.tip_height >= missing[i]->hdr.height) {
                    chosen = p;
                    break;
                }
            next = n->peers;
        }
        if (!chosen)
            return; /* every window is full */
        next = chosen->next;
        Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
        gb.block_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, (uint8_t *)missing[i]->id};
        body_req *r = &chosen->bodies[chosen->n_bodies];
        if (cairn_session_request(peer_session(chosen), &gb.base, &r->rid) != 0)
            continue;
        memcpy(r->id, missing[i]->id, CAIRN_HASH_LEN);
        r->sent_ms = node_now(n);
        chosen->n_bodies++;
    }
}

static body_req *find_body(peer *p, uint64_t rid)
{
    for (unsigned i = 0; i < p->n_bodies; i++)
        if (p->bodies[i].rid == rid)
            return &p->bodies[i];
    return NULL;
}

static void drop_body(peer *p, body_req *r)
{
    *r = p->bodies[--p->n_bodies];
}

void sync_on_headers(peer *p, const Cairn__V1__Headers *h)
{
    node *n = p->n;
    if (h->request_id == p->headers_rid)
        p->headers_rid = 0;
    if (!h->n_headers)
        return;
    cairn_bytes_ref *refs = malloc(h->n_headers * sizeof(*refs));
    if (!refs)
        return;
    for (size_t i = 0; i < h->n_headers; i++)
        refs[i] = (cairn_bytes_ref){h->headers[i].data, h->headers[i].len};
    size_t n_new = 0;
    uint32_t reason = 0;
    node_sync_before_headers(n, h->n_headers); /* [VAL-125] */
    int rv = cairn_chain_add_headers_limited(n->chain, refs, h->n_headers, &p->low_work_budget,
                                             &n_new, &reason);
    node_sync_after_headers(n);
    free(refs);
    if (rv) {
        close_invalid(p, rv, reason, "Headers");
        return;
    }
    /* what the peer has: at least the last header it sent */
    const cairn_chain_block *last = cairn_chain_best_header(n->chain);
    if (last->hdr.height > p->info.tip_height && n_new)
        p->info.tip_height = last->hdr.height;
    LOGD("peer %s: %zu headers, %zu new", p->addr, h->n_headers, n_new);
    if (h->n_headers == CAIRN_HEADERS_MAX) /* [SYNC] a full batch: there is more */
        sync_start_headers(p);
    fetch_bodies(n);
}

/* [VAL-18] IDs of headers that failed a context-free check: the chain never
 * records them, so their descendants are recognised here. */
static void remember_failed(node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    memcpy(n->failed[n->n_failed++ % NODE_FAILED_IDS], id, CAIRN_HASH_LEN);
}

static int known_failed(const node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    size_t k = n->n_failed < NODE_FAILED_IDS ? n->n_failed : NODE_FAILED_IDS;
    for (size_t i = 0; i < k; i++)
        if (memcmp(n->failed[i], id, CAIRN_HASH_LEN) == 0)
            return 1;
    return 0;
}

/*
 * [VAL-1] The checks of §9.5 that need no parent (steps 1-6), then the
 * descent from a header that failed (VAL-18). Returns 0, or closes the
 * session with INVALID_BLOCK and returns -1.
 */
static int precheck_header(peer *p, const uint8_t *raw, size_t len, cairn_block_header *hdr,
                           uint8_t id[CAIRN_HASH_LEN], const char *what)
{
    node *n = p->n;
    uint32_t reason = 0;
    int rv = cairn_block_precheck(n->sha, raw, len, NULL, 0, n->cfg.net->bits, hdr, id, &reason);
    if (rv == 0 && hdr->height == 0 && memcmp(id, n->cfg.net->genesis_id, CAIRN_HASH_LEN) != 0) {
        rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK); /* [VAL-8] */
        reason = CAIRN_BLOCK_BAD_GENESIS;
    }
    if (rv == 0 && known_failed(n, hdr->prev_id)) {
        rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK); /* [VAL-18] */
        reason = CAIRN_BLOCK_BAD_LINK;
    }
    if (rv == 0)
        return 0;
    if (cairn_err_wire_code(rv) == CAIRN_E_INVALID_BLOCK && cairn_block_reason_is_permanent(reason))
        remember_failed(n, id);
    close_invalid(p, rv, reason, what);
    return -1;
}

void sync_on_block(peer *p, const Cairn__V1__Block *b)
{
    node *n = p->n;
    body_req *r = find_body(p, b->request_id);
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_id(n->sha, id, b->header.data);
    if (r && memcmp(r->id, id, CAIRN_HASH_LEN) != 0) { /* [SYNC-28] not the block asked for */
        cairn_session_close(peer_session(p), CAIRN_E_INVALID_FIELD,
                            "Block is not the one requested");
        return;
    }
    if (r)
        drop_body(p, r);
    p->stall_ms = NODE_STALL_MIN_MS; /* [SYNC] a delivery resets the stall timeout */
    if (!cairn_chain_find(n->chain, id)) {
        cairn_block_header hdr;
        uint8_t id2[CAIRN_HASH_LEN];
        if (precheck_header(p, b->header.data, b->header.len, &hdr, id2, "Block"))
            return;
    }
    cairn_bytes_ref stack_refs[64], *refs = stack_refs;
    if (b->n_entries > 64 && !(refs = malloc(b->n_entries * sizeof(*refs))))
        return;
    for (size_t i = 0; i < b->n_entries; i++)
        refs[i] = (cairn_bytes_ref){b->entries[i].data, b->entries[i].len};
    cairn_chain_result res;
    uint32_t reason = 0;
    size_t bytes = b->header.len;
    for (size_t i = 0; i < b->n_entries; i++)
        bytes += b->entries[i].len;
    node_sync_before_block(n); /* [VAL-125] far behind: into a bounded batch */
    int rv = cairn_chain_add_block(n->chain, b->header.data, b->header.len, refs, b->n_entries,
                                   &res, &reason);
    if (refs != stack_refs)
        free(refs);
    node_sync_after_block(n, bytes);
    if (rv) {
        close_invalid(p, rv, reason, "Block");
        return;
    }
    if (res.status == CAIRN_CHAIN_ORPHAN) /* [FORK-4] ask for what connects it */
        sync_start_headers(p);
    fetch_bodies(n);
}

void sync_on_not_found(peer *p, uint64_t rid)
{
    if (rid == p->headers_rid) {
        p->headers_rid = 0;
        return;
    }
    body_req *r = find_body(p, rid);
    if (!r)
        return;
    /* it does not have that block: do not ask it for that height again */
    const cairn_chain_block *b = cairn_chain_find(p->n->chain, r->id);
    if (b && b->hdr.height > 0 && p->info.tip_height >= b->hdr.height)
        p->info.tip_height = b->hdr.height - 1;
    drop_body(p, r);
    fetch_bodies(p->n);
}

void sync_on_announce(peer *p, const Cairn__V1__Announce *a)
{
    node *n = p->n;
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_header hdr;
    if (precheck_header(p, a->header.data, a->header.len, &hdr, id, "Announce"))
        return;
    if (hdr.height > p->info.tip_height)
        p->info.tip_height = hdr.height;
    if (cairn_chain_find(n->chain, id))
        return;
    if (!cairn_chain_find(n->chain, hdr.prev_id)) {
        /* [SYNC] unknown parent: headers first. Its work is at least ours + 1 block. */
        memset(p->info.total_work, 0xFF, 32);
        sync_start_headers(p);
        return;
    }
    cairn_bytes_ref ref = {a->header.data, a->header.len};
    size_t n_new;
    uint32_t reason;
    int rv =
        cairn_chain_add_headers_limited(n->chain, &ref, 1, &p->low_work_budget, &n_new, &reason);
    if (rv) {
        if (cairn_err_wire_code(rv) == CAIRN_E_INVALID_BLOCK &&
            cairn_block_reason_is_permanent(reason))
            remember_failed(n, id);
        close_invalid(p, rv, reason, "Announce");
        return;
    }
    fetch_bodies(n);
}

void sync_peer_gone(peer *p)
{
    p->n_bodies = 0; /* its requests go back to the pool: fetch_bodies skips nothing of it */
}

void sync_tick(node *n)
{
    uint64_t now = node_now(n);
    for (peer *p = n->peers; p; p = p->next) {
        /* [SYNC] stalled bodies: give them to someone else, double the timeout */
        for (unsigned i = 0; i < p->n_bodies;) {
            if (now - p->bodies[i].sent_ms >= p->stall_ms) {
                LOGD("peer %s: body stalled after %u ms", p->addr, p->stall_ms);
                drop_body(p, &p->bodies[i]);
                p->stall_ms =
                    p->stall_ms * 2 > NODE_STALL_MAX_MS ? NODE_STALL_MAX_MS : p->stall_ms * 2;
                continue;
            }
            i++;
        }
        sync_start_headers(p);
    }
    fetch_bodies(n);
}

void sync_announce(node *n, const cairn_chain_block *tip, peer *except)
{
    if (node_flush(n)) /* [VAL-126] */
        return;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_block_header_encode(raw, &tip->hdr);
    Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
    a.header = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, raw};
    for (peer *p = n->peers; p; p = p->next) {
        if (p == except || !p->ready || !p->conn)
            continue;
        cairn_session *s = peer_session(p);
        if (cairn_session_state(s) != CAIRN_SS_READY)
            continue;
        if (cairn_session_notify(s, &a.base) == 0)
            peer_update_events(p);
    }
}

void relay_entries(node *n, const cairn_bytes_ref *entries, size_t count, peer *except)
{
    ProtobufCBinaryData v[CAIRN_MAX_RELAY_ENTRIES];
    for (size_t off = 0; off < count; off += CAIRN_MAX_RELAY_ENTRIES) {
        size_t k = count - off < CAIRN_MAX_RELAY_ENTRIES ? count - off : CAIRN_MAX_RELAY_ENTRIES;
        for (size_t i = 0; i < k; i++)
            v[i] = (ProtobufCBinaryData){entries[off + i].len, (uint8_t *)entries[off + i].data};
        Cairn__V1__Entries e = CAIRN__V1__ENTRIES__INIT;
        e.n_entries = k;
        e.entries = v;
        for (peer *p = n->peers; p; p = p->next) /* [REL-9] only to RELAY peers */
            if (p != except && ready_with(p, CAIRN_SERVICE_RELAY) &&
                cairn_session_notify(peer_session(p), &e.base) == 0)
                peer_update_events(p);
    }
}

/* Entries of the blocks between `from` (inclusive) and `to` (exclusive ancestor). */
struct entry_walk {
    node *n;
    int add; /* 1: back into the pool (disconnected), 0: out of it (connected) */
};

static int walk_entry(void *ud, const uint8_t *entry, size_t len)
{
    struct entry_walk *w = ud;
    if (w->add) {
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason;
        cairn_mempool_add(w->n->pool, entry, len, id, &reason);
    } else {
        cairn_bytes_ref r = {entry, len};
        cairn_mempool_remove(w->n->pool, &r, 1);
    }
    return 0;
}

void sync_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                 const cairn_chain_block *fork)
{
    /* [FORK-9] entries of blocks that left the active chain go back to the
     * pool; entries of blocks that joined it leave the pool. */
    struct entry_walk w = {n, 1};
    for (const cairn_chain_block *b = old_tip; b && b != fork; b = b->parent)
        cairn_store_get_block(n->store, b->id, NULL, walk_entry, &w);
    w.add = 0; /* an empty pool (initial sync) has nothing to lose: no store read */
    for (const cairn_chain_block *b = new_tip; b && b != fork && cairn_mempool_count(n->pool) > 0;
         b = b->parent)
        cairn_store_get_block(n->store, b->id, NULL, walk_entry, &w);
    n->mine_nonce = 0;
    if (cairn_store_in_batch(n->store))
        n->announce_pending = 1; /* [VAL-126] announced once the batch is durable */
    else
        sync_announce(n, new_tip, NULL);
}

void mine_step(node *n)
{
    uint64_t now = node_now(n);
    if (now < n->next_mine_ms)
        return;
    cairn_bytes_ref refs[CAIRN_BLOCK_MAX_ENTRIES];
    size_t count = 0;
    cairn_block_header hdr;
    int rv = cairn_miner_template(n->chain, n->pool, node_wall(n), &hdr, refs,
                                  CAIRN_BLOCK_MAX_ENTRIES, &count);
    if (rv) {
        LOGE("miner: %s", cairn_strerror(rv));
        return;
    }
    hdr.nonce = n->mine_nonce;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    rv = cairn_miner_solve(n->sha, &hdr, MINE_TRIES_PER_STEP, raw, id);
    if (rv == CAIRN_ERR_AGAIN) {
        n->mine_nonce = hdr.nonce;
        return;
    }
    cairn_chain_result res;
    uint32_t reason = 0;
    rv = cairn_chain_add_block(n->chain, raw, sizeof(raw), refs, count, &res, &reason);
    n->mine_nonce = 0;
    if (rv) {
        LOGE("miner: our own block was refused: %s %s", cairn_strerror(rv),
             reason ? cairn_block_reason_name(reason) : "");
        n->next_mine_ms = now + 1000;
        return;
    }
    n->blocks_mined++;
    char hex[65];
    cairn_hex_encode(hex, id, 32);
    LOGI("mined block %llu %.16s with %zu entr%s", (unsigned long long)hdr.height, hex, count,
         count == 1 ? "y" : "ies");
    n->next_mine_ms = now + n->cfg.mine_interval_ms;
}
