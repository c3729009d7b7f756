/*
 * What the core asks of its driver: the action ring (DIAL, STOP), the
 * pending-output list from which every peer with queued output gets a FLUSH
 * in the same turn [issue 15: no request waits for its peer's next event],
 * and closing a peer (with a session: an Error and a flush; without one, or
 * when it will not read: DROP).
 */
#include "node_int.h"

int node_push_action(node *n, const cairn_node_action *a)
{
    if (n->act_len == NODE_ACTIONS_MAX)
        return CAIRN_ERR_AGAIN;
    n->actions[(n->act_head + n->act_len++) % NODE_ACTIONS_MAX] = *a;
    return 0;
}

void node_stop(node *n, int code)
{
    if (n->store_failed)
        return;
    n->store_failed = 1;
    cairn_node_action a;
    memset(&a, 0, sizeof(a));
    a.type = CAIRN_NODE_ACT_STOP;
    a.code = code;
    if (node_push_action(n, &a) != 0) /* the ring is full: the next drain finds it */
        n->store_failed = 0;
}

/* Onto the pending list (once); cairn_node_next_action turns it into FLUSH or DROP. */
static void enlist(peer *p)
{
    node *n = p->n;
    if (p->flush_queued)
        return;
    if (n->n_flush == n->cap_flush) {
        size_t cap = n->cap_flush ? n->cap_flush * 2 : 16;
        peer **v = cairn_mem_realloc(n->mem, n->flush_list, cap * sizeof(*v));
        if (!v)
            return; /* the peer's next event flushes it */
        n->flush_list = v;
        n->cap_flush = cap;
    }
    p->flush_queued = 1;
    n->flush_list[n->n_flush++] = p;
}

void peer_want_flush(peer *p)
{
    if (p->sess && !p->drop_issued)
        enlist(p);
}

void peer_close_detail(peer *p, uint32_t code, uint32_t detail, const char *why)
{
    if (!p->sess) {
        peer_drop(p);
        return;
    }
    int rv = 0;
    if (cairn_session_state(p->sess) < CAIRN_SS_CLOSING)
        rv = cairn_session_close_detail(p->sess, code, detail, why);
    if (rv != 0 && rv != CAIRN_ERR_STATE)
        peer_drop(p); /* the Error could not be queued: the transport just ends */
    else
        peer_want_flush(p);
}

void peer_close(peer *p, uint32_t code, const char *why)
{
    peer_close_detail(p, code, 0, why);
}

void peer_drop(peer *p)
{
    if (p->dropped)
        return;
    p->dropped = 1;
    enlist(p);
}

int peer_ready_with(const peer *p, uint64_t service)
{
    return p->ready && p->sess && !p->dropped && (p->info.services & service) &&
           cairn_session_state(p->sess) == CAIRN_SS_READY;
}
