/* share, the serving side: manifests, chunks with their proofs, stats (see share.h). */
#include <unistd.h>

#include "cairn/port.h"
#include "share_int.h"

int share_manifest(share *s, const uint8_t file_id[CAIRN_HASH_LEN], Cairn__V1__Manifest *out)
{
    sfile *f = share_find_id(s, file_id);
    if (!f)
        return 1; /* [FILE-12] */
    out->manifest.data = f->f.manifest;
    out->manifest.len = f->f.manifest_len;
    out->n_have = 0; /* [FILE-13] every chunk is served */
    out->have = NULL;
    return 0;
}

int share_chunk(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                Cairn__V1__Chunk *out)
{
    int rv = share_chunk_prepare(s, file_id, index, out);
    if (rv == 0 && (rv = share_chunk_read(s, file_id, index, s->io)) == 0)
        out->data.data = s->io;
    return rv;
}

int share_chunk_read(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index, uint8_t *dst)
{
    sfile *f = share_find_id(s, file_id);
    if (!f || index >= f->f.geom.n_chunks || share_open_fds(s, f) != 0)
        return 1;
    size_t len = cairn_file_chunk_len(&f->f.geom, index);
    if (cairn_port_pread_full(f->fd, dst, len, cairn_file_chunk_offset(&f->f.geom, index)) != 0) {
        share_set_state(s, f, ST_PENDING);
        return 1;
    }
    s->st.chunks_served++;
    return 0;
}

int share_chunk_prepare(share *s, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                        Cairn__V1__Chunk *out)
{
    sfile *f = share_find_id(s, file_id);
    if (!f)
        return 1; /* [CHK-4] */
    if (index >= f->f.geom.n_chunks)
        return CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD); /* [CHK-3] */
    struct stat st;
    if (share_open_fds(s, f) != 0 || fstat(f->fd, &st) != 0 || (uint64_t)st.st_size != f->size ||
        share_mtime_of(&st) != f->mtime_ns) {
        share_set_state(s, f, ST_PENDING); /* changed or gone: re-indexed by the next rescan */
        return 1;
    }
    size_t len = cairn_file_chunk_len(&f->f.geom, index);
    /* [CHK-5] the audit path, one hash per level from the cached tree */
    cairn_tree_pos pos[CAIRN_MERKLE_MAX_PATH];
    size_t k = cairn_tree_proof_positions(index, f->f.geom.n_chunks, pos);
    for (size_t i = 0; i < k; i++) {
        uint64_t at = cairn_tree_level_start(f->f.geom.n_chunks, pos[i].level) + pos[i].index;
        if (cairn_port_pread_full(f->cfd, s->proof[i], CAIRN_HASH_LEN,
                                  HDR_LEN + at * CAIRN_HASH_LEN) != 0)
            k = CAIRN_MERKLE_MAX_PATH + 1; /* fails the check below */
        s->proof_bd[i].data = s->proof[i];
        s->proof_bd[i].len = CAIRN_HASH_LEN;
    }
    /* A damaged cache must not make us serve a bad proof (downloaders would
     * drop us as a forger): check the path from the stored leaf hash to the
     * root, which costs about 20 node hashes. The data itself is trusted as
     * long as size and mtime are unchanged. */
    uint8_t leaf[CAIRN_HASH_LEN];
    if (cairn_port_pread_full(f->cfd, leaf, CAIRN_HASH_LEN, HDR_LEN + index * CAIRN_HASH_LEN) !=
            0 ||
        cairn_chunk_verify_leaf(s->sha, &f->f, index, leaf,
                                (const uint8_t(*)[CAIRN_HASH_LEN])s->proof, k) != 0) {
        char name[CAIRN_HASH_LEN * 2 + 9];
        share_cache_name(f, name, 0);
        unlinkat(s->cachefd, name, 0);
        share_set_state(s, f, ST_PENDING);
        return 1;
    }
    out->index = index;
    out->data.data = NULL; /* share_chunk_read brings the bytes */
    out->data.len = len;
    out->n_proof = k;
    out->proof = k ? s->proof_bd : NULL;
    return 0;
}

size_t share_manifests(share *s, const uint8_t **entries, size_t *lens, size_t cap)
{
    share_rebuild_byid(s);
    size_t n = 0;
    for (size_t i = 0; i < s->n_byid; i++) {
        if (i && memcmp(s->byid[i]->f.id, s->byid[i - 1]->f.id, CAIRN_HASH_LEN) == 0)
            continue; /* the same content at another path */
        if (n < cap) {
            entries[n] = s->byid[i]->f.manifest;
            lens[n] = s->byid[i]->f.manifest_len;
        }
        n++;
    }
    return n;
}

uint64_t share_generation(const share *s)
{
    return s->gen;
}

void share_get_stats(const share *s, share_stats *st)
{
    *st = s->st;
    st->files = st->pending = 0;
    st->bytes = 0;
    for (size_t i = 0; i < s->n_files; i++) {
        if (s->files[i]->state == ST_READY) {
            st->files++;
            st->bytes += s->files[i]->size;
        } else if (s->files[i]->state == ST_PENDING) {
            st->pending++;
        }
    }
}
