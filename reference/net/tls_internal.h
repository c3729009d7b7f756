#ifndef CAIRN_TLS_INTERNAL_H
#define CAIRN_TLS_INTERNAL_H

#include <openssl/ssl.h>

struct cairn_tls_ctx {
    SSL_CTX *ssl_ctx;
    int server;
};

#endif
