/*
 * fuzz_json: the proto3 JSON mapping of reference/json (cairn/json.h), which
 * reads the test vectors, the conformance case files and wire logs.
 *
 * Input: one byte `mode << 7 | type index` (into fuzz_msg_types), then
 *  - mode 0: JSON text, parsed by jansson and mapped to a message of the type;
 *  - mode 1: a payload of the type, decoded by cairn_msg_decode_unchecked
 *    (wire scan + unpack, no semantic validation).
 *
 * Oracles:
 *  - cairn_json_to_msg returns 0 or CAIRN_ERR_INVALID_ARG, and a rejection
 *    always says why;
 *  - parse -> print -> parse: what the mapping accepted it prints, the print
 *    parses back to a message equal field by field (fuzz_msg_equal) that packs
 *    to the same bytes, and printing that gives the same text (print is a
 *    function of the message);
 *  - a message built from JSON goes through every message oracle
 *    (fuzz_msg_oracle) as the payload protobuf-c packs from it;
 *  - mode 1: a payload that scans and unpacks prints, parses back to an equal
 *    message, and packs to exactly the payload (it was canonical);
 *  - nothing leaks (the counting allocator of the arena and ASan).
 */
#include <string.h>

#include <jansson.h>

#include "cairn/json.h"
#include "common.h"

#define ARENA_BUDGET (64u << 20)

/* Packs `m` into a fresh heap buffer; *len receives its length. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    FUZZ_CHECK(p != NULL, "out of memory");
    FUZZ_CHECK(protobuf_c_message_pack(m, p) == *len, "pack length differs from its size");
    return p;
}

/* The canonical print of `m` (sorted keys), heap string. */
static char *print(const ProtobufCMessage *m)
{
    json_t *j = cairn_json_from_msg(m);
    FUZZ_CHECK(j != NULL, "cairn_json_from_msg failed on a %s", m->descriptor->short_name);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(s != NULL, "json_dumps failed");
    json_decref(j);
    return s;
}

/*
 * The round trip from an accepted message `m1`: print, parse the print,
 * compare. Returns the packed bytes of m1 (caller frees) in *packed.
 */
static void round_trip(const cairn_mem *mem, const ProtobufCMessage *m1, uint8_t **packed,
                       size_t *plen)
{
    const ProtobufCMessageDescriptor *desc = m1->descriptor;
    char *text = print(m1);
    json_error_t jerr;
    json_t *j2 = json_loads(text, 0, &jerr);
    FUZZ_CHECK(j2 != NULL, "the print of a %s is not JSON: %s: %s", desc->short_name, jerr.text,
               text);
    cairn_arena a2;
    cairn_arena_init(&a2, mem);
    cairn_arena_reset(&a2, ARENA_BUDGET);
    ProtobufCMessage *m2 = NULL;
    char err[256] = "";
    int rv = cairn_json_to_msg(j2, desc, &a2, &m2, err, sizeof(err));
    FUZZ_CHECK(rv == 0, "the print of a %s does not parse back: %s: %s", desc->short_name, err,
               text);
    FUZZ_CHECK(fuzz_msg_equal(m1, m2), "parse(print(m)) != m for a %s: %s", desc->short_name, text);
    char *text2 = print(m2);
    FUZZ_CHECK(strcmp(text, text2) == 0, "print(parse(print(m))) != print(m): %s vs %s", text,
               text2);
    size_t l1, l2;
    uint8_t *p1 = pack(m1, &l1), *p2 = pack(m2, &l2);
    FUZZ_CHECK(l1 == l2 && (l1 == 0 || memcmp(p1, p2, l1) == 0),
               "m and parse(print(m)) pack differently (%zu and %zu bytes)", l1, l2);
    free(p2);
    free(text2);
    cairn_arena_free(&a2);
    json_decref(j2);
    free(text);
    *packed = p1;
    *plen = l1;
}

static void from_json(const cairn_mem *mem, uint16_t type, const uint8_t *p, size_t n)
{
    const ProtobufCMessageDescriptor *desc = cairn_msg_descriptor(type);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)p, n, JSON_DECODE_ANY, &jerr);
    if (!j)
        return;
    cairn_arena a;
    cairn_arena_init(&a, mem);
    cairn_arena_reset(&a, ARENA_BUDGET);
    ProtobufCMessage *m = NULL;
    char err[256] = "";
    int rv = cairn_json_to_msg(j, desc, &a, &m, err, sizeof(err));
    FUZZ_CHECK(rv == 0 || rv == CAIRN_ERR_INVALID_ARG, "cairn_json_to_msg returned %d", rv);
    fuzz_check_err(rv, "json_to_msg");
    if (rv == 0) {
        FUZZ_CHECK(m != NULL && m->descriptor == desc, "accepted without a %s", desc->short_name);
        uint8_t *packed;
        size_t plen;
        round_trip(mem, m, &packed, &plen);
        /* What JSON builds must pass every oracle of the message layer. */
        fuzz_msg_oracle(mem, type, packed, plen);
        free(packed);
    } else {
        FUZZ_CHECK(err[0] != '\0', "a %s was rejected without a reason", desc->short_name);
    }
    cairn_arena_free(&a);
    json_decref(j);
}

static void from_payload(const cairn_mem *mem, uint16_t type, const uint8_t *p, size_t n)
{
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, mem);
    ProtobufCMessage *m = NULL;
    if (cairn_msg_decode_unchecked(&d, type, p, n, &m) == 0) {
        uint8_t *packed;
        size_t plen;
        round_trip(mem, m, &packed, &plen);
        FUZZ_CHECK(plen == n && (n == 0 || memcmp(packed, p, n) == 0),
                   "a scanned %s does not re-pack to its payload after the JSON round trip",
                   m->descriptor->short_name);
        free(packed);
    }
    cairn_msg_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 16))
        return 0;
    fuzz_env e;
    fuzz_env_init(&e, 1);
    uint16_t type = fuzz_msg_types[(data[0] & 0x7F) % fuzz_n_msg_types];
    if (data[0] & 0x80)
        from_payload(&e.mem, type, data + 1, size - 1);
    else
        from_json(&e.mem, type, data + 1, size - 1);
    FUZZ_CHECK(e.live == 0, "%ld allocations leaked", e.live);
    return 0;
}
