/* What the seed generator's files share: output, message encoding, common byte patterns. */
#ifndef CAIRN_FUZZ_GEN_SEEDS_H
#define CAIRN_FUZZ_GEN_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/session.h"
#include "common.h"
#ifdef HAVE_JANSSON
#include <jansson.h>

#include "cairn/json.h"
#endif

/* ---- gen_seeds_out.c: output and shared data ---- */

/* Sets OUTDIR; counts the files written there. */
void seeds_set_outdir(const char *dir);
size_t seeds_written(void);
/* Writes OUTDIR/<target>/<name>; exits on an error. */
void write_named(const char *target, const char *name, const uint8_t *d, size_t n);
/* Writes OUTDIR/<target>/<sha256 prefix> (content-addressed, like libFuzzer). */
void emit(const char *target, const uint8_t *d, size_t n);
/* Encodes `m` as a frame into `b` (appending); exits when invalid. */
void frame_of(const ProtobufCMessage *m, cairn_buf *b);

typedef void (*frame_cb)(const uint8_t *frame, size_t n, void *ud);
/* Encodes `m` as one frame and hands it to `cb`. */
void out(frame_cb cb, void *ud, const ProtobufCMessage *m);

extern uint8_t z32[32], ff32[32], sig64[64], hdr96[96], manifest_entry[64];
extern uint8_t data_entry[6];
extern const cairn_mem heap;

/* ---- gen_seeds_msg.c: messages, JSON, frames, hardening regressions ---- */
void all_messages(frame_cb cb, void *ud);
void to_msg_corpus(const uint8_t *f, size_t n, void *ud);
void frame_seeds(void);
void regressions(void);
#ifdef HAVE_JANSSON
void to_json_corpus(const uint8_t *f, size_t n, void *ud);
void json_text_seeds(void);
#endif

/* ---- gen_seeds_session.c ---- */
void session_seeds(void);

/* ---- gen_seeds_chain.c: blocks, Merkle, manifests, chain scripts, spec vectors ---- */
void block_seeds(void);
void merkle_seeds(void);
void manifest_seeds(void);
void chain_seeds(void);
/* A manifest entry (spec §FILE) into m; returns its length. */
size_t manifest(uint8_t *m, uint64_t size, uint8_t log2, const char *name, size_t name_len);
#ifdef HAVE_JANSSON
void vector_seeds(const char *dir);
void block_vector_seeds(const char *dir);
void merkle_vector_seeds(const char *dir);
#endif

/* ---- gen_seeds_addrbook.c ---- */
void addrbook_seeds(void);

/* ---- gen_seeds_node.c ---- */
void node_seeds(void);

#endif
