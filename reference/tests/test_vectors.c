/* spec/vectors: every valid frame decodes to its fields and re-encodes to its
 * bytes; every invalid input is rejected with its error code; handshake
 * vectors re-derive from their seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cairn/json.h"
#include "cairn/session.h"
#include "testenv.h"

static json_t *load(const char *file)
{
    char path[4096];
    const char *src = getenv("CAIRN_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/spec/vectors/%s", src ? src : ".", file);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s: %s", path, err.text);
    return j;
}

static uint8_t *unhex(const char *hex, size_t *n)
{
    *n = strlen(hex) / 2;
    uint8_t *b = malloc(*n + 1);
    assert_int_equal(cairn_hex_decode(b, *n, hex), 0);
    return b;
}

/* Decodes the first frame of `b`; returns 0 or the error, *m the message. */
static int decode_frame(test_env *t, cairn_msg_decoder *d, const uint8_t *b, size_t n,
                        uint16_t *type, ProtobufCMessage **m)
{
    cairn_frame_decoder fd;
    cairn_frame_decoder_init(&fd, &t->mem, CAIRN_FRAME_MAX_MIN);
    const uint8_t *p = b;
    cairn_frame f;
    int rv = cairn_frame_decoder_next(&fd, &p, b + n, &f);
    if (rv == 0) {
        *type = f.type;
        rv = cairn_msg_decode(d, f.type, f.payload, f.length, m);
    }
    cairn_frame_decoder_free(&fd);
    return rv;
}

static void test_valid_frames(void **state)
{
    (void)state;
    json_t *root = load("frames.json"), *v;
    size_t i;
    int types_seen[0x40] = {0};
    assert_true(json_array_size(json_object_get(root, "valid")) >= 30);
    json_array_foreach(json_object_get(root, "valid"), i, v)
    {
        test_env t;
        test_env_init(&t, 1);
        const char *name = json_string_value(json_object_get(v, "name"));
        size_t n;
        uint8_t *b = unhex(json_string_value(json_object_get(v, "hex")), &n);
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, &t.mem);
        uint16_t type = 0;
        ProtobufCMessage *m = NULL;
        int rv = decode_frame(&t, &d, b, n, &type, &m);
        if (rv)
            fail_msg("%s: %s", name, cairn_strerror(rv));
        assert_string_equal(cairn_frame_type_name(type),
                            json_string_value(json_object_get(v, "type")));
        types_seen[type & 0x3f] = 1;
        json_t *fields = cairn_json_from_msg(m);
        if (!json_equal(fields, json_object_get(v, "fields")))
            fail_msg("%s: fields differ", name);
        /* fields -> message -> bytes gives the vector back */
        cairn_arena a;
        cairn_arena_init(&a, &t.mem);
        cairn_arena_reset(&a, 1 << 20);
        ProtobufCMessage *m2;
        char err[200];
        assert_int_equal(cairn_json_to_msg(json_object_get(v, "fields"), m->descriptor, &a, &m2,
                                           err, sizeof(err)),
                         0);
        cairn_buf out;
        cairn_buf_init(&out, &t.mem);
        assert_int_equal(cairn_msg_encode(m2, &out), 0);
        assert_int_equal(out.len, n);
        assert_memory_equal(cairn_buf_data(&out), b, n);
        cairn_buf_free(&out);
        cairn_arena_free(&a);
        json_decref(fields);
        cairn_msg_decoder_free(&d);
        free(b);
        assert_int_equal(t.live, 0);
    }
    /* every registered type has a valid vector */
    for (uint16_t ty = 1; ty < 0x40; ty++)
        if (cairn_frame_type_cap(ty))
            assert_true(types_seen[ty]);
    json_decref(root);
}

/*
 * The code a READY session with no request outstanding closes with when it
 * reads `b` as its first frame after the handshake (0: it stays open).
 */
static uint32_t ready_session_code(test_env *t, const uint8_t *b, size_t n)
{
    uint8_t seed[32], net[32];
    memset(net, 0x4e, 32);
    cairn_identity *id[2];
    cairn_session *s[2];
    for (int i = 0; i < 2; i++) {
        memset(seed, 0x31 + i, 32);
        assert_int_equal(cairn_identity_from_seed(&id[i], seed), 0);
        cairn_session_config c = {0};
        c.initiator = !i;
        c.identity = id[i];
        memcpy(c.network_id, net, 32);
        assert_int_equal(cairn_session_new(&s[i], &c, NULL, NULL, &t->env), 0);
    }
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 2; i++) {
            const uint8_t *d;
            size_t k = cairn_session_pending(s[i], &d);
            assert_int_equal(cairn_session_recv(s[!i], d, k), (long)k);
            cairn_session_sent(s[i], k);
        }
    assert_int_equal(cairn_session_state(s[0]), CAIRN_SS_READY);
    (void)cairn_session_recv(s[0], b, n);
    const cairn_close_info *ci = cairn_session_close_info(s[0]);
    uint32_t code = ci ? ci->code : 0;
    for (int i = 0; i < 2; i++) {
        cairn_session_del(s[i]);
        cairn_identity_del(id[i]);
    }
    return code;
}

static void test_invalid_frames(void **state)
{
    (void)state;
    json_t *root = load("frames.json"), *v;
    size_t i;
    assert_true(json_array_size(json_object_get(root, "invalid")) >= 15);
    json_array_foreach(json_object_get(root, "invalid"), i, v)
    {
        test_env t;
        test_env_init(&t, 1);
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *want = json_string_value(json_object_get(v, "error"));
        size_t n;
        uint8_t *b = unhex(json_string_value(json_object_get(v, "hex")), &n);
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, &t.mem);
        uint16_t type = 0;
        ProtobufCMessage *m;
        int rv = decode_frame(&t, &d, b, n, &type, &m);
        uint32_t code = cairn_err_wire_code(rv);
        if (rv == 0) /* steps 4 and 5 (spec §5.8): the session decides */
            code = ready_session_code(&t, b, n);
        const char *got = cairn_wire_error_name(code);
        if (!got || strcmp(got, want) != 0)
            fail_msg("%s: want %s, got %s", name, want, got ? got : cairn_strerror(rv));
        /* a frame rejected by decoding is rejected the same way by a session */
        if (rv != 0 && type != CAIRN_T_HELLO && type != CAIRN_T_AUTH)
            assert_int_equal(ready_session_code(&t, b, n), code);
        cairn_msg_decoder_free(&d);
        free(b);
        assert_int_equal(t.live, 0);
    }
    json_decref(root);
}

static void test_handshakes(void **state)
{
    (void)state;
    json_t *root = load("handshake.json"), *v;
    size_t i;
    json_array_foreach(json_object_get(root, "vectors"), i, v)
    {
        json_t *side[2] = {json_object_get(v, "initiator"), json_object_get(v, "responder")};
        size_t li, lr, lb;
        uint8_t *hi = unhex(json_string_value(json_object_get(side[0], "hello_payload_hex")), &li);
        uint8_t *hr = unhex(json_string_value(json_object_get(side[1], "hello_payload_hex")), &lr);
        uint8_t *b = unhex(json_string_value(json_object_get(v, "binding_hex")), &lb);
        uint8_t th[32], want[64];
        assert_int_equal(cairn_transcript_hash(th, hi, li, hr, lr, b, lb), 0);
        cairn_hex_decode(want, 32, json_string_value(json_object_get(v, "transcript_hash_hex")));
        assert_memory_equal(th, want, 32);
        for (int s = 0; s < 2; s++) {
            uint8_t seed[32], sig[64], input[CAIRN_AUTH_INPUT_LEN];
            cairn_hex_decode(seed, 32, json_string_value(json_object_get(side[s], "seed_hex")));
            cairn_identity *id;
            assert_int_equal(cairn_identity_from_seed(&id, seed), 0);
            cairn_auth_input(input, s == 0, th);
            assert_int_equal(cairn_identity_sign(id, sig, input, sizeof(input)), 0);
            cairn_hex_decode(want, 64,
                             json_string_value(json_object_get(side[s], "auth_signature_hex")));
            assert_memory_equal(sig, want, 64); /* Ed25519 is deterministic */
            assert_int_equal(cairn_ed25519_verify(cairn_identity_public(id), sig, input, 45), 0);
            /* a signature made for the other role does not verify */
            cairn_auth_input(input, s != 0, th);
            assert_int_not_equal(cairn_ed25519_verify(cairn_identity_public(id), sig, input, 45),
                                 0);
            cairn_identity_del(id);
        }
        free(hi);
        free(hr);
        free(b);
    }
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_frames),
        cmocka_unit_test(test_invalid_frames),
        cmocka_unit_test(test_handshakes),
    };
    return cmocka_run_group_tests_name("vectors", tests, NULL, NULL);
}
