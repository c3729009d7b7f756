/*
 * Test environment: a counting allocator that can fail the Nth allocation
 * (nghttp2's failmalloc), a fake clock, and deterministic "random" bytes.
 */
#ifndef CAIRN_TESTENV_H
#define CAIRN_TESTENV_H

#include <stdlib.h>

#include "cairn/base.h"

typedef struct test_env {
    cairn_mem mem;
    cairn_env env;
    long allocs;   /* successful allocations so far */
    long live;     /* allocations not yet freed */
    long fail_at;  /* fail the allocation with this index (0-based); -1 = never */
    uint64_t now;  /* fake monotonic ms */
    uint64_t wall; /* fake wall clock ms */
    uint64_t rng;  /* xorshift state */
} test_env;

static inline void *te_malloc(size_t n, void *ud)
{
    test_env *t = ud;
    if (t->fail_at >= 0 && t->allocs == t->fail_at) {
        t->fail_at = -2; /* fail once; later ones succeed */
        return NULL;
    }
    void *p = malloc(n ? n : 1);
    if (p) {
        t->allocs++;
        t->live++;
    }
    return p;
}

static inline void *te_realloc(void *p, size_t n, void *ud)
{
    test_env *t = ud;
    if (!p)
        return te_malloc(n, ud);
    if (t->fail_at >= 0 && t->allocs == t->fail_at) {
        t->fail_at = -2;
        return NULL;
    }
    t->allocs++;
    return realloc(p, n ? n : 1);
}

static inline void te_free(void *p, void *ud)
{
    test_env *t = ud;
    if (p)
        t->live--;
    free(p);
}

static inline uint64_t te_mono(void *ud)
{
    return ((test_env *)ud)->now;
}

static inline uint64_t te_wall(void *ud)
{
    return ((test_env *)ud)->wall;
}

static inline int te_random(uint8_t *buf, size_t len, void *ud)
{
    test_env *t = ud;
    for (size_t i = 0; i < len; i++) {
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        buf[i] = (uint8_t)t->rng;
    }
    return 0;
}

static inline void test_env_init(test_env *t, uint64_t seed)
{
    t->mem = (cairn_mem){te_malloc, te_realloc, te_free, t};
    t->env = (cairn_env){&t->mem, te_mono, te_wall, te_random, t};
    t->allocs = t->live = 0;
    t->fail_at = -1;
    t->now = 1000;
    t->wall = 1767225600000ull;
    t->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

#endif
