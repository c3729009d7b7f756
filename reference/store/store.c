/*
 * The SQLite chain store: see cairn/store.h for the contract and layout.
 *
 * Durability comes from SQLite: WAL with synchronous=FULL fsyncs the log at
 * every commit, so a write that returned survives a crash or a SIGKILL at
 * any instant, and one that did not is either wholly there or wholly absent.
 */
#include "cairn/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store_int.h"

static const char *const stmt_sql[ST_N] = {
    [ST_INS_HDR] = "INSERT OR IGNORE INTO blocks(id, height, prev, header, have_data)"
                   " VALUES (?1, ?2, ?3, ?4, 0)",
    [ST_UPSERT_BLOCK] = "INSERT INTO blocks(id, height, prev, header, have_data)"
                        " VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT(id) DO UPDATE SET have_data = 1",
    [ST_PUT_BODY] = "INSERT OR REPLACE INTO bodies(id, n, data) VALUES (?1, ?2, ?3)",
    [ST_SET_TIP] = "INSERT OR REPLACE INTO meta(key, value) VALUES ('tip', ?1)",
    [ST_GET_BLOCK] = "SELECT b.header, d.n, d.data FROM blocks b JOIN bodies d ON d.id = b.id"
                     " WHERE b.id = ?1",
    [ST_LOAD] = "SELECT header, have_data FROM blocks ORDER BY height",
    [ST_DEL_HDR] = "DELETE FROM blocks WHERE id = ?1 AND have_data = 0",
    /* a write inside a batch: prepared once, not parsed per block */
    [ST_SAVEPOINT] = "SAVEPOINT w",
    [ST_RELEASE] = "RELEASE w",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blocks(id BLOB PRIMARY KEY, height INTEGER NOT NULL,"
    " prev BLOB NOT NULL, header BLOB NOT NULL, have_data INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS blocks_height ON blocks(height);"
    "CREATE TABLE IF NOT EXISTS bodies(id BLOB PRIMARY KEY, n INTEGER NOT NULL,"
    " data BLOB NOT NULL);";

/* Steps a write statement to completion and resets it. */
static int step_done(cairn_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : store_db_fail(s, rc, what);
}

/* ---- Writes ------------------------------------------------------------------------ */

static int put_record(cairn_store *s, int which, const cairn_chain_block *b)
{
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    sqlite3_stmt *st = s->st[which];
    cairn_block_header_encode(raw, &b->hdr);
    sqlite3_bind_blob(st, 1, b->id, CAIRN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)b->hdr.height);
    sqlite3_bind_blob(st, 3, b->hdr.prev_id, CAIRN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, raw, sizeof(raw), SQLITE_TRANSIENT);
    return step_done(s, st, "store record");
}

static int put_body(cairn_store *s, const uint8_t id[CAIRN_HASH_LEN],
                    const cairn_bytes_ref *entries, size_t n)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += 4 + entries[i].len;
    if (need > s->buf_cap) {
        uint8_t *nb = realloc(s->buf, need);
        if (!nb)
            return CAIRN_ERR_NOMEM;
        s->buf = nb;
        s->buf_cap = need;
    }
    uint8_t *p = s->buf;
    for (size_t i = 0; i < n; i++) {
        p = cairn_put_u32(p, (uint32_t)entries[i].len);
        if (entries[i].len)
            memcpy(p, entries[i].data, entries[i].len);
        p += entries[i].len;
    }
    sqlite3_stmt *st = s->st[ST_PUT_BODY];
    sqlite3_bind_blob(st, 1, id, CAIRN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    /* A zero-length blob must still be a blob, not NULL. */
    sqlite3_bind_blob(st, 3, need ? (const void *)s->buf : "", (int)need, SQLITE_STATIC);
    return step_done(s, st, "store body");
}

static int store_write(void *ud, const cairn_chain_write *w)
{
    cairn_store *s = ud;
    int rv = s->in_batch ? step_done(s, s->st[ST_SAVEPOINT], "SAVEPOINT w")
                         : store_exec(s, "BEGIN IMMEDIATE");
    if (rv != 0)
        return rv;
    for (size_t i = 0; rv == 0 && i < w->n_headers; i++)
        rv = put_record(s, ST_INS_HDR, w->headers[i]);
    for (size_t i = 0; rv == 0 && i < w->n_pruned; i++) { /* [SYNC-44] */
        sqlite3_bind_blob(s->st[ST_DEL_HDR], 1, w->pruned[i]->id, CAIRN_HASH_LEN, SQLITE_STATIC);
        rv = step_done(s, s->st[ST_DEL_HDR], "prune header");
    }
    if (rv == 0 && w->block && (rv = put_record(s, ST_UPSERT_BLOCK, w->block)) == 0)
        rv = put_body(s, w->block->id, w->entries, w->n_entries);
    if (rv == 0 && w->tip) {
        sqlite3_bind_blob(s->st[ST_SET_TIP], 1, w->tip->id, CAIRN_HASH_LEN, SQLITE_STATIC);
        rv = step_done(s, s->st[ST_SET_TIP], "store tip");
    }
    if (rv == 0)
        rv = s->in_batch ? step_done(s, s->st[ST_RELEASE], "RELEASE w") : store_exec(s, "COMMIT");
    if (rv != 0) /* all or nothing; keep the first error's text */
        sqlite3_exec(s->db, s->in_batch ? "ROLLBACK TO w; RELEASE w" : "ROLLBACK", NULL, NULL,
                     NULL);
    return rv;
}

int cairn_store_begin_batch(cairn_store *s)
{
    if (s->in_batch)
        return CAIRN_ERR_STATE;
    int rv = store_exec(s, "BEGIN IMMEDIATE");
    if (rv == 0) {
        s->in_batch = 1;
        s->batch_sync = 0;
        s->batch_blocks = 0;
        s->batch_bytes = 0;
    }
    return rv;
}

int cairn_store_commit_batch(cairn_store *s)
{
    if (!s->in_batch)
        return CAIRN_ERR_STATE;
    s->in_batch = 0;
    int rv = store_exec(s, "COMMIT");
    if (rv != 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rv;
}

int cairn_store_in_batch(const cairn_store *s)
{
    return s->in_batch;
}

int cairn_store_sync_open(cairn_store *s, uint64_t now_ms)
{
    if (s->in_batch)
        return 0;
    int rv = cairn_store_begin_batch(s);
    if (rv == 0) {
        s->batch_sync = 1;
        s->batch_ms = now_ms;
    }
    return rv;
}

int cairn_store_sync_account(cairn_store *s, uint64_t now_ms, size_t bytes)
{
    if (!s->in_batch || !s->batch_sync)
        return 0;
    s->batch_blocks++;
    s->batch_bytes += bytes;
    if (s->batch_blocks < CAIRN_STORE_BATCH_BLOCKS && s->batch_bytes < CAIRN_STORE_BATCH_BYTES &&
        now_ms - s->batch_ms < CAIRN_STORE_BATCH_MS)
        return 0;
    int rv = cairn_store_commit_batch(s);
    return rv ? rv : 1;
}

int cairn_store_sync_due(cairn_store *s, uint64_t now_ms)
{
    if (!s->in_batch || !s->batch_sync || now_ms - s->batch_ms < CAIRN_STORE_BATCH_MS)
        return 0;
    int rv = cairn_store_commit_batch(s);
    return rv ? rv : 1;
}

size_t cairn_store_batch_blocks(const cairn_store *s)
{
    return s->in_batch ? s->batch_blocks : 0;
}

/* ---- Reads ------------------------------------------------------------------------- */

static int read_tip(cairn_store *s, uint8_t tip[CAIRN_HASH_LEN], int *have_tip)
{
    sqlite3_stmt *st;
    *have_tip = 0;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'tip'", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "read tip");
    int rv = 0;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != CAIRN_HASH_LEN)
            rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "tip is not 32 bytes");
        else {
            memcpy(tip, sqlite3_column_blob(st, 0), CAIRN_HASH_LEN);
            *have_tip = 1;
        }
    } else if (rc != SQLITE_DONE) {
        rv = store_db_fail(s, rc, "read tip");
    }
    sqlite3_finalize(st);
    return rv;
}

static int load_rows(cairn_store *s, cairn_chain_load_fn fn, void *fn_ud)
{
    sqlite3_stmt *st = s->st[ST_LOAD];
    int rc, rv = 0;
    while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != CAIRN_BLOCK_HEADER_LEN)
            rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "stored header is not 96 bytes");
        else if ((rv = fn(fn_ud, sqlite3_column_blob(st, 0), sqlite3_column_int(st, 1) != 0)))
            store_setmsg(s, rv, "chain refused a stored record");
    }
    if (rv == 0 && rc != SQLITE_DONE)
        rv = store_db_fail(s, rc, "load");
    sqlite3_reset(st);
    return rv;
}

static int store_load(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                      int *have_tip)
{
    cairn_store *s = ud;
    *have_tip = 0;
    /* One read transaction: the records and the tip from the same snapshot. */
    int rv = s->in_batch ? 0 : store_exec(s, "BEGIN");
    if (rv != 0)
        return rv;
    rv = load_rows(s, fn, fn_ud);
    if (rv == 0)
        rv = read_tip(s, tip, have_tip);
    if (!s->in_batch)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rv;
}

int cairn_store_get_block(cairn_store *s, const uint8_t id[CAIRN_HASH_LEN],
                          uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_store_entry_fn fn, void *ud)
{
    sqlite3_stmt *st = s->st[ST_GET_BLOCK];
    sqlite3_bind_blob(st, 1, id, CAIRN_HASH_LEN, SQLITE_STATIC);
    int rv, rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rv = 1;
    } else if (rc != SQLITE_ROW) {
        rv = store_db_fail(s, rc, "get block");
    } else if (sqlite3_column_bytes(st, 0) != CAIRN_BLOCK_HEADER_LEN) {
        rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "stored header is not 96 bytes");
    } else {
        if (header)
            memcpy(header, sqlite3_column_blob(st, 0), CAIRN_BLOCK_HEADER_LEN);
        const uint8_t *data = sqlite3_column_blob(st, 2);
        rv = store_body_each(data, (size_t)sqlite3_column_bytes(st, 2), sqlite3_column_int64(st, 1),
                             fn, ud);
        if (rv == CAIRN_ERR_INTERNAL)
            store_setmsg(s, rv, "stored body is malformed");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rv;
}

const cairn_chain_store *cairn_store_chain(cairn_store *s)
{
    return &s->iface;
}

const char *cairn_store_errmsg(const cairn_store *s)
{
    return s->err;
}

/* ---- Open and close ---------------------------------------------------------------- */

static int configure(cairn_store *s)
{
    sqlite3_stmt *st;
    /* [durability] WAL + FULL: every commit fsyncs the log before returning. */
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "journal_mode");
    rc = sqlite3_step(st);
    int wal =
        rc == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal)
        return store_setmsg(s, CAIRN_ERR_INTERNAL, "cannot enable WAL mode");
    int rv = store_exec(s, "PRAGMA synchronous=FULL");
    /* A page cache of 64 MiB (SQLite's default is 2 MiB): the index of a
     * 100,000-block chain no longer fits 2 MiB, and every header inserted at
     * a random place of it then read and spilled pages (sync ran at 4,000
     * headers/s). SQLite takes the memory only as pages are used. */
    if (rv == 0)
        rv = store_exec(s, "PRAGMA cache_size=-65536");
    if (rv == 0 && (rv = store_exec(s, "BEGIN IMMEDIATE")) == 0) {
        if ((rv = store_exec(s, schema_sql)) == 0 && (rv = store_check_network(s)) == 0)
            rv = store_exec(s, "COMMIT");
        if (rv != 0)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; rv == 0 && i < ST_N; i++)
        if ((rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                     NULL)) != SQLITE_OK)
            rv = store_db_fail(s, rc, stmt_sql[i]);
    return rv;
}

int cairn_store_open(cairn_store **out, const char *dir, const cairn_network *net, int flags,
                     char *err, size_t errlen)
{
    char path[4096];
    *out = NULL;
    cairn_store *s = calloc(1, sizeof(*s));
    if (!s)
        return CAIRN_ERR_NOMEM;
    s->net = net;
    s->iface.write = store_write;
    s->iface.load = store_load;
    s->iface.ud = s;
    int rv = cairn_sha256_ctx_new(&s->sha);
    if (rv == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
        rv = store_setmsg(s, CAIRN_ERR_INVALID_ARG, "mkdir %s: %s", dir, strerror(errno));
    if (rv == 0 && (size_t)snprintf(path, sizeof(path), "%s/chain.db", dir) >= sizeof(path))
        rv = store_setmsg(s, CAIRN_ERR_INVALID_ARG, "path too long");
    if (rv == 0) {
        int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        rv = rc == SQLITE_OK ? 0 : store_db_fail(s, rc, path);
    }
    if (rv == 0) {
        sqlite3_busy_timeout(s->db, 5000);
        rv = configure(s);
    }
    if (rv == 0 && !(flags & CAIRN_STORE_NO_CHECK))
        rv = cairn_store_check(s, flags & CAIRN_STORE_CHECK_FULL);
    if (rv != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", s->err);
        cairn_store_close(s);
        return rv;
    }
    *out = s;
    return 0;
}

void cairn_store_close(cairn_store *s)
{
    if (!s)
        return;
    if (s->in_batch)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    cairn_sha256_ctx_del(s->sha);
    free(s->buf);
    free(s);
}
