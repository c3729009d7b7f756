/*
 * The store's shared bottom: SQLite error mapping, statement helpers, the
 * body encoding and the network binding, used by store.c (open, write,
 * load) and check.c (the integrity check), which never use each other's
 * internals in both directions.
 */
#include <stdarg.h>
#include <stdio.h>

#include "store_int.h"

int store_setmsg(cairn_store *s, int rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return rv;
}

/* Maps a SQLite failure to a library error and keeps SQLite's text. */
int store_db_fail(cairn_store *s, int rc, const char *what)
{
    store_setmsg(s, 0, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return rc == SQLITE_NOMEM ? CAIRN_ERR_NOMEM : CAIRN_ERR_INTERNAL;
}

int store_exec(cairn_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_db_fail(s, rc, sql);
}

/* Records the network in a new store, or checks it against the stored one. */
int store_check_network(cairn_store *s)
{
    sqlite3_stmt *st;
    int rc =
        sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'network'", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "read network");
    int rv = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != CAIRN_HASH_LEN ||
            memcmp(sqlite3_column_blob(st, 0), s->net->genesis_id, CAIRN_HASH_LEN) != 0)
            rv = store_setmsg(s, CAIRN_ERR_INVALID_ARG, "store belongs to another network");
    } else if (rc != SQLITE_DONE) {
        rv = store_db_fail(s, rc, "read network");
    }
    sqlite3_finalize(st);
    if (rv != 0 || rc == SQLITE_ROW)
        return rv;
    /* A new store: record the network and the schema. */
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO meta(key, value) VALUES ('network', ?1), ('schema', ?2)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, rc, "write network");
    sqlite3_bind_blob(st, 1, s->net->genesis_id, CAIRN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, SCHEMA_VERSION);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_fail(s, rc, "write network");
}

/*
 * Calls fn per entry of an encoded body; CAIRN_ERR_INTERNAL on a bad encoding.
 * `p` may be NULL with `len` 0: SQLite returns NULL for a zero-length blob
 * (a block without entries), sometimes (fuzz_store_open).
 */
int store_body_each(const uint8_t *p, size_t len, sqlite3_int64 n, cairn_store_entry_fn fn,
                    void *ud)
{
    static const uint8_t empty[1];
    if (!p || !len)
        p = empty, len = 0;
    const uint8_t *end = p + len;
    for (sqlite3_int64 i = 0; i < n; i++) {
        if (end - p < 4)
            return CAIRN_ERR_INTERNAL;
        uint32_t el = cairn_get_u32(p);
        p += 4;
        if ((size_t)(end - p) < el)
            return CAIRN_ERR_INTERNAL;
        int rv = fn ? fn(ud, p, el) : 0;
        if (rv != 0)
            return rv;
        p += el;
    }
    return p == end ? 0 : CAIRN_ERR_INTERNAL;
}
