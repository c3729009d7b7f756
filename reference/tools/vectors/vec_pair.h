/* The two fixed endpoints every generated handshake vector uses (vec_pair.c). */
#ifndef CAIRN_VEC_PAIR_H
#define CAIRN_VEC_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/session.h"

/* The devnet genesis block ID: network and tip of both endpoints. */
#define VEC_GENESIS_ID "0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c"

/* The identity seeds: 32 bytes 0x11 (initiator) and 0x22 (responder). */
extern const uint8_t vec_seed_i[32], vec_seed_r[32];

/* Fills *ci (the initiator, `cairn/0.1.0`, identity from vec_seed_i,
 * nonce 0x1111..) and *cr (the responder, `cairnd/0.1.0`, identity from
 * vec_seed_r, nonce 0x2222.., CHAIN|RELAY, the default port): both on the
 * devnet genesis with its work 2^12, bound to binding[0..blen) (NULL, 0 for
 * none). *ii and *ir receive the identities (the caller deletes them).
 * Returns 0, or -1 if an identity cannot be made. */
int vec_pair_config(cairn_session_config *ci, cairn_session_config *cr, cairn_identity **ii,
                    cairn_identity **ir, const uint8_t *binding, size_t blen);

#endif
