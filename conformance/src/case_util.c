/* Small pieces shared by the case parser and the harness: message type names, hex, files, verdicts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

uint16_t cf_type_parse(const char *s)
{
    uint16_t t = cairn_frame_type_from_name(s);
    if (t)
        return t;
    if (isdigit((unsigned char)s[0])) {
        char *e;
        errno = 0;
        unsigned long v = strtoul(s, &e, 0);
        if (!*e && !errno && v <= 0xFFFF)
            return (uint16_t)v;
    }
    return 0;
}

const char *cf_type_name(uint16_t type, char buf[16])
{
    const char *n = cairn_frame_type_name(type);
    if (n)
        return n;
    snprintf(buf, 16, "0x%04x", type);
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cf_hex_parse(const char *s, uint8_t **out, size_t *len, size_t *splits, size_t *n_splits,
                 size_t max_splits)
{
    size_t cap = strlen(s) / 2 + 1, n = 0;
    uint8_t *b = malloc(cap);
    if (!b)
        return -1;
    if (n_splits)
        *n_splits = 0;
    int half = -1;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '_' || *p == ':')
            continue;
        if (*p == '|') {
            if (!splits || half >= 0 || *n_splits == max_splits)
                goto bad;
            splits[(*n_splits)++] = n;
            continue;
        }
        int v = hexval(*p);
        if (v < 0)
            goto bad;
        if (half < 0) {
            half = v;
        } else {
            b[n++] = (uint8_t)(half << 4 | v);
            half = -1;
        }
    }
    if (half >= 0)
        goto bad;
    *out = b;
    *len = n;
    return 0;
bad:
    free(b);
    return -1;
}

char *cf_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!b)
        return NULL;
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

static const char *verdict_names[CF_N_VERDICTS] = {"PASS",        "NON-STRICT", "SKIP",
                                                   "UNSUPPORTED", "FAIL",       "HARNESS-ERROR"};

const char *cf_verdict_name(int v)
{
    return v >= 0 && v < CF_N_VERDICTS ? verdict_names[v] : "?";
}

int cf_verdict_parse(const char *s)
{
    if (!strcmp(s, "DONE"))
        return CF_DONE;
    for (int i = 0; i < CF_N_VERDICTS; i++)
        if (!strcmp(s, verdict_names[i]))
            return i;
    return -1;
}
