/* cairn fetch: output and resume (the part and state files, verification workers, publishing). */
#define _GNU_SOURCE /* renameat2, pipe2 */
#include "fetch_int.h"

/* ---- storage --------------------------------------------------------------------------- */

static int exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Decides the output directory and, when -o names a file, the final name.
 * Returns 0, or an exit code after printing why.
 */
int fetch_open_output(fetch *ft)
{
    const char *o = ft->out_arg ? ft->out_arg : ".";
    struct stat st;
    if (stat(o, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(ft->dir, sizeof(ft->dir), "%s", o);
    } else {
        const char *slash = strrchr(o, '/');
        const char *base = slash ? slash + 1 : o;
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..") ||
            strlen(base) > CAIRN_FILE_MAX_NAME)
            return fetch_fail(ft, CLI_EXIT_USAGE, "-o %s: not a file name", o);
        if (slash)
            snprintf(ft->dir, sizeof(ft->dir), "%.*s", (int)(slash - o), slash == o ? "/" : o);
        else
            snprintf(ft->dir, sizeof(ft->dir), ".");
        if (slash == o)
            snprintf(ft->dir, sizeof(ft->dir), "/");
        snprintf(ft->final_name, sizeof(ft->final_name), "%s", base);
        ft->name_fixed = 1;
    }
    ft->dirfd = open(ft->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ft->dirfd < 0)
        return fetch_fail(ft, CLI_EXIT_FAIL, "cannot open directory %s: %s", ft->dir,
                          strerror(errno));
    snprintf(ft->part_name, sizeof(ft->part_name), "%s%s", ft->id_hex, PART_SUFFIX);
    snprintf(ft->state_name, sizeof(ft->state_name), "%s%s", ft->id_hex, STATE_SUFFIX);
    if (ft->name_fixed && !ft->force && exists_at(ft->dirfd, ft->final_name))
        return fetch_fail(ft, CLI_EXIT_FAIL, "%s exists (use --force to replace it)", o);
    return 0;
}

/* The slots of a kept download: re-verify every chunk it claims [DL-11]. */
static int resume_chunks(fetch *ft)
{
    const cairn_file_geom *g = &ft->file.geom;
    uint8_t(*slots)[CAIRN_HASH_LEN] = malloc(SLOT_BLOCK * CAIRN_HASH_LEN);
    uint8_t *buf = malloc(CAIRN_FILE_MAX_CHUNK), zero[CAIRN_HASH_LEN] = {0};
    int rv = -1;
    if (!slots || !buf)
        goto out;
    for (uint64_t base = 0; base < g->n_chunks; base += SLOT_BLOCK) {
        size_t k = g->n_chunks - base < SLOT_BLOCK ? (size_t)(g->n_chunks - base) : SLOT_BLOCK;
        if (cairn_port_pread_full(ft->state_fd, slots, k * CAIRN_HASH_LEN,
                                  STATE_HDR + base * CAIRN_HASH_LEN) != 0)
            goto out;
        for (size_t j = 0; j < k; j++) {
            if (!memcmp(slots[j], zero, CAIRN_HASH_LEN))
                continue;
            uint64_t i = base + j;
            size_t len = cairn_file_chunk_len(g, i);
            uint8_t leaf[CAIRN_HASH_LEN];
            if (cairn_port_pread_full(ft->part_fd, buf, len, cairn_file_chunk_offset(g, i)) == 0 &&
                cairn_merkle_leaf_hash(ft->sha, leaf, buf, len) == 0 &&
                !memcmp(leaf, slots[j], CAIRN_HASH_LEN)) {
                cairn_sched_mark_done(ft->sched, i);
                ft->resumed_chunks++;
                ft->bytes_done += len;
            } else if (cairn_port_pwrite_full(ft->state_fd, zero, CAIRN_HASH_LEN,
                                              STATE_HDR + i * CAIRN_HASH_LEN) != 0) {
                goto out;
            }
        }
    }
    rv = 0;
out:
    free(slots);
    free(buf);
    return rv;
}

/* Reads a kept state file; returns 1 when it holds a usable manifest. */
int fetch_read_state(fetch *ft, uint8_t *manifest, size_t *len)
{
    uint8_t h[STATE_HDR];
    if (cairn_port_pread_full(ft->state_fd, h, STATE_HDR, 0) != 0 || memcmp(h, STATE_MAGIC, 8) ||
        memcmp(h + 8, ft->id, CAIRN_HASH_LEN))
        return 0;
    *len = cairn_get_u16(h + 40);
    if (*len < CAIRN_MANIFEST_MIN_LEN || *len > CAIRN_MANIFEST_MAX_LEN)
        return 0;
    memcpy(manifest, h + 42, *len);
    return 1;
}

static void start_workers(fetch *ft);

/* The manifest is known (from a peer, or from the state file): set up the
 * scheduler and the storage, resuming what is there. */
int fetch_start_file(fetch *ft, const uint8_t *manifest, size_t len)
{
    /* [FILE-14] [FILE-15] checked by the caller; parse again for our copy */
    if (cairn_file_from_manifest(ft->sha, &ft->file, manifest, len, ft->id) != 0)
        return -1;
    const cairn_file_geom *g = &ft->file.geom;
    if (!ft->name_fixed) {
        /* [FILE-23] [FILE-25] the network's name, made safe, in our directory */
        cairn_file_local_name(ft->file.name, ft->file.name_len, ft->id, ft->final_name);
        if (!ft->force && exists_at(ft->dirfd, ft->final_name)) {
            fetch_set_fatal(ft, "%s exists (use --force to replace it)",
                            fetch_jpath(ft, ft->final_name));
            return -1;
        }
    }
    /* Sizes come from the verified manifest, which the file ID the user chose
     * commits to. Disk first: the file's size, no more, and only what is not
     * already there; then the scheduler's two bits per chunk. */
    struct statvfs vfs;
    struct stat pst;
    uint64_t have = fstatat(ft->dirfd, ft->part_name, &pst, AT_SYMLINK_NOFOLLOW) == 0
                        ? (uint64_t)pst.st_blocks * 512
                        : 0;
    if (fstatvfs(ft->dirfd, &vfs) == 0 && g->size > have &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize <
            g->size - have + STATE_HDR + g->n_chunks * CAIRN_HASH_LEN) {
        fetch_set_fatal(ft, "not enough space in %s for %" PRIu64 " bytes", ft->dir, g->size);
        return -1;
    }
    if (cairn_sched_new(&ft->sched, g->n_chunks, NULL, cairn_port_mem()) != 0) {
        fetch_set_fatal(ft, "a file of %" PRIu64 " chunks is too large to track here", g->n_chunks);
        return -1;
    }
    /* [FILE-22] [FILE-24] relative to the output directory, no links */
    int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    ft->part_fd = openat(ft->dirfd, ft->part_name, flags, 0644);
    ft->state_fd = openat(ft->dirfd, ft->state_name, flags, 0644);
    if (ft->part_fd < 0 || ft->state_fd < 0) {
        fetch_set_fatal(ft, "cannot create %s: %s", fetch_jpath(ft, ft->part_name),
                        strerror(errno));
        return -1;
    }
    uint8_t kept[CAIRN_MANIFEST_MAX_LEN];
    size_t kept_len;
    struct stat st;
    int resume = fetch_read_state(ft, kept, &kept_len) && kept_len == len &&
                 !memcmp(kept, manifest, len) && fstat(ft->part_fd, &st) == 0 &&
                 (uint64_t)st.st_size == g->size;
    if (!resume) {
        uint8_t h[STATE_HDR] = {0};
        memcpy(h, STATE_MAGIC, 8);
        memcpy(h + 8, ft->id, CAIRN_HASH_LEN);
        cairn_put_u16(h + 40, (uint16_t)len);
        memcpy(h + 42, manifest, len);
        if (ftruncate(ft->state_fd, 0) != 0 ||
            cairn_port_pwrite_full(ft->state_fd, h, STATE_HDR, 0) != 0 ||
            ftruncate(ft->state_fd, (off_t)(STATE_HDR + g->n_chunks * CAIRN_HASH_LEN)) != 0 ||
            ftruncate(ft->part_fd, 0) != 0) {
            fetch_set_fatal(ft, "cannot write %s: %s", fetch_jpath(ft, ft->state_name),
                            strerror(errno));
            return -1;
        }
    }
    if (ftruncate(ft->part_fd, (off_t)g->size) != 0) {
        fetch_set_fatal(ft, "cannot size %s: %s", fetch_jpath(ft, ft->part_name), strerror(errno));
        return -1;
    }
    if (resume && resume_chunks(ft) != 0) {
        fetch_set_fatal(ft, "cannot read %s", fetch_jpath(ft, ft->part_name));
        return -1;
    }
    if (resume && ft->resumed_chunks && !ft->json)
        fetch_note(ft, "resuming: %" PRIu64 " of %" PRIu64 " chunks kept", ft->resumed_chunks,
                   g->n_chunks);
    ft->have_file = 1;
    start_workers(ft);
    return 0;
}

/* Every chunk is here: check the slots against the root, then publish. */
int fetch_finish_file(fetch *ft)
{
    const cairn_file_geom *g = &ft->file.geom;
    cairn_merkle_builder b;
    uint8_t(*slots)[CAIRN_HASH_LEN] = malloc(SLOT_BLOCK * CAIRN_HASH_LEN), root[CAIRN_HASH_LEN];
    if (!slots)
        return fetch_fail(ft, CLI_EXIT_FAIL, "out of memory");
    cairn_merkle_builder_init(&b, ft->sha);
    for (uint64_t base = 0; base < g->n_chunks; base += SLOT_BLOCK) {
        size_t k = g->n_chunks - base < SLOT_BLOCK ? (size_t)(g->n_chunks - base) : SLOT_BLOCK;
        if (cairn_port_pread_full(ft->state_fd, slots, k * CAIRN_HASH_LEN,
                                  STATE_HDR + base * CAIRN_HASH_LEN))
            break;
        for (size_t j = 0; j < k; j++)
            cairn_merkle_builder_add(&b, slots[j]);
    }
    free(slots);
    if (cairn_merkle_builder_root(&b, root) != 0 || b.count != g->n_chunks ||
        memcmp(root, ft->file.root, CAIRN_HASH_LEN))
        return fetch_fail(ft, CLI_EXIT_FAIL,
                          "the kept chunks do not add up to the file's root; "
                          "remove %s and fetch again",
                          fetch_jpath(ft, ft->state_name));
    if (fsync(ft->part_fd) != 0)
        return fetch_fail(ft, CLI_EXIT_FAIL, "cannot write %s: %s", ft->part_name, strerror(errno));
    /* [DL-2] the final name only now; [FILE-26] never over a file unless --force */
    int rv = ft->force
                 ? renameat(ft->dirfd, ft->part_name, ft->dirfd, ft->final_name)
                 : renameat2(ft->dirfd, ft->part_name, ft->dirfd, ft->final_name, RENAME_NOREPLACE);
    if (rv != 0 && !ft->force && (errno == EINVAL || errno == ENOSYS)) {
        /* no RENAME_NOREPLACE here: a hard link fails on an existing name too */
        rv = linkat(ft->dirfd, ft->part_name, ft->dirfd, ft->final_name, 0);
        if (rv == 0)
            unlinkat(ft->dirfd, ft->part_name, 0);
    }
    if (rv != 0)
        return fetch_fail(ft, CLI_EXIT_FAIL, "cannot rename to %s: %s",
                          fetch_jpath(ft, ft->final_name), strerror(errno));
    fsync(ft->dirfd);
    unlinkat(ft->dirfd, ft->state_name, 0);
    return 0;
}

/* ---- verification and storage ------------------------------------------------------- */

/* [DL-1] Verifies a chunk and, only when it verified, writes it and then its
 * slot. Runs on a worker thread or inline; touches nothing shared but the
 * two file descriptors (writes of one chunk never overlap another's). */
void fetch_verify_and_store(const fetch *ft, cairn_sha256_ctx *sha, job *j)
{
    /* [CHK-11] [CHK-12] */
    j->rv = cairn_chunk_verify(sha, &ft->file, j->index, j->data, j->len,
                               (const uint8_t(*)[CAIRN_HASH_LEN])j->proof, j->n_proof, j->leaf);
    if (j->rv != 0)
        return;
    /* a duplicate from end-game writes the same verified bytes again: harmless */
    if (cairn_port_pwrite_full(ft->part_fd, j->data, j->len,
                               cairn_file_chunk_offset(&ft->file.geom, j->index)) != 0 ||
        cairn_port_pwrite_full(ft->state_fd, j->leaf, CAIRN_HASH_LEN,
                               STATE_HDR + j->index * CAIRN_HASH_LEN)) {
        j->rv = WRITE_FAILED;
        j->write_errno = errno;
    }
}

static void *worker(void *arg)
{
    fetch *ft = arg;
    cairn_sha256_ctx *sha = NULL;
    int ok = cairn_sha256_ctx_new(&sha) == 0;
    pthread_mutex_lock(&ft->mu);
    for (;;) {
        while (!ft->todo && !ft->stop)
            pthread_cond_wait(&ft->cv, &ft->mu);
        job *j = ft->todo;
        if (!j)
            break; /* stopping, and nothing left to do */
        ft->todo = j->next;
        if (!ft->todo)
            ft->todo_tail = NULL;
        pthread_mutex_unlock(&ft->mu);
        if (ok)
            fetch_verify_and_store(ft, sha, j);
        else
            j->rv = CAIRN_ERR_NOMEM;
        pthread_mutex_lock(&ft->mu);
        j->next = ft->done;
        ft->done = j;
        pthread_cond_signal(&ft->done_cv);
        pthread_mutex_unlock(&ft->mu);
        ssize_t w = write(ft->wake[1], "", 1); /* a full pipe is awake enough */
        (void)w;
        pthread_mutex_lock(&ft->mu);
    }
    pthread_mutex_unlock(&ft->mu);
    cairn_sha256_ctx_del(sha);
    return NULL;
}

/* Workers for the file just started, each with a few chunk buffers. */
static void start_workers(fetch *ft)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
    size_t cs = (size_t)1 << ft->file.geom.chunk_log2, nj = (size_t)n * JOBS_PER_WORKER;
    if (ft->file.geom.n_chunks == 0 || pipe2(ft->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        return;
    ft->jobs = calloc(nj, sizeof(job));
    ft->n_jobs = ft->jobs ? nj : 0;
    for (size_t i = 0; ft->jobs && i < nj; i++) {
        if (!(ft->jobs[i].data = malloc(cs)))
            break;
        ft->jobs[i].next = ft->free_jobs;
        ft->free_jobs = &ft->jobs[i];
    }
    for (int i = 0; i < n && ft->free_jobs; i++)
        if (pthread_create(&ft->workers[ft->n_workers], NULL, worker, ft) == 0)
            ft->n_workers++;
}

/* Waits for the workers to finish what they hold; their results stay in
 * ft->done for fetch_collect_done. */
void fetch_join_workers(fetch *ft)
{
    pthread_mutex_lock(&ft->mu);
    ft->stop = 1;
    pthread_cond_broadcast(&ft->cv);
    pthread_mutex_unlock(&ft->mu);
    for (int i = 0; i < ft->n_workers; i++)
        pthread_join(ft->workers[i], NULL);
}
