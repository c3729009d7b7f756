/*
 * Steps of a case, the sender rules checked on every frame the IUT sends,
 * the expectation engine (alternatives, interleaving, captures) and the
 * harness's own behaviour as an ordinary peer (Hello, Auth, Pong, answers
 * from the fixture chain and files).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cairn/chain.h"
#include "cairn/json.h"
#include "cairn/merkle.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "harness.h"

#define OUR_MAX_FRAME 4194304u

static const uint16_t default_allow[] = {
    CAIRN_T_PING,        CAIRN_T_PONG,         CAIRN_T_ANNOUNCE,  CAIRN_T_ENTRIES,
    CAIRN_T_GET_HEADERS, CAIRN_T_GET_BLOCK,    CAIRN_T_GET_PEERS, CAIRN_T_GET_MANIFEST,
    CAIRN_T_GET_CHUNK,   CAIRN_T_SUBMIT_ENTRY,
};

void hx_default_allow(hx *x)
{
    x->n_allow = sizeof(default_allow) / sizeof(default_allow[0]);
    memcpy(x->allow, default_allow, sizeof(default_allow));
}

static int allowed(hx *x, const cf_rx *rx)
{
    if (rx->kind == RX_GARBAGE && x->cur && x->cur->no_tls_probe)
        return 1;
    if (rx->kind != RX_FRAME)
        return 0;
    if (rx->type >= CAIRN_TYPE_EXT_FIRST)
        return 1; /* [FRM-20] extension frames after READY: skipped like any peer would */
    for (size_t i = 0; i < x->n_allow; i++)
        if (x->allow[i] == rx->type)
            return 1;
    return 0;
}

void hx_conn_free(hconn *h)
{
    cf_conn_free(h->c);
    json_decref(h->peer);
    json_decref(h->mine);
    free(h);
}

static hconn *conn_named(hx *x, const char *name)
{
    for (size_t i = 0; i < x->n_conns; i++)
        if (!strcmp(x->conns[i]->c->name, name))
            return x->conns[i];
    return NULL;
}

/* ---- sending ----------------------------------------------------------------------------- */

static int write_split(hx *x, hconn *h, const uint8_t *p, size_t n, const cf_split *sp)
{
    size_t off = 0;
    for (size_t i = 0; i <= sp->n; i++) {
        size_t end = i < sp->n && sp->at[i] < n ? sp->at[i] : n;
        if (end <= off)
            continue;
        if (off && sp->gap_ms) {
            struct timespec ts = {sp->gap_ms / 1000, (long)(sp->gap_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        if (cf_conn_write(h->c, p + off, end - off)) {
            hx_log(x, "%-5s    (write failed: the IUT is gone)", h->c->name);
            return -1;
        }
        off = end;
    }
    return 0;
}

static hx_req *req_find(hx_req *v, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

static void req_remove(hx_req *v, size_t *n, hx_req *r)
{
    *r = v[--*n];
}

/* What the harness itself sent: requests, Pings, Hello, Auth, responses. */
static void note_sent(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len)
{
    ProtobufCMessage *m = NULL;
    if (!cairn_msg_descriptor(type) ||
        cairn_msg_decode_unchecked(&x->dec, type, payload, len, &m) || !m)
        return;
    int kind = cairn_msg_kind(type);
    if (type == CAIRN_T_HELLO && !h->own_hello_sent && len <= sizeof(h->own_hello)) {
        memcpy(h->own_hello, payload, len);
        h->own_hello_len = len;
        h->own_hello_sent = 1;
        json_decref(h->mine);
        h->mine = cairn_json_from_msg(m);
    } else if (type == CAIRN_T_AUTH) {
        h->own_auth_sent = 1;
    } else if (type == CAIRN_T_PING && h->n_pings < 1024) {
        h->pings[h->n_pings++] = ((Cairn__V1__Ping *)m)->nonce;
    } else if (kind == CAIRN_KIND_REQUEST && h->n_ours < 256) {
        h->ours[h->n_ours].id = *cairn_msg_request_id(m);
        h->ours[h->n_ours++].type = type;
    } else if (kind == CAIRN_KIND_RESPONSE || type == CAIRN_T_ERROR) {
        hx_req *r = req_find(h->theirs, h->n_theirs, *cairn_msg_request_id(m));
        if (r)
            req_remove(h->theirs, &h->n_theirs, r);
    }
}

/* Frames and sends bytes: header (with overrides), prepend, payload, append. */
static int send_payload(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len,
                        const cf_step *st)
{
    size_t plen = (st ? st->prepend_len + st->append_len : 0) + len;
    uint8_t *f = malloc(CAIRN_FRAME_HEADER_LEN + plen + 1);
    if (!f)
        return -1;
    uint16_t t = st && st->type_override >= 0 ? (uint16_t)st->type_override : type;
    uint32_t l = st && st->length_override >= 0 ? (uint32_t)st->length_override : (uint32_t)plen;
    if (st && st->length_override == -2) {
        json_t *mf = h->peer ? json_object_get(h->peer, "maxFrameSize") : NULL;
        l = (uint32_t)(mf ? json_integer_value(mf) : 0) + 1;
    }
    cairn_frame_header_encode(f, t, l);
    uint8_t *p = f + CAIRN_FRAME_HEADER_LEN;
    if (st && st->prepend_len) {
        memcpy(p, st->prepend, st->prepend_len);
        p += st->prepend_len;
    }
    if (len)
        memcpy(p, payload, len);
    p += len;
    if (st && st->append_len)
        memcpy(p, st->append, st->append_len);
    cf_rx rx = {RX_FRAME, t, f + CAIRN_FRAME_HEADER_LEN, plen, 0, 0, ""};
    char *d = hx_describe_rx(&rx);
    hx_log(x, "%-5s -> %s%s", h->c->name, d ? d : "?", st && st->split.n ? " (split)" : "");
    free(d);
    if (t == type && (!st || (!st->prepend_len && !st->append_len)))
        note_sent(x, h, type, payload, len);
    else if (t == type || (st && st->type_override >= 0))
        note_sent(x, h, t, f + CAIRN_FRAME_HEADER_LEN, plen);
    static const cf_split none;
    int rv = write_split(x, h, f, CAIRN_FRAME_HEADER_LEN + plen, st ? &st->split : &none);
    free(f);
    return rv;
}

/* Builds a message from JSON fields (variables substituted) and sends it. */
static int send_json(hx *x, hconn *h, uint16_t type, const json_t *fields, const cf_step *st)
{
    const ProtobufCMessageDescriptor *d = cairn_msg_descriptor(type);
    json_t *j = fields ? hx_subst(x, fields) : json_object();
    if (x->stop) {
        json_decref(j);
        return -1;
    }
    cairn_arena_reset(&x->arena, 256u << 20);
    ProtobufCMessage *m;
    char err[256];
    if (cairn_json_to_msg(j, d, &x->arena, &m, err, sizeof(err))) {
        json_decref(j);
        hx_verdict(x, CF_HARNESS_ERROR, "line %d: %s", x->line, err);
        return -1;
    }
    json_decref(j);
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(len + 1);
    if (!p)
        return -1;
    protobuf_c_message_pack(m, p);
    int rv = send_payload(x, h, type, p, len, st);
    free(p);
    return rv;
}

static int send_msg(hx *x, hconn *h, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(len + 1);
    if (!p)
        return -1;
    protobuf_c_message_pack(m, p);
    int rv = send_payload(x, h, cairn_msg_type_of(m), p, len, NULL);
    free(p);
    return rv;
}

/* The harness's own Hello: an ordinary peer's, with the case's overrides (null removes). */
static json_t *default_hello(hx *x, hconn *h)
{
    json_t *o = json_object();
    const cairn_network *net = cairn_network_devnet();
    const cf_block *tip = x->view.blocks[x->view.n - 1];
    uint8_t work[32], nonce[8];
    cf_view_work(&x->view, work);
    cairn_port_env()->random(nonce, 8, NULL);
    char s[32];
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "networkId", cf_bytes_json(net->genesis_id, 32));
    json_object_set_new(o, "nodeKey", cf_bytes_json(cairn_identity_public(h->id), 32));
    json_object_set_new(o, "services", json_string(x->c->role == CF_ROLE_CLIENT ? "15" : "0"));
    json_object_set_new(o, "tipId", cf_bytes_json(tip->id, 32));
    snprintf(s, sizeof(s), "%llu", (unsigned long long)tip->height);
    json_object_set_new(o, "tipHeight", json_string(s));
    json_object_set_new(o, "totalWork", cf_bytes_json(work, 32));
    json_object_set_new(o, "maxFrameSize", json_integer(OUR_MAX_FRAME));
    snprintf(s, sizeof(s), "%llu", (unsigned long long)(cairn_get_u64(nonce) | 1));
    json_object_set_new(o, "nonce", json_string(s));
    json_object_set_new(o, "userAgent", cf_bytes_json((const uint8_t *)"cairn-conform/0.1", 17));
    json_object_set_new(o, "listenPort", json_integer(0));
    snprintf(s, sizeof(s), "%llu", (unsigned long long)cairn_port_wall_ms());
    json_object_set_new(o, "timeMs", json_string(s));
    return o;
}

static int send_hello(hx *x, hconn *h, const cf_step *st)
{
    json_t *o = default_hello(x, h);
    if (st && st->json) {
        const char *k;
        json_t *v;
        json_object_foreach(st->json, k, v)
        {
            if (json_is_null(v))
                json_object_del(o, k);
            else
                json_object_set(o, k, v);
        }
    }
    int rv = send_json(x, h, CAIRN_T_HELLO, o, st);
    json_decref(o);
    return rv;
}

static int transcript(hconn *h, const uint8_t *binding, size_t blen, uint8_t th[32])
{
    const uint8_t *i = h->c->initiator ? h->own_hello : h->peer_hello;
    const uint8_t *r = h->c->initiator ? h->peer_hello : h->own_hello;
    size_t li = h->c->initiator ? h->own_hello_len : h->peer_hello_len;
    size_t lr = h->c->initiator ? h->peer_hello_len : h->own_hello_len;
    return cairn_transcript_hash(th, i, li, r, lr, binding, blen);
}

/*
 * [AUTH-10] Signatures that an RFC 8032 verifier without the checks of spec
 * §6.4.1 accepts, made with the harness's real key (scalar a, public A):
 *   small R: R = the identity, S = k*a mod L with k = SHA-512(R || A || M):
 *            [S]B - [k]A is the identity, whose encoding is R (step 4 refuses it);
 *   S + L:   a valid signature with L added to S (step 5 refuses it).
 */
static int forge(const cairn_identity *id, uint8_t sig[64], const uint8_t *msg, size_t len,
                 int small_r)
{
    static const uint8_t order_be[32] = {0x10, [16] = 0x14, 0xde, 0xf9, 0xde, 0xa2,
                                         0xf7, 0x9c,        0xd6, 0x58, 0x12, 0x63,
                                         0x1a, 0x5c,        0xf5, 0xd3, 0xed};
    uint8_t seed[32], h[64], a[32], k[64];
    BIGNUM *bl = BN_bin2bn(order_be, 32, NULL), *ba = NULL, *bk = NULL, *bs = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    int rv = -1;
    if (!bl || !bs || !ctx || cairn_identity_seed(id, seed) ||
        !EVP_Digest(seed, 32, h, NULL, EVP_sha512(), NULL))
        goto out;
    if (small_r) {
        memcpy(a, h, 32);
        a[0] &= 248, a[31] &= 127, a[31] |= 64; /* RFC 8032 §5.1.5 */
        uint8_t ram[32 + 32 + CAIRN_AUTH_INPUT_LEN] = {1};
        if (len != CAIRN_AUTH_INPUT_LEN)
            goto out;
        memcpy(ram + 32, cairn_identity_public(id), 32);
        memcpy(ram + 64, msg, len);
        if (!EVP_Digest(ram, sizeof(ram), k, NULL, EVP_sha512(), NULL) ||
            !(ba = BN_lebin2bn(a, 32, NULL)) || !(bk = BN_lebin2bn(k, 64, NULL)) ||
            !BN_mod_mul(bs, bk, ba, bl, ctx))
            goto out;
        memset(sig, 0, 32);
        sig[0] = 1;
    } else {
        if (cairn_identity_sign(id, sig, msg, len) || !(ba = BN_lebin2bn(sig + 32, 32, NULL)) ||
            !BN_add(bs, ba, bl))
            goto out;
    }
    if (BN_bn2lebinpad(bs, sig + 32, 32) == 32)
        rv = 0;
out:
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(h, sizeof(h));
    OPENSSL_cleanse(a, sizeof(a));
    BN_free(bl);
    BN_free(ba);
    BN_free(bk);
    BN_free(bs);
    BN_CTX_free(ctx);
    return rv;
}

static int send_auth(hx *x, hconn *h, const cf_step *st)
{
    if (!h->own_hello_sent || !h->peer_hello_seen) {
        hx_verdict(x, CF_HARNESS_ERROR,
                   "line %d: auth needs both Hellos (send one with `send Auth {...}` instead)",
                   x->line);
        return -1;
    }
    uint8_t wrong[32], th[32], input[CAIRN_AUTH_INPUT_LEN], sig[64];
    const uint8_t *b = h->c->has_binding ? h->c->binding : NULL;
    size_t bl = h->c->has_binding ? 32 : 0;
    if (st && st->binding == 1) {
        b = NULL;
        bl = 0;
    } else if (st && st->binding == 2) {
        memset(wrong, 0x42, sizeof(wrong));
        if (h->c->has_binding)
            memcpy(wrong, h->c->binding, 32), wrong[0] ^= 1;
        b = wrong;
        bl = 32;
    }
    transcript(h, b, bl, th);
    int role_initiator = h->c->initiator;
    if (st && st->role)
        role_initiator = !role_initiator;
    cairn_auth_input(input, role_initiator, th);
    const cairn_identity *id = st && st->key[0] ? hx_key(x, st->key) : h->id;
    int fail = !id;
    if (!fail && st && st->flag >= 2)
        fail = forge(id, sig, input, sizeof(input), st->flag == 2);
    else if (!fail)
        fail = cairn_identity_sign(id, sig, input, sizeof(input)) != 0;
    if (fail) {
        hx_verdict(x, CF_HARNESS_ERROR, "cannot sign");
        return -1;
    }
    if (st && st->flag == 1)
        sig[0] ^= 0x01;
    Cairn__V1__Auth a = CAIRN__V1__AUTH__INIT;
    a.signature.data = sig;
    a.signature.len = 64;
    size_t len = protobuf_c_message_get_packed_size(&a.base);
    uint8_t p[80];
    protobuf_c_message_pack(&a.base, p);
    return send_payload(x, h, CAIRN_T_AUTH, p, len, st);
}

/* ---- the peer persona: answers to the IUT's requests -------------------------------------- */

static void answer_get_headers(hx *x, hconn *h, const Cairn__V1__GetHeaders *g)
{
    size_t start = 0; /* index of the first block to send */
    for (size_t i = 0; i < g->n_locator; i++) {
        if (g->locator[i].len != 32)
            continue;
        const cf_block *b = cf_view_find(&x->view, g->locator[i].data);
        if (b) {
            start = (size_t)b->height + 1;
            break;
        }
    }
    if (!start)
        start = 1;
    size_t limit = g->max_count ? g->max_count : 2000;
    if (limit > 2000)
        limit = 2000;
    Cairn__V1__Headers r = CAIRN__V1__HEADERS__INIT;
    r.request_id = g->request_id;
    ProtobufCBinaryData *hd = calloc(limit + 1, sizeof(*hd));
    for (size_t k = start; k < x->view.n && r.n_headers < limit; k++) {
        hd[r.n_headers].data = (uint8_t *)x->view.blocks[k]->header;
        hd[r.n_headers++].len = CAIRN_BLOCK_HEADER_LEN;
        if (g->stop_id.len == 32 && !memcmp(x->view.blocks[k]->id, g->stop_id.data, 32))
            break;
    }
    r.headers = hd;
    send_msg(x, h, &r.base);
    free(hd);
}

static void answer_block(hx *x, hconn *h, uint64_t rid, const cf_block *b)
{
    if (!b) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = rid;
        send_msg(x, h, &nf.base);
        return;
    }
    Cairn__V1__Block r = CAIRN__V1__BLOCK__INIT;
    r.request_id = rid;
    r.header.data = (uint8_t *)b->header;
    r.header.len = CAIRN_BLOCK_HEADER_LEN;
    ProtobufCBinaryData *e = calloc(b->n_entries + 1, sizeof(*e));
    for (size_t i = 0; i < b->n_entries; i++) {
        e[i].data = (uint8_t *)b->entries[i].data;
        e[i].len = b->entries[i].len;
    }
    r.entries = e;
    r.n_entries = b->n_entries;
    send_msg(x, h, &r.base);
    free(e);
    if (b == x->view.blocks[x->view.n - 1])
        h->served_tip = 1;
    if (b->height < x->view.n && x->view.blocks[b->height] == b &&
        (!h->served_low || b->height + 1 < h->served_low))
        h->served_low = b->height + 1;
}

static const cf_file *file_by_id(hx *x, const ProtobufCBinaryData *id)
{
    if (id->len != 32 || x->c->role != CF_ROLE_CLIENT)
        return NULL; /* only in the client role does the harness serve files */
    for (size_t i = 0; i < x->o->fx->n_files; i++)
        if (!memcmp(x->o->fx->files[i].id, id->data, 32))
            return &x->o->fx->files[i];
    return NULL;
}

static void answer_request(hx *x, hconn *h, uint16_t type, ProtobufCMessage *m)
{
    uint64_t rid = *cairn_msg_request_id(m);
    switch (type) {
    case CAIRN_T_GET_HEADERS:
        answer_get_headers(x, h, (Cairn__V1__GetHeaders *)m);
        h->saw_get_headers = 1;
        return;
    case CAIRN_T_GET_BLOCK: {
        const Cairn__V1__GetBlock *g = (const Cairn__V1__GetBlock *)m;
        const cf_block *b = NULL;
        if (g->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT)
            b = g->height < x->view.n ? x->view.blocks[g->height] : NULL;
        else if (g->block_id.len == 32)
            b = cf_view_find(&x->view, g->block_id.data);
        answer_block(x, h, rid, b);
        return;
    }
    case CAIRN_T_GET_PEERS: {
        Cairn__V1__Peers r = CAIRN__V1__PEERS__INIT;
        r.request_id = rid;
        Cairn__V1__PeerAddress a[2] = {CAIRN__V1__PEER_ADDRESS__INIT,
                                       CAIRN__V1__PEER_ADDRESS__INIT};
        Cairn__V1__PeerAddress *pa[2] = {&a[0], &a[1]};
        static uint8_t v4[4] = {192, 0, 2, 1}, v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
        a[0].ip.data = v4;
        a[0].ip.len = 4;
        a[0].port = 7317;
        a[0].services = 15;
        a[1].ip.data = v6;
        a[1].ip.len = 16;
        a[1].port = 7318;
        a[1].services = 1;
        /* in the client role, the harness's own address too: a client that
         * discovers peers can come back for a second session ([DL-8]) */
        Cairn__V1__PeerAddress self = CAIRN__V1__PEER_ADDRESS__INIT;
        Cairn__V1__PeerAddress *pa3[3] = {&a[0], &a[1], &self};
        static uint8_t lo[4] = {127, 0, 0, 1};
        const char *colon = strrchr(x->addr2, ':');
        self.ip.data = lo;
        self.ip.len = 4;
        self.port = colon ? (uint32_t)atoi(colon + 1) : 0;
        self.services = 15;
        if (x->c->role == CF_ROLE_CLIENT) {
            r.peers = self.port ? pa3 : pa;
            r.n_peers = self.port ? 3 : 2;
        }
        send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_GET_MANIFEST: {
        const cf_file *f = file_by_id(x, &((Cairn__V1__GetManifest *)m)->file_id);
        if (!f) {
            Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
            nf.request_id = rid;
            send_msg(x, h, &nf.base);
            return;
        }
        Cairn__V1__Manifest r = CAIRN__V1__MANIFEST__INIT;
        r.request_id = rid;
        r.manifest.data = (uint8_t *)f->manifest;
        r.manifest.len = f->manifest_len;
        send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_GET_CHUNK: {
        const Cairn__V1__GetChunk *g = (const Cairn__V1__GetChunk *)m;
        const cf_file *f = file_by_id(x, &g->file_id);
        if (f && g->index >= f->n_chunks) {
            /* [CHK-3] the harness knows the file: an index past its last chunk is a breach */
            Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
            e.code = CAIRN__V1__ERROR_CODE__INVALID_FIELD;
            static const char why[] = "GetChunk.index is not less than the file's chunk count";
            e.message.data = (uint8_t *)why;
            e.message.len = sizeof(why) - 1;
            send_msg(x, h, &e.base);
            hx_log(x, "%-5s == closed by the harness (CHK-3)", h->c->name);
            cf_conn_close(h->c, 0);
            return;
        }
        if (!f) {
            Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
            nf.request_id = rid;
            send_msg(x, h, &nf.base);
            return;
        }
        size_t cs = (size_t)1 << f->chunk_log2, off = (size_t)g->index * cs;
        size_t len = f->size - off < cs ? f->size - off : cs;
        uint8_t path[64][32];
        size_t pl = 0;
        cairn_merkle_proof(NULL, (const uint8_t(*)[32])f->leaves, (size_t)f->n_chunks,
                           (size_t)g->index, path, 64, &pl);
        ProtobufCBinaryData pr[64];
        for (size_t i = 0; i < pl; i++) {
            pr[i].data = path[i];
            pr[i].len = 32;
        }
        Cairn__V1__Chunk r = CAIRN__V1__CHUNK__INIT;
        r.request_id = rid;
        r.index = g->index;
        r.data.data = f->data + off;
        r.data.len = len;
        r.proof = pr;
        r.n_proof = pl;
        send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_SUBMIT_ENTRY: {
        const Cairn__V1__SubmitEntry *s = (const Cairn__V1__SubmitEntry *)m;
        uint32_t reason = 0;
        if (x->c->role == CF_ROLE_CLIENT &&
            cairn_entry_check(s->entry.data, s->entry.len, &reason) == 0) {
            uint8_t id[32];
            cairn_entry_id(NULL, id, s->entry.data, s->entry.len);
            Cairn__V1__EntryAck r = CAIRN__V1__ENTRY_ACK__INIT;
            r.request_id = rid;
            r.entry_id.data = id;
            r.entry_id.len = 32;
            send_msg(x, h, &r.base);
            return;
        }
        Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
        e.request_id = rid;
        e.code = x->c->role == CF_ROLE_CLIENT ? CAIRN__V1__ERROR_CODE__INVALID_ENTRY
                                              : CAIRN__V1__ERROR_CODE__BUSY;
        e.detail = x->c->role == CF_ROLE_CLIENT ? CAIRN_BLOCK_BAD_ENTRY : 0;
        send_msg(x, h, &e.base);
        return;
    }
    }
}

/* An interleaved frame the case did not ask for: behave like an ordinary peer. */
static void auto_handle(hx *x, hconn *h, const cf_rx *rx)
{
    if (rx->kind != RX_FRAME || !cairn_msg_descriptor(rx->type) || h->c->local_closed)
        return;
    ProtobufCMessage *m;
    if (cairn_msg_decode(&x->dec, rx->type, rx->payload, rx->len, &m))
        return;
    if (rx->type == CAIRN_T_PING) {
        if (!x->pong_on)
            return;
        Cairn__V1__Pong p = CAIRN__V1__PONG__INIT;
        p.nonce = ((Cairn__V1__Ping *)m)->nonce;
        for (size_t i = 0; i < h->n_their_pings; i++)
            if (h->their_pings[i] == p.nonce) {
                h->their_pings[i] = h->their_pings[--h->n_their_pings];
                break;
            }
        send_msg(x, h, &p.base);
        return;
    }
    if (cairn_msg_kind(rx->type) == CAIRN_KIND_REQUEST && x->auto_on) {
        /* decode again: send_msg reuses the decoder */
        uint8_t *copy = malloc(rx->len + 1);
        if (!copy)
            return;
        memcpy(copy, rx->payload, rx->len);
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, cairn_port_mem());
        if (!cairn_msg_decode(&d, rx->type, copy, rx->len, &m))
            answer_request(x, h, rx->type, m);
        cairn_msg_decoder_free(&d);
        free(copy);
    }
}

/* ---- the sender rules, checked on every frame from the IUT ------------------------------- */

static int utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (k == 9 || i + k >= n + (k ? 0 : 1))
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void check_hello(hx *x, hconn *h, const Cairn__V1__Hello *m)
{
    const cairn_network *net = cairn_network_devnet();
    if (m->version == 0)
        hx_violation(x, "HS-6", "the IUT's Hello has version 0");
    if (m->network_id.len != 32 || memcmp(m->network_id.data, net->genesis_id, 32))
        hx_violation(x, "HS-7",
                     "the IUT's Hello.network_id is not the devnet genesis ID (run "
                     "the IUT on devnet)");
    if (m->node_key.len != 32)
        hx_violation(x, "HS-8", "Hello.node_key is %zu bytes", m->node_key.len);
    if (m->tip_id.len != 32 || m->total_work.len != 32)
        hx_violation(x, "HS-10", "Hello.tip_id or total_work is not 32 bytes");
    else {
        /* [POW-3] [POW-4] total_work = (height + 1) * 2^bits on a fixed-bits network */
        cairn_work w;
        memset(&w, 0, sizeof(w));
        for (uint64_t i = 0; i <= m->tip_height && i < 1000000; i++)
            cairn_work_add_block(&w, net->bits);
        if (memcmp(w.be, m->total_work.data, 32))
            hx_violation(x, "POW-3", "Hello.total_work is not the work of a chain of height %llu",
                         (unsigned long long)m->tip_height);
        if (m->tip_height == 0 && memcmp(m->tip_id.data, net->genesis_id, 32))
            hx_violation(x, "HS-10", "Hello.tip_height is 0 but tip_id is not the genesis ID");
    }
    if (m->max_frame_size < CAIRN_FRAME_MAX_MIN || m->max_frame_size > CAIRN_FRAME_MAX_HARD)
        hx_violation(x, "FRM-15", "Hello.max_frame_size is %u", m->max_frame_size);
    if (m->user_agent.len > 64)
        hx_violation(x, "HS-12", "Hello.user_agent is %zu bytes", m->user_agent.len);
    for (size_t i = 0; i < m->user_agent.len; i++)
        if (m->user_agent.data[i] < 0x20 || m->user_agent.data[i] > 0x7e) {
            hx_violation(x, "HS-12", "Hello.user_agent has byte 0x%02x", m->user_agent.data[i]);
            break;
        }
    if (m->listen_port > 65535)
        hx_violation(x, "HS-13", "Hello.listen_port is %u", m->listen_port);
    if (x->c->role == CF_ROLE_SERVER && x->o->target) {
        const char *colon = strrchr(x->o->target, ':');
        unsigned port = colon ? (unsigned)atoi(colon + 1) : 0;
        if (port && m->listen_port != port)
            hx_violation(x, "HS-13",
                         "the IUT accepted this session on port %u but its "
                         "Hello.listen_port is %u",
                         port, m->listen_port);
    }
    (void)h;
}

static int verify_auth(hconn *h, const uint8_t sig[64], int signer_initiator, int binding)
{
    uint8_t th[32], input[CAIRN_AUTH_INPUT_LEN];
    transcript(h, binding && h->c->has_binding ? h->c->binding : NULL,
               binding && h->c->has_binding ? 32 : 0, th);
    cairn_auth_input(input, signer_initiator, th);
    const uint8_t *key = h->c->initiator ? NULL : NULL;
    (void)key;
    uint8_t pk[32];
    uint8_t *b;
    size_t bl;
    json_t *nk = json_object_get(h->peer, "nodeKey");
    if (!nk || cf_json_bytes(nk, &b, &bl) || bl != 32)
        return -1;
    memcpy(pk, b, 32);
    free(b);
    return cairn_ed25519_verify(pk, sig, input, sizeof(input));
}

static void check_auth(hx *x, hconn *h, const Cairn__V1__Auth *a)
{
    if (!h->own_hello_sent) {
        hx_violation(x, "HS-3", "the IUT sent Auth before it received the harness's Hello");
        return;
    }
    if (!h->peer_hello_seen || a->signature.len != 64)
        return;
    int peer_initiator = !h->c->initiator;
    if (verify_auth(h, a->signature.data, peer_initiator, 1) == 0)
        return;
    if (verify_auth(h, a->signature.data, !peer_initiator, 1) == 0)
        hx_violation(x, "AUTH-2", "the IUT signed its Auth with the other side's role byte");
    else if (h->c->has_binding && verify_auth(h, a->signature.data, peer_initiator, 0) == 0)
        hx_violation(x, "HS-31",
                     "the IUT's Auth signs a transcript without the TLS exporter "
                     "value (no channel binding)");
    else
        hx_violation(x, "AUTH-1",
                     "the IUT's Auth signature does not verify over the transcript "
                     "of this session");
}

/* Sender rules for one frame from the IUT (once per frame). */
static void observe(hx *x, hconn *h, cf_rx *rx)
{
    if (rx->seen)
        return;
    rx->seen = 1;
    if (rx->kind == RX_GARBAGE && h->no_tls_probe)
        return; /* a TLS peer answering plaintext: not Cairn frames, as expected */
    if (rx->kind == RX_GARBAGE) {
        hx_violation(x, "FRM-2", "the IUT sent %zu bytes that do not start with the magic ca 1e",
                     rx->len);
        return;
    }
    if (rx->kind != RX_FRAME)
        return;
    char tb[16];
    const char *tn = cf_type_name(rx->type, tb);
    if (h->peer_fatal) {
        hx_violation(x, "CLOSE-1", "the IUT sent %s after its fatal Error", tn);
        return;
    }
    uint32_t cap = cairn_frame_type_cap(rx->type);
    if (!cap && rx->type < CAIRN_TYPE_EXT_FIRST) {
        hx_violation(x, "FRM-3", "the IUT sent a frame of unregistered type %s", tn);
        return;
    }
    if (cap && rx->len > cap)
        hx_violation(x, "FRM-13", "%s of %zu bytes exceeds its cap of %u", tn, rx->len, cap);
    if (rx->len > OUR_MAX_FRAME)
        hx_violation(x, "FRM-16", "%s of %zu bytes exceeds our max_frame_size", tn, rx->len);
    if (!h->own_auth_sent && rx->type != CAIRN_T_HELLO && rx->type != CAIRN_T_AUTH &&
        rx->type != CAIRN_T_ERROR) {
        hx_violation(x, rx->type >= CAIRN_TYPE_EXT_FIRST ? "FRM-19" : "HS-5",
                     "the IUT sent %s before the session could be READY", tn);
        return;
    }
    if (rx->type >= CAIRN_TYPE_EXT_FIRST)
        return;
    ProtobufCMessage *m = NULL;
    int rv = cairn_msg_decode_unchecked(&x->dec, rx->type, rx->payload, rx->len, &m);
    if (rv) {
        hx_violation(x, "ENC-2", "the IUT's %s is not canonical proto3 (%s)", tn,
                     cairn_strerror(rv));
        return;
    }
    if (rx->type == CAIRN_T_HELLO) {
        if (h->peer_hello_seen) {
            hx_violation(x, "HS-2", "the IUT sent a second Hello");
            return;
        }
        h->peer_hello_seen = 1;
        memcpy(h->peer_hello, rx->payload, rx->len < 1100 ? rx->len : 1100);
        h->peer_hello_len = rx->len < 1100 ? rx->len : 1100;
        h->peer = cairn_json_from_msg(m);
        check_hello(x, h, (const Cairn__V1__Hello *)m);
        return;
    }
    if (rx->type == CAIRN_T_AUTH) {
        if (h->peer_auth_seen) {
            hx_violation(x, "HS-4", "the IUT sent a second Auth");
            return;
        }
        h->peer_auth_seen = 1;
        if (((Cairn__V1__Auth *)m)->signature.len != 64)
            hx_violation(x, "AUTH-1", "Auth.signature is %zu bytes",
                         ((Cairn__V1__Auth *)m)->signature.len);
        else
            check_auth(x, h, (const Cairn__V1__Auth *)m);
        return;
    }
    if (rx->type == CAIRN_T_ERROR) {
        const Cairn__V1__Error *e = (const Cairn__V1__Error *)m;
        uint32_t code = (uint32_t)e->code;
        if (code == 0 || !cairn_wire_error_name(code))
            hx_violation(x, "ERR-1", "Error.code %u is not a registered code", code);
        if (e->message.len > 256)
            hx_violation(x, "ERR-2", "Error.message is %zu bytes", e->message.len);
        if (!utf8_ok(e->message.data, e->message.len))
            hx_violation(x, "ERR-3", "Error.message is not UTF-8");
        int with_detail = code == CAIRN_E_INVALID_BLOCK || code == CAIRN_E_INVALID_ENTRY;
        if (with_detail && (e->detail == 0 || !cairn_block_reason_name(e->detail)))
            hx_violation(x, "ERR-5", "%s needs a reason code in Error.detail, got %u",
                         cairn_wire_error_name(code), e->detail);
        if (!with_detail && e->detail)
            hx_violation(x, "ERR-5", "Error.detail is %u with code %s", e->detail,
                         cairn_wire_error_name(code));
        if (cairn_wire_error_is_fatal(code)) {
            h->peer_fatal = 1;
            return;
        }
        hx_req *r = req_find(h->ours, h->n_ours, e->request_id);
        if (!e->request_id || !r) {
            hx_violation(x, e->request_id ? "ERR-8" : "ERR-7",
                         "non-fatal Error %s with request_id %llu answers no outstanding request",
                         cairn_wire_error_name(code), (unsigned long long)e->request_id);
            return;
        }
        if (code == CAIRN_E_INVALID_ENTRY && r->type != CAIRN_T_SUBMIT_ENTRY)
            hx_violation(x, "REQ-7", "INVALID_ENTRY answers a %s", cairn_frame_type_name(r->type));
        req_remove(h->ours, &h->n_ours, r);
        return;
    }
    /* the field rules every sender follows */
    rv = cairn_msg_validate(rx->type, m);
    if (rv)
        hx_violation(x, "ENC-24", "the IUT's %s breaks a field rule: a receiver closes with %s", tn,
                     cairn_wire_error_name(cairn_err_wire_code(rv)));
    int kind = cairn_msg_kind(rx->type);
    if (rx->type == CAIRN_T_PONG) {
        uint64_t nonce = ((Cairn__V1__Pong *)m)->nonce;
        size_t i;
        for (i = 0; i < h->n_pings && h->pings[i] != nonce; i++)
            ;
        if (i == h->n_pings)
            hx_violation(x, "KA-3", "Pong with nonce %llu answers no Ping of the harness",
                         (unsigned long long)nonce);
        else if (i != 0)
            hx_violation(x, "KA-4", "Pongs out of order: nonce %llu before %llu",
                         (unsigned long long)nonce, (unsigned long long)h->pings[0]);
        if (i < h->n_pings)
            memmove(h->pings + i, h->pings + i + 1, (h->n_pings-- - i - 1) * sizeof(uint64_t));
    } else if (rx->type == CAIRN_T_PING) {
        uint64_t nonce = ((Cairn__V1__Ping *)m)->nonce;
        for (size_t i = 0; i < h->n_their_pings; i++)
            if (h->their_pings[i] == nonce)
                hx_violation(x, "KA-2", "two unanswered Pings with nonce %llu",
                             (unsigned long long)nonce);
        if (h->n_their_pings < 64)
            h->their_pings[h->n_their_pings++] = nonce;
    } else if (kind == CAIRN_KIND_RESPONSE) {
        uint64_t id = *cairn_msg_request_id(m);
        hx_req *r = req_find(h->ours, h->n_ours, id);
        if (!r)
            hx_violation(x, "REQ-7", "%s with request_id %llu answers no outstanding request", tn,
                         (unsigned long long)id);
        else if (!cairn_msg_answers(r->type, rx->type))
            hx_violation(x, "REQ-7", "%s cannot answer %s", tn, cairn_frame_type_name(r->type));
        if (r)
            req_remove(h->ours, &h->n_ours, r);
    } else if (kind == CAIRN_KIND_REQUEST) {
        uint64_t id = *cairn_msg_request_id(m);
        if (req_find(h->theirs, h->n_theirs, id))
            hx_violation(x, "REQ-2", "request_id %llu reused while outstanding",
                         (unsigned long long)id);
        else if (h->n_theirs >= 64)
            hx_violation(x, "REQ-4", "more than 64 outstanding requests");
        else {
            h->theirs[h->n_theirs].id = id;
            h->theirs[h->n_theirs++].type = rx->type;
        }
    }
}

/* Observes and auto-handles every queued event that is interleavable (client wait loops). */
void hx_drain_interleaved(hx *x, hconn *h)
{
    while (h->c->q_len && !x->stop) {
        cf_rx *rx = &h->c->q[0];
        observe(x, h, rx);
        if (!allowed(x, rx))
            return;
        auto_handle(x, h, rx);
        cf_conn_consume(h->c, 0);
    }
}

/* ---- expectations -----------------------------------------------------------------------------
 */

static int event_matches(hx *x, const cf_event *e, const cf_rx *rx, char *w, size_t wn)
{
    w[0] = '\0';
    switch (e->kind) {
    case EV_CLOSE:
        if (rx->kind != RX_CLOSE)
            return 0;
        if (e->alert[0] && !strstr(rx->info, "close_notify")) {
            snprintf(w, wn, "closed without a TLS close_notify (%s)", rx->info);
            return 0;
        }
        return 1;
    case EV_TLS_ALERT: {
        if (rx->kind != RX_TLS_ALERT)
            return 0;
        if (!e->alert[0])
            return 1;
        char want[48], got[160];
        size_t i;
        for (i = 0; e->alert[i] && i < sizeof(want) - 1; i++)
            want[i] = e->alert[i] == '_' ? ' ' : e->alert[i];
        want[i] = '\0';
        for (i = 0; rx->info[i] && i < sizeof(got) - 1; i++)
            got[i] = rx->info[i] == '_' ? ' ' : (char)tolower((unsigned char)rx->info[i]);
        got[i] = '\0';
        return strstr(got, want) != NULL;
    }
    case EV_MSG: {
        if (rx->kind != RX_FRAME || rx->type != e->type)
            return 0;
        ProtobufCMessage *m;
        if (cairn_msg_decode_unchecked(&x->dec, rx->type, rx->payload, rx->len, &m)) {
            snprintf(w, wn, "does not decode");
            return 0;
        }
        cf_match_ctx mc = {x->vars, hx_resolve, x};
        if (!e->pattern)
            return 1;
        /* macros ($entryId, $bytes, ...) in patterns too; captures stay */
        x->lenient = 1;
        json_t *pat = hx_subst(x, e->pattern);
        x->lenient = 0;
        int ok = cf_match(&mc, m, pat, w, wn);
        json_decref(pat);
        return ok;
    }
    }
    return 0;
}

static void describe_alts(hx *x, const cf_step *st)
{
    size_t o = 0;
    x->expected[0] = '\0';
    for (size_t a = 0; a < st->n_alts; a++) {
        const cf_alt *al = &st->alts[a];
        o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, "%s", a ? "\n  or " : "");
        for (size_t i = 0; i < al->n_ev && o < sizeof(x->expected); i++) {
            const cf_event *e = &al->ev[i];
            char tb[16], *p = e->pattern ? json_dumps(e->pattern, JSON_COMPACT) : NULL;
            const char *what = e->kind == EV_CLOSE       ? "close"
                               : e->kind == EV_NOTHING   ? "nothing"
                               : e->kind == EV_TLS_ALERT ? "tls-alert"
                                                         : cf_type_name(e->type, tb);
            o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, "%s%s%s%s%s",
                                  i ? " then " : "", what, p ? " " : "", p ? p : "",
                                  e->kind == EV_TLS_ALERT && e->alert[0] ? e->alert : "");
            free(p);
        }
        if (o < sizeof(x->expected))
            o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, " => %s",
                                  al->verdict == CF_DONE ? "DONE" : cf_verdict_name(al->verdict));
    }
}

static unsigned expect_window(hx *x, const cf_step *st)
{
    unsigned slack = 2000;
    switch (st->within_sym) {
    case 1:
        return hx_window(x, x->o->iut_handshake_ms + slack);
    case 2:
        return hx_window(x, x->o->iut_idle_ms + x->o->iut_ping_ms + slack);
    case 3:
        return hx_window(x, x->o->iut_ping_ms + slack);
    }
    return hx_window(x, st->within_ms > 0 ? (unsigned)st->within_ms : 2000);
}

/*
 * Runs one expectation: the alternatives advance together over the events
 * that arrive; an event that no alternative takes and that is allowed to
 * interleave is handled like any peer would; the first alternative to
 * complete decides the verdict.
 */
static void run_expect(hx *x, hconn *h, const cf_step *st)
{
    size_t na = st->n_alts;
    size_t pos[16] = {0};
    int alive[16];
    char why[16][256];
    for (size_t a = 0; a < na && a < 16; a++) {
        alive[a] = 1;
        why[a][0] = '\0';
    }
    uint64_t deadline = cf_now_ms() + expect_window(x, st);
    size_t idx = 0;
    int done = -1;
    char last[512] = "";
    while (!x->stop && done < 0) {
        if (idx >= h->c->q_len) {
            uint64_t now = cf_now_ms();
            if (h->c->eof || now >= deadline) {
                if (!h->c->eof || now >= deadline)
                    for (size_t a = 0; a < na && done < 0; a++)
                        if (alive[a] && pos[a] == st->alts[a].n_ev - 1 &&
                            st->alts[a].ev[pos[a]].kind == EV_NOTHING && !h->c->eof)
                            done = (int)a;
                if (done < 0 && h->c->eof && now < deadline) {
                    /* the connection ended: nothing more will come */
                    for (size_t a = 0; a < na && done < 0; a++)
                        if (alive[a] && st->alts[a].ev[pos[a]].kind == EV_NOTHING &&
                            pos[a] == st->alts[a].n_ev - 1)
                            done = (int)a;
                }
                if (done < 0) {
                    snprintf(x->arrived, sizeof(x->arrived), "%s%s",
                             h->c->eof ? "the connection closed, and nothing matched"
                                       : "nothing matching within the window",
                             last[0] ? last : "");
                    break;
                }
                break;
            }
            cf_conn_pump(h->c, (int)(deadline - now < 50 ? deadline - now : 50));
            if (x->pid)
                hx_client_done(x);
            continue;
        }
        cf_rx *rx = &h->c->q[idx];
        observe(x, h, rx);
        if (x->stop)
            break;
        int took = 0, inter = allowed(x, rx);
        for (size_t a = 0; a < na; a++) {
            if (!alive[a])
                continue;
            const cf_event *e = &st->alts[a].ev[pos[a]];
            char w[256];
            if (e->kind != EV_NOTHING && event_matches(x, e, rx, w, sizeof(w))) {
                took = 1;
                if (++pos[a] == st->alts[a].n_ev && done < 0)
                    done = (int)a;
            } else if (!inter) {
                alive[a] = 0;
                snprintf(why[a], sizeof(why[a]), "%s", w);
            }
        }
        if (!took && inter)
            auto_handle(x, h, rx);
        char *d = hx_describe_rx(rx);
        if (!took && !inter) {
            snprintf(last, sizeof(last), "%s", d ? d : "?");
        }
        free(d);
        idx++;
        int any = 0;
        for (size_t a = 0; a < na; a++)
            any |= alive[a];
        if (!any && done < 0) {
            size_t o = strlen(last);
            for (size_t a = 0; a < na && o < sizeof(last) - 8; a++)
                if (why[a][0])
                    o += (size_t)snprintf(last + o, sizeof(last) - o, " (%s)", why[a]);
            snprintf(x->arrived, sizeof(x->arrived), "%s", last);
            break;
        }
    }
    for (size_t i = 0; i < idx && h->c->q_len; i++)
        cf_conn_consume(h->c, 0);
    if (x->stop)
        return;
    if (done >= 0) {
        const cf_alt *al = &st->alts[done];
        if (al->verdict == CF_DONE) {
            hx_log(x, "      (case done: %s)", al->text ? al->text : "this alternative ends it");
            x->stop = 1;
        } else if (al->verdict != CF_PASS) {
            describe_alts(x, st);
            hx_verdict(x, al->verdict, "line %d: %s", st->line,
                       al->text ? al->text : "an alternative with this verdict arrived");
        }
        x->arrived[0] = '\0';
        return;
    }
    describe_alts(x, st);
    int v = st->else_verdict >= 0 ? st->else_verdict
                                  : (cf_case_is_must(x->c) ? CF_FAIL : CF_NON_STRICT);
    hx_verdict(x, v, "line %d: %s", st->line,
               st->else_text ? st->else_text : "what arrived is none of the permitted outcomes");
    x->stop = 1; /* what follows depended on this expectation */
}

/* A Ping whose Pong proves the IUT processed everything sent before it ([KA-4]). */
static void barrier(hx *x, hconn *h)
{
    uint8_t r[8];
    cairn_port_env()->random(r, 8, NULL);
    uint64_t nonce = cairn_get_u64(r) | 1;
    char ns[24];
    snprintf(ns, sizeof(ns), "%llu", (unsigned long long)nonce);
    Cairn__V1__Ping p = CAIRN__V1__PING__INIT;
    p.nonce = nonce;
    send_msg(x, h, &p.base);
    cf_step st;
    memset(&st, 0, sizeof(st));
    cf_alt alt;
    memset(&alt, 0, sizeof(alt));
    cf_event ev = {EV_MSG, CAIRN_T_PONG, json_pack("{s:s}", "nonce", ns), ""};
    alt.ev = &ev;
    alt.n_ev = 1;
    st.alts = &alt;
    st.n_alts = 1;
    st.else_verdict = CF_FAIL;
    st.line = x->line;
    st.else_text = (char *)"barrier: the IUT did not answer the Ping (or sent something else "
                           "first)";
    run_expect(x, h, &st);
    json_decref(ev.pattern);
}

/* Waits until every request the harness sent is answered ([REQ-7]); responses may come in any
 * order. */
static void settle(hx *x, hconn *h)
{
    uint64_t deadline = cf_now_ms() + hx_window(x, 5000);
    while (!x->stop && h->n_ours) {
        if (!h->c->q_len) {
            if (h->c->eof || cf_now_ms() >= deadline)
                break;
            cf_conn_pump(h->c, 50);
            continue;
        }
        cf_rx *rx = &h->c->q[0];
        observe(x, h, rx);
        int resp = rx->kind == RX_FRAME &&
                   (cairn_msg_kind(rx->type) == CAIRN_KIND_RESPONSE || rx->type == CAIRN_T_ERROR);
        if (!resp && !allowed(x, rx)) {
            char *d = hx_describe_rx(rx);
            snprintf(x->arrived, sizeof(x->arrived), "%s", d ? d : "?");
            free(d);
            cf_conn_consume(h->c, 0);
            hx_verdict(x, CF_FAIL, "line %d: settle: something other than a response arrived",
                       x->line);
            return;
        }
        if (!resp)
            auto_handle(x, h, rx);
        cf_conn_consume(h->c, 0);
    }
    if (!x->stop && h->n_ours)
        hx_violation(x, "REQ-7",
                     "%zu request(s) of the harness left unanswered (first: %s "
                     "request_id %llu)",
                     h->n_ours, cairn_frame_type_name(h->ours[0].type),
                     (unsigned long long)h->ours[0].id);
}

/* Lets the IUT fetch the harness's view: header sync, then bodies, then a barrier. */
static void sync_view(hx *x, hconn *h)
{
    uint64_t start = cf_now_ms(), deadline = start + hx_window(x, 20000);
    int announced = 0;
    h->served_tip = 0;
    h->served_low = 0;
    if (x->view.n <= 1)
        return;
    while (!x->stop && !h->served_tip) {
        uint64_t now = cf_now_ms();
        if (now >= deadline || h->c->eof)
            break;
        if (!announced && !h->saw_get_headers && now >= start + hx_window(x, 1000)) {
            /* [SYNC-39] [SYNC-40]: the IUT did not start header sync by itself */
            Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
            a.header.data = (uint8_t *)x->view.blocks[x->view.n - 1]->header;
            a.header.len = CAIRN_BLOCK_HEADER_LEN;
            send_msg(x, h, &a.base);
            announced = 1;
        }
        cf_conn_pump(h->c, 50);
        while (h->c->q_len && !x->stop) {
            cf_rx *rx = &h->c->q[0];
            observe(x, h, rx);
            if (!allowed(x, rx)) {
                char *d = hx_describe_rx(rx);
                snprintf(x->arrived, sizeof(x->arrived), "%s", d ? d : "?");
                free(d);
                hx_verdict(x, CF_FAIL,
                           "line %d: sync: the IUT sent something other than "
                           "requests while fetching the harness's chain",
                           x->line);
                cf_conn_consume(h->c, 0);
                return;
            }
            auto_handle(x, h, rx);
            cf_conn_consume(h->c, 0);
        }
    }
    if (x->stop)
        return;
    if (!h->served_tip && h->served_low && !h->c->eof) {
        /* [FORK-5] The IUT asked for valid blocks of a chain with more work than its own and was
         * given them: the lowest one served (its parent the IUT already had) makes a chain with
         * more work than the parent's, so the IUT's active chain now reaches its height. A node
         * that fetches and then discards bodies fails here rather than hiding behind SKIPs. */
        uint64_t low = h->served_low - 1;
        char hs[24];
        snprintf(hs, sizeof(hs), "%llu", (unsigned long long)low);
        hx_log(x,
               "      (sync stopped before the tip: is the lowest block served, height %s, "
               "on the IUT's active chain?)",
               hs);
        Cairn__V1__GetBlock g = CAIRN__V1__GET_BLOCK__INIT;
        g.request_id = 0x5ccull << 32 | low;
        g.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        g.height = low;
        char rid[24];
        snprintf(rid, sizeof(rid), "%llu", (unsigned long long)g.request_id);
        send_msg(x, h, &g.base);
        char *hhex = cf_hex(x->view.blocks[low]->header, CAIRN_BLOCK_HEADER_LEN);
        cf_step st;
        memset(&st, 0, sizeof(st));
        cf_alt alt[2];
        memset(alt, 0, sizeof(alt));
        cf_event ev[2] = {{EV_MSG, CAIRN_T_BLOCK,
                           json_pack("{s:s,s:{s:s}}", "requestId", rid, "header", "hex", hhex), ""},
                          {EV_MSG, CAIRN_T_BLOCK, json_pack("{s:s}", "requestId", rid), ""}};
        alt[0].ev = &ev[0];
        alt[0].n_ev = 1;
        alt[1].ev = &ev[1];
        alt[1].n_ev = 1;
        alt[1].verdict = CF_NON_STRICT; /* another block at that height: another chain of at
                                           least that work may be active */
        alt[1].text = (char *)"sync: the IUT's active chain has another block at the height of "
                              "the lowest block it fetched";
        st.alts = alt;
        st.n_alts = 2;
        st.else_verdict = CF_FAIL;
        st.line = x->line;
        st.else_text = (char *)"FORK-5: the IUT fetched valid blocks of a chain with more work "
                               "than its own and did not make them its active chain (GetBlock by "
                               "the height of the lowest one did not return a block)";
        run_expect(x, h, &st);
        json_decref(ev[0].pattern);
        json_decref(ev[1].pattern);
        free(hhex);
        if (x->stop)
            return;
    }
    if (!h->served_tip) {
        hx_verdict(x, CF_NON_STRICT,
                   "line %d: sync: the IUT did not fetch the harness's chain up to its tip "
                   "(SYNC-21, SYNC-39, SYNC-40 are recommendations)",
                   x->line);
        x->stop = 1;
        return;
    }
    barrier(x, h);
}

/* ---- connections -------------------------------------------------------------------------- */

/*
 * [TLS-7] A first session to get a ticket; when the IUT's ticket allows early
 * data, returns it (the caller resumes with it and sends 0-RTT), else NULL.
 */
/* [TLS-23] [TLS-24] [TLS-25] [TLS-26] Offer (client) or accept (server) only
 * the parameters every node must support. */
static void tls_mandatory_only(SSL_CTX *ctx)
{
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set1_groups_list(ctx, "X25519");
    SSL_CTX_set1_sigalgs_list(ctx, "ed25519");
}

/* After a handshake restricted by tls_mandatory_only: it completed, with
 * those parameters, and a server's certificate holds an Ed25519 key. */
static void check_mandatory(hx *x, SSL *ssl, int ok, int initiator)
{
    const char *req = initiator ? "TLS-26" : "TLS-23";
    if (!ok) {
        hx_violation(x, req,
                     "no TLS handshake with only TLS_AES_128_GCM_SHA256, x25519 and ed25519");
        return;
    }
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (!c || strcmp(SSL_CIPHER_standard_name(c), "TLS_AES_128_GCM_SHA256"))
        hx_violation(x, req, "negotiated %s", c ? SSL_CIPHER_standard_name(c) : "no cipher");
    else if (SSL_get_negotiated_group(ssl) != NID_X25519)
        hx_violation(x, initiator ? "TLS-26" : "TLS-24", "the key exchange did not use x25519");
    if (!initiator)
        return;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    EVP_PKEY *pk = cert ? X509_get0_pubkey(cert) : NULL;
    int nid = 0;
    if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
        !SSL_get_peer_signature_type_nid(ssl, &nid) || nid != NID_ED25519)
        hx_violation(x, "TLS-27",
                     "the server's certificate key or CertificateVerify is not Ed25519");
    X509_free(cert);
}

/*
 * [TLS-16] [TLS-28] Replace the context's certificate by one that a PKIX
 * verifier refuses on every count a Cairn node must not check: its own
 * signature does not verify, serial number 0, version 1, expired long ago.
 * The key stays, so CertificateVerify still verifies.
 */
static int odd_cert(SSL_CTX *ctx)
{
    X509 *c = X509_dup(SSL_CTX_get0_certificate(ctx));
    if (!c)
        return -1;
    X509_set_version(c, 0);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 0);
    X509_gmtime_adj(X509_getm_notBefore(c), -20L * 86400);
    X509_gmtime_adj(X509_getm_notAfter(c), -10L * 86400);
    EVP_PKEY *key = SSL_CTX_get0_privatekey(ctx);
    int rv = -1;
    if (X509_sign(c, key, NULL)) {
        const ASN1_BIT_STRING *sig;
        X509_get0_signature(&sig, NULL, c);
        ((ASN1_BIT_STRING *)sig)->data[5] ^= 0x40; /* after signing: it no longer verifies */
        if (X509_verify(c, key) != 1 && SSL_CTX_use_certificate(ctx, c) == 1)
            rv = 0;
    }
    X509_free(c);
    return rv;
}

static SSL_SESSION *early_ticket(hx *x, const cf_step *st, SSL_CTX *ctx)
{
    char err[256];
    int fd =
        cf_tcp_dial(x->o->target, hx_source(x, st->src), (int)hx_window(x, 5000), err, sizeof(err));
    if (fd < 0)
        return NULL;
    cf_conn *c = cf_conn_new(fd, "ticket", 1);
    SSL_SESSION *sess = NULL;
    if (c && cf_conn_tls(c, ctx, (int)hx_window(x, 5000)) == 0) {
        cf_conn_pump(c, 200); /* TLS 1.3 tickets come after the handshake */
        sess = SSL_get1_session(c->ssl);
        if (sess && SSL_SESSION_get_max_early_data(sess) == 0) {
            SSL_SESSION_free(sess);
            sess = NULL;
        }
    }
    hx_log(x, "      TLS: the IUT %s",
           sess ? "issued a ticket that allows early data"
                : "offers no 0-RTT (no ticket, or none for early data)");
    if (c)
        cf_conn_close(c, 0);
    cf_conn_free(c);
    return sess;
}

static void do_connect(hx *x, const cf_step *st)
{
    char name[48];
    if (st->name[0])
        snprintf(name, sizeof(name), "%s", st->name);
    else
        snprintf(name, sizeof(name), "%s", x->n_conns ? "c" : "main");
    if (x->n_conns && !st->name[0])
        snprintf(name, sizeof(name), "c%zu", x->n_conns + 1);
    if (x->n_conns == sizeof(x->conns) / sizeof(x->conns[0])) {
        hx_verdict(x, CF_HARNESS_ERROR, "too many connections");
        return;
    }
    char err[256];
    int fd;
    int initiator = x->c->role == CF_ROLE_SERVER;
    if (initiator) {
        fd = cf_tcp_dial(x->o->target, hx_source(x, st->src), (int)hx_window(x, 5000), err,
                         sizeof(err));
        if (fd < 0) {
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: %s", st->line, err);
            return;
        }
    } else {
        uint64_t deadline = cf_now_ms() + hx_window(x, 5000);
        fd = -1;
        while (fd < 0 && cf_now_ms() < deadline && !x->stop) {
            fd = cf_tcp_accept(x->lfd, 10);
            if (fd < 0 && x->lfd2 >= 0)
                fd = cf_tcp_accept(x->lfd2, 10);
            if (fd < 0 && hx_client_done(x)) {
                if (!x->stop)
                    hx_verdict(x, CF_FAIL,
                               "line %d: the client exited with status %d without "
                               "connecting",
                               st->line, x->status);
                return;
            }
        }
        if (fd < 0) {
            if (!x->stop)
                hx_verdict(x, CF_FAIL, "line %d: the client did not connect", st->line);
            return;
        }
    }
    hconn *h = calloc(1, sizeof(*h));
    h->c = cf_conn_new(fd, name, initiator);
    h->c->log = NULL;
    h->id = hx_key(x, st->key[0] ? st->key : name); /* each connection its own key by default */
    x->conns[x->n_conns++] = h;
    x->cur = h;
    h->c->log = hx_conn_log;
    h->c->log_ud = x;
    hx_log(x, "%-5s == %s %s%s", name, initiator ? "connected to" : "accepted from the client",
           initiator ? x->o->target : x->addr, x->o->plaintext ? " (plaintext)" : " (TLS)");
    if (st->tls12 == -1)
        h->no_tls_probe = !x->o->plaintext;
    if (!x->o->plaintext && st->tls12 != -1) {
        const cairn_identity *cert = st->cert[0] ? hx_key(x, st->cert) : h->id;
        SSL_CTX *ctx = cf_tls_ctx(cert, !initiator, st->alpn, st->tls12 == 1, err, sizeof(err));
        if (!ctx) {
            hx_verdict(x, CF_HARNESS_ERROR, "%s", err);
            return;
        }
        if (st->tls12 == 3)
            tls_mandatory_only(ctx);
        else if (st->tls12 == 4 && odd_cert(ctx)) {
            SSL_CTX_free(ctx);
            hx_verdict(x, CF_HARNESS_ERROR, "could not make the odd certificate");
            return;
        }
        SSL_SESSION *ticket = NULL;
        if (st->tls12 == 2 && initiator) {
            SSL_CTX_set_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
            ticket = early_ticket(x, st, ctx);
        } else if (st->tls12 == 2) {
            /* offer 0-RTT to the client: tickets that allow early data */
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_max_early_data(ctx, 16384);
        }
        int ok;
        if (ticket) {
            /* [TLS-7] resume with a Ping frame as early data: the IUT must not take it */
            static const uint8_t early[] = {0xca, 0x1e, 0, 4, 0, 0, 0, 2, 0x08, 0x01};
            int accepted;
            int w = cf_conn_tls_early(h->c, ctx, ticket, early, sizeof(early),
                                      (int)hx_window(x, 5000), &accepted);
            SSL_SESSION_free(ticket);
            hx_log(x, "%-5s -> TLS early data: %d bytes (a Ping frame), %s", name, w,
                   accepted ? "accepted" : "rejected");
            ok = w >= 0;
            if (accepted)
                hx_violation(x, "TLS-7", "the IUT accepted TLS early data (0-RTT)");
        } else {
            ok = cf_conn_tls(h->c, ctx, (int)hx_window(x, 5000)) == 0;
        }
        if (ok && st->tls12 == 2 && !initiator &&
            SSL_get_early_data_status(h->c->ssl) != SSL_EARLY_DATA_NOT_SENT)
            hx_violation(x, "TLS-6", "the client sent early data (0-RTT)");
        SSL_CTX_free(ctx);
        if (st->tls12 == 3)
            check_mandatory(x, h->c->ssl, ok, initiator);
        if (ok && !st->alpn[0]) {
            const unsigned char *a;
            unsigned al;
            SSL_get0_alpn_selected(h->c->ssl, &a, &al);
            if (al != 7 || memcmp(a, "cairn/1", 7))
                hx_violation(x, initiator ? "TLS-9" : "TLS-8",
                             initiator ? "the IUT did not select ALPN cairn/1"
                                       : "the client did not offer ALPN cairn/1");
        }
    }
}

void hx_conn_log(void *ud, cf_conn *c, int outbound, const cf_rx *rx)
{
    hx *x = ud;
    char *d = hx_describe_rx(rx);
    hx_log(x, "%-5s %s %s", c->name, outbound ? "->" : "<-", d ? d : "?");
    free(d);
}

static hconn *need_conn(hx *x)
{
    if (!x->cur)
        hx_verdict(x, CF_HARNESS_ERROR, "line %d: no connection (use connect first)", x->line);
    return x->cur;
}

static void expect_one(hx *x, hconn *h, uint16_t type, const char *text)
{
    cf_step st;
    memset(&st, 0, sizeof(st));
    cf_alt alt;
    memset(&alt, 0, sizeof(alt));
    cf_event ev = {EV_MSG, type, NULL, ""};
    alt.ev = &ev;
    alt.n_ev = 1;
    st.alts = &alt;
    st.n_alts = 1;
    st.else_verdict = CF_FAIL;
    st.else_text = (char *)text;
    st.line = x->line;
    st.within_ms = 0;
    run_expect(x, h, &st);
}

static void wait_exit(hx *x, const cf_step *st)
{
    if (!x->pid) {
        hx_verdict(x, CF_HARNESS_ERROR, "line %d: exit: no client process", st->line);
        return;
    }
    if (hx_client_wait(x, hx_window(x, 5000))) {
        hx_verdict(x, CF_FAIL, "line %d: the client did not exit", st->line);
        return;
    }
    if (x->stop)
        return;
    int ok = st->flag == 2 || (st->flag == 1 ? x->status != 0 : x->status == st->num);
    if (!ok)
        hx_verdict(x, CF_FAIL, "line %d: the client exited with status %d, expected %s", st->line,
                   x->status,
                   st->flag == 1  ? "non-zero"
                   : st->num == 0 ? "0"
                                  : "another status");
}

void hx_step(hx *x, const cf_step *st)
{
    hconn *h;
    char err[256];
    switch (st->op) {
    case OP_CONNECT:
        do_connect(x, st);
        return;
    case OP_USE:
        if (!(h = conn_named(x, st->name)))
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: no connection %s", st->line, st->name);
        else
            x->cur = h;
        return;
    case OP_CLOSE:
        if ((h = need_conn(x))) {
            hx_log(x, "%-5s == closed by the harness%s", h->c->name, st->flag ? " (reset)" : "");
            cf_conn_close(h->c, st->flag);
        }
        return;
    case OP_HELLO:
        if ((h = need_conn(x)))
            send_hello(x, h, st);
        return;
    case OP_AUTH:
        if ((h = need_conn(x)))
            send_auth(x, h, st);
        return;
    case OP_HANDSHAKE:
        if (!(h = need_conn(x)))
            return;
        send_hello(x, h, st);
        if (!h->peer_hello_seen)
            expect_one(x, h, CAIRN_T_HELLO, "handshake: the IUT did not send its Hello");
        if (x->stop)
            return;
        send_auth(x, h, NULL);
        if (!x->stop)
            expect_one(x, h, CAIRN_T_AUTH, "handshake: the IUT did not send its Auth");
        return;
    case OP_SEND:
        if ((h = need_conn(x)))
            send_json(x, h, cf_type_parse(st->name), st->json, st);
        return;
    case OP_SEND_FRAME:
        if ((h = need_conn(x)))
            send_payload(x, h, (uint16_t)st->num, st->raw, st->raw_len, st);
        return;
    case OP_SEND_RAW:
        if ((h = need_conn(x))) {
            char *hex = cf_hex(st->raw, st->raw_len > 48 ? 48 : st->raw_len);
            hx_log(x, "%-5s -> raw %zu bytes %s%s%s", h->c->name, st->raw_len, hex ? hex : "",
                   st->raw_len > 48 ? "..." : "", st->split.n ? " (split)" : "");
            free(hex);
            /* the harness keeps track of whole frames it sends this way too */
            for (size_t off = 0; off + CAIRN_FRAME_HEADER_LEN <= st->raw_len;) {
                const uint8_t *f = st->raw + off;
                uint32_t fl = cairn_get_u32(f + 4);
                if (f[0] != CAIRN_MAGIC_0 || f[1] != CAIRN_MAGIC_1 ||
                    fl > st->raw_len - off - CAIRN_FRAME_HEADER_LEN)
                    break;
                note_sent(x, h, cairn_get_u16(f + 2), f + CAIRN_FRAME_HEADER_LEN, fl);
                off += CAIRN_FRAME_HEADER_LEN + fl;
            }
            write_split(x, h, st->raw, st->raw_len, &st->split);
        }
        return;
    case OP_EXPECT:
        if ((h = need_conn(x)))
            run_expect(x, h, st);
        return;
    case OP_BARRIER:
        if ((h = need_conn(x)))
            barrier(x, h);
        return;
    case OP_ALLOW:
        for (size_t i = 0; i < st->n_types; i++) {
            if (!st->types[i]) {
                x->n_allow = 0;
                for (uint16_t t = 1; t < 0x40 && x->n_allow < 64; t++)
                    if (cairn_msg_descriptor(t))
                        x->allow[x->n_allow++] = t;
                continue;
            }
            size_t k;
            for (k = 0; k < x->n_allow && x->allow[k] != st->types[i]; k++)
                ;
            if (k == x->n_allow && x->n_allow < 64)
                x->allow[x->n_allow++] = st->types[i];
        }
        return;
    case OP_DISALLOW:
        for (size_t i = 0; i < st->n_types; i++)
            for (size_t k = 0; k < x->n_allow; k++)
                if (!st->types[i] || x->allow[k] == st->types[i])
                    x->allow[k--] = x->allow[--x->n_allow];
        return;
    case OP_AUTO:
        x->auto_on = st->flag;
        return;
    case OP_PONG:
        x->pong_on = st->flag;
        return;
    case OP_SERVE:
        if (cf_view_make(&x->view, x->o->fx, st->name, err, sizeof(err)))
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: %s", st->line, err);
        return;
    case OP_SYNC:
        if ((h = need_conn(x)))
            sync_view(x, h);
        return;
    case OP_EXIT:
        wait_exit(x, st);
        return;
    case OP_SETTLE:
        if ((h = need_conn(x)))
            settle(x, h);
        return;
    case OP_SET: {
        json_t *v = hx_subst(x, st->json);
        json_object_set_new(x->vars, st->name, v);
        return;
    }
    }
}
