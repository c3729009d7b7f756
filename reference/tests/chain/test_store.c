/* The SQLite store: round trips, reopen, batches, network binding, integrity check. */
#include "chain_helpers.h"

#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cairn/store.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/cairn-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static cairn_store *open_store(const cairn_network *net)
{
    cairn_store *s;
    char err[256] = "";
    int rv = cairn_store_open(&s, dir, net, CAIRN_STORE_CHECK_FULL, err, sizeof(err));
    if (rv != 0)
        fail_msg("open: %s: %s", cairn_strerror(rv), err);
    return s;
}

/* Runs SQL on the store's file behind its back. */
static void tamper(const char *sql)
{
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/chain.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

typedef struct collect {
    int n;
    uint8_t first[64];
    size_t first_len;
} collect;

static int on_entry(void *ud, const uint8_t *e, size_t len)
{
    collect *c = ud;
    if (c->n++ == 0 && len <= sizeof(c->first)) {
        memcpy(c->first, e, len);
        c->first_len = len;
    }
    return 0;
}

static void round_trip_and_reopen(void **state)
{
    (void)state;
    enum { N = 12 };
    test_env te;
    test_env_init(&te, 1);
    tblock g, b[N], s[N + 2], h[3];
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, N, &g, 100);
    tb_run(s, N + 2, &b[2], 200); /* overtakes: a reorg of depth N - 3 */
    tb_run(h, 3, &s[N + 1], 300);

    cairn_store *st = open_store(cairn_network_devnet());
    cairn_chain *c = tb_chain(&te, cairn_store_chain(st));
    for (int i = 0; i < N; i++)
        tb_add_ok(c, &b[i]);
    for (int i = 0; i < N + 2; i++)
        tb_add_ok(c, &s[i]);
    cairn_bytes_ref hr[3] = {{h[0].raw, 96}, {h[1].raw, 96}, {h[2].raw, 96}};
    size_t n_new;
    uint32_t why;
    assert_int_equal(cairn_chain_add_headers(c, hr, 3, &n_new, &why), 0);
    assert_memory_equal(cairn_chain_tip(c)->id, s[N + 1].id, 32);
    size_t records = cairn_chain_record_count(c);
    cairn_chain_del(c);
    assert_int_equal(cairn_store_check(st, 1), 0);

    uint8_t hdr[96];
    collect col = {0};
    assert_int_equal(cairn_store_get_block(st, s[4].id, hdr, on_entry, &col), 0);
    assert_memory_equal(hdr, s[4].raw, 96);
    assert_int_equal(col.n, 1);
    assert_int_equal(col.first_len, s[4].entries[0].len);
    assert_memory_equal(col.first, s[4].entries[0].data, col.first_len);
    assert_int_equal(cairn_store_get_block(st, h[0].id, hdr, NULL, NULL), 1); /* header only */
    assert_int_equal(cairn_store_get_block(st, g.id, NULL, on_entry, &col), 0);
    cairn_store_close(st);

    /* Reopen: same tip, same records, the best header remembered. */
    st = open_store(cairn_network_devnet());
    c = tb_chain(&te, cairn_store_chain(st));
    assert_memory_equal(cairn_chain_tip(c)->id, s[N + 1].id, 32);
    assert_int_equal(cairn_chain_record_count(c), records);
    assert_memory_equal(cairn_chain_best_header(c)->id, h[2].id, 32);
    assert_memory_equal(cairn_chain_at(c, 3)->id, b[2].id, 32);
    assert_memory_equal(cairn_chain_at(c, 4)->id, s[0].id, 32);
    tb_add_ok(c, &h[0]); /* bodies still welcome after a restart */
    cairn_chain_del(c);
    cairn_store_close(st);
    assert_int_equal(te.live, 0);
}

/* [FORK-10] Of two tips of equal work the one received first is the tip
 * again after a reopen, whatever order the store loads them in. */
static void tie_survives_reopen(void **state)
{
    for (int order = 0; order < 2; order++) {
        teardown(state);
        assert_int_equal(setup(state), 0);
        test_env te;
        test_env_init(&te, 3);
        tblock g, a, b;
        tb_genesis(&g, cairn_network_devnet());
        tb_child(&a, &g, 1);
        tb_child(&b, &g, 2);
        const tblock *first = order ? &a : &b, *second = order ? &b : &a;
        cairn_store *st = open_store(cairn_network_devnet());
        cairn_chain *c = tb_chain(&te, cairn_store_chain(st));
        tb_add_ok(c, first);
        tb_add_ok(c, second);
        assert_memory_equal(cairn_chain_tip(c)->id, first->id, 32);
        cairn_chain_del(c);
        cairn_store_close(st);
        st = open_store(cairn_network_devnet());
        c = tb_chain(&te, cairn_store_chain(st));
        assert_memory_equal(cairn_chain_tip(c)->id, first->id, 32);
        assert_memory_equal(cairn_chain_best_header(c)->id, first->id, 32);
        cairn_chain_del(c);
        cairn_store_close(st);
        assert_int_equal(te.live, 0);
    }
}

/* [SYNC-44] Pruned low-work headers leave the store too: a reopened chain
 * has exactly the records the pruned one had, and the store checks clean. */
static void pruned_headers_leave_the_store(void **state)
{
    (void)state;
    enum { BR = 4, LEN = 6 };
    static tblock g, m[8], s[BR][LEN];
    test_env te;
    test_env_init(&te, 4);
    tb_genesis(&g, cairn_network_devnet());
    tb_run(m, 8, &g, 500);
    cairn_store *st = open_store(cairn_network_devnet());
    cairn_chain_config cfg = {0};
    cfg.net = cairn_network_devnet();
    cfg.env = &te.env;
    cfg.store = cairn_store_chain(st);
    cfg.max_low_work = 10;
    te.wall = TB_WALL;
    cairn_chain *c;
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    for (int i = 0; i < 8; i++)
        tb_add_ok(c, &m[i]);
    for (int b = 0; b < BR; b++) {
        tb_run(s[b], LEN, &g, 600 + 10 * (uint32_t)b);
        cairn_bytes_ref h[LEN];
        for (int i = 0; i < LEN; i++)
            h[i] = (cairn_bytes_ref){s[b][i].raw, 96};
        size_t n_new;
        uint32_t why;
        assert_int_equal(cairn_chain_add_headers(c, h, LEN, &n_new, &why), 0);
    }
    size_t records = cairn_chain_record_count(c);
    assert_true(records <= 9 + 10);
    assert_true(records < 9 + BR * LEN);
    cairn_chain_del(c);
    assert_int_equal(cairn_store_check(st, 1), 0);
    cairn_store_close(st);
    st = open_store(cairn_network_devnet());
    cfg.store = cairn_store_chain(st);
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    assert_int_equal(cairn_chain_record_count(c), records);
    assert_memory_equal(cairn_chain_tip(c)->id, m[7].id, 32);
    cairn_chain_del(c);
    cairn_store_close(st);
    assert_int_equal(te.live, 0);
}

static void batches(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 2);
    tblock g, b[30];
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, 30, &g, 400);
    cairn_store *st = open_store(cairn_network_devnet());
    cairn_chain *c = tb_chain(&te, cairn_store_chain(st));
    assert_int_equal(cairn_store_begin_batch(st), 0);
    assert_int_equal(cairn_store_begin_batch(st), CAIRN_ERR_STATE);
    assert_true(cairn_store_in_batch(st));
    for (int i = 0; i < 20; i++)
        tb_add_ok(c, &b[i]);
    assert_int_equal(cairn_store_check(st, 0), CAIRN_ERR_STATE);
    assert_int_equal(cairn_store_commit_batch(st), 0);
    assert_int_equal(cairn_store_commit_batch(st), CAIRN_ERR_STATE);
    /* A batch never committed is lost as a whole. */
    assert_int_equal(cairn_store_begin_batch(st), 0);
    for (int i = 20; i < 30; i++)
        tb_add_ok(c, &b[i]);
    cairn_chain_del(c);
    cairn_store_close(st);
    st = open_store(cairn_network_devnet());
    c = tb_chain(&te, cairn_store_chain(st));
    assert_memory_equal(cairn_chain_tip(c)->id, b[19].id, 32);
    assert_null(cairn_chain_find(c, b[20].id));
    cairn_chain_del(c);
    cairn_store_close(st);
}

static void network_binding(void **state)
{
    (void)state;
    cairn_store *st = open_store(cairn_network_devnet());
    cairn_store_close(st);
    char err[128] = "";
    assert_int_equal(cairn_store_open(&st, dir, cairn_network_testnet(), 0, err, sizeof(err)),
                     CAIRN_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "network"));
    assert_int_equal(
        cairn_store_open(&st, "/proc/nonexistent/x", cairn_network_devnet(), 0, NULL, 0),
        CAIRN_ERR_INVALID_ARG);
}

/* Each kind of damage is found by the check on open, or by the chain on load. */
static void integrity(void **state)
{
    (void)state;
    static const char *const damage[] = {
        "UPDATE blocks SET header = zeroblob(96) WHERE height = 3",
        "UPDATE blocks SET height = 7 WHERE height = 3",
        "DELETE FROM bodies WHERE id = (SELECT id FROM blocks WHERE height = 2)",
        "UPDATE blocks SET have_data = 0 WHERE height = 2",
        "DELETE FROM blocks WHERE height = 4",
        "DELETE FROM meta WHERE key = 'tip'",
        "UPDATE meta SET value = zeroblob(32) WHERE key = 'tip'",
        "UPDATE bodies SET data = x'00000001' WHERE id = (SELECT id FROM blocks WHERE height = 5)",
        "UPDATE meta SET value = zeroblob(32) WHERE key = 'network'",
    };
    test_env te;
    test_env_init(&te, 3);
    tblock g, b[6];
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, 6, &g, 500);
    for (size_t k = 0; k < sizeof(damage) / sizeof(*damage); k++) {
        teardown(NULL);
        setup(NULL);
        cairn_store *st = open_store(cairn_network_devnet());
        cairn_chain *c = tb_chain(&te, cairn_store_chain(st));
        for (int i = 0; i < 6; i++)
            tb_add_ok(c, &b[i]);
        cairn_chain_del(c);
        cairn_store_close(st);
        tamper(damage[k]);
        char err[256] = "";
        int rv = cairn_store_open(&st, dir, cairn_network_devnet(), CAIRN_STORE_CHECK_FULL, err,
                                  sizeof(err));
        if (rv == 0)
            fail_msg("damage not detected: %s", damage[k]);
        assert_true(rv == CAIRN_ERR_INTERNAL || rv == CAIRN_ERR_INVALID_ARG);
    }
    /* A tip that fork choice would not pick passes the store's check but not the chain. */
    teardown(NULL);
    setup(NULL);
    cairn_store *st = open_store(cairn_network_devnet());
    cairn_chain *c = tb_chain(&te, cairn_store_chain(st));
    for (int i = 0; i < 6; i++)
        tb_add_ok(c, &b[i]);
    cairn_chain_del(c);
    cairn_store_close(st);
    tamper("UPDATE meta SET value = (SELECT id FROM blocks WHERE height = 4) WHERE key = 'tip'");
    st = open_store(cairn_network_devnet());
    cairn_chain_config cfg = {
        .net = cairn_network_devnet(), .env = &te.env, .store = cairn_store_chain(st)};
    assert_int_equal(cairn_chain_new(&c, &cfg), CAIRN_ERR_INTERNAL);
    cairn_store_close(st);
    assert_int_equal(te.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(tie_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(pruned_headers_leave_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(batches, setup, teardown),
        cmocka_unit_test_setup_teardown(network_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(integrity, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
