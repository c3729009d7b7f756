/*
 * The message layer's bump allocator (internal: not installed). Every decode
 * unpacks into an arena with a hard budget, reset per message ([ENC-29]);
 * the JSON mapping and the tests use it directly.
 */
#ifndef CAIRN_ARENA_H
#define CAIRN_ARENA_H

#include "cairn/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

void cairn_arena_init(cairn_arena *a, const cairn_mem *mem);
/* Starts a round that may take `budget` bytes; keeps the blocks. */
void cairn_arena_reset(cairn_arena *a, size_t budget);
void cairn_arena_free(cairn_arena *a);
/* Between rounds, when nothing decoded is in use: frees every block, so an
 * idle decoder holds nothing (the next round allocates again). */
void cairn_arena_trim(cairn_arena *a);
/* NULL when the budget or the allocator refuses (a->failed says which). */
void *cairn_arena_alloc(cairn_arena *a, size_t n);

#ifdef __cplusplus
}
#endif
#endif
