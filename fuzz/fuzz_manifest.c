/*
 * fuzz_manifest: file manifest entries (spec §11.2) as
 * they arrive in blocks, Entries, SubmitEntry and Manifest messages.
 *
 * Input: the entry bytes (first byte = entry kind).
 *
 * Oracles: cairn_manifest_entry_parse accepts exactly what a model written
 * here from the spec accepts (strict UTF-8 by RFC 3629's byte ranges, the
 * name rules, exact length, size and chunk-size limits); an accepted entry
 * re-encodes byte for byte from the parsed fields, whose views point into
 * the input; cairn_entry_check agrees (kind 0x01 = a manifest); a Manifest
 * message carrying the entry encodes and decodes with identical fields.
 */
#include <string.h>

#include "common.h"
#include "cairn/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = fuzz_manifest_violation(data, size);
    cairn_manifest_entry me;
    memset(&me, 0xA5, sizeof(me));
    int rv = cairn_manifest_entry_parse(data, size, &me);
    FUZZ_CHECK((rv == 0) == (why == NULL), "parse %d, model: %s", rv, why ? why : "valid");
    FUZZ_CHECK(rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY), "parse returned %d", rv);
    FUZZ_CHECK(cairn_manifest_entry_parse(data, size, NULL) == rv, "parse without output differs");

    uint32_t reason = 99;
    int crv = cairn_entry_check(data, size, &reason);
    if (size > 65536)
        FUZZ_CHECK(reason == CAIRN_BLOCK_BAD_SIZE, "oversized entry reason %u", reason);
    else if (size >= 1 && data[0] == 0x01)
        FUZZ_CHECK((crv == 0) == (rv == 0) &&
                       reason == (rv == 0 ? CAIRN_BLOCK_OK : CAIRN_BLOCK_BAD_ENTRY),
                   "entry check %d/%u, manifest parse %d", crv, reason, rv);
    else if (size >= 1 && data[0] == 0x00)
        FUZZ_CHECK(crv == 0 && reason == CAIRN_BLOCK_OK, "data entry rejected: %u", reason);
    else
        FUZZ_CHECK(reason == CAIRN_BLOCK_BAD_ENTRY, "entry of kind %d, reason %u",
                   size ? data[0] : -1, reason);

    if (rv != 0)
        return 0;

    /* Re-encode from the parsed fields. */
    FUZZ_CHECK(me.root == data + 10 && me.name == data + 43 && me.name_len == data[42],
               "views do not point into the entry");
    uint8_t enc[298];
    enc[0] = 0x01;
    cairn_put_u64(enc + 1, me.size);
    enc[9] = me.chunk_log2;
    memcpy(enc + 10, me.root, 32);
    enc[42] = (uint8_t)me.name_len;
    memcpy(enc + 43, me.name, me.name_len);
    FUZZ_CHECK(43 + me.name_len == size && memcmp(enc, data, size) == 0,
               "entry does not re-encode from its fields");
    FUZZ_CHECK(me.size <= (1ull << 50) && me.chunk_log2 >= 14 && me.chunk_log2 <= 20, "limits");

    /* Carried in a Manifest message: encode, decode, same fields. */
    fuzz_env e;
    fuzz_env_init(&e, 1);
    Cairn__V1__ChunkRange r0 = CAIRN__V1__CHUNK_RANGE__INIT, *have[1] = {&r0};
    r0.start = 0;
    r0.end = 1;
    Cairn__V1__Manifest mf = CAIRN__V1__MANIFEST__INIT;
    mf.request_id = 7;
    mf.manifest.data = (uint8_t *)data;
    mf.manifest.len = size;
    mf.n_have = 1;
    mf.have = have;
    cairn_buf b;
    cairn_buf_init(&b, &e.mem);
    FUZZ_CHECK(cairn_msg_encode(&mf.base, &b) == 0, "Manifest does not encode");
    int drv = fuzz_msg_oracle(&e.mem, CAIRN_T_MANIFEST, cairn_buf_data(&b) + 8, b.len - 8);
    FUZZ_CHECK(drv == 0, "Manifest with a valid entry rejected: %d", drv);
    cairn_buf_free(&b);
    FUZZ_CHECK(e.live == 0, "leak");
    return 0;
}
