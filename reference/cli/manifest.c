/*
 * cairn manifest PATH: the manifest and file ID of a local file (spec §11.2,
 * §11.3), computed the way cairnd --share computes them, in one streaming
 * pass (the file is never held in memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cairn/files.h"
#include "cairn/port.h"
#include "cli.h"

#define READ_LEN (1u << 20)

static const char usage_text[] =
    "Usage: cairn manifest PATH [--chunk-log2 N] [--name NAME] [--json]\n"
    "\n"
    "Hashes the file at PATH and prints its file ID and manifest: size, chunk size,\n"
    "chunk count, Merkle root and the manifest entry bytes (hex), as cairnd --share\n"
    "would publish them.\n"
    "\n"
    "  --chunk-log2 N  chunk size 2^N, N in 14..20 (default: the smallest that keeps\n"
    "                  the file within 1024 chunks)\n"
    "  --name NAME     the manifest's name (default: PATH's last component)\n"
    "  --json          one JSON object on stdout: file_id, size, chunk_size,\n"
    "                  chunk_log2, chunks, root, name, manifest\n";

static int failure(int json, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failure(int json, int code, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cairn: %s\n", text);
    if (json) {
        json_t *o = json_pack("{s:{s:s, s:n, s:b, s:i}}", "error", "message", text, "code",
                              "by_peer", 0, "exit", code);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    return code;
}

static json_t *hex(const uint8_t *p, size_t n)
{
    char buf[2 * CAIRN_MANIFEST_MAX_LEN + 1];
    cairn_hex_encode(buf, p, n);
    return json_string(buf);
}

int cmd_manifest(int argc, char **argv)
{
    const char *path = NULL, *name = NULL;
    int json = 0, log2 = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        } else if ((!strcmp(a, "--chunk-log2") || !strcmp(a, "--name")) && i + 1 < argc) {
            if (!strcmp(a, "--name")) {
                name = argv[++i];
                continue;
            }
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < CAIRN_CHUNK_LOG2_MIN || v > CAIRN_CHUNK_LOG2_MAX)
                return failure(json, CLI_EXIT_USAGE, "manifest: --chunk-log2 wants 14..20");
            log2 = (int)v;
        } else if (a[0] == '-' && a[1] && strcmp(a, "--") != 0) {
            return failure(json, CLI_EXIT_USAGE, "manifest: unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return failure(json, CLI_EXIT_USAGE, "manifest: unexpected argument '%s'", a);
        }
    }
    if (!path)
        return failure(json, CLI_EXIT_USAGE, "manifest: PATH is needed (see --help)");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return failure(json, CLI_EXIT_FAIL, "%s: %s", path,
                       e == EINVAL ? "not a regular file" : strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > CAIRN_FILE_MAX_SIZE) {
        close(fd);
        return failure(json, CLI_EXIT_FAIL, "%s: larger than 2^50 bytes", path);
    }
    unsigned cl = log2 >= 0 ? (unsigned)log2 : cairn_file_chunk_log2_for(size);
    uint8_t nm[CAIRN_FILE_MAX_NAME];
    size_t nl;
    if (name) {
        nl = strlen(name);
        if (nl > CAIRN_FILE_MAX_NAME || !cairn_file_name_ok((const uint8_t *)name, nl)) {
            close(fd);
            return failure(json, CLI_EXIT_USAGE, "manifest: --name is not a valid file name");
        }
        memcpy(nm, name, nl);
    } else {
        const char *slash = strrchr(path, '/');
        nl = cairn_file_name_from(slash ? slash + 1 : path, nm);
    }
    cairn_file_hasher *h = NULL;
    uint8_t *buf = malloc(READ_LEN), root[CAIRN_HASH_LEN];
    int rv =
        buf ? cairn_file_hasher_new(&h, size, cl, NULL, NULL, cairn_port_mem()) : CAIRN_ERR_NOMEM;
    uint64_t off = 0;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (rv == 0 && off < size) {
        ssize_t r = read(fd, buf, READ_LEN);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (uint64_t)r > size - off) {
            rv = CAIRN_ERR_STATE;
            break;
        }
        rv = cairn_file_hasher_update(h, buf, (size_t)r);
        off += (uint64_t)r;
    }
    if (rv == 0)
        rv = cairn_file_hasher_final(h, root);
    cairn_file_hasher_del(h);
    free(buf);
    close(fd);
    if (rv == CAIRN_ERR_STATE)
        return failure(json, CLI_EXIT_FAIL, "%s changed while it was read", path);
    cairn_file f;
    if (rv != 0 || cairn_file_init(NULL, &f, size, cl, root, nm, nl) != 0)
        return failure(json, CLI_EXIT_FAIL, "%s: %s", path, cairn_strerror(rv));
    char id[2 * CAIRN_HASH_LEN + 1], rh[2 * CAIRN_HASH_LEN + 1];
    cairn_hex_encode(id, f.id, CAIRN_HASH_LEN);
    cairn_hex_encode(rh, f.root, CAIRN_HASH_LEN);
    if (json) {
        json_t *o =
            json_pack("{s:s, s:I, s:i, s:i, s:I, s:s, s:s#, s:o}", "file_id", id, "size",
                      (json_int_t)size, "chunk_size", 1 << cl, "chunk_log2", (int)cl, "chunks",
                      (json_int_t)f.geom.n_chunks, "root", rh, "name", (const char *)f.name,
                      (int)f.name_len, "manifest", hex(f.manifest, f.manifest_len));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("file_id     %s\n", id);
        printf("size        %" PRIu64 "\n", size);
        printf("chunk_size  %u (2^%u)\n", 1u << cl, cl);
        printf("chunks      %" PRIu64 "\n", f.geom.n_chunks);
        printf("root        %s\n", rh);
        printf("name        %.*s\n", (int)f.name_len, (const char *)f.name);
        char mh[2 * CAIRN_MANIFEST_MAX_LEN + 1];
        cairn_hex_encode(mh, f.manifest, f.manifest_len);
        printf("manifest    %s\n", mh);
    }
    return CLI_EXIT_OK;
}
