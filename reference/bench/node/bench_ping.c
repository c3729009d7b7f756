/*
 * bench_ping: a load generator in the spirit of redis-benchmark. Opens N
 * sessions to a node and keeps K Pings in flight on each for a fixed time;
 * prints round trips per second. Used by reference/bench/run ping, which
 * runs redis-benchmark against redis-server in the same run as the baseline.
 *   bench_ping HOST:PORT CONNS IN_FLIGHT SECONDS [--tls]
 * With CAIRN_BENCH_SERVER_PID set, also prints the server process's CPU time
 * (utime + stime from /proc/PID/stat) per round trip over the counted
 * interval, in microseconds: "RATE CPU_US".
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/net.h"
#include "cairn/port.h"

typedef struct client {
    cairn_conn *c;
    int ready;
    unsigned in_flight;
} client;

static unsigned target;
static uint64_t pongs;
static int counting;

static void fill(client *cl)
{
    cairn_session *s = cairn_conn_session(cl->c);
    while (cl->in_flight < target && cairn_session_ping(s, NULL) == 0)
        cl->in_flight++;
}

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ((client *)ud)->ready = 1;
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    (void)m;
    client *cl = ud;
    if (type != CAIRN_T_PONG)
        return;
    cl->in_flight--;
    pongs += counting;
    fill(cl);
}

/* Cheap randomness for Ping nonces: this is a load generator. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int fast_random(uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < len; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        buf[i] = (uint8_t)rng;
    }
    return 0;
}

/* utime + stime of process `pid` in microseconds, or -1. */
static double proc_cpu_us(const char *pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t mono(void *ud)
{
    (void)ud;
    return cairn_port_mono_ms();
}

static uint64_t wall(void *ud)
{
    (void)ud;
    return cairn_port_wall_ms();
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_ping HOST:PORT CONNS IN_FLIGHT SECONDS [--tls]\n");
        return 2;
    }
    int n = atoi(argv[2]), tls_on = argc > 5 && strcmp(argv[5], "--tls") == 0;
    target = (unsigned)atoi(argv[3]);
    double seconds = atof(argv[4]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    cairn_env env = {cairn_port_mem(), mono, wall, fast_random, NULL};
    struct sockaddr_storage ss;
    socklen_t len;
    if (cairn_net_parse_addr(argv[1], &ss, &len)) {
        fprintf(stderr, "bench_ping: bad address %s\n", argv[1]);
        return 2;
    }
    cairn_identity *id;
    cairn_tls_ctx *tls = NULL;
    if (cairn_identity_generate(&id, cairn_port_env()) ||
        (tls_on && cairn_tls_ctx_new(&tls, id, 0)))
        return 1;
    cairn_session_config cfg = {0};
    cfg.identity = id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[30] = 0x10;
    cfg.user_agent = "bench_ping";
    static const cairn_session_callbacks cb = {.on_ready = on_ready, .on_message = on_message};
    client *cls = calloc((size_t)n, sizeof(*cls));
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    for (int i = 0; i < n; i++) {
        cairn_identity *idi; /* one key per session: a node refuses duplicates */
        if (cairn_identity_generate(&idi, cairn_port_env()))
            return 1;
        cfg.identity = idi;
        int fd = cairn_net_connect((struct sockaddr *)&ss, len);
        struct pollfd w = {fd, POLLOUT, 0};
        if (fd < 0 || poll(&w, 1, 5000) != 1 || cairn_net_connect_result(fd) ||
            cairn_conn_new(&cls[i].c, fd, 1, tls, &cfg, &cb, &cls[i], &env)) {
            fprintf(stderr, "bench_ping: connection %d failed\n", i);
            return 1;
        }
    }
    int ready = 0;
    uint64_t t_end = cairn_port_mono_ms() + 10000;
    while (ready < n && cairn_port_mono_ms() < t_end) {
        ready = 0;
        for (int i = 0; i < n; i++) {
            cairn_conn_flush(cls[i].c);
            cairn_conn_on_readable(cls[i].c);
            ready += cls[i].ready;
        }
    }
    if (ready < n) {
        fprintf(stderr, "bench_ping: only %d of %d sessions ready\n", ready, n);
        return 1;
    }
    for (int i = 0; i < n; i++)
        fill(&cls[i]);
    /* warm up 10%, then count */
    uint64_t start = cairn_port_mono_ms(), warm = start + (uint64_t)(seconds * 100);
    uint64_t end = warm + (uint64_t)(seconds * 1000);
    uint64_t t0 = 0;
    const char *server = getenv("CAIRN_BENCH_SERVER_PID");
    double cpu0 = 0;
    for (;;) {
        uint64_t now = cairn_port_mono_ms();
        if (!counting && now >= warm) {
            counting = 1;
            t0 = now;
            cpu0 = server ? proc_cpu_us(server) : 0;
        }
        if (now >= end)
            break;
        for (int i = 0; i < n; i++) {
            cairn_conn_flush(cls[i].c);
            pfd[i].fd = cairn_conn_fd(cls[i].c);
            pfd[i].events = POLLIN | (cairn_conn_want_write(cls[i].c) ? POLLOUT : 0);
        }
        if (poll(pfd, (nfds_t)n, 100) < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                cairn_conn_on_readable(cls[i].c);
            if (cairn_conn_state(cls[i].c) == CAIRN_CONN_DONE) {
                fprintf(stderr, "bench_ping: connection %d closed: %s\n", i,
                        cairn_conn_error(cls[i].c));
                return 1;
            }
        }
    }
    double secs = (double)(cairn_port_mono_ms() - t0) / 1000.0;
    if (server) {
        double cpu1 = proc_cpu_us(server);
        printf("%.0f %.3f\n", (double)pongs / secs,
               cpu0 >= 0 && cpu1 >= 0 && pongs ? (cpu1 - cpu0) / (double)pongs : -1.0);
    } else {
        printf("%.0f\n", (double)pongs / secs);
    }
    for (int i = 0; i < n; i++)
        cairn_conn_del(cls[i].c);
    free(cls);
    free(pfd);
    cairn_tls_ctx_del(tls);
    cairn_identity_del(id);
    return 0;
}
