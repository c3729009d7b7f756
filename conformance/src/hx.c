/*
 * The harness's state of one case (hx): verdicts and the wire log, variables
 * and substitution, keys and source addresses, the client under test's process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn/json.h"
#include "cairn/port.h"
#include "harness.h"

/* ---- verdicts and logs ------------------------------------------------------------- */

static int severity(int v)
{
    static const int rank[CF_N_VERDICTS] = {
        [CF_PASS] = 0,        [CF_NON_STRICT] = 1, [CF_SKIP] = 2,
        [CF_UNSUPPORTED] = 3, [CF_FAIL] = 4,       [CF_HARNESS_ERROR] = 5};
    return rank[v];
}

void hx_verdict(hx *x, int v, const char *fmt, ...)
{
    if (severity(v) <= severity(x->verdict) && x->verdict != CF_PASS)
        return;
    if (v == CF_PASS)
        return;
    x->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
    va_end(ap);
    if (v != CF_NON_STRICT)
        x->stop = 1;
}

void hx_violation(hx *x, const char *req, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    const cf_req *r = x->o->spec ? cf_spec_find(x->o->spec, req) : NULL;
    hx_log(x, "!! %s broken: %s", req, text);
    hx_verdict(x, CF_FAIL, "[%s] %s%s%s", req, text, r ? "\n      requirement: " : "",
               r ? r->text : "");
}

void hx_log(hx *x, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    char prefix[32];
    int pl = snprintf(prefix, sizeof(prefix), "  %+6lldms ", (long long)(cf_now_ms() - x->t0));
    if (x->log_len + len + (size_t)pl + 2 > x->log_cap) {
        size_t cap = x->log_cap ? x->log_cap * 2 : 8192;
        while (cap < x->log_len + len + (size_t)pl + 2)
            cap *= 2;
        if (cap > 4u << 20)
            return; /* enough */
        char *b = realloc(x->log, cap);
        if (!b)
            return;
        x->log = b;
        x->log_cap = cap;
    }
    memcpy(x->log + x->log_len, prefix, (size_t)pl);
    x->log_len += (size_t)pl;
    memcpy(x->log + x->log_len, line, len);
    x->log_len += len;
    x->log[x->log_len++] = '\n';
    x->log[x->log_len] = '\0';
}

/* "Ping {"nonce":"5"}" or hex for what does not decode. */
char *hx_describe_frame(uint16_t type, const uint8_t *p, size_t len, int *decoded)
{
    char tb[16], *out = NULL;
    const char *tn = cf_type_name(type, tb);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, cairn_port_mem());
    ProtobufCMessage *m = NULL;
    int rv = cairn_msg_descriptor(type) ? cairn_msg_decode_unchecked(&d, type, p, len, &m) : -1;
    if (decoded)
        *decoded = rv == 0;
    if (rv == 0 && m) {
        json_t *j = cairn_json_from_msg(m);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (s && strlen(s) > 400)
            strcpy(s + 390, "...}");
        size_t n = strlen(tn) + (s ? strlen(s) : 0) + 8;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s %s", tn, s ? s : "{}");
        free(s);
    } else {
        size_t show = len > 64 ? 64 : len;
        char *h = cf_hex(p, show);
        size_t n = strlen(tn) + 2 * show + 96;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s (%zu bytes, %s) %s%s", tn, len,
                     cairn_msg_descriptor(type) ? cairn_strerror(rv) : "not decoded", h ? h : "",
                     len > show ? "..." : "");
        free(h);
    }
    cairn_msg_decoder_free(&d);
    return out;
}

char *hx_describe_rx(const cf_rx *rx)
{
    char *s;
    switch (rx->kind) {
    case RX_FRAME:
        return hx_describe_frame(rx->type, rx->payload, rx->len, NULL);
    case RX_CLOSE:
        s = malloc(200);
        if (s)
            snprintf(s, 200, "close (%s)", rx->info);
        return s;
    case RX_TLS_ALERT:
        s = malloc(200);
        if (s)
            snprintf(s, 200, "TLS failure (%s)", rx->info);
        return s;
    default: {
        size_t show = rx->len > 32 ? 32 : rx->len;
        char *h = cf_hex(rx->payload, show);
        s = malloc(128);
        if (s)
            snprintf(s, 128, "%zu bytes that are not a frame: %s%s", rx->len, h ? h : "",
                     rx->len > show ? "..." : "");
        free(h);
        return s;
    }
    }
}

/* ---- variables ------------------------------------------------------------------------ */

static json_t *hello_field(const json_t *hello, const char *field)
{
    if (!hello)
        return NULL;
    json_t *v = json_object_get(hello, field);
    if (v)
        return json_incref(v);
    /* absent: its default in the JSON mapping */
    if (!strcmp(field, "networkId") || !strcmp(field, "nodeKey") || !strcmp(field, "tipId") ||
        !strcmp(field, "totalWork") || !strcmp(field, "userAgent"))
        return json_string("");
    if (!strcmp(field, "version") || !strcmp(field, "maxFrameSize") || !strcmp(field, "listenPort"))
        return json_integer(0);
    return json_string("0");
}

json_t *hx_resolve(void *ud, const char *name)
{
    hx *x = ud;
    const char *di = strstr(name, "$i");
    if (di && strcmp(name, "$i")) {
        /* "$chain.$i.header": the repeat count inside a variable's name */
        char sub[160];
        snprintf(sub, sizeof(sub), "%.*s%ld%s", (int)(di - name), name,
                 x->rep_depth ? x->rep_i[x->rep_depth - 1] : 0, di + 2);
        return hx_resolve(ud, sub);
    }
    if (!strcmp(name, "i")) {
        char s[24];
        snprintf(s, sizeof(s), "%ld", x->rep_depth ? x->rep_i[x->rep_depth - 1] : 0);
        return json_string(s);
    }
    if (!strcmp(name, "now")) {
        char s[24];
        snprintf(s, sizeof(s), "%llu", (unsigned long long)cairn_port_wall_ms());
        return json_string(s);
    }
    if (!strncmp(name, "peer.", 5))
        return x->cur ? hello_field(x->cur->peer, name + 5) : NULL;
    if (!strncmp(name, "my.", 3))
        return x->cur ? hello_field(x->cur->mine, name + 3) : NULL;
    json_t *v = json_object_get(x->vars, name);
    if (v)
        return json_incref(v);
    return x->o->fx ? cf_fixtures_var(x->o->fx, name) : NULL;
}

static json_t *bytes_of(const json_t *j, uint8_t **b, size_t *n)
{
    return cf_json_bytes(j, b, n) == 0 ? (json_t *)j : NULL;
}

/* Deep copy with "$var" replaced and the macros $repeat, $bytes and $cat expanded. */
json_t *hx_subst(hx *x, const json_t *j)
{
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (s[0] == '$' && s[1]) {
            json_t *v = hx_resolve(x, s + 1);
            if (!v && x->lenient)
                return json_incref((json_t *)j); /* a pattern: the match fails later */
            if (!v)
                hx_verdict(x, CF_HARNESS_ERROR, "variable %s is not set", s);
            return v ? v : json_string("");
        }
        return json_incref((json_t *)j);
    }
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) json_array_append_new(a, hx_subst(x, v));
        return a;
    }
    if (json_is_object(j)) {
        json_t *r;
        if ((r = json_object_get(j, "$repeat"))) {
            json_int_t n = json_integer_value(json_object_get(j, "n"));
            json_t *a = json_array(), *one = hx_subst(x, r);
            for (json_int_t i = 0; i < n; i++)
                json_array_append(a, one);
            json_decref(one);
            return a;
        }
        if ((r = json_object_get(j, "$bytes"))) {
            json_int_t n = json_integer_value(r);
            const char *fill = json_string_value(json_object_get(j, "fill"));
            uint8_t f = 0;
            if (fill)
                cairn_hex_decode(&f, 1, fill);
            uint8_t *b = malloc((size_t)n + 1);
            memset(b, f, (size_t)n);
            json_t *out = cf_bytes_json(b, (size_t)n);
            free(b);
            return out;
        }
        if ((r = json_object_get(j, "$range"))) {
            /* {"$range": "chain.%d.header", "from": 1, "to": 24}: an array of variables */
            json_int_t from = json_integer_value(json_object_get(j, "from"));
            json_int_t to = json_integer_value(json_object_get(j, "to"));
            const char *fmt = json_string_value(r);
            json_t *a = json_array();
            for (json_int_t i = from; fmt && i <= to && i - from < 100000; i++) {
                char name[128];
                const char *pct = strstr(fmt, "%d");
                if (!pct)
                    break;
                snprintf(name, sizeof(name), "%.*s%lld%s", (int)(pct - fmt), fmt, (long long)i,
                         pct + 2);
                json_t *v = hx_resolve(x, name);
                if (!v) {
                    hx_verdict(x, CF_HARNESS_ERROR, "variable $%s is not set", name);
                    break;
                }
                json_array_append_new(a, v);
            }
            return a;
        }
        if ((r = json_object_get(j, "$entryId"))) {
            json_t *v = hx_subst(x, r);
            uint8_t *b, id[32];
            size_t n;
            json_t *out = NULL;
            if (!cf_json_bytes(v, &b, &n)) {
                cairn_entry_id(NULL, id, b, n);
                out = cf_bytes_json(id, 32);
                free(b);
            }
            json_decref(v);
            return out ? out : json_string("");
        }
        if ((r = json_object_get(j, "$cat"))) {
            size_t total = 0;
            uint8_t *all = malloc(1);
            size_t i;
            json_t *v;
            json_array_foreach(r, i, v)
            {
                json_t *s = hx_subst(x, v);
                uint8_t *b;
                size_t n;
                if (bytes_of(s, &b, &n)) {
                    all = realloc(all, total + n + 1);
                    memcpy(all + total, b, n);
                    total += n;
                    free(b);
                }
                json_decref(s);
            }
            json_t *out = cf_bytes_json(all, total);
            free(all);
            return out;
        }
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) json_object_set_new(o, k, hx_subst(x, v));
        return o;
    }
    return json_incref((json_t *)j);
}

/* ---- keys and sources ------------------------------------------------------------------- */

const cairn_identity *hx_key(hx *x, const char *name)
{
    if (!name[0])
        name = "default";
    for (size_t i = 0; i < x->n_keys; i++)
        if (!strcmp(x->keys[i].name, name))
            return x->keys[i].id;
    if (x->n_keys == sizeof(x->keys) / sizeof(x->keys[0]))
        return x->keys[0].id;
    cairn_identity *id;
    if (cairn_identity_generate(&id, cairn_port_env()))
        return NULL;
    snprintf(x->keys[x->n_keys].name, sizeof(x->keys[0].name), "%s", name);
    x->keys[x->n_keys++].id = id;
    return id;
}

/* The next fresh source address (127.x.y.z, host part), chosen at random on first use. */
static uint32_t next_source;

static void sources_init(void)
{
    if (!next_source) {
        uint8_t r[3];
        cairn_port_env()->random(r, 3, NULL);
        next_source = ((uint32_t)(r[0] % 200 + 20) << 16) | ((uint32_t)r[1] << 8) | 1;
    }
}

void cf_sources_skip(unsigned n)
{
    sources_init();
    next_source += n;
    if ((next_source & 0xFF) == 0)
        next_source++;
}

const struct in_addr *hx_source(hx *x, const char *name)
{
    uint32_t *next = &next_source;
    if (!x->o->fresh_sources)
        return NULL;
    if (!name[0])
        name = "default";
    for (size_t i = 0; i < x->n_srcs; i++)
        if (!strcmp(x->srcs[i].name, name))
            return &x->srcs[i].a;
    if (x->n_srcs == sizeof(x->srcs) / sizeof(x->srcs[0]))
        return &x->srcs[0].a;
    sources_init();
    uint32_t n = (*next)++;
    if ((n & 0xFF) == 0xFF)
        *next += 2;
    snprintf(x->srcs[x->n_srcs].name, sizeof(x->srcs[0].name), "%s", name);
    x->srcs[x->n_srcs].a.s_addr = htonl((127u << 24) | (n & 0xFFFFFF));
    return &x->srcs[x->n_srcs++].a;
}

/* ---- the client under test ---------------------------------------------------------------- */

static void append_str(char *out, size_t n, size_t *o, const char *s)
{
    size_t l = strlen(s);
    if (*o + l >= n)
        l = n - *o - 1;
    memcpy(out + *o, s, l);
    *o += l;
    out[*o] = '\0';
}

/* {addr}, {addr2}, {action}, {args}, {out}, {fileid:NAME}, {blockid:H}. */
static void expand(hx *x, const char *tpl, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = tpl; *p;) {
        if (*p != '{') {
            char c[2] = {*p++, 0};
            append_str(out, n, &o, c);
            continue;
        }
        const char *e = strchr(p, '}');
        if (!e) {
            append_str(out, n, &o, p);
            break;
        }
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(e - p - 1), p + 1);
        p = e + 1;
        if (!strcmp(key, "addr")) {
            append_str(out, n, &o, x->addr);
        } else if (!strcmp(key, "addr2")) {
            append_str(out, n, &o, x->addr2); /* the harness's second listening address */
        } else if (!strcmp(key, "action")) {
            append_str(out, n, &o, x->c->action);
            if (x->c->action_prefix) {
                char sub[1024];
                expand(x, x->c->action_prefix, sub, sizeof(sub));
                append_str(out, n, &o, " ");
                append_str(out, n, &o, sub);
            }
        } else if (!strcmp(key, "args")) {
            if (x->c->args) { /* arguments may be long (an entry of 64 KiB on the command line) */
                size_t sn = strlen(x->c->args) + 4096;
                char *sub = malloc(sn);
                if (sub) {
                    expand(x, x->c->args, sub, sn);
                    append_str(out, n, &o, sub);
                    free(sub);
                }
            }
        } else if (!strcmp(key, "out")) {
            append_str(out, n, &o, x->outpath);
        } else if (!strncmp(key, "nodeid:", 7)) { /* the node ID of the harness key NAME */
            const cairn_identity *id = hx_key(x, key + 7);
            uint8_t nid[CAIRN_HASH_LEN];
            char hex[2 * CAIRN_HASH_LEN + 1];
            if (id && cairn_identity_node_id(id, nid) == 0) {
                cairn_hex_encode(hex, nid, CAIRN_HASH_LEN);
                append_str(out, n, &o, hex);
            }
        } else if (!strncmp(key, "fileid:", 7) || !strncmp(key, "blockid:", 8)) {
            char var[96];
            if (key[0] == 'f')
                snprintf(var, sizeof(var), "file.%s.id", key + 7);
            else
                snprintf(var, sizeof(var), "chain.%s.id", key + 8);
            json_t *v = x->o->fx ? cf_fixtures_var(x->o->fx, var) : NULL;
            uint8_t *b;
            size_t bl;
            if (v && !cf_json_bytes(v, &b, &bl)) {
                char *h = cf_hex(b, bl);
                append_str(out, n, &o, h);
                free(h);
                free(b);
            }
            json_decref(v);
        } else {
            append_str(out, n, &o, "{");
            append_str(out, n, &o, key);
            append_str(out, n, &o, "}");
        }
    }
}

int hx_spawn(hx *x)
{
    size_t al = x->c->args ? strlen(x->c->args) : 0, cn = 8192 + 2 * al;
    char *cmd = malloc(cn), *args = malloc(al + 4096);
    if (!cmd || !args) {
        free(cmd);
        free(args);
        return -1;
    }
    expand(x, x->o->exec_template, cmd, cn);
    if (!strstr(x->o->exec_template, "{args}") && x->c->args) {
        expand(x, x->c->args, args, al + 4096);
        size_t l = strlen(cmd);
        snprintf(cmd + l, cn - l, " %s", args);
    }
    free(args);
    hx_log(x, "exec  %s", cmd);
    char tmpl[] = "/tmp/cairn-conform-out-XXXXXX";
    int ofd = mkstemp(tmpl);
    if (ofd < 0) {
        free(cmd);
        return -1;
    }
    unlink(tmpl);
    pid_t pid = fork();
    if (pid < 0) {
        close(ofd);
        free(cmd);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(ofd, 1);
        dup2(ofd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(126);
    }
    free(cmd);
    setpgid(pid, pid);
    x->pid = pid;
    x->out_fd = ofd;
    return 0;
}

/* Reaps the client if it has exited. Returns 1 when it has. */
int hx_client_done(hx *x)
{
    if (!x->pid)
        return 1;
    if (x->exited)
        return 1;
    int st;
    pid_t r = waitpid(x->pid, &st, WNOHANG);
    if (r == x->pid) {
        x->exited = 1;
        x->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        hx_log(x, "exit  the client exited with status %d", x->status);
        if (x->status == 127)
            hx_verdict(x, CF_UNSUPPORTED, "the client exited with 127: action `%s` unsupported",
                       x->c->action);
        return 1;
    }
    return 0;
}

unsigned hx_window(hx *x, unsigned base_ms)
{
    return (unsigned)((double)base_ms * (x->o->timeout_factor > 0 ? x->o->timeout_factor : 1.0));
}
