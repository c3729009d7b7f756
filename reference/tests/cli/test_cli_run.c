/* The cairn binary against an in-process node: every command, its JSON and
 * text output, exit codes and errors, over plaintext and TLS.
 * Usage: test_cli_run [PATH/TO/cairn]  (default: $CAIRN_BIN) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>

#include "cairn/block.h"
#include "fake_node.h"
#include "proc.h"

static const char *cairn_bin;
static int use_tls;

/* Runs `cairn ARGS... [--plaintext]`; returns the exit code. */
static int run(proc_result *r, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)cairn_bin;
    va_list ap;
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 30;)
        argv[n++] = a;
    va_end(ap);
    if (!use_tls)
        argv[n++] = "--plaintext";
    argv[n] = NULL;
    int st = proc_run(argv, 20000, r);
    if (getenv("CLI_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s%s", st, r->out, r->err);
    return st;
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "not JSON (%s): %s\n", e.text, text);
    assert_non_null(j);
    const char *nl = strchr(text, '\n'); /* one line, one object */
    assert_true(nl && nl[1] == '\0');
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    const char *s = json_string_value(json_object_get(j, path));
    assert_non_null(s);
    return s;
}

static json_int_t jint(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static fake_node *start(int behaviour, int blocks)
{
    fake_node *n;
    fake_node_config cfg = {.tls = use_tls, .behaviour = behaviour, .blocks = blocks};
    assert_int_equal(fake_node_start(&n, &cfg), 0);
    return n;
}

static void test_info(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 4);
    const char *a = fake_node_addr(n);
    char id[65];
    cairn_hex_encode(id, fake_node_id(n), 32);
    proc_result r;
    assert_int_equal(run(&r, "info", a, "--json", NULL), 0);
    json_t *j = parse_json(r.out);
    assert_string_equal(jstr(j, "node_id"), id);
    assert_string_equal(jstr(j, "network"), "devnet");
    assert_string_equal(jstr(j, "user_agent"), "fake-node/1.0");
    assert_int_equal(jint(j, "height"), 4);
    assert_int_equal(strlen(jstr(j, "tip")), 64);
    json_t *th = json_object_get(j, "tip_header");
    assert_string_equal(jstr(th, "id"), jstr(j, "tip"));
    assert_int_equal(jint(th, "height"), 4);
    assert_string_equal(jstr(j, "total_work"), "0x5000"); /* 5 blocks of 2^12 */
    /* syncing: derived from how far the tip's time is behind the node's clock */
    long long age = jint(j, "time_ms") - jint(th, "time_ms");
    assert_int_equal(jint(j, "tip_age_ms"), age > 0 ? age : 0);
    assert_true(json_is_boolean(json_object_get(j, "syncing")));
    assert_int_equal(json_is_true(json_object_get(j, "syncing")), age > 3600000);
    json_decref(j);
    proc_result_free(&r);
    /* global options may come before the command; text output */
    char *tls_argv[] = {(char *)cairn_bin, "--json", "info", (char *)a, "--no-header", NULL};
    char *plain_argv[] = {(char *)cairn_bin, "--plaintext", "--timeout", "5", "info",
                          (char *)a,         "--no-header", "--json",    NULL};
    assert_int_equal(proc_run(use_tls ? tls_argv : plain_argv, 20000, &r), 0);
    j = parse_json(r.out);
    assert_true(json_is_null(json_object_get(j, "tip_header")));
    assert_true(json_is_null(json_object_get(j, "syncing")));
    json_decref(j);
    proc_result_free(&r);
    assert_int_equal(run(&r, "info", a, NULL), 0);
    char want[100];
    snprintf(want, sizeof(want), "node_id       %s\n", id);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "height        4\n"));
    assert_non_null(strstr(r.out, "services      CHAIN,RELAY,PEERS (0xd)\n"));
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_headers(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 4);
    const char *a = fake_node_addr(n);
    proc_result r;
    assert_int_equal(run(&r, "headers", a, "--json", NULL), 0);
    json_t *j = parse_json(r.out);
    assert_int_equal(jint(j, "count"), 5);
    assert_int_equal(jint(j, "tip_height"), 4);
    json_t *hs = json_object_get(j, "headers");
    assert_string_equal(jstr(json_array_get(hs, 0), "id"),
                        "0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c");
    for (size_t i = 1; i < 5; i++) /* linked */
        assert_string_equal(jstr(json_array_get(hs, i), "prev_id"),
                            jstr(json_array_get(hs, i - 1), "id"));
    char id2[65];
    snprintf(id2, sizeof(id2), "%s", jstr(json_array_get(hs, 2), "id"));
    json_decref(j);
    proc_result_free(&r);

    assert_int_equal(run(&r, "headers", a, "--from", "2", "--limit", "2", "--json", NULL), 0);
    j = parse_json(r.out);
    assert_int_equal(jint(j, "count"), 2);
    assert_int_equal(jint(json_array_get(json_object_get(j, "headers"), 0), "height"), 2);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "headers"), 0), "id"), id2);
    json_decref(j);
    proc_result_free(&r);

    assert_int_equal(run(&r, "headers", a, NULL), 0);
    assert_non_null(strstr(r.out, "height"));
    assert_non_null(strstr(r.out, id2));
    assert_non_null(strstr(r.out, "\n4 "));
    proc_result_free(&r);

    /* by ID, from what headers said */
    assert_int_equal(run(&r, "block", a, id2, "--json", NULL), 0);
    j = parse_json(r.out);
    assert_int_equal(jint(j, "height"), 2);
    json_decref(j);
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_block(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 3);
    const char *a = fake_node_addr(n);
    proc_result r;
    assert_int_equal(run(&r, "block", a, "1", "--json", NULL), 0);
    json_t *j = parse_json(r.out);
    assert_int_equal(jint(j, "entry_count"), 2);
    json_t *e0 = json_array_get(json_object_get(j, "entries"), 0);
    json_t *e1 = json_array_get(json_object_get(j, "entries"), 1);
    assert_string_equal(jstr(e0, "kind"), "data");
    assert_string_equal(jstr(e0, "text"), &FAKE_TEXT_ENTRY[1]); /* after the kind byte */
    assert_string_equal(jstr(e1, "kind"), "manifest");
    assert_string_equal(jstr(e1, "name"), FAKE_MANIFEST_NAME);
    assert_int_equal(jint(e1, "size"), 100000);
    assert_int_equal(jint(e1, "chunk_size"), 65536);
    assert_int_equal(jint(e1, "chunks"), 2);
    assert_int_equal(strlen(jstr(e1, "file_id")), 64);
    json_decref(j);
    proc_result_free(&r);

    assert_int_equal(run(&r, "block", a, "2", NULL), 0);
    assert_non_null(strstr(r.out, "entry 0  data  7 bytes"));
    assert_non_null(strstr(r.out, "hex   0102fffe007f\n"));
    proc_result_free(&r);
    assert_int_equal(run(&r, "block", a, "1", NULL), 0);
    assert_non_null(strstr(r.out, "text  \"hello from the fake node\""));
    assert_non_null(strstr(r.out, "name        \"report.pdf\""));
    proc_result_free(&r);

    /* NotFound: exit 3, in words, and as JSON */
    assert_int_equal(run(&r, "block", a, "99", NULL), 3);
    assert_non_null(strstr(r.err, "has no block at height 99 (NotFound)"));
    proc_result_free(&r);
    assert_int_equal(run(&r, "block", a, "99", "--json", NULL), 3);
    j = parse_json(r.out);
    assert_int_equal(jint(json_object_get(j, "error"), "exit"), 3);
    json_decref(j);
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_submit(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 3);
    const char *a = fake_node_addr(n);
    proc_result r;
    assert_int_equal(run(&r, "submit", a, "--data", "hi there", "--wait", "--json", NULL), 0);
    json_t *j = parse_json(r.out);
    static const uint8_t entry[] = "\0hi there";
    uint8_t id[32];
    char hex[65];
    cairn_entry_id(NULL, id, entry, sizeof(entry) - 1);
    cairn_hex_encode(hex, id, 32);
    assert_string_equal(jstr(j, "entry_id"), hex);
    assert_int_equal(jint(j, "length"), 9);
    assert_int_equal(jint(j, "height"), 4);
    json_decref(j);
    proc_result_free(&r);
    assert_int_equal(run(&r, "block", a, "4", "--json", NULL), 0);
    j = parse_json(r.out);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "entries"), 0), "text"), "hi there");
    json_decref(j);
    proc_result_free(&r);

    assert_int_equal(run(&r, "submit", a, "--hex", "00ff", NULL), 0);
    assert_non_null(strstr(r.out, "entry_id  "));
    proc_result_free(&r);
    char path[] = "/tmp/cairn-cli-data-XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, "file data", 9), 9);
    close(fd);
    assert_int_equal(run(&r, "submit", a, "--file", path, "--json", NULL), 0);
    j = parse_json(r.out);
    assert_int_equal(jint(j, "length"), 10);
    json_decref(j);
    proc_result_free(&r);
    unlink(path);
    /* usage: none or two sources */
    assert_int_equal(run(&r, "submit", a, NULL), 2);
    proc_result_free(&r);
    assert_int_equal(run(&r, "submit", a, "--data", "x", "--hex", "00", NULL), 2);
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_peers_ping_keygen(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 0);
    const char *a = fake_node_addr(n);
    proc_result r;
    assert_int_equal(run(&r, "peers", a, "--json", NULL), 0);
    json_t *j = parse_json(r.out);
    assert_int_equal(jint(j, "count"), 2);
    json_t *ps = json_object_get(j, "peers");
    assert_string_equal(jstr(json_array_get(ps, 0), "addr"), "192.0.2.7:7317");
    assert_string_equal(jstr(json_array_get(ps, 1), "addr"), "[2001:db8::1]:7318");
    assert_int_equal(jint(json_array_get(ps, 0), "services"), 5);
    json_decref(j);
    proc_result_free(&r);
    assert_int_equal(run(&r, "peers", a, NULL), 0);
    assert_non_null(strstr(r.out, "192.0.2.7:7317"));
    assert_non_null(strstr(r.out, "services=CHAIN,RELAY"));
    proc_result_free(&r);

    assert_int_equal(run(&r, "ping", a, "--count", "2", "--interval", "0", NULL), 0);
    char want[100];
    snprintf(want, sizeof(want), "pong from %s: seq=2 time=", a);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "2 pings, rtt min/avg/max = "));
    proc_result_free(&r);
    assert_int_equal(run(&r, "ping", a, "--json", NULL), 0);
    j = parse_json(r.out);
    assert_int_equal(json_array_size(json_object_get(j, "rtt_ms")), 3);
    json_decref(j);
    proc_result_free(&r);

    /* keygen --out, then that identity on the wire */
    char dir[] = "/tmp/cairn-cli-keys-XXXXXX", key[64];
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/node.key", dir);
    assert_int_equal(run(&r, "keygen", "--out", key, "--json", NULL), 0);
    j = parse_json(r.out);
    char id[65];
    snprintf(id, sizeof(id), "%s", jstr(j, "node_id"));
    assert_null(json_object_get(j, "seed"));
    json_decref(j);
    proc_result_free(&r);
    assert_int_equal(run(&r, "keygen", "--out", key, NULL), 1); /* never overwrites */
    assert_non_null(strstr(r.err, "not overwriting"));
    proc_result_free(&r);
    assert_int_equal(run(&r, "info", a, "--key", key, "--no-header", NULL), 0);
    proc_result_free(&r);
    uint8_t seen[32], want_id[32];
    char seen_hex[65];
    assert_int_equal(cairn_hex_decode(want_id, 32, id), 0);
    fake_node_last_client(n, seen, want_id, 3000);
    cairn_hex_encode(seen_hex, seen, 32);
    assert_string_equal(seen_hex, id);
    unlink(key);
    rmdir(dir);
    assert_int_equal(run(&r, "keygen", NULL), 0);
    assert_non_null(strstr(r.out, "seed     "));
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_failures(void **state)
{
    (void)state;
    fake_node *n = start(FAKE_NORMAL, 0);
    const char *a = fake_node_addr(n);
    proc_result r;
    assert_int_equal(run(&r, "info", a, "--network", "testnet", NULL), 1);
    assert_non_null(
        strstr(r.err, "closed the session: WRONG_NETWORK (peer is on another network)"));
    proc_result_free(&r);
    assert_int_equal(run(&r, "info", a, "--network", "testnet", "--json", NULL), 1);
    json_t *j = parse_json(r.out);
    assert_string_equal(jstr(json_object_get(j, "error"), "code"), "WRONG_NETWORK");
    json_decref(j);
    proc_result_free(&r);
    fake_node_stop(n);

    n = start(FAKE_BAD_ACK, 0);
    assert_int_equal(run(&r, "submit", fake_node_addr(n), "--data", "x", NULL), 1);
    assert_non_null(strstr(r.err, "we closed the session: INVALID_FIELD"));
    proc_result_free(&r);
    fake_node_stop(n);

    n = start(FAKE_BAD_POW, 3);
    assert_int_equal(run(&r, "block", fake_node_addr(n), "1", NULL), 1);
    assert_non_null(strstr(r.err, "INVALID_BLOCK"));
    assert_non_null(strstr(r.err, "BAD_POW"));
    proc_result_free(&r);
    fake_node_stop(n);

    n = start(FAKE_BUSY, 0);
    assert_int_equal(run(&r, "peers", fake_node_addr(n), NULL), 1);
    assert_non_null(strstr(r.err, "refused the request for peer addresses: BUSY"));
    proc_result_free(&r);
    fake_node_stop(n);

    n = start(FAKE_SILENT, 0);
    assert_int_equal(run(&r, "info", fake_node_addr(n), "--timeout", "0.5", NULL), 1);
    assert_non_null(strstr(r.err, "timed out"));
    assert_true(r.ms < 3000);
    proc_result_free(&r);
    fake_node_stop(n);
}

static void test_usage(void **state)
{
    (void)state;
    proc_result r;
    assert_int_equal(run(&r, NULL), 2);
    proc_result_free(&r);
    assert_int_equal(run(&r, "frobnicate", NULL), 2);
    assert_non_null(strstr(r.err, "unknown command"));
    proc_result_free(&r);
    assert_int_equal(run(&r, "block", "127.0.0.1:1", NULL), 2);
    proc_result_free(&r);
    assert_int_equal(run(&r, "block", "127.0.0.1:1", "xyz", NULL), 2);
    proc_result_free(&r);
    assert_int_equal(run(&r, "info", "127.0.0.1:1", "--timeout", "0", NULL), 2);
    proc_result_free(&r);
    const char *cmds[] = {"info", "ping", "headers", "block", "submit", "peers", "keygen"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        assert_int_equal(run(&r, cmds[i], "--help", NULL), 0);
        char want[64];
        snprintf(want, sizeof(want), "Usage: cairn %s", cmds[i]);
        assert_non_null(strstr(r.out, want));
        proc_result_free(&r);
    }
    assert_int_equal(run(&r, "--help", NULL), 0);
    assert_non_null(strstr(r.out, "Commands:"));
    proc_result_free(&r);
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

int main(int argc, char **argv)
{
    cairn_bin = argc > 1 ? argv[1] : getenv("CAIRN_BIN");
    if (!cairn_bin) {
        fprintf(stderr, "usage: %s PATH/TO/cairn (or CAIRN_BIN in the environment)\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        BOTH(test_info),
        BOTH(test_headers),
        BOTH(test_block),
        BOTH(test_submit),
        BOTH(test_peers_ping_keygen),
        BOTH(test_failures),
        cmocka_unit_test_setup(test_usage, set_tls),
    };
    return cmocka_run_group_tests_name("cli_run", tests, NULL, NULL);
}
