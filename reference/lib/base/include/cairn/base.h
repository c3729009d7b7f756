/*
 * libcairn base layer: error codes, injected environment (allocator, clocks,
 * randomness), growable buffers, byte order and hex helpers.
 *
 * Nothing in libcairn allocates, reads a clock or draws randomness except
 * through a cairn_env supplied by the caller.
 */
#ifndef CAIRN_BASE_H
#define CAIRN_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Error codes. 0 is success; everything else is negative and lives in one of
 * these ranges:
 *   -1             CAIRN_ERR_AGAIN: not yet (incomplete input, full window)
 *   -100 .. -199   API misuse by the caller
 *   -200 .. -299   local failures (memory, crypto library)
 *   -1000 - code   a protocol error carrying wire error code `code` (spec §8)
 */
enum {
    CAIRN_OK = 0,
    CAIRN_ERR_AGAIN = -1,

    CAIRN_ERR_INVALID_ARG = -101,
    CAIRN_ERR_STATE = -102,
    CAIRN_ERR_BUFFER_TOO_SMALL = -103,
    CAIRN_ERR_WINDOW_FULL = -104,

    CAIRN_ERR_NOMEM = -201,
    CAIRN_ERR_CRYPTO = -202,
    CAIRN_ERR_BUDGET = -203,
    CAIRN_ERR_INTERNAL = -204,

    CAIRN_ERR_PROTO_BASE = -1000,
};

/* Wire error codes (spec §15.2; proto ErrorCode). */
enum cairn_wire_error {
    CAIRN_E_PROTOCOL_VIOLATION = 1,
    CAIRN_E_BAD_MAGIC = 2,
    CAIRN_E_FRAME_TOO_LARGE = 3,
    CAIRN_E_UNKNOWN_TYPE = 4,
    CAIRN_E_MALFORMED = 5,
    CAIRN_E_INVALID_FIELD = 6,
    CAIRN_E_NON_CANONICAL = 7,
    CAIRN_E_UNEXPECTED_MESSAGE = 8,
    CAIRN_E_VERSION_MISMATCH = 9,
    CAIRN_E_WRONG_NETWORK = 10,
    CAIRN_E_SELF_CONNECTION = 11,
    CAIRN_E_DUPLICATE_PEER = 12,
    CAIRN_E_BAD_SIGNATURE = 13,
    CAIRN_E_HANDSHAKE_TIMEOUT = 14,
    CAIRN_E_IDLE_TIMEOUT = 15,
    CAIRN_E_TOO_MANY_REQUESTS = 16,
    CAIRN_E_UNKNOWN_REQUEST = 17,
    CAIRN_E_DUPLICATE_REQUEST_ID = 18,
    CAIRN_E_INVALID_BLOCK = 19,
    CAIRN_E_INVALID_CHUNK = 20,
    CAIRN_E_BUSY = 21,
    CAIRN_E_RATE_LIMITED = 22,
    CAIRN_E_SHUTDOWN = 23,
    CAIRN_E_TOO_MANY_PEERS = 24,
    CAIRN_E_DISCOURAGED = 25,
    CAIRN_E_INVALID_ENTRY = 26,
    CAIRN_E_INTERNAL_ERROR = 27,
    CAIRN_E_WRONG_NODE_ID = 28, /* [ADDR-3] the peer proved another node ID than expected */
    CAIRN_E_MAX = 28
};

/* The library error that carries wire code `code`. */
#define CAIRN_ERR_PROTO(code) (CAIRN_ERR_PROTO_BASE - (int)(code))

/* Wire code carried by `rv`, or 0 when `rv` is not a protocol error. */
static inline uint32_t cairn_err_wire_code(int rv)
{
    if (rv <= CAIRN_ERR_PROTO_BASE - 1 && rv >= CAIRN_ERR_PROTO_BASE - 0xFFFF)
        return (uint32_t)(CAIRN_ERR_PROTO_BASE - rv);
    return 0;
}

/* Human-readable text for a library error code (static storage). */
const char *cairn_strerror(int rv);

/* Name of a wire error code ("BAD_MAGIC"), or NULL when unregistered. */
const char *cairn_wire_error_name(uint32_t code);

/* Wire code for a name as in the registry, or 0 when unknown. */
uint32_t cairn_wire_error_from_name(const char *name);

/* Whether wire code `code` is fatal (spec §8). Unknown codes are fatal. */
int cairn_wire_error_is_fatal(uint32_t code);

/*
 * Whether a library error means the session cannot go on: every protocol
 * error with a fatal wire code, and every local failure. AGAIN and API misuse
 * are not fatal.
 */
int cairn_err_is_fatal(int rv);

/* ---- Injected environment ------------------------------------------------ */

/* Allocator. `free(NULL)` must be a no-op. */
typedef struct cairn_mem {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} cairn_mem;

static inline void *cairn_mem_malloc(const cairn_mem *m, size_t n)
{
    return m->malloc(n, m->ud);
}
static inline void *cairn_mem_realloc(const cairn_mem *m, void *p, size_t n)
{
    return m->realloc(p, n, m->ud);
}
static inline void cairn_mem_free(const cairn_mem *m, void *p)
{
    m->free(p, m->ud);
}
void *cairn_mem_calloc(const cairn_mem *m, size_t n, size_t size);

/*
 * Everything that varies between runs. `mono_ms` is a monotonic clock for
 * timers, `wall_ms` is milliseconds since the Unix epoch (Hello.time_ms,
 * block times), `random` fills `buf` with cryptographically strong bytes and
 * returns 0 on success.
 */
typedef struct cairn_env {
    const cairn_mem *mem;
    uint64_t (*mono_ms)(void *ud);
    uint64_t (*wall_ms)(void *ud);
    int (*random)(uint8_t *buf, size_t len, void *ud);
    void *ud;
} cairn_env;

/* ---- Growable byte buffer ------------------------------------------------ */

/*
 * A byte queue: data lives in [base + off, base + off + len). Appends grow the
 * allocation (through `mem`); consuming from the front is O(1) and the space
 * is reclaimed on the next append that needs it.
 */
typedef struct cairn_buf {
    uint8_t *base;
    size_t off, len, cap;
    const cairn_mem *mem;
} cairn_buf;

void cairn_buf_init(cairn_buf *b, const cairn_mem *mem);
void cairn_buf_free(cairn_buf *b);
/* Make room for `n` more bytes; returns a pointer to write them at. */
uint8_t *cairn_buf_reserve(cairn_buf *b, size_t n);
/* Mark `n` reserved bytes as written. */
static inline void cairn_buf_commit(cairn_buf *b, size_t n)
{
    b->len += n;
}
int cairn_buf_append(cairn_buf *b, const void *data, size_t n);
static inline const uint8_t *cairn_buf_data(const cairn_buf *b)
{
    return b->base ? b->base + b->off : NULL; /* NULL + 0 is undefined */
}
void cairn_buf_consume(cairn_buf *b, size_t n);
/* Drop contents; release the allocation when it is larger than `keep`. */
void cairn_buf_reset(cairn_buf *b, size_t keep);

/* ---- Byte order ----------------------------------------------------------- */

static inline uint8_t *cairn_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}
static inline uint8_t *cairn_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}
static inline uint8_t *cairn_put_u64(uint8_t *p, uint64_t v)
{
    cairn_put_u32(p, (uint32_t)(v >> 32));
    return cairn_put_u32(p + 4, (uint32_t)v);
}
static inline uint16_t cairn_get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t cairn_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t cairn_get_u64(const uint8_t *p)
{
    return ((uint64_t)cairn_get_u32(p) << 32) | cairn_get_u32(p + 4);
}

/* ---- Hex ------------------------------------------------------------------ */

/* Writes 2*n lowercase hex digits and a NUL to `out` (2*n+1 bytes). */
void cairn_hex_encode(char *out, const uint8_t *in, size_t n);
/* Copies untrusted text (a peer's Error.message, [ERR-4]) for display into
 * `out` (cap >= 1): printable ASCII kept, '"', '\\' and every other byte as
 * \xNN; stops where the next escape would not fit. */
void cairn_text_escape(char *out, size_t cap, const char *in);
/*
 * Decodes exactly `n` bytes from the first 2*n characters of `in`; returns 0,
 * or CAIRN_ERR_INVALID_ARG on a non-hex digit or when `in` is shorter.
 */
int cairn_hex_decode(uint8_t *out, size_t n, const char *in);

#ifdef __cplusplus
}
#endif
#endif
