/* Internal to the SQLite store. */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include "cairn/store.h"

#include <sqlite3.h>

#include "cairn/merkle.h"

#define SCHEMA_VERSION 1

enum {
    ST_INS_HDR,
    ST_UPSERT_BLOCK,
    ST_PUT_BODY,
    ST_SET_TIP,
    ST_GET_BLOCK,
    ST_LOAD,
    ST_DEL_HDR,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_N
};

struct cairn_store {
    sqlite3 *db;
    const cairn_network *net;
    sqlite3_stmt *st[ST_N];
    cairn_chain_store iface;
    cairn_sha256_ctx *sha;
    int in_batch;
    int batch_sync;    /* the open batch is a sync batch (sync_open) */
    uint64_t batch_ms; /* sync batch: when it opened, its blocks and bytes */
    size_t batch_blocks;
    uint64_t batch_bytes;
    uint8_t *buf; /* body encoding, reused */
    size_t buf_cap;
    char err[256];
};

/* Formats the store's message; returns rv. */
int store_setmsg(cairn_store *s, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a SQLite failure to a library error and keeps SQLite's text. */
int store_db_fail(cairn_store *s, int rc, const char *what);
int store_exec(cairn_store *s, const char *sql);
/* Calls fn per entry of an encoded body; CAIRN_ERR_INTERNAL on a bad encoding. */
int store_body_each(const uint8_t *p, size_t len, sqlite3_int64 n, cairn_store_entry_fn fn,
                    void *ud);
/* Records the network in a new store, or checks it against the stored one. */
int store_check_network(cairn_store *s);

#endif
