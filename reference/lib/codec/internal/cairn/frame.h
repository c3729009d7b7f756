/*
 * Frame layer, internal part (spec §4): the streaming decoder that accepts
 * input split at any byte. The header, the type registry and its caps are
 * public, in cairn/msgtypes.h; the decoder is not installed (the session
 * drives it, and so do the tests, the fuzzers and the harness in this tree).
 */
#ifndef CAIRN_FRAME_H
#define CAIRN_FRAME_H

#include "cairn/msgtypes.h"

#ifdef __cplusplus
extern "C" {
#endif

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
/* Between reads, once the last frame returned is no longer in use: gives
 * back a gathered payload's buffer beyond a few KiB (not while a payload is
 * being gathered), so an idle decoder does not hold the largest frame it
 * saw until the next header. */
void cairn_frame_decoder_trim(cairn_frame_decoder *d);

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
