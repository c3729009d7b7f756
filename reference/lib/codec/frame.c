/* Frame header, type registry and the streaming frame decoder (spec §4). */
#include "cairn/frame.h"
#include "cairn/fault.h"

struct type_info {
    uint16_t type;
    uint32_t cap;
    const char *name;
};

/* [FRM-8] registry and [FRM-11] per-type payload caps (spec §4.3, §15.1),
 * indexed by type, from the message table (cairn/msgtypes.h). */
#define TYPE_ROW(id, NAME, Name, cap, ...) [id] = {id, cap, #Name},
static const struct type_info types[CAIRN_MSG_TYPE_BOUND] = {CAIRN_MSG_TABLE(TYPE_ROW)};
#undef TYPE_ROW

static const struct type_info *type_find(uint16_t type)
{
    return type < sizeof(types) / sizeof(types[0]) && types[type].cap ? &types[type] : NULL;
}

uint32_t cairn_frame_type_cap(uint16_t type)
{
    const struct type_info *t = type_find(type);
    return t ? t->cap : 0;
}

const char *cairn_frame_type_name(uint16_t type)
{
    const struct type_info *t = type_find(type);
    return t ? t->name : NULL;
}

uint16_t cairn_frame_type_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].name && strcmp(types[i].name, name) == 0)
            return types[i].type;
    return 0;
}

static int header_check(const uint8_t *p, cairn_frame_header *h, uint32_t max_len)
{
    if ((p[0] != CAIRN_MAGIC_0 || p[1] != CAIRN_MAGIC_1) && !CAIRN_FAULT(SKIP_MAGIC))
        return CAIRN_ERR_PROTO(CAIRN_E_BAD_MAGIC); /* [FRM-6] check 1 */
    h->type = cairn_get_u16(p + 2);
    h->length = cairn_get_u32(p + 4);
    uint32_t cap = cairn_frame_type_cap(h->type);
    if (!cap && !cairn_frame_type_is_ignorable(h->type))
        return CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE); /* [FRM-7] [FRM-8] check 2 */
    if (h->length > CAIRN_FRAME_MAX_HARD || h->length > max_len)
        return CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE); /* [FRM-9] [FRM-10] check 3 */
    if (cap && h->length > cap && !CAIRN_FAULT(SKIP_TYPE_CAP))
        return CAIRN_ERR_PROTO(CAIRN_E_FRAME_TOO_LARGE); /* [FRM-11] check 4 */
    return 0;
}

int cairn_frame_header_decode(const uint8_t **src, const uint8_t *end, cairn_frame_header *h,
                              uint32_t max_len)
{
    if (end - *src < CAIRN_FRAME_HEADER_LEN)
        return CAIRN_ERR_AGAIN;
    int rv = header_check(*src, h, max_len);
    if (rv == 0)
        *src += CAIRN_FRAME_HEADER_LEN;
    return rv;
}

uint8_t *cairn_frame_header_encode(uint8_t *dst, uint16_t type, uint32_t length)
{
    dst[0] = CAIRN_MAGIC_0;
    dst[1] = CAIRN_MAGIC_1;
    cairn_put_u16(dst + 2, type);
    return cairn_put_u32(dst + 4, length);
}

void cairn_frame_decoder_init(cairn_frame_decoder *d, const cairn_mem *mem, uint32_t max_len)
{
    memset(d, 0, sizeof(*d));
    cairn_buf_init(&d->body, mem);
    d->max_len = max_len;
}

void cairn_frame_decoder_free(cairn_frame_decoder *d)
{
    cairn_buf_free(&d->body);
}

/* Payloads up to this size keep their buffer between frames. */
#define BODY_KEEP (64 * 1024)
/* ... and this much between reads (cairn_frame_decoder_trim). */
#define BODY_TRIM_KEEP (4 * 1024)

void cairn_frame_decoder_trim(cairn_frame_decoder *d)
{
    if (!d->in_payload)
        cairn_buf_reset(&d->body, BODY_TRIM_KEEP);
}

int cairn_frame_decoder_next(cairn_frame_decoder *d, const uint8_t **src, const uint8_t *end,
                             cairn_frame *out)
{
    if (d->failed)
        return CAIRN_ERR_STATE;
    if (*src == end) /* nothing to read (and *src may be NULL) */
        return CAIRN_ERR_AGAIN;
    for (;;) {
        if (d->skip) {
            size_t n = (size_t)(end - *src) < d->skip ? (size_t)(end - *src) : d->skip;
            *src += n;
            d->skip -= (uint32_t)n;
            if (d->skip)
                return CAIRN_ERR_AGAIN;
        }
        if (!d->in_payload) {
            /* Fast path: a whole header in the input, nothing held back. */
            if (d->hdr_len == 0 && end - *src >= CAIRN_FRAME_HEADER_LEN) {
                int rv = header_check(*src, &d->cur, d->max_len);
                if (rv) {
                    d->failed = 1;
                    return rv;
                }
                *src += CAIRN_FRAME_HEADER_LEN;
            } else {
                size_t n = CAIRN_FRAME_HEADER_LEN - d->hdr_len;
                if ((size_t)(end - *src) < n)
                    n = (size_t)(end - *src);
                memcpy(d->hdr + d->hdr_len, *src, n);
                d->hdr_len += n;
                *src += n;
                if (d->hdr_len < CAIRN_FRAME_HEADER_LEN)
                    return CAIRN_ERR_AGAIN;
                d->hdr_len = 0;
                int rv = header_check(d->hdr, &d->cur, d->max_len);
                if (rv) {
                    d->failed = 1;
                    return rv;
                }
            }
            if (d->on_header) {
                int rv = d->on_header(d->on_header_ud, &d->cur);
                if (rv) {
                    d->failed = 1;
                    return rv;
                }
            }
            if (cairn_frame_type_is_ignorable(d->cur.type)) {
                d->skip = d->cur.length;
                out->type = d->cur.type;
                out->length = d->cur.length;
                out->payload = NULL;
                return 0;
            }
            d->in_payload = 1;
            cairn_buf_reset(&d->body, BODY_KEEP);
        }
        size_t have = d->body.len, need = d->cur.length - have;
        if (have == 0 && (size_t)(end - *src) >= need) {
            /* Zero copy: the whole payload is in the caller's input. */
            out->payload = *src;
            *src += need;
        } else {
            size_t n = (size_t)(end - *src) < need ? (size_t)(end - *src) : need;
            /* Reserve the whole payload once: its length passed the caps. */
            if (have == 0 && !cairn_buf_reserve(&d->body, need))
                return CAIRN_ERR_NOMEM;
            if (n && cairn_buf_append(&d->body, *src, n) != 0)
                return CAIRN_ERR_NOMEM;
            *src += n;
            if (n < need)
                return CAIRN_ERR_AGAIN;
            out->payload = cairn_buf_data(&d->body);
        }
        d->in_payload = 0;
        out->type = d->cur.type;
        out->length = d->cur.length;
        return 0;
    }
}
