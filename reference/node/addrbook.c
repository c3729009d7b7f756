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

int addrbook_add(node *n, const struct sockaddr_storage *sa_in, socklen_t len, int configured,
                 uint64_t services, uint64_t last_seen_ms, const uint8_t *node_id)
{
    struct sockaddr_storage norm = *sa_in, *sa = &norm;
    netaddr_normalise(sa, &len); /* [ADDR-1] before the self and duplicate checks */
    int port = netaddr_port(sa);
    if (port == 0)
        return -1;
    /* ourselves: same port on a loopback or unspecified address we listen on */
    if (port == n->listen_port && sa->ss_family == AF_INET &&
        (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127 && !configured)
        return -1;
    for (int i = 0; i < n->n_addrs; i++)
        if (same_addr(&n->addrs[i].sa, sa)) {
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
    if (n->n_addrs == NODE_MAX_ADDRS) /* [DISC-10] full: new addresses are refused */
        return -1;
    addr_entry *a = &n->addrs[n->n_addrs];
    memset(a, 0, sizeof(*a));
    a->sa = *sa;
    a->salen = len;
    a->configured = configured;
    a->services = services;
    a->last_seen_ms = last_seen_ms;
    if (node_id) {
        memcpy(a->node_id, node_id, CAIRN_HASH_LEN);
        a->has_id = 1;
    }
    n->addrs_dirty = 1;
    return n->n_addrs++;
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
        unsigned long long seen = 0, services = 0;
        if (sscanf(line, "%127s %llu %llu %79s", addr, &seen, &services, id_hex) < 1 ||
            addr[0] == '#')
            continue;
        struct sockaddr_storage sa;
        socklen_t len;
        uint8_t id[CAIRN_HASH_LEN];
        int has_id = strlen(id_hex) == 64 && cairn_hex_decode(id, CAIRN_HASH_LEN, id_hex) == 0;
        if (cairn_net_parse_addr(addr, &sa, &len) == 0 &&
            addrbook_add(n, &sa, len, 0, services, seen, has_id ? id : NULL) >= 0)
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
    fprintf(f, "# address last_seen_ms services node_id\n");
    for (int i = 0; i < n->n_addrs; i++) {
        char addr[64], id[65] = "-";
        const addr_entry *a = &n->addrs[i];
        cairn_net_format_addr((const struct sockaddr *)&a->sa, addr, sizeof(addr));
        if (a->has_id)
            cairn_hex_encode(id, a->node_id, CAIRN_HASH_LEN);
        fprintf(f, "%s %llu %llu %s\n", addr, (unsigned long long)a->last_seen_ms,
                (unsigned long long)a->services, id);
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

/* [MIS-93] DATADIR/discouraged.txt: "IP NODE_ID|- EXPIRY_UNIX_MS", one a line.
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
