/*
 * Reading a relayed TLS 1.3 session with the secrets of a key log, the way
 * Wireshark does: the recorder is not an endpoint (the peers' handshake and
 * channel binding stay untouched, spec §6.3), it only reads. The ClientHello
 * gives the client_random that keys the log's lines, the ServerHello the
 * cipher suite; each direction then runs under its handshake traffic secret
 * until its Finished, under its application traffic secret after, and a
 * KeyUpdate moves to the next secret (RFC 8446 §7.2). Keys and IVs come from
 * HKDF-Expand-Label through OpenSSL's TLS13-KDF, records are opened with
 * OpenSSL's AEADs (RFC 8446 §5.2, §5.3).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "rec.h"

/* ---- key log ----------------------------------------------------------------------------- */

typedef struct kl_line {
    char label[40];
    uint8_t cr[32];
    uint8_t secret[64];
    size_t slen;
} kl_line;

struct rec_keylog {
    char *path;
    kl_line *v;
    size_t n, cap;
};

static int unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = s[2 * i], lo = s[2 * i + 1];
        if (!isxdigit(hi) || !isxdigit(lo))
            return -1;
        hi = isdigit(hi) ? hi - '0' : (tolower(hi) - 'a' + 10);
        lo = isdigit(lo) ? lo - '0' : (tolower(lo) - 'a' + 10);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void keylog_read(rec_keylog *k)
{
    FILE *f = fopen(k->path, "r");
    if (!f)
        return;
    k->n = 0;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char label[40], cr[80], sec[160];
        if (line[0] == '#' || sscanf(line, "%39s %79s %159s", label, cr, sec) != 3)
            continue;
        size_t sl = strlen(sec) / 2;
        if (strlen(cr) != 64 || sl > 64 || strlen(sec) % 2)
            continue;
        if (k->n == k->cap) {
            size_t nc = k->cap ? 2 * k->cap : 32;
            kl_line *nv = realloc(k->v, nc * sizeof(*nv));
            if (!nv)
                break;
            k->v = nv, k->cap = nc;
        }
        kl_line *l = &k->v[k->n];
        snprintf(l->label, sizeof(l->label), "%s", label);
        if (unhex(cr, 32, l->cr) || unhex(sec, sl, l->secret))
            continue;
        l->slen = sl;
        k->n++;
    }
    fclose(f);
}

rec_keylog *rec_keylog_new(const char *path)
{
    rec_keylog *k = calloc(1, sizeof(*k));
    if (!k || !(k->path = strdup(path))) {
        free(k);
        return NULL;
    }
    keylog_read(k);
    return k;
}

void rec_keylog_free(rec_keylog *k)
{
    if (!k)
        return;
    free(k->path);
    free(k->v);
    free(k);
}

static size_t keylog_lookup(const rec_keylog *k, const char *label, const uint8_t cr[32],
                            uint8_t *secret, size_t cap)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->v[i].label, label) && !memcmp(k->v[i].cr, cr, 32) && k->v[i].slen <= cap) {
            memcpy(secret, k->v[i].secret, k->v[i].slen);
            return k->v[i].slen;
        }
    return 0;
}

size_t rec_keylog_find(rec_keylog *k, const char *label, const uint8_t client_random[32],
                       uint8_t *secret, size_t cap)
{
    size_t n = keylog_lookup(k, label, client_random, secret, cap);
    if (n)
        return n;
    keylog_read(k);
    return keylog_lookup(k, label, client_random, secret, cap);
}

/* ---- key schedule ------------------------------------------------------------------------ */

int rec_tls_expand_label(const char *md, const uint8_t *secret, size_t slen, const char *label,
                         uint8_t *out, size_t olen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!kc)
        return -1;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    static const char prefix[] = "tls13 ";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)prefix,
                                          sizeof(prefix) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)"", 0),
        OSSL_PARAM_construct_end(),
    };
    int rv = EVP_KDF_derive(kc, out, olen, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(kc);
    return rv;
}

/* ---- record layer ------------------------------------------------------------------------ */

enum { PH_CLEAR = 0, PH_HANDSHAKE, PH_APP };

typedef struct tls_dir {
    uint8_t *buf; /* records not yet read */
    size_t len, cap, off;
    uint8_t *hs; /* handshake messages not yet complete */
    size_t hs_len, hs_cap;
    int phase;
    int keyed; /* key/iv derived for the current secret */
    uint8_t secret[64];
    size_t slen;
    uint8_t key[32], iv[12];
    uint64_t seq;
    int generation;     /* application secret N */
    int pending_update; /* a KeyUpdate was read: switch after this record */
    int pending_app;    /* a Finished was read: switch after this record */
    uint8_t *plain;
    size_t plain_cap;
} tls_dir;

struct rec_tls {
    rec_keylog *keys;
    uint8_t cr[32];
    int have_cr;
    uint16_t suite;
    int have_suite;
    tls_dir d[2]; /* [1] = from the client */
    char why[200];
};

rec_tls *rec_tls_new(rec_keylog *keys)
{
    rec_tls *t = calloc(1, sizeof(*t));
    if (t)
        t->keys = keys;
    return t;
}

void rec_tls_free(rec_tls *t)
{
    if (!t)
        return;
    for (int i = 0; i < 2; i++) {
        free(t->d[i].buf);
        free(t->d[i].hs);
        free(t->d[i].plain);
    }
    free(t);
}

const char *rec_tls_why(const rec_tls *t)
{
    return t->why;
}

static int grow(uint8_t **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need)
        nc *= 2;
    uint8_t *nb = realloc(*b, nc);
    if (!nb)
        return -1;
    *b = nb, *cap = nc;
    return 0;
}

int rec_tls_add(rec_tls *t, int from_client, const uint8_t *p, size_t n)
{
    tls_dir *d = &t->d[!!from_client];
    if (d->off && d->off == d->len)
        d->off = d->len = 0;
    if (d->off > (1u << 20)) {
        memmove(d->buf, d->buf + d->off, d->len - d->off);
        d->len -= d->off, d->off = 0;
    }
    if (grow(&d->buf, &d->cap, d->len + n))
        return -1;
    memcpy(d->buf + d->len, p, n);
    d->len += n;
    return 0;
}

/* The cipher suites of TLS 1.3 this reader opens (RFC 8446 §B.4). */
static int suite_params(uint16_t s, const EVP_CIPHER **c, const char **md, size_t *klen,
                        size_t *hlen)
{
    switch (s) {
    case 0x1301:
        *c = EVP_aes_128_gcm(), *md = "SHA256", *klen = 16, *hlen = 32;
        return 0;
    case 0x1302:
        *c = EVP_aes_256_gcm(), *md = "SHA384", *klen = 32, *hlen = 48;
        return 0;
    case 0x1303:
        *c = EVP_chacha20_poly1305(), *md = "SHA256", *klen = 32, *hlen = 32;
        return 0;
    }
    return -1;
}

static const char *secret_label(int from_client, int phase)
{
    if (phase == PH_HANDSHAKE)
        return from_client ? "CLIENT_HANDSHAKE_TRAFFIC_SECRET" : "SERVER_HANDSHAKE_TRAFFIC_SECRET";
    return from_client ? "CLIENT_TRAFFIC_SECRET_0" : "SERVER_TRAFFIC_SECRET_0";
}

static int derive(rec_tls *t, tls_dir *d)
{
    const EVP_CIPHER *c;
    const char *md;
    size_t klen, hlen;
    if (suite_params(t->suite, &c, &md, &klen, &hlen) ||
        rec_tls_expand_label(md, d->secret, d->slen, "key", d->key, klen) ||
        rec_tls_expand_label(md, d->secret, d->slen, "iv", d->iv, 12)) {
        snprintf(t->why, sizeof(t->why), "cannot derive the traffic keys (HKDF-Expand-Label)");
        return -1;
    }
    d->keyed = 1;
    d->seq = 0;
    return 0;
}

/* Opens one encrypted record into d->plain; returns the inner length (content
 * + type, padding removed) or -1. */
static long open_record(rec_tls *t, tls_dir *d, const uint8_t *rec, size_t len)
{
    const EVP_CIPHER *c;
    const char *md;
    size_t klen, hlen;
    if (suite_params(t->suite, &c, &md, &klen, &hlen) || len < 5 + 17)
        return -1;
    size_t clen = len - 5 - 16;
    if (grow(&d->plain, &d->plain_cap, clen + 16))
        return -1;
    uint8_t nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = 0, l1 = 0, l2 = 0;
    if (x && EVP_DecryptInit_ex(x, c, NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(x, NULL, NULL, d->key, nonce) == 1 &&
        EVP_DecryptUpdate(x, NULL, &l1, rec, 5) == 1 &&
        EVP_DecryptUpdate(x, d->plain, &l1, rec + 5, (int)clen) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + clen)) == 1 &&
        EVP_DecryptFinal_ex(x, d->plain + l1, &l2) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(x);
    if (!ok)
        return -1;
    d->seq++;
    long n = l1 + l2;
    while (n > 0 && d->plain[n - 1] == 0)
        n--;
    return n; /* the last byte is the inner content type; 0 = no type at all */
}

/* Reads the handshake messages of a decrypted record: a Finished ends the
 * handshake phase, a KeyUpdate moves to the next application secret. */
static int handshake_msgs(rec_tls *t, tls_dir *d, const uint8_t *p, size_t n)
{
    if (grow(&d->hs, &d->hs_cap, d->hs_len + n))
        return -1;
    memcpy(d->hs + d->hs_len, p, n);
    d->hs_len += n;
    size_t off = 0;
    while (d->hs_len - off >= 4) {
        size_t ml = (size_t)d->hs[off + 1] << 16 | (size_t)d->hs[off + 2] << 8 | d->hs[off + 3];
        if (d->hs_len - off < 4 + ml)
            break;
        uint8_t type = d->hs[off];
        if (type == 20 && d->phase == PH_HANDSHAKE)
            d->pending_app = 1; /* Finished */
        else if (type == 24 && d->phase == PH_APP)
            d->pending_update = 1; /* KeyUpdate */
        else if (type == 24) {
            snprintf(t->why, sizeof(t->why), "a KeyUpdate during the handshake");
            return -1;
        }
        off += 4 + ml;
    }
    memmove(d->hs, d->hs + off, d->hs_len - off);
    d->hs_len -= off;
    return 0;
}

static void read_hello(rec_tls *t, int from_client, const uint8_t *r, size_t len)
{
    static const uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
                                    0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                                    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
                                    0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    /* record header 5, handshake type 1 and length 3, legacy_version 2, random 32 */
    if (len < 5 + 4 + 2 + 32)
        return;
    const uint8_t *rnd = r + 11;
    if (from_client && r[5] == 1 && !t->have_cr) {
        memcpy(t->cr, rnd, 32);
        t->have_cr = 1;
    } else if (!from_client && r[5] == 2 && memcmp(rnd, hrr, 32)) {
        size_t sid = len > 43 ? r[43] : 0;
        if (len >= 44 + sid + 2) {
            t->suite = (uint16_t)(r[44 + sid] << 8 | r[45 + sid]);
            t->have_suite = 1;
            t->d[0].phase = t->d[1].phase = PH_HANDSHAKE;
        }
    }
}

int rec_tls_next(rec_tls *t, int from_client, const uint8_t **data, size_t *len, int *alert)
{
    tls_dir *d = &t->d[!!from_client];
    for (;;) {
        size_t avail = d->len - d->off;
        if (avail < 5)
            return 0;
        const uint8_t *r = d->buf + d->off;
        size_t rl = 5 + ((size_t)r[3] << 8 | r[4]);
        if (r[0] < 20 || r[0] > 23 || r[1] != 3 || rl > 5 + 16384 + 256) {
            snprintf(t->why, sizeof(t->why), "not a TLS record (type %u, version %u.%u)", r[0],
                     r[1], r[2]);
            return REC_TLS_FAIL;
        }
        if (avail < rl)
            return 0;
        if (r[0] == 22 && d->phase == PH_CLEAR) {
            read_hello(t, from_client, r, rl);
            d->off += rl;
            continue;
        }
        if (r[0] == 20) { /* change_cipher_spec, for middleboxes only */
            d->off += rl;
            continue;
        }
        if (r[0] == 21 && d->phase == PH_CLEAR) {
            d->off += rl;
            *alert = rl >= 7 ? r[6] : -1;
            return (rl >= 7 && r[6] == 0) ? REC_TLS_CLOSE : REC_TLS_ALERT;
        }
        if (r[0] != 23 || d->phase == PH_CLEAR) {
            snprintf(t->why, sizeof(t->why),
                     "a TLS record of type %u outside the TLS 1.3 handshake's order", r[0]);
            return REC_TLS_FAIL;
        }
        if (!t->have_cr || !t->have_suite) {
            snprintf(t->why, sizeof(t->why), "encrypted records without a ClientHello/ServerHello");
            return REC_TLS_FAIL;
        }
        const EVP_CIPHER *c;
        const char *md;
        size_t klen, hlen;
        if (suite_params(t->suite, &c, &md, &klen, &hlen)) {
            snprintf(t->why, sizeof(t->why),
                     "cipher suite 0x%04x is not one this recorder opens (TLS_AES_128_GCM_SHA256, "
                     "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)",
                     t->suite);
            return REC_TLS_FAIL;
        }
        if (!d->keyed) {
            const char *label = secret_label(from_client, d->phase);
            d->slen = rec_keylog_find(t->keys, label, t->cr, d->secret, sizeof(d->secret));
            if (d->slen != hlen) {
                char h[65];
                for (int i = 0; i < 32; i++)
                    snprintf(h + 2 * i, 3, "%02x", t->cr[i]);
                snprintf(t->why, sizeof(t->why), "the key log has no %s for client_random %s",
                         label, h);
                return REC_TLS_NEED_SECRET;
            }
            if (derive(t, d))
                return REC_TLS_FAIL;
        }
        long n = open_record(t, d, r, rl);
        if (n <= 0) {
            snprintf(t->why, sizeof(t->why),
                     "a %s record does not decrypt with the key log's secret (record %llu)",
                     from_client ? "client" : "server", (unsigned long long)d->seq);
            return REC_TLS_FAIL;
        }
        d->off += rl;
        uint8_t inner = d->plain[n - 1];
        size_t plen = (size_t)n - 1;
        int ev = 0;
        if (inner == 22) {
            if (handshake_msgs(t, d, d->plain, plen))
                return REC_TLS_FAIL;
        } else if (inner == 23 && plen) {
            if (d->phase != PH_APP) {
                snprintf(t->why, sizeof(t->why), "application data before the Finished");
                return REC_TLS_FAIL;
            }
            ev = REC_TLS_DATA;
        } else if (inner == 21) {
            *alert = plen >= 2 ? d->plain[1] : -1;
            ev = (plen >= 2 && d->plain[1] == 0) ? REC_TLS_CLOSE : REC_TLS_ALERT;
        }
        if (d->pending_app) { /* the next record uses the application secret */
            d->pending_app = 0;
            d->phase = PH_APP;
            d->keyed = 0;
        }
        if (d->pending_update) { /* RFC 8446 §7.2: secret N+1 from secret N */
            d->pending_update = 0;
            uint8_t next[64];
            if (rec_tls_expand_label(md, d->secret, d->slen, "traffic upd", next, d->slen)) {
                snprintf(t->why, sizeof(t->why), "cannot derive the secret after a KeyUpdate");
                return REC_TLS_FAIL;
            }
            memcpy(d->secret, next, d->slen);
            d->generation++;
            if (derive(t, d))
                return REC_TLS_FAIL;
        }
        if (ev == REC_TLS_DATA) {
            *data = d->plain;
            *len = plen;
            return ev;
        }
        if (ev)
            return ev;
    }
}
