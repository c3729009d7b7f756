/*
 * A small in-process Cairn node for the client's tests: it listens on a free
 * loopback port, runs libcairn sessions (plaintext or TLS) on its own thread,
 * keeps a devnet or testnet chain in memory with a few mined blocks (a text
 * record, a manifest, a binary record), and answers GetHeaders, GetBlock,
 * SubmitEntry (mining a block with the entry), GetPeers, and announces its
 * tip to every client once READY. Behaviour flags make
 * it misbehave in the ways the client must catch.
 */
#ifndef CAIRN_TEST_FAKE_NODE_H
#define CAIRN_TEST_FAKE_NODE_H

#include "cairn/chain.h"
#include "cairn/net.h"

enum fake_behaviour {
    FAKE_NORMAL = 0,
    FAKE_SILENT,         /* accepts TCP connections, never says anything */
    FAKE_BUSY,           /* answers every request with Error BUSY */
    FAKE_BAD_ACK,        /* EntryAck with a wrong entry_id [REL-7] */
    FAKE_WRONG_HEIGHT,   /* GetBlock by height answered with another height [SYNC-29] */
    FAKE_TOO_MANY,       /* Headers with one more header than max_count [SYNC-14] */
    FAKE_BAD_POW,        /* a Block whose header fails proof of work */
    FAKE_CLOSE_SHUTDOWN, /* closes every session with SHUTDOWN once READY */
    FAKE_BAD_ANNOUNCE,   /* announces a header that fails proof of work [SYNC-38] */
};

typedef struct fake_node_config {
    const cairn_network *net; /* NULL: devnet */
    int tls;
    int behaviour;
    int blocks; /* blocks mined above genesis at start (>= 3 for the sample entries) */
} fake_node_config;

typedef struct fake_node fake_node;

int fake_node_start(fake_node **out, const fake_node_config *cfg);
/* Stops the thread, closes every session, frees everything. */
void fake_node_stop(fake_node *n);
int fake_node_port(const fake_node *n);
/* "127.0.0.1:PORT" (static per node). */
const char *fake_node_addr(const fake_node *n);
const uint8_t *fake_node_id(const fake_node *n);
uint64_t fake_node_height(fake_node *n);

/*
 * Waits (up to `ms`) for a session to close, and returns how the most recent
 * one closed: its wire code (0 for none) and whether the client did it.
 * Returns -1 when no session closed in time.
 */
int fake_node_wait_close(fake_node *n, int ms, uint32_t *code, int *by_client);
/* The node ID of the last client that completed a handshake (zeros: none),
 * waiting up to `ms` for one that equals `want` when `want` is not NULL. */
void fake_node_last_client(fake_node *n, uint8_t id[CAIRN_HASH_LEN], const uint8_t *want, int ms);

/* Sample entries in blocks 1..3. */
#define FAKE_TEXT_ENTRY    "\0hello from the fake node"
#define FAKE_MANIFEST_NAME "report.pdf"

#endif
