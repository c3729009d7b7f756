/* The connect step: TCP, TLS variants (mandatory-only, odd certificates, early data), ALPN checks.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cairn/chain.h"
#include "cairn/json.h"
#include "cairn/merkle.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "steps.h"

/*
 * [TLS-7] A first session to get a ticket; when the IUT's ticket allows early
 * data, returns it (the caller resumes with it and sends 0-RTT), else NULL.
 */
/* [TLS-23] [TLS-24] [TLS-25] [TLS-26] Offer (client) or accept (server) only
 * the parameters every node must support. */
static void tls_mandatory_only(SSL_CTX *ctx)
{
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set1_groups_list(ctx, "X25519");
    SSL_CTX_set1_sigalgs_list(ctx, "ed25519");
}

/* After a handshake restricted by tls_mandatory_only: it completed, with
 * those parameters, and a server's certificate holds an Ed25519 key. */
static void check_mandatory(hx *x, SSL *ssl, int ok, int initiator)
{
    const char *req = initiator ? "TLS-26" : "TLS-23";
    if (!ok) {
        hx_violation(x, req,
                     "no TLS handshake with only TLS_AES_128_GCM_SHA256, x25519 and ed25519");
        return;
    }
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (!c || strcmp(SSL_CIPHER_standard_name(c), "TLS_AES_128_GCM_SHA256"))
        hx_violation(x, req, "negotiated %s", c ? SSL_CIPHER_standard_name(c) : "no cipher");
    else if (SSL_get_negotiated_group(ssl) != NID_X25519)
        hx_violation(x, initiator ? "TLS-26" : "TLS-24", "the key exchange did not use x25519");
    if (!initiator)
        return;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    EVP_PKEY *pk = cert ? X509_get0_pubkey(cert) : NULL;
    int nid = 0;
    if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
        !SSL_get_peer_signature_type_nid(ssl, &nid) || nid != NID_ED25519)
        hx_violation(x, "TLS-27",
                     "the server's certificate key or CertificateVerify is not Ed25519");
    X509_free(cert);
}

/*
 * [TLS-16] [TLS-28] Replace the context's certificate by one that a PKIX
 * verifier refuses on every count a Cairn node must not check: its own
 * signature does not verify, serial number 0, version 1, expired long ago.
 * The key stays, so CertificateVerify still verifies.
 */
static int odd_cert(SSL_CTX *ctx)
{
    X509 *c = X509_dup(SSL_CTX_get0_certificate(ctx));
    if (!c)
        return -1;
    X509_set_version(c, 0);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 0);
    X509_gmtime_adj(X509_getm_notBefore(c), -20L * 86400);
    X509_gmtime_adj(X509_getm_notAfter(c), -10L * 86400);
    EVP_PKEY *key = SSL_CTX_get0_privatekey(ctx);
    int rv = -1;
    if (X509_sign(c, key, NULL)) {
        const ASN1_BIT_STRING *sig;
        X509_get0_signature(&sig, NULL, c);
        ((ASN1_BIT_STRING *)sig)->data[5] ^= 0x40; /* after signing: it no longer verifies */
        if (X509_verify(c, key) != 1 && SSL_CTX_use_certificate(ctx, c) == 1)
            rv = 0;
    }
    X509_free(c);
    return rv;
}

static SSL_SESSION *early_ticket(hx *x, const cf_step *st, SSL_CTX *ctx)
{
    char err[256];
    int fd =
        cf_tcp_dial(x->o->target, hx_source(x, st->src), (int)hx_window(x, 5000), err, sizeof(err));
    if (fd < 0)
        return NULL;
    cf_conn *c = cf_conn_new(fd, "ticket", 1);
    SSL_SESSION *sess = NULL;
    if (c && cf_conn_tls(c, ctx, (int)hx_window(x, 5000)) == 0) {
        cf_conn_pump(c, 200); /* TLS 1.3 tickets come after the handshake */
        sess = SSL_get1_session(c->ssl);
        if (sess && SSL_SESSION_get_max_early_data(sess) == 0) {
            SSL_SESSION_free(sess);
            sess = NULL;
        }
    }
    hx_log(x, "      TLS: the IUT %s",
           sess ? "issued a ticket that allows early data"
                : "offers no 0-RTT (no ticket, or none for early data)");
    if (c)
        cf_conn_close(c, 0);
    cf_conn_free(c);
    return sess;
}

void hx_do_connect(hx *x, const cf_step *st)
{
    char name[48];
    if (st->name[0])
        snprintf(name, sizeof(name), "%s", st->name);
    else
        snprintf(name, sizeof(name), "%s", x->n_conns ? "c" : "main");
    if (x->n_conns && !st->name[0])
        snprintf(name, sizeof(name), "c%zu", x->n_conns + 1);
    if (x->n_conns == sizeof(x->conns) / sizeof(x->conns[0])) {
        hx_verdict(x, CF_HARNESS_ERROR, "too many connections");
        return;
    }
    char err[256];
    int fd;
    int initiator = x->c->role == CF_ROLE_SERVER;
    if (initiator) {
        fd = cf_tcp_dial(x->o->target, hx_source(x, st->src), (int)hx_window(x, 5000), err,
                         sizeof(err));
        if (fd < 0) {
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: %s", st->line, err);
            return;
        }
    } else {
        uint64_t deadline = cf_now_ms() + hx_window(x, 5000);
        fd = -1;
        while (fd < 0 && cf_now_ms() < deadline && !x->stop) {
            fd = cf_tcp_accept(x->lfd, 10);
            if (fd < 0 && x->lfd2 >= 0)
                fd = cf_tcp_accept(x->lfd2, 10);
            if (fd < 0 && hx_client_done(x)) {
                if (!x->stop)
                    hx_verdict(x, CF_FAIL,
                               "line %d: the client exited with status %d without "
                               "connecting",
                               st->line, x->status);
                return;
            }
        }
        if (fd < 0) {
            if (!x->stop)
                hx_verdict(x, CF_FAIL, "line %d: the client did not connect", st->line);
            return;
        }
    }
    hconn *h = calloc(1, sizeof(*h));
    h->c = cf_conn_new(fd, name, initiator);
    h->c->log = NULL;
    h->id = hx_key(x, st->key[0] ? st->key : name); /* each connection its own key by default */
    x->conns[x->n_conns++] = h;
    x->cur = h;
    h->c->log = hx_conn_log;
    h->c->log_ud = x;
    hx_log(x, "%-5s == %s %s%s", name, initiator ? "connected to" : "accepted from the client",
           initiator ? x->o->target : x->addr, x->o->plaintext ? " (plaintext)" : " (TLS)");
    if (st->tls12 == -1)
        h->no_tls_probe = !x->o->plaintext;
    if (!x->o->plaintext && st->tls12 != -1) {
        const cairn_identity *cert = st->cert[0] ? hx_key(x, st->cert) : h->id;
        SSL_CTX *ctx = cf_tls_ctx(cert, !initiator, st->alpn, st->tls12 == 1, err, sizeof(err));
        if (!ctx) {
            hx_verdict(x, CF_HARNESS_ERROR, "%s", err);
            return;
        }
        if (st->tls12 == 3)
            tls_mandatory_only(ctx);
        else if (st->tls12 == 4 && odd_cert(ctx)) {
            SSL_CTX_free(ctx);
            hx_verdict(x, CF_HARNESS_ERROR, "could not make the odd certificate");
            return;
        }
        SSL_SESSION *ticket = NULL;
        if (st->tls12 == 2 && initiator) {
            SSL_CTX_set_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
            ticket = early_ticket(x, st, ctx);
        } else if (st->tls12 == 2) {
            /* offer 0-RTT to the client: tickets that allow early data */
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_max_early_data(ctx, 16384);
        }
        int ok;
        if (ticket) {
            /* [TLS-7] resume with a Ping frame as early data: the IUT must not take it */
            static const uint8_t early[] = {0xca, 0x1e, 0, 4, 0, 0, 0, 2, 0x08, 0x01};
            int accepted;
            int w = cf_conn_tls_early(h->c, ctx, ticket, early, sizeof(early),
                                      (int)hx_window(x, 5000), &accepted);
            SSL_SESSION_free(ticket);
            hx_log(x, "%-5s -> TLS early data: %d bytes (a Ping frame), %s", name, w,
                   accepted ? "accepted" : "rejected");
            ok = w >= 0;
            if (accepted)
                hx_violation(x, "TLS-7", "the IUT accepted TLS early data (0-RTT)");
        } else {
            ok = cf_conn_tls(h->c, ctx, (int)hx_window(x, 5000)) == 0;
        }
        if (ok && st->tls12 == 2 && !initiator &&
            SSL_get_early_data_status(h->c->ssl) != SSL_EARLY_DATA_NOT_SENT)
            hx_violation(x, "TLS-6", "the client sent early data (0-RTT)");
        SSL_CTX_free(ctx);
        if (st->tls12 == 3)
            check_mandatory(x, h->c->ssl, ok, initiator);
        if (ok && !st->alpn[0]) {
            const unsigned char *a;
            unsigned al;
            SSL_get0_alpn_selected(h->c->ssl, &a, &al);
            if (al != 7 || memcmp(a, "cairn/1", 7))
                hx_violation(x, initiator ? "TLS-9" : "TLS-8",
                             initiator ? "the IUT did not select ALPN cairn/1"
                                       : "the client did not offer ALPN cairn/1");
        }
    }
}

void hx_conn_log(void *ud, cf_conn *c, int outbound, const cf_rx *rx)
{
    hx *x = ud;
    char *d = hx_describe_rx(rx);
    hx_log(x, "%-5s %s %s", c->name, outbound ? "->" : "<-", d ? d : "?");
    free(d);
}

void hx_conn_free(hconn *h)
{
    cf_conn_free(h->c);
    json_decref(h->peer);
    json_decref(h->mine);
    free(h);
}
