/*
 * The node core's API (cairn/node.h): lifetime, the events a driver feeds,
 * the session callbacks, and the actions and deadlines it drains. Protocol
 * decisions live in msg.c, sync.c and admit.c; this file routes to them.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "node_int.h"

/* ---- sessions -------------------------------------------------------------------- */

static void session_config(node *n, cairn_session_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (node_flush(n) != 0) /* [VAL-32] the Hello names our tip: it is on disk first */
        LOGW(n, "store: the batch did not commit before a Hello");
    const cairn_chain_block *tip = cairn_chain_tip(n->chain);
    cfg->identity = n->cfg.identity;
    memcpy(cfg->network_id, n->cfg.net->genesis_id, CAIRN_HASH_LEN);
    cfg->services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS;
    if (n->cfg.files)
        cfg->services |= CAIRN_SERVICE_FILES;
    memcpy(cfg->tip_id, tip->id, CAIRN_HASH_LEN);
    cfg->tip_height = tip->hdr.height;
    memcpy(cfg->total_work, tip->work.be, 32);
    cfg->max_frame_size = CAIRN_FRAME_MAX_MIN;
    cfg->user_agent = n->cfg.user_agent ? n->cfg.user_agent : "cairnd/0.1.0";
    cfg->listen_port = n->cfg.listen_port;
    cfg->handshake_timeout_ms = n->cfg.handshake_timeout_ms;
    cfg->idle_timeout_ms = n->cfg.idle_timeout_ms;
    cfg->ping_interval_ms = n->cfg.ping_interval_ms;
}

static uint32_t on_peer_auth(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    (void)s;
    peer *p = ud;
    node *n = p->n;
    /* [ADDR-3] an address whose node ID we know must prove that ID */
    if (p->outbound && p->addr_slot >= 0) {
        uint32_t code = addrbook_check_id(n->book, p->addr_slot, info->node_id);
        if (code) {
            p->no_discourage = 1; /* [MIS-15] another node, not a misbehaving one */
            return code;
        }
    }
    /* [AUTH-8] a node already connected (either direction) is a duplicate */
    for (peer *q = n->peers; q; q = q->next)
        if (q != p && q->ready && memcmp(q->info.node_id, info->node_id, CAIRN_HASH_LEN) == 0)
            return CAIRN_E_DUPLICATE_PEER;
    /* [MIS-10] a discouraged node ID holds a slot like anyone while slots are
     * free (admission counted it already); it is the first to be evicted */
    if (!p->noban && addrbook_is_discouraged(n->book, NULL, info->node_id))
        p->discouraged = 1;
    return 0;
}

/* [DISC-11] an inbound peer is reachable at its session's IP and the port it
 * announced; [DISC-9] an address a peer announced as its own may be handed out */
static void learn_listen_addr(peer *p, const cairn_peer_info *info)
{
    struct sockaddr_storage sa = p->sa;
    socklen_t len = p->salen;
    if (sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)info->listen_port);
    else
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)info->listen_port);
    int slot = addrbook_add_from(p->n->book, &sa, len, info->services, info->node_id, &p->sa);
    if (slot >= 0)
        addrbook_seen(p->n->book, slot, node_wall(p->n));
}

static void on_ready(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    (void)s;
    peer *p = ud;
    node *n = p->n;
    p->ready = 1;
    p->info = *info;
    char id[65];
    cairn_hex_encode(id, info->node_id, 32);
    LOGI(n, "peer %s: ready, %s node %.16s (%s), height %llu", p->addr,
         p->outbound ? "outbound to" : "inbound from", id, info->user_agent,
         (unsigned long long)info->tip_height);
    if (p->outbound && p->addr_slot >= 0) /* [ADDR-10] to the tried table */
        addrbook_good(n->book, p->addr_slot, node_wall(n), info->services, info->node_id);
    if (!p->outbound && info->listen_port)
        learn_listen_addr(p, info);
    handle_ready(p);
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    handle_message(ud, type, m);
}

/* [MIS-1] [MIS-2] codes that say the peer broke a MUST; the others do not discourage. */
static int discourages(uint32_t code)
{
    switch (code) {
    case 0:
    case CAIRN_E_SHUTDOWN:
    case CAIRN_E_TOO_MANY_PEERS:
    case CAIRN_E_DUPLICATE_PEER:
    case CAIRN_E_SELF_CONNECTION:
    case CAIRN_E_WRONG_NETWORK:
    case CAIRN_E_VERSION_MISMATCH:
    case CAIRN_E_HANDSHAKE_TIMEOUT:
    case CAIRN_E_IDLE_TIMEOUT:
    case CAIRN_E_DISCOURAGED:
    case CAIRN_E_INTERNAL_ERROR:
    case CAIRN_E_WRONG_NODE_ID: /* [MIS-15] */
        return 0;
    default:
        return 1;
    }
}

static void on_close(cairn_session *s, const cairn_close_info *ci, void *ud)
{
    peer *p = ud;
    node *n = p->n;
    const char *name = ci->code ? cairn_wire_error_name(ci->code) : NULL;
    /* the peer's text, escaped: no forged log lines or terminal escapes
     * (found by fuzz_node_core) */
    char msg[4 * 256 + 8];
    cairn_text_escape(msg, sizeof(msg), ci->message);
    LOGI(n, "peer %s: closed %s %s%s%s", p->addr, ci->by_peer ? "by peer" : "by us",
         name ? name : (ci->code ? "(unknown code)" : "without error"), msg[0] ? ": " : "", msg);
    int configured = p->outbound && addrbook_is_configured(n->book, p->addr_slot);
    /* [MIS-9] --noban addresses and configured peers are never discouraged */
    if (!ci->by_peer && discourages(ci->code) && !p->no_discourage && !p->noban && !configured) {
        const cairn_peer_info *info = cairn_session_peer(s);
        addrbook_discourage(n->book, &p->sa, info ? info->node_id : NULL);
        LOGI(n, "peer %s: discouraged for %u s", p->addr, addrbook_discourage_ms(n->book) / 1000);
    }
    if (ci->code == CAIRN_E_SELF_CONNECTION && p->outbound)
        addrbook_never(n->book, p->addr_slot); /* never again */
    if (!p->closing_ms)
        p->closing_ms = node_now(n);
    peer_want_flush(p);
}

static int is_own_nonce(cairn_session *s, uint64_t nonce, void *ud)
{
    (void)s;
    /* [HS-26] the nonce of any of our sessions' Hellos */
    for (peer *q = ((peer *)ud)->n->peers; q; q = q->next)
        if (q->sess && cairn_session_hello_nonce(q->sess) == nonce)
            return 1;
    return 0;
}

static const cairn_session_callbacks session_callbacks = {
    .on_peer_auth = on_peer_auth,
    .on_ready = on_ready,
    .on_message = on_message,
    .on_close = on_close,
    .is_own_nonce = is_own_nonce,
};

/* ---- lifetime ----------------------------------------------------------------------- */

static void on_tip(void *ud, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork)
{
    node *n = ud;
    char id[65];
    cairn_hex_encode(id, new_tip->id, 32);
    if (old_tip && fork != old_tip)
        LOGI(n, "reorg: %llu block(s) replaced, fork at height %llu",
             (unsigned long long)(old_tip->hdr.height - fork->hdr.height),
             (unsigned long long)fork->hdr.height);
    if (n->syncing) /* the progress line reports sync; one line per block would flood */
        LOGD(n, "tip %llu %.16s", (unsigned long long)new_tip->hdr.height, id);
    else
        LOGI(n, "tip %llu %.16s", (unsigned long long)new_tip->hdr.height, id);
    limits_on_tip(n, old_tip, new_tip, fork); /* [REL-25] before entries return to the pool */
    sync_on_tip(n, old_tip, new_tip, fork);
    if (n->cfg.on_tip)
        n->cfg.on_tip(n->cfg.ud, old_tip, new_tip);
}

static int load_addr(void *ud, const cairn_node_addr_rec *r)
{
    addrbook_load_rec(ud, r); /* a refused record (its cell taken) is just not kept */
    return 0;
}

static int load_disc(void *ud, const cairn_node_disc_rec *r)
{
    addrbook_disc_load_rec(ud, r);
    return 0;
}

static int open_book(node *n)
{
    addrbook_config bc;
    memset(&bc, 0, sizeof(bc));
    bc.env = n->env;
    bc.key = n->cfg.book_key;
    bc.listen_port = n->cfg.listen_port;
    bc.listen_sa = n->cfg.listen_sa;
    bc.local_network = n->cfg.local_network;
    bc.outbound_target = n->cfg.outbound_target;
    bc.discourage_ms = n->cfg.discourage_ms;
    int rv = addrbook_new(&n->book, &bc);
    if (rv)
        return rv;
    const cairn_node_store *st = n->store;
    if (st->load_addrs && st->load_addrs(st->ud, load_addr, n->book) != 0)
        LOGW(n, "address book: the stored addresses could not be read");
    if (st->load_disc && st->load_disc(st->ud, load_disc, n->book) != 0)
        LOGW(n, "discouragement: the stored entries could not be read");
    addrbook_clean(n->book);
    addrbook_disc_clean(n->book);
    return 0;
}

int cairn_node_new(cairn_node **out, const cairn_node_config *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->net || !cfg->env || !cfg->store || !cfg->store->chain ||
        !cfg->store->get_block || !cfg->identity || cfg->n_noban < 0 ||
        cfg->n_noban > NODE_MAX_NOBAN)
        return CAIRN_ERR_INVALID_ARG;
    node *n = cairn_mem_calloc(cfg->env->mem, 1, sizeof(*n));
    if (!n)
        return CAIRN_ERR_NOMEM;
    n->cfg = *cfg;
    if (cfg->n_noban)
        memcpy(n->noban, cfg->noban, (size_t)cfg->n_noban * sizeof(n->noban[0]));
    n->cfg.noban = n->noban;
    if (!n->cfg.max_inbound)
        n->cfg.max_inbound = 117;
    if (!n->cfg.getdata_per_s)
        n->cfg.getdata_per_s = NODE_GETDATA_PER_S;
    if (!n->cfg.getdata_burst)
        n->cfg.getdata_burst = NODE_GETDATA_BURST;
    if (!n->cfg.upload_per_s)
        n->cfg.upload_per_s = NODE_UPLOAD_PER_S;
    if (!n->cfg.upload_burst)
        n->cfg.upload_burst = NODE_UPLOAD_BURST;
    if (n->cfg.upload_per_s > NODE_UPLOAD_MAX) /* keeps the bucket's arithmetic in range */
        n->cfg.upload_per_s = NODE_UPLOAD_MAX;
    if (n->cfg.upload_burst > NODE_UPLOAD_MAX)
        n->cfg.upload_burst = NODE_UPLOAD_MAX;
    if (n->cfg.max_inbound > NODE_MAX_INBOUND_HARD)
        n->cfg.max_inbound = NODE_MAX_INBOUND_HARD;
    if (!n->cfg.max_per_ip)
        n->cfg.max_per_ip = 4;
    if (!n->cfg.outbound_target)
        n->cfg.outbound_target = 8;
    else if (n->cfg.outbound_target < 0) /* CAIRN_NODE_NO_OUTBOUND (--outbound 0) */
        n->cfg.outbound_target = 0;
    if (!n->cfg.handshake_timeout_ms)
        n->cfg.handshake_timeout_ms = CAIRN_HANDSHAKE_TIMEOUT_MS;
    n->env = cfg->env;
    n->mem = cfg->env->mem;
    n->store = cfg->store;
    cairn_chain_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.net = cfg->net;
    cc.env = cfg->env;
    cc.store = cfg->store->chain;
    cc.max_low_work = cfg->max_low_work;
    cc.on_tip = on_tip;
    cc.ud = n;
    int rv = cairn_identity_node_id(cfg->identity, n->node_id);
    if (!rv)
        rv = cairn_chain_new(&n->chain, &cc);
    if (!rv)
        rv = cairn_mempool_new(&n->pool, n->mem, 0, 0);
    if (!rv)
        rv = cairn_sha256_ctx_new(&n->sha);
    if (!rv && n->env->random((uint8_t *)&n->evict_key, sizeof(n->evict_key), n->env->ud) != 0)
        rv = CAIRN_ERR_CRYPTO;
    if (!rv)
        rv = open_book(n);
    if (rv) {
        cairn_node_del(n);
        return rv;
    }
    limits_rebuild_recent(n);
    n->next_tick_ms = node_now(n);
    n->wake_ms = UINT64_MAX;
    *out = n;
    return 0;
}

static void save_book(node *n)
{
    const cairn_node_store *st = n->store;
    if (addrbook_dirty(n->book) && st->save_addrs) {
        size_t max = addrbook_count(n->book);
        cairn_node_addr_rec *recs = cairn_mem_malloc(n->mem, (max ? max : 1) * sizeof(*recs));
        if (!recs)
            return;
        /* configured-only entries come from the command line */
        size_t k = addrbook_export(n->book, recs, max, 0, 1);
        if (st->save_addrs(st->ud, recs, k) == 0)
            addrbook_clean(n->book);
        cairn_mem_free(n->mem, recs);
    }
    if (addrbook_disc_dirty(n->book) && st->save_disc) {
        cairn_node_disc_rec *recs = cairn_mem_malloc(n->mem, NODE_MAX_DISCOURAGED * sizeof(*recs));
        if (!recs)
            return;
        size_t k = addrbook_disc_export(n->book, recs, NODE_MAX_DISCOURAGED);
        if (st->save_disc(st->ud, recs, k) == 0)
            addrbook_disc_clean(n->book);
        cairn_mem_free(n->mem, recs);
    }
}

static void peer_free(peer *p);

void cairn_node_del(cairn_node *n)
{
    if (!n)
        return;
    while (n->peers)
        peer_free(n->peers);
    if (n->book)
        save_book(n);
    addrbook_del(n->book);
    cairn_chain_del(n->chain);
    if (n->store && progress_commit(n) < 0)
        LOGE(n, "store: the last batch did not commit");
    cairn_mempool_del(n->pool);
    cairn_sha256_ctx_del(n->sha);
    cairn_mem_free(n->mem, n->rate);
    cairn_mem_free(n->mem, n->failed);
    cairn_mem_free(n->mem, n->flush_list);
    cairn_mem_free(n->mem, n);
}

cairn_chain *cairn_node_chain(cairn_node *n)
{
    return n->chain;
}

cairn_mempool *cairn_node_pool(cairn_node *n)
{
    return n->pool;
}

const uint8_t *cairn_node_id(const cairn_node *n)
{
    return n->node_id;
}

int cairn_node_add_configured(cairn_node *n, const struct sockaddr *sa, socklen_t len,
                              const uint8_t *node_id)
{
    struct sockaddr_storage ss;
    if (len > sizeof(ss))
        return -1;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, sa, len);
    return addrbook_add(n->book, &ss, len, 1, 0, 0, node_id) == -1 ? -1 : 0;
}

/* ---- peers ------------------------------------------------------------------------------ */

static void format_addr(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, netaddr_port(sa));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, netaddr_port(sa));
    }
}

static peer *peer_new(node *n, const struct sockaddr_storage *sa, socklen_t len, int outbound,
                      void *ud)
{
    peer *p = cairn_mem_calloc(n->mem, 1, sizeof(*p));
    if (!p)
        return NULL;
    p->n = n;
    p->ud = ud;
    p->outbound = outbound;
    p->addr_slot = -1;
    p->sa = *sa;
    p->salen = len;
    p->stall_ms = NODE_STALL_MIN_MS;
    p->connected_ms = node_now(n);
    p->group = netaddr_group(sa);
    p->noban = admit_is_noban(n, sa);
    p->rtt_ms = UINT64_MAX;
    format_addr(sa, p->addr, sizeof(p->addr));
    p->next = n->peers;
    n->peers = p;
    if (!outbound)
        n->n_inbound++; /* outbound ones were counted at their DIAL */
    return p;
}

static void peer_free(peer *p)
{
    node *n = p->n;
    sync_peer_gone(p);
    for (peer **pp = &n->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    for (size_t i = 0; i < n->n_flush; i++)
        if (n->flush_list[i] == p) {
            n->flush_list[i] = n->flush_list[--n->n_flush];
            break;
        }
    if (p->outbound) {
        n->n_outbound--;
        if (p->addr_slot >= 0)
            addrbook_disconnected(n->book, p->addr_slot, p->ready);
    } else {
        n->n_inbound--;
    }
    cairn_session_del(p->sess);
    cairn_mem_free(n->mem, p);
}

int cairn_node_accept(cairn_node *n, cairn_node_peer **out, const struct sockaddr *sa_in,
                      socklen_t len, void *ud)
{
    /* Who may connect (§12.3, admit.c): a refused connection gets a session
     * that says why and closes, unless it is over its accept rate. */
    *out = NULL;
    struct sockaddr_storage norm;
    if (len > sizeof(norm))
        return -1;
    memset(&norm, 0, sizeof(norm));
    memcpy(&norm, sa_in, len);
    netaddr_normalise(&norm, &len); /* [ADDR-1] */
    int drop = 0;
    uint32_t refuse = n->stopping ? CAIRN_E_SHUTDOWN : admit_inbound(n, &norm, &drop);
    if (n->stopping || drop || (refuse && n->n_inbound >= n->cfg.max_inbound + 16))
        return -1; /* far over the cap, or too fast: not even a session */
    peer *p = peer_new(n, &norm, len, 0, ud);
    if (!p)
        return -1;
    p->refuse = refuse;
    p->discouraged = !p->noban && addrbook_is_discouraged(n->book, &norm, NULL); /* [MIS-11] */
    LOGD(n, "peer %s: accepted%s%s", p->addr, refuse ? ", refusing: " : "",
         refuse ? cairn_wire_error_name(refuse) : "");
    *out = p;
    return 0;
}

int cairn_node_dial_done(cairn_node *n, int dial_id, cairn_node_peer **out, void *ud)
{
    *out = NULL;
    if (dial_id < 0 || dial_id >= NODE_MAX_DIALS || !n->dials[dial_id])
        return CAIRN_ERR_INVALID_ARG;
    int slot = n->dials[dial_id] - 1;
    n->dials[dial_id] = 0;
    socklen_t len = 0;
    const struct sockaddr_storage *sa = addrbook_addr(n->book, slot, &len);
    peer *p = sa ? peer_new(n, sa, len, 1, ud) : NULL;
    if (!p) {
        n->n_outbound--;
        addrbook_set_connected(n->book, slot, 0);
        return sa ? CAIRN_ERR_NOMEM : CAIRN_ERR_STATE;
    }
    p->addr_slot = slot;
    LOGD(n, "peer %s: connected", p->addr);
    *out = p;
    return 0;
}

void cairn_node_dial_failed(cairn_node *n, int dial_id)
{
    if (dial_id < 0 || dial_id >= NODE_MAX_DIALS || !n->dials[dial_id])
        return;
    int slot = n->dials[dial_id] - 1;
    n->dials[dial_id] = 0;
    n->n_outbound--;
    addrbook_set_connected(n->book, slot, 0);
    addrbook_failed(n->book, slot); /* [ADDR-11] */
}

int cairn_node_peer_start(cairn_node *n, cairn_node_peer *p, const uint8_t *binding,
                          size_t binding_len, cairn_session **out)
{
    if (out)
        *out = NULL;
    if (p->sess)
        return CAIRN_ERR_STATE;
    cairn_session_config cfg;
    session_config(n, &cfg);
    cfg.initiator = p->outbound;
    cfg.binding = binding;
    cfg.binding_len = binding_len;
    int rv = cairn_session_new(&p->sess, &cfg, &session_callbacks, p, n->env);
    if (rv) {
        p->sess = NULL;
        LOGW(n, "peer %s: no session: %s", p->addr, cairn_strerror(rv));
        peer_drop(p);
        return rv;
    }
    if (p->refuse) { /* [ADM-2] it learns why before it goes */
        peer_close(p, p->refuse, cairn_wire_error_name(p->refuse));
        p->refuse = 0;
    }
    if (out)
        *out = p->sess;
    peer_want_flush(p);
    return 0;
}

long cairn_node_peer_recv(cairn_node *n, cairn_node_peer *p, const uint8_t *data, size_t len)
{
    (void)n;
    p->heard = 1;
    if (!p->sess)
        return CAIRN_ERR_STATE;
    long rv = cairn_session_recv(p->sess, data, len);
    peer_want_flush(p);
    return rv;
}

void cairn_node_peer_heard(cairn_node *n, cairn_node_peer *p)
{
    (void)n;
    p->heard = 1; /* [ADM-3] it has sent something */
}

void cairn_node_peer_eof(cairn_node *n, cairn_node_peer *p, const char *why)
{
    if (why && why[0] && !(p->sess && cairn_session_close_info(p->sess)))
        LOGI(n, "peer %s: %s", p->addr, why);
    if (p->sess && cairn_session_state(p->sess) < CAIRN_SS_CLOSED)
        cairn_session_eof(p->sess);
}

void cairn_node_peer_closed(cairn_node *n, cairn_node_peer *p)
{
    (void)n;
    peer_free(p);
}

void cairn_node_peer_tick(cairn_node *n, cairn_node_peer *p)
{
    uint64_t now = node_now(n);
    if (p->sess && p->closing_ms && now >= p->closing_ms + NODE_CLOSING_MS) {
        /* [CLOSE-8] a peer that does not read our last bytes is not waited for */
        LOGD(n, "peer %s: closing took %d ms, dropping the connection", p->addr, NODE_CLOSING_MS);
        peer_drop(p);
        return;
    }
    if (p->sess) {
        /* a timeout closes the session itself; on_close has seen it */
        (void)cairn_session_tick(p->sess);
        peer_want_flush(p);
    } else if (now >= p->connected_ms + n->cfg.handshake_timeout_ms) {
        /* [HS-38] the timeout covers TCP connect and TLS, not only the session */
        LOGI(n, "peer %s: handshake timeout (before the session started)", p->addr);
        peer_drop(p);
    }
}

/* ---- the node's own timers ------------------------------------------------------------- */

static void dial_targets(node *n)
{
    uint64_t now = node_now(n);
    /* configured peers always; others from the book up to the target, one
     * network group each ([DISC-17], addrbook_select) */
    for (int k = 0; k < NODE_MAX_CONFIGURED + 1; k++) {
        uint64_t groups[64];
        int ng = 0;
        for (peer *q = n->peers; q && ng < 64; q = q->next)
            if (q->outbound)
                groups[ng++] = q->group;
        for (int d = 0; d < NODE_MAX_DIALS && ng < 64; d++) {
            const struct sockaddr_storage *sa =
                n->dials[d] ? addrbook_addr(n->book, n->dials[d] - 1, NULL) : NULL;
            if (sa)
                groups[ng++] = netaddr_group(sa);
        }
        int i = addrbook_select(n->book, groups, ng, n->n_outbound);
        if (i < 0)
            return;
        socklen_t len = 0;
        const struct sockaddr_storage *sa = addrbook_addr(n->book, i, &len);
        int busy = 0; /* already connected to that address, either way, and to the node
                       * expected there: [ADDR-12] another node there does not count */
        for (peer *q = n->peers; q && !busy; q = q->next)
            busy = q->ready && q->info.listen_port && netaddr_same_ip(&q->sa, sa) &&
                   q->info.listen_port == netaddr_port(sa) &&
                   addrbook_id_matches(n->book, i, q->info.node_id);
        int id = -1;
        for (int d = 0; d < NODE_MAX_DIALS && id < 0; d++)
            if (!n->dials[d])
                id = d;
        if (busy || id < 0) {
            addrbook_retry_at(n->book, i, now + 5000);
            continue;
        }
        cairn_node_action a;
        memset(&a, 0, sizeof(a));
        a.type = CAIRN_NODE_ACT_DIAL;
        a.dial_id = id;
        a.addr = *sa;
        a.addr_len = len;
        if (node_push_action(n, &a) != 0)
            return; /* the ring is full: next tick */
        n->dials[id] = i + 1;
        n->n_outbound++;
        addrbook_set_connected(n->book, i, 1);
    }
}

void cairn_node_tick(cairn_node *n)
{
    uint64_t now = node_now(n);
    n->next_tick_ms = now + NODE_TICK_MS;
    if (n->stopping)
        return;
    dial_targets(n);
    sync_tick(n);
    save_book(n);
}

void cairn_node_wake(cairn_node *n)
{
    if (n->stopping)
        return;
    if (node_now(n) >= n->wake_ms)
        sync_wake(n);
}

int cairn_node_mine_step(cairn_node *n, uint32_t tries)
{
    return mine_step(n, tries);
}

size_t cairn_node_publish_entries(cairn_node *n, const cairn_bytes_ref *entries, size_t count)
{
    size_t fresh = 0;
    cairn_bytes_ref news[256];
    for (size_t i = 0; i < count; i++) {
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason;
        if (cairn_entry_id(n->sha, id, entries[i].data, entries[i].len) != 0 ||
            cairn_mempool_contains(n->pool, id))
            continue;
        if (cairn_mempool_add(n->pool, entries[i].data, entries[i].len, id, &reason) != 0)
            continue; /* invalid, or the pool refuses it: not published */
        news[fresh % 256] = entries[i];
        if (++fresh % 256 == 0)
            relay_entries(n, news, 256, NULL);
    }
    if (fresh % 256)
        relay_entries(n, news, fresh % 256, NULL);
    return fresh;
}

void cairn_node_shutdown(cairn_node *n)
{
    n->stopping = 1;
    for (peer *p = n->peers; p; p = p->next)
        peer_close(p, CAIRN_E_SHUTDOWN, "node shutting down");
}

/* ---- actions ----------------------------------------------------------------------------- */

int cairn_node_next_action(cairn_node *n, cairn_node_action *out)
{
    memset(out, 0, sizeof(*out));
    if (n->act_len) {
        *out = n->actions[n->act_head];
        n->act_head = (n->act_head + 1) % NODE_ACTIONS_MAX;
        n->act_len--;
        if (out->type == CAIRN_NODE_ACT_STOP)
            n->store_failed = 0; /* taken: a later failure reports again */
        return 1;
    }
    while (n->n_flush) {
        peer *p = n->flush_list[--n->n_flush];
        p->flush_queued = 0;
        if (p->drop_issued)
            continue;
        if (p->sess && !p->closing_ms && cairn_session_state(p->sess) >= CAIRN_SS_CLOSING)
            p->closing_ms = node_now(n);
        out->peer = p;
        out->ud = p->ud;
        if (p->dropped) {
            p->drop_issued = 1;
            out->type = CAIRN_NODE_ACT_DROP;
            return 1;
        }
        if (!p->sess)
            continue;
        out->type = CAIRN_NODE_ACT_FLUSH;
        return 1;
    }
    return 0;
}

/* ---- what the driver reads ----------------------------------------------------------------- */

size_t cairn_node_peer_pending(cairn_node *n, cairn_node_peer *p, const uint8_t **data)
{
    (void)n;
    *data = NULL;
    return p->sess ? cairn_session_pending(p->sess, data) : 0;
}

void cairn_node_peer_sent(cairn_node *n, cairn_node_peer *p, size_t len)
{
    (void)n;
    if (p->sess)
        cairn_session_sent(p->sess, len);
}

int cairn_node_peer_want_close(const cairn_node_peer *p)
{
    return p->sess && cairn_session_want_close(p->sess);
}

int cairn_node_peer_want_read(const cairn_node_peer *p)
{
    return !p->sess || cairn_session_want_read(p->sess);
}

cairn_session *cairn_node_peer_session(const cairn_node_peer *p)
{
    return p->sess;
}

void *cairn_node_peer_ud(const cairn_node_peer *p)
{
    return p->ud;
}

const char *cairn_node_peer_name(const cairn_node_peer *p)
{
    return p->addr;
}

uint64_t cairn_node_peer_deadline(const cairn_node *n, const cairn_node_peer *p)
{
    if (p->closing_ms)
        return p->closing_ms + NODE_CLOSING_MS;
    if (!p->sess)
        return p->connected_ms + n->cfg.handshake_timeout_ms;
    return cairn_session_deadline(p->sess);
}

uint64_t cairn_node_deadline(const cairn_node *n)
{
    return n->next_tick_ms;
}

uint64_t cairn_node_wake_at(const cairn_node *n)
{
    return n->wake_ms;
}

int cairn_node_stopped(const cairn_node *n)
{
    return n->stopping && !n->peers;
}

void cairn_node_get_stats(const cairn_node *n, cairn_node_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->n_inbound = n->n_inbound;
    st->n_outbound = n->n_outbound;
    for (const peer *p = n->peers; p; p = p->next)
        st->n_ready += p->ready;
    st->blocks_mined = n->blocks_mined;
    st->n_addrs = addrbook_count(n->book);
    st->syncing = n->syncing;
}
