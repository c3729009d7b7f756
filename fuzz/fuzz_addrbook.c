/*
 * fuzz_addrbook: the address book (spec §12.2) fed with Peers answers, inbound listen
 * addresses, configured peers and dial outcomes, with its bounds and invariants checked.
 *
 * The book is the node core's reference/lib/node/addrbook.c, compiled in whole as its
 * unit test does (the oracles read its tables), on the fuzz environment's allocator,
 * clocks and randomness. The few lines that stand for the node core (core.c's
 * on_peer_auth, on_ready, learn_listen_addr, peer_free, dial_targets; msg.c's Peers
 * handler) are in the "driver glue" section.
 *
 * Input: byte 0 = flags (bit 0: local-network mode; bits 1-2: listen address none,
 * 127.0.0.1, 0.0.0.0 or 198.51.100.7 (a routable one for the harness); bits 3-5:
 * outbound target - 1), bytes 1-8 = the book's hash key, then operations, each an
 * opcode byte and its arguments (see the OP_ names): a Peers payload from a source
 * address (decoded and validated by cairn_msg_decode as the session would), a flood of
 * generated addresses from one source, an inbound peer's listen address, a configured
 * address, a dial with its outcome (refused, failed before READY, READY with a node ID,
 * WRONG_NODE_ID), a close, time passing, a discouragement, a save and load of the book
 * (addrbook_export as the core saves, addrbook_load_rec into a fresh book as it opens).
 * An address in the input is `kind u8` then its bytes: IPv4, IPv6, IPv4-mapped, one of a
 * table of special addresses (non-routable ranges, ourselves), one already in the book,
 * or an IPv4 address in one of four /16 groups.
 *
 * Oracles, after every operation:
 *  - bounds: at most NODE_MAX_ADDRS slots, 256x16 new and 64x16 tried cells [ADDR-10];
 *  - tried/new consistency: every non-empty cell names a used entry that says it is in
 *    that cell, every entry in a table is in exactly its cell, an entry outside both
 *    tables is configured (no slot is lost: not even one an outbound peer still uses,
 *    which would be lost when its session ends), no two entries have the same address,
 *    the tried table holds only addresses reached [ADDR-10];
 *  - per source group: at most 16 new buckets and 256 entries [ADDR-10];
 *  - without local-network mode no address but a configured one is non-routable, none
 *    has port 0, none is ours [ADDR-9] [DISC-12]; no entry is IPv4-mapped [ADDR-1];
 *  - an add reports the truth: an index holding the address, "known" when it was, a
 *    refusal that leaves it out; a Peers node ID is kept only when 32 bytes [ADDR-7];
 *  - an entry leaves the book only when it was failing, never reached after 3 attempts,
 *    or unseen for 30 days, or when it is the tried entry displaced by a newly reached
 *    one and not in use [ADDR-10]; a READY session leaves its entry reached, with the
 *    node ID proven there when it had none [ADDR-5], and in a table;
 *  - backoff: 1 s, doubling, capped at 1 h (1 min for configured addresses), never
 *    shrinking below the cap, next attempt after now [ADDR-11];
 *  - a dial goes to a configured address first, else at most one new dial per 500 ms, to
 *    an address in a table, not in use, not backing off, not discouraged, in a network
 *    group no outbound peer uses [ADDR-11] [DISC-17]; the outbound target is respected;
 *  - a save and load gives the same entries in the same cells, and the same addresses
 *    discouraged [MIS-13].
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "addrbook.c"
#include "cairn/net.h"
#include "common.h"

/* The oracles' own loops and comparisons give the fuzzer nothing to solve: no coverage
 * callbacks there (clang 13+), only in the book and the harness's input decoding. */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(no_sanitize_coverage)
#define ORACLE __attribute__((no_sanitize_coverage))
#endif
#endif
#ifndef ORACLE
#define ORACLE
#endif

#define MAX_OPS         96
#define MAX_OUTBOUND    8
#define MAX_FLOOD       1024
#define MAX_FLOOD_INPUT 3072 /* generated addresses per input: a source group fills its share */
#define MAX_DISC        64
#define DAY_MS          (86400ULL * 1000)
#define NEW_PER_GROUP   (ADDR_NEW_PER_SOURCE * ADDR_BUCKET_SIZE)

enum {
    OP_PEERS,     /* src, len u16, Peers payload */
    OP_FLOOD,     /* src, count u16, seed u32, mode u8 */
    OP_INBOUND,   /* addr (the session's), listen port u16 */
    OP_CONFIGURE, /* addr, has_id u8, id[32] when odd */
    OP_DIAL,      /* outcome u8 (0x40 with a refusal: connected there already), id[32] */
    OP_CLOSE,     /* which u8 */
    OP_TIME,      /* ms u32, scale u8 */
    OP_DISCOURAGE,
    OP_SAVE_LOAD,
    OP_COUNT
};

static fuzz_env fe; /* the book's allocator (leaks counted), clocks and randomness */

/* ---- the harness's side: outbound peers, discouraged IPs, pacing ------------------ */

typedef struct out_peer {
    int addr_slot;
    struct sockaddr_storage sa;
} out_peer;
static out_peer outbound[MAX_OUTBOUND];
static int n_out;
static uint8_t disc_ip[MAX_DISC][16];
static uint64_t disc_until[MAX_DISC];
static int n_disc_model;
static uint64_t last_new_dial; /* when the last non-configured address was handed out */
static int dialled_new;
static int n_configured;
static int flood_left;
static int local_network;

static struct sockaddr_storage mk4(const uint8_t ip[4], uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    memcpy(&s->sin_addr, ip, 4);
    return ss;
}

static struct sockaddr_storage mk6(const uint8_t ip[16], uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    memcpy(&s->sin6_addr, ip, 16);
    return ss;
}

static socklen_t sa_len(const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Special addresses: non-routable ranges of ADDR-9, mapped forms, and ourselves. */
static const char *const specials[] = {
    "127.0.0.1",       "127.3.4.5",        "10.1.2.3",        "172.16.0.1", "192.168.1.1",
    "100.64.0.1",      "169.254.1.1",      "0.0.0.0",         "224.0.0.1",  "192.0.2.1",
    "198.51.100.7",    "203.0.113.9",      "255.255.255.255", "::1",        "::",
    "fe80::1",         "fc00::1",          "2001:db8::1",     "ff02::1",    "::ffff:10.0.0.1",
    "::ffff:1.2.3.4",  "::ffff:127.0.0.1", "1.2.3.4",         "8.8.8.8",    "2a00:1450::1",
    "2001:4860::8888", "64:ff9b::1.2.3.4", "2002::1",
};
#define N_SPECIALS (sizeof(specials) / sizeof(specials[0]))

static const uint8_t groups16[4][2] = {{1, 2}, {5, 6}, {93, 184}, {151, 101}};

static struct sockaddr_storage read_addr(fuzz_in *in, const node *n)
{
    uint8_t kind = fuzz_u8(in), ip[16];
    uint16_t port;
    size_t got;
    const uint8_t *b;
    memset(ip, 0, sizeof(ip));
    switch (kind % 8) {
    case 0:
        b = fuzz_bytes(in, 4, &got);
        memcpy(ip, b, got);
        return mk4(ip, fuzz_u16(in));
    case 1:
        b = fuzz_bytes(in, 16, &got);
        memcpy(ip, b, got);
        return mk6(ip, fuzz_u16(in));
    case 2: /* ::ffff:a.b.c.d */
        ip[10] = ip[11] = 0xff;
        b = fuzz_bytes(in, 4, &got);
        memcpy(ip + 12, b, got);
        return mk6(ip, fuzz_u16(in));
    case 3: {
        const char *t = specials[fuzz_u8(in) % N_SPECIALS];
        port = kind & 0x80 ? n->cfg.listen_port : fuzz_u16(in);
        if (strchr(t, ':')) {
            FUZZ_CHECK(inet_pton(AF_INET6, t, ip) == 1, "%s", t);
            return mk6(ip, port);
        }
        FUZZ_CHECK(inet_pton(AF_INET, t, ip) == 1, "%s", t);
        return mk4(ip, port);
    }
    case 4: { /* an address of the book, maybe in its IPv4-mapped form */
        int want = fuzz_u8(in), seen = 0;
        for (int i = 0; i < n->n_addrs; i++) {
            if (!n->addrs[i].used || seen++ != want % 64)
                continue;
            struct sockaddr_storage sa = n->addrs[i].sa;
            if ((kind & 0x80) && sa.ss_family == AF_INET) {
                netaddr_ip16(&sa, ip);
                return mk6(ip, netaddr_port(&sa));
            }
            return sa;
        }
        return mk4((const uint8_t[4]){1, 2, 3, 4}, 7317);
    }
    default: { /* one of four /16 groups: collisions within a group */
        const uint8_t *g = groups16[kind >> 6];
        b = fuzz_bytes(in, 2, &got);
        uint8_t v4[4] = {g[0], g[1], got > 0 ? b[0] : 0, got > 1 ? b[1] : 0};
        return mk4(v4, fuzz_u16(in));
    }
    }
}

static int is_mapped(const struct sockaddr_storage *sa)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return sa->ss_family == AF_INET6 &&
           !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, pfx, sizeof(pfx));
}

/* Where the book holds an address: an index of (address, slot) records kept by the
 * harness, a superset of the book (stale records are told apart by looking at the slot),
 * so that a lookup costs no scan of the book. Records come from every add, and the index
 * is rebuilt from the book when it fills up or the book was loaded. */
enum { IX = 32768 };
static uint64_t ix_key[IX];
static int ix_slot[IX];
static uint32_t ix_gen[IX], ix_cur;
static int ix_used;

ORACLE static uint64_t addr_key(const struct sockaddr_storage *sa);

ORACLE static void ix_note(const node *n, int slot)
{
    uint64_t k = addr_key(&n->addrs[slot].sa);
    for (uint32_t h = (uint32_t)(k >> 40);; h++) {
        uint32_t i = h % IX;
        if (ix_gen[i] != ix_cur) {
            ix_gen[i] = ix_cur;
            ix_key[i] = k;
            ix_slot[i] = slot;
            ix_used++;
            return;
        }
        if (ix_key[i] == k && ix_slot[i] == slot)
            return;
    }
}

ORACLE static void ix_rebuild(const node *n)
{
    ix_cur++;
    ix_used = 0;
    for (int i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].used)
            ix_note(n, i);
}

ORACLE static int find_addr(const node *n, const struct sockaddr_storage *sa)
{
    struct sockaddr_storage norm = *sa;
    socklen_t len = sa_len(sa);
    netaddr_normalise(&norm, &len);
    uint64_t k = addr_key(&norm);
    for (uint32_t h = (uint32_t)(k >> 40);; h++) {
        uint32_t i = h % IX;
        if (ix_gen[i] != ix_cur)
            return -1;
        int s = ix_slot[i];
        if (ix_key[i] == k && s < n->n_addrs && n->addrs[s].used &&
            netaddr_same(&n->addrs[s].sa, &norm))
            return s;
    }
}

/* ours: our listen port at our listen IP, or at a loopback IP (we listen there too) [DISC-12] */
ORACLE static int is_ours(const node *n, const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    if (netaddr_port(sa) != n->cfg.listen_port)
        return 0;
    if (n->cfg.listen_sa.ss_family && netaddr_same_ip(sa, &n->cfg.listen_sa))
        return 1;
    netaddr_ip16(sa, ip);
    static const uint8_t lo6[16] = {[15] = 1};
    return (ip[10] == 0xff && ip[11] == 0xff && ip[12] == 127) || !memcmp(ip, lo6, 16);
}

ORACLE static int model_discouraged(const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    for (int i = 0; i < n_disc_model; i++)
        if (disc_until[i] > fe.now && !memcmp(disc_ip[i], ip, 16))
            return 1;
    return 0;
}

/* ---- invariants ------------------------------------------------------------------ */

/* Open-addressing tables stamped with a generation, so that a check costs no clearing. */
enum { HT = 16384 };
static uint32_t ht_gen, addr_gen[HT], grp_gen[HT];
static int addr_at[HT], grp_at[HT];
static uint64_t grp_key[HT];

ORACLE static uint64_t addr_key(const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    uint64_t h = 1469598103934665603ull;
    netaddr_ip16(sa, ip);
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 1099511628211ull;
    return (h ^ netaddr_port(sa)) * 1099511628211ull;
}

/* The index of an earlier entry with the address of entry i, or -1 (and i is noted). */
ORACLE static int seen_before(const node *n, int i)
{
    for (uint64_t h = addr_key(&n->addrs[i].sa);; h++) {
        uint32_t k = (uint32_t)(h % HT);
        if (addr_gen[k] != ht_gen) {
            addr_gen[k] = ht_gen;
            addr_at[k] = i;
            return -1;
        }
        if (netaddr_same(&n->addrs[addr_at[k]].sa, &n->addrs[i].sa))
            return addr_at[k];
    }
}

/* The slot of source group g among the first `ng`, or ng when new (then noted as ng). */
ORACLE static int group_slot(uint64_t g, int ng)
{
    uint32_t base = (uint32_t)((g * 0x9e3779b97f4a7c15ull) >> 50);
    for (uint32_t probe = 0;; probe++) {
        uint32_t k = (base + probe) % HT;
        if (grp_gen[k] != ht_gen) {
            grp_gen[k] = ht_gen;
            grp_key[k] = g;
            grp_at[k] = ng;
            return ng;
        }
        if (grp_key[k] == g)
            return grp_at[k];
    }
}

ORACLE static void check_book(node *n)
{
    ht_gen++;
    FUZZ_CHECK(n->n_addrs >= 0 && n->n_addrs <= NODE_MAX_ADDRS, "%d slots", n->n_addrs);
    static int in_new, in_tried;
    in_new = in_tried = 0;
    /* every non-empty cell names a used entry that says it sits there */
    for (int t = 1; t <= 2; t++) {
        int buckets = t == 2 ? ADDR_TRIED_BUCKETS : ADDR_NEW_BUCKETS;
        for (int b = 0; b < buckets; b++)
            for (int p = 0; p < ADDR_BUCKET_SIZE; p++) {
                int c = t == 2 ? n->tried_tab[b][p] : n->new_tab[b][p];
                if (!c)
                    continue;
                FUZZ_CHECK(c >= 1 && c <= n->n_addrs, "cell %d/%d/%d holds %d", t, b, p, c);
                const addr_entry *a = &n->addrs[c - 1];
                FUZZ_CHECK(a->used && a->table == t && a->bucket == b && a->pos == p,
                           "cell %d/%d/%d names entry %d (used %d, table %d/%d/%d)", t, b, p, c - 1,
                           a->used, a->table, a->bucket, a->pos);
                if (t == 2)
                    in_tried++;
                else
                    in_new++;
            }
    }
    /* per source group: the new buckets it reached and its entries */
    enum { MAXG = ADDR_NEW_BUCKETS * ADDR_BUCKET_SIZE };
    static uint64_t gkey[MAXG];
    static int gcount[MAXG];
    static uint32_t gbuckets[MAXG][ADDR_NEW_BUCKETS / 32];
    int ng = 0, entries_in_tables = 0, used = 0;
    for (int i = 0; i < n->n_addrs; i++) {
        const addr_entry *a = &n->addrs[i];
        if (!a->used)
            continue;
        FUZZ_CHECK(a->table >= 0 && a->table <= 2, "entry %d table %d", i, a->table);
        if (a->table) {
            int c = a->table == 2 ? n->tried_tab[a->bucket][a->pos] : n->new_tab[a->bucket][a->pos];
            FUZZ_CHECK(c == i + 1, "entry %d says table %d cell %d/%d, which holds %d", i, a->table,
                       a->bucket, a->pos, c);
            entries_in_tables++;
        } else {
            FUZZ_CHECK(a->configured,
                       "entry %d (in use %d) is in neither table and not configured: its slot "
                       "and its address are lost, now or when its session ends (it blocks the "
                       "address from being learned again) [ADDR-10]",
                       i, a->connected);
        }
        FUZZ_CHECK(a->table != 2 || a->last_seen_ms, "entry %d in tried was never reached", i);
        FUZZ_CHECK(a->sa.ss_family == AF_INET || a->sa.ss_family == AF_INET6, "family");
        FUZZ_CHECK(a->salen == sa_len(&a->sa), "entry %d length %u", i, (unsigned)a->salen);
        FUZZ_CHECK(!is_mapped(&a->sa), "entry %d kept the IPv4-mapped form [ADDR-1]", i);
        FUZZ_CHECK(netaddr_port(&a->sa) != 0, "entry %d has port 0 [ADDR-9]", i);
        if (!a->configured) {
            char text[64];
            cairn_net_format_addr((const struct sockaddr *)&a->sa, text, sizeof(text));
            FUZZ_CHECK(local_network || netaddr_routable(&a->sa),
                       "entry %d (%s, table %d) not routable without local-network mode [ADDR-9]",
                       i, text, a->table);
            FUZZ_CHECK(!is_ours(n, &a->sa), "entry %d is our own address [DISC-12]", i);
        }
        int other = seen_before(n, i);
        FUZZ_CHECK(other < 0, "entries %d and %d have one address", other, i);
        FUZZ_CHECK(ix_find(n, &a->sa) == i, "entry %d not found by its address (index says %d)", i,
                   ix_find(n, &a->sa));
        used++;
        if (a->table != 1)
            continue;
        int g = group_slot(a->src_group, ng);
        if (g == ng) {
            FUZZ_CHECK(ng < MAXG, "too many source groups");
            gkey[ng] = a->src_group;
            gcount[ng] = 0;
            memset(gbuckets[ng], 0, sizeof(gbuckets[ng]));
            ng++;
        }
        gcount[g]++;
        gbuckets[g][a->bucket / 32] |= 1u << (a->bucket % 32);
    }
    FUZZ_CHECK(entries_in_tables == in_new + in_tried, "%d entries in tables, %d cells used",
               entries_in_tables, in_new + in_tried);
    /* the index by address: every used entry once, nothing else, at most half full;
     * no unused slot below the free-slot hint */
    int indexed = 0;
    for (uint32_t k = 0; k < n->ix_cap; k++) {
        int s = n->ix[k];
        FUZZ_CHECK(s >= 0 && s <= n->n_addrs && (!s || n->addrs[s - 1].used),
                   "index cell %u holds %d", k, s);
        indexed += s != 0;
    }
    FUZZ_CHECK(indexed == used && (!used || 2 * (uint32_t)used <= n->ix_cap),
               "%d entries, %d in an index of %u", used, indexed, n->ix_cap);
    for (int i = 0; i < n->free_hint && i < n->n_addrs; i++)
        FUZZ_CHECK(n->addrs[i].used, "slot %d unused below the hint %d", i, n->free_hint);
    for (int g = 0; g < ng; g++) {
        int nb = 0;
        for (int w = 0; w < ADDR_NEW_BUCKETS / 32; w++)
            nb += __builtin_popcount(gbuckets[g][w]);
        FUZZ_CHECK(nb <= ADDR_NEW_PER_SOURCE && gcount[g] <= NEW_PER_GROUP,
                   "source group %llx reaches %d new buckets with %d entries [ADDR-10]",
                   (unsigned long long)gkey[g], nb, gcount[g]);
    }
}

/* What an entry was before an operation, to see what left (the fields that matter). */
typedef struct kept {
    struct sockaddr_in6 sa; /* an IPv4 address fits too */
    uint8_t used, table, configured, connected;
    int failures;
    uint64_t last_seen_ms;
} kept;
static kept before[NODE_MAX_ADDRS];
static int before_n;

ORACLE static void snapshot(const node *n)
{
    before_n = n->n_addrs;
    for (int i = 0; i < before_n; i++) {
        const addr_entry *a = &n->addrs[i];
        kept *k = &before[i];
        k->used = (uint8_t)a->used;
        if (!a->used)
            continue;
        memcpy(&k->sa, &a->sa, sizeof(k->sa));
        k->table = (uint8_t)a->table;
        k->configured = (uint8_t)a->configured;
        k->connected = (uint8_t)a->connected;
        k->failures = a->failures;
        k->last_seen_ms = a->last_seen_ms;
    }
}

/* [ADDR-10] an entry that may give way, in the spec's words */
ORACLE static int may_give_way(const kept *a)
{
    if (a->configured || a->connected)
        return 0;
    return (a->failures >= 3 && a->last_seen_ms == 0) || a->failures >= 10 ||
           (a->last_seen_ms && fe.wall - a->last_seen_ms > 30 * DAY_MS);
}

/* Entries that left during the operation: each could give way; `displaced` of them
 * (a tried entry pushed back by a newly reached one) need not have. */
ORACLE static void check_departures(const node *n, int displaced)
{
    for (int i = 0; i < before_n; i++) {
        const kept *b = &before[i];
        struct sockaddr_storage sa;
        if (!b->used)
            continue;
        memset(&sa, 0, sizeof(sa));
        memcpy(&sa, &b->sa, sizeof(b->sa));
        if (n->addrs[i].used && netaddr_same(&n->addrs[i].sa, &sa))
            continue;
        if (find_addr(n, &sa) >= 0)
            continue; /* moved (never happens today, but would be fine) */
        if (may_give_way(b))
            continue;
        FUZZ_CHECK(displaced > 0 && b->table == 2 && !b->connected,
                   "entry %d (table %d, failures %d, last seen %llu, configured %d, connected "
                   "%d) left the book without being failing, unreached or stale [ADDR-10]",
                   i, b->table, b->failures, (unsigned long long)b->last_seen_ms, b->configured,
                   b->connected);
        displaced--;
    }
}

/* ---- driver glue: what the node core does with the book (core.c, msg.c) ----------- */

/* An add and what it says: the index holds the address, "known" means it was there
 * already, a refusal leaves it out. Returns the add's result. */
static int add_checked(node *n, const struct sockaddr_storage *sa, uint64_t services,
                       const uint8_t *id, const struct sockaddr_storage *src, int configured)
{
    int was = find_addr(n, sa);
    int rv = configured ? addrbook_add(n, sa, sa_len(sa), 1, services, 0, id)
                        : addrbook_add_from(n, sa, sa_len(sa), services, id, src);
    if (rv >= 0)
        ix_note(n, rv);
    if (ix_used > IX / 2)
        ix_rebuild(n);
    int now_at = find_addr(n, sa);
    if (rv >= 0) {
        FUZZ_CHECK(was < 0 && now_at == rv, "add returned %d: was %d, now %d", rv, was, now_at);
        FUZZ_CHECK(!id || (n->addrs[rv].has_id && !memcmp(n->addrs[rv].node_id, id, 32)),
                   "the node ID of a new entry was not kept [ADDR-7]");
        FUZZ_CHECK(id || !n->addrs[rv].has_id, "a node ID out of nowhere");
        FUZZ_CHECK(n->addrs[rv].services == services, "services not kept");
        FUZZ_CHECK(addrbook_dirty(n), "a new entry not marked for saving");
    } else if (rv == -2) {
        FUZZ_CHECK(was >= 0 && now_at == was, "\"known\" for an address it did not have");
    } else {
        FUZZ_CHECK(rv == -1, "add returned %d", rv);
        FUZZ_CHECK(now_at == was, "a refused add changed the entry (%d -> %d)", was, now_at);
    }
    if (configured) /* the book keeps NODE_MAX_CONFIGURED slots beyond its cells */
        FUZZ_CHECK(rv != -1 || netaddr_port(sa) == 0 || free_slot(n) < 0,
                   "a configured address was refused with slots free");
    return rv;
}

/* msg.c's Peers handler: each PeerAddress of a validated Peers answer */
static void glue_peers(node *n, const Cairn__V1__Peers *m, const struct sockaddr_storage *src)
{
    for (size_t i = 0; i < m->n_peers; i++) {
        const Cairn__V1__PeerAddress *a = m->peers[i];
        struct sockaddr_storage sa = a->ip.len == 4 ? mk4(a->ip.data, (uint16_t)a->port)
                                                    : mk6(a->ip.data, (uint16_t)a->port);
        FUZZ_CHECK(a->ip.len == 4 || a->ip.len == 16, "a validated PeerAddress ip of %zu bytes",
                   a->ip.len);
        add_checked(n, &sa, a->services, a->node_id.len == CAIRN_HASH_LEN ? a->node_id.data : NULL,
                    src, 0);
    }
}

/* core.c learn_listen_addr: an inbound peer that announced its listen port [DISC-11] */
static void glue_inbound(node *n, struct sockaddr_storage sa, uint16_t port, const uint8_t *id)
{
    struct sockaddr_storage src = sa;
    if (sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons(port);
    int slot = add_checked(n, &sa, 1, id, &src, 0);
    if (slot >= 0) {
        addrbook_seen(n, slot, fe.wall); /* [DISC-9] */
        FUZZ_CHECK(n->addrs[slot].configured || n->addrs[slot].last_seen_ms == fe.wall,
                   "an inbound peer's address not marked reached");
    }
}

/* addrbook_failed with the backoff oracle [ADDR-11] */
static void failed_checked(node *n, int slot)
{
    addr_entry *a = &n->addrs[slot];
    uint32_t old = a->backoff_ms, cap = a->configured ? 60000 : 3600000;
    uint32_t want = old ? (old > cap / 2 ? cap : old * 2) : (1000 < cap ? 1000 : cap);
    addrbook_failed(n, slot);
    FUZZ_CHECK(a->backoff_ms == want, "backoff %u after %u, want %u [ADDR-11]", a->backoff_ms, old,
               want);
    FUZZ_CHECK(a->backoff_ms >= (old < cap ? old : cap), "backoff shrank");
    FUZZ_CHECK(a->next_try_ms == fe.now + a->backoff_ms, "next attempt not after the backoff");
}

/* core.c peer_free for an outbound peer (addrbook_disconnected) */
static void glue_close(node *n, int k, int was_ready)
{
    int slot = outbound[k].addr_slot;
    addr_entry *a = &n->addrs[slot];
    FUZZ_CHECK(a->used && a->connected, "the entry of an outbound peer went away");
    uint32_t old = a->backoff_ms, cap = a->configured ? 60000 : 3600000;
    uint32_t want = was_ready ? old : old ? (old > cap / 2 ? cap : old * 2) : 1000;
    int failures = a->failures;
    addrbook_disconnected(n, slot, was_ready);
    FUZZ_CHECK(!a->connected, "the entry is still in use after its session ended");
    FUZZ_CHECK(a->backoff_ms == want && a->backoff_ms <= cap,
               "backoff %u after %u (ready %d), want %u [ADDR-11]", a->backoff_ms, old, was_ready,
               want);
    FUZZ_CHECK(a->failures == failures + !was_ready, "failures %d after %d (ready %d)", a->failures,
               failures, was_ready);
    FUZZ_CHECK(a->next_try_ms == fe.now + a->backoff_ms, "next attempt not after the backoff");
    /* an entry whose session ended is in a table, or configured: else it is lost */
    FUZZ_CHECK(a->table || a->configured,
               "entry %d in no table after its session ended: never dialled again [ADDR-10]", slot);
    outbound[k] = outbound[--n_out];
}

/* core.c dial_targets, cairn_node_dial_done/failed, on_peer_auth's WRONG_NODE_ID check
 * and on_ready for an outbound peer */
static void glue_dial(node *n, uint8_t outcome, const uint8_t id[32])
{
    int configured_due = 0;
    for (int i = 0; i < n->n_addrs; i++) {
        const addr_entry *a = &n->addrs[i];
        configured_due |= a->used && a->configured && !a->connected && a->next_try_ms <= fe.now;
    }
    uint64_t groups[MAX_OUTBOUND];
    for (int k = 0; k < n_out; k++)
        groups[k] = netaddr_group(&outbound[k].sa);
    int slot = addrbook_select(n, groups, n_out, n_out);
    if (slot < 0) {
        FUZZ_CHECK(!configured_due, "a configured address is due and none was dialled");
        return;
    }
    FUZZ_CHECK(slot < n->n_addrs, "select returned %d of %d", slot, n->n_addrs);
    addr_entry *a = &n->addrs[slot];
    FUZZ_CHECK(a->used && !a->connected && a->next_try_ms <= fe.now,
               "dial to an entry unused, in use or backing off [ADDR-11]");
    socklen_t len = 0;
    FUZZ_CHECK(addrbook_addr(n, slot, &len) == &a->sa && len == a->salen &&
                   addrbook_is_configured(n, slot) == (a->configured != 0),
               "the entry's address or origin misreported");
    if (configured_due) {
        FUZZ_CHECK(a->configured, "a configured address comes first [DISC-17]");
    } else {
        FUZZ_CHECK(a->table, "a dial to an address in no table");
        FUZZ_CHECK(n_out < n->cfg.outbound_target, "dial beyond the outbound target");
        FUZZ_CHECK(!dialled_new || fe.now >= last_new_dial + 500,
                   "two new dials %llu ms apart [ADDR-11]",
                   (unsigned long long)(fe.now - last_new_dial));
        FUZZ_CHECK(!model_discouraged(&a->sa), "dial to a discouraged address");
        for (int k = 0; k < n_out; k++)
            FUZZ_CHECK(groups[k] != netaddr_group(&a->sa),
                       "dial into a network group an outbound peer uses [DISC-17]");
        dialled_new = 1;
        last_new_dial = fe.now;
    }
    if (outcome % 4 == 0 && (outcome & 0x40)) { /* connected there already: retry in 5 s */
        addrbook_retry_at(n, slot, fe.now + 5000);
        FUZZ_CHECK(a->next_try_ms == fe.now + 5000, "retry_at not kept");
        return;
    }
    if (outcome % 4 == 0 || n_out == MAX_OUTBOUND) { /* the connect fails */
        failed_checked(n, slot);
        return;
    }
    out_peer *p = &outbound[n_out++];
    memset(p, 0, sizeof(*p));
    p->addr_slot = slot;
    p->sa = a->sa;
    addrbook_set_connected(n, slot, 1);
    FUZZ_CHECK(a->connected, "set_connected did not mark the entry");
    if (outcome % 4 == 1) { /* the session ends before READY */
        glue_close(n, n_out - 1, 0);
        return;
    }
    /* [ADDR-3] [ADDR-8] the peer's Auth verifies for `id` */
    int had_id = a->has_id, mismatches = a->id_mismatches;
    int other = had_id && memcmp(a->node_id, id, 32) != 0;
    FUZZ_CHECK(addrbook_id_matches(n, slot, id) == !other, "id_matches disagrees");
    uint32_t code = addrbook_check_id(n, slot, id);
    FUZZ_CHECK(code == (other ? CAIRN_E_WRONG_NODE_ID : 0u), "check_id gave %u (other node %d)",
               code, other);
    if (code) {
        FUZZ_CHECK(a->id_mismatches == mismatches + 1, "WRONG_NODE_ID not counted [ADDR-8]");
        FUZZ_CHECK(a->configured || a->id_mismatches < 3 || a->next_try_ms == UINT64_MAX,
                   "dialled again after 3 WRONG_NODE_ID [ADDR-8]");
        glue_close(n, n_out - 1, 0);
        return;
    }
    uint8_t kept_id[32];
    memcpy(kept_id, a->node_id, 32);
    /* READY: the entry is reached [ADDR-10] [ADDR-5] */
    snapshot(n);
    addrbook_good(n, slot, fe.wall, 1, id);
    check_departures(n, 1);
    FUZZ_CHECK(a->used && a->connected, "a reached entry left the book");
    FUZZ_CHECK(a->table || a->configured, "a reached entry is in no table");
    FUZZ_CHECK(a->failures == 0 && a->backoff_ms == 0, "backoff not reset after READY");
    FUZZ_CHECK(a->last_seen_ms == fe.wall && a->services == 1 && a->id_mismatches == 0,
               "a READY session not recorded [ADDR-8]");
    FUZZ_CHECK(a->has_id && !memcmp(a->node_id, had_id ? kept_id : id, 32),
               "the node ID proven at an address not recorded, or a known one changed [ADDR-5]");
    if (outcome & 0x80) /* and ends at once */
        glue_close(n, n_out - 1, 1);
}

/* ---- save and load ----------------------------------------------------------------- */

static node *new_book(const addrbook_config *cfg)
{
    node *b = NULL;
    FUZZ_CHECK(addrbook_new(&b, cfg) == 0 && b, "addrbook_new");
    return b;
}

/* core.c saves what addrbook_export gives (table entries) and a new core loads each
 * record with addrbook_load_rec. */
static void save_load(node *n)
{
    size_t max = addrbook_count(n);
    cairn_node_addr_rec *recs = cairn_mem_calloc(&fe.mem, max ? max : 1, sizeof(*recs));
    FUZZ_CHECK(recs, "calloc");
    size_t k = addrbook_export(n, recs, max, 0, 1);
    FUZZ_CHECK(k <= max, "export gave %zu of %zu", k, max);
    addrbook_clean(n);
    FUZZ_CHECK(!addrbook_dirty(n), "still dirty after clean");
    node *l = new_book(&n->cfg);
    for (size_t i = 0; i < k; i++)
        addrbook_load_rec(l, &recs[i]);
    cairn_mem_free(&fe.mem, recs);
    ix_rebuild(l);
    check_book(l);
    /* every entry in a table comes back, in the same cell (same key, same order) */
    int saved = 0;
    for (int i = 0; i < n->n_addrs; i++) {
        const addr_entry *a = &n->addrs[i];
        if (!a->used || !a->table)
            continue;
        if ((!local_network && !netaddr_routable(&a->sa)) || is_ours(n, &a->sa)) {
            /* a --peer's address that is private [ADDR-9] or ours [DISC-12]: not learned */
            FUZZ_CHECK(a->configured, "entry %d not routable or ours", i);
            FUZZ_CHECK(find_addr(l, &a->sa) < 0, "a --peer's address was loaded as learned");
            continue;
        }
        saved++;
        int j = find_addr(l, &a->sa);
        FUZZ_CHECK(j >= 0, "entry %d did not come back from the saved records", i);
        const addr_entry *b = &l->addrs[j];
        FUZZ_CHECK(b->table == a->table && b->bucket == a->bucket && b->pos == a->pos,
                   "entry %d came back in another cell", i);
        FUZZ_CHECK(b->last_seen_ms == a->last_seen_ms && b->services == a->services &&
                       b->src_group == a->src_group && b->has_id == a->has_id &&
                       (!a->has_id || !memcmp(a->node_id, b->node_id, 32)) && !b->configured &&
                       !b->connected,
                   "entry %d came back different", i);
    }
    int loaded = (int)addrbook_count(l);
    FUZZ_CHECK(loaded == saved, "%d entries saved, %d loaded", saved, loaded);
    /* [MIS-13] the discouraged addresses come back, each until its own expiry */
    size_t dmax = (size_t)n->n_disc;
    cairn_node_disc_rec *drecs = cairn_mem_calloc(&fe.mem, dmax ? dmax : 1, sizeof(*drecs));
    FUZZ_CHECK(drecs, "calloc");
    size_t kd = addrbook_disc_export(n, drecs, dmax);
    FUZZ_CHECK(kd <= dmax, "disc export gave %zu of %zu", kd, dmax);
    addrbook_disc_clean(n);
    FUZZ_CHECK(!addrbook_disc_dirty(n), "discouragement still dirty after clean");
    for (size_t i = 0; i < kd; i++)
        addrbook_disc_load_rec(l, &drecs[i]);
    cairn_mem_free(&fe.mem, drecs);
    for (int i = 0; i < n_disc_model; i++) {
        if (disc_until[i] <= fe.now)
            continue;
        struct sockaddr_storage sa = mk6(disc_ip[i], 7317);
        FUZZ_CHECK(addrbook_is_discouraged(l, &sa, NULL),
                   "a discouraged address was not discouraged after save and load [MIS-13]");
    }
    addrbook_del(l);
    ix_rebuild(n);
}

/* ---- the run ----------------------------------------------------------------------- */

static node *setup(fuzz_in *in)
{
    uint8_t flags = fuzz_u8(in);
    addrbook_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.env = &fe.env;
    cfg.key = fuzz_u64(in);
    cfg.local_network = local_network = flags & 1;
    cfg.outbound_target = 1 + ((flags >> 3) & 7);
    cfg.discourage_ms = 24 * 3600 * 1000;
    cfg.listen_port = 7317;
    static const uint8_t lo[4] = {127, 0, 0, 1}, any[4] = {0}, pub[4] = {198, 51, 100, 7};
    switch ((flags >> 1) & 3) {
    case 1:
        cfg.listen_sa = mk4(lo, 7317);
        break;
    case 2:
        cfg.listen_sa = mk4(any, 7317);
        break;
    case 3:
        cfg.listen_sa = mk4(pub, 7317);
        break;
    default:
        break;
    }
    node *n = new_book(&cfg);
    ix_rebuild(n);
    flood_left = MAX_FLOOD_INPUT;
    n_out = n_disc_model = n_configured = dialled_new = 0;
    last_new_dial = 0;
    return n;
}

static void op_peers(node *n, fuzz_in *in)
{
    struct sockaddr_storage src = read_addr(in, n);
    size_t len = fuzz_u16(in), got;
    const uint8_t *p = fuzz_bytes(in, len, &got);
    cairn_msg_decoder d;
    ProtobufCMessage *m = NULL;
    cairn_msg_decoder_init(&d, &fe.mem);
    if (cairn_msg_decode(&d, CAIRN_T_PEERS, p, got, &m) == 0) { /* else the session closes */
        snapshot(n);
        glue_peers(n, (const Cairn__V1__Peers *)m, &src);
        check_departures(n, 0);
    }
    cairn_msg_decoder_free(&d);
}

/* Many addresses from one source: fills buckets, reaches the per-group bounds. */
static void op_flood(node *n, fuzz_in *in)
{
    struct sockaddr_storage src = read_addr(in, n);
    int count = 1 + fuzz_u16(in) % MAX_FLOOD;
    if (count > flood_left)
        count = flood_left;
    flood_left -= count;
    uint64_t x = fuzz_u32(in) | 1ull << 40;
    uint8_t mode = fuzz_u8(in);
    snapshot(n);
    for (int i = 0; i < count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint8_t ip[32] = {0};
        memcpy(ip, &x, 8);
        memcpy(ip + 8, &x, 8);
        if (mode & 1) { /* one /16 group */
            ip[0] = groups16[(mode >> 1) & 3][0];
            ip[1] = groups16[(mode >> 1) & 3][1];
        }
        struct sockaddr_storage sa =
            (mode & 4) ? mk6(ip, (uint16_t)(x >> 48) | 1) : mk4(ip, (uint16_t)(x >> 48) | 1);
        add_checked(n, &sa, x >> 56, (mode & 8) ? ip : NULL, &src, 0);
    }
    check_departures(n, 0);
}

/* Up to `n` input bytes into `out` (the rest stays as it was). */
static void take(uint8_t *out, fuzz_in *in, size_t n)
{
    size_t got;
    const uint8_t *p = fuzz_bytes(in, n, &got);
    memcpy(out, p, got);
}

static void run_op(node *n, fuzz_in *in)
{
    uint8_t op = fuzz_u8(in) % OP_COUNT, id[32];
    switch (op) {
    case OP_PEERS:
        op_peers(n, in);
        break;
    case OP_FLOOD:
        op_flood(n, in);
        break;
    case OP_INBOUND: {
        struct sockaddr_storage sa = read_addr(in, n);
        uint16_t port = fuzz_u16(in);
        memset(id, 0, sizeof(id));
        take(id, in, 4);
        snapshot(n);
        glue_inbound(n, sa, port, id);
        check_departures(n, 0);
        break;
    }
    case OP_CONFIGURE: { /* --peer [NODEID@]HOST:PORT: at most NODE_MAX_CONFIGURED */
        struct sockaddr_storage sa = read_addr(in, n);
        uint8_t has_id = fuzz_u8(in);
        memset(id, 0, sizeof(id));
        if (has_id & 1)
            take(id, in, 32);
        if (n_configured >= NODE_MAX_CONFIGURED || netaddr_port(&sa) == 0)
            break;
        n_configured++;
        snapshot(n);
        add_checked(n, &sa, 0, (has_id & 1) ? id : NULL, NULL, 1);
        check_departures(n, 0);
        break;
    }
    case OP_DIAL: {
        uint8_t outcome = fuzz_u8(in);
        memset(id, 0, sizeof(id));
        take(id, in, 2);
        glue_dial(n, outcome, id);
        break;
    }
    case OP_CLOSE:
        if (n_out)
            glue_close(n, fuzz_u8(in) % n_out, 1);
        break;
    case OP_TIME: {
        uint64_t ms = fuzz_u32(in);
        uint8_t scale = fuzz_u8(in);
        ms = scale & 1 ? ms % 5000 : scale & 2 ? ms % (40 * DAY_MS) : ms % 4000000;
        fe.now += ms;
        fe.wall += ms;
        break;
    }
    case OP_DISCOURAGE: {
        struct sockaddr_storage sa = read_addr(in, n);
        if (n_disc_model == MAX_DISC)
            break;
        addrbook_discourage(n, &sa, NULL);
        FUZZ_CHECK(addrbook_disc_dirty(n), "a discouragement not marked for saving");
        netaddr_ip16(&sa, disc_ip[n_disc_model]);
        disc_until[n_disc_model++] = fe.now + n->cfg.discourage_ms;
        FUZZ_CHECK(addrbook_is_discouraged(n, &sa, NULL), "a discouraged address is not");
        break;
    }
    case OP_SAVE_LOAD:
        save_load(n);
        break;
    default:
        break;
    }
    check_book(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, data + size};
    fuzz_env_init(&fe, 1);
    node *n = setup(&in);
    for (int k = 0; k < MAX_OPS && fuzz_left(&in); k++)
        run_op(n, &in);
    addrbook_del(n);
    FUZZ_CHECK(fe.live == 0, "%ld allocations leaked", fe.live);
    return 0;
}
