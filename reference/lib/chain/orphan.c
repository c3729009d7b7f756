/*
 * [FORK-1] The orphan pool: blocks whose parent is not known yet, bounded in
 * count and bytes, evicted oldest first. A peer can fill it with junk that
 * passed the context-free checks (PoW included), so nothing in it is trusted:
 * every orphan is validated in full when its parent arrives.
 */
#include "chain_int.h"

static void remove_at(cairn_chain *c, size_t i)
{
    c->orphan_bytes -= c->orphans[i]->bytes;
    memmove(&c->orphans[i], &c->orphans[i + 1], (c->n_orphans - i - 1) * sizeof(*c->orphans));
    c->n_orphans--;
}

void chain_orphan_free(cairn_chain *c, chain_orphan *o)
{
    cairn_mem_free(c->mem, o);
}

int chain_orphan_add(cairn_chain *c, const uint8_t id[CAIRN_HASH_LEN], const uint8_t *header,
                     const cairn_bytes_ref *entries, size_t n)
{
    size_t body = 0;
    for (size_t i = 0; i < n; i++)
        body += entries[i].len; /* bounded by cairn_block_precheck */
    size_t bytes = sizeof(chain_orphan) + n * sizeof(cairn_bytes_ref) + body;
    if (c->max_orphans == 0 || bytes > c->max_orphan_bytes)
        return 0; /* cannot hold it: dropped, as if evicted at once */
    for (size_t i = 0; i < c->n_orphans; i++)
        if (memcmp(c->orphans[i]->id, id, CAIRN_HASH_LEN) == 0)
            return 0;
    chain_orphan *o = cairn_mem_malloc(c->mem, bytes);
    if (!o)
        return CAIRN_ERR_NOMEM;
    memcpy(o->id, id, CAIRN_HASH_LEN);
    memcpy(o->header, header, CAIRN_BLOCK_HEADER_LEN);
    memcpy(o->prev, header + 32, CAIRN_HASH_LEN);
    o->n = n;
    o->bytes = bytes;
    o->entries = (cairn_bytes_ref *)(o + 1);
    uint8_t *p = (uint8_t *)(o->entries + n);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].len)
            memcpy(p, entries[i].data, entries[i].len);
        o->entries[i].data = p;
        o->entries[i].len = entries[i].len;
        p += entries[i].len;
    }
    while (c->n_orphans &&
           (c->n_orphans == c->max_orphans || c->orphan_bytes + bytes > c->max_orphan_bytes)) {
        chain_orphan *old = c->orphans[0];
        remove_at(c, 0);
        chain_orphan_free(c, old);
    }
    c->orphans[c->n_orphans++] = o;
    c->orphan_bytes += bytes;
    return 0;
}

chain_orphan *chain_orphan_take(cairn_chain *c, const uint8_t prev[CAIRN_HASH_LEN])
{
    for (size_t i = 0; i < c->n_orphans; i++) {
        chain_orphan *o = c->orphans[i];
        if (memcmp(o->prev, prev, CAIRN_HASH_LEN) == 0) {
            remove_at(c, i);
            return o;
        }
    }
    return NULL;
}

void chain_orphans_clear(cairn_chain *c)
{
    for (size_t i = 0; i < c->n_orphans; i++)
        chain_orphan_free(c, c->orphans[i]);
    c->n_orphans = 0;
    c->orphan_bytes = 0;
}
