/* The session harness's state and the helpers shared by its two files. */
#ifndef CAIRN_FUZZ_SESSION_HARNESS_H
#define CAIRN_FUZZ_SESSION_HARNESS_H

#include "common.h"
#include "cairn/session.h"
#include "fuzz_session.h"

#ifndef FUZZ_INITIATOR
#define FUZZ_INITIATOR 0
#endif

#define MAX_TRACK 256

/* Network ID: the devnet genesis ID (§9.8). */
extern const uint8_t network[32];
extern cairn_identity *own_id, *peer_id;

typedef struct req {
    uint64_t id;
    uint16_t type;
} req;

typedef struct harness {
    fuzz_env e; /* the session's environment */
    fuzz_env h; /* the harness's own allocations (never fail) */
    cairn_session *s;
    fuzz_in in;
    uint8_t cfg;
    int split;
    uint8_t binding[32];
    size_t binding_len;
    uint64_t split_rng;

    /* The peer side. The transcript uses the first Hello the session saw
     * (on_frame), whoever built it: a second Hello is never accepted. */
    uint8_t peer_hello[1024];
    size_t peer_hello_len;
    int peer_hello_seen;
    int good_auth_fed; /* a correctly signed Auth was fed */
    uint64_t next_peer_rid;

    /* What the callbacks saw. */
    int ready_calls, close_calls, last_state;
    int random_failed; /* the failing allocator or RNG may close the session */

    /* The session's output, parsed. */
    cairn_frame_decoder outdec;
    cairn_msg_decoder outmsg;
    size_t out_total;    /* bytes taken from the session */
    size_t out_at_close; /* out_total + pending when on_close ran */
    int sent_hello, sent_auth, fatal_sent;
    uint8_t sess_hello[1024];
    size_t sess_hello_len;
    uint64_t sess_nonce;

    req ours[MAX_TRACK]; /* the session's requests on the wire, unanswered */
    size_t n_ours;
    req theirs[MAX_TRACK]; /* the peer's requests delivered, not yet answered */
    size_t n_theirs;
    req answers[MAX_TRACK]; /* answers the application sent, not yet on the wire */
    size_t n_answers;
    uint64_t pings[MAX_TRACK]; /* the session's Pings, 0 once ponged */
    size_t n_pings;
    uint64_t pongs_due[8192]; /* Pongs the session owes, in order (a frame is >= 8 bytes) */
    size_t n_pongs_due;
} harness;

/* fuzz_session_io.c: models of the spec, request lists, the session's output, feeding it */
int is_request(uint16_t t);
int is_response(uint16_t t);
int answers(uint16_t request, uint16_t response);
int code_registered(uint32_t c);
int code_fatal(uint32_t c);
void auth_input(uint8_t out[45], int signer_is_initiator, const uint8_t *hi, size_t li,
                const uint8_t *hr, size_t lr, const uint8_t *b, size_t lb);
void transcript_for(const harness *x, int signer_is_initiator, uint8_t out[45]);
req *req_find(req *v, size_t n, uint64_t id);
void req_remove(req *v, size_t *n, req *r);
void req_push(req *v, size_t *n, uint64_t id, uint16_t type);
void check_state(harness *x);
void drain(harness *x);
void feed(harness *x, const uint8_t *p, size_t n, int split);
void feed_msg(harness *x, uint16_t type, const ProtobufCMessage *m);

/* fuzz_session_ops.c: the operations of a script that build peer or application traffic */
void op_hello(harness *x);
void op_auth(harness *x);
void op_msg(harness *x);
void send_request(harness *x, uint8_t kind, uint64_t rid, int from_app);
void op_peer_resp(harness *x);
void op_app_resp(harness *x);
void op_tick(harness *x);
void op_app_notify(harness *x);

#endif
