/* proto3 JSON mapping over protobuf-c descriptors. */
#include "cairn/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

void cairn_json_field_name(char out[64], const char *proto_name)
{
    size_t o = 0;
    int upper = 0;
    for (const char *p = proto_name; *p && o < 63; p++) {
        if (*p == '_') {
            upper = 1;
            continue;
        }
        out[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper = 0;
    }
    out[o] = '\0';
}

/* ---- message -> JSON ------------------------------------------------------ */

static json_t *b64(const ProtobufCBinaryData *b)
{
    size_t n = 4 * ((b->len + 2) / 3) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    EVP_EncodeBlock((unsigned char *)s, b->data, (int)b->len);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *u64str(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, v);
    return json_string(s);
}

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64str(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        char s[24];
        snprintf(s, sizeof(s), "%" PRId64, *(const int64_t *)p);
        return json_string(s);
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_BYTES:
        return b64(p);
    case PROTOBUF_C_TYPE_MESSAGE:
        return cairn_json_from_msg(*(ProtobufCMessage *const *)p);
    default:
        return NULL; /* float, double, string: not in the Cairn schema */
    }
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default:
        return 4;
    }
}

static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)p == NULL;
    default: {
        const uint8_t *b = p;
        for (size_t i = 0; i < value_size(f); i++)
            if (b[i])
                return 0;
        return 1;
    }
    }
}

json_t *cairn_json_from_msg(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object(), *v = NULL;
    if (!o)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const uint8_t *base = (const uint8_t *)m + f->offset;
        v = NULL;
        char name[64];
        cairn_json_field_name(name, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const uint8_t *)m + f->quantifier_offset);
            if (!n)
                continue;
            const uint8_t *arr = *(const uint8_t *const *)base;
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                if (json_array_append_new(v, value_to_json(f, arr + k * value_size(f))))
                    goto fail_v;
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)((const uint8_t *)m + f->quantifier_offset);
            if (which != f->id)
                continue;
            v = value_to_json(f, base);
        } else {
            if (is_default(f, base))
                continue;
            v = value_to_json(f, base);
        }
        if (!v || json_object_set_new(o, name, v))
            goto fail;
    }
    return o;
fail_v:
    json_decref(v);
fail:
    json_decref(o);
    return NULL;
}

/* ---- JSON -> message ------------------------------------------------------ */

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return CAIRN_ERR_INVALID_ARG;                                                              \
    } while (0)

static int json_u64(const json_t *j, uint64_t *v)
{
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *v = (uint64_t)json_integer_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        if (!*s || *s == '-')
            return -1;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (*end || errno)
            return -1;
        *v = x;
        return 0;
    }
    return -1;
}

static int json_bytes(const json_t *j, cairn_arena *a, ProtobufCBinaryData *out)
{
    const char *s;
    if (json_is_object(j) && json_is_string(json_object_get(j, "hex"))) {
        s = json_string_value(json_object_get(j, "hex"));
        size_t n = strlen(s);
        if (n % 2)
            return -1;
        out->len = n / 2;
        out->data = cairn_arena_alloc(a, out->len + 1);
        return out->data && cairn_hex_decode(out->data, out->len, s) == 0 ? 0 : -1;
    }
    if (!json_is_string(j))
        return -1;
    s = json_string_value(j);
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    out->data = cairn_arena_alloc(a, n / 4 * 3 + 1);
    if (!out->data)
        return -1;
    int len = EVP_DecodeBlock(out->data, (const unsigned char *)s, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (n && s[n - 1] == '=')
        len--;
    if (n > 1 && s[n - 2] == '=')
        len--;
    out->len = (size_t)len;
    return 0;
}

static int json_enum(const json_t *j, const ProtobufCEnumDescriptor *ed, int *v)
{
    if (json_is_integer(j)) {
        *v = (int)json_integer_value(j);
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
    if (!ev) /* the registry names are also accepted without their C prefix */
        return -1;
    *v = ev->value;
    return 0;
}

static int value_from_json(const json_t *j, const ProtobufCFieldDescriptor *f, void *p,
                           cairn_arena *a, char *err, size_t errlen)
{
    uint64_t u;
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (json_u64(j, &u))
            FAIL("%s: expected an unsigned 64-bit integer", f->name);
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_u64(j, &u) || u > UINT32_MAX)
            FAIL("%s: expected an unsigned 32-bit integer", f->name);
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            FAIL("%s: expected true or false", f->name);
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        if (json_enum(j, f->descriptor, (int *)p))
            FAIL("%s: unknown enum value", f->name);
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        if (json_bytes(j, a, p))
            FAIL("%s: expected base64 or {\"hex\": ...}", f->name);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return cairn_json_to_msg(j, f->descriptor, a, (ProtobufCMessage **)p, err, errlen);
    default:
        FAIL("%s: field type not supported", f->name);
    }
}

static const ProtobufCFieldDescriptor *field_by_json_name(const ProtobufCMessageDescriptor *d,
                                                          const char *key)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        char name[64];
        cairn_json_field_name(name, d->fields[i].name);
        if (strcmp(name, key) == 0 || strcmp(d->fields[i].name, key) == 0)
            return &d->fields[i];
    }
    return NULL;
}

int cairn_json_to_msg(const json_t *obj, const ProtobufCMessageDescriptor *desc, cairn_arena *arena,
                      ProtobufCMessage **out, char *err, size_t errlen)
{
    if (!json_is_object(obj))
        FAIL("%s: expected an object", desc->short_name);
    ProtobufCMessage *m = cairn_arena_alloc(arena, desc->sizeof_message);
    if (!m)
        FAIL("out of memory");
    desc->message_init(m);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = field_by_json_name(desc, key);
        if (!f)
            FAIL("%s has no field \"%s\"", desc->short_name, key);
        uint8_t *base = (uint8_t *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (!json_is_array(v))
                FAIL("%s: expected an array", f->name);
            size_t n = json_array_size(v), sz = value_size(f);
            uint8_t *arr = cairn_arena_alloc(arena, n * sz + 1);
            if (!arr)
                FAIL("out of memory");
            for (size_t k = 0; k < n; k++) {
                int rv = value_from_json(json_array_get(v, k), f, arr + k * sz, arena, err, errlen);
                if (rv)
                    return rv;
            }
            *(size_t *)((uint8_t *)m + f->quantifier_offset) = n;
            *(uint8_t **)base = arr;
            continue;
        }
        int rv = value_from_json(v, f, base, arena, err, errlen);
        if (rv)
            return rv;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)((uint8_t *)m + f->quantifier_offset) = f->id;
    }
    *out = m;
    return 0;
}
