/* Internals shared by run.c (the case), hx.c (its state) and the step files (steps.h). */
#ifndef CAIRN_CONFORM_HARNESS_H
#define CAIRN_CONFORM_HARNESS_H

#include <netinet/in.h>
#include <sys/types.h>

#include "cairn/crypto.h"
#include "match.h"
#include "run.h"
#include "wire.h"

typedef struct hx_req {
    uint64_t id;
    uint16_t type;
} hx_req;

/* A harness connection and what the harness knows about its session. */
typedef struct hconn {
    cf_conn *c;
    const cairn_identity *id;
    uint8_t own_hello[1100], peer_hello[1100];
    size_t own_hello_len, peer_hello_len;
    int own_hello_sent, peer_hello_seen, own_auth_sent, peer_auth_seen;
    int peer_fatal;      /* the IUT sent a fatal Error */
    json_t *peer, *mine; /* the Hellos in the JSON mapping */
    hx_req ours[256], theirs[256];
    size_t n_ours, n_theirs;
    uint64_t pings[1024], their_pings[64];
    size_t n_pings, n_their_pings;
    int served_tip;      /* sync: the IUT fetched the view's tip block */
    uint64_t served_low; /* sync: lowest height + 1 of a view block served (0: none yet) */
    int saw_get_headers;
    size_t served_headers; /* sync: headers served in Headers answers */
    uint64_t last_req_ms;  /* sync: when the IUT last sent GetHeaders or GetBlock */
    int no_tls_probe;      /* plaintext towards a TLS peer: its TLS bytes are expected */
} hconn;

typedef struct hx {
    cf_opts *o;
    const cf_case *c;
    cf_result *r;
    hconn *conns[32];
    size_t n_conns;
    hconn *cur;
    json_t *vars;
    struct {
        char name[32];
        cairn_identity *id;
    } keys[8];
    size_t n_keys;
    struct {
        char name[32];
        struct in_addr a;
    } srcs[32];
    size_t n_srcs;
    uint16_t allow[64];
    size_t n_allow;
    int auto_on, pong_on;
    cf_view view;
    char *log;
    size_t log_len, log_cap;
    uint64_t t0;
    int line;
    /* client role */
    pid_t pid;
    int exited, status, lfd, lfd2, out_fd;
    char addr[64], addr2[64]; /* addr2: a second port, advertised in Peers */
    char outpath[512];
    long rep_i[8];
    int rep_depth;
    /* outcome */
    int verdict, stop;
    int lenient; /* hx_subst on a pattern: unknown variables stay as they are */
    char msg[2048], expected[2048], arrived[1024];
    cairn_msg_decoder dec;
    cairn_arena arena;
} hx;

/* hx.c */
void hx_verdict(hx *x, int v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void hx_violation(hx *x, const char *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hx_log(hx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *hx_describe_frame(uint16_t type, const uint8_t *p, size_t len, int *decoded);
char *hx_describe_rx(const cf_rx *rx);
json_t *hx_resolve(void *ud, const char *name);
json_t *hx_subst(hx *x, const json_t *j);
const cairn_identity *hx_key(hx *x, const char *name);
/* The source address named `name` (NULL when sources are not used). */
const struct in_addr *hx_source(hx *x, const char *name);
unsigned hx_window(hx *x, unsigned base_ms);
int hx_spawn(hx *x);
int hx_client_done(hx *x);

/* steps.c */
int hx_client_wait(hx *x, unsigned ms);
void hx_step(hx *x, const cf_step *st);

/* step_connect.c */
void hx_conn_log(void *ud, cf_conn *c, int outbound, const cf_rx *rx);
void hx_conn_free(hconn *h);

/* rules.c */
void hx_default_allow(hx *x);
void hx_drain_interleaved(hx *x, hconn *h);

#endif
