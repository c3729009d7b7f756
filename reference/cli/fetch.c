/*
 * cairn fetch FILE_ID --from ADDR [--from ADDR]... [-o PATH]: download a
 * file from several peers at once (spec §11.5).
 *
 * One poll() loop drives every connection; libcairn's scheduler decides
 * which chunk to ask which peer (rarest first, per-peer windows, end-game,
 * stalls). Every chunk is verified against the file ID before a byte of it
 * is written [DL-1]. The download lives in two files in the output
 * directory until it is complete:
 *
 *   <hex file ID>.cairn-part    the file's bytes at their offsets (sparse)
 *   <hex file ID>.cairn-state   "CAIRNDL1", the file ID, the manifest, then
 *                               one 32-byte slot per chunk: its leaf hash
 *                               once the chunk is verified and written,
 *                               zeros before
 *
 * A chunk's slot is written after its data, so a killed download never
 * counts an unwritten chunk; a resumed one re-hashes every kept chunk
 * against its slot and, at the end, the slots against the root [DL-10,
 * DL-11]. The file appears under its final name only when complete [DL-2],
 * renamed without replacing an existing file unless --force [FILE-26].
 * Names from the network become a single safe path component [FILE-23,
 * FILE-25] and every file is created relative to the output directory with
 * O_NOFOLLOW [FILE-22, FILE-24].
 */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "cairn/files.h"
#include "cairn/net.h"
#include "cairn/port.h"
#include "cli.h"

#define MAX_FROM        64
#define DEFAULT_PEERS   16
#define STATE_HDR       512
#define STATE_MAGIC     "CAIRNDL1"
#define PROGRESS_MS     200
#define CONNECT_MS      10000
#define MAX_NOT_FOUND   3
#define SLOT_BLOCK      1024 /* slots read at once when resuming */
#define PART_SUFFIX     ".cairn-part"
#define STATE_SUFFIX    ".cairn-state"
#define USER_AGENT      "cairn/0.1.0"
#define MAX_WORKERS     4
#define JOBS_PER_WORKER 4

enum { P_CONNECTING = 1, P_OPEN, P_DONE };

typedef struct preq {
    uint64_t rid, index;
} preq;

typedef struct fpeer {
    struct fetch *ft;
    char addr[64];
    struct sockaddr_storage sa;
    socklen_t salen;
    int discovered;
    int state;
    int fd; /* while connecting */
    uint64_t connect_start;
    cairn_conn *conn;
    int ready;
    uint64_t services;
    uint8_t node_id[CAIRN_HASH_LEN];
    uint64_t manifest_rid, peers_rid;
    int sched; /* scheduler peer, -1 = none */
    preq reqs[CAIRN_MAX_IN_FLIGHT];
    unsigned n_reqs;
    unsigned not_found;
    uint64_t chunks, bytes, dups;
    const char *status; /* "ok", "not_found", "bad_chunk", "closed", "failed" */
    char error[200];
} fpeer;

/*
 * A received chunk on its way through a worker: verified, then written with
 * its slot [DL-1]. The network thread copies the chunk out of the decoder's
 * arena into the job, so that hashing (the bulk of the work) and writing run
 * beside the network on other cores.
 */
typedef struct job {
    struct job *next;
    fpeer *peer;
    uint64_t index;
    size_t len, n_proof;
    uint8_t *data;
    uint8_t proof[CAIRN_FILE_MAX_PROOF][CAIRN_HASH_LEN];
    uint8_t leaf[CAIRN_HASH_LEN];
    int rv; /* 0, INVALID_CHUNK, or a local failure; -1000000 = write failed */
    int write_errno;
} job;

#define WRITE_FAILED (-1000000)

typedef struct fetch {
    const cairn_env *env;
    const cairn_network *net;
    int plaintext, json, force, discover, max_peers, tty;
    uint64_t timeout_ms;
    uint8_t id[CAIRN_HASH_LEN];
    char id_hex[2 * CAIRN_HASH_LEN + 1];
    const char *out_arg;
    int dirfd;
    char dir[4096], final_name[CAIRN_FILE_MAX_NAME + 1], part_name[100], state_name[100];
    int name_fixed; /* final_name comes from -o */
    cairn_identity *identity;
    cairn_tls_ctx *tls;
    fpeer *peers[2 * MAX_FROM];
    int n_peers;
    /* the file, once a manifest is known */
    int have_file;
    cairn_file file;
    cairn_sched *sched;
    cairn_sha256_ctx *sha;
    int part_fd, state_fd;
    uint64_t resumed_chunks, bytes_done, bytes_new, bytes_dup;
    uint64_t start_ms, last_progress_ms, last_draw_ms;
    int bad_chunks;
    /* verification workers */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_workers, stop;
    pthread_t workers[MAX_WORKERS];
    job *jobs, *free_jobs, *todo, *todo_tail, *done;
    size_t n_jobs;
    int wake[2];
    int closing; /* our own goodbyes: not a peer failure */
    int fatal;   /* a local failure: stop */
    char fatal_msg[300];
} fetch;

static const char usage_text[] =
    "Usage: cairn fetch FILE_ID --from ADDR [--from ADDR]... [-o PATH] [OPTIONS]\n"
    "\n"
    "Downloads the file FILE_ID (64 hex digits) from every ADDR at once, and from\n"
    "the peers they point to, verifying every chunk before it is written.\n"
    "\n"
    "  --from ADDR        a peer serving the file (repeatable, up to 64)\n"
    "  -o, --output PATH  the file to write, or an existing directory to write the\n"
    "                     file into under its manifest name (default: the current\n"
    "                     directory). An interrupted download left there resumes.\n"
    "  --force            replace an existing file at PATH\n"
    "  --max-peers N      peers used at once, discovered ones included (default 16)\n"
    "  --no-discover      only the --from peers, no GetPeers\n"
    "  --plaintext        no TLS (the peers must be configured for plaintext)\n"
    "  --network NAME     devnet (default) or testnet\n"
    "  --timeout SECONDS  give up when no chunk arrived for this long (default 10)\n"
    "  --json             a JSON summary on stdout at the end\n"
    "\n"
    "While the download runs, partial data is kept in DIR/FILE_ID.cairn-part and\n"
    "DIR/FILE_ID.cairn-state. A progress line is shown when stderr is a terminal.\n"
    "Exit status: 0 done, 1 failure (the partial download is kept), 2 usage,\n"
    "3 no peer has the file.\n";

/* ---- messages ------------------------------------------------------------------------ */

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char buf[2 * CAIRN_HASH_LEN + 1];
    if (n > CAIRN_HASH_LEN)
        n = CAIRN_HASH_LEN;
    cairn_hex_encode(buf, p, n);
    return json_string(buf);
}

/* "cairn: ..." on stderr and, with --json, {"error": {...}} on stdout. */
static int fail(const fetch *ft, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const fetch *ft, int exit_code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (ft->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "cairn: %s\n", text);
    if (ft->json) {
        json_t *o = json_pack("{s:{s:s, s:n, s:b, s:i}}", "error", "message", text, "code",
                              "by_peer", 0, "exit", exit_code);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    return exit_code;
}

static void set_fatal(fetch *ft, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fatal(fetch *ft, const char *fmt, ...)
{
    if (ft->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ft->fatal_msg, sizeof(ft->fatal_msg), fmt, ap);
    va_end(ap);
    ft->fatal = 1;
}

static void note(const fetch *ft, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const fetch *ft, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ft->tty)
        fputs("\r\033[K", stderr);
    fputs("cairn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- storage --------------------------------------------------------------------------- */

/* "DIR/NAME" without a doubled slash, for messages (network thread only;
 * two may be used in one call). */
static const char *jpath(const fetch *ft, const char *name)
{
    static char buf[2][sizeof(ft->dir) + CAIRN_FILE_MAX_NAME + 2];
    static int k;
    size_t n = strlen(ft->dir);
    k ^= 1;
    snprintf(buf[k], sizeof(buf[k]), "%s%s%s", ft->dir, n && ft->dir[n - 1] == '/' ? "" : "/",
             name);
    return buf[k];
}

static int exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Decides the output directory and, when -o names a file, the final name.
 * Returns 0, or an exit code after printing why.
 */
static int open_output(fetch *ft)
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
            return fail(ft, CLI_EXIT_USAGE, "-o %s: not a file name", o);
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
        return fail(ft, CLI_EXIT_FAIL, "cannot open directory %s: %s", ft->dir, strerror(errno));
    snprintf(ft->part_name, sizeof(ft->part_name), "%s%s", ft->id_hex, PART_SUFFIX);
    snprintf(ft->state_name, sizeof(ft->state_name), "%s%s", ft->id_hex, STATE_SUFFIX);
    if (ft->name_fixed && !ft->force && exists_at(ft->dirfd, ft->final_name))
        return fail(ft, CLI_EXIT_FAIL, "%s exists (use --force to replace it)", o);
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
static int read_state(fetch *ft, uint8_t *manifest, size_t *len)
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
static int start_file(fetch *ft, const uint8_t *manifest, size_t len)
{
    /* [FILE-14] [FILE-15] checked by the caller; parse again for our copy */
    if (cairn_file_from_manifest(ft->sha, &ft->file, manifest, len, ft->id) != 0)
        return -1;
    const cairn_file_geom *g = &ft->file.geom;
    if (!ft->name_fixed) {
        /* [FILE-23] [FILE-25] the network's name, made safe, in our directory */
        cairn_file_local_name(ft->file.name, ft->file.name_len, ft->id, ft->final_name);
        if (!ft->force && exists_at(ft->dirfd, ft->final_name)) {
            set_fatal(ft, "%s exists (use --force to replace it)", jpath(ft, ft->final_name));
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
        set_fatal(ft, "not enough space in %s for %" PRIu64 " bytes", ft->dir, g->size);
        return -1;
    }
    if (cairn_sched_new(&ft->sched, g->n_chunks, NULL, cairn_port_mem()) != 0) {
        set_fatal(ft, "a file of %" PRIu64 " chunks is too large to track here", g->n_chunks);
        return -1;
    }
    /* [FILE-22] [FILE-24] relative to the output directory, no links */
    int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    ft->part_fd = openat(ft->dirfd, ft->part_name, flags, 0644);
    ft->state_fd = openat(ft->dirfd, ft->state_name, flags, 0644);
    if (ft->part_fd < 0 || ft->state_fd < 0) {
        set_fatal(ft, "cannot create %s: %s", jpath(ft, ft->part_name), strerror(errno));
        return -1;
    }
    uint8_t kept[CAIRN_MANIFEST_MAX_LEN];
    size_t kept_len;
    struct stat st;
    int resume = read_state(ft, kept, &kept_len) && kept_len == len &&
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
            set_fatal(ft, "cannot write %s: %s", jpath(ft, ft->state_name), strerror(errno));
            return -1;
        }
    }
    if (ftruncate(ft->part_fd, (off_t)g->size) != 0) {
        set_fatal(ft, "cannot size %s: %s", jpath(ft, ft->part_name), strerror(errno));
        return -1;
    }
    if (resume && resume_chunks(ft) != 0) {
        set_fatal(ft, "cannot read %s", jpath(ft, ft->part_name));
        return -1;
    }
    if (resume && ft->resumed_chunks && !ft->json)
        note(ft, "resuming: %" PRIu64 " of %" PRIu64 " chunks kept", ft->resumed_chunks,
             g->n_chunks);
    ft->have_file = 1;
    start_workers(ft);
    return 0;
}

/* Every chunk is here: check the slots against the root, then publish. */
static int finish_file(fetch *ft)
{
    const cairn_file_geom *g = &ft->file.geom;
    cairn_merkle_builder b;
    uint8_t(*slots)[CAIRN_HASH_LEN] = malloc(SLOT_BLOCK * CAIRN_HASH_LEN), root[CAIRN_HASH_LEN];
    if (!slots)
        return fail(ft, CLI_EXIT_FAIL, "out of memory");
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
        return fail(ft, CLI_EXIT_FAIL,
                    "the kept chunks do not add up to the file's root; "
                    "remove %s and fetch again",
                    jpath(ft, ft->state_name));
    if (fsync(ft->part_fd) != 0)
        return fail(ft, CLI_EXIT_FAIL, "cannot write %s: %s", ft->part_name, strerror(errno));
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
        return fail(ft, CLI_EXIT_FAIL, "cannot rename to %s: %s", jpath(ft, ft->final_name),
                    strerror(errno));
    fsync(ft->dirfd);
    unlinkat(ft->dirfd, ft->state_name, 0);
    return 0;
}

/* ---- peers ------------------------------------------------------------------------------ */

static void peer_end(fpeer *p, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void peer_end(fpeer *p, const char *status, const char *fmt, ...)
{
    if (!p->ft->closing && (!p->status || !strcmp(p->status, "ok"))) {
        p->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
    }
}

/* Closes a peer's session with `code` (0 = politely) for reason `why`. */
static void peer_close(fpeer *p, uint32_t code, const char *status, const char *why)
{
    peer_end(p, status, "%s", why);
    cairn_session *s = p->conn ? cairn_conn_session(p->conn) : NULL;
    if (s && cairn_session_state(s) < CAIRN_SS_CLOSING)
        cairn_session_close(s, code ? code : CAIRN_E_SHUTDOWN, why);
    if (p->sched >= 0 && p->ft->sched) {
        cairn_sched_peer_remove(p->ft->sched, p->sched); /* [DL-8] */
        p->sched = -1;
    }
}

static void send_get_manifest(fpeer *p)
{
    Cairn__V1__GetManifest gm = CAIRN__V1__GET_MANIFEST__INIT;
    gm.file_id.data = p->ft->id;
    gm.file_id.len = CAIRN_HASH_LEN;
    if (cairn_session_request(cairn_conn_session(p->conn), &gm.base, &p->manifest_rid) != 0)
        peer_close(p, 0, "failed", "cannot send GetManifest");
}

/* Fills the peer's window with GetChunk requests. */
static void pump(fpeer *p, uint64_t now)
{
    fetch *ft = p->ft;
    if (p->sched < 0 || p->state != P_OPEN || ft->fatal)
        return;
    cairn_session *s = cairn_conn_session(p->conn);
    uint64_t index;
    while (cairn_session_in_flight(s) < CAIRN_MAX_IN_FLIGHT && p->n_reqs < CAIRN_MAX_IN_FLIGHT &&
           cairn_sched_next(ft->sched, p->sched, now, &index) == 0) {
        Cairn__V1__GetChunk gc = CAIRN__V1__GET_CHUNK__INIT;
        gc.file_id.data = ft->id;
        gc.file_id.len = CAIRN_HASH_LEN;
        gc.index = index;
        uint64_t rid;
        if (cairn_session_request(s, &gc.base, &rid) != 0) {
            cairn_sched_failed(ft->sched, p->sched, index, now);
            return;
        }
        p->reqs[p->n_reqs++] = (preq){rid, index};
    }
}

static int take_req(fpeer *p, uint64_t rid, uint64_t *index)
{
    for (unsigned i = 0; i < p->n_reqs; i++)
        if (p->reqs[i].rid == rid) {
            *index = p->reqs[i].index;
            p->reqs[i] = p->reqs[--p->n_reqs];
            return 0;
        }
    return -1;
}

static void on_manifest(fpeer *p, const Cairn__V1__Manifest *m, uint64_t now)
{
    fetch *ft = p->ft;
    cairn_file f;
    /* [FILE-14] [FILE-15] */
    if (cairn_file_from_manifest(ft->sha, &f, m->manifest.data, m->manifest.len, ft->id) != 0) {
        peer_close(p, CAIRN_E_INVALID_FIELD, "bad_manifest", "sent a manifest of another file");
        return;
    }
    cairn_chunk_range r[CAIRN_FILE_MAX_RANGES];
    size_t nr = m->n_have;
    for (size_t i = 0; i < nr && i < CAIRN_FILE_MAX_RANGES; i++)
        r[i] = (cairn_chunk_range){m->have[i]->start, m->have[i]->end};
    /* [FILE-16..19] */
    if (cairn_file_check_ranges(r, nr, f.geom.n_chunks) != 0) {
        peer_close(p, CAIRN_E_INVALID_FIELD, "bad_manifest", "sent invalid have ranges");
        return;
    }
    if (!ft->have_file && start_file(ft, m->manifest.data, m->manifest.len) != 0) {
        set_fatal(ft, "%s", ft->fatal_msg[0] ? ft->fatal_msg : "cannot start the download");
        return;
    }
    ft->last_progress_ms = now;
    int rv = p->sched >= 0 ? cairn_sched_peer_update(ft->sched, p->sched, r, nr)
                           : cairn_sched_peer_add(ft->sched, &p->sched, r, nr, now);
    if (rv != 0)
        peer_close(p, 0, "failed", "too many peers");
}

/* ---- verification and storage ------------------------------------------------------- */

/* [DL-1] Verifies a chunk and, only when it verified, writes it and then its
 * slot. Runs on a worker thread or inline; touches nothing shared but the
 * two file descriptors (writes of one chunk never overlap another's). */
static void verify_and_store(const fetch *ft, cairn_sha256_ctx *sha, job *j)
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

/* The outcome of a job, on the network thread. */
static void complete_job(fetch *ft, job *j, uint64_t now)
{
    fpeer *p = j->peer;
    if (j->rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_CHUNK)) {
        char why[100];
        snprintf(why, sizeof(why), "sent a bad chunk %" PRIu64, j->index);
        ft->bad_chunks++;
        note(ft, "peer %s %s (INVALID_CHUNK); dropped", p->addr, why);
        peer_close(p, CAIRN_E_INVALID_CHUNK, "bad_chunk", why);
        return;
    }
    if (j->rv == WRITE_FAILED) {
        set_fatal(ft, "cannot write %s: %s", jpath(ft, ft->part_name), strerror(j->write_errno));
        return;
    }
    if (j->rv != 0) {
        set_fatal(ft, "cannot verify a chunk: %s", cairn_strerror(j->rv));
        return;
    }
    p->chunks++;
    p->bytes += j->len;
    int r;
    if (p->sched >= 0) {
        r = cairn_sched_delivered(ft->sched, p->sched, j->index, now);
    } else { /* the peer was dropped meanwhile; the chunk is good all the same */
        r = cairn_sched_is_done(ft->sched, j->index) ? CAIRN_SCHED_DUP : CAIRN_SCHED_NEW;
        cairn_sched_mark_done(ft->sched, j->index);
    }
    if (r == CAIRN_SCHED_NEW) {
        ft->bytes_done += j->len;
        ft->bytes_new += j->len;
        ft->last_progress_ms = now;
    } else {
        p->dups++;
        ft->bytes_dup += j->len;
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
            verify_and_store(ft, sha, j);
        else
            j->rv = CAIRN_ERR_NOMEM;
        pthread_mutex_lock(&ft->mu);
        j->next = ft->done;
        ft->done = j;
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

/* Waits for the workers to finish what they hold, and takes their results. */
static void stop_workers(fetch *ft, uint64_t now);

static void collect_done(fetch *ft, uint64_t now)
{
    char buf[256];
    while (ft->n_workers && read(ft->wake[0], buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&ft->mu);
    job *j = ft->done;
    ft->done = NULL;
    pthread_mutex_unlock(&ft->mu);
    while (j) {
        job *next = j->next;
        complete_job(ft, j, now);
        j->next = ft->free_jobs;
        ft->free_jobs = j;
        j = next;
    }
}

static void stop_workers(fetch *ft, uint64_t now)
{
    if (!ft->n_workers)
        return;
    pthread_mutex_lock(&ft->mu);
    ft->stop = 1;
    pthread_cond_broadcast(&ft->cv);
    pthread_mutex_unlock(&ft->mu);
    for (int i = 0; i < ft->n_workers; i++)
        pthread_join(ft->workers[i], NULL);
    collect_done(ft, now);
    ft->n_workers = 0;
}

static void on_chunk(fpeer *p, const Cairn__V1__Chunk *m, uint64_t now)
{
    fetch *ft = p->ft;
    uint64_t index;
    if (take_req(p, m->request_id, &index) != 0 || p->sched < 0)
        return;              /* a late answer from a peer we already dropped from the schedule */
    if (m->index != index) { /* [CHK-7] */
        peer_close(p, CAIRN_E_INVALID_FIELD, "bad_chunk", "sent a chunk of another index");
        return;
    }
    job inline_job, *j = ft->n_workers ? ft->free_jobs : NULL;
    if (j) {
        ft->free_jobs = j->next;
    } else {
        j = &inline_job; /* every buffer is busy: verify here, which slows reading */
        j->data = m->data.data;
    }
    j->peer = p;
    j->index = index;
    j->len = m->data.len;
    j->n_proof = m->n_proof < CAIRN_FILE_MAX_PROOF ? m->n_proof : CAIRN_FILE_MAX_PROOF;
    for (size_t i = 0; i < j->n_proof; i++)
        memcpy(j->proof[i], m->proof[i].data, CAIRN_HASH_LEN); /* 32 bytes: [CHK-10] */
    if (j == &inline_job) {
        verify_and_store(ft, ft->sha, j);
        complete_job(ft, j, now);
        return;
    }
    /* a chunk longer than the file's chunk size fails [CHK-11] on its length
     * alone, before its bytes are looked at: nothing to copy then */
    if (m->data.len <= ((size_t)1 << ft->file.geom.chunk_log2))
        memcpy(j->data, m->data.data, m->data.len);
    j->rv = 0;
    pthread_mutex_lock(&ft->mu);
    j->next = NULL;
    if (ft->todo_tail)
        ft->todo_tail->next = j;
    else
        ft->todo = j;
    ft->todo_tail = j;
    pthread_cond_signal(&ft->cv);
    pthread_mutex_unlock(&ft->mu);
}

/* An answer without the data: NotFound or a non-fatal Error. */
static void on_refusal(fpeer *p, uint64_t rid, int not_found, uint64_t now)
{
    fetch *ft = p->ft;
    uint64_t index;
    if (rid == p->manifest_rid) {
        p->manifest_rid = 0;
        peer_close(p, 0, not_found ? "not_found" : "failed",
                   not_found ? "does not have the file" : "refused GetManifest");
        return;
    }
    if (take_req(p, rid, &index) != 0 || p->sched < 0)
        return;
    cairn_sched_failed(ft->sched, p->sched, index, now);
    if (not_found && ++p->not_found >= MAX_NOT_FOUND)
        peer_close(p, 0, "not_found", "does not serve the chunks it listed");
}

static void add_peer(fetch *ft, const struct sockaddr_storage *sa, socklen_t len, int discovered);

static void on_peers(fpeer *p, const Cairn__V1__Peers *m)
{
    fetch *ft = p->ft;
    for (size_t i = 0; i < m->n_peers && ft->n_peers < ft->max_peers; i++) {
        const Cairn__V1__PeerAddress *a = m->peers[i];
        if (!(a->services & CAIRN_SERVICE_FILES))
            continue;
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        socklen_t len;
        if (a->ip.len == 4) {
            struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
            v4->sin_family = AF_INET;
            memcpy(&v4->sin_addr, a->ip.data, 4);
            v4->sin_port = htons((uint16_t)a->port);
            len = sizeof(*v4);
        } else {
            struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
            v6->sin6_family = AF_INET6;
            memcpy(&v6->sin6_addr, a->ip.data, 16);
            v6->sin6_port = htons((uint16_t)a->port);
            len = sizeof(*v6);
        }
        add_peer(ft, &ss, len, 1);
    }
}

static void cb_ready(cairn_session *s, const cairn_peer_info *info, void *ud)
{
    fpeer *p = ud;
    p->ready = 1;
    p->services = info->services;
    memcpy(p->node_id, info->node_id, CAIRN_HASH_LEN);
    /* [REQ-16] only peers that serve files are asked for them */
    if (!(info->services & CAIRN_SERVICE_FILES)) {
        peer_close(p, 0, "not_found", "does not serve files");
        return;
    }
    send_get_manifest(p);
    if (p->ft->discover && (info->services & CAIRN_SERVICE_PEERS) &&
        p->ft->n_peers < p->ft->max_peers) {
        Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
        cairn_session_request(s, &gp.base, &p->peers_rid);
    }
}

static void cb_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    fpeer *p = ud;
    uint64_t now = p->ft->env->mono_ms(p->ft->env->ud);
    switch (type) {
    case CAIRN_T_MANIFEST:
        on_manifest(p, (const Cairn__V1__Manifest *)m, now);
        break;
    case CAIRN_T_CHUNK:
        on_chunk(p, (const Cairn__V1__Chunk *)m, now);
        break;
    case CAIRN_T_NOT_FOUND:
        on_refusal(p, ((const Cairn__V1__NotFound *)m)->request_id, 1, now);
        break;
    case CAIRN_T_ERROR: /* a non-fatal answer: BUSY, RATE_LIMITED */
        on_refusal(p, ((const Cairn__V1__Error *)m)->request_id, 0, now);
        break;
    case CAIRN_T_PEERS:
        on_peers(p, (const Cairn__V1__Peers *)m);
        break;
    default:
        break;
    }
    pump(p, now);
}

static void cb_close(cairn_session *s, const cairn_close_info *ci, void *ud)
{
    (void)s;
    fpeer *p = ud;
    const char *name = ci->code ? cairn_wire_error_name(ci->code) : NULL;
    if (ci->by_peer)
        peer_end(p, "closed", "closed the session%s%s", name ? ": " : "", name ? name : "");
    else
        peer_end(p, "closed", "session closed%s%s", name ? ": " : "", name ? name : "");
}

static const cairn_session_callbacks callbacks = {
    .on_ready = cb_ready, .on_message = cb_message, .on_close = cb_close};

static void add_peer(fetch *ft, const struct sockaddr_storage *sa, socklen_t len, int discovered)
{
    char addr[64];
    cairn_net_format_addr((const struct sockaddr *)sa, addr, sizeof(addr));
    for (int i = 0; i < ft->n_peers; i++)
        if (!strcmp(ft->peers[i]->addr, addr))
            return;
    if (ft->n_peers >= (int)(sizeof(ft->peers) / sizeof(ft->peers[0])))
        return;
    fpeer *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->ft = ft;
    memcpy(&p->sa, sa, len);
    p->salen = len;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->discovered = discovered;
    p->sched = -1;
    p->fd = -1;
    p->status = "ok";
    p->connect_start = ft->env->mono_ms(ft->env->ud);
    p->fd = cairn_net_connect((const struct sockaddr *)sa, len);
    p->state = P_CONNECTING;
    if (p->fd < 0) {
        p->state = P_DONE;
        peer_end(p, "failed", "cannot connect: %s", strerror(errno));
    }
    ft->peers[ft->n_peers++] = p;
}

/* The socket connected: start TLS (or not) and the session. */
static void peer_connected(fetch *ft, fpeer *p)
{
    int err = cairn_net_connect_result(p->fd);
    if (err) {
        close(p->fd);
        p->fd = -1;
        p->state = P_DONE;
        peer_end(p, "failed", "cannot connect: %s", strerror(err));
        return;
    }
    cairn_session_config cfg = {0};
    cairn_work w = {{0}};
    cfg.identity = ft->identity;
    memcpy(cfg.network_id, ft->net->genesis_id, CAIRN_HASH_LEN);
    /* [HS-10] a peer that keeps no chain: genesis as its tip */
    memcpy(cfg.tip_id, ft->net->genesis_id, CAIRN_HASH_LEN);
    cairn_work_add_block(&w, ft->net->bits);
    memcpy(cfg.total_work, w.be, sizeof(w.be));
    cfg.user_agent = USER_AGENT;
    int rv = cairn_conn_new(&p->conn, p->fd, 1, ft->plaintext ? NULL : ft->tls, &cfg, &callbacks, p,
                            ft->env);
    p->fd = -1; /* owned by the connection (closed on failure) */
    if (rv != 0) {
        p->state = P_DONE;
        peer_end(p, "failed", "cannot start a session: %s", cairn_strerror(rv));
        return;
    }
    p->state = P_OPEN;
}

/* The connection is gone: what it had in flight goes back to the pool. */
static void peer_gone(fetch *ft, fpeer *p)
{
    if (p->conn && !p->ready)
        peer_end(p, "failed", "%s",
                 cairn_conn_error(p->conn)[0] ? cairn_conn_error(p->conn) : "handshake failed");
    if (p->sched >= 0) {
        cairn_sched_peer_remove(ft->sched, p->sched); /* [DL-8] */
        p->sched = -1;
    }
    p->n_reqs = 0;
    cairn_conn_del(p->conn);
    p->conn = NULL;
    p->state = P_DONE;
}

/* ---- progress --------------------------------------------------------------------------- */

static void human(char *out, size_t cap, double v)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static int active_peers(const fetch *ft)
{
    int n = 0;
    for (int i = 0; i < ft->n_peers; i++)
        n += ft->peers[i]->sched >= 0;
    return n;
}

static void draw(fetch *ft, uint64_t now, int final)
{
    if (!ft->tty || !ft->have_file || (!final && now - ft->last_draw_ms < PROGRESS_MS))
        return;
    ft->last_draw_ms = now;
    uint64_t size = ft->file.geom.size, el = now - ft->start_ms;
    double rate = el ? (double)ft->bytes_new * 1000.0 / (double)el : 0;
    char done[32], total[32], r[32], eta[32] = "--:--";
    human(done, sizeof(done), (double)ft->bytes_done);
    human(total, sizeof(total), (double)size);
    human(r, sizeof(r), rate);
    if (rate > 0 && size > ft->bytes_done) {
        uint64_t s = (uint64_t)((double)(size - ft->bytes_done) / rate);
        snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
    }
    int pct = size ? (int)(ft->bytes_done * 100 / size) : 100;
    fprintf(stderr, "\r\033[K%s / %s  %3d%%  %s/s  peers %d  ETA %s", done, total, pct, r,
            active_peers(ft), eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static void summary(fetch *ft, uint64_t now)
{
    uint64_t el = now - ft->start_ms;
    if (!ft->json) {
        char size[32], rate[32];
        human(size, sizeof(size), (double)ft->file.geom.size);
        human(rate, sizeof(rate), el ? (double)ft->bytes_new * 1000.0 / (double)el : 0);
        printf("%s  %s  %" PRIu64 ".%03" PRIu64 " s  %s/s\n", jpath(ft, ft->final_name), size,
               el / 1000, el % 1000, rate);
        return;
    }
    json_t *peers = json_array(), *bad = json_array();
    for (int i = 0; i < ft->n_peers; i++) {
        fpeer *p = ft->peers[i];
        json_t *o =
            json_pack("{s:s, s:I, s:I, s:I, s:s, s:b}", "addr", p->addr, "chunks",
                      (json_int_t)p->chunks, "bytes", (json_int_t)p->bytes, "duplicates",
                      (json_int_t)p->dups, "status", p->status, "discovered", p->discovered);
        if (p->ready)
            json_object_set_new(o, "node_id", hex_json(p->node_id, CAIRN_HASH_LEN));
        if (p->error[0])
            json_object_set_new(o, "error", json_string(p->error));
        json_array_append_new(peers, o);
        if (!strcmp(p->status, "bad_chunk"))
            json_array_append_new(bad, json_string(p->addr));
    }
    char path[4400];
    snprintf(path, sizeof(path), "%s", jpath(ft, ft->final_name));
    json_t *o = json_pack(
        "{s:o, s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "file_id",
        hex_json(ft->id, CAIRN_HASH_LEN), "path", path, "name", ft->final_name, "size",
        (json_int_t)ft->file.geom.size, "chunk_size", 1 << ft->file.geom.chunk_log2, "chunks",
        (json_int_t)ft->file.geom.n_chunks, "resumed_chunks", (json_int_t)ft->resumed_chunks,
        "downloaded_bytes", (json_int_t)ft->bytes_new, "duplicate_bytes", (json_int_t)ft->bytes_dup,
        "elapsed_ms", (json_int_t)el, "bytes_per_second",
        (json_int_t)(el ? ft->bytes_new * 1000 / el : 0), "peers", peers, "bad_peers", bad);
    char *s = json_dumps(o, JSON_COMPACT);
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static int any_alive(const fetch *ft)
{
    for (int i = 0; i < ft->n_peers; i++)
        if (ft->peers[i]->state != P_DONE)
            return 1;
    return 0;
}

/* Why no peer could give us the file. */
static int no_peer_fail(fetch *ft)
{
    int not_found = 0, others = 0;
    const fpeer *last = NULL;
    for (int i = 0; i < ft->n_peers; i++) {
        const fpeer *p = ft->peers[i];
        if (p->discovered)
            continue;
        if (!strcmp(p->status, "not_found"))
            not_found++;
        else
            others++;
        last = p;
    }
    if (not_found && !others && !ft->have_file)
        return fail(ft, CLI_EXIT_NOT_FOUND, "no peer has file %s", ft->id_hex);
    if (last && last->error[0])
        return fail(ft, CLI_EXIT_FAIL, "no peer left to download from (last: %s %s)", last->addr,
                    last->error);
    return fail(ft, CLI_EXIT_FAIL, "no peer left to download from");
}

static int run(fetch *ft)
{
    struct pollfd pfd[2 * MAX_FROM + 1];
    fpeer *who[2 * MAX_FROM + 1];
    for (;;) {
        uint64_t now = ft->env->mono_ms(ft->env->ud);
        if (ft->fatal)
            return fail(ft, CLI_EXIT_FAIL, "%s", ft->fatal_msg);
        if (ft->have_file && cairn_sched_remaining(ft->sched) == 0)
            return 0;
        if (!any_alive(ft))
            return no_peer_fail(ft);
        if (now - ft->last_progress_ms > ft->timeout_ms)
            return fail(ft, CLI_EXIT_FAIL,
                        "no progress for %" PRIu64 " s; the partial download is kept in %s",
                        ft->timeout_ms / 1000, jpath(ft, ft->part_name));
        uint64_t dl = ft->last_progress_ms + ft->timeout_ms;
        if (ft->sched && cairn_sched_deadline(ft->sched) < dl)
            dl = cairn_sched_deadline(ft->sched);
        if (ft->tty && now + PROGRESS_MS < dl)
            dl = now + PROGRESS_MS;
        int n = 0;
        for (int i = 0; i < ft->n_peers; i++) {
            fpeer *p = ft->peers[i];
            if (p->state == P_CONNECTING) {
                if (now - p->connect_start > CONNECT_MS) {
                    close(p->fd);
                    p->fd = -1;
                    p->state = P_DONE;
                    peer_end(p, "failed", "connect timed out");
                    continue;
                }
                pfd[n] = (struct pollfd){p->fd, POLLOUT, 0};
                if (p->connect_start + CONNECT_MS < dl)
                    dl = p->connect_start + CONNECT_MS;
            } else if (p->state == P_OPEN) {
                cairn_session *s = cairn_conn_session(p->conn);
                short ev = 0;
                if (cairn_conn_want_read(p->conn))
                    ev |= POLLIN;
                if (cairn_conn_want_write(p->conn))
                    ev |= POLLOUT;
                pfd[n] = (struct pollfd){cairn_conn_fd(p->conn), ev, 0};
                if (s && cairn_session_deadline(s) < dl)
                    dl = cairn_session_deadline(s);
            } else {
                continue;
            }
            who[n++] = p;
        }
        if (ft->n_workers) {
            pfd[n] = (struct pollfd){ft->wake[0], POLLIN, 0};
            who[n++] = NULL;
        }
        int timeout = dl <= now ? 0 : dl - now > 1000 ? 1000 : (int)(dl - now);
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            return fail(ft, CLI_EXIT_FAIL, "poll: %s", strerror(errno));
        now = ft->env->mono_ms(ft->env->ud);
        if (ft->n_workers) {
            collect_done(ft, now);
            for (int i = 0; i < ft->n_peers; i++)
                if (ft->peers[i]->state == P_OPEN && ft->peers[i]->ready)
                    pump(ft->peers[i], now);
        }
        for (int i = 0; i < n; i++) {
            fpeer *p = who[i];
            if (!p)
                continue;
            if (p->state == P_CONNECTING) {
                if (pfd[i].revents)
                    peer_connected(ft, p);
                continue;
            }
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                cairn_conn_on_readable(p->conn);
            cairn_session *s = cairn_conn_session(p->conn);
            if (s && cairn_conn_state(p->conn) != CAIRN_CONN_DONE)
                cairn_session_tick(s);
            if (s && p->ready)
                pump(p, now);
            /* input held back under backpressure is fed once output drained */
            if (s && cairn_conn_flush(p->conn) != CAIRN_CONN_DONE && cairn_session_want_read(s) &&
                !cairn_conn_want_read(p->conn))
                cairn_conn_on_readable(p->conn);
            if (cairn_conn_flush(p->conn) == CAIRN_CONN_DONE)
                peer_gone(ft, p);
        }
        if (ft->sched && cairn_sched_deadline(ft->sched) <= now) {
            cairn_sched_tick(ft->sched, now);
            for (int i = 0; i < ft->n_peers; i++)
                if (ft->peers[i]->state == P_OPEN && ft->peers[i]->ready) {
                    pump(ft->peers[i], now);
                    cairn_conn_flush(ft->peers[i]->conn);
                }
        }
        draw(ft, now, 0);
    }
}

/* Polite goodbyes: SHUTDOWN to every open session, then a short flush. */
static void close_all(fetch *ft)
{
    ft->closing = 1;
    for (int i = 0; i < ft->n_peers; i++) {
        fpeer *p = ft->peers[i];
        if (p->state == P_OPEN) {
            cairn_session *s = cairn_conn_session(p->conn);
            if (s && cairn_session_state(s) < CAIRN_SS_CLOSING)
                cairn_session_close(s, CAIRN_E_SHUTDOWN, "download finished");
        }
    }
    uint64_t end = ft->env->mono_ms(ft->env->ud) + 500;
    for (int busy = 1; busy && ft->env->mono_ms(ft->env->ud) < end;) {
        busy = 0;
        for (int i = 0; i < ft->n_peers; i++) {
            fpeer *p = ft->peers[i];
            if (p->state == P_OPEN && cairn_conn_poll(p->conn, 5) != CAIRN_CONN_DONE)
                busy = 1;
        }
    }
}

static void cleanup(fetch *ft)
{
    stop_workers(ft, ft->env->mono_ms(ft->env->ud));
    for (size_t i = 0; i < ft->n_jobs; i++)
        free(ft->jobs[i].data);
    free(ft->jobs);
    if (ft->wake[0] >= 0) {
        close(ft->wake[0]);
        close(ft->wake[1]);
    }
    pthread_mutex_destroy(&ft->mu);
    pthread_cond_destroy(&ft->cv);
    for (int i = 0; i < ft->n_peers; i++) {
        fpeer *p = ft->peers[i];
        if (p->fd >= 0)
            close(p->fd);
        cairn_conn_del(p->conn);
        free(p);
    }
    cairn_sched_del(ft->sched);
    cairn_sha256_ctx_del(ft->sha);
    cairn_tls_ctx_del(ft->tls);
    cairn_identity_del(ft->identity);
    if (ft->part_fd >= 0)
        close(ft->part_fd);
    if (ft->state_fd >= 0)
        close(ft->state_fd);
    if (ft->dirfd >= 0)
        close(ft->dirfd);
}

/* ---- arguments ------------------------------------------------------------------------------ */

static int parse_args(fetch *ft, int argc, char **argv, const char **from, int *n_from, int *help)
{
    const char *id = NULL;
    *n_from = 0;
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        char name[32] = "";
        if (a[0] == '-' && a[1]) {
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            if (nl >= sizeof(name))
                return fail(ft, CLI_EXIT_USAGE, "fetch: unknown option '%s'", a);
            memcpy(name, a, nl);
            name[nl] = 0;
        }
        int takes = !strcmp(name, "--from") || !strcmp(name, "-o") || !strcmp(name, "--output") ||
                    !strcmp(name, "--network") || !strcmp(name, "--timeout") ||
                    !strcmp(name, "--max-peers");
        if (takes) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return fail(ft, CLI_EXIT_USAGE, "fetch: option '%s' needs a value", name);
        } else if (eq) {
            return fail(ft, CLI_EXIT_USAGE, "fetch: option '%s' takes no value", name);
        }
        if (!strcmp(name, "--from")) {
            if (*n_from == MAX_FROM)
                return fail(ft, CLI_EXIT_USAGE, "fetch: at most %d --from", MAX_FROM);
            from[(*n_from)++] = v;
        } else if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
            ft->out_arg = v;
        } else if (!strcmp(name, "--network")) {
            if (!(ft->net = cairn_network_by_name(v)))
                return fail(ft, CLI_EXIT_USAGE, "fetch: unknown network '%s'", v);
        } else if (!strcmp(name, "--timeout")) {
            char *end;
            double s = strtod(v, &end);
            if (*end || !(s > 0 && s <= 86400))
                return fail(ft, CLI_EXIT_USAGE, "fetch: --timeout wants seconds, not '%s'", v);
            ft->timeout_ms = (uint64_t)(s * 1000 + 0.5);
        } else if (!strcmp(name, "--max-peers")) {
            char *end;
            long k = strtol(v, &end, 10);
            if (*end || k < 1 || k > 2 * MAX_FROM)
                return fail(ft, CLI_EXIT_USAGE, "fetch: --max-peers wants 1..%d", 2 * MAX_FROM);
            ft->max_peers = (int)k;
        } else if (!strcmp(name, "--plaintext")) {
            ft->plaintext = 1;
        } else if (!strcmp(name, "--json")) {
            ft->json = 1;
        } else if (!strcmp(name, "--force")) {
            ft->force = 1;
        } else if (!strcmp(name, "--no-discover")) {
            ft->discover = 0;
        } else if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            *help = 1;
            return 0;
        } else if (name[0]) {
            return fail(ft, CLI_EXIT_USAGE, "fetch: unknown option '%s'", a);
        } else if (!id) {
            id = a;
        } else {
            return fail(ft, CLI_EXIT_USAGE, "fetch: unexpected argument '%s'", a);
        }
    }
    if (!id || strlen(id) != 2 * CAIRN_HASH_LEN ||
        cairn_hex_decode(ft->id, CAIRN_HASH_LEN, id) != 0)
        return fail(ft, CLI_EXIT_USAGE, "fetch: FILE_ID must be 64 hex digits");
    cairn_hex_encode(ft->id_hex, ft->id, CAIRN_HASH_LEN);
    if (*n_from == 0)
        return fail(ft, CLI_EXIT_USAGE, "fetch: at least one --from ADDR is needed");
    if (ft->max_peers < *n_from)
        ft->max_peers = *n_from;
    return 0;
}

int cmd_fetch(int argc, char **argv)
{
    fetch ft = {0};
    ft.env = cairn_port_env();
    ft.net = cairn_network_devnet();
    ft.timeout_ms = 10000;
    ft.discover = 1;
    ft.max_peers = DEFAULT_PEERS;
    ft.dirfd = ft.part_fd = ft.state_fd = -1;
    ft.wake[0] = ft.wake[1] = -1;
    pthread_mutex_init(&ft.mu, NULL);
    pthread_cond_init(&ft.cv, NULL);
    const char *from[MAX_FROM];
    int n_from, help;
    int rv = parse_args(&ft, argc, argv, from, &n_from, &help);
    if (rv || help) {
        if (help)
            fputs(usage_text, stdout);
        else
            fprintf(stderr, "Try 'cairn fetch --help'.\n");
        return rv;
    }
    ft.tty = !ft.json && isatty(2);
    if ((rv = open_output(&ft)) != 0)
        goto out;
    rv = CLI_EXIT_FAIL;
    if (cairn_sha256_ctx_new(&ft.sha) != 0 || cairn_identity_generate(&ft.identity, ft.env) != 0 ||
        (!ft.plaintext &&
         (cairn_tls_ctx_new(&ft.tls, ft.identity, 0) != 0 || cairn_client_keylog(ft.tls) != 0))) {
        rv = fail(&ft, CLI_EXIT_FAIL, "cannot set up TLS or keys");
        goto out;
    }
    ft.start_ms = ft.last_progress_ms = ft.env->mono_ms(ft.env->ud);
    /* a kept download tells us the manifest before any peer does */
    int sfd = openat(ft.dirfd, ft.state_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd >= 0) {
        uint8_t m[CAIRN_MANIFEST_MAX_LEN];
        size_t len;
        ft.state_fd = sfd;
        int ok = read_state(&ft, m, &len);
        ft.state_fd = -1;
        close(sfd);
        if (ok && start_file(&ft, m, len) != 0) {
            rv = fail(&ft, CLI_EXIT_FAIL, "%s", ft.fatal_msg);
            goto out;
        }
    }
    for (int i = 0; i < n_from; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        char buf[80];
        snprintf(buf, sizeof(buf), "%s", from[i]);
        if (!strchr(buf, ':') || (buf[0] == '[' && !strstr(buf, "]:")))
            snprintf(buf, sizeof(buf), "%s:%d", from[i], CAIRN_DEFAULT_PORT);
        if (cairn_net_parse_addr(buf, &ss, &len) != 0) {
            rv = fail(&ft, CLI_EXIT_USAGE, "fetch: bad address '%s'", from[i]);
            goto out;
        }
        add_peer(&ft, &ss, len, 0);
    }
    rv = run(&ft);
    uint64_t now = ft.env->mono_ms(ft.env->ud);
    stop_workers(&ft, now); /* every verified chunk written before the end */
    draw(&ft, now, 1);
    close_all(&ft);
    if (rv == 0 && (rv = finish_file(&ft)) == 0)
        summary(&ft, now);
out:
    cleanup(&ft);
    return rv;
}
