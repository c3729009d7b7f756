/* A custom test network for the targets that build chains (fuzz_chain.c,
 * fuzz_store_open.c). */
#ifndef CAIRN_FUZZ_NETWORK_H
#define CAIRN_FUZZ_NETWORK_H

#include "cairn/chain.h"

/*
 * Fills `net`: name, bits, genesis time 2026-01-01 00:00 UTC, the genesis
 * entry (kept by reference) and the first genesis nonce from 0 up that meets
 * `bits`, with its genesis_id. Aborts (an oracle) if the network does not
 * verify. The same arguments give the same network, so corpora stay valid.
 */
void fuzz_network_init(cairn_network *net, const char *name, uint32_t bits, const uint8_t *entry,
                       size_t entry_len);

#endif
