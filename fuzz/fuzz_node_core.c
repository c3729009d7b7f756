/*
 * Fuzz target: the sans-I/O node core (reference/lib/node, cairn/node.h)
 * under sequences of events from several peers (issue 18).
 *
 * One core under test (node 0, "the victim") and 1-3 helper cores, all real
 * cores on in-memory stores, a fake clock and deterministic randomness, wired
 * by plaintext links that move bytes only when the input says so and only for
 * a peer its core asked to FLUSH (as node_harness.c of the unit tests does).
 * The helpers mine, fork, announce and serve, so the victim sees real
 * handshakes, sync, reorgs and relay; the input adds what no honest peer
 * does: raw inbound connections that send anything, frames injected between
 * a helper's frames, bytes flipped or delivered in pieces, muted directions
 * (stalls), EOFs, clock jumps, store failures and a shutdown.
 *
 * Input: flags u8 | ops. flags: bits 0-1 helpers - 1 (1..3), bit 2 victim
 * dials from its book (outbound target 2, else none), bits 3-4 max_inbound
 * (2, 4, 8, 117), bit 5 max_per_ip 1 (else 4), bit 6 discouragement off,
 * bit 7 a second byte follows: bits 0-1 the helpers' clocks ahead of the
 * victim's (0, 3 min, 10 min, 1 h: their blocks are TIME_TOO_NEW there),
 * bit 2 the victim keeps at most 4 low-work headers [SYNC-44], bit 3
 * --noban 10.0.0.0/8 on the victim, bit 4 the victim does not listen, bit 5
 * the victim's transports always have unread input [ADM-3], bit 6 the
 * victim's store has sync batches (commit after 4 blocks or 1 s) [VAL-31],
 * bit 7 a third byte follows: bit 0 the long world (fuzz_node_world.c: a
 * network of cheap proof of work, every core's store holding a pre-built
 * chain of up to 2100 blocks), bit 1 the victim serves files (an in-memory
 * share, fuzz_node_world.c).
 * Each op is an opcode byte (below) and its arguments.
 *
 * Oracles, after every op (and every action for the action oracles):
 *  - bounded memory: the victim's counted live bytes stay under the bound of
 *    spec §14.5 for its sessions (one input frame, 64 held requests, the
 *    output queue and fixed state per session, TLS excluded: there is none
 *    here) plus the global bounds of §13.2 (orphan pool, pending-entry pool,
 *    recent-entry index) and a fixed allowance; and the output queued for
 *    each peer is at most OUTPUT_QUEUE_MAX plus one frame [SEC-7];
 *  - no request without a slot: parsing what the victim writes and what it
 *    reads on every link, its outstanding requests per session are at most
 *    64 [REQ-4], its GetBlock requests at most 16 [SYNC-32] (NODE_BODY_WINDOW)
 *    and its GetHeaders at most 1 (one run at a time, headers_rid);
 *  - the tip is the most-work valid chain known: it is linked and not
 *    failed, and no block the victim holds linked and not failed (of every
 *    block any core ever had as tip) has more work;
 *  - no action for a closed peer: every FLUSH/DROP names a peer the driver
 *    has not closed, with its own driver pointer; a DIAL names an address;
 *    STOP only after the input made the store fail;
 *  - what the victim reports: its node ID, its entry pool within REL-17,
 *    its ready peers among the driver's, none once it has stopped, its
 *    chain's network, at most 256 orphans [FORK-1], a stored body for every
 *    block of its active chain [VAL-32];
 *  - served files: every Manifest and Chunk the victim writes is exactly
 *    what its share holds (fuzz_node_world.c);
 *  - nothing leaks once every core is deleted (the counting allocator).
 */
#include <arpa/inet.h>
#include <string.h>

#include "cairn/node.h"
#include "cairn/port.h"
#include "cache_alloc.h"
#include "common.h"
#include "fuzz_node_core.h"

static nc_net *g; /* the env and store callbacks' net */
static cairn_identity *ids[NC_NODES];

/* ---- the victim's store: the memstore, failing when the input says ------------- */

static int fail_now(void)
{
    if (g->store_fail > 0) {
        g->store_fail--;
        g->store_failed = 1;
        return 1;
    }
    return 0;
}

static int st_write(void *ud, const cairn_chain_write *w)
{
    (void)ud;
    if (fail_now())
        return CAIRN_ERR_INTERNAL;
    return g->ms_iface->chain->write(g->ms_iface->chain->ud, w);
}

static int st_load(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                   int *have_tip)
{
    (void)ud;
    return g->ms_iface->chain->load(g->ms_iface->chain->ud, fn, fn_ud, tip, have_tip);
}

static int st_get_block(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                        uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn, void *fn_ud)
{
    (void)ud;
    if (fail_now())
        return CAIRN_ERR_INTERNAL;
    return g->ms_iface->get_block(g->ms_iface->ud, id, header, fn, fn_ud);
}

static int st_save_addrs(void *ud, const cairn_node_addr_rec *recs, size_t n)
{
    (void)ud;
    if (fail_now())
        return CAIRN_ERR_INTERNAL;
    return g->ms_iface->save_addrs(g->ms_iface->ud, recs, n);
}

static const char *st_errmsg(void *ud)
{
    (void)ud;
    return "injected store failure";
}

/* Sync batches as cairn_store's, with small bounds: writes are applied at
 * once (in memory), the batch only decides when commits happen and fail. */
static int st_in_batch(void *ud)
{
    (void)ud;
    return g->batch_open;
}

static int st_commit_batch(void *ud)
{
    (void)ud;
    g->batch_open = 0;
    return fail_now() ? CAIRN_ERR_INTERNAL : 0;
}

static int st_sync_open(void *ud, uint64_t now_ms)
{
    (void)ud;
    if (fail_now())
        return CAIRN_ERR_INTERNAL;
    if (!g->batch_open) {
        g->batch_open = 1;
        g->batch_ms = now_ms;
        g->batch_blocks = 0;
    }
    return 0;
}

static int st_sync_due(void *ud, uint64_t now_ms)
{
    if (!g->batch_open || now_ms - g->batch_ms < 1000)
        return 0;
    int rv = st_commit_batch(ud);
    return rv ? rv : 1;
}

static int st_sync_account(void *ud, uint64_t now_ms, size_t bytes)
{
    (void)bytes;
    if (!g->batch_open)
        return 0;
    if (++g->batch_blocks < 4)
        return st_sync_due(ud, now_ms);
    int rv = st_commit_batch(ud);
    return rv ? rv : 1;
}

/* ---- env ---------------------------------------------------------------------------- */

static void on_tip(void *ud, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip)
{
    (void)ud;
    (void)old_tip;
    if (g->n_known < NC_KNOWN)
        memcpy(g->known[g->n_known++], new_tip->id, CAIRN_HASH_LEN);
}

static uint64_t helper_wall(void *ud)
{
    (void)ud;
    return g->fe.wall + g->skew;
}

static int has_input(void *ud, void *peer_ud)
{
    (void)ud;
    (void)peer_ud;
    return 1;
}

/* The cores' log lines: printed with NC_LOG=1. The oracle: a line is one
 * line of printable text. A peer's Error.message (ERR-4: for humans, "a
 * receiver displaying it escapes it first", §8.1) reached the victim's log as
 * it came until the core escaped it (regressions/node_core/
 * log-error-message-raw). */
static void log_line(void *ud, int level, const char *line)
{
    static int print = -1;
    const int check = 1;
    if (print < 0)
        print = getenv("NC_LOG") != NULL;
    FUZZ_CHECK(level >= CAIRN_NODE_LOG_ERROR && level <= CAIRN_NODE_LOG_DEBUG, "log level %d",
               level);
    for (const char *c = line; check && *c; c++)
        FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f,
                   "a log line with control character 0x%02x: %s", (unsigned char)*c, line);
    if (print)
        fprintf(stderr, "# [%d] %d %s\n", (int)(intptr_t)ud, level, line);
}

static void nc_init(nc_net *net, uint8_t flags, uint8_t more, uint8_t extra)
{
    g = net;
    net->n = 2 + (flags & 3) % 3;
    fuzz_env_init(&net->fe, 0);
    net->victim_mem = fuzz_cache_mem(&net->live_bytes);
    net->helper_mem = fuzz_cache_mem(NULL);
    net->fe.env.mem = &net->victim_mem;
    net->helper = net->fe.env;
    net->helper.mem = &net->helper_mem;
    net->helper.wall_ms = helper_wall;
    static const uint64_t skews[4] = {0, 180000, 600000, 3600000};
    net->skew = skews[more & 3];
    net->known = malloc(sizeof(*net->known) * NC_KNOWN);
    cairn_msg_decoder_init(&net->dec, cairn_port_env()->mem);
    net->long_world = extra & 1;
    net->files = (extra & 2) != 0;
    static const int inbound[4] = {2, 4, 8, 117};
    for (int i = 0; i < net->n; i++) {
        nc_node *nd = &net->nodes[i];
        const cairn_env *env = i == 0 ? &net->fe.env : &net->helper;
        FUZZ_CHECK(cairn_node_memstore_new(&nd->ms, env->mem) == 0, "memstore");
        if (net->long_world && nc_long_net())
            nc_long_preload(nd->ms, i, &net->helper);
        nd->addr.sin_family = AF_INET;
        nd->addr.sin_port = htons(7317);
        nd->addr.sin_addr.s_addr = htonl(NC_PEER_ADDR(i));
        cairn_node_config *c = &nd->cfg;
        c->net = net->long_world ? nc_long_net() : cairn_network_devnet();
        c->env = env;
        c->store = cairn_node_memstore_iface(nd->ms);
        c->identity = ids[i];
        c->listen_port = 7317;
        memcpy(&c->listen_sa, &nd->addr, sizeof(nd->addr));
        c->local_network = 1;
        c->discourage_ms = 3600000;
        c->book_key = 0x1234 + (uint64_t)i;
        c->outbound_target = CAIRN_NODE_NO_OUTBOUND;
        c->on_tip = on_tip;
        /* the victim logs at INFO as cairnd does by default (its lines are
         * formatted and checked); NC_LOG=1: every core's debug log on stderr */
        if (i == 0 || getenv("NC_LOG")) {
            c->log = log_line;
            c->log_level = getenv("NC_LOG") ? CAIRN_NODE_LOG_DEBUG : CAIRN_NODE_LOG_INFO;
            c->ud = (void *)(intptr_t)i;
        }
        if (i == 0) {
            net->ms_iface = c->store;
            nd->chainst = (cairn_chain_store){st_write, st_load, NULL};
            nd->store = *c->store;
            nd->store.chain = &nd->chainst;
            nd->store.get_block = st_get_block;
            nd->store.errmsg = st_errmsg;
            if (nd->store.save_addrs)
                nd->store.save_addrs = st_save_addrs;
            c->store = &nd->store;
            c->outbound_target = flags & 4 ? 2 : CAIRN_NODE_NO_OUTBOUND;
            c->max_inbound = inbound[(flags >> 3) & 3];
            c->max_per_ip = flags & 0x20 ? 1 : 4;
            c->discourage_ms = flags & 0x40 ? 0 : 3600000;
            c->max_low_work = more & 4 ? 4 : 0;
            c->files = net->files ? nc_files() : NULL;
            static cairn_node_cidr ten;
            if (more & 8 && cairn_node_cidr_parse("10.0.0.0/8", &ten) == 0) {
                c->noban = &ten;
                c->n_noban = 1;
            }
            if (more & 0x10) {
                c->listen_port = 0;
                memset(&c->listen_sa, 0, sizeof(c->listen_sa));
            }
            if (more & 0x20)
                c->peer_has_input = has_input;
            if (more & 0x40) {
                nd->store.in_batch = st_in_batch;
                nd->store.commit_batch = st_commit_batch;
                nd->store.sync_open = st_sync_open;
                nd->store.sync_account = st_sync_account;
                nd->store.sync_due = st_sync_due;
            }
        }
        FUZZ_CHECK(cairn_node_new(&nd->core, c) == 0, "node %d", i);
        /* a preloaded tip is a tip this core had */
        on_tip(NULL, NULL, cairn_chain_tip(cairn_node_chain(nd->core)));
    }
}

/* ---- oracles -------------------------------------------------------------------------- */

static int live_index(nc_node *nd, const cairn_node_peer *p)
{
    for (int i = 0; i < nd->n_live; i++)
        if (nd->live[i] == p)
            return i;
    return -1;
}

static void live_add(nc_node *nd, cairn_node_peer *p)
{
    FUZZ_CHECK(nd->n_live < (int)(sizeof(nd->live) / sizeof(nd->live[0])), "too many peers");
    FUZZ_CHECK(live_index(nd, p) < 0, "a new peer has the pointer of a live one");
    nd->live[nd->n_live++] = p;
}

static void peer_closed(nc_net *net, int i, cairn_node_peer *p)
{
    nc_node *nd = &net->nodes[i];
    int k = live_index(nd, p);
    FUZZ_CHECK(k >= 0, "closing a peer twice");
    nd->live[k] = nd->live[--nd->n_live];
    cairn_node_peer_closed(nd->core, p);
}

/* The victim's tip has the most work of every block it holds linked. */
static void check_tip(nc_net *net)
{
    if (net->store_failed || net->stopped)
        return; /* a failed store stops the node: its chain may lag */
    cairn_chain *c = cairn_node_chain(net->nodes[0].core);
    const cairn_chain_block *tip = cairn_chain_tip(c);
    FUZZ_CHECK((tip->flags & CAIRN_CHAIN_LINKED) && !(tip->flags & CAIRN_CHAIN_FAILED),
               "tip at height %llu not linked or failed (flags %u)",
               (unsigned long long)tip->hdr.height, tip->flags);
    for (size_t i = 0; i < net->n_known; i++) {
        const cairn_chain_block *b = cairn_chain_find(c, net->known[i]);
        if (!b || !(b->flags & CAIRN_CHAIN_LINKED) || (b->flags & CAIRN_CHAIN_FAILED))
            continue;
        FUZZ_CHECK(cairn_work_cmp(&tip->work, &b->work) >= 0,
                   "a linked block at height %llu has more work than the tip at %llu",
                   (unsigned long long)b->hdr.height, (unsigned long long)tip->hdr.height);
    }
}

/* [SYNC-44] The victim's low-work headers (pinned branches apart) stay within
 * its bound of 4. The chain once counted them only when new records arrived,
 * so headers unpinned by a broken redownload stayed over the bound
 * (regressions/node_core/low-work-after-unpin); an unpin, a move of the best
 * header and a heavier tip now run its pruning pass. */
static void check_low_work(nc_net *net)
{
    if (!net->nodes[0].cfg.max_low_work || net->stopped || net->store_failed)
        return;
    size_t n = cairn_chain_low_work_count(cairn_node_chain(net->nodes[0].core));
    FUZZ_CHECK(n <= net->nodes[0].cfg.max_low_work,
               "%zu low-work headers kept (bound %zu) [SYNC-44]", n,
               net->nodes[0].cfg.max_low_work);
}

/* What the victim says of itself: its node ID is its identity's, its entry
 * pool within the bounds of REL-17 (8192 entries, 32 MiB), its ready peers
 * among those the driver holds, and once stopped it holds none. */
static void check_core(nc_net *net)
{
    nc_node *nd = &net->nodes[0];
    uint8_t id[CAIRN_HASH_LEN];
    FUZZ_CHECK(cairn_identity_node_id(ids[0], id) == 0 &&
                   memcmp(cairn_node_id(nd->core), id, CAIRN_HASH_LEN) == 0,
               "the victim's node ID is not its identity's");
    const cairn_mempool *pool = cairn_node_pool(nd->core);
    FUZZ_CHECK(cairn_mempool_count(pool) <= 8192 && cairn_mempool_bytes(pool) <= 32u << 20,
               "%zu entries, %zu bytes pending [REL-17]", cairn_mempool_count(pool),
               cairn_mempool_bytes(pool));
    cairn_node_stats st;
    cairn_node_get_stats(nd->core, &st);
    FUZZ_CHECK(st.n_ready >= 0 && st.n_ready <= nd->n_live, "%d ready peers, %d live", st.n_ready,
               nd->n_live);
    FUZZ_CHECK(!cairn_node_stopped(nd->core) || nd->n_live == 0,
               "stopped with %d peers the driver holds", nd->n_live);
    cairn_chain *c = cairn_node_chain(nd->core);
    FUZZ_CHECK(cairn_chain_network(c) == nd->cfg.net, "the chain is on another network");
    FUZZ_CHECK(cairn_chain_orphan_count(c) <= 256, "%zu orphans [FORK-1]",
               cairn_chain_orphan_count(c));
    /* [VAL-32] every block of the active chain has its body in the store */
    if (!net->store_failed && !net->stopped)
        FUZZ_CHECK(cairn_node_memstore_blocks(nd->ms) > cairn_chain_tip(c)->hdr.height,
                   "%zu bodies stored under a tip at height %llu",
                   cairn_node_memstore_blocks(nd->ms),
                   (unsigned long long)cairn_chain_tip(c)->hdr.height);
}

static void check_memory(nc_net *net)
{
    int sessions = 0;
    for (int k = 0; k < NC_LINKS; k++) {
        nc_link *l = &net->links[k];
        cairn_node_peer *p = !l->used ? NULL : l->a == 0 ? l->pa : l->b == 0 ? l->pb : NULL;
        if (!p)
            continue;
        sessions++;
        const uint8_t *d;
        size_t q = cairn_node_peer_pending(net->nodes[0].core, p, &d);
        FUZZ_CHECK(q <= NC_OUTPUT_MAX, "%zu bytes queued for one peer [SEC-7]", q);
    }
    size_t bound = NC_GLOBAL_BOUND + (size_t)sessions * NC_SESSION_BOUND;
    FUZZ_CHECK(net->live_bytes <= bound, "%zu bytes live with %d sessions (bound %zu)",
               net->live_bytes, sessions, bound);
}

/* ---- links ----------------------------------------------------------------------------- */

static nc_link *new_link(nc_net *net, int a, int b)
{
    for (int k = 0; k < NC_LINKS; k++)
        if (!net->links[k].used) {
            nc_link *l = &net->links[k];
            free(l->out.buf);
            free(l->in.buf);
            memset(l, 0, sizeof(*l));
            l->used = 1;
            l->a = a;
            l->b = b;
            return l;
        }
    return NULL;
}

static void cut(nc_net *net, nc_link *l)
{
    if (!l->used)
        return;
    l->used = 0;
    if (l->pa) {
        cairn_node_peer_eof(net->nodes[l->a].core, l->pa, "cut");
        peer_closed(net, l->a, l->pa);
    }
    if (l->pb) {
        cairn_node_peer_eof(net->nodes[l->b].core, l->pb, "cut");
        peer_closed(net, l->b, l->pb);
    }
}

static void drain(nc_net *net, int i);

static void start(nc_net *net, int i, cairn_node_peer *p)
{
    int rv = cairn_node_peer_start(net->nodes[i].core, p, NULL, 0, NULL);
    fuzz_check_err(rv, "peer_start");
}

static void dial(nc_net *net, int i, const cairn_node_action *a)
{
    nc_node *nd = &net->nodes[i];
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->addr;
    int j = -1;
    for (int k = 0; k < net->n; k++)
        if (a->addr.ss_family == AF_INET &&
            v4->sin_addr.s_addr == net->nodes[k].addr.sin_addr.s_addr &&
            v4->sin_port == net->nodes[k].addr.sin_port)
            j = k;
    nc_link *l = j < 0 || j == i || (j == 0 && net->stopped) || net->dial_fail-- > 0
                     ? NULL
                     : new_link(net, i, j);
    if (net->dial_fail < 0)
        net->dial_fail = 0;
    if (!l) {
        cairn_node_dial_failed(nd->core, a->dial_id);
        return;
    }
    if (cairn_node_dial_done(nd->core, a->dial_id, &l->pa, l) != 0) {
        l->used = 0;
        return;
    }
    live_add(nd, l->pa);
    if (cairn_node_accept(net->nodes[j].core, &l->pb, (const struct sockaddr *)&nd->addr,
                          sizeof(nd->addr), l) != 0) {
        l->pb = NULL; /* refused outright */
        cut(net, l);
        return;
    }
    live_add(&net->nodes[j], l->pb);
    start(net, i, l->pa);
    start(net, j, l->pb);
}

static void drain(nc_net *net, int i)
{
    nc_node *nd = &net->nodes[i];
    cairn_node_action a;
    while (!(i == 0 && net->stopped) && cairn_node_next_action(nd->core, &a)) {
        if (a.type == CAIRN_NODE_ACT_DIAL) {
            FUZZ_CHECK(a.addr_len > 0 && a.addr_len <= sizeof(a.addr), "DIAL without address");
            dial(net, i, &a);
            continue;
        }
        if (a.type == CAIRN_NODE_ACT_STOP) {
            FUZZ_CHECK(i == 0 && net->store_failed, "node %d stopped without a store failure", i);
            net->stopped = 1;
            return;
        }
        FUZZ_CHECK(a.type == CAIRN_NODE_ACT_FLUSH || a.type == CAIRN_NODE_ACT_DROP,
                   "unknown action %d", a.type);
        FUZZ_CHECK(live_index(nd, a.peer) >= 0, "action %d for a closed peer", a.type);
        nc_link *l = a.ud;
        FUZZ_CHECK(l && l->used && (l->pa == a.peer || l->pb == a.peer),
                   "action %d with another peer's driver pointer", a.type);
        FUZZ_CHECK(cairn_node_peer_ud(a.peer) == l, "peer_ud differs");
        int end_a = l->pa == a.peer && l->a == i;
        if (a.type == CAIRN_NODE_ACT_FLUSH) {
            if (end_a)
                l->flush_a = 1;
            else
                l->flush_b = 1;
            continue;
        }
        peer_closed(net, i, a.peer); /* DROP: nothing more is written */
        if (end_a)
            l->pa = NULL;
        else
            l->pb = NULL;
        cut(net, l);
    }
}

/* Moves up to `max` bytes of what one end has pending to the other end. */
static size_t move(nc_net *net, nc_link *l, int from_a, size_t max)
{
    if (l->a < 0 && from_a)
        return 0; /* a raw peer sends only what the input gives */
    int from = from_a ? l->a : l->b, to = from_a ? l->b : l->a;
    cairn_node_peer *p = from_a ? l->pa : l->pb, *q = from_a ? l->pb : l->pa;
    int *flush = from_a ? &l->flush_a : &l->flush_b;
    if (!p || !*flush || (from == 0 && net->stopped))
        return 0;
    *flush = 0;
    const uint8_t *data;
    size_t n = cairn_node_peer_pending(net->nodes[from].core, p, &data);
    if (n > max)
        n = max;
    if (!n)
        return 0;
    long used;
    uint8_t *copy = NULL;
    if (!q || (from_a ? l->mute_ab : l->mute_ba)) {
        used = (long)n; /* written, never read */
    } else if (to == 0 && net->stopped) {
        used = (long)n;
    } else {
        const uint8_t *in = data;
        if (to == 0 && l->flip_armed) {
            copy = malloc(n);
            memcpy(copy, data, n);
            copy[l->flip_at % n] ^= l->flip_mask ? l->flip_mask : 1;
            l->flip_armed = 0;
            in = copy;
        }
        used = cairn_node_peer_recv(net->nodes[to].core, q, in, n);
        if (used < 0)
            used = (long)n; /* the receiving session failed and is closing */
        else if (to == 0)
            nc_track(net, l, 0, in, (size_t)used);
    }
    if (from == 0)
        nc_track(net, l, 1, data, (size_t)used);
    free(copy);
    cairn_node_peer_sent(net->nodes[from].core, p, (size_t)used);
    if (cairn_node_peer_pending(net->nodes[from].core, p, &data))
        *flush = 1;
    return (size_t)used;
}

static void close_done(nc_net *net, nc_link *l)
{
    if ((l->pa && cairn_node_peer_want_close(l->pa)) ||
        (l->pb && cairn_node_peer_want_close(l->pb)))
        cut(net, l);
}

static void pump(nc_net *net, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        size_t moved = 0;
        for (int i = 0; i < net->n; i++)
            drain(net, i);
        for (int k = 0; k < NC_LINKS; k++) {
            nc_link *l = &net->links[k];
            if (!l->used)
                continue;
            moved += move(net, l, 1, SIZE_MAX);
            if (l->used)
                moved += move(net, l, 0, SIZE_MAX);
            if (l->used)
                close_done(net, l);
        }
        if (!moved)
            break;
    }
    for (int i = 0; i < net->n; i++)
        drain(net, i);
}

static void advance(nc_net *net, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 50) {
        uint64_t step = ms - t < 50 ? ms - t : 50;
        net->fe.now += step;
        net->fe.wall += step;
        for (int i = 0; i < net->n; i++) {
            if (i == 0 && net->stopped)
                continue;
            cairn_node *c = net->nodes[i].core;
            if (net->fe.now >= cairn_node_deadline(c))
                cairn_node_tick(c);
            if (net->fe.now >= cairn_node_wake_at(c))
                cairn_node_wake(c);
            for (int k = 0; k < NC_LINKS; k++) {
                nc_link *l = &net->links[k];
                cairn_node_peer *p = !l->used ? NULL : l->a == i ? l->pa : l->b == i ? l->pb : NULL;
                if (p && net->fe.now >= cairn_node_peer_deadline(c, p))
                    cairn_node_peer_tick(c, p);
            }
        }
        pump(net, 50);
    }
}

static nc_link *pick_link(nc_net *net, uint8_t v, int victim_end)
{
    for (int k = 0; k < NC_LINKS; k++) {
        nc_link *l = &net->links[(v + k) % NC_LINKS];
        if (l->used && (!victim_end || l->a == 0 || l->b == 0))
            return l;
    }
    return NULL;
}

static cairn_node_peer *victim_end(nc_link *l)
{
    return l->a == 0 ? l->pa : l->b == 0 ? l->pb : NULL;
}

/* ---- ops ---------------------------------------------------------------------------------- */

static void op_connect(nc_net *net, fuzz_in *in)
{
    int a = fuzz_u8(in) % net->n, b = fuzz_u8(in) % net->n;
    if (a == b)
        b = (b + 1) % net->n;
    if ((a == 0 || b == 0) && net->stopped)
        return;
    cairn_node_add_configured(net->nodes[a].core, (const struct sockaddr *)&net->nodes[b].addr,
                              sizeof(net->nodes[b].addr), NULL);
    cairn_node_tick(net->nodes[a].core);
    drain(net, a);
}

static void op_inject(nc_net *net, fuzz_in *in)
{
    nc_link *l = pick_link(net, fuzz_u8(in), 1);
    uint8_t t = fuzz_u8(in);
    size_t len = fuzz_u16(in) % 4096, got;
    const uint8_t *payload = fuzz_bytes(in, len, &got);
    if (!l || net->stopped)
        return;
    cairn_node_peer *v = victim_end(l), *o = l->a == 0 ? l->pb : l->pa;
    const uint8_t *d;
    if (!v || (o && cairn_node_peer_pending(net->nodes[l->a == 0 ? l->b : l->a].core, o, &d)))
        return; /* only at a frame boundary of the other end's output */
    uint16_t type = t < 0xF0 ? fuzz_msg_types[t % fuzz_n_msg_types] : (uint16_t)(0x8000 + t);
    uint8_t *f = malloc(CAIRN_FRAME_HEADER_LEN + got);
    cairn_frame_header_encode(f, type, (uint32_t)got);
    memcpy(f + CAIRN_FRAME_HEADER_LEN, payload, got);
    long used = cairn_node_peer_recv(net->nodes[0].core, v, f, CAIRN_FRAME_HEADER_LEN + got);
    if (used > 0)
        nc_track(net, l, 0, f, (size_t)used);
    if (used >= 0 && (size_t)used < CAIRN_FRAME_HEADER_LEN + got)
        l->untracked = 1; /* the rest is lost: the stream is no longer framed */
    free(f);
    drain(net, 0);
}

static void op_raw_open(nc_net *net, fuzz_in *in)
{
    uint8_t kind = fuzz_u8(in), x = fuzz_u8(in), y = fuzz_u8(in);
    if (net->stopped)
        return;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)(40000 + x));
    /* 10.200+.x.y (four /16 groups), one of the helpers' addresses, or a public one */
    uint32_t ip = kind % 4 == 0   ? 0x0ac80000u + ((uint32_t)(x & 3) << 16) + y
                  : kind % 4 == 1 ? NC_PEER_ADDR(1 + x % (net->n - 1))
                                  : 0xc6336400u + y; /* 198.51.100.y */
    sa.sin_addr.s_addr = htonl(ip);
    /* or IPv6: 2001:db8:x::y, or the IPv4-mapped form of the IPv4 one [ADDR-1] */
    struct sockaddr_in6 sa6 = {0};
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = sa.sin_port;
    if (kind & 0x40) {
        sa6.sin6_addr.s6_addr[10] = sa6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&sa6.sin6_addr.s6_addr[12], &sa.sin_addr, 4);
    } else {
        static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
        memcpy(sa6.sin6_addr.s6_addr, doc, 4);
        sa6.sin6_addr.s6_addr[5] = x;
        sa6.sin6_addr.s6_addr[15] = y;
    }
    int v6 = kind % 4 == 3 || (kind & 0x40);
    nc_link *l = new_link(net, -1, 0);
    if (!l)
        return;
    if (cairn_node_accept(net->nodes[0].core, &l->pb,
                          v6 ? (const struct sockaddr *)&sa6 : (const struct sockaddr *)&sa,
                          v6 ? sizeof(sa6) : sizeof(sa), l) != 0) {
        l->used = 0;
        drain(net, 0);
        return;
    }
    live_add(&net->nodes[0], l->pb);
    if (!(kind & 0x80))
        start(net, 0, l->pb); /* else: the TLS handshake has not finished yet */
    drain(net, 0);
}

static void op_raw_send(nc_net *net, fuzz_in *in)
{
    uint8_t v = fuzz_u8(in);
    size_t len = fuzz_u16(in) % 8192, got;
    const uint8_t *d = fuzz_bytes(in, len, &got);
    nc_link *l = NULL;
    for (int k = 0; k < NC_LINKS && !l; k++) {
        nc_link *c = &net->links[(v + k) % NC_LINKS];
        if (c->used && c->a < 0 && c->pb)
            l = c;
    }
    if (!l || net->stopped || !cairn_node_peer_session(l->pb))
        return;
    long used = cairn_node_peer_recv(net->nodes[0].core, l->pb, d, got);
    if (used > 0)
        nc_track(net, l, 0, d, (size_t)used);
    drain(net, 0);
}

static void op_publish(nc_net *net, fuzz_in *in)
{
    int i = fuzz_u8(in) % net->n;
    int count = 1 + fuzz_u8(in) % 8;
    uint8_t buf[8][256];
    cairn_bytes_ref refs[8];
    for (int k = 0; k < count; k++) {
        size_t len = fuzz_u8(in), got;
        const uint8_t *d = fuzz_bytes(in, len, &got);
        buf[k][0] = CAIRN_ENTRY_DATA;
        memcpy(buf[k] + 1, d, got);
        refs[k] = (cairn_bytes_ref){buf[k], got + 1};
    }
    if (i == 0 && net->stopped)
        return;
    cairn_node_publish_entries(net->nodes[i].core, refs, (size_t)count);
    drain(net, i);
}

static void op_mine(nc_net *net, int i)
{
    if (i == 0 && net->stopped)
        return;
    for (int k = 0; k < 64; k++)
        if (cairn_node_mine_step(net->nodes[i].core, 20000))
            break;
    drain(net, i);
}

/* The operator restarts the victim: its transports end, the core is deleted
 * (saving what is dirty) and created again on the same store. */
static void op_restart(nc_net *net)
{
    for (int k = 0; k < NC_LINKS; k++) {
        nc_link *l = &net->links[k];
        if (!l->used || (l->a != 0 && l->b != 0))
            continue;
        l->used = 0;
        int other = l->a == 0 ? l->b : l->a;
        cairn_node_peer *o = l->a == 0 ? l->pb : l->pa;
        if (other >= 0 && o) {
            cairn_node_peer_eof(net->nodes[other].core, o, "restart");
            peer_closed(net, other, o);
        }
    }
    nc_node *nd = &net->nodes[0];
    cairn_node_del(nd->core); /* frees its peers without actions */
    nd->core = NULL;
    nd->n_live = 0;
    net->stopped = 0;
    net->store_failed = 0;
    net->store_fail = 0;
    net->batch_open = 0;
    FUZZ_CHECK(cairn_node_new(&nd->core, &nd->cfg) == 0,
               "the victim does not restart on its store");
}

static void run_op(nc_net *net, fuzz_in *in)
{
    uint8_t op = fuzz_u8(in) % OP_COUNT;
    nc_link *l;
    switch (op) {
    case OP_CONNECT:
        op_connect(net, in);
        break;
    case OP_PUMP:
        pump(net, 1 + fuzz_u8(in) % 32);
        break;
    case OP_TIME: {
        uint16_t v = fuzz_u16(in);
        /* up to 10 s in 50 ms steps, or a jump of minutes */
        uint64_t ms = v & 0x8000 ? (uint64_t)(v & 0x7fff) * 1000 : (uint64_t)(v % 10000);
        if (ms > 10000) { /* a jump: the clock moves, then one step of ticks */
            net->fe.now += ms - 50;
            net->fe.wall += ms - 50;
            ms = 50;
        }
        advance(net, ms);
        break;
    }
    case OP_MINE:
        op_mine(net, fuzz_u8(in) % net->n);
        break;
    case OP_CUT:
        if ((l = pick_link(net, fuzz_u8(in), 0)))
            cut(net, l);
        break;
    case OP_MUTE: {
        uint8_t v = fuzz_u8(in), dir = fuzz_u8(in);
        if ((l = pick_link(net, v, 0))) {
            if (dir & 1)
                l->mute_ab = !l->mute_ab;
            else
                l->mute_ba = !l->mute_ba;
        }
        break;
    }
    case OP_INJECT:
        op_inject(net, in);
        break;
    case OP_FLIP: {
        uint8_t v = fuzz_u8(in);
        uint16_t at = fuzz_u16(in);
        uint8_t mask = fuzz_u8(in);
        if ((l = pick_link(net, v, 1))) {
            l->flip_armed = 1;
            l->flip_at = at;
            l->flip_mask = mask;
            l->untracked = 1; /* the victim reads altered frames */
        }
        break;
    }
    case OP_PIECE: {
        uint8_t v = fuzz_u8(in), dir = fuzz_u8(in), n = fuzz_u8(in);
        if ((l = pick_link(net, v, 0))) {
            int *flush = dir & 1 ? &l->flush_a : &l->flush_b;
            int was = *flush;
            move(net, l, dir & 1, (size_t)n + 1);
            *flush |= was && l->used; /* the rest stays writable */
            if (l->used)
                close_done(net, l);
        }
        break;
    }
    case OP_EOF:
        if ((l = pick_link(net, fuzz_u8(in), 1)) && victim_end(l) && !net->stopped) {
            cairn_node_peer_eof(net->nodes[0].core, victim_end(l), "eof");
            drain(net, 0);
            if (l->used)
                close_done(net, l);
        }
        break;
    case OP_STORE_FAIL:
        net->store_fail = 1 + fuzz_u8(in) % 4;
        break;
    case OP_PUBLISH:
        op_publish(net, in);
        break;
    case OP_RAW_OPEN:
        op_raw_open(net, in);
        break;
    case OP_RAW_SEND:
        op_raw_send(net, in);
        break;
    case OP_HEARD: {
        uint8_t v = fuzz_u8(in);
        for (int k = 0; k < NC_LINKS; k++) {
            nc_link *c = &net->links[(v + k) % NC_LINKS];
            if (c->used && c->a < 0 && c->pb && !net->stopped) {
                cairn_node_peer_heard(net->nodes[0].core, c->pb);
                if (!cairn_node_peer_session(c->pb) && (v & 0x80))
                    start(net, 0, c->pb); /* its TLS handshake finishes */
                drain(net, 0);
                break;
            }
        }
        break;
    }
    case OP_RESTART:
        op_restart(net);
        break;
    case OP_DIAL_FAIL:
        net->dial_fail = 1 + fuzz_u8(in) % 4;
        break;
    case OP_SHUTDOWN:
        if (!net->stopped) {
            cairn_node_shutdown(net->nodes[0].core);
            drain(net, 0);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ids[0]) {
        for (int i = 0; i < NC_NODES; i++) {
            uint8_t seed[CAIRN_KEY_LEN];
            memset(seed, 0x40 + i, sizeof(seed));
            FUZZ_CHECK(cairn_identity_from_seed(&ids[i], seed) == 0, "identity");
        }
    }
    fuzz_in in = {data, data + size};
    static nc_net net;
    memset(&net, 0, sizeof(net));
    uint8_t flags = fuzz_u8(&in), more = flags & 0x80 ? fuzz_u8(&in) : 0;
    nc_init(&net, flags, more, more & 0x80 ? fuzz_u8(&in) : 0);
    for (int ops = 0; fuzz_left(&in) && ops < NC_OPS; ops++) {
        run_op(&net, &in);
        check_tip(&net);
        check_memory(&net);
        check_low_work(&net);
        check_core(&net);
    }
    static int debug = -1;
    if (debug < 0)
        debug = getenv("NC_DEBUG") != NULL;
    for (int i = 0; debug && i < net.n; i++) {
        cairn_node_stats st;
        cairn_node_get_stats(net.nodes[i].core, &st);
        fprintf(
            stderr, "node %d: height %llu, in %d out %d ready %d, %zu addrs, mined %llu%s\n", i,
            (unsigned long long)cairn_chain_tip(cairn_node_chain(net.nodes[i].core))->hdr.height,
            st.n_inbound, st.n_outbound, st.n_ready, st.n_addrs,
            (unsigned long long)st.blocks_mined, i == 0 && net.stopped ? ", stopped" : "");
    }
    for (int k = 0; k < NC_LINKS; k++) {
        free(net.links[k].out.buf);
        free(net.links[k].in.buf);
    }
    for (int i = 0; i < net.n; i++) {
        cairn_node_del(net.nodes[i].core);
        cairn_node_memstore_del(net.nodes[i].ms);
    }
    FUZZ_CHECK(net.live_bytes == 0, "the victim leaks %zu bytes", net.live_bytes);
    cairn_msg_decoder_free(&net.dec);
    free(net.known);
    g = NULL;
    return 0;
}
