/* spec/vectors/sessions.json: multi-frame session traces (gen_sessions.c). */
#ifndef CAIRN_GEN_SESSIONS_H
#define CAIRN_GEN_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The fixed clock (mono 1000, wall 1767225600000) and counting "random"
 * bytes of every generated session (gen_vectors.c). */
uint64_t vec_fixed_mono(void *ud);
uint64_t vec_fixed_wall(void *ud);
int vec_counter_random(uint8_t *buf, size_t len, void *ud);

/* The traces, an array; deterministic. */
json_t *session_traces(void);

#endif
