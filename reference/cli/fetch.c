/* cairn fetch, the scheduling driver: the poll() loop, the peers, their requests and answers. */

/*
 * cairn fetch FILE_ID --from ADDR [--from ADDR]... [-o PATH]: download a
 * file from several peers at once (spec §11.5). This file drives the
 * download; fetch_store.c keeps the bytes (output, resume, verification
 * workers) and fetch_progress.c tells the user (messages, progress, summary).
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
#include "fetch_int.h"

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
    if (!ft->have_file && fetch_start_file(ft, m->manifest.data, m->manifest.len) != 0) {
        fetch_set_fatal(ft, "%s", ft->fatal_msg[0] ? ft->fatal_msg : "cannot start the download");
        return;
    }
    ft->last_progress_ms = now;
    int rv = p->sched >= 0 ? cairn_sched_peer_update(ft->sched, p->sched, r, nr)
                           : cairn_sched_peer_add(ft->sched, &p->sched, r, nr, now);
    if (rv != 0)
        peer_close(p, 0, "failed", "too many peers");
}

/* The outcome of a job, on the network thread. */
void fetch_complete_job(fetch *ft, job *j, uint64_t now)
{
    fpeer *p = j->peer;
    if (j->rv == CAIRN_ERR_PROTO(CAIRN_E_INVALID_CHUNK)) {
        char why[100];
        snprintf(why, sizeof(why), "sent a bad chunk %" PRIu64, j->index);
        ft->bad_chunks++;
        fetch_note(ft, "peer %s %s (INVALID_CHUNK); dropped", p->addr, why);
        peer_close(p, CAIRN_E_INVALID_CHUNK, "bad_chunk", why);
        return;
    }
    if (j->rv == WRITE_FAILED) {
        fetch_set_fatal(ft, "cannot write %s: %s", fetch_jpath(ft, ft->part_name),
                        strerror(j->write_errno));
        return;
    }
    if (j->rv != 0) {
        fetch_set_fatal(ft, "cannot verify a chunk: %s", cairn_strerror(j->rv));
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

/* Takes the workers' finished jobs and completes them on the network thread;
 * with `wait`, first waits until one is finished (only when every job buffer
 * is out: then one comes back). */
void fetch_collect_done(fetch *ft, uint64_t now, int wait)
{
    char buf[256];
    while (ft->n_workers && read(ft->wake[0], buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&ft->mu);
    while (wait && !ft->done)
        pthread_cond_wait(&ft->done_cv, &ft->mu);
    job *j = ft->done;
    ft->done = NULL;
    pthread_mutex_unlock(&ft->mu);
    while (j) {
        job *next = j->next;
        fetch_complete_job(ft, j, now);
        j->next = ft->free_jobs;
        ft->free_jobs = j;
        j = next;
    }
}

/* Waits for the workers to finish what they hold, and takes their results. */
static void stop_workers(fetch *ft, uint64_t now)
{
    if (!ft->n_workers)
        return;
    fetch_join_workers(ft);
    fetch_collect_done(ft, now, 0);
    ft->n_workers = 0;
}

static void on_chunk(fpeer *p, const Cairn__V1__Chunk *m, uint64_t now)
{
    fetch *ft = p->ft;
    uint64_t index;
    /* Every buffer is with the workers: wait for one to come back. Hashing
     * here instead would add a third hashing thread on two cores and stop
     * reading every socket meanwhile, so the seeders would stall. */
    if (ft->n_workers && !ft->free_jobs)
        fetch_collect_done(ft, now, 1);
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
        j = &inline_job; /* no workers: verify here */
        j->data = m->data.data;
    }
    j->peer = p;
    j->index = index;
    j->len = m->data.len;
    j->n_proof = m->n_proof < CAIRN_FILE_MAX_PROOF ? m->n_proof : CAIRN_FILE_MAX_PROOF;
    for (size_t i = 0; i < j->n_proof; i++)
        memcpy(j->proof[i], m->proof[i].data, CAIRN_HASH_LEN); /* 32 bytes: [CHK-10] */
    if (j == &inline_job) {
        fetch_verify_and_store(ft, ft->sha, j);
        fetch_complete_job(ft, j, now);
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
    if (!not_found)
        p->refused++; /* each one backs the peer off for a while [REQ-22] */
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
        return fetch_fail(ft, CLI_EXIT_NOT_FOUND, "no peer has file %s", ft->id_hex);
    if (last && last->error[0])
        return fetch_fail(ft, CLI_EXIT_FAIL, "no peer left to download from (last: %s %s)",
                          last->addr, last->error);
    return fetch_fail(ft, CLI_EXIT_FAIL, "no peer left to download from");
}

static int run(fetch *ft)
{
    struct pollfd pfd[2 * MAX_FROM + 1];
    fpeer *who[2 * MAX_FROM + 1];
    for (;;) {
        uint64_t now = ft->env->mono_ms(ft->env->ud);
        if (ft->fatal)
            return fetch_fail(ft, CLI_EXIT_FAIL, "%s", ft->fatal_msg);
        if (ft->have_file && cairn_sched_remaining(ft->sched) == 0)
            return 0;
        if (!any_alive(ft))
            return no_peer_fail(ft);
        if (now - ft->last_progress_ms > ft->timeout_ms)
            return fetch_fail(ft, CLI_EXIT_FAIL,
                              "no progress for %" PRIu64 " s; the partial download is kept in %s",
                              ft->timeout_ms / 1000, fetch_jpath(ft, ft->part_name));
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
            return fetch_fail(ft, CLI_EXIT_FAIL, "poll: %s", strerror(errno));
        now = ft->env->mono_ms(ft->env->ud);
        if (ft->n_workers) {
            fetch_collect_done(ft, now, 0);
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
        fetch_draw(ft, now, 0);
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
    pthread_cond_destroy(&ft->done_cv);
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
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: unknown option '%s'", a);
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
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: option '%s' needs a value", name);
        } else if (eq) {
            return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: option '%s' takes no value", name);
        }
        if (!strcmp(name, "--from")) {
            if (*n_from == MAX_FROM)
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: at most %d --from", MAX_FROM);
            from[(*n_from)++] = v;
        } else if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
            ft->out_arg = v;
        } else if (!strcmp(name, "--network")) {
            if (!(ft->net = cairn_network_by_name(v)))
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: unknown network '%s'", v);
        } else if (!strcmp(name, "--timeout")) {
            char *end;
            double s = strtod(v, &end);
            if (*end || !(s > 0 && s <= 86400))
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: --timeout wants seconds, not '%s'",
                                  v);
            ft->timeout_ms = (uint64_t)(s * 1000 + 0.5);
        } else if (!strcmp(name, "--max-peers")) {
            char *end;
            long k = strtol(v, &end, 10);
            if (*end || k < 1 || k > 2 * MAX_FROM)
                return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: --max-peers wants 1..%d",
                                  2 * MAX_FROM);
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
            return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: unknown option '%s'", a);
        } else if (!id) {
            id = a;
        } else {
            return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: unexpected argument '%s'", a);
        }
    }
    if (!id || strlen(id) != 2 * CAIRN_HASH_LEN ||
        cairn_hex_decode(ft->id, CAIRN_HASH_LEN, id) != 0)
        return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: FILE_ID must be 64 hex digits");
    cairn_hex_encode(ft->id_hex, ft->id, CAIRN_HASH_LEN);
    if (*n_from == 0)
        return fetch_fail(ft, CLI_EXIT_USAGE, "fetch: at least one --from ADDR is needed");
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
    pthread_cond_init(&ft.done_cv, NULL);
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
    if ((rv = fetch_open_output(&ft)) != 0)
        goto out;
    rv = CLI_EXIT_FAIL;
    if (cairn_sha256_ctx_new(&ft.sha) != 0 || cairn_identity_generate(&ft.identity, ft.env) != 0 ||
        (!ft.plaintext &&
         (cairn_tls_ctx_new(&ft.tls, ft.identity, 0) != 0 || cairn_client_keylog(ft.tls) != 0))) {
        rv = fetch_fail(&ft, CLI_EXIT_FAIL, "cannot set up TLS or keys");
        goto out;
    }
    ft.start_ms = ft.last_progress_ms = ft.env->mono_ms(ft.env->ud);
    /* a kept download tells us the manifest before any peer does */
    int sfd = openat(ft.dirfd, ft.state_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd >= 0) {
        uint8_t m[CAIRN_MANIFEST_MAX_LEN];
        size_t len;
        ft.state_fd = sfd;
        int ok = fetch_read_state(&ft, m, &len);
        ft.state_fd = -1;
        close(sfd);
        if (ok && fetch_start_file(&ft, m, len) != 0) {
            rv = fetch_fail(&ft, CLI_EXIT_FAIL, "%s", ft.fatal_msg);
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
            rv = fetch_fail(&ft, CLI_EXIT_USAGE, "fetch: bad address '%s'", from[i]);
            goto out;
        }
        add_peer(&ft, &ss, len, 0);
    }
    rv = run(&ft);
    uint64_t now = ft.env->mono_ms(ft.env->ud);
    stop_workers(&ft, now); /* every verified chunk written before the end */
    fetch_draw(&ft, now, 1);
    close_all(&ft);
    if (rv == 0 && (rv = fetch_finish_file(&ft)) == 0)
        fetch_summary(&ft, now);
out:
    cleanup(&ft);
    return rv;
}
