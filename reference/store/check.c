/*
 * The store's integrity check (it uses store.c, never the reverse). It trusts
 * nothing it can recompute: IDs are hashed again, header fields compared
 * with their columns, the index walked for gaps, and (full) every body
 * re-encoded into its entries root.
 */
#include "store_int.h"

/* Runs a query whose first row must hold the integers `want` (n of them). */
static int expect_ints(cairn_store *s, const char *sql, const sqlite3_int64 *want, int n,
                       const char *what)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, what);
    int rv = 0;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        rv = store_db_fail(s, rc, what);
    } else {
        for (int i = 0; i < n && rv == 0; i++)
            if (sqlite3_column_int64(st, i) != want[i])
                rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: %s", what);
    }
    sqlite3_finalize(st);
    return rv;
}

static int pragma_check(cairn_store *s, int full)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "quick_check");
    int rv = 0;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW)
        rv = store_db_fail(s, rc, "quick_check");
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "sqlite: %s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rv;
}

typedef struct root_acc {
    cairn_merkle_builder b;
    int rv;
} root_acc;

static int add_leaf(void *ud, const uint8_t *entry, size_t len)
{
    root_acc *a = ud;
    uint8_t leaf[CAIRN_HASH_LEN];
    if ((a->rv = cairn_merkle_leaf_hash(a->b.ctx, leaf, entry, len)) == 0)
        a->rv = cairn_merkle_builder_add(&a->b, leaf);
    return a->rv;
}

/* One record: ID, columns against the header, genesis, body (full). */
static int check_row(cairn_store *s, sqlite3_stmt *st, int full)
{
    uint8_t id[CAIRN_HASH_LEN], root[CAIRN_HASH_LEN];
    cairn_block_header h;
    const uint8_t *raw = sqlite3_column_blob(st, 3);
    if (sqlite3_column_bytes(st, 0) != CAIRN_HASH_LEN ||
        sqlite3_column_bytes(st, 2) != CAIRN_HASH_LEN ||
        sqlite3_column_bytes(st, 3) != CAIRN_BLOCK_HEADER_LEN)
        return store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: field sizes");
    cairn_block_header_decode(&raw, raw + CAIRN_BLOCK_HEADER_LEN, &h);
    raw = sqlite3_column_blob(st, 3);
    int rv = cairn_block_id(s->sha, id, raw);
    if (rv != 0)
        return rv;
    if (memcmp(id, sqlite3_column_blob(st, 0), CAIRN_HASH_LEN) != 0 ||
        (sqlite3_uint64)sqlite3_column_int64(st, 1) != h.height ||
        memcmp(h.prev_id, sqlite3_column_blob(st, 2), CAIRN_HASH_LEN) != 0)
        return store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: record does not match header");
    int have = sqlite3_column_int(st, 4);
    if (have != (sqlite3_column_type(st, 5) != SQLITE_NULL))
        return store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: have_data disagrees with bodies");
    if (h.height == 0 && (!have || memcmp(id, s->net->genesis_id, CAIRN_HASH_LEN) != 0))
        return store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: height 0 is not genesis");
    if (!full || !have)
        return 0;
    root_acc a;
    cairn_merkle_builder_init(&a.b, s->sha);
    a.rv = 0;
    rv = store_body_each(sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
                         sqlite3_column_int64(st, 5), add_leaf, &a);
    if (rv == 0)
        rv = cairn_merkle_builder_root(&a.b, root);
    if (rv == 0 && memcmp(root, h.entries_root, CAIRN_HASH_LEN) != 0)
        rv = CAIRN_ERR_INTERNAL;
    return rv ? store_setmsg(s, rv, "integrity: body does not match its root") : 0;
}

static int check_rows(cairn_store *s, int full)
{
    sqlite3_stmt *st;
    const char *sql = full ? "SELECT b.id, b.height, b.prev, b.header, b.have_data, d.n, d.data"
                             " FROM blocks b LEFT JOIN bodies d ON d.id = b.id"
                           : "SELECT b.id, b.height, b.prev, b.header, b.have_data, d.n"
                             " FROM blocks b LEFT JOIN bodies d ON d.id = b.id";
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), rv = 0;
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "check rows");
    while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rv = check_row(s, st, full);
    if (rv == 0 && rc != SQLITE_DONE)
        rv = store_db_fail(s, rc, "check rows");
    sqlite3_finalize(st);
    return rv;
}

static int check_index(cairn_store *s)
{
    static const sqlite3_int64 zero[1] = {0}, one[1] = {1};
    int rv =
        expect_ints(s,
                    "SELECT count(*) FROM blocks b WHERE b.height > 0 AND NOT EXISTS"
                    " (SELECT 1 FROM blocks p WHERE p.id = b.prev AND p.height = b.height - 1)",
                    zero, 1, "a record without its parent");
    if (rv == 0)
        rv = expect_ints(s,
                         "SELECT count(*) FROM bodies d WHERE NOT EXISTS"
                         " (SELECT 1 FROM blocks b WHERE b.id = d.id AND b.have_data = 1)",
                         zero, 1, "a body without its record");
    if (rv == 0)
        rv = expect_ints(s, "SELECT count(*) FROM meta WHERE key = 'tip'", one, 1, "no tip");
    if (rv != 0)
        return rv;
    /* The tip's whole ancestry is stored with bodies, down to height 0. */
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        s->db,
        "WITH RECURSIVE anc(id, height, prev, have) AS ("
        " SELECT id, height, prev, have_data FROM blocks"
        "  WHERE id = (SELECT value FROM meta WHERE key = 'tip')"
        " UNION ALL SELECT b.id, b.height, b.prev, b.have_data FROM blocks b JOIN anc a"
        "  ON b.id = a.prev AND b.height = a.height - 1 WHERE a.height > 0)"
        " SELECT count(*), coalesce(sum(have), 0), coalesce(min(height), -1),"
        " coalesce(max(height), -1) FROM anc",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "tip ancestry");
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        rv = store_db_fail(s, rc, "tip ancestry");
    } else {
        sqlite3_int64 n = sqlite3_column_int64(st, 0), have = sqlite3_column_int64(st, 1);
        sqlite3_int64 lo = sqlite3_column_int64(st, 2), hi = sqlite3_column_int64(st, 3);
        if (n == 0 || lo != 0 || n != hi + 1 || have != n)
            rv = store_setmsg(s, CAIRN_ERR_INTERNAL, "integrity: tip ancestry incomplete");
    }
    sqlite3_finalize(st);
    return rv;
}

int cairn_store_check(cairn_store *s, int full)
{
    if (s->in_batch)
        return CAIRN_ERR_STATE;
    int rv = pragma_check(s, full);
    if (rv != 0 || (rv = store_exec(s, "BEGIN")) != 0)
        return rv;
    if ((rv = store_check_network(s)) == 0 && (rv = check_rows(s, full)) == 0) {
        /* A store that never got its genesis block (new, or killed while
         * writing it) has no records and no tip: that is consistent. */
        static const sqlite3_int64 zero[1] = {0};
        if (expect_ints(s, "SELECT count(*) FROM blocks", zero, 1, "empty") != 0)
            rv = check_index(s);
    }
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rv;
}
