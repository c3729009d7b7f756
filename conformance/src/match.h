#ifndef CAIRN_CONFORM_MATCH_H
#define CAIRN_CONFORM_MATCH_H

#include "conform.h"

typedef struct cf_match_ctx {
    json_t *vars; /* captures land here */
    /* The value of a variable (new reference), or NULL. */
    json_t *(*resolve)(void *ud, const char *name);
    void *ud;
} cf_match_ctx;

/* 1 when `msg` matches `pattern` (NULL matches anything); else 0 with a reason in w. */
int cf_match(cf_match_ctx *m, const ProtobufCMessage *msg, const json_t *pattern, char *w,
             size_t wn);

#endif
