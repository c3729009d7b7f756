/*
 * fuzz_store_open: cairn_store_open (reference/store, SQLite) on a data
 * directory written by a crashed node, or corrupted or truncated on disk.
 *
 * Once per process a real store is written in a scratch directory (on
 * /dev/shm when it exists) on a test network with 2-bit proof of work: the
 * genesis block and N_BLOCKS mined blocks with entries, one commit each. Two
 * images are kept in memory: "crashed" (chain.db and chain.db-wal copied
 * while the store was still open, the last commits only in the WAL) and
 * "clean" (chain.db after close). Every tip the store went through is
 * remembered.
 *
 * Input: byte 0 = flags (bit 0: the crashed image; bit 1: the full check;
 * bit 2: mine and store one block after opening; bit 3: then reopen it for
 * devnet, or testnet with bit 4), then up to MAX_EDITS
 * edits of the image's files, each `kind u8 | file u8 | offset u32 | ...`:
 * truncate, xor a byte, overwrite bytes, zero a 4 KiB page, copy a page over
 * another, append bytes.
 *
 * Oracles:
 *  - open returns 0 or an error, and on error no store and a message in err;
 *  - what open accepts with the full check loads: cairn_chain_new over the
 *    store succeeds, and every block of the active chain has its body
 *    (cairn_store_get_block) under its ID whose entries give the header's
 *    entries_root; after the quick check (which neither compares indexes
 *    with tables nor decodes bodies) the load and each body read succeed or
 *    fail with an error and a message;
 *  - nothing is lost that nothing corrupted: with no edit of chain.db (the
 *    WAL at most truncated or extended: a crash at any point of a write),
 *    open succeeds and the tip is one the store went through (the newest
 *    when the image is untouched);
 *  - a store that opened takes a new block, or fails with an error;
 *  - a store is refused to another registered network;
 *  - every error returned has a description (cairn_strerror);
 *  - no crash, no leak (ASan; the chain's counting allocator).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/merkle.h"
#include "cairn/store.h"
#include "common.h"
#include "fuzz_network.h"

#define NET_BITS  2
#define N_BLOCKS  6
#define MAX_EDITS 16
#define MAX_IMAGE (1u << 20)
#define PAGE      4096

static cairn_network net;
static uint8_t genesis_entry[] = "\0Cairn fuzz store network";
static cairn_sha256_ctx *sha;
static char scratch[96], rundir[128];

typedef struct image {
    uint8_t *file[2]; /* chain.db, chain.db-wal */
    size_t len[2];
} image;

static image clean, crashed;
static uint8_t tips[N_BLOCKS + 1][32]; /* tips[0] = genesis */

static const char *const names[2] = {"chain.db", "chain.db-wal"};

static void init_network(void)
{
    FUZZ_CHECK(cairn_sha256_ctx_new(&sha) == 0, "sha256 context");
    fuzz_network_init(&net, "fuzzstore", NET_BITS, genesis_entry, sizeof(genesis_entry) - 1);
}

static void read_file(const char *dir, int which, image *im)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, names[which]);
    im->file[which] = malloc(MAX_IMAGE);
    FUZZ_CHECK(im->file[which] != NULL, "out of memory");
    im->len[which] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n;
    while (im->len[which] < MAX_IMAGE &&
           (n = read(fd, im->file[which] + im->len[which], MAX_IMAGE - im->len[which])) > 0)
        im->len[which] += (size_t)n;
    close(fd);
}

/* The scratch directory goes when the process exits normally. */
static void remove_scratch(void)
{
    static const char *const files[] = {"chain.db", "chain.db-wal", "chain.db-shm",
                                        "chain.db-journal"};
    static const char *const dirs[] = {"build", "run"};
    char path[200];
    for (size_t d = 0; d < 2; d++) {
        for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
            snprintf(path, sizeof(path), "%s/%s/%s", scratch, dirs[d], files[f]);
            unlink(path);
        }
        snprintf(path, sizeof(path), "%s/%s", scratch, dirs[d]);
        rmdir(path);
    }
    rmdir(scratch);
}

/* Mines one block on the chain's tip with `k` entries; returns add_block's result. */
static int mine_one(cairn_chain *c, const fuzz_env *e, int k)
{
    cairn_mempool *pool;
    FUZZ_CHECK(cairn_mempool_new(&pool, &e->mem, 8, 4096) == 0, "mempool");
    for (int i = 0; i < k; i++) {
        uint8_t entry[24] = {0x00, 'e', 'n', 't', 'r', 'y'};
        entry[6] = (uint8_t)i;
        memcpy(entry + 7, cairn_chain_tip(c)->id, 16);
        uint8_t id[32];
        uint32_t reason;
        FUZZ_CHECK(cairn_mempool_add(pool, entry, sizeof(entry), id, &reason) == 0, "entry");
    }
    cairn_block_header hdr;
    cairn_bytes_ref ents[8];
    size_t n = 0;
    FUZZ_CHECK(cairn_miner_template(c, pool, e->wall, &hdr, ents, 8, &n) == 0, "template");
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[32];
    FUZZ_CHECK(cairn_miner_solve(sha, &hdr, UINT64_MAX, raw, id) == 0, "solve");
    uint32_t reason = 0;
    int rv = cairn_chain_add_block(c, raw, sizeof(raw), ents, n, NULL, &reason);
    cairn_mempool_del(pool);
    return rv;
}

/* Removes the scratch directories of processes that no longer run (killed
 * or crashed: AFL++'s fork server never exits normally). */
static void remove_stale(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *de;
    char saved[sizeof(scratch)];
    memcpy(saved, scratch, sizeof(saved));
    while ((de = readdir(d)) != NULL) {
        long pid;
        if (sscanf(de->d_name, "cairn-fuzz-store-%ld-", &pid) != 1 || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        size_t bl = strlen(base), nl = strlen(de->d_name);
        if (bl + 1 + nl >= sizeof(scratch))
            continue;
        memcpy(scratch, base, bl);
        scratch[bl] = '/';
        memcpy(scratch + bl + 1, de->d_name, nl + 1);
        remove_scratch();
    }
    closedir(d);
    memcpy(scratch, saved, sizeof(saved));
}

static void init_once(void)
{
    if (sha)
        return;
    init_network();
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale(base);
    snprintf(scratch, sizeof(scratch), "%s/cairn-fuzz-store-%ld-XXXXXX", base, (long)getpid());
    FUZZ_CHECK(mkdtemp(scratch) != NULL, "mkdtemp: %s", strerror(errno));
    char build[128];
    snprintf(build, sizeof(build), "%s/build", scratch);
    snprintf(rundir, sizeof(rundir), "%s/run", scratch);

    fuzz_env e;
    fuzz_env_init(&e, 1);
    cairn_store *s;
    char err[256] = "";
    FUZZ_CHECK(cairn_store_open(&s, build, &net, 0, err, sizeof(err)) == 0, "store: %s", err);
    cairn_chain_config cfg = {.net = &net, .env = &e.env, .store = cairn_store_chain(s)};
    cairn_chain *c;
    FUZZ_CHECK(cairn_chain_new(&c, &cfg) == 0, "chain");
    memcpy(tips[0], cairn_chain_tip(c)->id, 32);
    for (int i = 1; i <= N_BLOCKS; i++) {
        e.wall += 60000;
        FUZZ_CHECK(mine_one(c, &e, i % 4) == 0, "mining block %d", i);
        memcpy(tips[i], cairn_chain_tip(c)->id, 32);
    }
    read_file(build, 0, &crashed);
    read_file(build, 1, &crashed);
    cairn_chain_del(c);
    cairn_store_close(s);
    read_file(build, 0, &clean);
    read_file(build, 1, &clean);
    FUZZ_CHECK(clean.len[0] > 0, "no chain.db written");
    FUZZ_CHECK(e.live == 0, "setup leaked");
    atexit(remove_scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    init_once();
    return 0;
}

/* Applies the edits to a copy of `im`; returns 1 when chain.db changed. */
static int edit(fuzz_in *in, image *im)
{
    int db_changed = 0;
    for (int i = 0; i < MAX_EDITS && fuzz_left(in); i++) {
        uint8_t kind = fuzz_u8(in) % 6, f = fuzz_u8(in) & 1;
        uint32_t off = fuzz_u32(in);
        size_t len = im->len[f], n;
        const uint8_t *b;
        uint8_t before = 0;
        switch (kind) {
        case 0: /* truncate */
            im->len[f] = len ? off % (len + 1) : 0;
            db_changed |= f == 0 && im->len[f] != len;
            break;
        case 1: /* xor a byte */
            if (len) {
                uint8_t x = fuzz_u8(in);
                im->file[f][off % len] ^= x;
                db_changed |= f == 0 && x;
            }
            break;
        case 2: /* overwrite bytes */
            b = fuzz_bytes(in, fuzz_u8(in), &n);
            if (len) {
                size_t at = off % len;
                n = n < len - at ? n : len - at;
                db_changed |= f == 0 && memcmp(im->file[f] + at, b, n) != 0;
                memcpy(im->file[f] + at, b, n);
            }
            break;
        case 3: /* zero a page */
            if (len >= PAGE) {
                size_t at = (off % (len / PAGE)) * PAGE;
                for (size_t k = 0; k < PAGE; k++)
                    before |= im->file[f][at + k];
                memset(im->file[f] + at, 0, PAGE);
                db_changed |= f == 0 && before;
            }
            break;
        case 4: /* copy a page over another */
            if (len >= 2 * PAGE) {
                size_t from = (off % (len / PAGE)) * PAGE;
                size_t to = ((off >> 16) % (len / PAGE)) * PAGE;
                db_changed |= f == 0 && memcmp(im->file[f] + to, im->file[f] + from, PAGE) != 0;
                memmove(im->file[f] + to, im->file[f] + from, PAGE);
            }
            break;
        case 5: /* append */
            b = fuzz_bytes(in, fuzz_u8(in), &n);
            n = n < MAX_IMAGE - len ? n : MAX_IMAGE - len;
            memcpy(im->file[f] + len, b, n);
            im->len[f] += n;
            db_changed |= f == 0 && n;
            break;
        }
    }
    return db_changed;
}

static void write_dir(const image *im)
{
    char path[160];
    /* Both again each time: under AFL++ each forked child removes the
     * scratch directory when it exits (atexit), the next one recreates it. */
    mkdir(scratch, 0700);
    mkdir(rundir, 0700);
    static const char *const all[] = {"chain.db", "chain.db-wal", "chain.db-shm",
                                      "chain.db-journal"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", rundir, all[i]);
        unlink(path);
    }
    for (int f = 0; f < 2; f++) {
        if (f == 1 && im->len[1] == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", rundir, names[f]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        FUZZ_CHECK(fd >= 0, "%s: %s", path, strerror(errno));
        FUZZ_CHECK(write(fd, im->file[f], im->len[f]) == (ssize_t)im->len[f], "write %s", path);
        close(fd);
    }
}

typedef struct body_check {
    cairn_merkle_builder mb;
    size_t n;
} body_check;

static int on_entry(void *ud, const uint8_t *entry, size_t len)
{
    body_check *bc = ud;
    uint8_t leaf[32];
    fuzz_hash2(leaf, 0x00, entry, len, NULL, 0);
    bc->n++;
    return cairn_merkle_builder_add(&bc->mb, leaf) != 0;
}

/* Everything the check accepted loads, and the active chain has its bodies. */
static void check_opened(cairn_store *s, int full, int db_changed, int mine)
{
    fuzz_env e;
    fuzz_env_init(&e, 2);
    e.wall += 100ull * 60000;
    cairn_chain_config cfg = {.net = &net, .env = &e.env, .store = cairn_store_chain(s)};
    cairn_chain *c;
    int rv = cairn_chain_new(&c, &cfg);
    /* The quick check (SQLite's quick_check) does not compare indexes with
     * their tables: a damaged index can pass it and fail the load, which
     * must then fail cleanly. What the full check accepts must load. */
    FUZZ_CHECK(rv == 0 || (!full && db_changed && rv < 0),
               "the store passed its %s check but the chain does not load: %d (%s)",
               full ? "full" : "quick", rv, cairn_store_errmsg(s));
    if (rv != 0) {
        FUZZ_CHECK(e.live == 0, "a failed load leaked %ld allocations", e.live);
        return;
    }
    const cairn_chain_block *tip = cairn_chain_tip(c);
    if (!db_changed) {
        int known = -1;
        for (int i = 0; i <= N_BLOCKS; i++)
            if (memcmp(tip->id, tips[i], 32) == 0)
                known = i;
        FUZZ_CHECK(known >= 0, "the tip of an uncorrupted store is none it went through");
    }
    for (const cairn_chain_block *b = tip; b; b = b->parent) {
        uint8_t hdr[CAIRN_BLOCK_HEADER_LEN], id[32];
        static body_check bc;
        cairn_merkle_builder_init(&bc.mb, NULL);
        bc.n = 0;
        rv = cairn_store_get_block(s, b->id, hdr, full ? on_entry : NULL, &bc);
        if (rv < 0 && !full && db_changed) {
            /* The quick check does not decode bodies: a damaged one is an error. */
            FUZZ_CHECK(cairn_store_errmsg(s)[0], "get_block failed (%d) without a message", rv);
            fuzz_check_err(rv, "get_block");
            continue;
        }
        FUZZ_CHECK(rv == 0, "block at height %llu of the active chain has no body: %d",
                   (unsigned long long)b->hdr.height, rv);
        FUZZ_CHECK(cairn_block_id(NULL, id, hdr) == 0 && memcmp(id, b->id, 32) == 0,
                   "the stored header is not the block's");
        if (full) {
            uint8_t root[32];
            FUZZ_CHECK(cairn_merkle_builder_root(&bc.mb, root) == 0, "root");
            FUZZ_CHECK(memcmp(root, b->hdr.entries_root, 32) == 0,
                       "a body that passed the full check has another entries root");
        }
    }
    if (mine) {
        rv = mine_one(c, &e, 2);
        FUZZ_CHECK(rv <= 0, "add_block returned %d", rv);
        fuzz_check_err(rv, "add_block");
        FUZZ_CHECK(rv == 0 || db_changed, "an uncorrupted store does not take a block: %d (%s)", rv,
                   cairn_store_errmsg(s));
    }
    cairn_chain_del(c);
    FUZZ_CHECK(e.live == 0, "the chain leaked %ld allocations", e.live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    init_once();
    fuzz_in in = {data, data + size};
    uint8_t flags = fuzz_u8(&in);
    const image *base = flags & 1 ? &crashed : &clean;
    int full = (flags >> 1) & 1, mine = (flags >> 2) & 1;
    static image im;
    for (int f = 0; f < 2; f++) {
        if (!im.file[f])
            FUZZ_CHECK((im.file[f] = malloc(MAX_IMAGE)) != NULL, "out of memory");
        memcpy(im.file[f], base->file[f], base->len[f]);
        im.len[f] = base->len[f];
    }
    int db_changed = edit(&in, &im);
    write_dir(&im);

    cairn_store *s = (cairn_store *)&im; /* must be overwritten */
    char err[256] = "";
    int rv =
        cairn_store_open(&s, rundir, &net, full ? CAIRN_STORE_CHECK_FULL : 0, err, sizeof(err));
    if (rv != 0) {
        FUZZ_CHECK(rv < 0, "cairn_store_open returned %d", rv);
        fuzz_check_err(rv, "store_open");
        FUZZ_CHECK(s == NULL, "a failed open left a store");
        FUZZ_CHECK(err[0] != '\0', "open failed (%d) without a message", rv);
        FUZZ_CHECK(db_changed, "an uncorrupted store (crashed: %d) does not open: %s", flags & 1,
                   err);
        return 0;
    }
    check_opened(s, full, db_changed, mine);
    cairn_store_close(s);
    if (flags & 8) {
        /* A store of this network is refused to any other network. */
        const cairn_network *other = cairn_network_by_name(flags & 16 ? "testnet" : "devnet");
        FUZZ_CHECK(other != NULL && other != &net, "no registered network");
        s = NULL;
        rv = cairn_store_open(&s, rundir, other, 0, err, sizeof(err));
        FUZZ_CHECK(rv < 0 && s == NULL && err[0], "opened for %s: %d", other->name, rv);
        fuzz_check_err(rv, "store_open(other network)");
    }
    return 0;
}
