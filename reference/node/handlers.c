/* Requests from peers and the node's answers (spec §7.2, §10, §11, §12). */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "node.h"
#include "share.h"

static void dispatch(peer *p, uint16_t type, const ProtobufCMessage *m, uint64_t *rid);
static void handle_one(peer *p, uint16_t type, const ProtobufCMessage *m);

/* [REQ-15] a request for a service we did not advertise */
static int refuse_service(peer *p, uint64_t rid, uint16_t type, uint64_t service)
{
    node *n = p->n;
    uint64_t ours = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS |
                    (n->share ? CAIRN_SERVICE_FILES : 0);
    if (ours & service)
        return 0;
    cairn_session *s = peer_session(p);
    if (type == CAIRN_T_GET_MANIFEST || type == CAIRN_T_GET_CHUNK) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = rid;
        cairn_session_respond(s, &nf.base);
    } else {
        cairn_session_respond_error(s, rid, CAIRN_E_BUSY, 0, "service not offered");
    }
    return 1;
}

static void on_get_headers(peer *p, const Cairn__V1__GetHeaders *m)
{
    node *n = p->n;
    node_flush(n); /* [VAL-32] what we serve is on disk */
    uint8_t(*loc)[CAIRN_HASH_LEN] = malloc(m->n_locator * CAIRN_HASH_LEN);
    uint8_t(*out)[CAIRN_BLOCK_HEADER_LEN] = malloc(CAIRN_HEADERS_MAX * CAIRN_BLOCK_HEADER_LEN);
    ProtobufCBinaryData *hv = malloc(CAIRN_HEADERS_MAX * sizeof(*hv));
    if (!loc || !out || !hv) {
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_BUSY, 0, "no memory");
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
    cairn_session_respond(peer_session(p), &h.base);
    LOGD("peer %s: served %zu headers", p->addr, count);
out:
    free(loc);
    free(out);
    free(hv);
}

struct body_acc {
    ProtobufCBinaryData *v;
    size_t n, cap;
    int failed;
};

static int collect_entry(void *ud, const uint8_t *entry, size_t len)
{
    struct body_acc *b = ud;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        ProtobufCBinaryData *v = realloc(b->v, cap * sizeof(*v));
        if (!v)
            return b->failed = 1;
        b->v = v;
        b->cap = cap;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return b->failed = 1;
    memcpy(copy, entry, len);
    b->v[b->n++] = (ProtobufCBinaryData){len, copy};
    return 0;
}

static void on_get_block(peer *p, const Cairn__V1__GetBlock *m)
{
    node *n = p->n;
    node_flush(n); /* [VAL-32] what we serve is on disk */
    const cairn_chain_block *b = NULL;
    if (m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID)
        b = cairn_chain_find(n->chain, m->block_id.data);
    else
        b = cairn_chain_at(n->chain, m->height);
    uint8_t header[CAIRN_BLOCK_HEADER_LEN];
    struct body_acc acc = {0};
    int rv = b && (b->flags & CAIRN_CHAIN_HAVE_DATA)
                 ? cairn_store_get_block(n->store, b->id, header, collect_entry, &acc)
                 : 1;
    if (rv == 0 && !acc.failed) {
        Cairn__V1__Block r = CAIRN__V1__BLOCK__INIT;
        r.request_id = m->request_id;
        r.header = (ProtobufCBinaryData){CAIRN_BLOCK_HEADER_LEN, header};
        r.n_entries = acc.n;
        r.entries = acc.v;
        cairn_session_respond(peer_session(p), &r.base);
    } else if (rv == 1) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = m->request_id;
        cairn_session_respond(peer_session(p), &nf.base);
    } else {
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_BUSY, 0,
                                    "store unavailable");
    }
    for (size_t i = 0; i < acc.n; i++)
        free(acc.v[i].data);
    free(acc.v);
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
            cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_RATE_LIMITED, 0,
                                        "entry rate exceeded");
            return;
        }
        rv = cairn_mempool_add_from(n->pool, m->entry.data, m->entry.len, p->info.node_id, id,
                                    &reason, &added);
    }
    if (rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)) {
        char why[80];
        snprintf(why, sizeof(why), "%s", cairn_block_reason_name(reason));
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_INVALID_ENTRY, reason,
                                    why);
        return;
    }
    if (rv) { /* [REL-21] the fair-share rules refuse it */
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_BUSY, 0,
                                    "entry pool full");
        return;
    }
    Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
    ack.request_id = m->request_id;
    ack.entry_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, id};
    cairn_session_respond(peer_session(p), &ack.base);
    if (added) {
        char hex[65];
        cairn_hex_encode(hex, id, 32);
        LOGI("entry %.16s submitted by %s (%zu bytes), %zu pending", hex, p->addr, m->entry.len,
             cairn_mempool_count(n->pool));
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
        LOGD("peer %s: %zu new entries relayed", p->addr, n_fresh);
        relay_entries(n, fresh, n_fresh, p);
    }
}

static void on_get_peers(peer *p, const Cairn__V1__GetPeers *m)
{
    node *n = p->n;
    uint64_t now = node_now(n);
    /* [DISC-6] one GetPeers per session per minute; more are RATE_LIMITED */
    if (p->last_getpeers_in_ms && now - p->last_getpeers_in_ms < NODE_GETPEERS_INTERVAL_MS) {
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_RATE_LIMITED, 0,
                                    "one GetPeers per minute");
        return;
    }
    p->last_getpeers_in_ms = now;
    static Cairn__V1__PeerAddress pa[NODE_MAX_ADDRS];
    static Cairn__V1__PeerAddress *pp[NODE_MAX_ADDRS];
    static uint8_t ips[NODE_MAX_ADDRS][16];
    size_t k = 0;
    /* [ADDR-6] with node IDs an address takes up to 80 bytes: 800 fit the Peers cap */
    for (int i = 0; i < n->n_addrs && k < NODE_PEERS_ANSWER_MAX; i++) {
        addr_entry *a = &n->addrs[i];
        if (!a->used || !a->last_seen_ms) /* [DISC-9] only addresses we have reached */
            continue;
        cairn__v1__peer_address__init(&pa[k]);
        if (a->sa.ss_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
            memcpy(ips[k], &v4->sin_addr, 4);
            pa[k].ip = (ProtobufCBinaryData){4, ips[k]};
            pa[k].port = ntohs(v4->sin_port);
        } else {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;
            memcpy(ips[k], &v6->sin6_addr, 16);
            pa[k].ip = (ProtobufCBinaryData){16, ips[k]};
            pa[k].port = ntohs(v6->sin6_port);
        }
        pa[k].services = a->services;
        pa[k].last_seen_ms = a->last_seen_ms;
        if (a->has_id) /* [ADDR-7] */
            pa[k].node_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, a->node_id};
        pp[k] = &pa[k];
        k++;
    }
    /* and ourselves, when we listen */
    Cairn__V1__Peers r = CAIRN__V1__PEERS__INIT;
    r.request_id = m->request_id;
    r.n_peers = k;
    r.peers = pp;
    cairn_session_respond(peer_session(p), &r.base);
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
        added += addrbook_add_from(n, &sa, len, a->services,
                                   a->node_id.len == CAIRN_HASH_LEN ? a->node_id.data : NULL,
                                   &p->sa) >= 0;
    }
    if (added)
        LOGD("peer %s: %zu new addresses", p->addr, added);
}

static void on_get_manifest(peer *p, const Cairn__V1__GetManifest *m)
{
    Cairn__V1__Manifest r = CAIRN__V1__MANIFEST__INIT;
    int rv = share_manifest(p->n->share, m->file_id.data, &r);
    if (rv == 0) {
        r.request_id = m->request_id;
        cairn_session_respond(peer_session(p), &r.base);
    } else {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = m->request_id;
        cairn_session_respond(peer_session(p), &nf.base);
    }
}

static void on_get_chunk(peer *p, const Cairn__V1__GetChunk *m)
{
    Cairn__V1__Chunk r = CAIRN__V1__CHUNK__INIT;
    int rv = share_chunk_prepare(p->n->share, m->file_id.data, m->index, &r);
    if (rv == 0) {
        /* zero-copy: the chunk is read straight into the frame that carries it */
        r.request_id = m->request_id;
        int err;
        uint8_t *dst = cairn_session_respond_chunk_begin(peer_session(p), &r, &err);
        if (!dst)
            return;
        if ((rv = share_chunk_read(p->n->share, m->file_id.data, m->index, dst)) == 0) {
            cairn_session_respond_chunk_commit(peer_session(p));
            return;
        }
    }
    if (rv == 1) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = m->request_id;
        cairn_session_respond(peer_session(p), &nf.base);
    } else if (rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)) {
        peer_close(p, CAIRN_E_INVALID_FIELD, "GetChunk index past the last chunk"); /* [CHK-3] */
    } else {
        cairn_session_respond_error(peer_session(p), m->request_id, CAIRN_E_BUSY, 0,
                                    "cannot read the chunk");
    }
}

/* [REQ-21] requests beyond their type's rate or the upload budget */
static int rate_limited(peer *p, uint16_t type, uint64_t rid)
{
    if (cairn_msg_kind(type) != CAIRN_KIND_REQUEST || limits_request_ok(p, type))
        return 0;
    cairn_session_respond_error(peer_session(p), rid, CAIRN_E_RATE_LIMITED, 0,
                                "request rate or upload budget exceeded");
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
    size_t queued = cairn_session_pending(peer_session(p), &out);
    dispatch(p, type, m, rid);
    cairn_session *s = peer_session(p);
    size_t after = s ? cairn_session_pending(s, &out) : 0;
    if (cairn_msg_kind(type) == CAIRN_KIND_REQUEST && after > queued)
        limits_charge_upload(p, after - queued); /* [REQ-21] what this answer costs */
}

static void dispatch(peer *p, uint16_t type, const ProtobufCMessage *m, uint64_t *rid)
{
    switch (type) {
    case CAIRN_T_GET_HEADERS:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_CHAIN))
            on_get_headers(p, (const Cairn__V1__GetHeaders *)m);
        break;
    case CAIRN_T_GET_BLOCK:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_CHAIN))
            on_get_block(p, (const Cairn__V1__GetBlock *)m);
        break;
    case CAIRN_T_SUBMIT_ENTRY:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_RELAY))
            on_submit_entry(p, (const Cairn__V1__SubmitEntry *)m);
        break;
    case CAIRN_T_GET_PEERS:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_PEERS))
            on_get_peers(p, (const Cairn__V1__GetPeers *)m);
        break;
    case CAIRN_T_GET_MANIFEST:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_FILES))
            on_get_manifest(p, (const Cairn__V1__GetManifest *)m);
        break;
    case CAIRN_T_GET_CHUNK:
        if (!refuse_service(p, *rid, type, CAIRN_SERVICE_FILES))
            on_get_chunk(p, (const Cairn__V1__GetChunk *)m);
        break;
    case CAIRN_T_HEADERS:
        sync_on_headers(p, (const Cairn__V1__Headers *)m);
        break;
    case CAIRN_T_BLOCK:
        sync_on_block(p, (const Cairn__V1__Block *)m);
        break;
    case CAIRN_T_NOT_FOUND:
        sync_on_not_found(p, *rid);
        break;
    case CAIRN_T_ERROR:
        if (rid && *rid)
            sync_on_not_found(p, *rid); /* BUSY / RATE_LIMITED: try elsewhere */
        break;
    case CAIRN_T_ANNOUNCE:
        sync_on_announce(p, (const Cairn__V1__Announce *)m);
        break;
    case CAIRN_T_ENTRIES:
        on_entries(p, (const Cairn__V1__Entries *)m);
        break;
    case CAIRN_T_PEERS:
        on_peers(p, (const Cairn__V1__Peers *)m);
        break;
    default: /* Ping, Pong: the session answered; EntryAck, Manifest, Chunk: we never ask */
        break;
    }
}

void handle_ready(peer *p)
{
    /* [ADM-5] the handshake's duration stands for the round-trip time */
    p->rtt_ms = node_now(p->n) - p->connected_ms;
    /* §12 learn addresses from peers we dialled */
    if (p->outbound && (p->info.services & CAIRN_SERVICE_PEERS)) {
        Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
        cairn_session_request(peer_session(p), &gp.base, &p->peers_rid);
    }
    sync_start_headers(p);
}
