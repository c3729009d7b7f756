/*
 * Record mode's parts (README.md, "Record mode"): a connection's bytes, in the
 * order they travelled, become a server-role case. The bytes come from the
 * live relay (record.c) or from a capture file (rec_pcap.c); TLS records are
 * decrypted with the secrets of a key log (rec_tls.c); frames become steps
 * (rec_conn.c).
 */
#ifndef CAIRN_CONFORM_REC_H
#define CAIRN_CONFORM_REC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- key log (SSLKEYLOGFILE, NSS format) ---------------------------------------------- */

typedef struct rec_keylog rec_keylog;

/* A key log read from `path` now and again whenever a secret is missing (the
 * endpoint that writes it may be slower than the relay). NULL on no memory. */
rec_keylog *rec_keylog_new(const char *path);
void rec_keylog_free(rec_keylog *k);
/* The secret of `label` for `client_random` (32 bytes): its length, or 0 when
 * the file has no such line (the file is read again first). */
size_t rec_keylog_find(rec_keylog *k, const char *label, const uint8_t client_random[32],
                       uint8_t *secret, size_t cap);

/* ---- TLS 1.3 record layer, decrypted ---------------------------------------------------- */

/* What one TLS direction delivered: application data, or an event. */
enum rec_tls_ev {
    REC_TLS_DATA = 1,    /* decrypted application data */
    REC_TLS_CLOSE,       /* close_notify */
    REC_TLS_ALERT,       /* another alert (`alert` holds its description) */
    REC_TLS_NEED_SECRET, /* a secret the key log does not (yet) hold */
    REC_TLS_FAIL,        /* undecryptable or not TLS 1.3: `why` says */
};

typedef struct rec_tls rec_tls;
rec_tls *rec_tls_new(rec_keylog *keys);
void rec_tls_free(rec_tls *t);
/* Appends bytes of one direction. */
int rec_tls_add(rec_tls *t, int from_client, const uint8_t *p, size_t n);
/*
 * The next event of that direction: REC_TLS_DATA with `data` and `len` (valid
 * until the next call), another event, or 0 when more bytes are needed.
 * After REC_TLS_NEED_SECRET the same call later retries.
 */
int rec_tls_next(rec_tls *t, int from_client, const uint8_t **data, size_t *len, int *alert);
/* Why the last REC_TLS_FAIL / REC_TLS_NEED_SECRET happened. */
const char *rec_tls_why(const rec_tls *t);
/* TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) through OpenSSL's TLS13-KDF;
 * `md` is "SHA256" or "SHA384". 0 on success. Exposed for the unit test. */
int rec_tls_expand_label(const char *md, const uint8_t *secret, size_t slen, const char *label,
                         uint8_t *out, size_t olen);

/* ---- one recorded connection ----------------------------------------------------------- */

enum rec_kind { REC_UNKNOWN = 0, REC_PLAIN, REC_TLS, REC_OTHER };

typedef struct rec_conn rec_conn;
typedef struct rec_opts {
    rec_keylog *keys;     /* NULL: a TLS connection is refused */
    const char *keylog;   /* its path, for messages */
    int only;             /* 0, or REC_PLAIN / REC_TLS: refuse the other */
    const char *upstream; /* the server, for the header comment */
} rec_opts;

rec_conn *rec_conn_new(const rec_opts *o, const char *desc);
void rec_conn_free(rec_conn *c);
/* Bytes that travelled one way, in the order seen across both directions. */
void rec_conn_data(rec_conn *c, int from_client, const uint8_t *p, size_t n);
/* That direction ended (FIN, or a reset when `reset`). */
void rec_conn_eof(rec_conn *c, int from_client, int reset);
/*
 * Turns what can be turned into steps. Returns the connection's kind once it
 * is known (REC_UNKNOWN before the first byte); a connection the recorder
 * refuses (TLS without a key log, not Cairn) reports it on stderr once and
 * `*refused` becomes 1. `final`: no more bytes or secrets will come (a
 * missing secret is reported).
 */
int rec_conn_pump(rec_conn *c, int final, int *refused);
/* Whether the recording is complete (a terminal step was written). */
int rec_conn_done(const rec_conn *c);
/* Writes the case (`id`) to `path`: 0 written, 1 nothing to write (no Cairn
 * frame), -1 error (reported). */
int rec_conn_write(rec_conn *c, const char *id, const char *path);

/* ---- capture files --------------------------------------------------------------------- */

/* Every TCP connection of `pcap` with Cairn traffic (plaintext, or TLS with a
 * key log) becomes a case ID-NNN in `outdir`. Returns the process status. */
int rec_pcap(const char *pcap, const rec_opts *o, const char *outdir, const char *id_prefix);

#endif
