/*
 * Running programs from tests: capture a command's output with a time limit,
 * and start a long-running process (cairnd) that dies with the test.
 */
#ifndef CAIRN_TEST_CLI_PROC_H
#define CAIRN_TEST_CLI_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct proc_result {
    int status; /* exit code; -1 when killed (the time limit) or not run */
    char *out;  /* stdout, NUL-terminated (free) */
    char *err;  /* stderr, NUL-terminated (free) */
    long ms;    /* wall time */
} proc_result;

static inline long proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void proc_result_free(proc_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static inline int proc_append(char **buf, size_t *len, int fd)
{
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n <= 0)
        return n == 0 || (errno != EAGAIN && errno != EINTR) ? 0 : 1;
    char *nb = realloc(*buf, *len + (size_t)n + 1);
    if (!nb)
        return 0;
    memcpy(nb + *len, tmp, (size_t)n);
    *len += (size_t)n;
    nb[*len] = '\0';
    *buf = nb;
    return 1;
}

/* Runs argv (argv[0] a path) with stdin from /dev/null; kills it after
 * limit_ms. Returns r->status. */
static inline int proc_run(char *const argv[], int limit_ms, proc_result *r)
{
    int po[2], pe[2];
    memset(r, 0, sizeof(*r));
    r->status = -1;
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (pipe(po) || pipe(pe))
        return -1;
    long t0 = proc_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], argv);
        _exit(126);
    }
    close(po[1]);
    close(pe[1]);
    size_t lo = 0, le = 0;
    int open_o = 1, open_e = 1, killed = 0;
    while (open_o || open_e) {
        long left = limit_ms - (proc_now_ms() - t0);
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        struct pollfd p[2] = {{open_o ? po[0] : -1, POLLIN, 0}, {open_e ? pe[0] : -1, POLLIN, 0}};
        if (poll(p, 2, left > 0 ? (int)(left < 100 ? left : 100) : 100) <= 0)
            continue;
        if (p[0].revents)
            open_o = proc_append(&r->out, &lo, po[0]);
        if (p[1].revents)
            open_e = proc_append(&r->err, &le, pe[0]);
    }
    close(po[0]);
    close(pe[0]);
    int st;
    waitpid(pid, &st, 0);
    r->ms = proc_now_ms() - t0;
    r->status = !killed && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r->status;
}

/* Starts argv in the background, output to `log`; it gets SIGKILL if the
 * test process dies first (PR_SET_PDEATHSIG). Returns the pid or -1. */
static inline pid_t proc_spawn(char *const argv[], const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(126);
    }
    return pid;
}

/* SIGTERM, up to `grace_ms` for it to exit, then SIGKILL. Returns the exit
 * status, or -1 when it had to be killed. */
static inline int proc_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    long t0 = proc_now_ms();
    int st;
    while (proc_now_ms() - t0 < grace_ms) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        poll(NULL, 0, 20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

#endif
