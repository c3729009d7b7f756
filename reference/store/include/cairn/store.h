/*
 * The durable chain store (reference/store/, target cairn_store): SQLite in
 * WAL mode with synchronous=FULL behind the cairn_chain_store interface.
 *
 * Each cairn_chain_store write is one transaction: a block's body, its index
 * record and the tip it moves commit together or not at all, and are on disk
 * when the write returns. During initial sync the caller may open a batch:
 * writes then join one transaction (each still atomic on its own through a
 * savepoint) that commit_batch makes durable in one fsync.
 *
 * Layout of <dir>/chain.db:
 *   meta(key, value)       "schema" = 1, "network" = genesis ID, "tip" = tip ID
 *   blocks(id, height, prev, header, have_data)   every index record
 *   bodies(id, n, data)    data = n times (u32 BE length || entry bytes)
 *
 * Not thread-safe: one owner (the node's event loop) uses a store.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "cairn/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_store cairn_store;

enum {
    CAIRN_STORE_CHECK_FULL = 1, /* open: PRAGMA integrity_check and every entries root */
    CAIRN_STORE_NO_CHECK = 2,   /* open: skip the integrity check (benchmarks) */
};

/*
 * Opens or creates the store in directory `dir` (created if missing) for
 * network `net`, then runs the integrity check (cairn_store_check, quick
 * unless CAIRN_STORE_CHECK_FULL). A store of another network, or one that
 * fails its check, is refused: CAIRN_ERR_INVALID_ARG or CAIRN_ERR_INTERNAL,
 * with a description written to `err` (errlen bytes, may be NULL).
 */
int cairn_store_open(cairn_store **out, const char *dir, const cairn_network *net, int flags,
                     char *err, size_t errlen);
void cairn_store_close(cairn_store *s);

/* The storage interface for cairn_chain_config.store; lives as long as `s`. */
const cairn_chain_store *cairn_store_chain(cairn_store *s);

/* Batches for initial sync: writes between begin and commit share one fsync. */
int cairn_store_begin_batch(cairn_store *s);
/*
 * Makes the batch durable. On failure the whole batch is lost: the chain
 * that wrote it is ahead of the disk and must be recreated from the store.
 */
int cairn_store_commit_batch(cairn_store *s);
int cairn_store_in_batch(const cairn_store *s);

/*
 * [VAL-31..VAL-33] Sync-time batches with bounds: a node that is far
 * behind its best header opens a batch (sync_open) and counts each block it
 * adds (sync_account); the batch commits by itself once it is
 * CAIRN_STORE_BATCH_MS old or holds CAIRN_STORE_BATCH_BLOCKS blocks or
 * CAIRN_STORE_BATCH_BYTES bytes, so a crash loses at most that much. The
 * caller commits it earlier (commit_batch) before it reveals a block of the
 * batch to anyone, and calls sync_due from a timer so that a stalled
 * download does not keep a batch open. Times are the caller's monotonic ms.
 */
#define CAIRN_STORE_BATCH_MS     1000u
#define CAIRN_STORE_BATCH_BLOCKS 16384u
#define CAIRN_STORE_BATCH_BYTES  (64u << 20)

/* Opens a batch unless one is open; 0 or an error. */
int cairn_store_sync_open(cairn_store *s, uint64_t now_ms);
/* Counts a block of `bytes` into the open batch and commits the batch when a
 * bound is reached: 1 when it committed, 0 when not (or no batch), or the
 * commit's error. */
int cairn_store_sync_account(cairn_store *s, uint64_t now_ms, size_t bytes);
/* Commits the open batch when it is CAIRN_STORE_BATCH_MS old: 1, 0 or an error. */
int cairn_store_sync_due(cairn_store *s, uint64_t now_ms);
/* Blocks in the open batch (0 when none). */
size_t cairn_store_batch_blocks(const cairn_store *s);

/* Called for each entry of a block, in order; nonzero stops. */
typedef int (*cairn_store_entry_fn)(void *ud, const uint8_t *entry, size_t len);

/*
 * A stored block (GetBlock): copies its header to `header` (may be NULL) and
 * calls `fn` (may be NULL) for each entry; the entry bytes live only during
 * the call. Returns 0, 1 when the store has no body for `id`, or an error.
 */
int cairn_store_get_block(cairn_store *s, const uint8_t id[CAIRN_HASH_LEN],
                          uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_store_entry_fn fn,
                          void *ud);

/*
 * Integrity check: SQLite's quick_check (integrity_check when full), the
 * network, every record's ID = SHA-256(header), height and prev columns
 * agreeing with the header, every parent present one height below, bodies
 * exactly where have_data says, the tip present with its whole ancestry
 * stored with bodies; when full, also every body's encoding and entries root.
 * Returns 0 or CAIRN_ERR_INTERNAL with a description in cairn_store_errmsg.
 */
int cairn_store_check(cairn_store *s, int full);

/* The last failure's description (lives until the next call on `s`). */
const char *cairn_store_errmsg(const cairn_store *s);

#ifdef __cplusplus
}
#endif
#endif
