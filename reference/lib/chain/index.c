/*
 * The block index: records in arena chunks, a salted open-addressing hash
 * table by block ID, skip pointers for O(log n) ancestor lookups, and the
 * fork-choice order.
 */
#include "chain_int.h"

#define TABLE_MIN 1024

/*
 * Block IDs carry proof-of-work but devnet's is cheap, so the bucket is
 * derived with a per-chain random salt that a peer cannot aim at.
 */
static size_t slot_of(const cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN])
{
    uint64_t k = cairn_get_u64(id + 8) ^ c->salt;
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 17) & (c->table_cap - 1);
}

int chain_index_init(cairn_chain *c)
{
    uint8_t salt[8];
    if (c->env->random && c->env->random(salt, sizeof(salt), c->env->ud) == 0)
        c->salt = cairn_get_u64(salt);
    c->table = cairn_mem_calloc(c->mem, TABLE_MIN, sizeof(*c->table));
    if (!c->table)
        return CAIRN_ERR_NOMEM;
    c->table_cap = TABLE_MIN;
    return 0;
}

void chain_index_free(cairn_chain *c)
{
    while (c->arena) {
        chain_arena *next = c->arena->next;
        cairn_mem_free(c->mem, c->arena);
        c->arena = next;
    }
    cairn_mem_free(c->mem, c->table);
    c->table = NULL;
}

cairn_chain_block *chain_find(const cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN])
{
    for (size_t i = slot_of(c, id);; i = (i + 1) & (c->table_cap - 1)) {
        cairn_chain_block *b = c->table[i];
        if (!b || memcmp(b->id, id, CAIRN_HASH_LEN) == 0)
            return b;
    }
}

static void table_put(cairn_chain *c, cairn_chain_block *b)
{
    size_t i = slot_of(c, b->id);
    while (c->table[i])
        i = (i + 1) & (c->table_cap - 1);
    c->table[i] = b;
}

int chain_reserve(cairn_chain *c, size_t extra)
{
    /* Load factor at most 1/2 keeps probe sequences short. */
    if (c->count + extra <= c->table_cap / 2)
        return 0;
    size_t cap = c->table_cap;
    while (c->count + extra > cap / 2) {
        if (cap > SIZE_MAX / 4 / sizeof(*c->table))
            return CAIRN_ERR_NOMEM;
        cap *= 2;
    }
    cairn_chain_block **old = c->table;
    size_t old_cap = c->table_cap;
    c->table = cairn_mem_calloc(c->mem, cap, sizeof(*c->table));
    if (!c->table) {
        c->table = old;
        return CAIRN_ERR_NOMEM;
    }
    c->table_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            table_put(c, old[i]);
    cairn_mem_free(c->mem, old);
    return 0;
}

void chain_insert(cairn_chain *c, cairn_chain_block *b)
{
    table_put(c, b);
    c->count++;
    if (!(b->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)))
        c->n_low++; /* perhaps low-work: the next pruning pass counts exactly */
    if (b->parent) {
        b->sibling = b->parent->child;
        b->parent->child = b;
    }
    if (!(b->flags & CAIRN_CHAIN_FAILED) && (!c->best_header || chain_better(b, c->best_header))) {
        if (c->best_header && b->parent != c->best_header)
            c->low_dirty = 1; /* the old best branch is kept no more [SYNC-44] */
        c->best_header = b;
    }
}

chain_arena_mark chain_arena_get_mark(const cairn_chain *c)
{
    chain_arena_mark m = {c->arena, c->arena ? c->arena->used : 0};
    return m;
}

void chain_records_abandon(cairn_chain *c, chain_arena_mark m, cairn_chain_block *const *recs,
                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (recs[i] && (recs[i]->iflags & CHAIN_RECYCLED)) {
            recs[i]->sibling = c->free_recs;
            c->free_recs = recs[i];
        }
    chain_arena_rollback(c, m);
}

void chain_arena_rollback(cairn_chain *c, chain_arena_mark m)
{
    while (c->arena != m.chunk) {
        chain_arena *next = c->arena->next;
        cairn_mem_free(c->mem, c->arena);
        c->arena = next;
    }
    if (c->arena)
        c->arena->used = m.used;
}

/* Bitcoin's skip-list heights: any ancestor is reached in O(log n) hops. */
static uint64_t clear_lowest(uint64_t n)
{
    return n & (n - 1);
}

static uint64_t skip_height(uint64_t h)
{
    if (h < 2)
        return 0;
    return (h & 1) ? clear_lowest(clear_lowest(h - 1)) + 1 : clear_lowest(h);
}

const cairn_chain_block *cairn_chain_block_ancestor(const cairn_chain_block *b, uint64_t height)
{
    if (height > b->hdr.height)
        return NULL;
    uint64_t h = b->hdr.height;
    while (h > height) {
        uint64_t hs = skip_height(h), hsp = skip_height(h - 1);
        if (b->skip && (hs == height || (hs > height && !(hsp + 2 < hs && hsp >= height)))) {
            b = b->skip;
            h = hs;
        } else {
            b = b->parent;
            h--;
        }
    }
    return b;
}

cairn_chain_block *chain_record_new(cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN],
                                    const cairn_block_header *hdr, cairn_chain_block *parent)
{
    cairn_chain_block *b = c->free_recs;
    if (b) { /* a pruned record [SYNC-44] */
        c->free_recs = b->sibling;
        memset(b, 0, sizeof(*b));
        b->iflags = CHAIN_RECYCLED;
    } else {
        if (!c->arena || c->arena->used == c->arena->cap) {
            size_t cap = c->arena ? 2 * c->arena->cap : CHAIN_ARENA_FIRST;
            if (cap > CHAIN_ARENA_RECORDS)
                cap = CHAIN_ARENA_RECORDS;
            chain_arena *a = cairn_mem_malloc(c->mem, sizeof(*a) + cap * sizeof(a->recs[0]));
            if (!a)
                return NULL;
            a->next = c->arena;
            a->used = 0;
            a->cap = cap;
            c->arena = a;
        }
        b = &c->arena->recs[c->arena->used++];
        memset(b, 0, sizeof(*b));
    }
    memcpy(b->id, id, CAIRN_HASH_LEN);
    b->hdr = *hdr;
    b->parent = parent;
    if (parent) {
        b->work = parent->work;
        b->skip = (cairn_chain_block *)cairn_chain_block_ancestor(parent, skip_height(hdr->height));
    }
    cairn_work_add_block(&b->work, hdr->bits); /* [POW-3] work per block = 2^bits */
    b->seq = ++c->next_seq;
    return b;
}

int chain_better(const cairn_chain_block *a, const cairn_chain_block *b)
{
    int w = cairn_work_cmp(&a->work, &b->work);
    if (w != 0)
        return w > 0;
    /* [FORK-10] equal work: the first received wins, so a later block of
     * equal work never moves the tip and withholding a block gains nothing. */
    return a->seq < b->seq;
}

static cairn_chain_block *first_ok(cairn_chain_block *x, uint32_t mask, uint32_t reject)
{
    while (x && ((x->flags & mask) != mask || (x->flags & reject)))
        x = x->sibling;
    return x;
}

cairn_chain_block *chain_walk_next(const cairn_chain_block *root, cairn_chain_block *x,
                                   uint32_t mask, uint32_t reject)
{
    cairn_chain_block *n = first_ok(x->child, mask, reject);
    if (n)
        return n;
    while (x != root) {
        if ((n = first_ok(x->sibling, mask, reject)) != NULL)
            return n;
        x = x->parent;
    }
    return NULL;
}

void chain_rescan_best_header(cairn_chain *c)
{
    c->low_dirty = 1; /* [SYNC-44] */
    c->best_header = c->genesis;
    for (size_t i = 0; i < c->table_cap; i++) {
        cairn_chain_block *b = c->table[i];
        if (b && !(b->flags & CAIRN_CHAIN_FAILED) && chain_better(b, c->best_header))
            c->best_header = b;
    }
}

int chain_reserve_active(cairn_chain *c, uint64_t height)
{
    if (height >= SIZE_MAX / sizeof(*c->active) / 2)
        return CAIRN_ERR_NOMEM;
    size_t need = (size_t)height + 1;
    if (need <= c->active_cap)
        return 0;
    size_t cap = c->active_cap ? c->active_cap : 1024;
    while (cap < need)
        cap *= 2;
    cairn_chain_block **a = cairn_mem_realloc(c->mem, c->active, cap * sizeof(*a));
    if (!a)
        return CAIRN_ERR_NOMEM;
    c->active = a;
    c->active_cap = cap;
    return 0;
}

/* Linear probing deletion by backward shift: no tombstones. */
static void table_del(cairn_chain *c, const cairn_chain_block *b)
{
    size_t mask = c->table_cap - 1, i = slot_of(c, b->id);
    while (c->table[i] != b)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; c->table[j]; j = (j + 1) & mask) {
        size_t k = slot_of(c, c->table[j]->id);
        /* the entry at j may move to i unless its home k lies in (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            c->table[i] = c->table[j];
            i = j;
        }
    }
    c->table[i] = NULL;
}

void chain_remove_leaf(cairn_chain *c, cairn_chain_block *b)
{
    cairn_chain_block **pp = &b->parent->child;
    while (*pp != b)
        pp = &(*pp)->sibling;
    *pp = b->sibling;
    table_del(c, b);
    c->count--;
    b->sibling = c->free_recs;
    c->free_recs = b;
}
