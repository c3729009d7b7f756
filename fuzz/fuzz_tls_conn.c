/*
 * fuzz_tls_conn: a peer's bytes through the real TLS 1.3 profile and the
 * connection object of reference/net (cairn_conn over a socketpair, OpenSSL
 * on memory BIOs inside it), in both roles.
 *
 * The harness is the peer: a real OpenSSL endpoint with the same profile
 * (cairn_tls_ctx of a second fixed identity) and a real cairn_session bound
 * to its TLS exporter, so an honest script reaches READY on both sides. The
 * input is a script of operations that move, split, corrupt, drop or inject
 * the bytes between them (partial and 1-byte records, raw records and alerts,
 * a TLS 1.2 or ALPN-less client, close_notify, EOF, garbage inside TLS,
 * time). OpenSSL's randomness is a fixed stream (RAND_set_rand_method), the
 * keys are fixed, so a run is deterministic.
 *
 * Input: byte 0 = flags (bit 0: the connection dials; bits 1-2: the peer's
 * TLS variant when it dials: honest, TLS 1.2 only, no ALPN, ALPN "h2"), then
 * operations (see `enum op`), at most MAX_OPS.
 *
 * Oracles:
 *  - the connection's state only moves forward (TLS_HANDSHAKE -> OPEN -> DONE);
 *  - a session exists only once TLS finished with ALPN cairn/1, and the peer
 *    a READY session reports is the harness's identity;
 *  - a connection that ended without a session says why (cairn_conn_error);
 *  - not one byte is written to the socket after the connection is DONE;
 *  - bytes held stay bounded (cairn_conn_buffered);
 *  - an honest script (nothing corrupted, dropped, injected or closed, no
 *    long pause) ends with both sessions READY and a Ping answered: the
 *    profile never locks out an honest peer, whatever the record split --
 *    unless the peer wrote 1024 records of less than 8192 bytes in all
 *    (OP_TINY breaks SEC-12), when the connection may close the session
 *    with PROTOCOL_VIOLATION [SEC-11], and only then;
 *  - nothing leaks (the counting allocator of the connection's env; ASan).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RAND_set_rand_method: deterministic runs */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "cairn/crypto.h"
#include "cairn/net.h"
#include "common.h"

#define MAX_OPS       96
#define MAX_BUFFERED  (4u << 20)
#define HONEST_ROUNDS 64
/* Connection steps per input before pieces are pushed whole: 1-byte pieces
 * of 64 KiB of 1-byte records made single inputs run for seconds. */
#define MAX_STEPS 2048

/* ---- fixed randomness for OpenSSL ------------------------------------------- */

static uint64_t rand_state;

static int det_bytes(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i++) {
        rand_state ^= rand_state << 13;
        rand_state ^= rand_state >> 7;
        rand_state ^= rand_state << 17;
        buf[i] = (unsigned char)(rand_state >> 24);
    }
    return 1;
}

static int det_seed(const void *buf, int num)
{
    (void)buf;
    (void)num;
    return 1;
}

static int det_add(const void *buf, int num, double entropy)
{
    (void)buf;
    (void)num;
    (void)entropy;
    return 1;
}

static int det_status(void)
{
    return 1;
}

static const RAND_METHOD det_rand = {det_seed, det_bytes, NULL, det_add, det_bytes, det_status};

/* ---- fixed identities and TLS contexts --------------------------------------- */

static cairn_identity *node_key, *peer_key;
static cairn_tls_ctx *node_tls[2], *peer_tls[2]; /* [server] */
static const uint8_t network[32] = {0xc4, 0x1e, 0x00, 0x01};

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    rand_state = 0x9e3779b97f4a7c15u;
    FUZZ_CHECK(RAND_set_rand_method(&det_rand) == 1, "RAND_set_rand_method failed");
    uint8_t seed[32];
    memset(seed, 0x11, sizeof(seed));
    FUZZ_CHECK(cairn_identity_from_seed(&node_key, seed) == 0, "identity");
    memset(seed, 0x22, sizeof(seed));
    FUZZ_CHECK(cairn_identity_from_seed(&peer_key, seed) == 0, "identity");
    for (int server = 0; server < 2; server++) {
        FUZZ_CHECK(cairn_tls_ctx_new(&node_tls[server], node_key, server) == 0, "tls ctx");
        FUZZ_CHECK(cairn_tls_ctx_new(&peer_tls[server], peer_key, server) == 0, "tls ctx");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    init_once();
    return 0;
}

/* ---- the run ----------------------------------------------------------------- */

enum op {
    OP_PUMP,       /* peer reads, runs TLS and its session, writes all */
    OP_PUMP_SPLIT, /* the same, written in pieces of n bytes, the conn reading each */
    OP_RAW,        /* n raw bytes into the TLS stream */
    OP_FLIP,       /* flip a byte of the peer's next output */
    OP_DROP,       /* drop the peer's pending output */
    OP_SHUTDOWN,   /* the peer sends close_notify */
    OP_APP_RAW,    /* n bytes of plaintext inside the peer's TLS (not a session) */
    OP_PING,       /* the peer's session pings */
    OP_TINY,       /* the peer writes its session bytes one byte per record from now */
    OP_EOF,        /* the peer closes its writing side */
    OP_TICK,       /* the clock advances n * 16 ms; both sessions tick */
    OP_CONN,       /* only the connection runs (read + flush) */
    OP_CLOSE,      /* our session closes */
    N_OPS
};

typedef struct peer {
    SSL *ssl;
    BIO *rbio, *wbio;
    cairn_session *sess;
    int ready, tiny, pongs;
    /* [SEC-11] its application-data records, in the receiver's windows of
     * 1024; tiny_window: one of them carried less than 8192 bytes */
    unsigned win_records;
    size_t win_bytes;
    int tiny_window;
} peer;

typedef struct run {
    fuzz_in in;
    fuzz_env cenv, penv; /* the connection's and the peer's environments */
    int sock;            /* the peer's end of the socketpair */
    int initiator;       /* the connection dials */
    cairn_conn *conn;
    int state, tampered, eof_sent, conn_ready, steps;
    uint64_t pause_ms;
    peer p;
    uint8_t out[1 << 16]; /* the peer's TLS output, not yet written */
    size_t out_len;
    int flip_next;
    uint8_t flip_mask;
    uint16_t flip_pos;
} run;

static void on_conn_ready(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    run *r = ud;
    (void)s;
    FUZZ_CHECK(memcmp(info->node_key, cairn_identity_public(peer_key), 32) == 0,
               "the connection's session reports another peer");
    r->conn_ready = 1;
}

static void on_peer_ready(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    run *r = ud;
    (void)s;
    FUZZ_CHECK(memcmp(info->node_key, cairn_identity_public(node_key), 32) == 0,
               "the harness's session reports another peer");
    r->p.ready = 1;
}

static void on_peer_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    run *r = ud;
    (void)s;
    (void)m;
    if (type == CAIRN_T_PONG)
        r->p.pongs++;
}

static void session_config(cairn_session_config *cfg, const cairn_identity *id)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->identity = id;
    memcpy(cfg->network_id, network, 32);
    cfg->user_agent = "fuzz";
}

/* The connection's state moves forward only; a session only after TLS. */
static void check_conn(run *r)
{
    int st = cairn_conn_state(r->conn);
    FUZZ_CHECK(st >= r->state, "connection state went back from %d to %d", r->state, st);
    r->state = st;
    if (st == CAIRN_CONN_TLS_HANDSHAKE)
        FUZZ_CHECK(cairn_conn_session(r->conn) == NULL, "a session before TLS finished");
    if (st == CAIRN_CONN_DONE && !cairn_conn_session(r->conn)) {
        const char *why = cairn_conn_error(r->conn);
        FUZZ_CHECK(why && why[0], "the connection ended without a session and without a reason");
    }
    FUZZ_CHECK(cairn_conn_buffered(r->conn) <= MAX_BUFFERED, "%zu bytes buffered",
               cairn_conn_buffered(r->conn));
}

/* Everything the connection wrote, into the peer's TLS. */
static void peer_pull(run *r)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            break;
        FUZZ_CHECK(BIO_write(r->p.rbio, buf, (int)n) == n, "BIO_write");
    }
}

static void conn_step(run *r)
{
    int was_done = r->state == CAIRN_CONN_DONE;
    r->steps++;
    if (was_done)
        peer_pull(r); /* whatever it wrote while finishing */
    cairn_conn_on_readable(r->conn);
    cairn_conn_flush(r->conn);
    check_conn(r);
    if (was_done) {
        uint8_t b;
        ssize_t n = recv(r->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK);
        FUZZ_CHECK(n < 0 || r->eof_sent, "the connection wrote after it was done");
    }
}

/* One application-data record of n bytes written by the peer (SSL_write
 * of at most 16384 bytes writes one record). */
static void peer_record(peer *p, size_t n)
{
    p->win_bytes += n;
    if (++p->win_records == 1024) {
        p->tiny_window |= p->win_bytes < 8192;
        p->win_records = 0;
        p->win_bytes = 0;
    }
}

/* Runs the peer's TLS and session on what it has received. */
static void peer_progress(run *r)
{
    peer *p = &r->p;
    if (!p->sess) {
        int rv = SSL_do_handshake(p->ssl);
        if (rv != 1) {
            if (getenv("FUZZ_TLS_DEBUG") && SSL_get_error(p->ssl, rv) == SSL_ERROR_SSL)
                ERR_print_errors_fp(stderr);
            goto collect;
        }
        /* Only an honest variant reaches here with ALPN cairn/1. */
        const unsigned char *alpn;
        unsigned int alpn_len;
        SSL_get0_alpn_selected(p->ssl, &alpn, &alpn_len);
        if (alpn_len != 7 || memcmp(alpn, CAIRN_ALPN, 7) != 0)
            goto collect;
        uint8_t binding[CAIRN_BINDING_LEN];
        static const char label[] = CAIRN_EXPORTER_LABEL;
        FUZZ_CHECK(SSL_export_keying_material(p->ssl, binding, sizeof(binding), label,
                                              sizeof(label) - 1, NULL, 0, 0) == 1,
                   "exporter");
        cairn_session_config cfg;
        session_config(&cfg, peer_key);
        cfg.initiator = !r->initiator;
        cfg.binding = binding;
        cfg.binding_len = sizeof(binding);
        cairn_session_callbacks cb = {.on_ready = on_peer_ready, .on_message = on_peer_message};
        FUZZ_CHECK(cairn_session_new(&p->sess, &cfg, &cb, r, &r->penv.env) == 0, "session");
    }
    uint8_t buf[16384];
    for (;;) {
        int n = SSL_read(p->ssl, buf, sizeof(buf));
        if (n <= 0)
            break;
        cairn_session_recv(p->sess, buf, (size_t)n);
    }
    const uint8_t *data;
    size_t n;
    while ((n = cairn_session_pending(p->sess, &data)) > 0) {
        int w = SSL_write(p->ssl, data, p->tiny ? 1 : (int)(n > 16384 ? 16384 : n));
        if (w <= 0)
            break;
        peer_record(p, (size_t)w);
        cairn_session_sent(p->sess, (size_t)w);
    }
collect:
    ERR_clear_error();
    while (BIO_ctrl_pending(p->wbio) && r->out_len < sizeof(r->out)) {
        int got = BIO_read(p->wbio, r->out + r->out_len, (int)(sizeof(r->out) - r->out_len));
        if (got <= 0)
            break;
        r->out_len += (size_t)got;
    }
}

/* Writes bytes to the connection's socket, letting it read when full. */
static void sock_write(run *r, const uint8_t *b, size_t n)
{
    if (r->eof_sent)
        return;
    for (int spins = 0; n && spins < 64; spins++) {
        ssize_t w = send(r->sock, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return; /* the connection is gone */
            conn_step(r);
            continue;
        }
        b += w;
        n -= (size_t)w;
    }
}

/* Writes the peer's pending output in pieces of `piece` bytes (0 = whole). */
static void peer_push(run *r, size_t piece)
{
    if (r->flip_next && r->out_len) {
        r->out[r->flip_pos % r->out_len] ^= r->flip_mask ? r->flip_mask : 1;
        r->flip_next = 0;
    }
    size_t off = 0;
    while (off < r->out_len) {
        if (r->steps > MAX_STEPS)
            piece = 0;
        size_t n = piece && piece < r->out_len - off ? piece : r->out_len - off;
        sock_write(r, r->out + off, n);
        off += n;
        if (piece)
            conn_step(r);
    }
    r->out_len = 0;
}

static void pump(run *r, size_t piece)
{
    peer_pull(r);
    peer_progress(r);
    peer_push(r, piece);
    conn_step(r);
}

static void tick(run *r, uint64_t ms)
{
    r->cenv.now += ms;
    r->penv.now = r->cenv.now;
    r->cenv.wall += ms;
    r->penv.wall = r->cenv.wall;
    cairn_session *cs = cairn_conn_session(r->conn);
    if (cs && cairn_session_deadline(cs) <= r->cenv.now)
        cairn_session_tick(cs);
    if (r->p.sess && cairn_session_deadline(r->p.sess) <= r->penv.now)
        cairn_session_tick(r->p.sess);
}

static void op(run *r, int o)
{
    size_t n;
    const uint8_t *b;
    switch (o) {
    case OP_PUMP:
        pump(r, 0);
        break;
    case OP_PUMP_SPLIT:
        pump(r, (size_t)fuzz_u8(&r->in) + 1);
        break;
    case OP_RAW:
        b = fuzz_bytes(&r->in, fuzz_u8(&r->in), &n);
        sock_write(r, b, n);
        r->tampered = 1;
        conn_step(r);
        break;
    case OP_FLIP:
        r->flip_next = 1;
        r->flip_mask = fuzz_u8(&r->in);
        r->flip_pos = fuzz_u16(&r->in);
        r->tampered = 1;
        break;
    case OP_DROP:
        peer_pull(r);
        peer_progress(r);
        r->tampered |= r->out_len > 0;
        r->out_len = 0;
        break;
    case OP_SHUTDOWN:
        SSL_shutdown(r->p.ssl);
        ERR_clear_error();
        r->tampered = 1;
        pump(r, 0);
        break;
    case OP_APP_RAW:
        b = fuzz_bytes(&r->in, fuzz_u8(&r->in), &n);
        if (n && SSL_is_init_finished(r->p.ssl)) {
            if (SSL_write(r->p.ssl, b, (int)n) > 0)
                peer_record(&r->p, n);
            ERR_clear_error();
            r->tampered = 1;
        }
        pump(r, 0);
        break;
    case OP_PING:
        if (r->p.sess && r->p.ready)
            cairn_session_ping(r->p.sess, NULL);
        pump(r, 0);
        break;
    case OP_TINY:
        r->p.tiny = 1;
        break;
    case OP_EOF:
        if (!r->eof_sent)
            shutdown(r->sock, SHUT_WR);
        r->eof_sent = 1;
        r->tampered = 1;
        conn_step(r);
        break;
    case OP_TICK:
        n = (size_t)fuzz_u8(&r->in) * 16;
        r->pause_ms += n;
        if (r->pause_ms >= 2000)
            r->tampered = 1; /* long enough for a timeout to be fair */
        tick(r, n);
        pump(r, 0);
        break;
    case OP_CONN:
        conn_step(r);
        break;
    case OP_CLOSE:
        if (cairn_conn_session(r->conn)) {
            cairn_session_close(cairn_conn_session(r->conn), CAIRN_E_SHUTDOWN, "fuzz");
            r->tampered = 1;
        }
        conn_step(r);
        break;
    }
}

static int peer_new(run *r, int variant)
{
    peer *p = &r->p;
    p->ssl = SSL_new(cairn_tls_ctx_openssl(peer_tls[r->initiator]));
    p->rbio = BIO_new(BIO_s_mem());
    p->wbio = BIO_new(BIO_s_mem());
    FUZZ_CHECK(p->ssl && p->rbio && p->wbio, "SSL_new");
    BIO_set_mem_eof_return(p->rbio, -1);
    SSL_set_bio(p->ssl, p->rbio, p->wbio);
    if (r->initiator) {
        SSL_set_accept_state(p->ssl);
        return 0;
    }
    SSL_set_connect_state(p->ssl);
    switch (variant) {
    case 1: /* [TLS-5] TLS 1.3 only: a TLS 1.2 client is refused */
        SSL_set_min_proto_version(p->ssl, TLS1_2_VERSION);
        SSL_set_max_proto_version(p->ssl, TLS1_2_VERSION);
        return 1;
    case 2: /* no ALPN */
        SSL_set_alpn_protos(p->ssl, NULL, 0);
        return 1;
    case 3:
        SSL_set_alpn_protos(p->ssl, (const unsigned char *)"\x02h2", 3);
        return 1;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    init_once();
    rand_state = 0x9e3779b97f4a7c15u; /* the same randomness for every run */
    /* The servers' session caches would otherwise remember the last run's
     * session IDs, which the fixed randomness draws again: OpenSSL then
     * fails the handshake (ssl_generate_session_id) and runs differ. */
    for (int server = 0; server < 2; server++) {
        SSL_CTX_flush_sessions(cairn_tls_ctx_openssl(node_tls[server]), 0);
        SSL_CTX_flush_sessions(cairn_tls_ctx_openssl(peer_tls[server]), 0);
    }
    static run r;
    memset(&r, 0, sizeof(r));
    r.in = (fuzz_in){data, data + size};
    fuzz_env_init(&r.cenv, 1);
    fuzz_env_init(&r.penv, 2);
    uint8_t flags = fuzz_u8(&r.in);
    r.initiator = flags & 1;
    r.tampered = peer_new(&r, (flags >> 1) & 3);

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "fcntl");
    r.sock = sv[1];
    cairn_session_config cfg;
    session_config(&cfg, node_key);
    cairn_session_callbacks cb = {.on_ready = on_conn_ready};
    int rv = cairn_conn_new(&r.conn, sv[0], r.initiator, node_tls[!r.initiator], &cfg, &cb, &r,
                            &r.cenv.env);
    FUZZ_CHECK(rv == 0, "cairn_conn_new: %d", rv);
    r.state = cairn_conn_state(r.conn);
    FUZZ_CHECK(r.state == CAIRN_CONN_TLS_HANDSHAKE, "a TLS connection starts in %d", r.state);
    cairn_conn_flush(r.conn);

    for (int i = 0; i < MAX_OPS && fuzz_left(&r.in); i++)
        op(&r, fuzz_u8(&r.in) % N_OPS);

    /* An honest script: both sides reach READY and a Ping is answered. */
    if (!r.tampered) {
        r.flip_next = 0;
        int pinged = 0;
        for (int i = 0; i < HONEST_ROUNDS && !(r.p.pongs && pinged); i++) {
            if (r.p.ready && r.conn_ready && !pinged)
                pinged = cairn_session_ping(r.p.sess, NULL) == 0;
            pump(&r, 0);
        }
        cairn_session *cs = cairn_conn_session(r.conn);
        const cairn_close_info *ci = cs ? cairn_session_close_info(cs) : NULL;
        if (ci && !ci->by_peer && ci->code == CAIRN_E_PROTOCOL_VIOLATION) {
            /* [SEC-11] only after a window of tiny records */
            FUZZ_CHECK(r.p.tiny_window, "closed for tiny records (%s) without a tiny window",
                       ci->message);
        } else {
            FUZZ_CHECK(r.state == CAIRN_CONN_OPEN && r.conn_ready && r.p.ready,
                       "an honest peer was not served: conn state %d (%s), READY %d/%d", r.state,
                       cairn_conn_error(r.conn), r.conn_ready, r.p.ready);
            FUZZ_CHECK(r.p.pongs > 0, "an honest Ping was not answered");
        }
    }

    cairn_conn_del(r.conn);
    close(r.sock);
    cairn_session_del(r.p.sess);
    SSL_free(r.p.ssl);
    ERR_clear_error();
    FUZZ_CHECK(r.cenv.live == 0, "the connection leaked %ld allocations", r.cenv.live);
    return 0;
}
