/* cairn headers, cairn block: the peer's chain, validated as a node would. */
#include <stdlib.h>

#include "cairn/port.h"
#include "cli.h"

int cli_check_block(const cli_common *o, cairn_client *c, const Cairn__V1__Block *b)
{
    cairn_bytes_ref *refs = calloc(b->n_entries ? b->n_entries : 1, sizeof(*refs));
    if (!refs)
        return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "out of memory");
    for (size_t i = 0; i < b->n_entries; i++)
        refs[i] = (cairn_bytes_ref){b->entries[i].data, b->entries[i].len};
    cairn_block_header h;
    uint8_t id[CAIRN_HASH_LEN];
    uint32_t reason = 0;
    int rv = cairn_block_precheck(NULL, b->header.data, b->header.len, refs, b->n_entries,
                                  o->net->bits, &h, id, &reason);
    if (rv == 0 && h.height == 0 && memcmp(id, o->net->genesis_id, CAIRN_HASH_LEN) != 0) {
        rv = CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK); /* [VAL-8] */
        reason = CAIRN_BLOCK_BAD_GENESIS;
    }
    if (rv == 0)
        rv = cairn_block_check_body(NULL, cairn_port_mem(), refs, b->n_entries, h.entries_root,
                                    &reason, NULL);
    free(refs);
    if (rv == 0)
        return 0;
    if (cairn_err_wire_code(rv) != CAIRN_E_INVALID_BLOCK)
        return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "cannot check the block: %s", cairn_strerror(rv));
    char text[96];
    const char *rname = cairn_block_reason_name(reason);
    snprintf(text, sizeof(text), "block at height %llu fails validation: %s",
             (unsigned long long)h.height, rname ? rname : "?");
    rv = cairn_client_abort_detail(c, CAIRN_E_INVALID_BLOCK, reason, text); /* [ERR-5] */
    return cli_client_fail(o, c, rv, NULL, NULL);
}

/* ---- headers ------------------------------------------------------------------------- */

static const char headers_usage[] =
    "Usage: cairn headers ADDR [--from HEIGHT] [--limit N] [options]\n"
    "\n"
    "Lists the block headers of the peer's active chain: height, block ID, time,\n"
    "bits and entries root. Headers are fetched with GetHeaders from genesis,\n"
    "2000 at a time, and validated as a node validates them (proof of work,\n"
    "links, heights, times), so the walk always starts at genesis; --from only\n"
    "selects what is printed.\n"
    "\n"
    "  --from HEIGHT   first height to print (default 0, the genesis block)\n"
    "  --limit N       print at most N headers (default 10000; 0: up to the tip)\n"
    "\n"
    "JSON: {\"addr\", \"tip_height\", \"count\", \"headers\": [{\"id\", \"height\",\n"
    "\"version\", \"time_ms\", \"bits\", \"nonce\", \"prev_id\", \"entries_root\"}]}\n";

/* Fetches headers until `target` or the peer's tip; the chain validates them. */
static int fetch_headers(const cli_common *o, cairn_client *c, cairn_chain *chain, uint64_t target)
{
    for (;;) {
        const cairn_chain_block *best = cairn_chain_best_header(chain);
        if (best->hdr.height >= target)
            return 0;
        uint64_t want = target - best->hdr.height;
        if (want > CAIRN_HEADERS_MAX)
            want = CAIRN_HEADERS_MAX;
        /* [SYNC-1..3] newest first, genesis last; [SYNC-20] the next request's
         * locator starts with the last header received. */
        uint8_t loc[CAIRN_LOCATOR_MAX][CAIRN_HASH_LEN];
        ProtobufCBinaryData refs[CAIRN_LOCATOR_MAX];
        size_t n = cairn_chain_locator(chain, best, loc, CAIRN_LOCATOR_MAX);
        for (size_t i = 0; i < n; i++)
            refs[i] = (ProtobufCBinaryData){CAIRN_HASH_LEN, loc[i]};
        Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
        gh.n_locator = n;
        gh.locator = refs;
        gh.max_count = (uint32_t)want;
        cairn_client_response r;
        int rv = cairn_client_request(c, &gh.base, &r);
        if (rv)
            return cli_client_fail(o, c, rv, &r, "headers");
        const Cairn__V1__Headers *h = (const Cairn__V1__Headers *)r.m;
        cairn_bytes_ref hdrs[CAIRN_HEADERS_MAX];
        for (size_t i = 0; i < h->n_headers; i++)
            hdrs[i] = (cairn_bytes_ref){h->headers[i].data, h->headers[i].len};
        size_t n_new = 0;
        uint32_t reason = 0;
        /* [SYNC-15..18] both passes, in order, nothing stored before pass 1 */
        rv = cairn_chain_add_headers(chain, hdrs, h->n_headers, &n_new, &reason);
        if (cairn_err_wire_code(rv) == CAIRN_E_INVALID_BLOCK) {
            char text[96];
            const char *rname = cairn_block_reason_name(reason);
            snprintf(text, sizeof(text), "Headers fail validation: %s", rname ? rname : "?");
            return cli_client_fail(
                o, c, cairn_client_abort_detail(c, CAIRN_E_INVALID_BLOCK, reason, text), NULL,
                NULL);
        }
        if (rv)
            return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "cannot keep the headers: %s",
                            cairn_strerror(rv));
        /* [SYNC-12] fewer than asked: that is the peer's tip */
        if (h->n_headers < want || n_new == 0)
            return 0;
    }
}

static void print_headers(const cli_common *o, cairn_client *c, const cairn_chain *chain,
                          uint64_t from, uint64_t target)
{
    const cairn_chain_block *best = cairn_chain_best_header(chain);
    uint64_t last = best->hdr.height < target ? best->hdr.height : target;
    json_t *list = o->json ? json_array() : NULL;
    if (!o->json && from <= last)
        printf("%-8s %-64s %-24s %4s  %s\n", "height", "id", "time", "bits", "entries_root");
    for (uint64_t hgt = from; hgt <= last; hgt++) {
        const cairn_chain_block *b = cairn_chain_block_ancestor(best, hgt);
        uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
        cairn_block_header_encode(raw, &b->hdr);
        if (o->json) {
            json_array_append_new(list, cli_header_json(raw));
            continue;
        }
        char id[65], root[65], t[40];
        cairn_hex_encode(id, b->id, CAIRN_HASH_LEN);
        cairn_hex_encode(root, b->hdr.entries_root, CAIRN_HASH_LEN);
        cli_format_time(t, sizeof(t), b->hdr.time_ms);
        printf("%-8llu %s %-24s %4u  %s\n", (unsigned long long)hgt, id, t, b->hdr.bits, root);
    }
    if (o->json)
        cli_emit(json_pack("{s:s, s:o, s:o, s:o}", "addr", cairn_client_addr(c), "tip_height",
                           cli_json_u64(best->hdr.height), "count",
                           cli_json_u64(from <= last ? last - from + 1 : 0), "headers", list));
    else if (from > last)
        fprintf(stderr, "cairn: no headers at or above height %llu (the peer's tip is at %llu)\n",
                (unsigned long long)from, (unsigned long long)best->hdr.height);
}

int cmd_headers(int argc, char **argv)
{
    const char *from_s = NULL, *limit_s = NULL, *pos[1];
    const cli_option opts[] = {{"from", 1, &from_s}, {"limit", 1, &limit_s}};
    cli_common o;
    int ex = cli_begin(&o, argc, argv, opts, 2, headers_usage, pos, 1, "ADDR");
    if (ex != CLI_CONTINUE)
        return ex;
    uint64_t from = 0, limit = 10000;
    if (from_s && cli_parse_u64(from_s, &from))
        return cli_usage_error(&o, "--from wants a height, not '%s'", from_s);
    if (limit_s && cli_parse_u64(limit_s, &limit))
        return cli_usage_error(&o, "--limit wants a count, not '%s'", limit_s);
    uint64_t target = limit == 0 || from > UINT64_MAX - limit ? UINT64_MAX : from + limit - 1;

    cairn_chain *chain = NULL;
    cairn_chain_config cc = {.net = o.net, .env = cairn_port_env()};
    int rv = cairn_chain_new(&chain, &cc);
    if (rv)
        return cli_fail(&o, CLI_EXIT_FAIL, 0, 0, "cannot set up a chain: %s", cairn_strerror(rv));
    cairn_client *c = NULL;
    ex = cli_open(&o, &c);
    if (ex == 0)
        ex = cli_need_service(&o, c, CAIRN_SERVICE_CHAIN);
    if (ex == 0)
        ex = fetch_headers(&o, c, chain, target);
    if (ex == 0)
        print_headers(&o, c, chain, from, target);
    cli_close(c);
    cairn_chain_del(chain);
    return ex;
}

/* ---- block -------------------------------------------------------------------------- */

static const char block_usage[] =
    "Usage: cairn block ADDR ID|HEIGHT [options]\n"
    "\n"
    "Fetches one block with GetBlock, by its 64-hex-digit ID or by its height on\n"
    "the peer's active chain, checks it (proof of work, entries, entries root) and\n"
    "prints its header and entries: kind, length, entry ID, and the data as text\n"
    "when it is text (else hex), or a manifest's file ID, size, chunk size and\n"
    "name. Exit status 3 when the peer has no such block.\n"
    "\n"
    "JSON: the header's fields (as in `cairn headers`) plus \"entry_count\" and\n"
    "\"entries\": [{\"index\", \"kind\" (data|manifest), \"length\" (with the kind\n"
    "byte), \"id\", \"text\" | \"hex\" | \"file_id\", \"size\", \"chunk_size\",\n"
    "\"chunks\", \"root\", \"name\"}]\n";

int cmd_block(int argc, char **argv)
{
    const char *pos[2];
    cli_common o;
    int ex =
        cli_begin(&o, argc, argv, NULL, 0, block_usage, pos, 2, "ADDR and a block ID or height");
    if (ex != CLI_CONTINUE)
        return ex;
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    uint8_t id[CAIRN_HASH_LEN];
    char what[96];
    if (strlen(pos[1]) == 2 * CAIRN_HASH_LEN && cairn_hex_decode(id, CAIRN_HASH_LEN, pos[1]) == 0) {
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
        gb.block_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, id};
        snprintf(what, sizeof(what), "block %.64s", pos[1]);
    } else if (cli_parse_u64(pos[1], &gb.height) == 0) {
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        snprintf(what, sizeof(what), "block at height %llu", (unsigned long long)gb.height);
    } else {
        return cli_usage_error(&o, "'%s' is neither a block ID (64 hex digits) nor a height",
                               pos[1]);
    }
    cairn_client *c;
    ex = cli_open(&o, &c);
    if (ex)
        return ex;
    cairn_client_response r;
    if ((ex = cli_need_service(&o, c, CAIRN_SERVICE_CHAIN)) != 0)
        goto out;
    int rv = cairn_client_request(c, &gb.base, &r);
    if (rv) {
        ex = cli_client_fail(&o, c, rv, &r, what);
        goto out;
    }
    const Cairn__V1__Block *b = (const Cairn__V1__Block *)r.m;
    if ((ex = cli_check_block(&o, c, b)) != 0)
        goto out;
    if (o.json) {
        json_t *j = cli_header_json(b->header.data), *list = json_array();
        for (size_t i = 0; i < b->n_entries; i++)
            json_array_append_new(list, cli_entry_json(i, b->entries[i].data, b->entries[i].len));
        json_object_set_new(j, "entry_count", json_integer((json_int_t)b->n_entries));
        json_object_set_new(j, "entries", list);
        cli_emit(j);
    } else {
        cli_header_print(stdout, b->header.data);
        printf("entries       %zu\n", b->n_entries);
        for (size_t i = 0; i < b->n_entries; i++)
            cli_entry_print(stdout, i, b->entries[i].data, b->entries[i].len);
    }
out:
    cli_close(c);
    return ex;
}
