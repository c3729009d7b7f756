/* Seeds of the chain family: blocks, Merkle proofs, manifests, chain scripts, spec vectors. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_seeds.h"
/* ---- chain codec ------------------------------------------------------------------------- */

static const uint8_t devnet_entry[] = "\0Cairn devnet genesis: every block rests on the one below";

void block_seeds(void)
{
    /* The devnet genesis block (§9.8), network requiring 12 bits. */
    uint8_t in[512], *p = in;
    *p++ = 1; /* bits_sel: devnet */
    *p++ = 0; /* flags */
    *p++ = 0; /* 96-byte header */
    p = cairn_put_u32(p, 1);
    p = cairn_put_u64(p, 0);
    p = cairn_put_u64(p, 1767225600000ull);
    p = cairn_put_u32(p, 12);
    p = cairn_put_u64(p, 1816);
    memset(p, 0, 32);
    p += 32;
    uint8_t root[32];
    fuzz_hash2(root, 0x00, devnet_entry, sizeof(devnet_entry) - 1, NULL, 0);
    memcpy(p, root, 32);
    p += 32;
    p = cairn_put_u64(p, UINT64_MAX); /* no parent */
    *p++ = 0;
    p = cairn_put_u64(p, 1767225599999ull);
    p = cairn_put_u64(p, 1767225600000ull);
    p = cairn_put_u16(p, sizeof(devnet_entry) - 1);
    memcpy(p, devnet_entry, sizeof(devnet_entry) - 1);
    p += sizeof(devnet_entry) - 1;
    emit("block", in, (size_t)(p - in));
    /* Small-bits blocks that the target mines and roots itself: a child
     * (height 1), entries of both kinds, a duplicate, a bad kind, limits. */
    for (int k = 0; k < 8; k++) {
        p = in;
        *p++ = 0;                                     /* the header's own bits */
        *p++ = (uint8_t)(3 | (k == 7 ? 31 << 3 : 0)); /* fix root, mine; k=7 repeats */
        *p++ = k == 6 ? 210 : 0;
        p = cairn_put_u32(p, k == 5 ? 2 : 1);
        p = cairn_put_u64(p, 1);
        p = cairn_put_u64(p, 1767225660000ull);
        p = cairn_put_u32(p, (uint32_t)k);
        p = cairn_put_u64(p, 0);
        memset(p, k, 64);
        p += 64;
        p = cairn_put_u64(p, 0);
        *p++ = (uint8_t)(k << 4 | (k & 6));
        p = cairn_put_u64(p, 1767225600000ull);
        p = cairn_put_u64(p, 1767225660000ull);
        p = cairn_put_u16(p, sizeof(data_entry));
        memcpy(p, data_entry, sizeof(data_entry));
        p += sizeof(data_entry);
        p = cairn_put_u16(p, 43);
        memcpy(p, manifest_entry, 43);
        p += 43;
        if (k == 2) { /* duplicate */
            p = cairn_put_u16(p, sizeof(data_entry));
            memcpy(p, data_entry, sizeof(data_entry));
            p += sizeof(data_entry);
        }
        if (k == 3) { /* kind 7, and an empty entry */
            p = cairn_put_u16(p, 2);
            *p++ = 7;
            *p++ = 7;
            p = cairn_put_u16(p, 0);
        }
        if (k == 4) /* a 65537-byte entry */
            p = cairn_put_u16(p, 0xFFFF);
        emit("block", in, (size_t)(p - in));
    }
}

void merkle_seeds(void)
{
    static const uint16_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 100, 129};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t in[4 + 2 + 64 + 140], *p = in;
        p = cairn_put_u16(p, sizes[i]);
        p = cairn_put_u16(p, (uint16_t)(sizes[i] ? sizes[i] - 1 - i % sizes[i] : 0));
        *p++ = (uint8_t)(i * 2);
        *p++ = (uint8_t)(i * 37);
        if (i % 3 == 0) { /* a free-form proof: leaf, index, n, path, root */
            memset(p, 0, 32);
            p += 32;
            p = cairn_put_u64(p, 2);
            p = cairn_put_u64(p, 5);
            *p++ = 2;
            memset(p, 0xAB, 64);
            p += 64;
            memset(p, 0xCD, 32);
            p += 32;
        }
        emit("merkle", in, (size_t)(p - in));
    }
    /* Honest proofs in a huge tree, via the free-form section. */
    uint8_t in[4 + 2 + 32 + 16 + 1 + 64 * 32 + 32], *p = in;
    p = cairn_put_u16(p, 0);
    p = cairn_put_u16(p, 0);
    *p++ = 0;
    *p++ = 0;
    memset(p, 1, 32);
    p += 32;
    p = cairn_put_u64(p, UINT64_MAX - 1);
    p = cairn_put_u64(p, UINT64_MAX);
    *p++ = 64;
    memset(p, 2, 64 * 32 + 32);
    p += 64 * 32 + 32;
    emit("merkle", in, (size_t)(p - in));
}

/* fuzz_chain scripts (ops in fuzz_chain.c). */
void chain_seeds(void)
{
    uint8_t b[512];
    size_t n;
#define OP(...)                                                                                    \
    do {                                                                                           \
        uint8_t op_[] = {__VA_ARGS__};                                                             \
        memcpy(b + n, op_, sizeof(op_));                                                           \
        n += sizeof(op_);                                                                          \
    } while (0)
    /* A chain of five, queries, mining on top. */
    n = 0;
    for (int i = 0; i < 5; i++)
        OP(0, (uint8_t)i, 0, 0, 100, (uint8_t)i);
    OP(4, 0);
    OP(4, 0x13);
    OP(5, 2, 3, 0, 'a', 'b', 5, 1, 0, 0, 0, 0);
    emit("chain", b, n);
    /* A fork that overtakes: reorg. */
    n = 0;
    OP(0, 0, 0, 0, 10, 1);
    OP(0, 1, 0, 0, 10, 2);
    OP(0, 0, 0, 0, 20, 3);
    OP(0, 3, 0, 0, 20, 4);
    OP(0, 4, 0, 0, 20, 5);
    OP(4, 1);
    emit("chain", b, n);
    /* Orphans: children first, then the parent releases them. */
    n = 0;
    OP(0, 0, 0x80, 0, 10, 1);
    OP(0, 1, 0x80, 0, 10, 2);
    OP(0, 2, 0, 0, 10, 3);
    OP(1, 2);
    OP(1, 1);
    emit("chain", b, n);
    /* Headers first, then bodies out of order; a bad body remembered. */
    n = 0;
    OP(0, 0, 0x80, 0, 10, 1);
    OP(0, 1, 0x80, 0, 10, 2);
    OP(0, 2, 0x80, 0, 10, 3);
    OP(2, 3, 3);
    OP(4, 2);
    OP(1, 3);
    OP(1, 1);
    OP(1, 2);
    OP(0, 0, 0x80 | 0x20, 0, 10, 0x85);
    OP(2, 4, 1);
    OP(1, 4);
    OP(1, 4);
    emit("chain", b, n);
    /* Every verdict: version, bits, PoW, height, root, entries, time old/new. */
    n = 0;
    static const uint8_t flags[] = {1, 2, 4, 8, 16, 32, 32, 64, 0};
    for (size_t i = 0; i < sizeof(flags); i++)
        OP(0, 0, flags[i], i == 8 ? 0xFF : 0, i == 8 ? 0xFF : 10, (uint8_t)(i == 6 ? 0x81 : i));
    OP(3, 0xFF, 0xFF);
    OP(1, 9);
    emit("chain", b, n);
#undef OP
}

size_t manifest(uint8_t *m, uint64_t size, uint8_t log2, const char *name, size_t name_len)
{
    m[0] = 1;
    cairn_put_u64(m + 1, size);
    m[9] = log2;
    memset(m + 10, 0x5A, 32);
    m[42] = (uint8_t)name_len;
    memcpy(m + 43, name, name_len);
    return 43 + name_len;
}

void manifest_seeds(void)
{
    static const struct {
        uint64_t size;
        uint8_t log2;
        const char *name;
    } ok[] = {
        {0, 14, ""},
        {1234567, 16, "report.pdf"},
        {1ull << 50, 20, "na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xaa\xa8"},
        {(1ull << 50) + 1, 14, "too big"},
        {5, 13, "small chunks"},
        {5, 21, "large chunks"},
        {5, 14, ".."},
        {5, 14, "."},
        {5, 14, "..."},
        {5, 14, "a/b"},
        {5, 14, "a\\b"},
        {5, 14, "tab\there"},
        {5, 14, "del\x7f"},
        {5, 14, "overlong \xc0\x80"},
        {5, 14, "surrogate \xed\xa0\x80"},
        {5, 14, "above max \xf4\x90\x80\x80"},
        {5, 14, "cut \xe6\x97"},
        {5, 14, "c1 \xc2\x85 is allowed"},
    };
    uint8_t m[300];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        emit("manifest", m, manifest(m, ok[i].size, ok[i].log2, ok[i].name, strlen(ok[i].name)));
    size_t n = manifest(m, 7, 15, "nul\0inside", 10);
    emit("manifest", m, n);
    char name[255];
    memset(name, 'x', sizeof(name));
    emit("manifest", m, manifest(m, 9, 18, name, sizeof(name)));
    emit("manifest", m, 42); /* short */
    m[0] = 0;
    emit("manifest", m, 50); /* a data entry */
}

#ifdef HAVE_JANSSON
/* Frames from spec/vectors/frames.json: {"valid": [{"hex"}], "invalid": [{"hex"}]}. */
void vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/frames.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr, "no vectors at %s (%s): skipped\n", path, err.text);
        return;
    }
    const char *lists[2] = {"valid", "invalid"};
    size_t count = 0;
    for (int l = 0; l < 2; l++) {
        json_t *arr = json_object_get(root, lists[l]);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            const char *hex = json_string_value(json_object_get(v, "hex"));
            if (!hex)
                continue;
            size_t n = strlen(hex) / 2;
            uint8_t *b = malloc(n + 2);
            if (!b || cairn_hex_decode(b + 2, n, hex) != 0) {
                free(b);
                continue;
            }
            b[0] = 0;
            b[1] = (uint8_t)(i % 3);
            emit("frame", b, n + 2);
            if (n >= 8)
                emit("msg", b + 2, n);
            count++;
            free(b);
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu frames from %s\n", count, path);
}

/* Hex string -> malloc'd bytes (*n), or NULL. */
static uint8_t *unhex(const char *hex, size_t *n)
{
    *n = hex ? strlen(hex) / 2 : 0;
    uint8_t *b = malloc(*n ? *n : 1);
    if (!hex || !b || cairn_hex_decode(b, *n, hex) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

/* blocks.json {valid, invalid}: header_hex, entries_hex, network -> fuzz_block input. */
void block_vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/blocks.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return;
    const char *lists[2] = {"valid", "invalid"};
    size_t count = 0;
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(root, lists[l]), i, v)
        {
            size_t hl;
            uint8_t *h = unhex(json_string_value(json_object_get(v, "header_hex")), &hl);
            if (!h)
                continue;
            static uint8_t in[1 << 20];
            uint8_t *p = in;
            const char *net = json_string_value(json_object_get(v, "network"));
            *p++ = net && strcmp(net, "testnet") == 0 ? 2 : 1;
            *p++ = 0;
            *p++ = hl == 96 ? 0 : (uint8_t)(200 + (hl > 110 ? 55 : hl / 2));
            size_t want = hl == 96 ? 96 : (size_t)(p[-1] - 200) * 2;
            memset(p, 0, want);
            memcpy(p, h, hl < want ? hl : want);
            p += want;
            free(h);
            p = cairn_put_u64(p, 0);
            *p++ = 0;
            p = cairn_put_u64(p, 0);
            p = cairn_put_u64(p, 1767225600000ull + 86400000ull);
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(v, "entries_hex"), k, e)
            {
                size_t el;
                uint8_t *eb = unhex(json_string_value(e), &el);
                if (!eb)
                    continue;
                if (el >= 0xFFFE || (size_t)(p - in) + 2 + el > sizeof(in)) {
                    p = cairn_put_u16(p, el > 65536 ? 0xFFFF : 0xFFFE);
                } else {
                    p = cairn_put_u16(p, (uint16_t)el);
                    memcpy(p, eb, el);
                    p += el;
                }
                free(eb);
            }
            emit("block", in, (size_t)(p - in));
            count++;
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu blocks from %s\n", count, path);
}

/* merkle.json {roots, proofs, invalid_proofs} -> fuzz_merkle input. */
void merkle_vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/merkle.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return;
    static uint8_t in[1 << 16];
    size_t i, count = 0;
    json_t *v;
    json_array_foreach(json_object_get(root, "roots"), i, v)
    {
        json_t *leaves = json_object_get(v, "leaves_hex");
        size_t n = json_array_size(leaves), k;
        if (n > 130)
            continue;
        uint8_t *p = in;
        p = cairn_put_u16(p, (uint16_t)n);
        p = cairn_put_u16(p, (uint16_t)(n ? n - 1 : 0));
        *p++ = 0;
        *p++ = (uint8_t)i;
        json_t *e;
        json_array_foreach(leaves, k, e)
        {
            size_t dl;
            uint8_t *d = unhex(json_string_value(e), &dl);
            fuzz_hash2(p, 0x00, d, d ? dl : 0, NULL, 0);
            p += 32;
            free(d);
        }
        emit("merkle", in, (size_t)(p - in));
        count++;
    }
    const char *lists[2] = {"proofs", "invalid_proofs"};
    for (int l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(root, lists[l]), i, v)
        {
            json_t *pathj = json_object_get(v, "path_hex");
            size_t pl = json_array_size(pathj), k, dl, rl;
            if (pl > 64)
                continue;
            uint8_t *p = in;
            memset(p, 0, 6); /* no tree: only the free-form proof */
            p += 6;
            uint8_t *d = unhex(json_string_value(json_object_get(v, "leaf_hex")), &dl);
            fuzz_hash2(p, 0x00, d, d ? dl : 0, NULL, 0);
            free(d);
            p += 32;
            p = cairn_put_u64(p, (uint64_t)json_integer_value(json_object_get(v, "index")));
            p = cairn_put_u64(p, (uint64_t)json_integer_value(json_object_get(v, "tree_size")));
            *p++ = (uint8_t)pl;
            json_t *e;
            json_array_foreach(pathj, k, e)
            {
                uint8_t *h = unhex(json_string_value(e), &dl);
                memset(p, 0, 32);
                if (h)
                    memcpy(p, h, dl < 32 ? dl : 32);
                free(h);
                p += 32;
            }
            uint8_t *r = unhex(json_string_value(json_object_get(v, "root_hex")), &rl);
            memset(p, 0, 32);
            if (r)
                memcpy(p, r, rl < 32 ? rl : 32);
            free(r);
            p += 32;
            emit("merkle", in, (size_t)(p - in));
            count++;
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu Merkle trees and proofs from %s\n", count, path);
}
#endif
