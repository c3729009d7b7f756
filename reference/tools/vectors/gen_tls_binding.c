/*
 * spec/vectors/tls-binding.json: the channel binding of spec §6.3 worked
 * through from TLS key log secrets, in the manner of RFC 8448, so that an
 * implementer can check it without running a TLS stack:
 *
 *   EXPORTER_SECRET (the NSS key log line)                  fixed input
 *   -> Derive-Secret(EXPORTER_SECRET, label, "")            RFC 8446 §7.5
 *   -> HKDF-Expand-Label(that, "exporter", Hash(""), 32)    = B
 *   -> th over two Hellos and B (§6.3) -> both Auth inputs and signatures (§6.4)
 *
 * HKDF-Expand-Label is OpenSSL's own (the TLS13-KDF the TLS stack uses), and
 * the two sessions of libcairn are run to READY on the result, so the file is
 * what the reference does. check_tls_binding.py recomputes every value with
 * hashlib, hmac and cryptography.
 *
 * Usage: gen_tls_binding OUT.json   deterministic output
 *        gen_tls_binding --live     a real TLS 1.3 handshake in memory for each
 *            cipher suite: the exporter computed here from the key log's
 *            EXPORTER_SECRET equals what both ends' SSL_export_keying_material
 *            return, and the reference's TLS contexts agree on it.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/json.h"
#include "cairn/net.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "vec_pair.h"

#define LABEL CAIRN_EXPORTER_LABEL

static char *hex_of(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (!s)
        abort();
    cairn_hex_encode(s, p, n);
    return s;
}

/* The HkdfLabel structure of RFC 8446 §7.1, for the JSON (the KDF builds its own). */
static size_t hkdf_label(uint8_t *out, size_t len, const char *label, const uint8_t *ctx,
                         size_t ctxlen)
{
    size_t n = strlen(label), o = 0;
    out[o++] = (uint8_t)(len >> 8);
    out[o++] = (uint8_t)len;
    out[o++] = (uint8_t)(6 + n);
    memcpy(out + o, "tls13 ", 6);
    memcpy(out + o + 6, label, n);
    o += 6 + n;
    out[o++] = (uint8_t)ctxlen;
    memcpy(out + o, ctx, ctxlen);
    return o + ctxlen;
}

/* HKDF-Expand-Label(secret, label, ctx, outlen) with OpenSSL's TLS13-KDF. */
static int expand_label(uint8_t *out, size_t outlen, const char *md, const uint8_t *secret,
                        size_t slen, const char *label, const uint8_t *ctx, size_t ctxlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
    EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rv = -1;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, "tls13 ", 6),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)ctx, ctxlen),
        OSSL_PARAM_construct_end(),
    };
    if (k && EVP_KDF_derive(k, out, outlen, p) == 1)
        rv = 0;
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
    return rv;
}

/* The TLS 1.3 exporter of RFC 8446 §7.5 for spec §6.3 (label, no context, 32
 * bytes); *derived gets Derive-Secret(secret, label, ""). */
static int exporter(uint8_t out[32], uint8_t *derived, const char *md, const uint8_t *secret,
                    size_t slen)
{
    uint8_t empty_hash[EVP_MAX_MD_SIZE];
    unsigned hl;
    if (!EVP_Digest("", 0, empty_hash, &hl, EVP_get_digestbyname(md), NULL) || hl != slen)
        return -1;
    if (expand_label(derived, slen, md, secret, slen, LABEL, empty_hash, hl))
        return -1;
    return expand_label(out, 32, md, derived, slen, "exporter", empty_hash, hl);
}

static uint64_t fixed_mono(void *ud)
{
    (void)ud;
    return 1000;
}

static uint64_t fixed_wall(void *ud)
{
    (void)ud;
    return 1767225600000ull;
}

static int no_random(uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    memset(buf, 0x5a, len);
    return 0;
}

static void move(cairn_session *from, cairn_session *to)
{
    const uint8_t *data;
    size_t n = cairn_session_pending(from, &data);
    if (cairn_session_recv(to, data, n) != (long)n) {
        fprintf(stderr, "gen_tls_binding: the session refused the frames\n");
        exit(1);
    }
    cairn_session_sent(from, n);
}

/* One vector: a cipher suite, its hash, a fixed EXPORTER_SECRET. */
static json_t *vector(const char *suite, const char *md, size_t hlen, uint8_t secret_byte)
{
    uint8_t secret[48], client_random[32], derived[48], b[32], empty_hash[48], info[128];
    unsigned hl;
    for (size_t i = 0; i < hlen; i++)
        secret[i] = (uint8_t)(secret_byte + i);
    memset(client_random, 0xcc, sizeof(client_random));
    EVP_Digest("", 0, empty_hash, &hl, EVP_get_digestbyname(md), NULL);
    if (exporter(b, derived, md, secret, hlen)) {
        fprintf(stderr, "gen_tls_binding: TLS13-KDF failed\n");
        exit(1);
    }
    size_t l1 = hkdf_label(info, hlen, LABEL, empty_hash, hl);
    char *info1 = hex_of(info, l1);
    size_t l2 = hkdf_label(info, 32, "exporter", empty_hash, hl);
    char *info2 = hex_of(info, l2);

    /* Two sessions with fixed identities and nonces, bound to B, run to READY. */
    cairn_identity *ii, *ir;
    cairn_session_config ci, cr;
    if (vec_pair_config(&ci, &cr, &ii, &ir, b, 32))
        exit(1);
    cairn_env env = {cairn_port_mem(), fixed_mono, fixed_wall, no_random, NULL};
    cairn_session_callbacks cb = {0};
    cairn_session *si, *sr;
    if (cairn_session_new(&si, &ci, &cb, NULL, &env) ||
        cairn_session_new(&sr, &cr, &cb, NULL, &env))
        exit(1);
    const uint8_t *hi, *hr;
    size_t li = cairn_session_pending(si, &hi) - 8, lr = cairn_session_pending(sr, &hr) - 8;
    char *hih = hex_of(hi + 8, li), *hrh = hex_of(hr + 8, lr);
    uint8_t th[32], in_i[45], in_r[45], sig_i[64], sig_r[64];
    cairn_transcript_hash(th, hi + 8, li, hr + 8, lr, b, 32);
    move(si, sr);
    move(sr, si);
    move(si, sr);
    if (cairn_session_state(si) != CAIRN_SS_READY || cairn_session_state(sr) != CAIRN_SS_READY) {
        fprintf(stderr, "gen_tls_binding: the sessions did not reach READY\n");
        exit(1);
    }
    cairn_auth_input(in_i, 1, th);
    cairn_auth_input(in_r, 0, th);
    cairn_identity_sign(ii, sig_i, in_i, 45);
    cairn_identity_sign(ir, sig_r, in_r, 45);

    char line[256];
    char *cr_h = hex_of(client_random, 32), *sec_h = hex_of(secret, hlen);
    snprintf(line, sizeof(line), "EXPORTER_SECRET %s %s", cr_h, sec_h);
    char *s[12] = {hex_of(derived, hlen),
                   hex_of(b, 32),
                   hex_of(th, 32),
                   hex_of(in_i, 45),
                   hex_of(in_r, 45),
                   hex_of(sig_i, 64),
                   hex_of(sig_r, 64),
                   hex_of(vec_seed_i, 32),
                   hex_of(vec_seed_r, 32),
                   hex_of(cairn_identity_public(ii), 32),
                   hex_of(cairn_identity_public(ir), 32),
                   hex_of(empty_hash, hl)};
    json_t *v = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s},"
        " s:s, s:s, s:s}",
        "cipher_suite", suite, "hash", md, "keylog_line", line, "exporter_secret_hex", sec_h,
        "empty_hash_hex", s[11], "derive_secret_hkdf_label_hex", info1, "derived_secret_hex", s[0],
        "exporter_hkdf_label_hex", info2, "label", LABEL, "context", "none (same as empty)",
        "binding_hex", s[1], "initiator", "seed_hex", s[7], "public_key_hex", s[9],
        "hello_payload_hex", hih, "auth_input_hex", s[3], "auth_signature_hex", s[5], "responder",
        "seed_hex", s[8], "public_key_hex", s[10], "hello_payload_hex", hrh, "auth_input_hex", s[4],
        "auth_signature_hex", s[6], "transcript_hash_hex", s[2], "transcript_input",
        "\"cairn/1 transcript\" || u32(len I) || I || u32(len R) || R || u32(32) || binding",
        "note", "the client_random of the key log line only names the connection");
    for (int i = 0; i < 12; i++)
        free(s[i]);
    free(cr_h);
    free(sec_h);
    free(info1);
    free(info2);
    free(hih);
    free(hrh);
    cairn_session_del(si);
    cairn_session_del(sr);
    cairn_identity_del(ii);
    cairn_identity_del(ir);
    return v;
}

/* ---- --live: the formula against a real TLS 1.3 handshake --------------- */

static char keylog[2][256]; /* EXPORTER_SECRET line seen by the client, the server */

static void keylog_cb(const SSL *ssl, const char *line)
{
    if (!strncmp(line, "EXPORTER_SECRET ", 16))
        snprintf(keylog[SSL_is_server(ssl)], sizeof(keylog[0]), "%s", line);
}

static int live(const char *suite, const char *md, size_t hlen)
{
    uint8_t seed[32] = {0x33};
    cairn_identity *id;
    cairn_tls_ctx *tc, *ts;
    if (cairn_identity_from_seed(&id, seed) || cairn_tls_ctx_new(&tc, id, 0) ||
        cairn_tls_ctx_new(&ts, id, 1))
        return 1;
    SSL_CTX *cc = cairn_tls_ctx_openssl(tc), *sc = cairn_tls_ctx_openssl(ts);
    SSL_CTX_set_ciphersuites(cc, suite); /* the client offers only this suite */
    SSL_CTX_set_keylog_callback(cc, keylog_cb);
    SSL_CTX_set_keylog_callback(sc, keylog_cb);
    SSL *c = SSL_new(cc), *s = SSL_new(sc);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int done = 0;
    for (int i = 0; i < 20 && done != 3; i++) { /* a TLS 1.3 handshake takes 2-3 rounds */
        if (!(done & 1) && SSL_do_handshake(c) == 1)
            done |= 1;
        if (!(done & 2) && SSL_do_handshake(s) == 1)
            done |= 2;
    }
    int rv = 1;
    uint8_t ec[32], es[32], mine[32], derived[48], secret[48];
    const char *got = SSL_CIPHER_standard_name(SSL_get_current_cipher(c));
    if (done != 3 || strcmp(got, suite)) {
        fprintf(stderr, "FAIL %s: handshake %d, cipher %s\n", suite, done, got);
        goto out;
    }
    /* "EXPORTER_SECRET <64 hex client_random> <secret hex>" */
    if (strcmp(keylog[0], keylog[1]) || strlen(keylog[0]) != 16 + 64 + 1 + 2 * hlen ||
        cairn_hex_decode(secret, hlen, keylog[0] + 16 + 65)) {
        fprintf(stderr, "FAIL %s: key log lines\n  %s\n  %s\n", suite, keylog[0], keylog[1]);
        goto out;
    }
    if (SSL_export_keying_material(c, ec, 32, LABEL, strlen(LABEL), NULL, 0, 0) != 1 ||
        SSL_export_keying_material(s, es, 32, LABEL, strlen(LABEL), NULL, 0, 0) != 1 ||
        exporter(mine, derived, md, secret, hlen)) {
        fprintf(stderr, "FAIL %s: exporter\n", suite);
        goto out;
    }
    char *h = hex_of(mine, 32);
    if (memcmp(ec, es, 32) || memcmp(ec, mine, 32)) {
        fprintf(stderr, "FAIL %s: the exporter from the key log differs from OpenSSL's\n", suite);
    } else {
        printf("PASS %s: exporter from EXPORTER_SECRET = SSL_export_keying_material = %s\n", suite,
               h);
        rv = 0;
    }
    free(h);
out:
    SSL_free(c);
    SSL_free(s);
    cairn_tls_ctx_del(tc);
    cairn_tls_ctx_del(ts);
    cairn_identity_del(id);
    memset(keylog, 0, sizeof(keylog));
    return rv;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--live"))
        return live("TLS_AES_128_GCM_SHA256", "SHA256", 32) |
               live("TLS_AES_256_GCM_SHA384", "SHA384", 48) |
               live("TLS_CHACHA20_POLY1305_SHA256", "SHA256", 32);
    if (argc != 2) {
        fprintf(stderr, "usage: gen_tls_binding OUT.json | --live\n");
        return 2;
    }
    json_t *vs = json_array();
    json_array_append_new(vs, vector("TLS_AES_128_GCM_SHA256", "SHA256", 32, 0x00));
    json_array_append_new(vs, vector("TLS_AES_256_GCM_SHA384", "SHA384", 48, 0x80));
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:o}", "description",
        "Cairn v1 channel binding (spec §6.3, §6.4) from TLS 1.3 key log secrets, in the manner "
        "of RFC 8448. binding = TLS-Exporter(label, no context, 32) of RFC 8446 §7.5 = "
        "HKDF-Expand-Label(Derive-Secret(EXPORTER_SECRET, label, \"\"), \"exporter\", Hash(\"\"), "
        "32), where Derive-Secret(S, L, \"\") = HKDF-Expand-Label(S, L, Hash(\"\"), Hash.length), "
        "HKDF-Expand-Label(S, L, C, n) = HKDF-Expand(S, HkdfLabel, n) and HkdfLabel = u16(n) || "
        "u8(6 + len L) || \"tls13 \" || L || u8(len C) || C; Hash is the cipher suite's. The "
        "EXPORTER_SECRET is the value an NSS key log file (SSLKEYLOGFILE) records; here it is "
        "fixed. Then th and both Auths exactly as in handshake.json, over the Hellos of the fixed "
        "identities (seeds 11.., 22..), nonces and clock.",
        "generator", "reference/tools/vectors/gen_tls_binding.c (OpenSSL TLS13-KDF, libcairn)",
        "checked_by",
        "reference/tools/vectors/check_tls_binding.py (hashlib, hmac, cryptography); "
        "gen_tls_binding --live (the formula against real TLS 1.3 handshakes)",
        "vectors", vs);
    FILE *f = fopen(argv[1], "w");
    if (!f || json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) || fputc('\n', f) < 0 ||
        fclose(f)) {
        perror(argv[1]);
        return 1;
    }
    json_decref(root);
    return 0;
}
