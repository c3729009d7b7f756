/*
 * The chain (spec §9.5-§9.8, §10.1-§10.3): networks and their
 * genesis blocks, the block index, validation with reason codes, the orphan
 * pool, fork choice and reorgs, block locators, the pending-entry pool and
 * the miner.
 *
 * Pure logic: memory, the wall clock and the hash-table salt come from the
 * cairn_env; persistence goes through a cairn_chain_store the caller
 * supplies (reference/store/ implements it over SQLite). The chain keeps
 * every header in memory and no entry: bodies live in the store.
 *
 * Threading: a cairn_chain is not thread-safe; one owner drives it.
 */
#ifndef CAIRN_CHAIN_H
#define CAIRN_CHAIN_H

#include "cairn/block.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Networks (§9.8) ------------------------------------------------------------ */

/*
 * A network is defined by its genesis block: version 1, height 0, prev_id
 * zero, one entry, entries_root = MTH of that entry. Its network ID is the
 * genesis block ID; `bits` is fixed for every block of the network.
 */
typedef struct cairn_network {
    const char *name;
    uint32_t bits;
    uint64_t genesis_time_ms;
    uint64_t genesis_nonce;
    const uint8_t *genesis_entry;
    size_t genesis_entry_len;
    uint8_t genesis_id[CAIRN_HASH_LEN];
} cairn_network;

/* The registered networks (static storage). */
const cairn_network *cairn_network_devnet(void);
const cairn_network *cairn_network_testnet(void);
/* By name ("devnet", "testnet"), or NULL. */
const cairn_network *cairn_network_by_name(const char *name);
/* The genesis header and its 96 bytes (`raw` may be NULL). */
int cairn_network_genesis(const cairn_network *net, cairn_block_header *hdr,
                          uint8_t raw[CAIRN_BLOCK_HEADER_LEN]);
/*
 * Recomputes the genesis block and checks that its ID is genesis_id and that
 * it meets `bits`. Returns 0 or CAIRN_ERR_INVALID_ARG. Use it on a custom
 * network (tests) after filling in genesis_id.
 */
int cairn_network_verify(const cairn_network *net);

/* ---- The block index ------------------------------------------------------------ */

enum {
    CAIRN_CHAIN_HAVE_DATA = 1, /* the body passed validation and is stored */
    CAIRN_CHAIN_LINKED = 2,    /* it and every ancestor have data: it may be the tip */
    CAIRN_CHAIN_FAILED = 4,    /* invalid, or descends from an invalid block */
};

/*
 * One index record: a block whose header passed validation. Read-only for
 * callers; lives as long as the chain, except low-work header-only records,
 * which pruning removes (SYNC-44): do not keep pointers to those across a
 * call that adds headers.
 */
typedef struct cairn_chain_block {
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_header hdr;
    cairn_work work; /* cumulative, this block included */
    uint32_t flags;
    uint32_t fail_reason; /* with CAIRN_CHAIN_FAILED */
    struct cairn_chain_block *parent;
    /* Internal. */
    struct cairn_chain_block *skip, *child, *sibling;
    uint64_t seq;    /* arrival order: set when the record is made, again when it becomes linked */
    uint32_t iflags; /* chain-private marks (pruning, recycling) */
} cairn_chain_block;

/* The ancestor of `b` at `height` (<= b's height), in O(log n). */
const cairn_chain_block *cairn_chain_block_ancestor(const cairn_chain_block *b, uint64_t height);

/* ---- Storage interface ------------------------------------------------------------ */

/*
 * One atomic, durable change: new header-only records, one block's body (its
 * record new or already stored), and a new active tip. The store applies all
 * of it or nothing, and returns 0 only once it is durable (inside a batch
 * the store opened at its caller's request: once it is queued in it).
 */
typedef struct cairn_chain_write {
    const cairn_chain_block *const *headers; /* records stored without body */
    size_t n_headers;
    const cairn_chain_block *const *pruned; /* header-only records to delete [SYNC-44] */
    size_t n_pruned;
    const cairn_chain_block *block; /* record whose body is stored, or NULL */
    const cairn_bytes_ref *entries;
    size_t n_entries;
    const cairn_chain_block *tip; /* new active tip, or NULL when unchanged */
} cairn_chain_write;

/* Called by load for each stored record; nonzero stops the load. */
typedef int (*cairn_chain_load_fn)(void *ud, const uint8_t header[CAIRN_BLOCK_HEADER_LEN],
                                   int have_data);

typedef struct cairn_chain_store {
    int (*write)(void *ud, const cairn_chain_write *w);
    /*
     * Calls `fn` for every stored record, parents before children (ascending
     * height), then copies the stored tip ID to `tip` and sets *have_tip.
     * An empty store sets *have_tip = 0.
     */
    int (*load)(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                int *have_tip);
    void *ud;
} cairn_chain_store;

/* ---- The chain ---------------------------------------------------------------- */

typedef struct cairn_chain cairn_chain;

typedef struct cairn_chain_config {
    const cairn_network *net;
    const cairn_env *env;           /* mem, wall_ms (TIME_TOO_NEW), random */
    const cairn_chain_store *store; /* NULL: memory only */
    size_t max_orphans;             /* 0: 256 [FORK-1] */
    size_t max_orphan_bytes;        /* 0: 32 MiB */
    size_t max_low_work;            /* 0: 20000 low-work header-only records kept [SYNC-44] */
    /* Called after the active tip moved (the change is durable). */
    void (*on_tip)(void *ud, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork_point);
    void *ud;
} cairn_chain_config;

/*
 * Creates a chain. With a store: an empty store gets the genesis block; a
 * non-empty one is loaded, every record re-checked (ID, link, height,
 * version, bits, PoW) and the stored tip compared with the fork choice over
 * the loaded blocks; any mismatch fails with CAIRN_ERR_INTERNAL.
 */
int cairn_chain_new(cairn_chain **out, const cairn_chain_config *cfg);
void cairn_chain_del(cairn_chain *c);

enum cairn_chain_status {
    CAIRN_CHAIN_ADDED = 1,     /* validated and stored */
    CAIRN_CHAIN_DUPLICATE = 2, /* already stored, nothing done */
    CAIRN_CHAIN_ORPHAN = 3,    /* parent unknown: held in the orphan pool */
};

typedef struct cairn_chain_result {
    int status;
    const cairn_chain_block *block; /* the record; NULL for an orphan */
    int tip_changed;
    uint64_t reorg_depth;    /* most blocks the active chain lost in one switch */
    size_t orphans_accepted; /* orphans that this block let in */
} cairn_chain_result;

/*
 * §9.5 Validates and stores a block. Returns 0 with `res` filled;
 * CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK) with *reason (permanent unless
 * TIME_TOO_NEW); or a local error (memory, the store's error) with nothing
 * changed in memory. Fork choice runs on success: the active chain switches
 * in the same store write as the block (§9.6). `res` may be NULL.
 */
int cairn_chain_add_block(cairn_chain *c, const uint8_t *header, size_t header_len,
                          const cairn_bytes_ref *entries, size_t n, cairn_chain_result *res,
                          uint32_t *reason);

/*
 * §10.1 Headers-first: validates a contiguous run of headers whose first
 * links to a known block (BAD_LINK otherwise) and stores the new ones as
 * header-only records. All headers pass size, version, bits and PoW before
 * anything is stored; on a later failure the valid prefix is kept.
 * *n_new = records added.
 */
int cairn_chain_add_headers(cairn_chain *c, const cairn_bytes_ref *headers, size_t n, size_t *n_new,
                            uint32_t *reason);
/*
 * The same with a caller's low-work allowance: at most *low_work_budget new
 * records whose cumulative work does not exceed the active tip's are stored;
 * headers past it are dropped without error (*n_new says how many were
 * kept) and the budget is reduced by what was stored. A NULL budget means no
 * limit. The node-wide bound of SYNC-44 applies either way.
 */
int cairn_chain_add_headers_limited(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                                    size_t *low_work_budget, size_t *n_new, uint32_t *reason);

/*
 * [SYNC-44] Low-work headers: header-only records that are not ancestors of
 * the best header or of a pinned record and whose work does not exceed the
 * active tip's. When more than max_low_work of them are kept, the most
 * recently received are deleted (leaves first, from memory and the store)
 * until three quarters of the bound remain. Runs after every header write;
 * the count is exact after a pass.
 */
size_t cairn_chain_low_work_count(const cairn_chain *c);
/*
 * Protects `b` and its header-only ancestors from pruning until unpinned
 * (a branch being downloaded again, SYNC-45). Pins nest; at most 256.
 * Returns 0 or CAIRN_ERR_NOMEM.
 */
int cairn_chain_pin(cairn_chain *c, const cairn_chain_block *b);
void cairn_chain_unpin(cairn_chain *c, const cairn_chain_block *b);

/*
 * cairn_chain_add_headers that also pins (cairn_chain_pin) the last record
 * it stored before pruning runs, so that a branch being fetched again
 * (SYNC-45) survives its own low-work prefix; *pin is NULL when nothing was
 * stored. The caller unpins it.
 */
int cairn_chain_add_headers_pinned(cairn_chain *c, const cairn_bytes_ref *headers, size_t n,
                                   const cairn_chain_block **pin, size_t *n_new, uint32_t *reason);

const cairn_network *cairn_chain_network(const cairn_chain *c);
const cairn_chain_block *cairn_chain_genesis(const cairn_chain *c);
/* The active tip: most work among linked blocks, ties to the one linked first [FORK-10]. */
const cairn_chain_block *cairn_chain_tip(const cairn_chain *c);
/* Most work among all non-failed records (what to download towards). */
const cairn_chain_block *cairn_chain_best_header(const cairn_chain *c);
/* Any index record by ID, or NULL. */
const cairn_chain_block *cairn_chain_find(const cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN]);
/* The active chain's block at `height`, or NULL above the tip. */
const cairn_chain_block *cairn_chain_at(const cairn_chain *c, uint64_t height);
int cairn_chain_is_active(const cairn_chain *c, const cairn_chain_block *b);
/* [VAL-11] [VAL-12] Median time of the 11 blocks ending at `b` (fewer near genesis). */
uint64_t cairn_chain_median_time(const cairn_chain_block *b);
size_t cairn_chain_orphan_count(const cairn_chain *c);
size_t cairn_chain_record_count(const cairn_chain *c);

/* §10.1 Locator limits and the headers-response cap. */
#define CAIRN_LOCATOR_MAX   64
#define CAIRN_LOCATOR_DENSE 10
#define CAIRN_HEADERS_MAX   2000

/*
 * [SYNC-1] [SYNC-2] [SYNC-3] Block locator from `from` (NULL: the active tip): the 10 most recent
 * IDs, then stepping back 2, 4, 8, ... blocks, always ending with genesis;
 * at most min(cap, 64) IDs. Returns the number written.
 */
size_t cairn_chain_locator(const cairn_chain *c, const cairn_chain_block *from,
                           uint8_t (*out)[CAIRN_HASH_LEN], size_t cap);

/*
 * [SYNC-8] [SYNC-9] [SYNC-10] Responder side of GetHeaders: the first locator ID on the active
 * chain (unknown ones skipped; none: genesis) and the headers after it, up
 * to min(max_count or 2000, 2000, cap), stopping after `stop_id` (may be
 * NULL). Writes 96-byte headers to `out`, the count to *count. Returns
 * CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD) for more than 64 locator IDs or
 * max_count > 2000.
 */
int cairn_chain_get_headers(const cairn_chain *c, const uint8_t (*locator)[CAIRN_HASH_LEN],
                            size_t n_locator, const uint8_t *stop_id, uint32_t max_count,
                            uint8_t (*out)[CAIRN_BLOCK_HEADER_LEN], size_t cap, size_t *count);

/*
 * §10.1 Bodies to fetch: records on the best-header chain at heights
 * [from, from + window) that have no data yet (and are not failed), lowest
 * first. `out` holds `window` pointers. Returns the number written.
 */
size_t cairn_chain_missing_bodies(const cairn_chain *c, uint64_t from,
                                  const cairn_chain_block **out, size_t window);

/* ---- Pending entries (§10.4) ------------------------------------------------------- */

typedef struct cairn_mempool cairn_mempool;

/*
 * A bounded pool (0: 8192 entries, 32 MiB) [REL-17], fair between sources:
 * a peer source holds at most an eighth of either bound [REL-18], and a full
 * pool evicts the newest entries of the largest source [REL-19].
 */
int cairn_mempool_new(cairn_mempool **out, const cairn_mem *mem, size_t max_count,
                      size_t max_bytes);
void cairn_mempool_del(cairn_mempool *p);
/*
 * Checks an entry (cairn_entry_check) and keeps a copy charged to `source`
 * (a peer's node ID, 32 bytes; NULL = the node itself, which has no share
 * limit). Returns 0 when added, already pending, or in the recent-entry
 * index (*id = entry ID in every case, for EntryAck; *added, when not NULL,
 * says whether it was added); CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY) with
 * *reason; or CAIRN_ERR_PROTO(CAIRN_E_BUSY) when the fair-share rules refuse it.
 */
int cairn_mempool_add_from(cairn_mempool *p, const uint8_t *entry, size_t len,
                           const uint8_t *source, uint8_t id[CAIRN_HASH_LEN], uint32_t *reason,
                           int *added);
/* cairn_mempool_add_from with the node itself as the source. */
int cairn_mempool_add(cairn_mempool *p, const uint8_t *entry, size_t len,
                      uint8_t id[CAIRN_HASH_LEN], uint32_t *reason);
/* Drops the entries of a block that joined the active chain. */
int cairn_mempool_remove(cairn_mempool *p, const cairn_bytes_ref *entries, size_t n);
int cairn_mempool_contains(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN]);
size_t cairn_mempool_count(const cairn_mempool *p);
size_t cairn_mempool_bytes(const cairn_mempool *p);
/*
 * Entries that fit one block (count and byte limits), at most `cap`, taken
 * from the sources in turn, oldest first within a source [REL-26], never
 * one in the recent-entry index [REL-24]. The views live until the pool
 * next changes.
 */
size_t cairn_mempool_select(const cairn_mempool *p, cairn_bytes_ref *out, size_t cap);

/*
 * The recent-entry index [REL-24], [REL-25]: entries of the last
 * CAIRN_RECENT_ENTRY_WINDOW blocks of the active chain, fed by the caller as
 * blocks enter and leave the window (a multiset: an entry in two blocks is
 * added twice). Kept as 8-byte ID prefixes; a prefix collision only keeps
 * an entry out of the pool, which needs a second preimage of 64 bits.
 */
#define CAIRN_RECENT_ENTRY_WINDOW 256
int cairn_mempool_recent_add(cairn_mempool *p, const uint8_t *entry, size_t len);
int cairn_mempool_recent_remove(cairn_mempool *p, const uint8_t *entry, size_t len);
int cairn_mempool_recent_contains(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN]);
void cairn_mempool_recent_clear(cairn_mempool *p);
size_t cairn_mempool_recent_count(const cairn_mempool *p);

/* ---- Miner ---------------------------------------------------------------------- */

/*
 * A block template on the active tip: height tip+1, prev_id = tip, bits of
 * the network, time = max(now_ms, median time + 1), nonce 0, and the oldest
 * pending entries of `pool` (may be NULL) with their entries_root. Writes at
 * most `cap` entry views (valid until the pool changes) and their number.
 */
int cairn_miner_template(cairn_chain *c, const cairn_mempool *pool, uint64_t now_ms,
                         cairn_block_header *hdr, cairn_bytes_ref *entries, size_t cap, size_t *n);

/*
 * Searches nonces from hdr->nonce for at most `max_tries` hashes. Returns 0
 * with hdr->nonce, `raw` and `id` set to the solution, or CAIRN_ERR_AGAIN with
 * hdr->nonce advanced past the tried range.
 */
int cairn_miner_solve(cairn_sha256_ctx *ctx, cairn_block_header *hdr, uint64_t max_tries,
                      uint8_t raw[CAIRN_BLOCK_HEADER_LEN], uint8_t id[CAIRN_HASH_LEN]);

#ifdef __cplusplus
}
#endif
#endif
