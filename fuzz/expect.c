/*
 * fuzz_expect: checks the named regression inputs of the message layer.
 * Each file in the directory is a frame named `<what>__<EXPECTED>`, where
 * EXPECTED is OK or a wire error name (MALFORMED, NON_CANONICAL,
 * INVALID_FIELD, UNKNOWN_TYPE): cairn_msg_decode of its payload, typed by
 * its header, must give exactly that, and the message oracles must hold.
 * These pin the spec's answers to the protobuf-c 1.4.1 pitfalls (tag 0,
 * field numbers over 2^29 - 1, amplification, recursion, repeated
 * sub-message merging, NUL in text).
 */
#include <dirent.h>
#include <string.h>

#include "common.h"

static int check(const char *dir, const char *name)
{
    const char *sep = strstr(name, "__");
    if (!sep)
        return 0; /* not a named expectation: replayed by fuzz_replay_msg only */
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 22];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n < CAIRN_FRAME_HEADER_LEN) {
        fprintf(stderr, "%s: shorter than a frame header\n", name);
        return 1;
    }
    int want = 0;
    if (strcmp(sep + 2, "OK") != 0) {
        uint32_t code = cairn_wire_error_from_name(sep + 2);
        if (!code) {
            fprintf(stderr, "%s: unknown expectation %s\n", name, sep + 2);
            return 1;
        }
        want = CAIRN_ERR_PROTO(code);
    }
    uint16_t type = cairn_get_u16(buf + 2);
    fuzz_env e;
    fuzz_env_init(&e, 1);
    int got;
    if (cairn_frame_type_cap(type)) {
        got = fuzz_msg_oracle(&e.mem, type, buf + 8, n - 8);
    } else {
        cairn_msg_decoder d;
        ProtobufCMessage *m;
        cairn_msg_decoder_init(&d, &e.mem);
        got = cairn_msg_decode(&d, type, buf + 8, n - 8, &m);
        cairn_msg_decoder_free(&d);
    }
    if (got != want || e.live != 0) {
        fprintf(stderr, "FAIL %s: got %s (%d), want %s (%d)%s\n", name, cairn_strerror(got), got,
                sep + 2, want, e.live ? ", leaked" : "");
        return 1;
    }
    printf("ok   %s\n", name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s REGRESSIONS_MSG_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    int failed = 0, count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && strstr(de->d_name, "__")) {
            failed += check(argv[1], de->d_name);
            count++;
        }
    closedir(d);
    printf("%d passed, %d failed\n", count - failed, failed);
    return failed || count == 0 ? 1 : 0;
}
