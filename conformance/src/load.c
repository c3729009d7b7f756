/* Loading the case files of a directory (cases/server, cases/client, cases/) in run order. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

static int by_order(const void *a, const void *b)
{
    /* Cases that leave state on the IUT run after the others, in ID order:
     * first those that leave headers (requester), then those that move the
     * active chain (mutates). */
    const cf_case *x = a, *y = b;
    int mx = 2 * cf_case_has_tag(x, "mutates") + cf_case_has_tag(x, "requester");
    int my = 2 * cf_case_has_tag(y, "mutates") + cf_case_has_tag(y, "requester");
    if (mx != my)
        return mx - my;
    return strcmp(x->id, y->id);
}

int cf_load_cases(const char *dir, cf_case **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *sub[] = {"server", "client", "."};
    size_t cap = 0;
    for (size_t s = 0; s < 3; s++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, sub[s]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 6 || strcmp(e->d_name + l - 5, ".case"))
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                cf_case *nc = realloc(*out, cap * sizeof(**out));
                if (!nc) {
                    closedir(d);
                    return -1;
                }
                *out = nc;
            }
            char file[4600];
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            if (cf_case_load(&(*out)[*n], file, err, errlen)) {
                cf_case_free(&(*out)[*n]);
                closedir(d);
                goto fail;
            }
            (*n)++;
        }
        closedir(d);
    }
    for (size_t i = 0; i < *n; i++)
        for (size_t k = i + 1; k < *n; k++)
            if (!strcmp((*out)[i].id, (*out)[k].id)) {
                snprintf(err, errlen, "case ID %s is used by %s and %s", (*out)[i].id,
                         (*out)[i].path, (*out)[k].path);
                goto fail;
            }
    qsort(*out, *n, sizeof(**out), by_order);
    return 0;
fail:
    for (size_t i = 0; i < *n; i++)
        cf_case_free(&(*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}
