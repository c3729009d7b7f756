/*
 * The node_core target's world (fuzz_node_core.c): its bounds, the links
 * between cores, the cores and what the oracles track.
 */
#ifndef CAIRN_FUZZ_NODE_CORE_H
#define CAIRN_FUZZ_NODE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/node.h"
#include "cairn/port.h"

#define NC_NODES        4
#define NC_LINKS        32
#define NC_PEER_ADDR(i) (0x0a000001u + ((uint32_t)(i) << 16)) /* 10.i.0.1 */
#define NC_OUT_MAX      64                                    /* REQ-4 */
#define NC_BODY_WINDOW  16                                    /* SYNC-32 */
#define NC_KNOWN        1024
#define NC_OPS          400

/* spec §14.5: OUTPUT_QUEUE_MAX plus one frame of at most 4104 bytes [SEC-7] */
#define NC_OUTPUT_MAX (3145728u + 4104u)
/* §14.5 per session without TLS: one input frame (2162688), 64 held requests
 * (262144), the output queue (3149832), fixed state (131072). */
#define NC_SESSION_BOUND (2162688u + 262144u + 3149832u + 131072u)
/* §13.2 global bounds: orphan pool bytes (32 MiB), pending-entry pool (32 MiB),
 * recent-entry index (32 MiB), plus a fixed allowance for the chain index of
 * the blocks an input can mine, the address book and the core's tables. */
#define NC_GLOBAL_BOUND ((size_t)3 * 32 * 1024 * 1024 + (size_t)16 * 1024 * 1024)

enum {
    OP_CONNECT,    /* a b: a dials b (a configured address + tick) */
    OP_PUMP,       /* rounds */
    OP_TIME,       /* u16 ms: advance in 50 ms steps, ticking due timers */
    OP_MINE,       /* node */
    OP_CUT,        /* link */
    OP_MUTE,       /* link dir */
    OP_INJECT,     /* link type-index u16-len bytes: a frame to the victim */
    OP_FLIP,       /* link u16-offset mask: the next bytes to the victim */
    OP_PIECE,      /* link dir n: move at most n bytes */
    OP_EOF,        /* link: the victim's transport ends */
    OP_STORE_FAIL, /* n: the victim's next n store operations fail */
    OP_PUBLISH,    /* node n (len bytes)*: data entries */
    OP_RAW_OPEN,   /* addr u8 u8: an inbound connection without a core */
    OP_RAW_SEND,   /* link u16-len bytes: raw bytes from it */
    OP_HEARD,      /* link: bytes arrived but are not read [ADM-3] */
    OP_SHUTDOWN,
    OP_RESTART,   /* the victim is deleted and created again on its store */
    OP_DIAL_FAIL, /* n: the next n dials of any core fail to connect */
    OP_COUNT
};

typedef struct nc_stream {
    uint8_t *buf;
    size_t len, cap;
} nc_stream;

typedef struct nc_link {
    int used;
    int a, b; /* a dialled b; a = -1: a raw inbound peer of the victim (b = 0) */
    cairn_node_peer *pa, *pb;
    int mute_ab, mute_ba, flush_a, flush_b;
    int flip_armed;
    uint16_t flip_at;
    uint8_t flip_mask;
    /* the victim's end: what it wrote and what it read */
    nc_stream out, in;
    int untracked; /* a stream stopped parsing: the victim closes, no more checks */
    struct {
        uint64_t rid;
        uint16_t type;
    } req[NC_OUT_MAX + 1];
    int n_req;
} nc_link;

typedef struct nc_node {
    cairn_node *core;
    cairn_node_memstore *ms;
    cairn_node_store store;    /* the victim's: the memstore's with failures */
    cairn_chain_store chainst; /* its chain part */
    struct sockaddr_in addr;
    cairn_node_config cfg;
    cairn_node_peer *live[NC_LINKS * 2];
    int n_live;
} nc_node;

typedef struct nc_net {
    int n;
    nc_node nodes[NC_NODES];
    nc_link links[NC_LINKS];
    fuzz_env fe;                      /* the victim's counting allocator, clock, randomness */
    cairn_env helper;                 /* the helpers: plain allocator, same clock */
    size_t live_bytes;                /* the victim's */
    cairn_mem victim_mem, helper_mem; /* cache_alloc.c; the victim's counts into live_bytes */
    const cairn_node_store *ms_iface;
    int store_fail; /* store operations of the victim left to fail */
    int store_failed;
    int dial_fail;  /* dials left to fail */
    int batch_open; /* the victim's store batch */
    uint64_t batch_ms, batch_blocks;
    int stopped;
    uint64_t skew; /* the helpers' wall clocks are ahead by this */
    uint8_t (*known)[CAIRN_HASH_LEN];
    size_t n_known;
    cairn_msg_decoder dec;
    int long_world, files; /* the third config byte (fuzz_node_world.c) */
} nc_net;

/* fuzz_node_world.c: the long world on its own network of one-bit proof of
 * work: the victim's chain A, helper 1's heavier branch B from genesis (its
 * first 2000 headers lighter than A's tip [SYNC-45]), helper 2 A too, helper 3
 * nothing. */
#define NC_LONG_A 2050
#define NC_LONG_B 2100
const cairn_network *nc_long_net(void); /* mined on first use */
void nc_long_preload(cairn_node_memstore *ms, int i, const cairn_env *env);
/* Served files: file 0 whole, file 1's reads fail, file 2's store fails. */
#define NC_FILES 3
const cairn_node_files *nc_files(void);
void nc_file_id(int f, uint8_t id[CAIRN_HASH_LEN]);
/* The oracle on a Manifest or Chunk the victim wrote. */
void nc_files_check(uint16_t type, const ProtobufCMessage *m);

/* fuzz_node_track.c: `n` bytes the victim wrote (out) or read on link `l`. */
void nc_track(nc_net *net, nc_link *l, int out, const uint8_t *d, size_t n);

#endif
