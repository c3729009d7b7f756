/*
 * cairn-conform coverage: the requirement matrix. Every MUST and MUST NOT of
 * the spec needs a case, or the spec's "not observable on the wire" note.
 * Also checks that cases cite existing IDs with the spec's level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

int cf_coverage(const char *spec_file, const char *cases_dir, int quiet)
{
    cf_spec spec;
    if (cf_spec_load(&spec, spec_file) || !spec.n) {
        fprintf(stderr, "cairn-conform: cannot read requirements from %s\n", spec_file);
        return 2;
    }
    cf_case *cases;
    size_t n;
    char err[1024];
    if (cf_load_cases(cases_dir, &cases, &n, err, sizeof(err))) {
        fprintf(stderr, "cairn-conform: %s\n", err);
        cf_spec_free(&spec);
        return 2;
    }
    int problems = 0;
    size_t n_server = 0, n_client = 0;
    for (size_t i = 0; i < n; i++) {
        n_server += cases[i].role == CF_ROLE_SERVER;
        n_client += cases[i].role == CF_ROLE_CLIENT;
        for (size_t k = 0; k < cases[i].n_covers; k++) {
            const cf_req *r = cf_spec_find(&spec, cases[i].covers[k].id);
            if (!r) {
                printf("error: %s (%s) covers %s, which the spec does not define\n", cases[i].id,
                       cases[i].path, cases[i].covers[k].id);
                problems++;
            } else if (strcmp(r->level, cases[i].covers[k].level)) {
                printf("error: %s covers %s as %s, but the spec says %s\n", cases[i].id, r->id,
                       cases[i].covers[k].level, r->level);
                problems++;
            }
        }
    }
    size_t must = 0, must_cov = 0, must_hidden = 0, should = 0, should_cov = 0, may = 0,
           may_cov = 0, gaps = 0;
    if (!quiet)
        printf("%-10s %-10s %-6s %-5s %s\n", "ID", "LEVEL", "WIRE", "CASES", "CASE IDS");
    for (size_t i = 0; i < spec.n; i++) {
        const cf_req *r = &spec.reqs[i];
        size_t cnt = 0;
        char ids[512] = "";
        size_t o = 0;
        for (size_t c = 0; c < n; c++)
            for (size_t k = 0; k < cases[c].n_covers; k++)
                if (!strcmp(cases[c].covers[k].id, r->id)) {
                    if (cnt < 6 && o < sizeof(ids) - 70)
                        o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s", cnt ? " " : "",
                                              cases[c].id);
                    cnt++;
                    break;
                }
        if (cnt > 6 && o < sizeof(ids) - 16)
            snprintf(ids + o, sizeof(ids) - o, " +%zu", cnt - 6);
        int is_must = !strncmp(r->level, "MUST", 4);
        int is_should = !strncmp(r->level, "SHOULD", 6);
        if (is_must) {
            must++;
            if (cnt)
                must_cov++;
            else if (!r->observable)
                must_hidden++;
            else
                gaps++;
        } else if (is_should) {
            should++;
            should_cov += cnt > 0;
        } else {
            may++;
            may_cov += cnt > 0;
        }
        const char *mark = is_must && !cnt && r->observable ? "  <-- GAP" : "";
        if (!quiet || mark[0])
            printf("%-10s %-10s %-6s %-5zu %s%s\n", r->id, r->level, r->observable ? "yes" : "no",
                   cnt, cnt ? ids : (r->observable ? "-" : "(not observable on the wire)"), mark);
    }
    printf("\n%zu requirements; %zu server cases, %zu client cases\n", spec.n, n_server, n_client);
    printf("MUST/MUST NOT: %zu, with a case %zu, not observable %zu, gaps %zu\n", must, must_cov,
           must_hidden, gaps);
    printf("SHOULD/SHOULD NOT: %zu, with a case %zu; MAY: %zu, with a case %zu\n", should,
           should_cov, may, may_cov);
    if (problems)
        printf("%d problems in the case files\n", problems);
    printf("%s\n", gaps || problems ? "coverage: FAIL" : "coverage: OK");
    for (size_t i = 0; i < n; i++)
        cf_case_free(&cases[i]);
    free(cases);
    cf_spec_free(&spec);
    return gaps || problems ? 1 : 0;
}
