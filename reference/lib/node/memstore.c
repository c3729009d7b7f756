/*
 * The in-memory store (cairn/node.h): chain records and bodies, the address
 * book and discouragements, held in memory for unit tests and the simulator.
 * A write is applied whole before it returns, like the SQLite store's
 * transaction; there are no batches (every write is "durable" at once).
 */
#include <stdlib.h>

#include "cairn/node.h"

typedef struct mrec {
    uint8_t id[CAIRN_HASH_LEN];
    uint8_t header[CAIRN_BLOCK_HEADER_LEN];
    uint64_t height;
    int used;      /* the slot holds a record (0 after pruning: a tombstone) */
    int have_data; /* body stored */
    uint8_t *body; /* n times (u32 BE length || entry) */
    size_t body_len;
} mrec;

struct cairn_node_memstore {
    const cairn_mem *mem;
    mrec *recs;
    size_t n_recs, cap_recs;
    size_t *slots; /* open addressing over recs: index + 1, 0 = empty */
    size_t n_slots;
    size_t n_bodies;
    uint8_t tip[CAIRN_HASH_LEN];
    int have_tip;
    cairn_node_addr_rec *addrs;
    size_t n_addrs;
    cairn_node_disc_rec *disc;
    size_t n_disc;
    cairn_chain_store chain;
    cairn_node_store iface;
};

static size_t hash_id(const uint8_t id[CAIRN_HASH_LEN], size_t n_slots)
{
    uint64_t h;
    memcpy(&h, id, sizeof(h)); /* IDs are SHA-256 outputs: their bytes are uniform */
    return (size_t)(h % n_slots);
}

static mrec *find(const cairn_node_memstore *ms, const uint8_t id[CAIRN_HASH_LEN])
{
    if (!ms->n_slots)
        return NULL;
    for (size_t i = hash_id(id, ms->n_slots), k = 0; k < ms->n_slots;
         k++, i = (i + 1) % ms->n_slots) {
        size_t s = ms->slots[i];
        if (!s)
            return NULL;
        if (memcmp(ms->recs[s - 1].id, id, CAIRN_HASH_LEN) == 0)
            return &ms->recs[s - 1];
    }
    return NULL;
}

static void slot_insert(cairn_node_memstore *ms, size_t idx)
{
    size_t i = hash_id(ms->recs[idx].id, ms->n_slots);
    while (ms->slots[i])
        i = (i + 1) % ms->n_slots;
    ms->slots[i] = idx + 1;
}

/* Room for one more record: the array doubles, the table stays under half full. */
static int grow(cairn_node_memstore *ms)
{
    if (ms->n_recs == ms->cap_recs) {
        size_t cap = ms->cap_recs ? ms->cap_recs * 2 : 64;
        mrec *v = cairn_mem_realloc(ms->mem, ms->recs, cap * sizeof(*v));
        if (!v)
            return CAIRN_ERR_NOMEM;
        ms->recs = v;
        ms->cap_recs = cap;
    }
    if (2 * (ms->n_recs + 1) > ms->n_slots) {
        size_t n = ms->n_slots ? ms->n_slots * 2 : 128;
        size_t *v = cairn_mem_calloc(ms->mem, n, sizeof(*v));
        if (!v)
            return CAIRN_ERR_NOMEM;
        cairn_mem_free(ms->mem, ms->slots);
        ms->slots = v;
        ms->n_slots = n;
        for (size_t i = 0; i < ms->n_recs; i++)
            slot_insert(ms, i);
    }
    return 0;
}

static mrec *put_record(cairn_node_memstore *ms, const cairn_chain_block *b)
{
    mrec *r = find(ms, b->id);
    if (r) {
        r->used = 1;
        return r;
    }
    if (grow(ms) != 0)
        return NULL;
    r = &ms->recs[ms->n_recs];
    memset(r, 0, sizeof(*r));
    memcpy(r->id, b->id, CAIRN_HASH_LEN);
    cairn_block_header_encode(r->header, &b->hdr);
    r->height = b->hdr.height;
    r->used = 1;
    slot_insert(ms, ms->n_recs++);
    return r;
}

static int put_body(cairn_node_memstore *ms, mrec *r, const cairn_bytes_ref *entries, size_t n)
{
    if (r->have_data)
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += 4 + entries[i].len;
    uint8_t *body = cairn_mem_malloc(ms->mem, len ? len : 1), *q = body;
    if (!body)
        return CAIRN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        q = cairn_put_u32(q, (uint32_t)entries[i].len);
        memcpy(q, entries[i].data, entries[i].len);
        q += entries[i].len;
    }
    r->body = body;
    r->body_len = len;
    r->have_data = 1;
    ms->n_bodies++;
    return 0;
}

/* All of a write or nothing: records are made (and space reserved) before
 * anything is marked, so a failure leaves at most unused header records. */
static int chain_write(void *ud, const cairn_chain_write *w)
{
    cairn_node_memstore *ms = ud;
    for (size_t i = 0; i < w->n_headers; i++)
        if (!put_record(ms, w->headers[i]))
            return CAIRN_ERR_NOMEM;
    if (w->block) {
        mrec *r = put_record(ms, w->block);
        if (!r || put_body(ms, r, w->entries, w->n_entries) != 0)
            return CAIRN_ERR_NOMEM;
    }
    for (size_t i = 0; i < w->n_pruned; i++) {
        mrec *r = find(ms, w->pruned[i]->id);
        if (r && !r->have_data)
            r->used = 0; /* [SYNC-44] a tombstone: the slot keeps the probe chain */
    }
    if (w->tip) {
        memcpy(ms->tip, w->tip->id, CAIRN_HASH_LEN);
        ms->have_tip = 1;
    }
    return 0;
}

static int cmp_height(const void *a, const void *b)
{
    const mrec *x = *(const mrec *const *)a, *y = *(const mrec *const *)b;
    return x->height < y->height ? -1 : x->height > y->height;
}

static int chain_load(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                      int *have_tip)
{
    cairn_node_memstore *ms = ud;
    *have_tip = 0;
    if (!ms->n_recs)
        return 0;
    const mrec **order = cairn_mem_malloc(ms->mem, ms->n_recs * sizeof(*order));
    if (!order)
        return CAIRN_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < ms->n_recs; i++)
        if (ms->recs[i].used)
            order[k++] = &ms->recs[i];
    qsort(order, k, sizeof(*order), cmp_height); /* parents before children */
    int rv = 0;
    for (size_t i = 0; i < k && !rv; i++)
        rv = fn(fn_ud, order[i]->header, order[i]->have_data);
    cairn_mem_free(ms->mem, order);
    if (rv)
        return rv;
    memcpy(tip, ms->tip, CAIRN_HASH_LEN);
    *have_tip = ms->have_tip;
    return 0;
}

static int get_block(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                     uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn, void *fn_ud)
{
    const mrec *r = find(ud, id);
    if (!r || !r->used || !r->have_data)
        return 1;
    if (header)
        memcpy(header, r->header, CAIRN_BLOCK_HEADER_LEN);
    for (size_t off = 0; fn && off < r->body_len;) {
        uint32_t len = cairn_get_u32(r->body + off);
        if (fn(fn_ud, r->body + off + 4, len))
            break;
        off += 4 + (size_t)len;
    }
    return 0;
}

/* Replaces an array of records with a copy of `src`. */
static int replace(const cairn_mem *mem, void **dst, size_t *n_dst, const void *src, size_t n,
                   size_t size)
{
    void *v = n ? cairn_mem_malloc(mem, n * size) : NULL;
    if (n && !v)
        return CAIRN_ERR_NOMEM;
    if (n)
        memcpy(v, src, n * size);
    cairn_mem_free(mem, *dst);
    *dst = v;
    *n_dst = n;
    return 0;
}

static int save_addrs(void *ud, const cairn_node_addr_rec *recs, size_t n)
{
    cairn_node_memstore *ms = ud;
    return replace(ms->mem, (void **)&ms->addrs, &ms->n_addrs, recs, n, sizeof(*recs));
}

static int load_addrs(void *ud, int (*fn)(void *, const cairn_node_addr_rec *), void *fn_ud)
{
    cairn_node_memstore *ms = ud;
    for (size_t i = 0; i < ms->n_addrs; i++)
        if (fn(fn_ud, &ms->addrs[i]))
            break;
    return 0;
}

static int save_disc(void *ud, const cairn_node_disc_rec *recs, size_t n)
{
    cairn_node_memstore *ms = ud;
    return replace(ms->mem, (void **)&ms->disc, &ms->n_disc, recs, n, sizeof(*recs));
}

static int load_disc(void *ud, int (*fn)(void *, const cairn_node_disc_rec *), void *fn_ud)
{
    cairn_node_memstore *ms = ud;
    for (size_t i = 0; i < ms->n_disc; i++)
        if (fn(fn_ud, &ms->disc[i]))
            break;
    return 0;
}

int cairn_node_memstore_new(cairn_node_memstore **out, const cairn_mem *mem)
{
    cairn_node_memstore *ms = cairn_mem_calloc(mem, 1, sizeof(*ms));
    *out = ms;
    if (!ms)
        return CAIRN_ERR_NOMEM;
    ms->mem = mem;
    ms->chain = (cairn_chain_store){chain_write, chain_load, ms};
    memset(&ms->iface, 0, sizeof(ms->iface));
    ms->iface.chain = &ms->chain;
    ms->iface.get_block = get_block;
    ms->iface.save_addrs = save_addrs;
    ms->iface.load_addrs = load_addrs;
    ms->iface.save_disc = save_disc;
    ms->iface.load_disc = load_disc;
    ms->iface.ud = ms;
    return 0;
}

void cairn_node_memstore_del(cairn_node_memstore *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n_recs; i++)
        cairn_mem_free(ms->mem, ms->recs[i].body);
    cairn_mem_free(ms->mem, ms->recs);
    cairn_mem_free(ms->mem, ms->slots);
    cairn_mem_free(ms->mem, ms->addrs);
    cairn_mem_free(ms->mem, ms->disc);
    cairn_mem_free(ms->mem, ms);
}

const cairn_node_store *cairn_node_memstore_iface(cairn_node_memstore *ms)
{
    return &ms->iface;
}

size_t cairn_node_memstore_blocks(const cairn_node_memstore *ms)
{
    return ms->n_bodies;
}
