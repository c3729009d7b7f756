/* Pending entries and the miner: a block filled from the pool is valid on the chain. */
#include "chain_helpers.h"

/* The entry table grows as the pool fills (it starts at 64 buckets): every
 * entry stays findable, removable and selectable across the growth, up to
 * max_count. */
static void pool_grows(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 1);
    cairn_mempool *p;
    uint32_t why;
    enum { N = 1000 };
    static uint8_t ids[N][32];
    uint8_t e[8] = {0x00};
    assert_int_equal(cairn_mempool_new(&p, &te.mem, N, 0), 0);
    for (uint32_t i = 0; i < N; i++) {
        cairn_put_u32(e + 1, i);
        assert_int_equal(cairn_mempool_add(p, e, sizeof(e), ids[i], &why), 0);
    }
    assert_int_equal(cairn_mempool_count(p), N);
    cairn_put_u32(e + 1, N);
    uint8_t id[32];
    assert_int_equal(cairn_mempool_add(p, e, sizeof(e), id, &why), CAIRN_ERR_PROTO(CAIRN_E_BUSY));
    for (uint32_t i = 0; i < N; i++)
        assert_true(cairn_mempool_contains(p, ids[i]));
    static cairn_bytes_ref sel[N];
    assert_int_equal(cairn_mempool_select(p, sel, N), N);
    assert_int_equal(cairn_get_u32(sel[N - 1].data + 1), N - 1); /* arrival order kept */
    uint8_t odd[N / 2][8];
    cairn_bytes_ref gone[N / 2];
    for (uint32_t i = 0; i < N / 2; i++) {
        odd[i][0] = 0x00;
        cairn_put_u32(odd[i] + 1, 2 * i + 1);
        memset(odd[i] + 5, 0, 3);
        gone[i] = (cairn_bytes_ref){odd[i], 8};
    }
    assert_int_equal(cairn_mempool_remove(p, gone, N / 2), 0);
    assert_int_equal(cairn_mempool_count(p), N / 2);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(cairn_mempool_contains(p, ids[i]), i % 2 == 0);
    cairn_mempool_del(p);
    assert_int_equal(te.live, 0);
}

static void pool_rules(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 1);
    cairn_mempool *p;
    uint8_t id[32], id2[32];
    uint32_t why;
    assert_int_equal(cairn_mempool_new(&p, &te.mem, 3, 200), 0);
    const uint8_t a[] = {0x00, 'a'}, b[] = {0x00, 'b'}, c[] = {0x00, 'c'}, d[] = {0x00, 'd'};
    assert_int_equal(cairn_mempool_add(p, a, 2, id, &why), 0);
    assert_int_equal(cairn_entry_id(NULL, id2, a, 2), 0);
    assert_memory_equal(id, id2, 32);
    assert_int_equal(cairn_mempool_add(p, a, 2, id2, &why), 0); /* already there */
    assert_int_equal(cairn_mempool_count(p), 1);
    assert_true(cairn_mempool_contains(p, id));

    const uint8_t bad[] = {0x05};
    assert_int_equal(cairn_mempool_add(p, bad, 1, id, &why),
                     CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY));
    assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY);
    assert_int_equal(cairn_mempool_add(p, bad, 0, id, &why),
                     CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY));
    assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY);

    assert_int_equal(cairn_mempool_add(p, b, 2, id, &why), 0);
    assert_int_equal(cairn_mempool_add(p, c, 2, id, &why), 0);
    assert_int_equal(cairn_mempool_add(p, d, 2, id, &why), CAIRN_ERR_PROTO(CAIRN_E_BUSY));

    cairn_bytes_ref sel[4];
    assert_int_equal(cairn_mempool_select(p, sel, 4), 3);
    assert_memory_equal(sel[0].data, a, 2); /* oldest first */
    assert_memory_equal(sel[2].data, c, 2);
    assert_int_equal(cairn_mempool_select(p, sel, 2), 2);

    cairn_bytes_ref gone[2] = {{b, 2}, {d, 2}};
    assert_int_equal(cairn_mempool_remove(p, gone, 2), 0);
    assert_int_equal(cairn_mempool_count(p), 2);
    assert_int_equal(cairn_mempool_select(p, sel, 4), 2);
    assert_memory_equal(sel[1].data, c, 2);

    static uint8_t big[300];
    assert_int_equal(cairn_mempool_add(p, big, sizeof(big), id, &why),
                     CAIRN_ERR_PROTO(CAIRN_E_BUSY));
    cairn_mempool_del(p);
    assert_int_equal(te.live, 0);

    /* The selection respects the 2 MiB body limit. */
    assert_int_equal(cairn_mempool_new(&p, &te.mem, 0, 0), 0);
    static uint8_t e[CAIRN_ENTRY_MAX_LEN];
    for (int i = 0; i < 40; i++) {
        cairn_put_u32(e + 1, (uint32_t)i);
        assert_int_equal(cairn_mempool_add(p, e, sizeof(e), id, &why), 0);
    }
    cairn_bytes_ref many[64];
    assert_int_equal(cairn_mempool_select(p, many, 64), 32);
    cairn_mempool_del(p);
    assert_int_equal(te.live, 0);
}

/* A data entry of `len` bytes whose content is `tag` and `i`. */
static size_t make_entry(uint8_t *e, size_t len, uint32_t tag, uint32_t i)
{
    memset(e, 0, len);
    e[0] = CAIRN_ENTRY_DATA;
    cairn_put_u32(e + 1, tag);
    cairn_put_u32(e + 5, i);
    return len;
}

static void pool_is_fair(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 3);
    cairn_mempool *p;
    uint8_t id[32], src[10][32];
    uint32_t why;
    int added;
    static uint8_t e[CAIRN_ENTRY_MAX_LEN];
    for (int i = 0; i < 10; i++)
        memset(src[i], 0x10 + i, 32);
    /* 64 entries or 64 KiB: a peer's share is 8 entries or 8 KiB [REL-18] */
    assert_int_equal(cairn_mempool_new(&p, &te.mem, 64, 65536), 0);
    size_t len = make_entry(e, 1024, 1, 0);
    for (uint32_t i = 0; i < 8; i++) {
        make_entry(e, len, 1, i);
        assert_int_equal(cairn_mempool_add_from(p, e, len, src[0], id, &why, &added), 0);
        assert_true(added);
    }
    make_entry(e, len, 1, 8);
    assert_int_equal(cairn_mempool_add_from(p, e, len, src[0], id, &why, &added),
                     CAIRN_ERR_PROTO(CAIRN_E_BUSY));
    assert_false(added);
    /* already pending: acknowledged, not added again, no share needed [REL-3] */
    make_entry(e, len, 1, 3);
    assert_int_equal(cairn_mempool_add_from(p, e, len, src[0], id, &why, &added), 0);
    assert_false(added);
    /* seven more sources fill the pool's 64 KiB */
    for (int s = 1; s < 8; s++)
        for (uint32_t i = 0; i < 8; i++) {
            make_entry(e, len, 0x100u * (uint32_t)s, i);
            assert_int_equal(cairn_mempool_add_from(p, e, len, src[s], id, &why, &added), 0);
        }
    assert_int_equal(cairn_mempool_bytes(p), 65536);
    /* a newcomer with one small entry is admitted by evicting the newest entry
     * of a largest source [REL-19]; the newcomer is never evicted for a peer
     * as large as itself */
    make_entry(e, 100, 9, 0);
    assert_int_equal(cairn_mempool_add_from(p, e, 100, src[9], id, &why, &added), 0);
    assert_true(added);
    assert_true(cairn_mempool_contains(p, id));
    assert_int_equal(cairn_mempool_count(p), 64);
    uint8_t gone[32];
    int evicted = 0;
    for (int s = 0; s < 8; s++) {
        make_entry(e, len, s ? 0x100u * (uint32_t)s : 1, 7);
        cairn_entry_id(NULL, gone, e, len);
        evicted += !cairn_mempool_contains(p, gone);
    }
    assert_int_equal(evicted, 1); /* exactly one newest entry made room */
    /* a full source cannot evict others to grow past them */
    make_entry(e, len, 1, 9);
    assert_int_equal(cairn_mempool_add_from(p, e, len, src[0], id, &why, &added),
                     CAIRN_ERR_PROTO(CAIRN_E_BUSY));

    /* [REL-26] the miner takes the sources in turn: the newcomer's entry is in
     * the first turn even with a block of 9 entries */
    cairn_bytes_ref sel[9];
    assert_int_equal(cairn_mempool_select(p, sel, 9), 9);
    int newcomer = 0;
    for (int i = 0; i < 9; i++)
        newcomer += sel[i].len == 100;
    assert_int_equal(newcomer, 1);
    cairn_mempool_del(p);
    assert_int_equal(te.live, 0);
}

static void recent_entries_stay_out(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 4);
    cairn_mempool *p;
    uint8_t id[32], src[32];
    uint32_t why;
    int added;
    uint8_t e[16];
    memset(src, 0x77, 32);
    assert_int_equal(cairn_mempool_new(&p, &te.mem, 0, 0), 0);
    /* 3000 entries enter the index (the table grows), one of them twice */
    for (uint32_t i = 0; i < 3000; i++) {
        make_entry(e, sizeof(e), 5, i);
        assert_int_equal(cairn_mempool_recent_add(p, e, sizeof(e)), 0);
    }
    make_entry(e, sizeof(e), 5, 42);
    assert_int_equal(cairn_mempool_recent_add(p, e, sizeof(e)), 0);
    assert_int_equal(cairn_mempool_recent_count(p), 3000);
    /* [REL-25] an entry of a recent block is acknowledged but not pooled */
    make_entry(e, sizeof(e), 5, 7);
    assert_int_equal(cairn_mempool_add_from(p, e, sizeof(e), src, id, &why, &added), 0);
    assert_false(added);
    assert_false(cairn_mempool_contains(p, id));
    /* the block leaves the window: the entry may be pooled and mined again */
    for (uint32_t i = 0; i < 3000; i += 2) {
        make_entry(e, sizeof(e), 5, i);
        assert_int_equal(cairn_mempool_recent_remove(p, e, sizeof(e)), 0);
    }
    assert_int_equal(cairn_mempool_recent_count(p), 1501); /* 42 was there twice */
    for (uint32_t i = 0; i < 3000; i++) {
        make_entry(e, sizeof(e), 5, i);
        cairn_entry_id(NULL, id, e, sizeof(e));
        assert_int_equal(cairn_mempool_recent_contains(p, id), i % 2 == 1 || i == 42);
    }
    make_entry(e, sizeof(e), 5, 8);
    assert_int_equal(cairn_mempool_add_from(p, e, sizeof(e), src, id, &why, &added), 0);
    assert_true(added);
    /* [REL-24] a pooled entry that a new block made recent is never selected */
    assert_int_equal(cairn_mempool_recent_add(p, e, sizeof(e)), 0);
    cairn_bytes_ref sel[4];
    assert_int_equal(cairn_mempool_select(p, sel, 4), 0);
    cairn_mempool_recent_clear(p);
    assert_int_equal(cairn_mempool_recent_count(p), 0);
    assert_int_equal(cairn_mempool_select(p, sel, 4), 1);
    cairn_mempool_del(p);
    assert_int_equal(te.live, 0);
}

static void mine_from_pool(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 2);
    cairn_chain *c = tb_chain(&te, NULL);
    cairn_mempool *p;
    cairn_sha256_ctx *ctx;
    assert_int_equal(cairn_sha256_ctx_new(&ctx), 0);
    assert_int_equal(cairn_mempool_new(&p, &te.mem, 0, 0), 0);
    uint8_t id[32];
    uint32_t why;
    const uint8_t e1[] = {0x00, 'x'};
    uint8_t man[43 + 3] = {0x01};
    cairn_put_u64(man + 1, 100000);
    man[9] = 14;
    man[42] = 3;
    memcpy(man + 43, "a.b", 3);
    assert_int_equal(cairn_mempool_add(p, e1, sizeof(e1), id, &why), 0);
    assert_int_equal(cairn_mempool_add(p, man, sizeof(man), id, &why), 0);

    cairn_block_header h;
    cairn_bytes_ref ents[16];
    size_t n;
    uint8_t raw[96], bid[32];
    assert_int_equal(cairn_miner_template(c, p, te.wall, &h, ents, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(h.height, 1);
    assert_int_equal(h.time_ms, te.wall);
    assert_int_equal(h.bits, 12);
    assert_memory_equal(h.prev_id, cairn_chain_genesis(c)->id, 32);
    /* a bounded search may stop early; it resumes where it left off */
    cairn_block_header h2 = h;
    int rv = cairn_miner_solve(ctx, &h2, 3, raw, bid);
    if (rv == CAIRN_ERR_AGAIN)
        assert_int_equal(h2.nonce, 3);
    assert_int_equal(cairn_miner_solve(ctx, &h, UINT64_MAX, raw, bid), 0);
    assert_true(cairn_pow_ok(bid, 12));
    cairn_chain_result r;
    assert_int_equal(cairn_chain_add_block(c, raw, 96, ents, n, &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
    assert_memory_equal(cairn_chain_tip(c)->id, bid, 32);
    assert_int_equal(cairn_mempool_remove(p, ents, n), 0);
    assert_int_equal(cairn_mempool_count(p), 0);

    /* A clock stuck in the past: templates still follow the median rule. */
    for (int i = 0; i < 15; i++) {
        assert_int_equal(cairn_miner_template(c, p, 0, &h, ents, 16, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(h.time_ms, cairn_chain_median_time(cairn_chain_tip(c)) + 1);
        assert_int_equal(cairn_miner_solve(ctx, &h, UINT64_MAX, raw, bid), 0);
        assert_int_equal(cairn_chain_add_block(c, raw, 96, ents, 0, &r, &why), 0);
        assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
    }
    assert_int_equal(cairn_chain_tip(c)->hdr.height, 16);
    cairn_mempool_del(p);
    cairn_sha256_ctx_del(ctx);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_rules),     cmocka_unit_test(pool_grows),
        cmocka_unit_test(pool_is_fair),   cmocka_unit_test(recent_entries_stay_out),
        cmocka_unit_test(mine_from_pool),
    };
    return cmocka_run_group_tests_name("chain_miner", tests, NULL, NULL);
}
