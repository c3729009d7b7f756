/* spec/vectors/sessions.json: multi-frame session traces (gen_sessions.c). */
#ifndef CAIRN_GEN_SESSIONS_H
#define CAIRN_GEN_SESSIONS_H

#include <jansson.h>

/* The traces, an array; deterministic. */
json_t *session_traces(void);

#endif
