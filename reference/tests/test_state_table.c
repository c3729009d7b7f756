/*
 * spec/state-table.json, cell by cell: for every event (row) and every state
 * (column) the table fills, a session is brought into that state, the event's
 * stimulus is applied, and the next state, the Error code sent (or that
 * nothing was sent) are checked against the cell. A row this file does not
 * know how to drive fails the test, so the table cannot grow a row that no
 * test drives (spec §8.4, CLOSE-12).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cairn/json.h"
#include "cairn/session.h"
#include "testenv.h"

typedef struct rig {
    test_env t;
    uint8_t net[32];
    cairn_identity *ia, *ib;
    cairn_session *a, *b; /* a: the session under test; b: its peer */
    uint8_t hello_b[1100], auth_b[200], auth_a[200];
    size_t hello_b_len, auth_b_len, auth_a_len;
    int delivered;       /* messages a delivered to the application */
    size_t out_before;   /* a's pending output before the stimulus */
    uint64_t ping_nonce; /* our Ping for ping_unanswered */
} rig;

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    (void)type;
    (void)m;
    ((rig *)ud)->delivered++;
}

static const cairn_session_callbacks cbs = {.on_message = on_message};

static int session_new(rig *r, cairn_session **out, cairn_identity *id, int initiator,
                       uint32_t refuse)
{
    cairn_session_config cfg = {0};
    cfg.initiator = initiator;
    cfg.identity = id;
    memcpy(cfg.network_id, r->net, 32);
    memcpy(cfg.tip_id, r->net, 32);
    cfg.services = CAIRN_SERVICE_PEERS;
    cfg.refuse_code = refuse;
    return cairn_session_new(out, &cfg, &cbs, r, &r->t.env);
}

static void rig_init(rig *r)
{
    memset(r, 0, sizeof(*r));
    test_env_init(&r->t, 7);
    memset(r->net, 0x4e, 32);
    uint8_t seed[32];
    memset(seed, 0xa1, 32);
    assert_int_equal(cairn_identity_from_seed(&r->ia, seed), 0);
    memset(seed, 0xb2, 32);
    assert_int_equal(cairn_identity_from_seed(&r->ib, seed), 0);
}

static void rig_free(rig *r)
{
    cairn_session_del(r->a);
    cairn_session_del(r->b);
    cairn_identity_del(r->ia);
    cairn_identity_del(r->ib);
    assert_int_equal(r->t.live, 0);
}

static void drain(cairn_session *s, uint8_t *copy, size_t *copy_len, size_t cap)
{
    const uint8_t *d;
    size_t n = cairn_session_pending(s, &d);
    if (copy) {
        assert_true(n <= cap);
        memcpy(copy, d, n);
        *copy_len = n;
    }
    cairn_session_sent(s, n);
}

static size_t pending(cairn_session *s)
{
    const uint8_t *d;
    return cairn_session_pending(s, &d);
}

static void feed(rig *r, const uint8_t *p, size_t n)
{
    (void)cairn_session_recv(r->a, p, n);
}

/* Encodes `m` as a frame (without validation: stimuli may be invalid) and feeds it. */
static void feed_msg(rig *r, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, &r->t.mem);
    assert_int_equal(cairn_msg_encode_unchecked(cairn_msg_type_of(m), m, &b), 0);
    feed(r, cairn_buf_data(&b), b.len);
    cairn_buf_free(&b);
}

static void feed_get_peers(rig *r, uint64_t id)
{
    Cairn__V1__GetPeers g = CAIRN__V1__GET_PEERS__INIT;
    g.request_id = id;
    feed_msg(r, &g.base);
}

static void feed_error(rig *r, uint32_t code, uint64_t request_id)
{
    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    e.code = (Cairn__V1__ErrorCode)code;
    e.request_id = request_id;
    feed_msg(r, &e.base);
}

static void feed_not_found(rig *r, uint64_t id)
{
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = id;
    feed_msg(r, &nf.base);
}

/* ---- states ----------------------------------------------------------------- */

static void reach(rig *r, const char *state)
{
    if (strcmp(state, "START") == 0)
        return; /* the event creates the session */
    assert_int_equal(session_new(r, &r->a, r->ia, 1, 0), 0);
    assert_int_equal(session_new(r, &r->b, r->ib, 0, 0), 0);
    /* b reads a's Hello: b's output is now its Hello and its Auth */
    const uint8_t *d;
    size_t n = cairn_session_pending(r->a, &d);
    assert_int_equal(cairn_session_recv(r->b, d, n), (long)n);
    drain(r->a, NULL, NULL, 0);
    n = cairn_session_pending(r->b, &d);
    r->hello_b_len = CAIRN_FRAME_HEADER_LEN + cairn_get_u32(d + 4);
    r->auth_b_len = n - r->hello_b_len;
    assert_true(r->hello_b_len <= sizeof(r->hello_b) && r->auth_b_len <= sizeof(r->auth_b));
    memcpy(r->hello_b, d, r->hello_b_len);
    memcpy(r->auth_b, d + r->hello_b_len, r->auth_b_len);
    drain(r->b, NULL, NULL, 0);
    assert_int_equal(cairn_session_state(r->a), CAIRN_SS_AWAIT_HELLO);
    if (strcmp(state, "AWAIT_HELLO") == 0)
        return;
    feed(r, r->hello_b, r->hello_b_len);
    drain(r->a, r->auth_a, &r->auth_a_len, sizeof(r->auth_a));
    assert_int_equal(cairn_session_state(r->a), CAIRN_SS_AWAIT_AUTH);
    if (strcmp(state, "AWAIT_AUTH") == 0)
        return;
    feed(r, r->auth_b, r->auth_b_len);
    assert_int_equal(cairn_session_recv(r->b, r->auth_a, r->auth_a_len), (long)r->auth_a_len);
    assert_int_equal(cairn_session_state(r->a), CAIRN_SS_READY);
    assert_int_equal(cairn_session_state(r->b), CAIRN_SS_READY);
    /* one request of ours outstanding, for the rows about responses */
    Cairn__V1__GetPeers g = CAIRN__V1__GET_PEERS__INIT;
    uint64_t id;
    assert_int_equal(cairn_session_request(r->a, &g.base, &id), 0);
    assert_int_equal(id, 1);
    drain(r->a, NULL, NULL, 0);
    if (strcmp(state, "READY") == 0)
        return;
    assert_int_equal(cairn_session_close(r->a, CAIRN_E_SHUTDOWN, "test"), 0);
    assert_string_equal(state, "CLOSING");
    assert_int_equal(cairn_session_state(r->a), CAIRN_SS_CLOSING);
}

/* ---- events ------------------------------------------------------------------ */

/* Timers, local decisions and the transport: returns 0 for an unknown event. */
static int apply_local(rig *r, const char *ev)
{
    if (strcmp(ev, "handshake_timeout") == 0) {
        r->t.now += CAIRN_HANDSHAKE_TIMEOUT_MS;
        cairn_session_tick(r->a);
    } else if (strcmp(ev, "ping_due") == 0) {
        r->t.now += CAIRN_PING_INTERVAL_MS;
        cairn_session_tick(r->a);
    } else if (strcmp(ev, "silence") == 0) {
        for (int i = 0; i < 89; i++) {
            r->t.now += 1000;
            cairn_session_tick(r->a);
        }
    } else if (strcmp(ev, "idle_timeout") == 0) {
        r->t.now += CAIRN_IDLE_TIMEOUT_MS;
        cairn_session_tick(r->a);
    } else if (strcmp(ev, "ping_unanswered") == 0) {
        assert_int_equal(cairn_session_ping(r->a, &r->ping_nonce), 0);
        r->out_before = pending(r->a);
        r->t.now += 60000;
        Cairn__V1__Pong p = CAIRN__V1__PONG__INIT;
        p.nonce = r->ping_nonce + 1; /* matches nothing: ignored (KA-5), but bytes arrived */
        feed_msg(r, &p.base);
        r->t.now += 30000;
        cairn_session_tick(r->a);
    } else if (strcmp(ev, "local_close") == 0) {
        assert_int_equal(cairn_session_close(r->a, CAIRN_E_SHUTDOWN, "bye"), 0);
    } else if (strcmp(ev, "flushed") == 0) {
        drain(r->a, NULL, NULL, 0);
        assert_true(cairn_session_want_close(r->a));
        cairn_session_eof(r->a); /* the driver closes the transport */
    } else if (strcmp(ev, "closing_timeout") == 0) {
        assert_true(pending(r->a) > 0);
        assert_false(cairn_session_want_close(r->a));
        assert_int_equal(cairn_session_deadline(r->a), r->t.now + CAIRN_CLOSING_TIMEOUT_MS);
        r->t.now += CAIRN_CLOSING_TIMEOUT_MS;
        cairn_session_tick(r->a);
        assert_true(cairn_session_want_close(r->a));
        cairn_session_eof(r->a);
    } else if (strcmp(ev, "connection_lost") == 0) {
        cairn_session_eof(r->a);
    } else {
        return 0;
    }
    return 1;
}

/* Frames from the peer, and the creation of the session. */
static void apply(rig *r, const char *ev)
{
    static const uint8_t http[] = "GET / HTTP/1.1\r\n";
    static const uint8_t ext[] = {0xca, 0x1e, 0x80, 0x00, 0, 0, 0, 0};
    static const uint8_t error_0800[] = {0xca, 0x1e, 0x00, 0x03, 0, 0, 0, 2, 0x08, 0x00};
    if (strcmp(ev, "transport_ready") == 0) {
        assert_int_equal(session_new(r, &r->a, r->ia, 1, 0), 0);
    } else if (strcmp(ev, "refuse") == 0) {
        assert_int_equal(session_new(r, &r->a, r->ia, 1, CAIRN_E_TOO_MANY_PEERS), 0);
    } else if (strcmp(ev, "header_invalid") == 0) {
        feed(r, http, sizeof(http) - 1);
    } else if (strcmp(ev, "hello_valid") == 0) {
        feed(r, r->hello_b, r->hello_b_len);
    } else if (strcmp(ev, "hello_invalid") == 0) {
        uint8_t work[32] = {0};
        work[31] = 1;
        Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT; /* version 0: absent */
        h.network_id = (ProtobufCBinaryData){32, r->net};
        h.node_key = (ProtobufCBinaryData){32, (uint8_t *)cairn_identity_public(r->ib)};
        h.tip_id = (ProtobufCBinaryData){32, r->net};
        h.total_work = (ProtobufCBinaryData){32, work};
        h.max_frame_size = CAIRN_FRAME_MAX_MIN;
        h.nonce = 99;
        feed_msg(r, &h.base);
    } else if (strcmp(ev, "auth_valid") == 0) {
        feed(r, r->auth_b, r->auth_b_len);
    } else if (strcmp(ev, "auth_invalid") == 0) {
        uint8_t sig[64];
        memset(sig, 0x5a, sizeof(sig));
        Cairn__V1__Auth a = CAIRN__V1__AUTH__INIT;
        a.signature = (ProtobufCBinaryData){64, sig};
        feed_msg(r, &a.base);
    } else if (strcmp(ev, "error_fatal") == 0) {
        feed_error(r, CAIRN_E_SHUTDOWN, 0);
    } else if (strcmp(ev, "error_nonfatal") == 0) {
        feed_error(r, CAIRN_E_BUSY, 1);
    } else if (strcmp(ev, "error_nonfatal_id0") == 0) {
        feed_error(r, CAIRN_E_BUSY, 0);
    } else if (strcmp(ev, "request") == 0) {
        feed_get_peers(r, 7);
    } else if (strcmp(ev, "request_duplicate") == 0) {
        feed_get_peers(r, 7);
        feed_get_peers(r, 7);
    } else if (strcmp(ev, "request_65th") == 0) {
        for (uint64_t i = 1; i <= CAIRN_MAX_IN_FLIGHT + 1; i++)
            feed_get_peers(r, i);
    } else if (strcmp(ev, "response") == 0) {
        Cairn__V1__Peers p = CAIRN__V1__PEERS__INIT;
        p.request_id = 1;
        feed_msg(r, &p.base);
    } else if (strcmp(ev, "response_unknown") == 0) {
        feed_not_found(r, 99);
    } else if (strcmp(ev, "response_wrong") == 0) {
        feed_not_found(r, 1); /* GetPeers allows no NotFound */
    } else if (strcmp(ev, "other") == 0) {
        Cairn__V1__Ping p = CAIRN__V1__PING__INIT;
        p.nonce = 5;
        feed_msg(r, &p.base);
    } else if (strcmp(ev, "extension") == 0) {
        feed(r, ext, sizeof(ext));
    } else if (strcmp(ev, "payload_invalid") == 0) {
        feed(r, error_0800, sizeof(error_0800));
    } else if (!apply_local(r, ev)) {
        fail_msg("state-table.json has an event this test cannot drive: %s", ev);
    }
}

/* ---- checks ------------------------------------------------------------------ */

static const char *state_name(int st)
{
    static const char *names[] = {"?", "AWAIT_HELLO", "AWAIT_AUTH", "READY", "CLOSING", "CLOSED"};
    return st >= 1 && st <= 5 ? names[st] : "?";
}

/* Types of the frames in `p`, and the code of the last Error among them. */
static int scan_frames(rig *r, const uint8_t *p, size_t n, uint16_t *types, int max,
                       uint32_t *last_error)
{
    int k = 0;
    *last_error = 0;
    while (n >= CAIRN_FRAME_HEADER_LEN && k < max) {
        uint16_t type = cairn_get_u16(p + 2);
        size_t len = cairn_get_u32(p + 4);
        assert_true(n >= CAIRN_FRAME_HEADER_LEN + len);
        types[k++] = type;
        if (type == CAIRN_T_ERROR) {
            cairn_msg_decoder d;
            cairn_msg_decoder_init(&d, &r->t.mem);
            ProtobufCMessage *m;
            assert_int_equal(cairn_msg_decode(&d, type, p + CAIRN_FRAME_HEADER_LEN, len, &m), 0);
            *last_error = (uint32_t)((Cairn__V1__Error *)m)->code;
            cairn_msg_decoder_free(&d);
        }
        p += CAIRN_FRAME_HEADER_LEN + len;
        n -= CAIRN_FRAME_HEADER_LEN + len;
    }
    assert_int_equal(n, 0);
    return k;
}

static int code_listed(json_t *codes, uint32_t code)
{
    size_t i;
    json_t *c;
    json_array_foreach(codes, i, c)
    {
        if (strcmp(json_string_value(c),
                   cairn_wire_error_name(code) ? cairn_wire_error_name(code) : "?") == 0)
            return 1;
    }
    return 0;
}

static void check_cell(rig *r, const char *ev, const char *state, json_t *cell, int delivered0)
{
    const char *next = json_string_value(json_object_get(cell, "next"));
    const char *action = json_string_value(json_object_get(cell, "action"));
    json_t *codes = json_object_get(cell, "code");
    int st = cairn_session_state(r->a);
    if (strcmp(state_name(st), next) != 0)
        fail_msg("%s in %s: next state %s, the table says %s", ev, state, state_name(st), next);
    const uint8_t *d;
    size_t n = st == CAIRN_SS_CLOSED ? 0 : cairn_session_pending(r->a, &d);
    const cairn_close_info *ci = cairn_session_close_info(r->a);
    if (json_array_size(codes)) {
        /* "close with X": our Error X is the last frame queued */
        uint16_t types[80];
        uint32_t last_error;
        assert_true(n > r->out_before);
        int k = scan_frames(r, d + r->out_before, n - r->out_before, types, 80, &last_error);
        if (types[k - 1] != CAIRN_T_ERROR || !code_listed(codes, last_error))
            fail_msg("%s in %s: sent %s, the table says %s", ev, state,
                     cairn_wire_error_name(last_error), json_dumps(codes, 0));
        assert_non_null(ci);
        assert_int_equal(ci->code, last_error);
        assert_false(ci->by_peer);
        return;
    }
    if (strcmp(action, "close-connection") == 0 && strcmp(next, "CLOSING") == 0) {
        /* a fatal Error from the peer: nothing in reply [CLOSE-5] */
        assert_int_equal(n, r->out_before);
        assert_non_null(ci);
        assert_true(ci->by_peer);
        assert_int_equal(ci->code, CAIRN_E_SHUTDOWN);
    } else if (strcmp(action, "ignore") == 0) {
        assert_int_equal(n, r->out_before); /* [CLOSE-3] */
        assert_int_equal(r->delivered, delivered0);
    } else if (strcmp(action, "process") == 0) {
        if (r->delivered != delivered0 + 1)
            fail_msg("%s in %s: not delivered to the application", ev, state);
    } else if (strcmp(action, "accept") == 0) {
        assert_non_null(cairn_session_peer(r->a)); /* [HS-36] the peer is known */
    } else if (strcmp(action, "send") == 0 && st != CAIRN_SS_CLOSED) {
        uint16_t types[8];
        uint32_t last_error;
        assert_true(n > r->out_before);
        int k = scan_frames(r, d + r->out_before, n - r->out_before, types, 8, &last_error);
        uint16_t want = strcmp(ev, "transport_ready") == 0 ? CAIRN_T_HELLO
                        : strcmp(ev, "ping_due") == 0      ? CAIRN_T_PING
                                                           : CAIRN_T_AUTH;
        assert_int_equal(k, 1);
        assert_int_equal(types[0], want);
    } else if (strcmp(action, "none") == 0 && st != CAIRN_SS_CLOSED) {
        assert_null(ci); /* KA-9: still open, no Error */
    }
}

static void test_every_cell(void **state)
{
    (void)state;
    char path[4096];
    const char *src = getenv("CAIRN_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/spec/state-table.json", src ? src : ".");
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc)
        fail_msg("%s: %s", path, err.text);
    size_t i, cells = 0, rows = 0;
    json_t *ev;
    json_array_foreach(json_object_get(doc, "events"), i, ev)
    {
        const char *id = json_string_value(json_object_get(ev, "id"));
        const char *st;
        json_t *cell;
        rows++;
        json_object_foreach(json_object_get(ev, "cells"), st, cell)
        {
            rig r;
            rig_init(&r);
            reach(&r, st);
            r.out_before = r.a ? pending(r.a) : 0;
            int delivered0 = r.delivered;
            apply(&r, id);
            check_cell(&r, id, st, cell, delivered0);
            rig_free(&r);
            cells++;
        }
    }
    print_message("drove %zu cells of %zu rows\n", cells, rows);
    assert_true(rows >= 28);
    assert_true(cells >= 80);
    json_decref(doc);
}

/* A refusal before Hello is one Error frame, and no Hello (CLOSE-10, HS-1). */
static void test_refuse_sends_no_hello(void **state)
{
    (void)state;
    rig r;
    rig_init(&r);
    assert_int_equal(session_new(&r, &r.a, r.ia, 0, CAIRN_E_DISCOURAGED), 0);
    const uint8_t *d;
    size_t n = cairn_session_pending(r.a, &d);
    uint16_t types[4];
    uint32_t code;
    assert_int_equal(scan_frames(&r, d, n, types, 4, &code), 1);
    assert_int_equal(types[0], CAIRN_T_ERROR);
    assert_int_equal(code, CAIRN_E_DISCOURAGED);
    /* only the three refusal codes are allowed */
    cairn_session *x = NULL;
    assert_int_equal(session_new(&r, &x, r.ia, 0, CAIRN_E_PROTOCOL_VIOLATION),
                     CAIRN_ERR_INVALID_ARG);
    assert_null(x);
    rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell),
        cmocka_unit_test(test_refuse_sends_no_hello),
    };
    return cmocka_run_group_tests_name("state_table", tests, NULL, NULL);
}
