/*
 * fuzz_node_core's wire oracles (issue 18): every byte the victim writes to a
 * link and reads from it, split into frames; the requests it wrote and the
 * answers it read are counted per link: at most 64 outstanding [REQ-4], 16
 * GetBlock [SYNC-32], 1 GetHeaders, no request_id reused while outstanding
 * [REQ-2]; the Manifest and Chunk answers it writes are checked against its
 * share (fuzz_node_world.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fuzz_node_core.h"

/* Requests the victim wrote and answers it read, frame by frame. */
static void track_frame(nc_net *net, nc_link *l, int out, uint16_t type, const uint8_t *payload,
                        size_t len)
{
    int kind = cairn_msg_kind(type);
    if (kind != CAIRN_KIND_REQUEST && kind != CAIRN_KIND_RESPONSE && type != CAIRN_T_ERROR)
        return;
    ProtobufCMessage *m;
    if (cairn_msg_decode_unchecked(&net->dec, type, payload, len, &m) != 0) {
        l->untracked = 1; /* undecodable: the receiver closes */
        return;
    }
    uint64_t rid;
    if (type == CAIRN_T_ERROR)
        rid = ((Cairn__V1__Error *)m)->request_id;
    else
        rid = *cairn_msg_request_id(m);
    if (out && (type == CAIRN_T_MANIFEST || type == CAIRN_T_CHUNK))
        nc_files_check(type, m);
    if (out && kind == CAIRN_KIND_REQUEST) {
        int blocks = type == CAIRN_T_GET_BLOCK, headers = type == CAIRN_T_GET_HEADERS;
        for (int i = 0; i < l->n_req; i++) {
            FUZZ_CHECK(l->req[i].rid != rid, "request_id %llu reused while outstanding [REQ-2]",
                       (unsigned long long)rid);
            blocks += l->req[i].type == CAIRN_T_GET_BLOCK;
            headers += l->req[i].type == CAIRN_T_GET_HEADERS;
        }
        FUZZ_CHECK(l->n_req < NC_OUT_MAX, "a 65th outstanding request [REQ-4]");
        FUZZ_CHECK(blocks <= NC_BODY_WINDOW, "%d GetBlock outstanding [SYNC-32]", blocks);
        FUZZ_CHECK(headers <= 1, "%d GetHeaders outstanding to one peer", headers);
        l->req[l->n_req].rid = rid;
        l->req[l->n_req++].type = type;
    } else if (!out && kind != CAIRN_KIND_REQUEST && rid) {
        for (int i = 0; i < l->n_req; i++)
            if (l->req[i].rid == rid) {
                l->req[i] = l->req[--l->n_req];
                break;
            }
    }
}

void nc_track(nc_net *net, nc_link *l, int out, const uint8_t *d, size_t n)
{
    nc_stream *s = out ? &l->out : &l->in;
    if (l->untracked || !n)
        return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        s->buf = realloc(s->buf, cap);
        FUZZ_CHECK(s->buf, "out of memory");
        s->cap = cap;
    }
    memcpy(s->buf + s->len, d, n);
    s->len += n;
    size_t off = 0;
    while (!l->untracked && s->len - off >= CAIRN_FRAME_HEADER_LEN) {
        const uint8_t *p = s->buf + off;
        cairn_frame_header h;
        if (cairn_frame_header_decode(&p, s->buf + s->len, &h, CAIRN_FRAME_MAX_HARD) != 0) {
            l->untracked = 1;
            break;
        }
        if (s->len - off - CAIRN_FRAME_HEADER_LEN < h.length)
            break;
        track_frame(net, l, out, h.type, p, h.length);
        off += CAIRN_FRAME_HEADER_LEN + h.length;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}
