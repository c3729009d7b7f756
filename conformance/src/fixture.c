/*
 * Fixtures: a deterministic devnet chain with branches, invalid blocks, and
 * small files (conformance/fixtures/). `cairn-conform gen-fixtures DIR`
 * writes them with the chain library at a fixed clock; the harness loads
 * them, serves them as an ordinary peer, and exposes them to cases as
 * variables ($chain.5.id, $file.three.id, ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn/chain.h"
#include "cairn/merkle.h"
#include "conform.h"

#define GENESIS_MS 1767225600000ull
#define STEP_MS    10000ull

/* ---- loading ---------------------------------------------------------------------- */

static int entry_from_json(const json_t *j, cairn_bytes_ref *out)
{
    uint8_t *b;
    size_t n;
    if (json_is_string(j)) {
        if (cf_hex_parse(json_string_value(j), &b, &n, NULL, NULL, 0))
            return -1;
    } else if (json_is_object(j)) {
        /* {"fill": "ab", "len": N}: a data record of N bytes, kind 0x00 then fill */
        json_int_t len = json_integer_value(json_object_get(j, "len"));
        const char *fill = json_string_value(json_object_get(j, "fill"));
        uint8_t f;
        if (len < 1 || len > 1 << 20 || !fill || cairn_hex_decode(&f, 1, fill))
            return -1;
        n = (size_t)len;
        if (!(b = malloc(n)))
            return -1;
        b[0] = 0;
        memset(b + 1, f, n - 1);
    } else {
        return -1;
    }
    out->data = b;
    out->len = n;
    return 0;
}

static int block_from_json(const json_t *j, cf_block *b)
{
    memset(b, 0, sizeof(*b));
    uint8_t *h;
    size_t hl;
    const char *hex = json_string_value(json_object_get(j, "header"));
    if (!hex || cf_hex_parse(hex, &h, &hl, NULL, NULL, 0))
        return -1;
    if (hl != CAIRN_BLOCK_HEADER_LEN) {
        free(h);
        return -1;
    }
    memcpy(b->header, h, hl);
    free(h);
    b->height = cairn_get_u64(b->header + 4);
    cairn_block_id(NULL, b->id, b->header);
    json_t *es = json_object_get(j, "entries");
    b->n_entries = json_array_size(es);
    b->entries = calloc(b->n_entries + 1, sizeof(*b->entries));
    if (!b->entries)
        return -1;
    for (size_t i = 0; i < b->n_entries; i++)
        if (entry_from_json(json_array_get(es, i), &b->entries[i]))
            return -1;
    return 0;
}

static void block_free(cf_block *b)
{
    for (size_t i = 0; i < b->n_entries; i++)
        free((void *)b->entries[i].data);
    free(b->entries);
}

static int file_load(cf_file *f, const char *dir, const char *name, const char *rel,
                     unsigned chunk_log2)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->data = (uint8_t *)cf_read_file(path, &f->size);
    if (!f->data)
        return -1;
    f->chunk_log2 = chunk_log2;
    size_t cs = (size_t)1 << chunk_log2;
    f->n_chunks = (f->size + cs - 1) / cs;
    f->leaves = calloc(f->n_chunks + 1, 32);
    if (!f->leaves)
        return -1;
    for (uint64_t i = 0; i < f->n_chunks; i++) {
        size_t off = (size_t)i * cs, len = f->size - off < cs ? f->size - off : cs;
        cairn_merkle_leaf_hash(NULL, f->leaves[i], f->data + off, len);
    }
    uint8_t root[32];
    cairn_merkle_root(NULL, root, (const uint8_t(*)[32])f->leaves, (size_t)f->n_chunks);
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    size_t nl = strlen(base);
    uint8_t *m = f->manifest;
    m[0] = CAIRN_ENTRY_MANIFEST;
    cairn_put_u64(m + 1, f->size);
    m[9] = (uint8_t)chunk_log2;
    memcpy(m + 10, root, 32);
    m[42] = (uint8_t)nl;
    memcpy(m + 43, base, nl);
    f->manifest_len = 43 + nl;
    cairn_sha256(f->id, m, CAIRN_MANIFEST_ID_LEN);
    return 0;
}

int cf_fixtures_load(cf_fixtures *f, const char *dir, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    char path[4096];
    snprintf(path, sizeof(path), "%s/chain.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -1;
    }
    int rv = -1;
    const cairn_network *net = cairn_network_devnet();
    cairn_block_header gh;
    cairn_network_genesis(net, &gh, f->genesis.header);
    memcpy(f->genesis.id, net->genesis_id, 32);
    f->genesis.entries = calloc(1, sizeof(*f->genesis.entries));
    uint8_t *ge = malloc(net->genesis_entry_len);
    if (!f->genesis.entries || !ge)
        goto out;
    memcpy(ge, net->genesis_entry, net->genesis_entry_len);
    f->genesis.entries[0].data = ge;
    f->genesis.entries[0].len = net->genesis_entry_len;
    f->genesis.n_entries = 1;

    json_t *brs = json_object_get(root, "branches"), *v;
    size_t i;
    json_array_foreach(brs, i, v)
    {
        if (f->n_branches == sizeof(f->branches) / sizeof(f->branches[0]))
            break;
        cf_branch *b = &f->branches[f->n_branches++];
        snprintf(b->name, sizeof(b->name), "%s", json_string_value(json_object_get(v, "name")));
        snprintf(b->parent, sizeof(b->parent), "%s",
                 json_string_value(json_object_get(v, "parent")));
        json_t *bl = json_object_get(v, "blocks");
        b->n = json_array_size(bl);
        b->blocks = calloc(b->n + 1, sizeof(*b->blocks));
        if (!b->blocks)
            goto out;
        for (size_t k = 0; k < b->n; k++)
            if (block_from_json(json_array_get(bl, k), &b->blocks[k])) {
                snprintf(err, errlen, "%s: branch %s block %zu is malformed", path, b->name, k);
                goto out;
            }
        b->first_height = b->n ? b->blocks[0].height : 0;
    }
    json_array_foreach(json_object_get(root, "invalid"), i, v)
    {
        if (f->n_bad == sizeof(f->bad) / sizeof(f->bad[0]))
            break;
        snprintf(f->bad_names[f->n_bad], sizeof(f->bad_names[0]), "%s",
                 json_string_value(json_object_get(v, "name")));
        if (block_from_json(v, &f->bad[f->n_bad])) {
            snprintf(err, errlen, "%s: invalid block %zu is malformed", path, i);
            goto out;
        }
        f->n_bad++;
    }
    json_array_foreach(json_object_get(root, "files"), i, v)
    {
        if (f->n_files == sizeof(f->files) / sizeof(f->files[0]))
            break;
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *rel = json_string_value(json_object_get(v, "path"));
        json_int_t cl = json_integer_value(json_object_get(v, "chunk_log2"));
        if (!name || !rel || file_load(&f->files[f->n_files], dir, name, rel, (unsigned)cl)) {
            snprintf(err, errlen, "%s: file %zu cannot be loaded", path, i);
            goto out;
        }
        f->n_files++;
    }
    f->main_loaded = (size_t)json_integer_value(json_object_get(root, "main_loaded"));
    rv = 0;
out:
    json_decref(root);
    return rv;
}

void cf_fixtures_free(cf_fixtures *f)
{
    block_free(&f->genesis);
    for (size_t i = 0; i < f->n_branches; i++) {
        for (size_t k = 0; k < f->branches[i].n; k++)
            block_free(&f->branches[i].blocks[k]);
        free(f->branches[i].blocks);
    }
    for (size_t i = 0; i < f->n_bad; i++)
        block_free(&f->bad[i]);
    for (size_t i = 0; i < f->n_files; i++) {
        free(f->files[i].data);
        free(f->files[i].leaves);
    }
    memset(f, 0, sizeof(*f));
}

const cf_branch *cf_fixtures_branch(const cf_fixtures *f, const char *name)
{
    for (size_t i = 0; i < f->n_branches; i++)
        if (!strcmp(f->branches[i].name, name))
            return &f->branches[i];
    return NULL;
}

const cf_file *cf_fixtures_file(const cf_fixtures *f, const char *name)
{
    for (size_t i = 0; i < f->n_files; i++)
        if (!strcmp(f->files[i].name, name))
            return &f->files[i];
    return NULL;
}

const cf_block *cf_fixtures_find_block(const cf_fixtures *f, const uint8_t id[32])
{
    if (!memcmp(f->genesis.id, id, 32))
        return &f->genesis;
    for (size_t i = 0; i < f->n_branches; i++)
        for (size_t k = 0; k < f->branches[i].n; k++)
            if (!memcmp(f->branches[i].blocks[k].id, id, 32))
                return &f->branches[i].blocks[k];
    return NULL;
}

static const cf_block *branch_at(const cf_branch *b, uint64_t h)
{
    if (!b->n || h < b->first_height || h >= b->first_height + b->n)
        return NULL;
    return &b->blocks[h - b->first_height];
}

/* "genesis", "BRANCH" (its tip) or "BRANCH:HEIGHT". */
int cf_view_make(cf_view *v, const cf_fixtures *f, const char *spec, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    char name[48];
    snprintf(name, sizeof(name), "%s", spec);
    char *colon = strchr(name, ':');
    long h = -1;
    if (colon) {
        *colon = '\0';
        h = strtol(colon + 1, NULL, 10);
    }
    const cf_block *tip = &f->genesis;
    if (strcmp(name, "genesis")) {
        const cf_branch *b = cf_fixtures_branch(f, name);
        if (!b || !b->n) {
            snprintf(err, errlen, "no fixture branch `%s`", name);
            return -1;
        }
        tip = h < 0 ? &b->blocks[b->n - 1] : branch_at(b, (uint64_t)h);
        if (!tip && h >= 0 && (uint64_t)h < b->first_height) {
            /* a height below the fork: the view is the parent's */
            char up[96];
            snprintf(up, sizeof(up), "%.40s:%ld", b->parent, h);
            return strcmp(b->parent, name) ? cf_view_make(v, f, up, err, errlen) : -1;
        }
        if (!tip) {
            snprintf(err, errlen, "branch `%s` has no block at height %ld", name, h);
            return -1;
        }
    }
    if (tip->height >= sizeof(v->blocks) / sizeof(v->blocks[0])) {
        snprintf(err, errlen, "view too long");
        return -1;
    }
    v->n = (size_t)tip->height + 1;
    for (const cf_block *b = tip;;) {
        v->blocks[b->height] = b;
        if (b->height == 0)
            break;
        const cf_block *p = cf_fixtures_find_block(f, b->header + 32);
        if (!p || p->height + 1 != b->height) {
            snprintf(err, errlen, "fixture block at height %llu has no parent",
                     (unsigned long long)b->height);
            return -1;
        }
        b = p;
    }
    return 0;
}

const cf_block *cf_view_find(const cf_view *v, const uint8_t id[32])
{
    for (size_t i = 0; i < v->n; i++)
        if (!memcmp(v->blocks[i]->id, id, 32))
            return v->blocks[i];
    return NULL;
}

void cf_view_work(const cf_view *v, uint8_t work[32])
{
    cairn_work w;
    memset(&w, 0, sizeof(w));
    for (size_t i = 0; i < v->n; i++)
        cairn_work_add_block(&w, cairn_get_u32(v->blocks[i]->header + 20));
    memcpy(work, w.be, 32);
}

/* ---- variables -------------------------------------------------------------------- */

static json_t *block_var(const cf_block *b, const char *what)
{
    if (!strcmp(what, "id"))
        return cf_bytes_json(b->id, 32);
    if (!strcmp(what, "header"))
        return cf_bytes_json(b->header, CAIRN_BLOCK_HEADER_LEN);
    if (!strcmp(what, "prev"))
        return cf_bytes_json(b->header + 32, 32);
    if (!strcmp(what, "height")) {
        char s[24];
        snprintf(s, sizeof(s), "%llu", (unsigned long long)b->height);
        return json_string(s);
    }
    if (!strcmp(what, "entries")) {
        json_t *a = json_array();
        for (size_t i = 0; i < b->n_entries; i++)
            json_array_append_new(a, cf_bytes_json(b->entries[i].data, b->entries[i].len));
        return a;
    }
    if (!strncmp(what, "entry", 5)) {
        size_t i = (size_t)strtoul(what + 5, NULL, 10);
        return i < b->n_entries ? cf_bytes_json(b->entries[i].data, b->entries[i].len) : NULL;
    }
    return NULL;
}

static json_t *u64_json(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    return json_string(s);
}

static json_t *file_var(const cf_file *fl, const char *what)
{
    if (!strcmp(what, "id"))
        return cf_bytes_json(fl->id, 32);
    if (!strcmp(what, "manifest"))
        return cf_bytes_json(fl->manifest, fl->manifest_len);
    if (!strcmp(what, "size"))
        return u64_json(fl->size);
    if (!strcmp(what, "chunks"))
        return u64_json(fl->n_chunks);
    size_t cs = (size_t)1 << fl->chunk_log2;
    if (!strncmp(what, "chunk.", 6)) {
        uint64_t i = strtoull(what + 6, NULL, 10);
        if (i >= fl->n_chunks)
            return NULL;
        size_t off = (size_t)i * cs, len = fl->size - off < cs ? fl->size - off : cs;
        return cf_bytes_json(fl->data + off, len);
    }
    if (!strncmp(what, "proof.", 6)) {
        uint64_t i = strtoull(what + 6, NULL, 10);
        if (i >= fl->n_chunks)
            return NULL;
        uint8_t path[64][32];
        size_t pl;
        if (cairn_merkle_proof(NULL, (const uint8_t(*)[32])fl->leaves, (size_t)fl->n_chunks,
                               (size_t)i, path, 64, &pl))
            return NULL;
        json_t *a = json_array();
        for (size_t k = 0; k < pl; k++)
            json_array_append_new(a, cf_bytes_json(path[k], 32));
        return a;
    }
    return NULL;
}

/*
 * genesis.id | BRANCH.HEIGHT.{id,header,prev,height,entries,entryN} |
 * BRANCH.tip.* | bad.NAME.* | file.NAME.{id,manifest,size,chunks,chunk.I,proof.I}
 * ("chain" is another name for the branch "main").
 */
json_t *cf_fixtures_var(const cf_fixtures *f, const char *name)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", name);
    char *a = buf, *b = strchr(a, '.');
    if (!b)
        return NULL;
    *b++ = '\0';
    if (!strcmp(a, "genesis"))
        return block_var(&f->genesis, b);
    char *c = strchr(b, '.');
    if (!c)
        return NULL;
    *c++ = '\0';
    if (!strcmp(a, "file")) {
        const cf_file *fl = cf_fixtures_file(f, b);
        return fl ? file_var(fl, c) : NULL;
    }
    if (!strcmp(a, "bad")) {
        for (size_t i = 0; i < f->n_bad; i++)
            if (!strcmp(f->bad_names[i], b))
                return block_var(&f->bad[i], c);
        return NULL;
    }
    const cf_branch *br = cf_fixtures_branch(f, strcmp(a, "chain") ? a : "main");
    if (!br || !br->n)
        return NULL;
    if (!strcmp(b, "tip"))
        return block_var(&br->blocks[br->n - 1], c);
    char *e;
    unsigned long h = strtoul(b, &e, 10);
    if (*e)
        return NULL;
    if (h == 0)
        return block_var(&f->genesis, c);
    const cf_block *blk = branch_at(br, h);
    if (!blk) { /* below the fork: the parent's block at that height */
        cf_view v;
        char err[128], spec[48];
        snprintf(spec, sizeof(spec), "%s:%lu", br->name, (unsigned long)(br->first_height - 1));
        if (br->first_height == 0 || h >= br->first_height ||
            cf_view_make(&v, f, spec, err, sizeof(err)))
            return NULL;
        blk = v.blocks[h];
    }
    return block_var(blk, c);
}

/* ---- generation -------------------------------------------------------------------- */

typedef struct gen_block {
    cairn_block_header hdr;
    uint8_t raw[96], id[32];
    json_t *entries; /* JSON entries as written */
} gen_block;

static json_t *data_entry(const char *text)
{
    size_t n = strlen(text);
    uint8_t *b = malloc(n + 1);
    b[0] = 0;
    memcpy(b + 1, text, n);
    char *h = cf_hex(b, n + 1);
    json_t *j = json_string(h);
    free(h);
    free(b);
    return j;
}

static int entries_root(const json_t *entries, uint8_t root[32])
{
    size_t n = json_array_size(entries);
    cairn_bytes_ref *e = calloc(n + 1, sizeof(*e));
    for (size_t i = 0; i < n; i++)
        if (entry_from_json(json_array_get(entries, i), &e[i]))
            return -1;
    int rv = cairn_block_entries_root(NULL, root, e, n);
    for (size_t i = 0; i < n; i++)
        free((void *)e[i].data);
    free(e);
    return rv;
}

/* Mines a block on `parent` (NULL: genesis) with `entries`; fails_pow: the first nonce that misses.
 */
static json_t *mine(cairn_sha256_ctx *sha, const uint8_t parent[96], json_t *entries,
                    uint64_t time_ms, uint32_t version, uint32_t bits, int64_t height, int fail_pow,
                    uint8_t id_out[32], uint8_t raw_out[96])
{
    cairn_block_header h;
    memset(&h, 0, sizeof(h));
    h.version = version;
    uint8_t pid[32];
    cairn_block_id(sha, pid, parent);
    h.height = height >= 0 ? (uint64_t)height : cairn_get_u64(parent + 4) + 1;
    if (height == 0)
        memset(h.prev_id, 0, 32);
    else
        memcpy(h.prev_id, pid, 32);
    h.time_ms = time_ms;
    h.bits = bits;
    entries_root(entries, h.entries_root);
    uint8_t raw[96], id[32];
    if (fail_pow) {
        for (h.nonce = 0;; h.nonce++) {
            cairn_block_header_encode(raw, &h);
            cairn_block_id(sha, id, raw);
            if (!cairn_pow_ok(id, 12))
                break;
        }
    } else if (cairn_miner_solve(sha, &h, UINT64_MAX, raw, id)) {
        return NULL;
    }
    if (id_out)
        memcpy(id_out, id, 32);
    if (raw_out)
        memcpy(raw_out, raw, 96);
    json_t *o = json_object();
    char *hx = cf_hex(raw, 96);
    json_object_set_new(o, "header", json_string(hx));
    free(hx);
    json_object_set(o, "entries", entries);
    return o;
}

static int write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int rv = fwrite(data, 1, n, fp) == n ? 0 : -1;
    return fclose(fp) || rv ? -1 : 0;
}

/* The chain of a generated branch, for parents and times. */
typedef struct gen_branch {
    const char *name, *parent;
    int fork; /* parent height */
    int len;
    uint64_t salt; /* added to times so that branches differ */
    uint8_t raw[64][96];
} gen_branch;

#define N_GEO   5
#define N_FILES (2 + N_GEO)

/* Step 1: the shared files (DIR/files/) and their manifests. */
static int gen_files(const char *dir, cf_file fs[N_FILES], const char *fnames[N_FILES],
                     const char *fpaths[N_FILES])
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/files", dir);
    mkdir(path, 0755);
    /* files */
    static const char small[] = "Cairn conformance fixture: a small file of one chunk.\n"
                                "Every block rests on the one below.\n";
    snprintf(path, sizeof(path), "%s/files/small.txt", dir);
    if (write_file(path, (const uint8_t *)small, sizeof(small) - 1))
        return -1;
    size_t three_len = 40000;
    uint8_t *three = malloc(three_len);
    for (size_t i = 0; i < three_len; i++)
        three[i] = (uint8_t)(i * 7 + 3);
    snprintf(path, sizeof(path), "%s/files/three.bin", dir);
    if (write_file(path, three, three_len))
        return -1;
    free(three);
    /* Chunk-proof geometries (CHK-1): 0, 2, 2^3 - 1, 2^3 and 2^3 + 1 chunks of 16 KiB, the last
     * chunk short, so that every audit-path shape of a small tree is served and checked. */
    static const struct {
        const char *name, *path;
        size_t len;
    } geo[] = {{"two", "files/two.bin", 16384 + 100},
               {"seven", "files/seven.bin", 6 * 16384 + 1},
               {"eight", "files/eight.bin", 7 * 16384 + 16383},
               {"nine", "files/nine.bin", 8 * 16384 + 5000},
               {"empty", "files/empty.bin", 0}};
    _Static_assert(sizeof(geo) / sizeof(geo[0]) == N_GEO, "N_GEO counts the geometries");
    for (size_t g = 0; g < N_GEO; g++) {
        uint8_t *d = malloc(geo[g].len + 1);
        if (!d)
            return -1;
        for (size_t i = 0; i < geo[g].len; i++)
            d[i] = (uint8_t)(i * (2 * g + 11) + (i >> 14) + g);
        snprintf(path, sizeof(path), "%s/%s", dir, geo[g].path);
        int wr = write_file(path, d, geo[g].len);
        free(d);
        if (wr)
            return -1;
    }
    fnames[0] = "small";
    fnames[1] = "three";
    fpaths[0] = "files/small.txt";
    fpaths[1] = "files/three.bin";
    for (size_t g = 0; g < N_GEO; g++) {
        fnames[2 + g] = geo[g].name;
        fpaths[2 + g] = geo[g].path;
    }
    for (size_t i = 0; i < N_FILES; i++)
        if (file_load(&fs[i], dir, fnames[i], fpaths[i], 14))
            return -1;
    return 0;
}

/* The two equal-work tips br[a], br[a + 1] are named by the order of their IDs: [FORK-10]
 * cases deliver the larger ID first and check that it stays. Branches after them may then
 * name "tie-high" or "tie-low" as their parent. */
static void name_ties(cairn_sha256_ctx *sha, gen_branch *br, size_t a, json_t *jbr)
{
    size_t b = a + 1;
    uint8_t ida[32], idb[32];
    cairn_block_id(sha, ida, br[a].raw[0]);
    cairn_block_id(sha, idb, br[b].raw[0]);
    int a_low = memcmp(ida, idb, 32) < 0;
    br[a].name = a_low ? "tie-low" : "tie-high";
    br[b].name = a_low ? "tie-high" : "tie-low";
    json_object_set_new(json_array_get(jbr, a), "name", json_string(br[a].name));
    json_object_set_new(json_array_get(jbr, b), "name", json_string(br[b].name));
}

/* Step 2: the valid branches (blocks by height); main:5 carries the first two files' manifests. */
static json_t *gen_branches(cairn_sha256_ctx *sha, const cairn_network *net,
                            const uint8_t genesis[96], const cf_file *fs, gen_branch *br,
                            size_t n_br)
{
    json_t *jbr = json_array();
    for (size_t b = 0; b < n_br; b++) {
        const uint8_t *parent = genesis;
        for (size_t p = 0; p < b; p++)
            if (!strcmp(br[p].name, br[b].parent) && br[b].fork > 0)
                parent = br[p].raw[br[b].fork - br[p].fork - 1];
        json_t *jb = json_object(), *blocks = json_array();
        json_object_set_new(jb, "name", json_string(br[b].name));
        json_object_set_new(jb, "parent", json_string(br[b].parent));
        for (int k = 0; k < br[b].len; k++) {
            uint64_t height = (uint64_t)br[b].fork + 1 + (uint64_t)k;
            char text[96];
            snprintf(text, sizeof(text), "conformance %s block %llu", br[b].name,
                     (unsigned long long)height);
            json_t *entries = json_array();
            json_array_append_new(entries, data_entry(text));
            if (!strcmp(br[b].name, "main") && height == 5)
                for (int i = 0; i < 2; i++) {
                    char *hx = cf_hex(fs[i].manifest, fs[i].manifest_len);
                    json_array_append_new(entries, json_string(hx));
                    free(hx);
                }
            json_t *blk = mine(sha, parent, entries, GENESIS_MS + height * STEP_MS + br[b].salt, 1,
                               net->bits, -1, 0, NULL, br[b].raw[k]);
            json_decref(entries);
            json_array_append_new(blocks, blk);
            parent = br[b].raw[k];
        }
        json_object_set_new(jb, "blocks", blocks);
        json_array_append_new(jbr, jb);
        if (!strcmp(br[b].name, "tie-b") && b > 0)
            name_ties(sha, br, b - 1, jbr);
    }
    return jbr;
}

/* Step 3: invalid blocks, each breaking one rule (on main:20 unless stated). */
static json_t *gen_invalid(cairn_sha256_ctx *sha, const uint8_t m20[96])
{
    json_t *jbad = json_array();
    uint64_t t21 = GENESIS_MS + 21 * STEP_MS + 11;
    struct {
        const char *name;
        uint32_t version, bits;
        int64_t height;
        uint64_t time;
        int fail_pow;
        int body; /* 0 normal, 1 kind 2, 2 duplicate, 3 bad manifest, 4 too big */
    } bad[] = {
        {"version", 2, 12, -1, t21, 0, 0},
        {"bits", 1, 11, -1, t21, 0, 0},
        {"pow", 1, 12, -1, t21, 1, 0},
        {"height", 1, 12, 22, t21, 0, 0},
        {"time-old", 1, 12, -1, GENESIS_MS + 15 * STEP_MS, 0, 0},
        {"time-new", 1, 12, -1, 4102444800000ull, 0, 0},
        {"genesis", 1, 12, 0, GENESIS_MS + 1, 0, 0},
        {"kind", 1, 12, -1, t21 + 1, 0, 1},
        {"duplicate", 1, 12, -1, t21 + 2, 0, 2},
        {"manifest", 1, 12, -1, t21 + 3, 0, 3},
        {"too-big", 1, 12, -1, t21 + 4, 0, 4},
        {"good21", 1, 12, -1, t21 + 5, 0, 0},
    };
    uint8_t bad_raw[16][96];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *entries = json_array();
        char text[64];
        snprintf(text, sizeof(text), "conformance invalid %s", bad[i].name);
        switch (bad[i].body) {
        case 1:
            json_array_append_new(entries, json_string("02626164206b696e64"));
            break;
        case 2:
            json_array_append_new(entries, data_entry(text));
            json_array_append_new(entries, data_entry(text));
            break;
        case 3:
            json_array_append_new(entries, json_string("0100000000000000ff0e"));
            break;
        case 4:
            for (int k = 0; k < 32; k++) {
                json_t *e = json_object();
                char fill[3];
                snprintf(fill, sizeof(fill), "%02x", k);
                json_object_set_new(e, "fill", json_string(fill));
                json_object_set_new(e, "len", json_integer(65536));
                json_array_append_new(entries, e);
            }
            json_array_append_new(entries, json_string("00"));
            break;
        default:
            json_array_append_new(entries, data_entry(text));
        }
        json_t *blk = mine(sha, m20, entries, bad[i].time, bad[i].version, bad[i].bits,
                           bad[i].height, bad[i].fail_pow, NULL, bad_raw[i]);
        json_decref(entries);
        json_object_set_new(blk, "name", json_string(bad[i].name));
        json_array_append_new(jbad, blk);
    }
    /* A valid child of the invalid time-old block ([VAL-18]). */
    {
        json_t *entries = json_array();
        json_array_append_new(entries, data_entry("conformance child of an invalid block"));
        json_t *blk = mine(sha, bad_raw[4], entries, t21 + 7, 1, 12, -1, 0, NULL, NULL);
        json_decref(entries);
        json_object_set_new(blk, "name", json_string("child-of-invalid"));
        json_array_append_new(jbad, blk);
    }
    /* An orphan: a valid header whose parent nobody has. */
    {
        uint8_t unknown[96];
        memset(unknown, 0x5a, sizeof(unknown));
        cairn_put_u64(unknown + 4, 40);
        json_t *entries = json_array();
        json_array_append_new(entries, data_entry("conformance orphan"));
        json_t *blk = mine(sha, unknown, entries, t21 + 6, 1, 12, -1, 0, NULL, NULL);
        json_decref(entries);
        json_object_set_new(blk, "name", json_string("orphan"));
        json_array_append_new(jbad, blk);
    }
    return jbad;
}

/* Step 4: the file list of chain.json (frees the loaded files). */
static json_t *gen_file_list(cf_file *fs, const char *const *fnames, const char *const *fpaths)
{
    json_t *files = json_array();
    for (size_t i = 0; i < N_FILES; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(fnames[i]));
        json_object_set_new(o, "path", json_string(fpaths[i]));
        json_object_set_new(o, "chunk_log2", json_integer(14));
        char *hx = cf_hex(fs[i].id, 32);
        json_object_set_new(o, "file_id", json_string(hx));
        free(hx);
        json_array_append_new(files, o);
        free(fs[i].data);
        free(fs[i].leaves);
    }
    return files;
}

int cf_fixtures_generate(const char *dir)
{
    char path[4096];
    mkdir(dir, 0755);
    cf_file fs[N_FILES];
    const char *fnames[N_FILES], *fpaths[N_FILES];
    if (gen_files(dir, fs, fnames, fpaths))
        return -1;
    cairn_sha256_ctx *sha;
    cairn_sha256_ctx_new(&sha);
    const cairn_network *net = cairn_network_devnet();
    uint8_t genesis[96];
    cairn_block_header gh;
    cairn_network_genesis(net, &gh, genesis);

    /*
     * main: the chain every case may rely on (heights 1..20 are delivered to
     * the IUT before the cases; 21..24 are for the cases that extend it).
     * side: a lighter branch from main:10. fork: a heavier branch from
     * main:22 for reorganisations; probe: two blocks on main:20 for the cases
     * where the IUT requests from the harness; tie-a/tie-b: two equal-work
     * tips on fork (named tie-high/tie-low once mined); tail: one block on
     * tie-high, for the cases that run after the tie is settled.
     */
    gen_branch br[] = {
        {"main", "main", 0, 24, 0, {{0}}},      {"side", "main", 10, 3, 3, {{0}}},
        {"fork", "main", 22, 4, 5, {{0}}},      {"probe", "main", 20, 2, 13, {{0}}},
        {"tie-a", "fork", 26, 1, 7, {{0}}},     {"tie-b", "fork", 26, 1, 9, {{0}}},
        {"tail", "tie-high", 27, 1, 17, {{0}}},
    };
    json_t *root = json_object();
    json_object_set_new(root, "description",
                        json_string("Cairn conformance fixtures (devnet). Generated by "
                                    "`cairn-conform gen-fixtures`; do not edit. branches: "
                                    "blocks by height (header hex, entries hex or "
                                    "{fill,len} data records); invalid: blocks that "
                                    "break one rule each; files: shared files."));
    json_object_set_new(root, "network", json_string("devnet"));
    json_object_set_new(root, "main_loaded", json_integer(20));
    json_object_set_new(root, "branches",
                        gen_branches(sha, net, genesis, fs, br, sizeof(br) / sizeof(br[0])));
    json_object_set_new(root, "invalid", gen_invalid(sha, br[0].raw[19]));
    json_object_set_new(root, "files", gen_file_list(fs, fnames, fpaths));
    snprintf(path, sizeof(path), "%s/chain.json", dir);
    int rv = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    cairn_sha256_ctx_del(sha);
    return rv;
}
