/*
 * Seed generator for the fuzz corpora, built with the library itself.
 *
 *   fuzz_gen_seeds seeds OUTDIR [SPEC_VECTORS_DIR]
 *       writes OUTDIR/<target>/<sha256 prefix> for every target: every
 *       message type built by hand and encoded by cairn_msg_encode, frame
 *       streams, session scripts (handshakes, traffic, timeouts, limits),
 *       blocks (the devnet genesis and mined devnet-style blocks), Merkle
 *       trees and proofs, manifest entries; plus every frame in
 *       SPEC_VECTORS_DIR/frames.json (jansson) when it exists. fuzz/run and
 *       fuzz/ci.sh minimise them into fuzz/corpus/<target>/ with -merge=1.
 *   fuzz_gen_seeds regressions OUTDIR
 *       writes the named hardening inputs OUTDIR/msg/<what>__<EXPECTED>
 *       (the protobuf-c pitfalls of ARCHITECTURE.md) that fuzz_expect checks.
 *
 * This file holds the output helpers and main(); each family of seeds has its
 * own file: gen_seeds_msg.c (messages, JSON, frames, hardening regressions),
 * gen_seeds_session.c, gen_seeds_chain.c (blocks, Merkle, manifests, chains,
 * spec vectors), gen_seeds_addrbook.c (address-book scripts).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_seeds.h"

static const char *outdir;
static size_t written;

static void mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

void write_named(const char *target, const char *name, const uint8_t *d, size_t n)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/%s", outdir, target);
    mkdirs(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    written++;
}

/* Content-addressed, like libFuzzer's own corpus files. */
void emit(const char *target, const uint8_t *d, size_t n)
{
    uint8_t h[32];
    char name[41];
    if (cairn_sha256(h, d, n) != 0)
        exit(1);
    cairn_hex_encode(name, h, 20);
    write_named(target, name, d, n);
}

/* ---- messages ---------------------------------------------------------------------- */

uint8_t z32[32], ff32[32], sig64[64], hdr96[96], manifest_entry[64];
uint8_t data_entry[6] = {0x00, 'c', 'a', 'i', 'r', 'n'};

/* Encodes `m` as a frame into `b` (appending); aborts when invalid. */
void frame_of(const ProtobufCMessage *m, cairn_buf *b)
{
    int rv = cairn_msg_encode(m, b);
    if (rv) {
        fprintf(stderr, "seed %s does not encode: %s\n", m->descriptor->name, cairn_strerror(rv));
        exit(1);
    }
}

static void *xmalloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n ? n : 1);
}
static void *xrealloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n ? n : 1);
}
static void xfree(void *p, void *ud)
{
    (void)ud;
    free(p);
}
const cairn_mem heap = {xmalloc, xrealloc, xfree, NULL};

void out(frame_cb cb, void *ud, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, &heap);
    frame_of(m, &b);
    cb(cairn_buf_data(&b), b.len, ud);
    cairn_buf_free(&b);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s seeds OUTDIR [VECTORS_DIR] | regressions OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[2];
    memset(ff32, 0xFF, sizeof(ff32));
    for (size_t i = 0; i < sizeof(sig64); i++)
        sig64[i] = (uint8_t)i;
    cairn_put_u32(hdr96, 1);
    manifest(manifest_entry, 100000, 16, "", 0);
    if (strcmp(argv[1], "regressions") == 0) {
        regressions();
    } else {
        all_messages(to_msg_corpus, NULL);
#ifdef HAVE_JANSSON
        all_messages(to_json_corpus, NULL);
        json_text_seeds();
#endif
        frame_seeds();
        session_seeds();
        block_seeds();
        merkle_seeds();
        manifest_seeds();
        chain_seeds();
        addrbook_seeds();
#ifdef HAVE_JANSSON
        if (argc > 3) {
            vector_seeds(argv[3]);
            block_vector_seeds(argv[3]);
            merkle_vector_seeds(argv[3]);
        }
#endif
    }
    fprintf(stderr, "%zu files in %s\n", written, outdir);
    return 0;
}
