/*
 * Protobuf-aware custom mutator (LLVMFuzzerCustomMutator, in C: Debian 12
 * has no libprotobuf-mutator). Linked only into the libFuzzer binaries of
 * fuzz_msg (FUZZ_MUTATOR_MSG), fuzz_frame (FUZZ_MUTATOR_FRAME) and the
 * session targets (FUZZ_MUTATOR_SESSION).
 *
 * A third of the time it leaves the input to libFuzzer's byte-level
 * mutators (LLVMFuzzerMutate). Otherwise it finds a message in the input,
 * unpacks it with protobuf-c, changes one to three fields (scalars to
 * boundary values of the spec's limits, bytes through LLVMFuzzerMutate or to
 * plausible lengths and layouts, repeated fields grown, shrunk or
 * duplicated, oneof members switched, submessages recursively), re-packs
 * it, sometimes breaks the canonical form on purpose (a field repeated or
 * reordered, a non-minimal key, an unknown field) and writes a correct frame
 * header. So the fuzzer spends its time deep inside valid-looking messages
 * as well as on the bytes around them.
 */
#include <string.h>

#include "common.h"
#include "fuzz_session.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* ---- a throwaway allocator: everything is released at once ------------------------ */

/*
 * A bump allocator over chunks kept between calls: the mutator runs once per
 * input and protobuf-c allocates every field of every message it unpacks;
 * one calloc + free per field (and a pointer vector grown from scratch) was
 * per-input work under ASan's allocator and quarantine. Chunks grow
 * (64 KiB, doubling, or the request) and are reused, zeroed as handed out.
 */
typedef struct pool {
    size_t chunk, off, bytes; /* current chunk, offset in it, bytes handed out */
} pool;

#define POOL_MAX_BYTES (64u << 20)
#define POOL_CHUNKS    24
#define POOL_CHUNK_MIN ((size_t)64 << 10)
#define POOL_ALIGN     16

static struct {
    uint8_t *base;
    size_t cap;
} chunks[POOL_CHUNKS];

static void *pool_alloc(void *ud, size_t n)
{
    pool *p = ud;
    if (n > POOL_MAX_BYTES - p->bytes)
        return NULL;
    size_t need = (n ? n : 1) + POOL_ALIGN - 1;
    need -= need % POOL_ALIGN;
    while (p->chunk < POOL_CHUNKS) {
        size_t i = p->chunk;
        if (!chunks[i].base) {
            size_t cap = i ? chunks[i - 1].cap * 2 : POOL_CHUNK_MIN;
            while (cap < need)
                cap *= 2;
            if (!(chunks[i].base = malloc(cap)))
                return NULL;
            chunks[i].cap = cap;
        }
        if (chunks[i].cap - p->off >= need) {
            uint8_t *q = chunks[i].base + p->off;
            p->off += need;
            p->bytes += n;
            memset(q, 0, n ? n : 1);
            return q;
        }
        p->chunk++;
        p->off = 0;
    }
    return NULL;
}

static void pool_noop_free(void *ud, void *q)
{
    (void)ud;
    (void)q;
}

static void pool_release(pool *p)
{
    memset(p, 0, sizeof(*p));
}

/*
 * Scratch buffers kept between calls (the mutator runs once per input:
 * a fresh malloc of max_size bytes each time was most of its cost under
 * ASan). Slot 0: mutate_frame's output; slot 1: the caller's frame copy.
 */
static uint8_t *scratch(int slot, size_t n)
{
    static uint8_t *buf[2];
    static size_t cap[2];
    if (cap[slot] < n) {
        uint8_t *nb = realloc(buf[slot], n);
        if (!nb)
            return NULL;
        buf[slot] = nb;
        cap[slot] = n;
    }
    return buf[slot];
}

/* ---- randomness -------------------------------------------------------------------- */

typedef struct mut {
    uint64_t rng;
    pool pool;
    ProtobufCAllocator pa;
} mut;

static uint64_t rnd(mut *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static size_t below(mut *m, size_t n)
{
    return n ? (size_t)(rnd(m) % n) : 0;
}

/* ---- field mutations --------------------------------------------------------------- */

static const uint64_t interesting[] = {0,
                                       1,
                                       2,
                                       3,
                                       7,
                                       14,
                                       20,
                                       21,
                                       31,
                                       32,
                                       33,
                                       63,
                                       64,
                                       65,
                                       96,
                                       255,
                                       256,
                                       257,
                                       1000,
                                       1001,
                                       2000,
                                       2001,
                                       4096,
                                       4097,
                                       65535,
                                       65536,
                                       65537,
                                       1048576,
                                       4194303,
                                       4194304,
                                       16777216,
                                       16777217,
                                       0x7fffffffu,
                                       0x80000000u,
                                       0xffffffffu,
                                       0x100000000ull,
                                       1ull << 50,
                                       (1ull << 50) + 1,
                                       0x7fffffffffffffffull,
                                       UINT64_MAX};

static uint64_t pick_scalar(mut *m, uint64_t old)
{
    switch (below(m, 4)) {
    case 0:
        return interesting[below(m, sizeof(interesting) / sizeof(interesting[0]))];
    case 1:
        return old + 1 - 2 * (rnd(m) & 1);
    case 2:
        return rnd(m) >> below(m, 64);
    default: {
        uint8_t b[8];
        memcpy(b, &old, 8);
        LLVMFuzzerMutate(b, 8, 8);
        memcpy(&old, b, 8);
        return old;
    }
    }
}

/* A plausible value for a bytes field, by its name: the layouts the spec
 * gives (block header, manifest entry, entries, IPs, printable text). */
static void plausible_bytes(mut *m, const ProtobufCFieldDescriptor *f, ProtobufCBinaryData *b)
{
    static const size_t lens[] = {0,  1,  4,  16, 31, 32, 33,  42, 43,
                                  63, 64, 65, 95, 96, 97, 256, 257};
    size_t len = lens[below(m, sizeof(lens) / sizeof(lens[0]))];
    const char *name = f->name;
    if (strstr(name, "header"))
        len = below(m, 8) ? 96 : len;
    else if (strcmp(name, "manifest") == 0)
        len = 43 + (below(m, 2) ? below(m, 20) : 0);
    else if (strcmp(name, "ip") == 0)
        len = below(m, 2) ? 4 : 16;
    else if (strstr(name, "entr") && strcmp(name, "entry_id") != 0)
        len = 1 + below(m, 64);
    else if (strstr(name, "_id") || strcmp(name, "node_key") == 0 ||
             strcmp(name, "total_work") == 0 || strcmp(name, "locator") == 0 ||
             strcmp(name, "proof") == 0)
        len = below(m, 8) ? 32 : len;
    else if (strcmp(name, "signature") == 0)
        len = below(m, 8) ? 64 : len;
    uint8_t *d = len ? pool_alloc(&m->pool, len) : NULL;
    if (len && !d)
        return;
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)rnd(m);
    if (strstr(name, "header") && len == 96) {
        memset(d, 0, 24);
        d[3] = 1;   /* version 1 */
        d[23] = 12; /* devnet bits */
    } else if (strcmp(name, "manifest") == 0 || (strstr(name, "entr") && len > 0)) {
        if (len >= 43 && (strcmp(name, "manifest") == 0 || below(m, 2))) {
            d[0] = 1; /* manifest entry: 0x01 | size | log2 | root | name_len | name */
            memset(d + 1, 0, 5);
            d[9] = (uint8_t)(14 + below(m, 7));
            d[42] = (uint8_t)(len - 43);
            for (size_t i = 43; i < len; i++)
                d[i] = (uint8_t)('a' + below(m, 26));
        } else {
            d[0] = 0; /* data record */
        }
    } else if (strcmp(name, "user_agent") == 0 || strcmp(name, "message") == 0) {
        for (size_t i = 0; i < len; i++)
            d[i] = (uint8_t)(0x20 + below(m, 95));
    }
    b->data = d;
    b->len = len;
}

static void mutate_bytes(mut *m, const ProtobufCFieldDescriptor *f, ProtobufCBinaryData *b)
{
    if (below(m, 3) == 0) {
        plausible_bytes(m, f, b);
        return;
    }
    size_t cap = b->len * 2 + 32;
    if (cap > 4096 && cap > b->len + 64)
        cap = b->len + 64;
    uint8_t *d = pool_alloc(&m->pool, cap);
    if (!d)
        return;
    if (b->len)
        memcpy(d, b->data, b->len);
    size_t n = b->len ? LLVMFuzzerMutate(d, b->len, cap) : 1 + below(m, cap);
    b->data = d;
    b->len = n <= cap ? n : cap;
}

static ProtobufCMessage *new_message(mut *m, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *msg = pool_alloc(&m->pool, d->sizeof_message);
    if (msg)
        d->message_init(msg);
    return msg;
}

static void mutate_message(mut *m, ProtobufCMessage *msg, int depth);

/* Mutates one value of field `f` stored at `v`. */
static void mutate_value(mut *m, const ProtobufCFieldDescriptor *f, void *v, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BYTES:
        mutate_bytes(m, f, v);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **sub = v;
        if (!*sub)
            *sub = new_message(m, f->descriptor);
        if (*sub && depth < 4)
            mutate_message(m, *sub, depth + 1);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        break; /* the schema has none (§5: bytes, never string) */
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)v = !*(protobuf_c_boolean *)v;
        break;
    default:
        if (fuzz_elt_size(f->type) == 8) {
            *(uint64_t *)v = pick_scalar(m, *(uint64_t *)v);
        } else {
            uint32_t x = *(uint32_t *)v;
            *(uint32_t *)v = (uint32_t)pick_scalar(m, x);
        }
    }
}

static void mutate_repeated(mut *m, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg,
                            int depth)
{
    size_t *n = (size_t *)((uint8_t *)msg + f->quantifier_offset);
    uint8_t **arr = (uint8_t **)((uint8_t *)msg + f->offset);
    size_t es = fuzz_elt_size(f->type);
    switch (below(m, 5)) {
    case 0: /* remove one */
        if (*n) {
            size_t i = below(m, *n);
            memmove(*arr + i * es, *arr + (i + 1) * es, (*n - i - 1) * es);
            --*n;
        }
        return;
    case 1:   /* add one, or a burst to reach the spec's count limits */
    case 2: { /* duplicate one */
        size_t add = below(m, 8) == 0 ? 1 + below(m, 70) : 1;
        uint8_t *na = pool_alloc(&m->pool, (*n + add) * es);
        if (!na)
            return;
        if (*n)
            memcpy(na, *arr, *n * es);
        for (size_t k = 0; k < add; k++) {
            uint8_t *slot = na + (*n + k) * es;
            if (*n && (below(m, 2) || k)) {
                memcpy(slot, na + below(m, *n) * es, es);
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                *(ProtobufCMessage **)slot = new_message(m, f->descriptor);
                if (!*(ProtobufCMessage **)slot)
                    return;
                mutate_message(m, *(ProtobufCMessage **)slot, depth + 1);
            } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                plausible_bytes(m, f, (ProtobufCBinaryData *)slot);
            }
        }
        *arr = na;
        *n += add;
        return;
    }
    default: /* change one */
        if (*n)
            mutate_value(m, f, *arr + below(m, *n) * es, depth);
        return;
    }
}

static void mutate_message(mut *m, ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    if (!d->n_fields)
        return;
    for (size_t k = 0, times = 1 + below(m, 3); k < times; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[below(m, d->n_fields)];
        void *v = (uint8_t *)msg + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            mutate_repeated(m, f, msg, depth);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *which = (uint32_t *)((uint8_t *)msg + f->quantifier_offset);
            if (*which != f->id) {
                /* switch the oneof to this member (its storage is shared) */
                *which = f->id;
                memset(v, 0, fuzz_elt_size(f->type));
                if (f->type == PROTOBUF_C_TYPE_BYTES)
                    plausible_bytes(m, f, v);
            } else if (below(m, 6) == 0) {
                *which = 0; /* no member */
            } else {
                mutate_value(m, f, v, depth);
            }
        } else {
            mutate_value(m, f, v, depth);
        }
    }
}

/* ---- wire-level tweaks that break canonical form on purpose -------------------------- */

/* Boundaries of the top-level fields of a scanned-enough payload. */
static size_t field_bounds(const uint8_t *p, size_t len, size_t *starts, size_t cap)
{
    size_t off = 0, n = 0;
    while (off < len && n < cap) {
        starts[n++] = off;
        uint64_t key = 0;
        int shift = 0;
        while (off < len && shift < 64) {
            key |= (uint64_t)(p[off] & 0x7f) << shift;
            shift += 7;
            if (!(p[off++] & 0x80))
                break;
        }
        uint64_t v = 0;
        switch (key & 7) {
        case 0:
            while (off < len && (p[off++] & 0x80))
                ;
            break;
        case 1:
            off += 8;
            break;
        case 5:
            off += 4;
            break;
        case 2:
            shift = 0;
            while (off < len && shift < 64) {
                v |= (uint64_t)(p[off] & 0x7f) << shift;
                shift += 7;
                if (!(p[off++] & 0x80))
                    break;
            }
            off = v > len - off ? len : off + (size_t)v;
            break;
        default:
            return n;
        }
    }
    if (off > len)
        n--; /* the last one is cut short */
    return n;
}

static size_t break_canonical(mut *m, uint8_t *p, size_t len, size_t max)
{
    size_t starts[65], n = field_bounds(p, len, starts, 64);
    starts[n] = len;
    uint8_t tmp[8192];
    if (len > sizeof(tmp))
        return len;
    switch (below(m, 4)) {
    case 0: /* repeat one field: a singular field twice, or non-consecutive */
        if (n && len < max) {
            size_t i = below(m, n), fl = starts[i + 1] - starts[i];
            if (len + fl > max)
                return len;
            memcpy(tmp, p + starts[i], fl);
            memcpy(p + len, tmp, fl);
            return len + fl;
        }
        return len;
    case 1: /* move the first field to the end: out of order */
        if (n >= 2) {
            size_t fl = starts[1];
            memcpy(tmp, p, fl);
            memmove(p, p + fl, len - fl);
            memcpy(p + len - fl, tmp, fl);
        }
        return len;
    case 2: /* a non-minimal key: k -> (k | 0x80) 0x00 */
        if (n && len < max && p[0] < 0x80) {
            memmove(p + 1, p, len);
            p[0] |= 0x80;
            p[1] = 0x00;
            return len + 1;
        }
        return len;
    default: { /* an unknown or misplaced field */
        uint8_t key = (uint8_t)(below(m, 16) << 3 | (rnd(m) & 1 ? 0 : 2));
        if (key >> 3 == 0 || len + 3 > max)
            return len;
        p[len] = key;
        p[len + 1] = 1;
        p[len + 2] = 1;
        return len + ((key & 7) == 0 ? 2 : 3);
    }
    }
}

/*
 * Unpacks `payload` as `*type` (or a random registered type when it is none
 * or it does not parse), mutates fields, re-packs into `out` (capacity
 * `max`). Returns the new length, or SIZE_MAX when it could not.
 */
static size_t mutate_payload(mut *m, uint16_t *type, const uint8_t *payload, size_t len,
                             uint8_t *out, size_t max)
{
    const ProtobufCMessageDescriptor *d = cairn_msg_descriptor(*type);
    if (!d || below(m, 32) == 0) {
        *type = fuzz_msg_types[below(m, fuzz_n_msg_types)];
        d = cairn_msg_descriptor(*type);
        len = 0;
    }
    ProtobufCMessage *msg = protobuf_c_message_unpack(d, &m->pa, len, payload);
    if (!msg)
        msg = new_message(m, d);
    if (!msg)
        return SIZE_MAX;
    mutate_message(m, msg, 0);
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > max)
        return SIZE_MAX;
    protobuf_c_message_pack(msg, out);
    if (below(m, 8) == 0)
        n = break_canonical(m, out, n, max);
    return n;
}

static void mut_init(mut *m, unsigned seed)
{
    memset(m, 0, sizeof(*m));
    m->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 17 | seed);
    m->pa.alloc = pool_alloc;
    m->pa.free = pool_noop_free;
    m->pa.allocator_data = &m->pool;
}

/* Rewrites `frame` (header + payload of `len`, buffer capacity `max`) in place.
 * Returns the new frame length or SIZE_MAX. */
static size_t mutate_frame(mut *m, uint8_t *frame, size_t len, size_t max)
{
    if (max < CAIRN_FRAME_HEADER_LEN)
        return SIZE_MAX;
    uint16_t type = len >= 4 ? cairn_get_u16(frame + 2) : 0;
    size_t plen = len >= CAIRN_FRAME_HEADER_LEN ? len - CAIRN_FRAME_HEADER_LEN : 0;
    uint8_t *out = scratch(0, max);
    if (!out)
        return SIZE_MAX;
    size_t n = mutate_payload(m, &type, frame + CAIRN_FRAME_HEADER_LEN, plen, out,
                              max - CAIRN_FRAME_HEADER_LEN);
    if (n != SIZE_MAX) {
        cairn_frame_header_encode(frame, type, (uint32_t)n);
        memcpy(frame + CAIRN_FRAME_HEADER_LEN, out, n);
        n += CAIRN_FRAME_HEADER_LEN;
    }
    return n;
}

/* ---- per-target input layouts ---------------------------------------------------------- */

#if defined(FUZZ_MUTATOR_MSG)

static size_t mutate_input(mut *m, uint8_t *data, size_t size, size_t max)
{
    /* One frame: the header's type picks the message. */
    return mutate_frame(m, data, size, max);
}

#elif defined(FUZZ_MUTATOR_FRAME)

/* [limit u8 | split u8 | frames...]: mutate one frame's message, or drop,
 * duplicate or add a frame; or change how the stream is cut. */
static size_t mutate_input(mut *m, uint8_t *data, size_t size, size_t max)
{
    if (size < 2 || max < 2 + CAIRN_FRAME_HEADER_LEN)
        return SIZE_MAX;
    size_t starts[257], n = 0, off = 2;
    while (n < 256 && size - off >= CAIRN_FRAME_HEADER_LEN) {
        uint32_t len = cairn_get_u32(data + off + 4);
        if (len > size - off - CAIRN_FRAME_HEADER_LEN)
            break;
        starts[n++] = off;
        off += CAIRN_FRAME_HEADER_LEN + len;
    }
    starts[n] = off;
    size_t choice = below(m, 8);
    if (choice == 0) {
        data[1] = (uint8_t)rnd(m);
        return size;
    }
    uint8_t *tmp = scratch(1, max);
    if (!tmp)
        return SIZE_MAX;
    size_t r = SIZE_MAX;
    size_t i = n ? below(m, n) : 0, fl = n ? starts[i + 1] - starts[i] : 0;
    if (choice == 1 && n) { /* drop */
        memmove(data + starts[i], data + starts[i + 1], size - starts[i + 1]);
        r = size - fl;
    } else if (choice == 2 && n && size + fl <= max) { /* duplicate */
        memcpy(tmp, data + starts[i], fl);
        memmove(data + starts[i + 1] + fl, data + starts[i + 1], size - starts[i + 1]);
        memcpy(data + starts[i + 1], tmp, fl);
        r = size + fl;
    } else {
        /* mutate frame i's message (or append a new frame) */
        size_t at = n ? starts[i] : starts[n];
        size_t old = n ? fl : 0;
        memcpy(tmp, data + at, old);
        size_t nf = mutate_frame(m, tmp, old, max - (size - old));
        if (nf != SIZE_MAX && size - old + nf <= max) {
            memmove(data + at + nf, data + at + old, size - at - old);
            memcpy(data + at, tmp, nf);
            r = size - old + nf;
        }
    }
    return r;
}

#elif defined(FUZZ_MUTATOR_SESSION)

/* Operation templates inserted whole: a valid handshake step, traffic, time. */
static size_t op_template(mut *m, uint8_t *op)
{
    static const uint8_t templates[][14] = {
        {FS_HELLO, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1},
        {FS_AUTH, 0},
        {FS_PEER_PING, 0, 0, 0, 0, 0, 0, 0, 9},
        {FS_PEER_PONG, 0},
        {FS_PEER_REQ, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {FS_PEER_RESP, 0, 0},
        {FS_TICK, 0, 0, 0, 0, 0},
        {FS_APP_REQ, 0, 0},
        {FS_APP_RESP, 0, 0},
        {FS_APP_PING},
        {FS_APP_NOTIFY, 0},
        {FS_PEER_ERROR, 21, 0, 0, 0, 0, 0, 0, 0, 1},
        {FS_MSG, 3, 0, 0}, /* Ping, empty payload */
    };
    size_t t = below(m, sizeof(templates) / sizeof(templates[0]));
    memcpy(op, templates[t], sizeof(templates[t]));
    size_t len = fs_op_len(op, sizeof(templates[t]));
    if (t == 12)
        op[1] = (uint8_t)rnd(m); /* another frame type; the length stays right */
    else if (t != 1 && t != 9 && len > 1)
        op[1 + below(m, len - 1)] = (uint8_t)rnd(m); /* vary an argument */
    return len;
}

static size_t mutate_input(mut *m, uint8_t *data, size_t size, size_t max)
{
    if (size < FS_HEADER_LEN || max < size)
        return SIZE_MAX;
    size_t starts[1025], n = 0, off = FS_HEADER_LEN;
    while (off < size && n < 1024) {
        size_t l = fs_op_len(data + off, size - off);
        if (!l)
            break;
        starts[n++] = off;
        off += l;
    }
    starts[n] = off; /* a cut-short tail, if any, stays as it is */
    size_t i = n ? below(m, n) : 0, ol = n ? starts[i + 1] - starts[i] : 0;
    switch (below(m, 6)) {
    case 0: { /* insert a template op */
        uint8_t op[16];
        size_t l = op_template(m, op);
        size_t at = n ? starts[below(m, n + 1)] : off;
        if (size + l > max)
            return SIZE_MAX;
        memmove(data + at + l, data + at, size - at);
        memcpy(data + at, op, l);
        return size + l;
    }
    case 1: /* drop an op */
        if (!n)
            return SIZE_MAX;
        memmove(data + starts[i], data + starts[i + 1], size - starts[i + 1]);
        return size - ol;
    case 2: /* duplicate an op */
        if (!n || size + ol > max)
            return SIZE_MAX;
        memmove(data + starts[i + 1] + ol, data + starts[i + 1], size - starts[i + 1]);
        memcpy(data + starts[i + 1], data + starts[i], ol);
        return size + ol;
    case 3: /* the header */
        data[below(m, FS_HEADER_LEN)] = (uint8_t)rnd(m);
        return size;
    default: { /* mutate the message of an FS_MSG op (or make one) */
        size_t k;
        for (k = 0; k < n; k++)
            if (data[starts[(i + k) % n]] % FS_OP_COUNT == FS_MSG)
                break;
        uint8_t *frame = scratch(1, max + 16);
        if (!frame)
            return SIZE_MAX;
        size_t at, old, plen = 0;
        uint16_t type;
        if (k < n) {
            at = starts[(i + k) % n];
            old = starts[(i + k) % n + 1] - at;
            type = fs_msg_type(data[at + 1]);
            plen = old - 4;
            memcpy(frame + CAIRN_FRAME_HEADER_LEN, data + at + 4, plen);
        } else {
            at = off;
            old = 0;
            type = fuzz_msg_types[below(m, fuzz_n_msg_types)];
        }
        cairn_frame_header_encode(frame, type, (uint32_t)plen);
        size_t room = max - (size - old);
        size_t nf = room > 4 ? mutate_frame(m, frame, CAIRN_FRAME_HEADER_LEN + plen, room - 4 + 8)
                             : SIZE_MAX;
        size_t r = SIZE_MAX;
        if (nf != SIZE_MAX && nf - 8 <= 0xFFFF && size - old + 4 + nf - 8 <= max) {
            size_t body = nf - CAIRN_FRAME_HEADER_LEN;
            uint8_t idx = 0;
            for (unsigned t = 0; t < FS_N_MSG_TYPES; t++)
                if (fs_msg_type((uint8_t)t) == cairn_get_u16(frame + 2))
                    idx = (uint8_t)t;
            memmove(data + at + 4 + body, data + at + old, size - at - old);
            data[at] = FS_MSG;
            data[at + 1] = idx;
            data[at + 2] = (uint8_t)(body >> 8);
            data[at + 3] = (uint8_t)body;
            memcpy(data + at + 4, frame + CAIRN_FRAME_HEADER_LEN, body);
            r = size - old + 4 + body;
        }
        return r;
    }
    }
}

#else
#error "define FUZZ_MUTATOR_MSG, FUZZ_MUTATOR_FRAME or FUZZ_MUTATOR_SESSION"
#endif

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    mut m;
    mut_init(&m, seed);
    size_t n = SIZE_MAX;
    if (below(&m, 3) != 0)
        n = mutate_input(&m, data, size, max_size);
    pool_release(&m.pool);
    if (n == SIZE_MAX || n > max_size)
        n = LLVMFuzzerMutate(data, size, max_size);
    return n;
}
