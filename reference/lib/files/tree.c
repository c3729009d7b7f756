/*
 * Chunk hashing, the RFC 6962 tree as levels, and chunk verification
 * (spec §9.3, §11.3).
 */
#include "cairn/files.h"

#define INVALID_CHUNK CAIRN_ERR_PROTO(CAIRN_E_INVALID_CHUNK)

/* ---- Streaming hasher ------------------------------------------------------------ */

struct cairn_file_hasher {
    const cairn_mem *mem;
    cairn_file_geom geom;
    cairn_sha256_ctx *leaf_ctx; /* the chunk being hashed */
    cairn_sha256_ctx *node_ctx; /* the builder's */
    uint64_t fed;               /* bytes consumed so far */
    uint64_t index;             /* chunk being hashed */
    size_t in_chunk;            /* bytes of it consumed */
    cairn_file_leaf_cb on_leaf;
    void *ud;
    cairn_merkle_builder b;
};

int cairn_file_hasher_new(cairn_file_hasher **out, uint64_t size, unsigned chunk_log2,
                          cairn_file_leaf_cb on_leaf, void *ud, const cairn_mem *mem)
{
    *out = NULL;
    cairn_file_hasher *h = cairn_mem_calloc(mem, 1, sizeof(*h));
    if (!h)
        return CAIRN_ERR_NOMEM;
    h->mem = mem;
    h->on_leaf = on_leaf;
    h->ud = ud;
    int rv = cairn_file_geom_init(&h->geom, size, chunk_log2);
    if (rv == 0 && (rv = cairn_sha256_ctx_new(&h->leaf_ctx)) == 0)
        rv = cairn_sha256_ctx_new(&h->node_ctx);
    if (rv != 0) {
        cairn_file_hasher_del(h);
        return rv;
    }
    cairn_merkle_builder_init(&h->b, h->node_ctx);
    *out = h;
    return 0;
}

void cairn_file_hasher_del(cairn_file_hasher *h)
{
    if (!h)
        return;
    cairn_sha256_ctx_del(h->leaf_ctx);
    cairn_sha256_ctx_del(h->node_ctx);
    cairn_mem_free(h->mem, h);
}

/* The current chunk is complete: its leaf hash goes into the tree. */
static int finish_chunk(cairn_file_hasher *h)
{
    uint8_t leaf[CAIRN_HASH_LEN];
    int rv = cairn_sha256_final(h->leaf_ctx, leaf);
    if (rv == 0 && (rv = cairn_merkle_builder_add(&h->b, leaf)) == 0 && h->on_leaf)
        rv = h->on_leaf(h->ud, h->index, leaf);
    h->index++;
    h->in_chunk = 0;
    return rv;
}

int cairn_file_hasher_update(cairn_file_hasher *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len > h->geom.size - h->fed)
        return CAIRN_ERR_INVALID_ARG;
    while (len) {
        size_t clen = cairn_file_chunk_len(&h->geom, h->index);
        int rv;
        if (h->in_chunk == 0) {
            static const uint8_t leaf_prefix = 0x00; /* [MRK-2] */
            if ((rv = cairn_sha256_init(h->leaf_ctx)) != 0 ||
                (rv = cairn_sha256_update(h->leaf_ctx, &leaf_prefix, 1)) != 0)
                return rv;
        }
        size_t take = clen - h->in_chunk < len ? clen - h->in_chunk : len;
        if ((rv = cairn_sha256_update(h->leaf_ctx, p, take)) != 0)
            return rv;
        p += take;
        len -= take;
        h->fed += take;
        h->in_chunk += take;
        if (h->in_chunk == clen && (rv = finish_chunk(h)) != 0)
            return rv;
    }
    return 0;
}

int cairn_file_hasher_final(cairn_file_hasher *h, uint8_t root[CAIRN_HASH_LEN])
{
    if (h->fed != h->geom.size)
        return CAIRN_ERR_STATE;
    /* [FILE-10] MTH of the chunks; SHA-256("") for an empty file */
    return cairn_merkle_builder_root(&h->b, root);
}

/* ---- Levels ---------------------------------------------------------------------- */

unsigned cairn_tree_height(uint64_t n)
{
    unsigned h = 0;
    while (n > 1) {
        n = (n + 1) / 2;
        h++;
    }
    return h;
}

uint64_t cairn_tree_level_len(uint64_t n, unsigned level)
{
    for (unsigned j = 0; j < level && n > 1; j++)
        n = (n + 1) / 2;
    return n;
}

uint64_t cairn_tree_level_start(uint64_t n, unsigned level)
{
    uint64_t start = 0;
    for (unsigned j = 0; j < level; j++) {
        start += n;
        n = n > 1 ? (n + 1) / 2 : 0; /* nothing above the top level */
    }
    return start;
}

size_t cairn_tree_proof_positions(uint64_t index, uint64_t n,
                                  cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH])
{
    size_t k = 0;
    if (index >= n)
        return 0;
    /* At each level the sibling of the node on the leaf's path, when it
     * exists; a node without one is carried up unchanged and adds nothing. */
    for (unsigned level = 0; n > 1; level++) {
        uint64_t sib = index ^ 1;
        if (sib < n) {
            pos[k].level = level;
            pos[k].index = sib;
            k++;
        }
        index >>= 1;
        n = (n + 1) / 2;
    }
    return k;
}

int cairn_tree_level_up(cairn_sha256_ctx *ctx, const uint8_t (*in)[CAIRN_HASH_LEN], size_t count,
                        uint8_t (*out)[CAIRN_HASH_LEN])
{
    size_t i = 0, o = 0;
    for (; i + 1 < count; i += 2, o++) {
        int rv = cairn_merkle_node_hash(ctx, out[o], in[i], in[i + 1]);
        if (rv != 0)
            return rv;
    }
    if (i < count)
        memmove(out[o], in[i], CAIRN_HASH_LEN);
    return 0;
}

/* ---- Verification ------------------------------------------------------------------ */

int cairn_chunk_verify_leaf(cairn_sha256_ctx *ctx, const cairn_file *f, uint64_t index,
                            const uint8_t leaf[CAIRN_HASH_LEN],
                            const uint8_t (*proof)[CAIRN_HASH_LEN], size_t proof_len)
{
    if (index >= f->geom.n_chunks)
        return CAIRN_ERR_INVALID_ARG;
    /* [CHK-12] [MRK-6] */
    int rv = cairn_merkle_verify(ctx, leaf, index, f->geom.n_chunks, proof, proof_len, f->root);
    if (rv < 0)
        return rv;
    return rv == 0 ? 0 : INVALID_CHUNK;
}

int cairn_chunk_verify(cairn_sha256_ctx *ctx, const cairn_file *f, uint64_t index,
                       const uint8_t *data, size_t len, const uint8_t (*proof)[CAIRN_HASH_LEN],
                       size_t proof_len, uint8_t leaf[CAIRN_HASH_LEN])
{
    uint8_t h[CAIRN_HASH_LEN];
    if (index >= f->geom.n_chunks)
        return CAIRN_ERR_INVALID_ARG;
    /* [CHK-11] the exact length of chunk `index`, before hashing anything */
    if (len != cairn_file_chunk_len(&f->geom, index))
        return INVALID_CHUNK;
    int rv = cairn_merkle_leaf_hash(ctx, h, data, len);
    if (rv == 0)
        rv = cairn_chunk_verify_leaf(ctx, f, index, h, proof, proof_len);
    if (rv == 0 && leaf)
        memcpy(leaf, h, CAIRN_HASH_LEN);
    return rv;
}
