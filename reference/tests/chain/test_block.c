/* Block codec: header layout, IDs, PoW, work, entries, manifests, context-free rules. */
#include "chain_helpers.h"

#define INVALID_BLOCK CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK)
#define INVALID_ENTRY CAIRN_ERR_PROTO(CAIRN_E_INVALID_ENTRY)

static void header_layout(void **state)
{
    (void)state;
    cairn_block_header h = {.version = 0x01020304,
                            .height = 0x1112131415161718ull,
                            .time_ms = 0x2122232425262728ull,
                            .bits = 0x31323334,
                            .nonce = 0x4142434445464748ull};
    memset(h.prev_id, 0xaa, 32);
    memset(h.entries_root, 0xbb, 32);
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN + 1];
    assert_ptr_equal(cairn_block_header_encode(raw, &h), raw + 96);
    static const uint8_t want[32] = {1,    2,    3,    4,    0x11, 0x12, 0x13, 0x14,
                                     0x15, 0x16, 0x17, 0x18, 0x21, 0x22, 0x23, 0x24,
                                     0x25, 0x26, 0x27, 0x28, 0x31, 0x32, 0x33, 0x34,
                                     0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48};
    assert_memory_equal(raw, want, 32);
    assert_int_equal(raw[32], 0xaa);
    assert_int_equal(raw[95], 0xbb);

    cairn_block_header d;
    const uint8_t *p = raw;
    assert_int_equal(cairn_block_header_decode(&p, raw + 95, &d), CAIRN_ERR_AGAIN);
    assert_ptr_equal(p, raw);
    assert_int_equal(cairn_block_header_decode(&p, raw + 96, &d), 0);
    assert_ptr_equal(p, raw + 96);
    assert_int_equal(d.version, h.version);
    assert_int_equal(d.height, h.height);
    assert_int_equal(d.time_ms, h.time_ms);
    assert_int_equal(d.bits, h.bits);
    assert_int_equal(d.nonce, h.nonce);
    assert_memory_equal(d.prev_id, h.prev_id, 32);
    assert_memory_equal(d.entries_root, h.entries_root, 32);
}

static void genesis_ids(void **state)
{
    (void)state;
    /* [NET-2] the genesis parameters reproduce the registered network IDs. */
    const cairn_network *nets[] = {cairn_network_devnet(), cairn_network_testnet()};
    const char *ids[] = {"0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c",
                         "00000167bbd4b64a56f4c78ebd49939cb48b8b34a8583b065e2e677e2e4d10b9"};
    const char *roots[] = {"69ab51458d65758df92fec96b24766488c0b1e286f511a6bb2f316bdc668b2d7",
                           "0c666c1f4bf63d8db7105c66807d8a94a65f08815ee4c23ab50e8fdcbf9fc5d3"};
    for (int i = 0; i < 2; i++) {
        tblock g;
        char hex[65];
        tb_genesis(&g, nets[i]);
        cairn_hex_encode(hex, g.id, 32);
        assert_string_equal(hex, ids[i]);
        cairn_hex_encode(hex, g.hdr.entries_root, 32);
        assert_string_equal(hex, roots[i]);
        assert_int_equal(cairn_network_verify(nets[i]), 0);
        assert_ptr_equal(cairn_network_by_name(nets[i]->name), nets[i]);
    }
    assert_int_equal(cairn_network_devnet()->bits, 12);
    assert_int_equal(cairn_network_testnet()->bits, 22);
    assert_null(cairn_network_by_name("mainnet"));
    cairn_network bad = *cairn_network_devnet();
    bad.genesis_nonce++;
    assert_int_equal(cairn_network_verify(&bad), CAIRN_ERR_INVALID_ARG);
}

static void pow_and_work(void **state)
{
    (void)state;
    uint8_t id[32] = {0};
    assert_int_equal(cairn_pow_zero_bits(id), 256);
    id[1] = 0x10; /* 8 + 3 zero bits */
    assert_int_equal(cairn_pow_zero_bits(id), 11);
    assert_true(cairn_pow_ok(id, 11));
    assert_false(cairn_pow_ok(id, 12));
    assert_true(cairn_pow_ok(id, 0));
    id[0] = 0x80;
    assert_int_equal(cairn_pow_zero_bits(id), 0);
    assert_false(cairn_pow_ok(id, 1));
    memset(id, 0, 32);
    assert_true(cairn_pow_ok(id, 256));
    assert_false(cairn_pow_ok(id, 257));

    cairn_work w = {{0}}, v = {{0}};
    cairn_work_add_block(&w, 12);
    assert_int_equal(w.be[30], 0x10);
    cairn_work_add_block(&w, 12);
    cairn_work_add_block(&v, 13);
    assert_int_equal(cairn_work_cmp(&w, &v), 0);
    cairn_work_add_block(&v, 0);
    assert_true(cairn_work_cmp(&w, &v) < 0);
    /* carries propagate across bytes */
    cairn_work c = {{0}};
    for (int i = 0; i < 256; i++)
        cairn_work_add_block(&c, 0);
    assert_int_equal(c.be[30], 1);
    assert_int_equal(c.be[31], 0);
    cairn_work_add_block(&c, 255);
    assert_int_equal(c.be[0], 0x80);
}

static void reason_registry(void **state)
{
    (void)state;
    static const char *names[] = {
        NULL,         "BAD_SIZE",     "BAD_COUNT",       "BAD_VERSION", "BAD_LINK",
        "BAD_HEIGHT", "TIME_TOO_OLD", "TIME_TOO_NEW",    "BAD_POW",     "BAD_BITS",
        "BAD_ROOT",   "BAD_ENTRY",    "DUPLICATE_ENTRY", "BAD_GENESIS"};
    for (uint32_t r = 1; r <= 13; r++) {
        assert_string_equal(cairn_block_reason_name(r), names[r]);
        assert_int_equal(cairn_block_reason_from_name(names[r]), r);
        assert_int_equal(cairn_block_reason_is_permanent(r), r != CAIRN_BLOCK_TIME_TOO_NEW);
    }
    assert_null(cairn_block_reason_name(0));
    assert_null(cairn_block_reason_name(14));
    assert_int_equal(cairn_block_reason_from_name("NOPE"), 0);
}

/* A manifest entry with the given fields. */
static size_t manifest(uint8_t *m, uint64_t size, uint8_t log2, const char *name, size_t nlen)
{
    m[0] = CAIRN_ENTRY_MANIFEST;
    cairn_put_u64(m + 1, size);
    m[9] = log2;
    memset(m + 10, 0x5a, 32);
    m[42] = (uint8_t)nlen;
    memcpy(m + 43, name, nlen);
    return 43 + nlen;
}

static void entries(void **state)
{
    (void)state;
    uint32_t why;
    static uint8_t big[CAIRN_ENTRY_MAX_LEN + 1];
    assert_int_equal(cairn_entry_check(big, CAIRN_ENTRY_MAX_LEN, &why), 0);
    assert_int_equal(cairn_entry_check(big, sizeof(big), &why), INVALID_ENTRY);
    assert_int_equal(why, CAIRN_BLOCK_BAD_SIZE);
    assert_int_equal(cairn_entry_check(big, 0, &why), INVALID_ENTRY);
    assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY);
    const uint8_t kind2[] = {0x02, 'x'};
    assert_int_equal(cairn_entry_check(kind2, 2, &why), INVALID_ENTRY);
    assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY);
    const uint8_t data[] = {0x00};
    assert_int_equal(cairn_entry_check(data, 1, &why), 0);

    uint8_t id[32], leaf[33] = {0};
    assert_int_equal(cairn_entry_id(NULL, id, data, 1), 0);
    uint8_t want[32];
    cairn_sha256(want, leaf, 2); /* 0x00 || 0x00 */
    assert_memory_equal(id, want, 32);
}

static void manifests(void **state)
{
    (void)state;
    uint8_t m[400];
    uint32_t why;
    cairn_manifest_entry me;
    size_t n = manifest(m, 12345, 16, "report.pdf", 10);
    assert_int_equal(cairn_manifest_entry_parse(m, n, &me), 0);
    assert_int_equal(me.size, 12345);
    assert_int_equal(me.chunk_log2, 16);
    assert_int_equal(me.name_len, 10);
    assert_memory_equal(me.name, "report.pdf", 10);
    assert_ptr_equal(me.root, m + 10);
    assert_int_equal(cairn_entry_check(m, n, &why), 0);

    /* Boundaries that hold. */
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 0, 14, "", 0), NULL), 0);
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1ull << 50, 20, "a", 1), NULL), 0);
    char name255[255];
    memset(name255, 'n', sizeof(name255));
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1, 14, name255, 255), NULL), 0);
    assert_int_equal(manifest(m, 1, 14, name255, 255), CAIRN_MANIFEST_MAX_LEN);
    const char utf8[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1, 14, utf8, strlen(utf8)), NULL),
                     0);

    /* Each rule broken. */
    n = manifest(m, 1, 14, "ab", 2);
    assert_int_equal(cairn_manifest_entry_parse(m, n - 1, NULL), INVALID_ENTRY); /* short */
    m[n] = 'c';
    assert_int_equal(cairn_manifest_entry_parse(m, n + 1, NULL), INVALID_ENTRY); /* long */
    assert_int_equal(cairn_manifest_entry_parse(m, 42, NULL), INVALID_ENTRY);
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, (1ull << 50) + 1, 14, "a", 1), NULL),
                     INVALID_ENTRY);
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1, 13, "a", 1), NULL),
                     INVALID_ENTRY);
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1, 21, "a", 1), NULL),
                     INVALID_ENTRY);
    static const char *const bad_names[] = {
        ".",
        "..",
        "a/b",
        "a\\b",
        "a\x01",
        "\x7f",
        "a\x1f",
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* > U+10FFFF */
        "\xc3",             /* truncated */
        "\x80",             /* stray continuation */
        "\xff",
    };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
        n = manifest(m, 1, 14, bad_names[i], strlen(bad_names[i]));
        assert_int_equal(cairn_manifest_entry_parse(m, n, NULL), INVALID_ENTRY);
        assert_int_equal(cairn_entry_check(m, n, &why), INVALID_ENTRY);
        assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY);
    }
    n = manifest(m, 1, 14, "a\0b", 3); /* NUL */
    assert_int_equal(cairn_manifest_entry_parse(m, n, NULL), INVALID_ENTRY);
    assert_int_equal(cairn_manifest_entry_parse(m, manifest(m, 1, 14, "...", 3), NULL), 0);
}

/* [VAL-1] the context-free rules, each alone, and their order. */
static void precheck_rules(void **state)
{
    (void)state;
    tblock g, b;
    cairn_block_header h;
    uint8_t id[32];
    uint32_t why;
    const uint32_t bits = cairn_network_devnet()->bits;
    tb_genesis(&g, cairn_network_devnet());
    tb_child(&b, &g, 1);
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, b.entries, b.n, bits, &h, id, &why), 0);
    assert_memory_equal(id, b.id, 32);

    assert_int_equal(cairn_block_precheck(NULL, b.raw, 95, NULL, 0, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_SIZE);

    static uint8_t big[CAIRN_ENTRY_MAX_LEN + 1];
    cairn_bytes_ref e[CAIRN_BLOCK_MAX_ENTRIES + 1];
    e[0].data = big;
    e[0].len = sizeof(big);
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, e, 1, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_SIZE);
    for (int i = 0; i < 33; i++) { /* 33 x 64 KiB > 2 MiB */
        e[i].data = big;
        e[i].len = CAIRN_ENTRY_MAX_LEN;
    }
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, e, 32, bits, &h, id, &why), 0);
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, e, 33, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_SIZE);
    for (int i = 0; i <= CAIRN_BLOCK_MAX_ENTRIES; i++) {
        e[i].data = big;
        e[i].len = 1;
    }
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, e, 4096, bits, &h, id, &why), 0);
    assert_int_equal(cairn_block_precheck(NULL, b.raw, 96, e, 4097, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_COUNT);

    tblock v = b;
    v.hdr.version = 2;
    tb_seal(&v);
    assert_int_equal(cairn_block_precheck(NULL, v.raw, 96, NULL, 0, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_VERSION);
    /* version is checked before bits, bits before PoW */
    v.hdr.bits = 1;
    tb_encode(&v);
    assert_int_equal(cairn_block_precheck(NULL, v.raw, 96, NULL, 0, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_VERSION);

    tblock w = b;
    w.hdr.bits = 1; /* easier than the network's: valid PoW for 1 bit, wrong bits */
    tb_seal(&w);
    assert_int_equal(cairn_block_precheck(NULL, w.raw, 96, NULL, 0, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_BITS);

    tblock p = b;
    do { /* a nonce whose ID misses the target */
        p.hdr.nonce++;
        tb_encode(&p);
    } while (cairn_pow_ok(p.id, bits));
    assert_int_equal(cairn_block_precheck(NULL, p.raw, 96, NULL, 0, bits, &h, id, &why),
                     INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_POW);
}

static void body_rules(void **state)
{
    (void)state;
    test_env te;
    test_env_init(&te, 1);
    const cairn_mem *mem = &te.mem;
    uint32_t why;
    int match = -1;
    uint8_t root[32];
    const uint8_t a[] = {0x00, 'a'}, bb[] = {0x00, 'b'}, bad[] = {0x07};
    cairn_bytes_ref e[3] = {{a, 2}, {bb, 2}, {a, 2}};

    assert_int_equal(cairn_block_entries_root(NULL, root, e, 2), 0);
    assert_int_equal(cairn_block_check_body(NULL, mem, e, 2, root, &why, &match), 0);
    assert_int_equal(match, 1);
    assert_int_equal(cairn_block_check_body(NULL, mem, e, 1, root, &why, &match), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_ROOT);
    assert_int_equal(match, 0);

    assert_int_equal(cairn_block_entries_root(NULL, root, e, 3), 0);
    assert_int_equal(cairn_block_check_body(NULL, mem, e, 3, root, &why, &match), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_DUPLICATE_ENTRY);
    assert_int_equal(match, 1); /* the header commits to the duplicate */

    e[1].data = bad;
    e[1].len = 1;
    assert_int_equal(cairn_block_check_body(NULL, mem, e, 3, root, &why, &match), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_ENTRY); /* entries before duplicates */
    assert_int_equal(match, 0);

    /* empty body: root = SHA-256("") */
    uint8_t empty[32];
    cairn_sha256(empty, "", 0);
    assert_int_equal(cairn_block_check_body(NULL, mem, NULL, 0, empty, &why, NULL), 0);
    assert_int_equal(te.live, 0);

    /* allocation failure is a local error, not a verdict */
    te.fail_at = te.allocs;
    assert_int_equal(cairn_block_check_body(NULL, mem, e, 2, root, &why, NULL), CAIRN_ERR_NOMEM);
}

static void time_and_link(void **state)
{
    (void)state;
    uint32_t why;
    uint64_t t[11] = {5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11};
    assert_int_equal(cairn_block_median_time(t, 11), 6);
    assert_int_equal(cairn_block_median_time(t, 1), 5);
    assert_int_equal(cairn_block_median_time(t, 2), 5); /* {1,5}: the upper middle */
    assert_int_equal(cairn_block_median_time(t, 4), 5); /* {1,3,5,9} */
    assert_int_equal(t[0], 5);                          /* input untouched */

    cairn_block_header h = {.time_ms = 1000};
    assert_int_equal(cairn_block_check_time(&h, 999, 0, &why), 0);
    assert_int_equal(cairn_block_check_time(&h, 1000, 0, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_TIME_TOO_OLD);
    h.time_ms = 200000;
    assert_int_equal(cairn_block_check_time(&h, 0, 80000, &why), 0);
    assert_int_equal(cairn_block_check_time(&h, 0, 79999, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_TIME_TOO_NEW);
    h.time_ms = UINT64_MAX;
    assert_int_equal(cairn_block_check_time(&h, 0, UINT64_MAX - 5, &why), 0);

    cairn_block_header parent = {.height = 7};
    uint8_t pid[32] = {1};
    h.height = 8;
    memcpy(h.prev_id, pid, 32);
    assert_int_equal(cairn_block_check_link(&h, &parent, pid, &why), 0);
    h.height = 9;
    assert_int_equal(cairn_block_check_link(&h, &parent, pid, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_HEIGHT);
    h.prev_id[0] = 2;
    assert_int_equal(cairn_block_check_link(&h, &parent, pid, &why), INVALID_BLOCK);
    assert_int_equal(why, CAIRN_BLOCK_BAD_LINK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_layout),  cmocka_unit_test(genesis_ids),
        cmocka_unit_test(pow_and_work),   cmocka_unit_test(reason_registry),
        cmocka_unit_test(entries),        cmocka_unit_test(manifests),
        cmocka_unit_test(precheck_rules), cmocka_unit_test(body_rules),
        cmocka_unit_test(time_and_link),
    };
    return cmocka_run_group_tests_name("chain_block", tests, NULL, NULL);
}
