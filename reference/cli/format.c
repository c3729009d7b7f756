/* Text and JSON forms of protocol values: times, services, headers, entries. */
#include <stdlib.h>
#include <time.h>

#include "cli.h"

json_t *cli_json_hex(const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (!hex)
        return NULL;
    cairn_hex_encode(hex, p, n);
    json_t *j = json_string(hex);
    free(hex);
    return j;
}

json_t *cli_json_u64(uint64_t v)
{
    if (v > (uint64_t)INT64_MAX) {
        char d[24];
        snprintf(d, sizeof(d), "%llu", (unsigned long long)v);
        return json_string(d);
    }
    return json_integer((json_int_t)v);
}

void cli_format_time(char *out, size_t cap, uint64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms / 1000 > (uint64_t)253402300799 || !gmtime_r(&secs, &tm)) { /* past year 9999 */
        snprintf(out, cap, "@%llu ms", (unsigned long long)ms);
        return;
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* [HS-47] unknown bits are shown, never rejected. */
static const char *const service_names[] = {"CHAIN", "FILES", "RELAY", "PEERS"};

void cli_format_services(char *out, size_t cap, uint64_t services)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned bit = 0; bit < 64 && o < cap; bit++) {
        if (!(services >> bit & 1))
            continue;
        int n = bit < 4 ? snprintf(out + o, cap - o, "%s%s", o ? "," : "", service_names[bit])
                        : snprintf(out + o, cap - o, "%sbit%u", o ? "," : "", bit);
        o += n > 0 ? (size_t)n : 0;
    }
    if (!services)
        snprintf(out, cap, "none");
}

json_t *cli_services_json(uint64_t services)
{
    json_t *a = json_array();
    for (unsigned bit = 0; bit < 64 && a; bit++) {
        if (!(services >> bit & 1))
            continue;
        char name[16];
        snprintf(name, sizeof(name), "bit%u", bit);
        json_array_append_new(a, json_string(bit < 4 ? service_names[bit] : name));
    }
    return a;
}

void cli_format_work(char *out, size_t cap, const uint8_t be[32])
{
    size_t i = 0;
    while (i < 31 && be[i] == 0)
        i++;
    char hex[65];
    cairn_hex_encode(hex, be + i, 32 - i);
    const char *h = hex;
    if (h[0] == '0' && h[1])
        h++; /* one byte may hold a single digit */
    snprintf(out, cap, "0x%s", h);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t b = p[0];
    size_t len;
    uint32_t v, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        len = 2, v = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3, v = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4, v = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

int cli_is_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_len(p + i, n - i, &cp);
        if (!l || (is_control(cp) && cp != '\t' && cp != '\n' && cp != '\r'))
            return 0;
        i += l;
    }
    return 1;
}

void cli_quote(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;
    if (cap < 8) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        char esc[8];
        uint32_t cp;
        size_t l = utf8_len(p + i, n - i, &cp), el;
        if (l && !is_control(cp) && cp != '"' && cp != '\\') {
            memcpy(esc, p + i, l);
            el = l;
        } else if (l == 1 && (cp == '\n' || cp == '\t' || cp == '\r' || cp == '"' || cp == '\\')) {
            esc[0] = '\\';
            esc[1] = cp == '\n' ? 'n' : cp == '\t' ? 't' : cp == '\r' ? 'r' : (char)cp;
            el = 2;
        } else {
            snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            el = 4;
            l = 1;
        }
        if (o + el + 5 > cap) { /* room for `..."` and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, el);
        o += el;
        i += l;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ---- headers and entries ------------------------------------------------------------ */

json_t *cli_header_json(const uint8_t raw[CAIRN_BLOCK_HEADER_LEN])
{
    const uint8_t *p = raw;
    cairn_block_header h;
    uint8_t id[CAIRN_HASH_LEN];
    cairn_block_header_decode(&p, raw + CAIRN_BLOCK_HEADER_LEN, &h);
    cairn_block_id(NULL, id, raw);
    return json_pack("{s:o, s:o, s:i, s:o, s:i, s:o, s:o, s:o}", "id",
                     cli_json_hex(id, CAIRN_HASH_LEN), "height", cli_json_u64(h.height), "version",
                     (int)h.version, "time_ms", cli_json_u64(h.time_ms), "bits", (int)h.bits,
                     "nonce", cli_json_u64(h.nonce), "prev_id",
                     cli_json_hex(h.prev_id, CAIRN_HASH_LEN), "entries_root",
                     cli_json_hex(h.entries_root, CAIRN_HASH_LEN));
}

void cli_header_print(FILE *f, const uint8_t raw[CAIRN_BLOCK_HEADER_LEN])
{
    const uint8_t *p = raw;
    cairn_block_header h;
    uint8_t id[CAIRN_HASH_LEN];
    char hex[65], t[40];
    cairn_block_header_decode(&p, raw + CAIRN_BLOCK_HEADER_LEN, &h);
    cairn_block_id(NULL, id, raw);
    cairn_hex_encode(hex, id, CAIRN_HASH_LEN);
    fprintf(f, "id            %s\n", hex);
    fprintf(f, "height        %llu\n", (unsigned long long)h.height);
    fprintf(f, "version       %u\n", h.version);
    cli_format_time(t, sizeof(t), h.time_ms);
    fprintf(f, "time          %s (%llu)\n", t, (unsigned long long)h.time_ms);
    fprintf(f, "bits          %u\n", h.bits);
    fprintf(f, "nonce         %llu\n", (unsigned long long)h.nonce);
    cairn_hex_encode(hex, h.prev_id, CAIRN_HASH_LEN);
    fprintf(f, "prev_id       %s\n", hex);
    cairn_hex_encode(hex, h.entries_root, CAIRN_HASH_LEN);
    fprintf(f, "entries_root  %s\n", hex);
}

static const char *kind_name(uint8_t kind)
{
    return kind == CAIRN_ENTRY_DATA       ? "data"
           : kind == CAIRN_ENTRY_MANIFEST ? "manifest"
                                          : "unknown";
}

/* Chunks of a file: ceil(size / 2^log2). */
static uint64_t n_chunks(uint64_t size, unsigned log2)
{
    return (size >> log2) + ((size & ((1ull << log2) - 1)) != 0);
}

json_t *cli_entry_json(size_t index, const uint8_t *e, size_t len)
{
    uint8_t id[CAIRN_HASH_LEN];
    cairn_entry_id(NULL, id, e, len);
    json_t *j = json_pack("{s:I, s:s, s:I, s:o}", "index", (json_int_t)index, "kind",
                          len ? kind_name(e[0]) : "empty", "length", (json_int_t)len, "id",
                          cli_json_hex(id, CAIRN_HASH_LEN));
    if (!j || !len)
        return j;
    cairn_manifest_entry m;
    if (e[0] == CAIRN_ENTRY_MANIFEST && cairn_manifest_entry_parse(e, len, &m) == 0) {
        uint8_t file_id[CAIRN_HASH_LEN];
        cairn_sha256(file_id, e, CAIRN_MANIFEST_ID_LEN);
        json_object_set_new(j, "file_id", cli_json_hex(file_id, CAIRN_HASH_LEN));
        json_object_set_new(j, "size", cli_json_u64(m.size));
        json_object_set_new(j, "chunk_size", json_integer((json_int_t)1 << m.chunk_log2));
        json_object_set_new(j, "chunks", cli_json_u64(n_chunks(m.size, m.chunk_log2)));
        json_object_set_new(j, "root", cli_json_hex(m.root, CAIRN_HASH_LEN));
        json_object_set_new(j, "name", json_stringn((const char *)m.name, m.name_len));
        return j;
    }
    /* Data after the kind byte: as text when it is text, else as hex. */
    if (e[0] == CAIRN_ENTRY_DATA && cli_is_text(e + 1, len - 1))
        json_object_set_new(j, "text", json_stringn((const char *)e + 1, len - 1));
    else
        json_object_set_new(j, "hex", cli_json_hex(e + 1, len - 1));
    return j;
}

#define SHOW_HEX_MAX 64 /* bytes of binary data shown in text mode */

void cli_entry_print(FILE *f, size_t index, const uint8_t *e, size_t len)
{
    uint8_t id[CAIRN_HASH_LEN];
    char hex[2 * SHOW_HEX_MAX + 1];
    cairn_entry_id(NULL, id, e, len);
    cairn_hex_encode(hex, id, CAIRN_HASH_LEN);
    fprintf(f, "entry %zu  %s  %zu bytes  id %s\n", index, len ? kind_name(e[0]) : "empty", len,
            hex);
    if (!len)
        return;
    cairn_manifest_entry m;
    if (e[0] == CAIRN_ENTRY_MANIFEST && cairn_manifest_entry_parse(e, len, &m) == 0) {
        uint8_t file_id[CAIRN_HASH_LEN];
        char name[4 * 255 + 8];
        cairn_sha256(file_id, e, CAIRN_MANIFEST_ID_LEN);
        cairn_hex_encode(hex, file_id, CAIRN_HASH_LEN);
        fprintf(f, "    file_id     %s\n", hex);
        fprintf(f, "    size        %llu bytes\n", (unsigned long long)m.size);
        fprintf(f, "    chunk_size  %llu bytes (%llu chunks)\n", 1ull << m.chunk_log2,
                (unsigned long long)n_chunks(m.size, m.chunk_log2));
        cairn_hex_encode(hex, m.root, CAIRN_HASH_LEN);
        fprintf(f, "    root        %s\n", hex);
        cli_quote(name, sizeof(name), m.name, m.name_len);
        fprintf(f, "    name        %s\n", name);
        return;
    }
    if (e[0] == CAIRN_ENTRY_DATA && cli_is_text(e + 1, len - 1)) {
        size_t cap = 4 * len + 8;
        char *q = malloc(cap);
        if (q) {
            cli_quote(q, cap, e + 1, len - 1);
            fprintf(f, "    text  %s\n", q);
        }
        free(q);
        return;
    }
    size_t show = len - 1 > SHOW_HEX_MAX ? SHOW_HEX_MAX : len - 1;
    cairn_hex_encode(hex, e + 1, show);
    fprintf(f, "    hex   %s%s\n", hex, show < len - 1 ? "..." : "");
}
