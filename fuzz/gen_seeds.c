/*
 * Seed generator for the fuzz corpora, built with the library itself.
 *
 *   fuzz_gen_seeds seeds OUTDIR [SPEC_VECTORS_DIR]
 *       writes OUTDIR/<target>/<sha256 prefix> for every target: every
 *       message type built by hand and encoded by cairn_msg_encode, frame
 *       streams, session scripts (handshakes, traffic, timeouts, limits),
 *       blocks (the devnet genesis and mined devnet-style blocks), Merkle
 *       trees and proofs, manifest entries; plus every frame in
 *       SPEC_VECTORS_DIR/frames.json (jansson) when it exists. fuzz/run and
 *       fuzz/ci.sh minimise them into fuzz/corpus/<target>/ with -merge=1.
 *   fuzz_gen_seeds regressions OUTDIR
 *       writes the named hardening inputs OUTDIR/msg/<what>__<EXPECTED>
 *       (the protobuf-c pitfalls of ARCHITECTURE.md) that fuzz_expect checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "cairn/session.h"
#include "fuzz_session.h"
#ifdef HAVE_JANSSON
#include <jansson.h>

#include "cairn/json.h"
#endif

static const char *outdir;
static size_t written;

static void mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void write_named(const char *target, const char *name, const uint8_t *d, size_t n)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/%s", outdir, target);
    mkdirs(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    written++;
}

/* Content-addressed, like libFuzzer's own corpus files. */
static void emit(const char *target, const uint8_t *d, size_t n)
{
    uint8_t h[32];
    char name[41];
    if (cairn_sha256(h, d, n) != 0)
        exit(1);
    cairn_hex_encode(name, h, 20);
    write_named(target, name, d, n);
}

/* ---- messages ---------------------------------------------------------------------- */

static uint8_t z32[32], ff32[32], sig64[64], hdr96[96], manifest_entry[64];
static uint8_t data_entry[] = {0x00, 'c', 'a', 'i', 'r', 'n'};

/* Encodes `m` as a frame into `b` (appending); aborts when invalid. */
static void frame_of(const ProtobufCMessage *m, cairn_buf *b)
{
    int rv = cairn_msg_encode(m, b);
    if (rv) {
        fprintf(stderr, "seed %s does not encode: %s\n", m->descriptor->name, cairn_strerror(rv));
        exit(1);
    }
}

static void *xmalloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n ? n : 1);
}
static void *xrealloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n ? n : 1);
}
static void xfree(void *p, void *ud)
{
    (void)ud;
    free(p);
}
static const cairn_mem heap = {xmalloc, xrealloc, xfree, NULL};

typedef void (*frame_cb)(const uint8_t *frame, size_t n, void *ud);

static void out(frame_cb cb, void *ud, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, &heap);
    frame_of(m, &b);
    cb(cairn_buf_data(&b), b.len, ud);
    cairn_buf_free(&b);
}

static void all_messages(frame_cb cb, void *ud)
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

static void to_msg_corpus(const uint8_t *f, size_t n, void *ud)
{
    (void)ud;
    emit("msg", f, n);
}

#ifdef HAVE_JANSSON
/* fuzz_json: `index` + the message's JSON print, and `0x80 | index` + its
 * payload; JSON texts also in the hex-bytes and proto-name spellings. */
static void to_json_corpus(const uint8_t *f, size_t n, void *ud)
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
static void json_text_seeds(void)
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

static void frame_seeds(void)
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

/* ---- session scripts -------------------------------------------------------------------- */

typedef struct script {
    uint8_t b[4096];
    size_t n;
} script;

static void sc_start(script *s, uint8_t cfg, uint16_t fail_at)
{
    s->n = 0;
    s->b[s->n++] = cfg;
    s->b[s->n++] = (uint8_t)(fail_at >> 8);
    s->b[s->n++] = (uint8_t)fail_at;
}

static void sc(script *s, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && s->n < sizeof(s->b); i++)
        s->b[s->n++] = (uint8_t)va_arg(ap, int);
    va_end(ap);
}

static void sc_hello(script *s, uint8_t variant)
{
    sc(s, 14, FS_HELLO, variant, 0, 0, 0, 0, 0, 0, 0x42, 0x42, 0, 0, 0, 5);
}

static void sc_handshake(script *s)
{
    sc_hello(s, 0);
    sc(s, 2, FS_AUTH, 0);
}

static void sc_msg(script *s, uint8_t type_index, const uint8_t *payload, size_t n)
{
    sc(s, 4, FS_MSG, type_index, (int)(n >> 8), (int)(n & 0xFF));
    if (s->n + n <= sizeof(s->b)) {
        memcpy(s->b + s->n, payload, n);
        s->n += n;
    }
}

static void session_seeds(void)
{
    const char *targets[2] = {"session_server", "session_client"};
    for (int t = 0; t < 2; t++) {
        const char *tg = targets[t];
        script s;
        /* A full conversation. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 9, FS_PEER_PING, 0, 0, 0, 0, 0, 0, 0, 7);
        sc(&s, 1, FS_APP_PING);
        sc(&s, 2, FS_PEER_PONG, 0);
        for (int k = 0; k < 6; k++) {
            sc(&s, 11, FS_PEER_REQ, k, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            sc(&s, 3, FS_APP_RESP, 0, k % 3);
            sc(&s, 3, FS_APP_REQ, k, 0);
            sc(&s, 3, FS_PEER_RESP, 0, k % 4);
        }
        sc(&s, 2, FS_APP_NOTIFY, 0);
        sc(&s, 2, FS_APP_NOTIFY, 1);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0); /* to the keepalive deadline */
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0); /* idle timeout */
        emit(tg, s.b, s.n);
        /* Handshake under TLS binding, split frames, then a close. */
        for (int cfg = 0; cfg < 4; cfg++) {
            sc_start(&s, (uint8_t)(4 | cfg << 3), 0);
            sc_handshake(&s);
            sc(&s, 2, FS_APP_CLOSE, 23);
            emit(tg, s.b, s.n);
        }
        /* Refused by on_peer_auth. */
        sc_start(&s, 2, 0);
        sc_handshake(&s);
        emit(tg, s.b, s.n);
        /* Every bad Hello, every bad Auth. */
        for (int v = 8; v < 16; v++) {
            sc_start(&s, 0, 0);
            sc_hello(&s, (uint8_t)v);
            sc(&s, 2, FS_AUTH, 0);
            emit(tg, s.b, s.n);
        }
        for (int v = 12; v < 16; v++) {
            sc_start(&s, 4, 0);
            sc_hello(&s, 0);
            sc(&s, 2, FS_AUTH, v);
            emit(tg, s.b, s.n);
        }
        /* Before READY: a Ping, an Auth first, an extension frame; a timeout. */
        uint8_t ping[] = {0x08, 0x01};
        sc_start(&s, 0, 0);
        sc_msg(&s, 3, ping, sizeof(ping));
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc(&s, 2, FS_AUTH, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc_msg(&s, 20, ping, sizeof(ping));
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc(&s, 6, FS_TICK, 1, 0, 0, 0, 0);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        /* In READY: an extension frame, a second Hello, a fatal Error. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc_msg(&s, 20, ping, sizeof(ping));
        sc_msg(&s, 3, ping, sizeof(ping));
        sc(&s, 10, FS_PEER_ERROR, 21, 0, 0, 0, 0, 0, 0, 0, 0);
        sc(&s, 10, FS_PEER_ERROR, 6, 0, 0, 0, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc_hello(&s, 0);
        emit(tg, s.b, s.n);
        /* Limits: 65 requests from the peer; 65 from the application. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 11, FS_PEER_REQ, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 3, FS_APP_REQ, 2, 64);
        sc(&s, 3, FS_PEER_RESP, 5, 0);
        sc(&s, 3, FS_PEER_RESP, 5, 4);
        emit(tg, s.b, s.n);
        /* Duplicate request IDs; unknown response; wrong response type. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 11, FS_PEER_REQ, 1, 1, 0, 0, 0, 0, 0, 0, 0, 9);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 3, FS_APP_REQ, 0, 0);
        sc(&s, 3, FS_PEER_RESP, 0, 3);
        emit(tg, s.b, s.n);
        /* Failing allocations during the handshake; RNG failure. */
        for (int k = 0; k < 12; k += 3) {
            sc_start(&s, 0x20, (uint16_t)k);
            sc_handshake(&s);
            sc(&s, 9, FS_PEER_PING, 0, 0, 0, 0, 0, 0, 0, 1);
            emit(tg, s.b, s.n);
        }
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 1, FS_RANDOM_FAIL);
        sc(&s, 1, FS_APP_PING);
        emit(tg, s.b, s.n);
        /* EOF in the middle; raw garbage. */
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc(&s, 1, FS_EOF);
        sc(&s, 2, FS_AUTH, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc(&s, 12, FS_RAW, 1, 0, 8, 0xCA, 0x1E, 0, 1, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
    }
}

/* ---- chain codec ------------------------------------------------------------------------- */

static const uint8_t devnet_entry[] = "\0Cairn devnet genesis: every block rests on the one below";

static void block_seeds(void)
{
    /* The devnet genesis block (§9.8), network requiring 12 bits. */
    uint8_t in[512], *p = in;
    *p++ = 1; /* bits_sel: devnet */
    *p++ = 0; /* flags */
    *p++ = 0; /* 96-byte header */
    p = cairn_put_u32(p, 1);
    p = cairn_put_u64(p, 0);
    p = cairn_put_u64(p, 1767225600000ull);
    p = cairn_put_u32(p, 12);
    p = cairn_put_u64(p, 1816);
    memset(p, 0, 32);
    p += 32;
    uint8_t root[32];
    fuzz_hash2(root, 0x00, devnet_entry, sizeof(devnet_entry) - 1, NULL, 0);
    memcpy(p, root, 32);
    p += 32;
    p = cairn_put_u64(p, UINT64_MAX); /* no parent */
    *p++ = 0;
    p = cairn_put_u64(p, 1767225599999ull);
    p = cairn_put_u64(p, 1767225600000ull);
    p = cairn_put_u16(p, sizeof(devnet_entry) - 1);
    memcpy(p, devnet_entry, sizeof(devnet_entry) - 1);
    p += sizeof(devnet_entry) - 1;
    emit("block", in, (size_t)(p - in));
    /* Small-bits blocks that the target mines and roots itself: a child
     * (height 1), entries of both kinds, a duplicate, a bad kind, limits. */
    for (int k = 0; k < 8; k++) {
        p = in;
        *p++ = 0;                                     /* the header's own bits */
        *p++ = (uint8_t)(3 | (k == 7 ? 31 << 3 : 0)); /* fix root, mine; k=7 repeats */
        *p++ = k == 6 ? 210 : 0;
        p = cairn_put_u32(p, k == 5 ? 2 : 1);
        p = cairn_put_u64(p, 1);
        p = cairn_put_u64(p, 1767225660000ull);
        p = cairn_put_u32(p, (uint32_t)k);
        p = cairn_put_u64(p, 0);
        memset(p, k, 64);
        p += 64;
        p = cairn_put_u64(p, 0);
        *p++ = (uint8_t)(k << 4 | (k & 6));
        p = cairn_put_u64(p, 1767225600000ull);
        p = cairn_put_u64(p, 1767225660000ull);
        p = cairn_put_u16(p, sizeof(data_entry));
        memcpy(p, data_entry, sizeof(data_entry));
        p += sizeof(data_entry);
        p = cairn_put_u16(p, 43);
        memcpy(p, manifest_entry, 43);
        p += 43;
        if (k == 2) { /* duplicate */
            p = cairn_put_u16(p, sizeof(data_entry));
            memcpy(p, data_entry, sizeof(data_entry));
            p += sizeof(data_entry);
        }
        if (k == 3) { /* kind 7, and an empty entry */
            p = cairn_put_u16(p, 2);
            *p++ = 7;
            *p++ = 7;
            p = cairn_put_u16(p, 0);
        }
        if (k == 4) /* a 65537-byte entry */
            p = cairn_put_u16(p, 0xFFFF);
        emit("block", in, (size_t)(p - in));
    }
}

static void merkle_seeds(void)
{
    static const uint16_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 100, 129};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t in[4 + 2 + 64 + 140], *p = in;
        p = cairn_put_u16(p, sizes[i]);
        p = cairn_put_u16(p, (uint16_t)(sizes[i] ? sizes[i] - 1 - i % sizes[i] : 0));
        *p++ = (uint8_t)(i * 2);
        *p++ = (uint8_t)(i * 37);
        if (i % 3 == 0) { /* a free-form proof: leaf, index, n, path, root */
            memset(p, 0, 32);
            p += 32;
            p = cairn_put_u64(p, 2);
            p = cairn_put_u64(p, 5);
            *p++ = 2;
            memset(p, 0xAB, 64);
            p += 64;
            memset(p, 0xCD, 32);
            p += 32;
        }
        emit("merkle", in, (size_t)(p - in));
    }
    /* Honest proofs in a huge tree, via the free-form section. */
    uint8_t in[4 + 2 + 32 + 16 + 1 + 64 * 32 + 32], *p = in;
    p = cairn_put_u16(p, 0);
    p = cairn_put_u16(p, 0);
    *p++ = 0;
    *p++ = 0;
    memset(p, 1, 32);
    p += 32;
    p = cairn_put_u64(p, UINT64_MAX - 1);
    p = cairn_put_u64(p, UINT64_MAX);
    *p++ = 64;
    memset(p, 2, 64 * 32 + 32);
    p += 64 * 32 + 32;
    emit("merkle", in, (size_t)(p - in));
}

/* fuzz_chain scripts (ops in fuzz_chain.c). */
static void chain_seeds(void)
{
    uint8_t b[512];
    size_t n;
#define OP(...)                                                                                    \
    do {                                                                                           \
        uint8_t op_[] = {__VA_ARGS__};                                                             \
        memcpy(b + n, op_, sizeof(op_));                                                           \
        n += sizeof(op_);                                                                          \
    } while (0)
    /* A chain of five, queries, mining on top. */
    n = 0;
    for (int i = 0; i < 5; i++)
        OP(0, (uint8_t)i, 0, 0, 100, (uint8_t)i);
    OP(4, 0);
    OP(4, 0x13);
    OP(5, 2, 3, 0, 'a', 'b', 5, 1, 0, 0, 0, 0);
    emit("chain", b, n);
    /* A fork that overtakes: reorg. */
    n = 0;
    OP(0, 0, 0, 0, 10, 1);
    OP(0, 1, 0, 0, 10, 2);
    OP(0, 0, 0, 0, 20, 3);
    OP(0, 3, 0, 0, 20, 4);
    OP(0, 4, 0, 0, 20, 5);
    OP(4, 1);
    emit("chain", b, n);
    /* Orphans: children first, then the parent releases them. */
    n = 0;
    OP(0, 0, 0x80, 0, 10, 1);
    OP(0, 1, 0x80, 0, 10, 2);
    OP(0, 2, 0, 0, 10, 3);
    OP(1, 2);
    OP(1, 1);
    emit("chain", b, n);
    /* Headers first, then bodies out of order; a bad body remembered. */
    n = 0;
    OP(0, 0, 0x80, 0, 10, 1);
    OP(0, 1, 0x80, 0, 10, 2);
    OP(0, 2, 0x80, 0, 10, 3);
    OP(2, 3, 3);
    OP(4, 2);
    OP(1, 3);
    OP(1, 1);
    OP(1, 2);
    OP(0, 0, 0x80 | 0x20, 0, 10, 0x85);
    OP(2, 4, 1);
    OP(1, 4);
    OP(1, 4);
    emit("chain", b, n);
    /* Every verdict: version, bits, PoW, height, root, entries, time old/new. */
    n = 0;
    static const uint8_t flags[] = {1, 2, 4, 8, 16, 32, 32, 64, 0};
    for (size_t i = 0; i < sizeof(flags); i++)
        OP(0, 0, flags[i], i == 8 ? 0xFF : 0, i == 8 ? 0xFF : 10, (uint8_t)(i == 6 ? 0x81 : i));
    OP(3, 0xFF, 0xFF);
    OP(1, 9);
    emit("chain", b, n);
#undef OP
}

static size_t manifest(uint8_t *m, uint64_t size, uint8_t log2, const char *name, size_t name_len)
{
    m[0] = 1;
    cairn_put_u64(m + 1, size);
    m[9] = log2;
    memset(m + 10, 0x5A, 32);
    m[42] = (uint8_t)name_len;
    memcpy(m + 43, name, name_len);
    return 43 + name_len;
}

static void manifest_seeds(void)
{
    static const struct {
        uint64_t size;
        uint8_t log2;
        const char *name;
    } ok[] = {
        {0, 14, ""},
        {1234567, 16, "report.pdf"},
        {1ull << 50, 20, "na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xaa\xa8"},
        {(1ull << 50) + 1, 14, "too big"},
        {5, 13, "small chunks"},
        {5, 21, "large chunks"},
        {5, 14, ".."},
        {5, 14, "."},
        {5, 14, "..."},
        {5, 14, "a/b"},
        {5, 14, "a\\b"},
        {5, 14, "tab\there"},
        {5, 14, "del\x7f"},
        {5, 14, "overlong \xc0\x80"},
        {5, 14, "surrogate \xed\xa0\x80"},
        {5, 14, "above max \xf4\x90\x80\x80"},
        {5, 14, "cut \xe6\x97"},
        {5, 14, "c1 \xc2\x85 is allowed"},
    };
    uint8_t m[300];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        emit("manifest", m, manifest(m, ok[i].size, ok[i].log2, ok[i].name, strlen(ok[i].name)));
    size_t n = manifest(m, 7, 15, "nul\0inside", 10);
    emit("manifest", m, n);
    char name[255];
    memset(name, 'x', sizeof(name));
    emit("manifest", m, manifest(m, 9, 18, name, sizeof(name)));
    emit("manifest", m, 42); /* short */
    m[0] = 0;
    emit("manifest", m, 50); /* a data entry */
}

#ifdef HAVE_JANSSON
/* Frames from spec/vectors/frames.json: {"valid": [{"hex"}], "invalid": [{"hex"}]}. */
static void vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/frames.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr, "no vectors at %s (%s): skipped\n", path, err.text);
        return;
    }
    const char *lists[2] = {"valid", "invalid"};
    size_t count = 0;
    for (int l = 0; l < 2; l++) {
        json_t *arr = json_object_get(root, lists[l]);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            const char *hex = json_string_value(json_object_get(v, "hex"));
            if (!hex)
                continue;
            size_t n = strlen(hex) / 2;
            uint8_t *b = malloc(n + 2);
            if (!b || cairn_hex_decode(b + 2, n, hex) != 0) {
                free(b);
                continue;
            }
            b[0] = 0;
            b[1] = (uint8_t)(i % 3);
            emit("frame", b, n + 2);
            if (n >= 8)
                emit("msg", b + 2, n);
            count++;
            free(b);
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu frames from %s\n", count, path);
}

/* Hex string -> malloc'd bytes (*n), or NULL. */
static uint8_t *unhex(const char *hex, size_t *n)
{
    *n = hex ? strlen(hex) / 2 : 0;
    uint8_t *b = malloc(*n ? *n : 1);
    if (!hex || !b || cairn_hex_decode(b, *n, hex) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

/* blocks.json {valid, invalid}: header_hex, entries_hex, network -> fuzz_block input. */
static void block_vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/blocks.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return;
    const char *lists[2] = {"valid", "invalid"};
    size_t count = 0;
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(root, lists[l]), i, v)
        {
            size_t hl;
            uint8_t *h = unhex(json_string_value(json_object_get(v, "header_hex")), &hl);
            if (!h)
                continue;
            static uint8_t in[1 << 20];
            uint8_t *p = in;
            const char *net = json_string_value(json_object_get(v, "network"));
            *p++ = net && strcmp(net, "testnet") == 0 ? 2 : 1;
            *p++ = 0;
            *p++ = hl == 96 ? 0 : (uint8_t)(200 + (hl > 110 ? 55 : hl / 2));
            size_t want = hl == 96 ? 96 : (size_t)(p[-1] - 200) * 2;
            memset(p, 0, want);
            memcpy(p, h, hl < want ? hl : want);
            p += want;
            free(h);
            p = cairn_put_u64(p, 0);
            *p++ = 0;
            p = cairn_put_u64(p, 0);
            p = cairn_put_u64(p, 1767225600000ull + 86400000ull);
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(v, "entries_hex"), k, e)
            {
                size_t el;
                uint8_t *eb = unhex(json_string_value(e), &el);
                if (!eb)
                    continue;
                if (el >= 0xFFFE || (size_t)(p - in) + 2 + el > sizeof(in)) {
                    p = cairn_put_u16(p, el > 65536 ? 0xFFFF : 0xFFFE);
                } else {
                    p = cairn_put_u16(p, (uint16_t)el);
                    memcpy(p, eb, el);
                    p += el;
                }
                free(eb);
            }
            emit("block", in, (size_t)(p - in));
            count++;
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu blocks from %s\n", count, path);
}

/* merkle.json {roots, proofs, invalid_proofs} -> fuzz_merkle input. */
static void merkle_vector_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/merkle.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return;
    static uint8_t in[1 << 16];
    size_t i, count = 0;
    json_t *v;
    json_array_foreach(json_object_get(root, "roots"), i, v)
    {
        json_t *leaves = json_object_get(v, "leaves_hex");
        size_t n = json_array_size(leaves), k;
        if (n > 130)
            continue;
        uint8_t *p = in;
        p = cairn_put_u16(p, (uint16_t)n);
        p = cairn_put_u16(p, (uint16_t)(n ? n - 1 : 0));
        *p++ = 0;
        *p++ = (uint8_t)i;
        json_t *e;
        json_array_foreach(leaves, k, e)
        {
            size_t dl;
            uint8_t *d = unhex(json_string_value(e), &dl);
            fuzz_hash2(p, 0x00, d, d ? dl : 0, NULL, 0);
            p += 32;
            free(d);
        }
        emit("merkle", in, (size_t)(p - in));
        count++;
    }
    const char *lists[2] = {"proofs", "invalid_proofs"};
    for (int l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(root, lists[l]), i, v)
        {
            json_t *pathj = json_object_get(v, "path_hex");
            size_t pl = json_array_size(pathj), k, dl, rl;
            if (pl > 64)
                continue;
            uint8_t *p = in;
            memset(p, 0, 6); /* no tree: only the free-form proof */
            p += 6;
            uint8_t *d = unhex(json_string_value(json_object_get(v, "leaf_hex")), &dl);
            fuzz_hash2(p, 0x00, d, d ? dl : 0, NULL, 0);
            free(d);
            p += 32;
            p = cairn_put_u64(p, (uint64_t)json_integer_value(json_object_get(v, "index")));
            p = cairn_put_u64(p, (uint64_t)json_integer_value(json_object_get(v, "tree_size")));
            *p++ = (uint8_t)pl;
            json_t *e;
            json_array_foreach(pathj, k, e)
            {
                uint8_t *h = unhex(json_string_value(e), &dl);
                memset(p, 0, 32);
                if (h)
                    memcpy(p, h, dl < 32 ? dl : 32);
                free(h);
                p += 32;
            }
            uint8_t *r = unhex(json_string_value(json_object_get(v, "root_hex")), &rl);
            memset(p, 0, 32);
            if (r)
                memcpy(p, r, rl < 32 ? rl : 32);
            free(r);
            p += 32;
            emit("merkle", in, (size_t)(p - in));
            count++;
        }
    }
    json_decref(root);
    fprintf(stderr, "%zu Merkle trees and proofs from %s\n", count, path);
}
#endif

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

static void regressions(void)
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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s seeds OUTDIR [VECTORS_DIR] | regressions OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[2];
    memset(ff32, 0xFF, sizeof(ff32));
    for (size_t i = 0; i < sizeof(sig64); i++)
        sig64[i] = (uint8_t)i;
    cairn_put_u32(hdr96, 1);
    manifest(manifest_entry, 100000, 16, "", 0);
    if (strcmp(argv[1], "regressions") == 0) {
        regressions();
    } else {
        all_messages(to_msg_corpus, NULL);
#ifdef HAVE_JANSSON
        all_messages(to_json_corpus, NULL);
        json_text_seeds();
#endif
        frame_seeds();
        session_seeds();
        block_seeds();
        merkle_seeds();
        manifest_seeds();
        chain_seeds();
#ifdef HAVE_JANSSON
        if (argc > 3) {
            vector_seeds(argv[3]);
            block_vector_seeds(argv[3]);
            merkle_vector_seeds(argv[3]);
        }
#endif
    }
    fprintf(stderr, "%zu files in %s\n", written, outdir);
    return 0;
}
