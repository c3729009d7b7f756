/* Address normal form, network groups, routability, CIDR (see netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void netaddr_normalise(struct sockaddr_storage *sa, socklen_t *len)
{
    if (sa->ss_family != AF_INET6)
        return;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
    if (memcmp(v6->sin6_addr.s6_addr, v4mapped, 12) != 0)
        return;
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    v4.sin_port = v6->sin6_port;
    memcpy(&v4.sin_addr, v6->sin6_addr.s6_addr + 12, 4);
    memset(sa, 0, sizeof(*sa));
    memcpy(sa, &v4, sizeof(v4));
    if (len)
        *len = sizeof(v4);
}

void netaddr_ip16(const struct sockaddr_storage *sa, uint8_t out[16])
{
    if (sa->ss_family == AF_INET) {
        memcpy(out, v4mapped, 12);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else {
        memcpy(out, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
    }
}

uint16_t netaddr_port(const struct sockaddr_storage *sa)
{
    return ntohs(sa->ss_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                          : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

int netaddr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    uint8_t x[16], y[16];
    netaddr_ip16(a, x);
    netaddr_ip16(b, y);
    return memcmp(x, y, 16) == 0;
}

int netaddr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return netaddr_same_ip(a, b) && netaddr_port(a) == netaddr_port(b);
}

uint64_t netaddr_group(const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    if (memcmp(ip, v4mapped, 12) == 0)
        return (4ULL << 32) | ((uint64_t)ip[12] << 8) | ip[13];
    return (6ULL << 32) | ((uint64_t)ip[0] << 24) | ((uint64_t)ip[1] << 16) |
           ((uint64_t)ip[2] << 8) | ip[3];
}

static int in_prefix(const uint8_t ip[16], const uint8_t *pfx, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(ip, pfx, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (ip[full] & mask) == (pfx[full] & mask);
}

int netaddr_routable(const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    if (memcmp(ip, v4mapped, 12) == 0) {
        const uint8_t *a = ip + 12;
        return !(a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||  /* this, private,
                                                                          loopback, multicast+ */
                 (a[0] == 100 && (a[1] & 0xC0) == 64) ||                   /* shared (CGNAT) */
                 (a[0] == 169 && a[1] == 254) ||                           /* link-local */
                 (a[0] == 172 && (a[1] & 0xF0) == 16) ||                   /* private */
                 (a[0] == 192 && a[1] == 168) ||                           /* private */
                 (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) || /* IETF, TEST-NET-1 */
                 (a[0] == 198 && (a[1] & 0xFE) == 18) ||                   /* benchmarking */
                 (a[0] == 198 && a[1] == 51 && a[2] == 100) ||             /* TEST-NET-2 */
                 (a[0] == 203 && a[1] == 0 && a[2] == 113));               /* TEST-NET-3 */
    }
    static const uint8_t zero[16] = {0};
    static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    if (memcmp(ip, zero, 15) == 0 && (ip[15] == 0 || ip[15] == 1)) /* :: and ::1 */
        return 0;
    if (ip[0] == 0xFF || (ip[0] & 0xFE) == 0xFC ||   /* multicast, unique local */
        (ip[0] == 0xFE && (ip[1] & 0xC0) == 0x80) || /* link-local */
        (ip[0] == 0xFE && (ip[1] & 0xC0) == 0xC0) || /* site-local (deprecated) */
        in_prefix(ip, doc, 32) || in_prefix(ip, zero, 96) /* documentation, IPv4-compatible */)
        return 0;
    return 1;
}

int netaddr_cidr_parse(const char *text, netaddr_cidr *out)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, text, hl);
    host[hl] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    int max;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        memcpy(out->ip, v4mapped, 12);
        memcpy(out->ip + 12, &a4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        memcpy(out->ip, &a6, 16);
        max = 128;
    } else {
        return -1;
    }
    long bits = max;
    if (slash) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end || bits < 0 || bits > max)
            return -1;
    }
    out->bits = (int)bits + (max == 32 ? 96 : 0);
    return 0;
}

int netaddr_cidr_match(const netaddr_cidr *c, const struct sockaddr_storage *sa)
{
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    return in_prefix(ip, c->ip, c->bits);
}

/* ---- the public names (cairn/node.h) ---------------------------------------------- */

int cairn_node_cidr_parse(const char *text, cairn_node_cidr *out)
{
    return netaddr_cidr_parse(text, out);
}

void cairn_node_addr_normalise(struct sockaddr_storage *sa, socklen_t *len)
{
    netaddr_normalise(sa, len);
}

int cairn_node_addr_routable(const struct sockaddr_storage *sa)
{
    return netaddr_routable(sa);
}

int cairn_node_addr_unspecified(const struct sockaddr_storage *sa)
{
    static const uint8_t any[16] = {0};
    uint8_t ip[16];
    netaddr_ip16(sa, ip);
    return !memcmp(ip, any, 16) || (ip[10] == 0xff && ip[11] == 0xff && !memcmp(ip + 12, any, 4));
}
