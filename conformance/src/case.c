/* Case file parser (grammar in conformance/README.md). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

#define MAX_TOKS 96

typedef struct tok {
    char *s;
    const char *src; /* where it starts in the file text */
    int json;
} tok;

typedef struct parser {
    const char *path, *p, *end;
    int line;
    char *err;
    size_t errlen;
} parser;

static int perr(parser *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *ps, int line, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, line, msg);
    return -1;
}

static void toks_free(tok *t, int n)
{
    for (int i = 0; i < n; i++)
        free(t[i].s);
}

/*
 * Reads one logical line: whitespace-separated words, where a word starting
 * with '{' or '[' is JSON and runs to its matching bracket, across lines.
 * Returns the number of tokens (0 for a blank or comment line), -1 on error,
 * -2 at the end of the text.
 */
static int next_line(parser *ps, tok *t, int *line)
{
    if (ps->p >= ps->end)
        return -2;
    int n = 0;
    *line = ps->line;
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\n') {
            ps->p++;
            ps->line++;
            break;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            ps->p++;
            continue;
        }
        if (c == '#' && n == 0) {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
            continue;
        }
        if (n == MAX_TOKS) {
            toks_free(t, n);
            return perr(ps, *line, "too many words on one line");
        }
        const char *start = ps->p;
        if (c == '{' || c == '[') {
            int depth = 0, in_str = 0, start_line = ps->line;
            for (; ps->p < ps->end; ps->p++) {
                char d = *ps->p;
                if (d == '\n')
                    ps->line++;
                if (in_str) {
                    if (d == '\\')
                        ps->p++;
                    else if (d == '"')
                        in_str = 0;
                    continue;
                }
                if (d == '"')
                    in_str = 1;
                else if (d == '{' || d == '[')
                    depth++;
                else if (d == '}' || d == ']') {
                    if (--depth == 0) {
                        ps->p++;
                        break;
                    }
                }
            }
            if (depth) {
                toks_free(t, n);
                return perr(ps, start_line, "unbalanced JSON");
            }
            t[n].json = 1;
        } else {
            while (ps->p < ps->end && !isspace((unsigned char)*ps->p))
                ps->p++;
            t[n].json = 0;
        }
        t[n].src = start;
        t[n].s = strndup(start, (size_t)(ps->p - start));
        if (!t[n].s) {
            toks_free(t, n);
            return perr(ps, *line, "out of memory");
        }
        n++;
    }
    return n;
}

/* The rest of the source line from token `t` (for titles and texts). */
static char *rest_of_line(const tok *t)
{
    const char *e = strchr(t->src, '\n');
    size_t n = e ? (size_t)(e - t->src) : strlen(t->src);
    while (n && (t->src[n - 1] == ' ' || t->src[n - 1] == '\r' || t->src[n - 1] == '\t'))
        n--;
    return strndup(t->src, n);
}

/* ---- small parsers ------------------------------------------------------------ */

static int parse_long(const char *s, long *v)
{
    char *e;
    errno = 0;
    *v = strtol(s, &e, 0);
    return (*s && !*e && !errno) ? 0 : -1;
}

static int parse_split(const char *s, cf_split *sp)
{
    sp->n = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (parse_long(t, &v) || v <= 0 || sp->n == sizeof(sp->at) / sizeof(sp->at[0]) ||
            (sp->n && (size_t)v <= sp->at[sp->n - 1])) {
            free(copy);
            return -1;
        }
        sp->at[sp->n++] = (size_t)v;
    }
    free(copy);
    return 0;
}

static json_t *parse_json(parser *ps, int line, const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (!j)
        perr(ps, line, "bad JSON: %s", je.text);
    return j;
}

/* key=value options shared by the sending steps. Returns 1 when `s` was an option. */
static int send_option(parser *ps, int line, cf_step *st, const char *s, int *bad)
{
    const char *eq = strchr(s, '=');
    if (!eq)
        return 0;
    size_t kl = (size_t)(eq - s);
    const char *v = eq + 1;
    long n;
    *bad = 0;
    if (kl == 5 && !strncmp(s, "split", 5)) {
        if (parse_split(v, &st->split))
            *bad = perr(ps, line, "split=: offsets must be increasing positive numbers");
    } else if (kl == 3 && !strncmp(s, "gap", 3)) {
        if (parse_long(v, &n) || n < 0 || n > 10000)
            *bad = perr(ps, line, "gap=: milliseconds, 0..10000");
        st->split.gap_ms = (unsigned)n;
    } else if (kl == 6 && !strncmp(s, "append", 6)) {
        free(st->append); /* the last append= counts */
        st->append = NULL;
        if (cf_hex_parse(v, &st->append, &st->append_len, NULL, NULL, 0))
            *bad = perr(ps, line, "append=: hex");
    } else if (kl == 7 && !strncmp(s, "prepend", 7)) {
        free(st->prepend);
        st->prepend = NULL;
        if (cf_hex_parse(v, &st->prepend, &st->prepend_len, NULL, NULL, 0))
            *bad = perr(ps, line, "prepend=: hex");
    } else if (kl == 4 && !strncmp(s, "type", 4)) {
        if (parse_long(v, &n) || n < 0 || n > 0xFFFF)
            *bad = perr(ps, line, "type=: 0..0xffff");
        st->type_override = n;
    } else if (kl == 6 && !strncmp(s, "length", 6)) {
        if (!strcmp(v, "peer-max+1"))
            n = -2; /* one more than the max_frame_size the IUT announced */
        else if (parse_long(v, &n) || n < 0 || n > 0xFFFFFFFFL)
            *bad = perr(ps, line, "length=: 0..0xffffffff");
        st->length_override = n;
    } else {
        return 0;
    }
    return 1;
}

static int parse_codes(parser *ps, int line, const char *s, json_t **out)
{
    json_t *arr = json_array();
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
        if (!cairn_wire_error_from_name(t)) {
            int rv = perr(ps, line, "unknown error code %s", t); /* before t is freed */
            free(copy);
            json_decref(arr);
            return rv;
        }
        json_array_append_new(arr, json_string(t));
    }
    free(copy);
    *out = arr;
    return 0;
}

static int add_event(cf_alt *a, cf_event ev)
{
    cf_event *n = realloc(a->ev, (a->n_ev + 1) * sizeof(*n));
    if (!n)
        return -1;
    a->ev = n;
    a->ev[a->n_ev++] = ev;
    return 0;
}

/*
 * EVENTS [=> VERDICT [TEXT]] from token i: TYPE [JSON] | close | nothing |
 * close-with CODE[|CODE] [detail=R] | tls-alert [NAME], joined by `then`.
 * within=... may appear among the events (expect only).
 */
static int parse_alt(parser *ps, int line, tok *t, int n, int i, cf_alt *a, cf_step *st)
{
    a->verdict = CF_PASS;
    int want_event = 1;
    while (i < n) {
        const char *w = t[i].s;
        if (!strcmp(w, "=>")) {
            if (i + 1 >= n || (a->verdict = cf_verdict_parse(t[i + 1].s)) < 0)
                return perr(ps, line, "=> needs PASS, DONE, NON-STRICT, FAIL, SKIP or UNSUPPORTED");
            if (i + 2 < n) {
                free(a->text);
                a->text = rest_of_line(&t[i + 2]);
            }
            break;
        }
        if (!strncmp(w, "within=", 7) && st) {
            const char *v = w + 7;
            if (!strcmp(v, "handshake"))
                st->within_sym = 1;
            else if (!strcmp(v, "idle"))
                st->within_sym = 2;
            else if (!strcmp(v, "ping"))
                st->within_sym = 3;
            else if (parse_long(v, &st->within_ms) || st->within_ms <= 0)
                return perr(ps, line, "within=: milliseconds, handshake, idle or ping");
            i++;
            continue;
        }
        if (!strcmp(w, "then")) {
            if (want_event)
                return perr(ps, line, "`then` without an event before it");
            want_event = 1;
            i++;
            continue;
        }
        if (!want_event)
            return perr(ps, line, "join events with `then` (at `%s`)", w);
        cf_event ev;
        memset(&ev, 0, sizeof(ev));
        if (!strcmp(w, "close")) {
            ev.kind = EV_CLOSE;
            i++;
        } else if (!strcmp(w, "close-notify")) {
            ev.kind = EV_CLOSE;
            snprintf(ev.alert, sizeof(ev.alert), "close_notify");
            i++;
        } else if (!strcmp(w, "nothing")) {
            ev.kind = EV_NOTHING;
            i++;
        } else if (!strcmp(w, "tls-alert")) {
            ev.kind = EV_TLS_ALERT;
            i++;
            if (i < n && strcmp(t[i].s, "then") && strcmp(t[i].s, "=>") &&
                strncmp(t[i].s, "within=", 7)) {
                snprintf(ev.alert, sizeof(ev.alert), "%s", t[i].s);
                i++;
            }
        } else if (!strcmp(w, "close-with")) {
            if (i + 1 >= n)
                return perr(ps, line, "close-with needs an error code");
            json_t *codes = NULL;
            if (parse_codes(ps, line, t[i + 1].s, &codes))
                return -1;
            ev.kind = EV_MSG;
            ev.type = CAIRN_T_ERROR;
            ev.pattern = json_object();
            json_object_set_new(ev.pattern, "code",
                                json_array_size(codes) == 1 ? json_incref(json_array_get(codes, 0))
                                                            : json_incref(codes));
            json_decref(codes);
            i += 2;
            if (i < n && !strncmp(t[i].s, "detail=", 7)) {
                const char *r = t[i].s + 7;
                if (!cairn_block_reason_from_name(r)) {
                    json_decref(ev.pattern);
                    return perr(ps, line, "unknown reason code %s", r);
                }
                json_object_set_new(ev.pattern, "detail",
                                    json_integer(cairn_block_reason_from_name(r)));
                i++;
            }
            if (add_event(a, ev)) {
                json_decref(ev.pattern);
                return perr(ps, line, "out of memory");
            }
            memset(&ev, 0, sizeof(ev));
            ev.kind = EV_CLOSE;
        } else {
            ev.kind = EV_MSG;
            ev.type = cf_type_parse(w);
            if (!ev.type || !cairn_msg_descriptor(ev.type))
                return perr(ps, line, "unknown message type or event `%s`", w);
            i++;
            if (i < n && t[i].json) {
                if (!(ev.pattern = parse_json(ps, line, t[i].s)))
                    return -1;
                if (!json_is_object(ev.pattern)) {
                    json_decref(ev.pattern);
                    return perr(ps, line, "a message pattern is a JSON object");
                }
                i++;
            }
        }
        if (add_event(a, ev)) {
            json_decref(ev.pattern);
            return perr(ps, line, "out of memory");
        }
        want_event = 0;
    }
    if (want_event)
        return perr(ps, line, "expected an event");
    return 0;
}

static cf_step *new_step(cf_case *c, int op, int line)
{
    cf_step *s = realloc(c->steps, (c->n_steps + 1) * sizeof(*s));
    if (!s)
        return NULL;
    c->steps = s;
    s = &c->steps[c->n_steps++];
    memset(s, 0, sizeof(*s));
    s->op = op;
    s->line = line;
    s->else_verdict = -1;
    s->type_override = -1;
    s->length_override = -1;
    return s;
}

static int level_ok(const char *l)
{
    return !strcmp(l, "MUST") || !strcmp(l, "MUST-NOT") || !strcmp(l, "SHOULD") ||
           !strcmp(l, "SHOULD-NOT") || !strcmp(l, "MAY");
}

static int name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n >= max)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* Parses the options of connect. */
static int connect_opts(parser *ps, int line, tok *t, int n, cf_step *st)
{
    for (int i = 1; i < n; i++) {
        const char *w = t[i].s;
        if (!strncmp(w, "key=", 4) && name_ok(w + 4, sizeof(st->key)))
            snprintf(st->key, sizeof(st->key), "%s", w + 4);
        else if (!strncmp(w, "src=", 4) && name_ok(w + 4, sizeof(st->src)))
            snprintf(st->src, sizeof(st->src), "%s", w + 4);
        else if (!strncmp(w, "alpn=", 5) && strlen(w + 5) < sizeof(st->alpn))
            snprintf(st->alpn, sizeof(st->alpn), "%s", w + 5);
        else if (!strncmp(w, "cert=", 5) && name_ok(w + 5, sizeof(st->cert)))
            snprintf(st->cert, sizeof(st->cert), "%s", w + 5);
        else if (!strcmp(w, "tls=1.2"))
            st->tls12 = 1;
        else if (!strcmp(w, "tls=early"))
            st->tls12 = 2; /* try 0-RTT (server role), or offer it (client role) */
        else if (!strcmp(w, "tls=mandatory"))
            st->tls12 = 3; /* only TLS_AES_128_GCM_SHA256, x25519, ed25519 (TLS-23..TLS-27) */
        else if (!strcmp(w, "tls=oddcert"))
            st->tls12 = 4; /* present a certificate a PKIX verifier refuses (TLS-16, TLS-28) */
        else if (!strcmp(w, "tls=none"))
            st->tls12 = -1; /* plaintext on this connection, whatever the run's transport */
        else if (i == 1 && !strchr(w, '=') && name_ok(w, sizeof(st->name)))
            snprintf(st->name, sizeof(st->name), "%s", w);
        else
            return perr(ps, line, "connect: unknown option `%s`", w);
    }
    return 0;
}

/* What a step parser gets: the line's words and the step it fills. */
typedef struct step_in {
    parser *ps;
    cf_case *c;
    cf_step *st;
    tok *t;
    int n, line;
    int *open_repeat;
    size_t *repeat_stack;
} step_in;

static int p_connect(step_in *in)
{
    return connect_opts(in->ps, in->line, in->t, in->n, in->st);
}

static int p_use(step_in *in)
{
    if (in->n != 2 || !name_ok(in->t[1].s, sizeof(in->st->name)))
        return perr(in->ps, in->line, "use NAME");
    snprintf(in->st->name, sizeof(in->st->name), "%s", in->t[1].s);
    return 0;
}

static int p_close(step_in *in)
{
    if (in->n > 2 || (in->n == 2 && strcmp(in->t[1].s, "abort")))
        return perr(in->ps, in->line, "close [abort]");
    in->st->flag = in->n == 2;
    return 0;
}

static int p_no_args(step_in *in)
{
    return in->n == 1 ? 0 : perr(in->ps, in->line, "%s takes no arguments", in->t[0].s);
}

static int p_end(step_in *in)
{
    if (in->n != 1 || !*in->open_repeat)
        return perr(in->ps, in->line, "end without repeat");
    in->c->steps[in->repeat_stack[--*in->open_repeat]].end = in->c->n_steps - 1;
    return 0;
}

static int p_repeat(step_in *in)
{
    cf_step *st = in->st;
    if (in->n != 2 || parse_long(in->t[1].s, &st->num) || st->num < 0 || st->num > 100000)
        return perr(in->ps, in->line, "repeat N (0..100000)");
    if (*in->open_repeat == 8)
        return perr(in->ps, in->line, "repeat nested too deeply");
    in->repeat_stack[(*in->open_repeat)++] = in->c->n_steps - 1;
    return 0;
}

static int p_on_off(step_in *in)
{
    if (in->n != 2 || (strcmp(in->t[1].s, "on") && strcmp(in->t[1].s, "off")))
        return perr(in->ps, in->line, "%s on|off", in->t[0].s);
    in->st->flag = !strcmp(in->t[1].s, "on");
    return 0;
}

static int p_serve(step_in *in)
{
    if (in->n != 2 || strlen(in->t[1].s) >= sizeof(in->st->name))
        return perr(in->ps, in->line, "serve VIEW (genesis, main, main:12, BRANCH, BRANCH:H)");
    snprintf(in->st->name, sizeof(in->st->name), "%s", in->t[1].s);
    return 0;
}

static int p_exit(step_in *in)
{
    cf_step *st = in->st;
    if (in->n != 2)
        return perr(in->ps, in->line, "exit 0|N|nonzero|any");
    if (!strcmp(in->t[1].s, "nonzero"))
        st->flag = 1;
    else if (!strcmp(in->t[1].s, "any"))
        st->flag = 2;
    else if (parse_long(in->t[1].s, &st->num) || st->num < 0 || st->num > 255)
        return perr(in->ps, in->line, "exit 0|N|nonzero|any");
    return 0;
}

static int p_set(step_in *in)
{
    cf_step *st = in->st;
    if (in->n != 3 || !name_ok(in->t[1].s, sizeof(st->name)))
        return perr(in->ps, in->line, "set NAME VALUE");
    snprintf(st->name, sizeof(st->name), "%s", in->t[1].s);
    if (in->t[2].json)
        st->json = parse_json(in->ps, in->line, in->t[2].s);
    else
        st->json = json_string(in->t[2].s);
    return st->json ? 0 : -1;
}

static int p_allow(step_in *in)
{
    cf_step *st = in->st;
    if (in->n < 2)
        return perr(in->ps, in->line, "%s TYPE...", in->t[0].s);
    for (int i = 1; i < in->n; i++) {
        if (st->n_types == sizeof(st->types) / sizeof(st->types[0]))
            return perr(in->ps, in->line, "too many types");
        if (!strcmp(in->t[i].s, "all")) {
            st->types[st->n_types++] = 0;
            continue;
        }
        uint16_t ty = cf_type_parse(in->t[i].s);
        if (!ty || !cairn_msg_descriptor(ty))
            return perr(in->ps, in->line, "unknown message type %s", in->t[i].s);
        st->types[st->n_types++] = ty;
    }
    return 0;
}

static int p_auth(step_in *in)
{
    cf_step *st = in->st;
    int bad = 0;
    for (int i = 1; i < in->n; i++) {
        const char *w = in->t[i].s;
        if (!strcmp(w, "role=peer"))
            st->role = 1;
        else if (!strcmp(w, "binding=none"))
            st->binding = 1;
        else if (!strcmp(w, "binding=wrong"))
            st->binding = 2;
        else if (!strcmp(w, "corrupt"))
            st->flag = 1;
        else if (!strcmp(w, "forge=small-r"))
            st->flag = 2; /* R = identity, S = k*a: valid for RFC 8032 alone */
        else if (!strcmp(w, "forge=s+l"))
            st->flag = 3; /* a valid signature with S + L */
        else if (!strncmp(w, "key=", 4) && name_ok(w + 4, sizeof(st->key)))
            snprintf(st->key, sizeof(st->key), "%s", w + 4);
        else if (!send_option(in->ps, in->line, st, w, &bad))
            return perr(in->ps, in->line, "auth: unknown option `%s`", w);
        if (bad)
            return -1;
    }
    return 0;
}

/* hello, handshake, send: [TYPE] [{fields}] options */
static int p_send(step_in *in)
{
    cf_step *st = in->st;
    tok *t = in->t;
    int i = 1, bad = 0;
    if (st->op == OP_SEND) {
        if (in->n < 2 || !cf_type_parse(t[1].s) || !cairn_msg_descriptor(cf_type_parse(t[1].s)))
            return perr(in->ps, in->line, "send TYPE {fields}: unknown type");
        snprintf(st->name, sizeof(st->name), "%s", t[1].s);
        i = 2;
    }
    if (i < in->n && t[i].json) {
        if (!(st->json = parse_json(in->ps, in->line, t[i].s)))
            return -1;
        if (!json_is_object(st->json))
            return perr(in->ps, in->line, "message fields are a JSON object");
        i++;
    }
    for (; i < in->n; i++) {
        if (!send_option(in->ps, in->line, st, t[i].s, &bad))
            return perr(in->ps, in->line, "unknown option `%s`", t[i].s);
        if (bad)
            return -1;
    }
    return 0;
}

/* One word of send-raw or send-frame bytes: HEX (with `|` splits) or HEX*N. Appends to *buf. */
static int raw_word(step_in *in, const char *w, uint8_t **buf, size_t *len, size_t *splits,
                    size_t *ns)
{
    uint8_t *b = NULL;
    size_t bl = 0, sp[64], nsp = 0;
    const char *star = strchr(w, '*');
    long rep;
    if (star && star > w && !parse_long(star + 1, &rep) && rep >= 0 && rep <= 16 << 20) {
        /* HEX*N: N copies of HEX */
        char unit_hex[64];
        uint8_t *unit = NULL;
        size_t ul = 0;
        snprintf(unit_hex, sizeof(unit_hex), "%.*s", (int)(star - w), w);
        if (cf_hex_parse(unit_hex, &unit, &ul, NULL, NULL, 0) || !ul ||
            ul * (size_t)rep > 16u << 20) {
            free(unit); /* parsed, but empty or too long */
            return perr(in->ps, in->line, "bad repetition `%s`", w);
        }
        if (!(b = malloc(ul * (size_t)rep + 1))) {
            free(unit);
            return perr(in->ps, in->line, "out of memory");
        }
        for (long k = 0; k < rep; k++)
            memcpy(b + (size_t)k * ul, unit, ul);
        bl = ul * (size_t)rep;
        free(unit);
    } else if (cf_hex_parse(w, &b, &bl, sp, &nsp, 64)) {
        return perr(in->ps, in->line, "bad hex `%s` (pairs of digits, HH*N, `|` for a split)", w);
    }
    for (size_t k = 0; k < nsp && *ns < 64; k++)
        splits[(*ns)++] = *len + sp[k];
    uint8_t *nb = realloc(*buf, *len + bl + 1);
    if (!nb) {
        free(b);
        return perr(in->ps, in->line, "out of memory");
    }
    *buf = nb;
    if (bl)
        memcpy(*buf + *len, b, bl);
    *len += bl;
    free(b);
    return 0;
}

/* send-raw HEX... and send-frame TYPE HEX... */
static int p_raw(step_in *in)
{
    cf_step *st = in->st;
    tok *t = in->t;
    int i = 1, bad = 0;
    if (st->op == OP_SEND_FRAME) {
        if (in->n < 2 || (!(st->num = cf_type_parse(t[1].s)) && strcmp(t[1].s, "0")))
            return perr(in->ps, in->line, "send-frame TYPE HEX...");
        snprintf(st->name, sizeof(st->name), "%s", t[1].s);
        i = 2;
    }
    uint8_t *buf = NULL;
    size_t len = 0, splits[64], ns = 0;
    for (; i < in->n; i++) {
        const char *w = t[i].s;
        int rv;
        if (strchr(w, '=')) {
            rv = send_option(in->ps, in->line, st, w, &bad)
                     ? (bad ? -1 : 0)
                     : perr(in->ps, in->line, "unknown option `%s`", w);
        } else {
            rv = raw_word(in, w, &buf, &len, splits, &ns);
        }
        if (rv) {
            free(buf);
            return -1;
        }
    }
    if (ns && st->op != OP_SEND_RAW) {
        free(buf);
        return perr(in->ps, in->line, "`|` splits are for send-raw; use split= here");
    }
    st->raw = buf;
    st->raw_len = len;
    if (ns) {
        if (st->split.n)
            return perr(in->ps, in->line, "use either `|` or split=, not both");
        for (size_t k = 0; k < ns; k++)
            if (splits[k] && splits[k] < st->raw_len &&
                (!st->split.n || splits[k] > st->split.at[st->split.n - 1]))
                st->split.at[st->split.n++] = splits[k];
    }
    return 0;
}

static int p_expect(step_in *in)
{
    cf_step *st = in->st;
    st->alts = calloc(1, sizeof(cf_alt));
    if (!st->alts)
        return perr(in->ps, in->line, "out of memory");
    st->n_alts = 1;
    return parse_alt(in->ps, in->line, in->t, in->n, 1, &st->alts[0], st);
}

/* `or ALT` and `else VERDICT [TEXT]`: more of the expect step before them. */
static int parse_or_else(parser *ps, cf_case *c, tok *t, int n, int line)
{
    const char *v = t[0].s;
    if (!c->n_steps || c->steps[c->n_steps - 1].op != OP_EXPECT)
        return perr(ps, line, "`%s` must follow expect", v);
    cf_step *st = &c->steps[c->n_steps - 1];
    if (!strcmp(v, "else")) {
        if (n < 2 || (st->else_verdict = cf_verdict_parse(t[1].s)) < 0)
            return perr(ps, line, "else needs a verdict");
        if (n > 2) {
            free(st->else_text); /* a second else replaces the first */
            st->else_text = rest_of_line(&t[2]);
        }
        return 0;
    }
    cf_alt *a = realloc(st->alts, (st->n_alts + 1) * sizeof(*a));
    if (!a)
        return perr(ps, line, "out of memory");
    st->alts = a;
    memset(&st->alts[st->n_alts], 0, sizeof(cf_alt));
    return parse_alt(ps, line, t, n, 1, &st->alts[st->n_alts++], st);
}

/* The step words, their ops and their parsers. */
static const struct {
    const char *w;
    int op;
    int (*parse)(step_in *);
} step_table[] = {
    {"connect", OP_CONNECT, p_connect},
    {"use", OP_USE, p_use},
    {"close", OP_CLOSE, p_close},
    {"hello", OP_HELLO, p_send},
    {"auth", OP_AUTH, p_auth},
    {"handshake", OP_HANDSHAKE, p_send},
    {"send", OP_SEND, p_send},
    {"send-frame", OP_SEND_FRAME, p_raw},
    {"send-raw", OP_SEND_RAW, p_raw},
    {"expect", OP_EXPECT, p_expect},
    {"barrier", OP_BARRIER, p_no_args},
    {"allow", OP_ALLOW, p_allow},
    {"disallow", OP_DISALLOW, p_allow},
    {"auto", OP_AUTO, p_on_off},
    {"pong", OP_PONG, p_on_off},
    {"serve", OP_SERVE, p_serve},
    {"sync", OP_SYNC, p_no_args},
    {"repeat", OP_REPEAT, p_repeat},
    {"end", OP_END, p_end},
    {"exit", OP_EXIT, p_exit},
    {"set", OP_SET, p_set},
    {"settle", OP_SETTLE, p_no_args},
};

static int parse_step(parser *ps, cf_case *c, tok *t, int n, int line, int *open_repeat,
                      size_t *repeat_stack)
{
    const char *v = t[0].s;
    if (!strcmp(v, "or") || !strcmp(v, "else"))
        return parse_or_else(ps, c, t, n, line);
    for (size_t i = 0; i < sizeof(step_table) / sizeof(step_table[0]); i++) {
        if (strcmp(v, step_table[i].w))
            continue;
        step_in in = {ps,          c,           new_step(c, step_table[i].op, line), t, n, line,
                      open_repeat, repeat_stack};
        if (!in.st)
            return perr(ps, line, "out of memory");
        return step_table[i].parse(&in);
    }
    return perr(ps, line, "unknown step or directive `%s`", v);
}

static int parse_header(parser *ps, cf_case *c, tok *t, int n, int line)
{
    const char *v = t[0].s;
    if (!strcmp(v, "id")) {
        if (n != 2 || !name_ok(t[1].s, sizeof(c->id)))
            return perr(ps, line, "id ID (letters, digits, - _ .)");
        snprintf(c->id, sizeof(c->id), "%s", t[1].s);
    } else if (!strcmp(v, "title")) {
        if (n < 2)
            return perr(ps, line, "title TEXT");
        free(c->title);
        c->title = rest_of_line(&t[1]);
    } else if (!strcmp(v, "note")) {
        if (n < 2)
            return perr(ps, line, "note TEXT");
        free(c->note);
        c->note = rest_of_line(&t[1]);
    } else if (!strcmp(v, "role")) {
        if (n != 2 || (strcmp(t[1].s, "server") && strcmp(t[1].s, "client")))
            return perr(ps, line, "role server|client");
        c->role = !strcmp(t[1].s, "server") ? CF_ROLE_SERVER : CF_ROLE_CLIENT;
    } else if (!strcmp(v, "covers")) {
        if (n < 3 || n > 4)
            return perr(ps, line, "covers REQ-ID LEVEL");
        char level[16];
        if (n == 4)
            snprintf(level, sizeof(level), "%s-%s", t[2].s, t[3].s);
        else
            snprintf(level, sizeof(level), "%s", t[2].s);
        if (!level_ok(level))
            return perr(ps, line, "level is MUST, MUST-NOT, SHOULD, SHOULD-NOT or MAY");
        if (c->n_covers == sizeof(c->covers) / sizeof(c->covers[0]) ||
            strlen(t[1].s) >= sizeof(c->covers[0].id))
            return perr(ps, line, "too many covers");
        const char *id = t[1].s, *dash = strrchr(id, '-');
        if (!dash || dash == id || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
            return perr(ps, line, "requirement IDs look like HS-23");
        snprintf(c->covers[c->n_covers].id, sizeof(c->covers[0].id), "%s", id);
        snprintf(c->covers[c->n_covers++].level, sizeof(c->covers[0].level), "%s", level);
    } else if (!strcmp(v, "tags")) {
        for (int i = 1; i < n; i++) {
            if (c->n_tags == 16 || !name_ok(t[i].s, sizeof(c->tags[0])))
                return perr(ps, line, "too many or bad tags");
            snprintf(c->tags[c->n_tags++], sizeof(c->tags[0]), "%s", t[i].s);
        }
    } else if (!strcmp(v, "needs")) {
        for (int i = 1; i < n; i++) {
            if (c->n_needs == 8 || !name_ok(t[i].s, sizeof(c->needs[0])))
                return perr(ps, line, "too many or bad needs");
            snprintf(c->needs[c->n_needs++], sizeof(c->needs[0]), "%s", t[i].s);
        }
    } else if (!strcmp(v, "action")) {
        if (n < 2 || !name_ok(t[1].s, sizeof(c->action)))
            return perr(ps, line, "action NAME [ARGS]");
        snprintf(c->action, sizeof(c->action), "%s", t[1].s);
        free(c->args);
        c->args = n > 2 ? rest_of_line(&t[2]) : NULL;
    } else if (!strcmp(v, "action-prefix")) {
        if (n < 2)
            return perr(ps, line, "action-prefix TEXT");
        free(c->action_prefix);
        c->action_prefix = rest_of_line(&t[1]);
    } else if (!strcmp(v, "transport")) {
        if (n != 2)
            return perr(ps, line, "transport tls|plaintext|any");
        if (!strcmp(t[1].s, "any"))
            c->transport = 0;
        else if (!strcmp(t[1].s, "tls"))
            c->transport = 1;
        else if (!strcmp(t[1].s, "plaintext"))
            c->transport = 2;
        else
            return perr(ps, line, "transport tls|plaintext|any");
    } else {
        return 1; /* not a header directive */
    }
    return 0;
}

int cf_case_parse(cf_case *c, const char *path, const char *text, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->path = strdup(path);
    parser ps = {path, text, text + strlen(text), 1, err, errlen};
    tok t[MAX_TOKS];
    int n, line, open_repeat = 0, rv = 0;
    size_t repeat_stack[8];
    while ((n = next_line(&ps, t, &line)) != -2) {
        if (n < 0)
            return -1;
        if (n == 0)
            continue;
        int h = parse_header(&ps, c, t, n, line);
        if (h == 1)
            h = parse_step(&ps, c, t, n, line, &open_repeat, repeat_stack);
        toks_free(t, n);
        if (h) {
            if (errlen && !err[0]) /* every rejection says where and why */
                perr(&ps, line, "cannot parse this line");
            rv = -1;
            break;
        }
    }
    if (rv)
        return rv;
    if (open_repeat)
        return perr(&ps, ps.line, "repeat without end");
    if (!c->id[0] || !c->title || !c->role || !c->n_covers)
        return perr(&ps, 1, "a case needs id, title, role and at least one covers");
    if (c->role == CF_ROLE_CLIENT && !c->action[0])
        return perr(&ps, 1, "a client case needs an action");
    if (!c->n_steps)
        return perr(&ps, 1, "a case needs steps");
    return 0;
}

int cf_case_load(cf_case *c, const char *path, char *err, size_t errlen)
{
    char *text = cf_read_file(path, NULL);
    if (!text) {
        memset(c, 0, sizeof(*c));
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rv = cf_case_parse(c, path, text, err, errlen);
    free(text);
    return rv;
}

void cf_case_free(cf_case *c)
{
    for (size_t i = 0; i < c->n_steps; i++) {
        cf_step *s = &c->steps[i];
        json_decref(s->json);
        free(s->raw);
        free(s->append);
        free(s->prepend);
        for (size_t a = 0; a < s->n_alts; a++) {
            for (size_t e = 0; e < s->alts[a].n_ev; e++)
                json_decref(s->alts[a].ev[e].pattern);
            free(s->alts[a].ev);
            free(s->alts[a].text);
        }
        free(s->alts);
        free(s->else_text);
    }
    free(c->steps);
    free(c->path);
    free(c->title);
    free(c->note);
    free(c->args);
    free(c->action_prefix);
    memset(c, 0, sizeof(*c));
}

int cf_case_has_tag(const cf_case *c, const char *tag)
{
    for (size_t i = 0; i < c->n_tags; i++)
        if (!strcmp(c->tags[i], tag))
            return 1;
    return 0;
}

int cf_case_needs(const cf_case *c, const char *need)
{
    for (size_t i = 0; i < c->n_needs; i++)
        if (!strcmp(c->needs[i], need))
            return 1;
    return 0;
}

int cf_case_is_must(const cf_case *c)
{
    for (size_t i = 0; i < c->n_covers; i++)
        if (!strncmp(c->covers[i].level, "MUST", 4))
            return 1;
    return 0;
}
