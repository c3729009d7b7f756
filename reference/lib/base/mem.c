/* Allocation helpers and the byte buffer. */
#include "cairn/base.h"

void *cairn_mem_calloc(const cairn_mem *m, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = cairn_mem_malloc(m, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void cairn_buf_init(cairn_buf *b, const cairn_mem *mem)
{
    b->base = NULL;
    b->off = b->len = b->cap = 0;
    b->mem = mem;
}

void cairn_buf_free(cairn_buf *b)
{
    cairn_mem_free(b->mem, b->base);
    cairn_buf_init(b, b->mem);
}

uint8_t *cairn_buf_reserve(cairn_buf *b, size_t n)
{
    if (b->cap - b->off - b->len >= n)
        return b->base + b->off + b->len;
    /* Reclaim consumed space when that moves less than it frees (a big,
     * partly sent buffer is not shifted on every append); else grow. */
    if (b->off && b->cap - b->len >= n && b->len <= b->off) {
        memmove(b->base, b->base + b->off, b->len);
        b->off = 0;
        return b->base + b->len;
    }
    if (n > SIZE_MAX / 2 - b->len)
        return NULL;
    size_t want = b->len + n, cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *nb = cairn_mem_malloc(b->mem, cap);
    if (!nb)
        return NULL;
    if (b->len)
        memcpy(nb, b->base + b->off, b->len);
    cairn_mem_free(b->mem, b->base);
    b->base = nb;
    b->off = 0;
    b->cap = cap;
    return b->base + b->len;
}

int cairn_buf_append(cairn_buf *b, const void *data, size_t n)
{
    uint8_t *p = cairn_buf_reserve(b, n);
    if (!p)
        return CAIRN_ERR_NOMEM;
    if (n)
        memcpy(p, data, n);
    b->len += n;
    return 0;
}

void cairn_buf_consume(cairn_buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void cairn_buf_reset(cairn_buf *b, size_t keep)
{
    b->off = b->len = 0;
    if (b->cap > keep) {
        cairn_mem_free(b->mem, b->base);
        b->base = NULL;
        b->cap = 0;
    }
}

void cairn_hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void cairn_text_escape(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < cap; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            cairn_hex_encode(out + o, p, 1); /* two digits and a NUL the next byte replaces */
            o += 2;
        }
    }
    out[o] = '\0';
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

int cairn_hex_decode(uint8_t *out, size_t n, const char *in)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]);
        if (hi < 0)
            return CAIRN_ERR_INVALID_ARG;
        int lo = hexval(in[2 * i + 1]);
        if (lo < 0)
            return CAIRN_ERR_INVALID_ARG;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
