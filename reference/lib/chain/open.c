/*
 * Creating a chain: the genesis record, loading and re-checking a store's
 * records, and the accessors.
 */
#include "chain_int.h"

#define DEFAULT_MAX_ORPHANS      256
#define DEFAULT_MAX_ORPHAN_BYTES (32u << 20)

/* The genesis record, built from the network parameters. */
static int make_genesis(cairn_chain *c)
{
    cairn_block_header hdr;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    int rv = cairn_network_genesis(c->net, &hdr, raw);
    if (rv == 0)
        rv = cairn_block_id(c->sha, id, raw);
    if (rv != 0)
        return rv;
    if (memcmp(id, c->net->genesis_id, CAIRN_HASH_LEN) != 0)
        return CAIRN_ERR_INVALID_ARG; /* a custom network with a wrong genesis_id */
    cairn_chain_block *g = chain_record_new(c, id, &hdr, NULL);
    if (!g || chain_reserve(c, 1) != 0 || chain_reserve_active(c, 0) != 0)
        return CAIRN_ERR_NOMEM;
    g->flags = CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_LINKED;
    chain_insert(c, g);
    c->genesis = c->tip = c->best_header = g;
    c->active[0] = g;
    c->active_len = 1;
    return 0;
}

/*
 * One stored record. The store is trusted for nothing but durability: IDs
 * are recomputed and every context-free rule and link re-checked, so a
 * damaged database fails to load instead of yielding a wrong chain.
 * Time rules are not re-checked: they held when the block arrived.
 */
static int load_one(void *ud, const uint8_t header[CAIRN_BLOCK_HEADER_LEN], int have_data)
{
    cairn_chain *c = ud;
    cairn_block_header hdr;
    uint8_t id[CAIRN_HASH_LEN];
    uint32_t reason;
    if (cairn_block_precheck(c->sha, header, CAIRN_BLOCK_HEADER_LEN, NULL, 0, c->net->bits, &hdr,
                             id, &reason) != 0)
        return CAIRN_ERR_INTERNAL;
    if (hdr.height == 0)
        return memcmp(id, c->genesis->id, CAIRN_HASH_LEN) == 0 && have_data ? 0
                                                                            : CAIRN_ERR_INTERNAL;
    cairn_chain_block *parent = chain_find(c, hdr.prev_id);
    if (!parent || chain_find(c, id) ||
        cairn_block_check_link(&hdr, &parent->hdr, parent->id, &reason) != 0)
        return CAIRN_ERR_INTERNAL;
    cairn_chain_block *b = chain_record_new(c, id, &hdr, parent);
    if (!b || chain_reserve(c, 1) != 0)
        return CAIRN_ERR_NOMEM;
    if (have_data) {
        b->flags = CAIRN_CHAIN_HAVE_DATA;
        if (parent->flags & CAIRN_CHAIN_LINKED) /* parents load first */
            b->flags |= CAIRN_CHAIN_LINKED;
    }
    chain_insert(c, b);
    if ((b->flags & CAIRN_CHAIN_LINKED) && chain_better(b, c->tip))
        c->tip = b;
    return 0;
}

static int load(cairn_chain *c)
{
    uint8_t tip[CAIRN_HASH_LEN];
    int have_tip = 0;
    int rv = c->store->load(c->store->ud, load_one, c, tip, &have_tip);
    if (rv != 0)
        return rv;
    if (!have_tip) {
        if (c->count != 1)
            return CAIRN_ERR_INTERNAL; /* records but no tip */
        /* A new store: genesis is its first block. */
        cairn_bytes_ref e = {c->net->genesis_entry, c->net->genesis_entry_len};
        cairn_chain_write w = {
            .block = c->genesis, .entries = &e, .n_entries = 1, .tip = c->genesis};
        return c->store->write(c->store->ud, &w);
    }
    /* Fork choice over what was loaded must land where the store says; among
     * tips of equal work the stored one is the one that arrived first
     * [FORK-10], which load order cannot tell. */
    if (memcmp(tip, c->tip->id, CAIRN_HASH_LEN) != 0) {
        cairn_chain_block *t = chain_find(c, tip);
        if (!t || !(t->flags & CAIRN_CHAIN_LINKED) || cairn_work_cmp(&t->work, &c->tip->work) != 0)
            return CAIRN_ERR_INTERNAL;
        t->seq = 0;
        c->tip = t;
        if (cairn_work_cmp(&c->best_header->work, &t->work) == 0)
            c->best_header = t;
    }
    if ((rv = chain_reserve_active(c, c->tip->hdr.height)) != 0)
        return rv;
    for (cairn_chain_block *x = c->tip; x; x = x->parent)
        c->active[x->hdr.height] = x;
    c->active_len = (size_t)c->tip->hdr.height + 1;
    return 0;
}

int cairn_chain_new(cairn_chain **out, const cairn_chain_config *cfg)
{
    *out = NULL;
    if (!cfg->net || !cfg->env || !cfg->env->mem || !cfg->env->wall_ms || cfg->net->bits >= 256)
        return CAIRN_ERR_INVALID_ARG;
    cairn_chain *c = cairn_mem_calloc(cfg->env->mem, 1, sizeof(*c));
    if (!c)
        return CAIRN_ERR_NOMEM;
    c->cfg = *cfg;
    c->net = cfg->net;
    c->env = cfg->env;
    c->mem = cfg->env->mem;
    c->store = cfg->store;
    c->max_orphans = cfg->max_orphans ? cfg->max_orphans : DEFAULT_MAX_ORPHANS;
    c->max_orphan_bytes = cfg->max_orphan_bytes ? cfg->max_orphan_bytes : DEFAULT_MAX_ORPHAN_BYTES;
    c->max_low = cfg->max_low_work;
    int rv = cairn_sha256_ctx_new(&c->sha);
    if (rv == 0)
        rv = chain_index_init(c);
    if (rv == 0 && !(c->orphans = cairn_mem_calloc(c->mem, c->max_orphans, sizeof(*c->orphans))))
        rv = CAIRN_ERR_NOMEM;
    if (rv == 0)
        rv = make_genesis(c);
    if (rv == 0 && c->store)
        rv = load(c);
    if (rv != 0) {
        cairn_chain_del(c);
        return rv;
    }
    *out = c;
    return 0;
}

void cairn_chain_del(cairn_chain *c)
{
    if (!c)
        return;
    if (c->orphans)
        chain_orphans_clear(c);
    cairn_mem_free(c->mem, c->orphans);
    cairn_mem_free(c->mem, c->active);
    chain_index_free(c);
    cairn_sha256_ctx_del(c->sha);
    cairn_mem_free(c->mem, c);
}

const cairn_network *cairn_chain_network(const cairn_chain *c)
{
    return c->net;
}

const cairn_chain_block *cairn_chain_genesis(const cairn_chain *c)
{
    return c->genesis;
}

const cairn_chain_block *cairn_chain_tip(const cairn_chain *c)
{
    return c->tip;
}

const cairn_chain_block *cairn_chain_best_header(const cairn_chain *c)
{
    return c->best_header;
}

const cairn_chain_block *cairn_chain_find(const cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN])
{
    return chain_find(c, id);
}

const cairn_chain_block *cairn_chain_at(const cairn_chain *c, uint64_t height)
{
    return height < c->active_len ? c->active[height] : NULL;
}

size_t cairn_chain_orphan_count(const cairn_chain *c)
{
    return c->n_orphans;
}

size_t cairn_chain_record_count(const cairn_chain *c)
{
    return c->count;
}
