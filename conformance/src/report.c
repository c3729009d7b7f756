/* Reports: terminal, JUnit XML, JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static const char *colour(int v)
{
    if (!isatty(1))
        return "";
    switch (v) {
    case CF_PASS:
        return "\033[32m";
    case CF_NON_STRICT:
    case CF_SKIP:
    case CF_UNSUPPORTED:
        return "\033[33m";
    default:
        return "\033[31m";
    }
}

void cf_report_terminal(const cf_opts *o, const cf_result *r, int verbose)
{
    const char *c = colour(r->verdict), *end = c[0] ? "\033[0m" : "";
    printf("%s%-13s%s %-28s %s (%.2fs)\n", c, cf_verdict_name(r->verdict), end, r->c->id,
           r->c->title, r->secs);
    int failed = r->verdict == CF_FAIL || r->verdict == CF_HARNESS_ERROR;
    if (r->message && (failed || r->verdict != CF_PASS))
        printf("    %s\n", r->message);
    if (!failed && !verbose)
        return;
    if (failed && o->spec) {
        printf("    requirements:\n");
        for (size_t i = 0; i < r->c->n_covers; i++) {
            const cf_req *q = cf_spec_find(o->spec, r->c->covers[i].id);
            printf("      [%s] %s\n", r->c->covers[i].id, q ? q->text : "(not in the spec)");
        }
    }
    if (r->expected)
        printf("    expected:\n      %s\n", r->expected);
    if (r->arrived)
        printf("    arrived:\n      %s\n", r->arrived);
    if (r->client_output)
        printf("    client output:\n%s\n", r->client_output);
    if (r->log)
        printf("    wire log (%s):\n%s", r->c->path, r->log);
}

static void xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

int cf_report_junit(const char *path, const char *suite, const cf_result *rs, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t fails = 0, errors = 0, skipped = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        fails += rs[i].verdict == CF_FAIL;
        errors += rs[i].verdict == CF_HARNESS_ERROR;
        skipped += rs[i].verdict == CF_SKIP || rs[i].verdict == CF_UNSUPPORTED;
        total += rs[i].secs;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<testsuites name=\"cairn-conform\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "time=\"%.3f\">\n",
            n, fails, errors, total);
    fprintf(f,
            "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "skipped=\"%zu\" time=\"%.3f\">\n",
            suite, n, fails, errors, skipped, total);
    for (size_t i = 0; i < n; i++) {
        const cf_result *r = &rs[i];
        fprintf(f, "    <testcase classname=\"%s\" name=\"", suite);
        xml_escape(f, r->c->id);
        fprintf(f, ": ");
        xml_escape(f, r->c->title);
        fprintf(f, "\" time=\"%.3f\">\n", r->secs);
        fprintf(f, "      <properties><property name=\"verdict\" value=\"%s\"/>",
                cf_verdict_name(r->verdict));
        for (size_t k = 0; k < r->c->n_covers; k++)
            fprintf(f, "<property name=\"requirement\" value=\"%s %s\"/>", r->c->covers[k].id,
                    r->c->covers[k].level);
        fprintf(f, "</properties>\n");
        const char *tag = r->verdict == CF_FAIL                                     ? "failure"
                          : r->verdict == CF_HARNESS_ERROR                          ? "error"
                          : (r->verdict == CF_SKIP || r->verdict == CF_UNSUPPORTED) ? "skipped"
                                                                                    : NULL;
        if (tag) {
            fprintf(f, "      <%s message=\"%s: ", tag, cf_verdict_name(r->verdict));
            xml_escape(f, r->message);
            fprintf(f, "\">");
            if (r->expected) {
                fprintf(f, "expected: ");
                xml_escape(f, r->expected);
                fprintf(f, "\n");
            }
            if (r->arrived) {
                fprintf(f, "arrived: ");
                xml_escape(f, r->arrived);
                fprintf(f, "\n");
            }
            xml_escape(f, r->log);
            fprintf(f, "</%s>\n", tag);
        } else if (r->verdict == CF_NON_STRICT) {
            fprintf(f, "      <system-out>NON-STRICT: ");
            xml_escape(f, r->message);
            fprintf(f, "</system-out>\n");
        }
        fprintf(f, "    </testcase>\n");
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    return fclose(f);
}

int cf_report_json(const char *path, const cf_opts *o, const cf_result *rs, size_t n)
{
    json_t *root = json_object(), *cases = json_array(), *sum = json_object();
    size_t counts[CF_N_VERDICTS] = {0};
    for (size_t i = 0; i < n; i++) {
        const cf_result *r = &rs[i];
        counts[r->verdict]++;
        json_t *c = json_object(), *cov = json_array(), *tags = json_array();
        json_object_set_new(c, "id", json_string(r->c->id));
        json_object_set_new(c, "title", json_string(r->c->title));
        json_object_set_new(c, "file", json_string(r->c->path));
        json_object_set_new(c, "role",
                            json_string(r->c->role == CF_ROLE_SERVER ? "server" : "client"));
        json_object_set_new(c, "verdict", json_string(cf_verdict_name(r->verdict)));
        for (size_t k = 0; k < r->c->n_covers; k++) {
            json_t *q = json_object();
            json_object_set_new(q, "id", json_string(r->c->covers[k].id));
            json_object_set_new(q, "level", json_string(r->c->covers[k].level));
            const cf_req *sr = o->spec ? cf_spec_find(o->spec, r->c->covers[k].id) : NULL;
            if (sr)
                json_object_set_new(q, "text", json_string(sr->text));
            json_array_append_new(cov, q);
        }
        for (size_t k = 0; k < r->c->n_tags; k++)
            json_array_append_new(tags, json_string(r->c->tags[k]));
        json_object_set_new(c, "requirements", cov);
        json_object_set_new(c, "tags", tags);
        json_object_set_new(c, "seconds", json_real(r->secs));
        if (r->message)
            json_object_set_new(c, "message", json_string(r->message));
        if (r->expected)
            json_object_set_new(c, "expected", json_string(r->expected));
        if (r->arrived)
            json_object_set_new(c, "arrived", json_string(r->arrived));
        if (r->log && r->verdict != CF_PASS)
            json_object_set_new(c, "wire_log", json_string(r->log));
        if (r->client_output)
            json_object_set_new(c, "client_output", json_string(r->client_output));
        json_array_append_new(cases, c);
    }
    for (int v = 0; v < CF_N_VERDICTS; v++)
        json_object_set_new(sum, cf_verdict_name(v), json_integer((json_int_t)counts[v]));
    json_object_set_new(root, "role", json_string(o->role == CF_ROLE_SERVER ? "server" : "client"));
    json_object_set_new(root, "target",
                        json_string(o->role == CF_ROLE_SERVER ? o->target : o->exec_template));
    json_object_set_new(root, "transport", json_string(o->plaintext ? "plaintext" : "tls"));
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "cases", cases);
    int rv = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return rv;
}
