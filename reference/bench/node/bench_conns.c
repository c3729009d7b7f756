/*
 * bench_conns: memory a node spends per idle connection. Opens N sessions
 * (handshake completed, then idle) to the node whose pid is given, and
 * reports the growth of its resident set divided by N.
 *   bench_conns HOST:PORT NODE_PID COUNT [--tls]
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cairn/chain.h"
#include "cairn/net.h"
#include "cairn/port.h"

#include "bench_proc.h"

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ++*(int *)ud;
}

/* Drives every connection until `want` are ready or 60 s pass. */
static int settle(cairn_conn **c, int n, int *ready, int want)
{
    static struct pollfd pfd[20000];
    uint64_t end = cairn_port_mono_ms() + 60000;
    while (*ready < want && cairn_port_mono_ms() < end) {
        for (int i = 0; i < n; i++) {
            cairn_conn_flush(c[i]);
            pfd[i].fd = cairn_conn_fd(c[i]);
            pfd[i].events = POLLIN | (cairn_conn_want_write(c[i]) ? POLLOUT : 0);
        }
        if (poll(pfd, (nfds_t)n, 200) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (pfd[i].revents)
                cairn_conn_on_readable(c[i]);
    }
    return *ready >= want ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_conns HOST:PORT NODE_PID COUNT [--tls]\n");
        return 2;
    }
    int n = atoi(argv[3]), tls_on = argc > 4 && strcmp(argv[4], "--tls") == 0;
    if (n < 1 || n > 19000)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_net_parse_addr(argv[1], &ss, &len))
        return 2;
    const cairn_env *env = cairn_port_env();
    cairn_identity *id;
    cairn_tls_ctx *tls = NULL;
    if (cairn_identity_generate(&id, env) || (tls_on && cairn_tls_ctx_new(&tls, id, 0)))
        return 1;
    cairn_session_config cfg = {0};
    cfg.identity = id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[30] = 0x10;
    cfg.idle_timeout_ms = 600000; /* we stay quiet on purpose */
    cfg.ping_interval_ms = 600000;
    static const cairn_session_callbacks cb = {.on_ready = on_ready};
    cairn_conn **c = calloc((size_t)n, sizeof(*c));
    int ready = 0;
    /* one identity for all: the node refuses duplicates, so each session
     * gets its own key */
    long before = bench_rss_kib(argv[2]);
    for (int i = 0; i < n; i++) {
        cairn_identity *idi;
        if (cairn_identity_generate(&idi, env))
            return 1;
        cfg.identity = idi; /* kept alive until exit: sessions reference it */
        int fd = cairn_net_connect((struct sockaddr *)&ss, len);
        if (fd < 0 || cairn_conn_new(&c[i], fd, 1, tls, &cfg, &cb, &ready, env)) {
            fprintf(stderr, "bench_conns: connection %d failed\n", i);
            return 1;
        }
        if ((i + 1) % 250 == 0 && settle(c, i + 1, &ready, i + 1)) {
            fprintf(stderr, "bench_conns: only %d of %d sessions ready\n", ready, i + 1);
            return 1;
        }
    }
    if (settle(c, n, &ready, n)) {
        fprintf(stderr, "bench_conns: only %d of %d sessions ready\n", ready, n);
        return 1;
    }
    /* let the node finish its side, then measure */
    for (int round = 0; round < 10; round++)
        poll(NULL, 0, 100);
    long after = bench_rss_kib(argv[2]);
    printf("%ld %ld %.2f\n", before, after, (double)(after - before) / n);
    return 0;
}
