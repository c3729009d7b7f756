/*
 * SHA-256 and Ed25519 through OpenSSL 3 EVP, with the Ed25519 checks that
 * OpenSSL leaves out done here first (spec §6.4.1). The SHA-256 EVP_MD is fetched
 * once per process; contexts are reused by callers on hot paths.
 */
#include "cairn/crypto.h"
#include "cairn/fault.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

static EVP_MD *sha256_md;
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static const EVP_MD *sha256(void)
{
    if (!CRYPTO_THREAD_run_once(&sha256_once, sha256_fetch))
        return NULL;
    return sha256_md;
}

int cairn_sha256(uint8_t out[CAIRN_HASH_LEN], const void *data, size_t len)
{
    const EVP_MD *md = sha256();
    if (!md || !EVP_Digest(data, len, out, NULL, md, NULL))
        return CAIRN_ERR_CRYPTO;
    return 0;
}

struct cairn_sha256_ctx {
    EVP_MD_CTX *ctx;
};

int cairn_sha256_ctx_new(cairn_sha256_ctx **out)
{
    *out = NULL;
    if (!sha256())
        return CAIRN_ERR_CRYPTO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return CAIRN_ERR_NOMEM;
    cairn_sha256_ctx *c = OPENSSL_malloc(sizeof(*c));
    if (!c) {
        EVP_MD_CTX_free(ctx);
        return CAIRN_ERR_NOMEM;
    }
    c->ctx = ctx;
    *out = c;
    return 0;
}

void cairn_sha256_ctx_del(cairn_sha256_ctx *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->ctx);
    OPENSSL_free(c);
}

int cairn_sha256_init(cairn_sha256_ctx *c)
{
    return EVP_DigestInit_ex2(c->ctx, sha256(), NULL) ? 0 : CAIRN_ERR_CRYPTO;
}

int cairn_sha256_update(cairn_sha256_ctx *c, const void *data, size_t len)
{
    return EVP_DigestUpdate(c->ctx, data, len) ? 0 : CAIRN_ERR_CRYPTO;
}

int cairn_sha256_final(cairn_sha256_ctx *c, uint8_t out[CAIRN_HASH_LEN])
{
    return EVP_DigestFinal_ex(c->ctx, out, NULL) ? 0 : CAIRN_ERR_CRYPTO;
}

int cairn_sha256_ctx_digest(cairn_sha256_ctx *c, uint8_t out[CAIRN_HASH_LEN], const void *data,
                            size_t len)
{
    if (!EVP_DigestInit_ex2(c->ctx, sha256(), NULL) || !EVP_DigestUpdate(c->ctx, data, len) ||
        !EVP_DigestFinal_ex(c->ctx, out, NULL))
        return CAIRN_ERR_CRYPTO;
    return 0;
}

struct cairn_identity {
    EVP_PKEY *pkey;
    uint8_t pub[CAIRN_KEY_LEN];
};

int cairn_identity_from_seed(cairn_identity **out, const uint8_t seed[CAIRN_KEY_LEN])
{
    *out = NULL;
    cairn_identity *id = OPENSSL_zalloc(sizeof(*id));
    if (!id)
        return CAIRN_ERR_NOMEM;
    size_t publen = CAIRN_KEY_LEN;
    id->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, CAIRN_KEY_LEN);
    if (!id->pkey || !EVP_PKEY_get_raw_public_key(id->pkey, id->pub, &publen) ||
        publen != CAIRN_KEY_LEN) {
        cairn_identity_del(id);
        return CAIRN_ERR_CRYPTO;
    }
    *out = id;
    return 0;
}

int cairn_identity_generate(cairn_identity **out, const cairn_env *env)
{
    uint8_t seed[CAIRN_KEY_LEN];
    *out = NULL;
    if (env->random(seed, sizeof(seed), env->ud) != 0)
        return CAIRN_ERR_CRYPTO;
    int rv = cairn_identity_from_seed(out, seed);
    OPENSSL_cleanse(seed, sizeof(seed));
    return rv;
}

void cairn_identity_del(cairn_identity *id)
{
    if (!id)
        return;
    EVP_PKEY_free(id->pkey);
    OPENSSL_free(id);
}

const uint8_t *cairn_identity_public(const cairn_identity *id)
{
    return id->pub;
}

int cairn_identity_seed(const cairn_identity *id, uint8_t seed[CAIRN_KEY_LEN])
{
    size_t len = CAIRN_KEY_LEN;
    if (!EVP_PKEY_get_raw_private_key(id->pkey, seed, &len) || len != CAIRN_KEY_LEN)
        return CAIRN_ERR_CRYPTO;
    return 0;
}

int cairn_identity_node_id(const cairn_identity *id, uint8_t out[CAIRN_HASH_LEN])
{
    return cairn_sha256(out, id->pub, CAIRN_KEY_LEN);
}

int cairn_identity_sign(const cairn_identity *id, uint8_t sig[CAIRN_SIG_LEN], const uint8_t *msg,
                        size_t len)
{
    int rv = CAIRN_ERR_CRYPTO;
    size_t siglen = CAIRN_SIG_LEN;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return CAIRN_ERR_NOMEM;
    if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, id->pkey, NULL) &&
        EVP_DigestSign(ctx, sig, &siglen, msg, len) && siglen == CAIRN_SIG_LEN)
        rv = 0;
    EVP_MD_CTX_free(ctx);
    return rv;
}

/*
 * The encodings of the eight points of small order (spec §6.4.1), with the
 * sign bit (bit 255) cleared: 0 (order 4), 1 (order 1), two points of order 8,
 * p-1 (order 2), and the non-canonical p (= 0) and p+1 (= 1). Comparing with
 * the sign bit ignored gives all fourteen encodings of a small-order point,
 * canonical or not; the list is libsodium's, so the two agree on every key.
 */
static const uint8_t small_order[7][CAIRN_KEY_LEN] = {
    {0},
    {1},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

/* The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

int cairn_ed25519_small_order(const uint8_t p[CAIRN_KEY_LEN])
{
    for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++)
        if (memcmp(p, small_order[i], CAIRN_KEY_LEN - 1) == 0 &&
            (p[CAIRN_KEY_LEN - 1] & 0x7f) == small_order[i][CAIRN_KEY_LEN - 1])
            return 1;
    return 0;
}

int cairn_ed25519_canonical(const uint8_t p[CAIRN_KEY_LEN])
{
    /* y (the low 255 bits) is at least p = 2^255 - 19 exactly when bytes 1..30
     * are ff, byte 31 without its sign bit is 7f, and byte 0 is ed or more. */
    if ((p[31] & 0x7f) != 0x7f)
        return 1;
    for (size_t i = 1; i < 31; i++)
        if (p[i] != 0xff)
            return 1;
    return p[0] < 0xed;
}

/* S < L, comparing the little-endian numbers from the top byte down. */
static int scalar_canonical(const uint8_t s[32])
{
    for (size_t i = 32; i-- > 0;)
        if (s[i] != group_order[i])
            return s[i] < group_order[i];
    return 0; /* S = L */
}

/*
 * [AUTH-10] [AUTH-11] The verification rule of spec §6.4.1, libsodium's:
 * refuse a key or R that is a non-canonical encoding or of small order, and
 * S >= L, before OpenSSL's cofactorless check ([S]B - [k]A encodes to R).
 * OpenSSL alone accepts small-order keys and R (the identity key verifies
 * R = 1, S = 0 for every message) and non-canonical keys.
 */
int cairn_ed25519_verify(const uint8_t pub[CAIRN_KEY_LEN], const uint8_t sig[CAIRN_SIG_LEN],
                         const uint8_t *msg, size_t len)
{
    int rv = CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE);
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (CAIRN_FAULT(PERMISSIVE_ED25519))
        ; /* the conformance self-test: what OpenSSL alone accepts */
    else if (!cairn_ed25519_canonical(pub) || cairn_ed25519_small_order(pub) ||
             !cairn_ed25519_canonical(sig) || cairn_ed25519_small_order(sig) ||
             !scalar_canonical(sig + 32))
        goto out;
    pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, CAIRN_KEY_LEN);
    if (!pkey)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx) {
        rv = CAIRN_ERR_NOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pkey, NULL) &&
        EVP_DigestVerify(ctx, sig, CAIRN_SIG_LEN, msg, len) == 1)
        rv = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rv;
}
