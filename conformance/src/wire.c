/* Harness connections: sockets, TLS, and framing of what arrives (never validating it here). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "cairn/net.h"
#include "cairn/session.h"
#include "capture.h"
#include "wire.h"

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int cf_tcp_dial(const char *hostport, const struct in_addr *src, int timeout_ms, char *err,
                size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (cairn_net_parse_addr(hostport, &ss, &sl)) {
        snprintf(err, errlen, "bad address %s", hostport);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (src && ss.ss_family == AF_INET) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr = *src;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
            snprintf(err, errlen, "bind source: %s", strerror(errno));
            close(fd);
            return -1;
        }
    }
    set_nonblock(fd);
    if (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect %s: %s", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
        snprintf(err, errlen, "connect %s: timed out", hostport);
        close(fd);
        return -1;
    }
    int e = cairn_net_connect_result(fd);
    if (e) {
        snprintf(err, errlen, "connect %s: %s", hostport, strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

int cf_tcp_listen_at(uint32_t host, char *addr, size_t n)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(host);
    int fd = cairn_net_listen((struct sockaddr *)&a, sizeof(a), 16);
    if (fd < 0)
        return -1;
    snprintf(addr, n, "%u.%u.%u.%u:%d", host >> 24, host >> 16 & 255, host >> 8 & 255, host & 255,
             cairn_net_local_port(fd));
    return fd;
}

int cf_tcp_listen(char *addr, size_t n)
{
    return cf_tcp_listen_at(INADDR_LOOPBACK, addr, n);
}

int cf_tcp_accept(int lfd, int timeout_ms)
{
    struct pollfd p = {lfd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    return cairn_net_accept(lfd, &ss, &sl);
}

cf_conn *cf_conn_new(int fd, const char *name, int initiator)
{
    cf_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->initiator = initiator;
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

void cf_conn_free(cf_conn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->q_len; i++)
        free(c->q[i].payload);
    free(c->q);
    free(c->in);
    free(c);
}

static cf_rx *push(cf_conn *c, int kind)
{
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 16;
        cf_rx *q = realloc(c->q, cap * sizeof(*q));
        if (!q)
            return NULL;
        c->q = q;
        c->q_cap = cap;
    }
    cf_rx *r = &c->q[c->q_len++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->t_ms = cf_now_ms();
    return r;
}

static void push_close(cf_conn *c, const char *why)
{
    if (c->eof)
        return;
    c->eof = 1;
    cf_rx *r = push(c, RX_CLOSE);
    if (r) {
        snprintf(r->info, sizeof(r->info), "%s", why);
        if (c->log)
            c->log(c->log_ud, c, 0, r);
    }
}

static void tls_failure(cf_conn *c, const char *what)
{
    char buf[160] = "";
    unsigned long e, last = 0;
    while ((e = ERR_get_error()))
        last = e;
    if (last)
        ERR_error_string_n(last, buf, sizeof(buf));
    const char *reason = last ? ERR_reason_error_string(last) : NULL;
    snprintf(c->tls_error, sizeof(c->tls_error), "%s: %s", what,
             reason ? reason : (buf[0] ? buf : "connection closed"));
    cf_rx *r = push(c, RX_TLS_ALERT);
    if (r) {
        snprintf(r->info, sizeof(r->info), "%s", c->tls_error);
        if (c->log)
            c->log(c->log_ud, c, 0, r);
    }
}

static int wait_io(cf_conn *c, int want_write, int timeout_ms)
{
    struct pollfd p = {c->fd, (short)(want_write ? POLLOUT : POLLIN), 0};
    return poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
}

int cf_conn_tls(cf_conn *c, SSL_CTX *ctx, int timeout_ms)
{
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_failure(c, "TLS setup");
        return -1;
    }
    if (c->initiator)
        SSL_set_connect_state(c->ssl);
    else
        SSL_set_accept_state(c->ssl);
    uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        ERR_clear_error();
        int rv = SSL_do_handshake(c->ssl);
        if (rv == 1)
            break;
        int e = SSL_get_error(c->ssl, rv);
        uint64_t now = cf_now_ms();
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && now < deadline) {
            if (wait_io(c, e == SSL_ERROR_WANT_WRITE, (int)(deadline - now)) == 0)
                continue;
        }
        tls_failure(c, now >= deadline ? "TLS handshake timed out" : "TLS handshake failed");
        c->eof = 1;
        return -1;
    }
    static const char label[] = CAIRN_EXPORTER_LABEL;
    if (SSL_export_keying_material(c->ssl, c->binding, sizeof(c->binding), label, sizeof(label) - 1,
                                   NULL, 0, 0) == 1)
        c->has_binding = 1;
    return 0;
}

int cf_conn_tls_early(cf_conn *c, SSL_CTX *ctx, SSL_SESSION *sess, const uint8_t *early, size_t n,
                      int timeout_ms, int *accepted)
{
    *accepted = 0;
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set_session(c->ssl, sess) != 1) {
        tls_failure(c, "TLS setup");
        return -1;
    }
    SSL_set_connect_state(c->ssl);
    uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
    size_t written = 0;
    while (cf_now_ms() < deadline) {
        ERR_clear_error();
        if (SSL_write_early_data(c->ssl, early, n, &written) == 1)
            break;
        int e = SSL_get_error(c->ssl, 0);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            break;
        wait_io(c, e == SSL_ERROR_WANT_WRITE, 50);
    }
    for (;;) {
        ERR_clear_error();
        int rv = SSL_do_handshake(c->ssl);
        if (rv == 1)
            break;
        int e = SSL_get_error(c->ssl, rv);
        uint64_t now = cf_now_ms();
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && now < deadline &&
            wait_io(c, e == SSL_ERROR_WANT_WRITE, (int)(deadline - now)) == 0)
            continue;
        tls_failure(c, "TLS handshake failed");
        c->eof = 1;
        return -1;
    }
    *accepted = SSL_get_early_data_status(c->ssl) == SSL_EARLY_DATA_ACCEPTED;
    static const char label[] = CAIRN_EXPORTER_LABEL;
    if (SSL_export_keying_material(c->ssl, c->binding, sizeof(c->binding), label, sizeof(label) - 1,
                                   NULL, 0, 0) == 1)
        c->has_binding = 1;
    return (int)written;
}

int cf_conn_write(cf_conn *c, const uint8_t *p, size_t n)
{
    if (c->local_closed)
        return -1;
    uint64_t deadline = cf_now_ms() + 10000;
    while (n) {
        long w;
        if (c->ssl) {
            ERR_clear_error();
            int rv = SSL_write(c->ssl, p, (int)(n > 1 << 20 ? 1 << 20 : n));
            if (rv <= 0) {
                int e = SSL_get_error(c->ssl, rv);
                if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) &&
                    cf_now_ms() < deadline) {
                    if (e == SSL_ERROR_WANT_READ)
                        cf_conn_pump(c, 10);
                    else
                        wait_io(c, 1, 50);
                    continue;
                }
                return -1;
            }
            w = rv;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if ((errno == EAGAIN || errno == EINTR) && cf_now_ms() < deadline) {
                    /* the peer is not reading: keep taking its output meanwhile */
                    cf_conn_pump(c, 0);
                    wait_io(c, 1, 50);
                    continue;
                }
                return -1;
            }
        }
        cf_capture_bytes(c, c->fd, c->initiator, 1, p, (size_t)w); /* --pcap */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Cuts complete frames (or garbage) from the plaintext buffer into events. */
static void frame_input(cf_conn *c)
{
    size_t off = 0;
    while (off < c->in_len) {
        uint8_t *p = c->in + off;
        size_t avail = c->in_len - off;
        if (c->desync || (avail >= 1 && p[0] != CAIRN_MAGIC_0) ||
            (avail >= 2 && p[1] != CAIRN_MAGIC_1)) {
            c->desync = 1;
            cf_rx *r = push(c, RX_GARBAGE);
            if (r && (r->payload = malloc(avail))) {
                memcpy(r->payload, p, avail);
                r->len = avail;
                snprintf(r->info, sizeof(r->info), "bytes that are not a Cairn frame");
                if (c->log)
                    c->log(c->log_ud, c, 0, r);
            }
            off += avail;
            break;
        }
        if (avail < CAIRN_FRAME_HEADER_LEN)
            break;
        uint32_t len = cairn_get_u32(p + 4);
        if (len > CAIRN_FRAME_MAX_HARD) {
            c->desync = 1;
            continue; /* reported as garbage by the next round */
        }
        if (avail < CAIRN_FRAME_HEADER_LEN + (size_t)len)
            break;
        cf_rx *r = push(c, RX_FRAME);
        if (!r)
            break;
        r->type = cairn_get_u16(p + 2);
        r->len = len;
        r->payload = malloc(len + 1);
        if (r->payload)
            memcpy(r->payload, p + CAIRN_FRAME_HEADER_LEN, len);
        if (c->log)
            c->log(c->log_ud, c, 0, r);
        off += CAIRN_FRAME_HEADER_LEN + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static int in_reserve(cf_conn *c, size_t n)
{
    if (c->in_len + n <= c->in_cap)
        return 0;
    size_t cap = c->in_cap ? c->in_cap : 65536;
    while (cap < c->in_len + n)
        cap *= 2;
    uint8_t *b = realloc(c->in, cap);
    if (!b)
        return -1;
    c->in = b;
    c->in_cap = cap;
    return 0;
}

int cf_conn_pump(cf_conn *c, int timeout_ms)
{
    if (c->eof || c->fd < 0)
        return 0;
    int pending = c->ssl && SSL_pending(c->ssl) > 0;
    if (!pending) {
        struct pollfd p = {c->fd, POLLIN, 0};
        int rv = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
        if (rv <= 0)
            return 0;
    }
    for (int round = 0; round < 64; round++) {
        if (in_reserve(c, 65536))
            return -1;
        long n;
        if (c->ssl) {
            ERR_clear_error();
            int rv = SSL_read(c->ssl, c->in + c->in_len, 65536);
            if (rv <= 0) {
                int e = SSL_get_error(c->ssl, rv);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                if (e == SSL_ERROR_ZERO_RETURN) {
                    frame_input(c);
                    push_close(c, "TLS close_notify");
                } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                    frame_input(c);
                    push_close(c, errno == ECONNRESET ? "connection reset" : "EOF");
                } else {
                    frame_input(c);
                    unsigned long err = ERR_peek_last_error();
                    const char *reason = err ? ERR_reason_error_string(err) : NULL;
                    if (reason && strstr(reason, "alert")) {
                        tls_failure(c, "TLS alert");
                        c->eof = 1;
                    } else {
                        ERR_clear_error();
                        push_close(c, reason ? reason : "TLS error");
                    }
                }
                return 0;
            }
            n = rv;
        } else {
            n = recv(c->fd, c->in + c->in_len, 65536, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0) {
                frame_input(c);
                push_close(c, n == 0                ? "EOF"
                              : errno == ECONNRESET ? "connection reset"
                                                    : strerror(errno));
                return 0;
            }
        }
        cf_capture_bytes(c, c->fd, c->initiator, 0, c->in + c->in_len, (size_t)n); /* --pcap */
        c->in_len += (size_t)n;
        frame_input(c);
    }
    return 0;
}

void cf_conn_consume(cf_conn *c, size_t idx)
{
    if (idx >= c->q_len)
        return;
    free(c->q[idx].payload);
    memmove(c->q + idx, c->q + idx + 1, (c->q_len - idx - 1) * sizeof(*c->q));
    c->q_len--;
}

void cf_conn_close(cf_conn *c, int abort)
{
    if (c->local_closed || c->fd < 0)
        return;
    c->local_closed = 1;
    if (abort) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(c->fd);
        c->fd = -1;
        return;
    }
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    shutdown(c->fd, SHUT_WR);
}

static int alpn_none_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)s, (void)out, (void)outlen, (void)in, (void)inlen, (void)arg;
    return SSL_TLSEXT_ERR_NOACK; /* select nothing */
}

SSL_CTX *cf_tls_ctx(const cairn_identity *id, int server, const char *alpn, int tls12, char *err,
                    size_t errlen)
{
    cairn_tls_ctx *t;
    if (cairn_tls_ctx_new(&t, id, server)) {
        snprintf(err, errlen, "TLS context");
        return NULL;
    }
    SSL_CTX *ctx = cairn_tls_ctx_openssl(t);
    SSL_CTX_up_ref(ctx);
    cairn_tls_ctx_del(t);
    if (tls12) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    if (alpn && alpn[0]) {
        if (server) {
            /* the harness as a server that does not select cairn/1 */
            SSL_CTX_set_alpn_select_cb(ctx, alpn_none_cb, NULL);
        } else if (!strcmp(alpn, "none")) {
            SSL_CTX_set_alpn_protos(ctx, NULL, 0);
        } else {
            unsigned char buf[64];
            size_t n = strlen(alpn);
            buf[0] = (unsigned char)n;
            memcpy(buf + 1, alpn, n);
            SSL_CTX_set_alpn_protos(ctx, buf, (unsigned)n + 1);
        }
    }
    return ctx;
}
