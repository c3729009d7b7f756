/*
 * The miner: a block template on the active tip filled with pending entries,
 * and a nonce search over the exact header bytes.
 */
#include "chain_int.h"

int cairn_miner_template(cairn_chain *c, const cairn_mempool *pool, uint64_t now_ms,
                         cairn_block_header *hdr, cairn_bytes_ref *entries, size_t cap, size_t *n)
{
    const cairn_chain_block *tip = c->tip;
    *n = pool ? cairn_mempool_select(pool, entries, cap) : 0;
    memset(hdr, 0, sizeof(*hdr));
    hdr->version = CAIRN_BLOCK_VERSION;
    hdr->height = tip->hdr.height + 1;
    /* [VAL-11] strictly after the median time of the last 11 blocks */
    uint64_t median = cairn_chain_median_time(tip);
    hdr->time_ms = now_ms > median ? now_ms : median + 1;
    hdr->bits = c->net->bits;
    hdr->nonce = 0;
    memcpy(hdr->prev_id, tip->id, CAIRN_HASH_LEN);
    return cairn_block_entries_root(c->sha, hdr->entries_root, entries, *n);
}

int cairn_miner_solve(cairn_sha256_ctx *ctx, cairn_block_header *hdr, uint64_t max_tries,
                      uint8_t raw[CAIRN_BLOCK_HEADER_LEN], uint8_t id[CAIRN_HASH_LEN])
{
    cairn_block_header_encode(raw, hdr);
    for (uint64_t i = 0; i < max_tries; i++) {
        cairn_put_u64(raw + 24, hdr->nonce); /* only the nonce changes */
        int rv = cairn_block_id(ctx, id, raw);
        if (rv != 0)
            return rv;
        if (cairn_pow_ok(id, hdr->bits))
            return 0;
        hdr->nonce++;
    }
    return CAIRN_ERR_AGAIN;
}
