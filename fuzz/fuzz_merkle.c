/*
 * fuzz_merkle: RFC 6962 Merkle trees, audit paths and their verification
 * (spec §9.3; reference/lib/codec/include/cairn/merkle.h).
 *
 * Input: n u16 | index u16 | flags u8 | tamper u8 | leaf hashes (32 bytes
 * each; leaves past the input are derived from their index) and then, in
 * what is left, free-form proofs to verify:
 *   (leaf[32] | index u64 | n u64 | path_len u8 | path[32 * path_len] | root[32])*
 *
 * Oracles: the streaming builder, cairn_merkle_root and a recursive MTH
 * written from RFC 6962 agree (also on every prefix of small trees); the
 * audit path of cairn_merkle_proof and of a tracking builder equal RFC 6962
 * PATH(m, D[n]) and verify; a path, leaf or root with one bit changed never
 * verifies; and for arbitrary (leaf, index, n, path, root), including trees
 * of up to 2^64 - 1 leaves, cairn_merkle_verify agrees with a recursive
 * model that rebuilds the root from the path.
 */
#include <string.h>

#include "common.h"
#include "cairn/merkle.h"

#define MAX_N 130

/* The largest power of two smaller than n (n >= 2). */
static uint64_t split64(uint64_t n)
{
    return 1ull << (63 - __builtin_clzll(n - 1));
}

/*
 * Root from leaf `idx` of a tree of n leaves and its path (leaf upward);
 * the top-level sibling is path[len - 1]. Returns 0 on success, -1 when the
 * path length is not the leaf's depth.
 */
static int model_root(const uint8_t leaf[32], uint64_t idx, uint64_t n, const uint8_t (*path)[32],
                      size_t len, uint8_t out[32])
{
    if (n == 1) {
        if (len != 0)
            return -1;
        memcpy(out, leaf, 32);
        return 0;
    }
    if (len == 0)
        return -1;
    uint64_t k = split64(n);
    uint8_t sub[32];
    if (idx < k) {
        if (model_root(leaf, idx, k, path, len - 1, sub))
            return -1;
        fuzz_hash2(out, 0x01, sub, 32, path[len - 1], 32);
    } else {
        if (model_root(leaf, idx - k, n - k, path, len - 1, sub))
            return -1;
        fuzz_hash2(out, 0x01, path[len - 1], 32, sub, 32);
    }
    return 0;
}

static int model_verify(const uint8_t leaf[32], uint64_t idx, uint64_t n, const uint8_t (*path)[32],
                        size_t len, const uint8_t root[32])
{
    uint8_t r[32];
    if (idx >= n || model_root(leaf, idx, n, path, len, r))
        return 1;
    return memcmp(r, root, 32) == 0 ? 0 : 1;
}

static void check_verify(cairn_sha256_ctx *ctx, const uint8_t leaf[32], uint64_t idx, uint64_t n,
                         const uint8_t (*path)[32], size_t len, const uint8_t root[32])
{
    int got = cairn_merkle_verify(ctx, leaf, idx, n, path, len, root);
    int want = model_verify(leaf, idx, n, path, len, root);
    FUZZ_CHECK(got == want, "verify(index %llu, n %llu, path %zu) = %d, model %d",
               (unsigned long long)idx, (unsigned long long)n, len, got, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, data + size};
    size_t n = fuzz_u16(&in) % (MAX_N + 1);
    size_t index = fuzz_u16(&in);
    uint8_t flags = fuzz_u8(&in), tamper = fuzz_u8(&in);
    static uint8_t leaves[MAX_N][32];
    for (size_t i = 0; i < n; i++) {
        size_t got;
        const uint8_t *p = fuzz_bytes(&in, 32, &got);
        if (got == 32) {
            memcpy(leaves[i], p, 32);
        } else {
            uint8_t seed[9] = {flags};
            cairn_put_u64(seed + 1, i);
            fuzz_hash2(leaves[i], 0x00, seed, sizeof(seed), NULL, 0);
        }
    }
    const uint8_t(*L)[32] = (const uint8_t(*)[32])leaves;
    cairn_sha256_ctx *ctx = NULL;
    if (!(flags & 1))
        FUZZ_CHECK(cairn_sha256_ctx_new(&ctx) == 0, "sha256 context");

    /* Roots three ways; every prefix of a small tree. */
    uint8_t mth[32], root[32], broot[32];
    fuzz_mth(L, n, mth);
    FUZZ_CHECK(cairn_merkle_root(ctx, root, L, n) == 0 && memcmp(root, mth, 32) == 0,
               "cairn_merkle_root differs from MTH (n=%zu)", n);
    cairn_merkle_builder b;
    cairn_merkle_builder_init(&b, ctx);
    if (n)
        cairn_merkle_builder_track(&b, index % n);
    for (size_t i = 0; i < n; i++) {
        if (n <= 32 && i) {
            uint8_t pr[32], pm[32];
            FUZZ_CHECK(cairn_merkle_builder_root(&b, pr) == 0, "builder root");
            fuzz_mth(L, i, pm);
            FUZZ_CHECK(memcmp(pr, pm, 32) == 0, "builder root of %zu leaves differs", i);
        }
        if (n && i == index % n) {
            uint8_t path[64][32];
            size_t pl;
            FUZZ_CHECK(cairn_merkle_builder_proof(&b, path, 64, &pl) == CAIRN_ERR_STATE,
                       "proof before the tracked leaf was added");
        }
        FUZZ_CHECK(cairn_merkle_builder_add(&b, leaves[i]) == 0, "builder add");
    }
    FUZZ_CHECK(cairn_merkle_builder_root(&b, broot) == 0 && memcmp(broot, mth, 32) == 0,
               "builder root differs from MTH (n=%zu)", n);
    FUZZ_CHECK(b.count == n, "builder count");

    uint8_t path[CAIRN_MERKLE_MAX_PATH][32], mpath[CAIRN_MERKLE_MAX_PATH][32],
        bpath[CAIRN_MERKLE_MAX_PATH][32];
    size_t pl = 99, bpl = 99;
    if (n == 0 || index >= n) {
        FUZZ_CHECK(cairn_merkle_proof(ctx, L, n, index, path, 64, &pl) == CAIRN_ERR_INVALID_ARG,
                   "proof of leaf %zu of %zu", index, n);
        check_verify(ctx, n ? leaves[0] : mth, index, n, (const uint8_t(*)[32])path, 0, mth);
        index = n ? index % n : 0;
    }
    if (n) {
        /* The audit path, three ways, and its verification. */
        size_t mpl = fuzz_path(L, n, index, mpath);
        FUZZ_CHECK(cairn_merkle_proof(ctx, L, n, index, path, 64, &pl) == 0, "proof failed");
        FUZZ_CHECK(pl == mpl && memcmp(path, mpath, pl * 32) == 0,
                   "path of leaf %zu of %zu differs from RFC 6962 PATH", index, n);
        if (index == b.target)
            FUZZ_CHECK(cairn_merkle_builder_proof(&b, bpath, 64, &bpl) == 0 && bpl == pl &&
                           memcmp(bpath, path, pl * 32) == 0,
                       "tracking builder path differs");
        if (pl > 0) {
            size_t small;
            FUZZ_CHECK(cairn_merkle_proof(ctx, L, n, index, bpath, pl - 1, &small) ==
                           CAIRN_ERR_BUFFER_TOO_SMALL,
                       "path longer than cap");
        }
        const uint8_t(*P)[32] = (const uint8_t(*)[32])path;
        FUZZ_CHECK(cairn_merkle_verify(ctx, leaves[index], index, n, P, pl, mth) == 0,
                   "an honest path does not verify (leaf %zu of %zu)", index, n);
        check_verify(ctx, leaves[index], index, n, P, pl, mth);

        /* One bit changed anywhere: never verifies. */
        uint8_t leaf[32], r[32];
        memcpy(leaf, leaves[index], 32);
        memcpy(r, mth, 32);
        unsigned bit = tamper & 7, byte = (tamper >> 3) & 31;
        switch (flags >> 1 & 3) {
        case 0:
            leaf[byte] ^= (uint8_t)(1u << bit);
            break;
        case 1:
            r[byte] ^= (uint8_t)(1u << bit);
            break;
        default:
            if (pl)
                path[(tamper >> 2) % pl][byte] ^= (uint8_t)(1u << bit);
            else
                leaf[byte] ^= (uint8_t)(1u << bit);
        }
        FUZZ_CHECK(cairn_merkle_verify(ctx, leaf, index, n, P, pl, r) == 1,
                   "a tampered proof verifies (leaf %zu of %zu)", index, n);
        /* Other indices, sizes and path lengths: whatever the model says. */
        check_verify(ctx, leaves[index], index ^ (tamper & 3), n, P, pl, mth);
        check_verify(ctx, leaves[index], index, n + (flags >> 4), P, pl, mth);
        check_verify(ctx, leaves[index], index, n, P, pl ? pl - 1 : 0, mth);
        if (pl < CAIRN_MERKLE_MAX_PATH) {
            memcpy(path[pl], mth, 32);
            check_verify(ctx, leaves[index], index, n, P, pl + 1, mth);
        }
    }

    /* Free-form proofs: the rest of the input. */
    while (fuzz_left(&in) >= 32 + 16 + 1 + 32) {
        uint8_t leaf[32], r[32], fp[CAIRN_MERKLE_MAX_PATH][32];
        size_t got;
        memcpy(leaf, fuzz_bytes(&in, 32, &got), 32);
        uint64_t idx = fuzz_u64(&in), nn = fuzz_u64(&in);
        size_t len = fuzz_u8(&in) % (CAIRN_MERKLE_MAX_PATH + 1);
        memset(fp, 0, sizeof(fp));
        for (size_t i = 0; i < len; i++) {
            const uint8_t *q = fuzz_bytes(&in, 32, &got);
            memcpy(fp[i], q, got);
        }
        memset(r, 0, 32);
        const uint8_t *q = fuzz_bytes(&in, 32, &got);
        memcpy(r, q, got);
        check_verify(ctx, leaf, idx, nn, (const uint8_t(*)[32])fp, len, r);
    }
    cairn_sha256_ctx_del(ctx);
    return 0;
}
