#ifndef CAIRN_TLS_INTERNAL_H
#define CAIRN_TLS_INTERNAL_H

#include <openssl/ssl.h>

struct cairn_tls_ctx {
    SSL_CTX *ssl_ctx;
    int server;
    BIO_METHOD *bio; /* conn.c's BIO: records to and from the connection's buffers */
};

/* conn.c: the BIO method every connection of a context uses (NULL on failure). */
BIO_METHOD *cairn_conn_bio_method(void);

#endif
