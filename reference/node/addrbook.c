/*
 * The address book (spec §12) and discouragement (§13.1): addresses we may
 * dial, persisted as text in DATADIR/peers.txt, and the peers we refuse for a
 * while after they broke a MUST.
 */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "node.h"

int addr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return netaddr_same_ip(a, b);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return netaddr_same(a, b);
}

int addrbook_parse_peer(const char *text, struct sockaddr_storage *sa, socklen_t *len,
                        uint8_t node_id[CAIRN_HASH_LEN], int *has_id)
{
    const char *at = strchr(text, '@');
    *has_id = 0;
    if (at) { /* [ADDR-4] NODEID@HOST:PORT */
        char hex[2 * CAIRN_HASH_LEN + 1];
        if (at - text != 2 * CAIRN_HASH_LEN)
            return -1;
        memcpy(hex, text, sizeof(hex) - 1);
        hex[sizeof(hex) - 1] = '\0';
        if (cairn_hex_decode(node_id, CAIRN_HASH_LEN, hex) != 0)
            return -1;
        *has_id = 1;
        text = at + 1;
    }
    if (cairn_net_parse_addr(text, sa, len) != 0)
        return -1;
    netaddr_normalise(sa, len); /* [ADDR-1] */
    return 0;
}

/* ---- buckets [ADDR-10] ------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

static uint64_t addr_hash(const node *n, const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    uint64_t h = n->book_key, w;
    for (int i = 0; i < 16; i += 8) {
        memcpy(&w, ip + i, 8);
        h = mix(h, w);
    }
    return mix(h, netaddr_port(sa));
}

/* A source group reaches ADDR_NEW_PER_SOURCE of the new buckets, whatever it sends. */
static int new_bucket(const node *n, uint64_t src_group, const struct sockaddr_storage *sa)
{
    uint64_t sub = mix(mix(n->book_key, netaddr_group(sa)), src_group) % ADDR_NEW_PER_SOURCE;
    return (int)(mix(mix(n->book_key ^ 1, src_group), sub) % ADDR_NEW_BUCKETS);
}

static int tried_bucket(const node *n, const struct sockaddr_storage *sa)
{
    uint64_t sub = addr_hash(n, sa) % ADDR_TRIED_PER_GROUP;
    return (int)(mix(mix(n->book_key ^ 2, netaddr_group(sa)), sub) % ADDR_TRIED_BUCKETS);
}

static int bucket_pos(const node *n, int table, int bucket, const struct sockaddr_storage *sa)
{
    return (int)(mix(addr_hash(n, sa) ^ (uint64_t)table, (uint64_t)bucket) % ADDR_BUCKET_SIZE);
}

static int *cell(node *n, int table, int bucket, int pos)
{
    return table == 2 ? &n->tried_tab[bucket][pos] : &n->new_tab[bucket][pos];
}

/* [ADDR-10] an entry that may give way: failing, never reached, or not seen for 30 days */
static int terrible(const node *n, const addr_entry *a)
{
    if (a->connected || a->configured)
        return 0;
    if (a->failures >= 3 && !a->last_seen_ms)
        return 1;
    return a->failures >= 10 ||
           (a->last_seen_ms && node_wall(n) - a->last_seen_ms > 30ULL * 86400 * 1000);
}

static void unplace(node *n, int idx)
{
    addr_entry *a = &n->addrs[idx];
    if (a->table)
        *cell(n, a->table, a->bucket, a->pos) = 0;
    a->table = 0;
}

static void drop(node *n, int idx)
{
    unplace(n, idx);
    memset(&n->addrs[idx], 0, sizeof(n->addrs[idx]));
    n->addrs_dirty = 1;
}

/* Puts entry idx into its cell of `table`; the occupant gives way only when
 * terrible. Returns 0, or -1 when the cell is held by a useful entry. */
static int place(node *n, int idx, int table)
{
    addr_entry *a = &n->addrs[idx];
    int b = table == 2 ? tried_bucket(n, &a->sa) : new_bucket(n, a->src_group, &a->sa);
    int pos = bucket_pos(n, table, b, &a->sa);
    int *c = cell(n, table, b, pos);
    if (*c && *c - 1 != idx) {
        int old = *c - 1;
        if (table == 2 && !terrible(n, &n->addrs[old])) {
            /* [ADDR-10] tried to tried: the older entry goes back to new */
            unplace(n, old);
            if (place(n, old, 1) != 0 && !n->addrs[old].configured && !n->addrs[old].connected)
                drop(n, old);
        } else if (terrible(n, &n->addrs[old])) {
            if (n->addrs[old].configured || n->addrs[old].connected)
                unplace(n, old);
            else
                drop(n, old);
        } else {
            return -1;
        }
    }
    unplace(n, idx);
    *c = idx + 1;
    a->table = table;
    a->bucket = b;
    a->pos = pos;
    return 0;
}

static int free_slot(node *n)
{
    for (int i = 0; i < n->n_addrs; i++)
        if (!n->addrs[i].used)
            return i;
    return n->n_addrs < NODE_MAX_ADDRS ? n->n_addrs : -1;
}

static int is_self(const node *n, const struct sockaddr_storage *sa)
{
    if (netaddr_port(sa) != n->listen_port)
        return 0;
    if (n->listen_sa.ss_family && netaddr_same_ip(sa, &n->listen_sa))
        return 1;
    /* a loopback address of ours when we listen on loopback or everywhere */
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (ip[10] == 0xff && ip[11] == 0xff && ip[12] == 127) || !memcmp(ip, v6lo, 16);
}

static int add_entry(node *n, const struct sockaddr_storage *sa_in, socklen_t len, int configured,
                     uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id,
                     uint64_t src_group, int table)
{
    struct sockaddr_storage norm = *sa_in, *sa = &norm;
    netaddr_normalise(sa, &len); /* [ADDR-1] before the self and duplicate checks */
    if (netaddr_port(sa) == 0)
        return -1;
    if (!configured && is_self(n, sa)) /* [DISC-12] ourselves */
        return -1;
    for (int i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].used && same_addr(&n->addrs[i].sa, sa)) {
            addr_entry *a = &n->addrs[i];
            a->configured |= configured;
            if (services)
                a->services = services;
            if (node_id && configured) { /* the operator's word wins */
                memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
                a->has_id = 1;
            }
            return -2;
        }
    int idx = free_slot(n);
    if (idx < 0)
        return -1;
    addr_entry *a = &n->addrs[idx];
    memset(a, 0, sizeof(*a));
    a->used = 1;
    a->sa = *sa;
    a->salen = len;
    a->configured = configured;
    a->services = services;
    a->last_seen_ms = last_seen_ms;
    a->src_group = src_group;
    if (node_id) {
        memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
        a->has_id = 1;
    }
    if (place(n, idx, table) != 0 && !configured) { /* [ADDR-10] its cell is taken */
        memset(a, 0, sizeof(*a));
        return -1;
    }
    if (idx == n->n_addrs)
        n->n_addrs++;
    n->addrs_dirty = 1;
    return idx;
}

int addrbook_add(node *n, const struct sockaddr_storage *sa, socklen_t len, int configured,
                 uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id)
{
    /* configured and loaded addresses are placed as if they told us themselves */
    return add_entry(n, sa, len, configured, services, last_seen_ms, node_id, netaddr_group(sa), 1);
}

int addrbook_add_from(node *n, const struct sockaddr_storage *sa, socklen_t len, uint64_t services,
                      const uint8_t *node_id, const struct sockaddr_storage *src)
{
    struct sockaddr_storage norm = *sa;
    netaddr_normalise(&norm, &len);
    if (!n->cfg.local_network && !netaddr_routable(&norm)) /* [ADDR-9] */
        return -1;
    return add_entry(n, &norm, len, 0, services, 0, node_id, netaddr_group(src), 1);
}

void addrbook_good(node *n, int slot)
{
    addr_entry *a = &n->addrs[slot];
    a->failures = 0;
    a->backoff_ms = 0;
    if (a->table != 2 && place(n, slot, 2) == 0)
        n->addrs_dirty = 1;
}

void addrbook_failed(node *n, int slot)
{
    addr_entry *a = &n->addrs[slot];
    uint32_t cap = a->configured ? 60000 : 3600000; /* [ADDR-11] [MIS-14] */
    a->failures++;
    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : 1000;
    if (a->backoff_ms > cap)
        a->backoff_ms = cap;
    a->next_try_ms = node_now(n) + a->backoff_ms;
}

/* [DISC-17] [ADDR-11] Configured addresses first; then a random entry of the
 * tried or the new table (even odds) whose network group no outbound peer
 * uses yet, at most one new dial per 500 ms. */
int addrbook_select(node *n)
{
    uint64_t now = node_now(n);
    for (int i = 0; i < n->n_addrs; i++) {
        addr_entry *a = &n->addrs[i];
        if (a->used && a->configured && !a->connected && a->next_try_ms <= now)
            return i;
    }
    if (n->n_outbound >= n->cfg.outbound_target || now < n->next_dial_ms)
        return -1;
    uint64_t groups[64];
    int ng = 0;
    for (peer *q = n->peers; q && ng < 64; q = q->next)
        if (q->outbound)
            groups[ng++] = netaddr_group(&q->sa);
    uint64_t r;
    n->env->random((uint8_t *)&r, sizeof(r), n->env->ud);
    for (int tries = 0; tries < 256; tries++) {
        r = mix(r, (uint64_t)tries);
        int table = (r & 1) ? 2 : 1;
        int buckets = table == 2 ? ADDR_TRIED_BUCKETS : ADDR_NEW_BUCKETS;
        int c = *cell(n, table, (int)((r >> 1) % (uint64_t)buckets),
                      (int)((r >> 20) % ADDR_BUCKET_SIZE));
        if (!c)
            continue;
        addr_entry *a = &n->addrs[c - 1];
        if (a->connected || a->next_try_ms > now || addrbook_is_discouraged(n, &a->sa, NULL))
            continue;
        int same = 0;
        for (int g = 0; g < ng && !same; g++)
            same = groups[g] == netaddr_group(&a->sa);
        if (same)
            continue;
        n->next_dial_ms = now + 500;
        return c - 1;
    }
    return -1;
}

void addrbook_load(node *n)
{
    char path[4096], line[256];
    snprintf(path, sizeof(path), "%s/peers.txt", n->cfg.datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    int loaded = 0;
    while (fgets(line, sizeof(line), f)) {
        char addr[128], id_hex[80] = "-";
        unsigned long long seen = 0, services = 0, src = 0;
        int table = 1;
        if (sscanf(line, "%127s %llu %llu %79s %llx %d", addr, &seen, &services, id_hex, &src,
                   &table) < 1 ||
            addr[0] == '#')
            continue;
        struct sockaddr_storage sa;
        socklen_t len;
        uint8_t id[CAIRN_HASH_LEN];
        int has_id = strlen(id_hex) == 64 && cairn_hex_decode(id, CAIRN_HASH_LEN, id_hex) == 0;
        if (cairn_net_parse_addr(addr, &sa, &len) != 0)
            continue;
        netaddr_normalise(&sa, &len);
        if (!n->cfg.local_network && !netaddr_routable(&sa))
            continue; /* [ADDR-9] saved in local-network mode, or a --peer's: not learned */
        if (add_entry(n, &sa, len, 0, services, seen, has_id ? id : NULL,
                      src ? src : netaddr_group(&sa), table == 2 ? 2 : 1) >= 0)
            loaded++;
    }
    fclose(f);
    n->addrs_dirty = 0;
    LOGD("address book: %d addresses from %s", loaded, path);
}

void addrbook_save(node *n)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/peers.txt", n->cfg.datadir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "# address last_seen_ms services node_id source_group table\n");
    for (int i = 0; i < n->n_addrs; i++) {
        char addr[64], id[65] = "-";
        const addr_entry *a = &n->addrs[i];
        if (!a->used || !a->table) /* configured-only entries come from the command line */
            continue;
        cairn_net_format_addr((const struct sockaddr *)&a->sa, addr, sizeof(addr));
        if (a->has_id)
            cairn_hex_encode(id, a->node_id, CAIRN_HASH_LEN);
        fprintf(f, "%s %llu %llu %s %llx %d\n", addr, (unsigned long long)a->last_seen_ms,
                (unsigned long long)a->services, id, (unsigned long long)a->src_group, a->table);
    }
    if (fclose(f) == 0 && rename(tmp, path) == 0)
        n->addrs_dirty = 0;
}

static void ip_bytes(const struct sockaddr_storage *sa, uint8_t out[16])
{
    netaddr_ip16(sa, out); /* [ADDR-1] one form for IPv4, mapped or not */
}

int addrbook_is_discouraged(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id)
{
    uint64_t now = node_now(n);
    uint8_t ip[16];
    if (sa)
        ip_bytes(sa, ip);
    for (int i = 0; i < n->n_disc; i++) {
        discouraged *d = &n->disc[i];
        if (d->until_ms <= now) { /* expired: drop it */
            *d = n->disc[--n->n_disc];
            i--;
            continue;
        }
        if (sa && memcmp(d->ip, ip, 16) == 0)
            return 1;
        if (node_id && d->has_id && memcmp(d->node_id, node_id, CAIRN_HASH_LEN) == 0)
            return 1;
    }
    return 0;
}

void addrbook_discourage(node *n, const struct sockaddr_storage *sa, const uint8_t *node_id)
{
    if (!n->cfg.discourage_ms)
        return;
    if (n->n_disc == NODE_MAX_DISCOURAGED) /* full: the oldest entry gives way */
        memmove(n->disc, n->disc + 1, sizeof(n->disc[0]) * --n->n_disc);
    discouraged *d = &n->disc[n->n_disc++];
    memset(d, 0, sizeof(*d));
    ip_bytes(sa, d->ip);
    if (node_id) {
        memcpy(d->node_id, node_id, CAIRN_HASH_LEN);
        d->has_id = 1;
    }
    d->until_ms = node_now(n) + n->cfg.discourage_ms;
    n->disc_dirty = 1;
}

/* [MIS-13] DATADIR/discouraged.txt: "IP NODE_ID|- EXPIRY_UNIX_MS", one a line.
 * Expiry is kept in wall-clock time on disk, monotonic time in memory. */
void addrbook_disc_save(node *n)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/discouraged.txt", n->cfg.datadir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    uint64_t now = node_now(n), wall = node_wall(n);
    fprintf(f, "# ip node_id expiry_unix_ms\n");
    for (int i = 0; i < n->n_disc; i++) {
        const discouraged *d = &n->disc[i];
        if (d->until_ms <= now)
            continue;
        char ip[33], id[65] = "-";
        cairn_hex_encode(ip, d->ip, 16);
        if (d->has_id)
            cairn_hex_encode(id, d->node_id, CAIRN_HASH_LEN);
        fprintf(f, "%s %s %llu\n", ip, id, (unsigned long long)(wall + (d->until_ms - now)));
    }
    if (fclose(f) == 0 && rename(tmp, path) == 0)
        n->disc_dirty = 0;
}

void addrbook_disc_load(node *n)
{
    char path[4096], line[256];
    snprintf(path, sizeof(path), "%s/discouraged.txt", n->cfg.datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    uint64_t now = node_now(n), wall = node_wall(n);
    while (fgets(line, sizeof(line), f) && n->n_disc < NODE_MAX_DISCOURAGED) {
        char ip[40], id[80];
        unsigned long long until;
        if (line[0] == '#' || sscanf(line, "%39s %79s %llu", ip, id, &until) != 3 || until <= wall)
            continue; /* a comment, a damaged line, or expired */
        discouraged d;
        memset(&d, 0, sizeof(d));
        if (cairn_hex_decode(d.ip, 16, ip) != 0)
            continue;
        if (strcmp(id, "-") != 0) {
            if (cairn_hex_decode(d.node_id, CAIRN_HASH_LEN, id) != 0)
                continue;
            d.has_id = 1;
        }
        uint64_t left = until - wall;
        if (left > n->cfg.discourage_ms) /* never longer than this run's setting */
            left = n->cfg.discourage_ms;
        if (!left)
            continue;
        d.until_ms = now + left;
        n->disc[n->n_disc++] = d;
    }
    fclose(f);
    LOGD("discouragement: %d entries from %s", n->n_disc, path);
}
