/* Requirement IDs of the spec (the same rule as spec/tools/reqids.py) and small utilities. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "conform.h"

#define HIDDEN "*(not observable on the wire)*"

/* "- [AREA-N] text": AREA is 2..6 upper-case letters. */
static int req_line(const char *l, char id[24], const char **text)
{
    if (strncmp(l, "- [", 3))
        return 0;
    const char *p = l + 3, *a = p;
    while (*p >= 'A' && *p <= 'Z')
        p++;
    size_t al = (size_t)(p - a);
    if (al < 2 || al > 6 || *p != '-' || !isdigit((unsigned char)p[1]))
        return 0;
    p++;
    while (isdigit((unsigned char)*p))
        p++;
    if (p[0] != ']' || p[1] != ' ')
        return 0;
    size_t n = (size_t)(p - (l + 3));
    if (n >= 24)
        return 0;
    memcpy(id, l + 3, n);
    id[n] = '\0';
    *text = p + 2;
    return 1;
}

/* The RFC 2119 keyword of a requirement, longest match first. */
static const char *level_of(const char *text)
{
    static const char *kw[] = {"MUST NOT", "SHOULD NOT", "MUST", "SHOULD", "MAY"};
    static const char *lv[] = {"MUST-NOT", "SHOULD-NOT", "MUST", "SHOULD", "MAY"};
    const char *best = NULL;
    const char *best_pos = NULL;
    for (size_t i = 0; i < 5; i++) {
        const char *p = text;
        while ((p = strstr(p, kw[i]))) {
            size_t k = strlen(kw[i]);
            int word =
                (p == text || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[k]);
            if (word && (!best_pos || p < best_pos)) {
                best_pos = p;
                best = lv[i];
            }
            if (word)
                break;
            p += k;
        }
    }
    /* "MUST NOT" and "MUST" start at the same place: prefer the longer. */
    if (best && !strcmp(best, "MUST") && !strncmp(best_pos, "MUST NOT", 8))
        best = "MUST-NOT";
    if (best && !strcmp(best, "SHOULD") && !strncmp(best_pos, "SHOULD NOT", 10))
        best = "SHOULD-NOT";
    return best ? best : "?";
}

int cf_spec_load(cf_spec *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    char *text = cf_read_file(path, NULL);
    if (!text)
        return -1;
    size_t cap = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char id[24];
        const char *body;
        if (!req_line(line, id, &body))
            continue;
        if (s->n == cap) {
            cap = cap ? cap * 2 : 512;
            cf_req *r = realloc(s->reqs, cap * sizeof(*r));
            if (!r)
                break;
            s->reqs = r;
        }
        cf_req *r = &s->reqs[s->n++];
        snprintf(r->id, sizeof(r->id), "%s", id);
        snprintf(r->level, sizeof(r->level), "%s", level_of(body));
        r->observable = strstr(body, HIDDEN) == NULL;
        r->text = strdup(body);
    }
    free(text);
    return 0;
}

void cf_spec_free(cf_spec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->reqs[i].text);
    free(s->reqs);
    memset(s, 0, sizeof(*s));
}

const cf_req *cf_spec_find(const cf_spec *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->reqs[i].id, id))
            return &s->reqs[i];
    return NULL;
}

/* ---- utilities ------------------------------------------------------------------ */

uint64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

json_t *cf_bytes_json(const uint8_t *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    if (!s)
        return NULL;
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

int cf_json_bytes(const json_t *j, uint8_t **out, size_t *len)
{
    if (json_is_object(j) && json_is_string(json_object_get(j, "hex")))
        return cf_hex_parse(json_string_value(json_object_get(j, "hex")), out, len, NULL, NULL, 0);
    if (!json_is_string(j))
        return -1;
    const char *s = json_string_value(j);
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    uint8_t *b = malloc(n / 4 * 3 + 1);
    if (!b)
        return -1;
    int l = EVP_DecodeBlock(b, (const unsigned char *)s, (int)n);
    if (l < 0) {
        free(b);
        return -1;
    }
    if (n && s[n - 1] == '=')
        l--;
    if (n > 1 && s[n - 2] == '=')
        l--;
    *out = b;
    *len = (size_t)l;
    return 0;
}

char *cf_hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s)
        cairn_hex_encode(s, p, n);
    return s;
}
