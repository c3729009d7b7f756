/*
 * Helper of bench sync (reference/bench/sync.sh):
 *
 *   bench_sync gen DIR N ENTRIES LEN
 *       a devnet chain of N blocks of ENTRIES entries of LEN bytes, mined and
 *       stored in DIR/chain.db (a seeder's datadir); kept when DIR already
 *       holds it (DIR/bench-chain names what it holds), so that repeated
 *       runs mine once
 *   bench_sync ingest DIR
 *       the baseline: reads DIR's chain into memory, then times its ingest
 *       into a fresh store in batches of 100 blocks, as `bench ingest` does;
 *       prints "blocks N seconds S bytes B"
 *
 *   CAIRN_BENCH_DIR   where the ingest store goes (default /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cairn/port.h"
#include "cairn/store.h"

typedef struct blk {
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_bytes_ref *e;
    size_t n;
} blk;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t far_future(void *ud)
{
    (void)ud;
    return UINT64_MAX / 2;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, detail);
    exit(1);
}

static cairn_chain *open_chain(cairn_store *st, cairn_env *env)
{
    *env = *cairn_port_env();
    env->wall_ms = far_future;
    cairn_chain_config cfg = {
        .net = cairn_network_devnet(), .env = env, .store = cairn_store_chain(st)};
    cairn_chain *c;
    int rv = cairn_chain_new(&c, &cfg);
    if (rv)
        die("chain", cairn_strerror(rv));
    return c;
}

static int gen(const char *dir, size_t n, size_t ne, size_t len)
{
    char mark[4096], want[128];
    snprintf(mark, sizeof(mark), "%s/bench-chain", dir);
    snprintf(want, sizeof(want), "devnet %zu blocks of %zu x %zu bytes\n", n, ne, len);
    FILE *f = fopen(mark, "r");
    if (f) {
        char have[128] = "";
        int same = fgets(have, sizeof(have), f) && strcmp(have, want) == 0;
        fclose(f);
        if (same)
            return 0;
        die(dir, "holds another chain; remove it");
    }
    cairn_store *st;
    char err[256];
    if (cairn_store_open(&st, dir, cairn_network_devnet(), CAIRN_STORE_NO_CHECK, err, sizeof(err)))
        die(dir, err);
    cairn_env env;
    cairn_chain *c = open_chain(st, &env);
    if (cairn_chain_tip(c)->hdr.height != 0)
        die(dir, "not empty; remove it");
    cairn_sha256_ctx *ctx;
    cairn_sha256_ctx_new(&ctx);
    uint8_t *data = malloc(ne * len);
    cairn_bytes_ref *e = malloc(ne * sizeof(*e));
    cairn_block_header h = cairn_chain_tip(c)->hdr;
    uint8_t id[CAIRN_HASH_LEN], raw[CAIRN_BLOCK_HEADER_LEN];
    memcpy(id, cairn_chain_tip(c)->id, CAIRN_HASH_LEN);
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0 && cairn_store_begin_batch(st))
            die("store", cairn_store_errmsg(st));
        for (size_t k = 0; k < ne; k++) {
            uint8_t *p = data + k * len;
            memset(p, (int)(i + k), len);
            p[0] = CAIRN_ENTRY_DATA;
            cairn_put_u64(p + 1, i * ne + k);
            e[k] = (cairn_bytes_ref){p, len};
        }
        h.height = i + 1;
        h.time_ms += 1000;
        h.nonce = 0;
        memcpy(h.prev_id, id, CAIRN_HASH_LEN);
        cairn_block_entries_root(ctx, h.entries_root, e, ne);
        cairn_miner_solve(ctx, &h, UINT64_MAX, raw, id);
        cairn_chain_result r;
        uint32_t why = 0;
        if (cairn_chain_add_block(c, raw, sizeof(raw), e, ne, &r, &why) ||
            r.status != CAIRN_CHAIN_ADDED)
            die("own block refused", cairn_block_reason_name(why));
        if ((i % 1000 == 999 || i == n - 1) && cairn_store_commit_batch(st))
            die("store", cairn_store_errmsg(st));
    }
    fprintf(stderr, "bench_sync: mined %zu blocks in %.1f s\n", n, now_s() - t0);
    cairn_chain_del(c);
    cairn_store_close(st);
    cairn_sha256_ctx_del(ctx);
    free(data);
    free(e);
    if (!(f = fopen(mark, "w")) || fputs(want, f) < 0 || fclose(f))
        die(mark, "cannot write");
    return 0;
}

typedef struct loader {
    blk *b;
    size_t cap;
} loader;

static int keep_entry(void *ud, const uint8_t *entry, size_t len)
{
    blk *b = ud;
    uint8_t *copy = malloc(len);
    if (!copy)
        return 1;
    memcpy(copy, entry, len);
    b->e = realloc(b->e, (b->n + 1) * sizeof(*b->e));
    b->e[b->n++] = (cairn_bytes_ref){copy, len};
    return 0;
}

static int ingest(const char *src)
{
    cairn_store *st;
    char err[256];
    if (cairn_store_open(&st, src, cairn_network_devnet(), CAIRN_STORE_NO_CHECK, err, sizeof(err)))
        die(src, err);
    cairn_env env;
    cairn_chain *c = open_chain(st, &env);
    size_t n = cairn_chain_tip(c)->hdr.height;
    blk *b = calloc(n, sizeof(*b));
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const cairn_chain_block *cb = cairn_chain_at(c, i + 1);
        if (!cb || cairn_store_get_block(st, cb->id, b[i].raw, keep_entry, &b[i]) != 0)
            die(src, "cannot read its chain");
        bytes += CAIRN_BLOCK_HEADER_LEN;
        for (size_t k = 0; k < b[i].n; k++)
            bytes += b[i].e[k].len;
    }
    cairn_chain_del(c);
    cairn_store_close(st);

    char dir[256];
    const char *base = getenv("CAIRN_BENCH_DIR");
    snprintf(dir, sizeof(dir), "%s/cairn-bench-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir))
        die(dir, "mkdtemp");
    if (cairn_store_open(&st, dir, cairn_network_devnet(), 0, err, sizeof(err)))
        die(dir, err);
    c = open_chain(st, &env);
    const size_t batch = 100; /* bench ingest's initial-sync batches */
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (i % batch == 0)
            cairn_store_begin_batch(st);
        cairn_chain_result r;
        uint32_t why = 0;
        if (cairn_chain_add_block(c, b[i].raw, sizeof(b[i].raw), b[i].e, b[i].n, &r, &why) ||
            r.status != CAIRN_CHAIN_ADDED)
            die("block refused", cairn_block_reason_name(why));
        if ((i % batch == batch - 1 || i == n - 1) && cairn_store_commit_batch(st))
            die("store", cairn_store_errmsg(st));
    }
    double t = now_s() - t0;
    cairn_chain_del(c);
    cairn_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sync: cannot remove %s\n", dir);
    printf("blocks %zu seconds %.6f bytes %llu\n", n, t, (unsigned long long)bytes);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < b[i].n; k++)
            free((void *)b[i].e[k].data);
        free(b[i].e);
    }
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
                   strtoull(argv[5], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "ingest") == 0)
        return ingest(argv[2]);
    fprintf(stderr, "usage: bench_sync gen DIR N ENTRIES LEN | bench_sync ingest DIR\n");
    return 2;
}
