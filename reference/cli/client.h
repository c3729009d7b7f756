/*
 * cairn_client: one outbound Cairn session driven to completion with poll(),
 * for programs that talk to a single peer at a time (the `cairn` CLI, the
 * conformance harness, file fetchers).
 *
 *   cairn_client *c;
 *   cairn_client_config cfg = {.addr = "127.0.0.1:7317"};
 *   if (cairn_client_open(&c, &cfg) < 0)      // TCP, TLS 1.3, Hello/Auth
 *       fprintf(stderr, "%s\n", cairn_client_last_error(c)->text);
 *   Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;  ...
 *   cairn_client_response r;
 *   int rv = cairn_client_request(c, &gb.base, &r);  // Block, NotFound or Error
 *   cairn_client_del(c);                             // SHUTDOWN, close_notify, close
 *
 * Notifications are checked as far as a peer without a chain can: an
 * Announce's header by steps 1-6 of §9.5 (INVALID_BLOCK) [SYNC-38], the
 * entries of Entries by §9.2 (INVALID_FIELD) [REL-11]; a failure closes the
 * session.
 *
 * Everything is bounded by one deadline (cfg.timeout_ms from cairn_client_open,
 * movable with cairn_client_set_deadline): no call blocks past it. The client
 * is a plain requester on top of cairn_session; the session enforces the
 * protocol (request IDs, pairing, fatal Errors), and the client adds the
 * requester-side rules that need the request itself (see cairn_client_wait).
 *
 * Not thread-safe: one thread drives one client.
 */
#ifndef CAIRN_CLI_CLIENT_H
#define CAIRN_CLI_CLIENT_H

#include "cairn/chain.h"
#include "cairn/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Outcomes besides 0 (the request's success response arrived). Positive
 * values are answers that leave the session open; negative values mean the
 * call failed, and cairn_client_last_error() says why in words.
 */
enum {
    CAIRN_CLIENT_NOT_FOUND = 1, /* answered with NotFound (not an error, REQ-12) */
    CAIRN_CLIENT_REFUSED = 2,   /* answered with a non-fatal Error: BUSY, RATE_LIMITED,
                                   INVALID_ENTRY; code and detail in the response */

    CAIRN_CLIENT_ERR_CONNECT = -301, /* bad address, TCP or TLS failure: no session */
    CAIRN_CLIENT_ERR_TIMEOUT = -302, /* the deadline passed; the session is still open */
    CAIRN_CLIENT_ERR_CLOSED = -303,  /* the session ended (by either side) */
};

#define CAIRN_CLIENT_USER_AGENT "cairn/0.1.0"
#define CAIRN_CLIENT_TIMEOUT_MS 10000

typedef struct cairn_client cairn_client;

typedef struct cairn_client_config {
    /* "HOST:PORT", "[V6]:PORT"; without a port, 7317 ([TLS-3]). Numeric hosts
     * and "localhost" only (no DNS). */
    const char *addr;
    /* The node ID the peer must prove ([ADDR-3]); NULL: any (also set by an
     * "NODEID@HOST:PORT" addr). A mismatch closes with WRONG_NODE_ID. */
    const uint8_t *node_id;
    const cairn_network *net; /* NULL: devnet */
    int plaintext;            /* 1: no TLS ([TLS-19]: both sides configured so) */
    /* Our node key; NULL: a fresh random identity for this client. Must
     * outlive the client. */
    const cairn_identity *identity;
    uint64_t timeout_ms;  /* deadline for open and every later call; 0: 10 s */
    const cairn_env *env; /* NULL: cairn_port_env() */
    /*
     * The Hello. NULL: the client's defaults, which describe a peer that keeps
     * no chain ([HS-10]): services 0, tip = the network's genesis at height 0,
     * total_work = 2^bits, listen_port 0, user agent "cairn/0.1.0". Otherwise
     * a template whose every field but initiator, identity, network_id and
     * binding is used as it is.
     */
    const cairn_session_config *hello;
    /* Optional observers: every frame (wire logs), and every message that is
     * not a response to one of our requests (Announce, Entries, Ping). */
    void (*on_frame)(int outbound, uint16_t type, const uint8_t *payload, size_t len, void *ud);
    void (*on_notify)(uint16_t type, const ProtobufCMessage *m, void *ud);
    void *ud;
} cairn_client_config;

/* Why the last failing call failed; `text` is one line of plain words. */
typedef struct cairn_client_error {
    int rv;        /* what the call returned */
    uint32_t code; /* wire error code of the close, 0 when none */
    int by_peer;   /* 1: the peer sent the Error or dropped the connection */
    /* e.g. "127.0.0.1:7317 closed the session: WRONG_NETWORK (peer is on
     * another network)" when the peer closed, "127.0.0.1:7317: we closed the
     * session: INVALID_FIELD (...): <why>" when we did */
    char text[640];
} cairn_client_error;

/* A response to one of our requests. */
typedef struct cairn_client_response {
    uint16_t type;       /* the success type, CAIRN_T_NOT_FOUND or CAIRN_T_ERROR */
    uint32_t code;       /* with CAIRN_T_ERROR: BUSY, RATE_LIMITED or INVALID_ENTRY */
    uint32_t detail;     /* with CAIRN_T_ERROR: reason (§15.4), e.g. BAD_ENTRY */
    ProtobufCMessage *m; /* decoded; valid until the next wait or request, or del */
} cairn_client_response;

/*
 * Connects, completes TLS (unless plaintext) and the Cairn handshake, and
 * returns once the session is READY. *out is set whenever a client was
 * allocated, even on failure, so that cairn_client_last_error() can explain it;
 * the caller deletes it either way. Returns 0, CAIRN_CLIENT_ERR_CONNECT,
 * CAIRN_CLIENT_ERR_TIMEOUT, CAIRN_CLIENT_ERR_CLOSED (the handshake failed:
 * WRONG_NETWORK, BAD_SIGNATURE, ...), CAIRN_ERR_NOMEM or CAIRN_ERR_INVALID_ARG.
 */
int cairn_client_open(cairn_client **out, const cairn_client_config *cfg);
/* When $SSLKEYLOGFILE names a file, appends the TLS secrets of `tls` to it
 * (NSS key log format, for Wireshark) and warns once per process on stderr.
 * 0 when off or on, or the error of cairn_tls_ctx_set_keylog(). */
int cairn_client_keylog(cairn_tls_ctx *tls);

/*
 * Closes politely if the session is still open (Error SHUTDOWN [CLOSE-7],
 * close_notify under TLS, waiting at most 1 s and never past the deadline),
 * then frees everything. NULL is a no-op.
 */
void cairn_client_del(cairn_client *c);

/* What the peer said in its Hello (valid while the client lives), or NULL
 * before READY. */
const cairn_peer_info *cairn_client_peer(const cairn_client *c);
/* The peer's address as "127.0.0.1:7317" (valid while the client lives). */
const char *cairn_client_addr(const cairn_client *c);
/* The failure of the last call that returned a negative value. */
const cairn_client_error *cairn_client_last_error(const cairn_client *c);

/* The deadline on the env's monotonic clock; every call stops there. */
uint64_t cairn_client_deadline(const cairn_client *c);
void cairn_client_set_deadline(cairn_client *c, uint64_t mono_ms);

/*
 * Sends a request (its request_id is assigned here, returned in *id).
 * Several may be outstanding (at most 64, [REQ-4]); wait for each by ID.
 * Returns 0, CAIRN_CLIENT_ERR_CLOSED, CAIRN_ERR_WINDOW_FULL, or a validation
 * error for a message a compliant sender must not send.
 */
int cairn_client_send(cairn_client *c, ProtobufCMessage *req, uint64_t *id);

/*
 * Waits for the response to request `id`, keeping the session serviced
 * (Pings answered). Responses to other requests that arrive meanwhile are
 * kept for their own wait. Before returning a response, the client applies
 * the requester's rules that depend on the request, and closes the session
 * with INVALID_FIELD when one fails: Headers over max_count [SYNC-14], a
 * Block for another ID or height [SYNC-28, SYNC-29], an EntryAck whose
 * entry_id is not SHA-256(0x00 || entry) [REL-7], a Manifest that is not
 * valid or not the requested file [FILE-14, FILE-15], a have range past the
 * chunk count [FILE-18], a Chunk of another index [CHK-7]. (Chain rules —
 * proof of work, links, Merkle proofs — are the caller's to check.)
 * Returns 0, CAIRN_CLIENT_NOT_FOUND, CAIRN_CLIENT_REFUSED,
 * CAIRN_CLIENT_ERR_TIMEOUT (the request stays outstanding [REQ-14]),
 * CAIRN_CLIENT_ERR_CLOSED, CAIRN_ERR_PROTO(INVALID_FIELD) (we closed), or
 * CAIRN_ERR_INVALID_ARG for an ID that is not outstanding.
 */
int cairn_client_wait(cairn_client *c, uint64_t id, cairn_client_response *resp);

/* cairn_client_send + cairn_client_wait. */
int cairn_client_request(cairn_client *c, ProtobufCMessage *req, cairn_client_response *resp);

/*
 * Sends a Ping and waits for its Pong; *rtt_us (optional) receives the round
 * trip in microseconds on the system's monotonic clock.
 */
int cairn_client_ping(cairn_client *c, uint64_t *rtt_us);

/*
 * Keeps the session serviced for `ms` milliseconds (not past the deadline),
 * e.g. between retries. Returns 0, or CAIRN_CLIENT_ERR_CLOSED.
 */
int cairn_client_idle(cairn_client *c, uint64_t ms);

/*
 * Closes the session because the peer broke a rule that the client's caller
 * detected (e.g. a header that fails proof of work: INVALID_BLOCK), with
 * Error{code, text}. Records the failure and returns CAIRN_ERR_PROTO(code).
 */
int cairn_client_abort(cairn_client *c, uint32_t code, const char *text);
/* The same with Error.detail, the reason code of INVALID_BLOCK or
 * INVALID_ENTRY [ERR-5]. */
int cairn_client_abort_detail(cairn_client *c, uint32_t code, uint32_t detail, const char *text);

/* The underlying session and connection, for what this API does not cover. */
cairn_session *cairn_client_session(const cairn_client *c);
cairn_conn *cairn_client_conn(const cairn_client *c);

/*
 * Plain words for a wire error code, e.g. "peer is on another network" for
 * WRONG_NETWORK (static storage; "unknown error code" for unregistered ones).
 */
const char *cairn_client_explain(uint32_t code);

#ifdef __cplusplus
}
#endif
#endif
