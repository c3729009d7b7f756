/*
 * cairn-conform: run the conformance cases against a Cairn server or client,
 * list them, print the requirement coverage, record sessions, generate the
 * fixtures. Usage: cairn-conform help.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    fprintf(f, "usage:\n"
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

static int selected(const cf_case *c, char **sel, int n_sel)
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

static int by_order(const void *a, const void *b)
{
    /* Cases that leave state on the IUT run after the others, in ID order:
     * first those that leave headers (requester), then those that move the
     * active chain (mutates). */
    const cf_case *x = a, *y = b;
    int mx = 2 * cf_case_has_tag(x, "mutates") + cf_case_has_tag(x, "requester");
    int my = 2 * cf_case_has_tag(y, "mutates") + cf_case_has_tag(y, "requester");
    if (mx != my)
        return mx - my;
    return strcmp(x->id, y->id);
}

int cf_load_cases(const char *dir, cf_case **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *sub[] = {"server", "client", "."};
    size_t cap = 0;
    for (size_t s = 0; s < 3; s++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, sub[s]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 6 || strcmp(e->d_name + l - 5, ".case"))
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                cf_case *nc = realloc(*out, cap * sizeof(**out));
                if (!nc) {
                    closedir(d);
                    return -1;
                }
                *out = nc;
            }
            char file[4600];
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            if (cf_case_load(&(*out)[*n], file, err, errlen)) {
                cf_case_free(&(*out)[*n]);
                closedir(d);
                goto fail;
            }
            (*n)++;
        }
        closedir(d);
    }
    for (size_t i = 0; i < *n; i++)
        for (size_t k = i + 1; k < *n; k++)
            if (!strcmp((*out)[i].id, (*out)[k].id)) {
                snprintf(err, errlen, "case ID %s is used by %s and %s", (*out)[i].id,
                         (*out)[i].path, (*out)[k].path);
                goto fail;
            }
    qsort(*out, *n, sizeof(**out), by_order);
    return 0;
fail:
    for (size_t i = 0; i < *n; i++)
        cf_case_free(&(*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}

static int run_suite(int role, int argc, char **argv)
{
    cf_opts o;
    memset(&o, 0, sizeof(o));
    o.role = role;
    o.timeout_factor = 1.0;
    o.iut_handshake_ms = 10000;
    o.iut_idle_ms = 90000;
    o.iut_ping_ms = 30000;
    o.fresh_sources = 1;
    o.chain_ready = -1;
    o.files_ready = -1;
    const char *cases_dir = conform_data_path("conformance/cases", CAIRN_CONFORM_DIR "/cases");
    const char *fix_dir = conform_data_path("conformance/fixtures", CAIRN_CONFORM_DIR "/fixtures");
    const char *html_dir = NULL, *pcap_dir = NULL;
    const char *spec_file = conform_data_path("spec/cairn-v1.md", CAIRN_SPEC_FILE), *junit = NULL,
               *jsonp = NULL, *known = NULL;
    const char *files[256];
    int n_files = 0, strict = 0;
    char *sel[256];
    int n_sel = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && i + 1 < argc)
        if (ARG("--exec"))
            o.exec_template = argv[++i];
        else if (!strcmp(a, "--plaintext"))
            o.plaintext = 1;
        else if (!strcmp(a, "--tls"))
            o.plaintext = 0;
        else if (ARG("--timeout-factor"))
            o.timeout_factor = atof(argv[++i]);
        else if (!strcmp(a, "--strict"))
            strict = 1;
        else if (ARG("--known-failures"))
            known = argv[++i];
        else if (ARG("--junit"))
            junit = argv[++i];
        else if (ARG("--json"))
            jsonp = argv[++i];
        else if (ARG("--html"))
            html_dir = argv[++i];
        else if (ARG("--pcap"))
            pcap_dir = argv[++i];
        else if (ARG("--case") && n_files < 256)
            files[n_files++] = argv[++i];
        else if (ARG("--cases"))
            cases_dir = argv[++i];
        else if (ARG("--fixtures"))
            fix_dir = argv[++i];
        else if (ARG("--spec"))
            spec_file = argv[++i];
        else if (ARG("--iut-handshake-timeout"))
            o.iut_handshake_ms = (unsigned)atoi(argv[++i]);
        else if (ARG("--iut-idle-timeout"))
            o.iut_idle_ms = (unsigned)atoi(argv[++i]);
        else if (ARG("--iut-ping-interval"))
            o.iut_ping_ms = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--slow"))
            o.slow = 1;
        else if (!strcmp(a, "--no-fresh-sources"))
            o.fresh_sources = 0;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            o.verbose = 1;
        else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "cairn-conform: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (role == CF_ROLE_SERVER && !o.target)
            o.target = a;
        else if (n_sel < 256)
            sel[n_sel++] = argv[i];
#undef ARG
    }
    if ((role == CF_ROLE_SERVER && !o.target) || (role == CF_ROLE_CLIENT && !o.exec_template)) {
        usage(stderr);
        return 2;
    }
    if (role == CF_ROLE_SERVER && o.fresh_sources && strncmp(o.target, "127.", 4) &&
        strncmp(o.target, "localhost:", 10))
        o.fresh_sources = 0;
    if (pcap_dir && mkdir(pcap_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "cairn-conform: %s: %s\n", pcap_dir, strerror(errno));
        return 2;
    }
    cf_spec spec;
    if (cf_spec_load(&spec, spec_file))
        fprintf(stderr, "cairn-conform: %s: %s (requirement texts will be missing)\n", spec_file,
                strerror(errno));
    o.spec = &spec;
    cf_fixtures fx;
    char err[1024];
    if (cf_fixtures_load(&fx, fix_dir, err, sizeof(err))) {
        fprintf(stderr, "cairn-conform: fixtures: %s\n", err);
        return 2;
    }
    o.fx = &fx;
    char outdir[] = "/tmp/cairn-conform-XXXXXX";
    o.out_dir = mkdtemp(outdir);

    cf_case *cases = NULL;
    size_t n = 0;
    if (n_files) {
        cases = calloc((size_t)n_files, sizeof(*cases));
        for (int i = 0; i < n_files; i++) {
            if (cf_case_load(&cases[n], files[i], err, sizeof(err))) {
                fprintf(stderr, "cairn-conform: %s\n", err);
                cf_case_free(&cases[n]);
                goto load_failed;
            }
            n++;
        }
    } else if (cf_load_cases(cases_dir, &cases, &n, err, sizeof(err))) {
        fprintf(stderr, "cairn-conform: %s\n", err);
        goto load_failed;
    }
    if (0) {
    load_failed:
        for (size_t i = 0; i < n; i++)
            cf_case_free(&cases[i]);
        free(cases);
        cf_fixtures_free(&fx);
        cf_spec_free(&spec);
        return 2;
    }
    /* Known departures of the IUT: reported, listed in the summary, and not
     * counted for the exit status; a listed case that passes is reported too. */
    char *known_text = known ? cf_read_file(known, NULL) : NULL;
    if (known && !known_text) {
        fprintf(stderr, "cairn-conform: %s: %s\n", known, strerror(errno));
        goto load_failed;
    }
    cf_result *rs = calloc(n + 1, sizeof(*rs));
    size_t nr = 0, counts[CF_N_VERDICTS] = {0}, n_known = 0, n_fixed = 0;
    uint64_t t0 = cf_now_ms();
    for (size_t i = 0; i < n; i++) {
        const cf_case *c = &cases[i];
        if (c->role != role || !selected(c, sel, n_sel))
            continue;
        if (role == CF_ROLE_SERVER && cf_case_needs(c, "chain") && o.chain_ready < 0) {
            o.chain_ready = cf_deliver_chain(&o, o.chain_why, sizeof(o.chain_why)) == 0;
            if (!o.chain_ready)
                printf("note: the fixture chain could not be delivered: %s\n", o.chain_why);
        }
        if (role == CF_ROLE_SERVER && cf_case_needs(c, "files") && o.files_ready < 0)
            o.files_ready = cf_probe_files(&o) == 0;
        if (pcap_dir && cf_capture_begin(pcap_dir, c->id))
            fprintf(stderr, "cairn-conform: no capture for %s\n", c->id);
        cf_run_case(&o, c, &rs[nr]);
        cf_capture_end();
        cf_report_terminal(&o, &rs[nr], o.verbose);
        int listed = known_text && known_listed(known_text, c->id);
        if (listed && rs[nr].verdict == CF_FAIL) {
            printf("    (a known departure, listed in %s)\n", known);
            n_known++;
        } else {
            if (listed && rs[nr].verdict == CF_PASS) {
                printf("    (listed as a known departure in %s, but passes now: remove it)\n",
                       known);
                n_fixed++;
            }
            counts[rs[nr].verdict]++;
        }
        fflush(stdout);
        nr++;
    }
    double secs = (double)(cf_now_ms() - t0) / 1000.0;
    printf("\n%zu cases: %zu passed, %zu non-strict, %zu failed, %zu skipped, %zu unsupported, "
           "%zu harness errors (%.1fs)\n",
           nr, counts[CF_PASS], counts[CF_NON_STRICT], counts[CF_FAIL], counts[CF_SKIP],
           counts[CF_UNSUPPORTED], counts[CF_HARNESS_ERROR], secs);
    if (known_text)
        printf("%zu known departures failed as listed in %s; %zu listed cases pass now\n", n_known,
               known, n_fixed);
    free(known_text);
    if (junit && cf_report_junit(junit, role == CF_ROLE_SERVER ? "server" : "client", rs, nr))
        fprintf(stderr, "cairn-conform: cannot write %s\n", junit);
    if (jsonp && cf_report_json(jsonp, &o, rs, nr))
        fprintf(stderr, "cairn-conform: cannot write %s\n", jsonp);
    char pcap_abs[PATH_MAX];
    if (html_dir &&
        cf_report_html(html_dir, pcap_dir && realpath(pcap_dir, pcap_abs) ? pcap_abs : NULL, &o, rs,
                       nr))
        fprintf(stderr, "cairn-conform: cannot write %s: %s\n", html_dir, strerror(errno));
    int rv =
        counts[CF_FAIL] || counts[CF_HARNESS_ERROR] || (strict && counts[CF_NON_STRICT]) || nr == 0
            ? 1
            : 0;
    for (size_t i = 0; i < nr; i++)
        cf_result_free(&rs[i]);
    free(rs);
    for (size_t i = 0; i < n; i++)
        cf_case_free(&cases[i]);
    free(cases);
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
