/*
 * One outbound session driven with poll(): connect, TLS, handshake, requests
 * and their responses, polite close. See client.h for the contract.
 *
 * Responses reach us inside the session's on_message callback, as views that
 * die when it returns; the client packs each one into its own buffer and
 * decodes it again when the caller waits for it, so several requests can be
 * outstanding and answered in any order ([REQ-8]).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn/port.h"
#include "client.h"

#define MAX_STORED    CAIRN_MAX_IN_FLIGHT
#define MAX_POLL_MS   200
#define CLOSE_WAIT_MS 1000

/* What we must remember of a request to check its response. */
typedef struct pending {
    uint64_t id;
    uint16_t type;
    uint32_t max_count;           /* GetHeaders: the limit */
    int by_id;                    /* GetBlock: selector */
    uint64_t height;              /* GetBlock by height */
    uint64_t index;               /* GetChunk */
    uint8_t hash[CAIRN_HASH_LEN]; /* block ID, file ID, or entry ID */
    uint8_t *payload;             /* the packed response, once it arrived */
    size_t len;
    uint16_t resp_type;
} pending;

struct cairn_client {
    const cairn_env *env;
    cairn_client_config cfg;
    cairn_identity *own_id;
    cairn_tls_ctx *tls;
    cairn_conn *conn;
    int ready;
    uint64_t deadline;
    char addr[64];
    pending req[MAX_STORED];
    unsigned n_req;
    char peer_net[72];   /* the network of the peer's Hello, for WRONG_NETWORK */
    uint64_t pong_nonce; /* last Pong that matched one of our Pings */
    int pong_seen;
    cairn_msg_decoder dec;
    cairn_client_error fail;
    uint8_t want_id[CAIRN_HASH_LEN]; /* [ADDR-3] the node ID the peer must prove */
    int has_want_id;
};

/* ---- failures in words ------------------------------------------------------ */

static const char *const explain[] = {
    [CAIRN_E_PROTOCOL_VIOLATION] = "a protocol rule was broken",
    [CAIRN_E_BAD_MAGIC] = "the bytes received are not a Cairn frame",
    [CAIRN_E_FRAME_TOO_LARGE] = "a frame was larger than allowed",
    [CAIRN_E_UNKNOWN_TYPE] = "a frame of an unknown type was received",
    [CAIRN_E_MALFORMED] = "a message did not parse",
    [CAIRN_E_INVALID_FIELD] = "a message field broke a rule",
    [CAIRN_E_NON_CANONICAL] = "a message was not canonically encoded",
    [CAIRN_E_UNEXPECTED_MESSAGE] = "a message came at the wrong time",
    [CAIRN_E_VERSION_MISMATCH] = "protocol version 0 is not a version",
    [CAIRN_E_WRONG_NETWORK] = "peer is on another network",
    [CAIRN_E_SELF_CONNECTION] = "the node is connected to itself",
    [CAIRN_E_DUPLICATE_PEER] = "this node ID already has a session with the peer",
    [CAIRN_E_BAD_SIGNATURE] = "the handshake signature did not verify",
    [CAIRN_E_HANDSHAKE_TIMEOUT] = "the handshake took too long",
    [CAIRN_E_IDLE_TIMEOUT] = "nothing was received for too long",
    [CAIRN_E_TOO_MANY_REQUESTS] = "more than 64 requests were outstanding",
    [CAIRN_E_UNKNOWN_REQUEST] = "a response matched no outstanding request",
    [CAIRN_E_DUPLICATE_REQUEST_ID] = "a request ID was reused while in flight",
    [CAIRN_E_INVALID_BLOCK] = "a header or block broke a chain rule",
    [CAIRN_E_INVALID_CHUNK] = "a chunk failed its proof",
    [CAIRN_E_BUSY] = "the peer cannot serve this now, or does not offer the service",
    [CAIRN_E_RATE_LIMITED] = "too many requests of this kind",
    [CAIRN_E_SHUTDOWN] = "the peer is shutting down",
    [CAIRN_E_TOO_MANY_PEERS] = "the peer has no free connection slot",
    [CAIRN_E_DISCOURAGED] = "the peer refuses us for a while",
    [CAIRN_E_INVALID_ENTRY] = "the entry was rejected",
    [CAIRN_E_INTERNAL_ERROR] = "the peer failed internally",
    [CAIRN_E_WRONG_NODE_ID] = "the peer proved another node ID than the one expected",
};

const char *cairn_client_explain(uint32_t code)
{
    if (code < sizeof(explain) / sizeof(explain[0]) && explain[code])
        return explain[code];
    return "unknown error code";
}

int cairn_client_keylog(cairn_tls_ctx *tls)
{
    static int warned;
    const char *path = getenv("SSLKEYLOGFILE");
    if (!path || !*path)
        return 0;
    int rv = cairn_tls_ctx_set_keylog(tls, path);
    if (rv == 0 && !warned++)
        fprintf(stderr,
                "cairn: warning: SSLKEYLOGFILE is set: TLS secrets are appended to %s; "
                "whoever reads it can decrypt this traffic\n",
                path);
    return rv;
}

static int set_fail(cairn_client *c, int rv, uint32_t code, int by_peer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int set_fail(cairn_client *c, int rv, uint32_t code, int by_peer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail.text, sizeof(c->fail.text), fmt, ap);
    va_end(ap);
    c->fail.rv = rv;
    c->fail.code = code;
    c->fail.by_peer = by_peer;
    return rv;
}

/* The session or connection is over: say why, in the words of client.h. */
static int closed_fail(cairn_client *c)
{
    cairn_session *s = c->conn ? cairn_conn_session(c->conn) : NULL;
    const cairn_close_info *ci = s ? cairn_session_close_info(s) : NULL;
    const char *hint = "";
    if (!c->ready)
        hint = c->cfg.plaintext ? " (does the peer expect TLS? plaintext needs both sides)"
                                : " (is the peer configured for plaintext?)";
    if (!s) {
        const char *why = c->conn ? cairn_conn_error(c->conn) : "";
        return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 1, "%s: TLS handshake failed: %s%s",
                        c->addr, why[0] ? why : "connection closed", hint);
    }
    if (!ci || !ci->code) {
        const char *why = cairn_conn_error(c->conn);
        return set_fail(c, CAIRN_CLIENT_ERR_CLOSED, 0, 1, "%s closed the connection%s%s%s%s",
                        c->addr, c->ready ? "" : " during the handshake", why[0] ? ": " : "", why,
                        c->ready ? "" : hint);
    }
    char msg[4 * CAIRN_MAX_ERROR_MESSAGE + 8] = "";
    if (ci->message && ci->message[0])
        cairn_text_escape(msg, sizeof(msg), ci->message);
    const char *name = cairn_wire_error_name(ci->code);
    char unknown[24];
    if (!name) {
        snprintf(unknown, sizeof(unknown), "error %u", ci->code);
        name = unknown;
    }
    if (ci->by_peer)
        return set_fail(c, CAIRN_CLIENT_ERR_CLOSED, ci->code, 1,
                        "%s closed the session: %s (%s)%s%s%s", c->addr, name,
                        cairn_client_explain(ci->code), msg[0] ? "; it said \"" : "", msg,
                        msg[0] ? "\"" : "");
    if (!strcmp(msg, cairn_client_explain(ci->code)))
        msg[0] = '\0'; /* our session's own words: said once is enough */
    char extra[160] = "";
    if (!c->ready && ci->code == CAIRN_E_BAD_MAGIC)
        snprintf(extra, sizeof(extra), "%s", hint);
    if (ci->code == CAIRN_E_WRONG_NETWORK && c->peer_net[0])
        snprintf(extra, sizeof(extra), "; the peer is on %s, not %s", c->peer_net,
                 c->cfg.net->name);
    return set_fail(c, CAIRN_CLIENT_ERR_CLOSED, ci->code, 0,
                    "%s: we closed the session: %s (%s)%s%s%s", c->addr, name,
                    cairn_client_explain(ci->code), msg[0] ? ": " : "", msg, extra);
}

/* ---- session callbacks -------------------------------------------------------- */

static pending *find_req(cairn_client *c, uint64_t id)
{
    for (unsigned i = 0; i < c->n_req; i++)
        if (c->req[i].id == id)
            return &c->req[i];
    return NULL;
}

static void drop_req(cairn_client *c, pending *p)
{
    cairn_mem_free(c->env->mem, p->payload);
    *p = c->req[--c->n_req];
}

/* [ADDR-3] the peer at a NODEID@HOST:PORT address must prove that node ID */
static uint32_t on_peer_auth(cairn_session *s, const cairn_peer_info *peer, void *ud)
{
    (void)s;
    cairn_client *c = ud;
    if (c->has_want_id && memcmp(peer->node_id, c->want_id, CAIRN_HASH_LEN) != 0)
        return CAIRN_E_WRONG_NODE_ID;
    return 0;
}

static void on_ready(cairn_session *s, const cairn_peer_info *peer, void *ud)
{
    (void)s;
    (void)peer;
    ((cairn_client *)ud)->ready = 1;
}

/*
 * What a receiver that keeps no chain can check of a notification: an
 * announced header up to step 6 of §9.5 (its parent is unknown to us, so
 * validation stops at step 7 as for an orphan) [SYNC-38], and the entries of
 * Entries by §9.2 [REL-11]. Returns 0, or closes the session.
 */
static int check_notify(cairn_client *c, cairn_session *s, uint16_t type, const ProtobufCMessage *m)
{
    char text[96];
    if (type == CAIRN_T_ANNOUNCE) {
        const Cairn__V1__Announce *a = (const Cairn__V1__Announce *)m;
        cairn_block_header h;
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason = 0;
        int rv = cairn_block_precheck(NULL, a->header.data, a->header.len, NULL, 0,
                                      c->cfg.net->bits, &h, id, &reason);
        if (rv == 0 && h.height == 0 && memcmp(id, c->cfg.net->genesis_id, CAIRN_HASH_LEN)) {
            rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK);
            reason = CAIRN_BLOCK_BAD_GENESIS;
        }
        if (rv == 0)
            return 0;
        const char *name = cairn_block_reason_name(reason);
        snprintf(text, sizeof(text), "Announce fails validation: %s", name ? name : "?");
        cairn_session_close_detail(s, CAIRN_E_INVALID_BLOCK, reason, text); /* [ERR-5] */
        return -1;
    }
    if (type == CAIRN_T_ENTRIES) {
        const Cairn__V1__Entries *e = (const Cairn__V1__Entries *)m;
        for (size_t i = 0; i < e->n_entries; i++) {
            uint32_t reason;
            if (cairn_entry_check(e->entries[i].data, e->entries[i].len, &reason) == 0)
                continue;
            snprintf(text, sizeof(text), "Entries carries an invalid entry (#%zu)", i);
            cairn_session_close(s, CAIRN_E_INVALID_FIELD, text);
            return -1;
        }
    }
    return 0;
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    cairn_client *c = ud;
    if (type == CAIRN_T_PONG) {
        c->pong_nonce = ((const Cairn__V1__Pong *)m)->nonce;
        c->pong_seen = 1;
        return;
    }
    int kind = cairn_msg_kind(type);
    if (kind == CAIRN_KIND_REQUEST) {
        /* [REQ-7] [REQ-15] a client serves nothing (its Hello advertises no
         * service): NotFound where the request allows it, else Error BUSY */
        uint64_t rid = *cairn_msg_request_id((ProtobufCMessage *)m);
        if (cairn_msg_answers(type, CAIRN_T_NOT_FOUND)) {
            Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
            nf.request_id = rid;
            cairn_session_respond(s, &nf.base);
        } else {
            cairn_session_respond_error(s, rid, CAIRN_E_BUSY, 0, "a client serves nothing");
        }
        return;
    }
    if (kind != CAIRN_KIND_RESPONSE && type != CAIRN_T_ERROR) {
        if (check_notify(c, s, type, m) == 0 && c->cfg.on_notify)
            c->cfg.on_notify(type, m, c->cfg.ud);
        return;
    }
    /* The session matched it to one of our requests ([REQ-9], [REQ-10]). */
    pending *p = find_req(c, *cairn_msg_request_id((ProtobufCMessage *)m));
    if (!p || p->payload)
        return;
    size_t len = protobuf_c_message_get_packed_size(m);
    p->payload = cairn_mem_malloc(c->env->mem, len ? len : 1);
    if (!p->payload) {
        cairn_session_close(s, CAIRN_E_INTERNAL_ERROR, "out of memory");
        return;
    }
    p->len = protobuf_c_message_pack(m, p->payload);
    p->resp_type = type;
}

/* Notes the peer's network from its Hello, so that a WRONG_NETWORK close can
 * say which one it is; passes every frame on to the caller's observer. */
static void on_frame(cairn_session *s, int outbound, uint16_t type, const uint8_t *payload,
                     size_t len, void *ud)
{
    (void)s;
    cairn_client *c = ud;
    if (!outbound && type == CAIRN_T_HELLO) {
        ProtobufCMessage *m;
        if (cairn_msg_decode_unchecked(&c->dec, type, payload, len, &m) == 0) {
            const ProtobufCBinaryData *id = &((const Cairn__V1__Hello *)m)->network_id;
            const cairn_network *nets[] = {cairn_network_devnet(), cairn_network_testnet()};
            if (id->len == CAIRN_HASH_LEN)
                cairn_hex_encode(c->peer_net, id->data, CAIRN_HASH_LEN);
            for (size_t i = 0; i < 2; i++)
                if (id->len == CAIRN_HASH_LEN && !memcmp(id->data, nets[i]->genesis_id, id->len))
                    snprintf(c->peer_net, sizeof(c->peer_net), "%s", nets[i]->name);
        }
    }
    if (c->cfg.on_frame)
        c->cfg.on_frame(outbound, type, payload, len, c->cfg.ud);
}

/* ---- driving the connection ------------------------------------------------------- */

static uint64_t now_ms(const cairn_client *c)
{
    return c->env->mono_ms(c->env->ud);
}

static int alive(const cairn_client *c)
{
    if (!c->conn)
        return 0;
    cairn_session *s = cairn_conn_session(c->conn);
    return cairn_conn_state(c->conn) != CAIRN_CONN_DONE &&
           (!s || cairn_session_state(s) < CAIRN_SS_CLOSING);
}

/* One poll round, at most until the deadline. Returns 0, or 1 once it is past. */
static int step(cairn_client *c)
{
    uint64_t now = now_ms(c);
    if (now >= c->deadline)
        return 1;
    uint64_t left = c->deadline - now;
    cairn_conn_poll(c->conn, (int)(left < MAX_POLL_MS ? left : MAX_POLL_MS));
    return 0;
}

/* Lets a closing session flush its Error, then reports why it closed. */
static int finish_closed(cairn_client *c)
{
    if (!c->conn) /* cairn_client_open failed before a connection existed */
        return set_fail(c, CAIRN_CLIENT_ERR_CLOSED, 0, 0, "%s: not connected", c->addr);
    uint64_t until = now_ms(c) + CLOSE_WAIT_MS;
    if (until > c->deadline)
        until = c->deadline;
    while (cairn_conn_state(c->conn) != CAIRN_CONN_DONE && now_ms(c) < until)
        cairn_conn_poll(c->conn, 50);
    return closed_fail(c);
}

static int connect_tcp(cairn_client *c, int *fd_out)
{
    char text[300];
    const char *a = c->cfg.addr ? c->cfg.addr : "";
    const char *at = strchr(a, '@');
    if (at) { /* [ADDR-4] NODEID@HOST:PORT */
        char hex[80];
        snprintf(hex, sizeof(hex), "%.*s", (int)(at - a < 79 ? at - a : 79), a);
        if (at - a != 2 * CAIRN_HASH_LEN || cairn_hex_decode(c->want_id, CAIRN_HASH_LEN, hex)) {
            snprintf(c->addr, sizeof(c->addr), "%.63s", a);
            return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 0,
                            "%s: not an address (expected [NODEID@]HOST:PORT, NODEID in 64 hex)",
                            a);
        }
        c->has_want_id = 1;
        a = at + 1;
    }
    /* [TLS-3] default port for "host", "[v6]" and a bare IPv6 literal */
    size_t colons = 0;
    for (const char *q = a; *q; q++)
        colons += *q == ':';
    if (a[0] == '[' ? strstr(a, "]:") != NULL : colons == 1)
        snprintf(text, sizeof(text), "%s", a);
    else if (a[0] == '[' || colons == 0)
        snprintf(text, sizeof(text), "%s:%d", a, CAIRN_DEFAULT_PORT);
    else
        snprintf(text, sizeof(text), "[%s]:%d", a, CAIRN_DEFAULT_PORT);
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_net_parse_addr(text, &ss, &len) != 0) {
        snprintf(c->addr, sizeof(c->addr), "%.63s", a);
        return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 0,
                        "%s: not an address (expected HOST:PORT with a numeric host)", a);
    }
    cairn_net_format_addr((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
    int fd = cairn_net_connect((struct sockaddr *)&ss, len);
    if (fd < 0)
        return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 0, "%s: cannot connect: %s", c->addr,
                        strerror(errno));
    for (;;) {
        uint64_t now = now_ms(c);
        if (now >= c->deadline) {
            close(fd);
            return set_fail(c, CAIRN_CLIENT_ERR_TIMEOUT, 0, 0, "%s: timed out while connecting",
                            c->addr);
        }
        uint64_t left = c->deadline - now;
        struct pollfd pfd = {fd, POLLOUT, 0};
        int n = poll(&pfd, 1, (int)(left < MAX_POLL_MS ? left : MAX_POLL_MS));
        if (n < 0 && errno != EINTR) {
            close(fd);
            return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 0, "%s: poll: %s", c->addr,
                            strerror(errno));
        }
        if (n > 0)
            break;
    }
    int err = cairn_net_connect_result(fd);
    if (err) {
        close(fd);
        return set_fail(c, CAIRN_CLIENT_ERR_CONNECT, 0, 0, "%s: cannot connect: %s", c->addr,
                        strerror(err));
    }
    *fd_out = fd;
    return 0;
}

static void default_hello(cairn_session_config *sc, const cairn_network *net)
{
    /* [HS-10] a peer that keeps no chain describes the genesis block. */
    memset(sc, 0, sizeof(*sc));
    memcpy(sc->tip_id, net->genesis_id, CAIRN_HASH_LEN);
    cairn_work w = {{0}};
    cairn_work_add_block(&w, net->bits);
    memcpy(sc->total_work, w.be, sizeof(w.be));
    sc->user_agent = CAIRN_CLIENT_USER_AGENT;
}

int cairn_client_open(cairn_client **out, const cairn_client_config *cfg)
{
    const cairn_env *env = cfg->env ? cfg->env : cairn_port_env();
    *out = NULL;
    cairn_client *c = cairn_mem_calloc(env->mem, 1, sizeof(*c));
    if (!c)
        return CAIRN_ERR_NOMEM;
    *out = c;
    c->env = env;
    c->cfg = *cfg;
    if (!c->cfg.net)
        c->cfg.net = cairn_network_devnet();
    cairn_msg_decoder_init(&c->dec, env->mem);
    c->deadline = now_ms(c) + (cfg->timeout_ms ? cfg->timeout_ms : CAIRN_CLIENT_TIMEOUT_MS);

    int rv;
    const cairn_identity *id = cfg->identity;
    if (!id) {
        if ((rv = cairn_identity_generate(&c->own_id, env)) != 0)
            return set_fail(c, rv, 0, 0, "cannot create an identity: %s", cairn_strerror(rv));
        id = c->own_id;
    }
    if (!cfg->plaintext && (rv = cairn_tls_ctx_new(&c->tls, id, 0)) != 0)
        return set_fail(c, rv, 0, 0, "cannot set up TLS: %s", cairn_strerror(rv));
    if (c->tls && (rv = cairn_client_keylog(c->tls)) != 0)
        return set_fail(c, rv, 0, 0, "SSLKEYLOGFILE=%s: %s", getenv("SSLKEYLOGFILE"),
                        strerror(errno));
    int fd = -1;
    if ((rv = connect_tcp(c, &fd)) != 0)
        return rv;

    cairn_session_config sc;
    if (cfg->hello)
        sc = *cfg->hello;
    else
        default_hello(&sc, c->cfg.net);
    sc.identity = id;
    memcpy(sc.network_id, c->cfg.net->genesis_id, CAIRN_HASH_LEN);
    if (cfg->node_id) {
        memcpy(c->want_id, cfg->node_id, CAIRN_HASH_LEN);
        c->has_want_id = 1;
    }
    static const cairn_session_callbacks cbs = {.on_peer_auth = on_peer_auth,
                                                .on_ready = on_ready,
                                                .on_message = on_message,
                                                .on_frame = on_frame};
    if ((rv = cairn_conn_new(&c->conn, fd, 1, c->tls, &sc, &cbs, c, env)) != 0)
        return set_fail(c, rv, 0, 0, "%s: %s", c->addr, cairn_strerror(rv));
    while (!c->ready && alive(c))
        if (step(c))
            return set_fail(c, CAIRN_CLIENT_ERR_TIMEOUT, 0, 0,
                            "%s: timed out waiting for the handshake", c->addr);
    if (!c->ready)
        return finish_closed(c);
    return 0;
}

void cairn_client_del(cairn_client *c)
{
    if (!c)
        return;
    if (c->conn) {
        cairn_session *s = cairn_conn_session(c->conn);
        if (s && cairn_session_state(s) < CAIRN_SS_CLOSING)
            cairn_session_close(s, CAIRN_E_SHUTDOWN, "client done"); /* [CLOSE-7] */
        uint64_t until = now_ms(c) + CLOSE_WAIT_MS;
        if (until > c->deadline)
            until = c->deadline;
        cairn_conn_flush(c->conn);
        while (cairn_conn_state(c->conn) != CAIRN_CONN_DONE && now_ms(c) < until)
            cairn_conn_poll(c->conn, 50);
        cairn_conn_del(c->conn);
    }
    while (c->n_req)
        drop_req(c, &c->req[0]);
    cairn_msg_decoder_free(&c->dec);
    cairn_tls_ctx_del(c->tls);
    cairn_identity_del(c->own_id);
    cairn_mem_free(c->env->mem, c);
}

const cairn_peer_info *cairn_client_peer(const cairn_client *c)
{
    return c->ready ? cairn_session_peer(cairn_conn_session(c->conn)) : NULL;
}

const char *cairn_client_addr(const cairn_client *c)
{
    return c->addr;
}

const cairn_client_error *cairn_client_last_error(const cairn_client *c)
{
    return &c->fail;
}

uint64_t cairn_client_deadline(const cairn_client *c)
{
    return c->deadline;
}

void cairn_client_set_deadline(cairn_client *c, uint64_t mono_ms)
{
    c->deadline = mono_ms;
}

cairn_session *cairn_client_session(const cairn_client *c)
{
    return c->conn ? cairn_conn_session(c->conn) : NULL;
}

cairn_conn *cairn_client_conn(const cairn_client *c)
{
    return c->conn;
}

int cairn_client_abort(cairn_client *c, uint32_t code, const char *text)
{
    return cairn_client_abort_detail(c, code, 0, text);
}

int cairn_client_abort_detail(cairn_client *c, uint32_t code, uint32_t detail, const char *text)
{
    cairn_session *s = cairn_client_session(c);
    if (s && cairn_session_state(s) < CAIRN_SS_CLOSING)
        cairn_session_close_detail(s, code, detail, text);
    if (c->conn) {
        uint64_t until = now_ms(c) + CLOSE_WAIT_MS;
        if (until > c->deadline)
            until = c->deadline;
        while (cairn_conn_state(c->conn) != CAIRN_CONN_DONE && now_ms(c) < until)
            cairn_conn_poll(c->conn, 50);
    }
    char msg[4 * CAIRN_MAX_ERROR_MESSAGE + 8];
    cairn_text_escape(msg, sizeof(msg), text ? text : "");
    const char *name = cairn_wire_error_name(code);
    return set_fail(c, CAIRN_ERR_PROTO(code), code, 0, "%s: we closed the session: %s (%s): %s",
                    c->addr, name ? name : "?", cairn_client_explain(code), msg);
}

/* ---- requests ------------------------------------------------------------------ */

/* Remembers what the response check of cairn_client_wait needs. */
static void note_request(pending *p, uint16_t type, const ProtobufCMessage *m)
{
    switch (type) {
    case CAIRN_T_GET_HEADERS: {
        uint32_t mc = ((const Cairn__V1__GetHeaders *)m)->max_count;
        p->max_count = mc ? mc : CAIRN_HEADERS_MAX;
        break;
    }
    case CAIRN_T_GET_BLOCK: {
        const Cairn__V1__GetBlock *g = (const Cairn__V1__GetBlock *)m;
        p->by_id = g->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
        if (p->by_id)
            memcpy(p->hash, g->block_id.data, CAIRN_HASH_LEN);
        p->height = g->height;
        break;
    }
    case CAIRN_T_SUBMIT_ENTRY: {
        const Cairn__V1__SubmitEntry *e = (const Cairn__V1__SubmitEntry *)m;
        cairn_entry_id(NULL, p->hash, e->entry.data, e->entry.len);
        break;
    }
    case CAIRN_T_GET_MANIFEST:
        memcpy(p->hash, ((const Cairn__V1__GetManifest *)m)->file_id.data, CAIRN_HASH_LEN);
        break;
    case CAIRN_T_GET_CHUNK: {
        const Cairn__V1__GetChunk *g = (const Cairn__V1__GetChunk *)m;
        memcpy(p->hash, g->file_id.data, CAIRN_HASH_LEN);
        p->index = g->index;
        break;
    }
    default:
        break;
    }
}

int cairn_client_send(cairn_client *c, ProtobufCMessage *req, uint64_t *id)
{
    if (!c->ready || !alive(c))
        return finish_closed(c);
    uint16_t type = cairn_msg_type_of(req);
    /* The session validates the request, so note_request reads sound fields. */
    int rv = cairn_msg_kind(type) == CAIRN_KIND_REQUEST ? 0 : CAIRN_ERR_INVALID_ARG;
    if (rv == 0 && c->n_req == MAX_STORED)
        rv = CAIRN_ERR_WINDOW_FULL;
    uint64_t rid = 0;
    if (rv == 0)
        rv = cairn_session_request(cairn_conn_session(c->conn), req, &rid);
    if (rv)
        return set_fail(c, rv, 0, 0, "cannot send %s: %s", cairn_frame_type_name(type),
                        cairn_strerror(rv));
    pending *p = &c->req[c->n_req++];
    memset(p, 0, sizeof(*p));
    p->id = rid;
    p->type = type;
    note_request(p, type, req);
    if (id)
        *id = rid;
    cairn_conn_flush(c->conn);
    return 0;
}

/* Number of chunks of a file of `size` bytes with chunks of 2^log2 bytes. */
static uint64_t chunk_count(uint64_t size, unsigned log2)
{
    return (size >> log2) + ((size & ((1ull << log2) - 1)) != 0);
}

/* The requester's rules that need the request; returns text of the breach. */
static const char *check_response(const pending *p, const ProtobufCMessage *m)
{
    uint8_t h[CAIRN_HASH_LEN];
    switch (p->resp_type) {
    case CAIRN_T_HEADERS:
        if (((const Cairn__V1__Headers *)m)->n_headers > p->max_count)
            return "Headers carries more headers than max_count"; /* [SYNC-14] */
        return NULL;
    case CAIRN_T_BLOCK: {
        const Cairn__V1__Block *b = (const Cairn__V1__Block *)m;
        if (p->by_id) { /* [SYNC-28] */
            if (cairn_block_id(NULL, h, b->header.data) || memcmp(h, p->hash, CAIRN_HASH_LEN))
                return "Block is not the block requested by ID";
        } else if (cairn_get_u64(b->header.data + 4) != p->height) { /* [SYNC-29] */
            return "Block is not at the height requested";
        }
        return NULL;
    }
    case CAIRN_T_ENTRY_ACK: /* [REL-7]; REL-6 (32 bytes) is a field rule */
        if (memcmp(((const Cairn__V1__EntryAck *)m)->entry_id.data, p->hash, CAIRN_HASH_LEN))
            return "EntryAck.entry_id is not the ID of the submitted entry";
        return NULL;
    case CAIRN_T_MANIFEST: {
        const Cairn__V1__Manifest *mf = (const Cairn__V1__Manifest *)m;
        cairn_manifest_entry me;
        if (cairn_manifest_entry_parse(mf->manifest.data, mf->manifest.len, &me)) /* [FILE-14] */
            return "Manifest.manifest is not a valid manifest";
        if (cairn_sha256(h, mf->manifest.data, CAIRN_MANIFEST_ID_LEN) ||
            memcmp(h, p->hash, CAIRN_HASH_LEN)) /* [FILE-15] */
            return "Manifest is not the file requested";
        uint64_t n = chunk_count(me.size, me.chunk_log2);
        for (size_t i = 0; i < mf->n_have; i++)
            if (mf->have[i]->end > n) /* [FILE-18] */
                return "a have range ends past the file's chunk count";
        return NULL;
    }
    case CAIRN_T_CHUNK:
        if (((const Cairn__V1__Chunk *)m)->index != p->index) /* [CHK-7] */
            return "Chunk.index is not the index requested";
        return NULL;
    default:
        return NULL;
    }
}

int cairn_client_wait(cairn_client *c, uint64_t id, cairn_client_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    pending *p = find_req(c, id);
    if (!p)
        return set_fail(c, CAIRN_ERR_INVALID_ARG, 0, 0, "request %llu is not outstanding",
                        (unsigned long long)id);
    while (!p->payload && alive(c)) {
        if (step(c))
            return set_fail(c, CAIRN_CLIENT_ERR_TIMEOUT, 0, 0,
                            "%s: timed out waiting for the answer to %s", c->addr,
                            cairn_frame_type_name(p->type));
        p = find_req(c, id); /* the table may have moved */
    }
    if (!p->payload)
        return finish_closed(c);

    ProtobufCMessage *m;
    int rv = cairn_msg_decode_unchecked(&c->dec, p->resp_type, p->payload, p->len, &m);
    uint16_t type = p->resp_type;
    const char *breach = rv ? NULL : check_response(p, m);
    drop_req(c, p);
    if (rv)
        return set_fail(c, rv, 0, 0, "cannot decode a stored response: %s", cairn_strerror(rv));
    if (breach)
        return cairn_client_abort(c, CAIRN_E_INVALID_FIELD, breach);
    resp->type = type;
    resp->m = m;
    if (type == CAIRN_T_NOT_FOUND)
        return CAIRN_CLIENT_NOT_FOUND;
    if (type == CAIRN_T_ERROR) {
        resp->code = ((Cairn__V1__Error *)m)->code;
        resp->detail = ((Cairn__V1__Error *)m)->detail;
        return CAIRN_CLIENT_REFUSED;
    }
    return 0;
}

int cairn_client_request(cairn_client *c, ProtobufCMessage *req, cairn_client_response *resp)
{
    uint64_t id = 0;
    int rv = cairn_client_send(c, req, &id);
    if (rv)
        return rv;
    return cairn_client_wait(c, id, resp);
}

static uint64_t micros(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int cairn_client_ping(cairn_client *c, uint64_t *rtt_us)
{
    if (!c->ready || !alive(c))
        return finish_closed(c);
    uint64_t nonce;
    int rv = cairn_session_ping(cairn_conn_session(c->conn), &nonce);
    if (rv)
        return set_fail(c, rv, 0, 0, "cannot send Ping: %s", cairn_strerror(rv));
    uint64_t t0 = micros();
    c->pong_seen = 0;
    cairn_conn_flush(c->conn);
    while (!(c->pong_seen && c->pong_nonce == nonce) && alive(c))
        if (step(c))
            return set_fail(c, CAIRN_CLIENT_ERR_TIMEOUT, 0, 0, "%s: timed out waiting for Pong",
                            c->addr);
    if (!(c->pong_seen && c->pong_nonce == nonce))
        return finish_closed(c);
    if (rtt_us)
        *rtt_us = micros() - t0;
    return 0;
}

int cairn_client_idle(cairn_client *c, uint64_t ms)
{
    uint64_t until = now_ms(c) + ms;
    if (until > c->deadline)
        until = c->deadline;
    while (alive(c)) {
        uint64_t now = now_ms(c);
        if (now >= until)
            return 0;
        uint64_t left = until - now;
        cairn_conn_poll(c->conn, (int)(left < MAX_POLL_MS ? left : MAX_POLL_MS));
    }
    return finish_closed(c);
}
