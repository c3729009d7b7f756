/* Sending steps: hello, auth, send, send-frame, send-raw and what the harness notes of its own
 * frames. */
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
#include "steps.h"

int hx_write_split(hx *x, hconn *h, const uint8_t *p, size_t n, const cf_split *sp)
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

hx_req *hx_req_find(hx_req *v, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

void hx_req_remove(hx_req *v, size_t *n, hx_req *r)
{
    *r = v[--*n];
}

/* What the harness itself sent: requests, Pings, Hello, Auth, responses. */
void hx_note_sent(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len)
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
        hx_req *r = hx_req_find(h->theirs, h->n_theirs, *cairn_msg_request_id(m));
        if (r)
            hx_req_remove(h->theirs, &h->n_theirs, r);
    }
}

/* Frames and sends bytes: header (with overrides), prepend, payload, append. */
int hx_send_payload(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len,
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
        hx_note_sent(x, h, type, payload, len);
    else if (t == type || (st && st->type_override >= 0))
        hx_note_sent(x, h, t, f + CAIRN_FRAME_HEADER_LEN, plen);
    static const cf_split none;
    int rv = hx_write_split(x, h, f, CAIRN_FRAME_HEADER_LEN + plen, st ? &st->split : &none);
    free(f);
    return rv;
}

/* Builds a message from JSON fields (variables substituted) and sends it. */
int hx_send_json(hx *x, hconn *h, uint16_t type, const json_t *fields, const cf_step *st)
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
    int rv = hx_send_payload(x, h, type, p, len, st);
    free(p);
    return rv;
}

int hx_send_msg(hx *x, hconn *h, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(len + 1);
    if (!p)
        return -1;
    protobuf_c_message_pack(m, p);
    int rv = hx_send_payload(x, h, cairn_msg_type_of(m), p, len, NULL);
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

int hx_send_hello(hx *x, hconn *h, const cf_step *st)
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
    int rv = hx_send_json(x, h, CAIRN_T_HELLO, o, st);
    json_decref(o);
    return rv;
}

int hx_transcript(hconn *h, const uint8_t *binding, size_t blen, uint8_t th[32])
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

int hx_send_auth(hx *x, hconn *h, const cf_step *st)
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
    hx_transcript(h, b, bl, th);
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
    return hx_send_payload(x, h, CAIRN_T_AUTH, p, len, st);
}
