/*
 * The `cairn` command-line client: shared pieces for its commands (option
 * parsing, connecting with the global options, errors and exit codes, text
 * and JSON formatting). Commands live in cmd_*.c, fetch.c and manifest.c;
 * main.c dispatches.
 *
 * Conventions every command follows:
 *   - results on stdout; with --json exactly one JSON object on stdout (an
 *     {"error": {...}} object on any failure but a usage error), snake_case
 *     field names, block and node IDs as 64 lower-case hex digits, times as
 *     Unix ms integers, u64 values above 2^63 - 1 as decimal strings;
 *   - errors on stderr as one line "cairn: <plain words>", with the spec's
 *     error code name when the session closed with one;
 *   - exit codes CLI_EXIT_*.
 */
#ifndef CAIRN_CLI_CLI_H
#define CAIRN_CLI_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "client.h"

#define CAIRN_CLI_VERSION "0.1.0"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,      /* protocol or connection failure, timeout */
    CLI_EXIT_USAGE = 2,     /* bad command line */
    CLI_EXIT_NOT_FOUND = 3, /* the peer answered NotFound */
    CLI_EXIT_WRONG_ID = 4,  /* [ADDR-3] the peer proved another node ID (WRONG_NODE_ID) */
    CLI_EXIT_UNAVAILABLE = 127,
};

/* Options every command accepts (see `cairn --help`). */
typedef struct cli_common {
    const char *cmd;  /* command name, for messages */
    const char *addr; /* first positional argument of network commands */
    const cairn_network *net;
    int plaintext, json, trace, help;
    uint64_t timeout_ms;
    const char *key_file;
    uint8_t node_id[32]; /* --node-id HEX: the node ID the peer must prove */
    int has_node_id;
    uint64_t start_ms; /* monotonic ms when the command started: the deadline base */
    char error[256];   /* set by cli_parse on a usage error */
} cli_common;

/* A command's own option. `*value` receives its argument, or "" for a flag;
 * it stays NULL when the option is absent. */
typedef struct cli_option {
    const char *name; /* long name without the leading "--" */
    int takes_value;
    const char **value;
} cli_option;

/*
 * Parses argv[1..argc) (argv[0] is the command name): the global options
 * (--plaintext, --network NAME, --timeout SECONDS, --key FILE, --json,
 * --trace, --help/-h), the command's `opts`, and up to `max_pos` positional
 * arguments into `pos`. Options may come before or after positionals, as
 * "--name value" or "--name=value"; "--" ends options. Returns 0, or
 * CLI_EXIT_USAGE with o->error set. Does not check the positional count.
 */
int cli_parse(cli_common *o, int argc, char **argv, const cli_option *opts, size_t n_opts,
              const char **pos, size_t max_pos, size_t *n_pos);

/* cli_begin's answer when the command goes on. */
#define CLI_CONTINUE (-1)

/*
 * The prologue every command shares: cli_parse, --help answered with `usage`,
 * and, when `expected` is not NULL, exactly `n_pos` positional arguments
 * ("expected <expected>" otherwise), the first of which is the peer's
 * address (o->addr). Returns CLI_CONTINUE, or the exit code the command
 * returns at once (CLI_EXIT_OK after --help, CLI_EXIT_USAGE with the message
 * printed).
 */
int cli_begin(cli_common *o, int argc, char **argv, const cli_option *opts, size_t n_opts,
              const char *usage, const char **pos, size_t n_pos, const char *expected);

/* Strict decimal parsers: 0 on success, -1 otherwise. */
int cli_parse_u64(const char *s, uint64_t *out);
/* "2", "0.5": seconds in (0, 86400], to milliseconds. */
int cli_parse_seconds(const char *s, uint64_t *ms);

/* Prints a command's usage text and the common options on stdout; returns 0. */
int cli_help(const char *usage);

/* Usage error: "cairn CMD: <why>" and a --help pointer on stderr. */
int cli_usage_error(const cli_common *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Prints a failure: "cairn: <text>" on stderr and, with --json, an
 * {"error": {"message", "code", "by_peer", "exit"}} object on stdout
 * (`code` is the wire error name or null). Returns `exit_code`.
 */
int cli_fail(const cli_common *o, int exit_code, uint32_t code, int by_peer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Reports a client call's outcome `rv` (nonzero) through cli_fail: a failure
 * with the client's words and exit 1; NotFound with `what` and exit 3; a
 * non-fatal Error answer with its code, reason and exit 1. `what` names the
 * request's object, e.g. "block at height 7".
 */
int cli_client_fail(const cli_common *o, cairn_client *c, int rv, const cairn_client_response *resp,
                    const char *what);

/*
 * Opens a client with the global options: address, network, TLS or
 * plaintext, the --key identity (else a fresh one), the deadline
 * start_ms + timeout, and --trace. On failure prints why and returns the exit
 * code (the client is deleted and *out is NULL).
 */
int cli_open(const cli_common *o, cairn_client **out);

/* Deletes a client from cli_open (polite close) and the --key identity. */
void cli_close(cairn_client *c);

/* Whether the peer advertised `bit` ([REQ-16]); prints why not and returns
 * CLI_EXIT_FAIL when it did not. */
int cli_need_service(const cli_common *o, cairn_client *c, uint64_t bit);

/* Prints `obj` as one line of JSON on stdout and releases it. */
void cli_emit(json_t *obj);

/*
 * Reads a node key file: the first line holds the 32-byte Ed25519 seed as 64
 * hex digits (the format of cairnd's DATADIR/node.key). Returns 0, or -1 with
 * `err` set.
 */
int cli_load_key(const char *path, cairn_identity **out, char *err, size_t errlen);

/* ---- formatting (format.c) -------------------------------------------------------- */

/* Hex of `n` bytes into a JSON string. */
json_t *cli_json_hex(const uint8_t *p, size_t n);
/* A u64 as a JSON integer, or as a decimal string above 2^63 - 1 (jansson's
 * integers are signed). */
json_t *cli_json_u64(uint64_t v);
/* "2026-01-01T00:00:00.000Z" (UTC) from Unix ms; 32 bytes are enough. */
void cli_format_time(char *out, size_t cap, uint64_t ms);
/* "CHAIN,RELAY,PEERS", "none", unknown bits as "bit9". */
void cli_format_services(char *out, size_t cap, uint64_t services);
json_t *cli_services_json(uint64_t services);
/* 256-bit big-endian work as "0x1000" (no leading zeros). 67 bytes are enough. */
void cli_format_work(char *out, size_t cap, const uint8_t be[32]);
/* Whether bytes are text worth showing: valid UTF-8 without control characters
 * other than tab, newline and carriage return. */
int cli_is_text(const uint8_t *p, size_t n);
/*
 * Quoted display form of untrusted bytes: "..." with \n, \t, \r, \", \\ and
 * \xNN escapes for other control or non-UTF-8 bytes; at most `cap` - 1 bytes
 * written, cut with "..." when longer.
 */
void cli_quote(char *out, size_t cap, const uint8_t *p, size_t n);

/* A 96-byte header: its fields and ID. */
json_t *cli_header_json(const uint8_t raw[CAIRN_BLOCK_HEADER_LEN]);
/* One entry: kind, length, entry ID, text or hex data, or a decoded manifest. */
json_t *cli_entry_json(size_t index, const uint8_t *e, size_t len);
/* The same, as indented text lines. */
void cli_entry_print(FILE *f, size_t index, const uint8_t *e, size_t len);
/* Header fields as "name  value" lines. */
void cli_header_print(FILE *f, const uint8_t raw[CAIRN_BLOCK_HEADER_LEN]);

/*
 * [SYNC-30] The checks of §9.5 a client can make without the chain: sizes,
 * count, version, bits, proof of work, the genesis rule, entries, duplicates
 * and entries_root (link, height and time need the parent). On failure closes
 * the session with INVALID_BLOCK, prints why and returns CLI_EXIT_FAIL.
 */
int cli_check_block(const cli_common *o, cairn_client *c, const Cairn__V1__Block *b);

/* ---- commands -------------------------------------------------------------------- */

/* Each takes argv[0] = command name; returns an exit code. */
int cmd_info(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_headers(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
/* Provided by fetch.c and manifest.c (files, issue 5) when they are built;
 * weak so that the client links without them (main checks for NULL). */
int cmd_fetch(int argc, char **argv) __attribute__((weak));
int cmd_manifest(int argc, char **argv) __attribute__((weak));

#endif
