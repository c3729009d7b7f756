/*
 * Writes spec/vectors/entries.json from the reference pool (spec §10.4):
 *   recent_window  which entries a block may contain after 300 blocks of one
 *                  entry each [REL-24] (the window of 256 blocks);
 *   fair_pool      a sequence of submissions from several sources to a small
 *                  pool, each with its outcome and the entries it evicted
 *                  [REL-18], [REL-19], then the entries of full turns of the
 *                  miner's selection [REL-26].
 * Usage: gen_entry_vectors SPEC_DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cairn/chain.h"
#include "cairn/port.h"

static json_t *hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    cairn_hex_encode(s, p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static size_t entry(uint8_t *e, const char *tag, uint32_t i, size_t len)
{
    memset(e, 0, len);
    e[0] = CAIRN_ENTRY_DATA;
    size_t t = strlen(tag);
    memcpy(e + 1, tag, t);
    cairn_put_u32(e + 1 + t, i);
    return len;
}

static json_t *recent_window(cairn_mempool *p)
{
    enum { BLOCKS = 300 };
    uint8_t e[16];
    for (uint32_t h = 1; h <= BLOCKS; h++) { /* the window: heights 45..300 */
        entry(e, "block", h, sizeof(e));
        if (h > BLOCKS - CAIRN_RECENT_ENTRY_WINDOW)
            cairn_mempool_recent_add(p, e, sizeof(e));
    }
    json_t *cand = json_array();
    const uint32_t heights[] = {1, 44, 45, 46, 200, 299, 300};
    for (size_t i = 0; i < sizeof(heights) / sizeof(heights[0]) + 1; i++) {
        int fresh = i == sizeof(heights) / sizeof(heights[0]);
        entry(e, fresh ? "never" : "block", fresh ? 0 : heights[i], sizeof(e));
        uint8_t id[CAIRN_HASH_LEN];
        cairn_entry_id(NULL, id, e, sizeof(e));
        json_t *c =
            json_pack("{s:o, s:o, s:b}", "entry_hex", hex(e, sizeof(e)), "entry_id",
                      hex(id, sizeof(id)), "may_include", !cairn_mempool_recent_contains(p, id));
        if (!fresh)
            json_object_set_new(c, "in_block_at_height", json_integer(heights[i]));
        json_array_append_new(cand, c);
    }
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:o}", "description",
                     "Blocks 1..300 of a chain each hold one entry, 00 || 'block' || u32 height || "
                     "zeros (16 bytes). A block at height 301 may not contain an entry of "
                     "blocks 45..300 [REL-24].",
                     "window", CAIRN_RECENT_ENTRY_WINDOW, "entry_rule",
                     "00 || ascii tag || u32 BE index, zero-padded to 16 bytes", "next_height",
                     BLOCKS + 1, "chain_tip_height", "300", "candidates", cand);
}

/* Entries of the pool that `before` had and `p` no longer has. */
static json_t *evicted(cairn_mempool *p, uint8_t (*ids)[CAIRN_HASH_LEN], int *alive, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        if (alive[i] && !cairn_mempool_contains(p, ids[i])) {
            alive[i] = 0;
            json_array_append_new(a, hex(ids[i], CAIRN_HASH_LEN));
        }
    return a;
}

static json_t *fair_pool(void)
{
    enum { MAX_COUNT = 16, MAX_BYTES = 2048, LEN = 64, STEPS = 64 };
    cairn_mempool *p;
    if (cairn_mempool_new(&p, cairn_port_mem(), MAX_COUNT, MAX_BYTES))
        return NULL;
    /* Eight sources fill the pool with their shares; two more arrive when it
     * is full. A lower-case letter submits that source's first entry again. */
    static const char plan[] = "AAABBCCDDEEFFGGHH"
                               "bIIIJJKA"
                               "KKHL";
    static uint8_t ids[STEPS][CAIRN_HASH_LEN];
    static int alive[STEPS];
    json_t *steps = json_array(), *sources = json_object();
    uint32_t per_src[16] = {0};
    size_t n = 0;
    for (size_t i = 0; plan[i]; i++, n++) {
        int again = plan[i] >= 'a', s = plan[i] - (again ? 'a' : 'A');
        uint8_t key[CAIRN_HASH_LEN], e[LEN];
        memset(key, 0xA0 + s, sizeof(key));
        char name[2] = {(char)('A' + s), 0};
        json_object_set_new(sources, name, hex(key, sizeof(key)));
        /* sizes differ by source, so no two sources ever hold the same bytes */
        size_t len = entry(e, name, again ? 0 : per_src[s]++, LEN - (size_t)s * 4);
        uint32_t why;
        int added = 0;
        int rv = cairn_mempool_add_from(p, e, len, key, ids[i], &why, &added);
        alive[i] = added;
        const char *res = rv == CAIRN_ERR_PROTO(CAIRN_E_BUSY) ? "busy"
                          : rv                                ? "error"
                          : added                             ? "added"
                                                              : "have";
        json_t *st =
            json_pack("{s:s, s:o, s:s}", "source", name, "entry_hex", hex(e, len), "result", res);
        json_object_set_new(st, "evicted", evicted(p, ids, alive, n));
        json_object_set_new(st, "pool_count", json_integer((json_int_t)cairn_mempool_count(p)));
        json_object_set_new(st, "pool_bytes", json_integer((json_int_t)cairn_mempool_bytes(p)));
        json_array_append_new(steps, st);
    }
    cairn_bytes_ref sel[CAIRN_BLOCK_MAX_ENTRIES];
    size_t k = cairn_mempool_select(p, sel, CAIRN_BLOCK_MAX_ENTRIES);
    json_t *all = json_array();
    for (size_t i = 0; i < k; i++) {
        uint8_t id[CAIRN_HASH_LEN];
        cairn_entry_id(NULL, id, sel[i].data, sel[i].len);
        json_array_append_new(all, hex(id, sizeof(id)));
    }
    cairn_mempool_del(p);
    return json_pack(
        "{s:s, s:i, s:i, s:i, s:o, s:o, s:s, s:o}", "description",
        "Submissions to a pool bounded by 16 entries or 2048 bytes, from sources A..L "
        "(keys: 32 bytes), in order. Each source's share is 2 entries or 256 bytes "
        "[REL-18]; a full pool evicts the newest entries of the source holding the most "
        "bytes while it holds more than the submitter would [REL-19]. Entries: 00 || source "
        "letter || u32 BE index, zero-padded to 64 - 4 * (source index, A = 0) bytes.",
        "max_count", MAX_COUNT, "max_bytes", MAX_BYTES, "share_divisor", 8, "sources", sources,
        "steps", steps, "selection",
        "every entry left in the pool, as a miner takes them (a block holds them all)",
        "selected_ids", all);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_entry_vectors SPEC_DIR\n");
        return 2;
    }
    cairn_mempool *p;
    if (cairn_mempool_new(&p, cairn_port_mem(), 0, 0))
        return 1;
    json_t *j = json_pack("{s:s, s:s, s:o, s:o}", "description",
                          "Pending-entry rules of spec §10.4: the recent-entry window and the "
                          "fair pool of the reference.",
                          "generator", "reference/tools/chain/gen_entry_vectors.c", "recent_window",
                          recent_window(p), "fair_pool", fair_pool());
    cairn_mempool_del(p);
    char path[4096];
    snprintf(path, sizeof(path), "%s/vectors/entries.json", argv[1]);
    int rv = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (rv)
        fprintf(stderr, "cannot write %s\n", path);
    return rv ? 1 : 0;
}
