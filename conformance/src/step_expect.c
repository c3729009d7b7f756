/* The expect step: alternatives, interleaving, captures and windows. */
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

static int event_matches(hx *x, const cf_event *e, const cf_rx *rx, char *w, size_t wn)
{
    w[0] = '\0';
    switch (e->kind) {
    case EV_CLOSE:
        if (rx->kind != RX_CLOSE)
            return 0;
        if (e->alert[0] && !strstr(rx->info, "close_notify")) {
            snprintf(w, wn, "closed without a TLS close_notify (%s)", rx->info);
            return 0;
        }
        return 1;
    case EV_TLS_ALERT: {
        if (rx->kind != RX_TLS_ALERT)
            return 0;
        if (!e->alert[0])
            return 1;
        char want[48], got[160];
        size_t i;
        for (i = 0; e->alert[i] && i < sizeof(want) - 1; i++)
            want[i] = e->alert[i] == '_' ? ' ' : e->alert[i];
        want[i] = '\0';
        for (i = 0; rx->info[i] && i < sizeof(got) - 1; i++)
            got[i] = rx->info[i] == '_' ? ' ' : (char)tolower((unsigned char)rx->info[i]);
        got[i] = '\0';
        return strstr(got, want) != NULL;
    }
    case EV_MSG: {
        if (rx->kind != RX_FRAME || rx->type != e->type)
            return 0;
        ProtobufCMessage *m;
        if (cairn_msg_decode_unchecked(&x->dec, rx->type, rx->payload, rx->len, &m)) {
            snprintf(w, wn, "does not decode");
            return 0;
        }
        cf_match_ctx mc = {x->vars, hx_resolve, x};
        if (!e->pattern)
            return 1;
        /* macros ($entryId, $bytes, ...) in patterns too; captures stay */
        x->lenient = 1;
        json_t *pat = hx_subst(x, e->pattern);
        x->lenient = 0;
        int ok = cf_match(&mc, m, pat, w, wn);
        json_decref(pat);
        return ok;
    }
    }
    return 0;
}

static void describe_alts(hx *x, const cf_step *st)
{
    size_t o = 0;
    x->expected[0] = '\0';
    for (size_t a = 0; a < st->n_alts; a++) {
        const cf_alt *al = &st->alts[a];
        o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, "%s", a ? "\n  or " : "");
        for (size_t i = 0; i < al->n_ev && o < sizeof(x->expected); i++) {
            const cf_event *e = &al->ev[i];
            char tb[16], *p = e->pattern ? json_dumps(e->pattern, JSON_COMPACT) : NULL;
            const char *what = e->kind == EV_CLOSE       ? "close"
                               : e->kind == EV_NOTHING   ? "nothing"
                               : e->kind == EV_TLS_ALERT ? "tls-alert"
                                                         : cf_type_name(e->type, tb);
            o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, "%s%s%s%s%s",
                                  i ? " then " : "", what, p ? " " : "", p ? p : "",
                                  e->kind == EV_TLS_ALERT && e->alert[0] ? e->alert : "");
            free(p);
        }
        if (o < sizeof(x->expected))
            o += (size_t)snprintf(x->expected + o, sizeof(x->expected) - o, " => %s",
                                  al->verdict == CF_DONE ? "DONE" : cf_verdict_name(al->verdict));
    }
}

static unsigned expect_window(hx *x, const cf_step *st)
{
    unsigned slack = 2000;
    switch (st->within_sym) {
    case 1:
        return hx_window(x, x->o->iut_handshake_ms + slack);
    case 2:
        return hx_window(x, x->o->iut_idle_ms + x->o->iut_ping_ms + slack);
    case 3:
        return hx_window(x, x->o->iut_ping_ms + slack);
    }
    return hx_window(x, st->within_ms > 0 ? (unsigned)st->within_ms : 2000);
}

/*
 * Runs one expectation: the alternatives advance together over the events
 * that arrive; an event that no alternative takes and that is allowed to
 * interleave is handled like any peer would; the first alternative to
 * complete decides the verdict.
 */
void hx_run_expect(hx *x, hconn *h, const cf_step *st)
{
    size_t na = st->n_alts;
    size_t pos[16] = {0};
    int alive[16];
    char why[16][256];
    for (size_t a = 0; a < na && a < 16; a++) {
        alive[a] = 1;
        why[a][0] = '\0';
    }
    uint64_t deadline = cf_now_ms() + expect_window(x, st);
    size_t idx = 0;
    int done = -1;
    char last[512] = "";
    while (!x->stop && done < 0) {
        if (idx >= h->c->q_len) {
            uint64_t now = cf_now_ms();
            if (h->c->eof || now >= deadline) {
                if (!h->c->eof || now >= deadline)
                    for (size_t a = 0; a < na && done < 0; a++)
                        if (alive[a] && pos[a] == st->alts[a].n_ev - 1 &&
                            st->alts[a].ev[pos[a]].kind == EV_NOTHING && !h->c->eof)
                            done = (int)a;
                if (done < 0 && h->c->eof && now < deadline) {
                    /* the connection ended: nothing more will come */
                    for (size_t a = 0; a < na && done < 0; a++)
                        if (alive[a] && st->alts[a].ev[pos[a]].kind == EV_NOTHING &&
                            pos[a] == st->alts[a].n_ev - 1)
                            done = (int)a;
                }
                if (done < 0) {
                    snprintf(x->arrived, sizeof(x->arrived), "%s%s",
                             h->c->eof ? "the connection closed, and nothing matched"
                                       : "nothing matching within the window",
                             last[0] ? last : "");
                    break;
                }
                break;
            }
            cf_conn_pump(h->c, (int)(deadline - now < 50 ? deadline - now : 50));
            if (x->pid)
                hx_client_done(x);
            continue;
        }
        cf_rx *rx = &h->c->q[idx];
        hx_observe(x, h, rx);
        if (x->stop)
            break;
        int took = 0, inter = hx_allowed(x, rx);
        for (size_t a = 0; a < na; a++) {
            if (!alive[a])
                continue;
            const cf_event *e = &st->alts[a].ev[pos[a]];
            char w[256];
            if (e->kind != EV_NOTHING && event_matches(x, e, rx, w, sizeof(w))) {
                took = 1;
                if (++pos[a] == st->alts[a].n_ev && done < 0)
                    done = (int)a;
            } else if (!inter) {
                alive[a] = 0;
                snprintf(why[a], sizeof(why[a]), "%s", w);
            }
        }
        if (!took && inter)
            hx_auto_handle(x, h, rx);
        char *d = hx_describe_rx(rx);
        if (!took && !inter) {
            snprintf(last, sizeof(last), "%s", d ? d : "?");
        }
        free(d);
        idx++;
        int any = 0;
        for (size_t a = 0; a < na; a++)
            any |= alive[a];
        if (!any && done < 0) {
            size_t o = strlen(last);
            for (size_t a = 0; a < na && o < sizeof(last) - 8; a++)
                if (why[a][0])
                    o += (size_t)snprintf(last + o, sizeof(last) - o, " (%s)", why[a]);
            snprintf(x->arrived, sizeof(x->arrived), "%s", last);
            break;
        }
    }
    for (size_t i = 0; i < idx && h->c->q_len; i++)
        cf_conn_consume(h->c, 0);
    if (x->stop)
        return;
    if (done >= 0) {
        const cf_alt *al = &st->alts[done];
        if (al->verdict == CF_DONE) {
            hx_log(x, "      (case done: %s)", al->text ? al->text : "this alternative ends it");
            x->stop = 1;
        } else if (al->verdict != CF_PASS) {
            describe_alts(x, st);
            hx_verdict(x, al->verdict, "line %d: %s", st->line,
                       al->text ? al->text : "an alternative with this verdict arrived");
        }
        x->arrived[0] = '\0';
        return;
    }
    describe_alts(x, st);
    int v = st->else_verdict >= 0 ? st->else_verdict
                                  : (cf_case_is_must(x->c) ? CF_FAIL : CF_NON_STRICT);
    hx_verdict(x, v, "line %d: %s", st->line,
               st->else_text ? st->else_text : "what arrived is none of the permitted outcomes");
    x->stop = 1; /* what follows depended on this expectation */
}

/* A Ping whose Pong proves the IUT processed everything sent before it ([KA-4]). */
