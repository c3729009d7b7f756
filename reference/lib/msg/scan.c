/*
 * Canonical-encoding wire scan (spec §5). Runs before protobuf-c sees a
 * payload, and closes protobuf-c 1.4.1's gaps: tag 0 through a non-minimal
 * key, field numbers above 2^29-1, a singular field repeated (which
 * protobuf-c merges differently from Google's parser), unknown fields, and
 * element counts that would make unpacking allocate far beyond the input.
 */
#include "cairn/msg.h"
#include "cairn/fault.h"

#define MALFORMED     CAIRN_ERR_PROTO(CAIRN_E_MALFORMED)
#define NON_CANONICAL CAIRN_ERR_PROTO(CAIRN_E_NON_CANONICAL)
#define INVALID_FIELD CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)

#define MAX_FIELD_NUMBER 536870911u /* 2^29 - 1 */
#define MAX_DEPTH        4

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/*
 * Reads one varint. Returns 0 and sets *minimal, or MALFORMED when it is
 * truncated, longer than 10 bytes or overflows 64 bits.
 */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v, int *minimal)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (*p + i >= end)
            return MALFORMED;
        uint8_t b = (*p)[i];
        if (i == 9 && b > 1)
            return MALFORMED;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *minimal = i == 0 || b != 0;
            *p += i + 1;
            *v = x;
            return 0;
        }
    }
    return MALFORMED;
}

static int wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WT_I64;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WT_I32;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

/* [ENC-24] element count limits of repeated fields, by message and field. */
static uint32_t repeated_cap(const ProtobufCMessageDescriptor *d, unsigned id)
{
    if (d == &cairn__v1__get_headers__descriptor)
        return CAIRN_MAX_LOCATOR;
    if (d == &cairn__v1__headers__descriptor)
        return CAIRN_MAX_HEADERS;
    if (d == &cairn__v1__block__descriptor)
        return CAIRN_MAX_ENTRIES;
    if (d == &cairn__v1__entries__descriptor)
        return CAIRN_MAX_RELAY_ENTRIES;
    if (d == &cairn__v1__manifest__descriptor)
        return CAIRN_MAX_HAVE_RANGES;
    if (d == &cairn__v1__chunk__descriptor && id == 4)
        return CAIRN_MAX_PROOF;
    if (d == &cairn__v1__peers__descriptor)
        return CAIRN_MAX_PEERS;
    return 0; /* a repeated field without a cap would be a schema bug */
}

/* Scalar range beyond what the declared type holds: not a value a
 * conforming sender can produce. */
static int scalar_out_of_range(ProtobufCType t, uint64_t v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_UINT32:
        return v > UINT32_MAX;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
        /* canonical int32: 0..2^31-1, or a negative value sign-extended */
        return v > INT32_MAX && v < 0xFFFFFFFF80000000ull;
    case PROTOBUF_C_TYPE_BOOL:
        return v > 1;
    default:
        return 0;
    }
}

static int scan_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        const uint8_t *end, int depth, size_t *occurrences);

/* Skips the value of an unknown field; MALFORMED when it runs past the end. */
static int skip_unknown(int wt, const uint8_t **p, const uint8_t *end)
{
    uint64_t v;
    int minimal, rv;
    size_t n = 0;
    if (wt == WT_VARINT)
        return read_varint(p, end, &v, &minimal);
    if (wt == WT_LEN) {
        if ((rv = read_varint(p, end, &v, &minimal)))
            return rv;
        if (v > (uint64_t)(end - *p))
            return MALFORMED;
        n = (size_t)v;
    } else {
        n = wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return MALFORMED;
    }
    *p += n;
    return 0;
}

/* Checks one field's value after its key; advances *p past it. */
static int scan_value(const ProtobufCFieldDescriptor *f, int singular, const uint8_t **p,
                      const uint8_t *end, int depth, size_t *occurrences)
{
    uint64_t v;
    int minimal, rv;
    switch (wire_type_of(f->type)) {
    case WT_VARINT:
        if ((rv = read_varint(p, end, &v, &minimal)))
            return rv;
        if (!minimal || (singular && v == 0))
            return NON_CANONICAL;                                   /* [ENC-15], [ENC-19] */
        return scalar_out_of_range(f->type, v) ? INVALID_FIELD : 0; /* [ENC-22] */
    case WT_I64:
    case WT_I32: {
        size_t n = wire_type_of(f->type) == WT_I64 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return MALFORMED;
        int zero = 1;
        for (size_t i = 0; i < n; i++)
            zero &= (*p)[i] == 0;
        *p += n;
        return singular && zero ? NON_CANONICAL : 0;
    }
    default:
        if ((rv = read_varint(p, end, &v, &minimal)))
            return rv;
        if (v > (uint64_t)(end - *p))
            return MALFORMED;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            rv = scan_message(f->descriptor, *p, *p + v, depth + 1, occurrences);
        else
            rv = singular && v == 0 ? NON_CANONICAL : 0; /* [ENC-19] */
        *p += v;
        if (rv == MALFORMED)
            return rv;
        return !minimal ? NON_CANONICAL : rv; /* [ENC-14] */
    }
}

static int scan_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        const uint8_t *end, int depth, size_t *occurrences)
{
    uint32_t counts[32];
    unsigned last = 0, oneofs[8], n_oneofs = 0;
    int worst = 0; /* [ENC-4] NON_CANONICAL outranks INVALID_FIELD; MALFORMED ends the scan */
#define NOTE(err)                                                                                  \
    do {                                                                                           \
        if (worst != NON_CANONICAL)                                                                \
            worst = (err);                                                                         \
    } while (0)
    if (depth > MAX_DEPTH || desc->n_fields > 32)
        return MALFORMED;
    memset(counts, 0, desc->n_fields * sizeof(counts[0]));
    while (p < end) {
        uint64_t key;
        int minimal, rv;
        if ((rv = read_varint(&p, end, &key, &minimal)))
            return rv;
        uint64_t num = key >> 3;
        int wt = (int)(key & 7);
        if (num == 0 || num > MAX_FIELD_NUMBER)
            return MALFORMED;
        if (wt != WT_VARINT && wt != WT_I64 && wt != WT_LEN && wt != WT_I32)
            return MALFORMED; /* [ENC-8] groups (3, 4) and 6, 7 */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
        if (!minimal && f)
            NOTE(NON_CANONICAL); /* [ENC-13] known fields only */
        if (!f) {
            /* [ENC-23] v1 has no unknown fields; skip it to finish the scan.
             * Canonical rules do not apply to it, however it is written
             * (spec §5.3 "Unknown fields"): no NON_CANONICAL from here. */
            if (!CAIRN_FAULT(ACCEPT_UNKNOWN_FIELD))
                NOTE(INVALID_FIELD);
            if ((rv = skip_unknown(wt, &p, end)))
                return rv;
            continue;
        }
        if (wt != wire_type_of(f->type))
            return MALFORMED; /* [ENC-11] */
        int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (num < last || (num == last && !repeated))
            NOTE(NON_CANONICAL); /* [ENC-16], [ENC-17] */
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* Members of one oneof share their case word's offset. */
            for (unsigned i = 0; i < n_oneofs; i++)
                if (oneofs[i] == f->quantifier_offset)
                    NOTE(NON_CANONICAL); /* [ENC-18] two members of one oneof */
            if (n_oneofs < sizeof(oneofs) / sizeof(oneofs[0]))
                oneofs[n_oneofs++] = f->quantifier_offset;
        }
        size_t idx = (size_t)(f - desc->fields);
        if (repeated && ++counts[idx] > repeated_cap(desc, f->id))
            NOTE(INVALID_FIELD); /* counted only: nothing is allocated by the scan */
        int singular = !repeated && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                       f->type != PROTOBUF_C_TYPE_MESSAGE;
        if ((rv = scan_value(f, singular, &p, end, depth, occurrences))) {
            if (rv == MALFORMED)
                return rv;
            NOTE(rv);
        }
        if (num > last)
            last = (unsigned)num;
        ++*occurrences;
    }
    return worst;
#undef NOTE
}

int cairn_msg_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                   size_t *occurrences)
{
    size_t n = 0;
    int rv = scan_message(desc, p, p + len, 0, &n);
    if (rv == NON_CANONICAL && CAIRN_FAULT(CANONICAL_AS_MALFORMED))
        rv = MALFORMED;
    if (occurrences)
        *occurrences = n;
    return rv;
}
