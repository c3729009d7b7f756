/*
 * Peer connections: libevent readiness and timers around a cairn_conn. All
 * protocol work happens in the session; this file only moves bytes, keeps
 * the per-peer timers and decides who may connect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

cairn_session *peer_session(peer *p)
{
    return p->conn ? cairn_conn_session(p->conn) : NULL;
}

static void after_io(peer *p);

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    peer *p = arg;
    p->heard = 1; /* [ADM-3] it has sent something */
    cairn_conn_on_readable(p->conn);
    after_io(p);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    peer *p = arg;
    if (!p->conn) { /* an outbound connect finished */
        int err = cairn_net_connect_result(fd);
        if (err) {
            LOGD("peer %s: connect failed: %s", p->addr, strerror(err));
            peer_free(p);
            return;
        }
        LOGD("peer %s: connected", p->addr);
        cairn_session_config cfg;
        node_session_config(p->n, &cfg);
        if (cairn_conn_new(&p->conn, (int)fd, 1, p->n->cfg.plaintext ? NULL : p->n->tls_client,
                           &cfg, &node_session_callbacks, p, p->n->env)) {
            p->conn = NULL;
            p->fd_closed = 1; /* cairn_conn_new closed it */
            peer_free(p);
            return;
        }
    }
    cairn_conn_flush(p->conn);
    after_io(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    peer *p = arg;
    cairn_session *s = peer_session(p);
    if (s && p->closing_ms && node_now(p->n) >= p->closing_ms + NODE_CLOSING_MS) {
        /* [CLOSE-8] a peer that does not read our last bytes is not waited for */
        LOGD("peer %s: closing took %d ms, dropping the connection", p->addr, NODE_CLOSING_MS);
        peer_free(p);
        return;
    }
    if (s) {
        cairn_session_tick(s);
    } else if (node_now(p->n) >= p->connected_ms + p->n->cfg.handshake_timeout_ms) {
        /* [HS-38] the timeout covers TCP connect and TLS, not only the session */
        LOGI("peer %s: handshake timeout (before the session started)", p->addr);
        peer_free(p);
        return;
    }
    after_io(p);
}

void peer_update_events(peer *p)
{
    if (!p->conn) {
        event_add(p->ev_write, NULL);
    } else {
        if (cairn_conn_want_read(p->conn))
            event_add(p->ev_read, NULL);
        else
            event_del(p->ev_read);
        if (cairn_conn_want_write(p->conn))
            event_add(p->ev_write, NULL);
        else
            event_del(p->ev_write);
    }
    cairn_session *s = peer_session(p);
    if (s && !p->closing_ms && cairn_session_state(s) >= CAIRN_SS_CLOSING)
        p->closing_ms = node_now(p->n);
    uint64_t dl = s ? cairn_session_deadline(s) : p->connected_ms + p->n->cfg.handshake_timeout_ms;
    if (p->closing_ms)
        dl = p->closing_ms + NODE_CLOSING_MS;
    if (dl == UINT64_MAX) {
        evtimer_del(p->ev_timer);
        return;
    }
    uint64_t now = node_now(p->n), wait = dl > now ? dl - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(p->ev_timer, &tv);
}

static void after_io(peer *p)
{
    cairn_session *s = peer_session(p);
    if (s && p->refuse && cairn_session_state(s) < CAIRN_SS_CLOSING) {
        cairn_session_close(s, p->refuse, cairn_wire_error_name(p->refuse));
        p->refuse = 0;
    }
    if (p->conn && cairn_conn_state(p->conn) != CAIRN_CONN_DONE)
        cairn_conn_flush(p->conn);
    if (p->conn && cairn_conn_state(p->conn) == CAIRN_CONN_DONE) {
        const char *err = cairn_conn_error(p->conn);
        if (err[0] && !(s && cairn_session_close_info(s)))
            LOGI("peer %s: %s", p->addr, err);
        peer_free(p);
        return;
    }
    peer_update_events(p);
}

static peer *peer_new(node *n, int fd, const struct sockaddr_storage *sa, socklen_t len,
                      int outbound)
{
    peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->n = n;
    p->outbound = outbound;
    p->addr_slot = -1;
    p->sa = *sa;
    p->salen = len;
    p->stall_ms = NODE_STALL_MIN_MS;
    p->connected_ms = node_now(n);
    p->group = netaddr_group(sa);
    p->noban = admit_is_noban(n, sa);
    p->rtt_ms = UINT64_MAX;
    cairn_net_format_addr((const struct sockaddr *)sa, p->addr, sizeof(p->addr));
    p->ev_read = event_new(n->base, fd, EV_READ | EV_PERSIST, on_read, p);
    p->ev_write = event_new(n->base, fd, EV_WRITE | EV_PERSIST, on_write, p);
    p->ev_timer = evtimer_new(n->base, on_timer, p);
    if (!p->ev_read || !p->ev_write || !p->ev_timer) {
        event_free(p->ev_read);
        event_free(p->ev_write);
        event_free(p->ev_timer);
        free(p);
        return NULL;
    }
    p->next = n->peers;
    n->peers = p;
    if (outbound)
        n->n_outbound++;
    else
        n->n_inbound++;
    return p;
}

void peer_free(peer *p)
{
    node *n = p->n;
    sync_peer_gone(p);
    for (peer **pp = &n->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->outbound) {
        n->n_outbound--;
        if (p->addr_slot >= 0 && p->addr_slot < n->n_addrs) {
            addr_entry *a = &n->addrs[p->addr_slot];
            a->connected = 0;
            if (!p->ready) /* [ADDR-11] back off from addresses that fail */
                addrbook_failed(n, p->addr_slot);
            else
                a->next_try_ms = node_now(n) + a->backoff_ms;
        }
    } else {
        n->n_inbound--;
    }
    int fd = event_get_fd(p->ev_read);
    event_free(p->ev_read);
    event_free(p->ev_write);
    event_free(p->ev_timer);
    if (p->conn)
        cairn_conn_del(p->conn); /* closes the socket */
    else if (!p->fd_closed)
        close(fd);
    free(p);
}

int peer_accept(node *n, int fd, const struct sockaddr_storage *sa_in, socklen_t len)
{
    /* Who may connect (§12.3, admit.c): a refused connection gets a session
     * that says why and closes, unless it is over its accept rate. */
    struct sockaddr_storage norm = *sa_in, *sa = &norm;
    netaddr_normalise(sa, &len); /* [ADDR-1] */
    int drop = 0;
    uint32_t refuse = n->stopping ? CAIRN_E_SHUTDOWN : admit_inbound(n, sa, &drop);
    if (n->stopping || drop || (refuse && n->n_inbound >= n->cfg.max_inbound + 16)) {
        close(fd); /* far over the cap, or too fast: not even a session */
        return -1;
    }
    peer *p = peer_new(n, fd, sa, len, 0);
    if (!p) {
        close(fd);
        return -1;
    }
    p->refuse = refuse;
    p->discouraged = !p->noban && addrbook_is_discouraged(n, sa, NULL); /* [MIS-11] */
    cairn_session_config cfg;
    node_session_config(n, &cfg);
    if (cairn_conn_new(&p->conn, fd, 0, n->cfg.plaintext ? NULL : n->tls_server, &cfg,
                       &node_session_callbacks, p, n->env)) {
        p->conn = NULL;
        p->fd_closed = 1; /* cairn_conn_new closed it */
        peer_free(p);
        return -1;
    }
    LOGD("peer %s: accepted%s%s", p->addr, refuse ? ", refusing: " : "",
         refuse ? cairn_wire_error_name(refuse) : "");
    after_io(p);
    return 0;
}

int peer_dial(node *n, int slot)
{
    addr_entry *a = &n->addrs[slot];
    int fd = cairn_net_connect((const struct sockaddr *)&a->sa, a->salen);
    if (fd < 0) {
        addrbook_failed(n, slot);
        return -1;
    }
    peer *p = peer_new(n, fd, &a->sa, a->salen, 1);
    if (!p) {
        close(fd);
        return -1;
    }
    p->addr_slot = slot;
    a->connected = 1;
    LOGD("peer %s: dialling", p->addr);
    peer_update_events(p);
    return 0;
}

void peer_close(peer *p, uint32_t code, const char *why)
{
    cairn_session *s = peer_session(p);
    if (s && cairn_session_state(s) < CAIRN_SS_CLOSING)
        cairn_session_close(s, code, why);
    if (p->conn)
        cairn_conn_flush(p->conn);
}
