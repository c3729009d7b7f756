/*
 * Message layer (spec §5): every payload is checked for canonical encoding by
 * a wire scan, unpacked by protobuf-c through a budgeted arena allocator, and
 * validated field by field. Encoding validates, frames and packs.
 *
 * Decoded messages are protobuf-c structs from the generated
 * <cairn/cairn.pb-c.h> (Cairn__V1__Hello, ...), owned by the decoder's arena:
 * a view valid until the next decode or reset on the same decoder.
 */
#ifndef CAIRN_MSG_H
#define CAIRN_MSG_H

#include <protobuf-c/protobuf-c.h>

#include "cairn/cairn.pb-c.h"
#include "cairn/msgtypes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of repeated fields and lengths (spec §13 limits table). */
#define CAIRN_MAX_USER_AGENT    64
#define CAIRN_MAX_ERROR_MESSAGE 256
#define CAIRN_MAX_LOCATOR       64
#define CAIRN_MAX_HEADERS       2000
#define CAIRN_HEADER_LEN        96
#define CAIRN_MAX_ENTRIES       4096
#define CAIRN_MAX_ENTRY_LEN     65536
#define CAIRN_MAX_RELAY_ENTRIES 16
#define CAIRN_MIN_MANIFEST_LEN  43
#define CAIRN_MAX_MANIFEST_LEN  298
#define CAIRN_MAX_HAVE_RANGES   256
#define CAIRN_MAX_CHUNK_LEN     (1u << 20)
#define CAIRN_MAX_PROOF         64
#define CAIRN_MAX_PEERS         1000

/* protobuf-c descriptor of a registered type, or NULL. */
const ProtobufCMessageDescriptor *cairn_msg_descriptor(uint16_t type);
/* Registered type of a message by its descriptor, or 0. */
uint16_t cairn_msg_type_of(const ProtobufCMessage *m);
int cairn_msg_kind(uint16_t type);
/*
 * Whether `response` may answer a request of type `request`: its own response
 * type, NotFound where allowed (GetBlock, GetManifest, GetChunk), or Error.
 */
int cairn_msg_answers(uint16_t request, uint16_t response);
/* The request_id field of a request or response, or NULL for other kinds. */
uint64_t *cairn_msg_request_id(ProtobufCMessage *m);

/*
 * Wire scan (§5): checks that `p[0..len)` is a canonical encoding of
 * `desc` without unpacking it, and that no repeated field exceeds its count
 * limit. Returns 0 or CAIRN_ERR_PROTO(MALFORMED | NON_CANONICAL |
 * INVALID_FIELD): [ENC-4] MALFORMED anywhere wins, then NON_CANONICAL, then
 * INVALID_FIELD, wherever in the payload they occur.
 * *occurrences (optional) receives the number of fields on the wire,
 * submessages' fields included.
 */
int cairn_msg_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                   size_t *occurrences);

/* Semantic validation of a message of `type` ([ENC-24], per-message rules). */
int cairn_msg_validate(uint16_t type, const ProtobufCMessage *m);

/* A bump allocator with a hard budget, reset per message. Its fields are
 * private to the message layer; its functions are internal (cairn/arena.h). */
typedef struct cairn_arena_block cairn_arena_block;
typedef struct cairn_arena {
    const cairn_mem *mem;
    cairn_arena_block *head;
    size_t budget;     /* bytes this round may take */
    size_t spent;      /* bytes taken this round */
    size_t high_water; /* largest `spent` ever seen (for tests and fuzz oracles) */
    int failed;        /* 1 = budget exceeded, 2 = allocation failed */
} cairn_arena;

/*
 * Decoder state: the arena and its protobuf-c allocator adaptor. With
 * `borrow` set, a decoded Chunk's data and proof point into the payload
 * instead of into copies in the arena (protobuf-c copies every bytes field;
 * a Chunk is decoded here instead, after the scan has admitted it): the
 * message then lives only as long as the payload does. The session sets it,
 * since its messages live only during the on_message callback anyway.
 */
typedef struct cairn_msg_decoder {
    cairn_arena arena;
    ProtobufCAllocator pa;
    int borrow;
} cairn_msg_decoder;

void cairn_msg_decoder_init(cairn_msg_decoder *d, const cairn_mem *mem);
void cairn_msg_decoder_free(cairn_msg_decoder *d);
/* Once no decoded message is in use any more: gives the arena's memory back
 * (a decoded Block otherwise holds twice its size until the next message
 * arrives, in every session that received one). */
void cairn_msg_decoder_trim(cairn_msg_decoder *d);

/* Arena budget for a scanned payload of `len` bytes with `occurrences`
 * fields: never exceeded when unpacking it (a fuzz oracle checks this). */
size_t cairn_msg_budget(size_t len, size_t occurrences);

/*
 * scan -> unpack -> validate. On success *out is a view owned by `d`.
 * Errors: CAIRN_ERR_PROTO(UNKNOWN_TYPE) for an unregistered type, the scan's
 * and validation's protocol errors, CAIRN_ERR_NOMEM, CAIRN_ERR_BUDGET.
 */
int cairn_msg_decode(cairn_msg_decoder *d, uint16_t type, const uint8_t *payload, size_t len,
                     ProtobufCMessage **out);

/* Like cairn_msg_decode without the semantic validation (for tools). */
int cairn_msg_decode_unchecked(cairn_msg_decoder *d, uint16_t type, const uint8_t *payload,
                               size_t len, ProtobufCMessage **out);

/*
 * Validates `m` and appends one frame (header + payload) to `out`. Returns 0,
 * the validation error, CAIRN_ERR_INVALID_ARG for an unregistered message or
 * one over its type's cap, or CAIRN_ERR_NOMEM.
 */
int cairn_msg_encode(const ProtobufCMessage *m, cairn_buf *out);

/* Frames `m` without validating it (tests and the conformance harness use
 * this to send what a compliant sender must not). */
int cairn_msg_encode_unchecked(uint16_t type, const ProtobufCMessage *m, cairn_buf *out);

#ifdef __cplusplus
}
#endif

/* Inside this source tree (CAIRN_IN_TREE, set by the build) the layer's
 * internal interface comes along: the streaming frame decoder and the
 * arena. An installed libcairn offers neither. */
#ifdef CAIRN_IN_TREE
#include "cairn/arena.h"
#include "cairn/frame.h"
#endif
#endif
