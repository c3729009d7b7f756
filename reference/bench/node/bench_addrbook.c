/*
 * bench_addrbook: what a Peers answer of 1,000 addresses costs the address
 * book (spec §12.2) as the book fills. Answers come from 320 source groups
 * (one /16 each), 1,000 routable addresses each, a tenth of them already
 * known; the book is keyed and filled as a node's is (addrbook.c, the node
 * core's). Prints the microseconds per address at each size and ends with
 * "ratio: R", the mean cost per address of the last 32 answers (into the
 * full book) over that of 32 answers each into an empty book (the
 * baseline): about 1 when an add costs the same at every size, more the
 * more an add's cost grows with the book.
 *   bench_addrbook [ANSWERS]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addrbook.h"
#include "cairn/port.h"

static struct sockaddr_storage v4(uint32_t ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(ip);
    return ss;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Answer a: 1,000 addresses in 100 /8s (1.x to 100.x); every tenth one the
 * same as in the answer before it. */
static double answer(addrbook *b, int a)
{
    struct sockaddr_storage src =
        v4((uint32_t)(110 + a / 256) << 24 | (uint32_t)(a % 256) << 16 | 1, 7317);
    double t0 = now_us();
    for (int i = 0; i < 1000; i++) {
        int from = i % 10 == 0 && a ? a - 1 : a;
        uint32_t ip =
            (uint32_t)(1 + i % 100) << 24 | ((uint32_t)from * 7919u + (uint32_t)i) % 16777216u;
        struct sockaddr_storage sa = v4(ip, 7317);
        addrbook_add_from(b, &sa, sizeof(struct sockaddr_in), 0, NULL, &src);
    }
    return (now_us() - t0) / 1000.0; /* us per address */
}

static addrbook *book_new(void)
{
    addrbook *b;
    addrbook_config cfg = {0};
    cfg.env = cairn_port_env();
    cfg.key = 0x5eed5eed5eed5eedULL;
    cfg.listen_port = 7317;
    cfg.outbound_target = 8;
    if (addrbook_new(&b, &cfg) != 0)
        exit(1);
    return b;
}

int main(int argc, char **argv)
{
    int answers = argc > 1 ? atoi(argv[1]) : 320;
    if (answers < 33)
        return 2;
    printf("bench addrbook: Peers answers of 1,000 addresses into one book\n");
    /* the baseline: each of 32 answers into a book of its own */
    double base = 0;
    for (int a = 0; a < 32; a++) {
        addrbook *e = book_new();
        base += answer(e, a);
        addrbook_del(e);
    }
    base /= 32;
    printf("baseline, an answer into an empty book: %.3f us / address\n", base);
    printf("%10s %12s %14s\n", "answers", "entries", "us / address");
    addrbook *b = book_new();
    double tail = 0;
    int n_tail = 0;
    for (int a = 0; a < answers; a++) {
        double us = answer(b, a);
        if (a >= answers - 32) {
            tail += us;
            n_tail++;
        }
        if ((a + 1) % 40 == 0 || a == 0 || a == answers - 1)
            printf("%10d %12zu %14.3f\n", a + 1, addrbook_count(b), us);
    }
    printf("the last %d answers, into the full book: %.3f us / address\n", n_tail, tail / n_tail);
    printf("ratio: %.2f\n", tail / n_tail / base);
    addrbook_del(b);
    return 0;
}
