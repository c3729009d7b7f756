/*
 * share: the serving side of files (spec §11) for cairnd --share DIR.
 *
 * Every regular file under DIR (symbolic links are not followed, neither
 * for files nor for directories) is indexed once: its chunks are hashed in a
 * streaming pass (a file is never held in memory) and all levels of its
 * chunk tree are written to a cache file in CACHE_DIR, so that
 *   - a restart does not hash again: the cache entry is keyed by the file's
 *     path, size and modification time (ns), and checked on load;
 *   - any chunk's proof costs one 32-byte read per tree level (about 2n
 *     hashes stored per file, 64 KiB per GiB at 1 MiB chunks; at most 20
 *     reads for a 1 TiB file), never a pass over the chunk hashes.
 *
 * Cache file CACHE_DIR/<hex SHA-256(abs DIR || 0 || path)>.idx (big-endian):
 *   0   "CAIRNIDX"  8   version u32 = 1   12  header length u32 = 128
 *   16  size u64    24  mtime_ns u64      32  chunk_log2 u8 (3 zero bytes)
 *   36  reserved u32 = 0                   40  n_chunks u64
 *   48  root[32]    80  SHA-256(abs DIR || 0 || path)[32]
 *   112 first 16 bytes of SHA-256 of bytes 0..112
 *   128 the tree levels, level 0 (the n leaf hashes) first, 32 bytes each
 * It is written under a temporary name and renamed into place; a cache file
 * that fails any check (header, length, top hash == root) is rebuilt.
 *
 * Chunk size: cairn_file_chunk_log2_for(size) (files.h); the environment
 * variable CAIRN_SHARE_CHUNK_LOG2=14..20 forces one size for every file
 * (tests and benchmarks compare chunk sizes with it).
 *
 * Not thread-safe; everything runs on the node's thread. Views returned by
 * share_manifest, share_chunk and share_manifests stay valid until the next
 * share_* call on the same share (the node sends each response before it
 * asks for the next one).
 */
#ifndef CAIRND_SHARE_H
#define CAIRND_SHARE_H

#include "cairn/files.h"
#include "cairn/msg.h"

typedef struct share share;

/* Most bytes one share_rescan() call hashes before it returns 1. */
#ifndef SHARE_RESCAN_BUDGET
#define SHARE_RESCAN_BUDGET (128u << 20)
#endif
/* Files indexed at most; more are ignored (share_stats.skipped). */
#define SHARE_MAX_FILES 65536

/*
 * Opens DIR for sharing with its cache in CACHE_DIR (created when missing)
 * and indexes every file before it returns: files found in the cache are
 * ready at once, the others are hashed now (first start on a large DIR takes
 * as long as reading it). Removes cache files that no longer match a file.
 * Returns 0, CAIRN_ERR_INVALID_ARG (DIR or CACHE_DIR unusable; errno says
 * why) or CAIRN_ERR_NOMEM.
 */
int share_open(share **out, const char *dir, const char *cache_dir, const cairn_env *env);
void share_close(share *s);

/*
 * Looks for new, changed and removed files (one stat per file: cheap when
 * nothing changed) and indexes what changed, hashing at most
 * SHARE_RESCAN_BUDGET bytes. A changed file stops being served at once and
 * is served again under its new file ID once indexed. Returns 0 when every
 * file is indexed, 1 when indexing work remains (call again soon: each call
 * is bounded), or CAIRN_ERR_NOMEM.
 */
int share_rescan(share *s);

/*
 * [FILE-12] [FILE-13] Fills the fields of a Manifest answer for `file_id`
 * except request_id: the manifest bytes (a view into `s`) and an empty have
 * list (every chunk is served). Returns 0, or 1 when the file is not shared
 * (answer NotFound).
 */
int share_manifest(share *s, const uint8_t file_id[CAIRN_HASH_LEN], Cairn__V1__Manifest *out);

/*
 * [CHK-4] [CHK-5] Fills the fields of a Chunk answer except request_id: the
 * index, the whole chunk read from disk and its audit path (views into `s`).
 * Returns
 *   0                                     answer with *out
 *   1                                     not shared, or the file changed on
 *                                         disk since it was indexed: NotFound
 *   CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD) [CHK-3] index >= the chunk count:
 *                                         close the session with that code
 *   another negative error                a local failure (read error, out of
 *                                         memory): answer Error BUSY
 */
int share_chunk(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                Cairn__V1__Chunk *out);
/*
 * share_chunk in two steps, for a zero-copy answer: prepare fills *out
 * (index, data.len, proof; data.data NULL) with share_chunk's checks and
 * returns; read then preads the chunk's data.len bytes to `dst` (the frame
 * being sent): 0, or 1 when the file cannot be read (NotFound).
 */
int share_chunk_prepare(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                        Cairn__V1__Chunk *out);
int share_chunk_read(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index, uint8_t *dst);

/*
 * The manifest entries of the shared files, for publishing on chain (one per
 * distinct file ID, in path order): writes up to `cap` views into
 * entries/lens and returns how many files there are in all.
 */
size_t share_manifests(share *s, const uint8_t **entries, size_t *lens, size_t cap);

/* Increases whenever the set of served manifests changes. */
uint64_t share_generation(const share *s);

typedef struct share_stats {
    size_t files;          /* served now */
    size_t pending;        /* found but not (yet) indexed */
    size_t skipped;        /* over SHARE_MAX_FILES, or unreadable */
    uint64_t bytes;        /* total size of the served files */
    uint64_t hashed_bytes; /* hashed since share_open */
    uint64_t cache_hits;   /* files whose index came from the cache */
    uint64_t chunks_served;
} share_stats;

void share_get_stats(const share *s, share_stats *st);

#endif
