/*
 * share's own state, shared by its two halves: share_index.c (finding,
 * hashing and caching files) and share_serve.c (answering from the index).
 * share_serve.c uses the helpers below; share_index.c never calls into it.
 */
#ifndef CAIRND_SHARE_INT_H
#define CAIRND_SHARE_INT_H

#include <sys/stat.h>

#include "share.h"

#define ST_PENDING 0
#define ST_READY   1
#define ST_BAD     2 /* unreadable as it is; retried when its stat changes */

#define HDR_LEN      128
#define HDR_MAGIC    "CAIRNIDX"
#define HDR_VERSION  1
#define MAX_OPEN     32 /* files with open descriptors */
#define MAX_DEPTH    32 /* directory nesting followed */
#define IO_LEN       (1u << 20)
#define LEAF_BUF     2048 /* hashes buffered per write or level block (even) */
#define PART_SUFFIX  ".cairn-part"
#define STATE_SUFFIX ".cairn-state"

typedef struct sfile {
    char *rel;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t dev, ino;
    int state;
    cairn_file f; /* when READY */
    uint8_t key[CAIRN_HASH_LEN];
    int fd, cfd; /* data and cache descriptors, -1 when closed */
    uint64_t used;
    uint64_t tried; /* the scan that last tried to index it */
} sfile;

/* What a directory walk found. */
typedef struct found {
    char *rel;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t dev, ino;
} found;

/* Leaf hashes on their way to the cache file. */
typedef struct leafw {
    share *s;
    int fd;
    size_t n;
    uint64_t off;
    int failed;
} leafw;

/* The file being indexed, kept across rescans so that every call stays
 * within its budget, however large the file. */
typedef struct ijob {
    sfile *f; /* NULL = none */
    int fd, cfd;
    cairn_file_hasher *h;
    leafw w;
    uint64_t off;
    unsigned log2;
} ijob;

struct share {
    const cairn_env *env;
    const cairn_mem *mem;
    char *dir; /* absolute */
    int dirfd, cachefd;
    uint64_t cache_dev, cache_ino;
    sfile **files;
    size_t n_files;
    sfile **byid;
    size_t n_byid;
    int byid_dirty;
    sfile *open[MAX_OPEN];
    size_t n_open;
    uint64_t gen, tick;
    cairn_sha256_ctx *sha;
    uint8_t *io;
    uint8_t (*lvl)[CAIRN_HASH_LEN]; /* LEAF_BUF hashes */
    uint8_t proof[CAIRN_MERKLE_MAX_PATH][CAIRN_HASH_LEN];
    ProtobufCBinaryData proof_bd[CAIRN_MERKLE_MAX_PATH];
    found *walk;
    size_t n_walk, cap_walk;
    unsigned chunk_log2; /* forced by CAIRN_SHARE_CHUNK_LOG2, else 0 */
    ijob *job;           /* the file being indexed */
    uint64_t scans;
    share_stats st;
};

sfile *share_find_id(share *s, const uint8_t id[CAIRN_HASH_LEN]);
int share_open_fds(share *s, sfile *f);
void share_set_state(share *s, sfile *f, int state);
void share_cache_name(const sfile *f, char out[CAIRN_HASH_LEN * 2 + 9], int tmp);
int64_t share_mtime_of(const struct stat *st);
void share_rebuild_byid(share *s);

#endif
