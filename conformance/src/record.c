/*
 * Record mode: a proxy between a client and a server (both in plaintext mode:
 * under TLS the channel binding makes a relaying proxy fail by design, §14.2)
 * that writes the session as a case file for the server role. The client's
 * frames become steps (its Hello becomes `hello` with the fields that differ
 * from the harness's defaults, its Auth becomes `auth`, which the harness
 * computes); the server's frames become expectations, with nonces, keys,
 * signatures and times turned into captures and back-references.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/json.h"
#include "cairn/net.h"
#include "cairn/port.h"
#include "wire.h"

typedef struct rec {
    FILE *out;
    cairn_msg_decoder dec;
    uint64_t pings[64]; /* client Ping nonces, in order */
    size_t n_pings;
    uint64_t srv_pings[64];
    size_t n_srv_pings;
    int server_closed, client_closed;
} rec;

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* One frame from the client (the future harness): a step. */
static void client_frame(rec *r, uint16_t type, const uint8_t *p, size_t len)
{
    ProtobufCMessage *m;
    char tb[16];
    if (cairn_msg_decode_unchecked(&r->dec, type, p, len, &m)) {
        char *h = cf_hex(p, len);
        fprintf(r->out, "send-frame %s %s\n", cf_type_name(type, tb), h ? h : "");
        free(h);
        return;
    }
    json_t *j = cairn_json_from_msg(m);
    switch (type) {
    case CAIRN_T_HELLO: {
        /* the harness's own key, nonce, time and tip take the place of the recorded ones */
        const char *drop[] = {"nodeKey",      "nonce", "timeMs",    "networkId", "version",
                              "maxFrameSize", "tipId", "tipHeight", "totalWork", "userAgent"};
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            json_object_del(j, drop[i]);
        char *s = dump(j);
        if (s && strcmp(s, "{}"))
            fprintf(r->out, "hello %s\n", s);
        else
            fprintf(r->out, "hello\n");
        free(s);
        return;
    }
    case CAIRN_T_AUTH:
        json_decref(j);
        fprintf(r->out, "auth\n");
        return;
    case CAIRN_T_PING:
        if (r->n_pings < 64)
            r->pings[r->n_pings++] = ((Cairn__V1__Ping *)m)->nonce;
        break;
    case CAIRN_T_PONG: {
        uint64_t nonce = ((Cairn__V1__Pong *)m)->nonce;
        for (size_t i = 0; i < r->n_srv_pings; i++)
            if (r->srv_pings[i] == nonce) {
                char name[40];
                snprintf(name, sizeof(name), "$srv_ping%zu", i);
                json_object_set_new(j, "nonce", json_string(name));
            }
        break;
    }
    }
    char *s = dump(j);
    fprintf(r->out, "send %s %s\n", cf_type_name(type, tb), s ? s : "{}");
    free(s);
}

/* One frame from the server (the IUT): an expectation. */
static void server_frame(rec *r, uint16_t type, const uint8_t *p, size_t len)
{
    ProtobufCMessage *m;
    char tb[16];
    if (type >= CAIRN_TYPE_EXT_FIRST) {
        fprintf(r->out, "# the server sent extension frame 0x%04x (skipped)\n", type);
        return;
    }
    if (cairn_msg_decode_unchecked(&r->dec, type, p, len, &m)) {
        fprintf(r->out, "# the server sent an undecodable %s\n", cf_type_name(type, tb));
        return;
    }
    json_t *j = cairn_json_from_msg(m);
    switch (type) {
    case CAIRN_T_HELLO:
        /* nonce, key, time and tip are the server's own: captured, not compared */
        json_decref(j);
        fprintf(r->out, "expect Hello {\"version\": \"*\", \"nodeKey\": \"?server_key\", "
                        "\"nonce\": \"?server_nonce\", \"timeMs\": \"*\"}\n");
        return;
    case CAIRN_T_AUTH:
        json_decref(j);
        fprintf(r->out, "expect Auth\n"); /* verified by the harness */
        return;
    case CAIRN_T_PING: {
        json_decref(j);
        size_t i = r->n_srv_pings < 64 ? r->n_srv_pings++ : 63;
        r->srv_pings[i] = ((Cairn__V1__Ping *)m)->nonce;
        fprintf(r->out, "expect Ping {\"nonce\": \"?srv_ping%zu\"}\n", i);
        return;
    }
    case CAIRN_T_PONG: {
        uint64_t nonce = ((Cairn__V1__Pong *)m)->nonce;
        (void)nonce; /* the harness replays the client's literal Ping nonces */
        break;
    }
    case CAIRN_T_ERROR:
        json_object_del(j, "message"); /* for humans; never compared */
        break;
    }
    char *s = dump(j);
    fprintf(r->out, "expect %s %s\n", cf_type_name(type, tb), s ? s : "{}");
    free(s);
}

/* Splits complete frames off `buf` and records them. */
static void frames(rec *r, uint8_t *buf, size_t *len, int from_client)
{
    size_t off = 0;
    while (*len - off >= CAIRN_FRAME_HEADER_LEN) {
        uint32_t l = cairn_get_u32(buf + off + 4);
        if (buf[off] != CAIRN_MAGIC_0 || buf[off + 1] != CAIRN_MAGIC_1 ||
            l > CAIRN_FRAME_MAX_HARD) {
            char *h = cf_hex(buf + off, *len - off > 64 ? 64 : *len - off);
            fprintf(r->out, from_client ? "send-raw %s\n" : "# the server sent: %s\n", h);
            free(h);
            off = *len;
            break;
        }
        if (*len - off < CAIRN_FRAME_HEADER_LEN + (size_t)l)
            break;
        uint16_t type = cairn_get_u16(buf + off + 2);
        if (from_client)
            client_frame(r, type, buf + off + 8, l);
        else
            server_frame(r, type, buf + off + 8, l);
        off += CAIRN_FRAME_HEADER_LEN + l;
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
}

int cf_record(int argc, char **argv)
{
    const char *listen_addr = NULL, *upstream = NULL, *out = NULL, *id = "REC-001";
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_addr = argv[++i];
        else if (!strcmp(argv[i], "--upstream") && i + 1 < argc)
            upstream = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--id") && i + 1 < argc)
            id = argv[++i];
    }
    if (!listen_addr || !upstream || !out) {
        fprintf(stderr, "usage: cairn-conform record --listen HOST:PORT --upstream HOST:PORT "
                        "-o FILE [--id CASE-ID]\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (cairn_net_parse_addr(listen_addr, &ss, &sl)) {
        fprintf(stderr, "cairn-conform: bad address %s\n", listen_addr);
        return 2;
    }
    int lfd = cairn_net_listen((struct sockaddr *)&ss, sl, 1);
    if (lfd < 0) {
        fprintf(stderr, "cairn-conform: listen %s: %s\n", listen_addr, strerror(errno));
        return 1;
    }
    fprintf(stderr, "cairn-conform: recording on %s for %s (plaintext)\n", listen_addr, upstream);
    int cfd = cf_tcp_accept(lfd, 600000);
    close(lfd);
    if (cfd < 0)
        return 1;
    char err[256];
    int sfd = cf_tcp_dial(upstream, NULL, 5000, err, sizeof(err));
    if (sfd < 0) {
        fprintf(stderr, "cairn-conform: %s\n", err);
        return 1;
    }
    rec r;
    memset(&r, 0, sizeof(r));
    r.out = fopen(out, "w");
    if (!r.out)
        return 1;
    cairn_msg_decoder_init(&r.dec, cairn_port_mem());
    fprintf(r.out,
            "# Recorded by cairn-conform record (client -> %s). Annotate: title, covers, tags;\n"
            "# replace literal values that are not part of what is tested by \"*\".\n"
            "id %s\ntitle Recorded session (annotate me)\nrole server\ncovers HS-1 MUST\n"
            "tags recorded\nconnect\n",
            upstream, id);
    static uint8_t cbuf[1 << 22], sbuf[1 << 22];
    size_t clen = 0, slen = 0;
    for (;;) {
        struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(p, 2, 60000) <= 0)
            break;
        int stop = 0;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int from_client = i == 0;
            uint8_t *buf = from_client ? cbuf : sbuf;
            size_t *len = from_client ? &clen : &slen;
            ssize_t n = recv(p[i].fd, buf + *len, sizeof(cbuf) - *len, 0);
            if (n <= 0) {
                if (from_client) {
                    fprintf(r.out, "close\n");
                    shutdown(sfd, SHUT_WR);
                    r.client_closed = 1;
                } else {
                    fprintf(r.out, "expect close\n");
                    shutdown(cfd, SHUT_WR);
                    r.server_closed = 1;
                }
                stop = r.client_closed && r.server_closed;
                if (!from_client)
                    stop = 1;
                continue;
            }
            const uint8_t *q = buf + *len;
            size_t left = (size_t)n;
            int ofd = from_client ? sfd : cfd;
            while (left) {
                ssize_t w = send(ofd, q, left, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                q += w;
                left -= (size_t)w;
            }
            *len += (size_t)n;
            frames(&r, buf, len, from_client);
        }
        if (stop)
            break;
    }
    close(cfd);
    close(sfd);
    cairn_msg_decoder_free(&r.dec);
    fclose(r.out);
    fprintf(stderr, "cairn-conform: wrote %s\n", out);
    return 0;
}
