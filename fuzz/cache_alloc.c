/*
 * The node_core target's allocator (cache_alloc.h).
 */
#include "cache_alloc.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The cores free megabytes per input: see common.h. */
FUZZ_ASAN_QUARANTINE_MB(16)
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n)   ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/*
 * Every core allocates its tables (address book, mempool, the node itself:
 * megabytes) per input; under ASan each of those is an mmap, page faults, a
 * quarantine and a munmap with TLB shootdowns, which was most of the time per
 * input. Blocks of 64 KiB and more are kept between inputs by power-of-two
 * class, their user part poisoned while free (ASan still sees a use after
 * free or an overflow). Every block has a 16-byte header: the size asked for
 * and the class (0 = an ordinary malloc).
 */
#define HDR       16
#define CACHE_MIN ((size_t)64 << 10)
#define CLASSES   40

static uint8_t *cache[CLASSES]; /* free blocks (header pointers); next in the header's 2nd word */

static int size_class(size_t n)
{
    int c = 16;
    while (((size_t)1 << c) < n)
        c++;
    return c;
}

static void *nc_malloc(size_t size)
{
    uint8_t *p;
    size_t klass = 0;
    if (size >= CACHE_MIN && size_class(size) < CLASSES) {
        klass = (size_t)size_class(size);
        if ((p = cache[klass]) != NULL) {
            memcpy(&cache[klass], p + 8, sizeof(p));
            ASAN_UNPOISON_MEMORY_REGION(p + HDR, size);
        } else if (!(p = malloc(((size_t)1 << klass) + HDR))) {
            return NULL;
        } else {
            ASAN_POISON_MEMORY_REGION(p + HDR + size, ((size_t)1 << klass) - size);
        }
    } else if (!(p = malloc(size + HDR))) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    memcpy(p + 8, &klass, sizeof(klass));
    return p + HDR;
}

static size_t nc_size(const void *ptr)
{
    size_t size;
    memcpy(&size, (const uint8_t *)ptr - HDR, sizeof(size));
    return size;
}

static void nc_free(void *ptr)
{
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t klass;
    memcpy(&klass, p + 8, sizeof(klass));
    if (!klass) {
        free(p);
        return;
    }
    ASAN_POISON_MEMORY_REGION(p + HDR, (size_t)1 << klass);
    memcpy(p + 8, &cache[klass], sizeof(p));
    cache[klass] = p;
}

static void *nc_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return nc_malloc(size);
    size_t old = nc_size(ptr);
    void *q = nc_malloc(size);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < size ? old : size);
    nc_free(ptr);
    return q;
}

static void *cm_malloc(size_t size, void *ud)
{
    void *p = nc_malloc(size);
    if (p && ud)
        *(size_t *)ud += size;
    return p;
}

static void cm_free(void *ptr, void *ud)
{
    if (ptr && ud)
        *(size_t *)ud -= nc_size(ptr);
    nc_free(ptr);
}

static void *cm_realloc(void *ptr, size_t size, void *ud)
{
    size_t old = ptr ? nc_size(ptr) : 0;
    void *q = nc_realloc(ptr, size);
    if (q && ud)
        *(size_t *)ud = *(size_t *)ud - old + size;
    return q;
}

cairn_mem fuzz_cache_mem(size_t *live)
{
    cairn_mem m = {cm_malloc, cm_realloc, cm_free, live};
    return m;
}
