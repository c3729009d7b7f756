/* spec/vectors/ed25519.json: libcairn's Ed25519 verifier (OpenSSL behind the
 * checks of spec §6.4.1) gives every vector the verdict the file requires.
 * ed25519_vectors.py check does the same with libsodium. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cairn/crypto.h"
#include "cairn/json.h"

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

static void hex(uint8_t *out, size_t n, json_t *v, const char *field)
{
    const char *s = json_string_value(json_object_get(v, field));
    assert_non_null(s);
    assert_int_equal(strlen(s), 2 * n);
    assert_int_equal(cairn_hex_decode(out, n, s), 0);
}

/* [AUTH-10] [AUTH-11] */
static void test_ed25519_vectors(void **state)
{
    (void)state;
    json_t *root = load("ed25519.json"), *v;
    json_t *vectors = json_object_get(root, "vectors");
    size_t i, n = json_array_size(vectors), valid = 0, speccheck = 0, wrong = 0;
    json_array_foreach(vectors, i, v)
    {
        uint8_t key[CAIRN_KEY_LEN], sig[CAIRN_SIG_LEN];
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *m = json_string_value(json_object_get(v, "msg"));
        assert_non_null(m);
        size_t mlen = strlen(m) / 2;
        uint8_t *msg = malloc(mlen + 1);
        assert_non_null(msg);
        hex(key, sizeof(key), v, "key");
        hex(sig, sizeof(sig), v, "sig");
        hex(msg, mlen, v, "msg");
        int want = json_is_true(json_object_get(v, "valid"));
        int rv = cairn_ed25519_verify(key, sig, msg, mlen);
        assert_true(rv == 0 || rv == CAIRN_ERR_PROTO(CAIRN_E_BAD_SIGNATURE));
        if ((rv == 0) != want) {
            print_error("%s: the file says %s, libcairn says %s\n", id, want ? "valid" : "invalid",
                        rv == 0 ? "valid" : "invalid");
            wrong++;
        }
        valid += want;
        speccheck += strncmp(id, "speccheck-", 10) == 0;
        free(msg);
    }
    assert_int_equal(wrong, 0);
    assert_int_equal(speccheck, 12);
    assert_true(n > 900 && valid > 0 && valid < n);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
