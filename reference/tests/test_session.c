/* session layer: an in-memory pair of sessions on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cairn/session.h"
#include "testenv.h"

#define E(code) CAIRN_ERR_PROTO(CAIRN_E_##code)

typedef struct side {
    cairn_session *s;
    cairn_identity *id;
    int ready, closed, messages;
    uint16_t last_type;
    uint64_t last_request_id;
    uint32_t close_code;
    int close_by_peer;
    uint32_t refuse;  /* on_peer_auth answer */
    int auto_respond; /* answer GetBlock with NotFound */
} side;

typedef struct pair {
    test_env t;
    side a, b;
    uint8_t network[32];
} pair;

static uint32_t on_peer_auth(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    return ((side *)ud)->refuse;
}

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ((side *)ud)->ready++;
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    side *x = ud;
    x->messages++;
    x->last_type = type;
    uint64_t *rid = cairn_msg_request_id((ProtobufCMessage *)m);
    x->last_request_id = rid ? *rid : 0;
    if (x->auto_respond && type == CAIRN_T_GET_BLOCK) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = *rid;
        assert_int_equal(cairn_session_respond(s, &nf.base), 0);
    }
}

static void on_close(cairn_session *s, const cairn_close_info *ci, void *ud)
{
    (void)s;
    side *x = ud;
    x->closed++;
    x->close_code = ci->code;
    x->close_by_peer = ci->by_peer;
}

static const cairn_session_callbacks cbs = {
    .on_peer_auth = on_peer_auth,
    .on_ready = on_ready,
    .on_message = on_message,
    .on_close = on_close,
};

static int side_new(pair *p, side *x, int initiator, uint8_t seed_byte, const uint8_t *network)
{
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof(seed));
    memset(x, 0, sizeof(*x));
    assert_int_equal(cairn_identity_from_seed(&x->id, seed), 0);
    cairn_session_config cfg = {0};
    cfg.initiator = initiator;
    cfg.identity = x->id;
    memcpy(cfg.network_id, network, 32);
    cfg.services = CAIRN_SERVICE_CHAIN;
    cfg.user_agent = initiator ? "test-a/1" : "test-b/1";
    int rv = cairn_session_new(&x->s, &cfg, &cbs, x, &p->t.env);
    if (rv)
        cairn_identity_del(x->id);
    return rv;
}

static void side_del(side *x)
{
    cairn_session_del(x->s);
    cairn_identity_del(x->id);
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(pair *p)
{
    for (int round = 0; round < 100; round++) {
        int moved = 0;
        side *from[2] = {&p->a, &p->b}, *to[2] = {&p->b, &p->a};
        for (int i = 0; i < 2; i++) {
            const uint8_t *data;
            size_t n = cairn_session_pending(from[i]->s, &data);
            if (!n)
                continue;
            long used = cairn_session_recv(to[i]->s, data, n);
            if (used > 0) {
                cairn_session_sent(from[i]->s, (size_t)used);
                moved = 1;
            }
        }
        if (!moved)
            return;
    }
    fail_msg("pump did not settle");
}

static void pair_init(pair *p, uint64_t seed)
{
    test_env_init(&p->t, seed);
    memset(p->network, 0xAB, 32);
    assert_int_equal(side_new(p, &p->a, 1, 1, p->network), 0);
    assert_int_equal(side_new(p, &p->b, 0, 2, p->network), 0);
}

static void pair_free(pair *p)
{
    side_del(&p->a);
    side_del(&p->b);
    assert_int_equal(p->t.live, 0);
}

/* Feeds one raw frame to `x` and returns the code of the Error it queued (0 = none). */
static uint32_t inject(pair *p, side *x, uint16_t type, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, &p->t.mem);
    const uint8_t *data;
    cairn_session_sent(x->s, cairn_session_pending(x->s, &data)); /* drop what was queued */
    if (m)
        assert_int_equal(cairn_msg_encode_unchecked(type, m, &b), 0);
    else { /* an extension frame */
        uint8_t *h = cairn_buf_reserve(&b, 11);
        cairn_frame_header_encode(h, type, 3);
        memset(h + 8, 0, 3);
        cairn_buf_commit(&b, 11);
    }
    cairn_session_recv(x->s, cairn_buf_data(&b), b.len);
    cairn_buf_free(&b);
    /* parse what x queued; report the Error if there is one */
    size_t n = cairn_session_pending(x->s, &data);
    const uint8_t *q = data, *end = data + n;
    uint32_t code = 0;
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &p->t.mem);
    while (q < end) {
        cairn_frame_header h;
        assert_int_equal(cairn_frame_header_decode(&q, end, &h, CAIRN_FRAME_MAX_HARD), 0);
        if (h.type == CAIRN_T_ERROR) {
            ProtobufCMessage *em;
            assert_int_equal(cairn_msg_decode(&d, h.type, q, h.length, &em), 0);
            code = ((Cairn__V1__Error *)em)->code;
        }
        q += h.length;
    }
    cairn_msg_decoder_free(&d);
    return code;
}

static void test_handshake(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 1);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_AWAIT_HELLO);
    assert_null(cairn_session_peer(p.a.s));
    pump(&p);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_READY);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    assert_int_equal(p.a.ready, 1);
    assert_int_equal(p.b.ready, 1);
    const cairn_peer_info *pa = cairn_session_peer(p.a.s);
    assert_memory_equal(pa->node_key, cairn_identity_public(p.b.id), 32);
    uint8_t id[32];
    cairn_identity_node_id(p.b.id, id);
    assert_memory_equal(pa->node_id, id, 32);
    assert_string_equal(pa->user_agent, "test-b/1");
    assert_int_equal(pa->version, 1);
    assert_int_equal(pa->services, CAIRN_SERVICE_CHAIN);
    assert_string_equal(cairn_session_peer(p.b.s)->user_agent, "test-a/1");
    pair_free(&p);
}

static void test_ping_and_requests(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 2);
    pump(&p);
    uint64_t nonce;
    assert_int_equal(cairn_session_ping(p.a.s, &nonce), 0);
    pump(&p);
    assert_int_equal(p.b.last_type, CAIRN_T_PING);
    assert_int_equal(p.a.last_type, CAIRN_T_PONG);

    p.b.auto_respond = 1;
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    gb.height = 0;
    uint64_t rid;
    assert_int_equal(cairn_session_request(p.a.s, &gb.base, &rid), 0);
    assert_int_equal(cairn_session_in_flight(p.a.s), 1);
    pump(&p);
    assert_int_equal(p.b.last_type, CAIRN_T_GET_BLOCK);
    assert_int_equal(p.a.last_type, CAIRN_T_NOT_FOUND);
    assert_int_equal(p.a.last_request_id, rid);
    assert_int_equal(cairn_session_in_flight(p.a.s), 0);

    /* a non-fatal Error answers a request and keeps the session */
    p.b.auto_respond = 0;
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    assert_int_equal(cairn_session_request(p.a.s, &gp.base, &rid), 0);
    pump(&p);
    assert_int_equal(cairn_session_respond_error(p.b.s, rid, CAIRN_E_BUSY, 0, "later"), 0);
    assert_int_equal(cairn_session_respond_error(p.b.s, rid, CAIRN_E_BUSY, 0, "again"),
                     CAIRN_ERR_INVALID_ARG); /* answered already */
    assert_int_equal(cairn_session_respond_error(p.b.s, 77, CAIRN_E_MALFORMED, 0, NULL),
                     CAIRN_ERR_INVALID_ARG); /* fatal codes do not answer requests */
    pump(&p);
    assert_int_equal(p.a.last_type, CAIRN_T_ERROR);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_READY);
    assert_int_equal(cairn_session_in_flight(p.a.s), 0);

    /* window of 64 requests */
    for (int i = 0; i < CAIRN_MAX_IN_FLIGHT; i++)
        assert_int_equal(cairn_session_request(p.a.s, &gp.base, NULL), 0);
    assert_int_equal(cairn_session_request(p.a.s, &gp.base, NULL), CAIRN_ERR_WINDOW_FULL);
    pump(&p);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    pair_free(&p);
}

/* A zero-copy Chunk is byte for byte the frame cairn_session_respond would queue. */
static void test_chunk_zero_copy(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 5);
    pump(&p);
    Cairn__V1__GetChunk gc = CAIRN__V1__GET_CHUNK__INIT;
    uint8_t fid[32];
    memset(fid, 7, sizeof(fid));
    gc.file_id = (ProtobufCBinaryData){32, fid};
    uint64_t rid[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(cairn_session_request(p.a.s, &gc.base, &rid[i]), 0);
    pump(&p);
    uint8_t data[5000], h[2][32];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13 + 1);
    memset(h, 0x99, sizeof(h));
    ProtobufCBinaryData proof[2] = {{32, h[0]}, {32, h[1]}};
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    c.request_id = rid[0];
    c.index = 0; /* omitted on the wire, as pack omits it */
    c.data.len = sizeof(data);
    c.n_proof = 2;
    c.proof = proof;
    for (int v = 0; v < 2; v++, c.request_id = rid[1], c.index = 300) {
        cairn_buf want;
        cairn_buf_init(&want, &p.t.mem);
        c.data.data = data;
        assert_int_equal(cairn_msg_encode(&c.base, &want), 0);
        c.data.data = NULL;
        int err = -1;
        uint8_t *dst = cairn_session_respond_chunk_begin(p.b.s, &c, &err);
        assert_non_null(dst);
        assert_int_equal(err, 0);
        memcpy(dst, data, sizeof(data));
        const uint8_t *out;
        assert_int_equal(cairn_session_pending(p.b.s, &out), 0); /* nothing before commit */
        assert_int_equal(cairn_session_respond_chunk_commit(p.b.s), 0);
        assert_int_equal(cairn_session_pending(p.b.s, &out), want.len);
        assert_memory_equal(out, cairn_buf_data(&want), want.len);
        cairn_buf_free(&want);
        pump(&p);
        assert_int_equal(p.a.last_type, CAIRN_T_CHUNK);
        assert_int_equal(p.a.last_request_id, c.request_id);
    }
    /* answered already, or never asked: refused like respond */
    int err = 0;
    assert_null(cairn_session_respond_chunk_begin(p.b.s, &c, &err));
    assert_int_equal(err, CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_session_respond_chunk_commit(p.b.s), CAIRN_ERR_STATE);
    /* any other send drops an uncommitted Chunk; its request stays open */
    c.request_id = rid[2];
    assert_non_null(cairn_session_respond_chunk_begin(p.b.s, &c, &err));
    assert_int_equal(cairn_session_ping(p.b.s, NULL), 0);
    assert_int_equal(cairn_session_respond_chunk_commit(p.b.s), CAIRN_ERR_STATE);
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = rid[2];
    assert_int_equal(cairn_session_respond(p.b.s, &nf.base), 0);
    pump(&p);
    assert_int_equal(p.a.last_type, CAIRN_T_NOT_FOUND); /* after b's Ping, not a Chunk */
    assert_int_equal(p.b.last_type, CAIRN_T_PONG);
    assert_int_equal(cairn_session_in_flight(p.a.s), 0);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_READY);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    pair_free(&p);
}

static void test_handshake_failures(void **state)
{
    (void)state;
    /* wrong network: both sides refuse the other's Hello */
    pair p;
    test_env_init(&p.t, 3);
    uint8_t other[32];
    memset(p.network, 1, 32);
    memset(other, 2, 32);
    assert_int_equal(side_new(&p, &p.a, 1, 1, p.network), 0);
    assert_int_equal(side_new(&p, &p.b, 0, 2, other), 0);
    pump(&p);
    assert_int_equal(p.a.close_code, CAIRN_E_WRONG_NETWORK);
    assert_int_equal(p.b.close_code, CAIRN_E_WRONG_NETWORK);
    assert_int_equal(p.a.ready + p.b.ready, 0);
    pair_free(&p);

    /* self connection: a session reading its own bytes */
    test_env_init(&p.t, 4);
    assert_int_equal(side_new(&p, &p.a, 1, 1, p.network), 0);
    const uint8_t *data;
    size_t n = cairn_session_pending(p.a.s, &data);
    uint8_t copy[1100];
    memcpy(copy, data, n);
    cairn_session_sent(p.a.s, n);
    cairn_session_recv(p.a.s, copy, n);
    assert_int_equal(p.a.close_code, CAIRN_E_SELF_CONNECTION);
    side_del(&p.a);

    /* refused by the application after Auth: DUPLICATE_PEER */
    pair_init(&p, 5);
    p.b.refuse = CAIRN_E_DUPLICATE_PEER;
    pump(&p);
    assert_int_equal(p.b.close_code, CAIRN_E_DUPLICATE_PEER);
    assert_int_equal(p.a.close_code, CAIRN_E_DUPLICATE_PEER);
    assert_int_equal(p.a.close_by_peer, 1);
    assert_int_equal(p.b.ready, 0);
    pair_free(&p);
}

static void test_wrong_state_and_bad_fields(void **state)
{
    (void)state;
    pair p;
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    Cairn__V1__Auth auth = CAIRN__V1__AUTH__INIT;
    uint8_t sig[64] = {0};
    auth.signature = (ProtobufCBinaryData){64, sig};

    /* a Ping before Hello; an Auth before Hello; an extension frame before READY */
    pair_init(&p, 6);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_PING, &ping.base), CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);
    pair_init(&p, 6);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_AUTH, &auth.base), CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);
    pair_init(&p, 6);
    assert_int_equal(inject(&p, &p.b, 0x8001, NULL), CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);

    /* Hello version 0 -> VERSION_MISMATCH; a forged Auth -> BAD_SIGNATURE */
    pair_init(&p, 7);
    const uint8_t *data;
    size_t n = cairn_session_pending(p.a.s, &data);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &p.t.mem);
    ProtobufCMessage *m;
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_HELLO, data + 8, n - 8, &m), 0);
    Cairn__V1__Hello *h = (Cairn__V1__Hello *)m;
    h->version = 0;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_HELLO, m), CAIRN_E_VERSION_MISMATCH);
    cairn_msg_decoder_free(&d);
    pair_free(&p);

    pair_init(&p, 8);
    n = cairn_session_pending(p.a.s, &data);
    assert_int_equal(cairn_session_recv(p.b.s, data, n), (long)n);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_AWAIT_AUTH);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_AUTH, &auth.base), CAIRN_E_BAD_SIGNATURE);
    assert_int_equal(p.b.ready, 0);
    pair_free(&p);

    /* a second Hello while awaiting Auth */
    pair_init(&p, 9);
    n = cairn_session_pending(p.a.s, &data);
    cairn_msg_decoder_init(&d, &p.t.mem);
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_HELLO, data + 8, n - 8, &m), 0);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_HELLO, m), 0);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_HELLO, m), CAIRN_E_UNEXPECTED_MESSAGE);
    cairn_msg_decoder_free(&d);
    pair_free(&p);

    /* after READY: Hello again, extension frames skipped, bad responses */
    pair_init(&p, 10);
    pump(&p);
    assert_int_equal(inject(&p, &p.b, 0x8001, NULL), 0);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = 99;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_NOT_FOUND, &nf.base), CAIRN_E_UNKNOWN_REQUEST);
    pair_free(&p);

    pair_init(&p, 11);
    pump(&p);
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    uint64_t rid;
    assert_int_equal(cairn_session_request(p.b.s, &gp.base, &rid), 0);
    nf.request_id = rid; /* NotFound does not answer GetPeers */
    assert_int_equal(inject(&p, &p.b, CAIRN_T_NOT_FOUND, &nf.base), CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);

    pair_init(&p, 12);
    pump(&p);
    gp.request_id = 5;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_GET_PEERS, &gp.base), 0);
    assert_int_equal(inject(&p, &p.b, CAIRN_T_GET_PEERS, &gp.base), CAIRN_E_DUPLICATE_REQUEST_ID);
    pair_free(&p);

    pair_init(&p, 13);
    pump(&p);
    for (int i = 1; i <= CAIRN_MAX_IN_FLIGHT; i++) {
        gp.request_id = (uint64_t)i;
        assert_int_equal(inject(&p, &p.b, CAIRN_T_GET_PEERS, &gp.base), 0);
    }
    gp.request_id = 1000;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_GET_PEERS, &gp.base), CAIRN_E_TOO_MANY_REQUESTS);
    pair_free(&p);
}

static void test_error_rules(void **state)
{
    (void)state;
    pair p;
    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    /* [ERR-14] a non-fatal Error before READY */
    pair_init(&p, 30);
    e.code = CAIRN__V1__ERROR_CODE__BUSY;
    e.request_id = 1;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_ERROR, &e.base), CAIRN_E_UNKNOWN_REQUEST);
    pair_free(&p);
    /* [REQ-1] a non-fatal Error without a request_id */
    pair_init(&p, 31);
    pump(&p);
    e.request_id = 0;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_ERROR, &e.base), CAIRN_E_INVALID_FIELD);
    pair_free(&p);
    /* [REQ-10] INVALID_ENTRY does not answer GetPeers; BUSY does */
    pair_init(&p, 32);
    pump(&p);
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    uint64_t rid;
    assert_int_equal(cairn_session_request(p.b.s, &gp.base, &rid), 0);
    e.code = CAIRN__V1__ERROR_CODE__INVALID_ENTRY;
    e.request_id = rid;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_ERROR, &e.base), CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);
    pair_init(&p, 33);
    pump(&p);
    assert_int_equal(cairn_session_request(p.b.s, &gp.base, &rid), 0);
    e.code = CAIRN__V1__ERROR_CODE__BUSY;
    e.request_id = rid;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_ERROR, &e.base), 0);
    assert_int_equal(p.b.last_type, CAIRN_T_ERROR);
    assert_int_equal(cairn_session_in_flight(p.b.s), 0);
    pair_free(&p);
}

static void test_state_checked_before_payload(void **state)
{
    (void)state;
    /* [FRM-12] a Hello header in READY is refused before its payload arrives */
    pair p;
    pair_init(&p, 34);
    pump(&p);
    uint8_t hdr[8];
    cairn_frame_header_encode(hdr, CAIRN_T_HELLO, 1000);
    assert_true(cairn_session_recv(p.b.s, hdr, 8) < 0);
    assert_int_equal(p.b.close_code, CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);
    /* a Block header before the handshake: no payload byte is needed either */
    pair_init(&p, 35);
    cairn_frame_header_encode(hdr, CAIRN_T_BLOCK, 2000000);
    assert_true(cairn_session_recv(p.b.s, hdr, 8) < 0);
    assert_int_equal(p.b.close_code, CAIRN_E_UNEXPECTED_MESSAGE);
    pair_free(&p);
}

static void test_unanswered_ping(void **state)
{
    (void)state;
    /* [KA-8] a peer that keeps sending bytes but never answers our Ping */
    pair p;
    pair_init(&p, 36);
    pump(&p);
    assert_int_equal(cairn_session_ping(p.a.s, NULL), 0);
    uint8_t hdr[8];
    cairn_frame_header_encode(hdr, CAIRN_T_BLOCK, 2000000); /* an endless frame... */
    assert_int_equal(cairn_session_recv(p.a.s, hdr, 8), 8);
    uint8_t byte = 0;
    for (int i = 0; i < 8; i++) { /* ...trickled one byte every 10 s */
        p.t.now += 10000;
        assert_int_equal(cairn_session_recv(p.a.s, &byte, 1), 1);
        assert_int_equal(cairn_session_tick(p.a.s), 0);
    }
    p.t.now += 10000; /* 90 s after the Ping */
    assert_int_equal(cairn_session_recv(p.a.s, &byte, 1), 1);
    assert_true(cairn_session_deadline(p.a.s) <= p.t.now);
    assert_int_equal(cairn_session_tick(p.a.s), E(IDLE_TIMEOUT));
    pair_free(&p);
}

static void test_fatal_error_ends_everything(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 14);
    pump(&p);
    assert_int_equal(cairn_session_close(p.a.s, CAIRN_E_SHUTDOWN, "bye"), 0);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_CLOSING);
    /* nothing more can be sent after a fatal Error */
    assert_int_equal(cairn_session_ping(p.a.s, NULL), CAIRN_ERR_STATE);
    pump(&p);
    assert_int_equal(p.b.close_code, CAIRN_E_SHUTDOWN);
    assert_int_equal(p.b.close_by_peer, 1);
    assert_true(cairn_session_want_close(p.a.s));
    assert_true(cairn_session_want_close(p.b.s));
    /* input after the close is swallowed and ignored */
    uint8_t junk[5] = {1, 2, 3, 4, 5};
    assert_int_equal(cairn_session_recv(p.a.s, junk, 5), 5);
    assert_int_equal(p.a.closed, 1);
    cairn_session_eof(p.a.s);
    assert_int_equal(p.a.closed, 1); /* on_close ran once */
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_CLOSED);
    pair_free(&p);

    /* garbage from the peer: BAD_MAGIC, then silence */
    pair_init(&p, 15);
    uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
    assert_true(cairn_session_recv(p.b.s, garbage, sizeof(garbage)) < 0);
    assert_int_equal(p.b.close_code, CAIRN_E_BAD_MAGIC);
    pair_free(&p);
}

static void test_timers(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 16);
    /* handshake timeout */
    assert_int_equal(cairn_session_deadline(p.a.s), p.t.now + CAIRN_HANDSHAKE_TIMEOUT_MS);
    p.t.now += CAIRN_HANDSHAKE_TIMEOUT_MS - 1;
    assert_int_equal(cairn_session_tick(p.a.s), 0);
    p.t.now += 1;
    assert_int_equal(cairn_session_tick(p.a.s), E(HANDSHAKE_TIMEOUT));
    assert_int_equal(p.a.close_code, CAIRN_E_HANDSHAKE_TIMEOUT);
    /* CLOSING with the Error unflushed: given up 5 s later [CLOSE-8] */
    assert_int_equal(cairn_session_deadline(p.a.s), p.t.now + CAIRN_CLOSING_TIMEOUT_MS);
    const uint8_t *d;
    cairn_session_sent(p.a.s, cairn_session_pending(p.a.s, &d));
    assert_int_equal(cairn_session_deadline(p.a.s), UINT64_MAX);
    pair_free(&p);

    /* keepalive: a Ping after 30 s of silence, answered */
    pair_init(&p, 17);
    pump(&p);
    uint64_t start = p.t.now;
    assert_int_equal(cairn_session_deadline(p.a.s), start + CAIRN_PING_INTERVAL_MS);
    p.t.now = start + CAIRN_PING_INTERVAL_MS;
    assert_int_equal(cairn_session_tick(p.a.s), 0);
    assert_int_equal(cairn_session_tick(p.b.s), 0);
    pump(&p);
    assert_int_equal(p.a.last_type, CAIRN_T_PONG);
    assert_int_equal(cairn_session_state(p.a.s), CAIRN_SS_READY);
    /* idle: nothing received for 90 s */
    p.t.now += CAIRN_IDLE_TIMEOUT_MS;
    assert_int_equal(cairn_session_tick(p.a.s), E(IDLE_TIMEOUT));
    pair_free(&p);
}

static void test_stray_pong_ignored(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 18);
    pump(&p);
    Cairn__V1__Pong pong = CAIRN__V1__PONG__INIT;
    pong.nonce = 12345;
    int before = p.b.messages;
    assert_int_equal(inject(&p, &p.b, CAIRN_T_PONG, &pong.base), 0);
    assert_int_equal(p.b.messages, before);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    pair_free(&p);
}

static void test_backpressure(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 19);
    pump(&p);
    /* 200k Pings while b's output is never drained: b stops reading. */
    cairn_buf in;
    cairn_buf_init(&in, &p.t.mem);
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = 0xFFFFFFFFFFFFFFFFull;
    for (int i = 0; i < 300000; i++)
        assert_int_equal(cairn_msg_encode(&ping.base, &in), 0);
    long used = cairn_session_recv(p.b.s, cairn_buf_data(&in), in.len);
    assert_true(used > 0 && (size_t)used < in.len);
    assert_false(cairn_session_want_read(p.b.s));
    const uint8_t *data;
    size_t pending = cairn_session_pending(p.b.s, &data);
    assert_true(pending <= CAIRN_OUTPUT_QUEUE_MAX + 1032); /* [SEC-7] */
    long live = p.t.live;
    cairn_session_sent(p.b.s, pending);
    assert_true(cairn_session_want_read(p.b.s));
    assert_int_equal(p.t.live, live - 1); /* drained: the 3 MiB of room is given back */
    cairn_buf_free(&in);
    pair_free(&p);
}

/* Queues Pongs on `x` by feeding it Pings until more than `bytes` wait. */
static void fill_output(pair *p, side *x, size_t bytes)
{
    cairn_buf in;
    cairn_buf_init(&in, &p->t.mem);
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = 0xFFFFFFFFFFFFFFFFull;
    const uint8_t *data;
    while (cairn_session_pending(x->s, &data) <= bytes) {
        cairn_buf_reset(&in, 0);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(cairn_msg_encode(&ping.base, &in), 0);
        assert_int_equal(cairn_session_recv(x->s, cairn_buf_data(&in), in.len), (long)in.len);
    }
    cairn_buf_free(&in);
}

/* Feeds `x` what `from` queued, leaving `x`'s own output alone. */
static void deliver(side *from, side *x)
{
    const uint8_t *data;
    size_t n = cairn_session_pending(from->s, &data);
    long used = cairn_session_recv(x->s, data, n);
    assert_true(used >= 0);
    cairn_session_sent(from->s, (size_t)used);
}

static void test_output_bounds(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 37);
    pump(&p);
    p.b.auto_respond = 1;
    /* [SEC-8] over OUTPUT_SOFT, b keeps reading but holds a's request */
    fill_output(&p, &p.b, CAIRN_OUTPUT_SOFT);
    assert_true(cairn_session_want_read(p.b.s));
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    assert_int_equal(cairn_session_request(p.a.s, &gb.base, NULL), 0);
    int before = p.b.messages;
    deliver(&p.a, &p.b);
    assert_int_equal(p.b.messages, before);
    assert_int_equal(cairn_session_held(p.b.s), 1);
    /* [SEC-10] a notification for b's peer is dropped, not queued */
    Cairn__V1__Announce an = CAIRN__V1__ANNOUNCE__INIT;
    uint8_t hdr[96] = {0};
    an.header = (ProtobufCBinaryData){96, hdr};
    assert_int_equal(cairn_session_notify(p.b.s, &an.base), CAIRN_ERR_AGAIN);
    /* a Ping is still read and answered: b does not stop reading a */
    assert_int_equal(cairn_session_ping(p.a.s, NULL), 0);
    deliver(&p.a, &p.b);
    /* once b's output drains, the held request is due at once and served by
     * the tick, without waiting for a's next input */
    const uint8_t *data;
    assert_true(cairn_session_deadline(p.b.s) > p.t.now);
    cairn_session_sent(p.b.s, cairn_session_pending(p.b.s, &data));
    assert_true(cairn_session_deadline(p.b.s) <= p.t.now);
    assert_int_equal(p.b.messages, before + 1); /* only the Ping so far */
    assert_int_equal(cairn_session_tick(p.b.s), 0);
    assert_int_equal(cairn_session_held(p.b.s), 0);
    assert_true(cairn_session_deadline(p.b.s) > p.t.now);
    assert_int_equal(p.b.last_type, CAIRN_T_GET_BLOCK);
    pump(&p);
    assert_int_equal(p.a.last_type, CAIRN_T_NOT_FOUND);
    assert_int_equal(cairn_session_in_flight(p.a.s), 0);

    /* [REQ-19] a request held for 30 s is answered BUSY */
    fill_output(&p, &p.b, CAIRN_OUTPUT_SOFT);
    assert_int_equal(cairn_session_request(p.a.s, &gb.base, NULL), 0);
    deliver(&p.a, &p.b);
    assert_int_equal(cairn_session_held(p.b.s), 1);
    assert_true(cairn_session_deadline(p.b.s) <= p.t.now + 30000);
    p.t.now += 30000;
    assert_int_equal(cairn_session_tick(p.b.s), 0);
    assert_int_equal(cairn_session_held(p.b.s), 0);
    pump(&p);
    assert_int_equal(p.a.last_type, CAIRN_T_ERROR);
    assert_int_equal(cairn_session_in_flight(p.a.s), 0);
    assert_int_equal(cairn_session_state(p.b.s), CAIRN_SS_READY);
    pair_free(&p);

    /* [REQ-20] a peer that answers Pings but not requests: closed after 120 s */
    pair_init(&p, 38);
    pump(&p);
    assert_int_equal(cairn_session_request(p.a.s, &gb.base, NULL), 0);
    pump(&p); /* b never answers (no auto_respond) */
    for (int i = 0; i < 5; i++) {
        p.t.now += 20000;
        assert_int_equal(cairn_session_ping(p.a.s, NULL), 0);
        pump(&p);
        assert_int_equal(cairn_session_tick(p.a.s), 0);
    }
    assert_true(cairn_session_deadline(p.a.s) <= p.t.now + 20000);
    p.t.now += 20000;
    assert_int_equal(cairn_session_tick(p.a.s), E(IDLE_TIMEOUT));
    pump(&p);
    assert_int_equal(p.b.close_code, CAIRN_E_IDLE_TIMEOUT);
    pair_free(&p);
}

/* One full exchange; returns 1 when everything completed. */
static int scenario(pair *p, uint64_t seed, long fail_at)
{
    test_env_init(&p->t, seed);
    memset(p->network, 0xAB, 32);
    p->t.fail_at = fail_at;
    int ok = 0;
    if (side_new(p, &p->a, 1, 1, p->network))
        return 0;
    if (side_new(p, &p->b, 0, 2, p->network)) {
        side_del(&p->a);
        return 0;
    }
    pump(p);
    p->b.auto_respond = 1;
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    if (cairn_session_state(p->a.s) == CAIRN_SS_READY && cairn_session_ping(p->a.s, NULL) == 0 &&
        cairn_session_request(p->a.s, &gb.base, NULL) == 0) {
        pump(p);
        ok = p->a.last_type == CAIRN_T_NOT_FOUND && cairn_session_state(p->b.s) == CAIRN_SS_READY;
    }
    side_del(&p->a);
    side_del(&p->b);
    return ok;
}

static void test_failing_allocator_sweep(void **state)
{
    (void)state;
    pair p;
    long n;
    for (n = 0; n < 10000; n++) {
        int ok = scenario(&p, 20, n);
        assert_int_equal(p.t.live, 0); /* no leak, whatever failed */
        if (p.t.fail_at != -2) {
            assert_true(ok); /* nothing failed: everything worked */
            break;
        }
    }
    assert_true(n > 3 && n < 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_ping_and_requests),
        cmocka_unit_test(test_chunk_zero_copy),
        cmocka_unit_test(test_handshake_failures),
        cmocka_unit_test(test_wrong_state_and_bad_fields),
        cmocka_unit_test(test_error_rules),
        cmocka_unit_test(test_state_checked_before_payload),
        cmocka_unit_test(test_unanswered_ping),
        cmocka_unit_test(test_fatal_error_ends_everything),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_stray_pong_ignored),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_output_bounds),
        cmocka_unit_test(test_failing_allocator_sweep),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
