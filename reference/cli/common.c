/* Option parsing, connecting with the global options, errors and exit codes. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cairn/json.h"
#include "cairn/port.h"
#include "cli.h"

/* ---- option parsing ---------------------------------------------------------------- */

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_seconds(const char *s, uint64_t *ms)
{
    if (!s || !*s || ((*s < '0' || *s > '9') && *s != '.'))
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || v <= 0 || v > 86400)
        return -1;
    *ms = (uint64_t)(v * 1000 + 0.5);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

static int parse_error(cli_common *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int parse_error(cli_common *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* Applies one global option; returns 1 when `name` is not global. */
static int global_option(cli_common *o, const char *name, const char *value)
{
    if (strcmp(name, "network") == 0) {
        o->net = cairn_network_by_name(value);
        if (!o->net)
            return parse_error(o, "unknown network '%s' (devnet or testnet)", value);
    } else if (strcmp(name, "timeout") == 0) {
        if (cli_parse_seconds(value, &o->timeout_ms))
            return parse_error(o, "--timeout wants seconds (0 < s <= 86400), not '%s'", value);
    } else if (strcmp(name, "key") == 0) {
        o->key_file = value;
    } else if (strcmp(name, "node-id") == 0) {
        if (strlen(value) != 64 || cairn_hex_decode(o->node_id, 32, value) != 0)
            return parse_error(o, "--node-id wants 64 hex digits, not '%s'", value);
        o->has_node_id = 1;
    } else if (strcmp(name, "plaintext") == 0) {
        o->plaintext = 1;
    } else if (strcmp(name, "json") == 0) {
        o->json = 1;
    } else if (strcmp(name, "trace") == 0) {
        o->trace = 1;
    } else {
        return 1;
    }
    return 0;
}

static int global_takes_value(const char *name)
{
    return !strcmp(name, "network") || !strcmp(name, "timeout") || !strcmp(name, "key") ||
           !strcmp(name, "node-id");
}

static int global_is_flag(const char *name)
{
    return !strcmp(name, "plaintext") || !strcmp(name, "json") || !strcmp(name, "trace");
}

int cli_parse(cli_common *o, int argc, char **argv, const cli_option *opts, size_t n_opts,
              const char **pos, size_t max_pos, size_t *n_pos)
{
    memset(o, 0, sizeof(*o));
    o->cmd = argc > 0 ? argv[0] : "cairn";
    o->net = cairn_network_devnet();
    o->timeout_ms = CAIRN_CLIENT_TIMEOUT_MS;
    o->start_ms = cairn_port_mono_ms();
    *n_pos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (*n_pos == max_pos)
                return parse_error(o, "unexpected argument '%s'", arg);
            pos[(*n_pos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = 1;
            return 0;
        }
        if (arg[1] != '-')
            return parse_error(o, "unknown option '%s'", arg);
        char name[64];
        const char *eq = strchr(arg + 2, '='), *value = NULL;
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl == 0 || nl >= sizeof(name))
            return parse_error(o, "unknown option '%s'", arg);
        memcpy(name, arg + 2, nl);
        name[nl] = '\0';
        const cli_option *mine = NULL;
        for (size_t k = 0; k < n_opts; k++)
            if (strcmp(opts[k].name, name) == 0)
                mine = &opts[k];
        int takes = mine ? mine->takes_value : global_takes_value(name);
        if (!mine && !takes && !global_is_flag(name))
            return parse_error(o, "unknown option '--%s'", name);
        if (takes) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return parse_error(o, "option '--%s' needs a value", name);
        } else if (eq) {
            return parse_error(o, "option '--%s' takes no value", name);
        }
        if (mine) {
            *mine->value = value ? value : "";
            continue;
        }
        int rv = global_option(o, name, value);
        if (rv)
            return rv;
    }
    return 0;
}

static const char common_help[] =
    "\nCommon options:\n"
    "  --plaintext         no TLS (the peer must be configured for plaintext too)\n"
    "  --network NAME      devnet (default) or testnet\n"
    "  --timeout SECONDS   bound on the whole command (default 10)\n"
    "  --key FILE          node key: 64 hex digits, like cairnd's DATADIR/node.key\n"
    "                      (default: a fresh identity for each run)\n"
    "  --node-id HEX       the node ID the peer must prove (as NODEID@ADDR); another\n"
    "                      one closes the session with WRONG_NODE_ID, exit 4\n"
    "  --json              one JSON object on stdout\n"
    "  --trace             log every frame to stderr\n"
    "  -h, --help          this text\n"
    "\nExit status: 0 ok, 1 protocol or connection failure, 2 usage, 3 not found,\n"
    "4 the peer proved another node ID than the one given.\n"
    "ADDR is [NODEID@]HOST:PORT with a numeric host or localhost; the port defaults\n"
    "to 7317; NODEID (64 hex digits) is the node ID the peer must prove.\n";

int cli_help(const char *usage)
{
    fputs(usage, stdout);
    fputs(common_help, stdout);
    return CLI_EXIT_OK;
}

int cli_usage_error(const cli_common *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cairn %s: ", o->cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'cairn %s --help'.\n", o->cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_begin(cli_common *o, int argc, char **argv, const cli_option *opts, size_t n_opts,
              const char *usage, const char **pos, size_t n_pos, const char *expected)
{
    size_t np;
    if (cli_parse(o, argc, argv, opts, n_opts, pos, n_pos, &np))
        return cli_usage_error(o, "%s", o->error);
    if (o->help)
        return cli_help(usage);
    if (expected && np != n_pos)
        return cli_usage_error(o, "expected %s", expected);
    if (expected && n_pos)
        o->addr = pos[0];
    return CLI_CONTINUE;
}

/* ---- failures ---------------------------------------------------------------------- */

int cli_fail(const cli_common *o, int exit_code, uint32_t code, int by_peer, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cairn: %s\n", text);
    if (o->json) {
        const char *name = code ? cairn_wire_error_name(code) : NULL;
        json_t *e = json_pack("{s:s, s:o, s:b, s:i}", "message", text, "code",
                              name ? json_string(name) : json_null(), "by_peer", by_peer, "exit",
                              exit_code);
        cli_emit(json_pack("{s:o}", "error", e));
    }
    return exit_code;
}

int cli_client_fail(const cli_common *o, cairn_client *c, int rv, const cairn_client_response *resp,
                    const char *what)
{
    if (rv == CAIRN_CLIENT_NOT_FOUND)
        return cli_fail(o, CLI_EXIT_NOT_FOUND, 0, 1, "%s has no %s (NotFound)",
                        cairn_client_addr(c), what);
    if (rv == CAIRN_CLIENT_REFUSED && resp && resp->m) {
        const Cairn__V1__Error *e = (const Cairn__V1__Error *)resp->m;
        char msg[300] = "", reason[48] = "";
        if (e->message.len)
            cli_quote(msg, sizeof(msg), e->message.data, e->message.len);
        const char *rname = resp->detail ? cairn_block_reason_name(resp->detail) : NULL;
        if (rname)
            snprintf(reason, sizeof(reason), ", reason %s", rname);
        const char *name = cairn_wire_error_name(resp->code);
        return cli_fail(o, CLI_EXIT_FAIL, resp->code, 1,
                        "%s refused the request for %s: %s (%s%s)%s%s", cairn_client_addr(c), what,
                        name ? name : "?", cairn_client_explain(resp->code), reason,
                        msg[0] ? "; it said " : "", msg);
    }
    const cairn_client_error *f = cairn_client_last_error(c);
    return cli_fail(
        o, f->code == CAIRN_E_WRONG_NODE_ID && !f->by_peer ? CLI_EXIT_WRONG_ID : CLI_EXIT_FAIL,
        f->code, f->by_peer, "%s", f->text);
}

/* ---- connecting -------------------------------------------------------------------- */

static cairn_identity *key_identity; /* lives until cli_close */

int cli_load_key(const char *path, cairn_identity **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read key file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[128] = {0};
    uint8_t seed[CAIRN_KEY_LEN];
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    size_t n = ok ? strcspn(line, "\r\n") : 0;
    if (!ok || n != 2 * CAIRN_KEY_LEN || cairn_hex_decode(seed, CAIRN_KEY_LEN, line) != 0) {
        snprintf(err, errlen, "%s: not a node key (64 hex digits on the first line)", path);
        return -1;
    }
    int rv = cairn_identity_from_seed(out, seed);
    memset(seed, 0, sizeof(seed));
    if (rv)
        snprintf(err, errlen, "%s: %s", path, cairn_strerror(rv));
    return rv ? -1 : 0;
}

static void trace_frame(int outbound, uint16_t type, const uint8_t *payload, size_t len, void *ud)
{
    (void)ud;
    const char *name = cairn_frame_type_name(type);
    fprintf(stderr, "%s %s %zu B", outbound ? "->" : "<-", name ? name : "extension", len);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, cairn_port_mem());
    ProtobufCMessage *m;
    if (name && cairn_msg_decode_unchecked(&d, type, payload, len, &m) == 0) {
        json_t *j = cairn_json_from_msg(m);
        char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (txt)
            fprintf(stderr, " %.400s%s", txt, strlen(txt) > 400 ? "..." : "");
        free(txt);
        json_decref(j);
    }
    cairn_msg_decoder_free(&d);
    fputc('\n', stderr);
}

int cli_open(const cli_common *o, cairn_client **out)
{
    *out = NULL;
    if (o->key_file && !key_identity) {
        char err[512];
        if (cli_load_key(o->key_file, &key_identity, err, sizeof(err)))
            return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "%s", err);
    }
    uint64_t now = cairn_port_mono_ms(), end = o->start_ms + o->timeout_ms;
    cairn_client_config cfg = {
        .addr = o->addr,
        .node_id = o->has_node_id ? o->node_id : NULL,
        .net = o->net,
        .plaintext = o->plaintext,
        .identity = key_identity,
        .timeout_ms = end > now ? end - now : 1,
        .on_frame = o->trace ? trace_frame : NULL,
    };
    cairn_client *c;
    int rv = cairn_client_open(&c, &cfg);
    if (rv) {
        int ex = c ? cli_client_fail(o, c, rv, NULL, NULL)
                   : cli_fail(o, CLI_EXIT_FAIL, 0, 0, "%s", cairn_strerror(rv));
        cli_close(c);
        return ex;
    }
    *out = c;
    return 0;
}

void cli_close(cairn_client *c)
{
    cairn_client_del(c);
    cairn_identity_del(key_identity);
    key_identity = NULL;
}

int cli_need_service(const cli_common *o, cairn_client *c, uint64_t bit)
{
    const cairn_peer_info *p = cairn_client_peer(c);
    if (p->services & bit)
        return 0;
    char want[64], have[128];
    cli_format_services(want, sizeof(want), bit);
    cli_format_services(have, sizeof(have), p->services);
    return cli_fail(o, CLI_EXIT_FAIL, 0, 0, "%s does not offer the %s service (its services: %s)",
                    cairn_client_addr(c), want, have);
}

void cli_emit(json_t *obj)
{
    if (!obj) {
        fprintf(stderr, "cairn: out of memory\n");
        return;
    }
    char *txt = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (txt)
        printf("%s\n", txt);
    free(txt);
    json_decref(obj);
    fflush(stdout);
}
