/*
 * cairnd, the driver of the node core (cairn/node.h): libevent for readiness
 * and timers, cairn_conn (net/) for sockets and TLS, the SQLite store and
 * text files behind cairn_node_store, --share behind cairn_node_files. What
 * the node decides is the core's; this program moves bytes and keeps time.
 *
 * Files call one another in one direction: main.c -> node.c -> peer.c
 * (connections, the core's actions), node.c -> persist.c (the store),
 * node.c -> share_index.c, share_serve.c (--share; the serving half uses the
 * index's helpers, never the other way); log.c below all.
 */
#ifndef CAIRND_NODE_H
#define CAIRND_NODE_H

#include <event2/event.h>
#include <netinet/in.h>

#include "cairn/net.h"
#include "cairn/node.h"
#include "cairn/store.h"

#define NODE_ACCEPT_BATCH 8 /* [ADM-8] accepts per loop turn (on_accept) */

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
    size_t max_low_work;       /* [SYNC-44] 0: the chain's default, 20000 */
    cairn_node_cidr noban[32]; /* --noban CIDR */
    int n_noban;
    int local_network; /* [ADDR-9] --local-network, or listening on a non-routable address */
} node_config;

struct conn_peer;
struct share;
struct persist;

typedef struct node {
    node_config cfg;
    const cairn_env *env;
    struct event_base *base;
    cairn_identity *id;
    cairn_tls_ctx *tls_server, *tls_client;
    struct persist *persist;
    cairn_node *core;
    struct share *share; /* --share DIR, or NULL */
    cairn_node_files files;
    uint64_t next_rescan_ms, share_generation;
    int listen_fd;
    struct event *ev_listen, *ev_tick, *ev_mine, *ev_sigint, *ev_sigterm;
    struct event *ev_wake;   /* the core's wake time (paced requests) */
    uint64_t wake_armed;     /* the time ev_wake is set for, UINT64_MAX = none */
    struct conn_peer *conns; /* every connection, dialling ones too */
    int stopping;
    int exit_code;
} node;

/* node.c: lifetime, the event loop */
int node_start(node *n);
void node_run(node *n);
void node_free(node *n);

/* peer.c: connections and the core's actions */
/* A connection arrived: the core admits it or not. */
void conn_accept(node *n, int fd, const struct sockaddr_storage *sa, socklen_t len);
/* Carries out every action the core has: dials, flushes, drops, stop. Called
 * at the end of every event, so every peer with output is flushed each turn. */
void conn_drain(node *n);
/* Abandons the connects under way (shutdown). */
void conn_stop_dials(node *n);
/* Closes every connection (exit). */
void conn_free_all(node *n);
/* [ADM-3] bytes from the peer wait unread (FIONREAD). */
int conn_has_input(void *ud, void *peer_ud);

/* persist.c: the core's storage over cairn_store (SQLite) and two text files */
int persist_open(struct persist **out, const char *datadir, const cairn_network *net,
                 const cairn_node_store **iface);
void persist_close(struct persist *p);

#endif
