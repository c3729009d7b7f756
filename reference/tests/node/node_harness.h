/*
 * Several node cores in one process, deterministic: a fake clock, seeded
 * randomness, in-memory stores, and plaintext links that move bytes between
 * two cores' peers only when the harness pumps them, and only for a peer the
 * core asked to FLUSH (as a driver that writes on events only would). Each node listens on
 * 10.0.0.(i+1):7317 (addresses only: nothing touches a socket).
 */
#ifndef CAIRN_NODE_HARNESS_H
#define CAIRN_NODE_HARNESS_H

#include <arpa/inet.h>

#include "cairn/node.h"
#include "cairn/port.h"

#define H_NODES   8
#define H_ADDR(i) (0x0a000001u + ((uint32_t)(i) << 16)) /* 10.i.0.1 */
#define H_LINKS   64

typedef struct h_link {
    int used;
    int a, b;                  /* node indices: a dialled b */
    cairn_node_peer *pa, *pb;  /* a's peer for b, b's peer for a */
    int mute_ab, mute_ba;      /* drop what flows that way (a stalled peer) */
    int flush_a, flush_b;      /* a FLUSH came for that end: only then do its bytes move */
    uint64_t sent_ab, sent_ba; /* bytes delivered that way (muted ones not counted) */
} h_link;

typedef struct h_node {
    cairn_node *core;
    cairn_node_memstore *ms;
    cairn_identity *id;
    struct sockaddr_in addr;
    cairn_node_config cfg;
    int flushes[H_NODES]; /* FLUSH actions seen for the peer on the link to node j */
    int stopped;
} h_node;

typedef struct h_net {
    int n;
    h_node nodes[H_NODES];
    h_link links[H_LINKS];
    uint64_t now; /* monotonic ms; wall = 1767225600000 + now */
    cairn_env env;
    uint64_t rng;
} h_net;

/* Creates n cores (configure with `tweak` before cairn_node_new, may be NULL). */
void h_init(h_net *net, int n, void (*tweak)(h_net *net, int i, cairn_node_config *cfg));
void h_free(h_net *net);
/* i dials j (as a DIAL action answered would): returns the link index. */
int h_connect(h_net *net, int i, int j);
/* Drains node i's actions (DIAL connects to the node at that address). */
void h_drain(h_net *net, int i);
/* Moves bytes over every link and drains every core until nothing moves
 * (at most `rounds` rounds). Returns the number of rounds used. */
int h_pump(h_net *net, int rounds);
/* Advances the clock by ms in steps of 50 ms, ticking and pumping. */
void h_run(h_net *net, uint64_t ms);
/* Mines one block on node i (now), then pumps. */
void h_mine(h_net *net, int i);
uint64_t h_height(h_net *net, int i);
const uint8_t *h_tip(h_net *net, int i);
/* The link between i and j (either direction), or NULL. */
h_link *h_link_between(h_net *net, int i, int j);
/* i's peer for j, or NULL. */
cairn_node_peer *h_peer(h_net *net, int i, int j);
/* Closes the link's transports at both ends. */
void h_cut(h_net *net, h_link *l);

#endif
