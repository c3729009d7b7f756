/*
 * One recorded connection becomes a server-role case. The client's frames
 * become steps (its Hello `hello` with only the fields that differ from the
 * harness's defaults, its Auth `auth`, computed again on replay with the
 * harness's key and channel binding); the server's frames become expectations,
 * with its nonce, key and time captured or `*`. What the harness does by itself
 * on replay is a comment, not a step: the server's own requests, Pings and
 * announcements (the harness answers and allows them) and the client's answers
 * to them. Each connection ends in exactly one terminal step: `close` when the
 * client closed first, `expect close-with CODE` or `expect close` when the
 * server did.
 *
 * Bytes arrive as a queue of events in the order they travelled; a TLS
 * connection is decrypted with the key log (rec_tls.c), and when a secret is
 * not in the log yet the queue waits, so that steps keep their order.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cairn/block.h"
#include "cairn/json.h"
#include "cairn/msg.h"
#include "cairn/port.h"
#include "rec.h"
#include "wire.h"

typedef struct rq_ev {
    struct rq_ev *next;
    int from_client;
    int eof; /* 1 FIN, 2 reset */
    size_t n;
    uint8_t p[];
} rq_ev;

#define MAX_SEEN 256

struct rec_conn {
    rec_opts o;
    char desc[192];
    int kind;
    int refused;
    rq_ev *head, *tail;
    rec_tls *tls;
    uint8_t *fb[2]; /* Cairn bytes not yet framed; [1] = from the client */
    size_t fl[2], fc[2];
    int desync[2];
    cairn_msg_decoder dec;
    char *text; /* the steps */
    size_t text_len;
    FILE *out;
    int n_frames;
    int done;                   /* the terminal step is written */
    json_t *srv_error;          /* a server Error not yet written: close-with if a close follows */
    uint64_t srv_req[MAX_SEEN]; /* request IDs of the server's own requests */
    size_t n_srv_req;
    uint64_t srv_pings[MAX_SEEN]; /* the server's Ping nonces */
    size_t n_srv_pings;
    int client_hello, client_auth; /* the client's `hello` / `auth` are written */
    int held_hello, held_auth;     /* the server's Hello / Auth wait for them */
    char client_err[40];           /* the code of the client's last Error */
};

rec_conn *rec_conn_new(const rec_opts *o, const char *desc)
{
    rec_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    snprintf(c->desc, sizeof(c->desc), "%s", desc);
    c->out = open_memstream(&c->text, &c->text_len);
    if (!c->out) {
        free(c);
        return NULL;
    }
    cairn_msg_decoder_init(&c->dec, cairn_port_mem());
    return c;
}

void rec_conn_free(rec_conn *c)
{
    if (!c)
        return;
    for (rq_ev *e = c->head, *nx; e; e = nx) {
        nx = e->next;
        free(e);
    }
    rec_tls_free(c->tls);
    free(c->fb[0]);
    free(c->fb[1]);
    cairn_msg_decoder_free(&c->dec);
    json_decref(c->srv_error);
    if (c->out)
        fclose(c->out);
    free(c->text);
    free(c);
}

static void push(rec_conn *c, int from_client, int eof, const uint8_t *p, size_t n)
{
    rq_ev *e = malloc(sizeof(*e) + n);
    if (!e)
        return;
    e->next = NULL;
    e->from_client = from_client;
    e->eof = eof;
    e->n = n;
    if (n)
        memcpy(e->p, p, n);
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
}

void rec_conn_data(rec_conn *c, int from_client, const uint8_t *p, size_t n)
{
    if (n && !c->refused)
        push(c, !!from_client, 0, p, n);
}

void rec_conn_eof(rec_conn *c, int from_client, int reset)
{
    push(c, !!from_client, reset ? 2 : 1, NULL, 0);
}

int rec_conn_done(const rec_conn *c)
{
    return c->done;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int seen(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/*
 * The handshake is written in one order whatever the timing was: `hello`,
 * `expect Hello`, `auth`, `expect Auth`, so that a replay never waits for the
 * server to speak first. The server's Hello and Auth wait for the client's
 * step, and anything else writes what waits.
 */
static void flush_held(rec_conn *c)
{
    if (c->held_hello)
        fprintf(c->out, "expect Hello {\"version\": \"*\", \"nodeKey\": \"?server_key\", "
                        "\"nonce\": \"?server_nonce\", \"timeMs\": \"*\"}\n");
    if (c->held_auth)
        fprintf(c->out, "expect Auth\n"); /* verified by the harness */
    c->held_hello = c->held_auth = 0;
}

/* A server Error held back: it becomes `expect Error` when more follows. */
static void flush_srv_error(rec_conn *c)
{
    flush_held(c);
    if (!c->srv_error)
        return;
    char *s = dump(c->srv_error);
    c->srv_error = NULL;
    fprintf(c->out, "expect Error %s\n", s ? s : "{}");
    free(s);
}

/* One frame from the client (the future harness): a step. */
static void client_frame(rec_conn *c, uint16_t type, const uint8_t *p, size_t len)
{
    ProtobufCMessage *m;
    char tb[16];
    if (cairn_msg_decode_unchecked(&c->dec, type, p, len, &m)) {
        char *h = cf_hex(p, len);
        fprintf(c->out, "send-frame %s %s\n", cf_type_name(type, tb), h ? h : "");
        free(h);
        return;
    }
    json_t *j = cairn_json_from_msg(m);
    uint64_t *rid = cairn_msg_request_id(m);
    switch (type) {
    case CAIRN_T_HELLO: {
        /* the harness's own key, nonce, time and tip take the place of the recorded ones */
        const char *drop[] = {"nodeKey",      "nonce", "timeMs",    "networkId", "version",
                              "maxFrameSize", "tipId", "tipHeight", "totalWork", "userAgent"};
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            json_object_del(j, drop[i]);
        char *s = dump(j);
        if (s && strcmp(s, "{}"))
            fprintf(c->out, "hello %s\n", s);
        else
            fprintf(c->out, "hello\n");
        free(s);
        c->client_hello = 1;
        if (c->held_hello && !c->held_auth)
            flush_held(c);
        return;
    }
    case CAIRN_T_AUTH:
        json_decref(j);
        if (c->held_hello) { /* the server's Hello is in the transcript the harness signs */
            c->held_hello = 0;
            fprintf(c->out, "expect Hello {\"version\": \"*\", \"nodeKey\": \"?server_key\", "
                            "\"nonce\": \"?server_nonce\", \"timeMs\": \"*\"}\n");
        }
        fprintf(c->out, "auth\n");
        c->client_auth = 1;
        flush_held(c);
        return;
    case CAIRN_T_PONG:
        if (seen(c->srv_pings, c->n_srv_pings, ((Cairn__V1__Pong *)m)->nonce)) {
            json_decref(j);
            fprintf(c->out, "# the client answered the server's Ping (the harness does)\n");
            return;
        }
        break;
    case CAIRN_T_ERROR:
        snprintf(c->client_err, sizeof(c->client_err), "%s",
                 json_string_value(json_object_get(j, "code"))
                     ? json_string_value(json_object_get(j, "code"))
                     : "?");
        json_object_del(j, "message"); /* for humans; never compared */
        if (rid && *rid && seen(c->srv_req, c->n_srv_req, *rid)) {
            json_decref(j);
            fprintf(c->out,
                    "# the client answered the server's request %llu with an Error (the "
                    "harness answers by itself)\n",
                    (unsigned long long)*rid);
            return;
        }
        break;
    default:
        if (cairn_msg_kind(type) == CAIRN_KIND_RESPONSE && rid &&
            seen(c->srv_req, c->n_srv_req, *rid)) {
            json_decref(j);
            fprintf(c->out,
                    "# the client answered the server's request %llu with %s (the "
                    "harness answers by itself)\n",
                    (unsigned long long)*rid, cf_type_name(type, tb));
            return;
        }
    }
    char *s = dump(j);
    fprintf(c->out, "send %s %s\n", cf_type_name(type, tb), s ? s : "{}");
    free(s);
}

/* One frame from the server (the IUT): an expectation. */
static void server_frame(rec_conn *c, uint16_t type, const uint8_t *p, size_t len)
{
    ProtobufCMessage *m;
    char tb[16];
    if (type >= CAIRN_TYPE_EXT_FIRST) {
        fprintf(c->out, "# the server sent extension frame 0x%04x (allowed, not expected)\n", type);
        return;
    }
    if (cairn_msg_decode_unchecked(&c->dec, type, p, len, &m)) {
        fprintf(c->out, "# the server sent an undecodable %s\n", cf_type_name(type, tb));
        return;
    }
    json_t *j = cairn_json_from_msg(m);
    uint64_t *rid = cairn_msg_request_id(m);
    int kind = cairn_msg_kind(type);
    switch (type) {
    case CAIRN_T_HELLO:
        /* nonce, key, time and tip are the server's own: captured or "*", not compared */
        json_decref(j);
        c->held_hello = 1;
        if (c->client_hello)
            flush_held(c);
        return;
    case CAIRN_T_AUTH:
        json_decref(j);
        c->held_auth = 1;
        if (c->client_auth)
            flush_held(c);
        return;
    case CAIRN_T_PING:
        json_decref(j);
        if (c->n_srv_pings < MAX_SEEN)
            c->srv_pings[c->n_srv_pings++] = ((Cairn__V1__Ping *)m)->nonce;
        fprintf(c->out, "# the server sent a Ping (the harness answers it)\n");
        return;
    case CAIRN_T_ERROR:
        json_object_del(j, "message"); /* for humans; never compared */
        flush_srv_error(c);
        c->srv_error = j; /* close-with when the close follows */
        return;
    }
    if (kind == CAIRN_KIND_REQUEST || kind == CAIRN_KIND_NOTIFY) {
        /* the harness answers the server's requests and allows announcements */
        if (kind == CAIRN_KIND_REQUEST && rid && c->n_srv_req < MAX_SEEN)
            c->srv_req[c->n_srv_req++] = *rid;
        char *s = dump(j);
        fprintf(c->out, "# the server sent %s %s (the harness %s)\n", cf_type_name(type, tb),
                s && strlen(s) < 200 ? s : "{...}",
                kind == CAIRN_KIND_REQUEST ? "answers it" : "allows it");
        free(s);
        return;
    }
    flush_srv_error(c);
    char *s = dump(j);
    fprintf(c->out, "expect %s %s\n", cf_type_name(type, tb), s ? s : "{}");
    free(s);
}

/* Splits complete frames off one direction's buffer and records them. */
static void frames(rec_conn *c, int from_client)
{
    uint8_t *buf = c->fb[from_client];
    size_t len = c->fl[from_client], off = 0;
    while (!c->done && !c->desync[from_client] && len - off >= CAIRN_FRAME_HEADER_LEN) {
        uint32_t l = cairn_get_u32(buf + off + 4);
        if (buf[off] != CAIRN_MAGIC_0 || buf[off + 1] != CAIRN_MAGIC_1 ||
            l > CAIRN_FRAME_MAX_HARD) {
            char *h = cf_hex(buf + off, len - off > 64 ? 64 : len - off);
            if (from_client) {
                fprintf(c->out, "send-raw %s\n", h ? h : "");
            } else {
                flush_srv_error(c);
                fprintf(c->out, "# the server sent bytes that are not a frame: %s\n", h ? h : "");
            }
            free(h);
            c->desync[from_client] = 1;
            off = len;
            break;
        }
        if (len - off < CAIRN_FRAME_HEADER_LEN + (size_t)l)
            break;
        uint16_t type = cairn_get_u16(buf + off + 2);
        c->n_frames++;
        if (from_client) {
            if (c->srv_error || (type != CAIRN_T_HELLO && type != CAIRN_T_AUTH))
                flush_srv_error(c);
            client_frame(c, type, buf + off + 8, l);
        } else {
            server_frame(c, type, buf + off + 8, l);
        }
        off += CAIRN_FRAME_HEADER_LEN + l;
    }
    if (c->desync[from_client])
        off = len;
    memmove(buf, buf + off, len - off);
    c->fl[from_client] = len - off;
}

static void cairn_bytes(rec_conn *c, int from_client, const uint8_t *p, size_t n)
{
    size_t need = c->fl[from_client] + n;
    if (need > c->fc[from_client]) {
        size_t nc = c->fc[from_client] ? c->fc[from_client] : 65536;
        while (nc < need)
            nc *= 2;
        uint8_t *nb = realloc(c->fb[from_client], nc);
        if (!nb)
            return;
        c->fb[from_client] = nb;
        c->fc[from_client] = nc;
    }
    memcpy(c->fb[from_client] + c->fl[from_client], p, n);
    c->fl[from_client] += n;
    frames(c, from_client);
}

/* The first close of the connection: its one terminal step. */
static void closed(rec_conn *c, int from_client, int reset, const char *how)
{
    if (c->done)
        return;
    c->done = 1;
    flush_held(c);
    if (from_client) {
        flush_srv_error(c);
        if (c->client_err[0])
            fprintf(c->out, "# the client closed the connection%s after its Error %s\n", how,
                    c->client_err);
        else
            fprintf(c->out, "# the client closed the connection%s\n", how);
        fprintf(c->out, reset ? "close abort\n" : "close\n");
        return;
    }
    if (c->srv_error) {
        json_t *code = json_object_get(c->srv_error, "code");
        json_t *det = json_object_get(c->srv_error, "detail");
        fprintf(c->out, "# the server closed the connection%s after its Error\n", how);
        fprintf(c->out, "expect close-with %s",
                json_is_string(code) ? json_string_value(code) : "?");
        const char *r = json_is_integer(det)
                            ? cairn_block_reason_name((uint32_t)json_integer_value(det))
                            : NULL;
        if (r)
            fprintf(c->out, " detail=%s", r);
        fprintf(c->out, "\n");
        json_decref(c->srv_error);
        c->srv_error = NULL;
        return;
    }
    fprintf(c->out, "# the server closed the connection%s without an Error\n", how);
    fprintf(c->out, "expect close\n");
}

static int refuse(rec_conn *c, const char *why, const char *more)
{
    if (!c->refused)
        fprintf(stderr, "cairn-conform: %s: %s%s\n", c->desc, why, more);
    c->refused = 1;
    return c->kind;
}

static int detect(rec_conn *c, const rq_ev *e)
{
    if (e->eof || !e->n)
        return 0;
    if (e->p[0] == 0x16 && e->from_client)
        c->kind = REC_TLS;
    else if (e->p[0] == CAIRN_MAGIC_0)
        c->kind = REC_PLAIN;
    else
        c->kind = REC_OTHER;
    return c->kind;
}

/* The TLS events of one direction; -1 when the queue must wait for a secret. */
static int tls_drain(rec_conn *c, int from_client, int final)
{
    for (;;) {
        const uint8_t *d;
        size_t n;
        int alert = -1;
        int ev = rec_tls_next(c->tls, from_client, &d, &n, &alert);
        if (!ev)
            return 0;
        if (ev == REC_TLS_DATA) {
            cairn_bytes(c, from_client, d, n);
            continue;
        }
        if (ev == REC_TLS_CLOSE) {
            closed(c, from_client, 0, " (TLS close_notify)");
            continue;
        }
        if (ev == REC_TLS_ALERT) {
            fprintf(c->out, "# the %s sent TLS alert %d\n", from_client ? "client" : "server",
                    alert);
            continue;
        }
        if (ev == REC_TLS_NEED_SECRET && !final)
            return -1; /* the endpoint has not written it yet: wait */
        refuse(c, rec_tls_why(c->tls), "; the connection is not recorded");
        return 0;
    }
}

int rec_conn_pump(rec_conn *c, int final, int *refused)
{
    while (c->head && !c->refused) {
        rq_ev *e = c->head;
        if (c->kind == REC_UNKNOWN && !detect(c, e)) {
            /* a close before any byte */
        } else if (c->kind == REC_OTHER) {
            refuse(c, "the first bytes are neither a Cairn frame nor a TLS ClientHello", "");
            break;
        } else if (c->kind == REC_TLS && !c->o.keys) {
            refuse(c,
                   "the client speaks TLS (a ClientHello) and a TLS session can only be recorded "
                   "with --keylog FILE, the SSLKEYLOGFILE one of the endpoints writes "
                   "(SSLKEYLOGFILE=FILE cairnd ... or cairn ...); refusing the connection",
                   "");
            break;
        } else if (c->o.only && c->kind != c->o.only) {
            refuse(c,
                   c->o.only == REC_TLS ? "--tls was given and the client speaks plaintext"
                                        : "--plaintext was given and the client speaks TLS",
                   "");
            break;
        }
        if (c->kind == REC_TLS && !c->tls) {
            c->tls = rec_tls_new(c->o.keys);
            if (!c->tls)
                return refuse(c, "out of memory", "");
        }
        if (e->eof) {
            if (c->kind == REC_TLS && tls_drain(c, e->from_client, final) < 0)
                break;
            closed(c, e->from_client, e->eof == 2, e->eof == 2 ? " (reset)" : "");
        } else if (c->kind == REC_TLS) {
            if (e->n) { /* bytes move into the TLS reader once; a retry finds them there */
                if (rec_tls_add(c->tls, e->from_client, e->p, e->n))
                    return refuse(c, "out of memory", "");
                e->n = 0;
            }
            if (tls_drain(c, e->from_client, final) < 0)
                break;
        } else if (c->kind == REC_PLAIN) {
            cairn_bytes(c, e->from_client, e->p, e->n);
        }
        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        free(e);
    }
    if (refused)
        *refused = c->refused;
    return c->kind;
}

int rec_conn_write(rec_conn *c, const char *id, const char *path)
{
    int dummy;
    rec_conn_pump(c, 1, &dummy);
    if (c->refused || !c->n_frames)
        return 1;
    if (!c->done) {
        flush_srv_error(c);
        fprintf(c->out, "# the recording ended with the connection open\nclose\n");
    }
    fflush(c->out);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cairn-conform: %s: cannot write\n", path);
        return -1;
    }
    fprintf(f,
            "# Recorded by cairn-conform record: %s (%s, server %s).\n"
            "# Annotate before keeping it under cases/server/: an id of its area, what the\n"
            "# server must do as the title, the requirements it checks as `covers` lines\n"
            "# (\"covers HS-1 MUST\" is a placeholder), tags; replace the literal values that\n"
            "# are not under test by \"*\" (or capture them as \"?name\" and refer to \"$name\").\n"
            "# The harness computes its own Hello and Auth and answers the server's requests\n"
            "# and Pings itself, so the case replays over TLS and plaintext alike.\n"
            "id %s\ntitle Recorded session (annotate me)\nrole server\ncovers HS-1 MUST\n"
            "tags recorded\n\nconnect\n%s",
            c->desc, c->kind == REC_TLS ? "TLS 1.3, decrypted with the key log" : "plaintext",
            c->o.upstream ? c->o.upstream : "?", id, c->text ? c->text : "");
    int bad = ferror(f);
    if (fclose(f) || bad) {
        fprintf(stderr, "cairn-conform: %s: write failed\n", path);
        return -1;
    }
    return 0;
}
