/* The multi-core harness of the node core's unit tests (node_harness.h). */
#include "node_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static h_net *current; /* the env callbacks' net: one harness at a time */

static uint64_t h_mono(void *ud)
{
    return ((h_net *)ud)->now;
}

static uint64_t h_wall(void *ud)
{
    return 1767225600000ULL + ((h_net *)ud)->now;
}

static int h_random(uint8_t *buf, size_t len, void *ud)
{
    h_net *net = ud;
    for (size_t i = 0; i < len; i++) { /* xorshift64: the same draws every run */
        net->rng ^= net->rng << 13;
        net->rng ^= net->rng >> 7;
        net->rng ^= net->rng << 17;
        buf[i] = (uint8_t)(net->rng >> 24);
    }
    return 0;
}

static void log_line(void *ud, int level, const char *line)
{
    fprintf(stderr, "# [%d] %d %s\n", (int)(intptr_t)ud, level, line);
}

void h_init(h_net *net, int n, void (*tweak)(h_net *net, int i, cairn_node_config *cfg))
{
    memset(net, 0, sizeof(*net));
    current = net;
    net->n = n;
    net->now = 1000;
    net->rng = 0x9e3779b97f4a7c15ULL;
    net->env = *cairn_port_env();
    net->env.mono_ms = h_mono;
    net->env.wall_ms = h_wall;
    net->env.random = h_random;
    net->env.ud = net;
    for (int i = 0; i < n; i++) {
        h_node *hn = &net->nodes[i];
        uint8_t seed[CAIRN_KEY_LEN];
        memset(seed, 0x40 + i, sizeof(seed));
        assert_int_equal(cairn_identity_from_seed(&hn->id, seed), 0);
        assert_int_equal(cairn_node_memstore_new(&hn->ms, net->env.mem), 0);
        hn->addr.sin_family = AF_INET;
        hn->addr.sin_port = htons(7317);
        hn->addr.sin_addr.s_addr = htonl(H_ADDR(i));
        cairn_node_config *c = &hn->cfg;
        memset(c, 0, sizeof(*c));
        c->net = cairn_network_devnet();
        c->env = &net->env;
        c->store = cairn_node_memstore_iface(hn->ms);
        c->identity = hn->id;
        c->listen_port = 7317;
        memcpy(&c->listen_sa, &hn->addr, sizeof(hn->addr));
        c->local_network = 1;
        c->discourage_ms = 3600000;
        c->book_key = 0x1234 + (uint64_t)i;
        c->log_level = getenv("H_LOG") ? CAIRN_NODE_LOG_DEBUG : CAIRN_NODE_LOG_ERROR;
        c->log = log_line;
        c->ud = (void *)(intptr_t)i;
        if (tweak)
            tweak(net, i, c);
        assert_int_equal(cairn_node_new(&hn->core, c), 0);
    }
}

void h_free(h_net *net)
{
    for (int i = 0; i < net->n; i++) {
        cairn_node_del(net->nodes[i].core);
        cairn_node_memstore_del(net->nodes[i].ms);
        cairn_identity_del(net->nodes[i].id);
    }
    current = NULL;
}

static int node_at(h_net *net, const struct sockaddr_storage *sa)
{
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
    for (int j = 0; j < net->n; j++)
        if (sa->ss_family == AF_INET && v4->sin_addr.s_addr == net->nodes[j].addr.sin_addr.s_addr &&
            v4->sin_port == net->nodes[j].addr.sin_port)
            return j;
    return -1;
}

static int new_link(h_net *net, int i, int j)
{
    for (int k = 0; k < H_LINKS; k++)
        if (!net->links[k].used) {
            memset(&net->links[k], 0, sizeof(net->links[k]));
            net->links[k].used = 1;
            net->links[k].a = i;
            net->links[k].b = j;
            return k;
        }
    fail_msg("no free link");
    return -1;
}

/* Both ends of a connected link get their sessions. */
static void start_link(h_net *net, h_link *l)
{
    assert_int_equal(cairn_node_peer_start(net->nodes[l->a].core, l->pa, NULL, 0, NULL), 0);
    assert_int_equal(cairn_node_peer_start(net->nodes[l->b].core, l->pb, NULL, 0, NULL), 0);
}

static void dial(h_net *net, int i, const cairn_node_action *a)
{
    int j = node_at(net, &a->addr);
    if (j < 0 || net->nodes[j].stopped) {
        cairn_node_dial_failed(net->nodes[i].core, a->dial_id);
        return;
    }
    int k = new_link(net, i, j);
    h_link *l = &net->links[k];
    assert_int_equal(cairn_node_dial_done(net->nodes[i].core, a->dial_id, &l->pa, l), 0);
    if (cairn_node_accept(net->nodes[j].core, &l->pb, (const struct sockaddr *)&net->nodes[i].addr,
                          sizeof(net->nodes[i].addr), l) != 0) {
        l->pb = NULL; /* refused outright: i sees the connection end */
        cairn_node_peer_eof(net->nodes[i].core, l->pa, "refused");
        cairn_node_peer_closed(net->nodes[i].core, l->pa);
        l->used = 0;
        return;
    }
    start_link(net, l);
}

int h_connect(h_net *net, int i, int j)
{
    assert_int_equal(cairn_node_add_configured(net->nodes[i].core,
                                               (const struct sockaddr *)&net->nodes[j].addr,
                                               sizeof(net->nodes[j].addr), NULL),
                     0);
    cairn_node_tick(net->nodes[i].core); /* the DIAL */
    h_drain(net, i);
    h_link *l = h_link_between(net, i, j);
    assert_non_null(l);
    return (int)(l - net->links);
}

void h_cut(h_net *net, h_link *l)
{
    if (!l->used)
        return;
    l->used = 0;
    if (l->pa) {
        cairn_node_peer_eof(net->nodes[l->a].core, l->pa, "cut");
        cairn_node_peer_closed(net->nodes[l->a].core, l->pa);
    }
    if (l->pb) {
        cairn_node_peer_eof(net->nodes[l->b].core, l->pb, "cut");
        cairn_node_peer_closed(net->nodes[l->b].core, l->pb);
    }
}

/* Moves what `from`'s peer p has pending to the other end; returns bytes moved. */
static size_t move(h_net *net, h_link *l, int from_a)
{
    int from = from_a ? l->a : l->b, to = from_a ? l->b : l->a;
    cairn_node_peer *p = from_a ? l->pa : l->pb, *q = from_a ? l->pb : l->pa;
    int *flush = from_a ? &l->flush_a : &l->flush_b;
    if (!p || !q || !*flush)
        return 0;
    *flush = 0;
    const uint8_t *data;
    size_t n = cairn_node_peer_pending(net->nodes[from].core, p, &data);
    if (!n)
        return 0;
    long used = (from_a ? l->mute_ab : l->mute_ba)
                    ? (long)n
                    : cairn_node_peer_recv(net->nodes[to].core, q, data, n);
    if (used < 0)
        used = (long)n; /* the receiving session failed and is closing */
    else if (!(from_a ? l->mute_ab : l->mute_ba))
        *(from_a ? &l->sent_ab : &l->sent_ba) += (uint64_t)used;
    cairn_node_peer_sent(net->nodes[from].core, p, (size_t)used);
    if (cairn_node_peer_pending(net->nodes[from].core, p, &data))
        *flush = 1; /* the rest goes when the "socket" is writable again: next round */
    return (size_t)used;
}

static void close_done(h_net *net, h_link *l)
{
    int a_done = l->pa && cairn_node_peer_want_close(l->pa);
    int b_done = l->pb && cairn_node_peer_want_close(l->pb);
    if (a_done || b_done)
        h_cut(net, l);
}

void h_drain(h_net *net, int i)
{
    cairn_node_action a;
    while (cairn_node_next_action(net->nodes[i].core, &a)) {
        h_link *l = a.ud;
        switch (a.type) {
        case CAIRN_NODE_ACT_DIAL:
            dial(net, i, &a);
            break;
        case CAIRN_NODE_ACT_FLUSH:
            net->nodes[i].flushes[l->a == i ? l->b : l->a]++;
            if (a.peer == l->pa)
                l->flush_a = 1;
            else
                l->flush_b = 1;
            break;
        case CAIRN_NODE_ACT_DROP:
            if (l->pa == a.peer) {
                cairn_node_peer_closed(net->nodes[i].core, l->pa);
                l->pa = NULL;
            } else {
                cairn_node_peer_closed(net->nodes[i].core, l->pb);
                l->pb = NULL;
            }
            h_cut(net, l);
            break;
        case CAIRN_NODE_ACT_STOP:
            fail_msg("node %d stopped (store failure)", i);
            break;
        default:
            fail_msg("unknown action %d", a.type);
        }
    }
}

int h_pump(h_net *net, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        size_t moved = 0;
        for (int i = 0; i < net->n; i++)
            h_drain(net, i);
        for (int k = 0; k < H_LINKS; k++) {
            h_link *l = &net->links[k];
            if (!l->used)
                continue;
            moved += move(net, l, 1);
            if (l->used)
                moved += move(net, l, 0);
            if (l->used)
                close_done(net, l);
        }
        if (!moved)
            return r;
    }
    return rounds;
}

void h_run(h_net *net, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 50) {
        net->now += 50;
        for (int i = 0; i < net->n; i++) {
            cairn_node *c = net->nodes[i].core;
            if (net->now >= cairn_node_deadline(c))
                cairn_node_tick(c);
            if (net->now >= cairn_node_wake_at(c))
                cairn_node_wake(c);
            for (int k = 0; k < H_LINKS; k++) {
                h_link *l = &net->links[k];
                cairn_node_peer *p = !l->used ? NULL : l->a == i ? l->pa : l->b == i ? l->pb : NULL;
                if (p && net->now >= cairn_node_peer_deadline(c, p))
                    cairn_node_peer_tick(c, p);
            }
        }
        h_pump(net, 200);
    }
}

void h_mine(h_net *net, int i)
{
    int mined = 0;
    for (int k = 0; k < 1000 && !mined; k++)
        mined = cairn_node_mine_step(net->nodes[i].core, 100000);
    assert_true(mined);
    h_pump(net, 500);
}

uint64_t h_height(h_net *net, int i)
{
    return cairn_chain_tip(cairn_node_chain(net->nodes[i].core))->hdr.height;
}

const uint8_t *h_tip(h_net *net, int i)
{
    return cairn_chain_tip(cairn_node_chain(net->nodes[i].core))->id;
}

h_link *h_link_between(h_net *net, int i, int j)
{
    for (int k = 0; k < H_LINKS; k++) {
        h_link *l = &net->links[k];
        if (l->used && ((l->a == i && l->b == j) || (l->a == j && l->b == i)))
            return l;
    }
    return NULL;
}

cairn_node_peer *h_peer(h_net *net, int i, int j)
{
    h_link *l = h_link_between(net, i, j);
    return !l ? NULL : l->a == i ? l->pa : l->pb;
}
