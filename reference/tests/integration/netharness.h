/*
 * Multi-node test harness: start cairnd processes on free loopback ports,
 * look at them through the protocol itself (a client session's view of the
 * node's Hello), and stop them. Every wait is bounded; every process started
 * is killed at the end, even when an assertion fails (atexit).
 */
#ifndef CAIRN_NETHARNESS_H
#define CAIRN_NETHARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "cairn/net.h"

typedef struct nh_node {
    pid_t pid;
    int port;
    char dir[300];
    char log[400];
    int plaintext;
} nh_node;

/* Path of the cairnd binary (argv[1] of the test program). */
extern const char *nh_cairnd;
/* A fresh temporary directory for this test program's nodes. */
const char *nh_tmpdir(void);
/* The end of a test program: removes the temp dir when `rv` is 0, else keeps
 * the node logs there and says where. Returns `rv`. */
int nh_finish(int rv);
/* A loopback TCP port that was free a moment ago. */
int nh_free_port(void);
/* Starts cairnd with datadir `name` under the temp dir and extra args (NULL-terminated). */
int nh_start(nh_node *n, const char *name, int plaintext, ...);
/* SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status (or -1). */
int nh_stop(nh_node *n);
/* SIGKILL, no grace. */
void nh_kill(nh_node *n);

/* The node's Hello as a client sees it. Returns 0 when the handshake completed. */
typedef struct nh_view {
    uint64_t height;
    uint8_t tip[32];
    uint8_t node_id[32];
} nh_view;
int nh_probe(const nh_node *n, nh_view *v);
/* Polls until the node's height is at least `height` (or `timeout_ms` passes). */
int nh_wait_height(const nh_node *n, uint64_t height, int timeout_ms, nh_view *v);
/* Polls until all nodes report the same tip with height >= min_height. */
int nh_wait_agree(const nh_node *nodes, int count, uint64_t min_height, int timeout_ms, nh_view *v);
/* A blocking TCP connection to 127.0.0.1:port from source address `src`
 * (any 127.x.y.z, so that per-address caps do not add up); fd or -1. */
int nh_connect_from(int port, const char *src);
/* Sleep-free wait helper: poll() for `ms` (used only between probes). */
void nh_pause(int ms);

#endif
