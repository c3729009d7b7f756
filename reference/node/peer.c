/*
 * Connections: libevent readiness and timers around a cairn_conn whose
 * session the node core owns, and the core's actions (dial, flush, drop,
 * stop). Nothing here decides anything about a peer: this file moves bytes,
 * arms timers and does what the core asks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

typedef struct conn_peer {
    node *n;
    cairn_node_peer *cp; /* NULL while an outbound connect is under way */
    cairn_conn *conn;
    int fd, fd_closed;
    int dial_id; /* while connecting: the core's DIAL action */
    uint64_t dial_started_ms;
    struct event *ev_read, *ev_write, *ev_timer;
    char addr[64];
    struct conn_peer *next;
} conn_peer;

static uint64_t now_ms(const node *n)
{
    return n->env->mono_ms(n->env->ud);
}

int conn_has_input(void *ud, void *peer_ud)
{
    (void)ud;
    conn_peer *c = peer_ud;
    int avail = 0;
    return ioctl(c->fd, FIONREAD, &avail) == 0 && avail > 0;
}

/* Frees the connection; the core forgets the peer (its session) after it. */
static void conn_free(conn_peer *c)
{
    node *n = c->n;
    for (conn_peer **pp = &n->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    event_free(c->ev_read);
    event_free(c->ev_write);
    event_free(c->ev_timer);
    if (c->conn)
        cairn_conn_del(c->conn); /* closes the socket; the session is the core's */
    else if (!c->fd_closed)
        close(c->fd);
    if (c->cp)
        cairn_node_peer_closed(n->core, c->cp);
    else if (c->dial_id >= 0)
        cairn_node_dial_failed(n->core, c->dial_id);
    free(c);
}

static void update_events(conn_peer *c)
{
    node *n = c->n;
    if (!c->conn) {
        event_add(c->ev_write, NULL);
    } else {
        if (cairn_conn_want_read(c->conn))
            event_add(c->ev_read, NULL);
        else
            event_del(c->ev_read);
        if (cairn_conn_want_write(c->conn))
            event_add(c->ev_write, NULL);
        else
            event_del(c->ev_write);
    }
    uint64_t dl = c->cp ? cairn_node_peer_deadline(n->core, c->cp)
                        : c->dial_started_ms + n->cfg.handshake_timeout_ms;
    if (dl == UINT64_MAX) {
        evtimer_del(c->ev_timer);
        return;
    }
    uint64_t now = now_ms(n), wait = dl > now ? dl - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(c->ev_timer, &tv);
}

/* After I/O on `c`: close when done, else re-arm events. 0, or -1 when `c` was freed. */
static int finish_io(conn_peer *c)
{
    if (c->conn && cairn_conn_state(c->conn) == CAIRN_CONN_DONE) {
        if (c->cp)
            cairn_node_peer_eof(c->n->core, c->cp, cairn_conn_error(c->conn));
        else if (cairn_conn_error(c->conn)[0])
            LOGI("peer %s: %s", c->addr, cairn_conn_error(c->conn));
        conn_free(c);
        return -1;
    }
    update_events(c);
    return 0;
}

static int after_io(conn_peer *c)
{
    if (c->conn && cairn_conn_state(c->conn) != CAIRN_CONN_DONE)
        cairn_conn_flush(c->conn);
    return finish_io(c);
}

/* A FLUSH: write what the core queued for `c`, whichever event queued it. */
static void write_out(conn_peer *c)
{
    if (cairn_conn_state(c->conn) != CAIRN_CONN_DONE)
        cairn_conn_write(c->conn);
    finish_io(c);
}

static cairn_session *start(void *ud, const uint8_t *binding, size_t binding_len)
{
    conn_peer *c = ud;
    cairn_session *s = NULL;
    if (cairn_node_peer_start(c->n->core, c->cp, binding, binding_len, &s) != 0)
        return NULL;
    return s;
}

/* The transport for an admitted peer: TLS (or not), then the core's session. */
static int open_conn(conn_peer *c, int initiator)
{
    node *n = c->n;
    cairn_tls_ctx *tls = n->cfg.plaintext ? NULL : initiator ? n->tls_client : n->tls_server;
    if (cairn_conn_new_ext(&c->conn, c->fd, initiator, tls, start, c, n->env)) {
        c->conn = NULL;
        c->fd_closed = 1; /* cairn_conn_new_ext closed it */
        conn_free(c);
        return -1;
    }
    return after_io(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_peer *c = arg;
    node *n = c->n;
    cairn_node_peer_heard(n->core, c->cp); /* [ADM-3] it has sent something */
    cairn_conn_on_readable(c->conn);
    after_io(c);
    conn_drain(n);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn_peer *c = arg;
    node *n = c->n;
    if (!c->conn) { /* an outbound connect finished */
        int err = cairn_net_connect_result((int)fd);
        if (err) {
            LOGD("peer %s: connect failed: %s", c->addr, strerror(err));
            conn_free(c); /* the core backs off from it [ADDR-11] */
            conn_drain(n);
            return;
        }
        int id = c->dial_id;
        c->dial_id = -1;
        if (cairn_node_dial_done(n->core, id, &c->cp, c) != 0) {
            conn_free(c);
            conn_drain(n);
            return;
        }
        open_conn(c, 1);
        conn_drain(n);
        return;
    }
    cairn_conn_flush(c->conn);
    after_io(c);
    conn_drain(n);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_peer *c = arg;
    node *n = c->n;
    if (!c->cp) { /* §6 the timeout covers TCP connect too */
        LOGI("peer %s: handshake timeout (before the session started)", c->addr);
        conn_free(c);
    } else {
        cairn_node_peer_tick(n->core, c->cp);
        after_io(c);
    }
    conn_drain(n);
}

static conn_peer *conn_new(node *n, int fd, const struct sockaddr_storage *sa)
{
    conn_peer *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->n = n;
    c->fd = fd;
    c->dial_id = -1;
    cairn_net_format_addr((const struct sockaddr *)sa, c->addr, sizeof(c->addr));
    c->ev_read = event_new(n->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_write = event_new(n->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->ev_timer = evtimer_new(n->base, on_timer, c);
    if (!c->ev_read || !c->ev_write || !c->ev_timer) {
        event_free(c->ev_read);
        event_free(c->ev_write);
        event_free(c->ev_timer);
        free(c);
        return NULL;
    }
    c->next = n->conns;
    n->conns = c;
    return c;
}

void conn_accept(node *n, int fd, const struct sockaddr_storage *sa, socklen_t len)
{
    conn_peer *c = conn_new(n, fd, sa);
    if (!c) {
        close(fd);
        return;
    }
    /* who may connect is the core's decision (§12.3) */
    if (cairn_node_accept(n->core, &c->cp, (const struct sockaddr *)sa, len, c) != 0) {
        c->cp = NULL;
        conn_free(c); /* far over the cap, or too fast: not even a session */
        return;
    }
    open_conn(c, 0);
}

static void dial(node *n, const cairn_node_action *a)
{
    int fd = cairn_net_connect((const struct sockaddr *)&a->addr, a->addr_len);
    if (fd < 0) {
        cairn_node_dial_failed(n->core, a->dial_id);
        return;
    }
    conn_peer *c = conn_new(n, fd, &a->addr);
    if (!c) {
        close(fd);
        cairn_node_dial_failed(n->core, a->dial_id);
        return;
    }
    c->dial_id = a->dial_id;
    c->dial_started_ms = now_ms(n);
    LOGD("peer %s: dialling", c->addr);
    update_events(c);
}

void conn_drain(node *n)
{
    cairn_node_action a;
    while (cairn_node_next_action(n->core, &a)) {
        conn_peer *c = a.ud;
        switch (a.type) {
        case CAIRN_NODE_ACT_DIAL:
            if (n->stopping)
                cairn_node_dial_failed(n->core, a.dial_id);
            else
                dial(n, &a);
            break;
        case CAIRN_NODE_ACT_FLUSH: /* output queued by any event, for any peer */
            if (c->conn)
                write_out(c);
            break;
        case CAIRN_NODE_ACT_DROP:
            conn_free(c);
            break;
        case CAIRN_NODE_ACT_STOP:
            n->exit_code = a.code;
            event_base_loopbreak(n->base);
            break;
        default:
            break;
        }
    }
    /* the core's wake time: sooner than a tick when requests wait for their pace */
    uint64_t w = cairn_node_wake_at(n->core);
    if (w != UINT64_MAX && w < n->wake_armed && n->ev_wake) {
        uint64_t now = now_ms(n), d = w > now ? w - now : 0;
        struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};
        evtimer_add(n->ev_wake, &tv);
        n->wake_armed = w;
    }
}

void conn_stop_dials(node *n)
{
    for (conn_peer *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (!c->cp) /* still connecting: nothing to say goodbye to */
            conn_free(c);
    }
}

void conn_free_all(node *n)
{
    while (n->conns)
        conn_free(n->conns);
}
