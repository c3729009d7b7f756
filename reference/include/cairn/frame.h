/*
 * Frame layer (spec §4): the 8-byte header, the type registry with its
 * per-type payload caps, and a streaming decoder that accepts input split at
 * any byte.
 *
 *   0      1      2      3      4      5      6      7
 *   +------+------+------+------+------+------+------+------+---------
 *   | 0xCA | 0x1E |    type     |           length          | payload
 *   +------+------+------+------+------+------+------+------+---------
 */
#ifndef CAIRN_FRAME_H
#define CAIRN_FRAME_H

#include "cairn/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_FRAME_HEADER_LEN 8
#define CAIRN_MAGIC_0          0xCA
#define CAIRN_MAGIC_1          0x1E
/* [FRM] hard maximum payload length, whatever a peer announces. */
#define CAIRN_FRAME_MAX_HARD (16u * 1024 * 1024)
/* [HS] Hello.max_frame_size must lie in [MIN, HARD]. */
#define CAIRN_FRAME_MAX_MIN (4u * 1024 * 1024)
/* First type of the ignorable extension range. */
#define CAIRN_TYPE_EXT_FIRST 0x8000u

enum cairn_msg_type {
    CAIRN_T_HELLO = 0x0001,
    CAIRN_T_AUTH = 0x0002,
    CAIRN_T_ERROR = 0x0003,
    CAIRN_T_PING = 0x0004,
    CAIRN_T_PONG = 0x0005,
    CAIRN_T_NOT_FOUND = 0x0006,
    CAIRN_T_GET_HEADERS = 0x0010,
    CAIRN_T_HEADERS = 0x0011,
    CAIRN_T_GET_BLOCK = 0x0012,
    CAIRN_T_BLOCK = 0x0013,
    CAIRN_T_ANNOUNCE = 0x0014,
    CAIRN_T_SUBMIT_ENTRY = 0x0015,
    CAIRN_T_ENTRY_ACK = 0x0016,
    CAIRN_T_ENTRIES = 0x0017,
    CAIRN_T_GET_MANIFEST = 0x0020,
    CAIRN_T_MANIFEST = 0x0021,
    CAIRN_T_GET_CHUNK = 0x0022,
    CAIRN_T_CHUNK = 0x0023,
    CAIRN_T_GET_PEERS = 0x0030,
    CAIRN_T_PEERS = 0x0031,
};

/* Payload cap of a registered type; 0 when `type` is not registered. */
uint32_t cairn_frame_type_cap(uint16_t type);
/* Registry name ("Hello"), or NULL when `type` is not registered. */
const char *cairn_frame_type_name(uint16_t type);
/* Registered type for a name, or 0. */
uint16_t cairn_frame_type_from_name(const char *name);
static inline int cairn_frame_type_is_ignorable(uint16_t type)
{
    return type >= CAIRN_TYPE_EXT_FIRST;
}

typedef struct cairn_frame_header {
    uint16_t type;
    uint32_t length;
} cairn_frame_header;

/*
 * Decodes and checks one header at *src ([FRM] check order: magic, type,
 * length against `max_len` and the hard maximum, length against the type's
 * cap). Advances *src by 8 only on success. Returns 0, CAIRN_ERR_AGAIN when
 * fewer than 8 bytes are available, or CAIRN_ERR_PROTO(BAD_MAGIC |
 * UNKNOWN_TYPE | FRAME_TOO_LARGE).
 */
int cairn_frame_header_decode(const uint8_t **src, const uint8_t *end, cairn_frame_header *h,
                              uint32_t max_len);

/* Writes an 8-byte header at dst; returns dst + 8. */
uint8_t *cairn_frame_header_encode(uint8_t *dst, uint16_t type, uint32_t length);

/* A complete frame. `payload` is a view valid until the next decoder call. */
typedef struct cairn_frame {
    uint16_t type;
    uint32_t length;
    const uint8_t *payload; /* NULL for a skipped extension frame */
} cairn_frame;

/*
 * Streaming decoder. Keeps at most one payload buffered (never more than the
 * type's cap, and only once the header passed its checks); extension frames
 * are reported at their header and their payload is skipped unbuffered.
 */
typedef struct cairn_frame_decoder {
    uint8_t hdr[CAIRN_FRAME_HEADER_LEN];
    size_t hdr_len;
    cairn_frame_header cur;
    int in_payload; /* header done, payload being gathered */
    uint32_t skip;  /* extension payload bytes still to skip */
    cairn_buf body; /* payload gathered across calls */
    uint32_t max_len;
    int failed; /* a protocol error was returned: no more frames */
    /*
     * Optional: called for every header that passed its checks, before any
     * of its payload is buffered; a nonzero return fails the decoder with
     * that error (the session uses it for [FRM-12] state legality).
     */
    int (*on_header)(void *ud, const cairn_frame_header *h);
    void *on_header_ud;
} cairn_frame_decoder;

void cairn_frame_decoder_init(cairn_frame_decoder *d, const cairn_mem *mem, uint32_t max_len);
void cairn_frame_decoder_free(cairn_frame_decoder *d);

/*
 * Consumes input from *src and returns the next frame:
 *   0                    a frame in *out; *src advanced past what was used
 *   CAIRN_ERR_AGAIN      all input consumed, no complete frame yet
 *   CAIRN_ERR_PROTO(..)  the header check that failed; the decoder is dead
 *   CAIRN_ERR_NOMEM
 * An extension frame is returned once, at its header, with payload NULL.
 */
int cairn_frame_decoder_next(cairn_frame_decoder *d, const uint8_t **src, const uint8_t *end,
                             cairn_frame *out);

#ifdef __cplusplus
}
#endif
#endif
