/*
 * cairnd internals. The node is glue: libevent for readiness and timers,
 * cairn_conn (net/) for sockets and TLS, cairn_session for the protocol,
 * cairn_chain + cairn_store for blocks. No protocol rule is implemented here
 * that the session or the chain already implements.
 */
#ifndef CAIRND_NODE_H
#define CAIRND_NODE_H

#include <event2/event.h>
#include <netinet/in.h>

#include "cairn/chain.h"
#include "cairn/net.h"
#include "cairn/store.h"
#include "netaddr.h"

#define NODE_BODY_WINDOW     16    /* [SYNC-32] body requests in flight per peer */
#define NODE_STALL_MIN_MS    2000  /* [SYNC-34] first stall timeout */
#define NODE_STALL_MAX_MS    64000 /* [SYNC-34] stall timeouts double up to this */
#define ADDR_NEW_BUCKETS     256   /* [ADDR-10] the "new" table: 256 buckets */
#define ADDR_TRIED_BUCKETS   64    /* [ADDR-10] the "tried" table: 64 buckets */
#define ADDR_BUCKET_SIZE     16    /*           of 16 entries each */
#define ADDR_NEW_PER_SOURCE  16    /* [ADDR-10] new buckets one source group can reach */
#define ADDR_TRIED_PER_GROUP 8     /* [ADDR-10] tried buckets one address group can reach */
#define NODE_MAX_CONFIGURED  64
#define NODE_MAX_ADDRS                                                                             \
    ((ADDR_NEW_BUCKETS + ADDR_TRIED_BUCKETS) * ADDR_BUCKET_SIZE + NODE_MAX_CONFIGURED)
#define NODE_MAX_DISCOURAGED      4096
#define NODE_GETPEERS_INTERVAL_MS 60000 /* [DISC-6] one GetPeers per session per minute */
#define NODE_PEERS_ANSWER_MAX     800   /* [ADDR-6] addresses per Peers answer we send */
#define NODE_FAILED_IDS           1024  /* [VAL-18] headers remembered as failed */
#define NODE_CLOSING_MS           5000  /* [CLOSE-8] longest wait to flush a closing session */
/* Per-session rates (spec §13.2): [REQ-21] requests and upload, [REL-22] entries. */
#define NODE_GETHEADERS_PER_S  20
#define NODE_GETHEADERS_BURST  100
#define NODE_GETDATA_PER_S     10000 /* GetBlock, GetChunk, GetManifest */
#define NODE_GETDATA_BURST     10000
#define NODE_UPLOAD_PER_S      (256 << 20)
#define NODE_UPLOAD_BURST      (512 << 20)
#define NODE_ENTRY_BYTES_PER_S (256 << 10)
#define NODE_ENTRY_BYTES_BURST (1 << 20)
#define NODE_ENTRY_COUNT_PER_S 64
#define NODE_ENTRY_COUNT_BURST 256
#define NODE_DEFERRED_MAX      64   /* [VAL-28] headers held for TIME_TOO_NEW */
#define NODE_RUN_COMMITS_MAX   4096 /* [SYNC-45] unstored responses one run may follow */
#define NODE_RATE_TABLE        1024 /* [ADM-5] addresses whose accept rate is tracked */
#define NODE_MAX_INBOUND_HARD  1024 /* --max-inbound is at most this */
#define ADM_PENDING_PER_GROUP  16   /* [ADM-3] pre-handshake inbound per network group */
#define ADM_ACCEPT_BURST       20   /* [ADM-5] connections an address may open at once */
#define ADM_ACCEPT_PER_S       10   /* [ADM-5] and then per second */
#define ADM_PROTECT_GROUPS     4    /* [ADM-4] protected: distinct network groups */
#define ADM_PROTECT_RTT        8    /*         lowest round-trip time */
#define ADM_PROTECT_BLOCKS     4    /*         most recent new block */
#define ADM_PROTECT_ENTRIES    4    /*         most recent new entry */

typedef struct node node;

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

typedef struct peer {
    node *n;
    cairn_conn *conn;
    struct event *ev_read, *ev_write, *ev_timer;
    int outbound;
    int addr_slot; /* address book index for outbound peers, else -1 */
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr[64];
    int ready;
    uint32_t refuse;     /* close with this code as soon as the session starts */
    int fd_closed;       /* the socket is gone with a failed cairn_conn_new */
    int no_discourage;   /* closed for something that is not misbehaviour (TIME_TOO_NEW) */
    uint64_t closing_ms; /* when the session started closing, 0 = not closing */
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
    uint8_t sent_loc0[CAIRN_HASH_LEN]; /* first locator entry of the last GetHeaders */
    uint8_t cont_id[CAIRN_HASH_LEN];   /* [SYNC-20] last header of the run so far */
    uint64_t cont_height;              /* its height; 0 = a run has not started */
    node_commit *commits;              /* [SYNC-45] responses of this run not stored */
    size_t n_commits, cap_commits;
    int redownload;                  /* [SYNC-45] fetching them again, storing */
    const cairn_chain_block *pinned; /* the redownload's last stored header */
    body_req bodies[NODE_BODY_WINDOW];
    unsigned n_bodies;
    uint32_t stall_ms;
    uint64_t last_getpeers_in_ms; /* their last GetPeers to us */
    rate_bucket rl_headers, rl_data, rl_upload, rl_entry_bytes, rl_entry_count; /* limits.c */
    uint64_t peers_rid; /* our outstanding GetPeers */
    struct peer *next;
} peer;

typedef struct addr_entry {
    struct sockaddr_storage sa;
    socklen_t salen;
    uint64_t last_seen_ms; /* last successful handshake (wall clock), 0 = never */
    uint64_t next_try_ms;  /* monotonic */
    uint32_t backoff_ms;
    uint64_t services;
    int configured;                  /* from --peer: always a target */
    uint8_t node_id[CAIRN_HASH_LEN]; /* [ADDR-3] who must answer here, when has_id */
    int has_id;
    int id_mismatches; /* consecutive WRONG_NODE_ID closes */
    int used;          /* the slot holds an address */
    int table;         /* [ADDR-10] 0: configured only, 1: new, 2: tried */
    int bucket, pos;
    uint64_t src_group; /* network group of the peer that told us (new table) */
    int failures;       /* dial attempts since the last success */
    int connected;      /* an outbound peer uses it now */
} addr_entry;

typedef struct discouraged {
    uint8_t ip[16];
    uint8_t node_id[CAIRN_HASH_LEN];
    int has_id;
    uint64_t until_ms;
} discouraged;

typedef struct admit_rate {
    uint8_t ip[16];
    int used;
    uint32_t tokens_milli;
    uint64_t last_ms;
} admit_rate;

typedef struct node_config {
    const char *datadir;
    const char *listen;
    const char *peers[64];
    int n_peers;
    const cairn_network *net;
    int mine;
    uint32_t mine_interval_ms;
    int plaintext;
    const char *share;
    int max_inbound, max_per_ip, outbound_target;
    uint32_t discourage_ms;
    uint32_t handshake_timeout_ms, idle_timeout_ms, ping_interval_ms;
    size_t max_low_work;    /* [SYNC-44] 0: the chain's default, 20000 */
    netaddr_cidr noban[32]; /* --noban CIDR */
    int n_noban;
    int local_network; /* [ADDR-9] --local-network, or listening on a non-routable address */
} node_config;

struct node {
    node_config cfg;
    const cairn_env *env;
    struct event_base *base;
    cairn_identity *id;
    uint8_t node_id[CAIRN_HASH_LEN];
    cairn_tls_ctx *tls_server, *tls_client;
    cairn_store *store;
    cairn_chain *chain;
    cairn_mempool *pool;
    cairn_sha256_ctx *sha;
    struct share *share; /* --share DIR, or NULL */
    uint64_t next_rescan_ms, share_generation;
    int listen_fd;
    uint16_t listen_port;
    struct sockaddr_storage listen_sa; /* what --listen says (normalised) */
    struct event *ev_listen, *ev_tick, *ev_mine, *ev_sigint, *ev_sigterm;
    peer *peers;
    int n_inbound, n_outbound;
    addr_entry addrs[NODE_MAX_ADDRS];
    int n_addrs; /* high-water mark of addrs[]; slots below may be unused */
    int new_tab[ADDR_NEW_BUCKETS][ADDR_BUCKET_SIZE];     /* entry index + 1, 0 = empty */
    int tried_tab[ADDR_TRIED_BUCKETS][ADDR_BUCKET_SIZE]; /* entry index + 1, 0 = empty */
    uint64_t book_key;                                   /* keys the bucket hashes */
    uint64_t next_dial_ms;                               /* [ADDR-11] pace of new dials */
    int addrs_dirty;
    discouraged disc[NODE_MAX_DISCOURAGED];
    int n_disc;
    int disc_dirty;
    admit_rate rate[NODE_RATE_TABLE];
    uint64_t evict_key; /* keys the network-group ranking of eviction protection */
    uint8_t failed[NODE_FAILED_IDS][CAIRN_HASH_LEN]; /* ring of failed header IDs */
    size_t n_failed;
    uint8_t fetch_best[CAIRN_HASH_LEN];       /* [SYNC-33] best header the body window is for */
    uint64_t fetch_from;                      /* lowest height whose body may be missing */
    deferred_hdr deferred[NODE_DEFERRED_MAX]; /* [VAL-27] */
    size_t n_deferred;
    uint64_t mine_nonce; /* where the nonce search goes on */
    uint64_t next_mine_ms;
    uint64_t blocks_mined;
    /* progress.c: initial sync */
    int syncing;          /* far behind the best header since the last catch-up */
    int announce_pending; /* a tip reached inside a batch waits for its commit */
    uint64_t sync_start_ms, sync_start_height, sync_bytes;
    uint64_t sync_last_ms, sync_last_height, sync_last_bytes;
    int stopping;
    int exit_code;
};

/* node.c: lifetime, the event loop, session plumbing */
int node_start(node *n);
void node_run(node *n);
void node_free(node *n);
void node_session_config(node *n, cairn_session_config *cfg);
extern const cairn_session_callbacks node_session_callbacks;

/* peer.c: connections */
int peer_accept(node *n, int fd, const struct sockaddr_storage *sa, socklen_t len);
int peer_dial(node *n, int slot);
void peer_update_events(peer *p);
void peer_close(peer *p, uint32_t code, const char *why);
void peer_free(peer *p);
cairn_session *peer_session(peer *p);

/* admit.c: inbound admission and eviction */
int admit_is_noban(const node *n, const struct sockaddr_storage *sa);
/* 0 to admit, else the code to refuse with; *drop = close without a session. May evict. */
uint32_t admit_inbound(node *n, const struct sockaddr_storage *sa, int *drop);

/* handlers.c: messages */
void handle_message(peer *p, uint16_t type, const ProtobufCMessage *m);
void handle_ready(peer *p);

/* sync.c: headers first, bodies in parallel, announcements, relay, mining */
void sync_tick(node *n);
void sync_on_headers(peer *p, const Cairn__V1__Headers *h);
void sync_on_block(peer *p, const Cairn__V1__Block *b);
void sync_on_not_found(peer *p, uint64_t rid);
void sync_on_announce(peer *p, const Cairn__V1__Announce *a);
void sync_start_headers(peer *p);
void sync_peer_gone(peer *p);
void sync_announce(node *n, const cairn_chain_block *tip, peer *except);
void relay_entries(node *n, const cairn_bytes_ref *entries, size_t count, peer *except);
void mine_step(node *n);
void sync_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                 const cairn_chain_block *fork);

/* limits.c: rates, upload budget, the recent-entry index */
void bucket_refill(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst);
int bucket_take(rate_bucket *b, uint64_t now, int64_t per_s, int64_t burst, int64_t cost);
int limits_request_ok(peer *p, uint16_t type);
void limits_charge_upload(peer *p, size_t bytes);
int limits_entry_ok(peer *p, size_t len);
void limits_rebuild_recent(node *n);
void limits_on_tip(node *n, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip,
                   const cairn_chain_block *fork);
/* progress.c: sync-time store batches and the progress line */
int node_flush(node *n); /* commits the open batch: before a block leaves the node */
void node_sync_before_block(node *n);
void node_sync_before_headers(node *n, size_t count);
void node_sync_after_headers(node *n);
void node_sync_after_block(node *n, size_t bytes);
void node_sync_tick(node *n);

/* addrbook.c */
/* node_id: the node ID expected at the address ([ADDR-3]), or NULL. Returns the
 * entry's index when added, -2 when known (updated), -1 when refused. */
int addrbook_add(node *n, const struct sockaddr_storage *sa, socklen_t len, int configured,
                 uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id);
/* An address learned from the peer at `src` (a Peers answer): non-routable
 * ones refused unless local_network ([ADDR-9]), placed by source group. */
int addrbook_add_from(node *n, const struct sockaddr_storage *sa, socklen_t len, uint64_t services,
                      const uint8_t *node_id, const struct sockaddr_storage *src);
/* [ADDR-10] a READY outbound session: the entry moves to the tried table. */
void addrbook_good(node *n, int slot);
/* [ADDR-11] a failed dial: back off. */
void addrbook_failed(node *n, int slot);
/* [DISC-17] [ADDR-11] the next address to dial, or -1. */
int addrbook_select(node *n);
/* "[NODEID@]HOST:PORT" into an address and, when given, a node ID. 0 or -1. */
int addrbook_parse_peer(const char *text, struct sockaddr_storage *sa, socklen_t *len,
                        uint8_t node_id[CAIRN_HASH_LEN], int *has_id);
void addrbook_load(node *n);
void addrbook_save(node *n);
int addrbook_is_discouraged(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id);
void addrbook_discourage(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id);
void addrbook_disc_load(node *n);
void addrbook_disc_save(node *n);
int addr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

uint64_t node_now(const node *n);
uint64_t node_wall(const node *n);

#endif
