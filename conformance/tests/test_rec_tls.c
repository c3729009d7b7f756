/*
 * Unit tests of record mode's TLS reader (conformance/src/rec_tls.c): the key
 * schedule against RFC 8448's trace, and whole TLS 1.3 sessions run by
 * OpenSSL in memory (both ends, a key log written by the client's callback)
 * read back from the bytes on the wire for each cipher suite, through a
 * KeyUpdate in each direction and a close_notify; a wrong secret, a missing
 * one and a foreign byte stream are reported, never misread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rec.h"

static void unhex(const char *s, uint8_t *out)
{
    for (size_t i = 0; s[2 * i]; i++)
        sscanf(s + 2 * i, "%2hhx", &out[i]);
}

/* RFC 8448 §3 (simple 1-RTT handshake): the server's handshake traffic key and IV. */
static void test_expand_label_rfc8448(void **state)
{
    (void)state;
    uint8_t secret[32], key[16], iv[12], want_key[16], want_iv[12];
    unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38", secret);
    unhex("3fce516009c21727d0f2e4e86ee403bc", want_key);
    unhex("5d313eb2671276ee13000b30", want_iv);
    assert_int_equal(rec_tls_expand_label("SHA256", secret, 32, "key", key, 16), 0);
    assert_int_equal(rec_tls_expand_label("SHA256", secret, 32, "iv", iv, 12), 0);
    assert_memory_equal(key, want_key, 16);
    assert_memory_equal(iv, want_iv, 12);
}

/* ---- an in-memory TLS 1.3 session ------------------------------------------------------ */

typedef struct chunk {
    int from_client;
    size_t n;
    uint8_t p[16384 + 512];
} chunk;

static chunk wire[256];
static size_t n_wire;
static char keylog_path[64];

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    FILE *f = fopen(keylog_path, "a");
    assert_non_null(f);
    fprintf(f, "%s\n", line);
    fclose(f);
}

/* Moves what `from` wrote to the other side, recording it. */
static void flush(SSL *from, BIO *to_in, int from_client)
{
    BIO *out = SSL_get_wbio(from);
    for (;;) {
        assert_true(n_wire < sizeof(wire) / sizeof(wire[0]));
        chunk *c = &wire[n_wire];
        int n = BIO_read(out, c->p, sizeof(c->p));
        if (n <= 0)
            return;
        c->from_client = from_client;
        c->n = (size_t)n;
        n_wire++;
        assert_int_equal(BIO_write(to_in, c->p, n), n);
    }
}

static SSL_CTX *server_ctx(const char *suite)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *x = X509_new();
    assert_non_null(pk);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"rec", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, pk, NULL) > 0);
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_set_ciphersuites(s, suite), 1);
    assert_int_equal(SSL_CTX_use_certificate(s, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s, pk), 1);
    X509_free(x);
    EVP_PKEY_free(pk);
    return s;
}

/* A session: handshake, data both ways, a KeyUpdate each way, more data, close_notify. */
static void run_session(const char *suite)
{
    n_wire = 0;
    snprintf(keylog_path, sizeof(keylog_path), "/tmp/test_rec_tls.XXXXXX");
    int fd = mkstemp(keylog_path);
    assert_true(fd >= 0);
    close(fd);
    SSL_CTX *sc = server_ctx(suite), *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(cc, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_set_ciphersuites(cc, suite), 1);
    SSL_CTX_set_keylog_callback(cc, keylog_cb);
    SSL *s = SSL_new(sc), *c = SSL_new(cc);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(s, s_in, s_out);
    SSL_set_bio(c, c_in, c_out);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 10 && !(SSL_is_init_finished(c) && SSL_is_init_finished(s)); i++) {
        SSL_do_handshake(c);
        flush(c, s_in, 1);
        SSL_do_handshake(s);
        flush(s, c_in, 0);
    }
    assert_true(SSL_is_init_finished(c) && SSL_is_init_finished(s));
    uint8_t buf[256];
    assert_int_equal(SSL_write(c, "client one", 10), 10);
    flush(c, s_in, 1);
    assert_int_equal(SSL_read(s, buf, sizeof(buf)), 10);
    flush(s, c_in, 0); /* session tickets */
    assert_int_equal(SSL_write(s, "server one", 10), 10);
    flush(s, c_in, 0);
    assert_true(SSL_read(c, buf, sizeof(buf)) == 10);
    /* the client updates its keys and asks the server to update too */
    assert_int_equal(SSL_key_update(c, SSL_KEY_UPDATE_REQUESTED), 1);
    assert_int_equal(SSL_write(c, "client two", 10), 10);
    flush(c, s_in, 1);
    assert_int_equal(SSL_read(s, buf, sizeof(buf)), 10);
    assert_int_equal(SSL_write(s, "server two", 10), 10);
    flush(s, c_in, 0);
    assert_int_equal(SSL_read(c, buf, sizeof(buf)), 10);
    SSL_shutdown(c);
    flush(c, s_in, 1);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cc);
    SSL_CTX_free(sc);
}

/* Reads the recorded wire back; returns what each direction delivered. */
static int read_back(rec_keylog *k, char got[2][64], int *closes)
{
    rec_tls *t = rec_tls_new(k);
    assert_non_null(t);
    memset(got, 0, 2 * 64);
    *closes = 0;
    int last = 0;
    for (size_t i = 0; i < n_wire && last != REC_TLS_FAIL && last != REC_TLS_NEED_SECRET; i++) {
        int d = wire[i].from_client;
        assert_int_equal(rec_tls_add(t, d, wire[i].p, wire[i].n), 0);
        for (;;) {
            const uint8_t *p;
            size_t n;
            int alert;
            last = rec_tls_next(t, d, &p, &n, &alert);
            if (last == REC_TLS_DATA) {
                assert_true(strlen(got[d]) + n < 64);
                strncat(got[d], (const char *)p, n);
                continue;
            }
            if (last == REC_TLS_CLOSE)
                (*closes)++;
            if (last != REC_TLS_CLOSE)
                break;
        }
    }
    rec_tls_free(t);
    return last;
}

static void check_suite(const char *suite)
{
    run_session(suite);
    rec_keylog *k = rec_keylog_new(keylog_path);
    assert_non_null(k);
    char got[2][64];
    int closes;
    assert_int_equal(read_back(k, got, &closes), 0);
    assert_string_equal(got[1], "client oneclient two");
    assert_string_equal(got[0], "server oneserver two");
    assert_int_equal(closes, 1);
    rec_keylog_free(k);
    unlink(keylog_path);
}

static void test_aes128(void **state)
{
    (void)state;
    check_suite("TLS_AES_128_GCM_SHA256");
}

static void test_aes256(void **state)
{
    (void)state;
    check_suite("TLS_AES_256_GCM_SHA384");
}

static void test_chacha(void **state)
{
    (void)state;
    check_suite("TLS_CHACHA20_POLY1305_SHA256");
}

/* No key log lines: the reader asks for the secret and delivers nothing. */
static void test_missing_secret(void **state)
{
    (void)state;
    run_session("TLS_AES_128_GCM_SHA256");
    rec_keylog *k = rec_keylog_new("/nonexistent/keylog");
    assert_non_null(k);
    char got[2][64];
    int closes;
    assert_int_equal(read_back(k, got, &closes), REC_TLS_NEED_SECRET);
    assert_string_equal(got[0], "");
    assert_string_equal(got[1], "");
    rec_keylog_free(k);
    unlink(keylog_path);
}

/* A wrong secret (one byte flipped): the record does not open, nothing is delivered. */
static void test_wrong_secret(void **state)
{
    (void)state;
    run_session("TLS_AES_128_GCM_SHA256");
    FILE *f = fopen(keylog_path, "r+");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = 0;
    char *sec = strstr(text, "SERVER_HANDSHAKE_TRAFFIC_SECRET ");
    assert_non_null(sec);
    sec += strlen("SERVER_HANDSHAKE_TRAFFIC_SECRET ") + 65;
    *sec = *sec == '0' ? '1' : '0';
    rewind(f);
    fwrite(text, 1, n, f);
    fclose(f);
    rec_keylog *k = rec_keylog_new(keylog_path);
    char got[2][64];
    int closes;
    assert_int_equal(read_back(k, got, &closes), REC_TLS_FAIL);
    assert_string_equal(got[0], "");
    rec_keylog_free(k);
    unlink(keylog_path);
}

/* Bytes that are not TLS records are refused. */
static void test_not_tls(void **state)
{
    (void)state;
    rec_keylog *k = rec_keylog_new("/nonexistent/keylog");
    rec_tls *t = rec_tls_new(k);
    const uint8_t *p;
    size_t n;
    int alert;
    assert_int_equal(rec_tls_add(t, 1, (const uint8_t *)"CA\x00\x01\x00\x00\x00\x00", 8), 0);
    assert_int_equal(rec_tls_next(t, 1, &p, &n, &alert), REC_TLS_FAIL);
    assert_non_null(strstr(rec_tls_why(t), "not a TLS record"));
    rec_tls_free(t);
    rec_keylog_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_label_rfc8448),
        cmocka_unit_test(test_aes128),
        cmocka_unit_test(test_aes256),
        cmocka_unit_test(test_chacha),
        cmocka_unit_test(test_missing_secret),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_not_tls),
    };
    return cmocka_run_group_tests_name("rec_tls", tests, NULL, NULL);
}
