/*
 * The message types of Cairn v1 (spec §4.3, §15.1): one row per type in
 * CAIRN_MSG_TABLE, and the frame header every message travels in.
 *
 * The table is the only place a type's facts are written. Each layer expands
 * the columns it needs: the frame registry (the enum below, the payload caps
 * and names of codec/frame.c), the message layer (descriptor, kind,
 * permitted answers and validator in msg/msg.c) and the session's legality
 * check (permitted states in session/session.c). Adding a message type is one
 * row here plus its handler; ARCHITECTURE.md walks through the whole path
 * (spec -> proto -> row -> handler -> vectors -> cases -> fuzz seeds).
 *
 *   0      1      2      3      4      5      6      7
 *   +------+------+------+------+------+------+------+------+---------
 *   | 0xCA | 0x1E |    type     |           length          | payload
 *   +------+------+------+------+------+------+------+------+---------
 */
#ifndef CAIRN_MSGTYPES_H
#define CAIRN_MSGTYPES_H

#include "cairn/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_FRAME_HEADER_LEN 8
#define CAIRN_MAGIC_0          0xCA
#define CAIRN_MAGIC_1          0x1E
/* [FRM-9] hard maximum payload length, whatever a peer announces. */
#define CAIRN_FRAME_MAX_HARD (16u * 1024 * 1024)
/* [FRM-14] Hello.max_frame_size must lie in [MIN, HARD]. */
#define CAIRN_FRAME_MAX_MIN (4u * 1024 * 1024)
/* First type of the ignorable extension range. */
#define CAIRN_TYPE_EXT_FIRST 0x8000u

/* What role a message type plays (spec §15.1). */
enum cairn_msg_kind {
    CAIRN_KIND_HANDSHAKE = 1, /* Hello, Auth */
    CAIRN_KIND_CONTROL,       /* Error, Ping, Pong */
    CAIRN_KIND_REQUEST,
    CAIRN_KIND_RESPONSE,
    CAIRN_KIND_NOTIFY, /* Announce, Entries */
};

/* Session states in which a peer may send a type (the STATES column). */
#define CAIRN_IN_HELLO (1u << 0) /* we await the peer's Hello */
#define CAIRN_IN_AUTH  (1u << 1) /* we await the peer's Auth */
#define CAIRN_IN_READY (1u << 2) /* handshake complete */
#define CAIRN_IN_ANY   (CAIRN_IN_HELLO | CAIRN_IN_AUTH | CAIRN_IN_READY)

/* The ANSWERS column: a mask of the response types that may answer a
 * request (Error answers any request and is not listed). */
#define CAIRN_ANS(NAME) (UINT64_C(1) << CAIRN_T_##NAME)
#define CAIRN_ANS_NONE  UINT64_C(0)

/*
 * X(ID, NAME, Name, CAP, KIND, DESC, STATES, ANSWERS, VALIDATE), one row per
 * type, every ID below 0x40:
 *   ID        the type on the wire (spec §15.1)
 *   NAME      enum suffix: CAIRN_T_NAME
 *   Name      the registry name, also the protobuf message name
 *   CAP       [FRM-11] payload cap in bytes (spec §4.3)
 *   KIND      CAIRN_KIND_KIND
 *   DESC      protobuf-c descriptor: cairn__v1__DESC__descriptor
 *   STATES    CAIRN_IN_* in which a peer may send it ([HS-39], [FRM-12])
 *   ANSWERS   CAIRN_ANS(..) mask of the responses it accepts ([REQ-7])
 *   VALIDATE  semantic rules: validate_VALIDATE() in msg/msg.c ([ENC-24])
 */
/* clang-format off */
#define CAIRN_MSG_TABLE(X) \
    X(0x0001, HELLO,        Hello,       1024,    HANDSHAKE, hello,        CAIRN_IN_HELLO, CAIRN_ANS_NONE, hello) \
    X(0x0002, AUTH,         Auth,        128,     HANDSHAKE, auth,         CAIRN_IN_AUTH,  CAIRN_ANS_NONE, auth) \
    X(0x0003, ERROR,        Error,       1024,    CONTROL,   error,        CAIRN_IN_ANY,   CAIRN_ANS_NONE, error) \
    X(0x0004, PING,         Ping,        32,      CONTROL,   ping,         CAIRN_IN_READY, CAIRN_ANS_NONE, none) \
    X(0x0005, PONG,         Pong,        32,      CONTROL,   pong,         CAIRN_IN_READY, CAIRN_ANS_NONE, none) \
    X(0x0006, NOT_FOUND,    NotFound,    32,      RESPONSE,  not_found,    CAIRN_IN_READY, CAIRN_ANS_NONE, none) \
    X(0x0010, GET_HEADERS,  GetHeaders,  4096,    REQUEST,   get_headers,  CAIRN_IN_READY, CAIRN_ANS(HEADERS), get_headers) \
    X(0x0011, HEADERS,      Headers,     262144,  RESPONSE,  headers,      CAIRN_IN_READY, CAIRN_ANS_NONE, headers) \
    X(0x0012, GET_BLOCK,    GetBlock,    64,      REQUEST,   get_block,    CAIRN_IN_READY, CAIRN_ANS(BLOCK) | CAIRN_ANS(NOT_FOUND), get_block) \
    X(0x0013, BLOCK,        Block,       2162688, RESPONSE,  block,        CAIRN_IN_READY, CAIRN_ANS_NONE, block) \
    X(0x0014, ANNOUNCE,     Announce,    128,     NOTIFY,    announce,     CAIRN_IN_READY, CAIRN_ANS_NONE, announce) \
    X(0x0015, SUBMIT_ENTRY, SubmitEntry, 65600,   REQUEST,   submit_entry, CAIRN_IN_READY, CAIRN_ANS(ENTRY_ACK), submit_entry) \
    X(0x0016, ENTRY_ACK,    EntryAck,    64,      RESPONSE,  entry_ack,    CAIRN_IN_READY, CAIRN_ANS_NONE, entry_ack) \
    X(0x0017, ENTRIES,      Entries,     1114112, NOTIFY,    entries,      CAIRN_IN_READY, CAIRN_ANS_NONE, entries) \
    X(0x0020, GET_MANIFEST, GetManifest, 64,      REQUEST,   get_manifest, CAIRN_IN_READY, CAIRN_ANS(MANIFEST) | CAIRN_ANS(NOT_FOUND), get_manifest) \
    X(0x0021, MANIFEST,     Manifest,    8192,    RESPONSE,  manifest,     CAIRN_IN_READY, CAIRN_ANS_NONE, manifest) \
    X(0x0022, GET_CHUNK,    GetChunk,    64,      REQUEST,   get_chunk,    CAIRN_IN_READY, CAIRN_ANS(CHUNK) | CAIRN_ANS(NOT_FOUND), get_chunk) \
    X(0x0023, CHUNK,        Chunk,       1052672, RESPONSE,  chunk,        CAIRN_IN_READY, CAIRN_ANS_NONE, chunk) \
    X(0x0030, GET_PEERS,    GetPeers,    32,      REQUEST,   get_peers,    CAIRN_IN_READY, CAIRN_ANS(PEERS), none) \
    X(0x0031, PEERS,        Peers,       65536,   RESPONSE,  peers,        CAIRN_IN_READY, CAIRN_ANS_NONE, peers)
/* clang-format on */

/* Every registered type is below this bound (tables are indexed by type). */
#define CAIRN_MSG_TYPE_BOUND 0x40

#define CAIRN_MSG_ENUM_ROW(id, NAME, ...) CAIRN_T_##NAME = id,
enum cairn_msg_type { CAIRN_MSG_TABLE(CAIRN_MSG_ENUM_ROW) };
#undef CAIRN_MSG_ENUM_ROW

/* Payload cap of a registered type; 0 when `type` is not registered. */
uint32_t cairn_frame_type_cap(uint16_t type);
/* Registry name ("Hello"), or NULL when `type` is not registered. */
const char *cairn_frame_type_name(uint16_t type);
/* Registered type for a name, or 0. */
uint16_t cairn_frame_type_from_name(const char *name);
static inline int cairn_frame_type_is_ignorable(uint16_t type)
{
    return type >= CAIRN_TYPE_EXT_FIRST;
}

typedef struct cairn_frame_header {
    uint16_t type;
    uint32_t length;
} cairn_frame_header;

/*
 * Decodes and checks one header at *src ([FRM-5] check order: magic, type,
 * length against `max_len` and the hard maximum, length against the type's
 * cap). Advances *src by 8 only on success. Returns 0, CAIRN_ERR_AGAIN when
 * fewer than 8 bytes are available, or CAIRN_ERR_PROTO(BAD_MAGIC |
 * UNKNOWN_TYPE | FRAME_TOO_LARGE).
 */
int cairn_frame_header_decode(const uint8_t **src, const uint8_t *end, cairn_frame_header *h,
                              uint32_t max_len);

/* Writes an 8-byte header at dst; returns dst + 8. */
uint8_t *cairn_frame_header_encode(uint8_t *dst, uint16_t type, uint32_t length);

#ifdef __cplusplus
}
#endif
#endif
