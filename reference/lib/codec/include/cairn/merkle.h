/*
 * RFC 6962 Merkle trees (spec §9.3), generic over leaf hashes so that block
 * entries and file chunks share one implementation:
 *
 *   MTH({})     = SHA-256("")
 *   leaf hash   = SHA-256(0x00 || d)
 *   node hash   = SHA-256(0x01 || left || right)
 *   MTH(D[n])   = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
 *
 * The builder consumes leaf hashes one at a time in O(log n) memory and can
 * record the audit path of one chosen leaf on the way, so a file of any size
 * yields its root and a chunk proof without holding all chunk hashes.
 * Audit paths are listed leaf upward (RFC 6962 §2.1.1 order).
 */
#ifndef CAIRN_MERKLE_H
#define CAIRN_MERKLE_H

#include "cairn/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest possible audit path (trees of up to 2^64 - 1 leaves). */
#define CAIRN_MERKLE_MAX_PATH 64

/* SHA-256(0x00 || data). `ctx` is a reused context or NULL (one-shot). */
int cairn_merkle_leaf_hash(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN], const void *data,
                           size_t len);
/* SHA-256(0x01 || left || right). */
int cairn_merkle_node_hash(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN],
                           const uint8_t left[CAIRN_HASH_LEN], const uint8_t right[CAIRN_HASH_LEN]);

/*
 * Streaming builder. The struct is plain data (about 4 KiB); it owns nothing
 * and needs no cleanup. `ctx` must outlive it.
 */
typedef struct cairn_merkle_builder {
    cairn_sha256_ctx *ctx;
    uint64_t count;                                       /* leaves added */
    unsigned depth;                                       /* entries in stack */
    uint8_t stack[CAIRN_MERKLE_MAX_PATH][CAIRN_HASH_LEN]; /* perfect subtrees, largest first */
    int tracking;
    uint64_t target; /* leaf whose audit path is recorded */
    unsigned tslot;  /* stack slot holding the target's subtree */
    size_t path_len;
    uint8_t path[CAIRN_MERKLE_MAX_PATH][CAIRN_HASH_LEN];
} cairn_merkle_builder;

void cairn_merkle_builder_init(cairn_merkle_builder *b, cairn_sha256_ctx *ctx);
/* Record the audit path of leaf `index`; call before the first add. */
void cairn_merkle_builder_track(cairn_merkle_builder *b, uint64_t index);
/* Append the next leaf hash. */
int cairn_merkle_builder_add(cairn_merkle_builder *b, const uint8_t leaf_hash[CAIRN_HASH_LEN]);
/* Root of the leaves added so far (the builder can keep growing after). */
int cairn_merkle_builder_root(cairn_merkle_builder *b, uint8_t root[CAIRN_HASH_LEN]);
/*
 * Audit path of the tracked leaf in the tree of the leaves added so far.
 * Writes at most `cap` hashes. Returns CAIRN_ERR_STATE when no leaf is
 * tracked or it has not been added yet, CAIRN_ERR_BUFFER_TOO_SMALL when the
 * path is longer than `cap`.
 */
int cairn_merkle_builder_proof(cairn_merkle_builder *b, uint8_t (*path)[CAIRN_HASH_LEN], size_t cap,
                               size_t *path_len);

/* MTH over an array of `n` leaf hashes. */
int cairn_merkle_root(cairn_sha256_ctx *ctx, uint8_t root[CAIRN_HASH_LEN],
                      const uint8_t (*leaves)[CAIRN_HASH_LEN], size_t n);
/* Audit path of leaf `index` (< n) over an array of leaf hashes. */
int cairn_merkle_proof(cairn_sha256_ctx *ctx, const uint8_t (*leaves)[CAIRN_HASH_LEN], size_t n,
                       size_t index, uint8_t (*path)[CAIRN_HASH_LEN], size_t cap, size_t *path_len);

/*
 * Verifies that `leaf_hash` is leaf `index` of a tree of `n` leaves with root
 * `root` (RFC 9162 §2.1.3.2). Returns 0 when it does, 1 when it does not
 * (index >= n, a path of the wrong length, a different root), and a negative
 * error only on a local failure.
 */
int cairn_merkle_verify(cairn_sha256_ctx *ctx, const uint8_t leaf_hash[CAIRN_HASH_LEN],
                        uint64_t index, uint64_t n, const uint8_t (*path)[CAIRN_HASH_LEN],
                        size_t path_len, const uint8_t root[CAIRN_HASH_LEN]);

#ifdef __cplusplus
}
#endif
#endif
