/*
 * The chain: every validation rule through cairn_chain_add_block, orphans,
 * headers-first sync, fork choice and reorgs (shallow, deep, competing tips,
 * equal work), locators, store-failure atomicity and a failing-allocator
 * sweep.
 */
#include "chain_helpers.h"

#define INVALID_BLOCK CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK)

static const cairn_chain_block *tip(cairn_chain *c)
{
    return cairn_chain_tip(c);
}

static void assert_tip(cairn_chain *c, const tblock *b)
{
    assert_memory_equal(tip(c)->id, b->id, 32);
}

/* ---- A store double that counts writes and fails on request ------------------------ */

typedef struct fake_store {
    cairn_chain_store iface;
    int fail;
    size_t writes, headers, bodies, tips, pruned;
} fake_store;

static int fs_write(void *ud, const cairn_chain_write *w)
{
    fake_store *f = ud;
    if (f->fail)
        return CAIRN_ERR_INTERNAL;
    f->writes++;
    f->headers += w->n_headers;
    f->bodies += w->block != NULL;
    f->tips += w->tip != NULL;
    f->pruned += w->n_pruned;
    return 0;
}

static int fs_load(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t t[32], int *have_tip)
{
    (void)ud, (void)fn, (void)fn_ud, (void)t;
    *have_tip = 0;
    return 0;
}

static void fake_store_init(fake_store *f)
{
    memset(f, 0, sizeof(*f));
    f->iface = (cairn_chain_store){fs_write, fs_load, f};
}

/* ---- Tip callback ---------------------------------------------------------------------- */

typedef struct tip_log {
    int calls;
    const cairn_chain_block *old_tip, *new_tip, *fork;
} tip_log;

static void on_tip(void *ud, const cairn_chain_block *o, const cairn_chain_block *n,
                   const cairn_chain_block *f)
{
    tip_log *l = ud;
    l->calls++;
    l->old_tip = o;
    l->new_tip = n;
    l->fork = f;
}

static cairn_chain *chain_with(test_env *te, const cairn_chain_store *st, tip_log *log,
                               size_t max_orphans)
{
    cairn_chain_config cfg = {0};
    cairn_chain *c;
    cfg.net = cairn_network_devnet();
    cfg.env = &te->env;
    cfg.store = st;
    cfg.max_orphans = max_orphans;
    cfg.on_tip = log ? on_tip : NULL;
    cfg.ud = log;
    te->wall = TB_WALL;
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    return c;
}

/* ---- Tests --------------------------------------------------------------------------- */

static void extend_and_duplicate(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 1);
    fake_store fs;
    fake_store_init(&fs);
    tip_log log = {0};
    cairn_chain *c = chain_with(&te, &fs.iface, &log, 0);
    assert_int_equal(fs.writes, 1); /* genesis into the empty store */
    tblock g, b[5];
    tb_genesis(&g, cairn_network_devnet());
    assert_tip(c, &g);
    assert_int_equal(tip(c)->hdr.height, 0);
    tb_run(b, 5, &g, 100);
    for (int i = 0; i < 5; i++) {
        cairn_chain_result r;
        uint32_t why;
        assert_int_equal(tb_add(c, &b[i], &r, &why), 0);
        assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
        assert_true(r.tip_changed);
        assert_int_equal(r.reorg_depth, 0);
        assert_tip(c, &b[i]);
        assert_ptr_equal(log.new_tip, tip(c));
        assert_ptr_equal(log.fork, log.old_tip); /* an extension: fork = old tip */
    }
    assert_int_equal(log.calls, 5);
    assert_int_equal(fs.bodies, 6);
    assert_int_equal(fs.tips, 6);
    cairn_chain_result r;
    uint32_t why;
    assert_int_equal(tb_add(c, &b[2], &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_DUPLICATE);
    assert_int_equal(tb_add(c, &g, &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_DUPLICATE);
    assert_int_equal(fs.writes, 6);
    /* work = 6 x 2^12 */
    cairn_work w = {{0}};
    for (int i = 0; i < 6; i++)
        cairn_work_add_block(&w, 12);
    assert_int_equal(cairn_work_cmp(&tip(c)->work, &w), 0);
    assert_ptr_equal(cairn_chain_at(c, 3), cairn_chain_find(c, b[2].id));
    assert_null(cairn_chain_at(c, 6));
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* Every reason code, reached through the chain. */
static void every_rule(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 2);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tblock g, b, x;
    tb_genesis(&g, cairn_network_devnet());
    tb_child(&b, &g, 1);

    assert_int_equal(cairn_chain_add_block(c, b.raw, 97, b.entries, b.n, NULL, NULL),
                     INVALID_BLOCK);
    uint32_t why;
    assert_int_equal(cairn_chain_add_block(c, b.raw, 95, b.entries, b.n, NULL, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_SIZE);
    static cairn_bytes_ref many[CAIRN_BLOCK_MAX_ENTRIES + 1];
    for (int i = 0; i <= CAIRN_BLOCK_MAX_ENTRIES; i++)
        many[i] = b.entries[0];
    assert_int_equal(cairn_chain_add_block(c, b.raw, 96, many, 4097, NULL, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_COUNT);

    x = b;
    x.hdr.version = 0;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_VERSION);
    x = b;
    x.hdr.bits = 11;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_BITS);
    x = b;
    do {
        x.hdr.nonce++;
        tb_encode(&x);
    } while (cairn_pow_ok(x.id, 12));
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_POW);

    tb_genesis(&x, cairn_network_devnet()); /* another height-0 block */
    x.hdr.time_ms++;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_GENESIS);

    tb_child_unsealed(&x, &g, 2);
    x.hdr.height = 2;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_HEIGHT);

    tb_child_unsealed(&x, &g, 3);
    x.hdr.time_ms = g.hdr.time_ms; /* median of {genesis} */
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_TIME_TOO_OLD);

    tb_child_unsealed(&x, &g, 4);
    x.hdr.time_ms = TB_WALL + CAIRN_BLOCK_MAX_FUTURE_MS + 1;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_TIME_TOO_NEW);
    te.wall += 1; /* not permanent: valid once the clock catches up */
    tb_add_ok(c, &x);

    tb_child(&x, &g, 5);
    x.store[0][1] ^= 1; /* a body the header does not commit to */
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_ROOT);
    x.store[0][1] ^= 1; /* not remembered: the right body is welcome */
    tb_add_ok(c, &x);

    tb_child_unsealed(&x, &g, 6);
    x.store[0][0] = 0x09; /* unknown kind */
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_ENTRY);
    tb_add_bad(c, &x, CAIRN_BLOCK_BAD_ENTRY); /* remembered */
    tblock y;
    tb_child(&y, &x, 7);
    tb_add_bad(c, &y, CAIRN_BLOCK_BAD_LINK); /* descends from an invalid block */

    tb_child_unsealed(&x, &g, 8);
    x.entries[1] = x.entries[0];
    x.n = 2;
    tb_seal(&x);
    tb_add_bad(c, &x, CAIRN_BLOCK_DUPLICATE_ENTRY);

    tb_child_unsealed(&x, &g, 9);
    x.n = 0; /* an empty block is fine: root = SHA-256("") */
    tb_seal(&x);
    tb_add_ok(c, &x);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

static void orphans(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 3);
    cairn_chain *c = chain_with(&te, NULL, NULL, 4);
    tblock g, b[8], bad;
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, 8, &g, 200);
    cairn_chain_result r;
    uint32_t why;
    /* 3 and 2 arrive before 1: held. A bad child of 2 is held too. */
    tb_child(&bad, &b[2], 999);
    bad.store[0][1] ^= 1;
    assert_int_equal(tb_add(c, &bad, &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_ORPHAN);
    assert_null(r.block);
    assert_int_equal(tb_add(c, &b[2], &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_ORPHAN);
    assert_int_equal(tb_add(c, &b[1], &r, &why), 0);
    assert_int_equal(tb_add(c, &b[1], &r, &why), 0); /* held once */
    assert_int_equal(cairn_chain_orphan_count(c), 3);
    assert_tip(c, &g);
    assert_int_equal(tb_add(c, &b[0], &r, &why), 0);
    assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
    assert_int_equal(r.orphans_accepted, 2); /* the bad one is dropped */
    assert_tip(c, &b[2]);
    assert_int_equal(cairn_chain_orphan_count(c), 0);
    /* The pool is bounded: the oldest go first. */
    for (int i = 7; i >= 4; i--) {
        assert_int_equal(tb_add(c, &b[i], &r, &why), 0);
        assert_int_equal(r.status, CAIRN_CHAIN_ORPHAN);
    }
    tblock p, q;
    tb_child(&p, &b[7], 1);
    assert_int_equal(tb_add(c, &p, &r, &why), 0);
    assert_int_equal(cairn_chain_orphan_count(c), 4); /* b[7] evicted */
    tb_add_ok(c, &b[3]);
    assert_tip(c, &b[6]);
    assert_int_equal(cairn_chain_orphan_count(c), 1); /* p still waits for b[7] */
    tb_add_ok(c, &b[7]);
    assert_tip(c, &p);
    assert_int_equal(cairn_chain_orphan_count(c), 0);
    /* Orphans with an invalid header never get in: PoW is checked first. */
    tb_child(&q, &p, 2);
    tb_child(&p, &q, 3);
    do {
        p.hdr.nonce++;
        tb_encode(&p);
    } while (cairn_pow_ok(p.id, 12));
    tb_add_bad(c, &p, CAIRN_BLOCK_BAD_POW);
    assert_int_equal(cairn_chain_orphan_count(c), 0);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* [FORK-10] equal work: the tip received first stays, whichever ID is smaller. */
static void equal_work_tie(void **state)
{
    (void)state;
    tblock g, a, b;
    tb_genesis(&g, cairn_network_devnet());
    tb_child(&a, &g, 1);
    tb_child(&b, &g, 2);
    for (int order = 0; order < 2; order++) {
        test_env te;
        test_env_init(&te, 4);
        tip_log log = {0};
        cairn_chain *c = chain_with(&te, NULL, &log, 0);
        cairn_chain_result r;
        uint32_t why;
        const tblock *first = order ? &a : &b, *second = order ? &b : &a;
        tb_add_ok(c, first);
        assert_int_equal(tb_add(c, second, &r, &why), 0);
        assert_int_equal(r.status, CAIRN_CHAIN_ADDED);
        assert_tip(c, first);
        assert_false(r.tip_changed);
        assert_int_equal(r.reorg_depth, 0);
        assert_ptr_equal(cairn_chain_best_header(c), cairn_chain_tip(c));
        cairn_chain_del(c);
        assert_int_equal(te.live, 0);
    }
}

/* [FORK-10] A header that arrived first but whose body comes last does not
 * win the tie: arrival counts when a block is received in full. */
static void tie_counts_full_arrival(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 4);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tblock g, a, b;
    tb_genesis(&g, cairn_network_devnet());
    tb_child(&a, &g, 1);
    tb_child(&b, &g, 2);
    cairn_bytes_ref h = {a.raw, sizeof(a.raw)};
    size_t n_new;
    uint32_t why;
    assert_int_equal(cairn_chain_add_headers(c, &h, 1, &n_new, &why), 0);
    assert_int_equal(n_new, 1);
    tb_add_ok(c, &b); /* b in full before a's body */
    tb_add_ok(c, &a);
    assert_tip(c, &b);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* Three tips at one height: the first stays; then a later one pulls ahead. */
static void competing_tips(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 5);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tblock g, base, t[3], next;
    tb_genesis(&g, cairn_network_devnet());
    tb_child(&base, &g, 1);
    tb_add_ok(c, &base);
    for (int i = 0; i < 3; i++) {
        tb_child(&t[i], &base, 10 + i);
        tb_add_ok(c, &t[i]);
        assert_tip(c, &t[0]);
    }
    tb_child(&next, &t[2], 20);
    cairn_chain_result r;
    uint32_t why;
    assert_int_equal(tb_add(c, &next, &r, &why), 0);
    assert_tip(c, &next);
    assert_int_equal(r.reorg_depth, 1);
    assert_true(cairn_chain_is_active(c, cairn_chain_find(c, t[2].id)));
    assert_false(cairn_chain_is_active(c, cairn_chain_find(c, t[0].id)));
    cairn_chain_del(c);
}

static void reorg_shallow(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 6);
    tip_log log = {0};
    cairn_chain *c = chain_with(&te, NULL, &log, 0);
    tblock g, m[3], s[3];
    tb_genesis(&g, cairn_network_devnet());
    tb_run(m, 3, &g, 300);
    tb_run(s, 3, &m[0], 400); /* forks after height 1, reaches height 4 */
    for (int i = 0; i < 3; i++)
        tb_add_ok(c, &m[i]);
    tb_add_ok(c, &s[0]);
    tb_add_ok(c, &s[1]); /* equal work with m[2]: the first received stays */
    const tblock *want = &m[2];
    assert_tip(c, want);
    cairn_chain_result r;
    uint32_t why;
    assert_int_equal(tb_add(c, &s[2], &r, &why), 0);
    assert_tip(c, &s[2]);
    assert_true(r.tip_changed);
    assert_int_equal(r.reorg_depth, want == &m[2] ? 2 : 0);
    assert_memory_equal(log.new_tip->id, s[2].id, 32);
    for (int h = 2; h <= 4; h++)
        assert_memory_equal(cairn_chain_at(c, (uint64_t)h)->id, s[h - 2].id, 32);
    assert_memory_equal(cairn_chain_at(c, 1)->id, m[0].id, 32);
    cairn_chain_del(c);
}

/* A 150-block branch replaced by a 151-block branch from genesis, atomically. */
static void reorg_deep(void **state)
{
    (void)state;
    enum { N = 150 };
    static tblock m[N], s[N + 1];
    test_env te;
    test_env_init(&te, 7);
    fake_store fs;
    fake_store_init(&fs);
    tip_log log = {0};
    cairn_chain *c = chain_with(&te, &fs.iface, &log, 0);
    tblock g;
    tb_genesis(&g, cairn_network_devnet());
    tb_run(m, N, &g, 1000);
    tb_run(s, N + 1, &g, 5000);
    for (int i = 0; i < N; i++)
        tb_add_ok(c, &m[i]);
    for (int i = 0; i < N - 1; i++) {
        tb_add_ok(c, &s[i]);
        assert_tip(c, &m[N - 1]);
    }
    /* equal work at height 150: the tip received first stays [FORK-10] */
    cairn_chain_result r;
    uint32_t why;
    size_t tips_before = fs.tips;
    assert_int_equal(tb_add(c, &s[N - 1], &r, &why), 0);
    assert_tip(c, &m[N - 1]);
    assert_int_equal(r.reorg_depth, 0);
    assert_int_equal(tb_add(c, &s[N], &r, &why), 0);
    assert_tip(c, &s[N]);
    assert_int_equal(r.reorg_depth, N);
    assert_int_equal(fs.tips - tips_before, 1);
    assert_ptr_equal(log.fork, cairn_chain_genesis(c));
    for (uint64_t h = 1; h <= N + 1; h++)
        assert_memory_equal(cairn_chain_at(c, h)->id, s[h - 1].id, 32);
    assert_int_equal(cairn_chain_record_count(c), 2 * N + 2);
    /* ancestors by skip pointers */
    const cairn_chain_block *t = tip(c);
    for (uint64_t h = 0; h <= N + 1; h += 7)
        assert_ptr_equal(cairn_chain_block_ancestor(t, h), cairn_chain_at(c, h));
    assert_null(cairn_chain_block_ancestor(t, N + 2));
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

static cairn_bytes_ref hdr_ref(const tblock *b)
{
    return (cairn_bytes_ref){b->raw, sizeof(b->raw)};
}

/* §10.1 headers first, bodies in any order after. */
static void headers_first(void **state)
{
    (void)state;
    enum { N = 20 };
    tblock g, b[N];
    cairn_bytes_ref h[N + 1];
    test_env te;
    test_env_init(&te, 8);
    fake_store fs;
    fake_store_init(&fs);
    cairn_chain *c = chain_with(&te, &fs.iface, NULL, 0);
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, N, &g, 600);
    for (int i = 0; i < N; i++)
        h[i] = hdr_ref(&b[i]);
    size_t n_new;
    uint32_t why;

    /* Not contiguous, or not linked to a known block: BAD_LINK, nothing stored. */
    cairn_bytes_ref gap[2] = {h[0], h[2]};
    assert_int_equal(cairn_chain_add_headers(c, gap, 2, &n_new, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_LINK);
    assert_int_equal(cairn_chain_add_headers(c, &h[1], 3, &n_new, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_LINK);
    /* A bad PoW anywhere: nothing stored. */
    tblock p = b[5];
    do {
        p.hdr.nonce++;
        tb_encode(&p);
    } while (cairn_pow_ok(p.id, 12));
    h[5] = hdr_ref(&p);
    assert_int_equal(cairn_chain_add_headers(c, h, N, &n_new, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_POW);
    assert_int_equal(n_new, 0);
    assert_int_equal(fs.headers, 0);
    h[5] = hdr_ref(&b[5]);

    assert_int_equal(cairn_chain_add_headers(c, h, 10, &n_new, &why), 0);
    assert_int_equal(n_new, 10);
    assert_int_equal(cairn_chain_add_headers(c, h, N, &n_new, &why), 0); /* overlap */
    assert_int_equal(n_new, N - 10);
    assert_int_equal(fs.headers, N);
    assert_memory_equal(cairn_chain_best_header(c)->id, b[N - 1].id, 32);
    assert_tip(c, &g);

    const cairn_chain_block *miss[32];
    assert_int_equal(cairn_chain_missing_bodies(c, 1, miss, 32), N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(miss[i]->id, b[i].id, 32);
    assert_int_equal(cairn_chain_missing_bodies(c, 5, miss, 4), 4);
    assert_int_equal(miss[0]->hdr.height, 5);

    /* Bodies from the top down: nothing links until the first arrives. */
    for (int i = N - 1; i >= 1; i--) {
        tb_add_ok(c, &b[i]);
        assert_tip(c, &g);
    }
    assert_int_equal(cairn_chain_missing_bodies(c, 1, miss, 32), 1);
    cairn_chain_result r;
    assert_int_equal(tb_add(c, &b[0], &r, &why), 0);
    assert_tip(c, &b[N - 1]); /* one write moves the tip 20 blocks */
    assert_int_equal(cairn_chain_missing_bodies(c, 1, miss, 32), 0);

    /* A time rule broken mid-batch keeps the valid prefix. */
    tblock e[3];
    tb_run(e, 2, &b[N - 1], 700);
    tb_child_unsealed(&e[2], &e[1], 702);
    e[2].hdr.time_ms = b[N - 5].hdr.time_ms;
    tb_seal(&e[2]);
    cairn_bytes_ref eh[3] = {hdr_ref(&e[0]), hdr_ref(&e[1]), hdr_ref(&e[2])};
    assert_int_equal(cairn_chain_add_headers(c, eh, 3, &n_new, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_TIME_TOO_OLD);
    assert_int_equal(n_new, 2);
    assert_memory_equal(cairn_chain_best_header(c)->id, e[1].id, 32);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* A caller's allowance for headers on a branch with no more work than the tip. */
static void low_work_allowance(void **state)
{
    (void)state;
    tblock g, m[4], s[6];
    test_env te;
    test_env_init(&te, 13);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tb_genesis(&g, cairn_network_devnet());
    tb_run(m, 4, &g, 50);
    tb_run(s, 6, &g, 60);
    for (int i = 0; i < 4; i++)
        tb_add_ok(c, &m[i]);
    cairn_bytes_ref h[6];
    for (int i = 0; i < 6; i++)
        h[i] = hdr_ref(&s[i]);
    size_t budget = 3, n_new;
    uint32_t why;
    /* s[0..3] have no more work than the tip: only 3 fit; the rest is dropped. */
    assert_int_equal(cairn_chain_add_headers_limited(c, h, 6, &budget, &n_new, &why), 0);
    assert_int_equal(n_new, 3);
    assert_int_equal(budget, 0);
    assert_null(cairn_chain_find(c, s[3].id));
    budget = 1; /* s[3] is low work, s[4] and s[5] are more work and free */
    assert_int_equal(cairn_chain_add_headers_limited(c, h, 6, &budget, &n_new, &why), 0);
    assert_int_equal(n_new, 3);
    assert_int_equal(budget, 0);
    assert_memory_equal(cairn_chain_best_header(c)->id, s[5].id, 32);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* [SYNC-44] Low-work headers have one bound for the whole chain: past it the
 * most recently received are pruned, leaves first, down to 3/4 of it; the
 * best header's branch and pinned branches are kept; a pruned branch can be
 * sent again. */
static void low_work_pruned(void **state)
{
    (void)state;
    enum { BR = 6, LEN = 5, MAX = 8 };
    static tblock g, m[10], s[BR][LEN];
    test_env te;
    test_env_init(&te, 14);
    fake_store fs;
    fake_store_init(&fs);
    cairn_chain_config cfg = {0};
    cfg.net = cairn_network_devnet();
    cfg.env = &te.env;
    cfg.store = &fs.iface;
    cfg.max_low_work = MAX;
    te.wall = TB_WALL;
    cairn_chain *c;
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    tb_genesis(&g, cairn_network_devnet());
    tb_run(m, 10, &g, 70);
    for (int i = 0; i < 10; i++)
        tb_add_ok(c, &m[i]);
    for (int b = 0; b < BR; b++)
        tb_run(s[b], LEN, &g, 100 + 10 * (uint32_t)b);
    size_t n_new;
    uint32_t why;
    const cairn_chain_block *pin = NULL;
    for (int b = 0; b < BR; b++) {
        cairn_bytes_ref h[LEN];
        for (int i = 0; i < LEN; i++)
            h[i] = hdr_ref(&s[b][i]);
        assert_int_equal(cairn_chain_add_headers(c, h, LEN, &n_new, &why), 0);
        assert_int_equal(n_new, LEN);
        size_t low = cairn_chain_low_work_count(c);
        assert_true(low <= MAX);
        /* the chain, the low-work records, and the pinned branch (not low-work) */
        assert_int_equal(cairn_chain_record_count(c), 11 + low + (b > 0 ? LEN : 0));
        if (b == 0) { /* branch 0 is being downloaded again: kept whatever comes */
            pin = cairn_chain_find(c, s[0][LEN - 1].id);
            assert_int_equal(cairn_chain_pin(c, pin), 0);
        }
    }
    assert_true(fs.pruned > 0);
    for (int i = 0; i < LEN; i++)
        assert_non_null(cairn_chain_find(c, s[0][i].id));
    /* the newest went first: the last branch's tip is gone, the tip branch stays */
    assert_null(cairn_chain_find(c, s[BR - 1][LEN - 1].id));
    for (int i = 0; i < 10; i++)
        assert_non_null(cairn_chain_find(c, m[i].id));
    /* a pruned branch sent again is accepted like a new one (SYNC-43) */
    cairn_bytes_ref h[LEN];
    for (int i = 0; i < LEN; i++)
        h[i] = hdr_ref(&s[BR - 1][i]);
    assert_int_equal(cairn_chain_add_headers(c, h, LEN, &n_new, &why), 0);
    assert_true(cairn_chain_low_work_count(c) <= MAX);
    cairn_chain_unpin(c, pin);
    /* the body of a kept low-work header still makes it a block */
    tb_add_ok(c, &s[0][0]);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* A body that its header commits to but that breaks a rule fails the whole branch. */
static void failed_branch(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 9);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tblock g, b[3];
    tb_genesis(&g, cairn_network_devnet());
    tb_child_unsealed(&b[0], &g, 1);
    b[0].entries[1] = b[0].entries[0];
    b[0].n = 2;
    tb_seal(&b[0]);
    tb_run(&b[1], 2, &b[0], 2);
    cairn_bytes_ref h[3] = {hdr_ref(&b[0]), hdr_ref(&b[1]), hdr_ref(&b[2])};
    size_t n_new;
    uint32_t why;
    assert_int_equal(cairn_chain_add_headers(c, h, 3, &n_new, &why), 0);
    tb_add_ok(c, &b[2]); /* a body waiting for its ancestors */
    tb_add_bad(c, &b[0], CAIRN_BLOCK_DUPLICATE_ENTRY);
    assert_true(cairn_chain_find(c, b[2].id)->flags & CAIRN_CHAIN_FAILED);
    assert_int_equal(cairn_chain_find(c, b[2].id)->fail_reason, CAIRN_BLOCK_BAD_LINK);
    assert_ptr_equal(cairn_chain_best_header(c), cairn_chain_genesis(c));
    tb_add_bad(c, &b[1], CAIRN_BLOCK_BAD_LINK);
    assert_int_equal(cairn_chain_add_headers(c, h, 3, &n_new, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_DUPLICATE_ENTRY);
    const cairn_chain_block *miss[4];
    assert_int_equal(cairn_chain_missing_bodies(c, 1, miss, 4), 0);
    assert_tip(c, &g);
    cairn_chain_del(c);
}

static void locators(void **state)
{
    (void)state;
    enum { N = 100 };
    static tblock b[N], side[3];
    test_env te;
    test_env_init(&te, 10);
    cairn_chain *c = chain_with(&te, NULL, NULL, 0);
    tblock g;
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, N, &g, 800);
    for (int i = 0; i < N; i++)
        tb_add_ok(c, &b[i]);
    uint8_t loc[64][32];
    size_t n = cairn_chain_locator(c, NULL, loc, 64);
    static const uint64_t want[] = {100, 99, 98, 97, 96, 95, 94, 93, 92, 91, 89, 85, 77, 61, 29, 0};
    assert_int_equal(n, sizeof(want) / sizeof(*want));
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(loc[i], cairn_chain_at(c, want[i])->id, 32);
    n = cairn_chain_locator(c, NULL, loc, 5);
    assert_int_equal(n, 5);
    assert_memory_equal(loc[3], b[96].id, 32);
    assert_memory_equal(loc[4], g.id, 32); /* always ends with genesis */
    assert_int_equal(cairn_chain_locator(c, cairn_chain_genesis(c), loc, 64), 1);

    /* Responder: a peer on a side branch from height 50. */
    tb_run(side, 3, &b[49], 900);
    uint8_t l2[3][32], (*out)[96] = malloc(2000 * 96);
    memcpy(l2[0], side[2].id, 32); /* unknown to us: skipped */
    memcpy(l2[1], b[49].id, 32);
    memcpy(l2[2], g.id, 32);
    size_t k;
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 3, NULL, 0, out, 2000, &k), 0);
    assert_int_equal(k, N - 50);
    assert_memory_equal(out[0], b[50].raw, 96); /* exactly the stored bytes */
    assert_memory_equal(out[k - 1], b[N - 1].raw, 96);
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 3, b[60].id, 0, out, 2000, &k), 0);
    assert_int_equal(k, 11); /* stops after stop_id */
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 3, NULL, 7, out, 2000, &k), 0);
    assert_int_equal(k, 7);
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 1, NULL, 0, out, 2000, &k), 0);
    assert_int_equal(k, N); /* nothing known: from after genesis */
    assert_memory_equal(out[0], b[0].raw, 96);
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 1, NULL, 2001, out, 2000, &k),
        CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD));
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])out, 65, NULL, 0, out, 2000, &k),
        CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD));
    /* A locator of the tip: nothing to send. */
    memcpy(l2[0], b[N - 1].id, 32);
    assert_int_equal(
        cairn_chain_get_headers(c, (const uint8_t(*)[32])l2, 1, NULL, 0, out, 2000, &k), 0);
    assert_int_equal(k, 0);
    free(out);
    cairn_chain_del(c);
}

/* A failed store write changes nothing in memory; a retry succeeds. */
static void store_failure_is_atomic(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 11);
    fake_store fs;
    fake_store_init(&fs);
    cairn_chain *c = chain_with(&te, &fs.iface, NULL, 0);
    tblock g, b[3], s[4];
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, 3, &g, 10);
    tb_run(s, 4, &g, 20);
    for (int i = 0; i < 3; i++)
        tb_add_ok(c, &b[i]);
    for (int i = 0; i < 3; i++)
        tb_add_ok(c, &s[i]);
    const cairn_chain_block *before = tip(c);
    fs.fail = 1;
    uint32_t why;
    assert_int_equal(tb_add(c, &s[3], NULL, &why), CAIRN_ERR_INTERNAL);
    assert_ptr_equal(tip(c), before);
    assert_null(cairn_chain_find(c, s[3].id));
    cairn_bytes_ref h = hdr_ref(&s[3]);
    size_t n_new;
    assert_int_equal(cairn_chain_add_headers(c, &h, 1, &n_new, &why), CAIRN_ERR_INTERNAL);
    assert_null(cairn_chain_find(c, s[3].id));
    fs.fail = 0;
    tb_add_ok(c, &s[3]);
    assert_tip(c, &s[3]);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
}

/* nghttp2-style failmalloc: fail each allocation in turn; no leak, no half state. */
static void failing_allocator(void **state)
{
    (void)state;
    static tblock b[4], s[6];
    tblock g;
    tb_genesis(&g, cairn_network_devnet());
    tb_run(b, 4, &g, 30);
    tb_run(s, 6, &b[0], 40);
    const tblock *seq[] = {&b[0], &b[2], &b[1], &b[3], &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]};
    const size_t nseq = sizeof(seq) / sizeof(*seq);
    for (long fail = 0;; fail++) {
        test_env te;
        test_env_init(&te, 12);
        te.wall = TB_WALL;
        te.fail_at = fail;
        cairn_chain_config cfg = {.net = cairn_network_devnet(), .env = &te.env};
        cairn_chain *c;
        int rv = cairn_chain_new(&c, &cfg);
        if (rv != 0) {
            assert_int_equal(rv, CAIRN_ERR_NOMEM);
            assert_int_equal(te.live, 0);
            continue;
        }
        for (size_t i = 0; i < nseq; i++) {
            const cairn_chain_block *t = tip(c);
            size_t records = cairn_chain_record_count(c);
            uint32_t why;
            rv = tb_add(c, seq[i], NULL, &why);
            if (rv != 0) {
                assert_int_equal(rv, CAIRN_ERR_NOMEM);
                assert_ptr_equal(tip(c), t);
                assert_int_equal(cairn_chain_record_count(c), records);
            }
        }
        int done = te.fail_at == fail; /* never reached: the full run succeeded */
        if (done)
            assert_memory_equal(tip(c)->id, s[5].id, 32);
        cairn_chain_del(c);
        assert_int_equal(te.live, 0);
        if (done)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extend_and_duplicate),
        cmocka_unit_test(every_rule),
        cmocka_unit_test(orphans),
        cmocka_unit_test(equal_work_tie),
        cmocka_unit_test(tie_counts_full_arrival),
        cmocka_unit_test(competing_tips),
        cmocka_unit_test(reorg_shallow),
        cmocka_unit_test(reorg_deep),
        cmocka_unit_test(headers_first),
        cmocka_unit_test(low_work_allowance),
        cmocka_unit_test(low_work_pruned),
        cmocka_unit_test(failed_branch),
        cmocka_unit_test(locators),
        cmocka_unit_test(store_failure_is_atomic),
        cmocka_unit_test(failing_allocator),
    };
    return cmocka_run_group_tests_name("chain_chain", tests, NULL, NULL);
}
