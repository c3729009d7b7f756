/*
 * §10.1 Headers-first sync helpers: block locators, the responder's side of
 * GetHeaders, and the bodies still missing on the best-header chain.
 */
#include "chain_int.h"

size_t cairn_chain_locator(const cairn_chain *c, const cairn_chain_block *from,
                           uint8_t (*out)[CAIRN_HASH_LEN], size_t cap)
{
    if (cap > CAIRN_LOCATOR_MAX)
        cap = CAIRN_LOCATOR_MAX;
    if (cap == 0)
        return 0;
    if (!from)
        from = c->tip;
    size_t n = 0;
    uint64_t h = from->hdr.height, step = 1;
    for (;;) {
        if (n + 1 == cap)
            h = 0; /* the last slot is always genesis */
        memcpy(out[n++], cairn_chain_block_ancestor(from, h)->id, CAIRN_HASH_LEN);
        if (h == 0)
            return n;
        /* The 10 most recent, then back 2, 4, 8, ... */
        if (n >= CAIRN_LOCATOR_DENSE && step < (UINT64_C(1) << 62))
            step *= 2;
        h = h > step ? h - step : 0;
    }
}

int cairn_chain_get_headers(const cairn_chain *c, const uint8_t (*locator)[CAIRN_HASH_LEN],
                            size_t n_locator, const uint8_t *stop_id, uint32_t max_count,
                            uint8_t (*out)[CAIRN_BLOCK_HEADER_LEN], size_t cap, size_t *count)
{
    *count = 0;
    if (n_locator > CAIRN_LOCATOR_MAX || max_count > CAIRN_HEADERS_MAX)
        return CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD);
    /* The first locator ID on the active chain; unknown ones are skipped. */
    uint64_t start = 0;
    for (size_t i = 0; i < n_locator; i++) {
        const cairn_chain_block *b = chain_find(c, locator[i]);
        if (b && cairn_chain_is_active(c, b)) {
            start = b->hdr.height;
            break;
        }
    }
    size_t limit = max_count ? max_count : CAIRN_HEADERS_MAX;
    if (limit > cap)
        limit = cap;
    size_t k = 0;
    for (uint64_t h = start + 1; h < c->active_len && k < limit; h++) {
        const cairn_chain_block *b = c->active[h];
        cairn_block_header_encode(out[k++], &b->hdr);
        if (stop_id && memcmp(b->id, stop_id, CAIRN_HASH_LEN) == 0)
            break;
    }
    *count = k;
    return 0;
}

size_t cairn_chain_missing_bodies(const cairn_chain *c, uint64_t from,
                                  const cairn_chain_block **out, size_t window)
{
    const cairn_chain_block *best = c->best_header;
    if (window == 0 || best->hdr.height < from)
        return 0;
    uint64_t top = best->hdr.height;
    if (top - from >= window)
        top = from + window - 1;
    /* Walk down from `top`, filling `out` from the back; then close the gap. */
    size_t k = window;
    for (const cairn_chain_block *b = cairn_chain_block_ancestor(best, top);
         b && b->hdr.height >= from; b = b->parent) {
        if (!(b->flags & (CAIRN_CHAIN_HAVE_DATA | CAIRN_CHAIN_FAILED)))
            out[--k] = b;
        if (b->hdr.height == 0)
            break;
    }
    size_t n = window - k;
    memmove(out, out + k, n * sizeof(*out));
    return n;
}
