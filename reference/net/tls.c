/*
 * The TLS 1.3 profile of spec §3: TLS 1.3 only, ALPN "cairn/1" required on
 * both sides, a self-signed certificate made from the node's Ed25519 key
 * (it proves nothing; the Cairn handshake does, bound to this TLS session by
 * the exporter), no client certificate, no renegotiation, no early data.
 * TLS_AES_128_GCM_SHA256, x25519 and ed25519 are always there (§3.2).
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cairn/net.h"
#include "tls_internal.h"

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char want[] = "\x07" CAIRN_ALPN;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, want, sizeof(want) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/*
 * [TLS-10] A ClientHello without ALPN never reaches the ALPN callback, so it
 * is refused here, before the handshake goes on, with the same alert.
 */
static int client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    const unsigned char *ext;
    size_t len;
    /* A client without TLS 1.3 gets the version negotiation's protocol_version
     * alert first: the version is the first thing wrong with it. */
    int tls13 = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &ext, &len) && len >= 1)
        for (size_t i = 1; i + 1 < len && i + 1 <= ext[0]; i += 2)
            tls13 |= ext[i] == 0x03 && ext[i + 1] == 0x04;
    if (!tls13)
        return SSL_CLIENT_HELLO_SUCCESS;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                   &len)) {
        *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static X509 *self_signed(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"cairn node", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, pkey, NULL)) { /* Ed25519 signs without a digest */
        X509_free(x);
        return NULL;
    }
    return x;
}

int cairn_tls_ctx_new(cairn_tls_ctx **out, const cairn_identity *id, int server)
{
    *out = NULL;
    uint8_t seed[CAIRN_KEY_LEN];
    if (cairn_identity_seed(id, seed))
        return CAIRN_ERR_CRYPTO;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, sizeof(seed));
    OPENSSL_cleanse(seed, sizeof(seed));
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    X509 *cert = pkey ? self_signed(pkey) : NULL;
    int rv = CAIRN_ERR_CRYPTO;
    if (!ctx || !cert)
        goto out;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* [TLS-28] [TLS-16] [TLS-17] nothing about the peer's certificate is checked:
     * TLS 1.3 still checks CertificateVerify under its key; identity is Auth's. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* [TLS-23] [TLS-24] [TLS-26] the mandatory parameters, offered first and
     * always accepted, whatever the system's OpenSSL configuration says. */
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:X448:P-521:P-384") != 1)
        goto out;
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1)
        goto out;
    if (server) {
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
        SSL_CTX_set_client_hello_cb(ctx, client_hello, NULL);
        SSL_CTX_set_max_early_data(ctx, 0);
    } else {
        static const unsigned char protos[] = "\x07" CAIRN_ALPN;
        if (SSL_CTX_set_alpn_protos(ctx, protos, sizeof(protos) - 1) != 0)
            goto out;
    }
    cairn_tls_ctx *c = OPENSSL_zalloc(sizeof(*c));
    if (!c)
        goto out;
    if (!(c->bio = cairn_conn_bio_method())) {
        OPENSSL_free(c);
        goto out;
    }
    c->ssl_ctx = ctx;
    c->server = server;
    ctx = NULL;
    *out = c;
    rv = 0;
out:
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rv;
}

void cairn_tls_ctx_del(cairn_tls_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ssl_ctx);
    BIO_meth_free(c->bio);
    OPENSSL_free(c);
}

void *cairn_tls_ctx_openssl(cairn_tls_ctx *c)
{
    return c->ssl_ctx;
}
