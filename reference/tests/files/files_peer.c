/*
 * files_peer: a small seeder built on libcairn and the node's share.c, for
 * the files integration tests. It serves the files under a directory like
 * cairnd --share does, and can misbehave on purpose:
 *
 *   files_peer --share DIR --cache DIR [--listen HOST:PORT] [--plaintext]
 *              [--corrupt INDEX]    flip a byte of chunk INDEX of every file
 *              [--have A-B[,C-D]]   serve only these chunk ranges (and say so)
 *              [--rate BYTES]       serve at most about BYTES per second
 *              [--advertise ADDR]   answer GetPeers with ADDR (repeatable)
 *              [--stall-after N]    leave chunk requests unanswered after N chunks
 *
 * It prints "listening HOST:PORT" on stdout once ready and runs until it is
 * killed or its parent goes away (stdin closes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/net.h"
#include "cairn/port.h"
#include "share.h"

#define MAX_CONNS 32

/* With --rate, chunk requests wait here until the budget allows them. */
typedef struct pending {
    uint64_t rid, index;
    uint8_t id[CAIRN_HASH_LEN];
} pending;

typedef struct fconn {
    cairn_conn *c;
    pending q[CAIRN_MAX_IN_FLIGHT];
    unsigned head, len;
} fconn;

static share *g_share;
static int64_t g_corrupt = -1;
static cairn_chunk_range g_have[CAIRN_FILE_MAX_RANGES];
static size_t g_n_have;
static uint64_t g_rate, g_window_start, g_window_bytes;
static uint64_t g_stall_after = UINT64_MAX, g_chunks_served;
static struct sockaddr_storage g_adv[16];
static socklen_t g_adv_len[16];
static int g_n_adv;
static uint8_t g_buf[CAIRN_FILE_MAX_CHUNK];

static int served(uint64_t index)
{
    if (!g_n_have)
        return 1;
    for (size_t i = 0; i < g_n_have; i++)
        if (index >= g_have[i].start && index < g_have[i].end)
            return 1;
    return 0;
}

static void not_found(cairn_session *s, uint64_t rid)
{
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = rid;
    cairn_session_respond(s, &nf.base);
}

static void answer_chunk(cairn_session *s, uint64_t rid, const uint8_t *file_id, uint64_t index)
{
    Cairn__V1__Chunk r = CAIRN__V1__CHUNK__INIT;
    if (!served(index)) {
        not_found(s, rid);
        return;
    }
    int rv = share_chunk(g_share, file_id, index, &r);
    if (rv == 1) {
        not_found(s, rid);
    } else if (rv < 0 && cairn_err_wire_code(rv)) {
        cairn_session_close(s, cairn_err_wire_code(rv), "bad chunk index");
    } else if (rv < 0) {
        cairn_session_respond_error(s, rid, CAIRN_E_BUSY, 0, "read failed");
    } else {
        if ((int64_t)index == g_corrupt) { /* the fault this peer exists for */
            memcpy(g_buf, r.data.data, r.data.len);
            g_buf[r.data.len / 2] ^= 0x40;
            r.data.data = g_buf;
        }
        r.request_id = rid;
        cairn_session_respond(s, &r.base);
        g_window_bytes += r.data.len;
        g_chunks_served++;
    }
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    if (type == CAIRN_T_GET_MANIFEST) {
        const Cairn__V1__GetManifest *g = (const Cairn__V1__GetManifest *)m;
        Cairn__V1__Manifest r = CAIRN__V1__MANIFEST__INIT;
        Cairn__V1__ChunkRange cr[CAIRN_FILE_MAX_RANGES], *crp[CAIRN_FILE_MAX_RANGES];
        if (share_manifest(g_share, g->file_id.data, &r) != 0) {
            not_found(s, g->request_id);
            return;
        }
        for (size_t i = 0; i < g_n_have; i++) {
            cairn__v1__chunk_range__init(&cr[i]);
            cr[i].start = g_have[i].start;
            cr[i].end = g_have[i].end;
            crp[i] = &cr[i];
        }
        r.n_have = g_n_have;
        r.have = g_n_have ? crp : NULL;
        r.request_id = g->request_id;
        cairn_session_respond(s, &r.base);
    } else if (type == CAIRN_T_GET_CHUNK) {
        const Cairn__V1__GetChunk *g = (const Cairn__V1__GetChunk *)m;
        fconn *fc = ud;
        if (g_chunks_served >= g_stall_after)
            return; /* a stalling peer: the request stays unanswered */
        if (g_rate && fc->len < CAIRN_MAX_IN_FLIGHT) {
            pending *p = &fc->q[(fc->head + fc->len++) % CAIRN_MAX_IN_FLIGHT];
            p->rid = g->request_id;
            p->index = g->index;
            memcpy(p->id, g->file_id.data, CAIRN_HASH_LEN);
            return;
        }
        answer_chunk(s, g->request_id, g->file_id.data, g->index);
    } else if (type == CAIRN_T_GET_PEERS) {
        const Cairn__V1__GetPeers *g = (const Cairn__V1__GetPeers *)m;
        Cairn__V1__Peers r = CAIRN__V1__PEERS__INIT;
        Cairn__V1__PeerAddress pa[16], *pp[16];
        for (int i = 0; i < g_n_adv; i++) {
            cairn__v1__peer_address__init(&pa[i]);
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)&g_adv[i];
            pa[i].ip.data = (uint8_t *)&v4->sin_addr;
            pa[i].ip.len = 4;
            pa[i].port = ntohs(v4->sin_port);
            pa[i].services = CAIRN_SERVICE_FILES;
            pp[i] = &pa[i];
        }
        r.request_id = g->request_id;
        r.n_peers = (size_t)g_n_adv;
        r.peers = g_n_adv ? pp : NULL;
        cairn_session_respond(s, &r.base);
    }
}

static const cairn_session_callbacks cbs = {.on_message = on_message};

static int parse_have(const char *s)
{
    while (*s && g_n_have < CAIRN_FILE_MAX_RANGES) {
        char *end;
        uint64_t a = strtoull(s, &end, 10), b;
        if (*end != '-')
            return -1;
        b = strtoull(end + 1, &end, 10);
        g_have[g_n_have++] = (cairn_chunk_range){a, b};
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        s = end;
    }
    return 0;
}

/* The command line into the options; 0, or the exit code for a bad one. */
static int parse_options(int argc, char **argv, const char **dir, const char **cache,
                         const char **listen_at, int *plaintext)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--plaintext")) {
            *plaintext = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "files_peer: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--share"))
            *dir = v;
        else if (!strcmp(a, "--cache"))
            *cache = v;
        else if (!strcmp(a, "--listen"))
            *listen_at = v;
        else if (!strcmp(a, "--corrupt"))
            g_corrupt = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--stall-after"))
            g_stall_after = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rate"))
            g_rate = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--have") && parse_have(v) == 0)
            ;
        else if (!strcmp(a, "--advertise") && g_n_adv < 16 &&
                 cairn_net_parse_addr(v, &g_adv[g_n_adv], &g_adv_len[g_n_adv]) == 0)
            g_n_adv++;
        else {
            fprintf(stderr, "files_peer: bad option %s %s\n", a, v);
            return 2;
        }
    }
    if (!*dir || !*cache) {
        fprintf(stderr, "usage: files_peer --share DIR --cache DIR [options]\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *cache = NULL, *listen_at = "127.0.0.1:0";
    int plaintext = 0;
    int rv = parse_options(argc, argv, &dir, &cache, &listen_at, &plaintext);
    if (rv)
        return rv;
    const cairn_env *env = cairn_port_env();
    if (share_open(&g_share, dir, cache, env) != 0) {
        fprintf(stderr, "files_peer: cannot share %s: %s\n", dir, strerror(errno));
        return 1;
    }
    cairn_identity *id;
    cairn_tls_ctx *tls = NULL;
    if (cairn_identity_generate(&id, env) != 0 ||
        (!plaintext && cairn_tls_ctx_new(&tls, id, 1) != 0))
        return 1;
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_net_parse_addr(listen_at, &ss, &len) != 0)
        return 2;
    int lfd = cairn_net_listen((struct sockaddr *)&ss, len, 16);
    if (lfd < 0) {
        perror("files_peer: listen");
        return 1;
    }
    printf("listening 127.0.0.1:%d\n", cairn_net_local_port(lfd));
    fflush(stdout);

    cairn_session_config cfg = {0};
    cairn_work w = {{0}};
    const cairn_network *net = cairn_network_devnet();
    cfg.identity = id;
    memcpy(cfg.network_id, net->genesis_id, CAIRN_HASH_LEN);
    memcpy(cfg.tip_id, net->genesis_id, CAIRN_HASH_LEN);
    cairn_work_add_block(&w, net->bits);
    memcpy(cfg.total_work, w.be, sizeof(w.be));
    cfg.services = CAIRN_SERVICE_FILES | (g_n_adv ? CAIRN_SERVICE_PEERS : 0);
    cfg.user_agent = "files_peer";
    cfg.listen_port = (uint16_t)cairn_net_local_port(lfd);

    fconn conns[MAX_CONNS] = {{0}};
    struct pollfd pfd[MAX_CONNS + 2];
    int idx[MAX_CONNS + 2];
    for (;;) {
        uint64_t now = cairn_port_mono_ms();
        int paused = 0;
        if (g_rate) { /* reading no requests is how a peer slows down */
            if (now - g_window_start >= 100) {
                g_window_start = now;
                g_window_bytes = 0;
            }
            paused = g_window_bytes >= g_rate / 10; /* wake when the window rolls */
        }
        int n = 0;
        pfd[n] = (struct pollfd){lfd, POLLIN, 0};
        idx[n++] = -1;
        pfd[n] = (struct pollfd){0, POLLIN, 0}; /* stdin: parent gone */
        idx[n++] = -2;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (!conns[i].c)
                continue;
            short ev = 0;
            if (cairn_conn_want_read(conns[i].c))
                ev |= POLLIN;
            if (cairn_conn_want_write(conns[i].c))
                ev |= POLLOUT;
            pfd[n] = (struct pollfd){cairn_conn_fd(conns[i].c), ev, 0};
            idx[n++] = i;
        }
        if (poll(pfd, (nfds_t)n, paused || g_rate ? 10 : 100) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents & (POLLIN | POLLHUP)) {
            char b[64];
            if (read(0, b, sizeof(b)) <= 0)
                break;
        }
        if (pfd[0].revents & POLLIN) {
            int fd = cairn_net_accept(lfd, NULL, NULL);
            int slot = 0;
            while (slot < MAX_CONNS && conns[slot].c)
                slot++;
            if (fd >= 0 && slot < MAX_CONNS)
                cairn_conn_new(&conns[slot].c, fd, 0, plaintext ? NULL : tls, &cfg, &cbs,
                               &conns[slot], env);
            else if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < MAX_CONNS; i++) { /* --rate: answer what the budget allows */
            fconn *c = &conns[i];
            cairn_session *s = c->c ? cairn_conn_session(c->c) : NULL;
            while (s && c->len && g_window_bytes < g_rate / 10 &&
                   cairn_session_state(s) == CAIRN_SS_READY) {
                pending *p = &c->q[c->head];
                c->head = (c->head + 1) % CAIRN_MAX_IN_FLIGHT;
                c->len--;
                answer_chunk(s, p->rid, p->id, p->index);
            }
        }
        for (int k = 2; k < n; k++) {
            fconn *c = &conns[idx[k]];
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
                cairn_conn_on_readable(c->c);
            cairn_session *s = cairn_conn_session(c->c);
            if (s && cairn_conn_state(c->c) != CAIRN_CONN_DONE)
                cairn_session_tick(s);
            /* Input held back while our output was over its high-water mark
             * (plaintext the session did not take, TLS records not yet
             * decrypted) is fed once the output drained: the socket may
             * never become readable again, the peer having sent everything.
             * Reading once more is cheap (EAGAIN) and covers both. */
            for (int r = 0; r < 8 && s && cairn_conn_state(c->c) != CAIRN_CONN_DONE; r++) {
                if (cairn_conn_flush(c->c) == CAIRN_CONN_DONE || !cairn_session_want_read(s))
                    break;
                cairn_conn_on_readable(c->c);
                if (!cairn_conn_want_write(c->c))
                    break; /* nothing new to answer */
            }
            if (cairn_conn_flush(c->c) == CAIRN_CONN_DONE) {
                cairn_conn_del(c->c);
                c->c = NULL;
                c->len = 0;
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        cairn_conn_del(conns[i].c);
    close(lfd);
    cairn_tls_ctx_del(tls);
    cairn_identity_del(id);
    share_close(g_share);
    return 0;
}
