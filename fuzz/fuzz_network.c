#include "fuzz_network.h"

#include "common.h"

void fuzz_network_init(cairn_network *net, const char *name, uint32_t bits, const uint8_t *entry,
                       size_t entry_len)
{
    net->name = name;
    net->bits = bits;
    net->genesis_time_ms = 1767225600000ull;
    net->genesis_entry = entry;
    net->genesis_entry_len = entry_len;
    cairn_block_header h;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    for (net->genesis_nonce = 0;; net->genesis_nonce++) {
        FUZZ_CHECK(cairn_network_genesis(net, &h, raw) == 0, "genesis");
        FUZZ_CHECK(cairn_block_id(NULL, net->genesis_id, raw) == 0, "id");
        if (cairn_pow_ok(net->genesis_id, bits))
            break;
    }
    FUZZ_CHECK(cairn_network_verify(net) == 0, "the test network does not verify");
}
