/* files: the download scheduler (spec §11.5), on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "cairn/files.h"
#include "testenv.h"

static test_env g_env;

static cairn_sched *new_sched(uint64_t n)
{
    cairn_sched *s;
    assert_int_equal(cairn_sched_new(&s, n, NULL, &g_env.mem), 0);
    return s;
}

static uint64_t next(cairn_sched *s, int p, uint64_t now)
{
    uint64_t i = UINT64_MAX;
    assert_int_equal(cairn_sched_next(s, p, now, &i), 0);
    return i;
}

static void no_next(cairn_sched *s, int p, uint64_t now)
{
    uint64_t i;
    assert_int_equal(cairn_sched_next(s, p, now, &i), CAIRN_ERR_AGAIN);
}

static void test_window(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(10);
    int a;
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    /* [DL-5] a window of 4 to start, lowest index first */
    for (uint64_t i = 0; i < 4; i++)
        assert_true(next(s, a, 0) == i);
    no_next(s, a, 0);
    assert_int_equal(cairn_sched_delivered(s, a, 0, 10), CAIRN_SCHED_NEW);
    /* +1 per verified chunk: two more */
    assert_true(next(s, a, 10) == 4);
    assert_true(next(s, a, 10) == 5);
    no_next(s, a, 10);
    assert_int_equal(cairn_sched_delivered(s, a, 7, 10), CAIRN_ERR_INVALID_ARG);
    cairn_sched_peer_stats st;
    assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
    assert_int_equal(st.window, 5);
    assert_int_equal(st.in_flight, 5);
    assert_true(cairn_sched_remaining(s) == 9);
    assert_true(cairn_sched_is_done(s, 0));
    assert_false(cairn_sched_is_done(s, 1));
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_rarest_first(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(10);
    int a, b;
    cairn_chunk_range rb[] = {{0, 3}};
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    assert_int_equal(cairn_sched_peer_add(s, &b, rb, 1, 0), 0);
    /* [DL-6] chunks 3.. are served by one peer, 0..2 by two: A starts at 3 */
    for (uint64_t i = 3; i < 7; i++)
        assert_true(next(s, a, 0) == i);
    for (uint64_t i = 0; i < 3; i++)
        assert_true(next(s, b, 0) == i);
    no_next(s, b, 0); /* B serves nothing else, and nothing of A's */
    cairn_sched_del(s);

    /* several ranges: rarity follows the counts, ties go to the lowest index */
    s = new_sched(20);
    cairn_chunk_range r1[] = {{0, 10}, {15, 20}}, r2[] = {{5, 20}};
    int c;
    assert_int_equal(cairn_sched_peer_add(s, &a, r1, 2, 0), 0);
    assert_int_equal(cairn_sched_peer_add(s, &b, r2, 1, 0), 0);
    assert_int_equal(cairn_sched_peer_add(s, &c, NULL, 0, 0), 0);
    /* counts: [0,5) 2, [5,10) 3, [10,15) 2, [15,20) 3 */
    assert_true(next(s, a, 0) == 0);
    assert_true(next(s, b, 0) == 10);
    assert_true(next(s, c, 0) == 1);
    /* new ranges for A; invalid ones are refused */
    cairn_chunk_range r3[] = {{0, 20}};
    assert_int_equal(cairn_sched_peer_update(s, a, r3, 1), 0);
    cairn_chunk_range bad[] = {{5, 21}};
    assert_int_equal(cairn_sched_peer_update(s, b, bad, 1), CAIRN_ERR_INVALID_ARG);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_endgame(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(3);
    int a, b;
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    assert_int_equal(cairn_sched_peer_add(s, &b, NULL, 0, 0), 0);
    assert_true(next(s, a, 1) == 0);
    assert_true(next(s, a, 2) == 1);
    assert_true(next(s, a, 3) == 2);
    /* [DL-7] everything is requested: B asks for the last-requested first */
    assert_true(next(s, b, 4) == 2);
    assert_true(next(s, b, 4) == 1);
    assert_true(next(s, b, 4) == 0);
    no_next(s, b, 4); /* two copies each is the limit */
    no_next(s, a, 4); /* A has all of them already */
    assert_int_equal(cairn_sched_delivered(s, b, 2, 5), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, a, 2, 6), CAIRN_SCHED_DUP);
    assert_int_equal(cairn_sched_delivered(s, a, 0, 6), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, a, 1, 6), CAIRN_SCHED_NEW);
    assert_true(cairn_sched_remaining(s) == 0);
    assert_int_equal(cairn_sched_delivered(s, b, 1, 7), CAIRN_SCHED_DUP);
    assert_int_equal(cairn_sched_delivered(s, b, 0, 7), CAIRN_SCHED_DUP);
    no_next(s, a, 8);
    cairn_sched_peer_stats st;
    assert_int_equal(cairn_sched_peer_stats_get(s, b, &st), 0);
    assert_true(st.delivered == 3 && st.dups == 2);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_peer_gone(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(100);
    int a, b;
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    assert_int_equal(cairn_sched_peer_add(s, &b, NULL, 0, 0), 0);
    for (uint64_t i = 0; i < 4; i++)
        assert_true(next(s, a, 0) == i);
    for (uint64_t i = 4; i < 8; i++)
        assert_true(next(s, b, 0) == i);
    assert_int_equal(cairn_sched_delivered(s, b, 4, 1), CAIRN_SCHED_NEW);
    /* [DL-8] A vanishes: its four chunks go to B, earliest first */
    cairn_sched_peer_remove(s, a);
    assert_true(next(s, b, 2) == 0);
    assert_true(next(s, b, 2) == 1);
    no_next(s, b, 2); /* window 5, all used */
    assert_int_equal(cairn_sched_delivered(s, b, 5, 2), CAIRN_SCHED_NEW);
    assert_true(next(s, b, 2) == 2);
    assert_true(next(s, b, 2) == 3);
    no_next(s, b, 2);
    uint64_t x;
    assert_int_equal(cairn_sched_next(s, a, 2, &x), CAIRN_ERR_INVALID_ARG);
    /* the slot is reused */
    int c;
    assert_int_equal(cairn_sched_peer_add(s, &c, NULL, 0, 3), 0);
    assert_int_equal(c, a);
    assert_true(next(s, c, 3) == 8);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_stall(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(8);
    int a, b;
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    for (uint64_t i = 0; i < 4; i++)
        assert_true(next(s, a, 100) == i);
    assert_true(cairn_sched_deadline(s) == 2100);
    assert_int_equal(cairn_sched_tick(s, 2099), 0);
    /* a delivery is progress: the clock restarts from it */
    assert_int_equal(cairn_sched_delivered(s, a, 0, 1500), CAIRN_SCHED_NEW);
    assert_true(cairn_sched_deadline(s) == 3500);
    assert_true(next(s, a, 1500) == 4);
    assert_true(next(s, a, 1500) == 5);
    /* [DL-9] stall: its chunks go back, its window halves, its timeout doubles */
    assert_int_equal(cairn_sched_tick(s, 3500), 1);
    cairn_sched_peer_stats st;
    assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
    assert_int_equal(st.window, 2);
    assert_int_equal(st.in_flight, 5);
    assert_int_equal(st.stall_ms, 4000);
    assert_int_equal(st.stalls, 1);
    assert_true(cairn_sched_deadline(s) == UINT64_MAX); /* nothing live */
    no_next(s, a, 3500);                                /* stalled requests still count */
    assert_int_equal(cairn_sched_peer_add(s, &b, NULL, 0, 3500), 0);
    assert_true(next(s, b, 3500) == 1);
    assert_true(next(s, b, 3500) == 2);
    /* a late chunk is still welcome when nobody delivered it */
    assert_int_equal(cairn_sched_delivered(s, a, 1, 4000), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, b, 1, 4001), CAIRN_SCHED_DUP);
    assert_int_equal(cairn_sched_delivered(s, b, 2, 4002), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, a, 2, 4003), CAIRN_SCHED_DUP);
    /* a late arrival does not reset the timeout; one in time does */
    assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
    assert_int_equal(st.stall_ms, 4000);
    assert_int_equal(cairn_sched_delivered(s, a, 3, 4004), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, a, 4, 4005), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_delivered(s, a, 5, 4006), CAIRN_SCHED_NEW);
    assert_true(next(s, a, 4006) == 6);
    assert_int_equal(cairn_sched_delivered(s, a, 6, 4007), CAIRN_SCHED_NEW);
    assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
    assert_int_equal(st.stall_ms, 2000);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_failed_and_resume(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(6);
    int a;
    /* [DL-10] chunks kept from before are not asked for */
    assert_int_equal(cairn_sched_mark_done(s, 0), 0);
    assert_int_equal(cairn_sched_mark_done(s, 2), 0);
    assert_int_equal(cairn_sched_mark_done(s, 2), 0);
    assert_int_equal(cairn_sched_mark_done(s, 6), CAIRN_ERR_INVALID_ARG);
    assert_true(cairn_sched_remaining(s) == 4);
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    assert_true(next(s, a, 0) == 1);
    assert_true(next(s, a, 0) == 3);
    /* BUSY or NotFound: the chunk returns, the peer waits a moment */
    assert_int_equal(cairn_sched_failed(s, a, 1, 10), 0);
    assert_int_equal(cairn_sched_failed(s, a, 1, 10), CAIRN_ERR_INVALID_ARG);
    no_next(s, a, 10);
    assert_true(cairn_sched_deadline(s) == 1011);
    assert_int_equal(cairn_sched_tick(s, 1011), 0);
    assert_true(next(s, a, 1011) == 1);
    /* a chunk whose write failed is missing again */
    assert_int_equal(cairn_sched_delivered(s, a, 1, 1012), CAIRN_SCHED_NEW);
    cairn_sched_unmark(s, 1);
    assert_false(cairn_sched_is_done(s, 1));
    assert_true(next(s, a, 1013) == 1);
    cairn_sched_del(s);

    /* an empty file is done at once */
    s = new_sched(0);
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    no_next(s, a, 0);
    assert_true(cairn_sched_remaining(s) == 0);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

static void test_rate_cap(void **state)
{
    (void)state;
    cairn_sched *s = new_sched(1000);
    int a;
    assert_int_equal(cairn_sched_peer_add(s, &a, NULL, 0, 0), 0);
    uint64_t now = 0;
    /* one chunk a second: the window settles at two seconds' worth */
    for (int i = 0; i < 20; i++) {
        uint64_t x;
        while (cairn_sched_next(s, a, now, &x) == 0)
            ;
        now += 1000;
        cairn_sched_peer_stats st;
        assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
        /* the oldest outstanding request arrives */
        uint64_t idx = (uint64_t)i;
        assert_int_equal(cairn_sched_delivered(s, a, idx, now), CAIRN_SCHED_NEW);
    }
    cairn_sched_peer_stats st;
    assert_int_equal(cairn_sched_peer_stats_get(s, a, &st), 0);
    assert_true(st.rate_cpm >= 900 && st.rate_cpm <= 1100);
    assert_int_equal(st.window, 2);
    cairn_sched_del(s);
    assert_int_equal(g_env.live, 0);
}

/* Many peers with random ranges, deliveries out of order, drops and stalls:
 * every chunk ends up NEW exactly once. */
static void test_random_swarm(void **state)
{
    (void)state;
    uint64_t rng = 42;
#define RND() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    for (int round = 0; round < 20; round++) {
        uint64_t n = 1 + RND() % 3000;
        cairn_sched *s = new_sched(n);
        uint8_t *got = calloc(n, 1);
        int peers[8], np = 0;
        /* peer 0 serves all, the others random ranges */
        for (int i = 0; i < 8; i++) {
            cairn_chunk_range r[CAIRN_FILE_MAX_RANGES];
            size_t nr = 0;
            uint64_t pos = 0;
            while (i && nr < CAIRN_FILE_MAX_RANGES && pos < n) {
                uint64_t st = pos + RND() % 50, en = st + 1 + RND() % 200;
                if (st >= n)
                    break;
                if (en > n)
                    en = n;
                r[nr++] = (cairn_chunk_range){st, en};
                pos = en + 1;
            }
            if (i && nr == 0)
                continue;
            assert_int_equal(cairn_sched_peer_add(s, &peers[np], r, nr, 0), 0);
            np++;
        }
        int alive[8];
        uint64_t out[8][CAIRN_SCHED_MAX_WINDOW]; /* each peer's outstanding requests */
        unsigned nout[8] = {0};
        for (int i = 0; i < np; i++)
            alive[i] = 1;
        uint64_t now = 0, news = 0;
        for (int step = 0; step < 1000000 && cairn_sched_remaining(s); step++) {
            now += RND() % 3;
            int i = (int)(RND() % (uint64_t)np);
            if (!alive[i])
                continue;
            uint64_t idx;
            int act = (int)(RND() % 10);
            if (act < 5) {
                if (cairn_sched_next(s, peers[i], now, &idx) == 0) {
                    assert_true(idx < n);
                    for (unsigned k = 0; k < nout[i]; k++)
                        assert_true(out[i][k] != idx); /* never twice from one peer */
                    assert_true(nout[i] < CAIRN_SCHED_MAX_WINDOW);
                    out[i][nout[i]++] = idx;
                }
            } else if (nout[i]) {
                unsigned k = (unsigned)(RND() % nout[i]);
                idx = out[i][k];
                out[i][k] = out[i][--nout[i]];
                int rv = act == 9 ? cairn_sched_failed(s, peers[i], idx, now)
                                  : cairn_sched_delivered(s, peers[i], idx, now);
                assert_true(rv >= 0);
                if (act != 9 && rv == CAIRN_SCHED_NEW) {
                    assert_int_equal(got[idx], 0);
                    got[idx] = 1;
                    news++;
                }
            }
            if (RND() % 5000 == 0 && i != 0) { /* a peer leaves (never the full seeder) */
                cairn_sched_peer_remove(s, peers[i]);
                alive[i] = 0;
            }
            if (now >= cairn_sched_deadline(s))
                cairn_sched_tick(s, now);
        }
        assert_true(cairn_sched_remaining(s) == 0);
        assert_true(news == n);
        free(got);
        cairn_sched_del(s);
        assert_int_equal(g_env.live, 0);
    }
#undef RND
}

/* Every allocation fails once in turn: errors are reported, nothing leaks. */
static void test_alloc_failures(void **state)
{
    (void)state;
    for (long fail = 0;; fail++) {
        test_env_init(&g_env, 1);
        g_env.fail_at = fail;
        cairn_sched *s = NULL;
        int rv = cairn_sched_new(&s, 100, NULL, &g_env.mem), a, b;
        if (rv == 0) {
            cairn_chunk_range r[] = {{0, 10}, {20, 30}};
            rv = cairn_sched_peer_add(s, &a, r, 2, 0);
            if (rv == 0)
                rv = cairn_sched_peer_add(s, &b, NULL, 0, 0);
            if (rv == 0) {
                uint64_t x;
                assert_int_equal(cairn_sched_next(s, a, 0, &x), 0);
                cairn_sched_peer_remove(s, a);
            }
            cairn_sched_del(s);
        }
        if (rv != 0)
            assert_int_equal(rv, CAIRN_ERR_NOMEM);
        assert_int_equal(g_env.live, 0);
        if (g_env.fail_at != -2)
            break;
    }
    test_env_init(&g_env, 1);
}

int main(void)
{
    test_env_init(&g_env, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),         cmocka_unit_test(test_rarest_first),
        cmocka_unit_test(test_endgame),        cmocka_unit_test(test_peer_gone),
        cmocka_unit_test(test_stall),          cmocka_unit_test(test_failed_and_resume),
        cmocka_unit_test(test_rate_cap),       cmocka_unit_test(test_random_swarm),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
