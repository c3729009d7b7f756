/* The HTML report: an index and one page per case, readable without JavaScript. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "html.h"

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '<')
            fputs("&lt;", f);
        else if (ch == '>')
            fputs("&gt;", f);
        else if (ch == '&')
            fputs("&amp;", f);
        else if (ch == '"')
            fputs("&quot;", f);
        else if (ch < 0x20 && ch != '\n' && ch != '\t')
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

/* Case IDs are [A-Z0-9-]; anything else becomes '_' in a file name. */
static void page_name(char *out, size_t cap, const char *id)
{
    size_t i = 0;
    for (; id[i] && i + 6 < cap; i++) {
        char ch = id[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.';
        out[i] = ok ? ch : '_';
    }
    snprintf(out + i, cap - i, ".html");
}

static const char *verdict_class(int v)
{
    switch (v) {
    case CF_PASS:
        return "pass";
    case CF_NON_STRICT:
        return "nonstrict";
    case CF_SKIP:
    case CF_UNSUPPORTED:
        return "skip";
    default:
        return "fail";
    }
}

static void head(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    esc(f, title);
    fputs("</title>\n<style>\n"
          "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em}\n"
          "table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
          "text-align:left;vertical-align:top}\n"
          "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:13px}\n"
          ".pass{color:#176e2c}.fail{color:#b3141c}.nonstrict{color:#8a5a00}.skip{color:#666}\n"
          ".v{font-weight:bold}code{font-size:13px}\n"
          "</style>\n</head>\n<body>\n",
          f);
}

/* The lines of the case file that state what may happen: expect, or, else. */
static void permitted(FILE *f, const cf_case *c)
{
    FILE *in = fopen(c->path, "r");
    if (!in) {
        fputs("<p>(the case file cannot be read)</p>\n", f);
        return;
    }
    char line[4096];
    int no = 0, any = 0;
    fputs("<pre>", f);
    while (fgets(line, sizeof(line), in)) {
        no++;
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, "expect", 6) && strncmp(p, "or ", 3) && strncmp(p, "else", 4))
            continue;
        fprintf(f, "%4d  ", no);
        esc(f, p);
        any = 1;
    }
    if (!any)
        fputs("(no expect step: the case passes when every step completes)\n", f);
    fputs("</pre>\n", f);
    fclose(in);
}

static int case_page(const char *dir, const char *pcap_dir, const cf_opts *o, const cf_result *r)
{
    char name[128], path[PATH_MAX];
    page_name(name, sizeof(name), r->c->id);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const cf_case *c = r->c;
    char title[512];
    snprintf(title, sizeof(title), "%s — %s", c->id, cf_verdict_name(r->verdict));
    head(f, title);
    fputs("<p><a href=\"index.html\">All cases</a></p>\n<h1>", f);
    esc(f, c->id);
    fputs("</h1>\n<p>", f);
    esc(f, c->title);
    fprintf(f, "</p>\n<p>Verdict: <span class=\"v %s\">%s</span> in %.2f s",
            verdict_class(r->verdict), cf_verdict_name(r->verdict), r->secs);
    if (pcap_dir) {
        fputs(" · capture: <a href=\"", f);
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s.pcap", pcap_dir, c->id);
        esc(f, rel);
        fputs("\"><code>", f);
        esc(f, c->id);
        fputs(".pcap</code></a>", f);
    }
    fputs("</p>\n", f);
    if (r->message) {
        fputs("<pre>", f);
        esc(f, r->message);
        fputs("</pre>\n", f);
    }
    fputs("<h2>Requirements</h2>\n<table>\n<tr><th>ID</th><th>Level</th><th>Text</th></tr>\n", f);
    for (size_t i = 0; i < c->n_covers; i++) {
        const cf_req *q = o->spec ? cf_spec_find(o->spec, c->covers[i].id) : NULL;
        fputs("<tr><td><code>", f);
        esc(f, c->covers[i].id);
        fputs("</code></td><td>", f);
        esc(f, q ? q->level : "");
        fputs("</td><td>", f);
        esc(f, q ? q->text : "(not in the spec)");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h2>Permitted outcomes</h2>\n<p>From <code>", f);
    esc(f, c->path);
    fputs("</code> (line numbers); the first alternative that completes decides.</p>\n", f);
    permitted(f, c);
    fputs("<h2>Actual outcome</h2>\n", f);
    if (r->expected) {
        fputs("<h3>Expected</h3>\n<pre>", f);
        esc(f, r->expected);
        fputs("</pre>\n", f);
    }
    if (r->arrived) {
        fputs("<h3>Arrived</h3>\n<pre>", f);
        esc(f, r->arrived);
        fputs("</pre>\n", f);
    }
    if (!r->expected && !r->arrived)
        fprintf(f, "<p>%s%s</p>\n", cf_verdict_name(r->verdict),
                r->verdict == CF_PASS ? ": a permitted outcome arrived" : "");
    if (r->client_output) {
        fputs("<h3>Client output</h3>\n<pre>", f);
        esc(f, r->client_output);
        fputs("</pre>\n", f);
    }
    fputs("<h2>Wire log</h2>\n<p>Milliseconds since the case started, the connection, then "
          "<code>-&gt;</code> sent by the harness or <code>&lt;-</code> received from the "
          "implementation, each frame decoded (the proto3 JSON mapping).</p>\n<pre>",
          f);
    esc(f, r->log ? r->log : "(empty)");
    fputs("</pre>\n</body>\n</html>\n", f);
    return fclose(f) ? -1 : 0;
}

int cf_report_html(const char *dir, const char *pcap_dir, const cf_opts *o, const cf_result *rs,
                   size_t n)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return -1;
    size_t counts[CF_N_VERDICTS] = {0};
    for (size_t i = 0; i < n; i++) {
        counts[rs[i].verdict]++;
        if (case_page(dir, pcap_dir, o, &rs[i]))
            return -1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const char *role = o->role == CF_ROLE_SERVER ? "server" : "client";
    head(f, "cairn-conform report");
    fprintf(f, "<h1>cairn-conform: %s role", role);
    if (o->target) {
        fputs(", ", f);
        esc(f, o->target);
    }
    fprintf(f, "</h1>\n<p>%zu cases: ", n);
    for (int v = 0; v < CF_N_VERDICTS; v++)
        if (counts[v])
            fprintf(f, "<span class=\"%s\">%zu %s</span> ", verdict_class(v), counts[v],
                    cf_verdict_name(v));
    fprintf(f, "· transport %s</p>\n", o->plaintext ? "plaintext" : "TLS 1.3");
    fputs("<table>\n<tr><th>Verdict</th><th>Case</th><th>Title</th><th>Time</th>"
          "<th>Requirements</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const cf_result *r = &rs[i];
        char name[128];
        page_name(name, sizeof(name), r->c->id);
        fprintf(f, "<tr><td class=\"v %s\">%s</td><td><a href=\"%s\">", verdict_class(r->verdict),
                cf_verdict_name(r->verdict), name);
        esc(f, r->c->id);
        fputs("</a></td><td>", f);
        esc(f, r->c->title);
        fprintf(f, "</td><td>%.2f s</td><td>", r->secs);
        for (size_t k = 0; k < r->c->n_covers; k++) {
            fputs(k ? " " : "", f);
            esc(f, r->c->covers[k].id);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</body>\n</html>\n", f);
    return fclose(f) ? -1 : 0;
}
