/* cairn fetch: the state shared by fetch.c, fetch_store.c and fetch_progress.c. */
#ifndef CAIRN_CLI_FETCH_INT_H
#define CAIRN_CLI_FETCH_INT_H

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
#define JOBS_PER_WORKER 8

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
    uint64_t refused;   /* chunk requests answered with Error BUSY or RATE_LIMITED */
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
    pthread_cond_t cv, done_cv; /* work to do; a job finished */
    int n_workers, stop;
    pthread_t workers[MAX_WORKERS];
    job *jobs, *free_jobs, *todo, *todo_tail, *done;
    size_t n_jobs;
    int wake[2];
    int closing; /* our own goodbyes: not a peer failure */
    int fatal;   /* a local failure: stop */
    char fatal_msg[300];
} fetch;

/* fetch_progress.c: messages, the progress line, the summary */
const char *fetch_jpath(const fetch *ft, const char *name);
int fetch_fail(const fetch *ft, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fetch_set_fatal(fetch *ft, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fetch_note(const fetch *ft, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fetch_draw(fetch *ft, uint64_t now, int final);
void fetch_summary(fetch *ft, uint64_t now);

/* fetch_store.c: the output directory, the part and state files, resuming,
 * the verification workers */
int fetch_open_output(fetch *ft);
int fetch_read_state(fetch *ft, uint8_t *manifest, size_t *len);
int fetch_start_file(fetch *ft, const uint8_t *manifest, size_t len);
int fetch_finish_file(fetch *ft);
void fetch_verify_and_store(const fetch *ft, cairn_sha256_ctx *sha, job *j);
void fetch_join_workers(fetch *ft);

/* fetch.c: the scheduling driver */
void fetch_complete_job(fetch *ft, job *j, uint64_t now);
void fetch_collect_done(fetch *ft, uint64_t now, int wait);

#endif
