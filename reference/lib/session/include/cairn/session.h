/*
 * The per-connection state machine (spec §6–§8): handshake with Ed25519
 * identity and transcript signature, keepalive, request/response matching,
 * in-flight limits, errors and close.
 *
 * Sans-I/O: bytes from the transport go in through cairn_session_recv();
 * bytes for the transport come out of cairn_session_pending(). Time is read
 * from env->mono_ms only in cairn_session_new() and cairn_session_tick();
 * callers ask cairn_session_deadline() when to tick next.
 *
 *   AWAIT_HELLO --Hello ok, Auth sent--> AWAIT_AUTH --Auth ok--> READY
 *        \________________ any fatal error ________________\--> CLOSING
 *   CLOSING: output is flushed by the caller, input ignored; then the caller
 *   closes the transport (at the latest 5 s later: the tick gives up the
 *   output, CLOSE-8). CLOSED: the transport is gone. The full table, one
 *   row per event, is spec/state-table.json (spec §8.4).
 */
#ifndef CAIRN_SESSION_H
#define CAIRN_SESSION_H

#include "cairn/crypto.h"
#include "cairn/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_PROTOCOL_VERSION 1
#define CAIRN_DEFAULT_PORT     7317
#define CAIRN_ALPN             "cairn/1"
#define CAIRN_EXPORTER_LABEL   "EXPORTER-cairn/1 channel binding"
#define CAIRN_BINDING_LEN      32
/* Defaults of the spec's limits table (§13): keepalive, handshake, requests. */
#define CAIRN_HANDSHAKE_TIMEOUT_MS 10000
#define CAIRN_PING_INTERVAL_MS     30000
#define CAIRN_IDLE_TIMEOUT_MS      90000
#define CAIRN_MAX_IN_FLIGHT        64
#define CAIRN_CLOSING_TIMEOUT_MS   5000 /* [CLOSE-8] */
/* [REQ-19] an answerer answers within REQUEST_DEADLINE; [REQ-20] a requester
 * closes with IDLE_TIMEOUT after twice that. */
#define CAIRN_REQUEST_DEADLINE_MS   60000
#define CAIRN_REQUEST_UNANSWERED_MS 120000
/* [SEC-7]..[SEC-10] output queued for one peer: above OUTPUT_SOFT requests
 * are held and Announce/Entries dropped; at OUTPUT_QUEUE_MAX input stops. */
#define CAIRN_OUTPUT_SOFT      (512u * 1024)
#define CAIRN_OUTPUT_QUEUE_MAX (3u * 1024 * 1024)

enum cairn_session_state {
    CAIRN_SS_AWAIT_HELLO = 1,
    CAIRN_SS_AWAIT_AUTH,
    CAIRN_SS_READY,
    CAIRN_SS_CLOSING,
    CAIRN_SS_CLOSED,
};

/* Service bits (spec §15.3). */
#define CAIRN_SERVICE_CHAIN 0x1u
#define CAIRN_SERVICE_FILES 0x2u
#define CAIRN_SERVICE_RELAY 0x4u
#define CAIRN_SERVICE_PEERS 0x8u

typedef struct cairn_session cairn_session;

/* What the peer said about itself in Hello, once its Auth verified. */
typedef struct cairn_peer_info {
    uint8_t node_key[CAIRN_KEY_LEN];
    uint8_t node_id[CAIRN_HASH_LEN];
    uint32_t version; /* effective: min(ours, theirs) */
    uint64_t services;
    uint8_t tip_id[CAIRN_HASH_LEN];
    uint64_t tip_height;
    uint8_t total_work[32];
    uint32_t max_frame_size;
    uint64_t time_ms;
    uint32_t listen_port;
    char user_agent[CAIRN_MAX_USER_AGENT + 1];
} cairn_peer_info;

typedef struct cairn_close_info {
    uint32_t code;       /* wire error code; 0 = closed without an Error */
    int by_peer;         /* 1: the peer sent the Error or closed the transport */
    const char *message; /* human text (ours, or the peer's, NUL-terminated) */
} cairn_close_info;

typedef struct cairn_session_callbacks {
    /*
     * The peer's Auth verified. Return 0 to accept it, or a wire code
     * (DUPLICATE_PEER, DISCOURAGED, TOO_MANY_PEERS) to refuse it. Optional.
     */
    uint32_t (*on_peer_auth)(cairn_session *s, const cairn_peer_info *peer, void *ud);
    /* READY reached. Optional. */
    void (*on_ready)(cairn_session *s, const cairn_peer_info *peer, void *ud);
    /*
     * Every message accepted in READY (Pings after they are answered, Pongs
     * only when they match a Ping of ours). `m` lives until the callback
     * returns. The callback may send and close, but not delete the session.
     */
    void (*on_message)(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud);
    /* Called once, when the session starts closing or the transport ends. */
    void (*on_close)(cairn_session *s, const cairn_close_info *info, void *ud);
    /* Every frame crossing the wire, for wire logs. Optional. */
    void (*on_frame)(cairn_session *s, int outbound, uint16_t type, const uint8_t *payload,
                     size_t len, void *ud);
    /*
     * [HS-26] Whether `nonce` is the Hello nonce of another of our sessions
     * (a node with many sessions answers for all of them). Optional: the
     * session always compares with its own.
     */
    int (*is_own_nonce)(cairn_session *s, uint64_t nonce, void *ud);
} cairn_session_callbacks;

typedef struct cairn_session_config {
    int initiator; /* 1 = we dialled */
    const cairn_identity *identity;
    uint8_t network_id[CAIRN_HASH_LEN];
    uint64_t services;
    uint8_t tip_id[CAIRN_HASH_LEN];
    uint64_t tip_height;
    uint8_t total_work[32];
    uint32_t max_frame_size; /* 0 = CAIRN_FRAME_MAX_MIN */
    const char *user_agent;  /* printable ASCII, at most 64 bytes; NULL = "" */
    uint16_t listen_port;
    const uint8_t *binding; /* TLS exporter value, or NULL in plaintext */
    size_t binding_len;
    /* 0 = the spec's value */
    uint32_t handshake_timeout_ms, ping_interval_ms, idle_timeout_ms;
    /* Fixed Hello nonce for reproducible vectors; 0 = draw from env->random. */
    uint64_t hello_nonce;
    /*
     * [CLOSE-10] Refuse the session before Hello: TOO_MANY_PEERS, DISCOURAGED
     * or SHUTDOWN is queued as the first frame instead of our Hello, and the
     * new session is CLOSING. 0 = a normal session.
     */
    uint32_t refuse_code;
} cairn_session_config;

/*
 * Creates a session and queues our Hello (§6 both sides send Hello at
 * once). `cfg`, `cb` and `env` are copied or referenced: the identity and env
 * must outlive the session.
 */
int cairn_session_new(cairn_session **out, const cairn_session_config *cfg,
                      const cairn_session_callbacks *cb, void *ud, const cairn_env *env);
void cairn_session_del(cairn_session *s);

int cairn_session_state(const cairn_session *s);
/* Peer info once its Auth verified (also while closing), else NULL. */
const cairn_peer_info *cairn_session_peer(const cairn_session *s);
/* The close reason once CLOSING/CLOSED, else NULL. */
const cairn_close_info *cairn_session_close_info(const cairn_session *s);

/*
 * Feeds transport bytes. Returns how many were consumed (fewer than `len`
 * when the output queue reached CAIRN_OUTPUT_QUEUE_MAX: feed the rest after
 * draining), or a negative error when the session failed (it is then
 * CLOSING with an Error queued). In CLOSING/CLOSED all input is consumed and
 * ignored. Requests read while more than CAIRN_OUTPUT_SOFT is queued are
 * held [SEC-8]; every call (len may be 0) first serves held requests once
 * the queue is at most CAIRN_OUTPUT_SOFT again.
 */
long cairn_session_recv(cairn_session *s, const uint8_t *data, size_t len);
/* The transport reached end of file or failed. */
void cairn_session_eof(cairn_session *s);

/* Bytes waiting for the transport; *data valid until the next call. */
size_t cairn_session_pending(cairn_session *s, const uint8_t **data);
/* `n` pending bytes were written to the transport. */
void cairn_session_sent(cairn_session *s, size_t n);
/* CLOSING and nothing left to write: close the transport now. */
int cairn_session_want_close(const cairn_session *s);
/* Whether to read more input (output queue below CAIRN_OUTPUT_QUEUE_MAX). */
int cairn_session_want_read(const cairn_session *s);
/* Requests held [SEC-8]; call cairn_session_recv(s, buf, 0) to serve them
 * once the output has drained. */
unsigned cairn_session_held(const cairn_session *s);

/* Next time (env->mono_ms) cairn_session_tick() has work; UINT64_MAX = none. */
uint64_t cairn_session_deadline(const cairn_session *s);
/* Timeouts and keepalive pings due now. Returns 0 or the error it closed with. */
int cairn_session_tick(cairn_session *s);

/*
 * Sends a request; assigns its request_id (returned in *id). Errors:
 * CAIRN_ERR_STATE before READY, CAIRN_ERR_WINDOW_FULL with 64 requests
 * outstanding, CAIRN_ERR_AGAIN while CAIRN_OUTPUT_QUEUE_MAX bytes wait to be
 * sent [SEC-7], validation errors for an invalid message.
 */
int cairn_session_request(cairn_session *s, ProtobufCMessage *m, uint64_t *id);
/* Sends the response to a peer's outstanding request (request_id set). */
int cairn_session_respond(cairn_session *s, const ProtobufCMessage *m);
/*
 * Zero-copy Chunk: answers a GetChunk with `m` (request_id, index, proof and
 * data.len set; data.data unused) framed in the output buffer around room
 * for the data, and returns where the caller writes data.len bytes (a pread
 * straight into the frame), or NULL with *err set (the errors of respond).
 * Nothing is sent until cairn_session_respond_chunk_commit(); any other
 * send, or not committing, drops the frame. The data is never copied.
 */
uint8_t *cairn_session_respond_chunk_begin(cairn_session *s, const Cairn__V1__Chunk *m, int *err);
int cairn_session_respond_chunk_commit(cairn_session *s);
/* Answers a peer's request with a non-fatal Error (BUSY, RATE_LIMITED, INVALID_ENTRY). */
int cairn_session_respond_error(cairn_session *s, uint64_t request_id, uint32_t code,
                                uint32_t detail, const char *text);
/* Sends a notification (Announce, Entries); CAIRN_ERR_AGAIN, dropped, while
 * more than CAIRN_OUTPUT_SOFT is queued [SEC-10]. */
int cairn_session_notify(cairn_session *s, const ProtobufCMessage *m);
/* Sends a Ping; its nonce in *nonce (optional). */
int cairn_session_ping(cairn_session *s, uint64_t *nonce);
/* The nonce of our Hello. */
uint64_t cairn_session_hello_nonce(const cairn_session *s);
/* Number of our requests awaiting a response. */
unsigned cairn_session_in_flight(const cairn_session *s);

/*
 * Starts closing. With a code, queues Error{code, text} first (a fatal code
 * makes the session CLOSING; codes are always fatal here). Code 0 closes
 * without an Error.
 */
int cairn_session_close(cairn_session *s, uint32_t code, const char *text);
/* The same with Error.detail: a reason code (spec §15.4) for INVALID_BLOCK and
 * INVALID_ENTRY [ERR-5]. */
int cairn_session_close_detail(cairn_session *s, uint32_t code, uint32_t detail, const char *text);

/* The transcript hash and Auth signature input (spec §6.3, §6.4), exposed
 * for vectors and for harnesses that compute their own Auth. */
int cairn_transcript_hash(uint8_t out[CAIRN_HASH_LEN], const uint8_t *hello_i, size_t len_i,
                          const uint8_t *hello_r, size_t len_r, const uint8_t *binding,
                          size_t binding_len);
#define CAIRN_AUTH_INPUT_LEN 45
void cairn_auth_input(uint8_t out[CAIRN_AUTH_INPUT_LEN], int signer_is_initiator,
                      const uint8_t th[CAIRN_HASH_LEN]);

#ifdef __cplusplus
}
#endif
#endif
