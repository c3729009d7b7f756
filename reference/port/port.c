/* The real environment: libc allocator, POSIX clocks, OpenSSL's CSPRNG. */
#include "cairn/port.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>

#include <openssl/rand.h>

static void *port_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n ? n : 1);
}

static void *port_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n ? n : 1);
}

static void port_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static const cairn_mem port_mem = {port_malloc, port_realloc, port_free, NULL};

const cairn_mem *cairn_port_mem(void)
{
    return &port_mem;
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cairn_port_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

uint64_t cairn_port_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

static uint64_t env_mono(void *ud)
{
    (void)ud;
    return cairn_port_mono_ms();
}

static uint64_t env_wall(void *ud)
{
    (void)ud;
    return cairn_port_wall_ms();
}

static int env_random(uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static const cairn_env port_env = {&port_mem, env_mono, env_wall, env_random, NULL};

const cairn_env *cairn_port_env(void)
{
    return &port_env;
}

int cairn_port_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int cairn_port_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}
