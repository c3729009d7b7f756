/*
 * RFC 6962 Merkle Tree Hash, audit paths and their verification (§9.3).
 *
 * The builder keeps the roots of the perfect subtrees that the binary
 * representation of the leaf count describes (largest, leftmost first). RFC
 * 6962 splits at the largest power of two below n, so the tree of n leaves is
 * exactly those subtrees folded from the right: root = s0 . (s1 . (s2 ...)).
 */
#include "cairn/merkle.h"

/* SHA-256(prefix || a || b) on `ctx`, or on a temporary context when NULL. */
static int hash_prefixed(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN], uint8_t prefix,
                         const void *a, size_t alen, const void *b, size_t blen)
{
    cairn_sha256_ctx *tmp = NULL;
    int rv;
    if (!ctx) {
        if ((rv = cairn_sha256_ctx_new(&tmp)) != 0)
            return rv;
        ctx = tmp;
    }
    if ((rv = cairn_sha256_init(ctx)) != 0 || (rv = cairn_sha256_update(ctx, &prefix, 1)) != 0 ||
        (alen && (rv = cairn_sha256_update(ctx, a, alen)) != 0) ||
        (blen && (rv = cairn_sha256_update(ctx, b, blen)) != 0))
        goto out;
    rv = cairn_sha256_final(ctx, out);
out:
    cairn_sha256_ctx_del(tmp);
    return rv;
}

int cairn_merkle_leaf_hash(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN], const void *data,
                           size_t len)
{
    return hash_prefixed(ctx, out, 0x00, data, len, NULL, 0);
}

int cairn_merkle_node_hash(cairn_sha256_ctx *ctx, uint8_t out[CAIRN_HASH_LEN],
                           const uint8_t left[CAIRN_HASH_LEN], const uint8_t right[CAIRN_HASH_LEN])
{
    /* One contiguous 65-byte message: a single update is cheaper than three. */
    uint8_t msg[1 + 2 * CAIRN_HASH_LEN];
    msg[0] = 0x01;
    memcpy(msg + 1, left, CAIRN_HASH_LEN);
    memcpy(msg + 1 + CAIRN_HASH_LEN, right, CAIRN_HASH_LEN);
    if (!ctx)
        return cairn_sha256(out, msg, sizeof(msg));
    return cairn_sha256_ctx_digest(ctx, out, msg, sizeof(msg));
}

void cairn_merkle_builder_init(cairn_merkle_builder *b, cairn_sha256_ctx *ctx)
{
    b->ctx = ctx;
    b->count = 0;
    b->depth = 0;
    b->tracking = 0;
    b->target = 0;
    b->tslot = 0;
    b->path_len = 0;
}

void cairn_merkle_builder_track(cairn_merkle_builder *b, uint64_t index)
{
    b->tracking = 1;
    b->target = index;
    b->path_len = 0;
}

int cairn_merkle_builder_add(cairn_merkle_builder *b, const uint8_t leaf_hash[CAIRN_HASH_LEN])
{
    if (b->count == UINT64_MAX)
        return CAIRN_ERR_INVALID_ARG;
    memcpy(b->stack[b->depth], leaf_hash, CAIRN_HASH_LEN);
    if (b->tracking && b->count == b->target)
        b->tslot = b->depth;
    b->depth++;
    /* Each trailing one bit of the old count is a pair of equal subtrees. */
    for (uint64_t n = b->count; n & 1; n >>= 1) {
        unsigned l = b->depth - 2, r = b->depth - 1;
        if (b->tracking && b->count >= b->target) {
            if (b->tslot == r) {
                memcpy(b->path[b->path_len++], b->stack[l], CAIRN_HASH_LEN);
                b->tslot = l;
            } else if (b->tslot == l) {
                memcpy(b->path[b->path_len++], b->stack[r], CAIRN_HASH_LEN);
            }
        }
        int rv = cairn_merkle_node_hash(b->ctx, b->stack[l], b->stack[l], b->stack[r]);
        if (rv != 0)
            return rv;
        b->depth--;
    }
    b->count++;
    return 0;
}

/* Fold stack slots [from, depth) right to left into `out`. */
static int fold(cairn_merkle_builder *b, unsigned from, uint8_t out[CAIRN_HASH_LEN])
{
    uint8_t h[CAIRN_HASH_LEN];
    memcpy(h, b->stack[b->depth - 1], CAIRN_HASH_LEN);
    for (unsigned i = b->depth - 1; i-- > from;) {
        int rv = cairn_merkle_node_hash(b->ctx, h, b->stack[i], h);
        if (rv != 0)
            return rv;
    }
    memcpy(out, h, CAIRN_HASH_LEN);
    return 0;
}

int cairn_merkle_builder_root(cairn_merkle_builder *b, uint8_t root[CAIRN_HASH_LEN])
{
    if (b->depth == 0) /* [MRK-1] the empty tree: SHA-256 of nothing */
        return b->ctx ? cairn_sha256_ctx_digest(b->ctx, root, "", 0) : cairn_sha256(root, "", 0);
    return fold(b, 0, root);
}

int cairn_merkle_builder_proof(cairn_merkle_builder *b, uint8_t (*path)[CAIRN_HASH_LEN], size_t cap,
                               size_t *path_len)
{
    *path_len = 0;
    if (!b->tracking || b->count <= b->target)
        return CAIRN_ERR_STATE;
    /* Inside the target's perfect subtree, then everything to its right as
     * one hash, then each larger subtree to its left. */
    size_t len = b->path_len + (b->tslot + 1 < b->depth) + b->tslot;
    if (len > cap)
        return CAIRN_ERR_BUFFER_TOO_SMALL;
    memcpy(path, b->path, b->path_len * CAIRN_HASH_LEN);
    size_t k = b->path_len;
    if (b->tslot + 1 < b->depth) {
        int rv = fold(b, b->tslot + 1, path[k++]);
        if (rv != 0)
            return rv;
    }
    for (unsigned i = b->tslot; i-- > 0;)
        memcpy(path[k++], b->stack[i], CAIRN_HASH_LEN);
    *path_len = k;
    return 0;
}

int cairn_merkle_root(cairn_sha256_ctx *ctx, uint8_t root[CAIRN_HASH_LEN],
                      const uint8_t (*leaves)[CAIRN_HASH_LEN], size_t n)
{
    cairn_merkle_builder b;
    cairn_merkle_builder_init(&b, ctx);
    for (size_t i = 0; i < n; i++) {
        int rv = cairn_merkle_builder_add(&b, leaves[i]);
        if (rv != 0)
            return rv;
    }
    return cairn_merkle_builder_root(&b, root);
}

int cairn_merkle_proof(cairn_sha256_ctx *ctx, const uint8_t (*leaves)[CAIRN_HASH_LEN], size_t n,
                       size_t index, uint8_t (*path)[CAIRN_HASH_LEN], size_t cap, size_t *path_len)
{
    cairn_merkle_builder b;
    *path_len = 0;
    if (index >= n)
        return CAIRN_ERR_INVALID_ARG;
    cairn_merkle_builder_init(&b, ctx);
    cairn_merkle_builder_track(&b, index);
    for (size_t i = 0; i < n; i++) {
        int rv = cairn_merkle_builder_add(&b, leaves[i]);
        if (rv != 0)
            return rv;
    }
    return cairn_merkle_builder_proof(&b, path, cap, path_len);
}

int cairn_merkle_verify(cairn_sha256_ctx *ctx, const uint8_t leaf_hash[CAIRN_HASH_LEN],
                        uint64_t index, uint64_t n, const uint8_t (*path)[CAIRN_HASH_LEN],
                        size_t path_len, const uint8_t root[CAIRN_HASH_LEN])
{
    if (index >= n)
        return 1;
    uint64_t fn = index, sn = n - 1;
    uint8_t r[CAIRN_HASH_LEN];
    memcpy(r, leaf_hash, CAIRN_HASH_LEN);
    for (size_t i = 0; i < path_len; i++) {
        int rv;
        if (sn == 0)
            return 1; /* path longer than the tree is deep */
        if ((fn & 1) || fn == sn) {
            rv = cairn_merkle_node_hash(ctx, r, path[i], r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            rv = cairn_merkle_node_hash(ctx, r, r, path[i]);
        }
        if (rv != 0)
            return rv;
        fn >>= 1;
        sn >>= 1;
    }
    return (sn == 0 && memcmp(r, root, CAIRN_HASH_LEN) == 0) ? 0 : 1;
}
