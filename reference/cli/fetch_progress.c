/* cairn fetch: error and note messages, the progress line, and the summary at the end. */
#include "fetch_int.h"

/* "DIR/NAME" without a doubled slash, for messages (network thread only;
 * two may be used in one call). */
const char *fetch_jpath(const fetch *ft, const char *name)
{
    static char buf[2][sizeof(ft->dir) + CAIRN_FILE_MAX_NAME + 2];
    static int k;
    size_t n = strlen(ft->dir);
    k ^= 1;
    snprintf(buf[k], sizeof(buf[k]), "%s%s%s", ft->dir, n && ft->dir[n - 1] == '/' ? "" : "/",
             name);
    return buf[k];
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char buf[2 * CAIRN_HASH_LEN + 1];
    if (n > CAIRN_HASH_LEN)
        n = CAIRN_HASH_LEN;
    cairn_hex_encode(buf, p, n);
    return json_string(buf);
}

/* "cairn: ..." on stderr and, with --json, {"error": {...}} on stdout. */
int fetch_fail(const fetch *ft, int exit_code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (ft->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "cairn: %s\n", text);
    if (ft->json) {
        json_t *o = json_pack("{s:{s:s, s:n, s:b, s:i}}", "error", "message", text, "code",
                              "by_peer", 0, "exit", exit_code);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    return exit_code;
}

void fetch_set_fatal(fetch *ft, const char *fmt, ...)
{
    if (ft->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ft->fatal_msg, sizeof(ft->fatal_msg), fmt, ap);
    va_end(ap);
    ft->fatal = 1;
}

void fetch_note(const fetch *ft, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ft->tty)
        fputs("\r\033[K", stderr);
    fputs("cairn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- progress --------------------------------------------------------------------------- */

static void human(char *out, size_t cap, double v)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static int active_peers(const fetch *ft)
{
    int n = 0;
    for (int i = 0; i < ft->n_peers; i++)
        n += ft->peers[i]->sched >= 0;
    return n;
}

void fetch_draw(fetch *ft, uint64_t now, int final)
{
    if (!ft->tty || !ft->have_file || (!final && now - ft->last_draw_ms < PROGRESS_MS))
        return;
    ft->last_draw_ms = now;
    uint64_t size = ft->file.geom.size, el = now - ft->start_ms;
    double rate = el ? (double)ft->bytes_new * 1000.0 / (double)el : 0;
    char done[32], total[32], r[32], eta[32] = "--:--";
    human(done, sizeof(done), (double)ft->bytes_done);
    human(total, sizeof(total), (double)size);
    human(r, sizeof(r), rate);
    if (rate > 0 && size > ft->bytes_done) {
        uint64_t s = (uint64_t)((double)(size - ft->bytes_done) / rate);
        snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
    }
    int pct = size ? (int)(ft->bytes_done * 100 / size) : 100;
    fprintf(stderr, "\r\033[K%s / %s  %3d%%  %s/s  peers %d  ETA %s", done, total, pct, r,
            active_peers(ft), eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

void fetch_summary(fetch *ft, uint64_t now)
{
    uint64_t el = now - ft->start_ms;
    if (!ft->json) {
        char size[32], rate[32];
        human(size, sizeof(size), (double)ft->file.geom.size);
        human(rate, sizeof(rate), el ? (double)ft->bytes_new * 1000.0 / (double)el : 0);
        printf("%s  %s  %" PRIu64 ".%03" PRIu64 " s  %s/s\n", fetch_jpath(ft, ft->final_name), size,
               el / 1000, el % 1000, rate);
        return;
    }
    json_t *peers = json_array(), *bad = json_array();
    for (int i = 0; i < ft->n_peers; i++) {
        fpeer *p = ft->peers[i];
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:b}", "addr", p->addr, "chunks",
                              (json_int_t)p->chunks, "bytes", (json_int_t)p->bytes, "duplicates",
                              (json_int_t)p->dups, "refused", (json_int_t)p->refused, "status",
                              p->status, "discovered", p->discovered);
        if (p->ready)
            json_object_set_new(o, "node_id", hex_json(p->node_id, CAIRN_HASH_LEN));
        if (p->error[0])
            json_object_set_new(o, "error", json_string(p->error));
        json_array_append_new(peers, o);
        if (!strcmp(p->status, "bad_chunk"))
            json_array_append_new(bad, json_string(p->addr));
    }
    char path[4400];
    snprintf(path, sizeof(path), "%s", fetch_jpath(ft, ft->final_name));
    json_t *o = json_pack(
        "{s:o, s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "file_id",
        hex_json(ft->id, CAIRN_HASH_LEN), "path", path, "name", ft->final_name, "size",
        (json_int_t)ft->file.geom.size, "chunk_size", 1 << ft->file.geom.chunk_log2, "chunks",
        (json_int_t)ft->file.geom.n_chunks, "resumed_chunks", (json_int_t)ft->resumed_chunks,
        "downloaded_bytes", (json_int_t)ft->bytes_new, "duplicate_bytes", (json_int_t)ft->bytes_dup,
        "elapsed_ms", (json_int_t)el, "bytes_per_second",
        (json_int_t)(el ? ft->bytes_new * 1000 / el : 0), "peers", peers, "bad_peers", bad);
    char *s = json_dumps(o, JSON_COMPACT);
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}
