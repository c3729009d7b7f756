/* Seeds of the session family: handshakes, traffic, timeouts and limits for both roles. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_seeds.h"
#include "fuzz_session.h"
/* ---- session scripts -------------------------------------------------------------------- */

typedef struct script {
    uint8_t b[4096];
    size_t n;
} script;

static void sc_start(script *s, uint8_t cfg, uint16_t fail_at)
{
    s->n = 0;
    s->b[s->n++] = cfg;
    s->b[s->n++] = (uint8_t)(fail_at >> 8);
    s->b[s->n++] = (uint8_t)fail_at;
}

static void sc(script *s, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && s->n < sizeof(s->b); i++)
        s->b[s->n++] = (uint8_t)va_arg(ap, int);
    va_end(ap);
}

static void sc_hello(script *s, uint8_t variant)
{
    sc(s, 14, FS_HELLO, variant, 0, 0, 0, 0, 0, 0, 0x42, 0x42, 0, 0, 0, 5);
}

static void sc_handshake(script *s)
{
    sc_hello(s, 0);
    sc(s, 2, FS_AUTH, 0);
}

static void sc_msg(script *s, uint8_t type_index, const uint8_t *payload, size_t n)
{
    sc(s, 4, FS_MSG, type_index, (int)(n >> 8), (int)(n & 0xFF));
    if (s->n + n <= sizeof(s->b)) {
        memcpy(s->b + s->n, payload, n);
        s->n += n;
    }
}

void session_seeds(void)
{
    const char *targets[2] = {"session_server", "session_client"};
    for (int t = 0; t < 2; t++) {
        const char *tg = targets[t];
        script s;
        /* A full conversation. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 9, FS_PEER_PING, 0, 0, 0, 0, 0, 0, 0, 7);
        sc(&s, 1, FS_APP_PING);
        sc(&s, 2, FS_PEER_PONG, 0);
        for (int k = 0; k < 6; k++) {
            sc(&s, 11, FS_PEER_REQ, k, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            sc(&s, 3, FS_APP_RESP, 0, k % 3);
            sc(&s, 3, FS_APP_REQ, k, 0);
            sc(&s, 3, FS_PEER_RESP, 0, k % 4);
        }
        sc(&s, 2, FS_APP_NOTIFY, 0);
        sc(&s, 2, FS_APP_NOTIFY, 1);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0); /* to the keepalive deadline */
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0); /* idle timeout */
        emit(tg, s.b, s.n);
        /* Zero-copy Chunk answers (respond_chunk_begin/commit), 1 to 3,938 bytes. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        for (int k = 0; k < 4; k++) {
            sc(&s, 11, FS_PEER_REQ, 4 | k << 3, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            sc(&s, 3, FS_APP_RESP, 0, 4 | k << 4 | (k & 1) << 3);
        }
        emit(tg, s.b, s.n);
        /* Handshake under TLS binding, split frames, then a close. */
        for (int cfg = 0; cfg < 4; cfg++) {
            sc_start(&s, (uint8_t)(4 | cfg << 3), 0);
            sc_handshake(&s);
            sc(&s, 2, FS_APP_CLOSE, 23);
            emit(tg, s.b, s.n);
        }
        /* Refused by on_peer_auth. */
        sc_start(&s, 2, 0);
        sc_handshake(&s);
        emit(tg, s.b, s.n);
        /* Every bad Hello, every bad Auth. */
        for (int v = 8; v < 16; v++) {
            sc_start(&s, 0, 0);
            sc_hello(&s, (uint8_t)v);
            sc(&s, 2, FS_AUTH, 0);
            emit(tg, s.b, s.n);
        }
        for (int v = 12; v < 16; v++) {
            sc_start(&s, 4, 0);
            sc_hello(&s, 0);
            sc(&s, 2, FS_AUTH, v);
            emit(tg, s.b, s.n);
        }
        /* Before READY: a Ping, an Auth first, an extension frame; a timeout. */
        uint8_t ping[] = {0x08, 0x01};
        sc_start(&s, 0, 0);
        sc_msg(&s, 3, ping, sizeof(ping));
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc(&s, 2, FS_AUTH, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc_msg(&s, 20, ping, sizeof(ping));
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc(&s, 6, FS_TICK, 1, 0, 0, 0, 0);
        sc(&s, 6, FS_TICK, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        /* In READY: an extension frame, a second Hello, a fatal Error. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc_msg(&s, 20, ping, sizeof(ping));
        sc_msg(&s, 3, ping, sizeof(ping));
        sc(&s, 10, FS_PEER_ERROR, 21, 0, 0, 0, 0, 0, 0, 0, 0);
        sc(&s, 10, FS_PEER_ERROR, 6, 0, 0, 0, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc_hello(&s, 0);
        emit(tg, s.b, s.n);
        /* Limits: 65 requests from the peer; 65 from the application. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 11, FS_PEER_REQ, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 3, FS_APP_REQ, 2, 64);
        sc(&s, 3, FS_PEER_RESP, 5, 0);
        sc(&s, 3, FS_PEER_RESP, 5, 4);
        emit(tg, s.b, s.n);
        /* Duplicate request IDs; unknown response; wrong response type. */
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 11, FS_PEER_REQ, 1, 1, 0, 0, 0, 0, 0, 0, 0, 9);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 3, FS_APP_REQ, 0, 0);
        sc(&s, 3, FS_PEER_RESP, 0, 3);
        emit(tg, s.b, s.n);
        /* Failing allocations during the handshake; RNG failure. */
        for (int k = 0; k < 12; k += 3) {
            sc_start(&s, 0x20, (uint16_t)k);
            sc_handshake(&s);
            sc(&s, 9, FS_PEER_PING, 0, 0, 0, 0, 0, 0, 0, 1);
            emit(tg, s.b, s.n);
        }
        sc_start(&s, 0, 0);
        sc_handshake(&s);
        sc(&s, 1, FS_RANDOM_FAIL);
        sc(&s, 1, FS_APP_PING);
        emit(tg, s.b, s.n);
        /* EOF in the middle; raw garbage. */
        sc_start(&s, 0, 0);
        sc_hello(&s, 0);
        sc(&s, 1, FS_EOF);
        sc(&s, 2, FS_AUTH, 0);
        emit(tg, s.b, s.n);
        sc_start(&s, 0, 0);
        sc(&s, 12, FS_RAW, 1, 0, 8, 0xCA, 0x1E, 0, 1, 0, 0, 0, 0);
        emit(tg, s.b, s.n);
    }
}
