/*
 * Block codec (spec §9): the fixed-layout 96-byte block header, block IDs,
 * proof-of-work and chain work, entry and manifest-entry syntax, and the
 * context-free block checks with one reason code per rule.
 *
 * Everything here is pure computation over caller-owned bytes. Hashes are
 * always taken over the exact received bytes, never a re-encoding.
 */
#ifndef CAIRN_BLOCK_H
#define CAIRN_BLOCK_H

#include "cairn/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_BLOCK_HEADER_LEN     96
#define CAIRN_BLOCK_VERSION        1
#define CAIRN_BLOCK_MAX_ENTRIES    4096    /* [VAL-4] BAD_COUNT above */
#define CAIRN_BLOCK_MAX_BODY_BYTES 2097152 /* sum of entry lengths, BAD_SIZE above */
#define CAIRN_ENTRY_MAX_LEN        65536   /* one entry, BAD_SIZE above */
#define CAIRN_BLOCK_MEDIAN_SPAN    11      /* TIME_TOO_OLD: median of this many ancestors */
#define CAIRN_BLOCK_MAX_FUTURE_MS  120000  /* TIME_TOO_NEW: this far past the local clock */

/* Entry kinds: the first byte of an entry. */
#define CAIRN_ENTRY_DATA     0x00
#define CAIRN_ENTRY_MANIFEST 0x01

/* Manifest entry: 0x01 | size u64 | chunk_log2 u8 | root[32] | name_len u8 | name. */
#define CAIRN_MANIFEST_ID_LEN  42 /* file_id = SHA-256 of these first bytes */
#define CAIRN_MANIFEST_MIN_LEN 43
#define CAIRN_MANIFEST_MAX_LEN 298
#define CAIRN_CHUNK_LOG2_MIN   14
#define CAIRN_CHUNK_LOG2_MAX   20
#define CAIRN_FILE_MAX_SIZE    ((uint64_t)1 << 50)

/* A read-only view of caller-owned bytes. */
typedef struct cairn_bytes_ref {
    const uint8_t *data;
    size_t len;
} cairn_bytes_ref;

/*
 * Validation reason codes (spec registry §15.4): the `detail` of an Error
 * with INVALID_BLOCK or INVALID_ENTRY. Values are normative.
 */
enum cairn_block_reason {
    CAIRN_BLOCK_OK = 0,
    CAIRN_BLOCK_BAD_SIZE = 1,         /* header not 96 B, entry > 64 KiB, entries > 2 MiB */
    CAIRN_BLOCK_BAD_COUNT = 2,        /* more than 4096 entries */
    CAIRN_BLOCK_BAD_VERSION = 3,      /* version != 1 */
    CAIRN_BLOCK_BAD_LINK = 4,         /* prev_id not the parent, headers not contiguous */
    CAIRN_BLOCK_BAD_HEIGHT = 5,       /* height != parent height + 1 */
    CAIRN_BLOCK_TIME_TOO_OLD = 6,     /* time_ms <= median time of the last 11 blocks */
    CAIRN_BLOCK_TIME_TOO_NEW = 7,     /* time_ms > local clock + 120 s (not permanent) */
    CAIRN_BLOCK_BAD_POW = 8,          /* fewer leading zero bits than `bits` */
    CAIRN_BLOCK_BAD_BITS = 9,         /* bits != the network's bits */
    CAIRN_BLOCK_BAD_ROOT = 10,        /* entries_root != MTH of the entries */
    CAIRN_BLOCK_BAD_ENTRY = 11,       /* empty entry, unknown kind, bad manifest */
    CAIRN_BLOCK_DUPLICATE_ENTRY = 12, /* the same entry twice in one block */
    CAIRN_BLOCK_BAD_GENESIS = 13,     /* height 0 that is not the network's genesis */
    CAIRN_BLOCK_REASON_MAX = 13
};

/* "BAD_SIZE", ... or NULL for an unregistered code. */
const char *cairn_block_reason_name(uint32_t reason);
/* The code for a registry name, or 0 when unknown. */
uint32_t cairn_block_reason_from_name(const char *name);
/*
 * Whether a block rejected for `reason` is invalid forever. TIME_TOO_NEW is
 * not: the same block may be valid later and its sender is not misbehaving.
 */
int cairn_block_reason_is_permanent(uint32_t reason);

/* The decoded header. Fields in wire order. */
typedef struct cairn_block_header {
    uint32_t version;
    uint64_t height;
    uint64_t time_ms;
    uint32_t bits;
    uint64_t nonce;
    uint8_t prev_id[CAIRN_HASH_LEN];
    uint8_t entries_root[CAIRN_HASH_LEN];
} cairn_block_header;

/* Writes the 96-byte encoding at `dst`; returns dst + 96. */
uint8_t *cairn_block_header_encode(uint8_t *dst, const cairn_block_header *h);
/*
 * Decodes 96 bytes from *src. Returns 0 and advances *src, or
 * CAIRN_ERR_AGAIN (nothing consumed) when fewer than 96 bytes remain. Every
 * 96-byte string decodes; the rules are checked by the validation functions.
 */
int cairn_block_header_decode(const uint8_t **src, const uint8_t *end, cairn_block_header *out);

/*
 * Block ID = SHA-256 of exactly the 96 header bytes (§9.1). `ctx` is a reused
 * context (fast path) or NULL for a one-shot digest.
 */
int cairn_block_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN],
                   const uint8_t header[CAIRN_BLOCK_HEADER_LEN]);

/* Leading zero bits of `id` read as a 256-bit big-endian number (0..256). */
unsigned cairn_pow_zero_bits(const uint8_t id[CAIRN_HASH_LEN]);
/* [POW-2] Whether `id` has at least `bits` leading zero bits. */
int cairn_pow_ok(const uint8_t id[CAIRN_HASH_LEN], uint32_t bits);

/* Cumulative chain work, a 256-bit big-endian number [POW-3]. */
typedef struct cairn_work {
    uint8_t be[32];
} cairn_work;
/* w += 2^bits (work of one block). bits must be < 256; wraps at 2^256. */
void cairn_work_add_block(cairn_work *w, uint32_t bits);
/* <0, 0, >0 like memcmp. */
int cairn_work_cmp(const cairn_work *a, const cairn_work *b);

/*
 * §9.5 Syntax of one entry. Returns 0, or CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)
 * with *reason = BAD_SIZE (longer than 65536 bytes) or BAD_ENTRY (empty,
 * unknown kind, malformed manifest).
 */
int cairn_entry_check(const uint8_t *entry, size_t len, uint32_t *reason);
/* Entry ID = Merkle leaf hash SHA-256(0x00 || entry). ctx may be NULL. */
int cairn_entry_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN], const uint8_t *entry,
                   size_t len);

/* A parsed manifest entry; pointers into the entry bytes (same lifetime). */
typedef struct cairn_manifest_entry {
    uint64_t size;
    uint8_t chunk_log2;
    const uint8_t *root; /* 32 bytes */
    const uint8_t *name; /* name_len bytes, not NUL-terminated */
    size_t name_len;
} cairn_manifest_entry;

/*
 * §11.1 Parses and checks a manifest entry: kind 0x01, exact length
 * 43 + name_len, size <= 2^50, 14 <= chunk_log2 <= 20, name valid UTF-8
 * without '/', '\\', NUL, controls (< 0x20, 0x7F), not "." or "..".
 * Returns 0 or CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY) (reason BAD_ENTRY).
 * `out` may be NULL.
 */
int cairn_manifest_entry_parse(const uint8_t *m, size_t len, cairn_manifest_entry *out);

/*
 * [VAL-1] The context-free checks of a block or header, in the spec's order:
 * size (header length; and, when `entries` is non-NULL, each entry and the
 * sum), count, version, bits (== `net_bits`), PoW. On success fills `hdr` and
 * `id`. On a rule failure returns CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK) and
 * sets *reason; `hdr` and `id` are filled whenever the header was 96 bytes.
 * Pass entries = NULL, n = 0 to check a lone header (Headers, Announce).
 */
int cairn_block_precheck(cairn_sha256_ctx *ctx, const uint8_t *header, size_t header_len,
                         const cairn_bytes_ref *entries, size_t n, uint32_t net_bits,
                         cairn_block_header *hdr, uint8_t id[CAIRN_HASH_LEN], uint32_t *reason);

/*
 * §9.5 Link and height against the parent: prev_id == parent_id (BAD_LINK),
 * height == parent height + 1 (BAD_HEIGHT).
 */
int cairn_block_check_link(const cairn_block_header *hdr, const cairn_block_header *parent,
                           const uint8_t parent_id[CAIRN_HASH_LEN], uint32_t *reason);

/*
 * §9.5 Time window: time_ms > median_ms (TIME_TOO_OLD) and
 * time_ms <= now_ms + 120000 (TIME_TOO_NEW).
 */
int cairn_block_check_time(const cairn_block_header *hdr, uint64_t median_ms, uint64_t now_ms,
                           uint32_t *reason);

/*
 * Median of `n` (1..11) ancestor times: the element at index n/2 of the
 * sorted times (for even n, the upper middle). Does not modify `times`.
 */
uint64_t cairn_block_median_time(const uint64_t *times, size_t n);

/*
 * §9.5 The body checks, in order: each entry (BAD_ENTRY; sizes are assumed
 * checked by cairn_block_precheck), duplicates (DUPLICATE_ENTRY), root
 * (BAD_ROOT). Allocates scratch through `mem`. When `root_matches` is
 * non-NULL it is set to whether the entries hash to `root` even when an
 * earlier rule failed: only then does the header itself commit to the bad
 * body (a mismatched body may be a wrong body for a good header).
 */
int cairn_block_check_body(cairn_sha256_ctx *ctx, const cairn_mem *mem,
                           const cairn_bytes_ref *entries, size_t n,
                           const uint8_t root[CAIRN_HASH_LEN], uint32_t *reason, int *root_matches);

/* entries_root = RFC 6962 MTH over the entries (n may be 0). */
int cairn_block_entries_root(cairn_sha256_ctx *ctx, uint8_t root[CAIRN_HASH_LEN],
                             const cairn_bytes_ref *entries, size_t n);

#ifdef __cplusplus
}
#endif
#endif
