/* net: plaintext and TLS 1.3 connections over loopback, end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include "cairn/net.h"
#include "cairn/port.h"
#include "../net/tls_internal.h"

typedef struct peer {
    cairn_identity *id;
    cairn_conn *c;
    int ready;
    uint16_t last;
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
    (void)m;
    ((peer *)ud)->last = type;
}

static const cairn_session_callbacks cbs = {.on_ready = on_ready, .on_message = on_message};

static void run_pair(int use_tls)
{
    const cairn_env *env = cairn_port_env();
    peer a = {0}, b = {0};
    uint8_t seed[32];
    memset(seed, 1, 32);
    assert_int_equal(cairn_identity_from_seed(&a.id, seed), 0);
    memset(seed, 2, 32);
    assert_int_equal(cairn_identity_from_seed(&b.id, seed), 0);
    cairn_tls_ctx *ctx_c = NULL, *ctx_s = NULL;
    if (use_tls) {
        assert_int_equal(cairn_tls_ctx_new(&ctx_c, a.id, 0), 0);
        assert_int_equal(cairn_tls_ctx_new(&ctx_s, b.id, 1), 0);
    }
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(cairn_net_parse_addr("127.0.0.1:0", &ss, &len), 0);
    int lfd = cairn_net_listen((struct sockaddr *)&ss, len, 8);
    assert_true(lfd >= 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", cairn_net_local_port(lfd));
    assert_int_equal(cairn_net_parse_addr(addr, &ss, &len), 0);
    int cfd = cairn_net_connect((struct sockaddr *)&ss, len);
    assert_true(cfd >= 0);
    int sfd = -1;
    for (int i = 0; i < 200 && sfd < 0; i++) {
        sfd = cairn_net_accept(lfd, NULL, NULL);
        if (sfd < 0)
            poll(NULL, 0, 5);
    }
    assert_true(sfd >= 0);
    close(lfd);
    cairn_session_config cfg = {0};
    memset(cfg.network_id, 7, 32);
    cfg.identity = a.id;
    assert_int_equal(cairn_conn_new(&a.c, cfd, 1, ctx_c, &cfg, &cbs, &a, env), 0);
    cfg.identity = b.id;
    assert_int_equal(cairn_conn_new(&b.c, sfd, 0, ctx_s, &cfg, &cbs, &b, env), 0);
    for (int i = 0; i < 400 && !(a.ready && b.ready); i++) {
        cairn_conn_poll(a.c, 5);
        cairn_conn_poll(b.c, 5);
    }
    assert_true(a.ready && b.ready);
    uint64_t nonce;
    assert_int_equal(cairn_session_ping(cairn_conn_session(a.c), &nonce), 0);
    for (int i = 0; i < 400 && a.last != CAIRN_T_PONG; i++) {
        cairn_conn_poll(a.c, 5);
        cairn_conn_poll(b.c, 5);
    }
    assert_int_equal(a.last, CAIRN_T_PONG);
    /* a close with an Error reaches the other side, then both sockets end */
    cairn_session_close(cairn_conn_session(a.c), CAIRN_E_SHUTDOWN, "test done");
    for (int i = 0; i < 400 && cairn_conn_state(b.c) != CAIRN_CONN_DONE; i++) {
        cairn_conn_poll(a.c, 5);
        cairn_conn_poll(b.c, 5);
    }
    assert_int_equal(cairn_conn_state(a.c), CAIRN_CONN_DONE);
    assert_int_equal(cairn_conn_state(b.c), CAIRN_CONN_DONE);
    const cairn_close_info *ci = cairn_session_close_info(cairn_conn_session(b.c));
    assert_non_null(ci);
    assert_int_equal(ci->code, CAIRN_E_SHUTDOWN);
    cairn_conn_del(a.c);
    cairn_conn_del(b.c);
    cairn_tls_ctx_del(ctx_c);
    cairn_tls_ctx_del(ctx_s);
    cairn_identity_del(a.id);
    cairn_identity_del(b.id);
}

/* [SEC-11] A TLS client that sends one byte per record (a Hello header, then
 * its payload byte by byte) is closed with PROTOCOL_VIOLATION after one window
 * of 1024 records, before the frame is even complete. */
static void test_tiny_records_closed(void **state)
{
    (void)state;
    const cairn_env *env = cairn_port_env();
    peer b = {0};
    cairn_identity *cid;
    uint8_t seed[32];
    memset(seed, 3, 32);
    assert_int_equal(cairn_identity_from_seed(&cid, seed), 0);
    memset(seed, 4, 32);
    assert_int_equal(cairn_identity_from_seed(&b.id, seed), 0);
    cairn_tls_ctx *ctx_c = NULL, *ctx_s = NULL;
    assert_int_equal(cairn_tls_ctx_new(&ctx_c, cid, 0), 0);
    assert_int_equal(cairn_tls_ctx_new(&ctx_s, b.id, 1), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cairn_session_config cfg = {0};
    memset(cfg.network_id, 7, 32);
    cfg.identity = b.id;
    assert_int_equal(cairn_conn_new(&b.c, sv[1], 0, ctx_s, &cfg, &cbs, &b, env), 0);
    SSL *ssl = SSL_new(ctx_c->ssl_ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, sv[0]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    int r = 0;
    for (int i = 0; i < 400 && (r = SSL_connect(ssl)) != 1; i++)
        cairn_conn_poll(b.c, 5);
    assert_int_equal(r, 1);
    uint8_t frame[8 + 1024] = {0xca, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x04, 0x00}; /* Hello, 1024 */
    size_t sent = 0;
    for (int i = 0; i < 20000 && sent < sizeof(frame) && cairn_conn_state(b.c) != CAIRN_CONN_DONE;
         i++) {
        if (SSL_write(ssl, frame + sent, 1) == 1) /* one record each */
            sent++;
        if (i % 16 == 0)
            cairn_conn_poll(b.c, 0);
        char sink[4096];
        while (SSL_read(ssl, sink, sizeof(sink)) > 0) {
        }
    }
    for (int i = 0; i < 400 && cairn_conn_state(b.c) != CAIRN_CONN_DONE; i++) {
        cairn_conn_poll(b.c, 5);
        char sink[4096];
        while (SSL_read(ssl, sink, sizeof(sink)) > 0) {
        }
    }
    const cairn_close_info *ci = cairn_session_close_info(cairn_conn_session(b.c));
    assert_non_null(ci);
    assert_int_equal(ci->code, CAIRN_E_PROTOCOL_VIOLATION);
    assert_false(ci->by_peer);
    assert_true(sent < sizeof(frame)); /* closed before the frame was complete */
    SSL_free(ssl);
    close(sv[0]);
    cairn_conn_del(b.c);
    cairn_tls_ctx_del(ctx_c);
    cairn_tls_ctx_del(ctx_s);
    cairn_identity_del(cid);
    cairn_identity_del(b.id);
}

static void test_plaintext(void **state)
{
    (void)state;
    run_pair(0);
}

static void test_tls(void **state)
{
    (void)state;
    run_pair(1);
}

static void test_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len;
    char buf[64];
    assert_int_equal(cairn_net_parse_addr("127.0.0.1:7317", &ss, &len), 0);
    cairn_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:7317");
    assert_int_equal(cairn_net_parse_addr("[::1]:80", &ss, &len), 0);
    cairn_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:80");
    assert_int_equal(cairn_net_parse_addr("localhost:1", &ss, &len), 0);
    assert_int_equal(cairn_net_parse_addr("127.0.0.1", &ss, &len), -1);
    assert_int_equal(cairn_net_parse_addr("127.0.0.1:70000", &ss, &len), -1);
    assert_int_equal(cairn_net_parse_addr("example.com:1", &ss, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_plaintext),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_tiny_records_closed),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
