/* base layer: errors, buffers, byte order, hex, SHA-256, Ed25519. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cairn/crypto.h"
#include "testenv.h"

static void test_error_ranges(void **state)
{
    (void)state;
    int rv = CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC);
    assert_int_equal(cairn_err_wire_code(rv), CAIRN_E_BAD_MAGIC);
    assert_string_equal(cairn_strerror(rv), "BAD_MAGIC");
    assert_true(cairn_err_is_fatal(rv));
    assert_false(cairn_err_is_fatal(CAIRN_ERR_PROTO(CAIRN_E_BUSY)));
    assert_false(cairn_err_is_fatal(CAIRN_ERR_AGAIN));
    assert_false(cairn_err_is_fatal(CAIRN_ERR_INVALID_ARG));
    assert_true(cairn_err_is_fatal(CAIRN_ERR_NOMEM));
    assert_int_equal(cairn_err_wire_code(CAIRN_ERR_NOMEM), 0);
    assert_int_equal(cairn_err_wire_code(0), 0);
    /* every registered code has a name that maps back */
    for (uint32_t c = 1; c <= CAIRN_E_MAX; c++)
        assert_int_equal(cairn_wire_error_from_name(cairn_wire_error_name(c)), c);
    assert_null(cairn_wire_error_name(CAIRN_E_MAX + 1));
    assert_int_equal(cairn_wire_error_from_name("NOPE"), 0);
    /* unknown codes are fatal; exactly three registered codes are not */
    assert_true(cairn_wire_error_is_fatal(9999));
    int nonfatal = 0;
    for (uint32_t c = 1; c <= CAIRN_E_MAX; c++)
        nonfatal += !cairn_wire_error_is_fatal(c);
    assert_int_equal(nonfatal, 3);
}

static void test_buf(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_buf b;
    cairn_buf_init(&b, &t.mem);
    for (int i = 0; i < 1000; i++) {
        uint8_t x = (uint8_t)i;
        assert_int_equal(cairn_buf_append(&b, &x, 1), 0);
    }
    assert_int_equal(b.len, 1000);
    cairn_buf_consume(&b, 990);
    assert_int_equal(b.len, 10);
    assert_int_equal(cairn_buf_data(&b)[0], (uint8_t)990);
    /* reclaiming consumed space keeps the data */
    uint8_t big[600] = {0};
    assert_int_equal(cairn_buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(cairn_buf_data(&b)[9], (uint8_t)999);
    cairn_buf_consume(&b, 5000);
    assert_int_equal(b.len, 0);
    cairn_buf_free(&b);
    assert_int_equal(t.live, 0);
    /* failing allocator: append reports NOMEM, buffer stays usable */
    t.fail_at = t.allocs;
    assert_int_equal(cairn_buf_append(&b, big, 10), CAIRN_ERR_NOMEM);
    assert_int_equal(cairn_buf_append(&b, big, 10), 0);
    cairn_buf_free(&b);
    assert_int_equal(t.live, 0);
}

static void test_byte_order_and_hex(void **state)
{
    (void)state;
    uint8_t b[8];
    cairn_put_u64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_true(cairn_get_u64(b) == 0x0102030405060708ull);
    cairn_put_u16(b, 0xCA1E);
    assert_int_equal(cairn_get_u16(b), 0xCA1E);
    char hex[17];
    cairn_hex_encode(hex, b, 2);
    assert_string_equal(hex, "ca1e");
    uint8_t d[2];
    assert_int_equal(cairn_hex_decode(d, 2, "CA1e"), 0);
    assert_int_equal(d[0], 0xCA);
    assert_int_equal(cairn_hex_decode(d, 2, "ca1"), CAIRN_ERR_INVALID_ARG);
    assert_int_equal(cairn_hex_decode(d, 2, "cazz"), CAIRN_ERR_INVALID_ARG);
    /* untrusted text for display [ERR-4]: no line breaks, quotes or escapes pass */
    char esc[16];
    cairn_text_escape(esc, sizeof(esc), "a\n\"\x1b\\b");
    assert_string_equal(esc, "a\\x0a\\x22\\x1b");
    cairn_text_escape(esc, 6, "\xff\xfe");
    assert_string_equal(esc, "\\xff"); /* what fits, whole escapes only */
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t h[32];
    char hex[65];
    assert_int_equal(cairn_sha256(h, "", 0), 0);
    cairn_hex_encode(hex, h, 32);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(cairn_sha256(h, "abc", 3), 0);
    cairn_hex_encode(hex, h, 32);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cairn_sha256_ctx *c;
    assert_int_equal(cairn_sha256_ctx_new(&c), 0);
    for (int round = 0; round < 3; round++) { /* the context is reusable */
        assert_int_equal(cairn_sha256_init(c), 0);
        assert_int_equal(cairn_sha256_update(c, "a", 1), 0);
        assert_int_equal(cairn_sha256_update(c, "bc", 2), 0);
        assert_int_equal(cairn_sha256_final(c, h), 0);
        cairn_hex_encode(hex, h, 32);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    assert_int_equal(cairn_sha256_ctx_digest(c, h, "abc", 3), 0);
    cairn_hex_encode(hex, h, 32);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cairn_sha256_ctx_del(c);
    cairn_sha256_ctx_del(NULL);
}

static void test_ed25519(void **state)
{
    (void)state;
    /* RFC 8032 §7.1 TEST 1 */
    uint8_t seed[32], pub[32], sig[64], want_sig[64];
    cairn_hex_decode(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    cairn_hex_decode(pub, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    cairn_hex_decode(want_sig, 64,
                     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    cairn_identity *id;
    assert_int_equal(cairn_identity_from_seed(&id, seed), 0);
    assert_memory_equal(cairn_identity_public(id), pub, 32);
    assert_int_equal(cairn_identity_sign(id, sig, (const uint8_t *)"", 0), 0);
    assert_memory_equal(sig, want_sig, 64);
    assert_int_equal(cairn_ed25519_verify(pub, sig, (const uint8_t *)"", 0), 0);
    sig[5] ^= 1;
    assert_int_equal(cairn_ed25519_verify(pub, sig, (const uint8_t *)"", 0),
                     CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE));
    uint8_t back[32], node_id[32], want_id[32];
    assert_int_equal(cairn_identity_seed(id, back), 0);
    assert_memory_equal(back, seed, 32);
    assert_int_equal(cairn_identity_node_id(id, node_id), 0);
    cairn_sha256(want_id, pub, 32);
    assert_memory_equal(node_id, want_id, 32);
    cairn_identity_del(id);
    cairn_identity_del(NULL);

    test_env t;
    test_env_init(&t, 7);
    assert_int_equal(cairn_identity_generate(&id, &t.env), 0);
    assert_int_equal(cairn_identity_sign(id, sig, (const uint8_t *)"x", 1), 0);
    assert_int_equal(cairn_ed25519_verify(cairn_identity_public(id), sig, (const uint8_t *)"x", 1),
                     0);
    cairn_identity_del(id);
}

/* [AUTH-10] [AUTH-11] What OpenSSL alone accepts and spec §6.4.1 refuses. */
static void test_ed25519_strict(void **state)
{
    (void)state;
    static const char *small[14] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    uint8_t key[32], sig[64] = {1}; /* R = the identity, S = 0 */
    for (size_t i = 0; i < 14; i++) {
        cairn_hex_decode(key, 32, small[i]);
        assert_true(cairn_ed25519_small_order(key));
        assert_int_equal(cairn_ed25519_canonical(key), i < 10);
        for (size_t m = 0; m < 3; m++) /* any message */
            assert_int_equal(cairn_ed25519_verify(key, sig, (const uint8_t *)"abc", m),
                             CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE));
    }
    /* y = p - 1 is canonical, y = p .. 2^255 - 1 are not, whatever the sign bit. */
    cairn_hex_decode(key, 32, "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_true(cairn_ed25519_canonical(key));
    assert_false(cairn_ed25519_small_order(key));
    key[0] = 0xf0;
    assert_false(cairn_ed25519_canonical(key));
    key[31] = 0xff;
    assert_false(cairn_ed25519_canonical(key));
    key[30] = 0xfe;
    assert_true(cairn_ed25519_canonical(key));

    /* A valid signature with S + L instead of S: the same point, refused. */
    uint8_t seed[32] = {0x33};
    cairn_identity *id;
    assert_int_equal(cairn_identity_from_seed(&id, seed), 0);
    const uint8_t *pub = cairn_identity_public(id);
    assert_int_equal(cairn_identity_sign(id, sig, (const uint8_t *)"m", 1), 0);
    assert_int_equal(cairn_ed25519_verify(pub, sig, (const uint8_t *)"m", 1), 0);
    static const uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,       0xd6,
                                      0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        carry += (unsigned)sig[32 + i] + order[i];
        sig[32 + i] = (uint8_t)carry;
        carry >>= 8;
    }
    assert_int_equal(carry, 0);
    assert_int_equal(cairn_ed25519_verify(pub, sig, (const uint8_t *)"m", 1),
                     CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE));
    /* S = L exactly, with the signature's R. */
    memcpy(sig + 32, order, 32);
    assert_int_equal(cairn_ed25519_verify(pub, sig, (const uint8_t *)"m", 1),
                     CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE));
    cairn_identity_del(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_ranges),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_byte_order_and_hex),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_ed25519_strict),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
