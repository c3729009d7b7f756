/* Message registry, decode (scan -> unpack -> validate) and encode (spec §5). */
#include "cairn/msg.h"
#include "cairn/arena.h"
#include "cairn/fault.h"

#include <stddef.h>

#define INVALID_FIELD CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD)

/* The message layer's columns of the message table (cairn/msgtypes.h). */
struct msg_info {
    uint16_t type;
    uint8_t kind;
    const ProtobufCMessageDescriptor *desc;
    uint64_t answers; /* CAIRN_ANS() mask of the responses a request accepts */
    int (*validate)(const ProtobufCMessage *m);
};

#define VALIDATOR_DECL(id, NAME, Name, cap, kind, desc, states, answers, v)                        \
    static int validate_##v(const ProtobufCMessage *m);
CAIRN_MSG_TABLE(VALIDATOR_DECL)
#undef VALIDATOR_DECL

/* Indexed by type. */
#define MSG_ROW(id, NAME, Name, cap, kind, desc, states, ans, v)                                   \
    [id] = {id, CAIRN_KIND_##kind, &cairn__v1__##desc##__descriptor, ans, validate_##v},
static const struct msg_info msgs[CAIRN_MSG_TYPE_BOUND] = {CAIRN_MSG_TABLE(MSG_ROW)};
#undef MSG_ROW
#define N_MSGS (sizeof(msgs) / sizeof(msgs[0]))

static const struct msg_info *info_of(uint16_t type)
{
    return type < N_MSGS && msgs[type].desc ? &msgs[type] : NULL;
}

const ProtobufCMessageDescriptor *cairn_msg_descriptor(uint16_t type)
{
    const struct msg_info *i = info_of(type);
    return i ? i->desc : NULL;
}

/* The registered types in one dense list, for lookups by descriptor. */
#define TYPE_ID(id, ...) id,
static const uint16_t registered[] = {CAIRN_MSG_TABLE(TYPE_ID)};
#undef TYPE_ID

uint16_t cairn_msg_type_of(const ProtobufCMessage *m)
{
    for (size_t i = 0; i < sizeof(registered) / sizeof(registered[0]); i++)
        if (msgs[registered[i]].desc == m->descriptor)
            return registered[i];
    return 0;
}

/* request_id is field 1, a uint64, of every request and response. */
static uint64_t *request_id_field(ProtobufCMessage *m)
{
    return (uint64_t *)((uint8_t *)m + m->descriptor->fields[0].offset);
}

int cairn_msg_kind(uint16_t type)
{
    const struct msg_info *i = info_of(type);
    return i ? i->kind : 0;
}

int cairn_msg_answers(uint16_t request, uint16_t response)
{
    /* [REQ-7] request/response pairing (spec §7.2): the table's ANSWERS
     * column, and Error, which answers any request. */
    const struct msg_info *i = info_of(request);
    if (!i || i->kind != CAIRN_KIND_REQUEST)
        return 0;
    if (response == CAIRN_T_ERROR)
        return 1;
    return response < N_MSGS && (i->answers >> response & 1);
}

uint64_t *cairn_msg_request_id(ProtobufCMessage *m)
{
    uint16_t t = cairn_msg_type_of(m);
    int k = cairn_msg_kind(t);
    if (t == CAIRN_T_ERROR)
        return &((Cairn__V1__Error *)m)->request_id;
    if (k != CAIRN_KIND_REQUEST && k != CAIRN_KIND_RESPONSE)
        return NULL;
    return request_id_field(m);
}

/* ---- semantic validation -------------------------------------------------- */

static int len_is(const ProtobufCBinaryData *b, size_t n)
{
    return b->len == n;
}

static int printable(const ProtobufCBinaryData *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] < 0x20 || b->data[i] > 0x7e)
            return 0;
    return 1;
}

static int all_len(const ProtobufCBinaryData *v, size_t n, size_t want)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len != want)
            return 0;
    return 1;
}

static int entries_ok(const ProtobufCBinaryData *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len < 1 || v[i].len > CAIRN_MAX_ENTRY_LEN)
            return 0;
    return 1;
}

/* Per-type semantic rules, the table's VALIDATE column ([ENC-24]): 0 or
 * INVALID_FIELD. `pm` is a message of the row's type. */

static int validate_none(const ProtobufCMessage *pm)
{
    (void)pm;
    return 0;
}

static int validate_hello(const ProtobufCMessage *pm)
{
    const Cairn__V1__Hello *m = (const Cairn__V1__Hello *)pm;
    /* [HS-16]..[HS-22] per-field rules of Hello (spec §6.2); version is
     * checked by the session, after these (VERSION_MISMATCH). */
    if (!len_is(&m->network_id, 32) || !len_is(&m->node_key, 32) || !len_is(&m->tip_id, 32) ||
        !len_is(&m->total_work, 32))
        return INVALID_FIELD;
    if (m->max_frame_size < CAIRN_FRAME_MAX_MIN || m->max_frame_size > CAIRN_FRAME_MAX_HARD)
        return INVALID_FIELD; /* [FRM-14] */
    if (m->user_agent.len > CAIRN_MAX_USER_AGENT || !printable(&m->user_agent))
        return INVALID_FIELD;
    if (m->listen_port > 65535)
        return INVALID_FIELD;
    return 0;
}

static int validate_auth(const ProtobufCMessage *pm)
{
    /* [AUTH-4] */
    return len_is(&((const Cairn__V1__Auth *)pm)->signature, 64) ? 0 : INVALID_FIELD;
}

static int validate_error(const ProtobufCMessage *pm)
{
    const Cairn__V1__Error *m = (const Cairn__V1__Error *)pm;
    /* [ERR-10] code 0; [REQ-1] a non-fatal Error always answers a request */
    if (m->code == 0 || m->message.len > CAIRN_MAX_ERROR_MESSAGE)
        return INVALID_FIELD;
    return cairn_wire_error_is_fatal(m->code) || m->request_id ? 0 : INVALID_FIELD;
}

static int validate_get_headers(const ProtobufCMessage *pm)
{
    const Cairn__V1__GetHeaders *m = (const Cairn__V1__GetHeaders *)pm;
    if (m->n_locator < 1 || !all_len(m->locator, m->n_locator, 32))
        return INVALID_FIELD;
    if ((m->stop_id.len && !len_is(&m->stop_id, 32)) || m->max_count > CAIRN_MAX_HEADERS)
        return INVALID_FIELD;
    return 0;
}

static int validate_headers(const ProtobufCMessage *pm)
{
    const Cairn__V1__Headers *m = (const Cairn__V1__Headers *)pm;
    return all_len(m->headers, m->n_headers, CAIRN_HEADER_LEN) ? 0 : INVALID_FIELD;
}

static int validate_get_block(const ProtobufCMessage *pm)
{
    const Cairn__V1__GetBlock *m = (const Cairn__V1__GetBlock *)pm;
    if (m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID)
        return len_is(&m->block_id, 32) ? 0 : INVALID_FIELD;
    return m->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT ? 0 : INVALID_FIELD;
}

static int validate_block(const ProtobufCMessage *pm)
{
    const Cairn__V1__Block *m = (const Cairn__V1__Block *)pm;
    if (!len_is(&m->header, CAIRN_HEADER_LEN) || !entries_ok(m->entries, m->n_entries))
        return INVALID_FIELD;
    return 0;
}

static int validate_announce(const ProtobufCMessage *pm)
{
    return len_is(&((const Cairn__V1__Announce *)pm)->header, CAIRN_HEADER_LEN) ? 0 : INVALID_FIELD;
}

static int validate_submit_entry(const ProtobufCMessage *pm)
{
    return entries_ok(&((const Cairn__V1__SubmitEntry *)pm)->entry, 1) ? 0 : INVALID_FIELD;
}

static int validate_entry_ack(const ProtobufCMessage *pm)
{
    return len_is(&((const Cairn__V1__EntryAck *)pm)->entry_id, 32) ? 0 : INVALID_FIELD;
}

static int validate_entries(const ProtobufCMessage *pm)
{
    const Cairn__V1__Entries *m = (const Cairn__V1__Entries *)pm;
    return m->n_entries >= 1 && entries_ok(m->entries, m->n_entries) ? 0 : INVALID_FIELD;
}

static int validate_get_manifest(const ProtobufCMessage *pm)
{
    return len_is(&((const Cairn__V1__GetManifest *)pm)->file_id, 32) ? 0 : INVALID_FIELD;
}

static int validate_manifest(const ProtobufCMessage *pm)
{
    const Cairn__V1__Manifest *m = (const Cairn__V1__Manifest *)pm;
    if (m->manifest.len < CAIRN_MIN_MANIFEST_LEN || m->manifest.len > CAIRN_MAX_MANIFEST_LEN)
        return INVALID_FIELD;
    /* [FILE-17] [FILE-19] have ranges: sorted, non-overlapping, non-empty. */
    uint64_t prev_end = 0;
    for (size_t i = 0; i < m->n_have; i++) {
        const Cairn__V1__ChunkRange *r = m->have[i];
        if (r->end <= r->start || (i && r->start < prev_end))
            return INVALID_FIELD;
        prev_end = r->end;
    }
    return 0;
}

static int validate_get_chunk(const ProtobufCMessage *pm)
{
    return len_is(&((const Cairn__V1__GetChunk *)pm)->file_id, 32) ? 0 : INVALID_FIELD;
}

static int validate_chunk(const ProtobufCMessage *pm)
{
    const Cairn__V1__Chunk *m = (const Cairn__V1__Chunk *)pm;
    if (m->data.len < 1 || m->data.len > CAIRN_MAX_CHUNK_LEN)
        return INVALID_FIELD;
    return all_len(m->proof, m->n_proof, 32) ? 0 : INVALID_FIELD;
}

static int validate_peers(const ProtobufCMessage *pm)
{
    const Cairn__V1__Peers *m = (const Cairn__V1__Peers *)pm;
    for (size_t i = 0; i < m->n_peers; i++) {
        const Cairn__V1__PeerAddress *a = m->peers[i];
        if ((a->ip.len != 4 && a->ip.len != 16) || a->port < 1 || a->port > 65535)
            return INVALID_FIELD;
        if (a->node_id.len != 0 && a->node_id.len != 32) /* [ADDR-2] */
            return INVALID_FIELD;
    }
    return 0;
}

/* The row's validator; 0 for an unregistered type. */
static int validate_body(uint16_t type, const ProtobufCMessage *pm)
{
    const struct msg_info *i = info_of(type);
    return i ? i->validate(pm) : 0;
}

int cairn_msg_validate(uint16_t type, const ProtobufCMessage *m)
{
    const struct msg_info *i = info_of(type);
    if (!i || m->descriptor != i->desc)
        return CAIRN_ERR_INVALID_ARG;
    /* [REQ-1] request IDs are never 0 on requests and responses. */
    if (i->kind == CAIRN_KIND_REQUEST || i->kind == CAIRN_KIND_RESPONSE)
        if (*request_id_field((ProtobufCMessage *)m) == 0)
            return INVALID_FIELD;
    return validate_body(type, m);
}

/* ---- decode ---------------------------------------------------------------- */

static void *pa_alloc(void *ud, size_t n)
{
    return cairn_arena_alloc(ud, n);
}

static void pa_free(void *ud, void *p)
{
    (void)ud;
    (void)p; /* released all at once by the next reset */
}

void cairn_msg_decoder_init(cairn_msg_decoder *d, const cairn_mem *mem)
{
    cairn_arena_init(&d->arena, mem);
    d->pa.alloc = pa_alloc;
    d->pa.free = pa_free;
    d->pa.allocator_data = &d->arena;
    d->borrow = 0;
}

void cairn_msg_decoder_free(cairn_msg_decoder *d)
{
    cairn_arena_free(&d->arena);
}

void cairn_msg_decoder_trim(cairn_msg_decoder *d)
{
    cairn_arena_trim(&d->arena);
}

size_t cairn_msg_budget(size_t len, size_t occurrences)
{
    /*
     * What protobuf-c 1.4.1 allocates to unpack a scanned payload: copies of
     * bytes fields (at most len, plus 16 bytes of arena alignment each), per
     * occurrence a 32-byte ScannedMember in slabs that double (so up to 64
     * bytes), a 16-byte array element or a submessage struct (at most 80
     * bytes, PeerAddress), and the top-level struct.
     */
    return len + 176 * occurrences + 4096;
}

/* A varint of a payload the scan admitted (well formed, at most 10 bytes). */
static uint64_t admitted_varint(const uint8_t **p)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    return x;
}

/* A length-delimited field as protobuf-c fills it (data NULL when empty), borrowed. */
static ProtobufCBinaryData admitted_bytes(const uint8_t **p)
{
    size_t n = (size_t)admitted_varint(p);
    ProtobufCBinaryData b = {n, n ? (uint8_t *)*p : NULL};
    *p += n;
    return b;
}

/*
 * A Chunk the scan admitted, with data and proof borrowed from the payload:
 * the 256 KiB of a chunk are not copied (protobuf-c would copy them). The
 * scan has checked everything protobuf-c would: fields 1-4 only, each with
 * its wire type, in ascending order, proof within its count cap.
 */
static ProtobufCMessage *chunk_borrowed(cairn_msg_decoder *d, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    Cairn__V1__Chunk *c = cairn_arena_alloc(&d->arena, sizeof(*c));
    if (!c)
        return NULL;
    cairn__v1__chunk__init(c);
    size_t n_proof = 0;
    for (const uint8_t *q = p; q < end;) { /* count the proof hashes first */
        uint64_t key = admitted_varint(&q);
        if ((key & 7) == 0)
            admitted_varint(&q);
        else
            admitted_bytes(&q);
        n_proof += key >> 3 == 4;
    }
    if (n_proof && !(c->proof = cairn_arena_alloc(&d->arena, n_proof * sizeof(*c->proof))))
        return NULL;
    while (p < end) {
        uint64_t key = admitted_varint(&p);
        switch (key >> 3) {
        case 1:
            c->request_id = admitted_varint(&p);
            break;
        case 2:
            c->index = admitted_varint(&p);
            break;
        case 3:
            c->data = admitted_bytes(&p);
            break;
        default:
            c->proof[c->n_proof++] = admitted_bytes(&p);
        }
    }
    return &c->base;
}

int cairn_msg_decode_unchecked(cairn_msg_decoder *d, uint16_t type, const uint8_t *payload,
                               size_t len, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *desc = cairn_msg_descriptor(type);
    *out = NULL;
    if (!desc)
        return CAIRN_ERR_PROTO(CAIRN_E_UNKNOWN_TYPE);
    size_t occurrences;
    int rv = cairn_msg_scan(desc, payload, len, &occurrences);
    if (rv)
        return rv;
    cairn_arena_reset(&d->arena, cairn_msg_budget(len, occurrences));
    ProtobufCMessage *m = d->borrow && type == CAIRN_T_CHUNK
                              ? chunk_borrowed(d, payload, len)
                              : protobuf_c_message_unpack(desc, &d->pa, len, payload);
    if (!m) {
        /* The scan admitted it, so only memory can have failed. */
        if (d->arena.failed == 1)
            return CAIRN_ERR_BUDGET;
        if (d->arena.failed == 2)
            return CAIRN_ERR_NOMEM;
        return CAIRN_ERR_PROTO(CAIRN_E_MALFORMED);
    }
    *out = m;
    return 0;
}

int cairn_msg_decode(cairn_msg_decoder *d, uint16_t type, const uint8_t *payload, size_t len,
                     ProtobufCMessage **out)
{
    int rv = cairn_msg_decode_unchecked(d, type, payload, len, out);
    if (rv == 0 && !CAIRN_FAULT(SKIP_FIELD_RULES) && (rv = validate_body(type, *out)) == 0) {
        int kind = msgs[type].kind;
        if ((kind == CAIRN_KIND_REQUEST || kind == CAIRN_KIND_RESPONSE) &&
            *request_id_field(*out) == 0)
            rv = INVALID_FIELD;
    }
    if (rv)
        *out = NULL;
    return rv;
}

/* ---- encode ---------------------------------------------------------------- */

static int encode_len(uint16_t type, const ProtobufCMessage *m, size_t len, cairn_buf *out)
{
    if (len > CAIRN_FRAME_MAX_HARD)
        return CAIRN_ERR_INVALID_ARG;
    uint8_t *p = cairn_buf_reserve(out, CAIRN_FRAME_HEADER_LEN + len);
    if (!p)
        return CAIRN_ERR_NOMEM;
    cairn_frame_header_encode(p, type, (uint32_t)len);
    protobuf_c_message_pack(m, p + CAIRN_FRAME_HEADER_LEN);
    cairn_buf_commit(out, CAIRN_FRAME_HEADER_LEN + len);
    return 0;
}

int cairn_msg_encode_unchecked(uint16_t type, const ProtobufCMessage *m, cairn_buf *out)
{
    return encode_len(type, m, protobuf_c_message_get_packed_size(m), out);
}

int cairn_msg_encode(const ProtobufCMessage *m, cairn_buf *out)
{
    uint16_t type = cairn_msg_type_of(m);
    if (!type)
        return CAIRN_ERR_INVALID_ARG;
    int rv = cairn_msg_validate(type, m);
    if (rv)
        return rv;
    size_t len = protobuf_c_message_get_packed_size(m);
    if (len > cairn_frame_type_cap(type))
        return CAIRN_ERR_INVALID_ARG;
    return encode_len(type, m, len, out);
}
