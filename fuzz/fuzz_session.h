/*
 * The input language of fuzz_session_server and fuzz_session_client: a
 * 3-byte header, then operations until the input ends.
 *
 *   header: cfg u8 | fail_at u16
 *     cfg bits 0-1  answer of on_peer_auth: 0, 1 accept; 2 DUPLICATE_PEER;
 *                   3 DISCOURAGED
 *         bit 2     TLS channel binding (32 bytes) instead of plaintext
 *         bits 3-4  how harness-built frames are cut: 0 whole, 1 byte by
 *                   byte, 2 pieces of 1..7 bytes, 3 pieces of 1..64 bytes
 *         bit 5     fail allocation number fail_at of the session's allocator
 *         bit 6     the session announces 16 MiB instead of 4 MiB
 *   op: code u8 (taken modulo FS_OP_COUNT) and its arguments, big-endian:
 *
 * The harness plays the peer: it builds real Hellos and correctly signed
 * Auths (the fuzzer cannot forge Ed25519), answers the session's requests,
 * and also feeds raw bytes and arbitrary frames.
 */
#ifndef CAIRN_FUZZ_SESSION_H
#define CAIRN_FUZZ_SESSION_H

#include <stddef.h>
#include <stdint.h>

enum fs_op {
    FS_RAW = 0,          /* split u8, n u16, n bytes: raw transport bytes */
    FS_HELLO = 1,        /* variant u8, nonce u64, services u32: the peer's Hello */
    FS_AUTH = 2,         /* variant u8: the peer's Auth over the transcript */
    FS_MSG = 3,          /* type u8 (index), n u16, n bytes: one frame, any payload */
    FS_PEER_REQ = 4,     /* kind u8, count u8, request_id u64 (0 = next) */
    FS_PEER_RESP = 5,    /* which u8, variant u8: answer a request of the session */
    FS_PEER_PING = 6,    /* nonce u64 */
    FS_PEER_PONG = 7,    /* which u8: Pong for one of the session's Pings */
    FS_PEER_ERROR = 8,   /* code u8, request_id u64 */
    FS_TICK = 9,         /* mode u8, ms u32: advance the fake clock, tick */
    FS_APP_REQ = 10,     /* kind u8, count u8: the application sends requests */
    FS_APP_RESP = 11,    /* which u8, variant u8: the application answers */
    FS_APP_PING = 12,    /* - */
    FS_APP_NOTIFY = 13,  /* kind u8 */
    FS_APP_CLOSE = 14,   /* code u8 */
    FS_EOF = 15,         /* - : the transport ends */
    FS_RANDOM_FAIL = 16, /* - : env->random fails from now on */
    FS_OP_COUNT = 17
};

#define FS_HEADER_LEN 3

/* Frame types FS_MSG can pick: the registry, then extension and bad types. */
#define FS_N_MSG_TYPES 24
static inline uint16_t fs_msg_type(uint8_t index)
{
    static const uint16_t t[FS_N_MSG_TYPES] = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006,
                                               0x0010, 0x0011, 0x0012, 0x0013, 0x0014, 0x0015,
                                               0x0016, 0x0017, 0x0020, 0x0021, 0x0022, 0x0023,
                                               0x0030, 0x0031, 0x8000, 0xFFFF, 0x0000, 0x0007};
    return t[index % FS_N_MSG_TYPES];
}

/*
 * Length of the op at p (code included), or 0 when it is cut short by the
 * end of the input (`left` bytes from p).
 */
static inline size_t fs_op_len(const uint8_t *p, size_t left)
{
    static const uint8_t fixed[FS_OP_COUNT] = {
        [FS_RAW] = 3,        [FS_HELLO] = 13,     [FS_AUTH] = 1,      [FS_MSG] = 3,
        [FS_PEER_REQ] = 10,  [FS_PEER_RESP] = 2,  [FS_PEER_PING] = 8, [FS_PEER_PONG] = 1,
        [FS_PEER_ERROR] = 9, [FS_TICK] = 5,       [FS_APP_REQ] = 2,   [FS_APP_RESP] = 2,
        [FS_APP_PING] = 0,   [FS_APP_NOTIFY] = 1, [FS_APP_CLOSE] = 1, [FS_EOF] = 0,
        [FS_RANDOM_FAIL] = 0};
    if (left < 1)
        return 0;
    unsigned op = p[0] % FS_OP_COUNT;
    size_t n = 1 + fixed[op];
    if (left < n)
        return 0;
    if (op == FS_RAW || op == FS_MSG) {
        size_t body = (size_t)p[n - 2] << 8 | p[n - 1];
        if (left - n < body)
            return 0;
        n += body;
    }
    return n;
}

#endif
