/*
 * Admission and discouragement against real cairnd processes on loopback
 * (spec §12.3, §12.4, §13.1): attacker sockets are bound to 127.0.1.x source
 * addresses so that they stand for many hosts. Every wait is bounded; the
 * assertions are about behaviour, never about time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cairn/port.h"
#include "netharness.h"

extern char **environ;
static const char *cairn_cli;
static int flood_seconds = 20;

static int raw_connect(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in s = {0}, d = {0};
    s.sin_family = d.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
        (connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends garbage from `src` and waits (bounded) for the node to close. */
static void misbehave_from(int port, const char *src)
{
    int fd = raw_connect(port, src);
    assert_true(fd >= 0);
    struct pollfd w = {fd, POLLOUT, 0};
    assert_int_equal(poll(&w, 1, 5000), 1);
    assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    char buf[512];
    for (int i = 0; i < 50; i++) {
        struct pollfd r = {fd, POLLIN, 0};
        if (poll(&r, 1, 100) == 1 && read(fd, buf, sizeof(buf)) <= 0)
            break;
    }
    close(fd);
}

/* `cairn ARGS...` started in the background, its output discarded. */
static pid_t cli_spawn(const char *first, ...)
{
    const char *argv[16];
    int argc = 0;
    argv[argc++] = cairn_cli;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rv = posix_spawn(&pid, cairn_cli, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rv == 0 ? pid : -1;
}

static int cli_status(pid_t pid)
{
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cli_ping(const nh_node *n)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", n->port);
    return cli_status(cli_spawn("ping", addr, "--count", "1", "--timeout", "5",
                                n->plaintext ? "--plaintext" : NULL, NULL));
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int k = 0;
    while (fgets(line, sizeof(line), f))
        k += strstr(line, needle) != NULL;
    fclose(f);
    return k;
}

/*
 * [MIS-10] [MIS-12] [MIS-13] One malformed frame from 127.0.0.1 locks nobody
 * out: `cairn ping` from 127.0.0.1 still works, a node's configured --peer on
 * 127.0.0.1 is dialled again after it restarts, and the discouragement
 * survives the restart.
 */
static void test_discouraged_host_not_locked_out(void **state)
{
    (void)state;
    nh_node a = {0}, b = {0};
    assert_int_equal(nh_start(&a, "lock-a", 1, "--mine", "--mine-interval", "200", NULL), 0);
    char peer_a[64];
    snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%d", a.port);
    assert_int_equal(nh_start(&b, "lock-b", 1, "--peer", peer_a, NULL), 0);
    nh_view va, vb;
    assert_int_equal(nh_wait_height(&a, 3, 30000, &va), 0);
    assert_int_equal(nh_wait_height(&b, 3, 30000, &vb), 0);

    misbehave_from(a.port, "127.0.0.1");
    misbehave_from(b.port, "127.0.0.1");
    assert_true(count_lines(a.log, "discouraged for") >= 1);
    assert_true(count_lines(b.log, "discouraged for") >= 1);
    assert_int_equal(cli_ping(&a), 0); /* a free slot: the address gets in */
    assert_int_equal(cli_ping(&b), 0);

    /* A goes away and comes back: B dials its configured peer again, although
     * B discouraged that address */
    int dials = count_lines(b.log, "ready, outbound to");
    assert_true(dials >= 1);
    assert_int_equal(nh_stop(&a), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/discouraged.txt", a.dir);
    assert_true(count_lines(path, "00000000000000000000ffff7f000001 - ") == 1);
    assert_int_equal(nh_start(&a, "lock-a", 1, "--mine", "--mine-interval", "200", NULL), 0);
    int redialled = 0;
    for (int i = 0; i < 300 && !redialled; i++) {
        redialled = count_lines(b.log, "ready, outbound to") > dials;
        nh_pause(100);
    }
    assert_true(redialled);
    assert_int_equal(nh_probe(&a, &va), 0);
    assert_int_equal(nh_wait_height(&b, va.height + 2, 30000, &vb), 0);
    /* the restarted node remembers the discouragement, and still lets it in */
    assert_true(count_lines(a.log, "discouragement: 1 entries") >= 1);
    assert_int_equal(cli_ping(&a), 0);
    assert_int_equal(nh_stop(&b), 0);
    assert_int_equal(nh_stop(&a), 0);
}

/*
 * [ADM-3] [ADM-5] Silent connections from 30 addresses, 4 each (the
 * per-address cap), reopened as soon as the node closes them: honest
 * `cairn ping`s from 127.0.0.1, once a second, still get in.
 */
static void test_slot_flood_from_many_addresses(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
    nh_node v = {0};
    assert_int_equal(nh_start(&v, "flood", 0, NULL), 0);
    enum { ADDRS = 30, PER = 4, SOCKS = ADDRS * PER };
    static int fd[SOCKS];
    char src[SOCKS][32];
    for (int i = 0; i < SOCKS; i++) {
        snprintf(src[i], sizeof(src[i]), "127.0.1.%d", 1 + i / PER);
        fd[i] = raw_connect(v.port, src[i]);
    }
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", v.port);
    int pings = 0, ok = 0, n_run = 0;
    long reopened = 0;
    pid_t run[64];
    uint64_t start = cairn_port_mono_ms(), next_ping = start + 1000;
    while (cairn_port_mono_ms() < start + (uint64_t)flood_seconds * 1000) {
        struct pollfd p[SOCKS];
        for (int i = 0; i < SOCKS; i++)
            p[i] = (struct pollfd){fd[i], POLLIN, 0};
        poll(p, SOCKS, 50);
        for (int i = 0; i < SOCKS; i++) /* closed by the node: open another at once */
            if (fd[i] < 0 || (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                if (fd[i] >= 0)
                    close(fd[i]);
                fd[i] = raw_connect(v.port, src[i]);
                reopened++;
            }
        for (int i = 0; i < n_run; i++) { /* pings that finished */
            int st;
            if (waitpid(run[i], &st, WNOHANG) == run[i]) {
                ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
                run[i--] = run[--n_run];
            }
        }
        if (cairn_port_mono_ms() >= next_ping && n_run < 64) {
            next_ping += 1000;
            if ((run[n_run] = cli_spawn("ping", addr, "--count", "1", NULL)) > 0)
                n_run++;
            pings++;
        }
    }
    for (int i = 0; i < n_run; i++)
        ok += cli_status(run[i]) == 0;
    for (int i = 0; i < SOCKS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    fprintf(stderr, "# slot flood: %d of %d honest pings succeeded; %ld attacker reconnects\n", ok,
            pings, reopened);
    assert_true(pings >= flood_seconds - 1);
    assert_true(ok * 10 >= pings * 9);
    assert_true(reopened >= SOCKS); /* the node did close attacker connections */
    assert_true(count_lines(v.log, "evicted (") >= 1);
    assert_int_equal(nh_stop(&v), 0);
}

static void hex_id(char out[65], const uint8_t id[32])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/*
 * [ADDR-3] A relay between two nodes that know each other's IDs: M accepts
 * both nodes' connections and answers as itself (the relaying man-in-the-middle
 * of spec §14.2 that terminates each leg). A and B each dial M believing it is
 * the other, and each refuses it with WRONG_NODE_ID; neither reaches READY
 * with M. The same IDs at the right addresses connect.
 */
static void test_relay_refused_by_node_id(void **state)
{
    (void)state;
    nh_node a = {0}, b = {0}, m = {0};
    nh_view va, vb;
    assert_int_equal(nh_start(&a, "relay-a", 0, NULL), 0);
    assert_int_equal(nh_start(&b, "relay-b", 0, NULL), 0);
    /* M never dials A or B itself (--outbound 0): what A gets, it gets through the relay */
    assert_int_equal(
        nh_start(&m, "relay-m", 0, "--mine", "--mine-interval", "200", "--outbound", "0", NULL), 0);
    assert_int_equal(nh_probe(&a, &va), 0);
    assert_int_equal(nh_probe(&b, &vb), 0);
    assert_int_equal(nh_stop(&a), 0);
    assert_int_equal(nh_stop(&b), 0);
    char ida[65], idb[65], a_via_m[160], b_via_m[160];
    hex_id(ida, va.node_id);
    hex_id(idb, vb.node_id);
    snprintf(a_via_m, sizeof(a_via_m), "%s@127.0.0.1:%d", ida, m.port);
    snprintf(b_via_m, sizeof(b_via_m), "%s@127.0.0.1:%d", idb, m.port);
    assert_int_equal(nh_start(&a, "relay-a", 0, "--peer", b_via_m, NULL), 0);
    assert_int_equal(nh_start(&b, "relay-b", 0, "--peer", a_via_m, NULL), 0);
    int refused = 0;
    for (int i = 0; i < 200 && !refused; i++) {
        refused =
            count_lines(a.log, "WRONG_NODE_ID") >= 2 && count_lines(b.log, "WRONG_NODE_ID") >= 2;
        nh_pause(100);
    }
    assert_true(refused); /* refused, and refused again when re-dialled */
    assert_int_equal(count_lines(a.log, "ready, outbound to"), 0);
    assert_int_equal(count_lines(b.log, "ready, outbound to"), 0);
    assert_int_equal(nh_probe(&m, &vb), 0);
    assert_true(vb.height >= 1);
    assert_int_equal(nh_probe(&a, &va), 0);
    assert_int_equal(va.height, 0); /* nothing came through the relay */

    /* the relay is not M's fault in the sense of misbehaviour: nobody discouraged it */
    assert_int_equal(count_lines(a.log, "discouraged for"), 0);
    /* and the right node at the right address is welcome */
    assert_int_equal(nh_stop(&b), 0);
    char b_direct[160];
    assert_int_equal(nh_probe(&m, &vb), 0);
    hex_id(idb, vb.node_id);
    snprintf(b_direct, sizeof(b_direct), "%s@127.0.0.1:%d", idb, m.port);
    assert_int_equal(nh_start(&b, "relay-b2", 0, "--peer", b_direct, NULL), 0);
    assert_int_equal(nh_wait_height(&b, 1, 30000, &vb), 0);
    assert_int_equal(nh_stop(&b), 0);
    assert_int_equal(nh_stop(&a), 0);
    assert_int_equal(nh_stop(&m), 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_admission PATH_TO_CAIRND PATH_TO_CAIRN [FLOOD_SECONDS]\n");
        return 2;
    }
    nh_cairnd = argv[1];
    cairn_cli = argv[2];
    if (argc > 3)
        flood_seconds = atoi(argv[3]) > 0 ? atoi(argv[3]) : 20;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discouraged_host_not_locked_out),
        cmocka_unit_test(test_slot_flood_from_many_addresses),
        cmocka_unit_test(test_relay_refused_by_node_id),
    };
    return nh_finish(cmocka_run_group_tests_name("admission", tests, NULL, NULL));
}
