/*
 * cairn-conform: run the conformance cases against a Cairn server or client,
 * list them, print the requirement coverage, record sessions, generate the
 * fixtures. Usage: cairn-conform help.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/base.h"
#include "run.h"
#include "paths.h"
#include "capture.h"
#include "html.h"

#ifndef CAIRN_CONFORM_DIR
#define CAIRN_CONFORM_DIR "conformance"
#endif
#ifndef CAIRN_SPEC_FILE
#define CAIRN_SPEC_FILE "spec/cairn-v1.md"
#endif

static void usage(FILE *f)
{
    fprintf(
        f, "usage:\n"
           "  cairn-conform server HOST:PORT [options] [SELECTOR...]\n"
           "  cairn-conform client --exec TEMPLATE [options] [SELECTOR...]\n"
           "  cairn-conform list [--role server|client] [SELECTOR...]\n"
           "  cairn-conform coverage [--spec FILE] [--cases DIR] [--quiet]\n"
           "  cairn-conform record --listen HOST:PORT --upstream HOST:PORT -o FILE|DIR\n"
           "                       [--keylog FILE] [--sessions N]   (record --help)\n"
           "  cairn-conform record --pcap CAPTURE [--keylog FILE] -o DIR\n"
           "  cairn-conform gen-fixtures DIR\n"
           "\n"
           "SELECTOR: a case ID, an ID prefix (SRV-HS), or tag:NAME; -SELECTOR excludes.\n"
           "TEMPLATE: a shell command; {addr} is the harness's address, {action} the\n"
           "  client action (ping info headers block submit peers fetch), {args} its\n"
           "  arguments (appended when absent), {out} an output path. Exit 127 = unsupported.\n"
           "options:\n"
           "  --plaintext | --tls      transport (default TLS, as the node's default)\n"
           "  --timeout-factor F       scale every timeout (default 1)\n"
           "  --strict                 exit non-zero on NON-STRICT too\n"
           "  --fail-fast              stop at the first FAIL or HARNESS-ERROR\n"
           "  --require-files          the IUT shares conformance/fixtures/files: the cases\n"
           "                           that need them FAIL, not SKIP, when it does not serve them\n"
           "  --jobs N                 run up to N independent cases at a time (default 1)\n"
           "  --known-failures FILE    cases (one ID per line) that FAIL for a known reason:\n"
           "                           reported, not counted for the exit status\n"
           "  --junit FILE  --json FILE  reports\n"
           "  --html DIR               an HTML report: DIR/index.html, a page per case\n"
           "  --pcap DIR               a capture per case: DIR/CASE.pcap (for Wireshark)\n"
           "  --case FILE              run this case file (repeatable) instead of the suite\n"
           "  --cases DIR  --fixtures DIR  --spec FILE\n"
           "  --iut-handshake-timeout MS  --iut-idle-timeout MS  --iut-ping-interval MS\n"
           "                           the IUT's configured timers (default: the spec's)\n"
           "  --slow                   run cases that wait for the spec's full timers\n"
           "  --no-fresh-sources       do not bind each case to its own 127.x.y.z address\n"
           "  -v, --verbose            wire logs for every case\n");
}

static int selected(const cf_case *c, char *const *sel, int n_sel)
{
    int any_include = 0, inc = 0;
    for (int i = 0; i < n_sel; i++) {
        const char *s = sel[i];
        int exclude = s[0] == '-';
        if (exclude)
            s++;
        int m;
        if (!strncmp(s, "tag:", 4))
            m = cf_case_has_tag(c, s + 4);
        else
            m = !strncmp(c->id, s, strlen(s));
        if (exclude && m)
            return 0;
        if (!exclude) {
            any_include = 1;
            inc |= m;
        }
    }
    return !any_include || inc;
}

/* Whether `id` is a word of the known-failures file (one ID per line, # comments). */
static int known_listed(const char *text, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\r' || p[len - 1] == '\t'))
            len--;
        if (p[0] != '#' && len >= n && !strncmp(p, id, n) &&
            (len == n || p[n] == ' ' || p[n] == '\t'))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* What `cairn-conform server|client` was asked to do. */
typedef struct suite_args {
    const char *cases_dir, *fix_dir, *spec_file, *html_dir, *pcap_dir, *junit, *json, *known;
    const char *files[256];
    int n_files, strict, fail_fast, jobs;
    char *sel[256];
    int n_sel;
} suite_args;

/* Step 1: the command line. 0, or 2 on a usage error. */
static int suite_parse_args(int role, int argc, char **argv, cf_opts *o, suite_args *s)
{
    memset(o, 0, sizeof(*o));
    memset(s, 0, sizeof(*s));
    o->role = role;
    o->timeout_factor = 1.0;
    o->iut_handshake_ms = 10000;
    o->iut_idle_ms = 90000;
    o->iut_ping_ms = 30000;
    o->fresh_sources = 1;
    o->chain_ready = -1;
    o->files_ready = -1;
    s->cases_dir = conform_data_path("conformance/cases", CAIRN_CONFORM_DIR "/cases");
    s->fix_dir = conform_data_path("conformance/fixtures", CAIRN_CONFORM_DIR "/fixtures");
    s->spec_file = conform_data_path("spec/cairn-v1.md", CAIRN_SPEC_FILE);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && i + 1 < argc)
        if (ARG("--exec"))
            o->exec_template = argv[++i];
        else if (!strcmp(a, "--plaintext"))
            o->plaintext = 1;
        else if (!strcmp(a, "--tls"))
            o->plaintext = 0;
        else if (ARG("--timeout-factor"))
            o->timeout_factor = atof(argv[++i]);
        else if (!strcmp(a, "--strict"))
            s->strict = 1;
        else if (!strcmp(a, "--fail-fast"))
            s->fail_fast = 1;
        else if (!strcmp(a, "--require-files"))
            o->require_files = 1;
        else if (ARG("--jobs"))
            s->jobs = atoi(argv[++i]);
        else if (ARG("--known-failures"))
            s->known = argv[++i];
        else if (ARG("--junit"))
            s->junit = argv[++i];
        else if (ARG("--json"))
            s->json = argv[++i];
        else if (ARG("--html"))
            s->html_dir = argv[++i];
        else if (ARG("--pcap"))
            s->pcap_dir = argv[++i];
        else if (ARG("--case") && s->n_files < 256)
            s->files[s->n_files++] = argv[++i];
        else if (ARG("--cases"))
            s->cases_dir = argv[++i];
        else if (ARG("--fixtures"))
            s->fix_dir = argv[++i];
        else if (ARG("--spec"))
            s->spec_file = argv[++i];
        else if (ARG("--iut-handshake-timeout"))
            o->iut_handshake_ms = (unsigned)atoi(argv[++i]);
        else if (ARG("--iut-idle-timeout"))
            o->iut_idle_ms = (unsigned)atoi(argv[++i]);
        else if (ARG("--iut-ping-interval"))
            o->iut_ping_ms = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--slow"))
            o->slow = 1;
        else if (!strcmp(a, "--no-fresh-sources"))
            o->fresh_sources = 0;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            o->verbose = 1;
        else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "cairn-conform: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (role == CF_ROLE_SERVER && !o->target)
            o->target = a;
        else if (s->n_sel < 256)
            s->sel[s->n_sel++] = argv[i];
#undef ARG
    }
    if ((role == CF_ROLE_SERVER && !o->target) || (role == CF_ROLE_CLIENT && !o->exec_template)) {
        usage(stderr);
        return 2;
    }
    if (role == CF_ROLE_SERVER && o->fresh_sources && strncmp(o->target, "127.", 4) &&
        strncmp(o->target, "localhost:", 10))
        o->fresh_sources = 0;
    if (s->pcap_dir && mkdir(s->pcap_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "cairn-conform: %s: %s\n", s->pcap_dir, strerror(errno));
        return 2;
    }
    return 0;
}

/* Step 2: the cases to run (the --case files, or the suite's directory). 0 or -1. */
static int suite_load_cases(const suite_args *s, cf_case **cases, size_t *n)
{
    char err[1024];
    *cases = NULL;
    *n = 0;
    if (!s->n_files) {
        if (!cf_load_cases(s->cases_dir, cases, n, err, sizeof(err)))
            return 0;
        fprintf(stderr, "cairn-conform: %s\n", err);
        return -1;
    }
    *cases = calloc((size_t)s->n_files, sizeof(**cases));
    for (int i = 0; i < s->n_files; i++) {
        if (cf_case_load(&(*cases)[*n], s->files[i], err, sizeof(err))) {
            fprintf(stderr, "cairn-conform: %s\n", err);
            cf_case_free(&(*cases)[*n]);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

/* The verdict counts of a run. */
typedef struct suite_tally {
    size_t counts[CF_N_VERDICTS], n_known, n_fixed;
} suite_tally;

/* Before the first case that needs them: the fixture chain on the IUT, its files probed. */
static void suite_prepare_iut(cf_opts *o, const cf_case *c)
{
    if (o->role != CF_ROLE_SERVER)
        return;
    if (cf_case_needs(c, "chain") && o->chain_ready < 0) {
        o->chain_ready = cf_deliver_chain(o, o->chain_why, sizeof(o->chain_why)) == 0;
        if (!o->chain_ready)
            printf("note: the fixture chain could not be delivered: %s\n", o->chain_why);
    }
    if (cf_case_needs(c, "files") && o->files_ready < 0)
        o->files_ready = cf_probe_files(o) == 0;
}

/* Counts one result; a FAIL of a case listed as a known departure is not counted. */
static void suite_count(const suite_args *s, const char *known_text, const cf_result *r,
                        suite_tally *t)
{
    int listed = known_text && known_listed(known_text, r->c->id);
    if (listed && r->verdict == CF_FAIL) {
        printf("    (a known departure, listed in %s)\n", s->known);
        t->n_known++;
        return;
    }
    if (listed && r->verdict == CF_PASS) {
        printf("    (listed as a known departure in %s, but passes now: remove it)\n", s->known);
        t->n_fixed++;
    }
    t->counts[r->verdict]++;
}

/* Reports and counts one finished result; 1 when --fail-fast says stop. */
static int suite_done(const cf_opts *o, const suite_args *s, const char *known_text,
                      const cf_result *r, suite_tally *t)
{
    cf_report_terminal(o, r, o->verbose);
    suite_count(s, known_text, r, t);
    fflush(stdout);
    return s->fail_fast && (t->counts[CF_FAIL] || t->counts[CF_HARNESS_ERROR]);
}

/* Whether a case may run beside others: every client case (its own client and ports); a
 * server case that leaves no state on the IUT (not tagged requester or mutates). */
static int independent(const cf_opts *o, const cf_case *c)
{
    return o->role == CF_ROLE_CLIENT ||
           (!cf_case_has_tag(c, "requester") && !cf_case_has_tag(c, "mutates"));
}

/* Whether the IUT still has to be prepared for this case (fixture chain, files). */
static int needs_prepare(const cf_opts *o, const cf_case *c)
{
    return o->role == CF_ROLE_SERVER && ((cf_case_needs(c, "chain") && o->chain_ready < 0) ||
                                         (cf_case_needs(c, "files") && o->files_ready < 0));
}

enum { MAX_JOBS = 16 };

/* The running children of suite_run_parallel. */
typedef struct job_slots {
    pid_t pid[MAX_JOBS];
    size_t idx[MAX_JOBS];
    int running;
} job_slots;

static void job_path(const cf_opts *o, size_t idx, char *path, size_t n)
{
    snprintf(path, n, "%s/job-%zu.result", o->out_dir ? o->out_dir : "/tmp", idx);
}

/* Waits for one child and collects its result into rs[]; marks it done. */
static void job_reap(const cf_opts *o, const cf_case **list, job_slots *js, cf_result *rs,
                     char *done)
{
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    for (int k = 0; k < js->running; k++) {
        if (js->pid[k] != pid)
            continue;
        char path[600];
        size_t idx = js->idx[k];
        job_path(o, idx, path, sizeof(path));
        cf_case_collect(list[idx], path, status, &rs[idx]);
        done[idx] = 1;
        js->pid[k] = js->pid[js->running - 1];
        js->idx[k] = js->idx[--js->running];
        return;
    }
    if (pid < 0) /* no child left: should not happen while running > 0 */
        js->running = 0;
}

/* Runs list[0..m) (independent cases), up to s->jobs at a time, each in its own process, and
 * reports them in order. Returns how many were reported. */
static size_t suite_run_parallel(cf_opts *o, const suite_args *s, const char *known_text,
                                 const cf_case **list, size_t m, cf_result *rs, suite_tally *t,
                                 int *stop)
{
    job_slots js;
    memset(&js, 0, sizeof(js));
    char *done = calloc(m + 1, 1);
    size_t launched = 0, reported = 0;
    int jobs = s->jobs < MAX_JOBS ? s->jobs : MAX_JOBS;
    while (reported < m) {
        while (!*stop && js.running < jobs && launched < m) {
            const cf_case *c = list[launched];
            if (needs_prepare(o, c)) {
                if (js.running)
                    break; /* the cases before it finish first, as in a sequential run */
                suite_prepare_iut(o, c);
            }
            char path[600];
            job_path(o, launched, path, sizeof(path));
            pid_t pid = cf_case_fork(o, c, s->pcap_dir, path);
            if (pid < 0) {
                cf_run_case(o, c, &rs[launched]);
                done[launched] = 1;
            } else {
                js.pid[js.running] = pid;
                js.idx[js.running++] = launched;
            }
            launched++;
        }
        while (reported < launched && done[reported])
            *stop |= suite_done(o, s, known_text, &rs[reported++], t);
        if (reported == launched && (*stop || launched == m))
            break;
        if (js.running)
            job_reap(o, list, &js, rs, done);
    }
    free(done);
    return reported;
}

/* Step 3: runs the selected cases of the role in order (independent ones side by side with
 * --jobs); returns how many ran. */
static size_t suite_run_cases(cf_opts *o, const suite_args *s, const char *known_text,
                              const cf_case *cases, size_t n, cf_result *rs, suite_tally *t)
{
    const cf_case **list = calloc(n + 1, sizeof(*list));
    size_t m = 0, nr = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].role == o->role && selected(&cases[i], s->sel, s->n_sel))
            list[m++] = &cases[i];
    int stop = 0;
    for (size_t i = 0; i < m && !stop;) {
        if (s->jobs > 1 && independent(o, list[i])) {
            size_t j = i;
            while (j < m && independent(o, list[j]))
                j++;
            nr += suite_run_parallel(o, s, known_text, list + i, j - i, rs + nr, t, &stop);
            i = j;
            continue;
        }
        const cf_case *c = list[i++];
        suite_prepare_iut(o, c);
        if (s->pcap_dir && cf_capture_begin(s->pcap_dir, c->id))
            fprintf(stderr, "cairn-conform: no capture for %s\n", c->id);
        cf_run_case(o, c, &rs[nr]);
        cf_capture_end();
        stop = suite_done(o, s, known_text, &rs[nr++], t);
    }
    if (stop)
        printf("--fail-fast: stopped after the first failure\n");
    free(list);
    return nr;
}

/* Step 4: the summary line and the reports asked for. */
static void suite_report(const cf_opts *o, const suite_args *s, const cf_result *rs, size_t nr,
                         const suite_tally *t, double secs)
{
    const size_t *k = t->counts;
    printf("\n%zu cases: %zu passed, %zu non-strict, %zu failed, %zu skipped, %zu unsupported, "
           "%zu harness errors (%.1fs)\n",
           nr, k[CF_PASS], k[CF_NON_STRICT], k[CF_FAIL], k[CF_SKIP], k[CF_UNSUPPORTED],
           k[CF_HARNESS_ERROR], secs);
    if (s->known)
        printf("%zu known departures failed as listed in %s; %zu listed cases pass now\n",
               t->n_known, s->known, t->n_fixed);
    if (s->junit &&
        cf_report_junit(s->junit, o->role == CF_ROLE_SERVER ? "server" : "client", rs, nr))
        fprintf(stderr, "cairn-conform: cannot write %s\n", s->junit);
    if (s->json && cf_report_json(s->json, o, rs, nr))
        fprintf(stderr, "cairn-conform: cannot write %s\n", s->json);
    char pcap_abs[PATH_MAX];
    if (s->html_dir &&
        cf_report_html(s->html_dir,
                       s->pcap_dir && realpath(s->pcap_dir, pcap_abs) ? pcap_abs : NULL, o, rs, nr))
        fprintf(stderr, "cairn-conform: cannot write %s: %s\n", s->html_dir, strerror(errno));
}

static void free_cases(cf_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_case_free(&cases[i]);
    free(cases);
}

static int run_suite(int role, int argc, char **argv)
{
    cf_opts o;
    suite_args s;
    int rv = suite_parse_args(role, argc, argv, &o, &s);
    if (rv)
        return rv;
    cf_spec spec;
    if (cf_spec_load(&spec, s.spec_file))
        fprintf(stderr, "cairn-conform: %s: %s (requirement texts will be missing)\n", s.spec_file,
                strerror(errno));
    o.spec = &spec;
    cf_fixtures fx;
    char err[1024];
    if (cf_fixtures_load(&fx, s.fix_dir, err, sizeof(err))) {
        fprintf(stderr, "cairn-conform: fixtures: %s\n", err);
        cf_spec_free(&spec);
        return 2;
    }
    o.fx = &fx;
    cf_case *cases = NULL;
    size_t n = 0;
    /* Known departures of the IUT: reported, listed in the summary, and not
     * counted for the exit status; a listed case that passes is reported too. */
    char *known_text = s.known ? cf_read_file(s.known, NULL) : NULL;
    if (s.known && !known_text)
        fprintf(stderr, "cairn-conform: %s: %s\n", s.known, strerror(errno));
    if (suite_load_cases(&s, &cases, &n) || (s.known && !known_text)) {
        free_cases(cases, n);
        cf_fixtures_free(&fx);
        cf_spec_free(&spec);
        return 2;
    }
    char outdir[] = "/tmp/cairn-conform-XXXXXX";
    o.out_dir = mkdtemp(outdir);
    cf_result *rs = calloc(n + 1, sizeof(*rs));
    suite_tally t;
    memset(&t, 0, sizeof(t));
    uint64_t t0 = cf_now_ms();
    size_t nr = suite_run_cases(&o, &s, known_text, cases, n, rs, &t);
    suite_report(&o, &s, rs, nr, &t, (double)(cf_now_ms() - t0) / 1000.0);
    rv = t.counts[CF_FAIL] || t.counts[CF_HARNESS_ERROR] || (s.strict && t.counts[CF_NON_STRICT]) ||
                 nr == 0
             ? 1
             : 0;
    free(known_text);
    for (size_t i = 0; i < nr; i++)
        cf_result_free(&rs[i]);
    free(rs);
    free_cases(cases, n);
    cf_fixtures_free(&fx);
    cf_spec_free(&spec);
    if (o.out_dir) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", o.out_dir);
        if (system(cmd) != 0)
            (void)0;
    }
    return rv;
}

static int list_cases(int argc, char **argv)
{
    const char *cases_dir = conform_data_path("conformance/cases", CAIRN_CONFORM_DIR "/cases");
    int role = 0;
    char *sel[256];
    int n_sel = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            cases_dir = argv[++i];
        else if (!strcmp(argv[i], "--role") && i + 1 < argc) {
            i++;
            role = !strcmp(argv[i], "server") ? CF_ROLE_SERVER : CF_ROLE_CLIENT;
        } else if (n_sel < 256)
            sel[n_sel++] = argv[i];
    }
    cf_case *cases;
    size_t n;
    char err[1024];
    if (cf_load_cases(cases_dir, &cases, &n, err, sizeof(err))) {
        fprintf(stderr, "cairn-conform: %s\n", err);
        return 2;
    }
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        const cf_case *c = &cases[i];
        if ((role && c->role != role) || !selected(c, sel, n_sel))
            continue;
        printf("%-28s %-6s %s\n", c->id, c->role == CF_ROLE_SERVER ? "server" : "client", c->title);
        printf("%-28s        covers", "");
        for (size_t k = 0; k < c->n_covers; k++)
            printf(" %s", c->covers[k].id);
        if (c->n_tags) {
            printf("; tags");
            for (size_t k = 0; k < c->n_tags; k++)
                printf(" %s", c->tags[k]);
        }
        printf("\n");
        shown++;
    }
    printf("%zu cases\n", shown);
    for (size_t i = 0; i < n; i++)
        cf_case_free(&cases[i]);
    free(cases);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "server"))
        return run_suite(CF_ROLE_SERVER, argc, argv);
    if (!strcmp(cmd, "client")) {
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                cf_print_client_contract(stdout);
                return 0;
            }
        return run_suite(CF_ROLE_CLIENT, argc, argv);
    }
    if (!strcmp(cmd, "list"))
        return list_cases(argc, argv);
    if (!strcmp(cmd, "coverage")) {
        const char *spec = conform_data_path("spec/cairn-v1.md", CAIRN_SPEC_FILE);
        const char *dir = conform_data_path("conformance/cases", CAIRN_CONFORM_DIR "/cases");
        int quiet = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--spec") && i + 1 < argc)
                spec = argv[++i];
            else if (!strcmp(argv[i], "--cases") && i + 1 < argc)
                dir = argv[++i];
            else if (!strcmp(argv[i], "--quiet"))
                quiet = 1;
        }
        return cf_coverage(spec, dir, quiet);
    }
    if (!strcmp(cmd, "record"))
        return cf_record(argc, argv);
    if (!strcmp(cmd, "gen-fixtures") && argc == 3)
        return cf_fixtures_generate(argv[2]) ? 1 : 0;
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
