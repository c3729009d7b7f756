/*
 * cairn: a command-line Cairn client. Each command opens one session to a
 * node over TLS 1.3 (or plaintext), speaks the protocol like any peer, and
 * prints what it learnt. See `cairn --help` and `cairn COMMAND --help`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (**weak)(int, char **); /* for commands that may be absent */
    int (*fn)(int, char **);
    const char *synopsis;
} command;

static int (*fetch_fn)(int, char **);
static int (*manifest_fn)(int, char **);

static const command commands[] = {
    {"info", NULL, cmd_info, "info ADDR                   node ID, network, height, tip"},
    {"ping", NULL, cmd_ping, "ping ADDR                   round trip times"},
    {"headers", NULL, cmd_headers, "headers ADDR                block headers from genesis"},
    {"block", NULL, cmd_block, "block ADDR ID|HEIGHT        one block and its entries"},
    {"submit", NULL, cmd_submit, "submit ADDR --data TEXT     submit a data record"},
    {"peers", NULL, cmd_peers, "peers ADDR                  addresses the peer knows"},
    {"keygen", NULL, cmd_keygen, "keygen [--out FILE]         make a node key"},
    {"fetch", &fetch_fn, NULL, "fetch FILE_ID --from ADDR    download and verify a file"},
    {"manifest", &manifest_fn, NULL, "manifest PATH               file ID and manifest of a file"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "Usage: cairn [OPTIONS] COMMAND [ARGS] [OPTIONS]\n\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fprintf(f, "\nOptions (for every command):\n"
               "  --plaintext  --network devnet|testnet  --timeout SECONDS  --key FILE\n"
               "  --json  --trace  --help\n"
               "\nRun 'cairn COMMAND --help' for a command's arguments and output.\n");
}

/* Global options given before the command that take a value. */
static int takes_value(const char *arg)
{
    return !strcmp(arg, "--network") || !strcmp(arg, "--timeout") || !strcmp(arg, "--key");
}

int main(int argc, char **argv)
{
    fetch_fn = cmd_fetch;
    manifest_fn = cmd_manifest;
    /* Options may precede the command: find it, then hand the command its
     * name followed by every other argument, in order. */
    int i = 1;
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("cairn %s\n", CAIRN_CLI_VERSION);
            return CLI_EXIT_OK;
        }
        i += takes_value(argv[i]) ? 2 : 1;
    }
    if (i >= argc || argv[i][0] == '-') {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const command *cmd = NULL;
    for (size_t k = 0; k < N_COMMANDS; k++)
        if (!strcmp(commands[k].name, argv[i]))
            cmd = &commands[k];
    if (!cmd) {
        fprintf(stderr, "cairn: unknown command '%s'\n", argv[i]);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    int (*fn)(int, char **) = cmd->weak ? *cmd->weak : cmd->fn;
    if (!fn) {
        fprintf(stderr, "cairn: %s is not available in this build\n", cmd->name);
        return CLI_EXIT_UNAVAILABLE;
    }
    char **args = malloc(sizeof(*args) * ((size_t)argc + 1));
    if (!args)
        return CLI_EXIT_FAIL;
    int n = 0;
    args[n++] = argv[i];
    for (int k = 1; k < argc; k++)
        if (k != i)
            args[n++] = argv[k];
    args[n] = NULL;
    int ex = fn(n, args);
    free(args);
    return ex;
}
