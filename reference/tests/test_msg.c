/* msg layer: canonical wire scan, validation, budgeted decode, encode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cairn/msg.h"
#include "testenv.h"

#define E(code) CAIRN_ERR_PROTO(CAIRN_E_##code)

static int decode_hex(uint16_t type, const char *hex)
{
    test_env t;
    test_env_init(&t, 1);
    uint8_t buf[4096];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof(buf));
    assert_int_equal(cairn_hex_decode(buf, n, hex), 0);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &t.mem);
    ProtobufCMessage *m;
    int rv = cairn_msg_decode(&d, type, buf, n, &m);
    if (rv == 0)
        assert_non_null(m);
    cairn_msg_decoder_free(&d);
    assert_int_equal(t.live, 0);
    return rv;
}

static void test_scan_closes_protobuf_c_quirks(void **state)
{
    (void)state;
    /* Ping{nonce=7} */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0807"), 0);
    assert_int_equal(decode_hex(CAIRN_T_PING, ""), 0);
    /* tag 0 through a non-minimal key (80 00) that protobuf-c accepts */
    assert_int_equal(decode_hex(CAIRN_T_PING, "800000"), E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PING, "0000"), E(MALFORMED));
    /* field number 2^29 (key f8ffffff0f... with wire type 0) */
    assert_int_equal(decode_hex(CAIRN_T_PING, "8080808010"
                                              "00"),
                     E(MALFORMED));
    /* field number 2^29-1 is in range but unknown */
    assert_int_equal(decode_hex(CAIRN_T_PING, "f8ffffff0f"
                                              "01"),
                     E(INVALID_FIELD));
    /* non-minimal key for field 1 */
    assert_int_equal(decode_hex(CAIRN_T_PING, "880007"), E(NON_CANONICAL));
    /* non-minimal value */
    assert_int_equal(decode_hex(CAIRN_T_PING, "088700"), E(NON_CANONICAL));
    /* default value on the wire */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0800"), E(NON_CANONICAL));
    /* singular field twice (protobuf-c keeps the last, so does Google; we refuse) */
    assert_int_equal(decode_hex(CAIRN_T_PING, "08010802"), E(NON_CANONICAL));
    /* wire type mismatch for a known field */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0a0101"), E(MALFORMED));
    /* groups and reserved wire types */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0b0c"), E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PING, "0e"), E(MALFORMED));
    /* truncated varint, 11-byte varint, overflowing 10th byte */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0880"), E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PING, "08ffffffffffffffffffff01"), E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PING, "08ffffffffffffffffff02"), E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PING, "08ffffffffffffffffff01"), 0); /* 2^64-1 */
    assert_int_equal(decode_hex(CAIRN_T_PING, "08ffffffffffffffff01"), 0);
    /* length past the end */
    assert_int_equal(decode_hex(CAIRN_T_AUTH, "0a05aabb"), E(MALFORMED));
    /* empty bytes encoded */
    assert_int_equal(decode_hex(CAIRN_T_AUTH, "0a00"), E(NON_CANONICAL));
    /* unknown field */
    assert_int_equal(decode_hex(CAIRN_T_PING, "08011001"), E(INVALID_FIELD));
    /* out of order: NotFound has only field 1; GetChunk: index(3) before file_id(2) */
    assert_int_equal(decode_hex(CAIRN_T_GET_CHUNK,
                                "0801"
                                "1805"
                                "1220"
                                "0000000000000000000000000000000000000000000000000000000000000000"),
                     E(NON_CANONICAL));
    /* uint32 over 2^32-1 */
    assert_int_equal(decode_hex(CAIRN_T_ERROR, "0806"
                                               "20ffffffff1f"),
                     E(INVALID_FIELD));
}

static void test_oneof(void **state)
{
    (void)state;
    /* GetBlock{request_id=1, height=0}: a oneof member may carry its default */
    assert_int_equal(decode_hex(CAIRN_T_GET_BLOCK, "0801"
                                                   "1800"),
                     0);
    /* both members of the oneof */
    assert_int_equal(decode_hex(CAIRN_T_GET_BLOCK,
                                "0801"
                                "1220"
                                "0000000000000000000000000000000000000000000000000000000000000000"
                                "1801"),
                     E(NON_CANONICAL));
    /* neither member */
    assert_int_equal(decode_hex(CAIRN_T_GET_BLOCK, "0801"), E(INVALID_FIELD));
}

static void test_validation(void **state)
{
    (void)state;
    /* request_id 0 (absent) on a request or response */
    assert_int_equal(decode_hex(CAIRN_T_GET_PEERS, ""), E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_GET_PEERS, "0801"), 0);
    assert_int_equal(decode_hex(CAIRN_T_NOT_FOUND, ""), E(INVALID_FIELD));
    /* Auth with a 63-byte signature */
    char hex[300] = "0a3f";
    for (int i = 0; i < 63; i++)
        strcat(hex, "ab");
    assert_int_equal(decode_hex(CAIRN_T_AUTH, hex), E(INVALID_FIELD));
    strcpy(hex, "0a40");
    for (int i = 0; i < 64; i++)
        strcat(hex, "ab");
    assert_int_equal(decode_hex(CAIRN_T_AUTH, hex), 0);
    /* Error with code 0 (absent) */
    assert_int_equal(decode_hex(CAIRN_T_ERROR, "1201"
                                               "41"),
                     E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_ERROR, "0802"
                                               "1201"
                                               "41"),
                     0);
    /* Peers: an address of 5 bytes; then a port of 0 (absent) */
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "1209"
                                               "0a050102030405"
                                               "1001"),
                     E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "1206"
                                               "0a047f000001"),
                     E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "1209"
                                               "0a047f000001"
                                               "10e539"),
                     0);
    /* a submessage is scanned by the same rules */
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "120a"
                                               "0a047f000001"
                                               "10e53900"),
                     E(MALFORMED));
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "1209"
                                               "10e539"
                                               "0a047f000001"),
                     E(NON_CANONICAL));
    /* [ENC-4] classes outrank each other wherever the breaches sit: */
    /* out of order, then a tag 0 inside the same submessage: MALFORMED */
    assert_int_equal(decode_hex(CAIRN_T_PEERS, "0801"
                                               "120a"
                                               "10e539"
                                               "0a047f000001"
                                               "00"),
                     E(MALFORMED));
    /* an unknown field (5), then a known field with its default value: NON_CANONICAL */
    assert_int_equal(decode_hex(CAIRN_T_ERROR, "0802"
                                               "2801"
                                               "1800"),
                     E(NON_CANONICAL));
    /* an unknown field, then a truncated varint: MALFORMED */
    assert_int_equal(decode_hex(CAIRN_T_PING, "0807"
                                              "1001"
                                              "1880"),
                     E(MALFORMED));
    /* a non-minimal value, then an unknown field: NON_CANONICAL */
    assert_int_equal(decode_hex(CAIRN_T_PING, "088700"
                                              "1001"),
                     E(NON_CANONICAL));
    /* Entries with zero entries; SubmitEntry with an empty entry */
    assert_int_equal(decode_hex(CAIRN_T_ENTRIES, ""), E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_ENTRIES, "0a00"), E(INVALID_FIELD));
    assert_int_equal(decode_hex(CAIRN_T_ENTRIES, "0a0100"), 0);
    /* GetHeaders: max_count 2001 */
    char gh[200] = "0801"
                   "1220";
    for (int i = 0; i < 32; i++)
        strcat(gh, "11");
    strcat(gh, "20d10f");
    assert_int_equal(decode_hex(CAIRN_T_GET_HEADERS, gh), E(INVALID_FIELD));
    gh[strlen(gh) - 6] = 0;
    strcat(gh, "20d00f"); /* 2000 */
    assert_int_equal(decode_hex(CAIRN_T_GET_HEADERS, gh), 0);
}

static void test_repeated_caps_before_unpack(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    /* Entries with 17 one-byte entries: refused by the scan, nothing allocated */
    uint8_t b[2 + 17 * 3], *p = b;
    *p++ = 0x08;
    *p++ = 0x01;
    for (int i = 0; i < 17; i++) {
        *p++ = 0x0a;
        *p++ = 0x01;
        *p++ = 0x00;
    }
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &t.mem);
    ProtobufCMessage *m;
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_ENTRIES, b + 2, sizeof(b) - 2, &m),
                     E(INVALID_FIELD));
    assert_int_equal(t.allocs, 0);
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_ENTRIES, b + 2, 16 * 3, &m), 0);
    cairn_msg_decoder_free(&d);
    assert_int_equal(t.live, 0);
}

static void test_amplification_is_bounded(void **state)
{
    (void)state;
    /* Block with 4096 one-byte entries: the worst element count the scan
     * admits; the arena stays within the documented budget. */
    test_env t;
    test_env_init(&t, 1);
    static uint8_t b[2 + 98 + 4097 * 3];
    uint8_t *p = b;
    *p++ = 0x08;
    *p++ = 0x01;
    *p++ = 0x12;
    *p++ = 96;
    memset(p, 0x11, 96);
    p += 96;
    for (int i = 0; i < 4096; i++) {
        *p++ = 0x1a;
        *p++ = 0x01;
        *p++ = (uint8_t)i;
    }
    size_t len = (size_t)(p - b);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &t.mem);
    ProtobufCMessage *m;
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_BLOCK, b, len, &m), 0);
    assert_int_equal(((Cairn__V1__Block *)m)->n_entries, 4096);
    size_t occ;
    assert_int_equal(cairn_msg_scan(&cairn__v1__block__descriptor, b, len, &occ), 0);
    assert_int_equal(occ, 4098);
    assert_true(d.arena.high_water <= cairn_msg_budget(len, occ));
    /* once the message is no longer used, a trim gives all of it back and
     * the decoder still works */
    assert_true(t.live > 0);
    cairn_msg_decoder_trim(&d);
    assert_int_equal(t.live, 0);
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_BLOCK, b, len, &m), 0);
    assert_int_equal(((Cairn__V1__Block *)m)->n_entries, 4096);
    /* one more entry is refused by the scan */
    *p++ = 0x1a;
    *p++ = 0x01;
    *p++ = 0x00;
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_BLOCK, b, (size_t)(p - b), &m), E(INVALID_FIELD));
    cairn_msg_decoder_free(&d);
    assert_int_equal(t.live, 0);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_buf out;
    cairn_buf_init(&out, &t.mem);
    Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
    uint8_t data[1000], h[3][32];
    memset(data, 0x5a, sizeof(data));
    memset(h, 0x33, sizeof(h));
    ProtobufCBinaryData proof[3] = {{32, h[0]}, {32, h[1]}, {32, h[2]}};
    c.request_id = 9;
    c.index = 0; /* default: omitted on the wire */
    c.data = (ProtobufCBinaryData){sizeof(data), data};
    c.n_proof = 3;
    c.proof = proof;
    assert_int_equal(cairn_msg_encode(&c.base, &out), 0);
    const uint8_t *f = cairn_buf_data(&out);
    assert_int_equal(f[0], 0xCA);
    assert_int_equal(cairn_get_u16(f + 2), CAIRN_T_CHUNK);
    assert_int_equal(cairn_get_u32(f + 4), out.len - 8);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &t.mem);
    ProtobufCMessage *m;
    assert_int_equal(cairn_msg_decode(&d, CAIRN_T_CHUNK, f + 8, out.len - 8, &m), 0);
    Cairn__V1__Chunk *c2 = (Cairn__V1__Chunk *)m;
    assert_int_equal(c2->request_id, 9);
    assert_int_equal(c2->n_proof, 3);
    assert_memory_equal(c2->data.data, data, sizeof(data));
    /* what we pack is exactly what the scan calls canonical: repack == input */
    uint8_t again[2000];
    assert_int_equal(protobuf_c_message_pack(m, again), out.len - 8);
    assert_memory_equal(again, f + 8, out.len - 8);
    /* invalid messages are refused by encode */
    c.n_proof = 1;
    proof[0].len = 31;
    assert_int_equal(cairn_msg_encode(&c.base, &out), E(INVALID_FIELD));
    c.request_id = 0;
    proof[0].len = 32;
    assert_int_equal(cairn_msg_encode(&c.base, &out), E(INVALID_FIELD));
    cairn_msg_decoder_free(&d);
    cairn_buf_free(&out);
    assert_int_equal(t.live, 0);
}

/* A borrowing decoder's Chunk equals protobuf-c's, with data and proof in the payload. */
static void test_chunk_borrowed(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1);
    cairn_buf out;
    cairn_buf_init(&out, &t.mem);
    uint8_t data[3000], h[5][32];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 5; i++)
        memset(h[i], 0x40 + i, 32);
    ProtobufCBinaryData proof[5];
    for (int i = 0; i < 5; i++)
        proof[i] = (ProtobufCBinaryData){32, h[i]};
    cairn_msg_decoder plain, borrow;
    cairn_msg_decoder_init(&plain, &t.mem);
    cairn_msg_decoder_init(&borrow, &t.mem);
    borrow.borrow = 1;
    /* with and without index and proof (defaults are omitted on the wire) */
    const size_t lens[] = {sizeof(data), 1, 17};
    for (size_t v = 0; v < 3; v++) {
        Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
        c.request_id = 300 + v;
        c.index = v == 1 ? 0 : 1234567 + v;
        c.data = (ProtobufCBinaryData){lens[v], lens[v] ? data : NULL};
        c.n_proof = v == 1 ? 0 : 5 - v;
        c.proof = c.n_proof ? proof : NULL;
        cairn_buf_reset(&out, 0);
        assert_int_equal(cairn_msg_encode(&c.base, &out), 0);
        const uint8_t *pl = cairn_buf_data(&out) + 8;
        size_t n = out.len - 8;
        ProtobufCMessage *ma, *mb;
        assert_int_equal(cairn_msg_decode(&plain, CAIRN_T_CHUNK, pl, n, &ma), 0);
        assert_int_equal(cairn_msg_decode(&borrow, CAIRN_T_CHUNK, pl, n, &mb), 0);
        const Cairn__V1__Chunk *a = (const Cairn__V1__Chunk *)ma, *b = (const Cairn__V1__Chunk *)mb;
        assert_ptr_equal(b->base.descriptor, &cairn__v1__chunk__descriptor);
        assert_int_equal(b->request_id, a->request_id);
        assert_int_equal(b->index, a->index);
        assert_int_equal(b->data.len, a->data.len);
        assert_int_equal(b->data.data == NULL, a->data.data == NULL);
        if (b->data.len) {
            assert_memory_equal(b->data.data, a->data.data, a->data.len);
            assert_true(b->data.data > pl && b->data.data + b->data.len <= pl + n); /* borrowed */
        }
        assert_int_equal(b->n_proof, a->n_proof);
        for (size_t i = 0; i < b->n_proof; i++) {
            assert_int_equal(b->proof[i].len, 32);
            assert_memory_equal(b->proof[i].data, a->proof[i].data, 32);
            assert_true(b->proof[i].data > pl && b->proof[i].data + 32 <= pl + n);
        }
        uint8_t again[4000]; /* and it packs back to the same bytes */
        assert_int_equal(protobuf_c_message_pack(mb, again), n);
        assert_memory_equal(again, pl, n);
    }
    /* what the scan refuses is refused the same way: a proof hash of 31 bytes */
    static const uint8_t bad[] = {0x08, 0x01, 0x22, 0x1f};
    ProtobufCMessage *m;
    assert_int_equal(cairn_msg_decode(&borrow, CAIRN_T_CHUNK, bad, sizeof(bad), &m),
                     cairn_msg_decode(&plain, CAIRN_T_CHUNK, bad, sizeof(bad), &m));
    cairn_msg_decoder_free(&plain);
    cairn_msg_decoder_free(&borrow);
    cairn_buf_free(&out);
    assert_int_equal(t.live, 0);
}

static void test_pairing(void **state)
{
    (void)state;
    assert_true(cairn_msg_answers(CAIRN_T_GET_BLOCK, CAIRN_T_NOT_FOUND));
    assert_true(cairn_msg_answers(CAIRN_T_GET_BLOCK, CAIRN_T_BLOCK));
    assert_true(cairn_msg_answers(CAIRN_T_GET_PEERS, CAIRN_T_ERROR));
    assert_false(cairn_msg_answers(CAIRN_T_GET_HEADERS, CAIRN_T_NOT_FOUND));
    assert_false(cairn_msg_answers(CAIRN_T_GET_PEERS, CAIRN_T_HEADERS));
    assert_false(cairn_msg_answers(CAIRN_T_PING, CAIRN_T_ERROR));
    assert_int_equal(cairn_msg_kind(CAIRN_T_ANNOUNCE), CAIRN_KIND_NOTIFY);
    assert_int_equal(cairn_msg_kind(0x0042), 0);
}

/* The message table (cairn/msgtypes.h) is consistent: every type is known to
 * each layer under one name, a request lists its responses and nothing else
 * does, and only the handshake types are refused in READY. */
#define TABLE_ROW(id, NAME, Name, cap, kind, desc, states, answers, v)                             \
    {id, #Name, cap, CAIRN_KIND_##kind, states, answers},
static const struct {
    uint16_t type;
    const char *name;
    uint32_t cap;
    int kind;
    unsigned states;
    uint64_t answers;
} table[] = {CAIRN_MSG_TABLE(TABLE_ROW)};
#undef TABLE_ROW

static void test_message_table(void **state)
{
    (void)state;
    size_t n = sizeof(table) / sizeof(table[0]);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        uint16_t t = table[i].type;
        assert_true(t < CAIRN_MSG_TYPE_BOUND);
        assert_string_equal(cairn_frame_type_name(t), table[i].name);
        assert_int_equal(cairn_frame_type_from_name(table[i].name), t);
        assert_int_equal(cairn_frame_type_cap(t), table[i].cap);
        assert_true(table[i].cap <= CAIRN_FRAME_MAX_HARD);
        assert_non_null(cairn_msg_descriptor(t));
        assert_string_equal(cairn_msg_descriptor(t)->short_name, table[i].name);
        assert_int_equal(cairn_msg_kind(t), table[i].kind);
        assert_true(table[i].states != 0);
        assert_int_equal((table[i].states & CAIRN_IN_READY) == 0,
                         table[i].kind == CAIRN_KIND_HANDSHAKE);
        assert_int_equal(table[i].answers != 0, table[i].kind == CAIRN_KIND_REQUEST);
        for (uint16_t r = 0; r < CAIRN_MSG_TYPE_BOUND; r++) {
            int listed = (table[i].answers >> r & 1) != 0;
            if (listed)
                assert_int_equal(cairn_msg_kind(r), CAIRN_KIND_RESPONSE);
            assert_int_equal(cairn_msg_answers(t, r),
                             listed || (r == CAIRN_T_ERROR && table[i].kind == CAIRN_KIND_REQUEST));
        }
    }
}

static void test_failing_allocator_sweep(void **state)
{
    (void)state;
    /* Fail each allocation of a decode in turn: a clean error, no leak. */
    Cairn__V1__Peers p = CAIRN__V1__PEERS__INIT;
    Cairn__V1__PeerAddress a[50], *ap[50];
    uint8_t ip[4] = {127, 0, 0, 1};
    for (int i = 0; i < 50; i++) {
        cairn__v1__peer_address__init(&a[i]);
        a[i].ip = (ProtobufCBinaryData){4, ip};
        a[i].port = 7000 + (uint32_t)i;
        ap[i] = &a[i];
    }
    p.request_id = 3;
    p.n_peers = 50;
    p.peers = ap;
    test_env t;
    test_env_init(&t, 1);
    cairn_buf out;
    cairn_buf_init(&out, &t.mem);
    assert_int_equal(cairn_msg_encode(&p.base, &out), 0);
    long clean = -1;
    for (long n = 0; clean < 0 && n < 1000; n++) {
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, &t.mem);
        long before = t.live;
        t.fail_at = t.allocs + n;
        ProtobufCMessage *m;
        int rv = cairn_msg_decode(&d, CAIRN_T_PEERS, cairn_buf_data(&out) + 8, out.len - 8, &m);
        if (t.fail_at == -2)
            assert_int_equal(rv, CAIRN_ERR_NOMEM);
        else
            clean = n, assert_int_equal(rv, 0);
        cairn_msg_decoder_free(&d);
        assert_int_equal(t.live, before);
    }
    assert_true(clean >= 1);
    cairn_buf_free(&out);
    assert_int_equal(t.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_closes_protobuf_c_quirks),
        cmocka_unit_test(test_oneof),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_repeated_caps_before_unpack),
        cmocka_unit_test(test_amplification_is_bounded),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_chunk_borrowed),
        cmocka_unit_test(test_pairing),
        cmocka_unit_test(test_failing_allocator_sweep),
        cmocka_unit_test(test_message_table),
    };
    return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
