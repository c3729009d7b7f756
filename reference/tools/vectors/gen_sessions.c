/*
 * spec/vectors/sessions.json: whole exchanges between two real sessions of
 * the reference (fixed keys, Hello nonces and clock), frame by frame in both
 * directions, where one side breaks a rule and the other closes with the one
 * code the spec gives (spec §5.9, §7.2, §8.4). Frames a side sends on its own
 * come from its cairn_session; the rule-breaking frames are built here
 * ("crafted": true) and handed to the other session as if that side had sent
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/json.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "gen_sessions.h"
#include "vec_pair.h"

typedef struct trace {
    cairn_session *s[2]; /* 0: initiator, 1: responder */
    cairn_identity *id[2];
    json_t *frames;
} trace;

static const char *SIDE[2] = {"initiator", "responder"};

static uint8_t rnd;
static const cairn_env env = {NULL, vec_fixed_mono, vec_fixed_wall, vec_counter_random, &rnd};
static cairn_env env_mem;

/* Records every frame of `data` as sent by `from`. */
static void record(trace *t, int from, const uint8_t *data, size_t n, int crafted, const char *note)
{
    while (n >= CAIRN_FRAME_HEADER_LEN) {
        size_t len = CAIRN_FRAME_HEADER_LEN + cairn_get_u32(data + 4);
        if (len > n)
            abort();
        char *h = malloc(2 * len + 1);
        cairn_hex_encode(h, data, len);
        const char *type = cairn_frame_type_name(cairn_get_u16(data + 2));
        json_t *f =
            json_pack("{s:s, s:s, s:s}", "from", SIDE[from], "type", type ? type : "?", "hex", h);
        if (crafted)
            json_object_set_new(f, "crafted", json_true());
        if (note)
            json_object_set_new(f, "note", json_string(note));
        json_array_append_new(t->frames, f);
        free(h);
        data += len;
        n -= len;
    }
}

/* Delivers what side `from` has queued to the other side, recording it. */
static void move(trace *t, int from)
{
    const uint8_t *data;
    size_t n = cairn_session_pending(t->s[from], &data);
    if (!n)
        return;
    record(t, from, data, n, 0, NULL);
    (void)cairn_session_recv(t->s[!from], data, n);
    cairn_session_sent(t->s[from], n);
}

/* Throws away what side `from` has queued (it breaks the rules instead). */
static void withhold(trace *t, int from)
{
    const uint8_t *data;
    cairn_session_sent(t->s[from], cairn_session_pending(t->s[from], &data));
}

/* Side `from` sends `m` as built here, valid or not. */
static void craft(trace *t, int from, const ProtobufCMessage *m, const char *note)
{
    cairn_buf b;
    cairn_buf_init(&b, cairn_port_mem());
    if (cairn_msg_encode_unchecked(cairn_msg_type_of(m), m, &b))
        abort();
    record(t, from, cairn_buf_data(&b), b.len, 1, note);
    (void)cairn_session_recv(t->s[!from], cairn_buf_data(&b), b.len);
    cairn_buf_free(&b);
}

/* [ADDR-3] The node ID the initiator expects at the address it dials (NULL: none). */
static const uint8_t *expected_id;

static uint32_t expect_node_id(cairn_session *s, const cairn_peer_info *peer, void *ud)
{
    (void)s;
    (void)ud;
    return expected_id && memcmp(peer->node_id, expected_id, CAIRN_HASH_LEN) != 0
               ? CAIRN_E_WRONG_NODE_ID
               : 0;
}

static const cairn_session_callbacks initiator_cb = {.on_peer_auth = expect_node_id};

static void trace_start(trace *t, uint32_t responder_refuses)
{
    env_mem = env;
    env_mem.mem = cairn_port_mem();
    rnd = 0;
    t->frames = json_array();
    cairn_session_config c[2];
    if (vec_pair_config(&c[0], &c[1], &t->id[0], &t->id[1], NULL, 0))
        abort();
    c[1].services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_PEERS;
    c[1].refuse_code = responder_refuses;
    for (int i = 0; i < 2; i++)
        if (cairn_session_new(&t->s[i], &c[i], i ? NULL : &initiator_cb, NULL, &env_mem))
            abort();
}

static void handshake(trace *t)
{
    move(t, 0); /* Hello I */
    move(t, 1); /* Hello R, Auth R */
    move(t, 0); /* Auth I */
    if (cairn_session_state(t->s[0]) != CAIRN_SS_READY ||
        cairn_session_state(t->s[1]) != CAIRN_SS_READY)
        abort();
}

/* Ends the trace: the closing side's Error reaches the other side. */
static json_t *trace_end(trace *t, const char *name, const char *rules, const char *what)
{
    int closer = -1;
    for (int i = 0; i < 2 && closer < 0; i++) {
        const cairn_close_info *ci = cairn_session_close_info(t->s[i]);
        if (ci && ci->code && !ci->by_peer)
            closer = i;
    }
    if (closer < 0) {
        fprintf(stderr, "trace %s: nobody closed\n", name);
        exit(1);
    }
    uint32_t code = cairn_session_close_info(t->s[closer])->code;
    move(t, closer); /* its fatal Error, then nothing more (CLOSE-1) */
    const cairn_close_info *peer = cairn_session_close_info(t->s[!closer]);
    if (!peer || !peer->by_peer || peer->code != code) {
        fprintf(stderr, "trace %s: the other side did not take the Error\n", name);
        exit(1);
    }
    /* What the other side queued while reading (an Auth, say) still goes
     * out, and is ignored by the closer (CLOSE-3); never an Error (CLOSE-5). */
    const uint8_t *d;
    size_t n = cairn_session_pending(t->s[!closer], &d);
    for (size_t off = 0; off + CAIRN_FRAME_HEADER_LEN <= n;
         off += CAIRN_FRAME_HEADER_LEN + cairn_get_u32(d + off + 4))
        if (cairn_get_u16(d + off + 2) == CAIRN_T_ERROR) {
            fprintf(stderr, "trace %s: a reply to a fatal Error (CLOSE-5)\n", name);
            exit(1);
        }
    record(t, !closer, d, n, 0, "queued before the Error was read; ignored (CLOSE-3)");
    json_t *v = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:s}}", "name", name, "rules", rules,
                          "description", what, "frames", t->frames, "expect", "closed_by",
                          SIDE[closer], "code", cairn_wire_error_name(code));
    for (int i = 0; i < 2; i++) {
        cairn_session_del(t->s[i]);
        cairn_identity_del(t->id[i]);
    }
    return v;
}

static void get_peers(trace *t, int from, uint64_t id, const char *note)
{
    Cairn__V1__GetPeers g = CAIRN__V1__GET_PEERS__INIT;
    g.request_id = id;
    craft(t, from, &g.base, note);
}

/* [REQ-3] [REQ-5] [REQ-9] request accounting after READY. */
static void request_traces(json_t *a)
{
    trace t;

    trace_start(&t, 0);
    handshake(&t);
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = 5;
    craft(&t, 1, &nf.base, "answers request 5, which the initiator never sent");
    json_array_append_new(a, trace_end(&t, "UNKNOWN_REQUEST: a response to no outstanding request",
                                       "REQ-9",
                                       "After the handshake the responder sends NotFound for "
                                       "request 5; the initiator has no request outstanding."));

    trace_start(&t, 0);
    handshake(&t);
    get_peers(&t, 0, 1, NULL);
    get_peers(&t, 0, 1, "request 1 again, before the first is answered");
    json_array_append_new(a, trace_end(&t, "DUPLICATE_REQUEST_ID: a request ID still unanswered",
                                       "REQ-3",
                                       "The initiator sends GetPeers 1 twice; the responder has "
                                       "not answered the first."));

    trace_start(&t, 0);
    handshake(&t);
    for (uint64_t i = 1; i <= CAIRN_MAX_IN_FLIGHT + 1; i++)
        get_peers(&t, 0, i, i == CAIRN_MAX_IN_FLIGHT + 1 ? "the 65th unanswered request" : NULL);
    json_array_append_new(a, trace_end(&t, "TOO_MANY_REQUESTS: a 65th unanswered request",
                                       "REQ-5, REQ-6",
                                       "The initiator sends GetPeers 1 to 65; the responder "
                                       "answers none of them before the 65th arrives."));
}

/* [HS-39] [HS-40] frames out of order before READY. */
static void handshake_traces(json_t *a)
{
    trace t;
    trace_start(&t, 0);
    move(&t, 0); /* Hello I */
    move(&t, 1); /* Hello R, Auth R */
    withhold(&t, 0);
    get_peers(&t, 0, 1, "a request instead of the Auth");
    json_array_append_new(a, trace_end(&t, "request before READY", "HS-39, FRM-12",
                                       "The initiator sends GetPeers where its Auth belongs; the "
                                       "responder is still awaiting Auth."));

    trace_start(&t, 0);
    const uint8_t *d;
    size_t n = cairn_session_pending(t.s[0], &d);
    uint8_t *hello = malloc(n);
    memcpy(hello, d, n);
    move(&t, 0);
    move(&t, 1);
    withhold(&t, 0);
    record(&t, 0, hello, n, 1, "its Hello again, instead of its Auth");
    (void)cairn_session_recv(t.s[1], hello, n);
    free(hello);
    json_array_append_new(a, trace_end(&t, "second Hello", "HS-40, HS-2",
                                       "The initiator repeats its Hello where its Auth belongs."));
}

/* [ADDR-3] The initiator dialled an address whose node ID it knows; the responder proves
 * another (a relay answering as itself, or an address that changed hands). */
static void identity_traces(json_t *a)
{
    trace t;
    uint8_t seed[32], want[CAIRN_HASH_LEN];
    cairn_identity *other;
    memset(seed, 0x33, sizeof(seed));
    if (cairn_identity_from_seed(&other, seed) || cairn_identity_node_id(other, want))
        abort();
    cairn_identity_del(other);
    expected_id = want;
    trace_start(&t, 0);
    move(&t, 0); /* Hello I */
    move(&t, 1); /* Hello R, Auth R: a valid Auth, for the responder's own node ID */
    json_t *v =
        trace_end(&t, "WRONG_NODE_ID: the peer at a known address proves another node ID", "ADDR-3",
                  "The initiator expects the node ID of the Ed25519 seed 33 33 .. 33 at "
                  "the address it dialled; the responder's Auth verifies, for the node ID "
                  "of seed 22 22 .. 22. The initiator's own Auth was already on its way "
                  "(HS-3); it then closes with WRONG_NODE_ID.");
    char hex[2 * CAIRN_HASH_LEN + 1];
    cairn_hex_encode(hex, want, CAIRN_HASH_LEN);
    json_object_set_new(v, "expected_node_id", json_pack("{s:s}", "initiator", hex));
    json_array_append_new(a, v);
    expected_id = NULL;
}

/* [REQ-10] [ERR-14] [REQ-1] [ERR-11] [CLOSE-10] Errors in and out of place. */
static void error_traces(json_t *a)
{
    trace t;
    trace_start(&t, 0);
    handshake(&t);
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    ProtobufCBinaryData loc;
    uint8_t gen[32];
    cairn_hex_decode(gen, 32, VEC_GENESIS_ID);
    loc = (ProtobufCBinaryData){32, gen};
    gh.n_locator = 1;
    gh.locator = &loc;
    if (cairn_session_request(t.s[0], &gh.base, NULL))
        abort();
    move(&t, 0);
    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    e.code = CAIRN__V1__ERROR_CODE__INVALID_ENTRY;
    e.request_id = 1;
    e.detail = 11;
    craft(&t, 1, &e.base, "INVALID_ENTRY answers only SubmitEntry");
    json_array_append_new(a, trace_end(&t, "Error pairing: INVALID_ENTRY answering GetHeaders",
                                       "REQ-10, REQ-11",
                                       "The responder answers GetHeaders 1 with the non-fatal "
                                       "Error INVALID_ENTRY, which the table of §7.2 does not "
                                       "allow for GetHeaders."));

    trace_start(&t, 0);
    move(&t, 0);
    Cairn__V1__Error busy = CAIRN__V1__ERROR__INIT;
    busy.code = CAIRN__V1__ERROR_CODE__BUSY;
    busy.request_id = 1;
    craft(&t, 0, &busy.base, "a non-fatal Error before READY, request 1");
    json_array_append_new(a, trace_end(&t, "non-fatal Error before READY", "ERR-14",
                                       "Right after its Hello the initiator sends Error BUSY for "
                                       "request 1: nothing can be outstanding before READY."));

    trace_start(&t, 0);
    move(&t, 0);
    busy.request_id = 0;
    craft(&t, 0, &busy.base, "a non-fatal Error with request_id 0");
    json_array_append_new(a, trace_end(&t, "non-fatal Error with request_id 0 before READY",
                                       "REQ-1, §5.9",
                                       "The same with request_id 0: REQ-1 is a field rule "
                                       "(§5.8 step 3), so INVALID_FIELD, not UNKNOWN_REQUEST."));

    trace_start(&t, 0);
    handshake(&t);
    char longtext[258];
    memset(longtext, 'x', 257);
    longtext[257] = 0;
    Cairn__V1__Error bye = CAIRN__V1__ERROR__INIT;
    bye.code = CAIRN__V1__ERROR_CODE__SHUTDOWN;
    bye.message = (ProtobufCBinaryData){257, (uint8_t *)longtext};
    craft(&t, 0, &bye.base, "a fatal code with a 257-byte message");
    json_array_append_new(a,
                          trace_end(&t, "fatal Error with an over-long message", "ERR-11, CLOSE-5",
                                    "An Error that fails step 3 of §5.8 is answered like any "
                                    "invalid frame, even with a fatal code."));

    trace_start(&t, CAIRN_E_TOO_MANY_PEERS);
    move(&t, 0); /* Hello I: ignored, the responder is closing */
    json_array_append_new(a, trace_end(&t, "refusal before Hello", "CLOSE-10, HS-1",
                                       "The responder's first frame is Error TOO_MANY_PEERS "
                                       "instead of its Hello; the initiator closes without "
                                       "answering."));
}

json_t *session_traces(void)
{
    json_t *a = json_array();
    request_traces(a);
    handshake_traces(a);
    identity_traces(a);
    error_traces(a);
    return a;
}
