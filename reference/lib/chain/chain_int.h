/* Internal to the chain layer: the chain object and index helpers. */
#ifndef CAIRN_CHAIN_INT_H
#define CAIRN_CHAIN_INT_H

#include "cairn/chain.h"

#define CHAIN_ARENA_RECORDS 512 /* records per chunk, once the chain has grown */
#define CHAIN_ARENA_FIRST   16  /* records in the first chunk; each next one doubles */
#define CHAIN_MAX_PINS      256

/* iflags */
enum { CHAIN_KEEP = 1, CHAIN_PRUNE = 2, CHAIN_RECYCLED = 4 };

/* Records come from chunks that are freed only with the chain; chunks double
 * from CHAIN_ARENA_FIRST to CHAIN_ARENA_RECORDS records, so a short chain
 * (a simulator's 10,000 nodes) does not pay for 512 records each. */
typedef struct chain_arena {
    struct chain_arena *next;
    size_t used, cap;
    cairn_chain_block recs[];
} chain_arena;

typedef struct chain_arena_mark {
    chain_arena *chunk;
    size_t used;
} chain_arena_mark;

/* A block whose parent is unknown, with a private copy of its bytes. */
typedef struct chain_orphan {
    uint8_t id[CAIRN_HASH_LEN];
    uint8_t prev[CAIRN_HASH_LEN];
    uint8_t header[CAIRN_BLOCK_HEADER_LEN];
    size_t n, bytes;
    cairn_bytes_ref *entries; /* into the same allocation */
} chain_orphan;

struct cairn_chain {
    const cairn_network *net;
    const cairn_env *env;
    const cairn_mem *mem;
    const cairn_chain_store *store;
    cairn_chain_config cfg;
    cairn_sha256_ctx *sha;

    /* Index: open addressing over record pointers, keyed by salted ID. */
    cairn_chain_block **table;
    size_t table_cap, count;
    uint64_t salt;
    chain_arena *arena;
    uint64_t next_seq; /* [FORK-10] arrival counter */

    /* Active chain by height: active[0] = genesis, active[len - 1] = tip. */
    cairn_chain_block **active;
    size_t active_len, active_cap;
    cairn_chain_block *genesis, *tip, *best_header;

    /* [SYNC-44] Low-work header-only records: an upper bound on their
     * number since the last pruning pass, the bound, recycled records and
     * the pinned records. */
    size_t n_low, max_low;
    /* Header-only records that n_low does not count, as they were not
     * low-work at the last pass, become low-work without an insert: when the
     * tip's work reaches low_watch (the least work among those heavier than
     * the tip then), or when nothing keeps them any more (an unpin, the best
     * header moving to another branch: low_dirty). Either runs a pass. */
    cairn_work low_watch;
    int has_watch, low_dirty;
    cairn_chain_block *free_recs;
    const cairn_chain_block *pins[CHAIN_MAX_PINS];
    size_t n_pins;

    /* Orphan pool, oldest first. */
    chain_orphan **orphans;
    size_t n_orphans, orphan_bytes, max_orphans, max_orphan_bytes;
};

/* index.c */
int chain_index_init(cairn_chain *c);
void chain_index_free(cairn_chain *c);
cairn_chain_block *chain_find(const cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN]);
/* Room for `extra` more records; after it, chain_insert cannot fail. */
int chain_reserve(cairn_chain *c, size_t extra);
void chain_insert(cairn_chain *c, cairn_chain_block *b);
chain_arena_mark chain_arena_get_mark(const cairn_chain *c);
/* Gives back records made since `m` that were never inserted. */
void chain_records_abandon(cairn_chain *c, chain_arena_mark m, cairn_chain_block *const *recs,
                           size_t n);
/* Removes a childless, non-genesis record from the index; it is reused. */
void chain_remove_leaf(cairn_chain *c, cairn_chain_block *b);
/* prune.c: [SYNC-44] one pruning pass when the low-work count is over the bound. */
void chain_prune_low_work(cairn_chain *c);
void chain_arena_rollback(cairn_chain *c, chain_arena_mark m);
/* A record for `hdr` under `parent` (NULL for genesis), not yet inserted. */
cairn_chain_block *chain_record_new(cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN],
                                    const cairn_block_header *hdr, cairn_chain_block *parent);
/* Whether `a` beats `b` in fork choice [FORK-5]: more work; equal work goes to
 * the one that arrived first [FORK-10] (smaller seq). */
int chain_better(const cairn_chain_block *a, const cairn_chain_block *b);
/* Next record after `x` in a pre-order walk of the subtree at `root`,
 * descending only into children with `mask` flags all set and none of
 * `reject`; NULL at the end. */
cairn_chain_block *chain_walk_next(const cairn_chain_block *root, cairn_chain_block *x,
                                   uint32_t mask, uint32_t reject);
/* Recompute best_header over all records (after a failure marking). */
void chain_rescan_best_header(cairn_chain *c);
int chain_reserve_active(cairn_chain *c, uint64_t height);

/* orphan.c */
int chain_orphan_add(cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN], const uint8_t *header,
                     const cairn_bytes_ref *entries, size_t n);
chain_orphan *chain_orphan_take(cairn_chain *c, const uint8_t prev[CAIRN_HASH_LEN]);
void chain_orphan_free(cairn_chain *c, chain_orphan *o);
void chain_orphans_clear(cairn_chain *c);

#endif
