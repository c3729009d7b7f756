/* cairnd — the Cairn reference node. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cairn/port.h"
#include "log.h"
#include "node.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairnd --datadir DIR [--listen HOST:PORT] [--peer [NODEID@]HOST:PORT]...\n"
            "              [--network devnet|testnet] [--mine] [--plaintext] [--share DIR]\n"
            "\n"
            "Runs a Cairn node: keeps the chain of DIR in sync with its peers over TLS 1.3,\n"
            "relays entries and blocks, mines with --mine and serves files with --share.\n"
            "\n"
            "  --datadir DIR          chain store, node key, address book (created if missing)\n"
            "  --listen HOST:PORT     accept peers here (port 0 picks a free one)\n"
            "  --peer [NODEID@]HOST:PORT\n"
            "                         keep a connection to this peer (repeatable); with NODEID\n"
            "                         (64 hex digits) a peer proving another ID is refused\n"
            "                         with WRONG_NODE_ID\n"
            "  --network NAME         devnet (default) or testnet\n"
            "  --mine                 mine blocks with the pending entries\n"
            "  --mine-interval MS     at most one block per MS (default 1000; 0 = no pause)\n"
            "  --plaintext            no TLS (both ends must say so; tests and captures)\n"
            "  --share DIR            serve every regular file under DIR\n"
            "  --max-inbound N        inbound connections (default 117)\n"
            "  --max-per-ip N         inbound connections per address (default 4)\n"
            "  --outbound N           outbound target from the address book (default 8)\n"
            "  --discourage-ms MS     discourage a misbehaving peer for MS (default 3600000;\n"
            "                         0 = off): it is let in only while inbound slots are free\n"
            "                         and is the first evicted; kept in DIR/discouraged.txt\n"
            "  --local-network        accept loopback, private and link-local addresses from\n"
            "                         peers (implied when --listen is such an address)\n"
            "  --noban CIDR           never discourage or evict addresses in CIDR, e.g.\n"
            "                         127.0.0.1 or 10.0.0.0/8 (repeatable)\n"
            "  --handshake-timeout-ms, --idle-timeout-ms, --ping-interval-ms MS\n"
            "                         session timers (defaults: the spec's 10000, 90000, 30000)\n"
            "  --max-low-work-headers N  low-work headers kept at most (default 20000)\n"
            "  --log-level LEVEL      error, warn, info (default) or debug\n"
            "  --help                 this text\n");
}

enum {
    OPT_MINE_INTERVAL = 256,
    OPT_MAX_INBOUND,
    OPT_MAX_PER_IP,
    OPT_OUTBOUND,
    OPT_DISCOURAGE,
    OPT_HS_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_PING_INTERVAL,
    OPT_LOG_LEVEL,
    OPT_MAX_LOW_WORK,
    OPT_NOBAN,
    OPT_LOCAL_NETWORK,
};

static int number(const char *opt, const char *arg, long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || v < 0 || v > max) {
        fprintf(stderr, "cairnd: --%s: expected a number from 0 to %ld, got \"%s\"\n", opt, max,
                arg);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"datadir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"network", required_argument, NULL, 'n'},
        {"mine", no_argument, NULL, 'm'},
        {"mine-interval", required_argument, NULL, OPT_MINE_INTERVAL},
        {"plaintext", no_argument, NULL, 'P'},
        {"share", required_argument, NULL, 's'},
        {"max-inbound", required_argument, NULL, OPT_MAX_INBOUND},
        {"max-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
        {"outbound", required_argument, NULL, OPT_OUTBOUND},
        {"discourage-ms", required_argument, NULL, OPT_DISCOURAGE},
        {"handshake-timeout-ms", required_argument, NULL, OPT_HS_TIMEOUT},
        {"idle-timeout-ms", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"ping-interval-ms", required_argument, NULL, OPT_PING_INTERVAL},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"max-low-work-headers", required_argument, NULL, OPT_MAX_LOW_WORK},
        {"noban", required_argument, NULL, OPT_NOBAN},
        {"local-network", no_argument, NULL, OPT_LOCAL_NETWORK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static node n;
    n.env = cairn_port_env();
    n.cfg.net = cairn_network_devnet();
    n.cfg.mine_interval_ms = 1000;
    n.cfg.max_inbound = 117;
    n.cfg.max_per_ip = 4;
    n.cfg.outbound_target = 8;
    n.cfg.discourage_ms = 3600000;
    n.cfg.handshake_timeout_ms = CAIRN_HANDSHAKE_TIMEOUT_MS;
    n.cfg.idle_timeout_ms = CAIRN_IDLE_TIMEOUT_MS;
    n.cfg.ping_interval_ms = CAIRN_PING_INTERVAL_MS;
    int c;
    long v;
    int li = 0;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'd':
            n.cfg.datadir = optarg;
            break;
        case 'l':
            n.cfg.listen = optarg;
            break;
        case 'p':
            if (n.cfg.n_peers == (int)(sizeof(n.cfg.peers) / sizeof(n.cfg.peers[0]))) {
                fprintf(stderr, "cairnd: too many --peer options\n");
                return 2;
            }
            n.cfg.peers[n.cfg.n_peers++] = optarg;
            break;
        case 'n':
            n.cfg.net = cairn_network_by_name(optarg);
            if (!n.cfg.net) {
                fprintf(stderr, "cairnd: --network %s: unknown (devnet, testnet)\n", optarg);
                return 2;
            }
            break;
        case 'm':
            n.cfg.mine = 1;
            break;
        case 'P':
            n.cfg.plaintext = 1;
            break;
        case 's':
            n.cfg.share = optarg;
            break;
        case OPT_LOG_LEVEL:
            if ((log_level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "cairnd: --log-level %s: use error, warn, info or debug\n", optarg);
                return 2;
            }
            break;
        case OPT_MAX_LOW_WORK: /* [SYNC-44] */
            if (number("max-low-work-headers", optarg, 100000000L, &v))
                return 2;
            n.cfg.max_low_work = (size_t)v;
            break;
        case OPT_LOCAL_NETWORK:
            n.cfg.local_network = 1;
            break;
        case OPT_NOBAN:
            if (n.cfg.n_noban == (int)(sizeof(n.cfg.noban) / sizeof(n.cfg.noban[0])) ||
                cairn_node_cidr_parse(optarg, &n.cfg.noban[n.cfg.n_noban]) != 0) {
                fprintf(stderr, "cairnd: --noban %s: not an address or CIDR range (at most %d)\n",
                        optarg, (int)(sizeof(n.cfg.noban) / sizeof(n.cfg.noban[0])));
                return 2;
            }
            n.cfg.n_noban++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (c >= OPT_MINE_INTERVAL && c <= OPT_PING_INTERVAL) {
                if (number(opts[li].name, optarg, 86400000L, &v))
                    return 2;
                switch (c) {
                case OPT_MINE_INTERVAL:
                    n.cfg.mine_interval_ms = (uint32_t)v;
                    break;
                case OPT_MAX_INBOUND:
                    n.cfg.max_inbound = (int)v;
                    break;
                case OPT_MAX_PER_IP:
                    n.cfg.max_per_ip = (int)v;
                    break;
                case OPT_OUTBOUND:
                    n.cfg.outbound_target = (int)v;
                    break;
                case OPT_DISCOURAGE:
                    n.cfg.discourage_ms = (uint32_t)v;
                    break;
                case OPT_HS_TIMEOUT:
                    n.cfg.handshake_timeout_ms = (uint32_t)(v ? v : 1);
                    break;
                case OPT_IDLE_TIMEOUT:
                    n.cfg.idle_timeout_ms = (uint32_t)(v ? v : 1);
                    break;
                case OPT_PING_INTERVAL:
                    n.cfg.ping_interval_ms = (uint32_t)(v ? v : 1);
                    break;
                }
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !n.cfg.datadir) {
        fprintf(stderr,
                optind < argc ? "cairnd: unexpected argument \"%s\"\n"
                              : "cairnd: --datadir is required%s\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return 2;
    }
    if (node_start(&n) != 0) {
        node_free(&n);
        return 1;
    }
    node_run(&n);
    LOGI("stopped at height %llu",
         (unsigned long long)cairn_chain_tip(cairn_node_chain(n.core))->hdr.height);
    node_free(&n);
    return n.exit_code;
}
