/* Shared helpers of the fuzz targets (see common.h). */
#include "common.h"

#include <string.h>

#include <sanitizer/asan_interface.h>

#include "cairn/crypto.h"

/* ---- Environment ------------------------------------------------------------ */

/*
 * Two recycled blocks for large allocations. A frame header announcing a
 * 2 MiB payload makes the decoder reserve it all; under ASan every such
 * malloc/free is an mmap, page faults and a munmap, which was most of
 * fuzz_frame's time per input. A growing buffer holds its old block while
 * it allocates the new one (cairn_buf_reserve: malloc, copy, free), hence
 * two. The blocks stay mapped between inputs, and their shadow keeps ASan's
 * view exact: [0, n) addressable while handed out, all of it poisoned while
 * free (use after free and overflow still caught).
 */
#define BIG_MIN   ((size_t)4096)
#define BIG_SLOTS 2

static struct {
    uint8_t *p;
    size_t cap, used; /* used = the size handed out, 0 = free */
} big[BIG_SLOTS];

static void *big_take(size_t n)
{
    if (n < BIG_MIN)
        return NULL;
    int i = 0;
    while (i < BIG_SLOTS && big[i].used)
        i++;
    if (i == BIG_SLOTS)
        return NULL;
    if (big[i].cap < n) {
        size_t cap = BIG_MIN;
        while (cap < n)
            cap *= 2;
        free(big[i].p);
        big[i].p = malloc(cap);
        big[i].cap = big[i].p ? cap : 0;
        if (!big[i].p)
            return NULL;
        ASAN_POISON_MEMORY_REGION(big[i].p, big[i].cap);
    }
    ASAN_UNPOISON_MEMORY_REGION(big[i].p, n);
    big[i].used = n;
    return big[i].p;
}

/* The slot handing out `p`, or -1. */
static int big_slot(const void *p)
{
    for (int i = 0; p && i < BIG_SLOTS; i++)
        if (big[i].used && p == big[i].p)
            return i;
    return -1;
}

static int big_give_back(void *p)
{
    int i = big_slot(p);
    if (i < 0)
        return 0;
    ASAN_POISON_MEMORY_REGION(big[i].p, big[i].used);
    big[i].used = 0;
    return 1;
}

static void *fe_malloc(size_t n, void *ud)
{
    fuzz_env *e = ud;
    if (e->fail_at >= 0 && e->allocs == e->fail_at) {
        e->fail_at = -2; /* fail once; later allocations succeed */
        return NULL;
    }
    void *p = big_take(n);
    if (!p)
        p = malloc(n ? n : 1);
    if (p) {
        e->allocs++;
        e->live++;
        if (n > e->largest)
            e->largest = n;
    }
    return p;
}

static void *fe_realloc(void *p, size_t n, void *ud)
{
    fuzz_env *e = ud;
    if (!p)
        return fe_malloc(n, ud);
    if (e->fail_at >= 0 && e->allocs == e->fail_at) {
        e->fail_at = -2;
        return NULL;
    }
    void *q;
    int i = big_slot(p);
    if (i >= 0) {
        if (n && n <= big[i].used) { /* shrinks in place */
            ASAN_POISON_MEMORY_REGION(big[i].p + n, big[i].used - n);
            big[i].used = n;
            q = p;
        } else if ((q = malloc(n ? n : 1)) != NULL) { /* moves out of the block */
            memcpy(q, p, n < big[i].used ? n : big[i].used);
            big_give_back(p);
        }
    } else {
        q = realloc(p, n ? n : 1);
    }
    if (q) {
        e->allocs++;
        if (n > e->largest)
            e->largest = n;
    }
    return q;
}

static void fe_free(void *p, void *ud)
{
    fuzz_env *e = ud;
    if (p)
        e->live--;
    if (!big_give_back(p))
        free(p);
}

static uint64_t fe_mono(void *ud)
{
    return ((fuzz_env *)ud)->now;
}

static uint64_t fe_wall(void *ud)
{
    return ((fuzz_env *)ud)->wall;
}

static int fe_random(uint8_t *buf, size_t len, void *ud)
{
    fuzz_env *e = ud;
    if (e->random_fails)
        return -1;
    for (size_t i = 0; i < len; i++) {
        e->rng ^= e->rng << 13;
        e->rng ^= e->rng >> 7;
        e->rng ^= e->rng << 17;
        buf[i] = (uint8_t)(e->rng >> 24);
    }
    return 0;
}

void fuzz_env_init(fuzz_env *e, uint64_t seed)
{
    memset(e, 0, sizeof(*e));
    e->mem = (cairn_mem){fe_malloc, fe_realloc, fe_free, e};
    e->env = (cairn_env){&e->mem, fe_mono, fe_wall, fe_random, e};
    e->fail_at = -1;
    e->now = 1000;
    e->wall = 1767225600000ull;
    e->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

/* ---- Input reader ------------------------------------------------------------- */

uint8_t fuzz_u8(fuzz_in *in)
{
    return in->p < in->end ? *in->p++ : 0;
}

uint16_t fuzz_u16(fuzz_in *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

uint32_t fuzz_u32(fuzz_in *in)
{
    uint32_t hi = fuzz_u16(in);
    return hi << 16 | fuzz_u16(in);
}

uint64_t fuzz_u64(fuzz_in *in)
{
    uint64_t hi = fuzz_u32(in);
    return hi << 32 | fuzz_u32(in);
}

const uint8_t *fuzz_bytes(fuzz_in *in, size_t n, size_t *got)
{
    const uint8_t *p = in->p;
    if (n > fuzz_left(in))
        n = fuzz_left(in);
    in->p += n;
    *got = n;
    return p;
}

/* ---- Message equality ------------------------------------------------------------ */

size_t fuzz_elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static int value_equal(const ProtobufCFieldDescriptor *f, const void *a, const void *b)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return (!x && !y) || (x && y && strcmp(x, y) == 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)a;
        const ProtobufCMessage *y = *(ProtobufCMessage *const *)b;
        return (!x && !y) || (x && y && fuzz_msg_equal(x, y));
    }
    default:
        return memcmp(a, b, fuzz_elt_size(f->type)) == 0;
    }
}

int fuzz_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;
    if (d != b->descriptor || a->n_unknown_fields != b->n_unknown_fields)
        return 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const uint8_t *pa = (const uint8_t *)a + f->offset, *pb = (const uint8_t *)b + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)((const uint8_t *)a + f->quantifier_offset);
            size_t nb = *(const size_t *)((const uint8_t *)b + f->quantifier_offset);
            if (na != nb)
                return 0;
            const uint8_t *va = *(uint8_t *const *)pa, *vb = *(uint8_t *const *)pb;
            for (size_t k = 0; k < na; k++)
                if (!value_equal(f, va + k * fuzz_elt_size(f->type),
                                 vb + k * fuzz_elt_size(f->type)))
                    return 0;
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t ca = *(const uint32_t *)((const uint8_t *)a + f->quantifier_offset);
            uint32_t cb = *(const uint32_t *)((const uint8_t *)b + f->quantifier_offset);
            if (ca != cb)
                return 0;
            if (ca != f->id)
                continue;
        }
        if (!value_equal(f, pa, pb))
            return 0;
    }
    return 1;
}

/* ---- The spec model of semantic rules ------------------------------------------- */

const uint16_t fuzz_msg_types[] = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0010,
                                   0x0011, 0x0012, 0x0013, 0x0014, 0x0015, 0x0016, 0x0017,
                                   0x0020, 0x0021, 0x0022, 0x0023, 0x0030, 0x0031};
const size_t fuzz_n_msg_types = sizeof(fuzz_msg_types) / sizeof(fuzz_msg_types[0]);

static int blen(const ProtobufCBinaryData *b, size_t n)
{
    return b->len == n;
}

static int each_len(const ProtobufCBinaryData *v, size_t n, size_t lo, size_t hi)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len < lo || v[i].len > hi)
            return 0;
    return 1;
}

static const char *hello_violation(const Cairn__V1__Hello *m)
{
    if (!blen(&m->network_id, 32) || !blen(&m->node_key, 32) || !blen(&m->tip_id, 32) ||
        !blen(&m->total_work, 32))
        return "Hello: a 32-byte field has another length";
    if (m->max_frame_size < 4194304 || m->max_frame_size > 16777216)
        return "Hello.max_frame_size outside [4 MiB, 16 MiB]";
    if (m->user_agent.len > 64)
        return "Hello.user_agent longer than 64";
    for (size_t i = 0; i < m->user_agent.len; i++)
        if (m->user_agent.data[i] < 0x20 || m->user_agent.data[i] > 0x7E)
            return "Hello.user_agent not printable ASCII";
    if (m->listen_port > 65535)
        return "Hello.listen_port above 65535";
    return NULL;
}

static const char *manifest_violation(const Cairn__V1__Manifest *m)
{
    if (!m->request_id)
        return "request_id 0";
    if (m->manifest.len < 43 || m->manifest.len > 298)
        return "Manifest.manifest not 43..298 bytes";
    if (m->n_have > 256)
        return "Manifest.have: more than 256 ranges";
    for (size_t i = 0; i < m->n_have; i++) {
        if (m->have[i]->start >= m->have[i]->end)
            return "Manifest.have: an empty range";
        if (i && m->have[i]->start < m->have[i - 1]->end)
            return "Manifest.have: ranges unsorted or overlapping";
    }
    return NULL;
}

static const char *peers_violation(const Cairn__V1__Peers *m)
{
    if (!m->request_id)
        return "request_id 0";
    if (m->n_peers > 1000)
        return "Peers: more than 1000";
    for (size_t i = 0; i < m->n_peers; i++) {
        const Cairn__V1__PeerAddress *a = m->peers[i];
        if (a->ip.len != 4 && a->ip.len != 16)
            return "PeerAddress.ip neither 4 nor 16 bytes";
        if (a->port < 1 || a->port > 65535)
            return "PeerAddress.port outside 1..65535";
        if (a->node_id.len != 0 && a->node_id.len != 32) /* ADDR-2 */
            return "PeerAddress.node_id neither empty nor 32 bytes";
    }
    return NULL;
}

/* The per-message INVALID_FIELD rules of spec §6-§12 ([ENC-24]). */
const char *fuzz_spec_violation(uint16_t type, const ProtobufCMessage *pm)
{
    switch (type) {
    case 0x0001:
        return hello_violation((const void *)pm);
    case 0x0002:
        return blen(&((const Cairn__V1__Auth *)(const void *)pm)->signature, 64)
                   ? NULL
                   : "Auth.signature not 64 bytes";
    case 0x0003: {
        const Cairn__V1__Error *m = (const void *)pm;
        if (m->code == 0)
            return "Error.code 0";
        if (m->message.len > 256)
            return "Error.message longer than 256";
        /* [REQ-1] a non-fatal Error (BUSY, RATE_LIMITED, INVALID_ENTRY) answers a request */
        if ((m->code == 21 || m->code == 22 || m->code == 26) && m->request_id == 0)
            return "non-fatal Error with request_id 0";
        return NULL;
    }
    case 0x0004:
    case 0x0005:
        return NULL;
    case 0x0006:
        return ((const Cairn__V1__NotFound *)(const void *)pm)->request_id ? NULL : "request_id 0";
    case 0x0010: {
        const Cairn__V1__GetHeaders *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        if (m->n_locator < 1 || m->n_locator > 64 || !each_len(m->locator, m->n_locator, 32, 32))
            return "GetHeaders.locator: not 1..64 IDs of 32 bytes";
        if (m->stop_id.len != 0 && m->stop_id.len != 32)
            return "GetHeaders.stop_id neither empty nor 32 bytes";
        return m->max_count > 2000 ? "GetHeaders.max_count above 2000" : NULL;
    }
    case 0x0011: {
        const Cairn__V1__Headers *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        if (m->n_headers > 2000 || !each_len(m->headers, m->n_headers, 96, 96))
            return "Headers: more than 2000, or not 96 bytes each";
        return NULL;
    }
    case 0x0012: {
        const Cairn__V1__GetBlock *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        if (m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID)
            return blen(&m->block_id, 32) ? NULL : "GetBlock.block_id not 32 bytes";
        if (m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT)
            return NULL;
        return "GetBlock without a selector";
    }
    case 0x0013: {
        const Cairn__V1__Block *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        if (!blen(&m->header, 96))
            return "Block.header not 96 bytes";
        if (m->n_entries > 4096 || !each_len(m->entries, m->n_entries, 1, 65536))
            return "Block.entries: more than 4096, or one not 1..65536 bytes";
        return NULL;
    }
    case 0x0014:
        return blen(&((const Cairn__V1__Announce *)(const void *)pm)->header, 96)
                   ? NULL
                   : "Announce.header not 96 bytes";
    case 0x0015: {
        const Cairn__V1__SubmitEntry *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        return each_len(&m->entry, 1, 1, 65536) ? NULL : "SubmitEntry.entry not 1..65536 bytes";
    }
    case 0x0016: {
        const Cairn__V1__EntryAck *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        return blen(&m->entry_id, 32) ? NULL : "EntryAck.entry_id not 32 bytes";
    }
    case 0x0017: {
        const Cairn__V1__Entries *m = (const void *)pm;
        if (m->n_entries < 1 || m->n_entries > 16 || !each_len(m->entries, m->n_entries, 1, 65536))
            return "Entries: not 1..16 entries of 1..65536 bytes";
        return NULL;
    }
    case 0x0020: {
        const Cairn__V1__GetManifest *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        return blen(&m->file_id, 32) ? NULL : "GetManifest.file_id not 32 bytes";
    }
    case 0x0022: {
        const Cairn__V1__GetChunk *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        return blen(&m->file_id, 32) ? NULL : "GetChunk.file_id not 32 bytes";
    }
    case 0x0021:
        return manifest_violation((const void *)pm);
    case 0x0023: {
        const Cairn__V1__Chunk *m = (const void *)pm;
        if (!m->request_id)
            return "request_id 0";
        if (m->data.len < 1 || m->data.len > 1048576)
            return "Chunk.data not 1..1 MiB";
        if (m->n_proof > 64 || !each_len(m->proof, m->n_proof, 32, 32))
            return "Chunk.proof: more than 64, or not 32 bytes each";
        return NULL;
    }
    case 0x0030:
        return ((const Cairn__V1__GetPeers *)(const void *)pm)->request_id ? NULL : "request_id 0";
    case 0x0031:
        return peers_violation((const void *)pm);
    default:
        return "unregistered type";
    }
}

/* ---- The message oracle ----------------------------------------------------------- */

#define PROTO(code) CAIRN_ERR_PROTO(CAIRN_E_##code)

int fuzz_msg_oracle(const cairn_mem *mem, uint16_t type, const uint8_t *p, size_t len)
{
    const ProtobufCMessageDescriptor *desc = cairn_msg_descriptor(type);
    FUZZ_CHECK(desc != NULL, "type 0x%04x is registered but has no descriptor", type);

    size_t occ = 0;
    int scan = cairn_msg_scan(desc, p, len, &occ);
    FUZZ_CHECK(scan == 0 || scan == PROTO(MALFORMED) || scan == PROTO(NON_CANONICAL) ||
                   scan == PROTO(INVALID_FIELD),
               "scan returned %d", scan);

    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, mem);
    ProtobufCMessage *m = NULL;
    int rv = cairn_msg_decode_unchecked(&d, type, p, len, &m);
    fuzz_check_err(rv, "msg_decode_unchecked");
    int val = 0;
    if (scan) {
        FUZZ_CHECK(rv == scan && m == NULL, "unchecked decode %d, scan %d", rv, scan);
    } else {
        /* [ENC-29] a scanned payload always unpacks within its budget. */
        FUZZ_CHECK(rv == 0, "scan passed but unpacking failed: %d (%s), arena %zu of %zu", rv,
                   cairn_strerror(rv), d.arena.high_water, cairn_msg_budget(len, occ));
        FUZZ_CHECK(d.arena.high_water <= cairn_msg_budget(len, occ),
                   "arena high water %zu over budget %zu", d.arena.high_water,
                   cairn_msg_budget(len, occ));
        FUZZ_CHECK(m->n_unknown_fields == 0, "scan passed a payload with unknown fields");
        /* [ENC-2] canonical: the one encoding of these fields is the input. */
        size_t n = protobuf_c_message_get_packed_size(m);
        FUZZ_CHECK(n == len, "re-packs to %zu bytes, input %zu", n, len);
        uint8_t *buf = malloc(n ? n : 1);
        FUZZ_CHECK(buf, "out of memory");
        FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n, "pack size differs");
        FUZZ_CHECK(n == 0 || memcmp(buf, p, n) == 0, "re-pack differs from the input");
        free(buf);
        /* Validation against the independent spec model. */
        const char *why = fuzz_spec_violation(type, m);
        val = cairn_msg_validate(type, m);
        FUZZ_CHECK((val == 0) == (why == NULL), "validate %d but the spec model says %s", val,
                   why ? why : "valid");
        FUZZ_CHECK(val == 0 || val == PROTO(INVALID_FIELD), "validate returned %d", val);
    }

    cairn_msg_decoder d2;
    cairn_msg_decoder_init(&d2, mem);
    ProtobufCMessage *m2 = NULL;
    int rv2 = cairn_msg_decode(&d2, type, p, len, &m2);
    fuzz_check_err(rv2, "msg_decode");
    FUZZ_CHECK(rv2 == (scan ? scan : val), "decode %d, scan %d, validate %d", rv2, scan, val);
    FUZZ_CHECK((rv2 == 0) == (m2 != NULL), "decode %d with message %p", rv2, (void *)m2);
    if (rv2 == 0) {
        FUZZ_CHECK(fuzz_msg_equal(m, m2), "checked and unchecked decode differ");
        /* decode -> encode -> decode: identical bytes and fields. */
        cairn_buf b;
        cairn_buf_init(&b, mem);
        int erv = cairn_msg_encode(m2, &b);
        FUZZ_CHECK(erv == 0, "an accepted message does not encode: %d", erv);
        const uint8_t *f = cairn_buf_data(&b);
        FUZZ_CHECK(b.len == CAIRN_FRAME_HEADER_LEN + len, "frame of %zu bytes for %zu", b.len, len);
        FUZZ_CHECK(f[0] == CAIRN_MAGIC_0 && f[1] == CAIRN_MAGIC_1 && cairn_get_u16(f + 2) == type &&
                       cairn_get_u32(f + 4) == len,
                   "bad frame header");
        FUZZ_CHECK(len == 0 || memcmp(f + CAIRN_FRAME_HEADER_LEN, p, len) == 0,
                   "encode differs from the decoded bytes");
        cairn_msg_decoder d3;
        cairn_msg_decoder_init(&d3, mem);
        ProtobufCMessage *m3 = NULL;
        int rv3 = cairn_msg_decode(&d3, type, f + CAIRN_FRAME_HEADER_LEN, len, &m3);
        FUZZ_CHECK(rv3 == 0 && fuzz_msg_equal(m2, m3), "re-decode %d or fields differ", rv3);
        cairn_msg_decoder_free(&d3);
        cairn_buf_free(&b);
    }
    cairn_msg_decoder_free(&d2);
    cairn_msg_decoder_free(&d);
    return rv2;
}

/* ---- Chain codec models ------------------------------------------------------------- */

/* RFC 3629 §4: the well-formed byte sequences, as ranges per position. */
static size_t utf8_char(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    uint8_t lo = 0x80, hi = 0xBF;
    size_t len;
    if (c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

const char *fuzz_manifest_violation(const uint8_t *m, size_t len)
{
    if (len < 43)
        return "shorter than 43";
    if (m[0] != 0x01)
        return "kind is not 0x01";
    if (len != 43 + (size_t)m[42])
        return "length is not 43 + name_len";
    uint64_t size = 0;
    for (int i = 1; i <= 8; i++)
        size = size << 8 | m[i];
    if (size > (1ull << 50))
        return "size above 2^50";
    if (m[9] < 14 || m[9] > 20)
        return "chunk_log2 outside 14..20";
    const uint8_t *name = m + 43;
    size_t n = m[42];
    if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
        return "name is . or ..";
    for (size_t i = 0; i < n;) {
        size_t l = utf8_char(name + i, n - i);
        if (!l)
            return "name is not UTF-8";
        if (l == 1 && (name[i] < 0x20 || name[i] == 0x7F || name[i] == '/' || name[i] == '\\'))
            return "name has a control, '/' or '\\'";
        i += l;
    }
    return NULL;
}

void fuzz_hash2(uint8_t out[32], uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
                size_t blen)
{
    uint8_t small[128];
    uint8_t *buf = 1 + alen + blen <= sizeof(small) ? small : malloc(1 + alen + blen);
    FUZZ_CHECK(buf, "out of memory");
    buf[0] = prefix;
    if (alen)
        memcpy(buf + 1, a, alen);
    if (blen)
        memcpy(buf + 1 + alen, b, blen);
    /* One reused context: a one-shot digest allocates a context each time,
     * which under ASan costs more than the hash. */
    static cairn_sha256_ctx *ctx;
    if (!ctx)
        FUZZ_CHECK(cairn_sha256_ctx_new(&ctx) == 0, "sha256 context");
    FUZZ_CHECK(cairn_sha256_ctx_digest(ctx, out, buf, 1 + alen + blen) == 0, "sha256 failed");
    if (buf != small)
        free(buf);
}

/* The largest power of two smaller than n (n >= 2). */
static size_t split_point(size_t n)
{
    return (size_t)1 << (63 - __builtin_clzll((unsigned long long)n - 1));
}

void fuzz_mth(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
    if (n == 0) {
        FUZZ_CHECK(cairn_sha256(out, "", 0) == 0, "sha256 failed");
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    size_t k = split_point(n);
    uint8_t l[32], r[32];
    fuzz_mth(leaves, k, l);
    fuzz_mth(leaves + k, n - k, r);
    fuzz_hash2(out, 0x01, l, 32, r, 32);
}

size_t fuzz_path(const uint8_t (*leaves)[32], size_t n, size_t m, uint8_t (*out)[32])
{
    if (n <= 1)
        return 0;
    size_t k = split_point(n), len;
    if (m < k) {
        len = fuzz_path(leaves, k, m, out);
        fuzz_mth(leaves + k, n - k, out[len]);
    } else {
        len = fuzz_path(leaves + k, n - k, m - k, out);
        fuzz_mth(leaves, k, out[len]);
    }
    return len + 1;
}

/* ---- Error descriptions -------------------------------------------------------- */

void fuzz_check_err(int rv, const char *where)
{
    if (rv >= 0)
        return;
    const char *text = cairn_strerror(rv);
    FUZZ_CHECK(text && text[0] && strcmp(text, "unknown error") != 0 &&
                   strcmp(text, "unregistered protocol error") != 0,
               "%s: error %d has no description", where, rv);
}
