/* files: geometry, names, manifests, hashing, tree levels, chunk verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "cairn/files.h"
#include "testenv.h"

#define CS     (1u << 14)
#define LOG2   14
#define INVF   CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)
#define INVC   CAIRN_ERR_PROTO(CAIRN_E_INVALID_CHUNK)
#define MAXLVL (2 * 300 + 64)

static test_env g_env;

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = (uint8_t)seed;
    }
    return p;
}

static void test_geometry(void **state)
{
    (void)state;
    cairn_file_geom g;
    struct {
        uint64_t size;
        uint64_t n;
        size_t last;
    } cases[] = {{0, 0, 0},           {1, 1, 1},
                 {CS - 1, 1, CS - 1}, {CS, 1, CS},
                 {CS + 1, 2, 1},      {5 * (uint64_t)CS + 7, 6, 7},
                 {3 * CS, 3, CS},     {CAIRN_FILE_MAX_SIZE, (uint64_t)1 << 36, CS}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cairn_file_geom_init(&g, cases[i].size, LOG2), 0);
        assert_true(g.n_chunks == cases[i].n);
        if (g.n_chunks) {
            assert_int_equal(cairn_file_chunk_len(&g, g.n_chunks - 1), cases[i].last);
            assert_int_equal(cairn_file_chunk_len(&g, 0), cases[i].size < CS ? cases[i].size : CS);
        }
        assert_int_equal(cairn_file_chunk_len(&g, g.n_chunks), 0);
    }
    /* [FILE-1] [FILE-2] */
    assert_int_equal(cairn_file_geom_init(&g, 1, 13), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_geom_init(&g, 1, 21), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_geom_init(&g, CAIRN_FILE_MAX_SIZE + 1, 20), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_geom_init(&g, 1u << 20, 20), 0);
    assert_true(g.n_chunks == 1);
    assert_true(cairn_file_chunk_offset(&g, 3) == 3u << 20);

    assert_int_equal(cairn_file_chunk_log2_for(0), 14);
    assert_int_equal(cairn_file_chunk_log2_for(64u << 20), 14);
    assert_int_equal(cairn_file_chunk_log2_for((64u << 20) + 1), 15);
    assert_int_equal(cairn_file_chunk_log2_for(48u << 20), 14);
    assert_int_equal(cairn_file_chunk_log2_for(1u << 30), 18);
    assert_int_equal(cairn_file_chunk_log2_for((uint64_t)4 << 30), 20);
    assert_int_equal(cairn_file_chunk_log2_for((uint64_t)1 << 40), 20);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(cairn_file_name_ok((const uint8_t *)"a.txt", 5));
    assert_true(cairn_file_name_ok((const uint8_t *)"", 0));
    assert_true(cairn_file_name_ok((const uint8_t *)"\xc3\xa9t\xc3\xa9", 5));
    assert_false(cairn_file_name_ok((const uint8_t *)"..", 2));
    assert_false(cairn_file_name_ok((const uint8_t *)".", 1));
    assert_false(cairn_file_name_ok((const uint8_t *)"a/b", 3));
    assert_false(cairn_file_name_ok((const uint8_t *)"a\\b", 3));
    assert_false(cairn_file_name_ok((const uint8_t *)"a\0b", 3));
    assert_false(cairn_file_name_ok((const uint8_t *)"a\nb", 3));
    assert_false(cairn_file_name_ok((const uint8_t *)"\xc0\xaf", 2));     /* overlong '/' */
    assert_false(cairn_file_name_ok((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */

    uint8_t out[CAIRN_FILE_MAX_NAME];
    assert_int_equal(cairn_file_name_from("report.pdf", out), 10);
    assert_memory_equal(out, "report.pdf", 10);
    assert_int_equal(cairn_file_name_from("bad\x01name", out), 0);
    assert_int_equal(cairn_file_name_from("..", out), 0);
    /* 300 bytes of two-byte characters: cut at a character boundary */
    char longname[301];
    for (int i = 0; i < 300; i += 2) {
        longname[i] = (char)0xC3;
        longname[i + 1] = (char)0xA9;
    }
    longname[300] = 0;
    assert_int_equal(cairn_file_name_from(longname, out), 254);
    assert_true(cairn_file_name_ok(out, 254));

    uint8_t id[32];
    memset(id, 0xab, 32);
    char local[CAIRN_FILE_MAX_NAME + 1], hex[65];
    cairn_hex_encode(hex, id, 32);
    cairn_file_local_name((const uint8_t *)"movie.mkv", 9, id, local);
    assert_string_equal(local, "movie.mkv");
    const char *bad[] = {"",     "..",     ".",      "a/b", "CON", "con.txt",
                         "LPT1", "trail.", "trail ", "-rf", "a:b", "x\ty"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cairn_file_local_name((const uint8_t *)bad[i], strlen(bad[i]), id, local);
        assert_string_equal(local, hex);
    }
    cairn_file_local_name((const uint8_t *)"CONSOLE", 7, id, local);
    assert_string_equal(local, "CONSOLE");
}

static void test_manifest(void **state)
{
    (void)state;
    uint8_t root[32], m[CAIRN_MANIFEST_MAX_LEN], id[32], expect[32];
    memset(root, 0x5a, 32);
    int len = cairn_manifest_build(m, 12345, 16, root, (const uint8_t *)"f.bin", 5);
    assert_int_equal(len, 48);
    assert_int_equal(m[0], 1);
    assert_true(cairn_get_u64(m + 1) == 12345);
    assert_int_equal(m[9], 16);
    assert_memory_equal(m + 10, root, 32);
    assert_int_equal(m[42], 5);
    assert_int_equal(cairn_file_id(NULL, id, m, (size_t)len), 0);
    assert_int_equal(cairn_sha256(expect, m, 42), 0);
    assert_memory_equal(id, expect, 32); /* [FILE-9] */
    /* the name is not part of the ID */
    uint8_t m2[CAIRN_MANIFEST_MAX_LEN];
    int len2 = cairn_manifest_build(m2, 12345, 16, root, NULL, 0);
    assert_int_equal(len2, 43);
    assert_int_equal(cairn_file_id(NULL, expect, m2, (size_t)len2), 0);
    assert_memory_equal(id, expect, 32);

    cairn_file f;
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m, (size_t)len, id), 0);
    assert_true(f.geom.size == 12345 && f.geom.chunk_log2 == 16 && f.geom.n_chunks == 1);
    assert_int_equal(f.name_len, 5);
    assert_memory_equal(f.root, root, 32);
    assert_memory_equal(f.id, id, 32);
    assert_int_equal(f.manifest_len, (size_t)len);
    /* [FILE-15] another ID */
    expect[0] ^= 1;
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m, (size_t)len, expect), INVF);
    /* [FILE-14] broken manifests */
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m, (size_t)len - 1, NULL), INVF);
    m[9] = 21;
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m, (size_t)len, NULL), INVF);
    m[9] = 16;
    m[0] = 0;
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m, (size_t)len, NULL), INVF);
    assert_int_equal(cairn_manifest_build(m, 1, 13, root, NULL, 0), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_manifest_build(m, 1, 14, root, (const uint8_t *)"..", 2),
                     CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_id(NULL, id, m, 41), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_init(NULL, &f, 3, 14, root, (const uint8_t *)"x", 1), 0);
    assert_int_equal(f.manifest_len, 44);
    assert_int_equal(cairn_file_init(NULL, &f, 3, 22, root, NULL, 0), CAIRN_ERR_INVALID_ARG);
}

static void test_ranges(void **state)
{
    (void)state;
    cairn_chunk_range r[CAIRN_FILE_MAX_RANGES + 1] = {{0, 0}};
    assert_int_equal(cairn_file_check_ranges(r, 0, 10), 0);
    r[0] = (cairn_chunk_range){0, 3};
    r[1] = (cairn_chunk_range){3, 5}; /* adjacent: legal */
    r[2] = (cairn_chunk_range){7, 10};
    assert_int_equal(cairn_file_check_ranges(r, 3, 10), 0);
    assert_int_equal(cairn_file_check_ranges(r, 3, 9), INVF); /* [FILE-18] */
    r[1] = (cairn_chunk_range){2, 5};
    assert_int_equal(cairn_file_check_ranges(r, 3, 10), INVF); /* [FILE-19] */
    r[1] = (cairn_chunk_range){5, 5};
    assert_int_equal(cairn_file_check_ranges(r, 3, 10), INVF); /* [FILE-17] */
    for (int i = 0; i <= CAIRN_FILE_MAX_RANGES; i++)
        r[i] = (cairn_chunk_range){(uint64_t)2 * i, (uint64_t)2 * i + 1};
    assert_int_equal(cairn_file_check_ranges(r, CAIRN_FILE_MAX_RANGES, 1000), 0);
    assert_int_equal(cairn_file_check_ranges(r, CAIRN_FILE_MAX_RANGES + 1, 1000), INVF);
}

typedef struct leaves {
    uint8_t (*h)[32];
    uint64_t n;
} leaves;

static int collect_leaf(void *ud, uint64_t index, const uint8_t leaf[32])
{
    leaves *l = ud;
    assert_true(index == l->n);
    memcpy(l->h[l->n++], leaf, 32);
    return 0;
}

/* Hashes `data` through the streaming hasher in random pieces. */
static void hash_file(const uint8_t *data, size_t size, unsigned log2, uint64_t seed, leaves *l,
                      uint8_t root[32])
{
    cairn_file_hasher *h;
    uint64_t n = (size + ((size_t)1 << log2) - 1) >> log2;
    l->h = malloc((n ? n : 1) * 32);
    l->n = 0;
    assert_int_equal(cairn_file_hasher_new(&h, size, log2, collect_leaf, l, &g_env.mem), 0);
    size_t off = 0;
    while (off < size) {
        seed = seed * 6364136223846793005ull + 1;
        size_t take = (size_t)(seed >> 33) % 40000 + 1;
        if (take > size - off)
            take = size - off;
        assert_int_equal(cairn_file_hasher_update(h, data + off, take), 0);
        off += take;
    }
    assert_int_equal(cairn_file_hasher_update(h, "x", 1), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_file_hasher_final(h, root), 0);
    assert_true(l->n == n);
    cairn_file_hasher_del(h);
}

/* All levels of the tree over `l`, level 0 first, as the share cache stores them. */
static uint8_t (*build_levels(const leaves *l, cairn_sha256_ctx *ctx))[32]
{
    uint64_t total = cairn_tree_level_start(l->n, cairn_tree_height(l->n) + 1);
    uint8_t(*lv)[32] = malloc((total ? total : 1) * 32);
    memcpy(lv, l->h, l->n * 32);
    for (unsigned j = 0; j < cairn_tree_height(l->n); j++) {
        uint64_t in = cairn_tree_level_start(l->n, j), out = cairn_tree_level_start(l->n, j + 1);
        uint64_t len = cairn_tree_level_len(l->n, j);
        /* in two pieces, the first even, as a streaming writer would */
        uint64_t half = (len / 2) & ~(uint64_t)1;
        assert_int_equal(cairn_tree_level_up(ctx, lv + in, half, lv + out), 0);
        assert_int_equal(cairn_tree_level_up(ctx, lv + in + half, len - half, lv + out + half / 2),
                         0);
    }
    return lv;
}

static void check_file(size_t size, unsigned log2, uint64_t seed)
{
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    uint8_t *data = random_bytes(size, seed);
    leaves l;
    uint8_t root[32], ref[32];
    hash_file(data, size, log2, seed, &l, root);
    size_t cs = (size_t)1 << log2;
    for (uint64_t i = 0; i < l.n; i++) {
        size_t len = size - i * cs < cs ? size - i * cs : cs;
        assert_int_equal(cairn_merkle_leaf_hash(NULL, ref, data + i * cs, len), 0);
        assert_memory_equal(l.h[i], ref, 32);
    }
    /* [FILE-10] the root is the MTH of the leaf hashes (SHA-256("") for none) */
    assert_int_equal(cairn_merkle_root(ctx, ref, (const uint8_t(*)[32])l.h, l.n), 0);
    assert_memory_equal(root, ref, 32);

    uint8_t(*lv)[32] = build_levels(&l, ctx);
    unsigned height = cairn_tree_height(l.n);
    if (l.n)
        assert_memory_equal(lv[cairn_tree_level_start(l.n, height)], root, 32);

    cairn_file f;
    assert_int_equal(cairn_file_init(ctx, &f, size, log2, root, (const uint8_t *)"t", 1), 0);
    assert_true(f.geom.n_chunks == l.n);
    for (uint64_t i = 0; i < l.n; i++) {
        cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH];
        uint8_t path[CAIRN_MERKLE_MAX_PATH][32], refpath[CAIRN_MERKLE_MAX_PATH][32];
        size_t k = cairn_tree_proof_positions(i, l.n, pos), refk;
        for (size_t j = 0; j < k; j++)
            memcpy(path[j], lv[cairn_tree_level_start(l.n, pos[j].level) + pos[j].index], 32);
        assert_int_equal(cairn_merkle_proof(ctx, (const uint8_t(*)[32])l.h, l.n, i, refpath,
                                            CAIRN_MERKLE_MAX_PATH, &refk),
                         0);
        assert_int_equal(k, refk);
        assert_memory_equal(path, refpath, k * 32);
        size_t len = cairn_file_chunk_len(&f.geom, i);
        uint8_t *chunk = data + i * cs, leaf[32];
        /* [CHK-1] */
        assert_int_equal(
            cairn_chunk_verify(ctx, &f, i, chunk, len, (const uint8_t(*)[32])path, k, leaf), 0);
        assert_memory_equal(leaf, l.h[i], 32);
        assert_int_equal(cairn_chunk_verify_leaf(ctx, &f, i, leaf, (const uint8_t(*)[32])path, k),
                         0);
        /* [CHK-11] wrong length */
        assert_int_equal(
            cairn_chunk_verify(ctx, &f, i, chunk, len - 1, (const uint8_t(*)[32])path, k, NULL),
            INVC);
        /* [CHK-12] one flipped bit, a missing or extra hash, another index */
        chunk[len / 2] ^= 4;
        assert_int_equal(
            cairn_chunk_verify(ctx, &f, i, chunk, len, (const uint8_t(*)[32])path, k, NULL), INVC);
        chunk[len / 2] ^= 4;
        if (k) {
            assert_int_equal(
                cairn_chunk_verify(ctx, &f, i, chunk, len, (const uint8_t(*)[32])path, k - 1, NULL),
                INVC);
            path[k - 1][3] ^= 1;
            assert_int_equal(
                cairn_chunk_verify(ctx, &f, i, chunk, len, (const uint8_t(*)[32])path, k, NULL),
                INVC);
            path[k - 1][3] ^= 1;
        }
        memcpy(path[k], root, 32);
        assert_int_equal(
            cairn_chunk_verify(ctx, &f, i, chunk, len, (const uint8_t(*)[32])path, k + 1, NULL),
            INVC);
        if (l.n > 1 && len == cs) {
            uint64_t other = (i + 1) % l.n;
            if (cairn_file_chunk_len(&f.geom, other) == len)
                assert_int_equal(cairn_chunk_verify(ctx, &f, other, chunk, len,
                                                    (const uint8_t(*)[32])path, k, NULL),
                                 INVC);
        }
    }
    assert_int_equal(cairn_chunk_verify(ctx, &f, l.n, data, 1, NULL, 0, NULL),
                     CAIRN_ERR_INVALID_ARG);
    free(lv);
    free(l.h);
    free(data);
    cairn_sha256_ctx_del(ctx);
}

/* The sizes the issue names: 0, 1, chunk size - 1, chunk size, chunk size + 1. */
static void test_edge_sizes(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS - 1, 7 * CS + 3};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_file(sizes[i], LOG2, 100 + i);
    check_file((1u << 20) + 1, 20, 7);
}

/* Every tree size up to 70 leaves and a few larger ones. */
static void test_tree_sizes(void **state)
{
    (void)state;
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    uint64_t ns[80];
    size_t cnt = 0;
    for (uint64_t n = 1; n <= 70; n++)
        ns[cnt++] = n;
    ns[cnt++] = 127;
    ns[cnt++] = 128;
    ns[cnt++] = 129;
    ns[cnt++] = 1000;
    for (size_t c = 0; c < cnt; c++) {
        leaves l = {malloc(ns[c] * 32), ns[c]};
        for (uint64_t i = 0; i < l.n; i++) {
            uint8_t b[8];
            cairn_put_u64(b, i);
            cairn_merkle_leaf_hash(ctx, l.h[i], b, 8);
        }
        uint8_t(*lv)[32] = build_levels(&l, ctx), root[32];
        assert_int_equal(cairn_merkle_root(ctx, root, (const uint8_t(*)[32])l.h, l.n), 0);
        assert_memory_equal(lv[cairn_tree_level_start(l.n, cairn_tree_height(l.n))], root, 32);
        assert_true(cairn_tree_level_len(l.n, cairn_tree_height(l.n)) == 1);
        for (uint64_t i = 0; i < l.n; i++) {
            cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH];
            uint8_t path[CAIRN_MERKLE_MAX_PATH][32];
            size_t k = cairn_tree_proof_positions(i, l.n, pos);
            for (size_t j = 0; j < k; j++)
                memcpy(path[j], lv[cairn_tree_level_start(l.n, pos[j].level) + pos[j].index], 32);
            assert_int_equal(
                cairn_merkle_verify(ctx, l.h[i], i, l.n, (const uint8_t(*)[32])path, k, root), 0);
        }
        free(lv);
        free(l.h);
    }
    cairn_sha256_ctx_del(ctx);
}

/* Big files never build a list of chunks: geometry and proof shapes only. */
static void test_huge(void **state)
{
    (void)state;
    cairn_file_geom g;
    cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH];
    assert_int_equal(cairn_file_geom_init(&g, (uint64_t)1 << 40, 20), 0); /* 1 TiB */
    assert_true(g.n_chunks == (uint64_t)1 << 20);
    assert_int_equal(cairn_tree_height(g.n_chunks), 20);
    assert_int_equal(cairn_tree_proof_positions(12345, g.n_chunks, pos), 20);
    assert_true(cairn_tree_level_start(g.n_chunks, 21) == ((uint64_t)2 << 20) - 1);
    assert_int_equal(cairn_file_geom_init(&g, CAIRN_FILE_MAX_SIZE, 14), 0);
    assert_int_equal(cairn_tree_proof_positions(g.n_chunks - 1, g.n_chunks, pos), 36);
    assert_int_equal(cairn_file_geom_init(&g, CAIRN_FILE_MAX_SIZE - 1, 14), 0);
    assert_int_equal(cairn_tree_proof_positions(g.n_chunks - 1, g.n_chunks, pos), 36);
    assert_int_equal(cairn_tree_proof_positions(5, 5, pos), 0);
    assert_int_equal(cairn_tree_height(0), 0);
    assert_int_equal(cairn_tree_height(1), 0);
    assert_true(cairn_tree_level_start(1, 1) == 1);
    assert_true(cairn_tree_level_start(3, 3) == 3 + 2 + 1);
}

/* Every allocation of the hasher fails once in turn; nothing leaks. */
static void test_hasher_alloc_failures(void **state)
{
    (void)state;
    for (long fail = 0;; fail++) {
        test_env_init(&g_env, 1);
        g_env.fail_at = fail;
        cairn_file_hasher *h = NULL;
        int rv = cairn_file_hasher_new(&h, 10, 14, NULL, NULL, &g_env.mem);
        if (rv == 0) {
            uint8_t root[32];
            assert_int_equal(cairn_file_hasher_update(h, "0123456789", 10), 0);
            assert_int_equal(cairn_file_hasher_final(h, root), 0);
            cairn_file_hasher_del(h);
        } else {
            assert_int_equal(rv, CAIRN_ERR_NOMEM);
            assert_null(h);
        }
        assert_int_equal(g_env.live, 0);
        if (g_env.fail_at != -2)
            break; /* no allocation was failed: all covered */
    }
    test_env_init(&g_env, 1);
}

int main(void)
{
    test_env_init(&g_env, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),   cmocka_unit_test(test_names),
        cmocka_unit_test(test_manifest),   cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_edge_sizes), cmocka_unit_test(test_tree_sizes),
        cmocka_unit_test(test_huge),       cmocka_unit_test(test_hasher_alloc_failures),
    };
    return cmocka_run_group_tests_name("files", tests, NULL, NULL);
}
