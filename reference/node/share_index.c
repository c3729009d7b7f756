/*
 * share, the index: find, hash and cache the files under a directory (see share.h).
 *
 * State: `files`, every regular file found, sorted by path; `byid`, the
 * indexed ones sorted by file ID for lookups. A rescan walks the directory,
 * merges what it found into `files`, and indexes pending files within a
 * byte budget. Indexing is one streaming pass: read the file in 1 MiB
 * pieces, hash chunks, append leaf hashes to a temporary cache file, then
 * build each tree level from the one below it by reading it back in blocks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/port.h"
#include "share_int.h"

int64_t share_mtime_of(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static char *dup_str(const cairn_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cairn_mem_malloc(mem, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- descriptors ----------------------------------------------------------------- */

static void close_fds(share *s, sfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->cfd >= 0)
        close(f->cfd);
    f->fd = f->cfd = -1;
    for (size_t i = 0; i < s->n_open; i++)
        if (s->open[i] == f) {
            s->open[i] = s->open[--s->n_open];
            break;
        }
}

void share_cache_name(const sfile *f, char out[CAIRN_HASH_LEN * 2 + 9], int tmp)
{
    cairn_hex_encode(out, f->key, CAIRN_HASH_LEN);
    strcat(out, tmp ? ".idx.tmp" : ".idx");
}

/* Opens the data and cache files of a READY file, closing the least
 * recently used ones past MAX_OPEN. */
int share_open_fds(share *s, sfile *f)
{
    f->used = ++s->tick;
    if (f->fd >= 0 && f->cfd >= 0)
        return 0;
    close_fds(s, f);
    if (s->n_open == MAX_OPEN) {
        size_t lru = 0;
        for (size_t i = 1; i < s->n_open; i++)
            if (s->open[i]->used < s->open[lru]->used)
                lru = i;
        close_fds(s, s->open[lru]);
    }
    char name[CAIRN_HASH_LEN * 2 + 9];
    share_cache_name(f, name, 0);
    f->fd = openat(s->dirfd, f->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    f->cfd = openat(s->cachefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (f->fd < 0 || f->cfd < 0) {
        close_fds(s, f);
        return -1;
    }
    s->open[s->n_open++] = f;
    return 0;
}

/* ---- lookups ----------------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    const sfile *x = *(sfile *const *)a, *y = *(sfile *const *)b;
    int c = memcmp(x->f.id, y->f.id, CAIRN_HASH_LEN);
    return c ? c : strcmp(x->rel, y->rel);
}

void share_rebuild_byid(share *s)
{
    if (!s->byid_dirty)
        return;
    s->n_byid = 0;
    for (size_t i = 0; i < s->n_files; i++)
        if (s->files[i]->state == ST_READY)
            s->byid[s->n_byid++] = s->files[i];
    qsort(s->byid, s->n_byid, sizeof(*s->byid), cmp_id);
    s->byid_dirty = 0;
}

sfile *share_find_id(share *s, const uint8_t id[CAIRN_HASH_LEN])
{
    share_rebuild_byid(s);
    size_t lo = 0, hi = s->n_byid;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->byid[mid]->f.id, id, CAIRN_HASH_LEN);
        if (c == 0)
            return s->byid[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void job_end(share *s, int keep_tmp);

/* A served file is no longer what was indexed: stop serving it. A file
 * being indexed that changes or goes away stops being indexed. */
void share_set_state(share *s, sfile *f, int state)
{
    if (s->job && s->job->f == f && state != ST_READY)
        job_end(s, 0);
    if (f->state == ST_READY || state == ST_READY) {
        s->gen++;
        s->byid_dirty = 1;
    }
    f->state = state;
    if (state != ST_READY)
        close_fds(s, f);
}

/* ---- the cache file ------------------------------------------------------------------ */

static void header_encode(uint8_t h[HDR_LEN], const sfile *f, unsigned log2, uint64_t n,
                          const uint8_t root[CAIRN_HASH_LEN])
{
    uint8_t sum[CAIRN_HASH_LEN];
    memset(h, 0, HDR_LEN);
    memcpy(h, HDR_MAGIC, 8);
    cairn_put_u32(h + 8, HDR_VERSION);
    cairn_put_u32(h + 12, HDR_LEN);
    cairn_put_u64(h + 16, f->size);
    cairn_put_u64(h + 24, (uint64_t)f->mtime_ns);
    h[32] = (uint8_t)log2;
    cairn_put_u64(h + 40, n);
    memcpy(h + 48, root, CAIRN_HASH_LEN);
    memcpy(h + 80, f->key, CAIRN_HASH_LEN);
    cairn_sha256(sum, h, 112);
    memcpy(h + 112, sum, 16);
}

/* The manifest of an indexed file: its name is its path's last component. */
static int make_ready(share *s, sfile *f, unsigned log2, const uint8_t root[CAIRN_HASH_LEN])
{
    const char *base = strrchr(f->rel, '/');
    uint8_t name[CAIRN_FILE_MAX_NAME];
    size_t nl = cairn_file_name_from(base ? base + 1 : f->rel, name);
    if (cairn_file_init(s->sha, &f->f, f->size, log2, root, name, nl) != 0)
        return -1;
    share_set_state(s, f, ST_READY);
    return 0;
}

/* Uses a valid cache file for `f`; returns 0 when it did. */
static int load_cache(share *s, sfile *f)
{
    char name[CAIRN_HASH_LEN * 2 + 9];
    uint8_t h[HDR_LEN], expect[HDR_LEN], top[CAIRN_HASH_LEN];
    share_cache_name(f, name, 0);
    int fd = openat(s->cachefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rv = -1;
    struct stat st;
    cairn_file_geom g;
    if (cairn_port_pread_full(fd, h, HDR_LEN, 0) != 0 || fstat(fd, &st) != 0)
        goto out;
    if (cairn_file_geom_init(&g, f->size, h[32]) != 0 || (s->chunk_log2 && h[32] != s->chunk_log2))
        goto out;
    header_encode(expect, f, g.chunk_log2, g.n_chunks, h + 48);
    if (memcmp(h, expect, HDR_LEN) != 0)
        goto out; /* another version, file, size or mtime, or damaged */
    uint64_t total = cairn_tree_level_start(g.n_chunks, cairn_tree_height(g.n_chunks) + 1);
    if ((uint64_t)st.st_size != HDR_LEN + total * CAIRN_HASH_LEN)
        goto out;
    if (g.n_chunks == 0) {
        cairn_sha256(top, "", 0);
    } else {
        uint64_t at = cairn_tree_level_start(g.n_chunks, cairn_tree_height(g.n_chunks));
        if (cairn_port_pread_full(fd, top, CAIRN_HASH_LEN, HDR_LEN + at * CAIRN_HASH_LEN) != 0)
            goto out;
    }
    if (memcmp(top, h + 48, CAIRN_HASH_LEN) != 0)
        goto out;
    rv = make_ready(s, f, g.chunk_log2, h + 48);
out:
    close(fd);
    return rv;
}

/* ---- indexing --------------------------------------------------------------------------- */

static int flush_leaves(leafw *w)
{
    if (w->n && cairn_port_pwrite_full(w->fd, w->s->lvl, w->n * CAIRN_HASH_LEN, w->off) != 0)
        return -1;
    w->off += w->n * CAIRN_HASH_LEN;
    w->n = 0;
    return 0;
}

static int on_leaf(void *ud, uint64_t index, const uint8_t leaf[CAIRN_HASH_LEN])
{
    (void)index;
    leafw *w = ud;
    memcpy(w->s->lvl[w->n++], leaf, CAIRN_HASH_LEN);
    if (w->n == LEAF_BUF && flush_leaves(w) != 0)
        return CAIRN_ERR_INTERNAL;
    return 0;
}

/* Levels 1..height from level 0, already in the file, one block at a time. */
static int build_levels(share *s, int fd, uint64_t n)
{
    unsigned height = cairn_tree_height(n);
    for (unsigned j = 0; j < height; j++) {
        uint64_t len = cairn_tree_level_len(n, j);
        uint64_t in = HDR_LEN + cairn_tree_level_start(n, j) * CAIRN_HASH_LEN;
        uint64_t out = HDR_LEN + cairn_tree_level_start(n, j + 1) * CAIRN_HASH_LEN;
        for (uint64_t done = 0; done < len;) {
            size_t k = len - done < LEAF_BUF ? (size_t)(len - done) : LEAF_BUF;
            if (cairn_port_pread_full(fd, s->lvl, k * CAIRN_HASH_LEN, in + done * CAIRN_HASH_LEN) !=
                    0 ||
                cairn_tree_level_up(s->sha, (const uint8_t(*)[CAIRN_HASH_LEN])s->lvl, k, s->lvl) !=
                    0 ||
                cairn_port_pwrite_full(fd, s->lvl, (k + 1) / 2 * CAIRN_HASH_LEN,
                                       out + done / 2 * CAIRN_HASH_LEN) != 0)
                return -1;
            done += k;
        }
    }
    return 0;
}

static void job_end(share *s, int keep_tmp)
{
    ijob *j = s->job;
    if (!j->f)
        return;
    if (!keep_tmp) {
        char tmp[CAIRN_HASH_LEN * 2 + 9];
        share_cache_name(j->f, tmp, 1);
        unlinkat(s->cachefd, tmp, 0);
    }
    cairn_file_hasher_del(j->h);
    if (j->fd >= 0)
        close(j->fd);
    if (j->cfd >= 0)
        close(j->cfd);
    memset(j, 0, sizeof(*j));
    j->fd = j->cfd = -1;
}

/* Opens `f` for indexing. Returns 0, 1 when it cannot be indexed now
 * (changed since the walk: left PENDING; unreadable: BAD), or NOMEM. */
static int job_start(share *s, sfile *f)
{
    ijob *j = s->job;
    char tmp[CAIRN_HASH_LEN * 2 + 9];
    struct stat st;
    share_cache_name(f, tmp, 1);
    j->f = f;
    j->fd = openat(s->dirfd, f->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (j->fd < 0 || fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        f->size > CAIRN_FILE_MAX_SIZE) {
        share_set_state(s, f, ST_BAD);
        job_end(s, 0);
        return 1;
    }
    if ((uint64_t)st.st_size != f->size || share_mtime_of(&st) != f->mtime_ns) {
        job_end(s, 0); /* changed since the walk: the next rescan sees it */
        return 1;
    }
    j->log2 = s->chunk_log2 ? s->chunk_log2 : cairn_file_chunk_log2_for(f->size);
    j->cfd = openat(s->cachefd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (j->cfd < 0) {
        share_set_state(s, f, ST_BAD);
        job_end(s, 0);
        return 1;
    }
    j->w = (leafw){s, j->cfd, 0, HDR_LEN, 0};
    int rv = cairn_file_hasher_new(&j->h, f->size, j->log2, on_leaf, &j->w, s->mem);
    if (rv != 0) {
        job_end(s, 0);
        return rv == CAIRN_ERR_NOMEM ? rv : 1;
    }
    posix_fadvise(j->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* The file is hashed: upper levels, header, rename, served. */
static void job_finish(share *s)
{
    ijob *j = s->job;
    sfile *f = j->f;
    char tmp[CAIRN_HASH_LEN * 2 + 9], name[CAIRN_HASH_LEN * 2 + 9];
    uint8_t root[CAIRN_HASH_LEN], hdr[HDR_LEN];
    struct stat st;
    cairn_file_geom g;
    cairn_file_geom_init(&g, f->size, j->log2);
    share_cache_name(f, tmp, 1);
    share_cache_name(f, name, 0);
    if (cairn_file_hasher_final(j->h, root) != 0 || flush_leaves(&j->w) != 0 ||
        build_levels(s, j->cfd, g.n_chunks) != 0) {
        share_set_state(s, f, ST_BAD);
        job_end(s, 0);
        return;
    }
    /* unchanged while we read it? */
    if (fstat(j->fd, &st) != 0 || (uint64_t)st.st_size != f->size ||
        share_mtime_of(&st) != f->mtime_ns) {
        job_end(s, 0);
        return;
    }
    header_encode(hdr, f, j->log2, g.n_chunks, root);
    if (cairn_port_pwrite_full(j->cfd, hdr, HDR_LEN, 0) != 0 ||
        renameat(s->cachefd, tmp, s->cachefd, name) != 0) {
        share_set_state(s, f, ST_BAD);
        job_end(s, 0);
        return;
    }
    unsigned log2 = j->log2;
    job_end(s, 1);
    make_ready(s, f, log2, root);
}

/*
 * Hashes the current job's file for at most `budget` bytes (0 = to the end)
 * and finishes it when done. Returns 0 when the job ended (indexed, or given
 * up), 1 when the budget ran out first.
 */
static int job_step(share *s, uint64_t budget)
{
    ijob *j = s->job;
    uint64_t done = 0;
    while (j->off < j->f->size) {
        if (budget && done >= budget)
            return 1;
        size_t want = j->f->size - j->off < IO_LEN ? (size_t)(j->f->size - j->off) : IO_LEN;
        ssize_t r = pread(j->fd, s->io, want, (off_t)j->off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            job_end(s, 0); /* shorter than it was: changed */
            return 0;
        }
        if (cairn_file_hasher_update(j->h, s->io, (size_t)r) != 0) {
            share_set_state(s, j->f, ST_BAD); /* the cache could not be written */
            job_end(s, 0);
            return 0;
        }
        j->off += (uint64_t)r;
        done += (uint64_t)r;
        s->st.hashed_bytes += (uint64_t)r;
    }
    job_finish(s);
    return 0;
}

/* ---- walking ---------------------------------------------------------------------------- */

static int add_found(share *s, const char *rel, const struct stat *st)
{
    if (s->n_walk == s->cap_walk) {
        size_t cap = s->cap_walk ? s->cap_walk * 2 : 64;
        found *w = cairn_mem_realloc(s->mem, s->walk, cap * sizeof(*w));
        if (!w)
            return CAIRN_ERR_NOMEM;
        s->walk = w;
        s->cap_walk = cap;
    }
    char *r = dup_str(s->mem, rel);
    if (!r)
        return CAIRN_ERR_NOMEM;
    s->walk[s->n_walk++] = (found){r, (uint64_t)st->st_size, share_mtime_of(st),
                                   (uint64_t)st->st_dev, (uint64_t)st->st_ino};
    return 0;
}

/* Collects the regular files under directory `dfd`, whose path is `path`. */
static int walk_dir(share *s, int dfd, char *path, size_t plen, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    int rv = 0;
    struct dirent *e;
    while (rv == 0 && (e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            continue;
        size_t nl = strlen(nm);
        if (plen + nl + 2 > PATH_MAX)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        char *p = path + plen;
        if (plen)
            *p++ = '/';
        memcpy(p, nm, nl + 1);
        size_t sub = (size_t)(p - path) + nl;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH ||
                ((uint64_t)st.st_dev == s->cache_dev && (uint64_t)st.st_ino == s->cache_ino))
                goto next;
            int sfd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sfd >= 0)
                rv = walk_dir(s, sfd, path, sub, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            /* a download in progress is not a file to share */
            if (ends_with(nm, PART_SUFFIX) || ends_with(nm, STATE_SUFFIX))
                goto next;
            if (s->n_walk >= SHARE_MAX_FILES) {
                s->st.skipped++;
                goto next;
            }
            rv = add_found(s, path, &st);
        }
    next:
        path[plen] = 0;
    }
    closedir(d);
    return rv;
}

static int cmp_found(const void *a, const void *b)
{
    return strcmp(((const found *)a)->rel, ((const found *)b)->rel);
}

static void free_sfile(share *s, sfile *f)
{
    if (!f)
        return;
    if (s->job && s->job->f == f)
        job_end(s, 0);
    close_fds(s, f);
    cairn_mem_free(s->mem, f->rel);
    cairn_mem_free(s->mem, f);
}

static void clear_walk(share *s)
{
    for (size_t i = 0; i < s->n_walk; i++)
        cairn_mem_free(s->mem, s->walk[i].rel);
    s->n_walk = 0;
}

/* New sfile for what the walk found. */
static sfile *new_sfile(share *s, found *w)
{
    sfile *f = cairn_mem_calloc(s->mem, 1, sizeof(*f));
    if (!f)
        return NULL;
    if (!(f->rel = dup_str(s->mem, w->rel))) {
        cairn_mem_free(s->mem, f);
        return NULL;
    }
    f->fd = f->cfd = -1;
    f->state = ST_PENDING;
    cairn_sha256_init(s->sha);
    cairn_sha256_update(s->sha, s->dir, strlen(s->dir) + 1);
    cairn_sha256_update(s->sha, f->rel, strlen(f->rel));
    cairn_sha256_final(s->sha, f->key);
    return f;
}

/* Walks the directory and merges the result into `files`. */
static int scan(share *s)
{
    char path[PATH_MAX];
    path[0] = 0;
    s->st.skipped = 0;
    s->scans++;
    int dfd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* the directory went away: keep what we have */
    int rv = walk_dir(s, dfd, path, 0, 0);
    if (rv != 0) {
        clear_walk(s);
        return rv;
    }
    qsort(s->walk, s->n_walk, sizeof(*s->walk), cmp_found);
    sfile **nf = cairn_mem_calloc(s->mem, s->n_walk + 1, sizeof(*nf));
    sfile **nb = cairn_mem_calloc(s->mem, s->n_walk + 1, sizeof(*nb));
    if (!nf || !nb) {
        cairn_mem_free(s->mem, nf);
        cairn_mem_free(s->mem, nb);
        clear_walk(s);
        return CAIRN_ERR_NOMEM;
    }
    /* Two passes of the same merge of two sorted lists: the first allocates
     * every new sfile (into nf[j]), so that a failure changes nothing. Each
     * walk entry j yields exactly one output, so the second pass writes its
     * result to nf[j] too. */
    for (int pass = 0; pass < 2 && rv == 0; pass++) {
        size_t i = 0, j = 0;
        while (i < s->n_files || j < s->n_walk) {
            int c = i == s->n_files  ? 1
                    : j == s->n_walk ? -1
                                     : strcmp(s->files[i]->rel, s->walk[j].rel);
            if (c < 0) { /* removed */
                if (pass == 1) {
                    share_set_state(s, s->files[i], ST_PENDING);
                    free_sfile(s, s->files[i]);
                }
                i++;
                continue;
            }
            found *w = &s->walk[j];
            if (pass == 0) {
                if (c > 0 && !(nf[j] = new_sfile(s, w)))
                    rv = CAIRN_ERR_NOMEM;
                i += c == 0;
                j++;
                continue;
            }
            sfile *f = c > 0 ? nf[j] : s->files[i++];
            if (c == 0 && (f->size != w->size || f->mtime_ns != w->mtime_ns || f->dev != w->dev ||
                           f->ino != w->ino))
                share_set_state(s, f, ST_PENDING); /* changed: not served until indexed again */
            f->size = w->size;
            f->mtime_ns = w->mtime_ns;
            f->dev = w->dev;
            f->ino = w->ino;
            nf[j++] = f;
        }
    }
    if (rv != 0) {
        for (size_t j = 0; j < s->n_walk; j++)
            free_sfile(s, nf[j]);
        cairn_mem_free(s->mem, nf);
        cairn_mem_free(s->mem, nb);
        clear_walk(s);
        return rv;
    }
    size_t k = s->n_walk;
    clear_walk(s);
    cairn_mem_free(s->mem, s->files);
    cairn_mem_free(s->mem, s->byid);
    s->files = nf;
    s->n_files = k;
    s->byid = nb;
    s->n_byid = 0;
    s->byid_dirty = 1;
    return 0;
}

/* Whether a file is being indexed, or waits to be tried in this scan. */
static int work_left(const share *s)
{
    if (s->job->f)
        return 1;
    for (size_t i = 0; i < s->n_files; i++)
        if (s->files[i]->state == ST_PENDING && s->files[i]->tried != s->scans)
            return 1;
    return 0;
}

/* Indexes pending files until `budget` bytes were hashed (0 = no budget).
 * Returns 0 when nothing is left, 1 when work remains, or NOMEM. */
static int index_pending(share *s, uint64_t budget)
{
    uint64_t start = s->st.hashed_bytes;
    for (;;) {
        uint64_t used = s->st.hashed_bytes - start;
        if (budget && used >= budget)
            return work_left(s);
        if (s->job->f) {
            if (job_step(s, budget ? budget - used : 0) == 1)
                return 1;
            continue;
        }
        sfile *next = NULL;
        for (size_t i = 0; i < s->n_files && !next; i++) {
            sfile *f = s->files[i];
            if (f->state != ST_PENDING || f->tried == s->scans)
                continue;
            f->tried = s->scans; /* once per scan, whatever happens */
            if (load_cache(s, f) == 0)
                s->st.cache_hits++;
            else
                next = f;
        }
        if (!next)
            return 0;
        int rv = job_start(s, next);
        if (rv < 0)
            return rv;
    }
}

/* ---- public -------------------------------------------------------------------------------- */

/* Removes cache files that belong to no file found. */
static void collect_garbage(share *s)
{
    int fd = openat(s->cachefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint8_t key[CAIRN_HASH_LEN];
        const char *nm = e->d_name;
        size_t nl = strlen(nm);
        if (!(nl == 68 && !strcmp(nm + 64, ".idx")) && !(nl == 72 && !strcmp(nm + 64, ".idx.tmp")))
            continue;
        if (cairn_hex_decode(key, CAIRN_HASH_LEN, nm) != 0)
            continue;
        int keep = 0;
        for (size_t i = 0; i < s->n_files && !keep && nl == 68; i++)
            keep = memcmp(s->files[i]->key, key, CAIRN_HASH_LEN) == 0;
        if (!keep)
            unlinkat(dirfd(d), nm, 0);
    }
    closedir(d);
}

int share_open(share **out, const char *dir, const char *cache_dir, const cairn_env *env)
{
    *out = NULL;
    share *s = cairn_mem_calloc(env->mem, 1, sizeof(*s));
    if (!s)
        return CAIRN_ERR_NOMEM;
    s->env = env;
    s->mem = env->mem;
    s->dirfd = s->cachefd = -1;
    const char *force = getenv("CAIRN_SHARE_CHUNK_LOG2");
    if (force && atoi(force) >= CAIRN_CHUNK_LOG2_MIN && atoi(force) <= CAIRN_CHUNK_LOG2_MAX)
        s->chunk_log2 = (unsigned)atoi(force);
    int rv = CAIRN_ERR_INVALID_ARG;
    char abs[PATH_MAX];
    struct stat st;
    if (!realpath(dir, abs))
        goto fail;
    mkdir(cache_dir, 0755);
    s->dirfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s->cachefd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0 || s->cachefd < 0 || fstat(s->cachefd, &st) != 0)
        goto fail;
    s->cache_dev = (uint64_t)st.st_dev;
    s->cache_ino = (uint64_t)st.st_ino;
    rv = CAIRN_ERR_NOMEM;
    s->dir = dup_str(s->mem, abs);
    s->io = cairn_mem_malloc(s->mem, IO_LEN);
    s->lvl = cairn_mem_malloc(s->mem, LEAF_BUF * CAIRN_HASH_LEN);
    s->job = cairn_mem_calloc(s->mem, 1, sizeof(*s->job));
    if (!s->dir || !s->io || !s->lvl || !s->job)
        goto fail;
    s->job->fd = s->job->cfd = -1;
    if ((rv = cairn_sha256_ctx_new(&s->sha)) != 0)
        goto fail;
    if ((rv = scan(s)) != 0 || (rv = index_pending(s, 0)) < 0)
        goto fail;
    collect_garbage(s);
    share_rebuild_byid(s);
    *out = s;
    return 0;
fail : {
    int e = errno;
    share_close(s);
    errno = e;
    return rv;
}
}

void share_close(share *s)
{
    if (!s)
        return;
    if (s->job)
        job_end(s, 0);
    for (size_t i = 0; i < s->n_files; i++)
        free_sfile(s, s->files[i]);
    clear_walk(s);
    cairn_mem_free(s->mem, s->walk);
    cairn_mem_free(s->mem, s->files);
    cairn_mem_free(s->mem, s->byid);
    cairn_mem_free(s->mem, s->dir);
    cairn_mem_free(s->mem, s->io);
    cairn_mem_free(s->mem, s->lvl);
    cairn_mem_free(s->mem, s->job);
    cairn_sha256_ctx_del(s->sha);
    if (s->dirfd >= 0)
        close(s->dirfd);
    if (s->cachefd >= 0)
        close(s->cachefd);
    cairn_mem_free(s->mem, s);
}

int share_rescan(share *s)
{
    int rv = scan(s);
    if (rv != 0)
        return rv;
    rv = index_pending(s, SHARE_RESCAN_BUDGET);
    share_rebuild_byid(s);
    return rv;
}
