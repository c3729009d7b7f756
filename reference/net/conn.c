/*
 * A connection: socket <-> (TLS through the connection's own BIO) <->
 * cairn_session. Reads are bounded per call so one busy peer cannot starve
 * the others; plaintext the session cannot take yet (backpressure) is held,
 * and the socket is not read again until it is taken.
 *
 * Under TLS, OpenSSL reads records straight from the bytes just read from the
 * socket and writes them straight into the output queue (conn_bio_*), instead
 * of through two memory BIOs that copied every byte once more each way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cairn/net.h"
#include "tls_internal.h"

#define READ_CHUNK     (64 * 1024)
#define READS_PER_CALL 4
/* [SEC-7] TLS records are made from session output only while fewer than
 * this many encrypted bytes wait for the socket, so what a non-reading peer
 * pins stays in the session's bounded queue. */
#define TLS_OUT_LOW    (64 * 1024)
#define RECORD_WINDOW  1024 /* [SEC-11] records per window */
#define RECORD_MIN_AVG 8    /* [SEC-11] least average plaintext bytes per record */

struct cairn_conn {
    int fd, initiator, state, shutdown_sent;
    SSL *ssl;
    const uint8_t *rsrc; /* ciphertext just read, lent to TLS during tls_progress */
    size_t rsrc_len;
    cairn_buf rhold; /* ciphertext read but not yet taken by TLS */
    int bio_nomem;   /* an output record could not be queued */
    cairn_session *sess;
    cairn_session_config cfg;
    cairn_session_callbacks cb;
    void *ud;
    cairn_conn_start_fn start; /* the caller makes (and owns) the session */
    const cairn_env *env;
    cairn_buf in;  /* plaintext read but not yet taken by the session */
    cairn_buf out; /* bytes for the socket (TLS records, or plaintext) */
    char err[160];
    uint32_t win_records; /* [SEC-11] TLS records in the current window */
    uint64_t win_bytes;   /* and their plaintext bytes */
};

static int done(cairn_conn *c, const char *why)
{
    if (c->state != CAIRN_CONN_DONE && why && !c->err[0])
        snprintf(c->err, sizeof(c->err), "%s", why);
    if (c->sess && cairn_session_state(c->sess) < CAIRN_SS_CLOSED)
        cairn_session_eof(c->sess);
    c->state = CAIRN_CONN_DONE;
    return c->state;
}

/* ---- the BIO between OpenSSL and the connection's buffers ---------------------- */

/* Ciphertext for TLS: what was held back first, then what was just read. */
static int conn_bio_read(BIO *b, char *out, int len)
{
    cairn_conn *c = BIO_get_data(b);
    size_t n = 0;
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (c->rhold.len) {
        n = c->rhold.len < (size_t)len ? c->rhold.len : (size_t)len;
        memcpy(out, cairn_buf_data(&c->rhold), n);
        cairn_buf_consume(&c->rhold, n);
        if (!c->rhold.len)
            cairn_buf_reset(&c->rhold, 0); /* idle connections hold no buffer */
    } else if (c->rsrc_len) {
        n = c->rsrc_len < (size_t)len ? c->rsrc_len : (size_t)len;
        memcpy(out, c->rsrc, n);
        c->rsrc += n;
        c->rsrc_len -= n;
    }
    if (!n) {
        BIO_set_retry_read(b); /* nothing yet: not an end of file */
        return -1;
    }
    return (int)n;
}

/* Records from TLS go straight into the output queue. */
static int conn_bio_write(BIO *b, const char *in, int len)
{
    cairn_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (cairn_buf_append(&c->out, in, (size_t)len) != 0) {
        c->bio_nomem = 1;
        return -1;
    }
    return len;
}

static long conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* nothing is buffered in the BIO itself */
}

static int conn_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD *cairn_conn_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cairn conn");
    if (m && (!BIO_meth_set_read(m, conn_bio_read) || !BIO_meth_set_write(m, conn_bio_write) ||
              !BIO_meth_set_ctrl(m, conn_bio_ctrl) || !BIO_meth_set_create(m, conn_bio_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

/* Best effort: writes what TLS has queued (a Finished, an alert) before a close. */
static void flush_tls_now(cairn_conn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, cairn_buf_data(&c->out), c->out.len, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        cairn_buf_consume(&c->out, (size_t)w);
    }
}

static int start_session(cairn_conn *c)
{
    uint8_t binding[CAIRN_BINDING_LEN];
    cairn_session_config cfg = c->cfg;
    cfg.initiator = c->initiator;
    if (c->ssl) {
        /* [TLS-21] ALPN must have selected cairn/1 on both sides. */
        const unsigned char *alpn;
        unsigned int alpn_len;
        SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
        if (alpn_len != 7 || memcmp(alpn, CAIRN_ALPN, 7) != 0) {
            /* [TLS-21] leave before any Cairn frame. OpenSSL cannot send the
             * no_application_protocol alert once the client handshake is
             * done (TLS-22); let our Finished out, then close. */
            flush_tls_now(c);
            return done(c, "TLS: peer did not select ALPN cairn/1");
        }
        /* [HS-31] channel binding: the TLS exporter value */
        static const char label[] = CAIRN_EXPORTER_LABEL;
        if (SSL_export_keying_material(c->ssl, binding, sizeof(binding), label, sizeof(label) - 1,
                                       NULL, 0, 0) != 1)
            return done(c, "TLS: exporter failed");
        cfg.binding = binding;
        cfg.binding_len = sizeof(binding);
    }
    if (c->start) {
        c->sess = c->start(c->ud, c->ssl ? binding : NULL, c->ssl ? sizeof(binding) : 0);
        if (!c->sess)
            return done(c, "no session");
        c->state = CAIRN_CONN_OPEN;
        return c->state;
    }
    int rv = cairn_session_new(&c->sess, &cfg, &c->cb, c->ud, c->env);
    if (rv)
        return done(c, cairn_strerror(rv));
    c->state = CAIRN_CONN_OPEN;
    return c->state;
}

static int conn_new(cairn_conn **out, int fd, int initiator, cairn_tls_ctx *tls,
                    const cairn_session_config *cfg, const cairn_session_callbacks *cb,
                    cairn_conn_start_fn start, void *ud, const cairn_env *env)
{
    *out = NULL;
    int fl = fcntl(fd, F_GETFL); /* everything below assumes a non-blocking socket */
    cairn_conn *c = fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0
                        ? NULL
                        : cairn_mem_calloc(env->mem, 1, sizeof(*c));
    if (!c) {
        close(fd);
        return CAIRN_ERR_NOMEM;
    }
    c->fd = fd;
    c->initiator = initiator;
    c->start = start;
    if (cfg)
        c->cfg = *cfg;
    if (cb)
        c->cb = *cb;
    c->ud = ud;
    c->env = env;
    cairn_buf_init(&c->in, env->mem);
    cairn_buf_init(&c->out, env->mem);
    cairn_buf_init(&c->rhold, env->mem);
    if (tls) {
        c->ssl = SSL_new(tls->ssl_ctx);
        BIO *bio = BIO_new(tls->bio);
        if (!c->ssl || !bio) {
            BIO_free(bio);
            cairn_conn_del(c);
            return CAIRN_ERR_CRYPTO;
        }
        BIO_set_data(bio, c);
        SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL */
        if (initiator)
            SSL_set_connect_state(c->ssl);
        else
            SSL_set_accept_state(c->ssl);
        c->state = CAIRN_CONN_TLS_HANDSHAKE;
        SSL_do_handshake(c->ssl); /* the client's first flight goes out now */
    } else if (start_session(c) == CAIRN_CONN_DONE) {
        cairn_conn_del(c);
        return CAIRN_ERR_NOMEM;
    }
    *out = c;
    return 0;
}

int cairn_conn_new(cairn_conn **out, int fd, int initiator, cairn_tls_ctx *tls,
                   const cairn_session_config *cfg, const cairn_session_callbacks *cb, void *ud,
                   const cairn_env *env)
{
    return conn_new(out, fd, initiator, tls, cfg, cb, NULL, ud, env);
}

int cairn_conn_new_ext(cairn_conn **out, int fd, int initiator, cairn_tls_ctx *tls,
                       cairn_conn_start_fn start, void *ud, const cairn_env *env)
{
    return conn_new(out, fd, initiator, tls, NULL, NULL, start, ud, env);
}

void cairn_conn_del(cairn_conn *c)
{
    if (!c)
        return;
    if (!c->start)
        cairn_session_del(c->sess);
    SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    cairn_buf_free(&c->in);
    cairn_buf_free(&c->out);
    cairn_buf_free(&c->rhold);
    cairn_mem_free(c->env->mem, c);
}

/* Hands held plaintext to the session; returns 0 when all was taken. */
static int feed_session(cairn_conn *c)
{
    if (!c->in.len)
        return 0;
    long used = cairn_session_recv(c->sess, cairn_buf_data(&c->in), c->in.len);
    if (used < 0)
        used = (long)c->in.len; /* the session failed and is closing */
    cairn_buf_consume(&c->in, (size_t)used);
    if (c->in.len)
        return -1;
    cairn_buf_reset(&c->in, 0); /* idle connections hold no buffer */
    return 0;
}

static void tls_error(cairn_conn *c, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[120];
    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(c->err, sizeof(c->err), "TLS %s: %s", what, e ? buf : "connection closed");
    ERR_clear_error();
}

/* Runs TLS after new ciphertext arrived: handshake, then decryption. */
static int tls_progress(cairn_conn *c)
{
    if (c->state == CAIRN_CONN_TLS_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return c->state;
            tls_error(c, "handshake");
            flush_tls_now(c); /* the alert (protocol_version, no_application_protocol) */
            return done(c, NULL);
        }
        if (start_session(c) == CAIRN_CONN_DONE)
            return c->state;
    }
    uint8_t buf[16384];
    while (!c->in.len && cairn_session_want_read(c->sess)) {
        int n = SSL_read(c->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_ZERO_RETURN)
                return done(c, "peer sent close_notify");
            tls_error(c, "read");
            return done(c, NULL);
        }
        /* [SEC-11] SSL_read returns one record at most: a peer whose records
         * carry less than a frame header on average spends our CPU, not its data */
        c->win_bytes += (uint64_t)n;
        if (++c->win_records == RECORD_WINDOW) {
            int tiny = c->win_bytes < (uint64_t)RECORD_WINDOW * RECORD_MIN_AVG;
            c->win_records = 0;
            c->win_bytes = 0;
            if (tiny) {
                cairn_session_close(c->sess, CAIRN_E_PROTOCOL_VIOLATION,
                                    "TLS records below 8 bytes on average");
                return c->state;
            }
        }
        /* The session takes the plaintext from here; only what it
         * cannot take yet is copied into c->in */
        long used = cairn_session_recv(c->sess, buf, (size_t)n);
        if (used < 0)
            used = n; /* the session failed and is closing */
        if (used < n && cairn_buf_append(&c->in, buf + used, (size_t)(n - used)))
            return done(c, "out of memory");
    }
    return c->state;
}

int cairn_conn_on_readable(cairn_conn *c)
{
    if (c->state == CAIRN_CONN_DONE)
        return c->state;
    if (c->sess && feed_session(c) != 0)
        return c->state; /* still backpressured: do not read more */
    if (c->ssl && c->state == CAIRN_CONN_OPEN && tls_progress(c) == CAIRN_CONN_DONE)
        return c->state; /* plaintext already decrypted but not yet taken */
    /* Read into the stack, feed the session from there, and keep only what
     * it could not take yet: an idle connection holds no read buffer. */
    uint8_t tmp[READ_CHUNK];
    for (int i = 0; i < READS_PER_CALL && c->state != CAIRN_CONN_DONE; i++) {
        if (c->in.len || c->rhold.len || (c->sess && !cairn_session_want_read(c->sess)))
            break;
        ssize_t n = read(c->fd, tmp, READ_CHUNK);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why[100];
            snprintf(why, sizeof(why), "read: %s", strerror(errno));
            return done(c, why);
        }
        if (n == 0)
            return done(c, "connection closed by peer");
        if (c->ssl) {
            c->rsrc = tmp;
            c->rsrc_len = (size_t)n;
            tls_progress(c);
            /* what TLS did not take (the session stopped reading) waits */
            if (c->rsrc_len && c->state != CAIRN_CONN_DONE &&
                cairn_buf_append(&c->rhold, c->rsrc, c->rsrc_len) != 0)
                return done(c, "out of memory");
            c->rsrc_len = 0;
            if (n < READ_CHUNK)
                break; /* the socket is drained: no read() just to hear EAGAIN */
            continue;
        }
        long used = cairn_session_recv(c->sess, tmp, (size_t)n);
        if (used < 0)
            used = n; /* the session failed and is closing */
        if (used < n && cairn_buf_append(&c->in, tmp + used, (size_t)(n - used)))
            return done(c, "out of memory");
        if (n < READ_CHUNK)
            break; /* the socket is drained */
    }
    return c->state;
}

/*
 * Moves session output towards the socket. Plaintext is written straight
 * from the session's buffer (what the socket does not take stays there);
 * under TLS it is encrypted into the write BIO and the records queued in
 * c->out. Returns 0, or the errno of a failed write.
 */
static int collect(cairn_conn *c)
{
    if (c->sess) {
        const uint8_t *data;
        size_t n = cairn_session_pending(c->sess, &data);
        if (!c->ssl) {
            while (n) {
                ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
                if (w < 0)
                    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : errno;
                cairn_session_sent(c->sess, (size_t)w);
                n = cairn_session_pending(c->sess, &data);
            }
            return 0;
        }
        if (n && c->out.len < TLS_OUT_LOW) {
            int w = SSL_write(c->ssl, data, (int)(n > 1 << 20 ? 1 << 20 : n));
            if (w > 0)
                cairn_session_sent(c->sess, (size_t)w);
            else if (c->bio_nomem)
                return ENOMEM;
        }
        if (cairn_session_want_close(c->sess) && !c->shutdown_sent) {
            SSL_shutdown(c->ssl); /* close_notify */
            c->shutdown_sent = 1;
        }
    }
    return c->bio_nomem ? ENOMEM : 0;
}

/* Input read but not yet taken by the session: plaintext held back, or TLS
 * records already read from the socket but not yet decrypted. */
static int held_input(const cairn_conn *c)
{
    return c->in.len || (c->ssl && (c->rhold.len || SSL_pending(c->ssl)));
}

/* Feeds held input once the session takes input again (its output drained
 * below the high-water mark): the socket may never become readable again,
 * the peer having sent everything already. */
static void resume_input(cairn_conn *c)
{
    if (!c->sess || c->state != CAIRN_CONN_OPEN || !cairn_session_want_read(c->sess))
        return;
    if (cairn_session_held(c->sess)) { /* [SEC-8] requests held while output drained */
        static const uint8_t none[1];
        cairn_session_recv(c->sess, none, 0);
    }
    if (!held_input(c) || !cairn_session_want_read(c->sess))
        return;
    if (feed_session(c) == 0 && c->ssl)
        tls_progress(c);
}

/* Writes what is pending; with `resume`, also feeds held input to the session
 * once it takes input again (which may produce more to write). */
static int flush(cairn_conn *c, int resume)
{
    if (c->state == CAIRN_CONN_DONE)
        return c->state;
    for (int i = 0; i < 16; i++) {
        if (resume)
            resume_input(c);
        int err = collect(c);
        if (err) {
            char why[100];
            snprintf(why, sizeof(why), "write: %s", strerror(err));
            return done(c, why);
        }
        if (!c->out.len) {
            if (resume && c->sess && (held_input(c) || cairn_session_held(c->sess)) &&
                cairn_session_want_read(c->sess))
                continue;
            break;
        }
        ssize_t w = send(c->fd, cairn_buf_data(&c->out), c->out.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return c->state;
            char why[100];
            snprintf(why, sizeof(why), "write: %s", strerror(errno));
            return done(c, why);
        }
        cairn_buf_consume(&c->out, (size_t)w);
    }
    if (!c->out.len)
        cairn_buf_reset(&c->out, 64 * 1024);
    if (c->sess && cairn_session_want_close(c->sess) && !c->out.len)
        return done(c, NULL);
    return c->state;
}

int cairn_conn_flush(cairn_conn *c)
{
    return flush(c, 1);
}

int cairn_conn_write(cairn_conn *c)
{
    return flush(c, 0);
}

int cairn_conn_want_write(const cairn_conn *c)
{
    if (c->state == CAIRN_CONN_DONE)
        return 0;
    const uint8_t *d;
    return c->out.len || (c->sess && cairn_session_pending(c->sess, &d));
}

int cairn_conn_want_read(const cairn_conn *c)
{
    if (c->state == CAIRN_CONN_DONE)
        return 0;
    if (!c->sess)
        return 1;
    return !c->in.len && cairn_session_want_read(c->sess);
}

int cairn_conn_state(const cairn_conn *c)
{
    return c->state;
}

int cairn_conn_fd(const cairn_conn *c)
{
    return c->fd;
}

cairn_session *cairn_conn_session(const cairn_conn *c)
{
    return c->sess;
}

const char *cairn_conn_error(const cairn_conn *c)
{
    return c->err;
}

size_t cairn_conn_buffered(const cairn_conn *c)
{
    return c->in.cap + c->out.cap + c->rhold.cap;
}

int cairn_conn_poll(cairn_conn *c, int timeout_ms)
{
    if (c->state == CAIRN_CONN_DONE)
        return c->state;
    if (cairn_conn_flush(c) == CAIRN_CONN_DONE)
        return c->state;
    if (c->sess) {
        uint64_t now = c->env->mono_ms(c->env->ud), dl = cairn_session_deadline(c->sess);
        if (dl != UINT64_MAX && dl <= now)
            timeout_ms = 0;
        else if (dl != UINT64_MAX && dl - now < (uint64_t)timeout_ms)
            timeout_ms = (int)(dl - now);
    }
    struct pollfd pfd = {c->fd, 0, 0};
    if (cairn_conn_want_read(c))
        pfd.events |= POLLIN;
    if (cairn_conn_want_write(c))
        pfd.events |= POLLOUT;
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno != EINTR)
        return done(c, "poll failed");
    if (n > 0 && pfd.revents & (POLLIN | POLLHUP | POLLERR))
        cairn_conn_on_readable(c);
    if (c->sess && c->state != CAIRN_CONN_DONE)
        cairn_session_tick(c->sess);
    return cairn_conn_flush(c);
}
