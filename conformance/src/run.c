/*
 * The case interpreter: runs the steps of one case over harness connections,
 * acting as an ordinary Cairn peer wherever the case does not say otherwise,
 * checking every frame the IUT sends against the sender rules of the spec
 * (rules.c), and matching expectations with their permitted alternatives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn/json.h"
#include "cairn/port.h"
#include "harness.h"

static void client_finish(hx *x)
{
    if (!x->pid)
        return;
    if (!x->exited && hx_client_wait(x, hx_window(x, 3000)) != 0) {
        hx_log(x, "kill  the client did not exit; killed");
        kill(-x->pid, SIGKILL);
        waitpid(x->pid, NULL, 0);
        x->exited = 1;
        x->status = -1;
    }
    if (x->out_fd >= 0) {
        char buf[4096];
        lseek(x->out_fd, 0, SEEK_SET);
        ssize_t n = read(x->out_fd, buf, sizeof(buf) - 1);
        if (n > 0) {
            buf[n] = '\0';
            x->r->client_output = strdup(buf);
        }
        close(x->out_fd);
        x->out_fd = -1;
    }
}

/* ---- the case --------------------------------------------------------------------------- */
static int needs_ok(hx *x)
{
    const cf_case *c = x->c;
    if (c->transport == 1 && x->o->plaintext) {
        hx_verdict(x, CF_SKIP, "needs TLS (run without --plaintext)");
        return 0;
    }
    if (c->transport == 2 && !x->o->plaintext) {
        hx_verdict(x, CF_SKIP, "needs plaintext mode (--plaintext)");
        return 0;
    }
    struct {
        const char *need;
        unsigned ms;
        const char *flag;
    } timers[] = {{"handshake-timer", x->o->iut_handshake_ms, "--iut-handshake-timeout"},
                  {"idle-timer", x->o->iut_idle_ms, "--iut-idle-timeout"},
                  {"ping-timer", x->o->iut_ping_ms, "--iut-ping-interval"}};
    for (size_t i = 0; i < 3; i++)
        if (cf_case_needs(c, timers[i].need) && timers[i].ms > 5000 && !x->o->slow) {
            hx_verdict(x, CF_SKIP,
                       "waits %u ms for an IUT timer: give --slow, or %s when the "
                       "IUT runs with a shorter one",
                       timers[i].ms, timers[i].flag);
            return 0;
        }
    if (c->role == CF_ROLE_SERVER && cf_case_needs(c, "chain") && x->o->chain_ready != 1) {
        hx_verdict(x, CF_SKIP, "the fixture chain is not on the IUT: %s", x->o->chain_why);
        return 0;
    }
    if (c->role == CF_ROLE_SERVER && cf_case_needs(c, "files") && x->o->files_ready != 1 &&
        x->o->require_files) {
        hx_verdict(x, CF_FAIL,
                   "the IUT does not serve the fixture files (conformance/fixtures/files), though "
                   "--require-files says it was started sharing them");
        return 0;
    }
    if (c->role == CF_ROLE_SERVER && cf_case_needs(c, "files") && x->o->files_ready != 1) {
        hx_verdict(x, CF_SKIP,
                   "the IUT does not serve the fixture files (conformance/fixtures/files): "
                   "start it sharing them to run this case");
        return 0;
    }
    return 1;
}

static void run_steps(hx *x)
{
    struct {
        size_t start;
        long count;
    } stack[8];
    int depth = 0;
    for (size_t i = 0; i < x->c->n_steps && !x->stop; i++) {
        const cf_step *st = &x->c->steps[i];
        if (st->op == OP_REPEAT) {
            if (st->num == 0) {
                i = st->end;
                continue;
            }
            stack[depth].start = i;
            stack[depth].count = st->num;
            x->rep_i[depth] = 1;
            x->rep_depth = ++depth;
            continue;
        }
        if (st->op == OP_END) {
            if (x->rep_i[depth - 1] < stack[depth - 1].count) {
                x->rep_i[depth - 1]++;
                i = stack[depth - 1].start;
            } else {
                x->rep_depth = --depth;
            }
            continue;
        }
        x->line = st->line;
        hx_step(x, st);
    }
}

void cf_run_case(cf_opts *o, const cf_case *c, cf_result *r)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    hx *x = calloc(1, sizeof(*x));
    x->o = o;
    x->c = c;
    x->r = r;
    x->t0 = cf_now_ms();
    x->vars = json_object();
    x->auto_on = x->pong_on = 1;
    x->out_fd = -1;
    x->lfd = x->lfd2 = -1;
    hx_default_allow(x);
    cairn_msg_decoder_init(&x->dec, cairn_port_mem());
    cairn_arena_init(&x->arena, cairn_port_mem());
    char err[256];
    if (cf_view_make(&x->view, o->fx, c->role == CF_ROLE_CLIENT ? "main" : "genesis", err,
                     sizeof(err)))
        hx_verdict(x, CF_HARNESS_ERROR, "fixtures: %s", err);
    if (!x->stop && needs_ok(x)) {
        if (c->role == CF_ROLE_CLIENT) {
            x->lfd = cf_tcp_listen(x->addr, sizeof(x->addr));
            /* {addr2} on a second loopback address where the system has one (Linux: all of
             * 127/8), so that a client that mixes up the two addresses' hosts shows; elsewhere,
             * or with --no-fresh-sources, on 127.0.0.1 like {addr} */
            x->lfd2 =
                o->fresh_sources ? cf_tcp_listen_at(0x7f000002u, x->addr2, sizeof(x->addr2)) : -1;
            if (x->lfd2 < 0)
                x->lfd2 = cf_tcp_listen(x->addr2, sizeof(x->addr2));
            /* a directory per case: a client's partial files (named by file ID) stay apart when
             * cases run side by side (--jobs) */
            snprintf(x->outpath, sizeof(x->outpath), "%s/%s", o->out_dir ? o->out_dir : "/tmp",
                     c->id);
            mkdir(x->outpath, 0700);
            size_t dl = strlen(x->outpath);
            snprintf(x->outpath + dl, sizeof(x->outpath) - dl, "/%s.out", c->id);
            unlink(x->outpath);
            if (x->lfd < 0 || hx_spawn(x))
                hx_verdict(x, CF_HARNESS_ERROR, "cannot listen or start the client");
        }
        if (!x->stop)
            run_steps(x);
    }
    for (size_t i = 0; i < x->n_conns; i++)
        cf_conn_close(x->conns[i]->c, 0);
    if (c->role == CF_ROLE_CLIENT) {
        int before = x->verdict;
        int stop = x->stop;
        x->stop = 0;
        client_finish(x);
        if (stop && x->verdict == CF_UNSUPPORTED && before != CF_UNSUPPORTED)
            (void)0; /* 127 explains the failure */
        if (x->status == 127 && x->verdict != CF_HARNESS_ERROR) {
            x->verdict = CF_UNSUPPORTED;
            snprintf(x->msg, sizeof(x->msg),
                     "the client exited with 127: action `%s` is "
                     "unsupported",
                     c->action);
        }
    }
    if (x->lfd >= 0)
        close(x->lfd);
    if (x->lfd2 >= 0)
        close(x->lfd2);
    r->verdict = x->verdict;
    r->message = x->msg[0] ? strdup(x->msg) : NULL;
    r->expected = x->expected[0] ? strdup(x->expected) : NULL;
    r->arrived = x->arrived[0] ? strdup(x->arrived) : NULL;
    r->log = x->log;
    r->secs = (double)(cf_now_ms() - x->t0) / 1000.0;
    for (size_t i = 0; i < x->n_conns; i++)
        hx_conn_free(x->conns[i]);
    for (size_t i = 0; i < x->n_keys; i++)
        cairn_identity_del(x->keys[i].id);
    json_decref(x->vars);
    cairn_msg_decoder_free(&x->dec);
    cairn_arena_free(&x->arena);
    free(x);
}

void cf_result_free(cf_result *r)
{
    free(r->message);
    free(r->expected);
    free(r->arrived);
    free(r->log);
    free(r->client_output);
    memset(r, 0, sizeof(*r));
}

/* The fixture chain main:N reaches the IUT the way any peer's chain would. */
int cf_deliver_chain(cf_opts *o, char *why, size_t n)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "id FIXTURE-CHAIN\n"
             "title Deliver the fixture chain to the IUT\n"
             "role server\n"
             "covers SYNC-21 SHOULD\n"
             "serve main:%zu\n"
             "connect\n"
             "handshake {\"services\": \"1\"}\n"
             "sync\n"
             "send GetBlock {\"requestId\": \"1\", \"height\": \"%zu\"}\n"
             "expect Block {\"requestId\": \"1\", \"header\": \"$chain.%zu.header\"}\n",
             o->fx->main_loaded, o->fx->main_loaded, o->fx->main_loaded);
    cf_case c;
    char err[512];
    if (cf_case_parse(&c, "(fixture)", text, err, sizeof(err))) {
        snprintf(why, n, "%s", err);
        return -1;
    }
    cf_result r;
    cf_run_case(o, &c, &r);
    int ok = r.verdict == CF_PASS;
    if (!ok) {
        snprintf(why, n, "%s: %s", cf_verdict_name(r.verdict), r.message ? r.message : "");
        if (o->verbose && r.log)
            fprintf(stderr, "fixture delivery failed:\n%s\n", r.log);
    }
    cf_result_free(&r);
    cf_case_free(&c);
    return ok ? 0 : -1;
}

/* Whether the IUT serves the fixture file `small` (server role). */
int cf_probe_files(cf_opts *o)
{
    /* A node may still be hashing its shared files when it starts: ask again
     * for a few seconds before deciding that it does not serve them. */
    static const char text[] = "id FIXTURE-FILES\n"
                               "title Does the IUT serve the fixture files?\n"
                               "role server\n"
                               "covers FILE-12 MUST\n"
                               "connect\n"
                               "handshake\n"
                               "repeat 25\n"
                               "send GetManifest {\"requestId\": \"$i\", \"fileId\": "
                               "\"$file.three.id\"}\n"
                               "expect Manifest => DONE\n"
                               "or NotFound\n"
                               "expect nothing within=200\n"
                               "end\n"
                               "send GetManifest {\"requestId\": \"99\", \"fileId\": "
                               "\"$file.small.id\"}\n"
                               "expect Manifest {\"requestId\": \"99\"}\n"
                               "or NotFound => SKIP\n";
    cf_case c;
    char err[512];
    if (cf_case_parse(&c, "(fixture)", text, err, sizeof(err)))
        return -1;
    cf_result r;
    cf_run_case(o, &c, &r);
    int ok = r.verdict == CF_PASS;
    cf_result_free(&r);
    cf_case_free(&c);
    return ok ? 0 : -1;
}
