/* The steps of a case: one dispatcher over the step kinds of case.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cairn/chain.h"
#include "cairn/json.h"
#include "cairn/merkle.h"
#include "cairn/port.h"
#include "cairn/session.h"
#include "steps.h"

static hconn *conn_named(hx *x, const char *name)
{
    for (size_t i = 0; i < x->n_conns; i++)
        if (!strcmp(x->conns[i]->c->name, name))
            return x->conns[i];
    return NULL;
}

static hconn *need_conn(hx *x)
{
    if (!x->cur)
        hx_verdict(x, CF_HARNESS_ERROR, "line %d: no connection (use connect first)", x->line);
    return x->cur;
}

static void expect_one(hx *x, hconn *h, uint16_t type, const char *text)
{
    cf_step st;
    memset(&st, 0, sizeof(st));
    cf_alt alt;
    memset(&alt, 0, sizeof(alt));
    cf_event ev = {EV_MSG, type, NULL, ""};
    alt.ev = &ev;
    alt.n_ev = 1;
    st.alts = &alt;
    st.n_alts = 1;
    st.else_verdict = CF_FAIL;
    st.else_text = (char *)text;
    st.line = x->line;
    st.within_ms = 0;
    hx_run_expect(x, h, &st);
}

/* Waits up to `ms` for the client under test to exit, serving its connections meanwhile. */
int hx_client_wait(hx *x, unsigned ms)
{
    uint64_t deadline = cf_now_ms() + ms;
    while (!hx_client_done(x)) {
        if (cf_now_ms() >= deadline)
            return -1;
        /* keep serving the client meanwhile: it may still be talking */
        int any = 0;
        for (size_t i = 0; i < x->n_conns; i++)
            if (!x->conns[i]->c->eof && !x->conns[i]->c->local_closed) {
                cf_conn_pump(x->conns[i]->c, 5);
                hx_drain_interleaved(x, x->conns[i]);
                any = 1;
            }
        if (!any) {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

static void wait_exit(hx *x, const cf_step *st)
{
    if (!x->pid) {
        hx_verdict(x, CF_HARNESS_ERROR, "line %d: exit: no client process", st->line);
        return;
    }
    if (hx_client_wait(x, hx_window(x, 5000))) {
        hx_verdict(x, CF_FAIL, "line %d: the client did not exit", st->line);
        return;
    }
    if (x->stop)
        return;
    int ok = st->flag == 2 || (st->flag == 1 ? x->status != 0 : x->status == st->num);
    if (!ok)
        hx_verdict(x, CF_FAIL, "line %d: the client exited with status %d, expected %s", st->line,
                   x->status,
                   st->flag == 1  ? "non-zero"
                   : st->num == 0 ? "0"
                                  : "another status");
}

void hx_step(hx *x, const cf_step *st)
{
    hconn *h;
    char err[256];
    switch (st->op) {
    case OP_CONNECT:
        hx_do_connect(x, st);
        return;
    case OP_USE:
        if (!(h = conn_named(x, st->name)))
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: no connection %s", st->line, st->name);
        else
            x->cur = h;
        return;
    case OP_CLOSE:
        if ((h = need_conn(x))) {
            hx_log(x, "%-5s == closed by the harness%s", h->c->name, st->flag ? " (reset)" : "");
            cf_conn_close(h->c, st->flag);
        }
        return;
    case OP_HELLO:
        if ((h = need_conn(x)))
            hx_send_hello(x, h, st);
        return;
    case OP_AUTH:
        if ((h = need_conn(x)))
            hx_send_auth(x, h, st);
        return;
    case OP_HANDSHAKE:
        if (!(h = need_conn(x)))
            return;
        hx_send_hello(x, h, st);
        if (!h->peer_hello_seen)
            expect_one(x, h, CAIRN_T_HELLO, "handshake: the IUT did not send its Hello");
        if (x->stop)
            return;
        hx_send_auth(x, h, NULL);
        if (!x->stop)
            expect_one(x, h, CAIRN_T_AUTH, "handshake: the IUT did not send its Auth");
        return;
    case OP_SEND:
        if ((h = need_conn(x)))
            hx_send_json(x, h, cf_type_parse(st->name), st->json, st);
        return;
    case OP_SEND_FRAME:
        if ((h = need_conn(x)))
            hx_send_payload(x, h, (uint16_t)st->num, st->raw, st->raw_len, st);
        return;
    case OP_SEND_RAW:
        if ((h = need_conn(x))) {
            char *hex = cf_hex(st->raw, st->raw_len > 48 ? 48 : st->raw_len);
            hx_log(x, "%-5s -> raw %zu bytes %s%s%s", h->c->name, st->raw_len, hex ? hex : "",
                   st->raw_len > 48 ? "..." : "", st->split.n ? " (split)" : "");
            free(hex);
            /* the harness keeps track of whole frames it sends this way too */
            for (size_t off = 0; off + CAIRN_FRAME_HEADER_LEN <= st->raw_len;) {
                const uint8_t *f = st->raw + off;
                uint32_t fl = cairn_get_u32(f + 4);
                if (f[0] != CAIRN_MAGIC_0 || f[1] != CAIRN_MAGIC_1 ||
                    fl > st->raw_len - off - CAIRN_FRAME_HEADER_LEN)
                    break;
                hx_note_sent(x, h, cairn_get_u16(f + 2), f + CAIRN_FRAME_HEADER_LEN, fl);
                off += CAIRN_FRAME_HEADER_LEN + fl;
            }
            hx_write_split(x, h, st->raw, st->raw_len, &st->split);
        }
        return;
    case OP_EXPECT:
        if ((h = need_conn(x)))
            hx_run_expect(x, h, st);
        return;
    case OP_BARRIER:
        if ((h = need_conn(x)))
            hx_barrier(x, h);
        return;
    case OP_ALLOW:
        for (size_t i = 0; i < st->n_types; i++) {
            if (!st->types[i]) {
                x->n_allow = 0;
                for (uint16_t t = 1; t < 0x40 && x->n_allow < 64; t++)
                    if (cairn_msg_descriptor(t))
                        x->allow[x->n_allow++] = t;
                continue;
            }
            size_t k;
            for (k = 0; k < x->n_allow && x->allow[k] != st->types[i]; k++)
                ;
            if (k == x->n_allow && x->n_allow < 64)
                x->allow[x->n_allow++] = st->types[i];
        }
        return;
    case OP_DISALLOW:
        for (size_t i = 0; i < st->n_types; i++)
            for (size_t k = 0; k < x->n_allow; k++)
                if (!st->types[i] || x->allow[k] == st->types[i])
                    x->allow[k--] = x->allow[--x->n_allow];
        return;
    case OP_AUTO:
        x->auto_on = st->flag;
        return;
    case OP_PONG:
        x->pong_on = st->flag;
        return;
    case OP_SERVE:
        if (cf_view_make(&x->view, x->o->fx, st->name, err, sizeof(err)))
            hx_verdict(x, CF_HARNESS_ERROR, "line %d: %s", st->line, err);
        return;
    case OP_SYNC:
        if ((h = need_conn(x)))
            hx_sync_view(x, h);
        return;
    case OP_EXIT:
        wait_exit(x, st);
        return;
    case OP_SETTLE:
        if ((h = need_conn(x)))
            hx_settle(x, h);
        return;
    case OP_SET: {
        json_t *v = hx_subst(x, st->json);
        json_object_set_new(x->vars, st->name, v);
        return;
    }
    }
}
