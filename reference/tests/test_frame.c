/* codec layer: frame header checks and the streaming decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cairn/frame.h"
#include "testenv.h"

static void hdr(uint8_t *p, uint8_t m0, uint8_t m1, uint16_t type, uint32_t len)
{
    p[0] = m0;
    p[1] = m1;
    cairn_put_u16(p + 2, type);
    cairn_put_u32(p + 4, len);
}

static int check(uint8_t m0, uint8_t m1, uint16_t type, uint32_t len, uint32_t max)
{
    uint8_t b[8];
    hdr(b, m0, m1, type, len);
    const uint8_t *p = b;
    cairn_frame_header h;
    int rv = cairn_frame_header_decode(&p, b + 8, &h, max);
    assert_ptr_equal(p, rv == 0 ? b + 8 : b); /* advances only on success */
    return rv;
}

static void test_header_checks(void **state)
{
    (void)state;
    const uint32_t max = CAIRN_FRAME_MAX_MIN;
    assert_int_equal(check(0xCA, 0x1E, CAIRN_T_PING, 10, max), 0);
    assert_int_equal(check(0xCA, 0x1F, CAIRN_T_PING, 10, max), CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC));
    assert_int_equal(check(0x47, 0x45, CAIRN_T_PING, 10, max), CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC));
    /* magic is checked before type and length */
    assert_int_equal(check(0, 0, 0, 0xFFFFFFFF, max), CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC));
    assert_int_equal(check(0xCA, 0x1E, 0, 0, max), CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE));
    assert_int_equal(check(0xCA, 0x1E, 0x0007, 0, max), CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE));
    assert_int_equal(check(0xCA, 0x1E, 0x7FFF, 0, max), CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE));
    /* type is checked before length */
    assert_int_equal(check(0xCA, 0x1E, 0x7FFF, 0xFFFFFFFF, max),
                     CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE));
    /* caps: per type, announced max, hard max */
    assert_int_equal(check(0xCA, 0x1E, CAIRN_T_PING, 32, max), 0);
    assert_int_equal(check(0xCA, 0x1E, CAIRN_T_PING, 33, max),
                     CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE));
    assert_int_equal(check(0xCA, 0x1E, CAIRN_T_BLOCK, 2162688, max), 0);
    assert_int_equal(check(0xCA, 0x1E, CAIRN_T_BLOCK, 2162689, max),
                     CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE));
    assert_int_equal(check(0xCA, 0x1E, 0x8000, max, max), 0);
    assert_int_equal(check(0xCA, 0x1E, 0x8000, max + 1, max),
                     CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE));
    assert_int_equal(check(0xCA, 0x1E, 0xFFFF, CAIRN_FRAME_MAX_HARD + 1, 0xFFFFFFFF),
                     CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE));
    /* fewer than 8 bytes: not yet */
    uint8_t b[8];
    hdr(b, 0xCA, 0x1E, CAIRN_T_PING, 0);
    const uint8_t *p = b;
    cairn_frame_header h;
    assert_int_equal(cairn_frame_header_decode(&p, b + 7, &h, max), CAIRN_ERR_AGAIN);
}

static void test_registry(void **state)
{
    (void)state;
    assert_string_equal(cairn_frame_type_name(CAIRN_T_HELLO), "Hello");
    assert_int_equal(cairn_frame_type_from_name("Chunk"), CAIRN_T_CHUNK);
    assert_null(cairn_frame_type_name(0x0042));
    assert_int_equal(cairn_frame_type_cap(0x0042), 0);
    assert_true(cairn_frame_type_is_ignorable(0x8000));
    assert_false(cairn_frame_type_is_ignorable(0x7FFF));
    /* every cap fits in the smallest max frame size a peer may announce */
    for (uint32_t t = 1; t < 0x8000; t++)
        assert_true(cairn_frame_type_cap((uint16_t)t) <= CAIRN_FRAME_MAX_MIN);
}

/* Three frames: Ping(2 bytes), an extension frame (5 bytes), Pong(3 bytes). */
static size_t stream(uint8_t *b)
{
    uint8_t *p = b;
    hdr(p, 0xCA, 0x1E, CAIRN_T_PING, 2);
    p[8] = 0x08;
    p[9] = 0x07;
    p += 10;
    hdr(p, 0xCA, 0x1E, 0x9000, 5);
    memset(p + 8, 0xEE, 5);
    p += 13;
    hdr(p, 0xCA, 0x1E, CAIRN_T_PONG, 3);
    p[8] = 0x08;
    p[9] = 0x81;
    p[10] = 0x01;
    return (size_t)(p + 11 - b);
}

/* Feeds `b` in pieces cut at `cuts` and checks the three frames come out. */
static void feed_split(const uint8_t *b, size_t n, const size_t *cuts, size_t ncuts)
{
    test_env t;
    test_env_init(&t, 1);
    cairn_frame_decoder d;
    cairn_frame_decoder_init(&d, &t.mem, CAIRN_FRAME_MAX_MIN);
    uint16_t seen[3];
    uint8_t payload0[2], payload2[3];
    int got = 0;
    size_t from = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : n;
        const uint8_t *p = b + from, *end = b + to;
        for (;;) {
            cairn_frame f;
            int rv = cairn_frame_decoder_next(&d, &p, end, &f);
            if (rv == CAIRN_ERR_AGAIN)
                break;
            assert_int_equal(rv, 0);
            assert_true(got < 3);
            seen[got] = f.type;
            if (got == 0)
                memcpy(payload0, f.payload, 2);
            if (got == 1)
                assert_null(f.payload);
            if (got == 2)
                memcpy(payload2, f.payload, 3);
            got++;
        }
        assert_ptr_equal(p, end); /* AGAIN means everything was taken */
        from = to;
    }
    assert_int_equal(got, 3);
    assert_int_equal(seen[0], CAIRN_T_PING);
    assert_int_equal(seen[1], 0x9000);
    assert_int_equal(seen[2], CAIRN_T_PONG);
    assert_int_equal(payload0[1], 0x07);
    assert_int_equal(payload2[2], 0x01);
    cairn_frame_decoder_free(&d);
    assert_int_equal(t.live, 0);
}

static void test_split_everywhere(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n = stream(b);
    feed_split(b, n, NULL, 0);
    for (size_t i = 0; i <= n; i++) /* one cut at every offset */
        feed_split(b, n, &i, 1);
    for (size_t i = 0; i <= n; i++) /* two cuts at every pair of offsets */
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            feed_split(b, n, cuts, 2);
        }
    size_t ones[64]; /* byte by byte */
    for (size_t i = 0; i < n; i++)
        ones[i] = i + 1;
    feed_split(b, n, ones, n);
}

static void test_decoder_errors_are_final(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_frame_decoder d;
    cairn_frame_decoder_init(&d, &t.mem, CAIRN_FRAME_MAX_MIN);
    uint8_t b[16];
    hdr(b, 0xCA, 0x1E, CAIRN_T_HELLO, 1025); /* over Hello's cap */
    const uint8_t *p = b;
    cairn_frame f;
    /* the header is rejected as soon as its 8th byte arrives */
    const uint8_t *end7 = b + 7;
    assert_int_equal(cairn_frame_decoder_next(&d, &p, end7, &f), CAIRN_ERR_AGAIN);
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 8, &f),
                     CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE));
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 16, &f), CAIRN_ERR_STATE);
    cairn_frame_decoder_free(&d);
    /* an oversized length never allocates */
    assert_int_equal(t.allocs, 0);
}

static void test_large_payload_nomem(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_frame_decoder d;
    cairn_frame_decoder_init(&d, &t.mem, CAIRN_FRAME_MAX_MIN);
    static uint8_t b[8 + 100000];
    hdr(b, 0xCA, 0x1E, CAIRN_T_HEADERS, 100000);
    const uint8_t *p = b;
    cairn_frame f;
    t.fail_at = 0;
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 100, &f), CAIRN_ERR_NOMEM);
    /* the same input can be offered again once memory is back */
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 100, &f), CAIRN_ERR_AGAIN);
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + sizeof(b), &f), 0);
    assert_int_equal(f.length, 100000);
    cairn_frame_decoder_free(&d);
    assert_int_equal(t.live, 0);
}

/* A large payload gathered across reads is given back by the trim between
 * reads, but never while it is still being gathered. */
static void test_trim_between_reads(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_frame_decoder d;
    cairn_frame_decoder_init(&d, &t.mem, CAIRN_FRAME_MAX_MIN);
    static uint8_t b[8 + 100000 + 8];
    hdr(b, 0xCA, 0x1E, CAIRN_T_HEADERS, 100000);
    for (size_t i = 8; i < 8 + 100000; i++)
        b[i] = (uint8_t)i;
    hdr(b + 8 + 100000, 0xCA, 0x1E, CAIRN_T_PING, 0);
    const uint8_t *p = b;
    cairn_frame f;
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 5000, &f), CAIRN_ERR_AGAIN);
    assert_int_equal(t.live, 1);
    cairn_frame_decoder_trim(&d); /* mid-payload: kept */
    assert_int_equal(t.live, 1);
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + 8 + 100000, &f), 0);
    assert_int_equal(f.length, 100000);
    assert_int_equal(f.payload[99999], (uint8_t)(8 + 99999)); /* the gathered bytes are intact */
    cairn_frame_decoder_trim(&d);
    assert_int_equal(t.live, 0);
    assert_int_equal(cairn_frame_decoder_next(&d, &p, b + sizeof(b), &f), 0);
    assert_int_equal(f.type, CAIRN_T_PING);
    cairn_frame_decoder_free(&d);
    assert_int_equal(t.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_checks),       cmocka_unit_test(test_registry),
        cmocka_unit_test(test_split_everywhere),    cmocka_unit_test(test_decoder_errors_are_final),
        cmocka_unit_test(test_large_payload_nomem), cmocka_unit_test(test_trim_between_reads),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
