/*
 * Initial sync: durable writes in bounded batches and one progress line per
 * second (spec §9.5, VAL-31..VAL-33).
 *
 * While the active tip is far below the best header, the blocks the node
 * adds join one store transaction that commits at most CAIRN_STORE_BATCH_MS
 * after it opened (or at CAIRN_STORE_BATCH_BLOCKS / _BYTES), so a crash
 * loses at most that batch. Nothing of a batch leaves the node before it is
 * on disk: node_flush (sync.c) commits it before any message that names or
 * carries a block (a Hello's tip, Headers, Block, Announce), and the tips
 * reached inside a batch are announced once it has committed: every function
 * here says whether a batch committed, and the caller announces.
 */
#include "node_int.h"

/* [VAL-31] "far behind": this many blocks below the best header */
#define SYNC_BEHIND      16
#define SYNC_PROGRESS_MS 1000

static int far_behind(node *n)
{
    const cairn_chain_block *tip = cairn_chain_tip(n->chain),
                            *best = cairn_chain_best_header(n->chain);
    return best->hdr.height > tip->hdr.height + SYNC_BEHIND;
}

/* A store that cannot commit leaves the chain ahead of the disk: stop. */
static int store_failed(node *n, int rv)
{
    const char *msg = n->store->errmsg ? n->store->errmsg(n->store->ud) : "";
    LOGE(n, "store: cannot commit blocks: %s (%s); stopping", cairn_strerror(rv), msg);
    node_stop(n, 1);
    return -1;
}

int progress_in_batch(const node *n)
{
    return n->store->in_batch && n->store->in_batch(n->store->ud);
}

int progress_commit(node *n)
{
    if (!progress_in_batch(n))
        return 0;
    int rv = n->store->commit_batch(n->store->ud);
    return rv ? store_failed(n, rv) : 1;
}

/* A bounded-batch call's result: 1 committed, 0 not, else the store failed. */
static int result(node *n, int rv)
{
    return rv < 0 ? store_failed(n, rv) : rv;
}

static void progress(node *n, uint64_t now)
{
    if (!n->syncing || now - n->sync_last_ms < SYNC_PROGRESS_MS)
        return;
    uint64_t h = cairn_chain_tip(n->chain)->hdr.height,
             best = cairn_chain_best_header(n->chain)->hdr.height;
    if (h == n->sync_last_height && now - n->sync_last_ms < 10 * SYNC_PROGRESS_MS)
        return; /* stalled: a line every 10 s is enough */
    double dt = (double)(now - n->sync_last_ms) / 1000.0;
    double rate = dt > 0 ? (double)(h - n->sync_last_height) / dt : 0;
    double mib = dt > 0 ? (double)(n->sync_bytes - n->sync_last_bytes) / dt / 1048576.0 : 0;
    if (rate > 0)
        LOGI(n, "sync: height %llu / %llu, %.0f blocks/s, %.1f MiB/s, ETA %.0f s",
             (unsigned long long)h, (unsigned long long)best, rate, mib,
             (double)(best > h ? best - h : 0) / rate);
    else
        LOGI(n, "sync: height %llu / %llu, waiting for blocks", (unsigned long long)h,
             (unsigned long long)best);
    n->sync_last_ms = now;
    n->sync_last_height = h;
    n->sync_last_bytes = n->sync_bytes;
}

int progress_before_block(node *n)
{
    if (!far_behind(n))
        return 0;
    uint64_t now = node_now(n);
    if (!n->syncing) {
        n->syncing = 1;
        n->sync_start_ms = n->sync_last_ms = now;
        n->sync_start_height = n->sync_last_height = cairn_chain_tip(n->chain)->hdr.height;
        n->sync_bytes = n->sync_last_bytes = 0;
        LOGI(n, "sync: height %llu, best header %llu: syncing",
             (unsigned long long)n->sync_start_height,
             (unsigned long long)cairn_chain_best_header(n->chain)->hdr.height);
    }
    if (!n->store->sync_open)
        return 0;
    int rv = n->store->sync_open(n->store->ud, now);
    return rv ? store_failed(n, rv) : 0;
}

int progress_before_headers(node *n, size_t count)
{
    /* a long Headers answer makes us far behind by itself: its records join
     * the batch (nothing of them is served before they are on disk either:
     * GetHeaders answers from the active chain, whose blocks commit first) */
    if (!n->store->sync_open || (count <= SYNC_BEHIND && !far_behind(n)))
        return 0;
    int rv = n->store->sync_open(n->store->ud, node_now(n));
    return rv ? store_failed(n, rv) : 0;
}

int progress_after_headers(node *n)
{
    if (!n->store->sync_due)
        return 0;
    int rv = result(n, n->store->sync_due(n->store->ud, node_now(n)));
    if (rv == 0 && !far_behind(n))
        rv = progress_commit(n);
    return rv;
}

int progress_after_block(node *n, size_t bytes)
{
    uint64_t now = node_now(n);
    if (n->syncing)
        n->sync_bytes += bytes;
    int rv = 0;
    if (n->store->sync_account)
        rv = result(n, n->store->sync_account(n->store->ud, now, bytes));
    if (rv == 0 && !far_behind(n))
        rv = progress_commit(n); /* [VAL-31] near the best header: every block durable at once */
    if (!n->syncing || rv < 0)
        return rv;
    const cairn_chain_block *tip = cairn_chain_tip(n->chain);
    if (tip == cairn_chain_best_header(n->chain)) {
        double secs = (double)(now - n->sync_start_ms) / 1000.0;
        uint64_t blocks = tip->hdr.height - n->sync_start_height;
        LOGI(n, "sync: caught up at height %llu: %llu blocks in %.1f s (%.0f blocks/s, %.1f MiB/s)",
             (unsigned long long)tip->hdr.height, (unsigned long long)blocks, secs,
             secs > 0 ? (double)blocks / secs : 0,
             secs > 0 ? (double)n->sync_bytes / secs / 1048576.0 : 0);
        n->syncing = 0;
        return rv;
    }
    progress(n, now);
    return rv;
}

int progress_tick(node *n)
{
    uint64_t now = node_now(n);
    int rv = n->store->sync_due ? result(n, n->store->sync_due(n->store->ud, now)) : 0;
    progress(n, now);
    return rv;
}
