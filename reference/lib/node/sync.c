/*
 * Headers-first sync, parallel body download, announcements, entry relay and
 * mining (spec §10). Validation, fork choice and storage are the chain's;
 * this file decides whom to ask for what, and when.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cairn/fault.h"
#include "node_int.h"

/* Bodies looked at per scheduling round (the download window ahead of the tip). */
#define FETCH_AHEAD         256
#define MINE_TRIES_PER_STEP 20000

#define ready_with peer_ready_with

/* After a commit: what waited for the disk may go out now. */
static void committed(node *n, int rv)
{
    if (rv == 1 && n->announce_pending) {
        n->announce_pending = 0;
        sync_announce(n, cairn_chain_tip(n->chain), NULL);
    }
}

int node_flush(node *n)
{
    int rv = progress_commit(n);
    if (rv < 0)
        return rv;
    committed(n, rv);
    return 0;
}

/* [VAL-25] Whether a failure is one that defers rather than closes. */
static int too_new(int rv, uint32_t reason)
{
    return rv && cairn_err_wire_code(rv) == CAIRN_E_INVALID_BLOCK &&
           reason == CAIRN_BLOCK_TIME_TOO_NEW;
}

static void close_invalid(peer *p, int rv, uint32_t reason, const char *what)
{
    char why[96];
    uint32_t code = cairn_err_wire_code(rv);
    if (code == CAIRN_E_INVALID_BLOCK) {
        snprintf(why, sizeof(why), "%s: %s", what, cairn_block_reason_name(reason));
        if (!cairn_block_reason_is_permanent(reason))
            p->no_discourage = 1; /* [VAL-20] TIME_TOO_NEW is not misbehaviour */
        peer_close_detail(p, code, reason, why);
    } else if (code) {
        snprintf(why, sizeof(why), "%s: %s", what, cairn_strerror(rv));
        peer_close(p, code, why);
    } else {
        LOGE(p->n, "peer %s: %s: %s", p->addr, what, cairn_strerror(rv));
        peer_close(p, CAIRN_E_INTERNAL_ERROR, "local failure");
    }
}

/* When the header `time_ms` stops being TIME_TOO_NEW by the local clock. */
static uint64_t due_ms(uint64_t time_ms)
{
    return time_ms > CAIRN_BLOCK_MAX_FUTURE_MS ? time_ms - CAIRN_BLOCK_MAX_FUTURE_MS : 0;
}

/*
 * [VAL-26] A header that failed only TIME_TOO_NEW is no fault of the peer:
 * the session stays, nothing is recorded as invalid (VAL-20), and the header
 * is held [VAL-27], at most NODE_DEFERRED_MAX of them, dropping the one
 * furthest in the future [VAL-28]. The peer gets no GetHeaders before the
 * header is due [VAL-29], which is what would otherwise repeat its answer.
 */
static void defer_header(peer *p, const uint8_t raw[CAIRN_BLOCK_HEADER_LEN])
{
    node *n = p->n;
    const uint8_t *q = raw;
    cairn_block_header hdr;
    uint8_t id[CAIRN_HASH_LEN];
    if (cairn_block_header_decode(&q, raw + CAIRN_BLOCK_HEADER_LEN, &hdr) != 0 ||
        cairn_block_id(n->sha, id, raw) != 0)
        return;
    if (due_ms(hdr.time_ms) > p->headers_wait_ms)
        p->headers_wait_ms = due_ms(hdr.time_ms);
    size_t slot = n->n_deferred, latest = 0;
    for (size_t i = 0; i < n->n_deferred; i++) {
        if (memcmp(n->deferred[i].id, id, CAIRN_HASH_LEN) == 0)
            return; /* held already */
        if (n->deferred[i].time_ms > n->deferred[latest].time_ms)
            latest = i;
    }
    if (slot == NODE_DEFERRED_MAX) {
        if (n->deferred[latest].time_ms <= hdr.time_ms)
            return; /* the new one is the furthest out */
        slot = latest;
    } else {
        n->n_deferred++;
    }
    memcpy(n->deferred[slot].raw, raw, CAIRN_BLOCK_HEADER_LEN);
    memcpy(n->deferred[slot].id, id, CAIRN_HASH_LEN);
    n->deferred[slot].time_ms = hdr.time_ms;
    LOGD(p->n, "peer %s: header %llu is %llu ms ahead of the clock: held", p->addr,
         (unsigned long long)hdr.height, (unsigned long long)(hdr.time_ms - node_wall(n)));
}

/* The header of a Headers response that the chain refused: the first one
 * it does not have (everything before it was stored, SYNC-19). */
static const uint8_t *first_unknown(node *n, const Cairn__V1__Headers *h)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        uint8_t id[CAIRN_HASH_LEN];
        if (h->headers[i].len != CAIRN_BLOCK_HEADER_LEN ||
            cairn_block_id(n->sha, id, h->headers[i].data) != 0)
            return NULL;
        if (!cairn_chain_find(n->chain, id))
            return h->headers[i].data;
    }
    return NULL;
}

/* [VAL-27] Deferred headers whose time has come are validated again; a
 * parent that is still unknown, or any failure, just drops them. */
static void release_deferred(node *n)
{
    uint64_t now = node_wall(n);
    int added = 0;
    for (size_t i = 0; i < n->n_deferred;) {
        deferred_hdr *d = &n->deferred[i];
        if (due_ms(d->time_ms) > now) {
            i++;
            continue;
        }
        cairn_bytes_ref ref = {d->raw, CAIRN_BLOCK_HEADER_LEN};
        size_t n_new = 0;
        uint32_t reason = 0;
        int rv = cairn_chain_add_headers(n->chain, &ref, 1, &n_new, &reason);
        char hex[17];
        cairn_hex_encode(hex, d->id, 8);
        LOGD(n, "held header %s: %s", hex,
             rv == 0  ? "accepted"
             : reason ? cairn_block_reason_name(reason)
                      : cairn_strerror(rv));
        added += rv == 0 && n_new > 0;
        *d = n->deferred[--n->n_deferred];
    }
    if (added)
        for (peer *p = n->peers; p; p = p->next) {
            p->headers_idle = 0; /* what follows the held header [SYNC-42] */
            sync_start_headers(p);
        }
}

/*
 * Sends GetHeaders. A fresh run starts from the best header chain; a
 * continuation starts from the last header the peer sent [SYNC-20], which
 * leads the answerer on along its own chain even when that header is on no
 * chain of ours, or was not kept (SYNC-44, SYNC-45): then the locator is that ID
 * followed by the best header chain's.
 */
static void request_headers(peer *p, int continuation)
{
    node *n = p->n;
    const cairn_chain_block *best = cairn_chain_best_header(n->chain);
    const cairn_chain_block *from = continuation ? cairn_chain_find(n->chain, p->cont_id) : best;
    uint8_t loc[CAIRN_LOCATOR_MAX][CAIRN_HASH_LEN];
    size_t k = 0;
    if (!from) {
        memcpy(loc[k++], p->cont_id, CAIRN_HASH_LEN);
        from = best;
    }
    k += cairn_chain_locator(n->chain, from, loc + k, CAIRN_LOCATOR_MAX - k);
    ProtobufCBinaryData lv[CAIRN_LOCATOR_MAX];
    for (size_t i = 0; i < k; i++)
        lv[i] = (ProtobufCBinaryData){CAIRN_HASH_LEN, loc[i]};
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.n_locator = k;
    gh.locator = lv;
    int rv = cairn_session_request(p->sess, &gh.base, &p->headers_rid);
    if (rv != 0) {
        p->headers_rid = 0; /* not sent (output full, window full): the tick asks again */
        LOGD(n, "peer %s: GetHeaders not sent: %s", p->addr, cairn_strerror(rv));
    } else {
        peer_want_flush(p);
        memcpy(p->sent_loc0, loc[0], CAIRN_HASH_LEN);
        if (!continuation) {
            p->cont_height = 0; /* a new run; a redownload keeps what the last one saw */
            if (!p->redownload)
                p->n_commits = 0;
        }
        LOGD(p->n, "peer %s: GetHeaders from height %llu%s", p->addr,
             (unsigned long long)(continuation ? p->cont_height : best->hdr.height),
             continuation ? " (continuing)" : "");
    }
}

void sync_start_headers(peer *p)
{
    node *n = p->n;
    if (!ready_with(p, CAIRN_SERVICE_CHAIN) || p->headers_rid || p->headers_idle ||
        p->headers_ahead)
        return;
    if (node_wall(n) < p->headers_wait_ms)
        return; /* [VAL-29] its answer would end with a header held as too new */
    if (node_now(n) < p->refused_until_ms)
        return; /* [REQ-22] */
    const cairn_chain_block *best = cairn_chain_best_header(n->chain);
    /* [SYNC-21] only from peers that claim more work than we know of */
    if (memcmp(p->info.total_work, best->work.be, 32) <= 0)
        return;
    request_headers(p, 0);
}

/* Whether some peer already waits for this body. */
static int requested(node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    for (peer *p = n->peers; p; p = p->next)
        for (unsigned i = 0; i < p->n_bodies; i++)
            if (!p->bodies[i].stalled && memcmp(p->bodies[i].id, id, CAIRN_HASH_LEN) == 0)
                return 1;
    return 0;
}

/*
 * Whether `p` may be sent another GetBlock now. The node paces its own
 * GetBlock to each peer at the reference rate (§13.2: 10,000 a second, burst
 * 10,000), so that a reference answerer never has to refuse it [REQ-21]: a
 * refusal costs a second's rest [REQ-22], a pace only the wait for the next
 * token. When the bucket is empty, the wake time says when to try again.
 */
static int body_paced(peer *p, uint64_t now)
{
    const cairn_node_config *c = &p->n->cfg;
    bucket_refill(&p->rq_blocks, now, c->getdata_per_s, c->getdata_burst);
    if (p->rq_blocks.tokens >= 1)
        return 1;
    uint64_t wait = (uint64_t)(1 - p->rq_blocks.tokens) * 1000 / c->getdata_per_s + 1;
    if (now + wait < p->n->wake_ms)
        p->n->wake_ms = now + wait;
    return 0;
}

/* GetBlock by ID to `p`, which has room in its window. */
static void request_body(peer *p, const cairn_chain_block *b)
{
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
    gb.block_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, (uint8_t *)b->id};
    body_req *r = &p->bodies[p->n_bodies];
    int rv = cairn_session_request(p->sess, &gb.base, &r->rid);
    if (rv != 0) { /* output or window full: the body stays unrequested for now */
        LOGD(p->n, "peer %s: GetBlock not sent: %s", p->addr, cairn_strerror(rv));
        return;
    }
    peer_want_flush(p);
    bucket_refill(&p->rq_blocks, node_now(p->n), p->n->cfg.getdata_per_s, p->n->cfg.getdata_burst);
    p->rq_blocks.tokens--; /* an announced block may overdraw it (SYNC-40) */
    memcpy(r->id, b->id, CAIRN_HASH_LEN);
    r->sent_ms = node_now(p->n);
    r->stalled = 0;
    p->n_bodies++;
}

/* [SYNC-48] The most-work header `p` has sent us (Headers, Announce). */
static void peer_knows(peer *p, const uint8_t id[CAIRN_HASH_LEN])
{
    const cairn_chain *c = p->n->chain;
    const cairn_chain_block *b = cairn_chain_find(c, id), *k;
    if (!b || (p->has_known && (k = cairn_chain_find(c, p->known_id)) &&
               cairn_work_cmp(&b->work, &k->work) <= 0))
        return;
    memcpy(p->known_id, id, CAIRN_HASH_LEN);
    p->has_known = 1;
}

/*
 * [SYNC-48] The bodies of a heavier chain that `p` sent us but that is not
 * the best header chain (a header of equal work, seen first, is the best and
 * its body may never come): asked of `p`, from the lowest block of that
 * branch not linked to the chain, at most 1024 above it [SYNC-33].
 */
static void fetch_side(peer *p, const cairn_chain_block *tip, const cairn_chain_block *best,
                       uint64_t now)
{
    node *n = p->n;
    const cairn_chain_block *b = p->has_known ? cairn_chain_find(n->chain, p->known_id) : NULL;
    if (!b || (b->flags & (CAIRN_CHAIN_LINKED | CAIRN_CHAIN_FAILED)) ||
        cairn_work_cmp(&b->work, &tip->work) <= 0 ||
        (best->hdr.height >= b->hdr.height &&
         cairn_chain_block_ancestor(best, b->hdr.height) == b) ||
        !ready_with(p, CAIRN_SERVICE_CHAIN) || now < p->refused_until_ms)
        return;
    uint64_t lo = 0, hi = b->hdr.height; /* linked at lo (genesis), not at hi */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cairn_chain_block_ancestor(b, mid)->flags & CAIRN_CHAIN_LINKED)
            lo = mid;
        else
            hi = mid;
    }
    for (uint64_t h = hi; h <= b->hdr.height && h < hi + 1024; h++) {
        const cairn_chain_block *x = cairn_chain_block_ancestor(b, h);
        if (x->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED) || requested(n, x->id))
            continue;
        if (p->n_bodies >= NODE_BODY_WINDOW || p->info.tip_height < h || !body_paced(p, now))
            return;
        request_body(p, x);
    }
}

/* [SYNC-32] bodies from several peers, each with a window of 16 in flight */
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
    /* [SYNC-33] The window starts at the lowest body still missing: in a
     * reorganisation deeper than the window the tip stays at the fork until
     * the new branch overtakes, so the fork point alone would pin the window
     * on bodies already fetched. */
    if (memcmp(n->fetch_best, best->id, CAIRN_HASH_LEN) != 0 || n->fetch_from < from) {
        memcpy(n->fetch_best, best->id, CAIRN_HASH_LEN);
        n->fetch_from = from;
    }
    while (n->fetch_from <= best->hdr.height &&
           (cairn_chain_block_ancestor(best, n->fetch_from)->flags & CAIRN_CHAIN_HAVE_DATA))
        n->fetch_from++;
    from = n->fetch_from;
    size_t count = cairn_chain_missing_bodies(n->chain, from, missing, FETCH_AHEAD);
    peer *next = n->peers;
    uint64_t now = node_now(n);
    for (size_t i = 0; i < count; i++) {
        if (requested(n, missing[i]->id))
            continue;
        /* round robin over peers with room that have the block's height */
        peer *chosen = NULL;
        for (int tries = 0; tries < 2 && !chosen; tries++) {
            for (peer *p = next; p; p = p->next)
                if (ready_with(p, CAIRN_SERVICE_CHAIN) && p->n_bodies < NODE_BODY_WINDOW &&
                    p->info.tip_height >= missing[i]->hdr.height && now >= p->refused_until_ms &&
                    body_paced(p, now)) {
                    chosen = p;
                    break;
                }
            next = n->peers;
        }
        if (!chosen)
            break; /* every window is full */
        next = chosen->next;
        request_body(chosen, missing[i]);
    }
    for (peer *p = n->peers; p && !CAIRN_FAULT(BEST_CHAIN_ONLY); p = p->next)
        fetch_side(p, tip, best, now);
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

/*
 * [SYNC-42] Whether a Headers response moves the run on: it must end above
 * the highest header this peer sent in the run. A response that does not
 * (empty, shorter than the limit, or going back) ends the run: no GetHeaders
 * to this peer until it announces a block we cannot connect [SYNC-42].
 */
static int headers_progress(peer *p, const Cairn__V1__Headers *h, uint8_t last_id[CAIRN_HASH_LEN])
{
    const ProtobufCBinaryData *raw = &h->headers[h->n_headers - 1];
    const uint8_t *q = raw->data;
    cairn_block_header hdr;
    if (raw->len != CAIRN_BLOCK_HEADER_LEN ||
        cairn_block_header_decode(&q, raw->data + raw->len, &hdr) != 0 ||
        cairn_block_id(p->n->sha, last_id, raw->data) != 0)
        return 0;
    if (p->cont_height && hdr.height <= p->cont_height)
        return 0;
    memcpy(p->cont_id, last_id, CAIRN_HASH_LEN);
    p->cont_height = hdr.height;
    return 1;
}

/*
 * [SYNC-17] pass 1 for a response that is not stored: PoW and contiguity,
 * from `prev`. Closes the session and returns -1 on a failure.
 */
static int check_unstored(peer *p, const Cairn__V1__Headers *h, const uint8_t *prev_id)
{
    node *n = p->n;
    uint8_t prev[CAIRN_HASH_LEN];
    memcpy(prev, prev_id, CAIRN_HASH_LEN);
    for (size_t i = 0; i < h->n_headers; i++) {
        cairn_block_header hdr;
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason = 0;
        int rv = cairn_block_precheck(n->sha, h->headers[i].data, h->headers[i].len, NULL, 0,
                                      n->cfg.net->bits, &hdr, id, &reason);
        if (rv == 0 && memcmp(hdr.prev_id, prev, CAIRN_HASH_LEN) != 0) {
            rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK); /* [SYNC-15] */
            reason = CAIRN_BLOCK_BAD_LINK;
        }
        if (rv) {
            close_invalid(p, rv, reason, "Headers");
            return -1;
        }
        memcpy(prev, id, CAIRN_HASH_LEN);
    }
    return 0;
}

/* The end of a run [SYNC-42]: no GetHeaders to this peer until it announces
 * a block we cannot connect; a redownload is abandoned. */
static void end_run(peer *p)
{
    p->headers_idle = 1;
    p->redownload = 0;
    p->n_commits = 0;
    if (p->pinned) {
        cairn_chain_unpin(p->n->chain, p->pinned);
        p->pinned = NULL;
    }
}

/* [SYNC-45] Remembers the last header of a response that was not stored. */
static int add_commit(peer *p)
{
    if (p->n_commits == NODE_RUN_COMMITS_MAX)
        return -1;
    if (p->n_commits == p->cap_commits) {
        size_t cap = p->cap_commits ? p->cap_commits * 2 : 16;
        node_commit *c = cairn_mem_realloc(p->n->mem, p->commits, cap * sizeof(*c));
        if (!c)
            return -1;
        p->commits = c;
        p->cap_commits = cap;
    }
    memcpy(p->commits[p->n_commits].id, p->cont_id, CAIRN_HASH_LEN);
    p->commits[p->n_commits++].height = p->cont_height;
    return 0;
}

/* Stores headers[0..n) of a response (pinning the last when `pin` is not
 * NULL); returns 0, or -1 when the session closed. */
static int store_headers(peer *p, const Cairn__V1__Headers *h, size_t n, int *held, size_t *n_new,
                         const cairn_chain_block **pin)
{
    node *nd = p->n;
    cairn_bytes_ref *refs = cairn_mem_malloc(nd->mem, n * sizeof(*refs));
    *held = 0;
    *n_new = 0;
    if (!refs)
        return -1;
    for (size_t i = 0; i < n; i++)
        refs[i] = (cairn_bytes_ref){h->headers[i].data, h->headers[i].len};
    uint32_t reason = 0;
    if (progress_before_headers(nd, n) < 0) { /* [VAL-31] long answers join the sync batch */
        cairn_mem_free(nd->mem, refs);
        return -1; /* the store failed: the node stops */
    }
    int rv = pin ? cairn_chain_add_headers_pinned(nd->chain, refs, n, pin, n_new, &reason)
                 : cairn_chain_add_headers(nd->chain, refs, n, n_new, &reason);
    committed(nd, progress_after_headers(nd));
    cairn_mem_free(nd->mem, refs);
    if ((*held = too_new(rv, reason)) != 0) { /* [VAL-26] the prefix is kept (SYNC-19) */
        const uint8_t *raw = first_unknown(nd, h);
        if (raw)
            defer_header(p, raw);
    } else if (rv) {
        close_invalid(p, rv, reason, "Headers");
        return -1;
    }
    return 0;
}

/*
 * [SYNC-45] A response of a redownload: stored up to the highest header whose
 * height has a remembered ID, provided every remembered ID in it matches.
 * Anything else (another branch, a reorganised peer) ends the run unstored.
 */
static void redownload_batch(peer *p, const Cairn__V1__Headers *h, uint64_t first_height)
{
    node *n = p->n;
    size_t upto = 0; /* headers to store */
    uint64_t last = first_height + h->n_headers - 1;
    for (size_t i = 0; i < p->n_commits; i++) {
        uint64_t ch = p->commits[i].height;
        if (ch < first_height || ch > last)
            continue;
        uint8_t id[CAIRN_HASH_LEN];
        size_t k = (size_t)(ch - first_height);
        if (cairn_block_id(n->sha, id, h->headers[k].data) != 0 ||
            memcmp(id, p->commits[i].id, CAIRN_HASH_LEN) != 0) {
            LOGD(p->n, "peer %s: redownload differs at height %llu: run ends", p->addr,
                 (unsigned long long)ch);
            end_run(p);
            return;
        }
        upto = k + 1;
    }
    if (!upto) {
        LOGD(p->n, "peer %s: redownload response has no header to check: run ends", p->addr);
        end_run(p);
        return;
    }
    int held;
    size_t n_new;
    const cairn_chain_block *pin = NULL;
    if (store_headers(p, h, upto, &held, &n_new, &pin) != 0) {
        if (pin)
            cairn_chain_unpin(n->chain, pin);
        return;
    }
    if (p->pinned) /* the new pin covers the old one's branch */
        cairn_chain_unpin(n->chain, p->pinned);
    p->pinned = pin;
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_id(n->sha, id, h->headers[upto - 1].data);
    const cairn_chain_block *b = cairn_chain_find(n->chain, id);
    if (held || !b) {
        end_run(p);
        return;
    }
    memcpy(p->cont_id, id, CAIRN_HASH_LEN); /* continue after what was stored */
    p->cont_height = b->hdr.height;
    LOGD(p->n, "peer %s: redownload stored to height %llu (%zu new)", p->addr,
         (unsigned long long)b->hdr.height, n_new);
    if (b->hdr.height >= p->commits[p->n_commits - 1].height) {
        /* done: the branch now has more work than the tip and keeps itself */
        uint64_t keep = p->cont_height;
        end_run(p);
        p->headers_idle = 0;
        p->cont_height = keep;
        request_headers(p, 1);
    } else {
        request_headers(p, 1);
    }
    fetch_bodies(n);
}

/*
 * Whether a stored run should wait before its next GetHeaders [SYNC-20]: the
 * best header, where the run stands, is NODE_HEADERS_AHEAD above the tip.
 * Every Headers response costs the loop a batch of header checks; sent back
 * to back while the bodies are far behind, they only delay the bodies' round
 * trips (16 in flight a peer, SYNC-32). The run goes on from the same header
 * once the bodies have caught up to within that distance (sync_tick).
 */
static int headers_far_ahead(const peer *p)
{
    const node *n = p->n;
    const cairn_chain_block *best = cairn_chain_best_header(n->chain);
    return !p->n_commits && !p->redownload && memcmp(best->id, p->cont_id, CAIRN_HASH_LEN) == 0 &&
           best->hdr.height > cairn_chain_tip(n->chain)->hdr.height + NODE_HEADERS_AHEAD;
}

void sync_on_headers(peer *p, const Cairn__V1__Headers *h)
{
    node *n = p->n;
    if (h->request_id == p->headers_rid)
        p->headers_rid = 0;
    uint8_t last_id[CAIRN_HASH_LEN];
    if (!h->n_headers || !headers_progress(p, h, last_id)) {
        LOGD(p->n, "peer %s: %zu headers, no progress: header sync with it ends", p->addr,
             h->n_headers);
        end_run(p); /* [SYNC-42] */
        return;
    }
    int full = h->n_headers == CAIRN_HEADERS_MAX;
    const uint8_t *q = h->headers[0].data;
    cairn_block_header first;
    if (h->headers[0].len != CAIRN_BLOCK_HEADER_LEN ||
        cairn_block_header_decode(&q, q + CAIRN_BLOCK_HEADER_LEN, &first) != 0)
        first.height = 0; /* the chain reports it below */
    if (p->redownload) {
        redownload_batch(p, h, first.height);
        return;
    }
    /* [POW-1] every block of a network has the same bits, so more height is more work */
    int heavier = p->cont_height > cairn_chain_tip(n->chain)->hdr.height;
    int linked = first.height && cairn_chain_find(n->chain, first.prev_id);
    /* [SYNC-43] a continuation from a header of our locator that was not kept */
    int unkept =
        first.height && !linked && memcmp(first.prev_id, p->sent_loc0, CAIRN_HASH_LEN) == 0;
    if (unkept || (linked && !heavier)) {
        /* [SYNC-45] no more work than the tip: checked, remembered, not stored */
        if (check_unstored(p, h, first.prev_id) != 0)
            return;
        if (add_commit(p) != 0) {
            LOGD(p->n, "peer %s: run too deep to follow: ends", p->addr);
            end_run(p);
            return;
        }
        LOGD(p->n, "peer %s: %zu headers to height %llu with no more work than the tip: not stored",
             p->addr, h->n_headers, (unsigned long long)p->cont_height);
        if (heavier) { /* it overtook the tip: fetch the run again, storing it */
            LOGD(p->n, "peer %s: its branch has more work: fetching its headers again", p->addr);
            p->redownload = 1;
            request_headers(p, 0);
        } else if (full) {
            request_headers(p, 1);
        } else {
            end_run(p);
        }
        return;
    }
    int held;
    size_t n_new;
    if (store_headers(p, h, h->n_headers, &held, &n_new, NULL) != 0)
        return;
    /* what the peer has: at least the last header it sent */
    if (p->cont_height > p->info.tip_height)
        p->info.tip_height = p->cont_height;
    LOGD(p->n, "peer %s: %zu headers, %zu new", p->addr, h->n_headers, n_new);
    peer_knows(p, p->cont_id);
    if (!held && full && headers_far_ahead(p))
        p->headers_ahead = 1; /* the tick continues the run (sync_tick) */
    else if (!held && full)   /* [SYNC-20] a full batch: there is more */
        request_headers(p, 1);
    else if (!held)
        end_run(p); /* [SYNC-42] the end of its chain */
    fetch_bodies(n);
}

/* [VAL-18] IDs of headers that failed a context-free check: the chain never
 * records them, so their descendants are recognised here. */
static void remember_failed(node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    if (!n->failed && !(n->failed = cairn_mem_malloc(n->mem, NODE_FAILED_IDS * CAIRN_HASH_LEN)))
        return; /* no memory: its descendants are found invalid by the chain instead */
    memcpy(n->failed[n->n_failed++ % NODE_FAILED_IDS], id, CAIRN_HASH_LEN);
}

static int known_failed(const node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    size_t k = !n->failed ? 0 : n->n_failed < NODE_FAILED_IDS ? n->n_failed : NODE_FAILED_IDS;
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
        peer_close(p, CAIRN_E_INVALID_FIELD, "Block is not the one requested");
        return;
    }
    if (r)
        drop_body(p, r);
    p->stall_ms = NODE_STALL_MIN_MS; /* [SYNC-34] a delivery resets the stall timeout */
    if (!cairn_chain_find(n->chain, id)) {
        cairn_block_header hdr;
        uint8_t id2[CAIRN_HASH_LEN];
        if (precheck_header(p, b->header.data, b->header.len, &hdr, id2, "Block"))
            return;
    }
    cairn_bytes_ref stack_refs[64], *refs = stack_refs;
    if (b->n_entries > 64 && !(refs = cairn_mem_malloc(n->mem, b->n_entries * sizeof(*refs))))
        return;
    for (size_t i = 0; i < b->n_entries; i++)
        refs[i] = (cairn_bytes_ref){b->entries[i].data, b->entries[i].len};
    if (CAIRN_FAULT(DROP_SYNC_BLOCKS) && refs == stack_refs)
        return; /* the conformance self-test's "node that never takes a block" */
    cairn_chain_result res;
    uint32_t reason = 0;
    size_t bytes = b->header.len;
    for (size_t i = 0; i < b->n_entries; i++)
        bytes += b->entries[i].len;
    if (progress_before_block(n) < 0) { /* [VAL-31] far behind: into a bounded batch */
        if (refs != stack_refs)
            cairn_mem_free(n->mem, refs);
        return; /* the store failed: the node stops */
    }
    int rv = cairn_chain_add_block(n->chain, b->header.data, b->header.len, refs, b->n_entries,
                                   &res, &reason);
    if (refs != stack_refs)
        cairn_mem_free(n->mem, refs);
    committed(n, progress_after_block(n, bytes));
    if (too_new(rv, reason)) { /* [VAL-26] the body is dropped; fetched again once due */
        defer_header(p, b->header.data);
        return;
    }
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

/*
 * [REQ-22] Error BUSY or RATE_LIMITED answering a GetBlock or GetHeaders: the
 * peer has what was asked but will not send it now. Unlike NotFound it says
 * nothing about the peer's chain, so its known tip stays; the request is
 * dropped and the peer gets no GetBlock or GetHeaders for 1 s, after which
 * the tick asks again (before, the answer counted as NotFound: a node syncing
 * faster than its only peer's GetBlock rate lowered that peer's tip below the
 * refused height and never asked it again).
 */
void sync_on_refused(peer *p, uint64_t rid, uint32_t code)
{
    if (code != CAIRN_E_BUSY && code != CAIRN_E_RATE_LIMITED) {
        sync_on_not_found(p, rid);
        return;
    }
    p->refused_until_ms = node_now(p->n) + NODE_REFUSED_WAIT_MS;
    if (rid == p->headers_rid) {
        p->headers_rid = 0;
        return;
    }
    body_req *r = find_body(p, rid);
    if (r)
        drop_body(p, r);
}

/*
 * [SYNC-40] An announced block with more work than the tip is asked of its
 * announcer, even when another header of equal work, received first, is the
 * download target [FORK-10]: that one's body may never come.
 */
static void ask_announced(peer *p, const cairn_chain_block *b)
{
    node *n = p->n;
    if (b && !(b->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)) &&
        cairn_work_cmp(&b->work, &cairn_chain_tip(n->chain)->work) > 0 && !requested(n, b->id) &&
        ready_with(p, CAIRN_SERVICE_CHAIN) && p->n_bodies < NODE_BODY_WINDOW)
        request_body(p, b);
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
    const cairn_chain_block *known = cairn_chain_find(n->chain, id);
    if (known) {
        peer_knows(p, id);
        ask_announced(p, known);
        return;
    }
    if (!cairn_chain_find(n->chain, hdr.prev_id)) {
        /* [FORK-4] unknown parent: headers first. Its work is at least ours + 1 block. */
        memset(p->info.total_work, 0xFF, 32);
        p->headers_idle = 0;  /* [SYNC-42] a block we cannot connect: a new run */
        p->headers_ahead = 0; /* [SYNC-51] now, whatever the bodies' distance */
        sync_start_headers(p);
        return;
    }
    cairn_bytes_ref ref = {a->header.data, a->header.len};
    size_t n_new;
    uint32_t reason;
    int rv = cairn_chain_add_headers(n->chain, &ref, 1, &n_new, &reason); /* [SYNC-44] */
    if (too_new(rv, reason)) {                                            /* [VAL-26] */
        defer_header(p, a->header.data);
        return;
    }
    if (rv) {
        if (cairn_err_wire_code(rv) == CAIRN_E_INVALID_BLOCK &&
            cairn_block_reason_is_permanent(reason))
            remember_failed(n, id);
        close_invalid(p, rv, reason, "Announce");
        return;
    }
    peer_knows(p, id);
    ask_announced(p, cairn_chain_find(n->chain, id));
    fetch_bodies(n);
}

void sync_peer_gone(peer *p)
{
    p->n_bodies = 0; /* its requests go back to the pool: fetch_bodies skips nothing of it */
    end_run(p);
    cairn_mem_free(p->n->mem, p->commits);
    p->commits = NULL;
    p->cap_commits = 0;
}

/* The wake time passed: the bodies that waited for their pace. */
void sync_wake(node *n)
{
    n->wake_ms = UINT64_MAX;
    fetch_bodies(n);
}

void sync_tick(node *n)
{
    committed(n, progress_tick(n)); /* a batch due by time */
    uint64_t now = node_now(n);
    for (peer *p = n->peers; p; p = p->next) {
        /* [SYNC-35] stalled bodies: give them to someone else, double the timeout.
         * The request stays outstanding [REQ-14], so it keeps its slot of the
         * window [SYNC-32] until answered (found by fuzz_node_core). */
        for (unsigned i = 0; i < p->n_bodies; i++) {
            if (!p->bodies[i].stalled && now - p->bodies[i].sent_ms >= p->stall_ms) {
                LOGD(n, "peer %s: body stalled after %u ms", p->addr, p->stall_ms);
                p->bodies[i].stalled = 1;
                p->stall_ms =
                    p->stall_ms * 2 > NODE_STALL_MAX_MS ? NODE_STALL_MAX_MS : p->stall_ms * 2;
            }
        }
        if (p->headers_ahead && !p->headers_rid && !headers_far_ahead(p)) {
            p->headers_ahead = 0;
            if (ready_with(p, CAIRN_SERVICE_CHAIN))
                request_headers(p, 1); /* the run goes on [SYNC-20] */
        }
        sync_start_headers(p);
    }
    release_deferred(n);
    fetch_bodies(n);
}

void sync_announce(node *n, const cairn_chain_block *tip, peer *except)
{
    if (CAIRN_FAULT(NO_ANNOUNCE) || node_flush(n)) /* [VAL-32] */
        return;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_block_header_encode(raw, &tip->hdr);
    Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
    a.header = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, raw};
    for (peer *p = n->peers; p; p = p->next) {
        if (p == except || !p->ready || !p->sess || p->dropped)
            continue;
        cairn_session *s = p->sess;
        if (cairn_session_state(s) != CAIRN_SS_READY)
            continue;
        if (cairn_session_notify(s, &a.base) == 0) /* AGAIN: dropped under backpressure [SEC-10] */
            peer_want_flush(p);
    }
}

void relay_entries(node *n, const cairn_bytes_ref *entries, size_t count, peer *except)
{
    if (CAIRN_FAULT(NO_RELAY))
        return;
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
                cairn_session_notify(p->sess, &e.base) == 0)
                peer_want_flush(p); /* AGAIN: dropped under backpressure [SEC-10] */
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
        /* a refusal (pool full, fair share) only loses the entry for this node */
        (void)cairn_mempool_add(w->n->pool, entry, len, id, &reason);
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
        if (n->store->get_block(n->store->ud, b->id, NULL, walk_entry, &w) < 0)
            LOGW(n, "store: entries of a disconnected block unreadable");
    w.add = 0; /* an empty pool (initial sync) has nothing to lose: no store read */
    for (const cairn_chain_block *b = new_tip; b && b != fork && cairn_mempool_count(n->pool) > 0;
         b = b->parent)
        if (n->store->get_block(n->store->ud, b->id, NULL, walk_entry, &w) < 0)
            LOGW(n, "store: entries of a connected block unreadable");
    n->mine_nonce = 0;
    if (progress_in_batch(n))
        n->announce_pending = 1; /* [VAL-32] announced once the batch is durable */
    else
        sync_announce(n, new_tip, NULL);
}

int mine_step(node *n, uint32_t tries)
{
    uint64_t now = node_now(n);
    if (now < n->next_mine_ms || n->stopping)
        return 0;
    cairn_bytes_ref refs[CAIRN_BLOCK_MAX_ENTRIES];
    size_t count = 0;
    cairn_block_header hdr;
    int rv = cairn_miner_template(n->chain, n->pool, node_wall(n), &hdr, refs,
                                  CAIRN_BLOCK_MAX_ENTRIES, &count);
    if (rv) {
        LOGE(n, "miner: %s", cairn_strerror(rv));
        return 0;
    }
    hdr.nonce = n->mine_nonce;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    rv = cairn_miner_solve(n->sha, &hdr, tries ? tries : MINE_TRIES_PER_STEP, raw, id);
    if (rv == CAIRN_ERR_AGAIN) {
        n->mine_nonce = hdr.nonce;
        return 0;
    }
    cairn_chain_result res;
    uint32_t reason = 0;
    rv = cairn_chain_add_block(n->chain, raw, sizeof(raw), refs, count, &res, &reason);
    n->mine_nonce = 0;
    if (rv) {
        LOGE(n, "miner: our own block was refused: %s %s", cairn_strerror(rv),
             reason ? cairn_block_reason_name(reason) : "");
        n->next_mine_ms = now + 1000;
        return 0;
    }
    n->blocks_mined++;
    char hex[65];
    cairn_hex_encode(hex, id, 32);
    LOGI(n, "mined block %llu %.16s with %zu entr%s", (unsigned long long)hdr.height, hex, count,
         count == 1 ? "y" : "ies");
    n->next_mine_ms = now + n->cfg.mine_interval_ms;
    return 1;
}
