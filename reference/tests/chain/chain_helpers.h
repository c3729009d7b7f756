/*
 * Helpers for the chain tests: blocks mined on any parent, with salted data
 * entries so that siblings differ, and a chain with a fake clock.
 */
#ifndef CAIRN_CHAIN_HELPERS_H
#define CAIRN_CHAIN_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>

#include <cmocka.h>

#include "cairn/chain.h"
#include "../testenv.h"

#define TB_MAX_ENTRIES 8

/* A block built outside any chain. Entries point into `store`. */
typedef struct tblock {
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_header hdr;
    cairn_bytes_ref entries[TB_MAX_ENTRIES];
    size_t n;
    uint8_t store[TB_MAX_ENTRIES][32];
} tblock;

static inline void tb_seal(tblock *b)
{
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    assert_int_equal(cairn_block_entries_root(ctx, b->hdr.entries_root, b->entries, b->n), 0);
    b->hdr.nonce = 0;
    assert_int_equal(cairn_miner_solve(ctx, &b->hdr, UINT64_MAX, b->raw, b->id), 0);
    cairn_sha256_ctx_del(ctx);
}

/* Re-encode after editing hdr by hand (no mining): raw and id follow hdr. */
static inline void tb_encode(tblock *b)
{
    cairn_block_header_encode(b->raw, &b->hdr);
    assert_int_equal(cairn_block_id(NULL, b->id, b->raw), 0);
}

/* The genesis block of `net` as a tblock. */
static inline void tb_genesis(tblock *b, const cairn_network *net)
{
    memset(b, 0, sizeof(*b));
    assert_int_equal(cairn_network_genesis(net, &b->hdr, b->raw), 0);
    assert_int_equal(cairn_block_id(NULL, b->id, b->raw), 0);
    b->entries[0].data = net->genesis_entry;
    b->entries[0].len = net->genesis_entry_len;
    b->n = 1;
}

/* Unsealed child of `parent`: one data entry "\0salt=<salt>", time +1 s. */
static inline void tb_child_unsealed(tblock *b, const tblock *parent, uint32_t salt)
{
    memset(b, 0, sizeof(*b));
    b->hdr.version = CAIRN_BLOCK_VERSION;
    b->hdr.height = parent->hdr.height + 1;
    b->hdr.time_ms = parent->hdr.time_ms + 1000;
    b->hdr.bits = parent->hdr.bits;
    memcpy(b->hdr.prev_id, parent->id, CAIRN_HASH_LEN);
    b->store[0][0] = 0x00;
    int len = snprintf((char *)b->store[0] + 1, 31, "salt=%u", salt);
    b->entries[0].data = b->store[0];
    b->entries[0].len = (size_t)len + 1;
    b->n = 1;
}

static inline void tb_child(tblock *b, const tblock *parent, uint32_t salt)
{
    tb_child_unsealed(b, parent, salt);
    tb_seal(b);
}

/* A run of `n` blocks: out[0] on `parent`, each on the previous. */
static inline void tb_run(tblock *out, size_t n, const tblock *parent, uint32_t salt)
{
    for (size_t i = 0; i < n; i++)
        tb_child(&out[i], i ? &out[i - 1] : parent, salt + (uint32_t)i);
}

static inline int tb_add(cairn_chain *c, const tblock *b, cairn_chain_result *res, uint32_t *reason)
{
    return cairn_chain_add_block(c, b->raw, sizeof(b->raw), b->entries, b->n, res, reason);
}

/* Adds and expects acceptance. */
static inline void tb_add_ok(cairn_chain *c, const tblock *b)
{
    cairn_chain_result r;
    uint32_t why = 0;
    int rv = tb_add(c, b, &r, &why);
    if (rv != 0)
        fail_msg("add_block: %s reason %s", cairn_strerror(rv),
                 cairn_block_reason_name(why) ? cairn_block_reason_name(why) : "-");
    assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
}

/* Expects rejection with `reason`. */
static inline void tb_add_bad(cairn_chain *c, const tblock *b, uint32_t reason)
{
    uint32_t why = 0;
    assert_int_equal(tb_add(c, b, NULL, &why), CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK));
    assert_string_equal(cairn_block_reason_name(why), cairn_block_reason_name(reason));
}

/* Clock far after genesis so that test blocks are never "too new". */
#define TB_WALL (1767225600000ull + 1000000000ull)

static inline cairn_chain *tb_chain(test_env *te, const cairn_chain_store *store)
{
    cairn_chain_config cfg = {0};
    cairn_chain *c;
    cfg.net = cairn_network_devnet();
    cfg.env = &te->env;
    cfg.store = store;
    te->wall = TB_WALL;
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    return c;
}

#endif
