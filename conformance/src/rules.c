/* The sender rules, checked on every frame the IUT sends (Hello, Auth, requests, responses). */
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

int hx_allowed(hx *x, const cf_rx *rx)
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
    hx_transcript(h, binding && h->c->has_binding ? h->c->binding : NULL,
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
/* The frame-level rules (FRM-*, CLOSE-1, HS-5): 0 when the frame's message is to be decoded. */
static int observe_frame(hx *x, hconn *h, const cf_rx *rx, const char *tn)
{
    if (h->peer_fatal) {
        hx_violation(x, "CLOSE-1", "the IUT sent %s after its fatal Error", tn);
        return -1;
    }
    uint32_t cap = cairn_frame_type_cap(rx->type);
    if (!cap && rx->type < CAIRN_TYPE_EXT_FIRST) {
        hx_violation(x, "FRM-3", "the IUT sent a frame of unregistered type %s", tn);
        return -1;
    }
    if (cap && rx->len > cap)
        hx_violation(x, "FRM-13", "%s of %zu bytes exceeds its cap of %u", tn, rx->len, cap);
    if (rx->len > OUR_MAX_FRAME)
        hx_violation(x, "FRM-16", "%s of %zu bytes exceeds our max_frame_size", tn, rx->len);
    if (!h->own_auth_sent && rx->type != CAIRN_T_HELLO && rx->type != CAIRN_T_AUTH &&
        rx->type != CAIRN_T_ERROR) {
        hx_violation(x, rx->type >= CAIRN_TYPE_EXT_FIRST ? "FRM-19" : "HS-5",
                     "the IUT sent %s before the session could be READY", tn);
        return -1;
    }
    return rx->type >= CAIRN_TYPE_EXT_FIRST ? -1 : 0;
}

static void observe_hello(hx *x, hconn *h, const cf_rx *rx, ProtobufCMessage *m)
{
    if (h->peer_hello_seen) {
        hx_violation(x, "HS-2", "the IUT sent a second Hello");
        return;
    }
    h->peer_hello_seen = 1;
    memcpy(h->peer_hello, rx->payload, rx->len < 1100 ? rx->len : 1100);
    h->peer_hello_len = rx->len < 1100 ? rx->len : 1100;
    h->peer = cairn_json_from_msg(m);
    check_hello(x, h, (const Cairn__V1__Hello *)m);
}

static void observe_auth(hx *x, hconn *h, const Cairn__V1__Auth *a)
{
    if (h->peer_auth_seen) {
        hx_violation(x, "HS-4", "the IUT sent a second Auth");
        return;
    }
    h->peer_auth_seen = 1;
    if (a->signature.len != 64)
        hx_violation(x, "AUTH-1", "Auth.signature is %zu bytes", a->signature.len);
    else
        check_auth(x, h, a);
}

/* ERR-1..ERR-8: an Error's fields, and what a non-fatal one answers. */
static void observe_error(hx *x, hconn *h, const Cairn__V1__Error *e)
{
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
    hx_req *r = hx_req_find(h->ours, h->n_ours, e->request_id);
    if (!e->request_id || !r) {
        hx_violation(x, e->request_id ? "ERR-8" : "ERR-7",
                     "non-fatal Error %s with request_id %llu answers no outstanding request",
                     cairn_wire_error_name(code), (unsigned long long)e->request_id);
        return;
    }
    if (code == CAIRN_E_INVALID_ENTRY && r->type != CAIRN_T_SUBMIT_ENTRY)
        hx_violation(x, "REQ-7", "INVALID_ENTRY answers a %s", cairn_frame_type_name(r->type));
    hx_req_remove(h->ours, &h->n_ours, r);
}

/* KA-2..KA-4: Pongs answer the harness's Pings in order; the IUT's Ping nonces. */
static void observe_ping_pong(hx *x, hconn *h, uint16_t type, const ProtobufCMessage *m)
{
    if (type == CAIRN_T_PONG) {
        uint64_t nonce = ((const Cairn__V1__Pong *)m)->nonce;
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
        return;
    }
    uint64_t nonce = ((const Cairn__V1__Ping *)m)->nonce;
    for (size_t i = 0; i < h->n_their_pings; i++)
        if (h->their_pings[i] == nonce)
            hx_violation(x, "KA-2", "two unanswered Pings with nonce %llu",
                         (unsigned long long)nonce);
    if (h->n_their_pings < 64)
        h->their_pings[h->n_their_pings++] = nonce;
}

/* REQ-2, REQ-4, REQ-7: request IDs of the IUT's requests, and what its responses answer. */
static void observe_request_response(hx *x, hconn *h, uint16_t type, const char *tn,
                                     ProtobufCMessage *m)
{
    int kind = cairn_msg_kind(type);
    if (kind != CAIRN_KIND_RESPONSE && kind != CAIRN_KIND_REQUEST)
        return;
    uint64_t id = *cairn_msg_request_id(m);
    if (kind == CAIRN_KIND_RESPONSE) {
        hx_req *r = hx_req_find(h->ours, h->n_ours, id);
        if (!r)
            hx_violation(x, "REQ-7", "%s with request_id %llu answers no outstanding request", tn,
                         (unsigned long long)id);
        else if (!cairn_msg_answers(r->type, type))
            hx_violation(x, "REQ-7", "%s cannot answer %s", tn, cairn_frame_type_name(r->type));
        if (r)
            hx_req_remove(h->ours, &h->n_ours, r);
    } else if (kind == CAIRN_KIND_REQUEST) {
        if (hx_req_find(h->theirs, h->n_theirs, id))
            hx_violation(x, "REQ-2", "request_id %llu reused while outstanding",
                         (unsigned long long)id);
        else if (h->n_theirs >= 64)
            hx_violation(x, "REQ-4", "more than 64 outstanding requests");
        else {
            h->theirs[h->n_theirs].id = id;
            h->theirs[h->n_theirs++].type = type;
        }
    }
}

void hx_observe(hx *x, hconn *h, cf_rx *rx)
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
    if (observe_frame(x, h, rx, tn))
        return;
    ProtobufCMessage *m = NULL;
    int rv = cairn_msg_decode_unchecked(&x->dec, rx->type, rx->payload, rx->len, &m);
    if (rv) {
        hx_violation(x, "ENC-2", "the IUT's %s is not canonical proto3 (%s)", tn,
                     cairn_strerror(rv));
        return;
    }
    if (rx->type == CAIRN_T_HELLO) {
        observe_hello(x, h, rx, m);
        return;
    }
    if (rx->type == CAIRN_T_AUTH) {
        observe_auth(x, h, (const Cairn__V1__Auth *)m);
        return;
    }
    if (rx->type == CAIRN_T_ERROR) {
        observe_error(x, h, (const Cairn__V1__Error *)m);
        return;
    }
    /* the field rules every sender follows */
    rv = cairn_msg_validate(rx->type, m);
    if (rv)
        hx_violation(x, "ENC-24", "the IUT's %s breaks a field rule: a receiver closes with %s", tn,
                     cairn_wire_error_name(cairn_err_wire_code(rv)));
    if (rx->type == CAIRN_T_PONG || rx->type == CAIRN_T_PING)
        observe_ping_pong(x, h, rx->type, m);
    else
        observe_request_response(x, h, rx->type, tn, m);
}

/* Observes and auto-handles every queued event that is interleavable (client wait loops). */
void hx_drain_interleaved(hx *x, hconn *h)
{
    while (h->c->q_len && !x->stop) {
        cf_rx *rx = &h->c->q[0];
        hx_observe(x, h, rx);
        if (!hx_allowed(x, rx))
            return;
        hx_auto_handle(x, h, rx);
        cf_conn_consume(h->c, 0);
    }
}
