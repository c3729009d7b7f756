/*
 * Budgeted bump allocator for message decoding. protobuf-c unpacks into many
 * small allocations; a bump arena makes them cheap and the budget bounds what
 * a hostile payload can make us allocate (measured without a budget: up to
 * ~53x the input size in protobuf-c 1.4.1).
 */
#include "cairn/arena.h"

struct cairn_arena_block {
    cairn_arena_block *next;
    size_t size, used;
    _Alignas(16) uint8_t data[];
};

/* A block of at most this size survives a reset, so steady traffic of small
 * messages allocates nothing. */
#define ARENA_KEEP (64 * 1024)
#define ARENA_MIN  4096

void cairn_arena_init(cairn_arena *a, const cairn_mem *mem)
{
    memset(a, 0, sizeof(*a));
    a->mem = mem;
}

void cairn_arena_free(cairn_arena *a)
{
    cairn_arena_block *b = a->head;
    while (b) {
        cairn_arena_block *next = b->next;
        cairn_mem_free(a->mem, b);
        b = next;
    }
    a->head = NULL;
}

void cairn_arena_reset(cairn_arena *a, size_t budget)
{
    cairn_arena_block *keep = NULL, *b = a->head;
    while (b) {
        cairn_arena_block *next = b->next;
        if (!keep && b->size <= ARENA_KEEP) {
            keep = b;
            keep->used = 0;
            keep->next = NULL;
        } else {
            cairn_mem_free(a->mem, b);
        }
        b = next;
    }
    a->head = keep;
    a->budget = budget;
    a->spent = 0;
    a->failed = 0;
}

void cairn_arena_trim(cairn_arena *a)
{
    cairn_arena_free(a);
    a->spent = 0;
}

void *cairn_arena_alloc(cairn_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > a->budget - a->spent) {
        a->failed = 1;
        return NULL;
    }
    cairn_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = b ? b->size * 2 : ARENA_MIN;
        if (size < n)
            size = n;
        b = cairn_mem_malloc(a->mem, sizeof(*b) + size);
        if (!b) {
            a->failed = 2;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->spent += n;
    if (a->spent > a->high_water)
        a->high_water = a->spent;
    return p;
}
