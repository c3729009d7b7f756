/* The handshake's transcript hash and Auth signing input (spec §6.3, §6.4):
 * pure functions of their arguments, shared by the session and the vector
 * generators. */
#include "cairn/session.h"

#include <string.h>

int cairn_transcript_hash(uint8_t out[CAIRN_HASH_LEN], const uint8_t *hello_i, size_t len_i,
                          const uint8_t *hello_r, size_t len_r, const uint8_t *binding,
                          size_t binding_len)
{
    /* [HS-31] th = SHA-256("cairn/1 transcript" || u32 len || I || u32 len || R
     *                     || u32 len || B) */
    static const char label[] = "cairn/1 transcript";
    uint8_t buf[sizeof(label) - 1 + 12 + 2 * 1024 + 64];
    if (len_i > 1024 || len_r > 1024 || binding_len > 64)
        return CAIRN_ERR_INVALID_ARG;
    uint8_t *p = buf;
    memcpy(p, label, sizeof(label) - 1);
    p += sizeof(label) - 1;
    p = cairn_put_u32(p, (uint32_t)len_i);
    memcpy(p, hello_i, len_i);
    p += len_i;
    p = cairn_put_u32(p, (uint32_t)len_r);
    memcpy(p, hello_r, len_r);
    p += len_r;
    p = cairn_put_u32(p, (uint32_t)binding_len);
    if (binding_len)
        memcpy(p, binding, binding_len);
    p += binding_len;
    return cairn_sha256(out, buf, (size_t)(p - buf));
}

void cairn_auth_input(uint8_t out[CAIRN_AUTH_INPUT_LEN], int signer_is_initiator,
                      const uint8_t th[CAIRN_HASH_LEN])
{
    /* [AUTH-1] [AUTH-2] "cairn/1 auth" || role ('I' or 'R') || th */
    memcpy(out, "cairn/1 auth", 12);
    out[12] = signer_is_initiator ? 'I' : 'R';
    memcpy(out + 13, th, CAIRN_HASH_LEN);
}
