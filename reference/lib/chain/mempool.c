/*
 * §10.4 Pending entries: submitted or relayed entries waiting for a miner.
 *
 * Bounded in count and bytes ([REL-17]) and fair between sources: each
 * entry is charged to the source that delivered it (a peer's node ID, or
 * none for the node's own entries), a peer source holds at most an eighth of
 * the pool ([REL-18]), and a full pool makes room by evicting the newest
 * entries of the largest source ([REL-19]). Entries are kept in arrival
 * order per source; the miner takes them from the sources in turn
 * ([REL-26]). A hash table by entry ID finds duplicates and removals.
 *
 * The pool also keeps the recent-entry index ([REL-24], [REL-25]): the IDs
 * (8-byte prefixes, with a count) of the entries of the last
 * RECENT_ENTRY_WINDOW blocks of the active chain, which the node feeds as
 * blocks join and leave the window. Such entries are not admitted and never
 * selected for a block.
 */
#include "cairn/chain.h"

#define DEFAULT_MAX_COUNT 8192
#define DEFAULT_MAX_BYTES (32u << 20)
#define SHARE_DIV         8 /* [REL-18] a peer source holds at most 1/8 of the pool */
/* The entry table starts this small and doubles as the pool fills, up to one
 * bucket per entry of max_count (an idle pool of a simulator's 10,000 nodes
 * holds a few hundred bytes instead of the full-size table). */
#define MIN_BUCKETS    64
#define SOURCE_BUCKETS 256 /* sources are peers: a fixed table */

typedef struct pool_source pool_source;

typedef struct pool_entry {
    struct pool_entry *prev, *next; /* arrival order within its source */
    struct pool_entry *hnext;       /* bucket chain */
    pool_source *src;
    uint8_t id[CAIRN_HASH_LEN];
    size_t len;
    uint8_t data[];
} pool_entry;

struct pool_source {
    uint8_t key[CAIRN_HASH_LEN]; /* node ID of the peer; all zero = the node itself */
    int local;
    size_t count, bytes;
    pool_entry *head, *tail;
    pool_source *prev, *next; /* sources that hold entries */
    pool_source *hnext;
    const pool_entry *cursor; /* scratch for cairn_mempool_select */
};

typedef struct recent_slot {
    uint64_t key; /* 0 = empty */
    uint32_t count;
} recent_slot;

struct cairn_mempool {
    const cairn_mem *mem;
    cairn_sha256_ctx *sha;
    pool_entry **buckets;
    size_t nbuckets, max_buckets, count, bytes, max_count, max_bytes;
    pool_source *sources;   /* list of sources holding entries */
    pool_source **sbuckets; /* sources by key */
    size_t nsources;
    recent_slot *recent; /* open addressing, linear probing */
    size_t recent_cap, recent_n;
};

int cairn_mempool_new(cairn_mempool **out, const cairn_mem *mem, size_t max_count, size_t max_bytes)
{
    *out = NULL;
    cairn_mempool *p = cairn_mem_calloc(mem, 1, sizeof(*p));
    if (!p)
        return CAIRN_ERR_NOMEM;
    p->mem = mem;
    p->max_count = max_count ? max_count : DEFAULT_MAX_COUNT;
    p->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
    p->nbuckets = MIN_BUCKETS;
    p->max_buckets = MIN_BUCKETS;
    while (p->max_buckets < p->max_count && p->max_buckets < (SIZE_MAX >> 2))
        p->max_buckets *= 2;
    int rv = cairn_sha256_ctx_new(&p->sha);
    if (rv == 0 && (!(p->buckets = cairn_mem_calloc(mem, p->nbuckets, sizeof(*p->buckets))) ||
                    !(p->sbuckets = cairn_mem_calloc(mem, SOURCE_BUCKETS, sizeof(*p->sbuckets)))))
        rv = CAIRN_ERR_NOMEM;
    if (rv != 0) {
        cairn_mempool_del(p);
        return rv;
    }
    *out = p;
    return 0;
}

void cairn_mempool_del(cairn_mempool *p)
{
    if (!p)
        return;
    while (p->sources) {
        pool_source *s = p->sources;
        while (s->head) {
            pool_entry *n = s->head->next;
            cairn_mem_free(p->mem, s->head);
            s->head = n;
        }
        p->sources = s->next;
        cairn_mem_free(p->mem, s);
    }
    cairn_mem_free(p->mem, p->buckets);
    cairn_mem_free(p->mem, p->sbuckets);
    cairn_mem_free(p->mem, p->recent);
    cairn_sha256_ctx_del(p->sha);
    cairn_mem_free(p->mem, p);
}

/* Entry IDs are leaf hashes of attacker-chosen bytes but still SHA-256. */
static pool_entry **bucket(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN])
{
    return &p->buckets[cairn_get_u64(id) & (p->nbuckets - 1)];
}

static pool_entry **find_link(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN])
{
    pool_entry **l = bucket(p, id);
    while (*l && memcmp((*l)->id, id, CAIRN_HASH_LEN) != 0)
        l = &(*l)->hnext;
    return l;
}

int cairn_mempool_contains(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN])
{
    return *find_link(p, id) != NULL;
}

size_t cairn_mempool_count(const cairn_mempool *p)
{
    return p->count;
}

size_t cairn_mempool_bytes(const cairn_mempool *p)
{
    return p->bytes;
}

/* ---- sources ---------------------------------------------------------------------- */

/* Node IDs are SHA-256 outputs, so their first bytes spread well; a source
 * key of a hostile peer is still a real key's hash. */
static pool_source **source_link(const cairn_mempool *p, const uint8_t key[CAIRN_HASH_LEN])
{
    pool_source **l = &p->sbuckets[cairn_get_u64(key) & (SOURCE_BUCKETS - 1)];
    while (*l && memcmp((*l)->key, key, CAIRN_HASH_LEN) != 0)
        l = &(*l)->hnext;
    return l;
}

static pool_source *source_get(cairn_mempool *p, const uint8_t *key)
{
    static const uint8_t none[CAIRN_HASH_LEN];
    if (!key)
        key = none;
    pool_source **l = source_link(p, key);
    if (*l)
        return *l;
    pool_source *s = cairn_mem_calloc(p->mem, 1, sizeof(*s));
    if (!s)
        return NULL;
    memcpy(s->key, key, CAIRN_HASH_LEN);
    s->local = key == none;
    *l = s;
    s->next = p->sources;
    if (p->sources)
        p->sources->prev = s;
    p->sources = s;
    p->nsources++;
    return s;
}

static void source_drop_if_empty(cairn_mempool *p, pool_source *s)
{
    if (s->count)
        return;
    pool_source **l = source_link(p, s->key);
    *l = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        p->sources = s->next;
    if (s->next)
        s->next->prev = s->prev;
    p->nsources--;
    cairn_mem_free(p->mem, s);
}

/* Doubles the entry table once it holds as many entries as buckets (up to
 * max_buckets). A failed allocation keeps the table: only chains lengthen. */
static void maybe_grow(cairn_mempool *p)
{
    if (p->count < p->nbuckets || p->nbuckets >= p->max_buckets)
        return;
    size_t n = p->nbuckets * 2;
    pool_entry **v = cairn_mem_calloc(p->mem, n, sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < p->nbuckets; i++)
        for (pool_entry *e = p->buckets[i], *next; e; e = next) {
            next = e->hnext;
            pool_entry **l = &v[cairn_get_u64(e->id) & (n - 1)];
            e->hnext = *l;
            *l = e;
        }
    cairn_mem_free(p->mem, p->buckets);
    p->buckets = v;
    p->nbuckets = n;
}

/* Unlinks and frees one entry (its source too when it was the last). */
static void entry_free(cairn_mempool *p, pool_entry *e)
{
    pool_entry **l = find_link(p, e->id);
    *l = e->hnext;
    pool_source *s = e->src;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    s->count--;
    s->bytes -= e->len;
    p->count--;
    p->bytes -= e->len;
    cairn_mem_free(p->mem, e);
    source_drop_if_empty(p, s);
}

static pool_source *largest_source(const cairn_mempool *p)
{
    pool_source *best = NULL;
    for (pool_source *s = p->sources; s; s = s->next)
        if (!best || s->bytes > best->bytes)
            best = s;
    return best;
}

static int full_for(const cairn_mempool *p, size_t len)
{
    return p->count == p->max_count || len > p->max_bytes - p->bytes;
}

/*
 * [REL-19] Makes room for `len` bytes from `s` by evicting the newest
 * entries of the largest source, as long as that source holds more than `s`
 * would with the new entry. Returns 0 when the entry fits, else BUSY.
 */
static int make_room(cairn_mempool *p, pool_source *s, size_t len)
{
    while (full_for(p, len)) {
        pool_source *big = largest_source(p);
        if (!big || big == s || big->bytes <= s->bytes + len)
            return CAIRN_ERR_PROTO(CAIRN_E_BUSY);
        entry_free(p, big->tail);
    }
    return 0;
}

/* ---- the recent-entry index [REL-24] ---------------------------------------------- */

static uint64_t recent_key(const uint8_t id[CAIRN_HASH_LEN])
{
    uint64_t k = cairn_get_u64(id);
    return k ? k : 1;
}

static recent_slot *recent_find(const cairn_mempool *p, uint64_t key)
{
    if (!p->recent_cap)
        return NULL;
    size_t mask = p->recent_cap - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
        if (p->recent[i].key == key)
            return &p->recent[i];
        if (!p->recent[i].key)
            return NULL;
    }
}

static void recent_put(recent_slot *t, size_t cap, uint64_t key, uint32_t count)
{
    size_t mask = cap - 1, i = key & mask;
    while (t[i].key && t[i].key != key)
        i = (i + 1) & mask;
    t[i].key = key;
    t[i].count += count;
}

static int recent_grow(cairn_mempool *p)
{
    size_t cap = p->recent_cap ? p->recent_cap * 2 : 1024;
    recent_slot *t = cairn_mem_calloc(p->mem, cap, sizeof(*t));
    if (!t)
        return CAIRN_ERR_NOMEM;
    for (size_t i = 0; i < p->recent_cap; i++)
        if (p->recent[i].key)
            recent_put(t, cap, p->recent[i].key, p->recent[i].count);
    cairn_mem_free(p->mem, p->recent);
    p->recent = t;
    p->recent_cap = cap;
    return 0;
}

int cairn_mempool_recent_contains(const cairn_mempool *p, const uint8_t id[CAIRN_HASH_LEN])
{
    return recent_find(p, recent_key(id)) != NULL;
}

int cairn_mempool_recent_add(cairn_mempool *p, const uint8_t *entry, size_t len)
{
    uint8_t id[CAIRN_HASH_LEN];
    int rv = cairn_entry_id(p->sha, id, entry, len);
    if (rv)
        return rv;
    uint64_t key = recent_key(id);
    recent_slot *r = recent_find(p, key);
    if (r) {
        r->count++;
        return 0;
    }
    if (2 * (p->recent_n + 1) > p->recent_cap && (rv = recent_grow(p)) != 0)
        return rv;
    recent_put(p->recent, p->recent_cap, key, 1);
    p->recent_n++;
    return 0;
}

int cairn_mempool_recent_remove(cairn_mempool *p, const uint8_t *entry, size_t len)
{
    uint8_t id[CAIRN_HASH_LEN];
    int rv = cairn_entry_id(p->sha, id, entry, len);
    if (rv)
        return rv;
    recent_slot *r = recent_find(p, recent_key(id));
    if (!r || --r->count)
        return 0;
    /* Backward-shift deletion keeps every probe sequence unbroken. */
    size_t mask = p->recent_cap - 1, hole = (size_t)(r - p->recent);
    for (size_t j = (hole + 1) & mask; p->recent[j].key; j = (j + 1) & mask) {
        size_t home = p->recent[j].key & mask;
        /* j's entry may move into the hole if its home is not in (hole, j]. */
        if ((j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j)) {
            p->recent[hole] = p->recent[j];
            hole = j;
        }
    }
    p->recent[hole].key = 0;
    p->recent[hole].count = 0;
    p->recent_n--;
    return 0;
}

void cairn_mempool_recent_clear(cairn_mempool *p)
{
    if (p->recent_cap)
        memset(p->recent, 0, p->recent_cap * sizeof(*p->recent));
    p->recent_n = 0;
}

size_t cairn_mempool_recent_count(const cairn_mempool *p)
{
    return p->recent_n;
}

/* ---- adding, removing, selecting -------------------------------------------------- */

int cairn_mempool_add_from(cairn_mempool *p, const uint8_t *entry, size_t len,
                           const uint8_t *source, uint8_t id[CAIRN_HASH_LEN], uint32_t *reason,
                           int *added)
{
    if (added)
        *added = 0;
    int rv = cairn_entry_check(entry, len, reason);
    if (rv != 0)
        return rv;
    if ((rv = cairn_entry_id(p->sha, id, entry, len)) != 0)
        return rv;
    /* [REL-3] already pending, or [REL-25] in the recent blocks: nothing to add */
    if (*find_link(p, id) || cairn_mempool_recent_contains(p, id))
        return 0;
    if (len > p->max_bytes)
        return CAIRN_ERR_PROTO(CAIRN_E_BUSY);
    pool_source *s = source_get(p, source);
    if (!s)
        return CAIRN_ERR_NOMEM;
    /* [REL-18] a peer's share: an eighth of each bound */
    size_t share_count = p->max_count / SHARE_DIV ? p->max_count / SHARE_DIV : 1;
    if (!s->local && (s->count >= share_count || len > p->max_bytes / SHARE_DIV - s->bytes ||
                      s->bytes > p->max_bytes / SHARE_DIV))
        rv = CAIRN_ERR_PROTO(CAIRN_E_BUSY);
    if (rv == 0)
        rv = make_room(p, s, len);
    pool_entry *e = rv ? NULL : cairn_mem_malloc(p->mem, sizeof(*e) + len);
    if (!e) {
        source_drop_if_empty(p, s);
        return rv ? rv : CAIRN_ERR_NOMEM;
    }
    memcpy(e->id, id, CAIRN_HASH_LEN);
    memcpy(e->data, entry, len);
    e->len = len;
    e->src = s;
    maybe_grow(p);
    pool_entry **l = find_link(p, id);
    e->hnext = NULL;
    *l = e;
    e->next = NULL;
    e->prev = s->tail;
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    s->count++;
    s->bytes += len;
    p->count++;
    p->bytes += len;
    if (added)
        *added = 1;
    return 0;
}

int cairn_mempool_add(cairn_mempool *p, const uint8_t *entry, size_t len,
                      uint8_t id[CAIRN_HASH_LEN], uint32_t *reason)
{
    return cairn_mempool_add_from(p, entry, len, NULL, id, reason, NULL);
}

int cairn_mempool_remove(cairn_mempool *p, const cairn_bytes_ref *entries, size_t n)
{
    uint8_t id[CAIRN_HASH_LEN];
    for (size_t i = 0; i < n && p->count; i++) {
        int rv = cairn_entry_id(p->sha, id, entries[i].data, entries[i].len);
        if (rv != 0)
            return rv;
        pool_entry *e = *find_link(p, id);
        if (e)
            entry_free(p, e);
    }
    return 0;
}

size_t cairn_mempool_select(const cairn_mempool *p, cairn_bytes_ref *out, size_t cap)
{
    size_t n = 0, bytes = 0;
    if (cap > CAIRN_BLOCK_MAX_ENTRIES)
        cap = CAIRN_BLOCK_MAX_ENTRIES;
    for (pool_source *s = p->sources; s; s = s->next)
        s->cursor = s->head;
    /* [REL-26] one entry per source per turn, oldest first within a source;
     * an entry that does not fit is passed over for smaller ones. */
    for (int progress = 1; progress && n < cap;) {
        progress = 0;
        for (pool_source *s = p->sources; s && n < cap; s = s->next) {
            const pool_entry *e = s->cursor;
            while (e && (e->len > CAIRN_BLOCK_MAX_BODY_BYTES - bytes ||
                         cairn_mempool_recent_contains(p, e->id))) /* [REL-24] */
                e = e->next;
            if (!e) {
                s->cursor = NULL;
                continue;
            }
            out[n].data = e->data;
            out[n].len = e->len;
            bytes += e->len;
            n++;
            s->cursor = e->next;
            progress = 1;
        }
    }
    return n;
}
