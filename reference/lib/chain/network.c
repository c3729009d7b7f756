/*
 * The registered networks and their genesis blocks (spec §9.8). The
 * genesis IDs below are normative (decisions: network_id = genesis ID); the
 * chain unit tests recompute them from the genesis parameters.
 */
#include "cairn/chain.h"

#include "cairn/merkle.h"

/* Genesis time of both networks: 2026-01-01T00:00:00Z. */
#define GENESIS_TIME_MS 1767225600000ull

static const uint8_t devnet_entry[] = "\0Cairn devnet genesis: every block rests on the one below";
static const uint8_t testnet_entry[] =
    "\0Cairn testnet genesis: every block rests on the one below";

static const cairn_network devnet = {
    .name = "devnet",
    .bits = 12,
    .genesis_time_ms = GENESIS_TIME_MS,
    .genesis_nonce = 1816,
    .genesis_entry = devnet_entry,
    .genesis_entry_len = sizeof(devnet_entry) - 1, /* without the C terminator */
    .genesis_id = {0x00, 0x09, 0xbb, 0x33, 0xdb, 0x82, 0x95, 0x7d, 0x7e, 0xfa, 0x62,
                   0x01, 0xc5, 0x8e, 0x66, 0x44, 0xb2, 0x48, 0x10, 0x6c, 0xed, 0x1e,
                   0xc1, 0x85, 0x7f, 0x5d, 0xbc, 0x86, 0x82, 0x4a, 0xcc, 0x6c},
};

static const cairn_network testnet = {
    .name = "testnet",
    .bits = 22,
    .genesis_time_ms = GENESIS_TIME_MS,
    .genesis_nonce = 434223,
    .genesis_entry = testnet_entry,
    .genesis_entry_len = sizeof(testnet_entry) - 1,
    .genesis_id = {0x00, 0x00, 0x01, 0x67, 0xbb, 0xd4, 0xb6, 0x4a, 0x56, 0xf4, 0xc7,
                   0x8e, 0xbd, 0x49, 0x93, 0x9c, 0xb4, 0x8b, 0x8b, 0x34, 0xa8, 0x58,
                   0x3b, 0x06, 0x5e, 0x2e, 0x67, 0x7e, 0x2e, 0x4d, 0x10, 0xb9},
};

const cairn_network *cairn_network_devnet(void)
{
    return &devnet;
}

const cairn_network *cairn_network_testnet(void)
{
    return &testnet;
}

const cairn_network *cairn_network_by_name(const char *name)
{
    if (strcmp(name, devnet.name) == 0)
        return &devnet;
    if (strcmp(name, testnet.name) == 0)
        return &testnet;
    return NULL;
}

int cairn_network_genesis(const cairn_network *net, cairn_block_header *hdr,
                          uint8_t raw[CAIRN_BLOCK_HEADER_LEN])
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->version = CAIRN_BLOCK_VERSION;
    hdr->height = 0;
    hdr->time_ms = net->genesis_time_ms;
    hdr->bits = net->bits;
    hdr->nonce = net->genesis_nonce;
    /* prev_id: 32 zero bytes; root: MTH of the one entry = its leaf hash. */
    int rv =
        cairn_merkle_leaf_hash(NULL, hdr->entries_root, net->genesis_entry, net->genesis_entry_len);
    if (rv == 0 && raw)
        cairn_block_header_encode(raw, hdr);
    return rv;
}

int cairn_network_verify(const cairn_network *net)
{
    cairn_block_header hdr;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN], id[CAIRN_HASH_LEN];
    uint32_t reason;
    if (net->bits >= 256 || net->genesis_entry_len == 0 ||
        cairn_entry_check(net->genesis_entry, net->genesis_entry_len, &reason) != 0)
        return CAIRN_ERR_INVALID_ARG;
    int rv = cairn_network_genesis(net, &hdr, raw);
    if (rv == 0)
        rv = cairn_block_id(NULL, id, raw);
    if (rv != 0)
        return rv;
    if (memcmp(id, net->genesis_id, CAIRN_HASH_LEN) != 0 || !cairn_pow_ok(id, net->bits))
        return CAIRN_ERR_INVALID_ARG;
    return 0;
}
