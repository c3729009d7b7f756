/* The CLI's option parsing and its text and JSON formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

static int parse(cli_common *o, const char **pos, size_t *np, const cli_option *opts, size_t n,
                 int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return cli_parse(o, argc, argv, opts, n, pos, 2, np);
}

static void test_parse_globals(void **state)
{
    (void)state;
    cli_common o;
    const char *pos[2];
    size_t np;
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 2, "info", "1.2.3.4:5"), 0);
    assert_int_equal(np, 1);
    assert_string_equal(pos[0], "1.2.3.4:5");
    assert_string_equal(o.net->name, "devnet");
    assert_int_equal(o.timeout_ms, 10000);
    assert_false(o.plaintext || o.json || o.trace || o.help);
    assert_null(o.key_file);

    assert_int_equal(parse(&o, pos, &np, NULL, 0, 9, "info", "--plaintext", "A", "--network",
                           "testnet", "--timeout=2.5", "--json", "--key", "k.key"),
                     0);
    assert_int_equal(np, 1);
    assert_true(o.plaintext && o.json);
    assert_string_equal(o.net->name, "testnet");
    assert_int_equal(o.timeout_ms, 2500);
    assert_string_equal(o.key_file, "k.key");
    /* "--" ends options */
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 3, "info", "--", "--json"), 0);
    assert_int_equal(np, 1);
    assert_string_equal(pos[0], "--json");
    assert_false(o.json);
    /* help wins over anything after it */
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 3, "info", "-h", "--bogus"), 0);
    assert_true(o.help);
}

static void test_parse_errors(void **state)
{
    (void)state;
    cli_common o;
    const char *pos[2];
    size_t np;
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 2, "info", "--bogus"), CLI_EXIT_USAGE);
    assert_non_null(strstr(o.error, "--bogus"));
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 3, "info", "--network", "mainnet"),
                     CLI_EXIT_USAGE);
    assert_non_null(strstr(o.error, "mainnet"));
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 2, "info", "--timeout"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 3, "info", "--timeout", "0"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 3, "info", "--timeout", "-1"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 2, "info", "--json=yes"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 2, "info", "-x"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&o, pos, &np, NULL, 0, 4, "info", "a", "b", "c"), CLI_EXIT_USAGE);
    assert_non_null(strstr(o.error, "'c'"));
}

static void test_parse_command_options(void **state)
{
    (void)state;
    const char *from = NULL, *wait = NULL, *pos[2];
    const cli_option opts[] = {{"from", 1, &from}, {"wait", 0, &wait}};
    cli_common o;
    size_t np;
    assert_int_equal(parse(&o, pos, &np, opts, 2, 4, "x", "--from", "7", "A"), 0);
    assert_string_equal(from, "7");
    assert_null(wait);
    assert_int_equal(parse(&o, pos, &np, opts, 2, 3, "x", "--wait", "--from=9"), 0);
    assert_string_equal(wait, "");
    assert_string_equal(from, "9");
    assert_int_equal(parse(&o, pos, &np, opts, 2, 2, "x", "--from"), CLI_EXIT_USAGE);
}

static void test_numbers(void **state)
{
    (void)state;
    uint64_t v, ms;
    assert_int_equal(cli_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cli_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cli_parse_u64("18446744073709551616", &v), -1);
    assert_int_equal(cli_parse_u64("-1", &v), -1);
    assert_int_equal(cli_parse_u64("12a", &v), -1);
    assert_int_equal(cli_parse_u64("", &v), -1);
    assert_int_equal(cli_parse_seconds("0.25", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cli_parse_seconds("0.0001", &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(cli_parse_seconds("nan", &ms), -1);
    assert_int_equal(cli_parse_seconds("86401", &ms), -1);
}

static void test_text(void **state)
{
    (void)state;
    char buf[128];
    cli_format_time(buf, sizeof(buf), 1767225600123ull);
    assert_string_equal(buf, "2026-01-01T00:00:00.123Z");
    cli_format_services(buf, sizeof(buf), 0);
    assert_string_equal(buf, "none");
    cli_format_services(buf, sizeof(buf), 0x1d | (1ull << 40));
    assert_string_equal(buf, "CHAIN,RELAY,PEERS,bit4,bit40");
    uint8_t w[32] = {0};
    cli_format_work(buf, sizeof(buf), w);
    assert_string_equal(buf, "0x0");
    w[30] = 0x10;
    cli_format_work(buf, sizeof(buf), w);
    assert_string_equal(buf, "0x1000");
    assert_true(cli_is_text((const uint8_t *)"h\xc3\xa9llo\n\t", 8));
    assert_false(cli_is_text((const uint8_t *)"a\x01", 2));
    assert_false(cli_is_text((const uint8_t *)"\xc0\xaf", 2));     /* overlong */
    assert_false(cli_is_text((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
    assert_false(cli_is_text((const uint8_t *)"\xc2\x85", 2));     /* C1 control */
    cli_quote(buf, sizeof(buf), (const uint8_t *)"a\"b\\\n\x01\xff\xc3\xa9", 9);
    assert_string_equal(buf, "\"a\\\"b\\\\\\n\\x01\\xff\xc3\xa9\"");
    char small[12];
    cli_quote(small, sizeof(small), (const uint8_t *)"abcdefghijklmnop", 16);
    assert_string_equal(small, "\"abcdef...\"");
    json_t *j = cli_json_u64(UINT64_MAX);
    assert_string_equal(json_string_value(j), "18446744073709551615");
    json_decref(j);
}

static void test_header_and_entries(void **state)
{
    (void)state;
    const cairn_network *net = cairn_network_devnet();
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    cairn_block_header h;
    assert_int_equal(cairn_network_genesis(net, &h, raw), 0);
    json_t *j = cli_header_json(raw);
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c");
    assert_int_equal(json_integer_value(json_object_get(j, "height")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "bits")), 12);
    assert_int_equal(json_integer_value(json_object_get(j, "nonce")), 1816);
    assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), 1767225600000);
    json_decref(j);

    j = cli_entry_json(0, net->genesis_entry, net->genesis_entry_len);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "data");
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "Cairn devnet genesis: every block rests on the one below");
    /* a lone entry's ID is the genesis entries_root */
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "69ab51458d65758df92fec96b24766488c0b1e286f511a6bb2f316bdc668b2d7");
    json_decref(j);

    static const uint8_t bin[] = {0x00, 0xff, 0x00};
    j = cli_entry_json(1, bin, sizeof(bin));
    assert_string_equal(json_string_value(json_object_get(j, "hex")), "ff00");
    assert_null(json_object_get(j, "text"));
    json_decref(j);

    uint8_t m[43 + 3] = {0x01};
    cairn_put_u64(m + 1, 70000);
    m[9] = 15;
    memset(m + 10, 0xcd, 32);
    m[42] = 3;
    memcpy(m + 43, "a.b", 3);
    j = cli_entry_json(2, m, sizeof(m));
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "manifest");
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 70000);
    assert_int_equal(json_integer_value(json_object_get(j, "chunk_size")), 32768);
    assert_int_equal(json_integer_value(json_object_get(j, "chunks")), 3);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "a.b");
    uint8_t fid[32];
    char hex[65];
    cairn_sha256(fid, m, 42);
    cairn_hex_encode(hex, fid, 32);
    assert_string_equal(json_string_value(json_object_get(j, "file_id")), hex);
    json_decref(j);

    /* the text forms, into a memory stream */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_header_print(f, raw);
    cli_entry_print(f, 0, net->genesis_entry, net->genesis_entry_len);
    cli_entry_print(f, 1, bin, sizeof(bin));
    cli_entry_print(f, 2, m, sizeof(m));
    fclose(f);
    assert_non_null(strstr(text, "height        0\n"));
    assert_non_null(strstr(text, "time          2026-01-01T00:00:00.000Z (1767225600000)\n"));
    assert_non_null(strstr(text, "entry 0  data  57 bytes  id 69ab5145"));
    assert_non_null(strstr(text, "text  \"Cairn devnet genesis"));
    assert_non_null(strstr(text, "hex   ff00\n"));
    assert_non_null(strstr(text, "chunk_size  32768 bytes (3 chunks)\n"));
    assert_non_null(strstr(text, "name        \"a.b\"\n"));
    free(text);
}

static void test_load_key(void **state)
{
    (void)state;
    char path[] = "/tmp/cairn-cli-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *hex = "0101010101010101010101010101010101010101010101010101010101010101\n";
    assert_int_equal(write(fd, hex, strlen(hex)), (ssize_t)strlen(hex));
    close(fd);
    cairn_identity *id = NULL;
    char err[256];
    assert_int_equal(cli_load_key(path, &id, err, sizeof(err)), 0);
    uint8_t seed[32], want[32];
    memset(want, 1, 32);
    cairn_identity_seed(id, seed);
    assert_memory_equal(seed, want, 32);
    cairn_identity_del(id);
    FILE *f = fopen(path, "w");
    fputs("0101\n", f);
    fclose(f);
    assert_int_equal(cli_load_key(path, &id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "64 hex digits"));
    unlink(path);
    assert_int_equal(cli_load_key(path, &id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_globals),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_command_options),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_header_and_entries),
        cmocka_unit_test(test_load_key),
    };
    return cmocka_run_group_tests_name("cli_format", tests, NULL, NULL);
}
