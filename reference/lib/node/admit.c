/*
 * Inbound admission (spec §12.3, §12.4, §14.4) and who is exempt from
 * discouragement (§13.1). When a connection arrives the node decides, before
 * it spends a TLS handshake on it: refuse it outright (accept rate), make
 * room for it by evicting someone, or refuse it with a session that says why.
 */
#include "node_int.h"

/* ---- --noban ------------------------------------------------------------------ */

int admit_is_noban(const node *n, const struct sockaddr_storage *sa)
{
    for (int i = 0; i < n->cfg.n_noban; i++)
        if (netaddr_cidr_match(&n->noban[i], sa))
            return 1;
    return 0;
}

/* ---- [ADM-5] accept rate per address: a token bucket --------------------------- */

/* The table is hashed by address, 4 ways per bucket, the stalest way replaced. */
static admit_rate *rate_find(node *n, const struct sockaddr_storage *sa, int create)
{
    if (!n->rate && !create)
        return NULL;
    if (!n->rate && !(n->rate = cairn_mem_calloc(n->mem, NODE_RATE_TABLE, sizeof(*n->rate))))
        return NULL;
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    uint64_t h = n->evict_key;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 0x100000001b3ULL;
    admit_rate *way = &n->rate[(h % (NODE_RATE_TABLE / 4)) * 4], *oldest = NULL;
    for (int i = 0; i < 4; i++) {
        admit_rate *r = &way[i];
        if (r->used && memcmp(r->ip, ip, 16) == 0)
            return r;
        if (!oldest || (oldest->used && (!r->used || r->last_ms < oldest->last_ms)))
            oldest = r;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    memcpy(oldest->ip, ip, 16);
    oldest->used = 1;
    oldest->tokens_milli = ADM_ACCEPT_BURST * 1000;
    oldest->last_ms = node_now(n);
    return oldest;
}

static void rate_refill(admit_rate *r, uint64_t now)
{
    uint64_t add = (now - r->last_ms) * ADM_ACCEPT_PER_S; /* milli-tokens */
    r->tokens_milli = r->tokens_milli + add > ADM_ACCEPT_BURST * 1000ULL
                          ? ADM_ACCEPT_BURST * 1000
                          : (uint32_t)(r->tokens_milli + add);
    r->last_ms = now;
}

/* 1 when the address may open another connection now (and takes a token). */
static int rate_take(node *n, const struct sockaddr_storage *sa)
{
    admit_rate *r = rate_find(n, sa, 1);
    if (!r)
        return 1; /* no memory for the table: no accept rate either */
    rate_refill(r, node_now(n));
    if (r->tokens_milli < 1000)
        return 0;
    r->tokens_milli -= 1000;
    return 1;
}

/* Milli-tokens an address has left; a full bucket for an unknown address. */
static uint32_t rate_left(node *n, const struct sockaddr_storage *sa)
{
    admit_rate *r = rate_find(n, sa, 0);
    if (!r)
        return ADM_ACCEPT_BURST * 1000;
    rate_refill(r, node_now(n));
    return r->tokens_milli;
}

/* ---- who counts ----------------------------------------------------------------- */

/* An inbound connection that holds a slot: not already on its way out. */
static int holds_slot(const peer *p)
{
    return !p->outbound && !p->evicted && !p->refuse && !p->closing_ms && !p->dropped;
}

/* How far a pre-handshake connection got: 0 silent, 1 it has sent bytes,
 * 2 TLS done (or plaintext), 3 its Hello arrived. */
static int progress(peer *p)
{
    cairn_session *s = p->sess;
    const cairn_node_config *c = &p->n->cfg;
    if (!p->heard && c->peer_has_input) /* bytes may be waiting that the driver has not read */
        p->heard = c->peer_has_input(c->ud, p->ud);
    if (!s)
        return p->heard;
    return cairn_session_state(s) >= CAIRN_SS_AWAIT_AUTH ? 3 : 1 + p->heard;
}

/*
 * [ADM-3] The pre-handshake connection to evict: the least progress (silent,
 * talking, TLS done, Hello received); then an address that used more than half its accept allowance
 * (ADM-5); then the address with the most pre-handshake connections; then the
 * oldest. Only from `group` when group != 0. Never a --noban address.
 */
static peer *pick_pending(node *n, uint64_t group)
{
    enum { MAX = NODE_MAX_INBOUND_HARD + 32 };
    peer *c[MAX];
    int rank[MAX][3]; /* lower is evicted first: progress, allowance, -count */
    int nc = 0;
    for (peer *q = n->peers; q && nc < MAX; q = q->next)
        if (holds_slot(q) && !q->ready && !q->noban && (!group || q->group == group)) {
            rank[nc][0] = progress(q);
            rank[nc][1] = rate_left(n, &q->sa) >= ADM_ACCEPT_BURST * 1000 / 2;
            c[nc++] = q;
        }
    int best = -1;
    for (int i = 0; i < nc; i++) {
        int k = 0;
        for (int j = 0; j < nc; j++)
            k += netaddr_same_ip(&c[i]->sa, &c[j]->sa);
        rank[i][2] = -k;
        int cmp = 0;
        for (int r = 0; r < 3 && best >= 0 && !cmp; r++)
            cmp = rank[i][r] < rank[best][r] ? -1 : rank[i][r] > rank[best][r];
        if (best < 0 || cmp < 0 || (cmp == 0 && c[i]->connected_ms < c[best]->connected_ms))
            best = i;
    }
    if (best < 0)
        return NULL;
    LOGD(n, "evicting %s: progress %d, allowance %s, %d pre-handshake from its address",
         c[best]->addr, rank[best][0], rank[best][1] ? "unused" : "spent", -rank[best][2]);
    return c[best];
}

/* keyed hash of a network group: which groups are protected is the node's secret */
static uint64_t group_rank(const node *n, uint64_t group)
{
    uint64_t h = n->evict_key ^ group;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static void protect(peer **c, int *nc, int count,
                    int (*better)(const node *, const peer *, const peer *), const node *n)
{
    for (int k = 0; k<count && * nc> 0; k++) {
        int best = 0;
        for (int i = 1; i < *nc; i++)
            if (better(n, c[i], c[best]))
                best = i;
        c[best] = c[--*nc];
    }
}

static int by_group_rank(const node *n, const peer *a, const peer *b)
{
    return group_rank(n, a->group) < group_rank(n, b->group);
}
static int by_rtt(const node *n, const peer *a, const peer *b)
{
    (void)n;
    return a->rtt_ms < b->rtt_ms;
}
static int by_block(const node *n, const peer *a, const peer *b)
{
    (void)n;
    return a->last_block_ms > b->last_block_ms;
}
static int by_entry(const node *n, const peer *a, const peer *b)
{
    (void)n;
    return a->last_entry_ms > b->last_entry_ms;
}
static int by_age(const node *n, const peer *a, const peer *b)
{
    (void)n;
    return a->connected_ms < b->connected_ms;
}

/* Protects one peer in each of `count` distinct groups, the groups of lowest keyed rank. */
static void protect_groups(peer **c, int *nc, int count, const node *n)
{
    uint64_t done[16];
    int nd = 0;
    for (int k = 0; k < count && k < 16 && *nc > 0; k++) {
        int best = -1;
        for (int i = 0; i < *nc; i++) {
            int seen = 0;
            for (int j = 0; j < nd && !seen; j++)
                seen = done[j] == c[i]->group;
            if (!seen && (best < 0 || by_group_rank(n, c[i], c[best])))
                best = i;
        }
        if (best < 0)
            return;
        done[nd++] = c[best]->group;
        c[best] = c[--*nc];
    }
}

/* [ADM-4] The READY inbound peer to evict, or NULL when every one is protected. */
static peer *pick_ready(node *n)
{
    peer *c[NODE_MAX_INBOUND_HARD];
    int nc = 0;
    peer *disc = NULL;
    for (peer *q = n->peers; q && nc < NODE_MAX_INBOUND_HARD; q = q->next) {
        if (!holds_slot(q) || !q->ready || q->noban)
            continue;
        c[nc++] = q;
        if (q->discouraged && (!disc || q->connected_ms > disc->connected_ms))
            disc = q;
    }
    if (disc) /* [MIS-11] discouraged peers go first, the youngest of them */
        return disc;
    protect_groups(c, &nc, ADM_PROTECT_GROUPS, n);
    protect(c, &nc, ADM_PROTECT_RTT, by_rtt, n);
    protect(c, &nc, ADM_PROTECT_BLOCKS, by_block, n);
    protect(c, &nc, ADM_PROTECT_ENTRIES, by_entry, n);
    protect(c, &nc, nc / 2, by_age, n);
    if (nc == 0)
        return NULL;
    /* the network group with the most candidates loses its youngest */
    peer *victim = NULL;
    int victim_k = 0;
    for (int i = 0; i < nc; i++) {
        int k = 0;
        peer *young = NULL;
        for (int j = 0; j < nc; j++)
            if (c[j]->group == c[i]->group) {
                k++;
                if (!young || c[j]->connected_ms > young->connected_ms)
                    young = c[j];
            }
        if (k > victim_k || (k == victim_k && young->connected_ms > victim->connected_ms)) {
            victim = young;
            victim_k = k;
        }
    }
    return victim;
}

static void evict(peer *p, const char *why)
{
    LOGI(p->n, "peer %s: evicted (%s)", p->addr, why);
    p->evicted = 1;
    p->no_discourage = 1;
    peer_close(p, CAIRN_E_TOO_MANY_PEERS, why); /* [ADM-2]; no session yet: just close */
}

uint32_t admit_inbound(node *n, const struct sockaddr_storage *sa, int *drop)
{
    *drop = 0;
    if (admit_is_noban(n, sa))
        return 0;
    if (!rate_take(n, sa)) { /* [ADM-5] too many connections from this address: no session */
        *drop = 1;
        return CAIRN_E_TOO_MANY_PEERS;
    }
    int inbound = 0, same_ip = 0, group_pending = 0;
    uint64_t group = netaddr_group(sa);
    for (peer *q = n->peers; q; q = q->next) {
        if (!holds_slot(q))
            continue;
        inbound++;
        same_ip += netaddr_same_ip(&q->sa, sa);
        group_pending += !q->ready && q->group == group;
    }
    if (same_ip >= n->cfg.max_per_ip) /* [DISC-15] */
        return CAIRN_E_TOO_MANY_PEERS;
    int is_disc = addrbook_is_discouraged(n->book, sa, NULL);
    if (group_pending >= ADM_PENDING_PER_GROUP) { /* [ADM-3] */
        peer *v = pick_pending(n, group);
        if (!v)
            return CAIRN_E_TOO_MANY_PEERS;
        evict(v, "pre-handshake connections of its network group at the cap");
        inbound--;
    }
    if (inbound < n->cfg.max_inbound)
        return 0; /* [MIS-10] a free slot: discouraged or not, come in */
    if (is_disc)  /* [MIS-11] nobody is evicted for a discouraged newcomer */
        return CAIRN_E_DISCOURAGED;
    peer *v = pick_pending(n, 0);
    if (!v)
        v = pick_ready(n);
    if (!v)
        return CAIRN_E_TOO_MANY_PEERS; /* [DISC-16] every inbound peer is protected */
    evict(v, "inbound slots full");
    return 0;
}
