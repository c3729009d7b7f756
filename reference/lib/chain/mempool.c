/*
 * [REL] Pending entries: submitted or relayed entries waiting for a miner.
 * Bounded in count and bytes; kept in arrival order (a FIFO list) with a
 * hash table by entry ID for duplicate checks and removals.
 */
#include "cairn/chain.h"

#define DEFAULT_MAX_COUNT 8192
#define DEFAULT_MAX_BYTES (32u << 20)

typedef struct pool_entry {
    struct pool_entry *prev, *next; /* arrival order */
    struct pool_entry *hnext;       /* bucket chain */
    uint8_t id[CAIRN_HASH_LEN];
    size_t len;
    uint8_t data[];
} pool_entry;

struct cairn_mempool {
    const cairn_mem *mem;
    cairn_sha256_ctx *sha;
    pool_entry *head, *tail;
    pool_entry **buckets;
    size_t nbuckets, count, bytes, max_count, max_bytes;
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
    p->nbuckets = 64;
    while (p->nbuckets < p->max_count && p->nbuckets < (SIZE_MAX >> 2))
        p->nbuckets *= 2;
    int rv = cairn_sha256_ctx_new(&p->sha);
    if (rv == 0 && !(p->buckets = cairn_mem_calloc(mem, p->nbuckets, sizeof(*p->buckets))))
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
    while (p->head) {
        pool_entry *n = p->head->next;
        cairn_mem_free(p->mem, p->head);
        p->head = n;
    }
    cairn_mem_free(p->mem, p->buckets);
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

int cairn_mempool_add(cairn_mempool *p, const uint8_t *entry, size_t len,
                      uint8_t id[CAIRN_HASH_LEN], uint32_t *reason)
{
    int rv = cairn_entry_check(entry, len, reason);
    if (rv != 0)
        return rv;
    if ((rv = cairn_entry_id(p->sha, id, entry, len)) != 0)
        return rv;
    pool_entry **l = find_link(p, id);
    if (*l)
        return 0;
    if (p->count == p->max_count || len > p->max_bytes - p->bytes)
        return CAIRN_ERR_PROTO(CAIRN_E_BUSY);
    pool_entry *e = cairn_mem_malloc(p->mem, sizeof(*e) + len);
    if (!e)
        return CAIRN_ERR_NOMEM;
    memcpy(e->id, id, CAIRN_HASH_LEN);
    memcpy(e->data, entry, len);
    e->len = len;
    e->hnext = NULL;
    *l = e;
    e->next = NULL;
    e->prev = p->tail;
    if (p->tail)
        p->tail->next = e;
    else
        p->head = e;
    p->tail = e;
    p->count++;
    p->bytes += len;
    return 0;
}

int cairn_mempool_remove(cairn_mempool *p, const cairn_bytes_ref *entries, size_t n)
{
    uint8_t id[CAIRN_HASH_LEN];
    for (size_t i = 0; i < n && p->count; i++) {
        int rv = cairn_entry_id(p->sha, id, entries[i].data, entries[i].len);
        if (rv != 0)
            return rv;
        pool_entry **l = find_link(p, id), *e = *l;
        if (!e)
            continue;
        *l = e->hnext;
        if (e->prev)
            e->prev->next = e->next;
        else
            p->head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        else
            p->tail = e->prev;
        p->count--;
        p->bytes -= e->len;
        cairn_mem_free(p->mem, e);
    }
    return 0;
}

size_t cairn_mempool_select(const cairn_mempool *p, cairn_bytes_ref *out, size_t cap)
{
    size_t n = 0, bytes = 0;
    if (cap > CAIRN_BLOCK_MAX_ENTRIES)
        cap = CAIRN_BLOCK_MAX_ENTRIES;
    /* Oldest first; an entry that does not fit is passed over for smaller ones. */
    for (const pool_entry *e = p->head; e && n < cap; e = e->next) {
        if (e->len > CAIRN_BLOCK_MAX_BODY_BYTES - bytes)
            continue;
        out[n].data = e->data;
        out[n].len = e->len;
        bytes += e->len;
        n++;
    }
    return n;
}
