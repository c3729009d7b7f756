/* Requests from peers and the node's answers (spec §7.2, §10, §11, §12). */
#include <arpa/inet.h>
#include <stdio.h>

#include "cairn/fault.h"
#include "node_int.h"

static void dispatch(peer *p, uint16_t type, const ProtobufCMessage *m, uint64_t *rid);
static void handle_one(peer *p, uint16_t type, const ProtobufCMessage *m);

/* Every answer's result: sent, or the session is closing anyway (STATE); any
 * other failure is ours (an invalid message, no memory): the session cannot
 * go on with a request it will never answer [REQ-19]. */
static void check_sent(peer *p, int rv, const char *what)
{
    if (rv == 0 || rv == CAIRN_ERR_STATE)
        return;
    LOGW(p->n, "peer %s: %s not sent: %s", p->addr, what, cairn_strerror(rv));
    peer_close(p, CAIRN_E_INTERNAL_ERROR, "cannot answer");
}

static void not_found(peer *p, uint64_t rid)
{
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = rid;
    check_sent(p, cairn_session_respond(p->sess, &nf.base), "NotFound");
}

static void respond_error(peer *p, uint64_t rid, uint32_t code, uint32_t detail, const char *why)
{
    check_sent(p, cairn_session_respond_error(p->sess, rid, code, detail, why), "Error");
}

/* [REQ-15] a request for a service we did not advertise */
static int refuse_service(peer *p, uint64_t rid, uint16_t type, uint64_t service)
{
    node *n = p->n;
    uint64_t ours = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS |
                    (n->cfg.files ? CAIRN_SERVICE_FILES : 0);
    if (ours & service)
        return 0;
    if (type == CAIRN_T_GET_MANIFEST || type == CAIRN_T_GET_CHUNK)
        not_found(p, rid);
    else
        respond_error(p, rid, CAIRN_E_BUSY, 0, "service not offered");
    return 1;
}

static void on_get_headers(peer *p, const Cairn__V1__GetHeaders *m)
{
    node *n = p->n;
    if (node_flush(n) != 0) { /* [VAL-32] what we serve is on disk */
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "store unavailable");
        return;
    }
    uint8_t(*loc)[CAIRN_HASH_LEN] = cairn_mem_malloc(n->mem, m->n_locator * CAIRN_HASH_LEN + 1);
    uint8_t(*out)[CAIRN_BLOCK_HEADER_LEN] =
        cairn_mem_malloc(n->mem, CAIRN_HEADERS_MAX * CAIRN_BLOCK_HEADER_LEN);
    ProtobufCBinaryData *hv = cairn_mem_malloc(n->mem, CAIRN_HEADERS_MAX * sizeof(*hv));
    if (!loc || !out || !hv) {
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "no memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_locator; i++)
        memcpy(loc[i], m->locator[i].data, CAIRN_HASH_LEN);
    size_t count = 0;
    int rv = cairn_chain_get_headers(n->chain, (const uint8_t(*)[CAIRN_HASH_LEN])loc, m->n_locator,
                                     m->stop_id.len ? m->stop_id.data : NULL, m->max_count, out,
                                     CAIRN_HEADERS_MAX, &count);
    if (rv) {
        peer_close(p, cairn_err_wire_code(rv) ? cairn_err_wire_code(rv) : CAIRN_E_INTERNAL_ERROR,
                   "GetHeaders");
        goto out;
    }
    Cairn__V1__Headers h = CAIRN__V1__HEADERS__INIT;
    h.request_id = m->request_id;
    for (size_t i = 0; i < count; i++)
        hv[i] = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, out[i]};
    h.n_headers = count;
    h.headers = hv;
    check_sent(p, cairn_session_respond(p->sess, &h.base), "Headers");
    LOGD(p->n, "peer %s: served %zu headers", p->addr, count);
out:
    cairn_mem_free(n->mem, loc);
    cairn_mem_free(n->mem, out);
    cairn_mem_free(n->mem, hv);
}

struct body_acc {
    const cairn_mem *mem;
    ProtobufCBinaryData *v;
    size_t n, cap;
    int failed;
};

static int collect_entry(void *ud, const uint8_t *entry, size_t len)
{
    struct body_acc *b = ud;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        ProtobufCBinaryData *v = cairn_mem_realloc(b->mem, b->v, cap * sizeof(*v));
        if (!v)
            return b->failed = 1;
        b->v = v;
        b->cap = cap;
    }
    uint8_t *copy = cairn_mem_malloc(b->mem, len ? len : 1);
    if (!copy)
        return b->failed = 1;
    memcpy(copy, entry, len);
    b->v[b->n++] = (ProtobufCBinaryData){len, copy};
    return 0;
}

static void on_get_block(peer *p, const Cairn__V1__GetBlock *m)
{
    node *n = p->n;
    if (node_flush(n) != 0) { /* [VAL-32] what we serve is on disk */
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "store unavailable");
        return;
    }
    const cairn_chain_block *b = NULL;
    if (m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID)
        b = cairn_chain_find(n->chain, m->block_id.data);
    else
        b = cairn_chain_at(n->chain, m->height);
    uint8_t header[CAIRN_BLOCK_HEADER_LEN];
    struct body_acc acc = {n->mem, NULL, 0, 0, 0};
    int rv = b && (b->flags & CAIRN_CHAIN_HAVE_DATA)
                 ? n->store->get_block(n->store->ud, b->id, header, collect_entry, &acc)
                 : 1;
    if (rv == 0 && !acc.failed) {
        Cairn__V1__Block r = CAIRN__V1__BLOCK__INIT;
        r.request_id = m->request_id;
        r.header = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, header};
        r.n_entries = acc.n;
        r.entries = acc.v;
        check_sent(p, cairn_session_respond(p->sess, &r.base), "Block");
    } else if (rv == 1) {
        not_found(p, m->request_id);
    } else {
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "store unavailable");
    }
    for (size_t i = 0; i < acc.n; i++)
        cairn_mem_free(n->mem, acc.v[i].data);
    cairn_mem_free(n->mem, acc.v);
}

/* The entry is pending, or in the last blocks of the active chain [REL-3]. */
static int have_entry(node *n, const uint8_t id[CAIRN_HASH_LEN])
{
    return cairn_mempool_contains(n->pool, id) || cairn_mempool_recent_contains(n->pool, id);
}

static void on_submit_entry(peer *p, const Cairn__V1__SubmitEntry *m)
{
    node *n = p->n;
    uint8_t id[CAIRN_HASH_LEN];
    uint32_t reason = 0;
    int added = 0, rv = cairn_entry_check(m->entry.data, m->entry.len, &reason);
    if (rv == 0) {
        cairn_entry_id(n->sha, id, m->entry.data, m->entry.len);
        if (!have_entry(n, id) && !limits_entry_ok(p, m->entry.len)) {
            /* [REL-22] a new entry beyond this session's entry rate */
            respond_error(p, m->request_id, CAIRN_E_RATE_LIMITED, 0, "entry rate exceeded");
            return;
        }
        rv = cairn_mempool_add_from(n->pool, m->entry.data, m->entry.len, p->info.node_id, id,
                                    &reason, &added);
    }
    if (rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)) {
        char why[80];
        snprintf(why, sizeof(why), "%s", cairn_block_reason_name(reason));
        respond_error(p, m->request_id, CAIRN_E_INVALID_ENTRY, reason, why);
        return;
    }
    if (rv) { /* [REL-21] the fair-share rules refuse it */
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "entry pool full");
        return;
    }
    Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
    ack.request_id = m->request_id;
    ack.entry_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, id};
    check_sent(p, cairn_session_respond(p->sess, &ack.base), "EntryAck");
    if (added) {
        char hex[65];
        cairn_hex_encode(hex, id, 32);
        LOGI(p->n, "entry %.16s submitted by %s (%zu bytes), %zu pending", hex, p->addr,
             m->entry.len, cairn_mempool_count(n->pool));
        cairn_bytes_ref e = {m->entry.data, m->entry.len};
        relay_entries(n, &e, 1, p);
    }
}

static void on_entries(peer *p, const Cairn__V1__Entries *m)
{
    node *n = p->n;
    cairn_bytes_ref fresh[CAIRN_MAX_RELAY_ENTRIES];
    size_t n_fresh = 0;
    for (size_t i = 0; i < m->n_entries; i++) {
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason;
        /* §10.4 an invalid relayed entry is the relayer's fault */
        if (cairn_entry_check(m->entries[i].data, m->entries[i].len, &reason)) {
            peer_close(p, CAIRN_E_INVALID_FIELD, "Entries: invalid entry");
            return;
        }
        cairn_entry_id(n->sha, id, m->entries[i].data, m->entries[i].len);
        if (have_entry(n, id)) /* [REL-12] */
            continue;
        if (!limits_entry_ok(p, m->entries[i].len))
            continue; /* [REL-23] beyond the peer's entry rate: dropped */
        int added = 0;
        if (cairn_mempool_add_from(n->pool, m->entries[i].data, m->entries[i].len, p->info.node_id,
                                   id, &reason, &added) == 0 &&
            added)
            fresh[n_fresh++] = (cairn_bytes_ref){m->entries[i].data, m->entries[i].len};
    }
    if (n_fresh) {
        LOGD(p->n, "peer %s: %zu new entries relayed", p->addr, n_fresh);
        relay_entries(n, fresh, n_fresh, p);
    }
}

static void on_get_peers(peer *p, const Cairn__V1__GetPeers *m)
{
    node *n = p->n;
    uint64_t now = node_now(n);
    /* [DISC-6] one GetPeers per session per minute; more are RATE_LIMITED */
    if (p->last_getpeers_in_ms && now - p->last_getpeers_in_ms < NODE_GETPEERS_INTERVAL_MS) {
        respond_error(p, m->request_id, CAIRN_E_RATE_LIMITED, 0, "one GetPeers per minute");
        return;
    }
    p->last_getpeers_in_ms = now;
    /* [ADDR-6] with node IDs an address takes up to 80 bytes: 800 fit the Peers cap */
    enum { MAX = NODE_PEERS_ANSWER_MAX };
    cairn_node_addr_rec *recs = cairn_mem_malloc(n->mem, MAX * sizeof(*recs));
    Cairn__V1__PeerAddress *pa = cairn_mem_malloc(n->mem, MAX * sizeof(*pa));
    Cairn__V1__PeerAddress **pp = cairn_mem_malloc(n->mem, MAX * sizeof(*pp));
    uint8_t(*ips)[16] = cairn_mem_malloc(n->mem, MAX * 16);
    if (!recs || !pa || !pp || !ips) {
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "no memory");
        goto out;
    }
    /* [DISC-9] only addresses we have reached */
    size_t k = CAIRN_FAULT(EMPTY_PEERS) ? 0 : addrbook_export(n->book, recs, MAX, 1, 0);
    for (size_t i = 0; i < k; i++) {
        const cairn_node_addr_rec *a = &recs[i];
        cairn__v1__peer_address__init(&pa[i]);
        if (a->sa.ss_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
            memcpy(ips[i], &v4->sin_addr, 4);
            pa[i].ip = (ProtobufCBinaryData){4, ips[i]};
            pa[i].port = ntohs(v4->sin_port);
        } else {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;
            memcpy(ips[i], &v6->sin6_addr, 16);
            pa[i].ip = (ProtobufCBinaryData){16, ips[i]};
            pa[i].port = ntohs(v6->sin6_port);
        }
        pa[i].services = a->services;
        pa[i].last_seen_ms = a->last_seen_ms;
        if (a->has_id) /* [ADDR-7] */
            pa[i].node_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, (uint8_t *)a->node_id};
        pp[i] = &pa[i];
    }
    Cairn__V1__Peers r = CAIRN__V1__PEERS__INIT;
    r.request_id = m->request_id;
    r.n_peers = k;
    r.peers = pp;
    check_sent(p, cairn_session_respond(p->sess, &r.base), "Peers");
out:
    cairn_mem_free(n->mem, recs);
    cairn_mem_free(n->mem, pa);
    cairn_mem_free(n->mem, pp);
    cairn_mem_free(n->mem, ips);
}

static void on_peers(peer *p, const Cairn__V1__Peers *m)
{
    node *n = p->n;
    if (m->request_id == p->peers_rid)
        p->peers_rid = 0;
    size_t added = 0;
    for (size_t i = 0; i < m->n_peers; i++) {
        const Cairn__V1__PeerAddress *a = m->peers[i];
        struct sockaddr_storage sa;
        memset(&sa, 0, sizeof(sa));
        socklen_t len;
        if (a->ip.len == 4) {
            struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
            v4->sin_family = AF_INET;
            memcpy(&v4->sin_addr, a->ip.data, 4);
            v4->sin_port = htons((uint16_t)a->port);
            len = sizeof(*v4);
        } else {
            struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
            v6->sin6_family = AF_INET6;
            memcpy(&v6->sin6_addr, a->ip.data, 16);
            v6->sin6_port = htons((uint16_t)a->port);
            len = sizeof(*v6);
        }
        added += addrbook_add_from(n->book, &sa, len, a->services,
                                   a->node_id.len == CAIRN_HASH_LEN ? a->node_id.data : NULL,
                                   &p->sa) >= 0;
    }
    if (added)
        LOGD(p->n, "peer %s: %zu new addresses", p->addr, added);
}

static void on_get_manifest(peer *p, const Cairn__V1__GetManifest *m)
{
    Cairn__V1__Manifest r = CAIRN__V1__MANIFEST__INIT;
    const cairn_node_files *f = p->n->cfg.files;
    int rv = f->manifest(f->ud, m->file_id.data, &r);
    if (rv == 0) {
        r.request_id = m->request_id;
        check_sent(p, cairn_session_respond(p->sess, &r.base), "Manifest");
    } else {
        not_found(p, m->request_id);
    }
}

static void on_get_chunk(peer *p, const Cairn__V1__GetChunk *m)
{
    Cairn__V1__Chunk r = CAIRN__V1__CHUNK__INIT;
    const cairn_node_files *f = p->n->cfg.files;
    int rv = f->chunk_prepare(f->ud, m->file_id.data, m->index, &r);
    if (rv == 0) {
        /* zero-copy: the chunk is read straight into the frame that carries it */
        r.request_id = m->request_id;
        int err;
        uint8_t *dst = cairn_session_respond_chunk_begin(p->sess, &r, &err);
        if (!dst) {
            check_sent(p, err, "Chunk");
            return;
        }
        if ((rv = f->chunk_read(f->ud, m->file_id.data, m->index, dst)) == 0) {
            check_sent(p, cairn_session_respond_chunk_commit(p->sess), "Chunk");
            return;
        }
    }
    if (rv == 1) {
        not_found(p, m->request_id);
    } else if (rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)) {
        peer_close(p, CAIRN_E_INVALID_FIELD, "GetChunk index past the last chunk"); /* [CHK-3] */
    } else {
        respond_error(p, m->request_id, CAIRN_E_BUSY, 0, "cannot read the chunk");
    }
}

/* [REQ-21] requests beyond their type's rate or the upload budget */
static int rate_limited(peer *p, uint16_t type, uint64_t rid)
{
    if (cairn_msg_kind(type) != CAIRN_KIND_REQUEST || limits_request_ok(p, type))
        return 0;
    respond_error(p, rid, CAIRN_E_RATE_LIMITED, 0, "request rate or upload budget exceeded");
    return 1;
}

/* [ADM-5] what eviction protection looks at: who last gave us something new
 * (a block that became the tip, a new entry). */
static void note_usefulness(peer *p, const cairn_chain_block *tip_before, size_t pool_before)
{
    node *n = p->n;
    if (cairn_chain_tip(n->chain) != tip_before)
        p->last_block_ms = node_now(n);
    if (cairn_mempool_count(n->pool) > pool_before)
        p->last_entry_ms = node_now(n);
}

void handle_message(peer *p, uint16_t type, const ProtobufCMessage *m)
{
    const cairn_chain_block *tip_before = cairn_chain_tip(p->n->chain);
    size_t pool_before = cairn_mempool_count(p->n->pool);
    handle_one(p, type, m);
    note_usefulness(p, tip_before, pool_before);
}

static void handle_one(peer *p, uint16_t type, const ProtobufCMessage *m)
{
    uint64_t *rid = cairn_msg_request_id((ProtobufCMessage *)m);
    if (rate_limited(p, type, rid ? *rid : 0))
        return;
    const uint8_t *out;
    size_t queued = cairn_session_pending(p->sess, &out);
    dispatch(p, type, m, rid);
    cairn_session *s = p->sess;
    size_t after = s ? cairn_session_pending(s, &out) : 0;
    if (cairn_msg_kind(type) == CAIRN_KIND_REQUEST && after > queued)
        limits_charge_upload(p, after - queued); /* [REQ-21] what this answer costs */
}

/*
 * The node's dispatch, generated from CAIRN_MSG_TABLE (cairn/msgtypes.h): one
 * handler per row, node_on_<row name>, so a new message type is its row plus
 * its handler here (a row without one does not compile). The session has
 * already checked the type's permitted states and validated the message; rid
 * is its request ID, or NULL.
 */
typedef void node_handler(peer *p, const ProtobufCMessage *m, uint64_t *rid);

/* Types the node leaves to the session or never asks for: Hello and Auth (the
 * handshake), Ping and Pong (the session answers), EntryAck, Manifest and
 * Chunk (answers to requests this node does not send). */
#define NODE_IGNORES(snake)                                                                        \
    static void node_on_##snake(peer *p, const ProtobufCMessage *m, uint64_t *rid)                 \
    {                                                                                              \
        (void)p;                                                                                   \
        (void)m;                                                                                   \
        (void)rid;                                                                                 \
    }
NODE_IGNORES(hello)
NODE_IGNORES(auth)
NODE_IGNORES(ping)
NODE_IGNORES(pong)
NODE_IGNORES(entry_ack)
NODE_IGNORES(manifest)
NODE_IGNORES(chunk)
#undef NODE_IGNORES

/* A request the node serves when it offers `service` [REQ-15]. */
#define NODE_SERVES(snake, NAME, Type, service)                                                    \
    static void node_on_##snake(peer *p, const ProtobufCMessage *m, uint64_t *rid)                 \
    {                                                                                              \
        if (!refuse_service(p, *rid, CAIRN_T_##NAME, service))                                     \
            on_##snake(p, (const Type *)m);                                                        \
    }
NODE_SERVES(get_headers, GET_HEADERS, Cairn__V1__GetHeaders, CAIRN_SERVICE_CHAIN)
NODE_SERVES(get_block, GET_BLOCK, Cairn__V1__GetBlock, CAIRN_SERVICE_CHAIN)
NODE_SERVES(submit_entry, SUBMIT_ENTRY, Cairn__V1__SubmitEntry, CAIRN_SERVICE_RELAY)
NODE_SERVES(get_peers, GET_PEERS, Cairn__V1__GetPeers, CAIRN_SERVICE_PEERS)
NODE_SERVES(get_manifest, GET_MANIFEST, Cairn__V1__GetManifest, CAIRN_SERVICE_FILES)
NODE_SERVES(get_chunk, GET_CHUNK, Cairn__V1__GetChunk, CAIRN_SERVICE_FILES)
#undef NODE_SERVES

static void node_on_headers(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)rid;
    sync_on_headers(p, (const Cairn__V1__Headers *)m);
}

static void node_on_block(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)rid;
    sync_on_block(p, (const Cairn__V1__Block *)m);
}

static void node_on_not_found(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)m;
    sync_on_not_found(p, *rid);
}

static void node_on_error(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    if (rid && *rid)
        sync_on_refused(p, *rid, ((const Cairn__V1__Error *)m)->code);
}

static void node_on_announce(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)rid;
    sync_on_announce(p, (const Cairn__V1__Announce *)m);
}

static void node_on_entries(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)rid;
    on_entries(p, (const Cairn__V1__Entries *)m);
}

static void node_on_peers(peer *p, const ProtobufCMessage *m, uint64_t *rid)
{
    (void)rid;
    on_peers(p, (const Cairn__V1__Peers *)m);
}

static void dispatch(peer *p, uint16_t type, const ProtobufCMessage *m, uint64_t *rid)
{
#define NODE_DISPATCH_ROW(id, NAME, Name, cap, kind, snake, ...) [CAIRN_T_##NAME] = node_on_##snake,
    static node_handler *const handlers[CAIRN_MSG_TYPE_BOUND] = {
        CAIRN_MSG_TABLE(NODE_DISPATCH_ROW)};
#undef NODE_DISPATCH_ROW
    if (type < CAIRN_MSG_TYPE_BOUND && handlers[type])
        handlers[type](p, m, rid);
}

void handle_ready(peer *p)
{
    /* [ADM-5] the handshake's duration stands for the round-trip time */
    p->rtt_ms = node_now(p->n) - p->connected_ms;
    /* §12 learn addresses from peers we dialled */
    if (p->outbound && (p->info.services & CAIRN_SERVICE_PEERS)) {
        Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
        int rv = cairn_session_request(p->sess, &gp.base, &p->peers_rid);
        if (rv != 0) /* only our addresses are poorer for it */
            LOGD(p->n, "peer %s: GetPeers not sent: %s", p->addr, cairn_strerror(rv));
    }
    sync_start_headers(p);
}
