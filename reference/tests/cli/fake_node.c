/* An in-process node for the client's tests; see fake_node.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn/port.h"
#include "fake_node.h"

#define MAX_CONNS 16

typedef struct fblock {
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    uint8_t id[CAIRN_HASH_LEN];
    size_t n;
    ProtobufCBinaryData *entries;
} fblock;

typedef struct fpeer {
    struct fake_node *node;
    cairn_conn *conn;
} fpeer;

struct fake_node {
    fake_node_config cfg;
    const cairn_network *net;
    const cairn_env *env;
    cairn_identity *id;
    uint8_t node_id[CAIRN_HASH_LEN];
    cairn_tls_ctx *tls;
    cairn_chain *chain;
    fblock *blocks;
    size_t n_blocks;
    int lfd, port;
    char addr[64];
    fpeer *peers[MAX_CONNS];
    int silent_fds[MAX_CONNS];
    size_t n_peers, n_silent;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    /* what the tests look at */
    unsigned closes, closes_seen;
    uint32_t close_code;
    int close_by_client;
    uint8_t last_client[CAIRN_HASH_LEN];
};

/* ---- the chain ----------------------------------------------------------------------- */

static int keep_block(fake_node *n, const uint8_t *raw, const cairn_bytes_ref *e, size_t k)
{
    fblock *nb = realloc(n->blocks, (n->n_blocks + 1) * sizeof(*nb));
    if (!nb)
        return -1;
    n->blocks = nb;
    fblock *b = &n->blocks[n->n_blocks++];
    memcpy(b->raw, raw, CAIRN_BLOCK_HEADER_LEN);
    cairn_block_id(NULL, b->id, raw);
    b->n = k;
    b->entries = calloc(k ? k : 1, sizeof(*b->entries));
    for (size_t i = 0; i < k; i++) {
        b->entries[i].data = malloc(e[i].len);
        b->entries[i].len = e[i].len;
        memcpy(b->entries[i].data, e[i].data, e[i].len);
    }
    return 0;
}

static int mine(fake_node *n, const cairn_bytes_ref *e, size_t k)
{
    cairn_block_header h;
    size_t none;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    if (cairn_miner_template(n->chain, NULL, cairn_port_wall_ms(), &h, NULL, 0, &none) ||
        cairn_block_entries_root(NULL, h.entries_root, e, k))
        return -1;
    int rv;
    while ((rv = cairn_miner_solve(NULL, &h, 1u << 20, raw, id)) == CAIRN_ERR_AGAIN)
        ;
    uint32_t reason;
    if (rv || cairn_chain_add_block(n->chain, raw, sizeof(raw), e, k, NULL, &reason))
        return -1;
    return keep_block(n, raw, e, k);
}

static int build_chain(fake_node *n)
{
    cairn_chain_config cc = {.net = n->net, .env = n->env};
    if (cairn_chain_new(&n->chain, &cc))
        return -1;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_block_header gh;
    cairn_network_genesis(n->net, &gh, raw);
    cairn_bytes_ref g = {n->net->genesis_entry, n->net->genesis_entry_len};
    if (keep_block(n, raw, &g, 1))
        return -1;
    /* block 1: a text record and a manifest; block 2: binary data */
    static const uint8_t text[] = FAKE_TEXT_ENTRY;
    uint8_t manifest[CAIRN_MANIFEST_MIN_LEN + sizeof(FAKE_MANIFEST_NAME) - 1];
    manifest[0] = CAIRN_ENTRY_MANIFEST;
    cairn_put_u64(manifest + 1, 100000);
    manifest[9] = 16;
    memset(manifest + 10, 0xab, 32);
    manifest[42] = sizeof(FAKE_MANIFEST_NAME) - 1;
    memcpy(manifest + 43, FAKE_MANIFEST_NAME, sizeof(FAKE_MANIFEST_NAME) - 1);
    static const uint8_t binary[] = {0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 0x7f};
    cairn_bytes_ref b1[2] = {{text, sizeof(text) - 1}, {manifest, sizeof(manifest)}};
    cairn_bytes_ref b2[1] = {{binary, sizeof(binary)}};
    for (int i = 1; i <= n->cfg.blocks; i++) {
        int rv = i == 1 ? mine(n, b1, 2) : i == 2 ? mine(n, b2, 1) : mine(n, NULL, 0);
        if (rv)
            return -1;
    }
    return 0;
}

static const fblock *find_block(const fake_node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    for (size_t i = 0; i < n->n_blocks; i++)
        if (!memcmp(n->blocks[i].id, id, CAIRN_HASH_LEN))
            return &n->blocks[i];
    return NULL;
}

/* ---- answering requests ---------------------------------------------------------------- */

static void answer_headers(fake_node *n, cairn_session *s, const Cairn__V1__GetHeaders *g)
{
    uint8_t loc[CAIRN_LOCATOR_MAX][CAIRN_HASH_LEN];
    for (size_t i = 0; i < g->n_locator; i++)
        memcpy(loc[i], g->locator[i].data, CAIRN_HASH_LEN);
    uint32_t max = g->max_count ? g->max_count : CAIRN_HEADERS_MAX;
    if (n->cfg.behaviour == FAKE_TOO_MANY && max < CAIRN_HEADERS_MAX)
        max++;
    uint8_t(*out)[CAIRN_BLOCK_HEADER_LEN] = malloc((size_t)max * CAIRN_BLOCK_HEADER_LEN);
    ProtobufCBinaryData *refs = calloc(max, sizeof(*refs));
    size_t count = 0;
    const uint8_t *stop = g->stop_id.len ? g->stop_id.data : NULL;
    if (out && refs &&
        cairn_chain_get_headers(n->chain, (const uint8_t(*)[CAIRN_HASH_LEN])loc, g->n_locator, stop,
                                max, out, max, &count) == 0) {
        for (size_t i = 0; i < count; i++)
            refs[i] = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, out[i]};
        Cairn__V1__Headers h = CAIRN__V1__HEADERS__INIT;
        h.request_id = g->request_id;
        h.n_headers = count;
        h.headers = refs;
        cairn_session_respond(s, &h.base);
    }
    free(out);
    free(refs);
}

static void answer_block(fake_node *n, cairn_session *s, const Cairn__V1__GetBlock *g)
{
    const fblock *b = NULL;
    if (g->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID) {
        b = find_block(n, g->block_id.data);
    } else {
        uint64_t h = g->height;
        if (n->cfg.behaviour == FAKE_WRONG_HEIGHT)
            h = h ? h - 1 : h + 1;
        const cairn_chain_block *r = cairn_chain_at(n->chain, h);
        b = r ? find_block(n, r->id) : NULL;
    }
    if (!b) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = g->request_id;
        cairn_session_respond(s, &nf.base);
        return;
    }
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    memcpy(raw, b->raw, sizeof(raw));
    if (n->cfg.behaviour == FAKE_BAD_POW) /* a nonce whose ID misses the target */
        do {
            cairn_put_u64(raw + 24, cairn_get_u64(raw + 24) + 1);
            cairn_block_id(NULL, id, raw);
        } while (cairn_pow_ok(id, n->net->bits));
    Cairn__V1__Block m = CAIRN__V1__BLOCK__INIT;
    m.request_id = g->request_id;
    m.header = (ProtobufCBinaryData){sizeof(raw), raw};
    m.n_entries = b->n;
    m.entries = b->entries;
    cairn_session_respond(s, &m.base);
}

static void answer_submit(fake_node *n, cairn_session *s, const Cairn__V1__SubmitEntry *e)
{
    uint32_t reason;
    if (cairn_entry_check(e->entry.data, e->entry.len, &reason)) {
        cairn_session_respond_error(s, e->request_id, CAIRN_E_INVALID_ENTRY, reason, "bad entry");
        return;
    }
    uint8_t id[CAIRN_HASH_LEN];
    cairn_entry_id(NULL, id, e->entry.data, e->entry.len);
    if (n->cfg.behaviour == FAKE_BAD_ACK)
        id[0] ^= 1;
    Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
    ack.request_id = e->request_id;
    ack.entry_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, id};
    cairn_session_respond(s, &ack.base);
    cairn_bytes_ref ref = {e->entry.data, e->entry.len};
    mine(n, &ref, 1); /* an instant miner */
}

static void answer_peers(cairn_session *s, uint64_t request_id)
{
    uint8_t v4[4] = {192, 0, 2, 7}, v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    Cairn__V1__PeerAddress a = CAIRN__V1__PEER_ADDRESS__INIT, b = CAIRN__V1__PEER_ADDRESS__INIT;
    a.ip = (ProtobufCBinaryData){4, v4};
    a.port = 7317;
    a.services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY;
    a.last_seen_ms = 1767225600000;
    b.ip = (ProtobufCBinaryData){16, v6};
    b.port = 7318;
    b.services = CAIRN_SERVICE_PEERS;
    Cairn__V1__PeerAddress *list[2] = {&a, &b};
    Cairn__V1__Peers p = CAIRN__V1__PEERS__INIT;
    p.request_id = request_id;
    p.n_peers = 2;
    p.peers = list;
    cairn_session_respond(s, &p.base);
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    fake_node *n = ((fpeer *)ud)->node;
    if (cairn_msg_kind(type) != CAIRN_KIND_REQUEST)
        return;
    uint64_t rid = *cairn_msg_request_id((ProtobufCMessage *)m);
    if (n->cfg.behaviour == FAKE_BUSY) {
        cairn_session_respond_error(s, rid, CAIRN_E_BUSY, 0, "try later");
        return;
    }
    switch (type) {
    case CAIRN_T_GET_HEADERS:
        answer_headers(n, s, (const Cairn__V1__GetHeaders *)m);
        break;
    case CAIRN_T_GET_BLOCK:
        answer_block(n, s, (const Cairn__V1__GetBlock *)m);
        break;
    case CAIRN_T_SUBMIT_ENTRY:
        answer_submit(n, s, (const Cairn__V1__SubmitEntry *)m);
        break;
    case CAIRN_T_GET_PEERS:
        answer_peers(s, rid);
        break;
    default: {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = rid;
        cairn_session_respond(s, &nf.base);
    }
    }
}

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    fake_node *n = ((fpeer *)ud)->node;
    memcpy(n->last_client, p->node_id, CAIRN_HASH_LEN);
    if (n->cfg.behaviour == FAKE_CLOSE_SHUTDOWN) {
        cairn_session_close(s, CAIRN_E_SHUTDOWN, "going away");
        return;
    }
    /* [SYNC-50] the tip, to a peer whose Hello named only genesis */
    const fblock *tip = find_block(n, cairn_chain_tip(n->chain)->id);
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    memcpy(raw, tip->raw, sizeof(raw));
    if (n->cfg.behaviour == FAKE_BAD_ANNOUNCE)
        do {
            cairn_put_u64(raw + 24, cairn_get_u64(raw + 24) + 1);
            cairn_block_id(NULL, id, raw);
        } while (cairn_pow_ok(id, n->net->bits));
    else if (cairn_get_u64(raw + 4) == 0)
        return;
    Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
    a.header = (ProtobufCBinaryData){sizeof(raw), raw};
    cairn_session_notify(s, &a.base);
}

static void on_close(cairn_session *s, const cairn_close_info *ci, void *ud)
{
    (void)s;
    fake_node *n = ((fpeer *)ud)->node;
    n->close_code = ci->code;
    n->close_by_client = ci->by_peer;
    n->closes++;
    pthread_cond_broadcast(&n->cv);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void accept_all(fake_node *n)
{
    static const cairn_session_callbacks cbs = {
        .on_ready = on_ready, .on_message = on_message, .on_close = on_close};
    for (;;) {
        int fd = cairn_net_accept(n->lfd, NULL, NULL);
        if (fd < 0)
            return;
        if (n->cfg.behaviour == FAKE_SILENT) {
            if (n->n_silent < MAX_CONNS)
                n->silent_fds[n->n_silent++] = fd;
            else
                close(fd);
            continue;
        }
        fpeer *p = calloc(1, sizeof(*p));
        if (!p || n->n_peers == MAX_CONNS) {
            free(p);
            close(fd);
            continue;
        }
        p->node = n;
        const cairn_chain_block *tip = cairn_chain_tip(n->chain);
        cairn_session_config sc = {0};
        sc.identity = n->id;
        memcpy(sc.network_id, n->net->genesis_id, CAIRN_HASH_LEN);
        sc.services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS;
        memcpy(sc.tip_id, tip->id, CAIRN_HASH_LEN);
        sc.tip_height = tip->hdr.height;
        memcpy(sc.total_work, tip->work.be, 32);
        sc.user_agent = "fake-node/1.0";
        sc.listen_port = (uint16_t)n->port;
        if (cairn_conn_new(&p->conn, fd, 0, n->tls, &sc, &cbs, p, n->env)) {
            free(p);
            continue;
        }
        n->peers[n->n_peers++] = p;
    }
}

static void *run(void *arg)
{
    fake_node *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        struct pollfd pfd[MAX_CONNS + 1];
        pfd[0] = (struct pollfd){n->lfd, POLLIN, 0};
        for (size_t i = 0; i < n->n_peers; i++) {
            cairn_conn *c = n->peers[i]->conn;
            short ev = (short)((cairn_conn_want_read(c) ? POLLIN : 0) |
                               (cairn_conn_want_write(c) ? POLLOUT : 0));
            pfd[i + 1] = (struct pollfd){cairn_conn_fd(c), ev, 0};
        }
        size_t np = n->n_peers;
        pthread_mutex_unlock(&n->mu);
        poll(pfd, np + 1, 10);
        pthread_mutex_lock(&n->mu);
        if (pfd[0].revents & POLLIN)
            accept_all(n);
        for (size_t i = 0; i < n->n_peers;) {
            cairn_conn *c = n->peers[i]->conn;
            if (i < np && pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
                cairn_conn_on_readable(c);
            if (cairn_conn_session(c) && cairn_conn_state(c) != CAIRN_CONN_DONE)
                cairn_session_tick(cairn_conn_session(c));
            if (cairn_conn_flush(c) == CAIRN_CONN_DONE) {
                cairn_conn_del(c);
                free(n->peers[i]);
                n->peers[i] = n->peers[--n->n_peers];
                continue;
            }
            i++;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int fake_node_start(fake_node **out, const fake_node_config *cfg)
{
    fake_node *n = calloc(1, sizeof(*n));
    *out = NULL;
    if (!n)
        return -1;
    n->cfg = *cfg;
    n->net = cfg->net ? cfg->net : cairn_network_devnet();
    n->env = cairn_port_env();
    n->lfd = -1;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    uint8_t seed[CAIRN_KEY_LEN];
    memset(seed, 0x5a, sizeof(seed));
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_identity_from_seed(&n->id, seed) || cairn_identity_node_id(n->id, n->node_id) ||
        (cfg->tls && cairn_tls_ctx_new(&n->tls, n->id, 1)) || build_chain(n) ||
        cairn_net_parse_addr("127.0.0.1:0", &ss, &len) ||
        (n->lfd = cairn_net_listen((struct sockaddr *)&ss, len, 16)) < 0) {
        fake_node_stop(n);
        return -1;
    }
    n->port = cairn_net_local_port(n->lfd);
    snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", n->port);
    if (pthread_create(&n->thread, NULL, run, n)) {
        n->port = 0;
        fake_node_stop(n);
        return -1;
    }
    *out = n;
    return 0;
}

void fake_node_stop(fake_node *n)
{
    if (!n)
        return;
    if (n->port) {
        pthread_mutex_lock(&n->mu);
        n->stop = 1;
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->thread, NULL);
    }
    for (size_t i = 0; i < n->n_peers; i++) {
        cairn_conn_del(n->peers[i]->conn);
        free(n->peers[i]);
    }
    for (size_t i = 0; i < n->n_silent; i++)
        close(n->silent_fds[i]);
    if (n->lfd >= 0)
        close(n->lfd);
    for (size_t i = 0; i < n->n_blocks; i++) {
        for (size_t k = 0; k < n->blocks[i].n; k++)
            free(n->blocks[i].entries[k].data);
        free(n->blocks[i].entries);
    }
    free(n->blocks);
    cairn_chain_del(n->chain);
    cairn_tls_ctx_del(n->tls);
    cairn_identity_del(n->id);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

int fake_node_port(const fake_node *n)
{
    return n->port;
}

const char *fake_node_addr(const fake_node *n)
{
    return n->addr;
}

const uint8_t *fake_node_id(const fake_node *n)
{
    return n->node_id;
}

uint64_t fake_node_height(fake_node *n)
{
    pthread_mutex_lock(&n->mu);
    uint64_t h = cairn_chain_tip(n->chain)->hdr.height;
    pthread_mutex_unlock(&n->mu);
    return h;
}

int fake_node_wait_close(fake_node *n, int ms, uint32_t *code, int *by_client)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&n->mu);
    while (n->closes == n->closes_seen)
        if (pthread_cond_timedwait(&n->cv, &n->mu, &until) == ETIMEDOUT)
            break;
    int rv = -1;
    if (n->closes != n->closes_seen) {
        n->closes_seen = n->closes;
        *code = n->close_code;
        *by_client = n->close_by_client;
        rv = 0;
    }
    pthread_mutex_unlock(&n->mu);
    return rv;
}

void fake_node_last_client(fake_node *n, uint8_t id[CAIRN_HASH_LEN], const uint8_t *want, int ms)
{
    for (int waited = 0;; waited += 10) {
        pthread_mutex_lock(&n->mu);
        memcpy(id, n->last_client, CAIRN_HASH_LEN);
        pthread_mutex_unlock(&n->mu);
        if (!want || !memcmp(id, want, CAIRN_HASH_LEN) || waited >= ms)
            return;
        poll(NULL, 0, 10);
    }
}
