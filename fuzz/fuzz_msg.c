/*
 * fuzz_msg: every message type's scan -> unpack -> validation -> encode.
 *
 * Input: one frame, `CA 1E | type u16 | length u32 | payload`. The type
 * picks the message; the payload is everything after the 8-byte header (the
 * length field and magic are not looked at: fuzz_frame covers the header,
 * and a mutated length would only waste executions). Payloads over the
 * type's cap are dropped, as the frame layer would.
 *
 * Oracles (common.c fuzz_msg_oracle): a scanned payload always unpacks
 * within its budget; every scanned payload re-packs byte-identical;
 * validation agrees with an independent model of the spec's rules; an
 * accepted message encodes to the same frame and decodes to the same fields.
 */
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CAIRN_FRAME_HEADER_LEN)
        return 0;
    uint16_t type = cairn_get_u16(data + 2);
    const uint8_t *payload = data + CAIRN_FRAME_HEADER_LEN;
    size_t len = size - CAIRN_FRAME_HEADER_LEN;
    fuzz_env e;
    fuzz_env_init(&e, 1);
    if (!cairn_frame_type_cap(type)) {
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, &e.mem);
        ProtobufCMessage *m;
        int rv = cairn_msg_decode(&d, type, payload, len, &m);
        FUZZ_CHECK(rv == CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE) && !m,
                   "unregistered type 0x%04x decoded: %d", type, rv);
        cairn_msg_decoder_free(&d);
        return 0;
    }
    if (len > cairn_frame_type_cap(type))
        return 0;
    fuzz_msg_oracle(&e.mem, type, payload, len);
    FUZZ_CHECK(e.live == 0, "%ld allocations leaked", e.live);
    return 0;
}
