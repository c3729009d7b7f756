/* Connections of the harness: TCP, TLS through OpenSSL, frames as they arrive. */
#ifndef CAIRN_CONFORM_WIRE_H
#define CAIRN_CONFORM_WIRE_H

#include <netinet/in.h>
#include <openssl/ssl.h>

#include "conform.h"

/* What arrived on a connection, in order. */
enum cf_rx_kind {
    RX_FRAME = 1, /* a complete frame with a valid magic */
    RX_CLOSE,     /* EOF, reset, or TLS close */
    RX_TLS_ALERT, /* the TLS handshake failed or an alert arrived */
    RX_GARBAGE,   /* bytes that are not a frame (bad magic, absurd length) */
};

typedef struct cf_rx {
    int kind;
    uint16_t type;
    uint8_t *payload; /* RX_FRAME, RX_GARBAGE */
    size_t len;
    uint64_t t_ms;
    int seen; /* the harness has observed it (invariants, bookkeeping) */
    char info[160];
} cf_rx;

typedef struct cf_conn cf_conn;
typedef void (*cf_conn_log_fn)(void *ud, cf_conn *c, int outbound, const cf_rx *rx);

struct cf_conn {
    char name[48];
    int fd;
    SSL *ssl;
    int initiator;
    int eof;          /* the peer closed or reset */
    int local_closed; /* we closed */
    int desync;       /* framing lost: the rest is garbage */
    uint8_t *in;      /* plaintext not yet framed */
    size_t in_len, in_cap;
    cf_rx *q; /* arrived, not yet consumed */
    size_t q_len, q_cap;
    cf_conn_log_fn log;
    void *log_ud;
    char tls_error[160];
    uint8_t binding[32];
    int has_binding;
};

/* Dials host:port from `src` (may be NULL). Returns a connected socket or -1. */
int cf_tcp_dial(const char *hostport, const struct in_addr *src, int timeout_ms, char *err,
                size_t errlen);
/* Listens on 127.0.0.1 with a kernel-chosen port; returns fd, writes "127.0.0.1:PORT". */
int cf_tcp_listen(char *addr, size_t n);
/* The same on another loopback address (host byte order), e.g. 127.0.0.2. */
int cf_tcp_listen_at(uint32_t host, char *addr, size_t n);
/* Accepts with a timeout; -1 on timeout. */
int cf_tcp_accept(int lfd, int timeout_ms);

cf_conn *cf_conn_new(int fd, const char *name, int initiator);
void cf_conn_free(cf_conn *c);
/*
 * Runs the TLS handshake over the connection's socket (client when
 * initiator). On failure queues RX_TLS_ALERT (with the alert or reason) and
 * returns -1. On success stores the exporter value as channel binding.
 */
int cf_conn_tls(cf_conn *c, SSL_CTX *ctx, int timeout_ms);
/*
 * Resumes `sess` with `early` sent as 0-RTT data, then completes the
 * handshake. *accepted tells whether the server took the early data. Returns
 * the bytes of early data written, or -1 (RX_TLS_ALERT queued) on failure.
 */
int cf_conn_tls_early(cf_conn *c, SSL_CTX *ctx, SSL_SESSION *sess, const uint8_t *early, size_t n,
                      int timeout_ms, int *accepted);
/* Writes all of `p` (through TLS when on). Returns 0, or -1 when the peer is gone. */
int cf_conn_write(cf_conn *c, const uint8_t *p, size_t n);
/* Waits up to timeout_ms for input, then reads what is there into events. */
int cf_conn_pump(cf_conn *c, int timeout_ms);
/* Removes the first `n` events. */
void cf_conn_consume(cf_conn *c, size_t idx);
/* Closes our side: TLS close_notify, then shutdown; `abort` resets instead. */
void cf_conn_close(cf_conn *c, int abort);

/* A TLS context with the spec's profile (net.h) or with overrides for tests. */
SSL_CTX *cf_tls_ctx(const cairn_identity *id, int server, const char *alpn, int tls12, char *err,
                    size_t errlen);

#endif
