/*
 * An allocator for fuzz targets whose every input allocates megabytes of
 * tables (fuzz_node_core: several node cores per input). Under ASan each such
 * block would be an mmap, page faults, a quarantine and a munmap with TLB
 * shootdowns; blocks of 64 KiB and more are kept between inputs by
 * power-of-two class instead, their user part poisoned while free, so ASan
 * still sees a use after free or an overflow. Including targets also get a
 * 16 MiB ASan quarantine (cache_alloc.c).
 */
#ifndef CAIRN_FUZZ_CACHE_ALLOC_H
#define CAIRN_FUZZ_CACHE_ALLOC_H

#include <stddef.h>

#include "cairn/base.h"

/* A cairn_mem on the cache; with live non-NULL it keeps *live equal to the
 * bytes allocated through it and not yet freed. */
cairn_mem fuzz_cache_mem(size_t *live);

#endif
