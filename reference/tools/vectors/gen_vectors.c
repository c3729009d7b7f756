/*
 * Generates the spec's test vectors from the reference implementation:
 *   spec/vectors/frames.json     valid frames of every type, invalid inputs
 *   spec/vectors/handshake.json  fixed keys and nonces, Hellos, transcript, Auth
 *   spec/example-session.md      an annotated session in hex (spec Appendix A)
 * Usage: gen_vectors SPEC_DIR. Output is deterministic.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cairn/files.h"
#include "cairn/json.h"
#include "cairn/merkle.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "gen_sessions.h"
#include "vec_pair.h"

/* devnet genesis (spec §9): header and its one entry. */
static const char *GENESIS_HEADER =
    "0000000100000000000000000000019b76daa8000000000c0000000000000718"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "69ab51458d65758df92fec96b24766488c0b1e286f511a6bb2f316bdc668b2d7";
static const char *GENESIS_ENTRY = "00436169726e206465766e65742067656e657369733a20657665727920626c"
                                   "6f636b207265737473206f6e20746865206f6e652062656c6f77";

static uint8_t pool[1 << 16];
static size_t pool_used;

/* Bytes from hex, kept for the life of the program. */
static ProtobufCBinaryData hexb(const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *p = pool + pool_used;
    if (pool_used + n > sizeof(pool) || cairn_hex_decode(p, n, hex))
        abort();
    pool_used += n;
    return (ProtobufCBinaryData){n, p};
}

static ProtobufCBinaryData fill(uint8_t byte, size_t n)
{
    uint8_t *p = pool + pool_used;
    if (pool_used + n > sizeof(pool))
        abort();
    memset(p, byte, n);
    pool_used += n;
    return (ProtobufCBinaryData){n, p};
}

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

static char *hex_of(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    cairn_hex_encode(s, p, n);
    return s;
}

static json_t *valid, *invalid;

static void add_valid(const char *name, const ProtobufCMessage *m)
{
    cairn_buf b;
    cairn_buf_init(&b, cairn_port_mem());
    int rv = cairn_msg_encode(m, &b);
    if (rv) {
        fprintf(stderr, "vector %s does not validate: %s\n", name, cairn_strerror(rv));
        exit(1);
    }
    char *h = hex_of(cairn_buf_data(&b), b.len);
    json_array_append_new(valid, json_pack("{s:s, s:s, s:s, s:o}", "name", name, "type",
                                           cairn_frame_type_name(cairn_msg_type_of(m)), "hex", h,
                                           "fields", cairn_json_from_msg(m)));
    free(h);
    cairn_buf_free(&b);
}

/* An invalid frame: header for `type` around payload `phex`. */
static void add_invalid(const char *name, uint16_t type, const char *phex, const char *error)
{
    size_t n = strlen(phex) / 2;
    uint8_t *f = malloc(8 + n);
    cairn_frame_header_encode(f, type, (uint32_t)n);
    cairn_hex_decode(f + 8, n, phex);
    char *h = hex_of(f, 8 + n);
    json_array_append_new(invalid,
                          json_pack("{s:s, s:s, s:s}", "name", name, "hex", h, "error", error));
    free(h);
    free(f);
}

/* An invalid input given as raw bytes (only a header, for header checks). */
static void add_invalid_raw(const char *name, const char *hex, const char *error)
{
    json_array_append_new(invalid,
                          json_pack("{s:s, s:s, s:s}", "name", name, "hex", hex, "error", error));
}

/* An invalid message: `m` packed without validation. */
static void add_invalid_msg(const char *name, const ProtobufCMessage *m, const char *error)
{
    uint8_t buf[8192];
    size_t n = protobuf_c_message_pack(m, buf);
    char *h = hex_of(buf, n);
    add_invalid(name, cairn_msg_type_of(m), h, error);
    free(h);
}

static Cairn__V1__Hello sample_hello(void)
{
    Cairn__V1__Hello h = CAIRN__V1__HELLO__INIT;
    h.version = 1;
    h.network_id = hexb(VEC_GENESIS_ID);
    h.node_key = hexb("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
    h.services =
        CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_FILES | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS;
    h.tip_id = hexb(VEC_GENESIS_ID);
    h.total_work = hexb("0000000000000000000000000000000000000000000000000000000000001000");
    h.max_frame_size = CAIRN_FRAME_MAX_MIN;
    h.nonce = 0x0123456789abcdefull;
    h.user_agent = text("cairnd/0.1.0");
    h.listen_port = CAIRN_DEFAULT_PORT;
    h.time_ms = 1767225600000ull;
    return h;
}

/* A 3-chunk file of 16 KiB chunks: 16384 + 16384 + 5 bytes. */
static void small_file(uint8_t manifest[48], size_t *mlen, uint8_t file_id[32], uint8_t l[3][32],
                       uint8_t n01[32])
{
    static uint8_t data[16384 * 2 + 5];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    uint8_t buf[1 + 16384];
    for (int c = 0; c < 3; c++) {
        size_t len = c < 2 ? 16384 : 5;
        buf[0] = 0x00;
        memcpy(buf + 1, data + (size_t)c * 16384, len);
        cairn_sha256(l[c], buf, 1 + len);
    }
    uint8_t node[65];
    node[0] = 0x01;
    memcpy(node + 1, l[0], 32);
    memcpy(node + 33, l[1], 32);
    cairn_sha256(n01, node, 65);
    memcpy(node + 1, n01, 32);
    memcpy(node + 33, l[2], 32);
    uint8_t root[32];
    cairn_sha256(root, node, 65);
    uint8_t *p = manifest;
    *p++ = 0x01;
    p = cairn_put_u64(p, sizeof(data));
    *p++ = 14;
    memcpy(p, root, 32);
    p += 32;
    *p++ = 5;
    memcpy(p, "a.bin", 5);
    *mlen = 48;
    cairn_sha256(file_id, manifest, 42);
}

/* Valid frames of every type, by family, in the order of frames.json. */
static void valid_session_frames(void)
{
    Cairn__V1__Hello h = sample_hello();
    add_valid("Hello, every field set", &h.base);
    Cairn__V1__Hello h2 = sample_hello();
    h2.services = 0;
    h2.user_agent = (ProtobufCBinaryData){0, NULL};
    h2.listen_port = 0;
    h2.version = 2; /* a later version: accepted, v1 is used */
    add_valid("Hello from a client: no services, no listener, version 2", &h2.base);

    Cairn__V1__Auth a = CAIRN__V1__AUTH__INIT;
    a.signature = fill(0x5a, 64);
    add_valid("Auth", &a.base);

    Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
    e.code = CAIRN__V1__ERROR_CODE__PROTOCOL_VIOLATION;
    e.message = text("frame header: BAD_MAGIC");
    add_valid("Error, fatal, for the session", &e.base);
    Cairn__V1__Error e2 = CAIRN__V1__ERROR__INIT;
    e2.code = CAIRN__V1__ERROR_CODE__BUSY;
    e2.request_id = 7;
    add_valid("Error BUSY answering request 7", &e2.base);
    Cairn__V1__Error e3 = CAIRN__V1__ERROR__INIT;
    e3.code = CAIRN__V1__ERROR_CODE__INVALID_BLOCK;
    e3.detail = 8;
    e3.message = text("BAD_POW");
    add_valid("Error INVALID_BLOCK with detail BAD_POW", &e3.base);
    Cairn__V1__Error e4 = CAIRN__V1__ERROR__INIT;
    e4.code = CAIRN__V1__ERROR_CODE__INVALID_ENTRY;
    e4.request_id = 3;
    e4.detail = 11;
    add_valid("Error INVALID_ENTRY answering SubmitEntry 3", &e4.base);

    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = 0xfedcba9876543210ull;
    add_valid("Ping", &ping.base);
    Cairn__V1__Ping ping0 = CAIRN__V1__PING__INIT;
    add_valid("Ping with nonce 0: empty payload", &ping0.base);
    Cairn__V1__Pong pong = CAIRN__V1__PONG__INIT;
    pong.nonce = 0xfedcba9876543210ull;
    add_valid("Pong", &pong.base);
    Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
    nf.request_id = 42;
    add_valid("NotFound", &nf.base);
}

static void valid_chain_frames(void)
{
    ProtobufCBinaryData loc[3] = {fill(0x33, 32), fill(0x22, 32), hexb(VEC_GENESIS_ID)};
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.request_id = 1;
    gh.n_locator = 1;
    gh.locator = &loc[2];
    add_valid("GetHeaders from genesis", &gh.base);
    Cairn__V1__GetHeaders gh2 = CAIRN__V1__GET_HEADERS__INIT;
    gh2.request_id = 2;
    gh2.n_locator = 3;
    gh2.locator = loc;
    gh2.stop_id = fill(0x44, 32);
    gh2.max_count = 2000;
    add_valid("GetHeaders with a locator, stop and max_count", &gh2.base);
    Cairn__V1__Headers hs = CAIRN__V1__HEADERS__INIT;
    hs.request_id = 2;
    add_valid("Headers, none: the end of the chain", &hs.base);
    ProtobufCBinaryData gen = hexb(GENESIS_HEADER);
    Cairn__V1__Headers hs2 = CAIRN__V1__HEADERS__INIT;
    hs2.request_id = 1;
    hs2.n_headers = 1;
    hs2.headers = &gen;
    add_valid("Headers with the devnet genesis header", &hs2.base);

    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.request_id = 3;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
    gb.block_id = hexb(VEC_GENESIS_ID);
    add_valid("GetBlock by ID", &gb.base);
    Cairn__V1__GetBlock gb0 = CAIRN__V1__GET_BLOCK__INIT;
    gb0.request_id = 4;
    gb0.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    add_valid("GetBlock by height 0: a oneof member with its default value", &gb0.base);
    Cairn__V1__GetBlock gb5 = CAIRN__V1__GET_BLOCK__INIT;
    gb5.request_id = 5;
    gb5.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    gb5.height = 5;
    add_valid("GetBlock by height 5", &gb5.base);
    ProtobufCBinaryData gen_entry = hexb(GENESIS_ENTRY);
    Cairn__V1__Block blk = CAIRN__V1__BLOCK__INIT;
    blk.request_id = 3;
    blk.header = gen;
    blk.n_entries = 1;
    blk.entries = &gen_entry;
    add_valid("Block: devnet genesis", &blk.base);
    Cairn__V1__Announce an = CAIRN__V1__ANNOUNCE__INIT;
    an.header = gen;
    add_valid("Announce", &an.base);
}

static void valid_entry_and_file_frames(void)
{
    uint8_t manifest[48], file_id[32], l[3][32], n01[32];
    size_t mlen;
    small_file(manifest, &mlen, file_id, l, n01);
    Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
    se.request_id = 9;
    se.entry = hexb("0068656c6c6f2c20636169726e"); /* 0x00 "hello, cairn" */
    add_valid("SubmitEntry, a data record", &se.base);
    Cairn__V1__SubmitEntry se2 = CAIRN__V1__SUBMIT_ENTRY__INIT;
    se2.request_id = 10;
    se2.entry = (ProtobufCBinaryData){mlen, manifest};
    add_valid("SubmitEntry, a file manifest", &se2.base);
    Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
    ack.request_id = 9;
    uint8_t eid[32], leaf[14];
    leaf[0] = 0x00;
    memcpy(leaf + 1, se.entry.data, se.entry.len);
    cairn_sha256(eid, leaf, 1 + se.entry.len);
    ack.entry_id = (ProtobufCBinaryData){32, eid};
    add_valid("EntryAck with the entry's leaf hash", &ack.base);
    ProtobufCBinaryData two[2] = {se.entry, se2.entry};
    Cairn__V1__Entries ents = CAIRN__V1__ENTRIES__INIT;
    ents.n_entries = 2;
    ents.entries = two;
    add_valid("Entries relayed", &ents.base);

    Cairn__V1__GetManifest gm = CAIRN__V1__GET_MANIFEST__INIT;
    gm.request_id = 11;
    gm.file_id = (ProtobufCBinaryData){32, file_id};
    add_valid("GetManifest", &gm.base);
    Cairn__V1__Manifest man = CAIRN__V1__MANIFEST__INIT;
    man.request_id = 11;
    man.manifest = (ProtobufCBinaryData){mlen, manifest};
    add_valid("Manifest from a complete seeder", &man.base);
    Cairn__V1__ChunkRange r0 = CAIRN__V1__CHUNK_RANGE__INIT, r1 = CAIRN__V1__CHUNK_RANGE__INIT;
    r0.start = 0;
    r0.end = 1;
    r1.start = 2;
    r1.end = 3;
    Cairn__V1__ChunkRange *rs[2] = {&r0, &r1};
    Cairn__V1__Manifest man2 = man;
    man2.n_have = 2;
    man2.have = rs;
    add_valid("Manifest from a partial seeder: chunks 0 and 2", &man2.base);
    Cairn__V1__GetChunk gc = CAIRN__V1__GET_CHUNK__INIT;
    gc.request_id = 12;
    gc.file_id = (ProtobufCBinaryData){32, file_id};
    add_valid("GetChunk index 0", &gc.base);
    Cairn__V1__GetChunk gc2 = gc;
    gc2.request_id = 13;
    gc2.index = 2;
    add_valid("GetChunk index 2", &gc2.base);
    Cairn__V1__Chunk ch = CAIRN__V1__CHUNK__INIT;
    ch.request_id = 13;
    ch.index = 2;
    uint8_t last[5];
    for (int i = 0; i < 5; i++)
        last[i] = (uint8_t)((32768 + i) * 7 + 3);
    ch.data = (ProtobufCBinaryData){5, last};
    ProtobufCBinaryData proof = {32, n01};
    ch.n_proof = 1;
    ch.proof = &proof;
    add_valid("Chunk 2 of 3 with its audit path", &ch.base);
}

static void valid_peer_frames(void)
{
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    gp.request_id = 14;
    add_valid("GetPeers", &gp.base);
    Cairn__V1__Peers ps = CAIRN__V1__PEERS__INIT;
    ps.request_id = 14;
    add_valid("Peers, none known", &ps.base);
    Cairn__V1__PeerAddress pa4 = CAIRN__V1__PEER_ADDRESS__INIT, pa6 = CAIRN__V1__PEER_ADDRESS__INIT;
    pa4.ip = hexb("7f000002");
    pa4.port = 7317;
    pa4.services = CAIRN_SERVICE_CHAIN;
    pa4.last_seen_ms = 1767225600000ull;
    pa6.ip = hexb("00000000000000000000000000000001");
    pa6.port = 7318;
    Cairn__V1__PeerAddress *pas[2] = {&pa4, &pa6};
    Cairn__V1__Peers ps2 = CAIRN__V1__PEERS__INIT;
    ps2.request_id = 15;
    ps2.n_peers = 2;
    ps2.peers = pas;
    add_valid("Peers: one IPv4, one IPv6 address", &ps2.base);
    Cairn__V1__PeerAddress pa_id = pa4; /* [ADDR-7] the node ID known at the address */
    pa_id.node_id = fill(0x1d, 32);
    Cairn__V1__PeerAddress *pas_id[1] = {&pa_id};
    Cairn__V1__Peers ps3 = CAIRN__V1__PEERS__INIT;
    ps3.request_id = 16;
    ps3.n_peers = 1;
    ps3.peers = pas_id;
    add_valid("Peers: an IPv4 address with its node ID", &ps3.base);
}

static void valid_frames(void)
{
    valid_session_frames();
    valid_chain_frames();
    valid_entry_and_file_frames();
    valid_peer_frames();
}

static void invalid_frames(void)
{
    /* header checks, in order (spec §4) */
    add_invalid_raw("bad magic: an HTTP request", "474554202f20485454502f312e310d0a", "BAD_MAGIC");
    add_invalid_raw("bad magic: second byte", "ca1f000400000000", "BAD_MAGIC");
    add_invalid_raw("bad magic wins over a bad type and length", "00000000ffffffff", "BAD_MAGIC");
    add_invalid_raw("unknown critical type 0x0000", "ca1e000000000000", "UNKNOWN_TYPE");
    add_invalid_raw("unknown critical type 0x0007", "ca1e000700000000", "UNKNOWN_TYPE");
    add_invalid_raw("unknown critical type 0x7fff, before its length", "ca1e7fffffffffff",
                    "UNKNOWN_TYPE");
    add_invalid_raw("Ping over its 32-byte cap", "ca1e000400000021", "FRAME_TOO_LARGE");
    add_invalid_raw("Block over its cap", "ca1e001300210001", "FRAME_TOO_LARGE");
    add_invalid_raw("length over the 16 MiB hard maximum", "ca1e002301000001", "FRAME_TOO_LARGE");
    add_invalid_raw("ignorable type over the announced 4 MiB maximum", "ca1e800000400001",
                    "FRAME_TOO_LARGE");
    /* payloads that are not protobuf */
    add_invalid("truncated varint", CAIRN_T_PING, "0880", "MALFORMED");
    add_invalid("varint of 11 bytes", CAIRN_T_PING, "08ffffffffffffffffffff01", "MALFORMED");
    add_invalid("truncated length-delimited field", CAIRN_T_AUTH, "0a40aabbccdd", "MALFORMED");
    add_invalid("tag 0 through a non-minimal key", CAIRN_T_PING, "800000", "MALFORMED");
    add_invalid("field number 2^29, above the maximum", CAIRN_T_PING, "808080801000", "MALFORMED");
    add_invalid("wire type of a known field is wrong", CAIRN_T_PING, "0a0101", "MALFORMED");
    add_invalid("group wire type", CAIRN_T_PING, "0b0c", "MALFORMED");
    add_invalid("reserved wire type 6", CAIRN_T_PING, "0e", "MALFORMED");
    /* valid protobuf, not canonical */
    add_invalid("non-minimal key", CAIRN_T_PING, "880007", "NON_CANONICAL");
    add_invalid("non-minimal varint value", CAIRN_T_PING, "088700", "NON_CANONICAL");
    add_invalid("field with its default value", CAIRN_T_PING, "0800", "NON_CANONICAL");
    add_invalid("singular field twice (parsers merge this differently)", CAIRN_T_PING, "08010802",
                "NON_CANONICAL");
    add_invalid("fields out of order", CAIRN_T_GET_CHUNK,
                "08011805"
                "12200000000000000000000000000000000000000000000000000000000000000000",
                "NON_CANONICAL");
    add_invalid("both members of a oneof", CAIRN_T_GET_BLOCK,
                "0801"
                "12200000000000000000000000000000000000000000000000000000000000000000"
                "1801",
                "NON_CANONICAL");
    /* semantic rules */
    add_invalid("unknown field number 2^29-1", CAIRN_T_PING, "f8ffffff0f01", "INVALID_FIELD");
    add_invalid("unknown field inside a PeerAddress", CAIRN_T_PEERS,
                "0801120c0a047f00000110e539320108", "INVALID_FIELD");
    add_invalid("PeerAddress node_id of 1 byte (ADDR-2)", CAIRN_T_PEERS,
                "0801120c0a047f00000110e5392a0108", "INVALID_FIELD");
    add_invalid("request_id 0 on a request", CAIRN_T_GET_PEERS, "", "INVALID_FIELD");
    add_invalid("Error with code 0", CAIRN_T_ERROR, "120141", "INVALID_FIELD");
    add_invalid("Peers address with port 0", CAIRN_T_PEERS, "080112060a047f000001",
                "INVALID_FIELD");
    add_invalid("Entries with no entry", CAIRN_T_ENTRIES, "", "INVALID_FIELD");

    Cairn__V1__Auth a = CAIRN__V1__AUTH__INIT;
    a.signature = fill(0x5a, 63);
    add_invalid_msg("Auth signature of 63 bytes", &a.base, "INVALID_FIELD");
    Cairn__V1__Hello h = sample_hello();
    h.node_key.len = 31;
    add_invalid_msg("Hello node_key of 31 bytes", &h.base, "INVALID_FIELD");
    h = sample_hello();
    h.user_agent = (ProtobufCBinaryData){7, (uint8_t *)"cairn\0x"};
    add_invalid_msg("Hello user_agent with a NUL byte", &h.base, "INVALID_FIELD");
    h = sample_hello();
    h.max_frame_size = CAIRN_FRAME_MAX_MIN - 1;
    add_invalid_msg("Hello max_frame_size below 4 MiB", &h.base, "INVALID_FIELD");

    ProtobufCBinaryData bad = fill(0x11, 33);
    Cairn__V1__GetHeaders gh = CAIRN__V1__GET_HEADERS__INIT;
    gh.request_id = 1;
    gh.n_locator = 1;
    gh.locator = &bad;
    add_invalid_msg("GetHeaders locator entry of 33 bytes", &gh.base, "INVALID_FIELD");
    ProtobufCBinaryData short_hdr = fill(0x11, 95);
    Cairn__V1__Headers hs = CAIRN__V1__HEADERS__INIT;
    hs.request_id = 1;
    hs.n_headers = 1;
    hs.headers = &short_hdr;
    add_invalid_msg("Headers with a 95-byte header", &hs.base, "INVALID_FIELD");

    /* amplification: 17 entries in Entries, refused before unpacking */
    ProtobufCBinaryData seventeen[17];
    for (int i = 0; i < 17; i++)
        seventeen[i] = hexb("00");
    Cairn__V1__Entries ents = CAIRN__V1__ENTRIES__INIT;
    ents.n_entries = 17;
    ents.entries = seventeen;
    add_invalid_msg("Entries with 17 entries (cap 16)", &ents.base, "INVALID_FIELD");

    /* [ENC-23] unknown fields: INVALID_FIELD however written (spec §5.3) */
    add_invalid("unknown field twice: INVALID_FIELD, not NON_CANONICAL", CAIRN_T_PING, "10011002",
                "INVALID_FIELD");
    add_invalid("unknown field with a non-minimal value", CAIRN_T_PING, "108100", "INVALID_FIELD");
    add_invalid("unknown field with a non-minimal key", CAIRN_T_PING, "900001", "INVALID_FIELD");
    add_invalid("unknown field with a non-minimal length", CAIRN_T_PING, "12810041",
                "INVALID_FIELD");
    add_invalid("unknown field before a known one", CAIRN_T_GET_PEERS, "10050801", "INVALID_FIELD");
    add_invalid("known field with its default value outranks an unknown field (ENC-4)",
                CAIRN_T_PING, "08001001", "NON_CANONICAL");
    /* [ENC-32] one code per input: the first row of the table of spec §5.9 */
    add_invalid("non-fatal Error with request_id 0: INVALID_FIELD (REQ-1), not UNKNOWN_REQUEST",
                CAIRN_T_ERROR, "0815", "INVALID_FIELD");
    add_invalid("NotFound with request_id 0: INVALID_FIELD before any matching", CAIRN_T_NOT_FOUND,
                "", "INVALID_FIELD");
    Cairn__V1__Error longe = CAIRN__V1__ERROR__INIT;
    longe.code = CAIRN__V1__ERROR_CODE__SHUTDOWN;
    longe.message = fill(0x78, 257);
    add_invalid_msg("fatal Error with a 257-byte message: INVALID_FIELD (ERR-11), not a received "
                    "fatal Error (CLOSE-5)",
                    &longe.base, "INVALID_FIELD");
    ProtobufCBinaryData gen = hexb(GENESIS_HEADER), empty = {0, NULL};
    Cairn__V1__Block blk = CAIRN__V1__BLOCK__INIT;
    blk.request_id = 1;
    blk.header = gen;
    blk.n_entries = 1;
    blk.entries = &empty;
    add_invalid_msg("Block with an empty entry and no request: INVALID_FIELD (BLK-14, step 3), "
                    "not UNKNOWN_REQUEST or BAD_ENTRY",
                    &blk.base, "INVALID_FIELD");
    /* steps 4 and 5: these decode; a READY session with no request outstanding reads them */
    add_invalid("non-fatal Error for request 9, none outstanding", CAIRN_T_ERROR, "08151809",
                "UNKNOWN_REQUEST");
    ProtobufCBinaryData kind5 = hexb("05"), twice[2] = {hexb("00"), hexb("00")};
    blk.entries = &kind5;
    add_invalid_msg("Block with an entry of unknown kind and no request: UNKNOWN_REQUEST (the kind "
                    "is a chain rule, step 5)",
                    &blk.base, "UNKNOWN_REQUEST");
    blk.n_entries = 2;
    blk.entries = twice;
    add_invalid_msg("Block with the same entry twice and no request: UNKNOWN_REQUEST "
                    "(DUPLICATE_ENTRY is step 5)",
                    &blk.base, "UNKNOWN_REQUEST");
}

/* ---- handshake vectors and the example session --------------------------- */

typedef struct recorder {
    FILE *md;
    const char *who;
} recorder;

static int frame_no; /* frames of both sides, numbered in the order they were sent */

static size_t varint_at(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    size_t n = 0;
    *v = 0;
    while (p + n < end && n < 10) {
        *v |= (uint64_t)(p[n] & 0x7f) << (7 * n);
        if (!(p[n++] & 0x80))
            return n;
    }
    return 0;
}

static void hex_run(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

/*
 * One line per field: the key and length bytes, the value bytes, the field
 * and its meaning. Values longer than 32 bytes continue on further lines.
 */
static void annotate(FILE *f, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                     const uint8_t *end, int indent)
{
    while (p < end) {
        uint64_t key, v = 0;
        size_t kn = varint_at(p, end, &key);
        if (!kn)
            return;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        const char *name = fd ? fd->name : "?";
        const uint8_t *val = p + kn;
        size_t vn = 0, ln = 0;
        if ((key & 7) == 0) {
            vn = varint_at(val, end, &v);
        } else if ((key & 7) == 2) {
            ln = varint_at(val, end, &v);
            val += ln;
            vn = (size_t)v;
        } else {
            return; /* no fixed-width fields in the Cairn schema */
        }
        fprintf(f, "%*s", indent, "");
        hex_run(f, p, kn + ln);
        fprintf(f, " ");
        if ((key & 7) == 0) {
            hex_run(f, val, vn);
            const char *ename = NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_ENUM) {
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
                    (const ProtobufCEnumDescriptor *)fd->descriptor, (int)v);
                ename = ev ? ev->name : NULL;
            }
            fprintf(f, "%*s  field %u %s = %llu%s%s\n",
                    (int)(24 - 2 * (kn + vn)) > 0 ? (int)(24 - 2 * (kn + vn)) : 0, "",
                    (unsigned)(key >> 3), name, (unsigned long long)v, ename ? " " : "",
                    ename ? ename : "");
        } else if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            fprintf(f, "%*s  field %u %s: a %zu-byte %s\n",
                    (int)(24 - 2 * (kn + ln)) > 0 ? (int)(24 - 2 * (kn + ln)) : 0, "",
                    (unsigned)(key >> 3), name, vn,
                    ((const ProtobufCMessageDescriptor *)fd->descriptor)->short_name);
            annotate(f, fd->descriptor, val, val + vn, indent + 4);
        } else {
            size_t first = vn < 32 ? vn : 32;
            hex_run(f, val, first);
            int pad = 24 - (int)(2 * (kn + ln + first));
            fprintf(f, "%*s  field %u %s, %zu bytes", pad > 0 ? pad : 0, "", (unsigned)(key >> 3),
                    name, vn);
            int printable = vn > 0;
            for (size_t i = 0; i < vn; i++)
                printable &= val[i] >= 0x20 && val[i] < 0x7f;
            if (printable)
                fprintf(f, ": \"%.*s\"", (int)vn, (const char *)val);
            fprintf(f, "\n");
            for (size_t off = first; off < vn; off += 32) {
                fprintf(f, "%*s", indent + 2 * (int)(kn + ln) + 1, "");
                hex_run(f, val + off, vn - off < 32 ? vn - off : 32);
                fprintf(f, "\n");
            }
        }
        p = val + vn;
    }
}

static void log_frame(cairn_session *s, int outbound, uint16_t type, const uint8_t *payload,
                      size_t len, void *ud)
{
    (void)s;
    recorder *r = ud;
    if (!outbound || !r->md)
        return;
    uint8_t hdr[8];
    cairn_frame_header_encode(hdr, type, (uint32_t)len);
    char *hh = hex_of(hdr, 8), *ph = hex_of(payload, len);
    fprintf(r->md, "### %d. %s sends %s (%zu-byte payload)\n\n", ++frame_no, r->who,
            cairn_frame_type_name(type), len);
    fprintf(r->md, "```\n%s", hh);
    for (size_t i = 0; i < 2 * len; i += 64)
        fprintf(r->md, "\n%.64s", ph + i);
    fprintf(r->md, "\n```\n\n");
    fprintf(r->md, "Field by field:\n\n```\n");
    fprintf(r->md, "ca1e %04x %08zx%*s  header: magic, type %s, payload length %zu\n", type, len, 7,
            "", cairn_frame_type_name(type), len);
    annotate(r->md, cairn_msg_descriptor(type), payload, payload + len, 0);
    fprintf(r->md, "```\n\n");
    ProtobufCMessage *m;
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, cairn_port_mem());
    if (cairn_msg_decode_unchecked(&d, type, payload, len, &m) == 0) {
        json_t *j = cairn_json_from_msg(m);
        char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fprintf(r->md, "Payload in the proto3 JSON mapping:\n\n```json\n%s\n```\n\n", txt);
        free(txt);
        json_decref(j);
    }
    cairn_msg_decoder_free(&d);
    free(hh);
    free(ph);
}

uint64_t vec_fixed_mono(void *ud)
{
    (void)ud;
    return 1000;
}

uint64_t vec_fixed_wall(void *ud)
{
    (void)ud;
    return 1767225600000ull;
}

int vec_counter_random(uint8_t *buf, size_t len, void *ud)
{
    uint8_t *c = ud;
    for (size_t i = 0; i < len; i++)
        buf[i] = (*c)++;
    return 0;
}

static void respond(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)ud;
    if (type != CAIRN_T_GET_BLOCK)
        return;
    Cairn__V1__Block b = CAIRN__V1__BLOCK__INIT;
    b.request_id = ((const Cairn__V1__GetBlock *)m)->request_id;
    ProtobufCBinaryData entry = hexb(GENESIS_ENTRY);
    b.header = hexb(GENESIS_HEADER);
    b.n_entries = 1;
    b.entries = &entry;
    cairn_session_respond(s, &b.base);
}

static void move(cairn_session *from, cairn_session *to)
{
    const uint8_t *data;
    size_t n = cairn_session_pending(from, &data);
    long used = cairn_session_recv(to, data, n);
    if (used != (long)n) {
        fprintf(stderr, "example session failed\n");
        exit(1);
    }
    cairn_session_sent(from, n);
}

/* Runs a handshake between fixed identities; fills the JSON vector and, when
 * md is given, writes the annotated session. */
static json_t *handshake(const char *name, const uint8_t *binding, size_t blen, FILE *md)
{
    uint8_t rnd = 0;
    cairn_identity *ii, *ir;
    cairn_session_config ci, cr;
    if (vec_pair_config(&ci, &cr, &ii, &ir, binding, blen))
        exit(1);
    cairn_env env = {cairn_port_mem(), vec_fixed_mono, vec_fixed_wall, vec_counter_random, &rnd};
    recorder ri = {md, "Initiator"}, rr = {md, "Responder"};
    cairn_session_callbacks cbi = {0}, cbr = {0};
    cbi.on_frame = cbr.on_frame = log_frame;
    cbr.on_message = respond;
    cairn_session *si, *sr;
    if (cairn_session_new(&si, &ci, &cbi, &ri, &env) ||
        cairn_session_new(&sr, &cr, &cbr, &rr, &env))
        exit(1);
    /* both Hellos were queued at creation; a shared counter keeps the
     * numbering in wire order from here on */
    const uint8_t *hi, *hr;
    size_t li = cairn_session_pending(si, &hi) - 8, lr = cairn_session_pending(sr, &hr) - 8;
    char *hih = hex_of(hi + 8, li), *hrh = hex_of(hr + 8, lr);
    uint8_t th[32];
    cairn_transcript_hash(th, hi + 8, li, hr + 8, lr, binding, blen);
    move(si, sr); /* Hello I -> R; R answers with Auth */
    move(sr, si); /* Hello R + Auth R -> I; I sends Auth */
    move(si, sr); /* Auth I -> R: both READY */
    if (cairn_session_state(si) != CAIRN_SS_READY || cairn_session_state(sr) != CAIRN_SS_READY)
        exit(1);
    if (md) {
        cairn_session_ping(si, NULL);
        move(si, sr);
        move(sr, si);
        Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        cairn_session_request(si, &gb.base, NULL);
        move(si, sr);
        move(sr, si);
        cairn_session_close(si, CAIRN_E_SHUTDOWN, "done");
        move(si, sr);
    }
    uint8_t in_i[45], in_r[45], sig_i[64], sig_r[64], id_i[32], id_r[32];
    cairn_auth_input(in_i, 1, th);
    cairn_auth_input(in_r, 0, th);
    cairn_identity_sign(ii, sig_i, in_i, 45);
    cairn_identity_sign(ir, sig_r, in_r, 45);
    cairn_identity_node_id(ii, id_i);
    cairn_identity_node_id(ir, id_r);
    char *s[10] = {hex_of(vec_seed_i, 32),
                   hex_of(cairn_identity_public(ii), 32),
                   hex_of(id_i, 32),
                   hex_of(vec_seed_r, 32),
                   hex_of(cairn_identity_public(ir), 32),
                   hex_of(id_r, 32),
                   hex_of(th, 32),
                   hex_of(in_i, 45),
                   hex_of(sig_i, 64),
                   hex_of(sig_r, 64)};
    char *bh = hex_of(binding ? binding : (const uint8_t *)"", blen), *inr = hex_of(in_r, 45);
    json_t *v = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s}",
        "name", name, "binding_hex", bh, "initiator", "seed_hex", s[0], "public_key_hex", s[1],
        "node_id_hex", s[2], "hello_payload_hex", hih, "auth_signature_hex", s[8], "responder",
        "seed_hex", s[3], "public_key_hex", s[4], "node_id_hex", s[5], "hello_payload_hex", hrh,
        "auth_signature_hex", s[9], "transcript_hash_hex", s[6], "initiator_auth_input_hex", s[7],
        "responder_auth_input_hex", inr);
    for (int i = 0; i < 10; i++)
        free(s[i]);
    free(bh);
    free(inr);
    free(hih);
    free(hrh);
    cairn_session_del(si);
    cairn_session_del(sr);
    cairn_identity_del(ii);
    cairn_identity_del(ir);
    return v;
}

/* ---- files: chunking, manifests, file IDs, chunk proofs (spec §11) -------- */

/* Byte i of the deterministic test content. */
static uint8_t content_byte(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

static json_t *file_vector(const char *name, uint64_t size, unsigned log2, const char *fname,
                           int all_proofs)
{
    uint64_t cs = (uint64_t)1 << log2, n = (size + cs - 1) / cs;
    uint8_t(*leaves)[CAIRN_HASH_LEN] = malloc((n ? n : 1) * CAIRN_HASH_LEN);
    uint8_t *chunk = malloc(cs + 1);
    for (uint64_t c = 0; c < n; c++) {
        uint64_t len = c + 1 < n ? cs : size - c * cs;
        for (uint64_t i = 0; i < len; i++)
            chunk[i] = content_byte(c * cs + i);
        cairn_merkle_leaf_hash(NULL, leaves[c], chunk, len);
    }
    uint8_t root[CAIRN_HASH_LEN], manifest[CAIRN_MANIFEST_MAX_LEN], id[CAIRN_HASH_LEN];
    cairn_merkle_root(NULL, root, (const uint8_t(*)[CAIRN_HASH_LEN])leaves, n);
    int mlen =
        cairn_manifest_build(manifest, size, log2, root, (const uint8_t *)fname, strlen(fname));
    if (mlen < 0)
        exit(1);
    cairn_file_id(NULL, id, manifest, (size_t)mlen);
    char *rh = hex_of(root, 32), *mh = hex_of(manifest, (size_t)mlen), *ih = hex_of(id, 32);
    json_t *chunks = json_array();
    for (uint64_t c = 0; c < n; c++) {
        if (!all_proofs && c != 0 && c != n - 1 && c != n / 2)
            continue;
        uint8_t path[64][CAIRN_HASH_LEN];
        size_t plen;
        cairn_merkle_proof(NULL, (const uint8_t(*)[CAIRN_HASH_LEN])leaves, n, c, path, 64, &plen);
        json_t *pj = json_array();
        for (size_t k = 0; k < plen; k++) {
            char *h = hex_of(path[k], 32);
            json_array_append_new(pj, json_string(h));
            free(h);
        }
        char *lh = hex_of(leaves[c], 32);
        uint64_t len = c + 1 < n ? cs : size - c * cs;
        json_array_append_new(chunks,
                              json_pack("{s:I, s:I, s:s, s:o}", "index", (json_int_t)c, "length",
                                        (json_int_t)len, "leaf_hash_hex", lh, "proof_hex", pj));
        free(lh);
    }
    json_t *v = json_pack("{s:s, s:I, s:i, s:I, s:s, s:s, s:s, s:s, s:o}", "name", name, "size",
                          (json_int_t)size, "chunk_log2", (int)log2, "chunks", (json_int_t)n,
                          "file_name", fname, "root_hex", rh, "manifest_hex", mh, "file_id_hex", ih,
                          "chunk_proofs", chunks);
    free(rh);
    free(mh);
    free(ih);
    free(leaves);
    free(chunk);
    return v;
}

static json_t *files_vectors(void)
{
    const uint64_t cs = 16384;
    json_t *a = json_array();
    json_array_append_new(
        a, file_vector("empty file: no chunk, root = SHA-256(\"\")", 0, 14, "empty", 1));
    json_array_append_new(a, file_vector("one byte", 1, 14, "one.bin", 1));
    json_array_append_new(a, file_vector("chunk size - 1", cs - 1, 14, "a.bin", 1));
    json_array_append_new(a, file_vector("exactly one chunk", cs, 14, "b.bin", 1));
    json_array_append_new(
        a, file_vector("chunk size + 1: a one-byte last chunk", cs + 1, 14, "c.bin", 1));
    json_array_append_new(a, file_vector("three chunks, short last", 2 * cs + 5, 14, "d.bin", 1));
    json_array_append_new(
        a, file_vector("seven chunks: an unbalanced tree", 6 * cs + 100, 14, "e.bin", 1));
    json_array_append_new(a, file_vector("64 KiB chunks, 9 chunks", 8 * 65536 + 3, 16, "f.bin", 1));
    json_array_append_new(a, file_vector("no name", 100, 14, "", 1));
    return a;
}

static int write_json(const char *dir, const char *file, json_t *j)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/vectors/%s", dir, file);
    int rv = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (rv)
        fprintf(stderr, "cannot write %s\n", path);
    return rv;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_vectors SPEC_DIR\n");
        return 2;
    }
    valid = json_array();
    invalid = json_array();
    valid_frames();
    invalid_frames();
    json_t *frames = json_pack(
        "{s:s, s:s, s:o, s:o}", "description",
        "Cairn v1 frames (spec §4, §5). valid: a whole frame, its message type and its payload in "
        "the proto3 JSON mapping; decoding hex gives fields and encoding fields gives hex. "
        "invalid: bytes a receiver reads as the first frame of a READY session with no request "
        "outstanding (or, for Hello and Auth, in the state where they are legal); it closes with "
        "error, the one code the table of spec §5.9 gives.",
        "generator", "reference/tools/vectors/gen_vectors.c", "valid", valid, "invalid", invalid);
    int rv = write_json(argv[1], "frames.json", frames);
    json_decref(frames);

    char path[4096];
    snprintf(path, sizeof(path), "%s/example-session.md", argv[1]);
    FILE *md = fopen(path, "w");
    if (!md)
        return 1;
    fprintf(md,
            "# Appendix A: an example session, annotated\n\n"
            "Generated by `reference/tools/vectors/gen_vectors.c` from the reference "
            "implementation; do not edit. A plaintext session on devnet (no channel binding) "
            "between an initiator (a client, key seed `11`×32) and a responder (a node, key "
            "seed `22`×32), with fixed Hello nonces and clock. The handshake part is the first "
            "vector of `vectors/handshake.json`.\n\n"
            "Both Hellos are sent at once; the responder answers the initiator's Hello with its "
            "Auth, the initiator sends its Auth on reading the responder's Hello. Then one Ping "
            "round trip, a GetBlock for height 0 answered with the genesis block, and a "
            "SHUTDOWN Error from the initiator, after which it closes the connection.\n\n");
    json_t *hs = json_array();
    json_array_append_new(hs, handshake("plaintext, no channel binding", NULL, 0, md));
    fclose(md);
    uint8_t binding[32];
    for (int i = 0; i < 32; i++)
        binding[i] = (uint8_t)(0xa0 + i);
    json_array_append_new(hs, handshake("TLS: 32-byte exporter value", binding, 32, NULL));
    json_t *hsv = json_pack(
        "{s:s, s:s, s:o}", "description",
        "Cairn v1 handshakes (spec §6) between fixed identities (Ed25519 seeds), fixed Hello "
        "nonces (0x1111111111111111, 0x2222222222222222) and clock (1767225600000). "
        "transcript_hash = SHA-256(\"cairn/1 transcript\" || u32 len || initiator Hello || u32 "
        "len || responder Hello || u32 len || binding); auth input = \"cairn/1 auth\" || 'I' or "
        "'R' || transcript_hash; signatures are Ed25519 over the auth input.",
        "generator", "reference/tools/vectors/gen_vectors.c", "vectors", hs);
    rv |= write_json(argv[1], "handshake.json", hsv);
    json_decref(hsv);
    json_t *fv = json_pack(
        "{s:s, s:s, s:s, s:o}", "description",
        "Cairn v1 files (spec §11). Content byte i of every file is (i*131 + (i>>8)*7 + 1) mod "
        "256. Chunk c is bytes [c*2^chunk_log2, min((c+1)*2^chunk_log2, size)); leaf = "
        "SHA-256(0x00 || chunk); root = RFC 6962 MTH of the leaves (SHA-256 of nothing for 0 "
        "chunks); manifest = 0x01 || size u64 || chunk_log2 u8 || root || name_len u8 || name; "
        "file_id = SHA-256 of the first 42 manifest bytes; proof = RFC 6962 audit path, leaf "
        "upward.",
        "generator", "reference/tools/vectors/gen_vectors.c", "content",
        "byte i = (i*131 + (i>>8)*7 + 1) mod 256", "vectors", files_vectors());
    rv |= write_json(argv[1], "files.json", fv);
    json_decref(fv);
    json_t *sv = json_pack(
        "{s:s, s:s, s:o}", "description",
        "Cairn v1 session traces (spec §5.9, §7.2, §8.4): two sessions of the reference in "
        "plaintext mode (no channel binding), the initiator with key seed 11x32 and Hello nonce "
        "0x1111111111111111, the responder with seed 22x32 and nonce 0x2222222222222222, clock "
        "1767225600000. frames: every frame in the order it crossed the wire, whole (header and "
        "payload, hex), with the side that sent it; crafted frames break a rule on purpose. "
        "expect: the side that closes with a fatal Error and its code; the other side closes "
        "without replying. expected_node_id (where present): the node ID a side dialled and "
        "expects its peer to prove (ADDR-3).",
        "generator", "reference/tools/vectors/gen_sessions.c", "traces", session_traces());
    rv |= write_json(argv[1], "sessions.json", sv);
    json_decref(sv);
    return rv ? 1 : 0;
}
