/*
 * Replay driver: a plain main() that runs every file it is given (or every
 * file in a directory it is given, in name order) once through the target's
 * LLVMFuzzerTestOneInput. Linked instead of libFuzzer, it lets ctest replay
 * the corpora and past crashes in any build, gcc included (OpenSSL's
 * fuzz/test-corpus.c does the same). An oracle failure aborts, which fails
 * the test; a missing directory counts as empty.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* An exact-size copy, so ASan sees reads past the input's end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int skip_name(const char *name)
{
    return name[0] == '.' || strcmp(name, "README") == 0 || strstr(name, ".md") != NULL;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int failed = 0;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: absent, nothing to replay\n", argv[i]);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) != 0;
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, by_name);
        if (n < 0) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        for (int k = 0; k < n; k++) {
            if (!skip_name(names[k]->d_name)) {
                size_t plen = strlen(argv[i]) + strlen(names[k]->d_name) + 2;
                char *path = malloc(plen);
                if (!path) {
                    failed = 1;
                } else {
                    snprintf(path, plen, "%s/%s", argv[i], names[k]->d_name);
                    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        failed |= replay_file(path) != 0;
                        count++;
                    }
                    free(path);
                }
            }
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %zu inputs%s\n", count, failed ? ", some unreadable" : "");
    return failed ? 1 : 0;
}
