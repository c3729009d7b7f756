/* The barrier, settle and sync steps: waiting for the IUT to catch up or to take a served chain. */
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

void hx_barrier(hx *x, hconn *h)
{
    uint8_t r[8];
    cairn_port_env()->random(r, 8, NULL);
    uint64_t nonce = cairn_get_u64(r) | 1;
    char ns[24];
    snprintf(ns, sizeof(ns), "%llu", (unsigned long long)nonce);
    Cairn__V1__Ping p = CAIRN__V1__PING__INIT;
    p.nonce = nonce;
    hx_send_msg(x, h, &p.base);
    cf_step st;
    memset(&st, 0, sizeof(st));
    cf_alt alt;
    memset(&alt, 0, sizeof(alt));
    cf_event ev = {EV_MSG, CAIRN_T_PONG, json_pack("{s:s}", "nonce", ns), ""};
    alt.ev = &ev;
    alt.n_ev = 1;
    st.alts = &alt;
    st.n_alts = 1;
    st.else_verdict = CF_FAIL;
    st.line = x->line;
    st.else_text = (char *)"barrier: the IUT did not answer the Ping (or sent something else "
                           "first)";
    hx_run_expect(x, h, &st);
    json_decref(ev.pattern);
}

/* Waits until every request the harness sent is answered ([REQ-7]); responses may come in any
 * order. */
void hx_settle(hx *x, hconn *h)
{
    uint64_t deadline = cf_now_ms() + hx_window(x, 5000);
    while (!x->stop && h->n_ours) {
        if (!h->c->q_len) {
            if (h->c->eof || cf_now_ms() >= deadline)
                break;
            cf_conn_pump(h->c, 50);
            continue;
        }
        cf_rx *rx = &h->c->q[0];
        hx_observe(x, h, rx);
        int resp = rx->kind == RX_FRAME &&
                   (cairn_msg_kind(rx->type) == CAIRN_KIND_RESPONSE || rx->type == CAIRN_T_ERROR);
        if (!resp && !hx_allowed(x, rx)) {
            char *d = hx_describe_rx(rx);
            snprintf(x->arrived, sizeof(x->arrived), "%s", d ? d : "?");
            free(d);
            cf_conn_consume(h->c, 0);
            hx_verdict(x, CF_FAIL, "line %d: settle: something other than a response arrived",
                       x->line);
            return;
        }
        if (!resp)
            hx_auto_handle(x, h, rx);
        cf_conn_consume(h->c, 0);
    }
    if (!x->stop && h->n_ours)
        hx_violation(x, "REQ-7",
                     "%zu request(s) of the harness left unanswered (first: %s "
                     "request_id %llu)",
                     h->n_ours, cairn_frame_type_name(h->ours[0].type),
                     (unsigned long long)h->ours[0].id);
}

/* The IUT's Hello tip height on this connection (0 when unknown). */
static uint64_t peer_tip_height(const hconn *h)
{
    json_t *v = h->peer ? json_object_get(h->peer, "tipHeight") : NULL;
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/*
 * Lets the IUT fetch the harness's view: header sync, then bodies, then a barrier. A node may
 * wait to be told (SYNC-21 is a recommendation): after 1 s the harness announces its tip. From
 * then on the bounds of SYNC-51 (GetHeaders within 10 s of an Announce whose parent the IUT lacks)
 * and SYNC-48 (GetBlock for the bodies of a heavier chain within 10 s) are checked: a node that
 * stores the headers and stops asking FAILs instead of ending NON-STRICT.
 */
void hx_sync_view(hx *x, hconn *h)
{
    uint64_t start = cf_now_ms(), deadline = start + hx_window(x, 20000);
    uint64_t gap = hx_window(x, 10000), cap = start + hx_window(x, 60000), announced_ms = 0;
    int announced = 0;
    h->served_tip = 0;
    h->served_low = 0;
    h->served_headers = 0;
    h->last_req_ms = 0;
    if (x->view.n <= 1)
        return;
    uint64_t view_tip = x->view.n - 1;
    while (!x->stop && !h->served_tip) {
        uint64_t now = cf_now_ms();
        if (h->c->eof)
            break;
        /* past 20 s, wait on only while the IUT is still asking (at most 60 s in all) */
        if (now >= deadline && (now >= cap || !h->last_req_ms || now >= h->last_req_ms + gap))
            break;
        if (announced && !h->last_req_ms && now >= announced_ms + gap &&
            peer_tip_height(h) + 1 < view_tip) {
            hx_violation(x, "SYNC-51",
                         "line %d: sync: the harness announced its tip (height %llu; the IUT's "
                         "Hello named height %llu, so the parent is unknown to it) and no "
                         "GetHeaders came within %llu ms",
                         x->line, (unsigned long long)view_tip,
                         (unsigned long long)peer_tip_height(h), (unsigned long long)gap);
            return;
        }
        if (h->served_headers && now >= h->last_req_ms + gap) {
            hx_violation(x, "SYNC-48",
                         "line %d: sync: the IUT was sent %zu headers of a chain with more work "
                         "than its own (tip height %llu), the harness answered every request, and "
                         "no GetBlock came for %llu ms before it had the tip's block",
                         x->line, h->served_headers, (unsigned long long)view_tip,
                         (unsigned long long)gap);
            return;
        }
        if (!announced && !h->saw_get_headers && now >= start + hx_window(x, 1000)) {
            /* [SYNC-51] [SYNC-48]: the IUT did not start header sync by itself */
            Cairn__V1__Announce a = CAIRN__V1__ANNOUNCE__INIT;
            a.header.data = (uint8_t *)x->view.blocks[x->view.n - 1]->header;
            a.header.len = CAIRN_BLOCK_HEADER_LEN;
            hx_send_msg(x, h, &a.base);
            announced = 1;
            announced_ms = now;
        }
        cf_conn_pump(h->c, 50);
        while (h->c->q_len && !x->stop) {
            cf_rx *rx = &h->c->q[0];
            hx_observe(x, h, rx);
            if (!hx_allowed(x, rx)) {
                char *d = hx_describe_rx(rx);
                snprintf(x->arrived, sizeof(x->arrived), "%s", d ? d : "?");
                free(d);
                hx_verdict(x, CF_FAIL,
                           "line %d: sync: the IUT sent something other than "
                           "requests while fetching the harness's chain",
                           x->line);
                cf_conn_consume(h->c, 0);
                return;
            }
            hx_auto_handle(x, h, rx);
            cf_conn_consume(h->c, 0);
        }
    }
    if (x->stop)
        return;
    if (!h->served_tip && h->served_low && !h->c->eof) {
        /* [FORK-5] The IUT asked for valid blocks of a chain with more work than its own and was
         * given them: the lowest one served (its parent the IUT already had) makes a chain with
         * more work than the parent's, so the IUT's active chain now reaches its height. A node
         * that fetches and then discards bodies fails here rather than hiding behind SKIPs. */
        uint64_t low = h->served_low - 1;
        char hs[24];
        snprintf(hs, sizeof(hs), "%llu", (unsigned long long)low);
        hx_log(x,
               "      (sync stopped before the tip: is the lowest block served, height %s, "
               "on the IUT's active chain?)",
               hs);
        Cairn__V1__GetBlock g = CAIRN__V1__GET_BLOCK__INIT;
        g.request_id = 0x5ccull << 32 | low;
        g.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
        g.height = low;
        char rid[24];
        snprintf(rid, sizeof(rid), "%llu", (unsigned long long)g.request_id);
        hx_send_msg(x, h, &g.base);
        char *hhex = cf_hex(x->view.blocks[low]->header, CAIRN_BLOCK_HEADER_LEN);
        cf_step st;
        memset(&st, 0, sizeof(st));
        cf_alt alt[2];
        memset(alt, 0, sizeof(alt));
        cf_event ev[2] = {{EV_MSG, CAIRN_T_BLOCK,
                           json_pack("{s:s,s:{s:s}}", "requestId", rid, "header", "hex", hhex), ""},
                          {EV_MSG, CAIRN_T_BLOCK, json_pack("{s:s}", "requestId", rid), ""}};
        alt[0].ev = &ev[0];
        alt[0].n_ev = 1;
        alt[1].ev = &ev[1];
        alt[1].n_ev = 1;
        alt[1].verdict = CF_NON_STRICT; /* another block at that height: another chain of at
                                           least that work may be active */
        alt[1].text = (char *)"sync: the IUT's active chain has another block at the height of "
                              "the lowest block it fetched";
        st.alts = alt;
        st.n_alts = 2;
        st.else_verdict = CF_FAIL;
        st.line = x->line;
        st.else_text = (char *)"FORK-5: the IUT fetched valid blocks of a chain with more work "
                               "than its own and did not make them its active chain (GetBlock by "
                               "the height of the lowest one did not return a block)";
        hx_run_expect(x, h, &st);
        json_decref(ev[0].pattern);
        json_decref(ev[1].pattern);
        free(hhex);
        if (x->stop)
            return;
    }
    if (!h->served_tip) {
        hx_verdict(x, CF_NON_STRICT,
                   "line %d: sync: the IUT did not fetch the harness's chain up to its tip "
                   "(SYNC-21 is a recommendation; the harness announced its tip)",
                   x->line);
        x->stop = 1;
        return;
    }
    hx_barrier(x, h);
}
