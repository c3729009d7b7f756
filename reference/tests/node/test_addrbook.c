/*
 * Unit tests of the address book (spec §12.2): buckets keyed by source and
 * address network groups, new and tried tables, eviction of the least useful
 * entry, non-routable addresses, IPv4-mapped forms, dial selection across
 * network groups and backoff. The module is included whole so that the tests
 * can reach its bucket functions.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "addrbook.c"
#include "cairn/port.h"

static uint64_t fake_now = 1000000;

static uint64_t fake_mono(void *ud)
{
    (void)ud;
    return fake_now;
}

static uint64_t fake_wall(void *ud)
{
    (void)ud;
    return 1767225600000ULL + fake_now;
}

static int fake_random(uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    static uint64_t x = 88172645463325252ULL; /* xorshift: the same draws every run */
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    return 0;
}

static cairn_env env;
static addrbook *book;

static node *fresh(void)
{
    addrbook_del(book);
    env = *cairn_port_env();
    env.mono_ms = fake_mono;
    env.wall_ms = fake_wall;
    env.random = fake_random;
    addrbook_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.env = &env;
    cfg.key = 0x0123456789abcdefULL;
    cfg.listen_port = 7317;
    cfg.outbound_target = 8;
    assert_int_equal(addrbook_new(&book, &cfg), 0);
    return book;
}

static struct sockaddr_storage v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    uint8_t ip[4] = {a, b, c, d};
    memcpy(&s->sin_addr, ip, 4);
    return ss;
}

static struct sockaddr_storage v6(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, text, &s->sin6_addr), 1);
    return ss;
}

static int count_from(const node *n, uint64_t src_group)
{
    int k = 0;
    for (int i = 0; i < n->n_addrs; i++)
        k += n->addrs[i].used && n->addrs[i].table == 1 && n->addrs[i].src_group == src_group;
    return k;
}

static int count_used(const node *n)
{
    int k = 0;
    for (int i = 0; i < n->n_addrs; i++)
        k += n->addrs[i].used;
    return k;
}

/* [ADDR-10] 16 identities in one /16 each answer with 1,000 addresses: the
 * attacker's source group fills at most 16 buckets of 16, and honest
 * addresses from other sources still find room. */
static void test_poisoning_is_bounded(void **state)
{
    (void)state;
    node *n = fresh();
    uint64_t attacker = 0;
    for (int id = 0; id < 16; id++) {
        struct sockaddr_storage src = v4(44, 44, 0, (uint8_t)(1 + id), 7317);
        attacker = netaddr_group(&src);
        for (int i = 0; i < 1000; i++) { /* addresses spread over 250 groups */
            struct sockaddr_storage a =
                v4((uint8_t)(45 + i % 50), (uint8_t)(id * 13 + i / 50), (uint8_t)i, 9, 7317);
            addrbook_add_from(n, &a, sizeof(struct sockaddr_in), 1, NULL, &src);
        }
    }
    int from_attacker = count_from(n, attacker);
    fprintf(stderr, "# poisoning: %d of %d entries from the attacker's source group\n",
            from_attacker, count_used(n));
    assert_true(from_attacker > 0);
    assert_true(from_attacker <= ADDR_NEW_PER_SOURCE * ADDR_BUCKET_SIZE); /* 256 of 4096 */
    int honest = 0;
    for (int g = 0; g < 50; g++) {
        struct sockaddr_storage src = v4(80, (uint8_t)g, 0, 1, 7317);
        struct sockaddr_storage a = v4(81, (uint8_t)g, 1, 1, 7317);
        honest += addrbook_add_from(n, &a, sizeof(struct sockaddr_in), 1, NULL, &src) >= 0;
    }
    assert_true(honest >= 45); /* a collision with an earlier entry may drop a few */
    assert_true(count_used(n) <= (ADDR_NEW_BUCKETS + ADDR_TRIED_BUCKETS) * ADDR_BUCKET_SIZE);

    /* [DISC-17] 8 outbound picks from the poisoned book: 8 network groups */
    uint64_t groups[8];
    int from_honest = 0;
    for (int k = 0; k < 8; k++) {
        fake_now += 1000; /* past the dial pace */
        int i = addrbook_select(n, groups, k, k);
        assert_true(i >= 0);
        groups[k] = netaddr_group(&n->addrs[i].sa);
        addrbook_set_connected(n, i, 1);
        from_honest += n->addrs[i].src_group != attacker;
        for (int j = 0; j < k; j++)
            assert_true(groups[j] != groups[k]);
    }
    fprintf(stderr, "# poisoning: 8 outbound picks in 8 network groups, %d from honest sources\n",
            from_honest);
}

/* [ADDR-9] non-routable addresses and port 0 are not taken from the network,
 * unless the node is on such a network. */
static void test_non_routable_refused(void **state)
{
    (void)state;
    node *n = fresh();
    struct sockaddr_storage src = v4(44, 1, 1, 1, 7317);
    struct sockaddr_storage bad[] = {
        v4(127, 0, 0, 1, 7317),  v4(10, 1, 2, 3, 7317),       v4(192, 168, 1, 1, 7317),
        v4(172, 16, 0, 1, 7317), v4(169, 254, 1, 1, 7317),    v4(0, 0, 0, 0, 7317),
        v4(8, 8, 8, 8, 0),       v6("fe80::1", 7317),         v6("fc00::1", 7317),
        v6("::1", 7317),         v6("::ffff:10.0.0.1", 7317),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(addrbook_add_from(n, &bad[i], sizeof(bad[i]), 1, NULL, &src), -1);
    struct sockaddr_storage good = v4(8, 8, 8, 8, 7317);
    assert_true(addrbook_add_from(n, &good, sizeof(good), 1, NULL, &src) >= 0);
    n->cfg.local_network = 1;
    assert_true(addrbook_add_from(n, &bad[1], sizeof(bad[1]), 1, NULL, &src) >= 0);
    assert_int_equal(addrbook_add_from(n, &bad[6], sizeof(bad[6]), 1, NULL, &src), -1); /* port 0 */
}

/* [ADDR-1] ::ffff:a.b.c.d is a.b.c.d: one entry, and our own address either way. */
static void test_mapped_forms_normalised(void **state)
{
    (void)state;
    node *n = fresh();
    struct sockaddr_storage plain = v4(8, 8, 4, 4, 7000), mapped = v6("::ffff:8.8.4.4", 7000);
    assert_true(addrbook_add(n, &plain, sizeof(struct sockaddr_in), 0, 0, 0, NULL) >= 0);
    assert_int_equal(addrbook_add(n, &mapped, sizeof(struct sockaddr_in6), 0, 0, 0, NULL), -2);
    assert_int_equal(count_used(n), 1);
    struct sockaddr_storage self = v6("::ffff:127.0.0.1", 7317);
    n->cfg.local_network = 1;
    struct sockaddr_storage src = v4(44, 1, 1, 1, 7317);
    assert_int_equal(addrbook_add_from(n, &self, sizeof(self), 0, NULL, &src), -1);
    assert_int_equal(count_used(n), 1);
}

/* [ADDR-10] a full cell keeps its useful entry and gives way to a terrible one's successor. */
static void test_eviction_of_least_useful(void **state)
{
    (void)state;
    node *n = fresh();
    struct sockaddr_storage src = v4(44, 2, 2, 2, 7317);
    struct sockaddr_storage first = v4(50, 1, 1, 1, 7317);
    int i0 = addrbook_add_from(n, &first, sizeof(struct sockaddr_in), 1, NULL, &src);
    assert_true(i0 >= 0);
    /* find another address of the same source that lands in the same cell */
    struct sockaddr_storage other;
    int found = 0;
    for (int k = 0; k < 200000 && !found; k++) {
        other = v4(50, (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k, 7318);
        int b = new_bucket(n, netaddr_group(&src), &other);
        found = b == n->addrs[i0].bucket && bucket_pos(n, 1, b, &other) == n->addrs[i0].pos;
    }
    assert_true(found);
    n->addrs[i0].last_seen_ms = node_wall(n); /* useful: recently seen */
    assert_int_equal(addrbook_add_from(n, &other, sizeof(struct sockaddr_in), 1, NULL, &src), -1);
    n->addrs[i0].last_seen_ms = 0;
    n->addrs[i0].failures = 3; /* never reached, failed three times: terrible */
    assert_true(addrbook_add_from(n, &other, sizeof(struct sockaddr_in), 1, NULL, &src) >= 0);
    assert_int_equal(count_used(n), 1);
}

/* [ADDR-10] a good session moves an entry to the tried table; [ADDR-11] failures back off. */
static void test_tried_and_backoff(void **state)
{
    (void)state;
    node *n = fresh();
    struct sockaddr_storage src = v4(44, 3, 3, 3, 7317), a = v4(60, 1, 1, 1, 7317);
    int i = addrbook_add_from(n, &a, sizeof(struct sockaddr_in), 1, NULL, &src);
    assert_true(i >= 0);
    assert_int_equal(n->addrs[i].table, 1);
    static const uint8_t id[CAIRN_HASH_LEN] = {7};
    addrbook_good(n, i, node_wall(n), 1, id);
    assert_int_equal(n->addrs[i].table, 2);
    assert_int_equal(n->tried_tab[n->addrs[i].bucket][n->addrs[i].pos], i + 1);
    uint32_t prev = 0;
    for (int k = 0; k < 30; k++) {
        addrbook_failed(n, i);
        assert_true(n->addrs[i].backoff_ms >= prev);
        prev = n->addrs[i].backoff_ms;
    }
    assert_int_equal(prev, 3600000);
    assert_int_equal(n->addrs[i].next_try_ms, fake_now + 3600000);
    n->addrs[i].configured = 1; /* [MIS-14] configured peers are retried within a minute */
    addrbook_failed(n, i);
    assert_int_equal(n->addrs[i].backoff_ms, 60000);
}

/* [ADDR-10] A newly reached address whose tried cell holds an entry an outbound
 * peer still uses: that entry is not pushed out into nowhere. Its way back to
 * the new table is blocked (another entry of its source holds its old cell); it
 * must still be in a table when its session ends, else its slot is lost, it is
 * never dialled again and learning it again says "known". */
static void test_tried_entry_in_use_not_lost(void **state)
{
    (void)state;
    node *n = fresh();
    static const uint8_t id_y[CAIRN_HASH_LEN] = {1}, id_x[CAIRN_HASH_LEN] = {2};
    struct sockaddr_storage src_y = v4(44, 6, 6, 6, 7317), src_x = v4(45, 7, 7, 7, 7317);
    struct sockaddr_storage y = v4(90, 1, 1, 1, 7317);
    int iy = addrbook_add_from(n, &y, sizeof(struct sockaddr_in), 1, NULL, &src_y);
    assert_true(iy >= 0);
    int new_b = n->addrs[iy].bucket, new_p = n->addrs[iy].pos;
    addrbook_set_connected(n, iy, 1); /* an outbound session to y, READY */
    addrbook_good(n, iy, node_wall(n), 1, id_y);
    assert_int_equal(n->addrs[iy].table, 2);
    /* z: from y's source, in the new cell y left */
    struct sockaddr_storage z;
    int found = 0;
    for (int k = 1; k < 65536 && !found; k++) {
        z = v4(90, 1, (uint8_t)(k >> 8), (uint8_t)k, 7318);
        found = new_bucket(n, netaddr_group(&src_y), &z) == new_b &&
                bucket_pos(n, 1, new_b, &z) == new_p;
    }
    assert_true(found);
    assert_true(addrbook_add_from(n, &z, sizeof(struct sockaddr_in), 1, NULL, &src_y) >= 0);
    /* x: another source's address whose tried cell is y's */
    int ix = -1;
    for (int k = 1; k < 65536 && ix < 0; k++) {
        struct sockaddr_storage x = v4(90, 1, (uint8_t)(k >> 8), (uint8_t)k, 7319);
        int tb = tried_bucket(n, &x);
        if (tb == n->addrs[iy].bucket && bucket_pos(n, 2, tb, &x) == n->addrs[iy].pos)
            ix = addrbook_add_from(n, &x, sizeof(struct sockaddr_in), 1, NULL, &src_x);
    }
    assert_true(ix >= 0);
    addrbook_set_connected(n, ix, 1); /* a READY outbound session to x too */
    addrbook_good(n, ix, node_wall(n), 1, id_x);
    assert_true(n->addrs[ix].table != 0);
    /* y's session ends: y is still in a table, dialled again in its turn */
    addrbook_disconnected(n, iy, 1);
    assert_true(n->addrs[iy].used);
    assert_true(n->addrs[iy].table != 0);
    assert_int_equal(*cell(n, n->addrs[iy].table, n->addrs[iy].bucket, n->addrs[iy].pos), iy + 1);
    assert_int_equal(*cell(n, n->addrs[ix].table, n->addrs[ix].bucket, n->addrs[ix].pos), ix + 1);
    assert_int_equal(count_used(n), 3);
}

/* Every used entry is found at its slot by its address, and the index holds
 * nothing else; no unused slot lies below the free-slot hint. */
static void index_consistent(const node *n)
{
    int used = 0;
    for (int i = 0; i < n->n_addrs; i++) {
        if (!n->addrs[i].used)
            continue;
        used++;
        assert_int_equal(ix_find(n, &n->addrs[i].sa), i);
    }
    int indexed = 0;
    for (uint32_t k = 0; k < n->ix_cap; k++)
        indexed += n->ix[k] != 0;
    assert_int_equal(indexed, used);
    assert_true(2 * (uint32_t)used <= n->ix_cap);
    for (int i = 0; i < n->free_hint && i < n->n_addrs; i++)
        assert_true(n->addrs[i].used);
}

/* The probe run that wraps past the index's last cell: entries homed at the
 * last two cells and at the first; dropping the first of them moves the
 * second back and leaves the one at its home cell 0 in place. */
static void test_index_wraps(void **state)
{
    (void)state;
    node *n = fresh();
    uint32_t want[3] = {126, 127, 0};
    struct sockaddr_storage sa[3];
    uint16_t port = 1000;
    for (int k = 0; k < 3; k++) {
        do
            sa[k] = v4(44, 1, (uint8_t)k, 1, port++);
        while ((addr_hash(n, &sa[k]) & 127) != want[k]);
    }
    int slot[3];
    for (int k = 0; k < 3; k++) {
        slot[k] = addrbook_add(n, &sa[k], sizeof(struct sockaddr_in), 0, 0, 0, NULL);
        assert_true(slot[k] >= 0);
    }
    assert_int_equal(n->ix_cap, 128);
    assert_int_equal(n->ix[126], slot[0] + 1);
    assert_int_equal(n->ix[127], slot[1] + 1);
    assert_int_equal(n->ix[0], slot[2] + 1);
    drop(n, slot[0]);
    assert_int_equal(n->ix[126], 0);
    assert_int_equal(n->ix[127], slot[1] + 1);
    assert_int_equal(n->ix[0], slot[2] + 1);
    index_consistent(n);
    addrbook_del(n);
    book = NULL;
}

/* The index by address through churn: a book of ~2,000 entries (an index at
 * up to half load, so probe runs of several cells are common) loses entries
 * in an order that cuts such runs, and takes new ones into the freed slots;
 * after every step each entry is still found, and a dropped one is not. */
static void test_index_survives_churn(void **state)
{
    (void)state;
    node *n = fresh();
    for (int g = 0; g < 200; g++) {
        struct sockaddr_storage src = v4((uint8_t)(20 + g / 100), (uint8_t)g, 0, 1, 7000);
        for (int i = 0; i < 40; i++) {
            struct sockaddr_storage sa = v4((uint8_t)(30 + i), (uint8_t)g, (uint8_t)i, 9, 8333);
            addrbook_add_from(n, &sa, sizeof(struct sockaddr_in), 0, NULL, &src);
        }
    }
    int before = count_used(n);
    assert_true(before > 1000);
    index_consistent(n);
    int runs = 0; /* drops whose next index cell was taken: the shift had work */
    for (int step = 0; step < before / 2; step++) {
        int i = (int)((uint32_t)step * 2654435761u % (uint32_t)n->n_addrs);
        while (!n->addrs[i].used)
            i = (i + 1) % n->n_addrs;
        struct sockaddr_storage gone = n->addrs[i].sa;
        uint32_t k = ix_home(n, &gone);
        while (n->ix[k] != i + 1)
            k = (k + 1) & (n->ix_cap - 1);
        runs += n->ix[(k + 1) & (n->ix_cap - 1)] != 0;
        drop(n, i);
        assert_int_equal(ix_find(n, &gone), -1);
        index_consistent(n);
    }
    assert_true(runs > 50);
    assert_int_equal(count_used(n), before - before / 2);
    /* new addresses fill the freed slots before the array grows */
    int high = n->n_addrs, added = 0;
    struct sockaddr_storage src = v4(99, 1, 0, 1, 7000);
    for (int i = 0; i < 200; i++) {
        struct sockaddr_storage sa = v4(77, (uint8_t)i, 3, 3, 8333);
        added += addrbook_add_from(n, &sa, sizeof(struct sockaddr_in), 0, NULL, &src) >= 0;
        index_consistent(n);
    }
    assert_true(added > 0);
    assert_int_equal(n->n_addrs, high);
    addrbook_del(n);
    book = NULL;
}

/* [DISC-17] outbound peers come from distinct network groups. */
static void test_select_distinct_groups(void **state)
{
    (void)state;
    node *n = fresh();
    struct sockaddr_storage src = v4(44, 4, 4, 4, 7317);
    for (int i = 0; i < 200; i++) { /* 200 addresses of one /16, 5 of another */
        struct sockaddr_storage a = v4(70, 70, (uint8_t)(i / 250), (uint8_t)(1 + i % 250), 7317);
        addrbook_add_from(n, &a, sizeof(struct sockaddr_in), 1, NULL, &src);
    }
    struct sockaddr_storage src2 = v4(44, 5, 5, 5, 7317);
    for (int i = 0; i < 5; i++) {
        struct sockaddr_storage a = v4(71, 71, 0, (uint8_t)(1 + i), 7317);
        addrbook_add_from(n, &a, sizeof(struct sockaddr_in), 1, NULL, &src2);
    }
    struct sockaddr_storage out = v4(70, 70, 9, 9, 7317); /* an outbound peer in 70.70/16 */
    uint64_t groups[1] = {netaddr_group(&out)};
    int picked = 0;
    for (int k = 0; k < 50; k++) {
        fake_now += 1000; /* past the dial pace */
        int i = addrbook_select(n, groups, 1, 1);
        if (i < 0)
            continue;
        picked++;
        assert_true(netaddr_group(&n->addrs[i].sa) != groups[0]);
    }
    assert_true(picked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisoning_is_bounded),
        cmocka_unit_test(test_non_routable_refused),
        cmocka_unit_test(test_mapped_forms_normalised),
        cmocka_unit_test(test_eviction_of_least_useful),
        cmocka_unit_test(test_tried_and_backoff),
        cmocka_unit_test(test_tried_entry_in_use_not_lost),
        cmocka_unit_test(test_select_distinct_groups),
        cmocka_unit_test(test_index_survives_churn),
        cmocka_unit_test(test_index_wraps),
    };
    int rv = cmocka_run_group_tests_name("addrbook", tests, NULL, NULL);
    addrbook_del(book);
    return rv;
}
