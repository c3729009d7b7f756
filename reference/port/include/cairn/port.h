/*
 * Platform glue for programs (node, client, harness, tests, benchmarks): the
 * real allocator, clocks and randomness, to pass into libcairn as a
 * cairn_env. libcairn itself never calls these.
 */
#ifndef CAIRN_PORT_H
#define CAIRN_PORT_H

#include "cairn/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* libc malloc/realloc/free. */
const cairn_mem *cairn_port_mem(void);
/* CLOCK_MONOTONIC and CLOCK_REALTIME in ms, OpenSSL's RAND_bytes. */
const cairn_env *cairn_port_env(void);
uint64_t cairn_port_mono_ms(void);
uint64_t cairn_port_wall_ms(void);

/* pread/pwrite of exactly `len` bytes at `off`, retrying short transfers and
 * EINTR. Return 0, or -1 (errno set; a read past the end leaves errno 0). */
int cairn_port_pread_full(int fd, void *buf, size_t len, uint64_t off);
int cairn_port_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#ifdef __cplusplus
}
#endif
#endif
