/*
 * Consensus under attack, on 127.0.0.1 (spec §9.5, §9.7, §10.1, §14.6):
 * nodes with skewed clocks (libfaketime) follow a miner whose clock runs
 * ahead. Usage: test_consensus PATH_TO_CAIRND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/port.h"
#include "netharness.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

/* Starts a node whose clock is off by `offset` (libfaketime syntax, e.g. "+100s"). */
static int start_skewed(nh_node *n, const char *name, const char *offset, const char *a1,
                        const char *a2, const char *a3)
{
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL, opts[512];
    /* ASan wants its runtime first; libfaketime comes before it here. */
    snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", offset, 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    int rv = nh_start(n, name, 1, a1, a2, a3, NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    if (saved) {
        setenv("ASAN_OPTIONS", saved, 1);
        free(saved);
    } else {
        unsetenv("ASAN_OPTIONS");
    }
    return rv;
}

/* Lines of a node's log that contain `what`. */
static int log_count(const nh_node *n, const char *what)
{
    FILE *f = fopen(n->log, "r");
    char line[1024];
    int k = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        k += strstr(line, what) != NULL;
    fclose(f);
    return k;
}

/*
 * [VAL-65..VAL-69] A miner 100 s ahead, followers at 0 and -30 s: the one
 * 130 s behind the miner's clock defers each new header for about 10 s
 * instead of closing, so both follow the miner while it keeps mining, over
 * one session each.
 */
static void test_skewed_clocks_converge(void **state)
{
    (void)state;
    if (access(FAKETIME_LIB, R_OK) != 0)
        skip(); /* scripts/deps installs faketime */
    nh_node m = {0}, f0 = {0}, f1 = {0};
    char peer_m[64];
    assert_int_equal(start_skewed(&m, "skew-miner", "+100s", "--mine", "--mine-interval", "400"),
                     0);
    snprintf(peer_m, sizeof(peer_m), "127.0.0.1:%d", m.port);
    assert_int_equal(nh_start(&f0, "skew-f0", 1, "--peer", peer_m, NULL), 0);
    assert_int_equal(start_skewed(&f1, "skew-f1", "-30s", "--peer", peer_m, NULL), 0);
    nh_view vm, v0, v1;
    assert_int_equal(nh_wait_height(&m, 3, 30000, &vm), 0);
    uint64_t target = vm.height + 30; /* blocks mined while the followers run */
    uint64_t end = cairn_port_mono_ms() + 90000;
    int done = 0;
    while (!done && cairn_port_mono_ms() < end) {
        nh_pause(500);
        done = nh_probe(&f0, &v0) == 0 && nh_probe(&f1, &v1) == 0 && v0.height >= target &&
               v1.height >= target;
    }
    assert_true(done);
    assert_int_equal(nh_probe(&m, &vm), 0);
    assert_true(vm.height > target); /* it kept mining */
    /* the slow follower really met headers too new for its clock, held them,
     * and never lost its session to the miner over it */
    assert_true(log_count(&f1, "ahead of the clock: held") >= 1);
    assert_int_equal(log_count(&f1, "TIME_TOO_NEW"), 0);
    assert_int_equal(log_count(&f1, ": ready, outbound"), 1);
    assert_int_equal(log_count(&f0, ": ready, outbound"), 1);
    assert_int_equal(nh_stop(&f1), 0);
    assert_int_equal(nh_stop(&f0), 0);
    assert_int_equal(nh_stop(&m), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_consensus PATH_TO_CAIRND\n");
        return 2;
    }
    nh_cairnd = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skewed_clocks_converge),
    };
    int rv = cmocka_run_group_tests_name("consensus", tests, NULL, NULL);
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
