/* cairn_client against an in-process node: handshake, requests, the
 * requester's checks, failures in words, deadlines. Plaintext and TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>

#include "cairn/port.h"
#include "client.h"
#include "fake_node.h"

static int use_tls;

static fake_node *start(int behaviour, const cairn_network *net, int blocks)
{
    fake_node *n;
    fake_node_config cfg = {.net = net, .tls = use_tls, .behaviour = behaviour, .blocks = blocks};
    assert_int_equal(fake_node_start(&n, &cfg), 0);
    return n;
}

static int announces;

static void count_announces(uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)m;
    (void)ud;
    announces += type == CAIRN_T_ANNOUNCE;
}

static cairn_client *open_ok(fake_node *n)
{
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n),
                               .plaintext = !use_tls,
                               .timeout_ms = 5000,
                               .on_notify = count_announces};
    announces = 0;
    int rv = cairn_client_open(&c, &cfg);
    if (rv)
        fprintf(stderr, "open: %s\n", cairn_client_last_error(c)->text);
    assert_int_equal(rv, 0);
    return c;
}

static int get_block(cairn_client *c, uint64_t height, cairn_client_response *r)
{
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    gb.height = height;
    return cairn_client_request(c, &gb.base, r);
}

static void test_handshake_and_ping(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, NULL, 4);
    cairn_client *c = open_ok(n);
    const cairn_peer_info *p = cairn_client_peer(c);
    assert_non_null(p);
    assert_memory_equal(p->node_id, fake_node_id(n), CAIRN_HASH_LEN);
    assert_int_equal(p->tip_height, 4);
    assert_string_equal(p->user_agent, "fake-node/1.0");
    assert_string_equal(cairn_client_addr(c), fake_node_addr(n));
    uint64_t rtt = 0;
    assert_int_equal(cairn_client_ping(c, &rtt), 0);
    assert_int_equal(announces, 1); /* sent before the Pong, maybe even before our READY */
    assert_int_equal(cairn_client_ping(c, &rtt), 0);
    assert_true(rtt > 0);
    cairn_client_del(c);
    /* a polite close: the node saw SHUTDOWN from us [CLOSE-7] */
    uint32_t code;
    int by_client;
    assert_int_equal(fake_node_wait_close(n, 3000, &code, &by_client), 0);
    assert_int_equal(code, CAIRN_E_SHUTDOWN);
    assert_true(by_client);
    fake_node_stop(n);
}

static void test_our_hello(void **state)
{
    (void)state;
    /* The node knows us by the key we were given. */
    fake_node *n = start(FAKE_NORMAL, NULL, 3);
    uint8_t seed[32], want[32], got[32];
    memset(seed, 0x11, sizeof(seed));
    cairn_identity *id;
    assert_int_equal(cairn_identity_from_seed(&id, seed), 0);
    cairn_identity_node_id(id, want);
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n), .plaintext = !use_tls, .identity = id};
    assert_int_equal(cairn_client_open(&c, &cfg), 0);
    fake_node_last_client(n, got, want, 3000); /* its READY may come after ours */
    assert_memory_equal(got, want, 32);
    cairn_client_del(c);
    cairn_identity_del(id);
    fake_node_stop(n);
}

static void test_blocks_and_not_found(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, NULL, 3);
    cairn_client *c = open_ok(n);
    cairn_client_response r;
    assert_int_equal(get_block(c, 1, &r), 0);
    assert_int_equal(r.type, CAIRN_T_BLOCK);
    const Cairn__V1__Block *b = (const Cairn__V1__Block *)r.m;
    assert_int_equal(b->n_entries, 2);
    assert_memory_equal(b->entries[0].data, FAKE_TEXT_ENTRY, b->entries[0].len);
    /* by ID */
    uint8_t id[32];
    cairn_block_id(NULL, id, b->header.data);
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
    gb.block_id = (ProtobufCBinaryData){32, id};
    assert_int_equal(cairn_client_request(c, &gb.base, &r), 0);
    /* [REQ-12] NotFound is an answer, and the session stays open */
    assert_int_equal(get_block(c, 99, &r), CAIRN_CLIENT_NOT_FOUND);
    assert_int_equal(r.type, CAIRN_T_NOT_FOUND);
    assert_int_equal(cairn_client_ping(c, NULL), 0);
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_pipelined(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, NULL, 3);
    cairn_client *c = open_ok(n);
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        gb.height = (uint64_t)i;
        assert_int_equal(cairn_client_send(c, &gb.base, &ids[i]), 0);
    }
    for (int i = 3; i >= 0; i--) { /* answers kept until asked for */
        cairn_client_response r;
        assert_int_equal(cairn_client_wait(c, ids[i], &r), 0);
        const Cairn__V1__Block *b = (const Cairn__V1__Block *)r.m;
        assert_int_equal(cairn_get_u64(b->header.data + 4), (uint64_t)i);
    }
    cairn_client_response r;
    assert_int_equal(cairn_client_wait(c, ids[0], &r), CAIRN_ERR_INVALID_ARG);
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_headers_and_submit(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, NULL, 5);
    cairn_client *c = open_ok(n);
    uint8_t *genesis = (uint8_t *)cairn_network_devnet()->genesis_id;
    ProtobufCBinaryData loc = {32, genesis};
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.n_locator = 1;
    gh.locator = &loc;
    cairn_client_response r;
    assert_int_equal(cairn_client_request(c, &gh.base, &r), 0);
    assert_int_equal(((const Cairn__V1__Headers *)r.m)->n_headers, 5);

    static uint8_t entry[] = "\0a record";
    Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
    se.entry = (ProtobufCBinaryData){sizeof(entry) - 1, entry};
    assert_int_equal(cairn_client_request(c, &se.base, &r), 0);
    uint8_t want[32];
    cairn_entry_id(NULL, want, entry, sizeof(entry) - 1);
    assert_memory_equal(((const Cairn__V1__EntryAck *)r.m)->entry_id.data, want, 32);
    /* an invalid kind: INVALID_ENTRY answers, the session stays */
    static uint8_t bad[] = "\x07nope";
    se.entry = (ProtobufCBinaryData){sizeof(bad) - 1, bad};
    assert_int_equal(cairn_client_request(c, &se.base, &r), CAIRN_CLIENT_REFUSED);
    assert_int_equal(r.code, CAIRN_E_INVALID_ENTRY);
    assert_int_equal(r.detail, CAIRN_BLOCK_BAD_ENTRY);
    assert_int_equal(cairn_client_ping(c, NULL), 0);
    cairn_client_del(c);
    fake_node_stop(n);
}

/* The client closes with INVALID_FIELD, and the node hears it. */
static void expect_breach(fake_node *n, int rv, cairn_client *c)
{
    assert_int_equal(rv, CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD));
    const cairn_client_error *f = cairn_client_last_error(c);
    assert_int_equal(f->code, CAIRN_E_INVALID_FIELD);
    assert_false(f->by_peer);
    assert_non_null(strstr(f->text, "we closed the session: INVALID_FIELD"));
    uint32_t code;
    int by_client;
    assert_int_equal(fake_node_wait_close(n, 3000, &code, &by_client), 0);
    assert_int_equal(code, CAIRN_E_INVALID_FIELD);
    assert_true(by_client);
    /* and the client is done */
    assert_int_equal(cairn_client_ping(c, NULL), CAIRN_CLIENT_ERR_CLOSED);
}

static void test_bad_ack(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_BAD_ACK, NULL, 3);
    cairn_client *c = open_ok(n);
    static uint8_t entry[] = "\0x";
    Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
    se.entry = (ProtobufCBinaryData){2, entry};
    cairn_client_response r;
    int rv = cairn_client_request(c, &se.base, &r); /* [REL-7] */
    assert_non_null(strstr(cairn_client_last_error(c)->text, "entry_id"));
    expect_breach(n, rv, c);
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_wrong_height(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_WRONG_HEIGHT, NULL, 3);
    cairn_client *c = open_ok(n);
    cairn_client_response r;
    expect_breach(n, get_block(c, 2, &r), c); /* [SYNC-29] */
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_TOO_MANY, NULL, 3);
    cairn_client *c = open_ok(n);
    uint8_t *genesis = (uint8_t *)cairn_network_devnet()->genesis_id;
    ProtobufCBinaryData loc = {32, genesis};
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.n_locator = 1;
    gh.locator = &loc;
    gh.max_count = 1;
    cairn_client_response r;
    expect_breach(n, cairn_client_request(c, &gh.base, &r), c); /* [SYNC-14] */
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_busy(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_BUSY, NULL, 3);
    cairn_client *c = open_ok(n);
    cairn_client_response r;
    assert_int_equal(get_block(c, 1, &r), CAIRN_CLIENT_REFUSED);
    assert_int_equal(r.type, CAIRN_T_ERROR);
    assert_int_equal(r.code, CAIRN_E_BUSY);
    assert_int_equal(cairn_client_ping(c, NULL), 0);
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_wrong_network(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, cairn_network_testnet(), 0);
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n), .plaintext = !use_tls};
    assert_int_equal(cairn_client_open(&c, &cfg), CAIRN_CLIENT_ERR_CLOSED);
    const cairn_client_error *f = cairn_client_last_error(c);
    assert_int_equal(f->code, CAIRN_E_WRONG_NETWORK);
    assert_non_null(
        strstr(f->text, "closed the session: WRONG_NETWORK (peer is on another network)"));
    assert_non_null(strstr(f->text, "testnet"));
    assert_null(cairn_client_peer(c));
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_peer_closes(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_CLOSE_SHUTDOWN, NULL, 3);
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n), .plaintext = !use_tls};
    int rv = cairn_client_open(&c, &cfg);
    if (rv == 0) /* READY just before the Error arrived */
        rv = cairn_client_ping(c, NULL);
    assert_int_equal(rv, CAIRN_CLIENT_ERR_CLOSED);
    const cairn_client_error *f = cairn_client_last_error(c);
    assert_int_equal(f->code, CAIRN_E_SHUTDOWN);
    assert_true(f->by_peer);
    char want[128];
    snprintf(want, sizeof(want), "%s closed the session: SHUTDOWN (", fake_node_addr(n));
    assert_non_null(strstr(f->text, want));
    assert_non_null(strstr(f->text, "it said \"going away\""));
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_bad_announce(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_BAD_ANNOUNCE, NULL, 2);
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n), .plaintext = !use_tls};
    int rv = cairn_client_open(&c, &cfg);
    if (rv == 0)
        rv = cairn_client_ping(c, NULL);
    assert_int_equal(rv, CAIRN_CLIENT_ERR_CLOSED);
    const cairn_client_error *f = cairn_client_last_error(c);
    assert_int_equal(f->code, CAIRN_E_INVALID_BLOCK);
    assert_false(f->by_peer);
    assert_non_null(strstr(f->text, "BAD_POW"));
    uint32_t code;
    int by_client;
    assert_int_equal(fake_node_wait_close(n, 3000, &code, &by_client), 0);
    assert_int_equal(code, CAIRN_E_INVALID_BLOCK);
    cairn_client_del(c);
    fake_node_stop(n);
}

static void test_deadline(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_SILENT, NULL, 0);
    cairn_client *c;
    cairn_client_config cfg = {.addr = fake_node_addr(n), .plaintext = !use_tls, .timeout_ms = 300};
    uint64_t t0 = cairn_port_mono_ms();
    assert_int_equal(cairn_client_open(&c, &cfg), CAIRN_CLIENT_ERR_TIMEOUT);
    assert_non_null(strstr(cairn_client_last_error(c)->text, "timed out"));
    cairn_client_del(c); /* never waits past the deadline */
    uint64_t took = cairn_port_mono_ms() - t0;
    assert_true(took >= 300 && took < 1500);
    fake_node_stop(n);
}

static void test_connect_failures(void **state)
{
    (void)state;
    cairn_client *c;
    cairn_client_config cfg = {.addr = "not-an-address", .plaintext = !use_tls};
    assert_int_equal(cairn_client_open(&c, &cfg), CAIRN_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(cairn_client_last_error(c)->text, "not an address"));
    cairn_client_del(c);
    /* a port nobody listens on: the node's, once it is gone */
    fake_node *n = start(FAKE_NORMAL, NULL, 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", fake_node_addr(n));
    fake_node_stop(n);
    cfg.addr = addr;
    assert_int_equal(cairn_client_open(&c, &cfg), CAIRN_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(cairn_client_last_error(c)->text, "cannot connect"));
    /* nothing works on a client whose open failed */
    cairn_client_response r;
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    assert_int_equal(cairn_client_request(c, &gp.base, &r), CAIRN_CLIENT_ERR_CLOSED);
    assert_int_equal(cairn_client_ping(c, NULL), CAIRN_CLIENT_ERR_CLOSED);
    assert_null(cairn_client_peer(c));
    cairn_client_del(c);
    /* [TLS-3] the default port */
    const char *bare[][2] = {{"127.0.0.1", "127.0.0.1:7317"},
                             {"::1", "[::1]:7317"},
                             {"[::1]", "[::1]:7317"},
                             {"localhost", "127.0.0.1:7317"}};
    for (size_t i = 0; i < 4; i++) {
        cfg.addr = bare[i][0];
        cfg.timeout_ms = 200;
        cairn_client_open(&c, &cfg);
        assert_string_equal(cairn_client_addr(c), bare[i][1]);
        cairn_client_del(c);
    }
}

static void test_mismatched_transport(void **state)
{
    (void)state;
    /* the node runs the other way round: no session can start */
    use_tls = !use_tls;
    fake_node *n = start(FAKE_NORMAL, NULL, 0);
    use_tls = !use_tls;
    cairn_client *c;
    cairn_client_config cfg = {
        .addr = fake_node_addr(n), .plaintext = !use_tls, .timeout_ms = 3000};
    int rv = cairn_client_open(&c, &cfg);
    assert_true(rv == CAIRN_CLIENT_ERR_CONNECT || rv == CAIRN_CLIENT_ERR_CLOSED);
    const char *text = cairn_client_last_error(c)->text;
    assert_non_null(strstr(text, use_tls ? "plaintext" : "TLS"));
    cairn_client_del(c);
    fake_node_stop(n);
}

static int set_plain(void **state)
{
    (void)state;
    use_tls = 0;
    return 0;
}

static int set_tls(void **state)
{
    (void)state;
    use_tls = 1;
    return 0;
}

#define BOTH(t) cmocka_unit_test_setup(t, set_plain), cmocka_unit_test_setup(t, set_tls)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_handshake_and_ping),
        BOTH(test_our_hello),
        BOTH(test_blocks_and_not_found),
        BOTH(test_pipelined),
        BOTH(test_headers_and_submit),
        BOTH(test_bad_ack),
        BOTH(test_wrong_height),
        BOTH(test_too_many_headers),
        BOTH(test_busy),
        BOTH(test_wrong_network),
        BOTH(test_peer_closes),
        BOTH(test_bad_announce),
        BOTH(test_deadline),
        BOTH(test_connect_failures),
        BOTH(test_mismatched_transport),
    };
    return cmocka_run_group_tests_name("cli_client", tests, NULL, NULL);
}
