/*
 * The transport helper shared by cairnd, the cairn client and cairn-conform:
 * TCP sockets, the TLS 1.3 profile of spec §3 (OpenSSL through memory BIOs,
 * so TLS too is bytes in / bytes out), and a connection object that moves
 * bytes between a non-blocking socket, TLS and a cairn_session.
 *
 * It knows nothing of events: callers (libevent in the node, poll() in the
 * client) tell it when the socket is readable or writable.
 */
#ifndef CAIRN_NET_H
#define CAIRN_NET_H

#include <sys/socket.h>

#include "cairn/session.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- addresses and sockets ------------------------------------------------ */

/* Parses "HOST:PORT" or "[V6]:PORT" (numeric hosts and "localhost"). */
int cairn_net_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);
/* "127.0.0.1:7317" / "[::1]:7317" into buf (64 bytes is enough). */
void cairn_net_format_addr(const struct sockaddr *sa, char *buf, size_t n);
/* Non-blocking listening socket (SO_REUSEADDR); returns fd or -1 (errno). */
int cairn_net_listen(const struct sockaddr *sa, socklen_t len, int backlog);
/* Starts a non-blocking connect; returns fd or -1. Completion: writable. */
int cairn_net_connect(const struct sockaddr *sa, socklen_t len);
/* Accepts a connection as a non-blocking socket with TCP_NODELAY; fd or -1. */
int cairn_net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *len);
/* 0 when a non-blocking connect finished well, else the errno. */
int cairn_net_connect_result(int fd);
/* The port a socket is bound to. */
int cairn_net_local_port(int fd);

/* ---- TLS ---------------------------------------------------------------- */

/* A TLS context for one role, with a self-signed certificate from the node
 * key. TLS 1.3 only, ALPN "cairn/1" required, no renegotiation. */
typedef struct cairn_tls_ctx cairn_tls_ctx;
int cairn_tls_ctx_new(cairn_tls_ctx **out, const cairn_identity *id, int server);
void cairn_tls_ctx_del(cairn_tls_ctx *ctx);
/* The OpenSSL SSL_CTX (as void *), for tools that drive TLS themselves with
 * the same profile (the conformance harness sends raw bytes). */
void *cairn_tls_ctx_openssl(cairn_tls_ctx *ctx);
/* Appends the secrets of every TLS session of `ctx` to the file at `path`
 * (created 0600 if missing) in the NSS key log format, so that Wireshark can
 * decrypt a capture. Programs call it with $SSLKEYLOGFILE and warn that they
 * do. The file stays open until the context is freed. 0, CAIRN_ERR_INVALID_ARG
 * when the file cannot be opened (errno says why), or CAIRN_ERR_NOMEM. */
int cairn_tls_ctx_set_keylog(cairn_tls_ctx *ctx, const char *path);

/* ---- connections ---------------------------------------------------------- */

typedef struct cairn_conn cairn_conn;

enum cairn_conn_state {
    CAIRN_CONN_TLS_HANDSHAKE = 1, /* TLS not done; no session yet */
    CAIRN_CONN_OPEN,              /* the session runs */
    CAIRN_CONN_DONE,              /* close the socket */
};

/*
 * Wraps a connected socket (made non-blocking here). With `tls` NULL the connection is
 * plaintext and the session starts at once; with TLS it starts after the TLS
 * handshake, with the exporter value as channel binding ([AUTH]). `cfg`
 * gives everything for the session but `initiator`, `binding`.
 * Takes ownership of fd.
 */
int cairn_conn_new(cairn_conn **out, int fd, int initiator, cairn_tls_ctx *tls,
                   const cairn_session_config *cfg, const cairn_session_callbacks *cb, void *ud,
                   const cairn_env *env);
/*
 * The same for a session its caller makes and owns (the node core): once the
 * transport is secure (at once in plaintext), `start` is called with the TLS
 * exporter value (NULL in plaintext) and returns the session, or NULL to end
 * the connection. cairn_conn_del does not free that session; delete the
 * connection before the session.
 */
typedef cairn_session *(*cairn_conn_start_fn)(void *ud, const uint8_t *binding, size_t binding_len);
int cairn_conn_new_ext(cairn_conn **out, int fd, int initiator, cairn_tls_ctx *tls,
                       cairn_conn_start_fn start, void *ud, const cairn_env *env);
void cairn_conn_del(cairn_conn *c);

/* The socket is readable: read, decrypt, feed the session. Returns the state. */
int cairn_conn_on_readable(cairn_conn *c);
/* Write what is pending (TLS records, session bytes). Returns the state. */
int cairn_conn_flush(cairn_conn *c);
/* The same without feeding held input to the session: for output another
 * connection's event produced (its own input waits for its own events). */
int cairn_conn_write(cairn_conn *c);
/* Whether anything waits to be written (poll for writable). */
int cairn_conn_want_write(const cairn_conn *c);
/* Whether to poll for readable (not while the session applies backpressure). */
int cairn_conn_want_read(const cairn_conn *c);
int cairn_conn_state(const cairn_conn *c);
int cairn_conn_fd(const cairn_conn *c);
/* NULL until the TLS handshake is done. */
cairn_session *cairn_conn_session(const cairn_conn *c);
/* Why the connection ended, when it did before or without a session. */
const char *cairn_conn_error(const cairn_conn *c);
/*
 * One poll() round for a connection driven on its own (the client, tests):
 * waits at most timeout_ms (less when a session timer is due), then reads,
 * runs the session's timers and writes. Returns the state.
 */
int cairn_conn_poll(cairn_conn *c, int timeout_ms);
/* Bytes held for this connection (buffers, not counting OpenSSL's own). */
size_t cairn_conn_buffered(const cairn_conn *c);

#ifdef __cplusplus
}
#endif
#endif
