/*
 * Patterns over received messages (README "Patterns"): a JSON object naming
 * fields in the proto3 JSON mapping; fields not named are not checked.
 * Values: a literal; "*" (anything); "?name" (capture); "$name" (the value
 * of a variable); an array of alternatives; {"len": N | [lo, hi]} for bytes;
 * {"range": [lo, hi]} for numbers; {"bits": N} (every bit of N set); {"count": N | [lo, hi]} or
 * {"some": P} (an element matches P) for repeated fields; {"not": P}; {"hex": "..."}; an object for
 * a submessage.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/json.h"
#include "match.h"

static int why(char *w, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why(char *w, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w, n, fmt, ap);
    va_end(ap);
    return 0;
}

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessageDescriptor *d,
                                                   const char *key, char json_name[64])
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        cairn_json_field_name(json_name, d->fields[i].name);
        if (!strcmp(json_name, key) || !strcmp(d->fields[i].name, key))
            return &d->fields[i];
    }
    return NULL;
}

static int to_u64(const json_t *j, uint64_t *v)
{
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *v = (uint64_t)json_integer_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        char *e;
        const char *s = json_string_value(j);
        if (!*s)
            return -1;
        *v = strtoull(s, &e, 10);
        return *e ? -1 : 0;
    }
    return -1;
}

static int enum_value(const ProtobufCFieldDescriptor *f, const json_t *j, int64_t *v)
{
    if (json_is_integer(j)) {
        *v = json_integer_value(j);
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
        (const ProtobufCEnumDescriptor *)f->descriptor, json_string_value(j));
    if (!ev)
        return -1;
    *v = ev->value;
    return 0;
}

/* The default of a field in the JSON mapping, for absent fields. */
static json_t *default_json(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return json_array();
    switch (f->type) {
    case PROTOBUF_C_TYPE_BYTES:
        return json_string("");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, 0);
        return ev ? json_string(ev->name) : json_integer(0);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return json_object();
    case PROTOBUF_C_TYPE_UINT64:
        return json_string("0");
    default:
        return json_integer(0);
    }
}

static int literal_eq(const ProtobufCFieldDescriptor *f, const json_t *pat, const json_t *act)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BYTES: {
        uint8_t *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        int ok = cf_json_bytes(pat, &a, &al) == 0 && cf_json_bytes(act, &b, &bl) == 0 && al == bl &&
                 (al == 0 || !memcmp(a, b, al));
        free(a);
        free(b);
        return ok;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int64_t a, b;
        return enum_value(f, pat, &a) == 0 && enum_value(f, act, &b) == 0 && a == b;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_UINT32: {
        uint64_t a, b;
        return to_u64(pat, &a) == 0 && to_u64(act, &b) == 0 && a == b;
    }
    default:
        return json_equal(pat, act);
    }
}

static int range_ok(const json_t *r, uint64_t v)
{
    uint64_t lo, hi;
    if (json_is_array(r) && json_array_size(r) == 2 && !to_u64(json_array_get(r, 0), &lo) &&
        !to_u64(json_array_get(r, 1), &hi))
        return v >= lo && v <= hi;
    return !to_u64(r, &lo) && v == lo;
}

static int match_value(cf_match_ctx *m, const ProtobufCFieldDescriptor *f, const json_t *pat,
                       const json_t *act, char *w, size_t wn);

static int match_msg_json(cf_match_ctx *m, const ProtobufCMessageDescriptor *d, const json_t *pat,
                          const json_t *act, char *w, size_t wn)
{
    const char *key;
    json_t *pv;
    json_object_foreach((json_t *)pat, key, pv)
    {
        char jn[64];
        const ProtobufCFieldDescriptor *f = field_named(d, key, jn);
        if (!f)
            return why(w, wn, "%s has no field %s", d->short_name, key);
        json_t *av = json_object_get(act, jn);
        json_t *def = NULL;
        if (!av)
            av = def = default_json(f);
        int ok;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && json_is_object(pv) &&
            json_object_get(pv, "count")) {
            ok = range_ok(json_object_get(pv, "count"), json_array_size(av));
            if (!ok)
                why(w, wn, "%s has %zu elements", jn, json_array_size(av));
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED && json_is_object(pv) &&
                   json_object_get(pv, "some")) {
            /* at least one element matches (in any position) */
            ok = 0;
            for (size_t i = 0; !ok && i < json_array_size(av); i++) {
                char w2[256] = "";
                ok = match_value(m, f, json_object_get(pv, "some"), json_array_get(av, i), w2,
                                 sizeof(w2));
            }
            if (!ok)
                why(w, wn, "no element of %s (%zu) matches", jn, json_array_size(av));
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED && json_is_array(pv)) {
            ok = json_array_size(pv) == json_array_size(av);
            if (!ok)
                why(w, wn, "%s has %zu elements, not %zu", jn, json_array_size(av),
                    json_array_size(pv));
            for (size_t i = 0; ok && i < json_array_size(pv); i++)
                ok = match_value(m, f, json_array_get(pv, i), json_array_get(av, i), w, wn);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED && json_is_string(pv)) {
            /* "*", "?x" or "$x" for the whole list */
            ok = match_value(m, f, pv, av, w, wn);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            ok = why(w, wn, "pattern for repeated %s: an array, {\"count\"} or a variable", jn);
        } else {
            ok = match_value(m, f, pv, av, w, wn);
        }
        json_decref(def);
        if (!ok) {
            if (!w[0])
                why(w, wn, "%s differs", jn);
            return 0;
        }
    }
    return 1;
}

static char *short_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen(s) > 120)
        strcpy(s + 110, "...");
    return s;
}

static int match_value(cf_match_ctx *m, const ProtobufCFieldDescriptor *f, const json_t *pat,
                       const json_t *act, char *w, size_t wn)
{
    char jn[64];
    cairn_json_field_name(jn, f->name);
    if (json_is_string(pat)) {
        const char *s = json_string_value(pat);
        if (!strcmp(s, "*"))
            return 1;
        if (s[0] == '?' && s[1]) {
            json_object_set(m->vars, s + 1, (json_t *)act);
            return 1;
        }
        if (s[0] == '$' && s[1]) {
            json_t *v = m->resolve(m->ud, s + 1);
            if (!v)
                return why(w, wn, "variable %s is not set", s);
            int ok;
            if (json_is_array(v) && f->label == PROTOBUF_C_LABEL_REPEATED) {
                ok = json_array_size(v) == json_array_size(act);
                for (size_t i = 0; ok && i < json_array_size(v); i++)
                    ok = literal_eq(f, json_array_get(v, i), json_array_get(act, i));
            } else {
                ok = literal_eq(f, v, act);
            }
            json_decref(v);
            if (!ok) {
                char *a = short_json(act);
                why(w, wn, "%s is %s, not %s", jn, a ? a : "?", s);
                free(a);
            }
            return ok;
        }
    }
    if (json_is_array(pat) && f->label != PROTOBUF_C_LABEL_REPEATED) {
        for (size_t i = 0; i < json_array_size(pat); i++) {
            char sub[128] = "";
            if (match_value(m, f, json_array_get(pat, i), act, sub, sizeof(sub)))
                return 1;
        }
        char *a = short_json(act), *p = short_json(pat);
        why(w, wn, "%s is %s, not one of %s", jn, a ? a : "?", p ? p : "?");
        free(a);
        free(p);
        return 0;
    }
    if (json_is_object(pat) && f->type != PROTOBUF_C_TYPE_MESSAGE) {
        json_t *x;
        if ((x = json_object_get(pat, "not"))) {
            char sub[128] = "";
            if (match_value(m, f, x, act, sub, sizeof(sub))) {
                char *a = short_json(act);
                why(w, wn, "%s must not be %s", jn, a ? a : "?");
                free(a);
                return 0;
            }
            return 1;
        }
        if ((x = json_object_get(pat, "len"))) {
            uint8_t *b = NULL;
            size_t bl = 0;
            if (cf_json_bytes(act, &b, &bl))
                return why(w, wn, "%s is not bytes", jn);
            free(b);
            if (!range_ok(x, bl))
                return why(w, wn, "%s is %zu bytes long", jn, bl);
            return 1;
        }
        if ((x = json_object_get(pat, "range"))) {
            uint64_t v;
            if (to_u64(act, &v) || !range_ok(x, v))
                return why(w, wn, "%s out of range", jn);
            return 1;
        }
        if ((x = json_object_get(pat, "bits"))) {
            uint64_t v, want;
            if (to_u64(act, &v) || to_u64(x, &want))
                return why(w, wn, "%s is not a number", jn);
            if ((v & want) != want)
                return why(w, wn, "%s lacks bits 0x%llx", jn, (unsigned long long)(want & ~v));
            return 1;
        }
        if (json_object_get(pat, "hex") && f->type == PROTOBUF_C_TYPE_BYTES) {
            if (literal_eq(f, pat, act))
                return 1;
            return why(w, wn, "%s differs", jn);
        }
        return why(w, wn, "unknown pattern object for %s", jn);
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (!json_is_object(pat))
            return why(w, wn, "pattern for %s must be an object", jn);
        return match_msg_json(m, f->descriptor, pat, act, w, wn);
    }
    if (!literal_eq(f, pat, act)) {
        char *a = short_json(act), *p = short_json(pat);
        why(w, wn, "%s is %s, expected %s", jn, a ? a : "?", p ? p : "?");
        free(a);
        free(p);
        return 0;
    }
    return 1;
}

int cf_match(cf_match_ctx *m, const ProtobufCMessage *msg, const json_t *pattern, char *w,
             size_t wn)
{
    w[0] = '\0';
    if (!pattern)
        return 1;
    json_t *act = cairn_json_from_msg(msg);
    if (!act)
        return why(w, wn, "cannot map the message to JSON");
    int ok = match_msg_json(m, msg->descriptor, pattern, act, w, wn);
    json_decref(act);
    return ok;
}
