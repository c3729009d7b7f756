/*
 * The node core's storage in cairnd: chain records and bodies in the SQLite
 * store (cairn_store), the address book in DATADIR/peers.txt and
 * discouragements in DATADIR/discouraged.txt, both written to a temporary
 * file and renamed into place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "node.h"

struct persist {
    cairn_store *store;
    const char *datadir; /* lives as long as the program (argv) */
    cairn_node_store iface;
};

static int get_block(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                     uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn, void *fn_ud)
{
    return cairn_store_get_block(((struct persist *)ud)->store, id, header, fn, fn_ud);
}

static int in_batch(void *ud)
{
    return cairn_store_in_batch(((struct persist *)ud)->store);
}

static int commit_batch(void *ud)
{
    return cairn_store_commit_batch(((struct persist *)ud)->store);
}

static int sync_open(void *ud, uint64_t now)
{
    return cairn_store_sync_open(((struct persist *)ud)->store, now);
}

static int sync_account(void *ud, uint64_t now, size_t bytes)
{
    return cairn_store_sync_account(((struct persist *)ud)->store, now, bytes);
}

static int sync_due(void *ud, uint64_t now)
{
    return cairn_store_sync_due(((struct persist *)ud)->store, now);
}

static const char *errmsg(void *ud)
{
    return cairn_store_errmsg(((struct persist *)ud)->store);
}

/* Opens DATADIR/name.tmp for writing; the caller renames it with finish(). */
static FILE *start(const struct persist *p, const char *name, char path[4096], char tmp[4200])
{
    snprintf(path, 4096, "%s/%s", p->datadir, name);
    snprintf(tmp, 4200, "%s.tmp", path);
    return fopen(tmp, "w");
}

static int finish(FILE *f, const char *path, const char *tmp)
{
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        LOGW("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int save_addrs(void *ud, const cairn_node_addr_rec *recs, size_t n)
{
    char path[4096], tmp[4200];
    FILE *f = start(ud, "peers.txt", path, tmp);
    if (!f)
        return -1;
    fprintf(f, "# address last_seen_ms services node_id source_group table\n");
    for (size_t i = 0; i < n; i++) {
        char addr[64], id[65] = "-";
        const cairn_node_addr_rec *a = &recs[i];
        cairn_net_format_addr((const struct sockaddr *)&a->sa, addr, sizeof(addr));
        if (a->has_id)
            cairn_hex_encode(id, a->node_id, CAIRN_HASH_LEN);
        fprintf(f, "%s %llu %llu %s %llx %d\n", addr, (unsigned long long)a->last_seen_ms,
                (unsigned long long)a->services, id, (unsigned long long)a->src_group, a->table);
    }
    return finish(f, path, tmp);
}

static int load_addrs(void *ud, int (*fn)(void *, const cairn_node_addr_rec *), void *fn_ud)
{
    struct persist *p = ud;
    char path[4096], line[256];
    snprintf(path, sizeof(path), "%s/peers.txt", p->datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* none yet */
    int loaded = 0;
    while (fgets(line, sizeof(line), f)) {
        char addr[128], id_hex[80] = "-";
        unsigned long long seen = 0, services = 0, src = 0;
        int table = 1;
        if (sscanf(line, "%127s %llu %llu %79s %llx %d", addr, &seen, &services, id_hex, &src,
                   &table) < 1 ||
            addr[0] == '#')
            continue;
        cairn_node_addr_rec r;
        memset(&r, 0, sizeof(r));
        r.has_id = strlen(id_hex) == 64 && cairn_hex_decode(r.node_id, CAIRN_HASH_LEN, id_hex) == 0;
        if (cairn_net_parse_addr(addr, &r.sa, &r.salen) != 0)
            continue;
        r.last_seen_ms = seen;
        r.services = services;
        r.src_group = src;
        r.table = table;
        loaded++;
        if (fn(fn_ud, &r))
            break;
    }
    fclose(f);
    LOGD("address book: %d addresses from %s", loaded, path);
    return 0;
}

/* [MIS-13] DATADIR/discouraged.txt: "IP NODE_ID|- EXPIRY_UNIX_MS", one a line. */
static int save_disc(void *ud, const cairn_node_disc_rec *recs, size_t n)
{
    char path[4096], tmp[4200];
    FILE *f = start(ud, "discouraged.txt", path, tmp);
    if (!f)
        return -1;
    fprintf(f, "# ip node_id expiry_unix_ms\n");
    for (size_t i = 0; i < n; i++) {
        char ip[33], id[65] = "-";
        cairn_hex_encode(ip, recs[i].ip, 16);
        if (recs[i].has_id)
            cairn_hex_encode(id, recs[i].node_id, CAIRN_HASH_LEN);
        fprintf(f, "%s %s %llu\n", ip, id, (unsigned long long)recs[i].expiry_wall_ms);
    }
    return finish(f, path, tmp);
}

static int load_disc(void *ud, int (*fn)(void *, const cairn_node_disc_rec *), void *fn_ud)
{
    struct persist *p = ud;
    char path[4096], line[256];
    snprintf(path, sizeof(path), "%s/discouraged.txt", p->datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int loaded = 0;
    while (fgets(line, sizeof(line), f)) {
        char ip[40], id[80];
        unsigned long long until;
        if (line[0] == '#' || sscanf(line, "%39s %79s %llu", ip, id, &until) != 3)
            continue; /* a comment or a damaged line */
        cairn_node_disc_rec r;
        memset(&r, 0, sizeof(r));
        if (cairn_hex_decode(r.ip, 16, ip) != 0)
            continue;
        if (strcmp(id, "-") != 0) {
            if (cairn_hex_decode(r.node_id, CAIRN_HASH_LEN, id) != 0)
                continue;
            r.has_id = 1;
        }
        r.expiry_wall_ms = until;
        loaded++;
        if (fn(fn_ud, &r))
            break;
    }
    fclose(f);
    LOGD("discouragement: %d entries from %s", loaded, path);
    return 0;
}

int persist_open(struct persist **out, const char *datadir, const cairn_network *net,
                 const cairn_node_store **iface)
{
    char err[256];
    struct persist *p = calloc(1, sizeof(*p));
    *out = p;
    if (!p)
        return -1;
    p->datadir = datadir;
    if (cairn_store_open(&p->store, datadir, net, 0, err, sizeof(err))) {
        LOGE("store %s: %s", datadir, err);
        return -1;
    }
    p->iface = (cairn_node_store){
        .chain = cairn_store_chain(p->store),
        .get_block = get_block,
        .in_batch = in_batch,
        .commit_batch = commit_batch,
        .sync_open = sync_open,
        .sync_account = sync_account,
        .sync_due = sync_due,
        .errmsg = errmsg,
        .save_addrs = save_addrs,
        .load_addrs = load_addrs,
        .save_disc = save_disc,
        .load_disc = load_disc,
        .ud = p,
    };
    *iface = &p->iface;
    return 0;
}

void persist_close(struct persist *p)
{
    if (!p)
        return;
    if (p->store && cairn_store_in_batch(p->store) && cairn_store_commit_batch(p->store) != 0)
        LOGE("store: the last batch did not commit: %s", cairn_store_errmsg(p->store));
    cairn_store_close(p->store); /* every acknowledged block is already durable */
    free(p);
}
