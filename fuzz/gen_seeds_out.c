/* The seed generator's output (files under OUTDIR), message encoding and shared byte patterns. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_seeds.h"

static const char *outdir;
static size_t written;

void seeds_set_outdir(const char *dir)
{
    outdir = dir;
}

size_t seeds_written(void)
{
    return written;
}

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
