/* Running one case in a forked child (cairn-conform --jobs): the child writes its result to a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "run.h"

static void put_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("-1\n", f);
        return;
    }
    fprintf(f, "%zu\n", strlen(s));
    fwrite(s, 1, strlen(s), f);
}

static char *get_str(FILE *f, int *bad)
{
    long n;
    if (fscanf(f, "%ld", &n) != 1 || fgetc(f) != '\n' || n < -1 || n > (64l << 20)) {
        *bad = 1;
        return NULL;
    }
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        *bad = 1;
        return NULL;
    }
    s[n] = '\0';
    return s;
}

pid_t cf_case_fork(cf_opts *o, const cf_case *c, const char *pcap_dir, const char *result_path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            cf_sources_skip(32); /* the next child's source addresses differ from this one's */
        return pid;
    }
    if (pcap_dir && cf_capture_begin(pcap_dir, c->id))
        fprintf(stderr, "cairn-conform: no capture for %s\n", c->id);
    cf_result r;
    cf_run_case(o, c, &r);
    cf_capture_end();
    FILE *f = fopen(result_path, "w");
    if (f) {
        fprintf(f, "%d %.3f\n", r.verdict, r.secs);
        put_str(f, r.message);
        put_str(f, r.expected);
        put_str(f, r.arrived);
        put_str(f, r.log);
        put_str(f, r.client_output);
        fclose(f);
    }
    _exit(f ? 0 : 1);
}

int cf_case_collect(const cf_case *c, const char *result_path, int status, cf_result *r)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    FILE *f = fopen(result_path, "r");
    int bad = !f || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (f && !bad) {
        bad = fscanf(f, "%d %lf\n", &r->verdict, &r->secs) != 2 || r->verdict < 0 ||
              r->verdict >= CF_N_VERDICTS;
        r->message = get_str(f, &bad);
        r->expected = get_str(f, &bad);
        r->arrived = get_str(f, &bad);
        r->log = get_str(f, &bad);
        r->client_output = get_str(f, &bad);
    }
    if (f)
        fclose(f);
    unlink(result_path);
    if (!bad)
        return 0;
    cf_result_free(r);
    r->c = c;
    r->verdict = CF_HARNESS_ERROR;
    char msg[128];
    snprintf(msg, sizeof(msg), "the case's process ended without a result (status 0x%x)", status);
    r->message = strdup(msg);
    return -1;
}
