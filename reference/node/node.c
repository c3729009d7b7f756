/* cairnd: startup, the event loop, signals and shutdown around the node core. */
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

static uint64_t node_now(const node *n)
{
    return n->env->mono_ms(n->env->ud);
}

static void core_log(void *ud, int level, const char *line)
{
    (void)ud;
    log_msg(level, "%s", line);
}

/* ---- --share: the FILES service ------------------------------------------------------ */

static int files_manifest(void *ud, const uint8_t id[CAIRN_HASH_LEN], Cairn__V1__Manifest *out)
{
    return share_manifest(ud, id, out);
}

static int files_prepare(void *ud, const uint8_t id[CAIRN_HASH_LEN], uint64_t index,
                         Cairn__V1__Chunk *out)
{
    return share_chunk_prepare(ud, id, index, out);
}

static int files_read(void *ud, const uint8_t id[CAIRN_HASH_LEN], uint64_t index, uint8_t *dst)
{
    return share_chunk_read(ud, id, index, dst);
}

/* ---- events ------------------------------------------------------------------ */

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    node *n = arg;
    /* [ADM-8] a few accepts per loop turn: under a flood of connections the
     * handshakes already admitted get the loop between batches */
    for (int i = 0; i < NODE_ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t len;
        int fd = cairn_net_accept((int)lfd, &sa, &len);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOGW("accept: %s", strerror(errno));
            return;
        }
        conn_accept(n, fd, &sa, len);
    }
}

static void on_accept_drain(evutil_socket_t lfd, short what, void *arg)
{
    on_accept(lfd, what, arg);
    conn_drain(arg);
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
    size_t total = share_manifests(n->share, entries, lens, 256);
    cairn_bytes_ref refs[256];
    for (size_t i = 0; i < total && i < 256; i++)
        refs[i] = (cairn_bytes_ref){entries[i], lens[i]};
    size_t fresh = cairn_node_publish_entries(n->core, refs, total < 256 ? total : 256);
    share_stats st;
    share_get_stats(n->share, &st);
    LOGI("sharing %zu files (%llu bytes)%s, %zu new manifests published", st.files,
         (unsigned long long)st.bytes, more == 1 ? ", indexing" : "", fresh);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    if (n->stopping) {
        if (cairn_node_stopped(n->core) && !n->conns)
            event_base_loopexit(n->base, NULL);
        return;
    }
    cairn_node_tick(n->core); /* dials, sync upkeep, stalls, the address book */
    if (n->share && node_now(n) >= n->next_rescan_ms)
        share_tick(n);
    conn_drain(n);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    n->wake_armed = UINT64_MAX;
    if (n->stopping)
        return;
    cairn_node_wake(n->core); /* requests that waited for their pace */
    conn_drain(n);
}

static void on_mine(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    if (!n->stopping) {
        cairn_node_mine_step(n->core, 0);
        conn_drain(n);
    }
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
    cairn_node_shutdown(n->core); /* every session closes with SHUTDOWN */
    conn_stop_dials(n);
    conn_drain(n);
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
static int load_book_key(node *n, uint64_t *book_key)
{
    char path[4096], hex[40] = {0};
    snprintf(path, sizeof(path), "%s/book.key", n->cfg.datadir);
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fgets(hex, sizeof(hex), f) &&
                 cairn_hex_decode((uint8_t *)book_key, sizeof(*book_key), hex) == 0;
        fclose(f);
        if (ok)
            return 0;
    }
    cairn_hex_encode(hex, (const uint8_t *)book_key, sizeof(*book_key));
    f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0) {
        LOGE("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* "[NODEID@]HOST:PORT" into an address and, when given, a node ID [ADDR-4]. 0 or -1. */
static int parse_peer(const char *text, struct sockaddr_storage *sa, socklen_t *len,
                      uint8_t node_id[CAIRN_HASH_LEN], int *has_id)
{
    const char *at = strchr(text, '@');
    *has_id = 0;
    if (at) {
        char hex[2 * CAIRN_HASH_LEN + 1];
        if (at - text != 2 * CAIRN_HASH_LEN)
            return -1;
        memcpy(hex, text, sizeof(hex) - 1);
        hex[sizeof(hex) - 1] = '\0';
        if (cairn_hex_decode(node_id, CAIRN_HASH_LEN, hex) != 0)
            return -1;
        *has_id = 1;
        text = at + 1;
    }
    return cairn_net_parse_addr(text, sa, len);
}

/* --listen: the socket, and what the core must know of it. */
static int open_listener(node *n, cairn_node_config *cc)
{
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
    cc->listen_port = (uint16_t)cairn_net_local_port(n->listen_fd);
    cairn_node_addr_normalise(&sa, &len); /* [ADDR-1] */
    cc->listen_sa = sa;
    /* [ADDR-9] a node listening on a loopback or private address is on such a network */
    if (!cairn_node_addr_routable(&sa) && !cairn_node_addr_unspecified(&sa))
        cc->local_network = 1;
    n->ev_listen = event_new(n->base, n->listen_fd, EV_READ | EV_PERSIST, on_accept_drain, n);
    event_add(n->ev_listen, NULL);
    return 0;
}

/* The core on the store, with what the options say. */
static int open_core(node *n, cairn_node_config *cc, const cairn_node_store *store)
{
    cc->net = n->cfg.net;
    cc->env = n->env;
    cc->store = store;
    cc->identity = n->id;
    cc->files = n->share ? &n->files : NULL;
    cc->local_network |= n->cfg.local_network;
    cc->max_inbound = n->cfg.max_inbound;
    cc->max_per_ip = n->cfg.max_per_ip;
    /* --outbound 0: no dials from the book (the core reads 0 as its default) */
    cc->outbound_target = n->cfg.outbound_target ? n->cfg.outbound_target : CAIRN_NODE_NO_OUTBOUND;
    cc->discourage_ms = n->cfg.discourage_ms;
    cc->handshake_timeout_ms = n->cfg.handshake_timeout_ms;
    cc->idle_timeout_ms = n->cfg.idle_timeout_ms;
    cc->ping_interval_ms = n->cfg.ping_interval_ms;
    cc->max_low_work = n->cfg.max_low_work;
    cc->mine_interval_ms = n->cfg.mine_interval_ms;
    cc->noban = n->cfg.noban;
    cc->n_noban = n->cfg.n_noban;
    cc->log = core_log;
    cc->log_level = log_level;
    cc->peer_has_input = conn_has_input;
    cc->ud = n;
    int rv = cairn_node_new(&n->core, cc);
    if (rv) {
        LOGE("node: %s", cairn_strerror(rv));
        return -1;
    }
    for (int i = 0; i < n->cfg.n_peers; i++) {
        struct sockaddr_storage sa;
        socklen_t len;
        uint8_t id[CAIRN_HASH_LEN];
        int has_id;
        if (parse_peer(n->cfg.peers[i], &sa, &len, id, &has_id)) {
            LOGE("--peer %s: not [NODEID@]HOST:PORT (NODEID: 64 hex digits)", n->cfg.peers[i]);
            return -1;
        }
        cairn_node_add_configured(n->core, (const struct sockaddr *)&sa, len, has_id ? id : NULL);
    }
    return 0;
}

int node_start(node *n)
{
    mkdir(n->cfg.datadir, 0700);
    n->listen_fd = -1;
    if (load_identity(n))
        return -1;
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
    cairn_node_config cc;
    memset(&cc, 0, sizeof(cc));
    if (n->cfg.listen && open_listener(n, &cc))
        return -1;
    if (n->cfg.share) {
        char cache[4096];
        snprintf(cache, sizeof(cache), "%s/share-cache", n->cfg.datadir);
        if (share_open(&n->share, n->cfg.share, cache, n->env)) {
            LOGE("--share %s: %s", n->cfg.share, strerror(errno));
            return -1;
        }
        n->files = (cairn_node_files){files_manifest, files_prepare, files_read, n->share};
    }
    if (n->env->random((uint8_t *)&cc.book_key, sizeof(cc.book_key), n->env->ud) ||
        load_book_key(n, &cc.book_key))
        return -1;
    const cairn_node_store *store;
    if (persist_open(&n->persist, n->cfg.datadir, n->cfg.net, &store) || open_core(n, &cc, store))
        return -1;
    struct timeval tick = {0, TICK_MS * 1000};
    n->ev_tick = event_new(n->base, -1, EV_PERSIST, on_tick, n);
    event_add(n->ev_tick, &tick);
    n->ev_wake = evtimer_new(n->base, on_wake, n);
    n->wake_armed = UINT64_MAX;
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
    cairn_hex_encode(id, cairn_node_id(n->core), 32);
    const cairn_chain_block *tip = cairn_chain_tip(cairn_node_chain(n->core));
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
    conn_free_all(n);        /* the transports first: the sessions are the core's */
    cairn_node_del(n->core); /* saves the address book, commits an open batch */
    if (n->ev_listen)
        event_free(n->ev_listen);
    if (n->listen_fd >= 0)
        close(n->listen_fd);
    if (n->ev_tick)
        event_free(n->ev_tick);
    if (n->ev_wake)
        event_free(n->ev_wake);
    if (n->ev_mine)
        event_free(n->ev_mine);
    if (n->ev_sigint)
        event_free(n->ev_sigint);
    if (n->ev_sigterm)
        event_free(n->ev_sigterm);
    if (n->base)
        event_base_free(n->base);
    persist_close(n->persist); /* every acknowledged block is already durable */
    if (n->share)
        share_close(n->share);
    cairn_tls_ctx_del(n->tls_server);
    cairn_tls_ctx_del(n->tls_client);
    cairn_identity_del(n->id);
}
