/*
 * cli_integration: every cairn command against a real cairnd --mine on
 * devnet, over TLS and over plaintext, on 127.0.0.1 only. Each wait is
 * bounded; the node is stopped at the end, on failure too (atexit, signal
 * handlers, and PR_SET_PDEATHSIG should this process be killed).
 *
 * Usage: test_cli_integration PATH/TO/cairn PATH/TO/cairnd
 * Exit: 0 pass, 1 fail, 77 skipped (cairnd not built).
 */
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proc.h"

static const char *cairn_bin, *cairnd_bin;
static pid_t node_pid = -1;
static char node_log[512];
static const char *mode; /* "tls" or "plaintext" */
static int checks;

static void stop_node(void)
{
    if (node_pid > 0)
        proc_stop(node_pid, 10000);
    node_pid = -1;
}

static void on_signal(int sig)
{
    if (node_pid > 0)
        kill(node_pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void dump_log(void)
{
    FILE *f = fopen(node_log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- cairnd log (%s) ----\n", node_log);
    char line[1024];
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

static void fail(const char *what, const proc_result *r)
{
    printf("not ok %d - [%s] %s\n", ++checks, mode, what);
    if (r)
        fprintf(stderr, "exit %d after %ld ms\nstdout: %s\nstderr: %s\n", r->status, r->ms,
                r->out ? r->out : "", r->err ? r->err : "");
    dump_log();
    exit(1); /* atexit stops the node */
}

static void pass(const char *what)
{
    printf("ok %d - [%s] %s\n", ++checks, mode, what);
    fflush(stdout);
}

/* Runs cairn with `args` (NULL-terminated) plus --plaintext in that mode. */
static int cairn(proc_result *r, const char *const *args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)cairn_bin;
    for (; *args && n < 30; args++)
        argv[n++] = (char *)*args;
    if (strcmp(mode, "plaintext") == 0)
        argv[n++] = "--plaintext";
    argv[n] = NULL;
    return proc_run(argv, 60000, r);
}

#define CAIRN(r, ...) cairn((r), (const char *const[]){__VA_ARGS__, NULL})

static json_t *json_of(const proc_result *r, const char *what)
{
    json_t *j = json_loads(r->out, 0, NULL);
    if (!j)
        fail(what, r);
    return j;
}

static json_int_t jint(json_t *j, const char *k)
{
    return json_integer_value(json_object_get(j, k));
}

static const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) || getsockname(fd, (void *)&sa, &len)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts cairnd and waits until `cairn info` sees height >= 1. */
static void start_node(const char *dir, char *addr, size_t cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port();
        snprintf(addr, cap, "127.0.0.1:%d", port);
        snprintf(node_log, sizeof(node_log), "%s/cairnd.log", dir);
        char *argv[] = {(char *)cairnd_bin, "--datadir", (char *)dir, "--listen", addr,
                        "--mine",           NULL,        NULL};
        if (strcmp(mode, "plaintext") == 0)
            argv[6] = "--plaintext";
        node_pid = proc_spawn(argv, node_log);
        long t0 = proc_now_ms();
        while (proc_now_ms() - t0 < 30000) {
            int st;
            if (waitpid(node_pid, &st, WNOHANG) == node_pid) { /* died: port taken? */
                node_pid = -1;
                break;
            }
            proc_result r;
            int ex = CAIRN(&r, "info", addr, "--json", "--no-header", "--timeout", "2");
            json_t *j = ex == 0 ? json_loads(r.out, 0, NULL) : NULL;
            json_int_t h = j ? jint(j, "height") : 0;
            json_decref(j);
            proc_result_free(&r);
            if (h >= 1)
                return;
            poll(NULL, 0, 250);
        }
        if (node_pid > 0)
            fail("cairnd mines a first block within 30 s", NULL);
    }
    fail("cairnd starts", NULL);
}

static void run_mode(const char *m)
{
    mode = m;
    char dir[] = "/tmp/cairn-cli-integration-XXXXXX", addr[64], key[600];
    if (!mkdtemp(dir))
        fail("mkdtemp", NULL);
    start_node(dir, addr, sizeof(addr));
    pass("cairnd --mine is up and `info` sees height >= 1");
    proc_result r;
    json_t *j;

    if (CAIRN(&r, "info", addr, "--json") != 0)
        fail("info --json", &r);
    j = json_of(&r, "info --json is JSON");
    if (strlen(jstr(j, "node_id")) != 64 || strcmp(jstr(j, "network"), "devnet") ||
        jint(j, "height") < 1 || strlen(jstr(j, "tip")) != 64)
        fail("info --json has node_id, network, height >= 1, tip", &r);
    json_decref(j);
    proc_result_free(&r);
    if (CAIRN(&r, "info", addr) != 0 || !strstr(r.out, "node_id ") || !strstr(r.out, "tip header"))
        fail("info (text)", &r);
    proc_result_free(&r);
    pass("info");

    if (CAIRN(&r, "ping", addr, "--count", "2") != 0 || !strstr(r.out, "seq=2 time="))
        fail("ping --count 2", &r);
    proc_result_free(&r);
    pass("ping");

    if (CAIRN(&r, "headers", addr, "--json") != 0)
        fail("headers --json", &r);
    j = json_of(&r, "headers --json is JSON");
    json_t *hs = json_object_get(j, "headers");
    if (jint(j, "count") < 2 ||
        strcmp(jstr(json_array_get(hs, 0), "id"),
               "0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c") ||
        strcmp(jstr(json_array_get(hs, 1), "prev_id"), jstr(json_array_get(hs, 0), "id")))
        fail("headers start at the devnet genesis and link", &r);
    json_decref(j);
    proc_result_free(&r);
    if (CAIRN(&r, "headers", addr, "--from", "1", "--limit", "1") != 0 || !strstr(r.out, "\n1 "))
        fail("headers --from 1 --limit 1", &r);
    proc_result_free(&r);
    pass("headers");

    if (CAIRN(&r, "block", addr, "0", "--json") != 0)
        fail("block 0", &r);
    j = json_of(&r, "block 0 is JSON");
    if (strcmp(jstr(json_array_get(json_object_get(j, "entries"), 0), "text"),
               "Cairn devnet genesis: every block rests on the one below"))
        fail("block 0 holds the genesis record", &r);
    json_decref(j);
    proc_result_free(&r);
    if (CAIRN(&r, "block", addr, "99999999") != 3 || !strstr(r.err, "NotFound"))
        fail("block 99999999 exits 3 (NotFound)", &r);
    proc_result_free(&r);
    pass("block");

    char data[96];
    snprintf(data, sizeof(data), "cli integration %s %d", m, (int)getpid());
    if (CAIRN(&r, "submit", addr, "--data", data, "--wait", "--json", "--timeout", "30") != 0)
        fail("submit --wait finds the entry in a block within 30 s", &r);
    j = json_of(&r, "submit is JSON");
    char height[24], block_id[65];
    snprintf(height, sizeof(height), "%lld", (long long)jint(j, "height"));
    snprintf(block_id, sizeof(block_id), "%s", jstr(j, "block_id"));
    if (strlen(jstr(j, "entry_id")) != 64 || strlen(block_id) != 64)
        fail("submit reports entry_id and block_id", &r);
    json_decref(j);
    proc_result_free(&r);
    pass("submit --wait");
    if (CAIRN(&r, "block", addr, height, "--json") != 0)
        fail("block HEIGHT of the submitted entry", &r);
    j = json_of(&r, "block is JSON");
    int found = 0;
    json_t *es = json_object_get(j, "entries");
    for (size_t i = 0; i < json_array_size(es); i++)
        found |= strcmp(jstr(json_array_get(es, i), "text"), data) == 0;
    if (!found || strcmp(jstr(j, "id"), block_id))
        fail("the block holds the submitted entry", &r);
    json_decref(j);
    proc_result_free(&r);
    if (CAIRN(&r, "block", addr, block_id) != 0 || !strstr(r.out, data))
        fail("block ID shows the entry as text", &r);
    proc_result_free(&r);
    pass("block finds the submitted entry, by height and by ID");

    if (CAIRN(&r, "peers", addr, "--json") != 0)
        fail("peers --json", &r);
    j = json_of(&r, "peers is JSON");
    if (!json_is_array(json_object_get(j, "peers")))
        fail("peers --json has a peers list", &r);
    json_decref(j);
    proc_result_free(&r);
    pass("peers");

    snprintf(key, sizeof(key), "%s/client.key", dir);
    if (CAIRN(&r, "keygen", "--out", key, "--json") != 0)
        fail("keygen --out", &r);
    proc_result_free(&r);
    if (CAIRN(&r, "info", addr, "--key", key, "--no-header") != 0)
        fail("info --key", &r);
    proc_result_free(&r);
    pass("keygen --out, then --key");

    if (CAIRN(&r, "info", addr, "--network", "testnet") != 1 || !strstr(r.err, "WRONG_NETWORK"))
        fail("--network testnet: exit 1 with WRONG_NETWORK", &r);
    proc_result_free(&r);
    {
        char *argv[] = {(char *)cairn_bin,
                        "info",
                        addr,
                        "--timeout",
                        "5",
                        strcmp(m, "tls") == 0 ? "--plaintext" : NULL,
                        NULL};
        if (proc_run(argv, 20000, &r) != 1)
            fail("the other transport fails with exit 1", &r);
        proc_result_free(&r);
    }
    pass("errors: wrong network, wrong transport");

    if (proc_stop(node_pid, 10000) != 0) {
        node_pid = -1;
        fail("cairnd stops cleanly on SIGTERM", NULL);
    }
    node_pid = -1;
    pass("cairnd stopped");
    char rm[200];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH/TO/cairn PATH/TO/cairnd\n", argv[0]);
        return 2;
    }
    cairn_bin = argv[1];
    cairnd_bin = argv[2];
    if (access(cairnd_bin, X_OK) != 0) {
        printf("SKIP: cairnd not built (%s)\n", cairnd_bin);
        return 77;
    }
    atexit(stop_node);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    run_mode("tls");
    run_mode("plaintext");
    printf("1..%d\n", checks);
    return 0;
}
