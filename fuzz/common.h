/*
 * Shared helpers of the fuzz targets: the injected environment (a counting,
 * optionally failing allocator, a fake clock, deterministic randomness), an
 * input reader, the oracle macro and the message oracles that several
 * targets apply.
 *
 * Every target defines LLVMFuzzerTestOneInput; it is linked either with
 * libFuzzer (clang, -DCAIRN_FUZZ=ON) or with replay.c (any compiler), which
 * replays corpus and regression files under ctest.
 */
#ifndef CAIRN_FUZZ_COMMON_H
#define CAIRN_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cairn/msg.h"

/* FUZZ_ASAN: this build has AddressSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

/*
 * FUZZ_ASAN_QUARANTINE_MB(N): in one file of a target, a quarantine of N MiB
 * instead of ASan's 256 MiB for targets whose inputs free what they allocated
 * within microseconds (use after free is still caught for what the last N MiB
 * of frees cover; recycling 256 MiB kept faulting fresh pages in). ASAN_OPTIONS
 * still overrides it. Nothing without ASan.
 */
#ifdef FUZZ_ASAN
#define FUZZ_ASAN_QUARANTINE_MB(n)                                                                 \
    const char *__asan_default_options(void);                                                      \
    const char *__asan_default_options(void)                                                       \
    {                                                                                              \
        return "quarantine_size_mb=" #n;                                                           \
    }
#else
#define FUZZ_ASAN_QUARANTINE_MB(n)
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An oracle failed: print why and abort, so that libFuzzer saves the input
 * as a crash and the replay driver fails its ctest test.
 */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: oracle failed: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- Environment ------------------------------------------------------------ */

typedef struct fuzz_env {
    cairn_mem mem;
    cairn_env env;
    long allocs;      /* allocations so far */
    long live;        /* allocations not yet freed */
    long fail_at;     /* fail the allocation with this index; -1 = never */
    size_t largest;   /* largest single allocation requested */
    uint64_t now;     /* fake monotonic clock, ms */
    uint64_t wall;    /* fake wall clock, ms */
    uint64_t rng;     /* xorshift64 state */
    int random_fails; /* make env->random fail */
} fuzz_env;

/* Starts at mono 1000 ms and 2026-01-01T00:00:00Z. */
void fuzz_env_init(fuzz_env *e, uint64_t seed);

/*
 * Every error the library returns has a description: cairn_strerror(rv) is
 * neither "unknown error" nor "unregistered protocol error" (base.h: codes
 * live in ranges and each one is explained). No-op for rv >= 0.
 */
void fuzz_check_err(int rv, const char *where);

/* ---- Input reader ------------------------------------------------------------- */

/* Reads fixed-size values from the front of the input; past the end every
 * read yields zeros, so a target never has to check lengths. */
typedef struct fuzz_in {
    const uint8_t *p, *end;
} fuzz_in;

static inline size_t fuzz_left(const fuzz_in *in)
{
    return (size_t)(in->end - in->p);
}
uint8_t fuzz_u8(fuzz_in *in);
uint16_t fuzz_u16(fuzz_in *in);
uint32_t fuzz_u32(fuzz_in *in);
uint64_t fuzz_u64(fuzz_in *in);
/* A view of up to `n` bytes (fewer at the end); *got receives the count. */
const uint8_t *fuzz_bytes(fuzz_in *in, size_t n, size_t *got);

/* ---- Message oracles ------------------------------------------------------------ */

/* Deep equality of two unpacked messages of one descriptor. */
int fuzz_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b);

/*
 * The independent model of the per-message semantic rules of the spec,
 * [ENC-24] INVALID_FIELD (written from the spec, not from msg.c): returns 0
 * when `m` obeys them, else a short reason.
 */
const char *fuzz_spec_violation(uint16_t type, const ProtobufCMessage *m);

/*
 * Runs every message oracle on one payload of a registered `type` and
 * returns what cairn_msg_decode returned:
 *  - scan -> unpack never fails once the scan passed (no BUDGET, no NOMEM,
 *    no MALFORMED from protobuf-c), and the arena never goes past
 *    cairn_msg_budget(len, occurrences);
 *  - every scanned payload re-packs byte for byte (the spec requires one
 *    canonical encoding);
 *  - cairn_msg_decode accepts exactly when the scan passed and the spec
 *    model agrees; the validation error is INVALID_FIELD;
 *  - an accepted message encodes (cairn_msg_encode) to the same frame, and
 *    decoding that again gives the same fields.
 */
int fuzz_msg_oracle(const cairn_mem *mem, uint16_t type, const uint8_t *payload, size_t len);

/* ---- Models of the chain codec (written from the spec and RFC 6962) ----------- */

/*
 * §11.1 manifest entry rules: 0x01 | size u64 | chunk_log2 u8 | root[32] |
 * name_len u8 | name; exact length; size <= 2^50; 14 <= log2 <= 20; name
 * strict UTF-8 (RFC 3629 §4 byte ranges) without '/', '\\', NUL, controls
 * (< 0x20, 0x7F), not "." or "..". NULL when valid, else a reason.
 */
const char *fuzz_manifest_violation(const uint8_t *m, size_t len);

/* RFC 6962 §2.1 MTH over leaf hashes, by the recursive definition. */
void fuzz_mth(const uint8_t (*leaves)[32], size_t n, uint8_t out[32]);
/* RFC 6962 §2.1.1 PATH(m, D[n]) over leaf hashes; returns its length. */
size_t fuzz_path(const uint8_t (*leaves)[32], size_t n, size_t m, uint8_t (*out)[32]);
/* SHA-256(prefix || a || b), through a plain one-shot cairn_sha256. */
void fuzz_hash2(uint8_t out[32], uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
                size_t blen);

/* The registered message types, in registry order. */
extern const uint16_t fuzz_msg_types[];
extern const size_t fuzz_n_msg_types;

/* Size of one element of a protobuf-c field of type `t` in a message struct. */
size_t fuzz_elt_size(ProtobufCType t);

#endif
