/* cairn info, ping, peers, submit, keygen. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn/port.h"
#include "cli.h"

/* ---- info ------------------------------------------------------------------------ */

static const char info_usage[] =
    "Usage: cairn info ADDR [--no-header] [options]\n"
    "\n"
    "What the peer says about itself in its Hello: node ID, network, protocol\n"
    "version, user agent, services, chain height, tip and total work; then the\n"
    "tip block's header, fetched with GetBlock (unless --no-header).\n"
    "\n"
    "  --no-header   only the Hello\n"
    "\n"
    "JSON: {\"addr\", \"node_id\", \"node_key\", \"network\", \"network_id\", \"version\"\n"
    "(effective), \"user_agent\", \"services\", \"service_names\", \"height\", \"tip\",\n"
    "\"total_work\" (hex), \"listen_port\", \"max_frame_size\", \"time_ms\",\n"
    "\"tip_header\" (as in `cairn headers`, or null), \"tip_age_ms\" and \"syncing\"}\n"
    "\n"
    "syncing: derived, as no message states it: true when the tip's time is more\n"
    "than 1 hour behind the node's clock (the node is catching up, or its network\n"
    "has made no block for an hour), false otherwise; tip_age_ms is that\n"
    "difference (0 when the tip is ahead). Both are null without the tip header.\n";

/* A node that is catching up (VAL-31) serves an old tip. */
#define SYNCING_TIP_AGE_MS 3600000ull

/* The tip's header by GetBlock, or NULL when the peer cannot give it now. */
static int fetch_tip(const cli_common *o, cairn_client *c, const uint8_t tip[CAIRN_HASH_LEN],
                     uint8_t raw[CAIRN_BLOCK_HEADER_LEN], int *have)
{
    *have = 0;
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_BLOCK_ID;
    gb.block_id = (ProtobufCBinaryData){CAIRN_HASH_LEN, (uint8_t *)tip};
    cairn_client_response r;
    int rv = cairn_client_request(c, &gb.base, &r);
    if (rv > 0)
        return 0; /* NotFound, BUSY: the Hello is still worth printing */
    if (rv < 0)
        return cli_client_fail(o, c, rv, &r, "tip block");
    int ex = cli_check_block(o, c, (const Cairn__V1__Block *)r.m);
    if (ex == 0) {
        memcpy(raw, ((const Cairn__V1__Block *)r.m)->header.data, CAIRN_BLOCK_HEADER_LEN);
        *have = 1;
    }
    return ex;
}

static void print_info(const cli_common *o, cairn_client *c, const cairn_peer_info *p,
                       const uint8_t *tip_raw)
{
    char node_id[65], key[65], net_id[65], tip[65], work[70], svc[128], t[40];
    cairn_hex_encode(node_id, p->node_id, CAIRN_HASH_LEN);
    cairn_hex_encode(key, p->node_key, CAIRN_KEY_LEN);
    cairn_hex_encode(net_id, o->net->genesis_id, CAIRN_HASH_LEN);
    cairn_hex_encode(tip, p->tip_id, CAIRN_HASH_LEN);
    cli_format_work(work, sizeof(work), p->total_work);
    cli_format_services(svc, sizeof(svc), p->services);
    uint64_t age = 0;
    if (tip_raw) {
        const uint8_t *hp = tip_raw;
        cairn_block_header h;
        cairn_block_header_decode(&hp, tip_raw + CAIRN_BLOCK_HEADER_LEN, &h);
        age = p->time_ms > h.time_ms ? p->time_ms - h.time_ms : 0;
    }
    if (o->json) {
        /* [HS-25] the handshake passed, so the peer is on our network */
        cli_emit(json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:s, s:s, s:i, s:o, s:o, s:o, s:o, "
            "s:o}",
            "addr", cairn_client_addr(c), "node_id", node_id, "node_key", key, "network",
            o->net->name, "network_id", net_id, "version", (int)p->version, "user_agent",
            p->user_agent, "services", cli_json_u64(p->services), "service_names",
            cli_services_json(p->services), "height", cli_json_u64(p->tip_height), "tip", tip,
            "total_work", work, "listen_port", (int)p->listen_port, "max_frame_size",
            cli_json_u64(p->max_frame_size), "time_ms", cli_json_u64(p->time_ms), "tip_header",
            tip_raw ? cli_header_json(tip_raw) : json_null(), "tip_age_ms",
            tip_raw ? cli_json_u64(age) : json_null(), "syncing",
            tip_raw ? json_boolean(age > SYNCING_TIP_AGE_MS) : json_null()));
        return;
    }
    char ua[4 * CAIRN_MAX_USER_AGENT + 8];
    cli_quote(ua, sizeof(ua), (const uint8_t *)p->user_agent, strlen(p->user_agent));
    printf("addr          %s\n", cairn_client_addr(c));
    printf("node_id       %s\n", node_id);
    printf("network       %s (%s)\n", o->net->name, net_id);
    printf("version       %u\n", p->version);
    printf("user_agent    %s\n", ua);
    printf("services      %s (0x%llx)\n", svc, (unsigned long long)p->services);
    printf("height        %llu\n", (unsigned long long)p->tip_height);
    printf("tip           %s\n", tip);
    printf("total_work    %s\n", work);
    printf("listen_port   %u\n", p->listen_port);
    cli_format_time(t, sizeof(t), p->time_ms);
    printf("time          %s (peer clock)\n", t);
    if (tip_raw)
        printf("syncing       %s (tip %.0f s old)\n", age > SYNCING_TIP_AGE_MS ? "yes" : "no",
               (double)age / 1000.0);
    if (tip_raw) {
        printf("\ntip header\n");
        cli_header_print(stdout, tip_raw);
    }
}

int cmd_info(int argc, char **argv)
{
    const char *no_header = NULL, *pos[1];
    const cli_option opts[] = {{"no-header", 0, &no_header}};
    cli_common o;
    int ex = cli_begin(&o, argc, argv, opts, 1, info_usage, pos, 1, "ADDR");
    if (ex != CLI_CONTINUE)
        return ex;
    cairn_client *c;
    ex = cli_open(&o, &c);
    if (ex)
        return ex;
    cairn_peer_info p = *cairn_client_peer(c);
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    int have = 0;
    /* [REQ-16] only ask for what the peer serves */
    if (!no_header && (p.services & CAIRN_SERVICE_CHAIN))
        ex = fetch_tip(&o, c, p.tip_id, raw, &have);
    if (ex == 0)
        print_info(&o, c, &p, have ? raw : NULL);
    cli_close(c);
    return ex;
}

/* ---- ping ------------------------------------------------------------------------ */

static const char ping_usage[] =
    "Usage: cairn ping ADDR [--count N] [--interval SECONDS] [options]\n"
    "\n"
    "Sends Pings on one session and prints each round trip time.\n"
    "\n"
    "  --count N            number of Pings, 1..1000 (default 3)\n"
    "  --interval SECONDS   pause between Pings (default 0.2; 0 for none)\n"
    "\n"
    "JSON: {\"addr\", \"node_id\", \"count\", \"rtt_ms\": [...], \"min_ms\", \"avg_ms\",\n"
    "\"max_ms\"}\n";

int cmd_ping(int argc, char **argv)
{
    const char *count_s = NULL, *interval_s = NULL, *pos[1];
    const cli_option opts[] = {{"count", 1, &count_s}, {"interval", 1, &interval_s}};
    cli_common o;
    int ex = cli_begin(&o, argc, argv, opts, 2, ping_usage, pos, 1, "ADDR");
    if (ex != CLI_CONTINUE)
        return ex;
    uint64_t count = 3, interval = 200;
    if (count_s && (cli_parse_u64(count_s, &count) || count < 1 || count > 1000))
        return cli_usage_error(&o, "--count wants 1..1000, not '%s'", count_s);
    if (interval_s && strcmp(interval_s, "0") != 0 && cli_parse_seconds(interval_s, &interval))
        return cli_usage_error(&o, "--interval wants seconds, not '%s'", interval_s);
    if (interval_s && strcmp(interval_s, "0") == 0)
        interval = 0;
    cairn_client *c;
    ex = cli_open(&o, &c);
    if (ex)
        return ex;
    char node_id[65];
    cairn_hex_encode(node_id, cairn_client_peer(c)->node_id, CAIRN_HASH_LEN);
    json_t *list = json_array();
    double min = 0, max = 0, sum = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (i && interval && (ex = cairn_client_idle(c, interval)) != 0)
            break;
        uint64_t us;
        if ((ex = cairn_client_ping(c, &us)) != 0)
            break;
        double ms = (double)us / 1000.0;
        min = i == 0 || ms < min ? ms : min;
        max = ms > max ? ms : max;
        sum += ms;
        json_array_append_new(list, json_real(ms));
        if (!o.json)
            printf("pong from %s: seq=%llu time=%.3f ms\n", cairn_client_addr(c),
                   (unsigned long long)i + 1, ms);
        fflush(stdout);
    }
    if (ex) {
        ex = cli_client_fail(&o, c, ex, NULL, NULL);
        json_decref(list);
    } else if (o.json) {
        cli_emit(json_pack("{s:s, s:s, s:I, s:o, s:f, s:f, s:f}", "addr", cairn_client_addr(c),
                           "node_id", node_id, "count", (json_int_t)count, "rtt_ms", list, "min_ms",
                           min, "avg_ms", sum / (double)count, "max_ms", max));
    } else {
        json_decref(list);
        printf("%llu pings, rtt min/avg/max = %.3f/%.3f/%.3f ms\n", (unsigned long long)count, min,
               sum / (double)count, max);
    }
    cli_close(c);
    return ex;
}

/* ---- peers ------------------------------------------------------------------------ */

static const char peers_usage[] =
    "Usage: cairn peers ADDR [options]\n"
    "\n"
    "Asks the peer for the addresses it knows (GetPeers) and prints them with\n"
    "their services and when the peer last saw them.\n"
    "\n"
    "JSON: {\"addr\", \"count\", \"peers\": [{\"addr\", \"ip\", \"port\", \"services\",\n"
    "\"service_names\", \"last_seen_ms\"}]}\n";

int cmd_peers(int argc, char **argv)
{
    const char *pos[1];
    cli_common o;
    int ex = cli_begin(&o, argc, argv, NULL, 0, peers_usage, pos, 1, "ADDR");
    if (ex != CLI_CONTINUE)
        return ex;
    cairn_client *c;
    ex = cli_open(&o, &c);
    if (ex)
        return ex;
    cairn_client_response r;
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    int rv = (ex = cli_need_service(&o, c, CAIRN_SERVICE_PEERS))
                 ? 0
                 : cairn_client_request(c, &gp.base, &r);
    if (!ex && rv)
        ex = cli_client_fail(&o, c, rv, &r, "peer addresses");
    if (ex) {
        cli_close(c);
        return ex;
    }
    const Cairn__V1__Peers *ps = (const Cairn__V1__Peers *)r.m;
    json_t *list = json_array();
    for (size_t i = 0; i < ps->n_peers; i++) {
        const Cairn__V1__PeerAddress *a = ps->peers[i];
        char ip[INET6_ADDRSTRLEN] = "?", addr[80], svc[128], t[40];
        /* [DISC-3] ip is 4 or 16 bytes: checked by the session */
        inet_ntop(a->ip.len == 4 ? AF_INET : AF_INET6, a->ip.data, ip, sizeof(ip));
        snprintf(addr, sizeof(addr), a->ip.len == 4 ? "%s:%u" : "[%s]:%u", ip, a->port);
        cli_format_services(svc, sizeof(svc), a->services);
        if (o.json) {
            json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:o, s:o, s:o}", "addr", addr,
                                                  "ip", ip, "port", (int)a->port, "services",
                                                  cli_json_u64(a->services), "service_names",
                                                  cli_services_json(a->services), "last_seen_ms",
                                                  cli_json_u64(a->last_seen_ms)));
            continue;
        }
        cli_format_time(t, sizeof(t), a->last_seen_ms);
        printf("%-47s services=%s last_seen=%s\n", addr, svc, a->last_seen_ms ? t : "never");
    }
    if (o.json)
        cli_emit(json_pack("{s:s, s:I, s:o}", "addr", cairn_client_addr(c), "count",
                           (json_int_t)ps->n_peers, "peers", list));
    else
        json_decref(list);
    if (!o.json && ps->n_peers == 0)
        printf("%s knows no addresses\n", cairn_client_addr(c));
    cli_close(c);
    return 0;
}

/* ---- submit ----------------------------------------------------------------------- */

static const char submit_usage[] =
    "Usage: cairn submit ADDR (--data TEXT | --file PATH | --hex HEX) [--wait] [options]\n"
    "\n"
    "Submits a data record (the byte 0x00 followed by the data, at most 65535\n"
    "bytes of data) with SubmitEntry and prints the entry ID of the EntryAck,\n"
    "checked to be SHA-256(0x00 || entry) (REL-7).\n"
    "\n"
    "  --data TEXT   the data, as given\n"
    "  --file PATH   the data, read from a file\n"
    "  --hex HEX     the data, as hex digits\n"
    "  --wait        then wait (within --timeout) until a block of the peer's\n"
    "                active chain holds the entry, and print that block\n"
    "\n"
    "JSON: {\"addr\", \"entry_id\", \"length\" (of the entry, kind byte included),\n"
    "and with --wait \"block_id\", \"height\"}\n";

/* The entry 0x00 || data from one of the three sources; 0 or an exit code. */
static int read_entry(const cli_common *o, const char *data, const char *file, const char *hex,
                      uint8_t *entry, size_t *len)
{
    const size_t max = CAIRN_ENTRY_MAX_LEN - 1;
    entry[0] = CAIRN_ENTRY_DATA;
    if (!!data + !!file + !!hex != 1)
        return cli_usage_error(o, "give exactly one of --data, --file and --hex");
    if (data) {
        size_t n = strlen(data);
        if (n > max)
            return cli_usage_error(o, "--data is %zu bytes; an entry holds at most %zu", n, max);
        memcpy(entry + 1, data, n);
        *len = 1 + n;
    } else if (hex) {
        size_t n = strlen(hex);
        if (n % 2 || n / 2 > max || cairn_hex_decode(entry + 1, n / 2, hex) != 0)
            return cli_usage_error(o, "--hex wants an even number of hex digits, at most %zu bytes",
                                   max);
        *len = 1 + n / 2;
    } else {
        FILE *f = fopen(file, "rb");
        if (!f)
            return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "cannot read %s: %s", file, strerror(errno));
        size_t n = fread(entry + 1, 1, max + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad)
            return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "cannot read %s", file);
        if (n > max)
            return cli_usage_error(o, "%s is larger than %zu bytes, the most an entry holds", file,
                                   max);
        *len = 1 + n;
    }
    return 0;
}

/*
 * Looks for the entry in the peer's blocks above `height` (the tip when the
 * session began, so the entry cannot be lower), block by block, retrying a
 * height that does not exist yet until the deadline.
 */
static int wait_included(const cli_common *o, cairn_client *c, uint64_t height,
                         const uint8_t *entry, size_t len, uint8_t block_id[CAIRN_HASH_LEN],
                         uint64_t *found)
{
    for (uint64_t h = height + 1;;) {
        Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
        gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        gb.height = h;
        cairn_client_response r;
        int rv = cairn_client_request(c, &gb.base, &r);
        if (rv == CAIRN_CLIENT_NOT_FOUND || rv == CAIRN_CLIENT_REFUSED) {
            if ((rv = cairn_client_idle(c, 250)) != 0)
                return cli_client_fail(o, c, rv, NULL, NULL);
            if (cairn_port_mono_ms() >= cairn_client_deadline(c))
                return cli_fail(o, CLI_EXIT_FAIL, 0, 0,
                                "the entry was accepted but no block holds it yet (waited up to "
                                "height %llu)",
                                (unsigned long long)h);
            continue;
        }
        if (rv)
            return cli_client_fail(o, c, rv, &r, "block");
        const Cairn__V1__Block *b = (const Cairn__V1__Block *)r.m;
        int ex = cli_check_block(o, c, b);
        if (ex)
            return ex;
        for (size_t i = 0; i < b->n_entries; i++)
            if (b->entries[i].len == len && memcmp(b->entries[i].data, entry, len) == 0) {
                cairn_block_id(NULL, block_id, b->header.data);
                *found = h;
                return 0;
            }
        h++;
    }
}

int cmd_submit(int argc, char **argv)
{
    const char *data = NULL, *file = NULL, *hex = NULL, *wait = NULL, *pos[1];
    const cli_option opts[] = {
        {"data", 1, &data}, {"file", 1, &file}, {"hex", 1, &hex}, {"wait", 0, &wait}};
    cli_common o;
    int ex = cli_begin(&o, argc, argv, opts, 4, submit_usage, pos, 1, "ADDR");
    if (ex != CLI_CONTINUE)
        return ex;
    uint8_t *entry = malloc(CAIRN_ENTRY_MAX_LEN + 1);
    size_t len = 0;
    if (!entry)
        return cli_fail(&o, CLI_EXIT_FAIL, 0, 0, "out of memory");
    ex = read_entry(&o, data, file, hex, entry, &len);
    cairn_client *c = NULL;
    if (ex == 0)
        ex = cli_open(&o, &c);
    if (ex == 0)
        ex = cli_need_service(&o, c, CAIRN_SERVICE_RELAY);
    uint8_t eid[CAIRN_HASH_LEN], bid[CAIRN_HASH_LEN];
    uint64_t height = 0;
    if (ex == 0) {
        Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
        se.entry = (ProtobufCBinaryData){len, entry};
        cairn_client_response r;
        /* [REL-7] the client closes with INVALID_FIELD on a wrong entry_id */
        int rv = cairn_client_request(c, &se.base, &r);
        if (rv)
            ex = cli_client_fail(&o, c, rv, &r, "the entry");
        else
            memcpy(eid, ((const Cairn__V1__EntryAck *)r.m)->entry_id.data, CAIRN_HASH_LEN);
    }
    if (ex == 0 && wait)
        ex = wait_included(&o, c, cairn_client_peer(c)->tip_height, entry, len, bid, &height);
    if (ex == 0) {
        char e_hex[65], b_hex[65];
        cairn_hex_encode(e_hex, eid, CAIRN_HASH_LEN);
        cairn_hex_encode(b_hex, bid, CAIRN_HASH_LEN);
        if (o.json) {
            json_t *j = json_pack("{s:s, s:s, s:I}", "addr", cairn_client_addr(c), "entry_id",
                                  e_hex, "length", (json_int_t)len);
            if (wait) {
                json_object_set_new(j, "block_id", json_string(b_hex));
                json_object_set_new(j, "height", cli_json_u64(height));
            }
            cli_emit(j);
        } else {
            printf("entry_id  %s\nlength    %zu\n", e_hex, len);
            if (wait)
                printf("block_id  %s\nheight    %llu\n", b_hex, (unsigned long long)height);
        }
    }
    cli_close(c);
    free(entry);
    return ex;
}

/* ---- keygen ----------------------------------------------------------------------- */

static const char keygen_usage[] =
    "Usage: cairn keygen [--out FILE] [--json]\n"
    "\n"
    "Makes a fresh Ed25519 node key and prints its seed (hex) and node ID. With\n"
    "--out, writes the seed as 64 hex digits and a newline to FILE (mode 0600,\n"
    "never overwriting), the format of cairnd's DATADIR/node.key, and prints only\n"
    "the node ID. Use the file with --key.\n"
    "\n"
    "JSON: {\"node_id\", \"public_key\", and \"seed\" or \"file\"}\n";

static int write_key(const char *path, const char *hex, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (not overwriting a key)" : "");
        return -1;
    }
    int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    if (!ok)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    if (close(fd) != 0 && ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        ok = 0;
    }
    if (!ok)
        unlink(path);
    return ok ? 0 : -1;
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    const cli_option opts[] = {{"out", 1, &out}};
    cli_common o;
    int ex = cli_begin(&o, argc, argv, opts, 1, keygen_usage, NULL, 0, NULL);
    if (ex != CLI_CONTINUE)
        return ex;
    cairn_identity *id;
    int rv = cairn_identity_generate(&id, cairn_port_env());
    if (rv)
        return cli_fail(&o, CLI_EXIT_FAIL, 0, 0, "cannot make a key: %s", cairn_strerror(rv));
    uint8_t seed[CAIRN_KEY_LEN], node_id[CAIRN_HASH_LEN];
    char seed_hex[65], id_hex[65], pub_hex[65], err[512];
    cairn_identity_seed(id, seed);
    cairn_identity_node_id(id, node_id);
    cairn_hex_encode(seed_hex, seed, CAIRN_KEY_LEN);
    cairn_hex_encode(id_hex, node_id, CAIRN_HASH_LEN);
    cairn_hex_encode(pub_hex, cairn_identity_public(id), CAIRN_KEY_LEN);
    cairn_identity_del(id);
    memset(seed, 0, sizeof(seed));
    ex = 0;
    if (out && write_key(out, seed_hex, err, sizeof(err)) != 0)
        ex = cli_fail(&o, CLI_EXIT_FAIL, 0, 0, "%s", err);
    else if (o.json)
        cli_emit(json_pack("{s:s, s:s, s:s}", "node_id", id_hex, "public_key", pub_hex,
                           out ? "file" : "seed", out ? out : seed_hex));
    else if (out)
        printf("node_id  %s\nfile     %s\n", id_hex, out);
    else
        printf("seed     %s\nnode_id  %s\n", seed_hex, id_hex);
    memset(seed_hex, 0, sizeof(seed_hex));
    return ex;
}
