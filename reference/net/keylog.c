/*
 * TLS key logging for packet captures: the secrets of every TLS session of a
 * context, written in the NSS key log format that Wireshark and tshark read
 * (-o tls.keylog_file:FILE), the convention of curl and browsers
 * (SSLKEYLOGFILE). Anyone who reads the file can decrypt the traffic, so
 * programs turn it on only when asked and say so in their log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "cairn/net.h"
#include "tls_internal.h"

/* The SSL_CTX ex_data slot that holds the key log's descriptor + 1 (0 = none),
 * closed by OpenSSL when the context is freed. */
static int keylog_index = -1;
static CRYPTO_ONCE keylog_once = CRYPTO_ONCE_STATIC_INIT;

static void keylog_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    intptr_t fd = (intptr_t)ptr - 1;
    if (fd >= 0)
        close((int)fd);
}

static void keylog_init(void)
{
    keylog_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, keylog_free);
}

/* One line per secret ("CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random>
 * <secret>", ...), written with a single write() on an O_APPEND descriptor so
 * that lines from several contexts or processes sharing the file never
 * interleave. A failed write loses a line of a debugging aid, nothing more. */
static void keylog_line(const SSL *ssl, const char *line)
{
    intptr_t fd = (intptr_t)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keylog_index) - 1;
    char buf[512];
    size_t n = strlen(line);
    if (fd < 0 || n + 1 > sizeof(buf))
        return;
    memcpy(buf, line, n);
    buf[n++] = '\n';
    ssize_t w;
    do
        w = write((int)fd, buf, n);
    while (w < 0 && errno == EINTR);
}

int cairn_tls_ctx_set_keylog(cairn_tls_ctx *c, const char *path)
{
    if (!c || !path || !*path || !CRYPTO_THREAD_run_once(&keylog_once, keylog_init) ||
        keylog_index < 0)
        return CAIRN_ERR_INVALID_ARG;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return CAIRN_ERR_INVALID_ARG;
    intptr_t old = (intptr_t)SSL_CTX_get_ex_data(c->ssl_ctx, keylog_index) - 1;
    if (!SSL_CTX_set_ex_data(c->ssl_ctx, keylog_index, (void *)(intptr_t)(fd + 1))) {
        int e = errno;
        close(fd);
        errno = e;
        return CAIRN_ERR_NOMEM;
    }
    if (old >= 0)
        close((int)old);
    SSL_CTX_set_keylog_callback(c->ssl_ctx, keylog_line);
    return 0;
}
