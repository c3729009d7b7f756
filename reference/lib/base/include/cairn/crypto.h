/*
 * SHA-256 and Ed25519 over OpenSSL 3's EVP interface.
 *
 * The SHA-256 implementation is fetched once per process (EVP_MD_fetch is the
 * expensive part of a one-shot digest: fetching it per call is ~2.4x slower
 * on 80-byte inputs). The OpenSSL objects allocate through OpenSSL's own
 * allocator; that memory is not counted against a cairn_env allocator.
 */
#ifndef CAIRN_CRYPTO_H
#define CAIRN_CRYPTO_H

#include "cairn/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_HASH_LEN 32
#define CAIRN_KEY_LEN  32
#define CAIRN_SIG_LEN  64

/* One-shot SHA-256. Returns 0 or CAIRN_ERR_CRYPTO. */
int cairn_sha256(uint8_t out[CAIRN_HASH_LEN], const void *data, size_t len);

/*
 * Incremental SHA-256 with a reusable context: init/update/final may be
 * repeated on one context without allocating again.
 */
typedef struct cairn_sha256_ctx cairn_sha256_ctx;
int cairn_sha256_ctx_new(cairn_sha256_ctx **out);
void cairn_sha256_ctx_del(cairn_sha256_ctx *ctx);
int cairn_sha256_init(cairn_sha256_ctx *ctx);
int cairn_sha256_update(cairn_sha256_ctx *ctx, const void *data, size_t len);
int cairn_sha256_final(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN]);
/* init + update + final in one call, on a reused context. */
int cairn_sha256_ctx_digest(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN], const void *data,
                            size_t len);

/* An Ed25519 key pair: a node's identity (spec §6). */
typedef struct cairn_identity cairn_identity;

/* Key pair from a 32-byte seed (RFC 8032 private key). */
int cairn_identity_from_seed(cairn_identity **out, const uint8_t seed[CAIRN_KEY_LEN]);
/* Fresh key pair; the seed comes from env->random. */
int cairn_identity_generate(cairn_identity **out, const cairn_env *env);
void cairn_identity_del(cairn_identity *id);
/* The 32-byte public key; lives as long as `id`. */
const uint8_t *cairn_identity_public(const cairn_identity *id);
/* Copies the 32-byte seed out (for storing the key). */
int cairn_identity_seed(const cairn_identity *id, uint8_t seed[CAIRN_KEY_LEN]);
/* Node ID = SHA-256(public key) (spec §6). */
int cairn_identity_node_id(const cairn_identity *id, uint8_t out[CAIRN_HASH_LEN]);
int cairn_identity_sign(const cairn_identity *id, uint8_t sig[CAIRN_SIG_LEN], const uint8_t *msg,
                        size_t len);

/*
 * Returns 0 when `sig` is a valid signature of `msg` by `pub` under the
 * verification rule of spec §6.4.1 (libsodium's: canonical, not small-order
 * A and R, S < L, cofactorless equation), CAIRN_E_BAD_SIGNATURE otherwise.
 */
/* 1 when the 32 bytes encode a point of small order (any of its 14 encodings). */
int cairn_ed25519_small_order(const uint8_t p[CAIRN_KEY_LEN]);
/* 1 when the y coordinate of the encoding (its low 255 bits) is below 2^255 - 19. */
int cairn_ed25519_canonical(const uint8_t p[CAIRN_KEY_LEN]);

int cairn_ed25519_verify(const uint8_t pub[CAIRN_KEY_LEN], const uint8_t sig[CAIRN_SIG_LEN],
                         const uint8_t *msg, size_t len);

#ifdef __cplusplus
}
#endif
#endif
