/*
 * [SYNC-44] Low-work headers: one global bound across peers and sessions,
 * kept by deleting the most recently received low-work header-only records,
 * leaves first, from memory and from the store in one write.
 */
#include <stdlib.h>

#include "chain_int.h"

#define DEFAULT_MAX_LOW_WORK 20000

/* Marks `b` and its header-only ancestors as kept; a record with data has
 * only ancestors with data or links, which are never candidates anyway. */
static void keep_branch(const cairn_chain_block *b)
{
    for (cairn_chain_block *x = (cairn_chain_block *)b;
         x && !(x->flags & CAIRN_CHAIN_HAVE_DATA) && !(x->iflags & CHAIN_KEEP); x = x->parent)
        x->iflags |= CHAIN_KEEP;
}

static void unkeep_branch(const cairn_chain_block *b)
{
    for (cairn_chain_block *x = (cairn_chain_block *)b; x && (x->iflags & CHAIN_KEEP);
         x = x->parent)
        x->iflags &= ~(uint32_t)CHAIN_KEEP;
}

static int is_candidate(const cairn_chain *c, const cairn_chain_block *b)
{
    return !(b->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)) &&
           !(b->iflags & CHAIN_KEEP) && cairn_work_cmp(&b->work, &c->tip->work) <= 0;
}

/* Newest first: a child always arrived after its parent. */
static int by_seq_desc(const void *a, const void *b)
{
    const cairn_chain_block *x = *(const cairn_chain_block *const *)a,
                            *y = *(const cairn_chain_block *const *)b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static int all_children_pruned(const cairn_chain_block *b)
{
    for (const cairn_chain_block *x = b->child; x; x = x->sibling)
        if (!(x->iflags & CHAIN_PRUNE))
            return 0;
    return 1;
}

void chain_prune_low_work(cairn_chain *c)
{
    size_t max = c->max_low ? c->max_low : DEFAULT_MAX_LOW_WORK;
    if (c->n_low <= max && !c->low_dirty &&
        !(c->has_watch && cairn_work_cmp(&c->tip->work, &c->low_watch) >= 0))
        return;
    keep_branch(c->best_header);
    for (size_t i = 0; i < c->n_pins; i++)
        keep_branch(c->pins[i]);
    size_t n = 0;
    c->has_watch = 0;
    for (size_t i = 0; i < c->table_cap; i++) {
        const cairn_chain_block *b = c->table[i];
        if (!b)
            continue;
        if (is_candidate(c, b)) {
            n++;
        } else if (!(b->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)) &&
                   !(b->iflags & CHAIN_KEEP) &&
                   (!c->has_watch || cairn_work_cmp(&b->work, &c->low_watch) < 0)) {
            c->low_watch = b->work; /* heavier than the tip for now */
            c->has_watch = 1;
        }
    }
    c->low_dirty = 0;
    cairn_chain_block **cand = n > max ? cairn_mem_calloc(c->mem, n, sizeof(*cand)) : NULL;
    size_t k = 0, target = max - max / 4, removed = 0;
    if (cand) {
        for (size_t i = 0; i < c->table_cap; i++)
            if (c->table[i] && is_candidate(c, c->table[i]))
                cand[k++] = c->table[i];
        qsort(cand, k, sizeof(*cand), by_seq_desc);
        /* choose: children come before their parents in this order */
        size_t w = 0;
        for (size_t i = 0; i < k && n - w > target; i++)
            if (all_children_pruned(cand[i])) {
                cand[i]->iflags |= CHAIN_PRUNE;
                cand[w++] = cand[i];
            }
        cairn_chain_write wr = {.pruned = (const cairn_chain_block *const *)cand, .n_pruned = w};
        if (w && c->store && c->store->write(c->store->ud, &wr) != 0) {
            for (size_t i = 0; i < w; i++)
                cand[i]->iflags &= ~(uint32_t)CHAIN_PRUNE;
            w = 0; /* the store refused: keep everything, try again next time */
        }
        for (size_t i = 0; i < w; i++) /* leaves first, as chosen */
            chain_remove_leaf(c, cand[i]);
        removed = w;
        cairn_mem_free(c->mem, cand);
    }
    unkeep_branch(c->best_header);
    for (size_t i = 0; i < c->n_pins; i++)
        unkeep_branch(c->pins[i]);
    c->n_low = n - removed;
}

size_t cairn_chain_low_work_count(const cairn_chain *c)
{
    size_t n = 0;
    cairn_chain *m = (cairn_chain *)c; /* marks are cleared before returning */
    keep_branch(c->best_header);
    for (size_t i = 0; i < c->n_pins; i++)
        keep_branch(c->pins[i]);
    for (size_t i = 0; i < c->table_cap; i++)
        n += c->table[i] && is_candidate(c, c->table[i]);
    unkeep_branch(m->best_header);
    for (size_t i = 0; i < c->n_pins; i++)
        unkeep_branch(c->pins[i]);
    return n;
}

int cairn_chain_pin(cairn_chain *c, const cairn_chain_block *b)
{
    if (c->n_pins == CHAIN_MAX_PINS)
        return CAIRN_ERR_NOMEM;
    c->pins[c->n_pins++] = b;
    return 0;
}

void cairn_chain_unpin(cairn_chain *c, const cairn_chain_block *b)
{
    for (size_t i = 0; i < c->n_pins; i++)
        if (c->pins[i] == b) {
            c->pins[i] = c->pins[--c->n_pins];
            /* its branch may be low-work now, uncounted (found by
             * fuzz_node_core: a redownload cut short kept 2,000 headers
             * over a bound of 4) */
            c->low_dirty = 1;
            chain_prune_low_work(c);
            return;
        }
}
