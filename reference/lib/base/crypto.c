/*
 * SHA-256 and Ed25519 through OpenSSL 3 EVP. The SHA-256 EVP_MD is fetched
 * once per process; contexts are reused by callers on hot paths.
 */
#include "cairn/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

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

int cairn_ed25519_verify(const uint8_t pub[CAIRN_KEY_LEN], const uint8_t sig[CAIRN_SIG_LEN],
                         const uint8_t *msg, size_t len)
{
    int rv = CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE);
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, CAIRN_KEY_LEN);
    if (!pkey)
        goto out; /* not a valid curve point */
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
