/*
 * The address book (spec §12) and discouragement (§13.1): addresses we may
 * dial, and the peers we refuse for a while after they broke a MUST. The
 * driver persists them (cairn_node_store); this file owns the tables.
 */
#include "addrbook.h"

typedef struct addr_entry {
    struct sockaddr_storage sa;
    socklen_t salen;
    uint64_t last_seen_ms; /* last successful handshake (wall clock), 0 = never */
    uint64_t next_try_ms;  /* monotonic */
    uint32_t backoff_ms;
    uint64_t services;
    int configured;                  /* from --peer: always a target */
    uint8_t node_id[CAIRN_HASH_LEN]; /* [ADDR-3] who must answer here, when has_id */
    int has_id;
    int id_mismatches; /* consecutive WRONG_NODE_ID closes */
    int used;          /* the slot holds an address */
    int table;         /* [ADDR-10] 0: configured only, 1: new, 2: tried */
    int bucket, pos;
    uint64_t src_group; /* network group of the peer that told us (new table) */
    int failures;       /* dial attempts since the last success */
    int connected;      /* an outbound peer uses it now */
} addr_entry;

typedef struct discouraged {
    uint8_t ip[16];
    uint8_t node_id[CAIRN_HASH_LEN];
    int has_id;
    uint64_t until_ms;
} discouraged;

struct addrbook {
    addrbook_config cfg;
    addr_entry *addrs; /* grows up to NODE_MAX_ADDRS */
    int n_addrs;       /* high-water mark of addrs[]; slots below may be unused */
    int cap_addrs;
    int free_hint; /* no unused slot below it */
    /* The entries by address: open addressing, linear probing on addr_hash;
     * slot + 1, 0 = empty; ix_cap a power of two >= 2 * n_addrs. */
    int *ix;
    uint32_t ix_cap;
    int new_tab[ADDR_NEW_BUCKETS][ADDR_BUCKET_SIZE];     /* entry index + 1, 0 = empty */
    int tried_tab[ADDR_TRIED_BUCKETS][ADDR_BUCKET_SIZE]; /* entry index + 1, 0 = empty */
    uint64_t next_dial_ms;                               /* [ADDR-11] pace of new dials */
    int addrs_dirty;
    discouraged *disc;
    int n_disc, cap_disc;
    int disc_dirty;
};

typedef addrbook node; /* the functions below keep their names and shapes */

static uint64_t node_now(const addrbook *b)
{
    return b->cfg.env->mono_ms(b->cfg.env->ud);
}

static uint64_t node_wall(const addrbook *b)
{
    return b->cfg.env->wall_ms(b->cfg.env->ud);
}

int addrbook_new(addrbook **out, const addrbook_config *cfg)
{
    addrbook *b = cairn_mem_calloc(cfg->env->mem, 1, sizeof(*b));
    *out = b;
    if (!b)
        return CAIRN_ERR_NOMEM;
    b->cfg = *cfg;
    return 0;
}

void addrbook_del(addrbook *b)
{
    if (!b)
        return;
    const cairn_mem *mem = b->cfg.env->mem;
    cairn_mem_free(mem, b->addrs);
    cairn_mem_free(mem, b->ix);
    cairn_mem_free(mem, b->disc);
    cairn_mem_free(mem, b);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return netaddr_same(a, b);
}

/* ---- buckets [ADDR-10] ------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

static uint64_t addr_hash(const node *n, const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    uint64_t h = n->cfg.key, w;
    for (int i = 0; i < 16; i += 8) {
        memcpy(&w, ip + i, 8);
        h = mix(h, w);
    }
    return mix(h, netaddr_port(sa));
}

/* A source group reaches ADDR_NEW_PER_SOURCE of the new buckets, whatever it sends. */
static int new_bucket(const node *n, uint64_t src_group, const struct sockaddr_storage *sa)
{
    uint64_t sub = mix(mix(n->cfg.key, netaddr_group(sa)), src_group) % ADDR_NEW_PER_SOURCE;
    return (int)(mix(mix(n->cfg.key ^ 1, src_group), sub) % ADDR_NEW_BUCKETS);
}

static int tried_bucket(const node *n, const struct sockaddr_storage *sa)
{
    uint64_t sub = addr_hash(n, sa) % ADDR_TRIED_PER_GROUP;
    return (int)(mix(mix(n->cfg.key ^ 2, netaddr_group(sa)), sub) % ADDR_TRIED_BUCKETS);
}

static int bucket_pos(const node *n, int table, int bucket, const struct sockaddr_storage *sa)
{
    return (int)(mix(addr_hash(n, sa) ^ (uint64_t)table, (uint64_t)bucket) % ADDR_BUCKET_SIZE);
}

/* ---- the index by address ------------------------------------------------------ */

static uint32_t ix_home(const node *n, const struct sockaddr_storage *sa)
{
    return (uint32_t)addr_hash(n, sa) & (n->ix_cap - 1);
}

/* The slot holding `sa` (normalised), or -1. */
static int ix_find(const node *n, const struct sockaddr_storage *sa)
{
    if (!n->ix_cap)
        return -1;
    for (uint32_t i = ix_home(n, sa);; i = (i + 1) & (n->ix_cap - 1)) {
        int s = n->ix[i];
        if (!s)
            return -1;
        if (same_addr(&n->addrs[s - 1].sa, sa))
            return s - 1;
    }
}

static void ix_insert(node *n, int slot)
{
    uint32_t i = ix_home(n, &n->addrs[slot].sa);
    while (n->ix[i])
        i = (i + 1) & (n->ix_cap - 1);
    n->ix[i] = slot + 1;
}

/* Takes `slot` (still holding its address) out; the entries after it in its
 * probe run move back so that every lookup still finds them (Knuth's
 * deletion for linear probing, vol. 3, 6.4, algorithm R). */
static void ix_remove(node *n, int slot)
{
    uint32_t mask = n->ix_cap - 1, i = ix_home(n, &n->addrs[slot].sa);
    while (n->ix[i] != slot + 1)
        i = (i + 1) & mask;
    n->ix[i] = 0;
    for (uint32_t j = (i + 1) & mask; n->ix[j]; j = (j + 1) & mask) {
        uint32_t h = ix_home(n, &n->addrs[n->ix[j] - 1].sa);
        /* it stays when its home lies cyclically in (i, j] */
        if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
            continue;
        n->ix[i] = n->ix[j];
        n->ix[j] = 0;
        i = j;
    }
}

/* Room in the index for `want` entries at a load of at most one half. */
static int ix_reserve(node *n, int want)
{
    uint32_t cap = n->ix_cap ? n->ix_cap : 128;
    while (cap < 2 * (uint32_t)want)
        cap *= 2;
    if (cap == n->ix_cap)
        return 0;
    int *v = cairn_mem_calloc(n->cfg.env->mem, cap, sizeof(*v));
    if (!v)
        return -1;
    cairn_mem_free(n->cfg.env->mem, n->ix);
    n->ix = v;
    n->ix_cap = cap;
    for (int k = 0; k < n->n_addrs; k++)
        if (n->addrs[k].used)
            ix_insert(n, k);
    return 0;
}

static int *cell(node *n, int table, int bucket, int pos)
{
    return table == 2 ? &n->tried_tab[bucket][pos] : &n->new_tab[bucket][pos];
}

/* [ADDR-10] an entry that may give way: failing, never reached, or not seen for 30 days */
static int terrible(const node *n, const addr_entry *a)
{
    if (a->connected || a->configured)
        return 0;
    if (a->failures >= 3 && !a->last_seen_ms)
        return 1;
    return a->failures >= 10 ||
           (a->last_seen_ms && node_wall(n) - a->last_seen_ms > 30ULL * 86400 * 1000);
}

static void unplace(node *n, int idx)
{
    addr_entry *a = &n->addrs[idx];
    if (a->table)
        *cell(n, a->table, a->bucket, a->pos) = 0;
    a->table = 0;
}

static void drop(node *n, int idx)
{
    unplace(n, idx);
    ix_remove(n, idx);
    if (idx < n->free_hint)
        n->free_hint = idx;
    memset(&n->addrs[idx], 0, sizeof(n->addrs[idx]));
    n->addrs_dirty = 1;
}

/* Puts entry idx into its cell of `table`; the occupant gives way only when
 * terrible. Returns 0, or -1 when the cell is held by a useful entry. */
static int place(node *n, int idx, int table)
{
    addr_entry *a = &n->addrs[idx];
    int b = table == 2 ? tried_bucket(n, &a->sa) : new_bucket(n, a->src_group, &a->sa);
    int pos = bucket_pos(n, table, b, &a->sa);
    int *c = cell(n, table, b, pos);
    if (*c && *c - 1 != idx) {
        int old = *c - 1;
        if (table == 2 && !terrible(n, &n->addrs[old])) {
            /* [ADDR-10] [ADDR-13] tried to tried: the older entry goes back to new. When
             * its new cell is taken too, it is dropped, unless an outbound
             * peer uses it: then it keeps its tried cell and the newcomer stays
             * where it is (in no table, its slot would be lost once the
             * session ends). A configured one lives outside the tables. */
            addr_entry *o = &n->addrs[old];
            unplace(n, old);
            if (place(n, old, 1) != 0) {
                if (o->connected) {
                    o->table = 2; /* back in its cell: bucket and pos unchanged */
                    *c = old + 1;
                    return -1;
                }
                if (!o->configured)
                    drop(n, old);
            }
        } else if (terrible(n, &n->addrs[old])) {
            if (n->addrs[old].configured || n->addrs[old].connected)
                unplace(n, old);
            else
                drop(n, old);
        } else {
            return -1;
        }
    }
    unplace(n, idx);
    *c = idx + 1;
    a->table = table;
    a->bucket = b;
    a->pos = pos;
    return 0;
}

static int free_slot(node *n)
{
    for (; n->free_hint < n->n_addrs; n->free_hint++)
        if (!n->addrs[n->free_hint].used)
            return n->free_hint;
    if (n->n_addrs == NODE_MAX_ADDRS || ix_reserve(n, n->n_addrs + 1) != 0)
        return -1;
    if (n->n_addrs == n->cap_addrs) { /* grows: an idle simulated node holds little */
        int cap = n->cap_addrs ? n->cap_addrs * 2 : 64;
        cap = cap > NODE_MAX_ADDRS ? NODE_MAX_ADDRS : cap;
        addr_entry *v = cairn_mem_realloc(n->cfg.env->mem, n->addrs, (size_t)cap * sizeof(*v));
        if (!v)
            return -1;
        n->addrs = v;
        n->cap_addrs = cap;
    }
    return n->n_addrs;
}

static int is_self(const node *n, const struct sockaddr_storage *sa)
{
    if (netaddr_port(sa) != n->cfg.listen_port)
        return 0;
    if (n->cfg.listen_sa.ss_family && netaddr_same_ip(sa, &n->cfg.listen_sa))
        return 1;
    /* a loopback address of ours when we listen on loopback or everywhere */
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (ip[10] == 0xff && ip[11] == 0xff && ip[12] == 127) || !memcmp(ip, v6lo, 16);
}

static int add_entry(node *n, const struct sockaddr_storage *sa_in, socklen_t len, int configured,
                     uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id,
                     uint64_t src_group, int table)
{
    struct sockaddr_storage norm = *sa_in, *sa = &norm;
    netaddr_normalise(sa, &len); /* [ADDR-1] before the self and duplicate checks */
    if (netaddr_port(sa) == 0)
        return -1;
    if (!configured && is_self(n, sa)) /* [DISC-12] ourselves */
        return -1;
    int known = ix_find(n, sa);
    if (known >= 0) {
        addr_entry *a = &n->addrs[known];
        a->configured |= configured;
        if (services)
            a->services = services;
        if (node_id && configured) { /* the operator's word wins */
            memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
            a->has_id = 1;
        }
        return -2;
    }
    int idx = free_slot(n);
    if (idx < 0)
        return -1;
    addr_entry *a = &n->addrs[idx];
    memset(a, 0, sizeof(*a));
    a->used = 1;
    a->sa = *sa;
    a->salen = len;
    a->configured = configured;
    a->services = services;
    a->last_seen_ms = last_seen_ms;
    a->src_group = src_group;
    if (node_id) {
        memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
        a->has_id = 1;
    }
    if (place(n, idx, table) != 0 && !configured) { /* [ADDR-10] its cell is taken */
        memset(a, 0, sizeof(*a));
        return -1;
    }
    ix_insert(n, idx);
    if (idx == n->n_addrs)
        n->n_addrs++;
    n->addrs_dirty = 1;
    return idx;
}

int addrbook_add(node *n, const struct sockaddr_storage *sa, socklen_t len, int configured,
                 uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id)
{
    /* configured and loaded addresses are placed as if they told us themselves */
    return add_entry(n, sa, len, configured, services, last_seen_ms, node_id, netaddr_group(sa), 1);
}

int addrbook_add_from(node *n, const struct sockaddr_storage *sa, socklen_t len, uint64_t services,
                      const uint8_t *node_id, const struct sockaddr_storage *src)
{
    struct sockaddr_storage norm = *sa;
    netaddr_normalise(&norm, &len);
    if (!n->cfg.local_network && !netaddr_routable(&norm)) /* [ADDR-9] */
        return -1;
    return add_entry(n, &norm, len, 0, services, 0, node_id, netaddr_group(src), 1);
}

int addrbook_load_rec(addrbook *b, const cairn_node_addr_rec *r)
{
    struct sockaddr_storage sa = r->sa;
    socklen_t len = r->salen;
    netaddr_normalise(&sa, &len);
    if (!b->cfg.local_network && !netaddr_routable(&sa))
        return -1; /* [ADDR-9] saved in local-network mode, or a --peer's: not learned */
    return add_entry(b, &sa, len, 0, r->services, r->last_seen_ms, r->has_id ? r->node_id : NULL,
                     r->src_group ? r->src_group : netaddr_group(&r->sa), r->table == 2 ? 2 : 1);
}

static addr_entry *entry(const addrbook *b, int slot)
{
    return slot >= 0 && slot < b->n_addrs && b->addrs[slot].used ? &b->addrs[slot] : NULL;
}

void addrbook_seen(addrbook *b, int slot, uint64_t wall_ms)
{
    addr_entry *a = entry(b, slot);
    if (a && !a->configured) {
        a->last_seen_ms = wall_ms;
        b->addrs_dirty = 1;
    }
}

void addrbook_good(node *n, int slot, uint64_t wall_ms, uint64_t services,
                   const uint8_t node_id[CAIRN_HASH_LEN])
{
    addr_entry *a = entry(n, slot);
    if (!a)
        return;
    a->failures = 0;
    a->backoff_ms = 0;
    if (a->table != 2)
        place(n, slot, 2); /* [ADDR-10] to the tried table */
    a->last_seen_ms = wall_ms;
    a->services = services;
    a->id_mismatches = 0;
    if (!a->has_id) { /* [ADDR-5] the ID proven here is the one expected next time */
        memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
        a->has_id = 1;
    }
    n->addrs_dirty = 1;
}

uint32_t addrbook_check_id(addrbook *b, int slot, const uint8_t node_id[CAIRN_HASH_LEN])
{
    addr_entry *a = entry(b, slot);
    if (!a || !a->has_id || memcmp(a->node_id, node_id, CAIRN_HASH_LEN) == 0)
        return 0;
    if (++a->id_mismatches >= 3 && !a->configured)
        a->next_try_ms = UINT64_MAX; /* the address changed hands */
    return CAIRN_E_WRONG_NODE_ID;
}

int addrbook_id_matches(const addrbook *b, int slot, const uint8_t node_id[CAIRN_HASH_LEN])
{
    const addr_entry *a = entry((addrbook *)b, slot);
    return !a || !a->has_id || memcmp(a->node_id, node_id, CAIRN_HASH_LEN) == 0;
}

void addrbook_never(addrbook *b, int slot)
{
    addr_entry *a = entry(b, slot);
    if (a)
        a->next_try_ms = UINT64_MAX;
}

void addrbook_retry_at(addrbook *b, int slot, uint64_t when_ms)
{
    addr_entry *a = entry(b, slot);
    if (a)
        a->next_try_ms = when_ms;
}

void addrbook_set_connected(addrbook *b, int slot, int connected)
{
    addr_entry *a = entry(b, slot);
    if (a)
        a->connected = connected;
}

int addrbook_is_configured(const addrbook *b, int slot)
{
    const addr_entry *a = entry(b, slot);
    return a && a->configured;
}

const struct sockaddr_storage *addrbook_addr(const addrbook *b, int slot, socklen_t *len)
{
    const addr_entry *a = entry(b, slot);
    if (a && len)
        *len = a->salen;
    return a ? &a->sa : NULL;
}

void addrbook_disconnected(addrbook *b, int slot, int was_ready)
{
    addr_entry *a = entry(b, slot);
    if (!a)
        return;
    a->connected = 0;
    if (!was_ready) /* [ADDR-11] back off from addresses that fail */
        addrbook_failed(b, slot);
    else
        a->next_try_ms = node_now(b) + a->backoff_ms;
}

void addrbook_failed(node *n, int slot)
{
    addr_entry *a = entry(n, slot);
    if (!a)
        return;
    uint32_t cap = a->configured ? 60000 : 3600000; /* [ADDR-11] [MIS-14] */
    a->failures++;
    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : 1000;
    if (a->backoff_ms > cap)
        a->backoff_ms = cap;
    a->next_try_ms = node_now(n) + a->backoff_ms;
}

/* [DISC-17] [ADDR-11] Configured addresses first; then a random entry of the
 * tried or the new table (even odds) whose network group no outbound peer
 * uses yet, at most one new dial per 500 ms. */
int addrbook_select(node *n, const uint64_t *groups, int ng, int n_outbound)
{
    uint64_t now = node_now(n);
    for (int i = 0; i < n->n_addrs; i++) {
        addr_entry *a = &n->addrs[i];
        if (a->used && a->configured && !a->connected && a->next_try_ms <= now)
            return i;
    }
    if (n_outbound >= n->cfg.outbound_target || now < n->next_dial_ms || !n->n_addrs)
        return -1;
    uint64_t r = 0;
    if (n->cfg.env->random((uint8_t *)&r, sizeof(r), n->cfg.env->ud) != 0)
        return -1;
    for (int tries = 0; tries < 256; tries++) {
        r = mix(r, (uint64_t)tries);
        int table = (r & 1) ? 2 : 1;
        int buckets = table == 2 ? ADDR_TRIED_BUCKETS : ADDR_NEW_BUCKETS;
        int c = *cell(n, table, (int)((r >> 1) % (uint64_t)buckets),
                      (int)((r >> 20) % ADDR_BUCKET_SIZE));
        if (!c)
            continue;
        addr_entry *a = &n->addrs[c - 1];
        if (a->connected || a->next_try_ms > now || addrbook_is_discouraged(n, &a->sa, NULL))
            continue;
        int same = 0;
        for (int g = 0; g < ng && !same; g++)
            same = groups[g] == netaddr_group(&a->sa);
        if (same)
            continue;
        n->next_dial_ms = now + 500;
        return c - 1;
    }
    return -1;
}

size_t addrbook_export(const addrbook *b, cairn_node_addr_rec *out, size_t max, int reached,
                       int tabled)
{
    size_t k = 0;
    for (int i = 0; i < b->n_addrs && k < max; i++) {
        const addr_entry *a = &b->addrs[i];
        if (!a->used || (reached && !a->last_seen_ms) || (tabled && !a->table))
            continue;
        cairn_node_addr_rec *r = &out[k++];
        memset(r, 0, sizeof(*r));
        r->sa = a->sa;
        r->salen = a->salen;
        r->last_seen_ms = a->last_seen_ms;
        r->services = a->services;
        r->src_group = a->src_group;
        memcpy(r->node_id, a->node_id, CAIRN_HASH_LEN);
        r->has_id = a->has_id;
        r->table = a->table;
    }
    return k;
}

size_t addrbook_count(const addrbook *b)
{
    size_t k = 0;
    for (int i = 0; i < b->n_addrs; i++)
        k += b->addrs[i].used != 0;
    return k;
}

int addrbook_dirty(const addrbook *b)
{
    return b->addrs_dirty;
}

void addrbook_clean(addrbook *b)
{
    b->addrs_dirty = 0;
}

static void ip_bytes(const struct sockaddr_storage *sa, uint8_t out[16])
{
    netaddr_ip16(sa, out); /* [ADDR-1] one form for IPv4, mapped or not */
}

static int grow_disc(addrbook *n)
{
    int cap = n->cap_disc ? n->cap_disc * 2 : 16;
    cap = cap > NODE_MAX_DISCOURAGED ? NODE_MAX_DISCOURAGED : cap;
    discouraged *v = cairn_mem_realloc(n->cfg.env->mem, n->disc, (size_t)cap * sizeof(*v));
    if (!v)
        return -1;
    n->disc = v;
    n->cap_disc = cap;
    return 0;
}

int addrbook_is_discouraged(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id)
{
    uint64_t now = node_now(n);
    uint8_t ip[16];
    if (sa)
        ip_bytes(sa, ip);
    for (int i = 0; i < n->n_disc; i++) {
        discouraged *d = &n->disc[i];
        if (d->until_ms <= now) { /* expired: drop it */
            *d = n->disc[--n->n_disc];
            i--;
            continue;
        }
        if (sa && memcmp(d->ip, ip, 16) == 0)
            return 1;
        if (node_id && d->has_id && memcmp(d->node_id, node_id, CAIRN_HASH_LEN) == 0)
            return 1;
    }
    return 0;
}

void addrbook_discourage(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id)
{
    if (!n->cfg.discourage_ms)
        return;
    if (n->n_disc == NODE_MAX_DISCOURAGED) /* full: the oldest entry gives way */
        memmove(n->disc, n->disc + 1, sizeof(n->disc[0]) * (size_t)--n->n_disc);
    if (n->n_disc == n->cap_disc && grow_disc(n) != 0)
        return;
    discouraged *d = &n->disc[n->n_disc++];
    memset(d, 0, sizeof(*d));
    ip_bytes(sa, d->ip);
    if (node_id) {
        memcpy(d->node_id, node_id, CAIRN_HASH_LEN);
        d->has_id = 1;
    }
    d->until_ms = node_now(n) + n->cfg.discourage_ms;
    n->disc_dirty = 1;
}

uint32_t addrbook_discourage_ms(const addrbook *b)
{
    return b->cfg.discourage_ms;
}

/* [MIS-13] Expiry is kept in wall-clock time in the store, monotonic time in memory. */
size_t addrbook_disc_export(addrbook *n, cairn_node_disc_rec *out, size_t max)
{
    uint64_t now = node_now(n), wall = node_wall(n);
    size_t k = 0;
    for (int i = 0; i < n->n_disc && k < max; i++) {
        const discouraged *d = &n->disc[i];
        if (d->until_ms <= now)
            continue;
        cairn_node_disc_rec *r = &out[k++];
        memcpy(r->ip, d->ip, 16);
        memcpy(r->node_id, d->node_id, CAIRN_HASH_LEN);
        r->has_id = d->has_id;
        r->expiry_wall_ms = wall + (d->until_ms - now);
    }
    return k;
}

void addrbook_disc_load_rec(addrbook *n, const cairn_node_disc_rec *r)
{
    uint64_t now = node_now(n), wall = node_wall(n);
    if (r->expiry_wall_ms <= wall || n->n_disc == NODE_MAX_DISCOURAGED)
        return; /* expired */
    uint64_t left = r->expiry_wall_ms - wall;
    if (left > n->cfg.discourage_ms) /* never longer than this run's setting */
        left = n->cfg.discourage_ms;
    if (!left || (n->n_disc == n->cap_disc && grow_disc(n) != 0))
        return;
    discouraged *d = &n->disc[n->n_disc++];
    memset(d, 0, sizeof(*d));
    memcpy(d->ip, r->ip, 16);
    if (r->has_id) {
        memcpy(d->node_id, r->node_id, CAIRN_HASH_LEN);
        d->has_id = 1;
    }
    d->until_ms = now + left;
}

int addrbook_disc_dirty(const addrbook *b)
{
    return b->disc_dirty;
}

void addrbook_disc_clean(addrbook *b)
{
    b->disc_dirty = 0;
}
