/* The harness as an ordinary peer: answers to the IUT's requests from the fixture chain and files.
 */
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

static void answer_get_headers(hx *x, hconn *h, const Cairn__V1__GetHeaders *g)
{
    size_t start = 0; /* index of the first block to send */
    for (size_t i = 0; i < g->n_locator; i++) {
        if (g->locator[i].len != 32)
            continue;
        const cf_block *b = cf_view_find(&x->view, g->locator[i].data);
        if (b) {
            start = (size_t)b->height + 1;
            break;
        }
    }
    if (!start)
        start = 1;
    size_t limit = g->max_count ? g->max_count : 2000;
    if (limit > 2000)
        limit = 2000;
    Cairn__V1__Headers r = CAIRN__V1__HEADERS__INIT;
    r.request_id = g->request_id;
    ProtobufCBinaryData *hd = calloc(limit + 1, sizeof(*hd));
    for (size_t k = start; k < x->view.n && r.n_headers < limit; k++) {
        hd[r.n_headers].data = (uint8_t *)x->view.blocks[k]->header;
        hd[r.n_headers++].len = CAIRN_BLOCK_HEADER_LEN;
        if (g->stop_id.len == 32 && !memcmp(x->view.blocks[k]->id, g->stop_id.data, 32))
            break;
    }
    r.headers = hd;
    h->served_headers += r.n_headers;
    hx_send_msg(x, h, &r.base);
    free(hd);
}

static void answer_block(hx *x, hconn *h, uint64_t rid, const cf_block *b)
{
    if (!b) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = rid;
        hx_send_msg(x, h, &nf.base);
        return;
    }
    Cairn__V1__Block r = CAIRN__V1__BLOCK__INIT;
    r.request_id = rid;
    r.header.data = (uint8_t *)b->header;
    r.header.len = CAIRN_BLOCK_HEADER_LEN;
    ProtobufCBinaryData *e = calloc(b->n_entries + 1, sizeof(*e));
    for (size_t i = 0; i < b->n_entries; i++) {
        e[i].data = (uint8_t *)b->entries[i].data;
        e[i].len = b->entries[i].len;
    }
    r.entries = e;
    r.n_entries = b->n_entries;
    hx_send_msg(x, h, &r.base);
    free(e);
    if (b == x->view.blocks[x->view.n - 1])
        h->served_tip = 1;
    if (b->height < x->view.n && x->view.blocks[b->height] == b &&
        (!h->served_low || b->height + 1 < h->served_low))
        h->served_low = b->height + 1;
}

static const cf_file *file_by_id(hx *x, const ProtobufCBinaryData *id)
{
    if (id->len != 32 || x->c->role != CF_ROLE_CLIENT)
        return NULL; /* only in the client role does the harness serve files */
    for (size_t i = 0; i < x->o->fx->n_files; i++)
        if (!memcmp(x->o->fx->files[i].id, id->data, 32))
            return &x->o->fx->files[i];
    return NULL;
}

static void answer_request(hx *x, hconn *h, uint16_t type, ProtobufCMessage *m)
{
    uint64_t rid = *cairn_msg_request_id(m);
    if (type == CAIRN_T_GET_HEADERS || type == CAIRN_T_GET_BLOCK)
        h->last_req_ms = cf_now_ms();
    switch (type) {
    case CAIRN_T_GET_HEADERS:
        answer_get_headers(x, h, (Cairn__V1__GetHeaders *)m);
        h->saw_get_headers = 1;
        return;
    case CAIRN_T_GET_BLOCK: {
        const Cairn__V1__GetBlock *g = (const Cairn__V1__GetBlock *)m;
        const cf_block *b = NULL;
        if (g->selector_case == CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT)
            b = g->height < x->view.n ? x->view.blocks[g->height] : NULL;
        else if (g->block_id.len == 32)
            b = cf_view_find(&x->view, g->block_id.data);
        answer_block(x, h, rid, b);
        return;
    }
    case CAIRN_T_GET_PEERS: {
        Cairn__V1__Peers r = CAIRN__V1__PEERS__INIT;
        r.request_id = rid;
        Cairn__V1__PeerAddress a[2] = {CAIRN__V1__PEER_ADDRESS__INIT,
                                       CAIRN__V1__PEER_ADDRESS__INIT};
        Cairn__V1__PeerAddress *pa[2] = {&a[0], &a[1]};
        static uint8_t v4[4] = {192, 0, 2, 1}, v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
        a[0].ip.data = v4;
        a[0].ip.len = 4;
        a[0].port = 7317;
        a[0].services = 15;
        a[1].ip.data = v6;
        a[1].ip.len = 16;
        a[1].port = 7318;
        a[1].services = 1;
        /* in the client role, the harness's own address too: a client that
         * discovers peers can come back for a second session ([DL-8]) */
        Cairn__V1__PeerAddress self = CAIRN__V1__PEER_ADDRESS__INIT;
        Cairn__V1__PeerAddress *pa3[3] = {&a[0], &a[1], &self};
        uint8_t lo[4] = {127, 0, 0, 1};
        const char *colon = strrchr(x->addr2, ':');
        unsigned q[4];
        if (sscanf(x->addr2, "%u.%u.%u.%u:", &q[0], &q[1], &q[2], &q[3]) == 4)
            for (int i = 0; i < 4; i++)
                lo[i] = (uint8_t)q[i]; /* {addr2}'s host: 127.0.0.2 where it exists */
        self.ip.data = lo;
        self.ip.len = 4;
        self.port = colon ? (uint32_t)atoi(colon + 1) : 0;
        self.services = 15;
        if (x->c->role == CF_ROLE_CLIENT) {
            r.peers = self.port ? pa3 : pa;
            r.n_peers = self.port ? 3 : 2;
        }
        hx_send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_GET_MANIFEST: {
        const cf_file *f = file_by_id(x, &((Cairn__V1__GetManifest *)m)->file_id);
        if (!f) {
            Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
            nf.request_id = rid;
            hx_send_msg(x, h, &nf.base);
            return;
        }
        Cairn__V1__Manifest r = CAIRN__V1__MANIFEST__INIT;
        r.request_id = rid;
        r.manifest.data = (uint8_t *)f->manifest;
        r.manifest.len = f->manifest_len;
        hx_send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_GET_CHUNK: {
        const Cairn__V1__GetChunk *g = (const Cairn__V1__GetChunk *)m;
        const cf_file *f = file_by_id(x, &g->file_id);
        if (f && g->index >= f->n_chunks) {
            /* [CHK-3] the harness knows the file: an index past its last chunk is a breach */
            Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
            e.code = CAIRN__V1__ERROR_CODE__INVALID_FIELD;
            static const char why[] = "GetChunk.index is not less than the file's chunk count";
            e.message.data = (uint8_t *)why;
            e.message.len = sizeof(why) - 1;
            hx_send_msg(x, h, &e.base);
            hx_log(x, "%-5s == closed by the harness (CHK-3)", h->c->name);
            cf_conn_close(h->c, 0);
            return;
        }
        if (!f) {
            Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
            nf.request_id = rid;
            hx_send_msg(x, h, &nf.base);
            return;
        }
        size_t cs = (size_t)1 << f->chunk_log2, off = (size_t)g->index * cs;
        size_t len = f->size - off < cs ? f->size - off : cs;
        uint8_t path[64][32];
        size_t pl = 0;
        cairn_merkle_proof(NULL, (const uint8_t(*)[32])f->leaves, (size_t)f->n_chunks,
                           (size_t)g->index, path, 64, &pl);
        ProtobufCBinaryData pr[64];
        for (size_t i = 0; i < pl; i++) {
            pr[i].data = path[i];
            pr[i].len = 32;
        }
        Cairn__V1__Chunk r = CAIRN__V1__CHUNK__INIT;
        r.request_id = rid;
        r.index = g->index;
        r.data.data = f->data + off;
        r.data.len = len;
        r.proof = pr;
        r.n_proof = pl;
        hx_send_msg(x, h, &r.base);
        return;
    }
    case CAIRN_T_SUBMIT_ENTRY: {
        const Cairn__V1__SubmitEntry *s = (const Cairn__V1__SubmitEntry *)m;
        uint32_t reason = 0;
        if (x->c->role == CF_ROLE_CLIENT &&
            cairn_entry_check(s->entry.data, s->entry.len, &reason) == 0) {
            uint8_t id[32];
            cairn_entry_id(NULL, id, s->entry.data, s->entry.len);
            Cairn__V1__EntryAck r = CAIRN__V1__ENTRY_ACK__INIT;
            r.request_id = rid;
            r.entry_id.data = id;
            r.entry_id.len = 32;
            hx_send_msg(x, h, &r.base);
            return;
        }
        Cairn__V1__Error e = CAIRN__V1__ERROR__INIT;
        e.request_id = rid;
        e.code = x->c->role == CF_ROLE_CLIENT ? CAIRN__V1__ERROR_CODE__INVALID_ENTRY
                                              : CAIRN__V1__ERROR_CODE__BUSY;
        e.detail = x->c->role == CF_ROLE_CLIENT ? CAIRN_BLOCK_BAD_ENTRY : 0;
        hx_send_msg(x, h, &e.base);
        return;
    }
    }
}

/* An interleaved frame the case did not ask for: behave like an ordinary peer. */
void hx_auto_handle(hx *x, hconn *h, const cf_rx *rx)
{
    if (rx->kind != RX_FRAME || !cairn_msg_descriptor(rx->type) || h->c->local_closed)
        return;
    ProtobufCMessage *m;
    if (cairn_msg_decode(&x->dec, rx->type, rx->payload, rx->len, &m))
        return;
    if (rx->type == CAIRN_T_PING) {
        if (!x->pong_on)
            return;
        Cairn__V1__Pong p = CAIRN__V1__PONG__INIT;
        p.nonce = ((Cairn__V1__Ping *)m)->nonce;
        for (size_t i = 0; i < h->n_their_pings; i++)
            if (h->their_pings[i] == p.nonce) {
                h->their_pings[i] = h->their_pings[--h->n_their_pings];
                break;
            }
        hx_send_msg(x, h, &p.base);
        return;
    }
    if (cairn_msg_kind(rx->type) == CAIRN_KIND_REQUEST && x->auto_on) {
        /* decode again: send_msg reuses the decoder */
        uint8_t *copy = malloc(rx->len + 1);
        if (!copy)
            return;
        memcpy(copy, rx->payload, rx->len);
        cairn_msg_decoder d;
        cairn_msg_decoder_init(&d, cairn_port_mem());
        if (!cairn_msg_decode(&d, rx->type, copy, rx->len, &m))
            answer_request(x, h, rx->type, m);
        cairn_msg_decoder_free(&d);
        free(copy);
    }
}
