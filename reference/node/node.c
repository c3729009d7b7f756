/* cairnd: startup, the event loop, session plumbing and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cairn/port.h"
#include "log.h"
#include "node.h"
#include "share.h"

#define TICK_MS 250

uint64_t node_now(const node *n)
{
    return n->env->mono_ms(n->env->ud);
}

uint64_t node_wall(const node *n)
{
    return n->env->wall_ms(n->env->ud);
}

void node_session_config(node *n, cairn_session_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    node_flush(n); /* [VAL-32] the Hello names our tip: it is on disk first */
    const cairn_chain_block *tip = cairn_chain_tip(n->chain);
    cfg->identity = n->id;
    memcpy(cfg->network_id, n->cfg.net->genesis_id, CAIRN_HASH_LEN);
    cfg->services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS;
    if (n->cfg.share)
        cfg->services |= CAIRN_SERVICE_FILES;
    memcpy(cfg->tip_id, tip->id, CAIRN_HASH_LEN);
    cfg->tip_height = tip->hdr.height;
    memcpy(cfg->total_work, tip->work.be, 32);
    cfg->max_frame_size = CAIRN_FRAME_MAX_MIN;
    cfg->user_agent = "cairnd/0.1.0";
    cfg->listen_port = n->listen_port;
    cfg->handshake_timeout_ms = n->cfg.handshake_timeout_ms;
    cfg->idle_timeout_ms = n->cfg.idle_timeout_ms;
    cfg->ping_interval_ms = n->cfg.ping_interval_ms;
}

/* ---- session callbacks ---------------------------------------------------- */

static uint32_t on_peer_auth(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    (void)s;
    peer *p = ud;
    /* [ADDR-3] an address whose node ID we know must prove that ID */
    if (p->outbound && p->addr_slot >= 0 && p->n->addrs[p->addr_slot].has_id &&
        memcmp(p->n->addrs[p->addr_slot].node_id, info->node_id, CAIRN_HASH_LEN) != 0) {
        p->no_discourage = 1; /* [MIS-15] another node, not a misbehaving one */
        if (++p->n->addrs[p->addr_slot].id_mismatches >= 3 && !p->n->addrs[p->addr_slot].configured)
            p->n->addrs[p->addr_slot].next_try_ms = UINT64_MAX; /* the address changed hands */
        return CAIRN_E_WRONG_NODE_ID;
    }
    /* [AUTH-8] a node already connected (either direction) is a duplicate */
    for (peer *q = p->n->peers; q; q = q->next)
        if (q != p && q->ready && memcmp(q->info.node_id, info->node_id, CAIRN_HASH_LEN) == 0)
            return CAIRN_E_DUPLICATE_PEER;
    /* [MIS-10] a discouraged node ID holds a slot like anyone while slots are
     * free (admission counted it already); it is the first to be evicted */
    if (!p->noban && addrbook_is_discouraged(p->n, NULL, info->node_id))
        p->discouraged = 1;
    return 0;
}

static void on_ready(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    (void)s;
    peer *p = ud;
    p->ready = 1;
    p->info = *info;
    char id[65];
    cairn_hex_encode(id, info->node_id, 32);
    LOGI("peer %s: ready, %s node %.16s (%s), height %llu", p->addr,
         p->outbound ? "outbound to" : "inbound from", id, info->user_agent,
         (unsigned long long)info->tip_height);
    if (p->outbound && p->addr_slot >= 0) {
        addr_entry *a = &p->n->addrs[p->addr_slot];
        addrbook_good(p->n, p->addr_slot); /* [ADDR-10] to the tried table */
        a->last_seen_ms = node_wall(p->n);
        a->services = info->services;
        a->id_mismatches = 0;
        if (!a->has_id) { /* [ADDR-5] the ID proven here is the one expected next time */
            memcpy(a->node_id, info->node_id, CAIRN_HASH_LEN);
            a->has_id = 1;
        }
        p->n->addrs_dirty = 1;
    }
    if (!p->outbound && info->listen_port) {
        /* [DISC-11] an inbound peer is reachable at its session's IP and the port it announced;
         * [DISC-9] an address a peer announced as its own may be handed out */
        struct sockaddr_storage sa = p->sa;
        socklen_t len = p->salen;
        if (sa.ss_family == AF_INET)
            ((struct sockaddr_in *)&sa)->sin_port = htons(info->listen_port);
        else
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons(info->listen_port);
        int slot = addrbook_add_from(p->n, &sa, len, info->services, info->node_id, &p->sa);
        if (slot >= 0 && !p->n->addrs[slot].configured) {
            p->n->addrs[slot].last_seen_ms = node_wall(p->n);
            p->n->addrs_dirty = 1;
        }
    }
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
    (void)s;
    peer *p = ud;
    const char *name = ci->code ? cairn_wire_error_name(ci->code) : NULL;
    LOGI("peer %s: closed %s %s%s%s", p->addr, ci->by_peer ? "by peer" : "by us",
         name ? name : (ci->code ? "(unknown code)" : "without error"), ci->message[0] ? ": " : "",
         ci->message);
    int configured = p->outbound && p->addr_slot >= 0 && p->n->addrs[p->addr_slot].configured;
    /* [MIS-9] --noban addresses and configured peers are never discouraged */
    if (!ci->by_peer && discourages(ci->code) && !p->no_discourage && !p->noban && !configured) {
        const cairn_peer_info *info = cairn_session_peer(s);
        addrbook_discourage(p->n, &p->sa, info ? info->node_id : NULL);
        LOGI("peer %s: discouraged for %u s", p->addr, p->n->cfg.discourage_ms / 1000);
    }
    if (ci->code == CAIRN_E_SELF_CONNECTION && p->outbound && p->addr_slot >= 0)
        p->n->addrs[p->addr_slot].next_try_ms = UINT64_MAX; /* never again */
}

static int is_own_nonce(cairn_session *s, uint64_t nonce, void *ud)
{
    (void)s;
    /* [HS-26] the nonce of any of our sessions' Hellos */
    for (peer *q = ((peer *)ud)->n->peers; q; q = q->next) {
        cairn_session *qs = peer_session(q);
        if (qs && cairn_session_hello_nonce(qs) == nonce)
            return 1;
    }
    return 0;
}

const cairn_session_callbacks node_session_callbacks = {
    .on_peer_auth = on_peer_auth,
    .on_ready = on_ready,
    .on_message = on_message,
    .on_close = on_close,
    .is_own_nonce = is_own_nonce,
};

/* ---- events ------------------------------------------------------------------ */

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    node *n = arg;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t len;
        int fd = cairn_net_accept((int)lfd, &sa, &len);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOGW("accept: %s", strerror(errno));
            return;
        }
        peer_accept(n, fd, &sa, len);
    }
}

static void dial_targets(node *n)
{
    uint64_t now = node_now(n);
    /* configured peers always; others from the book up to the target, one
     * network group each ([DISC-17], addrbook_select) */
    for (int k = 0; k < NODE_MAX_CONFIGURED + 1; k++) {
        int i = addrbook_select(n);
        if (i < 0)
            return;
        addr_entry *a = &n->addrs[i];
        int busy = 0; /* already connected to that address, either way */
        for (peer *q = n->peers; q && !busy; q = q->next)
            busy = q->ready && q->info.listen_port && netaddr_same_ip(&q->sa, &a->sa) &&
                   q->info.listen_port == netaddr_port(&a->sa);
        if (busy) {
            a->next_try_ms = now + 5000;
            continue;
        }
        peer_dial(n, i);
    }
}

/* --share: look for changed files, and publish new manifests as entries
 * (§11.1 they reach the chain like any entry: mined here or relayed). */
static void share_tick(node *n)
{
    int more = share_rescan(n->share);
    n->next_rescan_ms = node_now(n) + (more == 1 ? 0 : 5000);
    if (share_generation(n->share) == n->share_generation)
        return;
    n->share_generation = share_generation(n->share);
    const uint8_t *entries[256];
    size_t lens[256];
    size_t total = share_manifests(n->share, entries, lens, 256), fresh = 0;
    cairn_bytes_ref news[256];
    for (size_t i = 0; i < total && i < 256; i++) {
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason;
        int had =
            (cairn_entry_id(n->sha, id, entries[i], lens[i]), cairn_mempool_contains(n->pool, id));
        if (!had && cairn_mempool_add(n->pool, entries[i], lens[i], id, &reason) == 0)
            news[fresh++] = (cairn_bytes_ref){entries[i], lens[i]};
    }
    share_stats st;
    share_get_stats(n->share, &st);
    LOGI("sharing %zu files (%llu bytes)%s, %zu new manifests published", st.files,
         (unsigned long long)st.bytes, more == 1 ? ", indexing" : "", fresh);
    if (fresh)
        relay_entries(n, news, fresh, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    if (n->stopping) {
        if (!n->peers)
            event_base_loopexit(n->base, NULL);
        return;
    }
    dial_targets(n);
    node_sync_tick(n);
    sync_tick(n);
    if (n->share && node_now(n) >= n->next_rescan_ms)
        share_tick(n);
    if (n->addrs_dirty)
        addrbook_save(n);
    if (n->disc_dirty)
        addrbook_disc_save(n);
}

static void on_mine(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    if (!n->stopping)
        mine_step(n);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    node *n = arg;
    if (n->stopping) {
        LOGW("second signal: exiting now");
        event_base_loopbreak(n->base);
        return;
    }
    LOGI("signal %d: shutting down", (int)sig);
    n->stopping = 1;
    if (n->ev_mine)
        event_del(n->ev_mine);
    if (n->ev_listen)
        event_del(n->ev_listen);
    for (peer *p = n->peers, *next; p; p = next) {
        next = p->next;
        peer_close(p, CAIRN_E_SHUTDOWN, "node shutting down");
        if (!p->conn || cairn_conn_state(p->conn) == CAIRN_CONN_DONE)
            peer_free(p);
        else
            peer_update_events(p);
    }
    struct timeval tv = {2, 0}; /* flush what we can, then go */
    event_base_loopexit(n->base, &tv);
}

/* ---- startup -------------------------------------------------------------------- */

static int load_identity(node *n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/node.key", n->cfg.datadir);
    uint8_t seed[32];
    FILE *f = fopen(path, "r");
    if (f) {
        char hex[80] = {0};
        int ok = fgets(hex, sizeof(hex), f) && cairn_hex_decode(seed, 32, hex) == 0;
        fclose(f);
        if (!ok) {
            LOGE("%s: not a 64-digit hex key", path);
            return -1;
        }
        return cairn_identity_from_seed(&n->id, seed);
    }
    if (cairn_identity_generate(&n->id, n->env))
        return -1;
    cairn_identity_seed(n->id, seed);
    char hex[65];
    cairn_hex_encode(hex, seed, 32);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        LOGE("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* [ADDR-10] The bucket key is the node's secret and stays the same across
 * restarts, so that peers.txt's placement keeps its meaning. */
static int load_book_key(node *n)
{
    char path[4096], hex[40] = {0};
    snprintf(path, sizeof(path), "%s/book.key", n->cfg.datadir);
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fgets(hex, sizeof(hex), f) &&
                 cairn_hex_decode((uint8_t *)&n->book_key, sizeof(n->book_key), hex) == 0;
        fclose(f);
        if (ok)
            return 0;
    }
    cairn_hex_encode(hex, (const uint8_t *)&n->book_key, sizeof(n->book_key));
    f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0) {
        LOGE("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_tip(void *ud, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork)
{
    node *n = ud;
    char id[65];
    cairn_hex_encode(id, new_tip->id, 32);
    if (old_tip && fork != old_tip)
        LOGI("reorg: %llu block(s) replaced, fork at height %llu",
             (unsigned long long)(old_tip->hdr.height - fork->hdr.height),
             (unsigned long long)fork->hdr.height);
    if (n->syncing) /* the progress line reports sync; one line per block would flood */
        LOGD("tip %llu %.16s", (unsigned long long)new_tip->hdr.height, id);
    else
        LOGI("tip %llu %.16s", (unsigned long long)new_tip->hdr.height, id);
    limits_on_tip(n, old_tip, new_tip, fork); /* [REL-25] before entries return to the pool */
    sync_on_tip(n, old_tip, new_tip, fork);
}

int node_start(node *n)
{
    char err[256];
    mkdir(n->cfg.datadir, 0700);
    if (load_identity(n))
        return -1;
    cairn_identity_node_id(n->id, n->node_id);
    if (cairn_store_open(&n->store, n->cfg.datadir, n->cfg.net, 0, err, sizeof(err))) {
        LOGE("store %s: %s", n->cfg.datadir, err);
        return -1;
    }
    cairn_chain_config cc = {0};
    cc.net = n->cfg.net;
    cc.env = n->env;
    cc.store = cairn_store_chain(n->store);
    cc.max_low_work = n->cfg.max_low_work;
    cc.on_tip = on_tip;
    cc.ud = n;
    int rv = cairn_chain_new(&n->chain, &cc);
    if (rv) {
        LOGE("chain: %s", cairn_strerror(rv));
        return -1;
    }
    if (cairn_mempool_new(&n->pool, n->env->mem, 0, 0) || cairn_sha256_ctx_new(&n->sha))
        return -1;
    limits_rebuild_recent(n);
    if (!n->cfg.plaintext && (cairn_tls_ctx_new(&n->tls_server, n->id, 1) ||
                              cairn_tls_ctx_new(&n->tls_client, n->id, 0))) {
        LOGE("TLS setup failed");
        return -1;
    }
    const char *keylog = getenv("SSLKEYLOGFILE");
    if (n->tls_server && keylog && *keylog) {
        if (cairn_tls_ctx_set_keylog(n->tls_server, keylog) ||
            cairn_tls_ctx_set_keylog(n->tls_client, keylog)) {
            LOGE("SSLKEYLOGFILE=%s: %s", keylog, strerror(errno));
            return -1;
        }
        LOGW("SSLKEYLOGFILE is set: TLS secrets are appended to %s; whoever reads it can "
             "decrypt this node's traffic",
             keylog);
    }
    n->base = event_base_new();
    if (!n->base)
        return -1;
    n->listen_fd = -1;
    if (n->cfg.listen) {
        struct sockaddr_storage sa;
        socklen_t len;
        if (cairn_net_parse_addr(n->cfg.listen, &sa, &len)) {
            LOGE("--listen %s: not HOST:PORT", n->cfg.listen);
            return -1;
        }
        n->listen_fd = cairn_net_listen((struct sockaddr *)&sa, len, 512);
        if (n->listen_fd < 0) {
            LOGE("listen %s: %s", n->cfg.listen, strerror(errno));
            return -1;
        }
        n->listen_port = (uint16_t)cairn_net_local_port(n->listen_fd);
        n->listen_sa = sa;
        netaddr_normalise(&n->listen_sa, &len);
        static const uint8_t any[16] = {0};
        uint8_t ip[16];
        netaddr_ip16(&n->listen_sa, ip);
        /* [ADDR-9] a node listening on a loopback or private address is on such a network */
        if (!netaddr_routable(&n->listen_sa) && memcmp(ip, any, 16) &&
            !(ip[10] == 0xff && ip[11] == 0xff && !memcmp(ip + 12, any, 4)))
            n->cfg.local_network = 1;
        n->ev_listen = event_new(n->base, n->listen_fd, EV_READ | EV_PERSIST, on_accept, n);
        event_add(n->ev_listen, NULL);
    }
    if (n->cfg.share) {
        char cache[4096];
        snprintf(cache, sizeof(cache), "%s/share-cache", n->cfg.datadir);
        if (share_open(&n->share, n->cfg.share, cache, n->env)) {
            LOGE("--share %s: %s", n->cfg.share, strerror(errno));
            return -1;
        }
    }
    n->env->random((uint8_t *)&n->book_key, sizeof(n->book_key), n->env->ud);
    if (load_book_key(n))
        return -1;
    addrbook_load(n);
    addrbook_disc_load(n);
    n->env->random((uint8_t *)&n->evict_key, sizeof(n->evict_key), n->env->ud);
    for (int i = 0; i < n->cfg.n_peers; i++) {
        struct sockaddr_storage sa;
        socklen_t len;
        uint8_t id[CAIRN_HASH_LEN];
        int has_id;
        if (addrbook_parse_peer(n->cfg.peers[i], &sa, &len, id, &has_id)) {
            LOGE("--peer %s: not [NODEID@]HOST:PORT (NODEID: 64 hex digits)", n->cfg.peers[i]);
            return -1;
        }
        addrbook_add(n, &sa, len, 1, 0, 0, has_id ? id : NULL);
    }
    struct timeval tick = {0, TICK_MS * 1000};
    n->ev_tick = event_new(n->base, -1, EV_PERSIST, on_tick, n);
    event_add(n->ev_tick, &tick);
    if (n->cfg.mine) {
        struct timeval mt = {0, 5000};
        n->ev_mine = event_new(n->base, -1, EV_PERSIST, on_mine, n);
        event_add(n->ev_mine, &mt);
    }
    n->ev_sigint = evsignal_new(n->base, SIGINT, on_signal, n);
    n->ev_sigterm = evsignal_new(n->base, SIGTERM, on_signal, n);
    event_add(n->ev_sigint, NULL);
    event_add(n->ev_sigterm, NULL);
    signal(SIGPIPE, SIG_IGN);

    char id[65];
    cairn_hex_encode(id, n->node_id, 32);
    const cairn_chain_block *tip = cairn_chain_tip(n->chain);
    LOGI("cairnd %s on %s, node %.16s, %s, height %llu%s", n->cfg.net->name,
         n->cfg.listen ? n->cfg.listen : "(not listening)", id,
         n->cfg.plaintext ? "plaintext" : "TLS 1.3", (unsigned long long)tip->hdr.height,
         n->cfg.mine ? ", mining" : "");
    on_tick(-1, 0, n);
    return 0;
}

void node_run(node *n)
{
    event_base_dispatch(n->base);
}

void node_free(node *n)
{
    while (n->peers)
        peer_free(n->peers);
    if (n->addrs_dirty)
        addrbook_save(n);
    if (n->disc_dirty)
        addrbook_disc_save(n);
    if (n->ev_listen)
        event_free(n->ev_listen);
    if (n->listen_fd >= 0)
        close(n->listen_fd);
    if (n->ev_tick)
        event_free(n->ev_tick);
    if (n->ev_mine)
        event_free(n->ev_mine);
    if (n->ev_sigint)
        event_free(n->ev_sigint);
    if (n->ev_sigterm)
        event_free(n->ev_sigterm);
    if (n->base)
        event_base_free(n->base);
    cairn_chain_del(n->chain);
    if (n->store && cairn_store_in_batch(n->store))
        cairn_store_commit_batch(n->store);
    cairn_store_close(n->store); /* every acknowledged block is already durable */
    if (n->share)
        share_close(n->share);
    cairn_mempool_del(n->pool);
    cairn_sha256_ctx_del(n->sha);
    cairn_tls_ctx_del(n->tls_server);
    cairn_tls_ctx_del(n->tls_client);
    cairn_identity_del(n->id);
}
