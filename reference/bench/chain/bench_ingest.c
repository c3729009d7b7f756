/*
 * Durable block ingest: blocks per second through cairn_chain_add_block into
 * the SQLite store (WAL, synchronous=FULL), each block acknowledged only
 * once its transaction is on disk; small blocks and 1 MiB blocks, and small
 * blocks in initial-sync batches of 100. Blocks are mined (devnet) before
 * the clock starts. Prints figures; never fails on a timing.
 *
 *   CAIRN_BENCH_DIR   where to put the temporary stores (default /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cairn/port.h"
#include "cairn/store.h"

#define SMALL_N   2000
#define BIG_N     64
#define BIG_E     16 /* entries of 64 KiB: 1 MiB per block */
#define SMALL_LEN 128

typedef struct blk {
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_bytes_ref e[BIG_E];
    size_t n;
} blk;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A chain of `n` blocks of `ne` entries of `len` bytes on devnet genesis. */
static blk *mine(size_t n, size_t ne, size_t len)
{
    const cairn_network *net = cairn_network_devnet();
    cairn_sha256_ctx *ctx;
    cairn_sha256_ctx_new(&ctx);
    blk *b = calloc(n, sizeof(*b));
    uint8_t *data = malloc(n * ne * len), id[32];
    cairn_block_header h;
    cairn_network_genesis(net, &h, NULL);
    cairn_block_id(NULL, id, (uint8_t[96]){0}); /* warm up */
    uint8_t graw[96];
    cairn_block_header_encode(graw, &h);
    cairn_block_id(ctx, id, graw);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ne; k++) {
            uint8_t *p = data + (i * ne + k) * len;
            memset(p, (int)(i + k), len);
            p[0] = CAIRN_ENTRY_DATA;
            cairn_put_u64(p + 1, i * ne + k);
            b[i].e[k] = (cairn_bytes_ref){p, len};
        }
        b[i].n = ne;
        h.height = i + 1;
        h.time_ms += 1000;
        h.nonce = 0;
        memcpy(h.prev_id, id, 32);
        cairn_block_entries_root(ctx, h.entries_root, b[i].e, ne);
        cairn_miner_solve(ctx, &h, UINT64_MAX, b[i].raw, id);
    }
    cairn_sha256_ctx_del(ctx);
    return b;
}

static uint64_t far_future(void *ud)
{
    (void)ud;
    return 1767225600000ull + 1000000000ull;
}

/* Ingests all blocks into a fresh store; returns seconds. */
static double ingest(const blk *b, size_t n, size_t batch)
{
    char dir[256];
    const char *base = getenv("CAIRN_BENCH_DIR");
    snprintf(dir, sizeof(dir), "%s/cairn-bench-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir))
        exit(1);
    cairn_store *st;
    char err[256];
    if (cairn_store_open(&st, dir, cairn_network_devnet(), 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "store: %s\n", err);
        exit(1);
    }
    cairn_env env = *cairn_port_env();
    env.wall_ms = far_future;
    cairn_chain_config cfg = {
        .net = cairn_network_devnet(), .env = &env, .store = cairn_store_chain(st)};
    cairn_chain *c;
    if (cairn_chain_new(&c, &cfg) != 0)
        exit(1);
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (batch > 1 && i % batch == 0)
            cairn_store_begin_batch(st);
        cairn_chain_result r;
        uint32_t why;
        if (cairn_chain_add_block(c, b[i].raw, 96, b[i].e, b[i].n, &r, &why) != 0 ||
            r.status != CAIRN_CHAIN_ADDED) {
            fprintf(stderr, "block %zu refused (reason %u)\n", i, why);
            exit(1);
        }
        if (batch > 1 && (i % batch == batch - 1 || i == n - 1))
            cairn_store_commit_batch(st);
    }
    double t = now_s() - t0;
    cairn_chain_del(c);
    cairn_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return t;
}

int main(void)
{
    blk *small = mine(SMALL_N, 1, SMALL_LEN);
    blk *big = mine(BIG_N, BIG_E, CAIRN_ENTRY_MAX_LEN);
    double ts = ingest(small, SMALL_N, 1);
    double tb = ingest(small, SMALL_N, 100);
    double tm = ingest(big, BIG_N, 1);
    printf("store: SQLite WAL, synchronous=FULL; devnet blocks, validated in full\n");
    printf("small blocks (1 entry of %d B), one transaction each: %.0f blocks/s (%d blocks)\n",
           SMALL_LEN, SMALL_N / ts, SMALL_N);
    printf("small blocks, initial-sync batches of 100:          %.0f blocks/s\n", SMALL_N / tb);
    printf("1 MiB blocks (%d entries of 64 KiB), one transaction each: %.1f blocks/s, %.1f MiB/s "
           "(%d blocks)\n",
           BIG_E, BIG_N / tm, BIG_N / tm, BIG_N);
    return 0;
}
