/* files: the node's share.c — indexing, the cache, answers, changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cairn/files.h"
#include "cairn/port.h"
#include "share.h"
#include "testenv.h"

static test_env g_env;
static char root_dir[256], share_dir[300], cache_dir[300];

static void write_file(const char *rel, size_t size, uint64_t seed)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", share_dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        fputc((int)(seed & 0xff), f);
    }
    fclose(f);
}

/* The file ID of a file on disk, by the library's own hasher. */
static void file_id_of(const char *rel, uint8_t id[32], uint64_t *size)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", share_dir, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (uint64_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned log2 = cairn_file_chunk_log2_for(*size);
    cairn_file_hasher *h;
    assert_int_equal(cairn_file_hasher_new(&h, *size, log2, NULL, NULL, &g_env.mem), 0);
    uint8_t buf[65536], root[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        assert_int_equal(cairn_file_hasher_update(h, buf, n), 0);
    fclose(f);
    assert_int_equal(cairn_file_hasher_final(h, root), 0);
    cairn_file_hasher_del(h);
    const char *base = strrchr(rel, '/');
    uint8_t name[255];
    size_t nl = cairn_file_name_from(base ? base + 1 : rel, name);
    cairn_file cf;
    assert_int_equal(cairn_file_init(NULL, &cf, *size, log2, root, name, nl), 0);
    memcpy(id, cf.id, 32);
}

/* Fetches every chunk of `id` from the share and verifies it. */
static void check_served(share *s, const uint8_t id[32], uint64_t size)
{
    Cairn__V1__Manifest m = CAIRN__V1__MANIFEST__INIT;
    assert_int_equal(share_manifest(s, id, &m), 0);
    assert_int_equal(m.n_have, 0);
    cairn_file f;
    assert_int_equal(cairn_file_from_manifest(NULL, &f, m.manifest.data, m.manifest.len, id), 0);
    assert_true(f.geom.size == size);
    for (uint64_t i = 0; i < f.geom.n_chunks; i++) {
        Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
        assert_int_equal(share_chunk(s, id, i, &c), 0);
        assert_true(c.index == i);
        uint8_t proof[64][32];
        assert_true(c.n_proof <= 64);
        for (size_t k = 0; k < c.n_proof; k++) {
            assert_int_equal(c.proof[k].len, 32);
            memcpy(proof[k], c.proof[k].data, 32);
        }
        int vrv = cairn_chunk_verify(NULL, &f, i, c.data.data, c.data.len,
                                     (const uint8_t(*)[32])proof, c.n_proof, NULL);
        if (vrv)
            fprintf(stderr, "DEBUG size %llu i %llu len %zu nproof %zu n %llu\n",
                    (unsigned long long)size, (unsigned long long)i, c.data.len, c.n_proof,
                    (unsigned long long)f.geom.n_chunks);
        assert_int_equal(vrv, 0);
    }
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    /* [CHK-3] */
    assert_int_equal(share_chunk(s, id, f.geom.n_chunks, &c),
                     CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD));
}

static const char *names[] = {"empty", "one", "cs-1", "cs", "cs+1", "sub/dir/big.bin", "five"};
static const size_t sizes[] = {0, 1, 16383, 16384, 16385, (3u << 20) + 5, 5 * 16384};
#define NFILES (sizeof(names) / sizeof(names[0]))

static int setup(void **state)
{
    (void)state;
    test_env_init(&g_env, 1);
    snprintf(root_dir, sizeof(root_dir), "/tmp/cairn-share-XXXXXX");
    assert_non_null(mkdtemp(root_dir));
    snprintf(share_dir, sizeof(share_dir), "%s/share", root_dir);
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", root_dir);
    mkdir(share_dir, 0755);
    char p[600];
    snprintf(p, sizeof(p), "%s/sub", share_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/sub/dir", share_dir);
    mkdir(p, 0755);
    for (size_t i = 0; i < NFILES; i++)
        write_file(names[i], sizes[i], 1000 + i);
    /* not shared: a link, a download in progress */
    snprintf(p, sizeof(p), "%s/link", share_dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    write_file("x.cairn-part", 100, 5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_serve(void **state)
{
    (void)state;
    share *s;
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    share_stats st;
    share_get_stats(s, &st);
    assert_int_equal(st.files, NFILES);
    assert_int_equal(st.pending, 0);
    assert_true(st.cache_hits == 0);
    for (size_t i = 0; i < NFILES; i++) {
        uint8_t id[32];
        uint64_t size;
        file_id_of(names[i], id, &size);
        assert_true(size == sizes[i]);
        check_served(s, id, size);
    }
    uint8_t unknown[32] = {1};
    Cairn__V1__Manifest m = CAIRN__V1__MANIFEST__INIT;
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    assert_int_equal(share_manifest(s, unknown, &m), 1);
    assert_int_equal(share_chunk(s, unknown, 0, &c), 1);
    const uint8_t *entries[16];
    size_t lens[16];
    assert_int_equal(share_manifests(s, entries, lens, 16), NFILES);
    assert_int_equal(share_manifests(s, entries, lens, 2), NFILES);
    for (size_t i = 0; i < NFILES; i++) {
        uint32_t reason;
        assert_int_equal(cairn_entry_check(entries[i], lens[i], &reason), 0);
    }
    assert_int_equal(share_rescan(s), 0); /* nothing changed */
    share_close(s);
    assert_int_equal(g_env.live, 0);

    /* a restart hashes nothing */
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    share_get_stats(s, &st);
    assert_true(st.hashed_bytes == 0);
    assert_int_equal(st.cache_hits, NFILES);
    uint8_t id[32];
    uint64_t size;
    file_id_of(names[5], id, &size);
    check_served(s, id, size);
    share_close(s);
    assert_int_equal(g_env.live, 0);
}

static void test_changes(void **state)
{
    (void)state;
    share *s;
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    uint8_t old_id[32], new_id[32], gone_id[32];
    uint64_t size;
    file_id_of("five", old_id, &size);
    file_id_of("one", gone_id, &size);
    uint64_t gen = share_generation(s);

    /* rewritten in place: not served under its old ID, even before a rescan */
    write_file("five", 5 * 16384, 777);
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    char p[600];
    snprintf(p, sizeof(p), "%s/five", share_dir);
    utimes(p, tv);
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    assert_int_equal(share_chunk(s, old_id, 0, &c), 1);
    snprintf(p, sizeof(p), "%s/one", share_dir);
    unlink(p);
    write_file("new", 40000, 9);
    assert_int_equal(share_rescan(s), 0);
    assert_true(share_generation(s) != gen);
    Cairn__V1__Manifest m = CAIRN__V1__MANIFEST__INIT;
    assert_int_equal(share_manifest(s, old_id, &m), 1);
    assert_int_equal(share_manifest(s, gone_id, &m), 1);
    file_id_of("five", new_id, &size);
    check_served(s, new_id, size);
    file_id_of("new", new_id, &size);
    check_served(s, new_id, size);
    share_stats st;
    share_get_stats(s, &st);
    assert_int_equal(st.files, NFILES);
    share_close(s);

    /* a damaged cache file is rebuilt: a bad header at once, a bad hash in
     * the tree when a proof through it is served */
    char cmd[700];
    snprintf(cmd, sizeof(cmd),
             "for f in $(find %s -name '*.idx' -size +4k); do printf 'XXXX' | dd of=$f bs=1 "
             "seek=200 conv=notrunc "
             "2>/dev/null; done",
             cache_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    share_get_stats(s, &st);
    assert_true(st.hashed_bytes == 0);
    file_id_of("sub/dir/big.bin", new_id, &size);
    assert_int_equal(share_chunk(s, new_id, 3, &c), 1); /* its proof holds leaf 2 */
    int rv;
    while ((rv = share_rescan(s)) == 1) /* within the test's 1 MiB budget per call */
        ;
    assert_int_equal(rv, 0);
    share_get_stats(s, &st);
    assert_true(st.hashed_bytes == size);
    check_served(s, new_id, size);
    share_close(s);
    snprintf(cmd, sizeof(cmd),
             "for f in %s/*.idx; do printf 'XXXX' | dd of=$f bs=1 seek=20 conv=notrunc "
             "2>/dev/null; done",
             cache_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    share_get_stats(s, &st);
    assert_true(st.cache_hits == 0);
    check_served(s, new_id, size);
    share_close(s);

    /* the cache of the removed file is gone */
    snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) -eq %d", cache_dir, (int)NFILES);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(g_env.live, 0);
}

/* A rescan hashes at most its budget (here 1 MiB) and says when work is left. */
static void test_budget(void **state)
{
    (void)state;
    share *s;
    assert_int_equal(share_open(&s, share_dir, cache_dir, &g_env.env), 0);
    write_file("b1", 700000, 1);
    write_file("b2", 700000, 2);
    write_file("b3", 700000, 3);
    int rounds = 0, rv;
    while ((rv = share_rescan(s)) == 1)
        rounds++;
    assert_int_equal(rv, 0);
    assert_true(rounds >= 1);
    uint8_t id[32];
    uint64_t size;
    file_id_of("b3", id, &size);
    check_served(s, id, size);

    /* one file of three budgets: indexed over several calls, served after */
    write_file("huge", 3u << 20, 4);
    file_id_of("huge", id, &size);
    Cairn__V1__Manifest m = CAIRN__V1__MANIFEST__INIT;
    share_stats st;
    share_get_stats(s, &st);
    uint64_t before = st.hashed_bytes;
    for (rounds = 0; (rv = share_rescan(s)) == 1; rounds++) {
        assert_int_equal(share_manifest(s, id, &m), 1); /* not yet */
        share_get_stats(s, &st);
        assert_true(st.hashed_bytes - before <= (uint64_t)(rounds + 1) * (1u << 20));
    }
    assert_int_equal(rv, 0);
    assert_true(rounds >= 2);
    check_served(s, id, size);
    /* a file that changes while it is indexed is indexed again, as it is now */
    write_file("moving", 3u << 20, 5);
    assert_int_equal(share_rescan(s), 1);
    write_file("moving", 2u << 20, 6);
    while ((rv = share_rescan(s)) == 1)
        ;
    assert_int_equal(rv, 0);
    file_id_of("moving", id, &size);
    assert_true(size == 2u << 20);
    check_served(s, id, size);
    share_close(s);
    assert_int_equal(g_env.live, 0);
}

/* Every allocation of an open and a rescan fails once in turn: the error
 * comes back, nothing leaks, and what is served stays right. */
static void test_alloc_failures(void **state)
{
    (void)state;
    for (long fail = 0;; fail++) {
        test_env_init(&g_env, 1);
        g_env.fail_at = fail;
        share *s = NULL;
        int rv = share_open(&s, share_dir, cache_dir, &g_env.env), failed = 0;
        if (rv == 0) {
            write_file("extra", 20000, (uint64_t)fail + 77);
            rv = share_rescan(s);
            assert_true(rv == 0 || rv == 1 || rv == CAIRN_ERR_NOMEM);
            failed = g_env.fail_at == -2;
            g_env.fail_at = -1;
            while ((rv = share_rescan(s)) == 1)
                ;
            assert_int_equal(rv, 0);
            uint8_t id[32];
            uint64_t size;
            file_id_of("extra", id, &size);
            check_served(s, id, size);
            share_close(s);
        } else {
            failed = 1;
            assert_int_equal(rv, CAIRN_ERR_NOMEM);
            assert_null(s);
        }
        assert_int_equal(g_env.live, 0);
        if (!failed)
            break; /* no allocation was failed: every one has been */
    }
    test_env_init(&g_env, 1);
}

static void test_bad_dir(void **state)
{
    (void)state;
    share *s;
    assert_int_equal(share_open(&s, "/nonexistent/dir", cache_dir, &g_env.env),
                     CAIRN_ERR_INVALID_ARG);
    assert_null(s);
    assert_int_equal(g_env.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve),   cmocka_unit_test(test_changes),
        cmocka_unit_test(test_budget),  cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_bad_dir),
    };
    return cmocka_run_group_tests_name("share", tests, setup, teardown);
}
