/*
 * RFC 6962 Merkle trees: roots and audit paths against a direct recursive
 * transcription of RFC 6962 §2.1, for every size up to 70 and every index.
 */
#include "chain_helpers.h"

#include "cairn/merkle.h"

static void leaf(uint8_t out[32], uint32_t i)
{
    uint8_t d[4];
    cairn_put_u32(d, i);
    assert_int_equal(cairn_merkle_leaf_hash(NULL, out, d, sizeof(d)), 0);
}

/* MTH(D[lo:hi]) straight from the RFC, over precomputed leaf hashes. */
static void mth(uint8_t out[32], uint8_t (*l)[32], size_t lo, size_t hi)
{
    size_t n = hi - lo;
    if (n == 0) {
        cairn_sha256(out, "", 0);
        return;
    }
    if (n == 1) {
        memcpy(out, l[lo], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t a[32], b[32], msg[65];
    mth(a, l, lo, lo + k);
    mth(b, l, lo + k, hi);
    msg[0] = 1;
    memcpy(msg + 1, a, 32);
    memcpy(msg + 33, b, 32);
    cairn_sha256(out, msg, 65);
}

/* PATH(m, D[lo:hi]) from RFC 6962 §2.1.1. */
static size_t path(uint8_t (*out)[32], uint8_t (*l)[32], size_t m, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    if (n <= 1)
        return 0;
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    size_t len;
    if (m < k) {
        len = path(out, l, m, lo, lo + k);
        mth(out[len], l, lo + k, hi);
    } else {
        len = path(out, l, m - k, lo + k, hi);
        mth(out[len], l, lo, lo + k);
    }
    return len + 1;
}

static void known_values(void **state)
{
    (void)state;
    uint8_t r[32], want[32];
    assert_int_equal(cairn_merkle_root(NULL, r, NULL, 0), 0);
    cairn_hex_decode(want, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_memory_equal(r, want, 32);
    /* leaf("") = SHA-256(0x00) */
    assert_int_equal(cairn_merkle_leaf_hash(NULL, r, "", 0), 0);
    cairn_hex_decode(want, 32, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert_memory_equal(r, want, 32);
}

static void roots_and_paths(void **state)
{
    (void)state;
    enum { N = 70 };
    uint8_t l[N][32], r[32], want[32], p[CAIRN_MERKLE_MAX_PATH][32], q[CAIRN_MERKLE_MAX_PATH][32];
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    for (uint32_t i = 0; i < N; i++)
        leaf(l[i], i);
    for (size_t n = 0; n <= N; n++) {
        mth(want, l, 0, n);
        assert_int_equal(cairn_merkle_root(ctx, r, (const uint8_t(*)[32])l, n), 0);
        assert_memory_equal(r, want, 32);
        for (size_t m = 0; m < n; m++) {
            size_t len, wlen = path(q, l, m, 0, n);
            assert_int_equal(cairn_merkle_proof(ctx, (const uint8_t(*)[32])l, n, m, p,
                                                CAIRN_MERKLE_MAX_PATH, &len),
                             0);
            assert_int_equal(len, wlen);
            assert_memory_equal(p, q, len * 32);
            assert_int_equal(cairn_merkle_verify(ctx, l[m], m, n, (const uint8_t(*)[32])p, len, r),
                             0);
            /* the same proof for another index, size or leaf fails */
            if (n > 1) {
                assert_int_equal(
                    cairn_merkle_verify(ctx, l[m], (m + 1) % n, n, (const uint8_t(*)[32])p, len, r),
                    1);
                assert_int_equal(
                    cairn_merkle_verify(ctx, l[(m + 1) % n], m, n, (const uint8_t(*)[32])p, len, r),
                    1);
            }
            assert_int_equal(cairn_merkle_verify(ctx, l[m], n, n, (const uint8_t(*)[32])p, len, r),
                             1);
            if (len) {
                assert_int_equal(
                    cairn_merkle_verify(ctx, l[m], m, n, (const uint8_t(*)[32])p, len - 1, r), 1);
                p[len - 1][7] ^= 1;
                assert_int_equal(
                    cairn_merkle_verify(ctx, l[m], m, n, (const uint8_t(*)[32])p, len, r), 1);
                p[len - 1][7] ^= 1;
            }
            memcpy(p[len], r, 32); /* one hash too many */
            assert_int_equal(
                cairn_merkle_verify(ctx, l[m], m, n, (const uint8_t(*)[32])p, len + 1, r), 1);
        }
    }
    cairn_sha256_ctx_del(ctx);
}

/* The builder gives the same root and path while streaming, at any moment. */
static void streaming(void **state)
{
    (void)state;
    enum { N = 37 };
    uint8_t l[N][32], r[32], want[32], p[64][32], q[64][32];
    for (uint32_t i = 0; i < N; i++)
        leaf(l[i], i);
    for (uint64_t target = 0; target < N; target++) {
        cairn_merkle_builder b;
        size_t len;
        cairn_merkle_builder_init(&b, NULL);
        cairn_merkle_builder_track(&b, target);
        assert_int_equal(cairn_merkle_builder_proof(&b, p, 64, &len), CAIRN_ERR_STATE);
        for (size_t n = 1; n <= N; n++) {
            assert_int_equal(cairn_merkle_builder_add(&b, l[n - 1]), 0);
            assert_int_equal(cairn_merkle_builder_root(&b, r), 0);
            mth(want, l, 0, n);
            assert_memory_equal(r, want, 32);
            if (n <= target)
                continue;
            assert_int_equal(cairn_merkle_builder_proof(&b, p, 64, &len), 0);
            size_t wlen = path(q, l, target, 0, n);
            assert_int_equal(len, wlen);
            assert_memory_equal(p, q, len * 32);
            if (len)
                assert_int_equal(cairn_merkle_builder_proof(&b, p, len - 1, &len),
                                 CAIRN_ERR_BUFFER_TOO_SMALL);
        }
    }
    cairn_merkle_builder b;
    size_t len;
    cairn_merkle_builder_init(&b, NULL);
    assert_int_equal(cairn_merkle_builder_proof(&b, p, 64, &len), CAIRN_ERR_STATE);
    assert_int_equal(cairn_merkle_proof(NULL, (const uint8_t(*)[32])l, 3, 3, p, 64, &len),
                     CAIRN_ERR_INVALID_ARG);
}

/* A big tree of 2^16 + 3 leaves: the last leaf's path is its two left neighbours' subtrees. */
static void large_tree(void **state)
{
    (void)state;
    const uint64_t n = (1u << 16) + 3;
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    cairn_merkle_builder b;
    uint8_t h[32], last[32], r[32], p[64][32];
    size_t len;
    cairn_merkle_builder_init(&b, ctx);
    cairn_merkle_builder_track(&b, n - 1);
    for (uint32_t i = 0; i < n; i++) {
        leaf(h, i);
        assert_int_equal(cairn_merkle_builder_add(&b, h), 0);
    }
    memcpy(last, h, 32);
    assert_int_equal(cairn_merkle_builder_root(&b, r), 0);
    assert_int_equal(cairn_merkle_builder_proof(&b, p, 64, &len), 0);
    assert_int_equal(len, 2); /* MTH(D[65536:65538]), MTH(D[0:65536]) */
    assert_int_equal(cairn_merkle_verify(ctx, last, n - 1, n, (const uint8_t(*)[32])p, len, r), 0);
    cairn_sha256_ctx_del(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_values),
        cmocka_unit_test(roots_and_paths),
        cmocka_unit_test(streaming),
        cmocka_unit_test(large_tree),
    };
    return cmocka_run_group_tests_name("chain_merkle", tests, NULL, NULL);
}
