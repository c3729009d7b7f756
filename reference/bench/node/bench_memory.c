/*
 * bench_memory: the node's resident memory with COUNT authenticated peers
 * that never read (spec §14.5, SEC-7..SEC-10). Each peer asks 64 times for
 * the largest block and then sends Pings, never reading a byte, so the node
 * queues for it everything the output bounds let it queue. First, two
 * reading sessions submit 32 entries of 64 KiB so that a block of 2 MiB is
 * mined, and the node's resident memory is taken once they have left.
 *   bench_memory HOST:PORT NODE_PID [COUNT]
 * Prints "IDLE_KIB LOADED_KIB BLOCK_BYTES READY".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/net.h"
#include "cairn/port.h"

#include "bench_proc.h"

typedef struct peer {
    cairn_conn *c;
    cairn_identity *id;
    int ready;
    unsigned answers;
    int got_block;
    size_t block_bytes; /* of the last Block received */
} peer;

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ((peer *)ud)->ready = 1;
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    peer *p = ud;
    if (cairn_msg_kind(type) == CAIRN_KIND_RESPONSE || type == CAIRN_T_ERROR)
        p->answers++;
    if (type == CAIRN_T_BLOCK) {
        const Cairn__V1__Block *b = (const Cairn__V1__Block *)m;
        p->got_block = 1;
        p->block_bytes = 0;
        for (size_t i = 0; i < b->n_entries; i++)
            p->block_bytes += b->entries[i].len;
    }
}

static const cairn_session_callbacks cb = {.on_ready = on_ready, .on_message = on_message};

static int open_peer(peer *p, const struct sockaddr_in *node, const char *src, cairn_tls_ctx *tls,
                     const cairn_env *env)
{
    memset(p, 0, sizeof(*p));
    if (cairn_identity_generate(&p->id, env))
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s = {0};
    s.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
        connect(fd, (const struct sockaddr *)node, sizeof(*node)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    cairn_session_config cfg = {0};
    cfg.identity = p->id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[31] = 1;
    cfg.idle_timeout_ms = 600000; /* we never read on purpose */
    cfg.ping_interval_ms = 600000;
    return cairn_conn_new(&p->c, fd, 1, tls, &cfg, &cb, p, env);
}

/* Reads and writes every peer until `done` says so or `ms` pass. */
static int drive(peer *v, int n, int ms, int (*done)(peer *, int))
{
    static struct pollfd pfd[512];
    uint64_t end = cairn_port_mono_ms() + (uint64_t)ms;
    while (!done(v, n)) {
        if (cairn_port_mono_ms() >= end)
            return -1;
        for (int i = 0; i < n; i++) {
            cairn_conn_flush(v[i].c);
            pfd[i].fd = cairn_conn_fd(v[i].c);
            pfd[i].events = POLLIN | (cairn_conn_want_write(v[i].c) ? POLLOUT : 0);
        }
        if (poll(pfd, (nfds_t)n, 50) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (pfd[i].revents)
                cairn_conn_on_readable(v[i].c);
    }
    return 0;
}

static int all_ready(peer *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!v[i].ready)
            return 0;
    return 1;
}

static unsigned want_answers;
static int answered(peer *v, int n)
{
    for (int i = 0; i < n; i++)
        if (v[i].answers < want_answers)
            return 0;
    return 1;
}

/* Submits 16 distinct 64 KiB entries from each of the two setup peers. */
static int submit_entries(peer *setup)
{
    static uint8_t e[CAIRN_ENTRY_MAX_LEN];
    e[0] = CAIRN_ENTRY_DATA;
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < 16; i++) {
            cairn_put_u32(e + 1, (uint32_t)k << 16 | i);
            cairn_put_u64(e + 5, cairn_port_wall_ms());
            Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
            se.entry = (ProtobufCBinaryData){sizeof(e), e};
            if (cairn_session_request(cairn_conn_session(setup[k].c), &se.base, NULL))
                return -1;
        }
    want_answers = 16;
    return drive(setup, 2, 30000, answered);
}

/* The height of the first block holding at least 30 of the entries, or 0. */
static uint64_t find_big_block(peer *p, size_t *bytes)
{
    uint64_t end = cairn_port_mono_ms() + 30000;
    for (uint64_t h = 1; cairn_port_mono_ms() < end;) {
        Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        gb.height = h;
        p->got_block = 0;
        if (cairn_session_request(cairn_conn_session(p->c), &gb.base, NULL))
            return 0;
        want_answers = p->answers + 1;
        if (drive(p, 1, 5000, answered))
            return 0;
        if (!p->got_block) { /* NotFound: not mined yet */
            poll(NULL, 0, 250);
            continue;
        }
        if (p->block_bytes >= 30u * CAIRN_ENTRY_MAX_LEN) {
            *bytes = p->block_bytes;
            return h;
        }
        h++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_memory HOST:PORT NODE_PID [COUNT]\n");
        return 2;
    }
    int count = argc > 3 ? atoi(argv[3]) : 117;
    if (count < 1 || count > 500)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_net_parse_addr(argv[1], &ss, &len) || ss.ss_family != AF_INET)
        return 2;
    const struct sockaddr_in *node = (const struct sockaddr_in *)&ss;
    const cairn_env *env = cairn_port_env();
    cairn_identity *tid;
    cairn_tls_ctx *tls;
    if (cairn_identity_generate(&tid, env) || cairn_tls_ctx_new(&tls, tid, 0))
        return 1;

    /* a 2 MiB block, so that every answer the flood asks for is the largest */
    static peer setup[2];
    if (open_peer(&setup[0], node, "127.0.60.1", tls, env) ||
        open_peer(&setup[1], node, "127.0.60.2", tls, env) || drive(setup, 2, 20000, all_ready) ||
        submit_entries(setup)) {
        fprintf(stderr, "bench_memory: could not submit the entries\n");
        return 1;
    }
    size_t block_bytes = 0;
    uint64_t height = find_big_block(&setup[0], &block_bytes);
    if (!height) {
        fprintf(stderr, "bench_memory: no block of 2 MiB was mined\n");
        return 1;
    }
    for (int k = 0; k < 2; k++)
        cairn_conn_del(setup[k].c);
    poll(NULL, 0, 1500);
    long idle = bench_rss_kib(argv[2]);

    /* COUNT peers, four per address (DISC-15), handshake, then never read */
    static peer v[512];
    for (int i = 0; i < count; i++) {
        char src[32];
        snprintf(src, sizeof(src), "127.0.61.%d", 1 + i / 4);
        if (open_peer(&v[i], node, src, tls, env)) {
            fprintf(stderr, "bench_memory: connection %d failed\n", i);
            return 1;
        }
    }
    if (drive(v, count, 60000, all_ready)) {
        fprintf(stderr, "bench_memory: not every session became ready\n");
        return 1;
    }
    for (int i = 0; i < count; i++) /* our Auth may still wait to be written */
        cairn_conn_flush(v[i].c);
    for (int i = 0; i < count; i++) {
        cairn_session *s = cairn_conn_session(v[i].c);
        for (int k = 0; k < 64; k++) {
            Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
            gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
            gb.height = height;
            cairn_session_request(s, &gb.base, NULL);
        }
        for (int k = 0; k < 40000; k++) /* Pongs push the node's queue to its bound */
            cairn_session_ping(s, NULL);
        cairn_conn_flush(v[i].c);
    }
    /* write only, for 20 s, sampling the node's resident set */
    long peak = idle;
    uint64_t end = cairn_port_mono_ms() + 20000;
    while (cairn_port_mono_ms() < end) {
        for (int i = 0; i < count; i++)
            cairn_conn_flush(v[i].c);
        poll(NULL, 0, 100);
        long r = bench_rss_kib(argv[2]);
        peak = r > peak ? r : peak;
    }
    int open = 0;
    for (int i = 0; i < count; i++)
        open += cairn_conn_state(v[i].c) != CAIRN_CONN_DONE;
    printf("%ld %ld %zu %d\n", idle, peak, block_bytes, open);
    return 0;
}
