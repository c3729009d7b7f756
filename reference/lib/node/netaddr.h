/*
 * Address helpers shared by admission (§12.3) and the address book (§12.2):
 * one normal form for every address, network groups, routability and CIDR
 * ranges. Pure functions, no node state, so unit tests link them alone.
 */
#ifndef CAIRN_NODE_NETADDR_H
#define CAIRN_NODE_NETADDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cairn/node.h"

/* [ADDR-1] ::ffff:a.b.c.d becomes a.b.c.d (port kept); anything else unchanged. */
void netaddr_normalise(struct sockaddr_storage *sa, socklen_t *len);
/* The 16-byte form of the IP (IPv4 as ::ffff:a.b.c.d) and the port. */
void netaddr_ip16(const struct sockaddr_storage *sa, uint8_t out[16]);
uint16_t netaddr_port(const struct sockaddr_storage *sa);
int netaddr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
int netaddr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* [ADDR] network group: /16 for IPv4, /32 for IPv6, as one number. */
uint64_t netaddr_group(const struct sockaddr_storage *sa);
/* 1 for a publicly routable unicast IP: not loopback, private, link-local,
 * unspecified, multicast, documentation or other reserved ranges. */
int netaddr_routable(const struct sockaddr_storage *sa);

typedef cairn_node_cidr netaddr_cidr; /* 16-byte form, as netaddr_ip16; prefix bits */
/* "10.0.0.0/8", "127.0.0.1", "::1/128", "fd00::/8"; 0 or -1. */
int netaddr_cidr_parse(const char *text, netaddr_cidr *out);
int netaddr_cidr_match(const netaddr_cidr *c, const struct sockaddr_storage *sa);

#endif
