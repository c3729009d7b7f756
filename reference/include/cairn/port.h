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

#ifdef __cplusplus
}
#endif
#endif
