/* Seeds of the message family: every message type, JSON forms, frame streams, regressions. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_seeds.h"
/* Hello, Auth, Error, Ping, Pong, NotFound. */
static void handshake_messages(frame_cb cb, void *ud)
{
    ProtobufCBinaryData h32 = {32, z32}, f32 = {32, ff32};
    {
        Cairn__V1__Hello m = CAIRN__V1__HELLO__INIT;
        m.version = 1;
        m.network_id = h32;
        m.node_key = f32;
        m.services = 15;
        m.tip_id = h32;
        m.tip_height = 1000;
        m.total_work = f32;
        m.max_frame_size = 4194304;
        m.nonce = 0x0123456789abcdefull;
        m.user_agent = (ProtobufCBinaryData){10, (uint8_t *)"cairnd/0.1"};
        m.listen_port = 7317;
        m.time_ms = 1767225600000ull;
        out(cb, ud, &m.base);
        m.services = 0;
        m.tip_height = 0;
        m.user_agent.len = 0;
        m.listen_port = 0;
        m.time_ms = 0;
        m.max_frame_size = 16777216;
        out(cb, ud, &m.base);
    }
    {
        Cairn__V1__Auth m = CAIRN__V1__AUTH__INIT;
        m.signature = (ProtobufCBinaryData){64, sig64};
        out(cb, ud, &m.base);
    }
    {
        Cairn__V1__Error m = CAIRN__V1__ERROR__INIT;
        m.code = CAIRN__V1__ERROR_CODE__INVALID_BLOCK;
        m.message = (ProtobufCBinaryData){11, (uint8_t *)"bad block 7"};
        m.request_id = 9;
        m.detail = 8;
        out(cb, ud, &m.base);
        m.code = CAIRN__V1__ERROR_CODE__BUSY;
        m.message.len = 0;
        m.detail = 0;
        out(cb, ud, &m.base);
    }
    {
        Cairn__V1__Ping m = CAIRN__V1__PING__INIT;
        m.nonce = 0xfeedfacecafebeefull;
        out(cb, ud, &m.base);
        Cairn__V1__Pong p = CAIRN__V1__PONG__INIT;
        p.nonce = 0xfeedfacecafebeefull;
        out(cb, ud, &p.base);
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = 3;
        out(cb, ud, &nf.base);
    }
}

/* GetHeaders, Headers, GetBlock, Block, Announce, Entries, SubmitEntry, EntryAck. */
static void chain_messages(frame_cb cb, void *ud)
{
    ProtobufCBinaryData h32 = {32, z32}, f32 = {32, ff32};
    {
        ProtobufCBinaryData loc[3] = {h32, f32, h32};
        Cairn__V1__GetHeaders m = CAIRN__V1__GET_HEADERS__INIT;
        m.request_id = 1;
        m.n_locator = 3;
        m.locator = loc;
        m.stop_id = f32;
        m.max_count = 2000;
        out(cb, ud, &m.base);
        m.n_locator = 1;
        m.stop_id.len = 0;
        m.max_count = 0;
        out(cb, ud, &m.base);
    }
    {
        ProtobufCBinaryData hs[2] = {{96, hdr96}, {96, hdr96}};
        Cairn__V1__Headers m = CAIRN__V1__HEADERS__INIT;
        m.request_id = 1;
        m.n_headers = 2;
        m.headers = hs;
        out(cb, ud, &m.base);
        m.n_headers = 0;
        out(cb, ud, &m.base);
    }
    {
        Cairn__V1__GetBlock m = CAIRN__V1__GET_BLOCK__INIT;
        m.request_id = 2;
        m.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
        m.block_id = f32;
        out(cb, ud, &m.base);
        m.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        m.height = 0;
        out(cb, ud, &m.base);
        m.height = 123456;
        out(cb, ud, &m.base);
    }
    {
        ProtobufCBinaryData es[2] = {{sizeof(data_entry), data_entry}, {43, manifest_entry}};
        Cairn__V1__Block m = CAIRN__V1__BLOCK__INIT;
        m.request_id = 2;
        m.header = (ProtobufCBinaryData){96, hdr96};
        m.n_entries = 2;
        m.entries = es;
        out(cb, ud, &m.base);
        Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
        a.header = m.header;
        out(cb, ud, &a.base);
        Cairn__V1__Entries en = CAIRN__V1__ENTRIES__INIT;
        en.n_entries = 2;
        en.entries = es;
        out(cb, ud, &en.base);
        Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
        se.request_id = 4;
        se.entry = es[1];
        out(cb, ud, &se.base);
        Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
        ack.request_id = 4;
        ack.entry_id = f32;
        out(cb, ud, &ack.base);
    }
}

/* GetManifest, Manifest, GetChunk, Chunk. */
static void file_messages(frame_cb cb, void *ud)
{
    ProtobufCBinaryData h32 = {32, z32}, f32 = {32, ff32};
    {
        Cairn__V1__GetManifest gm = CAIRN__V1__GET_MANIFEST__INIT;
        gm.request_id = 5;
        gm.file_id = f32;
        out(cb, ud, &gm.base);
        Cairn__V1__ChunkRange r1 = CAIRN__V1__CHUNK_RANGE__INIT, r2 = CAIRN__V1__CHUNK_RANGE__INIT;
        r1.start = 0;
        r1.end = 4;
        r2.start = 4;
        r2.end = 9;
        Cairn__V1__ChunkRange *have[2] = {&r1, &r2};
        Cairn__V1__Manifest m = CAIRN__V1__MANIFEST__INIT;
        m.request_id = 5;
        m.manifest = (ProtobufCBinaryData){43, manifest_entry};
        m.n_have = 2;
        m.have = have;
        out(cb, ud, &m.base);
        m.n_have = 0;
        out(cb, ud, &m.base);
        Cairn__V1__GetChunk gc = CAIRN__V1__GET_CHUNK__INIT;
        gc.request_id = 6;
        gc.file_id = f32;
        gc.index = 3;
        out(cb, ud, &gc.base);
        ProtobufCBinaryData proof[3] = {h32, f32, h32};
        Cairn__V1__Chunk c = CAIRN__V1__CHUNK__INIT;
        c.request_id = 6;
        c.index = 3;
        c.data = (ProtobufCBinaryData){sizeof(data_entry), data_entry};
        c.n_proof = 3;
        c.proof = proof;
        out(cb, ud, &c.base);
    }
}

/* GetPeers, Peers. */
static void peer_messages(frame_cb cb, void *ud)
{
    {
        Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
        gp.request_id = 7;
        out(cb, ud, &gp.base);
        uint8_t v4[4] = {127, 0, 0, 1}, v6[16] = {0x20, 0x01, 0x0d, 0xb8};
        Cairn__V1__PeerAddress a = CAIRN__V1__PEER_ADDRESS__INIT,
                               b6 = CAIRN__V1__PEER_ADDRESS__INIT;
        a.ip = (ProtobufCBinaryData){4, v4};
        a.port = 7317;
        a.services = 1;
        a.last_seen_ms = 1767225600000ull;
        b6.ip = (ProtobufCBinaryData){16, v6};
        b6.port = 65535;
        Cairn__V1__PeerAddress *ps[2] = {&a, &b6};
        Cairn__V1__Peers p = CAIRN__V1__PEERS__INIT;
        p.request_id = 7;
        p.n_peers = 2;
        p.peers = ps;
        out(cb, ud, &p.base);
    }
}

void all_messages(frame_cb cb, void *ud)
{
    handshake_messages(cb, ud);
    chain_messages(cb, ud);
    file_messages(cb, ud);
    peer_messages(cb, ud);
}

void to_msg_corpus(const uint8_t *f, size_t n, void *ud)
{
    (void)ud;
    emit("msg", f, n);
}

#ifdef HAVE_JANSSON
/* fuzz_json: `index` + the message's JSON print, and `0x80 | index` + its
 * payload; JSON texts also in the hex-bytes and proto-name spellings. */
void to_json_corpus(const uint8_t *f, size_t n, void *ud)
{
    (void)ud;
    uint16_t type = cairn_get_u16(f + 2);
    size_t idx = 0;
    while (idx < fuzz_n_msg_types && fuzz_msg_types[idx] != type)
        idx++;
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, &heap);
    ProtobufCMessage *m = NULL;
    uint8_t *buf = malloc(n + 1);
    if (!buf || idx == fuzz_n_msg_types ||
        cairn_msg_decode_unchecked(&d, type, f + CAIRN_FRAME_HEADER_LEN, n - CAIRN_FRAME_HEADER_LEN,
                                   &m) != 0) {
        fprintf(stderr, "json seed: frame of type %u does not decode\n", type);
        exit(1);
    }
    buf[0] = (uint8_t)(0x80 | idx);
    memcpy(buf + 1, f + CAIRN_FRAME_HEADER_LEN, n - CAIRN_FRAME_HEADER_LEN);
    emit("json", buf, n + 1 - CAIRN_FRAME_HEADER_LEN);
    free(buf);
    json_t *j = cairn_json_from_msg(m);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text)
        exit(1);
    size_t tl = strlen(text);
    buf = malloc(tl + 1);
    if (!buf)
        exit(1);
    buf[0] = (uint8_t)idx;
    memcpy(buf + 1, text, tl);
    emit("json", buf, tl + 1);
    free(buf);
    free(text);
    json_decref(j);
    cairn_msg_decoder_free(&d);
}

/* Hand-written JSON spellings the printer never produces. */
void json_text_seeds(void)
{
    static const struct {
        uint16_t type;
        const char *text;
    } seeds[] = {
        {0x0004, "{\"nonce\": 18446744073709551615}"},
        {0x0004, "{\"nonce\": \"42\"}"},
        {0x0003, "{\"code\": \"MALFORMED\", \"message\": {\"hex\": \"6869\"}}"},
        {0x0003, "{\"code\": 99, \"request_id\": \"7\"}"},
        {0x0012, "{\"requestId\": 1, \"blockId\": {\"hex\": "
                 "\"00000000000000000000000000000000000000000000000000000000000000ff\"}}"},
        {0x0010, "{\"requestId\": \"3\", \"locator\": [\"AAAA\", {\"hex\": \"00\"}], "
                 "\"stopId\": \"\"}"},
        {0x0031,
         "{\"requestId\": 9, \"peers\": [{\"address\": \"fwAAAQ==\", \"port\": 7317}, {}]}"},
        {0x0001, "{}"},
        {0x0001, "[]"},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        size_t idx = 0;
        while (idx < fuzz_n_msg_types && fuzz_msg_types[idx] != seeds[i].type)
            idx++;
        size_t tl = strlen(seeds[i].text);
        uint8_t *buf = malloc(tl + 1);
        if (!buf)
            exit(1);
        buf[0] = (uint8_t)idx;
        memcpy(buf + 1, seeds[i].text, tl);
        emit("json", buf, tl + 1);
        free(buf);
    }
}
#endif

/* Frame streams: [limit | split | frames]. */
typedef struct stream {
    uint8_t buf[65536];
    size_t len;
} stream;

static void to_stream(const uint8_t *f, size_t n, void *ud)
{
    stream *s = ud;
    if (s->len + n <= sizeof(s->buf)) {
        memcpy(s->buf + s->len, f, n);
        s->len += n;
    }
    uint8_t one[2048];
    if (n + 2 <= sizeof(one)) {
        one[0] = (uint8_t)(n % 8);
        one[1] = (uint8_t)(n % 3 == 0 ? 0 : n % 3 == 1 ? 1 : 7);
        memcpy(one + 2, f, n);
        emit("frame", one, n + 2);
    }
}

void frame_seeds(void)
{
    static stream s;
    s.len = 2;
    all_messages(to_stream, &s);
    for (int split = 0; split < 3; split++) {
        s.buf[0] = 0;
        s.buf[1] = (uint8_t)(split == 2 ? 16 : split);
        emit("frame", s.buf, s.len);
    }
    /* Extension frames, a zero-length one, a cut-short one, bad headers. */
    uint8_t ext[] = {0,    3,    0xCA, 0x1E, 0x80, 0x00, 0, 0, 0, 3, 1,
                     2,    3,    0xCA, 0x1E, 0x00, 0x04, 0, 0, 0, 0, 0xCA,
                     0x1E, 0xFF, 0xFF, 0,    0,    0,    9, 1, 2};
    emit("frame", ext, sizeof(ext));
    uint8_t bad[][10] = {
        {0, 0, 0xCA, 0x1F, 0, 4, 0, 0, 0, 0},       /* BAD_MAGIC */
        {0, 0, 0xCA, 0x1E, 0, 7, 0, 0, 0, 0},       /* UNKNOWN_TYPE */
        {0, 0, 0xCA, 0x1E, 0, 4, 0, 0, 0, 33},      /* over the Ping cap */
        {1, 0, 0xCA, 0x1E, 0x80, 1, 0, 0x40, 0, 1}, /* over the announced max */
        {0, 1, 0xCA, 0x1E, 0, 0x13, 0, 0x21, 0, 0}, /* Block cap edge, cut short */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        emit("frame", bad[i], sizeof(bad[i]));
}

/* ---- hardening regressions (§5, ARCHITECTURE.md) ------------------------------------------ */

static void reg(const char *name, uint16_t type, const uint8_t *payload, size_t n)
{
    uint8_t *f = malloc(n + 8);
    if (!f)
        exit(1);
    cairn_frame_header_encode(f, type, (uint32_t)n);
    memcpy(f + 8, payload, n);
    write_named("msg", name, f, n + 8);
    free(f);
}

void regressions(void)
{
    uint8_t b[70000];
    size_t n;
    /* tag 0: a non-minimal key that protobuf-c 1.4.1 reads as field 0. */
    reg("tag0-nonminimal-key__MALFORMED", CAIRN_T_PING, (const uint8_t *)"\x80\x00\x00", 3);
    reg("tag0-minimal-key__MALFORMED", CAIRN_T_PING, (const uint8_t *)"\x00\x00", 2);
    /* field numbers: 2^29 (too big), 2^29 - 1 (legal but unknown), and a
     * 5-byte key whose top byte overflows protobuf-c's 32-bit shift. */
    reg("field-number-2pow29__MALFORMED", CAIRN_T_PING, (const uint8_t *)"\x80\x80\x80\x80\x10\x00",
        6);
    reg("field-number-2pow29-minus-1__INVALID_FIELD", CAIRN_T_PING,
        (const uint8_t *)"\xf8\xff\xff\xff\x0f\x01", 6);
    reg("field-number-shift-overflow__MALFORMED", CAIRN_T_PING,
        (const uint8_t *)"\xf8\xff\xff\xff\x7f\x01", 6);
    /* Amplification: many tiny elements that unpack to far more memory. */
    n = 0;
    b[n++] = 0x08;
    b[n++] = 0x01;
    for (int i = 0; i < 1000; i++) {
        b[n++] = 0x12;
        b[n++] = 0x00;
    }
    reg("amplify-1000-empty-peer-addresses__INVALID_FIELD", CAIRN_T_PEERS, b, n);
    b[n++] = 0x12;
    b[n++] = 0x00;
    reg("amplify-1001-peer-addresses-over-count__INVALID_FIELD", CAIRN_T_PEERS, b, n);
    n = 2;
    for (int i = 0; i < 2000; i++) {
        b[n++] = 0x12;
        b[n++] = 0x00;
    }
    reg("amplify-2000-empty-headers__INVALID_FIELD", CAIRN_T_HEADERS, b, n);
    b[n++] = 0x12;
    b[n++] = 0x00;
    reg("amplify-2001-headers-over-count__INVALID_FIELD", CAIRN_T_HEADERS, b, n);
    n = 0;
    for (int i = 0; i < 500; i++) {
        b[n++] = 0x10;
        b[n++] = 0x01;
    }
    reg("amplify-unknown-varints__INVALID_FIELD", CAIRN_T_PING, b, n);
    n = 0;
    for (int i = 0; i < 17; i++) {
        b[n++] = 0x0a;
        b[n++] = 0x01;
        b[n++] = 0x00;
    }
    reg("amplify-17-relayed-entries__INVALID_FIELD", CAIRN_T_ENTRIES, b, n);
    /* Recursion: 10,000 nested length-delimited fields inside PeerAddress. */
    {
        size_t depth = 10000, end = sizeof(b);
        size_t at = end;
        for (size_t d = 0; d < depth; d++) {
            size_t inner = end - at;
            uint8_t len[5];
            size_t ll = 0;
            for (size_t v = inner;; v >>= 7) {
                len[ll++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
                if (v < 0x80)
                    break;
            }
            at -= ll;
            memcpy(b + at, len, ll);
            b[--at] = 0x12;
        }
        uint8_t *q = b + at - 2;
        q[0] = 0x08;
        q[1] = 0x01;
        reg("recursion-10000-nested__MALFORMED", CAIRN_T_PEERS, q, end - at + 2);
    }
    /* Repeated sub-message merging: protobuf-c and Google's parser differ on
     * a message field that appears twice (0a02 0801 0a02 1809). Our schema
     * has no singular message field; the same wire shapes are refused. */
    reg("merge-singular-field-twice__NON_CANONICAL", CAIRN_T_PING,
        (const uint8_t *)"\x08\x01\x08\x09", 4);
    reg("merge-field-twice-in-submessage__NON_CANONICAL", CAIRN_T_PEERS,
        (const uint8_t *)"\x08\x01\x12\x0a\x0a\x04\x7f\x00\x00\x01\x10\x01\x10\x09", 14);
    {
        uint8_t m[] = {0x08, 0x01, 0x1a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x2b};
        n = 0;
        memcpy(b, m, sizeof(m));
        n = sizeof(m);
        memcpy(b + n, manifest_entry, 43);
        n += 43;
        memcpy(b + n, "\x1a\x04\x08\x03\x10\x04", 6);
        n += 6;
        reg("merge-repeated-elements-not-consecutive__NON_CANONICAL", CAIRN_T_MANIFEST, b, n);
    }
    /* NUL inside text: refused where the spec wants printable ASCII;
     * carried intact (bytes, never truncated) where the spec allows it. */
    {
        Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT;
        h.version = 1;
        h.network_id = h.node_key = h.tip_id = h.total_work = (ProtobufCBinaryData){32, ff32};
        h.max_frame_size = 4194304;
        h.nonce = 1;
        h.user_agent = (ProtobufCBinaryData){9, (uint8_t *)"cairn\0bad"};
        cairn_buf fb;
        cairn_buf_init(&fb, &heap);
        cairn_msg_encode_unchecked(CAIRN_T_HELLO, &h.base, &fb);
        write_named("msg", "nul-in-user-agent__INVALID_FIELD", cairn_buf_data(&fb), fb.len);
        cairn_buf_free(&fb);
        Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
        e.code = CAIRN__V1__ERROR_CODE__SHUTDOWN;
        e.message = (ProtobufCBinaryData){9, (uint8_t *)"bye\0bye\0!"};
        cairn_buf_init(&fb, &heap);
        cairn_msg_encode_unchecked(CAIRN_T_ERROR, &e.base, &fb);
        write_named("msg", "nul-in-error-message-kept-as-bytes__OK", cairn_buf_data(&fb), fb.len);
        cairn_buf_free(&fb);
    }
    /* Unknown frame type at the message layer. */
    reg("unregistered-type__UNKNOWN_TYPE", 0x0007, (const uint8_t *)"\x08\x01", 2);
}
