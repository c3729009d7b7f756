/* Running cases and reporting results. */
#ifndef CAIRN_CONFORM_RUN_H
#define CAIRN_CONFORM_RUN_H

#include "conform.h"

typedef struct cf_opts {
    int role;
    const char *target;        /* server role: HOST:PORT of the IUT */
    const char *exec_template; /* client role */
    int plaintext;
    double timeout_factor;
    unsigned iut_handshake_ms, iut_idle_ms, iut_ping_ms; /* the IUT's configured timers */
    int slow;
    int verbose;
    const cf_spec *spec;
    cf_fixtures *fx;
    int fresh_sources; /* bind each case to its own 127.x.y.z */
    int chain_ready;   /* -1 unknown, 0 could not be delivered, 1 delivered */
    char chain_why[256];
    int files_ready;     /* -1 unknown, 0 not served by the IUT, 1 served */
    int require_files;   /* --require-files: the IUT shares the fixture files; not serving is a FAIL
                          */
    const char *out_dir; /* client role: where {out} paths go */
} cf_opts;

typedef struct cf_result {
    const cf_case *c;
    int verdict;
    char *message; /* why (failures, skips) */
    char *expected;
    char *arrived;
    char *log; /* decoded wire log */
    char *client_output;
    double secs;
} cf_result;

void cf_run_case(cf_opts *o, const cf_case *c, cf_result *r);
/* Delivers the fixture chain main:N to the IUT (server role). */
int cf_deliver_chain(cf_opts *o, char *why, size_t n);
/* Whether the IUT serves the fixture files (server role). 0 when it does. */
int cf_probe_files(cf_opts *o);
void cf_result_free(cf_result *r);

/* jobs.c: a case in a forked child, its result passed back in result_path. */
pid_t cf_case_fork(cf_opts *o, const cf_case *c, const char *pcap_dir, const char *result_path);
/* Reads the result of the child that exited with `status`; a HARNESS-ERROR when there is none. */
int cf_case_collect(const cf_case *c, const char *result_path, int status, cf_result *r);

/* hx.c: the next case's fresh source addresses start n further on. */
void cf_sources_skip(unsigned n);

/* report.c */
void cf_report_terminal(const cf_opts *o, const cf_result *r, int verbose);
int cf_report_junit(const char *path, const char *suite, const cf_result *rs, size_t n);
int cf_report_json(const char *path, const cf_opts *o, const cf_result *rs, size_t n);

#endif
