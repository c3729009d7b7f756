/* Multi-node test harness (see netharness.h). */
#include "netharness.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/port.h"

const char *nh_cairnd;
static char tmpdir[256];
static pid_t started[64];
static int n_started;

static void kill_all(void)
{
    for (int i = 0; i < n_started; i++)
        if (started[i] > 0)
            kill(started[i], SIGKILL);
}

const char *nh_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-it-XXXXXX");
        if (!mkdtemp(tmpdir))
            abort();
        atexit(kill_all);
    }
    return tmpdir;
}

int nh_finish(int rv)
{
    if (rv == 0) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", nh_tmpdir());
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", nh_tmpdir());
    } else {
        fprintf(stderr, "node logs kept in %s\n", nh_tmpdir());
    }
    return rv;
}

void nh_pause(int ms)
{
    poll(NULL, 0, ms);
}

int nh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int nh_start(nh_node *n, const char *name, int plaintext, ...)
{
    char listen[64];
    const char *argv[64];
    int argc = 0;
    if (!n->port)
        n->port = nh_free_port();
    n->plaintext = plaintext;
    snprintf(n->dir, sizeof(n->dir), "%s/%s", nh_tmpdir(), name);
    snprintf(n->log, sizeof(n->log), "%s/%s.log", nh_tmpdir(), name);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", n->port);
    argv[argc++] = nh_cairnd;
    argv[argc++] = "--datadir";
    argv[argc++] = n->dir;
    argv[argc++] = "--listen";
    argv[argc++] = listen;
    argv[argc++] = "--log-level";
    argv[argc++] = "debug";
    if (plaintext)
        argv[argc++] = "--plaintext";
    va_list ap;
    va_start(ap, plaintext);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 62)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* the node dies with the test, even when the test is killed */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(n->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(nh_cairnd, (char *const *)argv);
        _exit(127);
    }
    n->pid = pid;
    if (n_started < 64)
        started[n_started++] = pid;
    /* ready when it answers a handshake */
    nh_view v;
    for (int i = 0; i < 100; i++) {
        if (nh_probe(n, &v) == 0)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            n->pid = 0;
            fprintf(stderr, "cairnd %s exited at start; see %s\n", name, n->log);
            return -1;
        }
        nh_pause(100);
    }
    return -1;
}

int nh_stop(nh_node *n)
{
    if (n->pid <= 0)
        return -1;
    kill(n->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            n->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        nh_pause(100);
    }
    nh_kill(n);
    return -1;
}

void nh_kill(nh_node *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGKILL);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
}

typedef struct probe_state {
    int ready;
    nh_view *v;
} probe_state;

static void probe_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    probe_state *ps = ud;
    ps->ready = 1;
    ps->v->height = p->tip_height;
    memcpy(ps->v->tip, p->tip_id, 32);
    memcpy(ps->v->node_id, p->node_id, 32);
    cairn_session_close(s, CAIRN_E_SHUTDOWN, "probe done");
}

int nh_probe(const nh_node *n, nh_view *v)
{
    static cairn_identity *id;
    static cairn_tls_ctx *tls;
    const cairn_env *env = cairn_port_env();
    if (!id && (cairn_identity_generate(&id, env) || cairn_tls_ctx_new(&tls, id, 0)))
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)n->port);
    int fd = cairn_net_connect((struct sockaddr *)&a, sizeof(a));
    if (fd < 0)
        return -1;
    struct pollfd pfd = {fd, POLLOUT, 0};
    if (poll(&pfd, 1, 2000) != 1 || cairn_net_connect_result(fd) != 0) {
        close(fd);
        return -1;
    }
    cairn_session_config cfg = {0};
    cfg.identity = id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[30] = 0x10;
    cfg.user_agent = "netharness";
    probe_state ps = {0, v};
    cairn_session_callbacks cb = {.on_ready = probe_ready};
    cairn_conn *c;
    if (cairn_conn_new(&c, fd, 1, n->plaintext ? NULL : tls, &cfg, &cb, &ps, env))
        return -1;
    uint64_t end = cairn_port_mono_ms() + 3000;
    while (cairn_conn_state(c) != CAIRN_CONN_DONE && cairn_port_mono_ms() < end)
        cairn_conn_poll(c, 50);
    cairn_conn_del(c);
    return ps.ready ? 0 : -1;
}

int nh_wait_height(const nh_node *n, uint64_t height, int timeout_ms, nh_view *v)
{
    uint64_t end = cairn_port_mono_ms() + (uint64_t)timeout_ms;
    do {
        if (nh_probe(n, v) == 0 && v->height >= height)
            return 0;
        nh_pause(100);
    } while (cairn_port_mono_ms() < end);
    return -1;
}

int nh_wait_agree(const nh_node *nodes, int count, uint64_t min_height, int timeout_ms, nh_view *v)
{
    uint64_t end = cairn_port_mono_ms() + (uint64_t)timeout_ms;
    do {
        nh_view first, other;
        int ok = nh_probe(&nodes[0], &first) == 0 && first.height >= min_height;
        for (int i = 1; ok && i < count; i++)
            ok = nh_probe(&nodes[i], &other) == 0 && memcmp(other.tip, first.tip, 32) == 0;
        if (ok) {
            *v = first;
            return 0;
        }
        nh_pause(100);
    } while (cairn_port_mono_ms() < end);
    return -1;
}

int nh_connect_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s = {0}, d = {0};
    s.sin_family = d.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
        connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}
