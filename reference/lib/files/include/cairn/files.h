/*
 * Files (spec §11): chunk geometry, manifests and file IDs, streaming
 * indexing, the RFC 6962 tree as levels (for proofs served from a cache),
 * chunk verification, have ranges, and the multi-source download scheduler.
 *
 * Pure logic like the rest of libcairn: no I/O, no clock (times are passed
 * in as milliseconds of the caller's monotonic clock), memory through
 * cairn_mem only. SHA-256 contexts are OpenSSL objects (crypto.h).
 *
 * Sizes: a file has n = ceil(size / 2^chunk_log2) chunks, at most 2^36
 * ([FILE-1], [FILE-2]); nothing here holds a list of n elements except the
 * scheduler's two bitmaps (n / 4 bytes: 256 KiB for a 1 TiB file of 1 MiB
 * chunks) — everything proportional to n (leaf hashes, tree levels) is
 * streamed by the caller to its own storage.
 */
#ifndef CAIRN_FILES_H
#define CAIRN_FILES_H

#include "cairn/block.h"
#include "cairn/merkle.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_FILE_MAX_NAME   255
#define CAIRN_FILE_MAX_CHUNK  (1u << CAIRN_CHUNK_LOG2_MAX)
#define CAIRN_FILE_MAX_RANGES 256 /* [FILE-16] have ranges per Manifest */
#define CAIRN_FILE_MAX_PROOF  64  /* [CHK-9] hashes per Chunk.proof */
#define CAIRN_FILE_MAX_CHUNKS ((uint64_t)1 << (50 - CAIRN_CHUNK_LOG2_MIN))
/* Default chunk-size policy: the smallest chunk that keeps a file at or
 * under this many chunks: 16 KiB up to 64 MiB, 256 KiB at 1 GiB, 1 MiB from
 * 4 GiB. Measured on loopback (bench fetch, 1 GiB): 256 KiB and 1 MiB chunks
 * fetch equally fast, 64 KiB ones about 30% slower (a request and a proof
 * per chunk); of the fast sizes the smaller spreads a file over more peers
 * and keeps each answer, and so the answerer's output queue, short. */
#define CAIRN_FILE_TARGET_CHUNKS 4096

/* ---- Geometry (§11.1) ------------------------------------------------------ */

typedef struct cairn_file_geom {
    uint64_t size;
    uint64_t n_chunks;
    unsigned chunk_log2;
} cairn_file_geom;

/*
 * [FILE-1] [FILE-2] [FILE-3] Geometry of a file of `size` bytes in chunks of
 * 2^chunk_log2. Returns 0, or CAIRN_ERR_INVALID_ARG when chunk_log2 is not in
 * 14..20 or size is above 2^50.
 */
int cairn_file_geom_init(cairn_file_geom *g, uint64_t size, unsigned chunk_log2);
/* Byte offset of chunk `index` (not checked against n). */
static inline uint64_t cairn_file_chunk_offset(const cairn_file_geom *g, uint64_t index)
{
    return index << g->chunk_log2;
}
/* Length of chunk `index`: 2^chunk_log2 but for the last; 0 when index >= n. */
size_t cairn_file_chunk_len(const cairn_file_geom *g, uint64_t index);
/* The default chunk_log2 for a file of `size` bytes (see TARGET_CHUNKS). */
unsigned cairn_file_chunk_log2_for(uint64_t size);

/* ---- Names (§11.2, §11.6) ---------------------------------------------------- */

/* [FILE-6] [FILE-7] [FILE-8] Whether `name` is a valid manifest name. */
int cairn_file_name_ok(const uint8_t *name, size_t len);
/*
 * A manifest name for a local file name (a path's last component): `in`
 * itself when valid and at most 255 bytes, cut at a UTF-8 boundary when
 * longer; the empty name when it cannot be made valid. Returns its length.
 */
size_t cairn_file_name_from(const char *in, uint8_t out[CAIRN_FILE_MAX_NAME]);
/*
 * [FILE-23] [FILE-25] A single, safe path component for a name that arrived
 * from the network: the name itself when it passes FILE-7 and FILE-8 again
 * and no platform reserves or alters it (Windows device names such as CON or
 * LPT1, a trailing dot or space, a leading '-' that tools read as an option),
 * else the file ID in lower-case hex. Writes a NUL-terminated string of at
 * most 255 bytes into `out` (256 bytes).
 */
void cairn_file_local_name(const uint8_t *name, size_t len, const uint8_t file_id[CAIRN_HASH_LEN],
                           char out[CAIRN_FILE_MAX_NAME + 1]);

/* ---- Manifests and file IDs (§11.2, §11.3) -------------------------------------- */

/* A verified manifest. Plain data; owns nothing. */
typedef struct cairn_file {
    cairn_file_geom geom;
    uint8_t root[CAIRN_HASH_LEN];
    uint8_t id[CAIRN_HASH_LEN];
    size_t name_len;
    uint8_t name[CAIRN_FILE_MAX_NAME];
    size_t manifest_len;
    uint8_t manifest[CAIRN_MANIFEST_MAX_LEN];
} cairn_file;

/*
 * Writes the manifest entry for (size, chunk_log2, root, name) into `out`
 * and returns its length (43 + name_len), or CAIRN_ERR_INVALID_ARG when a
 * field breaks §11.1/§11.2.
 */
int cairn_manifest_build(uint8_t out[CAIRN_MANIFEST_MAX_LEN], uint64_t size, unsigned chunk_log2,
                         const uint8_t root[CAIRN_HASH_LEN], const uint8_t *name, size_t name_len);
/* [FILE-9] file ID = SHA-256 of the first 42 bytes. `ctx` may be NULL.
 * CAIRN_ERR_INVALID_ARG when len < 42. */
int cairn_file_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN], const uint8_t *manifest,
                  size_t len);
/*
 * Parses manifest bytes into `f`. [FILE-14] a manifest that breaks §11.1 or
 * §11.2 and [FILE-15] one whose ID differs from `expect_id` (when not NULL)
 * give CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD). `ctx` may be NULL.
 */
int cairn_file_from_manifest(cairn_sha256_ctx *ctx, cairn_file *f, const uint8_t *manifest,
                             size_t len, const uint8_t expect_id[CAIRN_HASH_LEN]);
/* Fills `f` (manifest and ID included) for a file of known root. */
int cairn_file_init(cairn_sha256_ctx *ctx, cairn_file *f, uint64_t size, unsigned chunk_log2,
                    const uint8_t root[CAIRN_HASH_LEN], const uint8_t *name, size_t name_len);

/* ---- Have ranges (§11.4) ------------------------------------------------------- */

/* Half-open [start, end) of chunk indices. */
typedef struct cairn_chunk_range {
    uint64_t start, end;
} cairn_chunk_range;

/*
 * [FILE-16] at most 256, [FILE-17] start < end, [FILE-18] end <= n,
 * [FILE-19] sorted without overlap. Returns 0 or
 * CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD).
 */
int cairn_file_check_ranges(const cairn_chunk_range *r, size_t count, uint64_t n_chunks);

/* ---- Indexing: a streaming hasher (§11.3) ----------------------------------------- */

/*
 * Consumes a file's bytes in pieces of any size and yields every chunk's leaf
 * hash SHA-256(00 || chunk) and the root, in O(log n) memory.
 */
typedef struct cairn_file_hasher cairn_file_hasher;
/* Called once per chunk, in index order. A nonzero return stops the update
 * and is returned by it. */
typedef int (*cairn_file_leaf_cb)(void *ud, uint64_t index, const uint8_t leaf[CAIRN_HASH_LEN]);

int cairn_file_hasher_new(cairn_file_hasher **out, uint64_t size, unsigned chunk_log2,
                          cairn_file_leaf_cb on_leaf, void *ud, const cairn_mem *mem);
void cairn_file_hasher_del(cairn_file_hasher *h);
/* Feeds bytes; CAIRN_ERR_INVALID_ARG when more than `size` bytes in all. */
int cairn_file_hasher_update(cairn_file_hasher *h, const void *data, size_t len);
/* The root once exactly `size` bytes were fed (CAIRN_ERR_STATE before). */
int cairn_file_hasher_final(cairn_file_hasher *h, uint8_t root[CAIRN_HASH_LEN]);

/* ---- The tree as levels: proofs from stored hashes (§9.3) --------------------------- */

/*
 * RFC 6962's tree of n leaves is the same as this level construction: level 0
 * holds the n leaf hashes; level j+1 holds node(L[2i], L[2i+1]) for each pair
 * of level j and, when level j has an odd length, its last hash unchanged.
 * The top level (cairn_tree_height) holds the root. A cache that stores all
 * levels (about 2n hashes) serves any audit path with one read per level.
 */
/* Levels above 0: ceil(log2(n)); 0 for n <= 1. */
unsigned cairn_tree_height(uint64_t n);
/* Hashes in level `level`: ceil(n / 2^level). */
uint64_t cairn_tree_level_len(uint64_t n, unsigned level);
/* Index of level `level`'s first hash when all levels are stored one after
 * the other, level 0 first; cairn_tree_level_start(n, height + 1) is the total. */
uint64_t cairn_tree_level_start(uint64_t n, unsigned level);

typedef struct cairn_tree_pos {
    unsigned level;
    uint64_t index;
} cairn_tree_pos;

/*
 * [CHK-5] [MRK-5] Where the audit path of leaf `index` (< n) lies in the
 * levels, leaf upward: the hash at each listed position, in order, is the
 * proof. Returns the proof length (at most 64), or 0 for index >= n.
 */
size_t cairn_tree_proof_positions(uint64_t index, uint64_t n,
                                  cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH]);
/*
 * One level up: hashes `count` consecutive hashes of a level into
 * ceil(count / 2) hashes of the next. `count` must be even except for the
 * level's last piece (the lone last hash is carried up unchanged). `out` may
 * equal `in` (it is written behind the read position).
 */
int cairn_tree_level_up(cairn_sha256_ctx *ctx, const uint8_t (*in)[CAIRN_HASH_LEN], size_t count,
                        uint8_t (*out)[CAIRN_HASH_LEN]);

/* ---- Chunk verification (§11.3, [CHK-1]) --------------------------------------------- */

/*
 * [CHK-1] [CHK-11] [CHK-12] Verifies chunk `index` of `f`: its length is the
 * one §11.1 gives and `proof` is its audit path to f->root. Returns 0 (and
 * the leaf hash in `leaf` when not NULL), CAIRN_ERR_PROTO(CAIRN_E_INVALID_CHUNK),
 * CAIRN_ERR_INVALID_ARG for index >= n (the caller checks [CHK-7] first), or
 * a local crypto failure. `ctx` may be NULL (slower).
 */
int cairn_chunk_verify(cairn_sha256_ctx *ctx, const cairn_file *f, uint64_t index,
                       const uint8_t *data, size_t len, const uint8_t (*proof)[CAIRN_HASH_LEN],
                       size_t proof_len, uint8_t leaf[CAIRN_HASH_LEN]);
/* Same, for a leaf hash already computed. */
int cairn_chunk_verify_leaf(cairn_sha256_ctx *ctx, const cairn_file *f, uint64_t index,
                            const uint8_t leaf[CAIRN_HASH_LEN],
                            const uint8_t (*proof)[CAIRN_HASH_LEN], size_t proof_len);

/* ---- Download scheduler (§11.5) -------------------------------------------------------- */

/*
 * Decides which chunk to ask which peer next; the caller owns the sessions
 * and the storage:
 *
 *   peer_add (with its have ranges) -> next() until AGAIN -> send GetChunk
 *   Chunk verified -> delivered(): NEW = write it, DUP = discard it
 *   NotFound/BUSY -> failed();  session closed / bad chunk -> peer_remove()
 *   tick() at deadline() for stall detection
 *
 * Policy (DL-3..DL-9):
 * - window: starts at window_init, +1 per verified chunk up to window_max,
 *   halved on a stall [DL-5]; once a peer has delivered a few chunks its
 *   window is also capped to what it delivers in queue_ms at its measured
 *   rate (at least 2), so that a slow peer does not hold many chunks.
 * - order [DL-6]: among the chunks the peer serves that are neither verified
 *   nor requested, the fewest peers first (counted from have ranges), then
 *   the lowest index.
 * - end-game [DL-7]: when the peer serves no such chunk but some missing
 *   chunk it serves is requested from others, it asks for one of those too:
 *   fewest copies first, then the most recently requested (the one its
 *   current peer would deliver last), at most endgame_copies copies at once.
 *   The first verified copy wins; the others come back as DUP.
 * - stall [DL-9, SYNC-34]: a peer stalls when it has requests outstanding and
 *   nothing arrived from it for its stall timeout, counted from its last
 *   delivery or its oldest outstanding request, whichever is later (a deep
 *   pipeline is not a stall). A stall halves its window, doubles its timeout
 *   (up to stall_max_ms) and returns its requested chunks to the pool; the
 *   requests stay counted in its window until answered (REQ-14) and a late
 *   chunk is still used when nobody delivered it first. A chunk that arrives
 *   in time resets the timeout to stall_min_ms.
 * - a removed peer's requested chunks go back to the pool at once [DL-8].
 *
 * Peers are small integers 0..CAIRN_SCHED_MAX_PEERS-1 chosen by peer_add.
 */
#define CAIRN_SCHED_MAX_PEERS  64
#define CAIRN_SCHED_MAX_WINDOW 64 /* [REQ-4] */

typedef struct cairn_sched cairn_sched;

typedef struct cairn_sched_config {
    unsigned window_init;    /* 4 */
    unsigned window_max;     /* 64, at most CAIRN_SCHED_MAX_WINDOW */
    uint32_t stall_min_ms;   /* 2000 */
    uint32_t stall_max_ms;   /* 64000 */
    unsigned endgame_copies; /* 2: simultaneous requests of one chunk in end-game */
    uint32_t queue_ms;       /* 2000: rate cap on the window; 0 = off */
} cairn_sched_config;

/* The reference values above. */
void cairn_sched_config_default(cairn_sched_config *cfg);

/* A scheduler for a file of `n_chunks` chunks. `cfg` NULL = defaults. */
int cairn_sched_new(cairn_sched **out, uint64_t n_chunks, const cairn_sched_config *cfg,
                    const cairn_mem *mem);
void cairn_sched_del(cairn_sched *s);

/* Chunk `index` is already verified (resume [DL-10]). */
int cairn_sched_mark_done(cairn_sched *s, uint64_t index);
/* Whether chunk `index` is verified. */
int cairn_sched_is_done(const cairn_sched *s, uint64_t index);
/* Chunks not yet verified. */
uint64_t cairn_sched_remaining(const cairn_sched *s);

/*
 * Adds a peer serving the chunks in `have` (count 0 = every chunk), already
 * checked with cairn_file_check_ranges. *peer receives its number.
 * CAIRN_ERR_BUFFER_TOO_SMALL when MAX_PEERS are present.
 */
int cairn_sched_peer_add(cairn_sched *s, int *peer, const cairn_chunk_range *have, size_t count,
                         uint64_t now_ms);
/* Replaces a peer's have ranges (a newer Manifest). */
int cairn_sched_peer_update(cairn_sched *s, int peer, const cairn_chunk_range *have, size_t count);
/* [DL-8] The peer is gone: its requested chunks return to the pool. */
void cairn_sched_peer_remove(cairn_sched *s, int peer);

/*
 * The next chunk to request from `peer`: 0 with *index set (the request is
 * recorded as sent at now_ms), or CAIRN_ERR_AGAIN when the peer's window is
 * full or it serves nothing worth asking for now.
 */
int cairn_sched_next(cairn_sched *s, int peer, uint64_t now_ms, uint64_t *index);

enum { CAIRN_SCHED_NEW = 0, CAIRN_SCHED_DUP = 1 };
/*
 * Chunk `index`, requested from `peer`, arrived and verified. Returns
 * CAIRN_SCHED_NEW when nobody delivered it before (store it: it now counts
 * as verified), CAIRN_SCHED_DUP when it is already verified (discard), or
 * CAIRN_ERR_INVALID_ARG when `peer` has no request for `index`.
 */
int cairn_sched_delivered(cairn_sched *s, int peer, uint64_t index, uint64_t now_ms);
/* The request of `index` to `peer` was answered without the chunk
 * (NotFound, BUSY, RATE_LIMITED): the chunk returns to the pool. */
int cairn_sched_failed(cairn_sched *s, int peer, uint64_t index, uint64_t now_ms);
/* Undo delivered() NEW when storing the chunk failed: missing again. */
void cairn_sched_unmark(cairn_sched *s, uint64_t index);

/* Stall detection at now_ms; returns how many peers stalled now. */
int cairn_sched_tick(cairn_sched *s, uint64_t now_ms);
/* When tick() has work next; UINT64_MAX = none. */
uint64_t cairn_sched_deadline(const cairn_sched *s);

typedef struct cairn_sched_peer_stats {
    unsigned window;    /* effective window */
    unsigned in_flight; /* requests not yet answered (stalled ones included) */
    uint64_t delivered; /* chunks delivered and verified, NEW or DUP */
    uint64_t dups;      /* of those, DUP */
    uint64_t rate_cpm;  /* measured rate, chunks per 1000 s (0 = not yet) */
    uint32_t stall_ms;  /* current stall timeout */
    uint32_t stalls;    /* stalls so far */
} cairn_sched_peer_stats;

/* CAIRN_ERR_INVALID_ARG for an unknown peer. */
int cairn_sched_peer_stats_get(const cairn_sched *s, int peer, cairn_sched_peer_stats *st);

#ifdef __cplusplus
}
#endif
#endif
