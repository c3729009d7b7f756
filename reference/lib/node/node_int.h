/*
 * The node core's own state (not part of the API): the node and its peers'
 * protocol state. Drivers see neither struct; the address book's tables are
 * behind addrbook.h. Files of the core use one another in one direction:
 *
 *   core.c -> admit.c, msg.c -> sync.c -> progress.c -> peers.c -> limits.c,
 *   addrbook.c -> netaddr.c, env.c (clocks and the log, used by all)
 */
#ifndef CAIRN_NODE_INT_H
#define CAIRN_NODE_INT_H

#include "addrbook.h"
#include "cairn/node.h"

#define NODE_BODY_WINDOW          16    /* [SYNC-32] body requests in flight per peer */
#define NODE_STALL_MIN_MS         2000  /* [SYNC-34] first stall timeout */
#define NODE_STALL_MAX_MS         64000 /* [SYNC-34] stall timeouts double up to this */
#define NODE_GETPEERS_INTERVAL_MS 60000 /* [DISC-6] one GetPeers per session per minute */
#define NODE_PEERS_ANSWER_MAX     800   /* [ADDR-6] addresses per Peers answer we send */
#define NODE_FAILED_IDS           1024  /* [VAL-18] headers remembered as failed */
#define NODE_CLOSING_MS           5000  /* [CLOSE-8] longest wait to flush a closing session */
#define NODE_TICK_MS              250   /* the core's upkeep period */
#define NODE_REFUSED_WAIT_MS      1000  /* [REQ-22] after RATE_LIMITED (and BUSY) */
#define NODE_HEADERS_AHEAD        16384 /* [SYNC-20] best header this far above the tip: a run waits */
/* Per-session rates (spec §13.2): [REQ-21] requests and upload, [REL-22] entries. */
#define NODE_GETHEADERS_PER_S  20
#define NODE_GETHEADERS_BURST  100
#define NODE_GETDATA_PER_S     10000 /* GetBlock, GetChunk, GetManifest */
#define NODE_GETDATA_BURST     10000
#define NODE_UPLOAD_PER_S      (1LL << 30)
#define NODE_UPLOAD_BURST      (1LL << 30)
#define NODE_UPLOAD_MAX        (1ULL << 40) /* a configured budget is capped here */
#define NODE_ENTRY_BYTES_PER_S (256 << 10)
#define NODE_ENTRY_BYTES_BURST (1 << 20)
#define NODE_ENTRY_COUNT_PER_S 64
#define NODE_ENTRY_COUNT_BURST 256
#define NODE_DEFERRED_MAX      64   /* [VAL-28] headers held for TIME_TOO_NEW */
#define NODE_RUN_COMMITS_MAX   4096 /* [SYNC-45] unstored responses one run may follow */
#define NODE_RATE_TABLE        1024 /* [ADM-5] addresses whose accept rate is tracked */
#define NODE_MAX_INBOUND_HARD  1024 /* max_inbound is at most this */
#define NODE_MAX_NOBAN         32
#define NODE_MAX_DIALS         128 /* DIAL actions not yet answered */
#define ADM_PENDING_PER_GROUP  16  /* [ADM-3] pre-handshake inbound per network group */
#define ADM_ACCEPT_BURST       20  /* [ADM-5] connections an address may open at once */
#define ADM_ACCEPT_PER_S       10  /*         and then per second */
#define ADM_PROTECT_GROUPS     4   /* [ADM-4] protected: distinct network groups */
#define ADM_PROTECT_RTT        8   /*         lowest round-trip time */
#define ADM_PROTECT_BLOCKS     4   /*         most recent new block */
#define ADM_PROTECT_ENTRIES    4   /*         most recent new entry */

typedef struct cairn_node node;
typedef struct cairn_node_peer peer;

/* A token bucket; tokens may go negative for a budget charged afterwards. */
typedef struct rate_bucket {
    int64_t tokens;
    uint64_t last_ms;
    int started;
} rate_bucket;

typedef struct body_req {
    uint64_t rid;
    uint8_t id[CAIRN_HASH_LEN];
    uint64_t sent_ms;
    int stalled; /* [SYNC-35] given to others; still holds its slot until answered [REQ-14] */
} body_req;

/* A header that failed only TIME_TOO_NEW, held until the clock reaches it [VAL-27]. */
typedef struct deferred_hdr {
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    uint8_t id[CAIRN_HASH_LEN];
    uint64_t time_ms;
} deferred_hdr;

/* [SYNC-45] The last header of a response that was not stored. */
typedef struct node_commit {
    uint8_t id[CAIRN_HASH_LEN];
    uint64_t height;
} node_commit;

typedef struct admit_rate {
    uint8_t ip[16];
    int used;
    uint32_t tokens_milli;
    uint64_t last_ms;
} admit_rate;

/* One peer's protocol state; its transport is the driver's (`ud`). */
struct cairn_node_peer {
    node *n;
    void *ud;
    cairn_session *sess;
    int outbound;
    int addr_slot; /* address book index for outbound peers, else -1 */
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr[64];
    int ready;
    uint32_t refuse;     /* close with this code as soon as the session starts */
    int no_discourage;   /* closed for something that is not misbehaviour (TIME_TOO_NEW) */
    uint64_t closing_ms; /* when the session started closing, 0 = not closing */
    int dropped;         /* to be dropped: the driver closes the transport */
    int drop_issued;     /* the DROP action went out: nothing more for this peer */
    int flush_queued;    /* on the pending-output list */
    cairn_peer_info info;
    uint64_t connected_ms;
    /* admission (§12.3, §12.4) */
    uint64_t group;         /* network group of sa */
    int noban;              /* --noban: never discouraged, never evicted */
    int discouraged;        /* [MIS-11] let in while slots were free: evicted first */
    int evicted;            /* closing to make room: holds no slot */
    int heard;              /* it has sent at least one byte */
    uint64_t rtt_ms;        /* accept to READY; UINT64_MAX before */
    uint64_t last_block_ms; /* when it last gave us a new best block, 0 = never */
    uint64_t last_entry_ms; /* when it last gave us a new entry, 0 = never */
    /* sync */
    uint64_t headers_rid;              /* outstanding GetHeaders, 0 = none */
    uint64_t headers_wait_ms;          /* [VAL-29] no GetHeaders before this wall-clock time */
    int headers_idle;                  /* [SYNC-42] the last run ended: wait for an Announce */
    int headers_ahead;                 /* the run waits: the bodies are NODE_HEADERS_AHEAD behind */
    uint8_t sent_loc0[CAIRN_HASH_LEN]; /* first locator entry of the last GetHeaders */
    uint8_t cont_id[CAIRN_HASH_LEN];   /* [SYNC-20] last header of the run so far */
    uint64_t cont_height;              /* its height; 0 = a run has not started */
    node_commit *commits;              /* [SYNC-45] responses of this run not stored */
    size_t n_commits, cap_commits;
    int redownload;                  /* [SYNC-45] fetching them again, storing */
    const cairn_chain_block *pinned; /* the redownload's last stored header */
    body_req bodies[NODE_BODY_WINDOW];
    unsigned n_bodies;
    uint8_t known_id[CAIRN_HASH_LEN]; /* [SYNC-48] the most-work header it sent us */
    int has_known;
    uint32_t stall_ms;
    uint64_t refused_until_ms;    /* [REQ-22] no GetBlock/GetHeaders before this (node_now) */
    uint64_t last_getpeers_in_ms; /* their last GetPeers to us */
    rate_bucket rl_headers, rl_data, rl_upload, rl_entry_bytes, rl_entry_count; /* limits.c */
    rate_bucket rq_headers, rq_blocks; /* our own GetHeaders and GetBlock to it (sync.c) */
    uint64_t peers_rid;                /* our outstanding GetPeers */
    struct cairn_node_peer *next;
};

/* An action waiting for the driver (a ring). */
#define NODE_ACTIONS_MAX 80 /* one tick dials at most NODE_MAX_CONFIGURED + 1 */

struct cairn_node {
    cairn_node_config cfg;
    cairn_node_cidr noban[NODE_MAX_NOBAN];
    const cairn_env *env;
    const cairn_mem *mem;
    const cairn_node_store *store;
    uint8_t node_id[CAIRN_HASH_LEN];
    cairn_chain *chain;
    cairn_mempool *pool;
    cairn_sha256_ctx *sha;
    addrbook *book;
    peer *peers;
    int n_inbound, n_outbound;
    /* actions: DIAL / STOP in a ring, FLUSH from the pending-output list */
    cairn_node_action actions[NODE_ACTIONS_MAX];
    unsigned act_head, act_len;
    peer **flush_list; /* peers with output (or to drop), each once */
    size_t n_flush, cap_flush;
    int dials[NODE_MAX_DIALS];         /* dial_id -> address slot + 1, 0 = free */
    admit_rate *rate;                  /* [ADM-5] NODE_RATE_TABLE, allocated on the first accept */
    uint64_t evict_key;                /* keys the network-group ranking of eviction protection */
    uint8_t (*failed)[CAIRN_HASH_LEN]; /* ring of failed header IDs, NODE_FAILED_IDS */
    size_t n_failed;
    uint8_t fetch_best[CAIRN_HASH_LEN];       /* [SYNC-33] best header the body window is for */
    uint64_t fetch_from;                      /* lowest height whose body may be missing */
    deferred_hdr deferred[NODE_DEFERRED_MAX]; /* [VAL-27] */
    size_t n_deferred;
    uint64_t mine_nonce; /* where the nonce search goes on */
    uint64_t next_mine_ms;
    uint64_t blocks_mined;
    uint64_t next_tick_ms;
    uint64_t wake_ms; /* a paced request may go then; UINT64_MAX = none waits */
    /* progress.c: initial sync */
    int syncing;          /* far behind the best header since the last catch-up */
    int announce_pending; /* a tip reached inside a batch waits for its commit */
    int store_failed;     /* a STOP was issued */
    uint64_t sync_start_ms, sync_start_height, sync_bytes;
    uint64_t sync_last_ms, sync_last_height, sync_last_bytes;
    int stopping;
};

/* util: clocks and the log (limits.c) */
uint64_t node_now(const node *n);
uint64_t node_wall(const node *n);
void node_log(const node *n, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define LOGE(nd, ...) node_log(nd, CAIRN_NODE_LOG_ERROR, __VA_ARGS__)
#define LOGW(nd, ...) node_log(nd, CAIRN_NODE_LOG_WARN, __VA_ARGS__)
#define LOGI(nd, ...) node_log(nd, CAIRN_NODE_LOG_INFO, __VA_ARGS__)
#define LOGD(nd, ...)                                                                              \
    do {                                                                                           \
        if ((nd)->cfg.log_level >= CAIRN_NODE_LOG_DEBUG)                                           \
            node_log(nd, CAIRN_NODE_LOG_DEBUG, __VA_ARGS__);                                       \
    } while (0)

/* limits.c: rates, upload budget */
void bucket_refill(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst);
int bucket_take(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst, int64_t cost);
int limits_request_ok(peer *p, uint16_t type);
void limits_charge_upload(peer *p, size_t bytes);
int limits_entry_ok(peer *p, size_t len);
/* the recent-entry index [REL-24], [REL-25] */
void limits_rebuild_recent(node *n);
void limits_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork);

/* peers.c: the peer list, actions, the pending-output list */
void peer_want_flush(peer *p); /* it has output: FLUSH it this turn */
void peer_close(peer *p, uint32_t code, const char *why);
void peer_close_detail(peer *p, uint32_t code, uint32_t detail, const char *why);
void peer_drop(peer *p); /* DROP: close the transport without more output */
int node_push_action(node *n, const cairn_node_action *a);
void node_stop(node *n, int code);
int peer_ready_with(const peer *p, uint64_t service);

/* progress.c: sync-time store batches and the progress line. Each returns 1
 * when a batch committed (what waited for it may go out), 0, or -1 when the
 * store failed (a STOP was issued). */
int progress_commit(node *n);
int progress_before_block(node *n);
int progress_before_headers(node *n, size_t count);
int progress_after_headers(node *n);
int progress_after_block(node *n, size_t bytes);
int progress_tick(node *n);
int progress_in_batch(const node *n);

/* sync.c: headers first, bodies in parallel, announcements, relay, mining */
int node_flush(node *n); /* commits the open batch, announces what waited: 0 or -1 */
void sync_tick(node *n);
void sync_wake(node *n);
void sync_on_headers(peer *p, const Cairn__V1__Headers *h);
void sync_on_block(peer *p, const Cairn__V1__Block *b);
void sync_on_not_found(peer *p, uint64_t rid);
void sync_on_refused(peer *p, uint64_t rid, uint32_t code);
void sync_on_announce(peer *p, const Cairn__V1__Announce *a);
void sync_start_headers(peer *p);
void sync_peer_gone(peer *p);
void sync_announce(node *n, const cairn_chain_block *tip, peer *except);
void relay_entries(node *n, const cairn_bytes_ref *entries, size_t count, peer *except);
int mine_step(node *n, uint32_t tries);
void sync_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                 const cairn_chain_block *fork);

/* msg.c: peers' messages and the node's answers */
void handle_message(peer *p, uint16_t type, const ProtobufCMessage *m);
void handle_ready(peer *p);

/* admit.c: inbound admission and eviction */
int admit_is_noban(const node *n, const struct sockaddr_storage *sa);
/* 0 to admit, else the code to refuse with; *drop = close without a session. May evict. */
uint32_t admit_inbound(node *n, const struct sockaddr_storage *sa, int *drop);

#endif
