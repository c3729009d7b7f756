/*
 * Files (spec §11): geometry, names, manifests and file IDs, have ranges.
 */
#include "cairn/files.h"

#define INVALID_FIELD CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)

int cairn_file_geom_init(cairn_file_geom *g, uint64_t size, unsigned chunk_log2)
{
    /* [FILE-1] [FILE-2] */
    if (chunk_log2 < CAIRN_CHUNK_LOG2_MIN || chunk_log2 > CAIRN_CHUNK_LOG2_MAX ||
        size > CAIRN_FILE_MAX_SIZE)
        return CAIRN_ERR_INVALID_ARG;
    g->size = size;
    g->chunk_log2 = chunk_log2;
    /* [FILE-3] ceil(size / cs): no empty chunk, none for an empty file */
    g->n_chunks = (size + ((uint64_t)1 << chunk_log2) - 1) >> chunk_log2;
    return 0;
}

size_t cairn_file_chunk_len(const cairn_file_geom *g, uint64_t index)
{
    if (index >= g->n_chunks)
        return 0;
    uint64_t off = index << g->chunk_log2, cs = (uint64_t)1 << g->chunk_log2;
    return (size_t)(g->size - off < cs ? g->size - off : cs);
}

unsigned cairn_file_chunk_log2_for(uint64_t size)
{
    unsigned log2 = CAIRN_CHUNK_LOG2_MIN;
    while (log2 < CAIRN_CHUNK_LOG2_MAX &&
           ((size + ((uint64_t)1 << log2) - 1) >> log2) > CAIRN_FILE_TARGET_CHUNKS)
        log2++;
    return log2;
}

/* ---- Names ------------------------------------------------------------------- */

int cairn_file_name_ok(const uint8_t *name, size_t len)
{
    /* The codec owns the rules: check a manifest that carries this name. */
    uint8_t m[CAIRN_MANIFEST_MAX_LEN] = {CAIRN_ENTRY_MANIFEST};
    if (len > CAIRN_FILE_MAX_NAME)
        return 0;
    m[9] = CAIRN_CHUNK_LOG2_MIN;
    m[42] = (uint8_t)len;
    if (len)
        memcpy(m + CAIRN_MANIFEST_MIN_LEN, name, len);
    return cairn_manifest_entry_parse(m, CAIRN_MANIFEST_MIN_LEN + len, NULL) == 0;
}

size_t cairn_file_name_from(const char *in, uint8_t out[CAIRN_FILE_MAX_NAME])
{
    size_t len = strlen(in);
    if (len > CAIRN_FILE_MAX_NAME) {
        len = CAIRN_FILE_MAX_NAME;
        /* back off to the start of a UTF-8 sequence */
        while (len > 0 && ((uint8_t)in[len] & 0xC0) == 0x80)
            len--;
    }
    if (!cairn_file_name_ok((const uint8_t *)in, len))
        return 0;
    if (len)
        memcpy(out, in, len);
    return len;
}

/* Names Windows reserves for devices, with or without an extension. */
static int reserved_device(const uint8_t *n, size_t len)
{
    static const char *const dev[] = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"};
    size_t stem = 0;
    while (stem < len && n[stem] != '.')
        stem++;
    char up[8];
    if (stem > 7)
        return 0;
    for (size_t i = 0; i < stem; i++)
        up[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
    up[stem] = 0;
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        if (strcmp(up, dev[i]) == 0)
            return 1;
    if (stem == 4 && (memcmp(up, "COM", 3) == 0 || memcmp(up, "LPT", 3) == 0) && up[3] >= '0' &&
        up[3] <= '9')
        return 1;
    return 0;
}

void cairn_file_local_name(const uint8_t *name, size_t len, const uint8_t file_id[CAIRN_HASH_LEN],
                           char out[CAIRN_FILE_MAX_NAME + 1])
{
    /* [FILE-23] the name rules again, whatever the manifest's source */
    int ok = len > 0 && len <= CAIRN_FILE_MAX_NAME && cairn_file_name_ok(name, len);
    /* [FILE-25] names a platform reserves or alters */
    if (ok && (name[len - 1] == '.' || name[len - 1] == ' ' || name[0] == '-' ||
               reserved_device(name, len)))
        ok = 0;
    for (size_t i = 0; ok && i < len; i++)
        if (name[i] == ':' || name[i] == '*' || name[i] == '?' || name[i] == '"' ||
            name[i] == '<' || name[i] == '>' || name[i] == '|')
            ok = 0;
    if (ok) {
        memcpy(out, name, len);
        out[len] = 0;
    } else {
        cairn_hex_encode(out, file_id, CAIRN_HASH_LEN);
    }
}

/* ---- Manifests --------------------------------------------------------------- */

int cairn_manifest_build(uint8_t out[CAIRN_MANIFEST_MAX_LEN], uint64_t size, unsigned chunk_log2,
                         const uint8_t root[CAIRN_HASH_LEN], const uint8_t *name, size_t name_len)
{
    if (name_len > CAIRN_FILE_MAX_NAME || chunk_log2 > 255)
        return CAIRN_ERR_INVALID_ARG;
    out[0] = CAIRN_ENTRY_MANIFEST;
    cairn_put_u64(out + 1, size);
    out[9] = (uint8_t)chunk_log2;
    memcpy(out + 10, root, CAIRN_HASH_LEN);
    out[42] = (uint8_t)name_len;
    if (name_len)
        memcpy(out + CAIRN_MANIFEST_MIN_LEN, name, name_len);
    size_t len = CAIRN_MANIFEST_MIN_LEN + name_len;
    if (cairn_manifest_entry_parse(out, len, NULL) != 0)
        return CAIRN_ERR_INVALID_ARG;
    return (int)len;
}

int cairn_file_id(cairn_sha256_ctx *ctx, uint8_t id[CAIRN_HASH_LEN], const uint8_t *manifest,
                  size_t len)
{
    if (len < CAIRN_MANIFEST_ID_LEN)
        return CAIRN_ERR_INVALID_ARG;
    /* [FILE-9] the first 42 bytes: kind, size, chunk_log2, root */
    if (ctx)
        return cairn_sha256_ctx_digest(ctx, id, manifest, CAIRN_MANIFEST_ID_LEN);
    return cairn_sha256(id, manifest, CAIRN_MANIFEST_ID_LEN);
}

int cairn_file_from_manifest(cairn_sha256_ctx *ctx, cairn_file *f, const uint8_t *manifest,
                             size_t len, const uint8_t expect_id[CAIRN_HASH_LEN])
{
    cairn_manifest_entry e;
    /* [FILE-14] */
    if (len > CAIRN_MANIFEST_MAX_LEN || cairn_manifest_entry_parse(manifest, len, &e) != 0)
        return INVALID_FIELD;
    int rv = cairn_file_id(ctx, f->id, manifest, len);
    if (rv != 0)
        return rv;
    /* [FILE-15] */
    if (expect_id && memcmp(f->id, expect_id, CAIRN_HASH_LEN) != 0)
        return INVALID_FIELD;
    if (cairn_file_geom_init(&f->geom, e.size, e.chunk_log2) != 0)
        return INVALID_FIELD;
    memcpy(f->root, e.root, CAIRN_HASH_LEN);
    f->name_len = e.name_len;
    if (e.name_len)
        memcpy(f->name, e.name, e.name_len);
    memcpy(f->manifest, manifest, len);
    f->manifest_len = len;
    return 0;
}

int cairn_file_init(cairn_sha256_ctx *ctx, cairn_file *f, uint64_t size, unsigned chunk_log2,
                    const uint8_t root[CAIRN_HASH_LEN], const uint8_t *name, size_t name_len)
{
    uint8_t m[CAIRN_MANIFEST_MAX_LEN];
    int len = cairn_manifest_build(m, size, chunk_log2, root, name, name_len);
    if (len < 0)
        return len;
    int rv = cairn_file_from_manifest(ctx, f, m, (size_t)len, NULL);
    return rv == INVALID_FIELD ? CAIRN_ERR_INVALID_ARG : rv;
}

/* ---- Have ranges --------------------------------------------------------------- */

int cairn_file_check_ranges(const cairn_chunk_range *r, size_t count, uint64_t n_chunks)
{
    if (count > CAIRN_FILE_MAX_RANGES) /* [FILE-16] */
        return INVALID_FIELD;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < count; i++) {
        if (r[i].start >= r[i].end) /* [FILE-17] */
            return INVALID_FIELD;
        if (r[i].end > n_chunks) /* [FILE-18] */
            return INVALID_FIELD;
        if (i && r[i].start < prev_end) /* [FILE-19] */
            return INVALID_FIELD;
        prev_end = r[i].end;
    }
    return 0;
}
