/*
 * cairn-conform: the conformance harness (conformance/README.md).
 *
 * One process runs cases one after the other. A case is parsed from its file
 * (case.c) into a list of steps; the interpreter (run.c) executes the steps
 * over one or more connections (wire.c) to the implementation under test
 * (IUT), matching what arrives against patterns (match.c), acting as an
 * ordinary peer where the case does not say otherwise (peer.c: Hello, Auth,
 * answers from the fixture chain and files of fixture.c). Results go to the
 * terminal, JUnit and JSON (report.c).
 */
#ifndef CAIRN_CONFORM_H
#define CAIRN_CONFORM_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "cairn/block.h"
#include "cairn/msg.h"

/* ---- verdicts -------------------------------------------------------------- */

enum cf_verdict {
    CF_PASS = 0,
    CF_NON_STRICT,
    CF_SKIP,
    CF_UNSUPPORTED,
    CF_FAIL,
    CF_HARNESS_ERROR,
    CF_N_VERDICTS
};
const char *cf_verdict_name(int v);
/* Parses PASS, NON-STRICT, FAIL, SKIP, UNSUPPORTED; -1 when unknown. */
int cf_verdict_parse(const char *s);

/* ---- case files (case.c) ---------------------------------------------------- */

enum cf_role { CF_ROLE_SERVER = 1, CF_ROLE_CLIENT = 2 };

enum cf_op {
    OP_CONNECT = 1,
    OP_USE,
    OP_CLOSE,
    OP_HELLO,
    OP_AUTH,
    OP_HANDSHAKE,
    OP_SEND,
    OP_SEND_FRAME,
    OP_SEND_RAW,
    OP_EXPECT,
    OP_BARRIER,
    OP_ALLOW,
    OP_DISALLOW,
    OP_AUTO,
    OP_PONG,
    OP_SERVE,
    OP_SYNC,
    OP_REPEAT,
    OP_END,
    OP_EXIT,
    OP_SET,
    OP_SETTLE,
};

/* An alternative's verdict meaning PASS, and the case ends there. */
#define CF_DONE 100

enum cf_event_kind {
    EV_MSG = 1,   /* a frame of `type` whose message matches `pattern` */
    EV_CLOSE,     /* the peer closed the connection (EOF, reset) */
    EV_NOTHING,   /* nothing (but allowed interleaving) arrives within the window */
    EV_TLS_ALERT, /* TLS failed or an alert arrived; `alert` names it or is empty */
};

typedef struct cf_event {
    int kind;
    uint16_t type;
    json_t *pattern; /* EV_MSG: may be NULL (any message of that type) */
    char alert[48];  /* EV_TLS_ALERT: alert name; EV_CLOSE: "close_notify" or empty */
} cf_event;

typedef struct cf_alt {
    cf_event *ev;
    size_t n_ev;
    int verdict;
    char *text; /* shown with a NON-STRICT or FAIL verdict */
} cf_alt;

/* Split points and gaps for sending one frame or raw bytes. */
typedef struct cf_split {
    size_t at[64];
    size_t n;
    unsigned gap_ms;
} cf_split;

typedef struct cf_step {
    int op;
    int line;
    char name[48]; /* connection, message type, view, variable */
    char key[32];  /* connect/auth: harness key name */
    char src[32];  /* connect: source address name */
    char alpn[32]; /* connect: ALPN to offer ("none" for none) */
    char cert[32]; /* connect: key of the TLS certificate, when not the session's */
    int tls12;     /* connect: 1 = offer TLS 1.2 only, -1 = no TLS on this connection,
                      2 = early data, 3 = mandatory parameters only, 4 = odd certificate */
    int flag;      /* auto/pong on/off; auth corrupt (1), forge=small-r (2), forge=s+l (3);
                      close abort; expect exit kind */
    int role;      /* auth: 0 = ours, 1 = the peer's role byte */
    int binding;   /* auth: 0 = the real binding, 1 = none, 2 = a wrong one */
    long num;      /* repeat count, exit code, type/length overrides */
    long type_override, length_override;
    json_t *json; /* message fields, or a value for `set` */
    uint8_t *raw; /* send-raw / send-frame payload / append / prepend */
    size_t raw_len;
    uint8_t *append, *prepend;
    size_t append_len, prepend_len;
    cf_split split;
    uint16_t types[32]; /* allow/disallow */
    size_t n_types;
    cf_alt *alts; /* expect */
    size_t n_alts;
    int else_verdict; /* -1: the case default */
    char *else_text;
    long within_ms; /* expect: 0 = default window */
    int within_sym; /* expect: 1 = handshake timeout, 2 = idle timeout, 3 = ping interval */
    size_t end;     /* repeat: index of the matching end */
} cf_step;

typedef struct cf_cover {
    char id[24];
    char level[16];
} cf_cover;

typedef struct cf_case {
    char *path;
    char id[64];
    char *title;
    int role;
    cf_cover covers[48];
    size_t n_covers;
    char tags[16][32];
    size_t n_tags;
    char action[32];     /* client role: the action */
    char *args;          /* client role: the action's arguments, after the address */
    char *action_prefix; /* client role: words the action puts before the address */
    char needs[8][16];   /* chain, files, timer:handshake, ... */
    size_t n_needs;
    int transport; /* 0 any, 1 tls only, 2 plaintext only */
    char *note;
    cf_step *steps;
    size_t n_steps;
} cf_case;

/* Parses a case file. Returns 0, or -1 with a message "file:line: ..." in err. */
int cf_case_parse(cf_case *c, const char *path, const char *text, char *err, size_t errlen);
int cf_case_load(cf_case *c, const char *path, char *err, size_t errlen);
void cf_case_free(cf_case *c);
int cf_case_has_tag(const cf_case *c, const char *tag);

/* contract.c: the client-under-test contract (`cairn-conform client --help`). */
void cf_print_client_contract(FILE *f);
int cf_case_needs(const cf_case *c, const char *need);
/* The strictest level among the requirements a case covers (MUST if any). */
int cf_case_is_must(const cf_case *c);

/* Helpers shared by the parser and the tools. */
int cf_hex_parse(const char *s, uint8_t **out, size_t *len, size_t *splits, size_t *n_splits,
                 size_t max_splits);
uint16_t cf_type_parse(const char *s); /* registry name or number; 0 when unknown */
const char *cf_type_name(uint16_t type, char buf[16]);

/* ---- requirements (spec.c) ---------------------------------------------------- */

typedef struct cf_req {
    char id[24];
    char level[16];
    int observable;
    char *text;
} cf_req;

typedef struct cf_spec {
    cf_req *reqs;
    size_t n;
} cf_spec;

int cf_spec_load(cf_spec *s, const char *path);
void cf_spec_free(cf_spec *s);
const cf_req *cf_spec_find(const cf_spec *s, const char *id);

/* ---- fixtures (fixture.c) ------------------------------------------------------ */

typedef struct cf_block {
    uint8_t header[CAIRN_BLOCK_HEADER_LEN];
    uint8_t id[32];
    uint64_t height;
    cairn_bytes_ref *entries; /* owned */
    size_t n_entries;
} cf_block;

typedef struct cf_branch {
    char name[32];
    cf_block *blocks; /* ordered by height: blocks[0] is the first block after the fork */
    size_t n;
    uint64_t first_height;
    char parent[32]; /* the branch it forks from ("main" forks from genesis) */
} cf_branch;

typedef struct cf_file {
    char name[32];
    uint8_t *data;
    size_t size;
    unsigned chunk_log2;
    uint8_t manifest[CAIRN_MANIFEST_MAX_LEN];
    size_t manifest_len;
    uint8_t id[32];
    uint64_t n_chunks;
    uint8_t (*leaves)[32];
} cf_file;

typedef struct cf_fixtures {
    cf_block genesis;
    cf_branch branches[32];
    size_t n_branches;
    cf_block bad[32]; /* invalid blocks and headers, by name */
    char bad_names[32][32];
    size_t n_bad;
    cf_file files[8];
    size_t n_files;
    size_t main_loaded; /* main-chain height delivered to the IUT before cases */
} cf_fixtures;

int cf_fixtures_load(cf_fixtures *f, const char *dir, char *err, size_t errlen);
void cf_fixtures_free(cf_fixtures *f);
const cf_branch *cf_fixtures_branch(const cf_fixtures *f, const char *name);
const cf_file *cf_fixtures_file(const cf_fixtures *f, const char *name);
/* Fixture variables ($chain.5.id, $file.three.id, ...) as JSON values. */
json_t *cf_fixtures_var(const cf_fixtures *f, const char *name);
int cf_fixtures_generate(const char *dir);

/* A chain view: the blocks of one branch up to a height, with its ancestry. */
typedef struct cf_view {
    const cf_block *blocks[4096]; /* by height, [0] = genesis */
    size_t n;                     /* tip height + 1 */
} cf_view;
int cf_view_make(cf_view *v, const cf_fixtures *f, const char *spec, char *err, size_t errlen);
const cf_block *cf_view_find(const cf_view *v, const uint8_t id[32]);
const cf_block *cf_fixtures_find_block(const cf_fixtures *f, const uint8_t id[32]);
void cf_view_work(const cf_view *v, uint8_t work[32]);

/* ---- commands ---- */

int cf_coverage(const char *spec_file, const char *cases_dir, int quiet);
int cf_record(int argc, char **argv);
int cf_load_cases(const char *dir, cf_case **out, size_t *n, char *err, size_t errlen);

/* ---- utilities ------------------------------------------------------------------ */

uint64_t cf_now_ms(void);
char *cf_read_file(const char *path, size_t *len);
json_t *cf_bytes_json(const uint8_t *p, size_t n);              /* base64 string */
int cf_json_bytes(const json_t *j, uint8_t **out, size_t *len); /* base64 or {"hex"} */
char *cf_hex(const uint8_t *p, size_t n);                       /* malloc'd */

#endif
