/*
 * The committed chain vectors, read back through the library: every valid
 * block accepted in its context with its ID, every invalid one rejected with
 * its reason, every Merkle root and proof reproduced.
 */
#include "chain_helpers.h"

#include <stdlib.h>

#include <jansson.h>

#include "cairn/merkle.h"

static json_t *load(const char *file)
{
    char path[1024];
    const char *root = getenv("CAIRN_REPO_DIR");
    snprintf(path, sizeof(path), "%s/spec/vectors/%s", root ? root : ".", file);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s: %s", path, err.text);
    return j;
}

/* Hex string to a malloc'd buffer. */
static uint8_t *unhex(json_t *s, size_t *len)
{
    const char *h = json_string_value(s);
    *len = strlen(h) / 2;
    uint8_t *p = malloc(*len + 1);
    assert_int_equal(cairn_hex_decode(p, *len, h), 0);
    return p;
}

static uint64_t vec_now;
static uint64_t vec_wall(void *ud)
{
    (void)ud;
    return vec_now;
}

/* Runs one block vector; returns the reason (0 = accepted). */
static uint32_t run_block(json_t *v, uint8_t id_out[32])
{
    test_env te;
    test_env_init(&te, 1);
    te.env.wall_ms = vec_wall;
    vec_now = (uint64_t)json_integer_value(json_object_get(v, "now_ms"));
    cairn_chain_config cfg = {
        .net = cairn_network_by_name(json_string_value(json_object_get(v, "network"))),
        .env = &te.env};
    assert_non_null(cfg.net);
    cairn_chain *c;
    assert_int_equal(cairn_chain_new(&c, &cfg), 0);
    /* Ancestors come as headers only: headers-first, then the block. */
    json_t *anc = json_object_get(v, "ancestors_hex");
    size_t na = json_array_size(anc), len, n_new;
    uint32_t why = 0;
    cairn_bytes_ref *hr = calloc(na + 1, sizeof(*hr));
    for (size_t i = 0; i < na; i++) {
        hr[i].data = unhex(json_array_get(anc, i), &len);
        hr[i].len = len;
    }
    if (na)
        assert_int_equal(cairn_chain_add_headers(c, hr, na, &n_new, &why), 0);
    json_t *ents = json_object_get(v, "entries_hex");
    size_t ne = json_array_size(ents);
    cairn_bytes_ref *er = calloc(ne + 1, sizeof(*er));
    for (size_t i = 0; i < ne; i++) {
        er[i].data = unhex(json_array_get(ents, i), &len);
        er[i].len = len;
    }
    uint8_t *h = unhex(json_object_get(v, "header_hex"), &len);
    cairn_chain_result r;
    int rv = cairn_chain_add_block(c, h, len, er, ne, &r, &why);
    if (rv == 0) {
        assert_true(r.status == CAIRN_CHAIN_ADDED || r.status == CAIRN_CHAIN_DUPLICATE);
        memcpy(id_out, r.block->id, 32);
        why = 0;
    } else {
        assert_int_equal(rv, CAIRN_ERR_PROTO(CAIRN_E_INVALID_BLOCK));
    }
    for (size_t i = 0; i < na; i++)
        free((void *)hr[i].data);
    for (size_t i = 0; i < ne; i++)
        free((void *)er[i].data);
    free(hr);
    free(er);
    free(h);
    cairn_chain_del(c);
    assert_int_equal(te.live, 0);
    return why;
}

static void blocks(void **state)
{
    (void)state;
    json_t *doc = load("blocks.json"), *v;
    size_t i, nets = 0;
    json_array_foreach(json_object_get(doc, "networks"), i, v)
    {
        const cairn_network *net =
            cairn_network_by_name(json_string_value(json_object_get(v, "name")));
        char hex[65];
        cairn_hex_encode(hex, net->genesis_id, 32);
        assert_string_equal(hex, json_string_value(json_object_get(v, "genesis_id_hex")));
        nets++;
    }
    assert_int_equal(nets, 2);
    size_t valid = 0;
    json_array_foreach(json_object_get(doc, "valid"), i, v)
    {
        uint8_t id[32];
        char hex[65];
        if (run_block(v, id) != 0)
            fail_msg("valid vector rejected: %s", json_string_value(json_object_get(v, "name")));
        cairn_hex_encode(hex, id, 32);
        assert_string_equal(hex, json_string_value(json_object_get(v, "id_hex")));
        valid++;
    }
    assert_true(valid >= 10);
    json_array_foreach(json_object_get(doc, "invalid"), i, v)
    {
        uint8_t id[32];
        uint32_t got = run_block(v, id);
        if (got != (uint32_t)json_integer_value(json_object_get(v, "reason")))
            fail_msg("%s: got %u", json_string_value(json_object_get(v, "name")), got);
        assert_string_equal(cairn_block_reason_name(got),
                            json_string_value(json_object_get(v, "reason_name")));
    }
    json_decref(doc);
}

/* [FORK-10] Blocks in arrival order; the tip after each is the vector's. */
static void fork_choice(void **state)
{
    (void)state;
    json_t *doc = load("blocks.json"), *v;
    size_t i, len;
    json_t *cases = json_object_get(doc, "fork_choice");
    assert_true(json_array_size(cases) > 0);
    json_array_foreach(cases, i, v)
    {
        test_env te;
        test_env_init(&te, 2);
        te.env.wall_ms = vec_wall;
        vec_now = UINT64_MAX / 2; /* no time limit in these cases */
        cairn_chain_config cfg = {
            .net = cairn_network_by_name(json_string_value(json_object_get(v, "network"))),
            .env = &te.env};
        cairn_chain *c;
        assert_int_equal(cairn_chain_new(&c, &cfg), 0);
        json_t *arr = json_object_get(v, "arrivals"), *tips = json_object_get(v, "tips_hex");
        assert_int_equal(json_array_size(arr), json_array_size(tips));
        for (size_t k = 0; k < json_array_size(arr); k++) {
            json_t *a = json_array_get(arr, k);
            uint8_t *h = unhex(json_object_get(a, "header_hex"), &len);
            json_t *es = json_object_get(a, "entries_hex");
            size_t ne = json_array_size(es);
            cairn_bytes_ref *e = calloc(ne + 1, sizeof(*e));
            for (size_t j = 0; j < ne; j++)
                e[j].data = unhex(json_array_get(es, j), &e[j].len);
            uint32_t why = 0;
            assert_int_equal(cairn_chain_add_block(c, h, len, e, ne, NULL, &why), 0);
            uint8_t want[32];
            cairn_hex_decode(want, 32, json_string_value(json_array_get(tips, k)));
            assert_memory_equal(cairn_chain_tip(c)->id, want, 32);
            for (size_t j = 0; j < ne; j++)
                free((void *)e[j].data);
            free(e);
            free(h);
        }
        cairn_chain_del(c);
        assert_int_equal(te.live, 0);
    }
    json_decref(doc);
}

static void merkle(void **state)
{
    (void)state;
    json_t *doc = load("merkle.json"), *v;
    size_t i, len;
    uint8_t root[32], want[32];
    json_array_foreach(json_object_get(doc, "roots"), i, v)
    {
        json_t *leaves = json_object_get(v, "leaves_hex");
        size_t n = json_array_size(leaves);
        uint8_t(*l)[32] = calloc(n + 1, 32);
        for (size_t k = 0; k < n; k++) {
            uint8_t *d = unhex(json_array_get(leaves, k), &len);
            cairn_merkle_leaf_hash(NULL, l[k], d, len);
            free(d);
        }
        assert_int_equal(cairn_merkle_root(NULL, root, (const uint8_t(*)[32])l, n), 0);
        cairn_hex_decode(want, 32, json_string_value(json_object_get(v, "root_hex")));
        assert_memory_equal(root, want, 32);
        free(l);
    }
    const char *lists[] = {"proofs", "invalid_proofs"};
    for (int k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(doc, lists[k]), i, v)
        {
            uint8_t leaf[32], path[64][32];
            uint8_t *d = unhex(json_object_get(v, "leaf_hex"), &len);
            cairn_merkle_leaf_hash(NULL, leaf, d, len);
            free(d);
            json_t *p = json_object_get(v, "path_hex");
            size_t np = json_array_size(p);
            assert_true(np <= 64);
            for (size_t j = 0; j < np; j++)
                cairn_hex_decode(path[j], 32, json_string_value(json_array_get(p, j)));
            cairn_hex_decode(root, 32, json_string_value(json_object_get(v, "root_hex")));
            int rv = cairn_merkle_verify(
                NULL, leaf, (uint64_t)json_integer_value(json_object_get(v, "index")),
                (uint64_t)json_integer_value(json_object_get(v, "tree_size")),
                (const uint8_t(*)[32])path, np, root);
            assert_int_equal(rv, k == 0 ? 0 : 1);
        }
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks),
        cmocka_unit_test(fork_choice),
        cmocka_unit_test(merkle),
    };
    return cmocka_run_group_tests_name("chain_vectors", tests, NULL, NULL);
}
