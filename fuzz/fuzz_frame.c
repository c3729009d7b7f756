/*
 * fuzz_frame: the streaming frame decoder (spec §4).
 *
 * Input: `limit u8 | split u8 | stream`. `limit` picks the receiver's
 * max_len; `split` picks how the stream is cut: 0 = one piece, 1 = byte by
 * byte, n >= 2 = pieces of 1..n bytes drawn from a generator seeded by the
 * input. The stream is decoded three ways: in one piece, in the chosen
 * pieces, and by an independent model of §4 written here from the spec
 * (its own registry table and caps). Oracles:
 *  - all three agree frame by frame (type, length, payload bytes) and on the
 *    final outcome (the header check that failed, or "incomplete");
 *  - an extension frame (>= 0x8000) is reported at its header with no
 *    payload and its payload is never buffered;
 *  - after an error the decoder stays dead (CAIRN_ERR_STATE);
 *  - a good header re-encodes to the same 8 bytes, and
 *    cairn_frame_header_decode agrees with the streaming decoder;
 *  - the decoder never allocates more than the largest payload it must
 *    buffer (2 × the cap at most, for the buffer's power-of-two growth).
 */
#include <string.h>

#include "common.h"

FUZZ_ASAN_QUARANTINE_MB(16)

struct spec_type {
    uint16_t type;
    uint32_t cap;
};

/* [FRM-8] [FRM-11] type registry and per-type payload caps. */
static const struct spec_type registry[] = {
    {0x0001, 1024}, {0x0002, 128},   {0x0003, 1024},    {0x0004, 32},      {0x0005, 32},
    {0x0006, 32},   {0x0010, 4096},  {0x0011, 262144},  {0x0012, 64},      {0x0013, 2162688},
    {0x0014, 128},  {0x0015, 65600}, {0x0016, 64},      {0x0017, 1114112}, {0x0020, 64},
    {0x0021, 8192}, {0x0022, 64},    {0x0023, 1052672}, {0x0030, 32},      {0x0031, 65536},
};

static uint32_t spec_cap(uint16_t type)
{
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
        if (registry[i].type == type)
            return registry[i].cap;
    return 0;
}

#define MAX_EVENTS 4096

typedef struct event {
    int rv; /* 0 = a frame, else the final outcome */
    uint16_t type;
    uint32_t length;
    size_t offset; /* payload offset in the stream; SIZE_MAX = no payload */
} event;

typedef struct events {
    event ev[MAX_EVENTS];
    size_t n;
} events;

/* The [FRM-5] model: header checks in order, extension payloads skipped. */
static void model(const uint8_t *s, size_t len, uint32_t max_len, events *out)
{
    size_t off = 0;
    out->n = 0;
    while (out->n < MAX_EVENTS - 1) {
        event *e = &out->ev[out->n];
        if (len - off < 8) {
            e->rv = CAIRN_ERR_AGAIN;
            e->type = 0;
            e->length = 0;
            out->n++;
            return;
        }
        const uint8_t *h = s + off;
        e->type = (uint16_t)(h[2] << 8 | h[3]);
        e->length = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
        uint32_t cap = spec_cap(e->type);
        if (h[0] != 0xCA || h[1] != 0x1E)
            e->rv = CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC);
        else if (e->type == 0 || (e->type < 0x8000 && !cap))
            e->rv = CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE);
        else if (e->length > 16777216 || e->length > max_len)
            e->rv = CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE);
        else if (cap && e->length > cap)
            e->rv = CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE);
        else
            e->rv = 0;
        if (e->rv) {
            out->n++;
            return;
        }
        off += 8;
        if (e->type >= 0x8000) {
            /* reported at the header; the payload is skipped */
            e->offset = SIZE_MAX;
            out->n++;
            off += len - off < e->length ? len - off : e->length;
            continue;
        }
        if (len - off < e->length) {
            e->rv = CAIRN_ERR_AGAIN;
            out->n++;
            return;
        }
        e->offset = off;
        off += e->length;
        out->n++;
    }
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static const uint32_t limits[] = {16777216, 4194304, 16777215, 65536, 1024, 100, 8, 0};

/*
 * Decodes `s` in pieces (`split` as in the header comment) and compares each
 * event with `want` as it happens (payload views die at the next call).
 */
static void decode_and_compare(const uint8_t *s, size_t len, uint32_t max_len, int split,
                               uint64_t seed, const events *want, const char *how)
{
    fuzz_env e;
    fuzz_env_init(&e, 1);
    cairn_frame_decoder d;
    cairn_frame_decoder_init(&d, &e.mem, max_len);
    size_t off = 0, k = 0;
    uint64_t x = seed | 1;
    int done = 0;
    uint32_t largest_payload = 0;
    while (!done) {
        size_t piece = len - off;
        if (split == 1)
            piece = piece ? 1 : 0;
        else if (split >= 2 && piece) {
            size_t r = 1 + (size_t)(next_rand(&x) % (uint64_t)split);
            piece = r < piece ? r : piece;
        }
        const uint8_t *p = s + off, *end = s + off + piece;
        for (;;) {
            cairn_frame f;
            const uint8_t *before = p;
            int rv = cairn_frame_decoder_next(&d, &p, end, &f);
            FUZZ_CHECK(p >= before && p <= end, "%s: input pointer out of range", how);
            if (rv == CAIRN_ERR_AGAIN) {
                FUZZ_CHECK(p == end, "%s: AGAIN with %zu bytes unconsumed", how, (size_t)(end - p));
                break;
            }
            FUZZ_CHECK(k < want->n, "%s: more events than the model", how);
            const event *w = &want->ev[k++];
            FUZZ_CHECK(rv == w->rv, "%s: event %zu: rv %d, model %d", how, k - 1, rv, w->rv);
            fuzz_check_err(rv, how);
            if (rv) {
                cairn_frame g;
                const uint8_t *q = end;
                FUZZ_CHECK(cairn_frame_decoder_next(&d, &q, end, &g) == CAIRN_ERR_STATE,
                           "%s: a dead decoder decoded again", how);
                done = 1;
                break;
            }
            FUZZ_CHECK(f.type == w->type && f.length == w->length,
                       "%s: frame %zu is 0x%04x/%u, model 0x%04x/%u", how, k - 1, f.type, f.length,
                       w->type, w->length);
            if (w->offset == SIZE_MAX) {
                FUZZ_CHECK(f.payload == NULL, "%s: extension frame with a payload", how);
            } else {
                FUZZ_CHECK(f.payload != NULL, "%s: frame without payload", how);
                FUZZ_CHECK(f.length == 0 || memcmp(f.payload, s + w->offset, f.length) == 0,
                           "%s: payload of frame %zu differs", how, k - 1);
                if (f.length > largest_payload)
                    largest_payload = f.length;
            }
        }
        off += piece;
        if (off == len && !done) {
            /* All input given: the model must end in "incomplete" here. */
            FUZZ_CHECK(k < want->n && want->ev[k].rv == CAIRN_ERR_AGAIN,
                       "%s: decoder wants more, model ends otherwise", how);
            k++;
            done = 1;
        }
    }
    FUZZ_CHECK(k == want->n, "%s: %zu events, model %zu", how, k, want->n);
    /* Buffering: at most the payload being gathered, grown in powers of two. */
    size_t bound = 0;
    for (size_t i = 0; i < want->n; i++)
        if (want->ev[i].rv == 0 || want->ev[i].rv == CAIRN_ERR_AGAIN)
            if (want->ev[i].type < 0x8000 && want->ev[i].length > bound)
                bound = want->ev[i].length;
    FUZZ_CHECK(e.largest <= 2 * bound + 256, "%s: allocated %zu bytes, largest payload %zu", how,
               e.largest, bound);
    cairn_frame_decoder_free(&d);
    FUZZ_CHECK(e.live == 0, "%s: %ld allocations leaked", how, e.live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t max_len = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
    int split = data[1];
    const uint8_t *s = data + 2;
    size_t len = size - 2;

    static events want; /* large: keep it off the stack */
    model(s, len, max_len, &want);
    if (want.n == MAX_EVENTS - 1)
        return 0; /* more frames than we track: not interesting */

    /* Header-level API against the same model. */
    for (size_t i = 0, off = 0; i < want.n; i++) {
        const event *w = &want.ev[i];
        if (w->rv == CAIRN_ERR_AGAIN && len - off < 8) {
            const uint8_t *p = s + off;
            cairn_frame_header h;
            FUZZ_CHECK(cairn_frame_header_decode(&p, s + len, &h, max_len) == CAIRN_ERR_AGAIN &&
                           p == s + off,
                       "short header not AGAIN");
            break;
        }
        const uint8_t *p = s + off;
        cairn_frame_header h;
        int rv = cairn_frame_header_decode(&p, s + len, &h, max_len);
        FUZZ_CHECK(rv == (w->rv == CAIRN_ERR_AGAIN ? 0 : w->rv), "header %zu: %d, model %d", i, rv,
                   w->rv);
        if (rv) {
            FUZZ_CHECK(p == s + off, "a failed header decode advanced");
            break;
        }
        FUZZ_CHECK(p == s + off + 8 && h.type == w->type && h.length == w->length,
                   "header %zu fields differ", i);
        uint8_t enc[8];
        FUZZ_CHECK(cairn_frame_header_encode(enc, h.type, h.length) == enc + 8 &&
                       memcmp(enc, s + off, 8) == 0,
                   "header %zu does not re-encode", i);
        FUZZ_CHECK(cairn_frame_type_cap(h.type) == spec_cap(h.type),
                   "registry cap of 0x%04x differs from the spec", h.type);
        if (w->rv == CAIRN_ERR_AGAIN)
            break;
        off += 8 + (w->offset == SIZE_MAX ? (len - off - 8 < w->length ? len - off - 8 : w->length)
                                          : w->length);
    }

    decode_and_compare(s, len, max_len, 0, 0, &want, "whole");
    if (split != 0)
        decode_and_compare(s, len, max_len, split, (uint64_t)size * 0x9e3779b97f4a7c15ull, &want,
                           "split");
    return 0;
}
