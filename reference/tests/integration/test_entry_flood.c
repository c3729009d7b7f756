/*
 * The entry flood of spec §10.4 on 127.0.0.1: four authenticated peers
 * submit distinct 64 KiB entries as fast as the node answers, and while
 * they do, an honest `cairn submit --wait` must be acknowledged and its
 * entry mined ([REL-18], [REL-19], [REL-22], [REL-26]). The flood must
 * really be one: each flooder gets entries accepted and then RATE_LIMITED
 * answers. Usage: test_entry_flood PATH_TO_CAIRND PATH_TO_CAIRN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/chain.h"
#include "cairn/port.h"
#include "netharness.h"

static const char *cairn_cli;

enum { FLOODERS = 4, ENTRY_LEN = CAIRN_ENTRY_MAX_LEN };

typedef struct flooder {
    cairn_conn *c;
    cairn_identity *id;
    int ready;
    uint32_t next; /* distinct entries: flooder index and counter in the data */
    unsigned acks, busy, limited, other;
} flooder;

static void f_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ((flooder *)ud)->ready = 1;
}

static void f_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    flooder *f = ud;
    if (type == CAIRN_T_ENTRY_ACK) {
        f->acks++;
    } else if (type == CAIRN_T_ERROR) {
        uint32_t code = ((const Cairn__V1__Error *)m)->code;
        if (code == CAIRN_E_BUSY)
            f->busy++;
        else if (code == CAIRN_E_RATE_LIMITED)
            f->limited++;
        else
            f->other++;
    }
}

static void flooder_open(flooder *f, int port, int index)
{
    static const cairn_session_callbacks cb = {.on_ready = f_ready, .on_message = f_message};
    const cairn_env *env = cairn_port_env();
    memset(f, 0, sizeof(*f));
    assert_int_equal(cairn_identity_generate(&f->id, env), 0);
    char src[32];
    snprintf(src, sizeof(src), "127.0.%d.%d", 31, 1 + index); /* DISC-15: one per address */
    int fd = nh_connect_from(port, src);
    assert_true(fd >= 0);
    cairn_session_config cfg = {0};
    cfg.identity = f->id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[31] = 1;
    assert_int_equal(cairn_conn_new(&f->c, fd, 1, NULL, &cfg, &cb, f, env), 0);
    for (int i = 0; i < 200 && !f->ready; i++)
        cairn_conn_poll(f->c, 20);
    assert_true(f->ready);
    f->next = (uint32_t)index << 24;
}

/* Keeps the flooder's request window full of new distinct entries. */
static void flooder_push(flooder *f, uint8_t *entry)
{
    cairn_session *s = cairn_conn_session(f->c);
    while (cairn_session_state(s) == CAIRN_SS_READY && cairn_session_in_flight(s) < 64) {
        cairn_put_u32(entry + 1, f->next++);
        Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
        se.entry = (ProtobufCBinaryData){ENTRY_LEN, entry};
        if (cairn_session_request(s, &se.base, NULL))
            break;
    }
    cairn_conn_poll(f->c, 0);
}

static pid_t spawn_submit(int port, const char *out)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out, "w", stdout))
            _exit(126);
        execl(cairn_cli, cairn_cli, "submit", addr, "--plaintext", "--data", "an honest entry",
              "--wait", "--timeout", "40", "--json", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_honest_submit_during_flood(void **state)
{
    (void)state;
    nh_node n = {0};
    assert_int_equal(nh_start(&n, "entry-flood", 1, "--mine", "--mine-interval", "4000", NULL), 0);
    static flooder f[FLOODERS];
    static uint8_t entry[ENTRY_LEN];
    entry[0] = CAIRN_ENTRY_DATA;
    for (int i = 0; i < FLOODERS; i++)
        flooder_open(&f[i], n.port, i);

    /* Flood long enough that, without shares and rates, the 32 MiB pool would
     * be full and the honest entry would queue behind hundreds of others: a
     * block of 2 MiB every 4 s drains far less than the flooders offer. */
    uint64_t start = cairn_port_mono_ms();
    while (cairn_port_mono_ms() < start + 12000)
        for (int i = 0; i < FLOODERS; i++)
            flooder_push(&f[i], entry);
    char out[400];
    snprintf(out, sizeof(out), "%s/submit.json", nh_tmpdir());
    pid_t pid = spawn_submit(n.port, out);
    assert_true(pid > 0);
    int status = -1;
    uint64_t end = cairn_port_mono_ms() + 60000;
    while (cairn_port_mono_ms() < end) {
        for (int i = 0; i < FLOODERS; i++)
            flooder_push(&f[i], entry);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    if (cairn_port_mono_ms() >= end) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    /* the honest client's entry was acknowledged and mined during the flood */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unsigned acks = 0, limited = 0;
    for (int i = 0; i < FLOODERS; i++) {
        fprintf(stderr, "flooder %d: %u acknowledged, %u BUSY, %u RATE_LIMITED, %u other\n", i,
                f[i].acks, f[i].busy, f[i].limited, f[i].other);
        /* the flood was real, every flooder kept its session and was slowed */
        assert_int_equal(cairn_session_state(cairn_conn_session(f[i].c)), CAIRN_SS_READY);
        assert_true(f[i].acks >= 16);
        assert_true(f[i].limited > 0);
        assert_int_equal(f[i].other, 0);
        acks += f[i].acks;
        limited += f[i].limited;
    }
    fprintf(stderr, "flood: %u entries accepted, %u RATE_LIMITED\n", acks, limited);
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    char buf[1024] = {0};
    size_t got = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    assert_true(got > 0);
    assert_non_null(strstr(buf, "\"block_id\""));
    for (int i = 0; i < FLOODERS; i++) {
        cairn_conn_del(f[i].c);
        cairn_identity_del(f[i].id);
    }
    assert_int_equal(nh_stop(&n), 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_entry_flood PATH_TO_CAIRND PATH_TO_CAIRN\n");
        return 2;
    }
    nh_cairnd = argv[1];
    cairn_cli = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_submit_during_flood),
    };
    return nh_finish(cmocka_run_group_tests_name("entry_flood", tests, NULL, NULL));
}
