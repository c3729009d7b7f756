/*
 * Multi-node integration tests of cairnd on 127.0.0.1: sync over TLS,
 * restart, convergence of two groups, misbehaving peers, floods. Usage:
 * test_network PATH_TO_CAIRND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
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
#include "cairn/port.h"
#include "netharness.h"

static void test_three_nodes_sync_over_tls(void **state)
{
    (void)state;
    nh_node n[3] = {0};
    char peer_a[64], peer_b[64];
    assert_int_equal(nh_start(&n[0], "tls-a", 0, "--mine", "--mine-interval", "300", NULL), 0);
    snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%d", n[0].port);
    assert_int_equal(nh_start(&n[1], "tls-b", 0, "--peer", peer_a, NULL), 0);
    snprintf(peer_b, sizeof(peer_b), "127.0.0.1:%d", n[1].port);
    assert_int_equal(nh_start(&n[2], "tls-c", 0, "--peer", peer_b, NULL), 0);
    nh_view v;
    /* C only reaches A through B: blocks are relayed by announcement */
    assert_int_equal(nh_wait_agree(n, 3, 5, 30000, &v), 0);
    /* A restarted keeps its height */
    uint64_t h = v.height;
    assert_int_equal(nh_stop(&n[0]), 0);
    assert_int_equal(nh_start(&n[0], "tls-a", 0, NULL), 0);
    assert_int_equal(nh_probe(&n[0], &v), 0);
    assert_true(v.height >= h);
    for (int i = 0; i < 3; i++)
        assert_int_equal(nh_stop(&n[i]), 0);
}

static void test_groups_converge_on_most_work(void **state)
{
    (void)state;
    nh_node a = {0}, b = {0};
    nh_view va, vb;
    /* two groups mine apart: A faster than B */
    assert_int_equal(nh_start(&a, "grp-a", 1, "--mine", "--mine-interval", "100", NULL), 0);
    assert_int_equal(nh_start(&b, "grp-b", 1, "--mine", "--mine-interval", "400", NULL), 0);
    assert_int_equal(nh_wait_height(&a, 12, 30000, &va), 0);
    assert_int_equal(nh_wait_height(&b, 3, 30000, &vb), 0);
    assert_int_equal(nh_stop(&a), 0);
    assert_int_equal(nh_stop(&b), 0);
    assert_int_equal(nh_probe(&a, &va), -1); /* stopped */
    /* B alone is shorter; joined to A (which no longer mines), it reorganises */
    assert_int_equal(nh_start(&a, "grp-a", 1, NULL), 0);
    assert_int_equal(nh_probe(&a, &va), 0);
    char peer_a[64];
    snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%d", a.port);
    assert_int_equal(nh_start(&b, "grp-b", 1, "--peer", peer_a, NULL), 0);
    nh_node both[2] = {a, b};
    nh_view v;
    assert_int_equal(nh_wait_agree(both, 2, va.height, 30000, &v), 0);
    assert_memory_equal(v.tip, va.tip, 32);
    assert_int_equal(nh_stop(&a), 0);
    assert_int_equal(nh_stop(&b), 0);
}

/* A raw plaintext connection from a chosen loopback source address. */
static int raw_connect(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s = {0}, d = {0};
    s.sin_family = d.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
        connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Reads frames until the node closes; returns the code of the Error it sent
 * (0 when it closed without one, -1 on timeout). *hello receives the node's
 * Hello payload when given.
 */
static int read_error(int fd, int timeout_ms, uint8_t *hello, size_t *hello_len)
{
    static uint8_t buf[1 << 16];
    size_t have = 0;
    int code = -1;
    uint64_t end = cairn_port_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(end - cairn_port_mono_ms());
        if (left <= 0 || poll(&pfd, 1, left) != 1)
            return code;
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return code < 0 ? 0 : code;
        have += (size_t)n;
        size_t off = 0;
        while (have - off >= 8) {
            uint32_t len = cairn_get_u32(buf + off + 4);
            uint16_t type = cairn_get_u16(buf + off + 2);
            if (have - off < 8 + (size_t)len)
                break;
            if (type == CAIRN_T_HELLO && hello) {
                memcpy(hello, buf + off + 8, len);
                *hello_len = len;
                hello = NULL;
            }
            if (type == CAIRN_T_ERROR) {
                Cairn__V1__Error *e = cairn__v1__error__unpack(NULL, len, buf + off + 8);
                if (e) {
                    code = (int)e->code;
                    cairn__v1__error__free_unpacked(e, NULL);
                    if (!hello_len || !hello) /* got what we came for */
                        return code;
                }
            }
            off += 8 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

static void send_msg(int fd, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, cairn_port_mem());
    assert_int_equal(cairn_msg_encode_unchecked(cairn_msg_type_of(m), m, &b), 0);
    assert_int_equal(write(fd, cairn_buf_data(&b), b.len), (ssize_t)b.len);
    cairn_buf_free(&b);
}

static Cairn__V1__Hello make_hello(uint8_t *key, uint8_t *net, uint8_t *work)
{
    Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT;
    h.version = 1;
    h.network_id = (ProtobufCBinaryData){32, net};
    h.node_key = (ProtobufCBinaryData){32, key};
    h.tip_id = (ProtobufCBinaryData){32, net};
    h.total_work = (ProtobufCBinaryData){32, work};
    h.max_frame_size = CAIRN_FRAME_MAX_MIN;
    h.nonce = 77;
    return h;
}

/* An honest peer: a session that pings every 50 ms; counts pongs. */
typedef struct honest {
    cairn_conn *c;
    int ready, pongs;
} honest;

static void h_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    (void)p;
    ((honest *)ud)->ready = 1;
}

static void h_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)s;
    (void)m;
    if (type == CAIRN_T_PONG)
        ((honest *)ud)->pongs++;
}

static void honest_open(honest *h, int port)
{
    static cairn_identity *id;
    const cairn_env *env = cairn_port_env();
    if (!id)
        assert_int_equal(cairn_identity_generate(&id, env), 0);
    int fd = raw_connect(port, "127.0.0.9");
    assert_true(fd >= 0);
    cairn_session_config cfg = {0};
    cfg.identity = id;
    memcpy(cfg.network_id, cairn_network_devnet()->genesis_id, 32);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[30] = 0x10;
    static const cairn_session_callbacks cb = {.on_ready = h_ready, .on_message = h_message};
    memset(h, 0, sizeof(*h));
    assert_int_equal(cairn_conn_new(&h->c, fd, 1, NULL, &cfg, &cb, h, env), 0);
    for (int i = 0; i < 100 && !h->ready; i++)
        cairn_conn_poll(h->c, 20);
    assert_true(h->ready);
}

/* One ping round trip; returns 1 when the pong came back in time. */
static int honest_ping(honest *h)
{
    int before = h->pongs;
    if (cairn_session_ping(cairn_conn_session(h->c), NULL))
        return 0;
    for (int i = 0; i < 100 && h->pongs == before; i++)
        cairn_conn_poll(h->c, 20);
    return h->pongs > before;
}

static void test_misbehaving_peers(void **state)
{
    (void)state;
    nh_node n = {0};
    assert_int_equal(nh_start(&n, "misbehave", 1, NULL), 0);
    honest h;
    honest_open(&h, n.port);
    uint8_t key[32], net[32], work[32] = {0}, other[32];
    memset(key, 0x42, 32);
    memcpy(net, cairn_network_devnet()->genesis_id, 32);
    memset(other, 0x99, 32);
    work[30] = 0x10;

    /* garbage */
    int fd = raw_connect(n.port, "127.0.0.2");
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_BAD_MAGIC);
    close(fd);
    assert_true(honest_ping(&h));
    /* [MIS-10] the same address again: discouraged, but slots are free, so it
     * gets a session (garbage again ends it the same way) */
    fd = raw_connect(n.port, "127.0.0.2");
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_BAD_MAGIC);
    close(fd);

    /* an oversized frame header */
    fd = raw_connect(n.port, "127.0.0.3");
    uint8_t hdr[8];
    cairn_frame_header_encode(hdr, CAIRN_T_HELLO, 100000);
    assert_int_equal(write(fd, hdr, 8), 8);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_FRAME_TOO_LARGE);
    close(fd);
    assert_true(honest_ping(&h));

    /* an early message: Ping before Hello */
    fd = raw_connect(n.port, "127.0.0.4");
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    send_msg(fd, &ping.base);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_UNEXPECTED_MESSAGE);
    close(fd);

    /* the wrong network */
    fd = raw_connect(n.port, "127.0.0.5");
    Cairn__V1__Hello hello = make_hello(key, other, work);
    send_msg(fd, &hello.base);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_WRONG_NETWORK);
    close(fd);
    assert_true(honest_ping(&h));

    /* a bad signature */
    fd = raw_connect(n.port, "127.0.0.6");
    hello = make_hello(key, net, work);
    send_msg(fd, &hello.base);
    uint8_t sig[64] = {1};
    Cairn__V1__Auth auth = CAIRN__V1__AUTH__INIT;
    auth.signature = (ProtobufCBinaryData){64, sig};
    send_msg(fd, &auth.base);
    assert_int_equal(read_error(fd, 5000, NULL, NULL), CAIRN_E_BAD_SIGNATURE);
    close(fd);

    /* the honest peer was never disturbed */
    for (int i = 0; i < 5; i++)
        assert_true(honest_ping(&h));
    assert_int_equal(cairn_session_state(cairn_conn_session(h.c)), CAIRN_SS_READY);
    cairn_conn_del(h.c);
    assert_int_equal(nh_stop(&n), 0);
}

static void test_flood_does_not_stop_sync(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
    nh_node miner = {0}, victim = {0};
    assert_int_equal(nh_start(&miner, "flood-m", 1, "--mine", "--mine-interval", "200", NULL), 0);
    char peer_m[64];
    snprintf(peer_m, sizeof(peer_m), "127.0.0.1:%d", miner.port);
    assert_int_equal(
        nh_start(&victim, "flood-v", 1, "--peer", peer_m, "--handshake-timeout-ms", "3000", NULL),
        0);
    honest h;
    honest_open(&h, victim.port);

    /* 500 idle connections from 500 loopback addresses */
    enum { IDLE = 500, SLOW = 40 };
    static int idle[IDLE], slow[SLOW];
    int opened = 0;
    for (int i = 0; i < IDLE; i++) {
        char src[32];
        snprintf(src, sizeof(src), "127.0.%d.%d", 10 + i / 200, 1 + i % 200);
        idle[i] = raw_connect(victim.port, src);
        opened += idle[i] >= 0;
    }
    assert_true(opened > IDLE * 9 / 10);
    /* and a slow-handshake flood: one byte of a Hello every 100 ms */
    for (int i = 0; i < SLOW; i++) {
        char src[32];
        snprintf(src, sizeof(src), "127.0.20.%d", 1 + i);
        slow[i] = raw_connect(victim.port, src);
    }
    nh_view vm, vv;
    assert_int_equal(nh_probe(&miner, &vm), 0);
    uint64_t target = vm.height + 10;
    uint64_t end = cairn_port_mono_ms() + 30000;
    int synced = 0;
    while (!synced && cairn_port_mono_ms() < end) {
        for (int i = 0; i < SLOW; i++)
            if (slow[i] >= 0 && write(slow[i], "\xca", 1) < 0) {
                close(slow[i]);
                slow[i] = -1;
            }
        assert_true(honest_ping(&h)); /* the honest inbound peer keeps its pongs */
        nh_pause(100);
        /* the victim's outbound sync keeps following the miner */
        synced = nh_probe(&miner, &vm) == 0 && vm.height >= target &&
                 nh_wait_height(&victim, target, 1, &vv) == 0;
    }
    assert_true(synced);
    for (int i = 0; i < IDLE; i++)
        if (idle[i] >= 0)
            close(idle[i]);
    for (int i = 0; i < SLOW; i++)
        if (slow[i] >= 0)
            close(slow[i]);
    cairn_conn_del(h.c);
    assert_int_equal(nh_stop(&victim), 0);
    assert_int_equal(nh_stop(&miner), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_network PATH_TO_CAIRND\n");
        return 2;
    }
    nh_cairnd = argv[1];
    signal(SIGPIPE, SIG_IGN); /* the flood writes to sockets the node has closed */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_nodes_sync_over_tls),
        cmocka_unit_test(test_groups_converge_on_most_work),
        cmocka_unit_test(test_misbehaving_peers),
        cmocka_unit_test(test_flood_does_not_stop_sync),
    };
    return nh_finish(cmocka_run_group_tests_name("network", tests, NULL, NULL));
}
