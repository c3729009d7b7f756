/*
 * The node core (reference/lib/node/, target cairn_node): everything a Cairn
 * node decides above the session, without I/O. Per-peer protocol state,
 * headers-first sync with parallel body download and stall timeouts,
 * announcements and entry relay, mining, discovery and the address book,
 * inbound admission, eviction and discouragement (spec §9–§14).
 *
 * Sans-I/O like the rest of libcairn: no socket, event loop, file, database
 * or clock is touched here. Clocks, randomness and the allocator come from a
 * cairn_env; blocks, addresses and discouragements from a cairn_node_store
 * (cairnd plugs SQLite and text files in, tests and the simulator the
 * in-memory store below); served files from an optional cairn_node_files.
 * Every driver — cairnd on libevent, the ns-3 simulator, unit tests, fuzzers —
 * runs the same core.
 *
 * HOW A DRIVER RUNS THE CORE
 *
 *   Events in (the driver calls):
 *     cairn_node_accept()          an inbound transport connected
 *     cairn_node_dial_done()       an outbound connect the core asked for worked
 *     cairn_node_dial_failed()     ... or failed
 *     cairn_node_peer_start()      the transport is secure (TLS done, or at once
 *                                  in plaintext): the core creates the session
 *     cairn_node_peer_recv()       plaintext bytes from the peer
 *     cairn_node_peer_heard()      bytes arrived but are not read yet [ADM-3]
 *     cairn_node_peer_eof()        the transport failed or reached EOF
 *     cairn_node_peer_closed()     the transport is gone: the peer is freed
 *     cairn_node_peer_tick()       the peer's deadline passed
 *     cairn_node_tick()            the core's deadline passed
 *     cairn_node_wake()            the core's wake time passed (paced requests)
 *     cairn_node_mine_step()       a mining slice (cairnd: a 5 ms timer)
 *     cairn_node_publish_entries() local entries (cairnd --share manifests)
 *
 *   Actions out: after EVERY event, the driver drains cairn_node_next_action()
 *   until it returns 0 and carries each out:
 *     CAIRN_NODE_ACT_DIAL    connect to `addr`; answer with dial_done/dial_failed
 *                            quoting `dial_id`
 *     CAIRN_NODE_ACT_FLUSH   `peer` has output: write cairn_node_peer_pending()
 *                            and report cairn_node_peer_sent(); close the
 *                            transport once cairn_node_peer_want_close()
 *     CAIRN_NODE_ACT_DROP    close `peer`'s transport now, nothing more is
 *                            written (eviction before the session, CLOSE-8),
 *                            then call cairn_node_peer_closed()
 *     CAIRN_NODE_ACT_STOP    the store failed: stop the node with `code`
 *   A FLUSH is produced for every peer the core queued output for, whichever
 *   peer's event caused it (a GetBlock that a Headers answer from A queues for
 *   B is flushed in the same turn, not at B's next I/O), once per peer per
 *   drain — the pending-write list of Redis's beforeSleep.
 *
 *   Timers: after draining, cairn_node_deadline() and, per peer,
 *   cairn_node_peer_deadline() say when to call cairn_node_tick() and
 *   cairn_node_peer_tick() next (env->mono_ms; UINT64_MAX = never), and
 *   cairn_node_wake_at() when to call cairn_node_wake(): the core paces its
 *   own requests to a peer (below that peer's reference rates, §13.2) and
 *   asks to be woken when the next may go, which is sooner than a tick.
 *
 *   Per peer, the driver keeps only its transport (socket, TLS, events,
 *   buffers) and a `ud` pointer that the core hands back in actions. A
 *   cairn_node_peer pointer stays valid until the driver calls
 *   cairn_node_peer_closed() (or a DROP action for it was acted on).
 *   A plaintext driver (the simulator) does: accept/dial_done -> peer_start
 *   (binding NULL) -> per received segment peer_recv -> drain actions, write
 *   peer_pending bytes, peer_sent.
 *   A TLS driver (cairnd) lets cairn_conn_new_ext (cairn/net.h) call
 *   cairn_node_peer_start once TLS is done and move the session's bytes; on a
 *   FLUSH it writes with cairn_conn_write. It deletes the connection before
 *   calling cairn_node_peer_closed (the session is the core's).
 *
 *   Callbacks must not re-enter the core. The core is single-threaded.
 */
#ifndef CAIRN_NODE_H
#define CAIRN_NODE_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "cairn/chain.h"
#include "cairn/session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_node cairn_node;
typedef struct cairn_node_peer cairn_node_peer;

/* ---- storage: injected ---------------------------------------------------------- */

/* Called for each entry of a stored block, in order; nonzero stops. */
typedef int (*cairn_node_entry_fn)(void *ud, const uint8_t *entry, size_t len);

/* One address-book record as persisted ([ADDR-10] table 1 = new, 2 = tried). */
typedef struct cairn_node_addr_rec {
    struct sockaddr_storage sa;
    socklen_t salen;
    uint64_t last_seen_ms; /* wall clock; 0 = never reached */
    uint64_t services;
    uint64_t src_group; /* network group of the source; 0 = the address's own */
    uint8_t node_id[CAIRN_HASH_LEN];
    int has_id;
    int table;
} cairn_node_addr_rec;

/* [MIS-13] One discouragement as persisted: expiry in wall-clock ms. */
typedef struct cairn_node_disc_rec {
    uint8_t ip[16]; /* the 16-byte form: IPv4 as ::ffff:a.b.c.d */
    uint8_t node_id[CAIRN_HASH_LEN];
    int has_id;
    uint64_t expiry_wall_ms;
} cairn_node_disc_rec;

/*
 * The node's storage. Calls are synchronous and return when done (the chain's
 * own interface is, and [VAL-32] needs a block durable before it is named).
 * Batch functions follow cairn_store's sync batches ([VAL-31]); a store
 * without batches sets them NULL. Address and discouragement persistence
 * may be NULL (nothing kept across restarts).
 */
typedef struct cairn_node_store {
    const cairn_chain_store *chain; /* the chain's records */
    /* A stored body: header copied (may be NULL), fn per entry (may be NULL).
     * 0, 1 when there is no body for `id`, or a negative error. */
    int (*get_block)(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                     uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn, void *fn_ud);
    int (*in_batch)(void *ud);
    int (*commit_batch)(void *ud);                                /* 0 or error */
    int (*sync_open)(void *ud, uint64_t now_ms);                  /* 0 or error */
    int (*sync_account)(void *ud, uint64_t now_ms, size_t bytes); /* 1 committed, 0, error */
    int (*sync_due)(void *ud, uint64_t now_ms);                   /* 1 committed, 0, error */
    const char *(*errmsg)(void *ud);                              /* may be NULL */
    /* Replaces the persisted address book with `n` records; 0 or error. */
    int (*save_addrs)(void *ud, const cairn_node_addr_rec *recs, size_t n);
    /* Calls fn for each persisted record; fn returning nonzero stops. */
    int (*load_addrs)(void *ud, int (*fn)(void *fn_ud, const cairn_node_addr_rec *r), void *fn_ud);
    int (*save_disc)(void *ud, const cairn_node_disc_rec *recs, size_t n);
    int (*load_disc)(void *ud, int (*fn)(void *fn_ud, const cairn_node_disc_rec *r), void *fn_ud);
    void *ud;
} cairn_node_store;

/* The in-memory store: chain records, bodies, addresses and discouragements
 * in memory (allocator `mem`), for tests and the simulator. Keeps everything
 * until deleted, so a core recreated on it resumes like one on disk. */
typedef struct cairn_node_memstore cairn_node_memstore;
int cairn_node_memstore_new(cairn_node_memstore **out, const cairn_mem *mem);
void cairn_node_memstore_del(cairn_node_memstore *ms);
/* The storage interface; lives as long as `ms`. */
const cairn_node_store *cairn_node_memstore_iface(cairn_node_memstore *ms);
/* Bodies held (for tests). */
size_t cairn_node_memstore_blocks(const cairn_node_memstore *ms);

/* ---- served files: injected, optional -------------------------------------------- */

/* FILES service (spec §11). Return values as share.h: 0, 1 = not found, or a
 * negative error (CAIRN_ERR_PROTO(INVALID_FIELD) for an index past the end).
 * A GetChunk is answered in two steps so the chunk is read straight into its
 * frame: chunk_prepare fills every field of the Chunk but request_id (which
 * the core sets) and the data -- the index, the chunk's length as
 * data.len with data.data NULL, and its Merkle proof -- and chunk_read then
 * writes exactly data.len bytes of that chunk to dst. Neither is compared
 * with the request (the session checks only that the Chunk is a valid
 * message): a provider that sets another index or length answers wrongly. */
typedef struct cairn_node_files {
    int (*manifest)(void *ud, const uint8_t file_id[CAIRN_HASH_LEN], Cairn__V1__Manifest *out);
    int (*chunk_prepare)(void *ud, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                         Cairn__V1__Chunk *out);
    int (*chunk_read)(void *ud, const uint8_t file_id[CAIRN_HASH_LEN], uint64_t index,
                      uint8_t *dst);
    void *ud;
} cairn_node_files;

/* ---- configuration ------------------------------------------------------------------ */

enum { CAIRN_NODE_LOG_ERROR = 0, CAIRN_NODE_LOG_WARN, CAIRN_NODE_LOG_INFO, CAIRN_NODE_LOG_DEBUG };

typedef struct cairn_node_cidr {
    uint8_t ip[16]; /* 16-byte form */
    int bits;       /* prefix length over those 16 bytes */
} cairn_node_cidr;

/* "10.0.0.0/8", "127.0.0.1", "::1/128", "fd00::/8" into a range; 0 or -1. */
int cairn_node_cidr_parse(const char *text, cairn_node_cidr *out);
/* [ADDR-1] ::ffff:a.b.c.d becomes a.b.c.d (port kept); anything else unchanged. */
void cairn_node_addr_normalise(struct sockaddr_storage *sa, socklen_t *len);
/* 1 for a publicly routable unicast IP ([ADDR-9]). */
int cairn_node_addr_routable(const struct sockaddr_storage *sa);
/* 1 for 0.0.0.0, :: and ::ffff:0.0.0.0 (listening everywhere). */
int cairn_node_addr_unspecified(const struct sockaddr_storage *sa);

/* cairn_node_config.outbound_target: dial no address of the book (configured
 * peers are still dialled); 0 there means the default, 8. */
#define CAIRN_NODE_NO_OUTBOUND (-1)

typedef struct cairn_node_config {
    const cairn_network *net;
    const cairn_env *env;                         /* mem, mono_ms, wall_ms, random */
    const cairn_node_store *store;                /* required */
    const cairn_node_files *files;                /* NULL: no FILES service */
    const cairn_identity *identity;               /* required; outlives the core */
    const char *user_agent;                       /* NULL: "cairnd/0.1.0" */
    uint16_t listen_port;                         /* 0: not listening (Hello.listen_port) */
    struct sockaddr_storage listen_sa;            /* what we listen on, normalised; zero: unknown */
    int local_network;                            /* [ADDR-9] accept non-routable addresses */
    int max_inbound, max_per_ip, outbound_target; /* 0: 117, 4, 8; outbound_target
                                                   * CAIRN_NODE_NO_OUTBOUND: none */
    uint32_t discourage_ms;                       /* 0: discouragement off */
    uint32_t handshake_timeout_ms, idle_timeout_ms, ping_interval_ms; /* 0: the spec's */
    size_t max_low_work;       /* [SYNC-44] 0: the chain's default */
    uint32_t mine_interval_ms; /* pause between mined blocks */
    /* [REQ-21] GetBlock/GetChunk/GetManifest a second (and burst) this node
     * serves one peer, and the pace of its own GetBlock to one peer; 0: the
     * reference values of §13.2 (10,000 and 10,000). */
    uint32_t getdata_per_s, getdata_burst;
    /* [REQ-21] The upload budget: bytes of answers a second (and burst) this
     * node sends one peer; 0: the reference values of §13.2 (1 GiB, 1 GiB). */
    uint64_t upload_per_s, upload_burst;
    uint64_t book_key;            /* [ADDR-10] keys bucket placement; keep it across restarts */
    const cairn_node_cidr *noban; /* --noban ranges (copied) */
    int n_noban;
    /* A log line (no newline). NULL: silent. */
    void (*log)(void *ud, int level, const char *line);
    int log_level; /* lines above this level are not even formatted (0 = errors only) */
    /* [ADM-3] Whether bytes from the peer wait unread (the socket's FIONREAD);
     * NULL: only what was fed counts. */
    int (*peer_has_input)(void *ud, void *peer_ud);
    /* The active tip moved (for a driver's own records, e.g. the simulator's
     * propagation times; the best header is cairn_chain_best_header). May be
     * NULL. Must not call into the core. */
    void (*on_tip)(void *ud, const cairn_chain_block *old_tip, const cairn_chain_block *new_tip);
    void *ud;
} cairn_node_config;

/*
 * Creates a core: opens the chain on cfg->store (an empty store gets the
 * genesis block), loads the persisted addresses and discouragements.
 * 0, or a negative error (the chain's, CAIRN_ERR_NOMEM, CAIRN_ERR_INVALID_ARG).
 */
int cairn_node_new(cairn_node **out, const cairn_node_config *cfg);
/* Frees every peer (without actions), saves what is dirty, commits an open
 * batch. NULL is a no-op. */
void cairn_node_del(cairn_node *n);

cairn_chain *cairn_node_chain(cairn_node *n);
cairn_mempool *cairn_node_pool(cairn_node *n);
const uint8_t *cairn_node_id(const cairn_node *n);

/* An address the operator named (--peer): always a dial target. node_id: the
 * ID it must prove [ADDR-3], or NULL. 0, or -1 when refused. */
int cairn_node_add_configured(cairn_node *n, const struct sockaddr *sa, socklen_t len,
                              const uint8_t *node_id);

/* ---- events ------------------------------------------------------------------------- */

/*
 * An inbound transport from `sa`. Returns 0 with *out set (the connection is
 * admitted, or will be told why not once its session starts), or -1 when it
 * is refused outright (accept rate, far over the cap, shutting down): close
 * it without a session. May produce DROP/FLUSH actions for evicted peers.
 */
int cairn_node_accept(cairn_node *n, cairn_node_peer **out, const struct sockaddr *sa,
                      socklen_t len, void *ud);
/* The DIAL action `dial_id` connected: *out is the outbound peer. 0 or error. */
int cairn_node_dial_done(cairn_node *n, int dial_id, cairn_node_peer **out, void *ud);
/* The DIAL action `dial_id` could not connect [ADDR-11]. */
void cairn_node_dial_failed(cairn_node *n, int dial_id);

/* The transport is secure: creates the session (binding: the TLS exporter
 * value, or NULL in plaintext) and queues our Hello. *out (may be NULL) is
 * the session, owned by the core, for a transport helper that moves its bytes. */
int cairn_node_peer_start(cairn_node *n, cairn_node_peer *p, const uint8_t *binding,
                          size_t binding_len, cairn_session **out);
/* Plaintext from the peer: what the session took (fewer under backpressure;
 * feed the rest later), or a negative error (the session is closing). */
long cairn_node_peer_recv(cairn_node *n, cairn_node_peer *p, const uint8_t *data, size_t len);
/* [ADM-3] The peer sent something (the driver saw bytes before reading them). */
void cairn_node_peer_heard(cairn_node *n, cairn_node_peer *p);
/* The transport reached EOF or failed (`why` for the log, may be NULL). */
void cairn_node_peer_eof(cairn_node *n, cairn_node_peer *p, const char *why);
/* The transport is gone: the core forgets the peer and frees its session. */
void cairn_node_peer_closed(cairn_node *n, cairn_node_peer *p);
/* Runs the peer's timers (session timeouts, pings, the closing limit). */
void cairn_node_peer_tick(cairn_node *n, cairn_node_peer *p);
/* Sync upkeep, stalls, dials, batch deadlines: at least every 250 ms. */
void cairn_node_tick(cairn_node *n);
/* Sends the requests that waited for their pace (cheap; no upkeep). */
void cairn_node_wake(cairn_node *n);
/* One slice of the nonce search (at most `tries` hashes; 0 = 20000) when the
 * mining interval allows. 1 when a block was mined, else 0. */
int cairn_node_mine_step(cairn_node *n, uint32_t tries);
/* Entries made here (file manifests): into the pool and relayed. Returns how
 * many were new. */
size_t cairn_node_publish_entries(cairn_node *n, const cairn_bytes_ref *entries, size_t count);
/* Starts shutting down: every session closes with SHUTDOWN, new ones are refused. */
void cairn_node_shutdown(cairn_node *n);

/* ---- actions ------------------------------------------------------------------------ */

enum cairn_node_action_type {
    CAIRN_NODE_ACT_DIAL = 1,
    CAIRN_NODE_ACT_FLUSH,
    CAIRN_NODE_ACT_DROP,
    CAIRN_NODE_ACT_STOP,
};

typedef struct cairn_node_action {
    int type;
    cairn_node_peer *peer;        /* FLUSH, DROP */
    void *ud;                     /* the peer's driver pointer (FLUSH, DROP) */
    int dial_id;                  /* DIAL */
    struct sockaddr_storage addr; /* DIAL */
    socklen_t addr_len;
    int code; /* STOP: exit code */
} cairn_node_action;

/* Takes the next action: 1 with *out filled, 0 when none is left. */
int cairn_node_next_action(cairn_node *n, cairn_node_action *out);

/* ---- what the driver reads ----------------------------------------------------------- */

/* Output waiting for the peer's transport; *data valid until the next call. */
size_t cairn_node_peer_pending(cairn_node *n, cairn_node_peer *p, const uint8_t **data);
/* `len` bytes of it were written. */
void cairn_node_peer_sent(cairn_node *n, cairn_node_peer *p, size_t len);
/* The session ended and its output is out: close the transport. */
int cairn_node_peer_want_close(const cairn_node_peer *p);
/* The session wants input (no backpressure). */
int cairn_node_peer_want_read(const cairn_node_peer *p);
/* NULL before cairn_node_peer_start. */
cairn_session *cairn_node_peer_session(const cairn_node_peer *p);
/* The peer's driver pointer, as given to accept/dial_done. */
void *cairn_node_peer_ud(const cairn_node_peer *p);
/* "127.0.0.1:7317": the peer's address for logs. */
const char *cairn_node_peer_name(const cairn_node_peer *p);
uint64_t cairn_node_peer_deadline(const cairn_node *n, const cairn_node_peer *p);
uint64_t cairn_node_deadline(const cairn_node *n);
/* When cairn_node_wake() is due (env->mono_ms); UINT64_MAX = not needed. */
uint64_t cairn_node_wake_at(const cairn_node *n);
/* Whether the core has finished shutting down (no peer left). */
int cairn_node_stopped(const cairn_node *n);

typedef struct cairn_node_stats {
    int n_inbound, n_outbound, n_ready;
    uint64_t blocks_mined;
    size_t n_addrs;
    int syncing;
} cairn_node_stats;
void cairn_node_get_stats(const cairn_node *n, cairn_node_stats *st);

#ifdef __cplusplus
}
#endif
#endif
