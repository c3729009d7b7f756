/*
 * The address book (spec §12.2) and discouragement (§13.1): addresses we may
 * dial in new and tried tables of buckets [ADDR-10], their backoff
 * [ADDR-11], and the addresses and node IDs refused for a while after they
 * broke a MUST. Only addrbook.c touches the tables; everyone else goes
 * through these functions and slot numbers.
 */
#ifndef CAIRN_NODE_ADDRBOOK_H
#define CAIRN_NODE_ADDRBOOK_H

#include "cairn/node.h"
#include "netaddr.h"

#define ADDR_NEW_BUCKETS     256 /* [ADDR-10] the "new" table: 256 buckets */
#define ADDR_TRIED_BUCKETS   64  /* [ADDR-10] the "tried" table: 64 buckets */
#define ADDR_BUCKET_SIZE     16  /*           of 16 entries each */
#define ADDR_NEW_PER_SOURCE  16  /* [ADDR-10] new buckets one source group can reach */
#define ADDR_TRIED_PER_GROUP 8   /* [ADDR-10] tried buckets one address group can reach */
#define NODE_MAX_CONFIGURED  64
#define NODE_MAX_ADDRS                                                                             \
    ((ADDR_NEW_BUCKETS + ADDR_TRIED_BUCKETS) * ADDR_BUCKET_SIZE + NODE_MAX_CONFIGURED)
#define NODE_MAX_DISCOURAGED 4096

typedef struct addrbook addrbook;

typedef struct addrbook_config {
    const cairn_env *env;
    uint64_t key;                      /* keys the bucket hashes */
    uint16_t listen_port;              /* [DISC-12] ourselves */
    struct sockaddr_storage listen_sa; /* zero: unknown */
    int local_network;                 /* [ADDR-9] */
    int outbound_target;
    uint32_t discourage_ms;
} addrbook_config;

int addrbook_new(addrbook **out, const addrbook_config *cfg);
void addrbook_del(addrbook *b);

/* node_id: the node ID expected at the address ([ADDR-3]), or NULL. Returns the
 * entry's index when added, -2 when known (updated), -1 when refused. */
int addrbook_add(addrbook *b, const struct sockaddr_storage *sa, socklen_t len, int configured,
                 uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id);
/* A persisted record (placed in its table, by its source group). */
int addrbook_load_rec(addrbook *b, const cairn_node_addr_rec *r);
/* An address learned from the peer at `src` (a Peers answer, an inbound
 * peer's own): non-routable ones refused unless local_network ([ADDR-9]),
 * placed by source group. */
int addrbook_add_from(addrbook *b, const struct sockaddr_storage *sa, socklen_t len,
                      uint64_t services, const uint8_t *node_id,
                      const struct sockaddr_storage *src);
/* [DISC-9] the entry was just reached (wall clock): it may be handed out. */
void addrbook_seen(addrbook *b, int slot, uint64_t wall_ms);
/* [ADDR-10] a READY outbound session: the entry moves to the tried table (it
 * stays in new while its tried cell holds an entry in use) and [ADDR-5]
 * remembers the ID proven there. */
void addrbook_good(addrbook *b, int slot, uint64_t wall_ms, uint64_t services,
                   const uint8_t node_id[CAIRN_HASH_LEN]);
/* [ADDR-11] a failed dial: back off. */
void addrbook_failed(addrbook *b, int slot);
/* [ADDR-3] 0 when `node_id` may answer at the entry, else WRONG_NODE_ID
 * (counted: the third mismatch retires an unconfigured address). */
uint32_t addrbook_check_id(addrbook *b, int slot, const uint8_t node_id[CAIRN_HASH_LEN]);
/* 1 when `node_id` is the one expected at the entry (or none is), without
 * counting a mismatch. */
int addrbook_id_matches(const addrbook *b, int slot, const uint8_t node_id[CAIRN_HASH_LEN]);
/* Never dialled again (we reached ourselves). */
void addrbook_never(addrbook *b, int slot);
/* Not before `when_ms` (monotonic). */
void addrbook_retry_at(addrbook *b, int slot, uint64_t when_ms);
void addrbook_set_connected(addrbook *b, int slot, int connected);
/* An outbound session to the entry ended: after a READY one the entry keeps
 * its backoff, else it backs off further. */
void addrbook_disconnected(addrbook *b, int slot, int was_ready);
int addrbook_is_configured(const addrbook *b, int slot);
/* The entry's address; NULL for a bad slot. */
const struct sockaddr_storage *addrbook_addr(const addrbook *b, int slot, socklen_t *len);
/* [DISC-17] [ADDR-11] the next address to dial, or -1. `groups`: the network
 * groups outbound peers use; n_outbound: how many there are. */
int addrbook_select(addrbook *b, const uint64_t *groups, int n_groups, int n_outbound);
/* The records for a Peers answer or for saving: reached ones only when
 * `reached`, table entries only when `tabled`. Returns how many (at most max). */
size_t addrbook_export(const addrbook *b, cairn_node_addr_rec *out, size_t max, int reached,
                       int tabled);
size_t addrbook_count(const addrbook *b);
int addrbook_dirty(const addrbook *b);
void addrbook_clean(addrbook *b);

int addrbook_is_discouraged(addrbook *b, const struct sockaddr_storage *sa, const uint8_t *node_id);
void addrbook_discourage(addrbook *b, const struct sockaddr_storage *sa, const uint8_t *node_id);
uint32_t addrbook_discourage_ms(const addrbook *b);
size_t addrbook_disc_export(addrbook *b, cairn_node_disc_rec *out, size_t max);
void addrbook_disc_load_rec(addrbook *b, const cairn_node_disc_rec *r);
int addrbook_disc_dirty(const addrbook *b);
void addrbook_disc_clean(addrbook *b);

#endif
