/* Per-case captures (--pcap DIR): what the harness sent and received. */
#ifndef CAIRN_CONFORM_CAPTURE_H
#define CAIRN_CONFORM_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Starts DIR/<case_id>.pcap: from now until cf_capture_end() every byte a
 * harness connection writes or reads (the plaintext, after TLS) goes into it
 * as TCP segments with synthetic Ethernet, IPv4 and TCP headers between the
 * connection's real addresses and ports, with a handshake when a connection
 * is first seen and FINs at the end. Returns 0, or -1 (errno) when the file
 * cannot be created.
 */
int cf_capture_begin(const char *dir, const char *case_id);
/* Closes the case's capture (no-op when none is open). */
void cf_capture_end(void);
/* Called by wire.c for each chunk of plaintext on connection socket `fd`;
 * `initiator`: the harness opened the connection (else the IUT did). */
void cf_capture_bytes(const void *conn, int fd, int initiator, int outbound, const uint8_t *p,
                      size_t n);

#endif
