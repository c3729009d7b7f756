/* The two fixed endpoints of the generated handshake vectors: one
 * definition for gen_vectors, gen_sessions and gen_tls_binding. */
#include "vec_pair.h"

#include <string.h>

#include "cairn/port.h"

const uint8_t vec_seed_i[32] = {[0 ... 31] = 0x11}, vec_seed_r[32] = {[0 ... 31] = 0x22};

int vec_pair_config(cairn_session_config *ci, cairn_session_config *cr, cairn_identity **ii,
                    cairn_identity **ir, const uint8_t *binding, size_t blen)
{
    if (cairn_identity_from_seed(ii, vec_seed_i))
        return -1;
    if (cairn_identity_from_seed(ir, vec_seed_r)) {
        cairn_identity_del(*ii);
        return -1;
    }
    memset(ci, 0, sizeof *ci);
    memset(cr, 0, sizeof *cr);
    ci->initiator = 1;
    ci->identity = *ii;
    cr->identity = *ir;
    cairn_hex_decode(ci->network_id, 32, VEC_GENESIS_ID);
    memcpy(cr->network_id, ci->network_id, 32);
    memcpy(ci->tip_id, ci->network_id, 32);
    memcpy(cr->tip_id, ci->network_id, 32);
    ci->total_work[30] = cr->total_work[30] = 0x10; /* 2^12 */
    cr->services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY;
    cr->listen_port = CAIRN_DEFAULT_PORT;
    ci->user_agent = "cairn/0.1.0";
    cr->user_agent = "cairnd/0.1.0";
    ci->hello_nonce = 0x1111111111111111ull;
    cr->hello_nonce = 0x2222222222222222ull;
    ci->binding = cr->binding = binding;
    ci->binding_len = cr->binding_len = blen;
    return 0;
}
