/* The per-connection state machine (spec §6, §7, §8). */
#include "cairn/session.h"
#include "cairn/fault.h"
#include "cairn/frame.h"

#include <stdarg.h>
#include <stdio.h>

/* [SEC-8] a held request still waiting after this long is answered BUSY,
 * well inside REQUEST_DEADLINE [REQ-19] */
#define HELD_BUSY_MS 30000
/* Output room kept for zero-copy Chunk answers: a burst up to the queue bound [SEC-7]. */
#define CHUNK_ROOM (CAIRN_OUTPUT_QUEUE_MAX + 2 * CAIRN_MAX_CHUNK_LEN)
/* Output room a drained session keeps: control traffic, not a Block answer
 * (a simulator runs 160,000 sessions, most of them idle between blocks). */
#define OUT_KEEP (16 * 1024)
/* Our Pings we remember; a Pong for an older one is ignored like a stray. */
#define MAX_PINGS 64

struct req_slot {
    uint64_t id;
    uint16_t type;
    uint64_t sent_ms; /* ours: when it was sent [REQ-20] */
};

/* [SEC-8] a request read while the output queue was over OUTPUT_SOFT:
 * registered (it counts for REQ-5), its payload kept until it is served. */
typedef struct held_req {
    uint16_t type;
    uint64_t request_id, received_ms;
    size_t len;
    uint8_t payload[];
} held_req;

struct cairn_session {
    const cairn_env *env;
    cairn_session_callbacks cb;
    void *ud;
    const cairn_identity *identity;
    int initiator;
    int state;

    uint8_t network_id[CAIRN_HASH_LEN];
    uint8_t binding[64];
    size_t binding_len;
    uint64_t hello_nonce;
    uint32_t hs_timeout, ping_interval, idle_timeout;

    /* Exact Hello payloads as on the wire, for the transcript ([HS-31]). */
    uint8_t own_hello[1024], peer_hello[1024];
    size_t own_hello_len, peer_hello_len;
    uint8_t th[CAIRN_HASH_LEN];

    cairn_peer_info peer;
    int authed; /* peer Auth verified */

    cairn_frame_decoder frames;
    cairn_msg_decoder msgs;
    cairn_buf out;
    size_t chunk_len;   /* a zero-copy Chunk framed past out's end, not yet committed */
    uint64_t chunk_rid; /* its request */
    const uint8_t *chunk_at;
    uint64_t last_chunk_ms; /* the last one: its room is kept for a second */

    uint64_t start_ms, last_recv_ms, last_send_ms;
    uint64_t now; /* the clock, read once at the start of a recv call */
    int now_valid;

    struct req_slot ours[CAIRN_MAX_IN_FLIGHT], theirs[CAIRN_MAX_IN_FLIGHT];
    unsigned n_ours, n_theirs;
    uint64_t next_request_id;
    uint64_t pings[MAX_PINGS], ping_ms[MAX_PINGS];
    unsigned n_pings;
    held_req *held[CAIRN_MAX_IN_FLIGHT]; /* oldest first */
    unsigned n_held;

    cairn_close_info close;
    uint64_t closing_ms; /* when CLOSING began, for the 5 s bound [CLOSE-8] */
    char close_text[CAIRN_MAX_ERROR_MESSAGE + 1];
    uint32_t close_detail; /* Error.detail of the fatal Error we send */
};

static uint64_t now_ms(const cairn_session *s)
{
    /* inside cairn_session_recv the clock is read once per call */
    return s->now_valid ? s->now : s->env->mono_ms(s->env->ud);
}

static uint64_t random_u64(const cairn_session *s, int *rv)
{
    uint8_t b[8];
    *rv = s->env->random(b, sizeof(b), s->env->ud) == 0 ? 0 : CAIRN_ERR_CRYPTO;
    return cairn_get_u64(b);
}

/* ---- output ---------------------------------------------------------------- */

/* Frames and queues `m`; `checked` selects validation. */
static int queue(cairn_session *s, const ProtobufCMessage *m, int checked)
{
    s->chunk_len = 0; /* an uncommitted zero-copy Chunk is overwritten: dropped */
    size_t before = s->out.len;
    int rv = checked ? cairn_msg_encode(m, &s->out)
                     : cairn_msg_encode_unchecked(cairn_msg_type_of(m), m, &s->out);
    if (rv)
        return rv;
    s->last_send_ms = now_ms(s);
    if (s->cb.on_frame) {
        const uint8_t *f = cairn_buf_data(&s->out) + before;
        s->cb.on_frame(s, 1, cairn_get_u16(f + 2), f + CAIRN_FRAME_HEADER_LEN,
                       s->out.len - before - CAIRN_FRAME_HEADER_LEN, s->ud);
    }
    return 0;
}

static void set_close(cairn_session *s, uint32_t code, int by_peer, const char *text, size_t len)
{
    if (len > CAIRN_MAX_ERROR_MESSAGE)
        len = CAIRN_MAX_ERROR_MESSAGE;
    if (len) /* an empty Error.message has NULL data */
        memcpy(s->close_text, text, len);
    s->close_text[len] = '\0';
    s->close.code = code;
    s->close.by_peer = by_peer;
    s->close.message = s->close_text;
}

static void enter_closing(cairn_session *s, uint32_t code, int by_peer, const char *text,
                          size_t len)
{
    set_close(s, code, by_peer, text, len);
    s->state = CAIRN_SS_CLOSING;
    s->closing_ms = now_ms(s);
    if (s->cb.on_close)
        s->cb.on_close(s, &s->close, s->ud);
}

/*
 * §8.1 Sends Error{code, text} and starts closing: after a fatal Error
 * nothing else is sent and input is ignored. Returns the library error for
 * `code` so callers can `return fail(...)`.
 */
static int fail(cairn_session *s, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cairn_session *s, uint32_t code, const char *fmt, ...)
{
    char text[CAIRN_MAX_ERROR_MESSAGE + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(text) ? sizeof(text) - 1 : (size_t)n;
    if (s->state >= CAIRN_SS_CLOSING)
        return CAIRN_ERR_PROTO(code);
    if (CAIRN_FAULT(WRONG_CODE))
        code = CAIRN_E_PROTOCOL_VIOLATION;
    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    e.code = (Cairn__V1__ErrorCode)code;
    e.message.data = (uint8_t *)text;
    e.message.len = len;
    e.detail = s->close_detail; /* [ERR-5] set for INVALID_BLOCK by close_detail */
    (void)queue(s, &e.base, 0); /* if even this fails, the close still happens */
    enter_closing(s, code, 0, text, len);
    return CAIRN_ERR_PROTO(code);
}

/* A local failure (memory, crypto) while processing: close with INTERNAL_ERROR. */
static int fail_local(cairn_session *s, int rv)
{
    fail(s, CAIRN_E_INTERNAL_ERROR, "internal error: %s", cairn_strerror(rv));
    return rv;
}

/* ---- handshake --------------------------------------------------------------- */

static int send_hello(cairn_session *s, const cairn_session_config *cfg)
{
    Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT;
    h.version = CAIRN_PROTOCOL_VERSION;
    h.network_id.data = (uint8_t *)cfg->network_id;
    h.network_id.len = CAIRN_HASH_LEN;
    h.node_key.data = (uint8_t *)cairn_identity_public(s->identity);
    h.node_key.len = CAIRN_KEY_LEN;
    h.services = cfg->services;
    h.tip_id.data = (uint8_t *)cfg->tip_id;
    h.tip_id.len = CAIRN_HASH_LEN;
    h.tip_height = cfg->tip_height;
    h.total_work.data = (uint8_t *)cfg->total_work;
    h.total_work.len = 32;
    h.max_frame_size = cfg->max_frame_size ? cfg->max_frame_size : CAIRN_FRAME_MAX_MIN;
    h.nonce = s->hello_nonce;
    if (cfg->user_agent) {
        h.user_agent.data = (uint8_t *)cfg->user_agent;
        h.user_agent.len = strlen(cfg->user_agent);
    }
    h.listen_port = cfg->listen_port;
    h.time_ms = s->env->wall_ms(s->env->ud);
    size_t before = s->out.len;
    int rv = cairn_msg_encode(&h.base, &s->out);
    if (rv)
        return rv;
    s->own_hello_len = s->out.len - before - CAIRN_FRAME_HEADER_LEN;
    memcpy(s->own_hello, cairn_buf_data(&s->out) + before + CAIRN_FRAME_HEADER_LEN,
           s->own_hello_len);
    if (s->cb.on_frame)
        s->cb.on_frame(s, 1, CAIRN_T_HELLO, s->own_hello, s->own_hello_len, s->ud);
    return 0;
}

static int handle_hello(cairn_session *s, const Cairn__V1__Hello *h, const uint8_t *payload,
                        size_t len)
{
    /* [HS-15] validation order after decoding: version, network, self. */
    if (h->version == 0 && !CAIRN_FAULT(SKIP_VERSION_CHECK))
        return fail(s, CAIRN_E_VERSION_MISMATCH, "version 0 is not a protocol version");
    if (memcmp(h->network_id.data, s->network_id, CAIRN_HASH_LEN) != 0 &&
        !CAIRN_FAULT(SKIP_NETWORK_CHECK))
        return fail(s, CAIRN_E_WRONG_NETWORK, "peer is on another network");
    if (!CAIRN_FAULT(SKIP_SELF_CHECK) &&
        (h->nonce == s->hello_nonce ||
         (s->cb.is_own_nonce && s->cb.is_own_nonce(s, h->nonce, s->ud)) ||
         memcmp(h->node_key.data, cairn_identity_public(s->identity), CAIRN_KEY_LEN) == 0))
        return fail(s, CAIRN_E_SELF_CONNECTION, "connected to ourselves");

    cairn_peer_info *p = &s->peer;
    memcpy(p->node_key, h->node_key.data, CAIRN_KEY_LEN);
    int rv = cairn_sha256(p->node_id, p->node_key, CAIRN_KEY_LEN);
    if (rv)
        return fail_local(s, rv);
    p->version = h->version < CAIRN_PROTOCOL_VERSION ? h->version : CAIRN_PROTOCOL_VERSION;
    p->services = h->services;
    memcpy(p->tip_id, h->tip_id.data, CAIRN_HASH_LEN);
    p->tip_height = h->tip_height;
    memcpy(p->total_work, h->total_work.data, 32);
    p->max_frame_size = h->max_frame_size;
    p->time_ms = h->time_ms;
    p->listen_port = h->listen_port;
    if (h->user_agent.len) /* data is NULL when the field is absent */
        memcpy(p->user_agent, h->user_agent.data, h->user_agent.len);
    p->user_agent[h->user_agent.len] = '\0';
    memcpy(s->peer_hello, payload, len);
    s->peer_hello_len = len;

    /* [AUTH-1] sign the transcript and send Auth. */
    const uint8_t *hi = s->initiator ? s->own_hello : s->peer_hello;
    const uint8_t *hr = s->initiator ? s->peer_hello : s->own_hello;
    size_t li = s->initiator ? s->own_hello_len : s->peer_hello_len;
    size_t lr = s->initiator ? s->peer_hello_len : s->own_hello_len;
    uint8_t input[CAIRN_AUTH_INPUT_LEN], sig[CAIRN_SIG_LEN];
    rv = cairn_transcript_hash(s->th, hi, li, hr, lr, s->binding,
                               CAIRN_FAULT(NO_BINDING) ? 0 : s->binding_len);
    if (rv)
        return fail_local(s, rv);
    cairn_auth_input(input, CAIRN_FAULT(SIGN_WRONG_ROLE) ? !s->initiator : s->initiator, s->th);
    if ((rv = cairn_identity_sign(s->identity, sig, input, sizeof(input))))
        return fail_local(s, rv);
    Cairn__V1__Auth a = CAIRN__V1__AUTH__INIT;
    a.signature.data = sig;
    a.signature.len = sizeof(sig);
    if ((rv = queue(s, &a.base, 1)))
        return fail_local(s, rv);
    s->state = CAIRN_SS_AWAIT_AUTH;
    return 0;
}

static int handle_auth(cairn_session *s, const Cairn__V1__Auth *a)
{
    uint8_t input[CAIRN_AUTH_INPUT_LEN];
    cairn_auth_input(input, !s->initiator, s->th);
    int rv = cairn_ed25519_verify(s->peer.node_key, a->signature.data, input, sizeof(input));
    if (rv == CAIRN_ERR_NOMEM)
        return fail_local(s, rv);
    if (rv && !CAIRN_FAULT(ACCEPT_BAD_SIGNATURE))
        return fail(s, CAIRN_E_BAD_SIGNATURE, "Auth signature does not verify");
    if (s->cb.on_peer_auth) {
        uint32_t code = s->cb.on_peer_auth(s, &s->peer, s->ud);
        if (code)
            return fail(s, code, "peer refused: %s", cairn_wire_error_name(code));
    }
    s->authed = 1;
    s->state = CAIRN_SS_READY;
    if (s->cb.on_ready)
        s->cb.on_ready(s, &s->peer, s->ud);
    return 0;
}

/* ---- READY-state messages ------------------------------------------------------- */

static struct req_slot *slot_find(struct req_slot *v, unsigned n, uint64_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

static void slot_remove(struct req_slot *v, unsigned *n, struct req_slot *slot)
{
    *slot = v[--*n];
}

static int handle_error_msg(cairn_session *s, const Cairn__V1__Error *e)
{
    if (cairn_wire_error_is_fatal(e->code)) {
        /* [ERR-12] a fatal Error from the peer: close, never answer it. */
        enter_closing(s, e->code, 1, (const char *)e->message.data, e->message.len);
        return 0;
    }
    /* [ERR-14] before READY nothing can be outstanding */
    if (s->state != CAIRN_SS_READY)
        return fail(s, CAIRN_E_UNKNOWN_REQUEST, "non-fatal Error before the handshake completed");
    /* [REQ-1] request_id != 0 was checked by validation */
    struct req_slot *r = slot_find(s->ours, s->n_ours, e->request_id);
    if (!r) /* [REQ-9] */
        return fail(s, CAIRN_E_UNKNOWN_REQUEST, "Error for request %llu, not outstanding",
                    (unsigned long long)e->request_id);
    if ((uint32_t)e->code == CAIRN_E_INVALID_ENTRY &&
        r->type != CAIRN_T_SUBMIT_ENTRY) /* [REQ-10] */
        return fail(s, CAIRN_E_UNEXPECTED_MESSAGE, "INVALID_ENTRY does not answer %s",
                    cairn_frame_type_name(r->type));
    slot_remove(s->ours, &s->n_ours, r);
    return 1; /* deliver */
}

/* [HS-39] [FRM-12] the session states in which a peer may send each type:
 * the STATES column of the message table (cairn/msgtypes.h). */
#define STATES_ROW(id, NAME, Name, cap, kind, desc, states, ...) [id] = states,
static const uint8_t permitted[CAIRN_MSG_TYPE_BOUND] = {CAIRN_MSG_TABLE(STATES_ROW)};
#undef STATES_ROW

/* Returns 1 to deliver the message to the application, 0 not to, or an error. */
static int handle_ready(cairn_session *s, uint16_t type, ProtobufCMessage *m)
{
    int kind = cairn_msg_kind(type), rv;
    if (!(permitted[type] & CAIRN_IN_READY)) /* Hello, Auth */
        return fail(s, CAIRN_E_UNEXPECTED_MESSAGE, "%s after the handshake",
                    cairn_frame_type_name(type));
    if (type == CAIRN_T_PING) {
        /* [KA-3] answer every Ping with a Pong carrying its nonce. */
        Cairn__V1__Pong pong = CAIRN__V1__PONG__INIT;
        pong.nonce = ((Cairn__V1__Ping *)m)->nonce + (CAIRN_FAULT(PONG_NONCE) ? 1 : 0);
        if ((rv = queue(s, &pong.base, 1)))
            return fail_local(s, rv);
        return 1;
    }
    if (type == CAIRN_T_PONG) {
        /* [KA-5] a Pong that matches no Ping of ours is ignored. */
        uint64_t nonce = ((Cairn__V1__Pong *)m)->nonce;
        for (unsigned i = 0; i < s->n_pings; i++)
            if (s->pings[i] == nonce) {
                s->n_pings--;
                memmove(s->pings + i, s->pings + i + 1, sizeof(s->pings[0]) * (s->n_pings - i));
                memmove(s->ping_ms + i, s->ping_ms + i + 1,
                        sizeof(s->ping_ms[0]) * (s->n_pings - i));
                return 1;
            }
        return 0;
    }
    uint64_t id =
        kind == CAIRN_KIND_REQUEST || kind == CAIRN_KIND_RESPONSE ? *cairn_msg_request_id(m) : 0;
    if (kind == CAIRN_KIND_REQUEST) {
        if (slot_find(s->theirs, s->n_theirs, id))
            return fail(s, CAIRN_E_DUPLICATE_REQUEST_ID, "request ID %llu already in flight",
                        (unsigned long long)id);
        if (s->n_theirs == CAIRN_MAX_IN_FLIGHT)
            return fail(s, CAIRN_E_TOO_MANY_REQUESTS, "more than %d requests in flight",
                        CAIRN_MAX_IN_FLIGHT);
        s->theirs[s->n_theirs].id = id;
        s->theirs[s->n_theirs++].type = type;
        return 1;
    }
    if (kind == CAIRN_KIND_RESPONSE) {
        struct req_slot *r = slot_find(s->ours, s->n_ours, id);
        if (!r)
            return fail(s, CAIRN_E_UNKNOWN_REQUEST, "%s for request %llu, not outstanding",
                        cairn_frame_type_name(type), (unsigned long long)id);
        if (!cairn_msg_answers(r->type, type))
            return fail(s, CAIRN_E_UNEXPECTED_MESSAGE, "%s does not answer %s",
                        cairn_frame_type_name(type), cairn_frame_type_name(r->type));
        slot_remove(s->ours, &s->n_ours, r);
        return 1;
    }
    return 1; /* notifications */
}

/* ---- input -------------------------------------------------------------------- */

/* Whether a peer may send `type` in the current state (not for extension
 * frames, which check_header handles). */
static int legal_in_state(const cairn_session *s, uint16_t type)
{
    unsigned in = s->state == CAIRN_SS_READY         ? CAIRN_IN_READY
                  : s->state == CAIRN_SS_AWAIT_HELLO ? CAIRN_IN_HELLO
                                                     : CAIRN_IN_AUTH;
    return type < CAIRN_MSG_TYPE_BOUND && (permitted[type] & in);
}

/*
 * [FRM-12] Called by the frame decoder for each header, before any payload
 * byte is buffered: a type not legal in this state ends the session here.
 */
static int check_header(void *ud, const cairn_frame_header *h)
{
    cairn_session *s = ud;
    int ready = s->state == CAIRN_SS_READY, ext = cairn_frame_type_is_ignorable(h->type);
    if ((ready && ext) || (!ready && CAIRN_FAULT(EARLY_MESSAGES)))
        return 0; /* extension frames are skipped in READY */
    if (!ext && legal_in_state(s, h->type))
        return 0;
    /* [FRM-18] extension frames, like Hello and Auth out of turn, end it */
    snprintf(s->close_text, sizeof(s->close_text), "%s %s",
             ext ? "extension frame" : cairn_frame_type_name(h->type),
             ready                              ? "after the handshake"
             : s->state == CAIRN_SS_AWAIT_HELLO ? "not allowed before Hello"
                                                : "not allowed while awaiting Auth");
    return CAIRN_ERR_PROTO(CAIRN_E_UNEXPECTED_MESSAGE);
}

static int must_hold(const cairn_session *s, uint16_t type);
static int hold(cairn_session *s, uint16_t type, uint64_t rid, const uint8_t *payload, size_t len);

static int handle_frame(cairn_session *s, const cairn_frame *f)
{
    if (s->cb.on_frame)
        s->cb.on_frame(s, 0, f->type, f->payload, f->payload ? f->length : 0, s->ud);
    int ready = s->state == CAIRN_SS_READY;
    if (!f->payload) /* extension frame: check_header let it through in READY */
        return 0;

    ProtobufCMessage *m;
    int rv = cairn_msg_decode(&s->msgs, f->type, f->payload, f->length, &m);
    if (rv == CAIRN_ERR_BUDGET) /* [ENC-29] never for a valid payload */
        rv = CAIRN_ERR_PROTO(CAIRN_E_MALFORMED);
    if (rv) {
        uint32_t code = cairn_err_wire_code(rv);
        if (code)
            return fail(s, code, "%s: %s", cairn_frame_type_name(f->type), cairn_strerror(rv));
        return fail_local(s, rv);
    }
    switch (f->type) {
    case CAIRN_T_ERROR:
        rv = handle_error_msg(s, (Cairn__V1__Error *)m);
        break;
    case CAIRN_T_HELLO:
        if (!ready)
            return handle_hello(s, (Cairn__V1__Hello *)m, f->payload, f->length);
        rv = handle_ready(s, f->type, m);
        break;
    case CAIRN_T_AUTH:
        if (!ready)
            return handle_auth(s, (Cairn__V1__Auth *)m);
        rv = handle_ready(s, f->type, m);
        break;
    default:
        rv = handle_ready(s, f->type, m);
    }
    if (rv == 1 && s->state == CAIRN_SS_READY && must_hold(s, f->type))
        return hold(s, f->type, *cairn_msg_request_id(m), f->payload, f->length);
    if (rv == 1 && s->cb.on_message && s->state == CAIRN_SS_READY)
        s->cb.on_message(s, f->type, m, s->ud);
    return rv < 0 ? rv : 0;
}

/*
 * [SEC-8] Whether a request must wait: more than OUTPUT_SOFT is queued for
 * the peer, or older requests already wait (they go first). SubmitEntry is
 * answered at once: its answer is small and its payload large.
 */
static int must_hold(const cairn_session *s, uint16_t type)
{
    return cairn_msg_kind(type) == CAIRN_KIND_REQUEST && type != CAIRN_T_SUBMIT_ENTRY &&
           (s->out.len > CAIRN_OUTPUT_SOFT || s->n_held);
}

static int hold(cairn_session *s, uint16_t type, uint64_t rid, const uint8_t *payload, size_t len)
{
    held_req *h = cairn_mem_malloc(s->env->mem, sizeof(*h) + len);
    if (!h)
        return fail_local(s, CAIRN_ERR_NOMEM);
    h->type = type;
    h->request_id = rid;
    h->received_ms = now_ms(s);
    h->len = len;
    if (len)
        memcpy(h->payload, payload, len);
    s->held[s->n_held++] = h; /* REQ-5 counted it: at most 64 */
    return 0;
}

static held_req *unhold_first(cairn_session *s)
{
    held_req *h = s->held[0];
    memmove(s->held, s->held + 1, sizeof(s->held[0]) * --s->n_held);
    return h;
}

/* Serves held requests, oldest first, while the queue is at most OUTPUT_SOFT. */
static int release_held(cairn_session *s)
{
    while (s->n_held && s->state == CAIRN_SS_READY && s->out.len <= CAIRN_OUTPUT_SOFT) {
        held_req *h = unhold_first(s);
        uint16_t type = h->type;
        ProtobufCMessage *m;
        int rv = cairn_msg_decode(&s->msgs, type, h->payload, h->len, &m);
        if (rv == 0 && s->cb.on_message)
            s->cb.on_message(s, type, m, s->ud);
        cairn_mem_free(s->env->mem, h);
        if (rv) /* it decoded when it arrived: only memory can fail now */
            return fail_local(s, rv);
    }
    return 0;
}

static void drop_held(cairn_session *s)
{
    while (s->n_held)
        cairn_mem_free(s->env->mem, unhold_first(s));
}

static long recv_frames(cairn_session *s, const uint8_t *data, size_t len)
{
    const uint8_t *p = data, *end = data + len;
    while (p < end && s->state < CAIRN_SS_CLOSING) {
        if (s->out.len >= CAIRN_OUTPUT_QUEUE_MAX) /* [SEC-7], [SEC-9] */
            break;
        cairn_frame f;
        int rv = cairn_frame_decoder_next(&s->frames, &p, end, &f);
        if (rv == CAIRN_ERR_AGAIN)
            break;
        if (rv) {
            uint32_t code = cairn_err_wire_code(rv);
            if (code == CAIRN_E_UNEXPECTED_MESSAGE) {
                char why[sizeof(s->close_text)];
                memcpy(why, s->close_text, sizeof(why));
                return fail(s, code, "%s", why);
            }
            if (code)
                return fail(s, code, "frame header: %s", cairn_strerror(rv));
            return fail_local(s, rv);
        }
        if ((rv = handle_frame(s, &f)) < 0)
            return rv;
    }
    if (s->state >= CAIRN_SS_CLOSING)
        return (long)len;
    return (long)(p - data);
}

long cairn_session_recv(cairn_session *s, const uint8_t *data, size_t len)
{
    if (s->state >= CAIRN_SS_CLOSING)
        return (long)len; /* §8.1 input after a fatal error is ignored */
    s->now = s->env->mono_ms(s->env->ud);
    s->now_valid = 1;
    if (len)
        s->last_recv_ms = s->now;
    long rv = release_held(s);
    if (rv == 0)
        rv = recv_frames(s, data, len);
    s->now_valid = 0;
    /* every message of this call has been handled: an idle session gives
     * back what the largest of them needed (a Block's size, twice) */
    cairn_msg_decoder_trim(&s->msgs);
    cairn_frame_decoder_trim(&s->frames);
    return rv;
}

void cairn_session_eof(cairn_session *s)
{
    if (s->state < CAIRN_SS_CLOSING) {
        static const char text[] = "connection closed by peer";
        enter_closing(s, 0, 1, text, sizeof(text) - 1);
    }
    s->state = CAIRN_SS_CLOSED;
    cairn_buf_reset(&s->out, 0);
    drop_held(s);
}

/* ---- output API ------------------------------------------------------------------ */

size_t cairn_session_pending(cairn_session *s, const uint8_t **data)
{
    *data = cairn_buf_data(&s->out);
    return s->out.len;
}

void cairn_session_sent(cairn_session *s, size_t n)
{
    cairn_buf_consume(&s->out, n);
    /* drained: give the room back, unless Chunk answers still use it */
    if (s->out.len == 0)
        cairn_buf_reset(&s->out, now_ms(s) - s->last_chunk_ms < 1000 ? 2 * CHUNK_ROOM : OUT_KEEP);
}

int cairn_session_want_close(const cairn_session *s)
{
    return s->state == CAIRN_SS_CLOSED || (s->state == CAIRN_SS_CLOSING && s->out.len == 0);
}

int cairn_session_want_read(const cairn_session *s)
{
    return s->state < CAIRN_SS_CLOSING && s->out.len < CAIRN_OUTPUT_QUEUE_MAX;
}

unsigned cairn_session_held(const cairn_session *s)
{
    return s->state == CAIRN_SS_READY ? s->n_held : 0;
}

/* ---- timers ------------------------------------------------------------------------ */

static uint64_t oldest_request_ms(const cairn_session *s)
{
    uint64_t t = UINT64_MAX;
    for (unsigned i = 0; i < s->n_ours; i++)
        t = s->ours[i].sent_ms < t ? s->ours[i].sent_ms : t;
    return t;
}

uint64_t cairn_session_deadline(const cairn_session *s)
{
    if (s->state == CAIRN_SS_CLOSING && s->out.len)
        return s->closing_ms + CAIRN_CLOSING_TIMEOUT_MS; /* [CLOSE-8] */
    if (s->state >= CAIRN_SS_CLOSING)
        return UINT64_MAX;
    uint64_t d = s->last_recv_ms + s->idle_timeout;
    if (s->state != CAIRN_SS_READY) {
        uint64_t hs = s->start_ms + s->hs_timeout;
        d = hs < d ? hs : d;
    } else {
        uint64_t ping = s->last_send_ms + s->ping_interval;
        d = ping < d ? ping : d;
        if (s->n_pings && s->ping_ms[0] + s->idle_timeout < d)
            d = s->ping_ms[0] + s->idle_timeout;
        if (s->n_held && s->held[0]->received_ms + HELD_BUSY_MS < d)
            d = s->held[0]->received_ms + HELD_BUSY_MS;
        if (s->n_held && s->out.len <= CAIRN_OUTPUT_SOFT)
            d = 0; /* [SEC-8] the queue drained: the held requests are due now */
        uint64_t oldest = oldest_request_ms(s);
        if (oldest != UINT64_MAX && oldest + CAIRN_REQUEST_UNANSWERED_MS < d)
            d = oldest + CAIRN_REQUEST_UNANSWERED_MS;
    }
    return d;
}

int cairn_session_tick(cairn_session *s)
{
    uint64_t now = now_ms(s);
    if (s->state == CAIRN_SS_CLOSING && now >= s->closing_ms + CAIRN_CLOSING_TIMEOUT_MS)
        cairn_buf_reset(&s->out, 0); /* [CLOSE-8] unflushed output is given up: want_close */
    if (s->state >= CAIRN_SS_CLOSING)
        return 0;
    if (s->state != CAIRN_SS_READY && now >= s->start_ms + s->hs_timeout)
        return fail(s, CAIRN_E_HANDSHAKE_TIMEOUT, "handshake not complete after %u ms",
                    s->hs_timeout);
    if (now >= s->last_recv_ms + s->idle_timeout)
        return fail(s, CAIRN_E_IDLE_TIMEOUT, "nothing received for %u ms", s->idle_timeout);
    /* [KA-8] a peer trickling one endless frame never answers our Ping */
    if (s->n_pings && now >= s->ping_ms[0] + s->idle_timeout)
        return fail(s, CAIRN_E_IDLE_TIMEOUT, "Ping unanswered for %u ms", s->idle_timeout);
    /* [REQ-20] a peer that answers Pings but not requests frees our slots */
    if (s->state == CAIRN_SS_READY && s->n_ours &&
        now >= oldest_request_ms(s) + CAIRN_REQUEST_UNANSWERED_MS)
        return fail(s, CAIRN_E_IDLE_TIMEOUT, "request unanswered for %u ms",
                    CAIRN_REQUEST_UNANSWERED_MS);
    /* [SEC-8] the queue drained below OUTPUT_SOFT since they were held (the
     * driver's write, cairn_session_sent): served now, not at the peer's
     * next input (a peer waiting quietly for its answers got BUSY after 30 s;
     * found by fuzz_node_core) */
    if (s->state == CAIRN_SS_READY && s->n_held && s->out.len <= CAIRN_OUTPUT_SOFT) {
        int rv = release_held(s);
        cairn_msg_decoder_trim(&s->msgs);
        if (rv)
            return rv;
    }
    /* [SEC-8] [REQ-19] requests held too long are answered BUSY */
    while (s->state == CAIRN_SS_READY && s->n_held &&
           now >= s->held[0]->received_ms + HELD_BUSY_MS) {
        held_req *h = unhold_first(s);
        int rv =
            cairn_session_respond_error(s, h->request_id, CAIRN_E_BUSY, 0, "output queue full");
        cairn_mem_free(s->env->mem, h);
        if (rv)
            return fail_local(s, rv);
    }
    if (s->state == CAIRN_SS_READY && now >= s->last_send_ms + s->ping_interval) {
        int rv = cairn_session_ping(s, NULL); /* [KA-1] keepalive */
        return rv ? fail_local(s, rv) : 0;    /* never left open past its deadline */
    }
    return 0;
}

/* ---- sending -------------------------------------------------------------------------- */

int cairn_session_request(cairn_session *s, ProtobufCMessage *m, uint64_t *id)
{
    uint16_t type = cairn_msg_type_of(m);
    if (cairn_msg_kind(type) != CAIRN_KIND_REQUEST)
        return CAIRN_ERR_INVALID_ARG;
    if (s->state != CAIRN_SS_READY)
        return CAIRN_ERR_STATE;
    if (s->n_ours == CAIRN_MAX_IN_FLIGHT)
        return CAIRN_ERR_WINDOW_FULL;
    if (s->out.len >= CAIRN_OUTPUT_QUEUE_MAX) /* [SEC-7] not even our own requests */
        return CAIRN_ERR_AGAIN;
    uint64_t rid = ++s->next_request_id;
    *cairn_msg_request_id(m) = rid;
    int rv = queue(s, m, 1);
    if (rv)
        return rv;
    s->ours[s->n_ours].id = rid;
    s->ours[s->n_ours].sent_ms = now_ms(s);
    s->ours[s->n_ours++].type = type;
    if (id)
        *id = rid;
    return 0;
}

int cairn_session_respond(cairn_session *s, const ProtobufCMessage *m)
{
    uint16_t type = cairn_msg_type_of(m);
    if (s->state != CAIRN_SS_READY)
        return CAIRN_ERR_STATE;
    uint64_t *id = cairn_msg_request_id((ProtobufCMessage *)m);
    struct req_slot *r = id ? slot_find(s->theirs, s->n_theirs, *id) : NULL;
    if (!r || (type != CAIRN_T_ERROR && !cairn_msg_answers(r->type, type)))
        return CAIRN_ERR_INVALID_ARG;
    int rv = queue(s, m, 1);
    if (rv)
        return rv;
    slot_remove(s->theirs, &s->n_theirs, r);
    return 0;
}

/* ---- zero-copy Chunk ---------------------------------------------------------- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

uint8_t *cairn_session_respond_chunk_begin(cairn_session *s, const Cairn__V1__Chunk *m, int *err)
{
    s->chunk_len = 0;
    *err = CAIRN_ERR_STATE;
    if (s->state != CAIRN_SS_READY)
        return NULL;
    struct req_slot *r = slot_find(s->theirs, s->n_theirs, m->request_id);
    *err = CAIRN_ERR_INVALID_ARG;
    if (!r || !cairn_msg_answers(r->type, CAIRN_T_CHUNK))
        return NULL;
    if ((*err = cairn_msg_validate(CAIRN_T_CHUNK, &m->base)) != 0)
        return NULL;
    /* the canonical encoding of §5.2, as protobuf_c_message_pack writes it:
     * fields in order, zero scalars and empty bytes omitted */
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    *err = CAIRN_ERR_INVALID_ARG;
    if (len > cairn_frame_type_cap(CAIRN_T_CHUNK))
        return NULL;
    *err = CAIRN_ERR_NOMEM;
    /* Chunks come in bursts (a window of GetChunk): room for a whole burst
     * at once, so the next ones neither grow the buffer (copying what waits)
     * nor shift it; cairn_session_sent keeps that room while it is in use. */
    if (s->out.cap < CHUNK_ROOM)
        cairn_buf_reserve(&s->out, CHUNK_ROOM - s->out.len);
    s->last_chunk_ms = now_ms(s);
    uint8_t *f = cairn_buf_reserve(&s->out, CAIRN_FRAME_HEADER_LEN + len), *p = f, *data;
    if (!f)
        return NULL;
    cairn_frame_header_encode(p, CAIRN_T_CHUNK, (uint32_t)len);
    p += CAIRN_FRAME_HEADER_LEN;
    if (m->request_id)
        p = put_varint(put_varint(p, 1 << 3), m->request_id);
    if (m->index)
        p = put_varint(put_varint(p, 2 << 3), m->index);
    p = put_varint(put_varint(p, 3 << 3 | 2), m->data.len);
    data = p;
    p += m->data.len;
    for (size_t i = 0; i < m->n_proof; i++) {
        p = put_varint(put_varint(p, 4 << 3 | 2), m->proof[i].len);
        memcpy(p, m->proof[i].data, m->proof[i].len);
        p += m->proof[i].len;
    }
    s->chunk_len = (size_t)(p - f);
    s->chunk_rid = m->request_id;
    s->chunk_at = f;
    *err = 0;
    return data;
}

int cairn_session_respond_chunk_commit(cairn_session *s)
{
    /* the reserved bytes must still be where begin put them, past out's end */
    int intact = s->chunk_len && s->chunk_at == cairn_buf_data(&s->out) + s->out.len &&
                 s->out.cap - s->out.off - s->out.len >= s->chunk_len;
    struct req_slot *r = intact && s->state == CAIRN_SS_READY
                             ? slot_find(s->theirs, s->n_theirs, s->chunk_rid)
                             : NULL;
    if (!r) {
        s->chunk_len = 0;
        return CAIRN_ERR_STATE;
    }
    size_t before = s->out.len;
    cairn_buf_commit(&s->out, s->chunk_len);
    s->chunk_len = 0;
    s->last_send_ms = now_ms(s);
    if (s->cb.on_frame) {
        const uint8_t *f = cairn_buf_data(&s->out) + before;
        s->cb.on_frame(s, 1, CAIRN_T_CHUNK, f + CAIRN_FRAME_HEADER_LEN,
                       s->out.len - before - CAIRN_FRAME_HEADER_LEN, s->ud);
    }
    slot_remove(s->theirs, &s->n_theirs, r);
    return 0;
}

int cairn_session_respond_error(cairn_session *s, uint64_t request_id, uint32_t code,
                                uint32_t detail, const char *text)
{
    if (cairn_wire_error_is_fatal(code))
        return CAIRN_ERR_INVALID_ARG;
    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    e.code = (Cairn__V1__ErrorCode)code;
    e.request_id = request_id;
    e.detail = detail;
    if (text) {
        e.message.data = (uint8_t *)text;
        e.message.len = strlen(text);
        if (e.message.len > CAIRN_MAX_ERROR_MESSAGE)
            e.message.len = CAIRN_MAX_ERROR_MESSAGE;
    }
    return cairn_session_respond(s, &e.base);
}

int cairn_session_notify(cairn_session *s, const ProtobufCMessage *m)
{
    if (cairn_msg_kind(cairn_msg_type_of(m)) != CAIRN_KIND_NOTIFY)
        return CAIRN_ERR_INVALID_ARG;
    if (s->state != CAIRN_SS_READY)
        return CAIRN_ERR_STATE;
    if (s->out.len > CAIRN_OUTPUT_SOFT) /* [SEC-10] dropped, not queued */
        return CAIRN_ERR_AGAIN;
    return queue(s, m, 1);
}

int cairn_session_ping(cairn_session *s, uint64_t *nonce)
{
    if (s->state != CAIRN_SS_READY)
        return CAIRN_ERR_STATE;
    int rv;
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = random_u64(s, &rv);
    if (rv)
        return rv;
    if ((rv = queue(s, &ping.base, 1)))
        return rv;
    if (s->n_pings == MAX_PINGS) { /* forget the oldest */
        --s->n_pings;
        memmove(s->pings, s->pings + 1, sizeof(s->pings[0]) * s->n_pings);
        memmove(s->ping_ms, s->ping_ms + 1, sizeof(s->ping_ms[0]) * s->n_pings);
    }
    s->pings[s->n_pings] = ping.nonce;
    s->ping_ms[s->n_pings++] = now_ms(s);
    if (nonce)
        *nonce = ping.nonce;
    return 0;
}

uint64_t cairn_session_hello_nonce(const cairn_session *s)
{
    return s->hello_nonce;
}

unsigned cairn_session_in_flight(const cairn_session *s)
{
    return s->n_ours;
}

int cairn_session_close(cairn_session *s, uint32_t code, const char *text)
{
    return cairn_session_close_detail(s, code, 0, text);
}

int cairn_session_close_detail(cairn_session *s, uint32_t code, uint32_t detail, const char *text)
{
    if (s->state >= CAIRN_SS_CLOSING)
        return CAIRN_ERR_STATE;
    /* [ERR-1] a close carries a registered fatal code, or none */
    if (code && (!cairn_wire_error_name(code) || !cairn_wire_error_is_fatal(code)))
        return CAIRN_ERR_INVALID_ARG;
    s->close_detail = detail;
    if (!text)
        text = "";
    if (code) {
        fail(s, code, "%s", text);
        return 0;
    }
    enter_closing(s, 0, 0, text, strlen(text));
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------------- */

int cairn_session_new(cairn_session **out, const cairn_session_config *cfg,
                      const cairn_session_callbacks *cb, void *ud, const cairn_env *env)
{
    *out = NULL;
    if (!cfg->identity || cfg->binding_len > 64)
        return CAIRN_ERR_INVALID_ARG;
    if (cfg->refuse_code && cfg->refuse_code != CAIRN_E_TOO_MANY_PEERS &&
        cfg->refuse_code != CAIRN_E_DISCOURAGED && cfg->refuse_code != CAIRN_E_SHUTDOWN)
        return CAIRN_ERR_INVALID_ARG; /* [CLOSE-10] only these refuse before Hello */
    cairn_session *s = cairn_mem_calloc(env->mem, 1, sizeof(*s));
    if (!s)
        return CAIRN_ERR_NOMEM;
    s->env = env;
    if (cb)
        s->cb = *cb;
    s->ud = ud;
    s->identity = cfg->identity;
    s->initiator = cfg->initiator;
    memcpy(s->network_id, cfg->network_id, CAIRN_HASH_LEN);
    if (cfg->binding_len)
        memcpy(s->binding, cfg->binding, cfg->binding_len);
    s->binding_len = cfg->binding_len;
    s->hs_timeout =
        cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : CAIRN_HANDSHAKE_TIMEOUT_MS;
    s->ping_interval = cfg->ping_interval_ms ? cfg->ping_interval_ms : CAIRN_PING_INTERVAL_MS;
    s->idle_timeout = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : CAIRN_IDLE_TIMEOUT_MS;
    uint32_t max_frame = cfg->max_frame_size ? cfg->max_frame_size : CAIRN_FRAME_MAX_MIN;
    cairn_frame_decoder_init(&s->frames, env->mem, max_frame);
    s->frames.on_header = check_header;
    s->frames.on_header_ud = s;
    cairn_msg_decoder_init(&s->msgs, env->mem);
    s->msgs.borrow = 1; /* a Chunk's data is not copied: m lives only during on_message */
    cairn_buf_init(&s->out, env->mem);
    s->state = CAIRN_SS_AWAIT_HELLO;

    int rv = 0;
    s->hello_nonce = cfg->hello_nonce ? cfg->hello_nonce : random_u64(s, &rv);
    if (rv == 0 && !cfg->refuse_code)
        rv = send_hello(s, cfg);
    if (rv) {
        cairn_session_del(s);
        return rv;
    }
    s->start_ms = s->last_recv_ms = s->last_send_ms = now_ms(s);
    *out = s;
    if (cfg->refuse_code) /* [CLOSE-10] an Error as the first frame, no Hello */
        fail(s, cfg->refuse_code, "%s", cairn_wire_error_name(cfg->refuse_code));
    return 0;
}

void cairn_session_del(cairn_session *s)
{
    if (!s)
        return;
    cairn_frame_decoder_free(&s->frames);
    cairn_msg_decoder_free(&s->msgs);
    cairn_buf_free(&s->out);
    drop_held(s);
    cairn_mem_free(s->env->mem, s);
}

int cairn_session_state(const cairn_session *s)
{
    return s->state;
}

const cairn_peer_info *cairn_session_peer(const cairn_session *s)
{
    return s->authed ? &s->peer : NULL;
}

const cairn_close_info *cairn_session_close_info(const cairn_session *s)
{
    return s->state >= CAIRN_SS_CLOSING ? &s->close : NULL;
}
