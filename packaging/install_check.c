/*
 * A program built against the installed libcairn (pkg-config libcairn): it
 * frames a Ping with nonce 42, which spec §4.1 spells out byte by byte, and
 * decodes it back with the streaming frame decoder and the message layer.
 */
#include <stdio.h>
#include <string.h>

#include <cairn/msg.h>
#include <cairn/port.h>

int main(void)
{
    static const uint8_t want[] = {0xca, 0x1e, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x08, 0x2a};
    const cairn_mem *mem = cairn_port_mem();
    Cairn__V1__Ping ping = CAIRN__V1__PING__INIT;
    ping.nonce = 42;
    cairn_buf out;
    cairn_buf_init(&out, mem);
    int rv = cairn_msg_encode(&ping.base, &out);
    if (rv != 0 || out.len != sizeof(want) || memcmp(cairn_buf_data(&out), want, sizeof(want))) {
        fprintf(stderr, "encode: %s\n", rv ? cairn_strerror(rv) : "unexpected bytes");
        return 1;
    }
    const uint8_t *p = cairn_buf_data(&out), *end = p + out.len;
    cairn_frame_header h;
    if ((rv = cairn_frame_header_decode(&p, end, &h, CAIRN_FRAME_MAX_MIN)) != 0) {
        fprintf(stderr, "header: %s\n", cairn_strerror(rv));
        return 1;
    }
    cairn_msg_decoder dec;
    cairn_msg_decoder_init(&dec, mem);
    ProtobufCMessage *m = NULL;
    rv = cairn_msg_decode(&dec, h.type, p, h.length, &m);
    int ok = rv == 0 && m && ((Cairn__V1__Ping *)m)->nonce == 42;
    printf("%s %s nonce %llu\n", ok ? "ok" : "FAIL", cairn_frame_type_name(h.type),
           ok ? (unsigned long long)((Cairn__V1__Ping *)m)->nonce : 0ULL);
    cairn_msg_decoder_free(&dec);
    cairn_buf_free(&out);
    return ok ? 0 : 1;
}
