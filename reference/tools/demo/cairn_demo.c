/*
 * cairn-demo: two Cairn sessions in one process, connected by memory, doing
 * a real handshake (fresh Ed25519 identities, transcript signatures), a ping
 * round trip, a few requests and a clean close — printed as a decoded wire
 * log. It drives exactly the state machine the node uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn/json.h"
#include "cairn/port.h"
#include "cairn/session.h"

static const char *GENESIS_ID = "0009bb33db82957d7efa6201c58e6644b248106ced1ec1857f5dbc86824acc6c";
static int color;

typedef struct side {
    const char *name;
    cairn_session *s;
    cairn_identity *id;
} side;

static void on_frame(cairn_session *s, int outbound, uint16_t type, const uint8_t *payload,
                     size_t len, void *ud)
{
    (void)s;
    side *x = ud;
    if (!outbound)
        return; /* every frame is printed once, by its sender */
    const char *name = cairn_frame_type_name(type);
    printf("%s%-9s ──▶ %-11s%s %4zu B  ", color ? "\033[1m" : "", x->name, name ? name : "?",
           color ? "\033[0m" : "", len + CAIRN_FRAME_HEADER_LEN);
    cairn_msg_decoder d;
    cairn_msg_decoder_init(&d, cairn_port_mem());
    ProtobufCMessage *m;
    if (cairn_msg_decode_unchecked(&d, type, payload, len, &m) == 0) {
        json_t *j = cairn_json_from_msg(m);
        char *txt = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t n = strlen(txt);
        printf("%.*s%s\n", 110, txt, n > 110 ? "…" : "");
        if (type == CAIRN_T_ERROR) {
            const Cairn__V1__Error *e = (const Cairn__V1__Error *)m;
            printf("%33s\"%.*s\"\n", "message: ", (int)e->message.len,
                   (const char *)e->message.data);
        }
        free(txt);
        json_decref(j);
    } else {
        printf("(undecodable)\n");
    }
    cairn_msg_decoder_free(&d);
}

static void on_ready(cairn_session *s, const cairn_peer_info *p, void *ud)
{
    (void)s;
    side *x = ud;
    char id[65];
    cairn_hex_encode(id, p->node_id, 32);
    printf("  %s: READY — peer %.16s… (%s) proved its key over the transcript\n", x->name, id,
           p->user_agent);
}

static void on_message(cairn_session *s, uint16_t type, const ProtobufCMessage *m, void *ud)
{
    (void)ud;
    /* The "node" side answers requests the way cairnd does. */
    if (type == CAIRN_T_GET_BLOCK) {
        Cairn__V1__NotFound nf = CAIRN__V1__NOT_FOUND__INIT;
        nf.request_id = ((const Cairn__V1__GetBlock *)m)->request_id;
        cairn_session_respond(s, &nf.base);
    } else if (type == CAIRN_T_GET_PEERS) {
        Cairn__V1__PeerAddress a = CAIRN__V1__PEER_ADDRESS__INIT;
        uint8_t ip[4] = {127, 0, 0, 1};
        a.ip = (ProtobufCBinaryData){4, ip};
        a.port = CAIRN_DEFAULT_PORT;
        a.services = CAIRN_SERVICE_CHAIN;
        Cairn__V1__PeerAddress *ap = &a;
        Cairn__V1__Peers p = CAIRN__V1__PEERS__INIT;
        p.request_id = ((const Cairn__V1__GetPeers *)m)->request_id;
        p.n_peers = 1;
        p.peers = &ap;
        cairn_session_respond(s, &p.base);
    } else if (type == CAIRN_T_SUBMIT_ENTRY) {
        const Cairn__V1__SubmitEntry *se = (const Cairn__V1__SubmitEntry *)m;
        uint8_t leaf[1 + CAIRN_MAX_ENTRY_LEN], eid[32];
        leaf[0] = 0x00;
        memcpy(leaf + 1, se->entry.data, se->entry.len);
        cairn_sha256(eid, leaf, 1 + se->entry.len);
        Cairn__V1__EntryAck ack = CAIRN__V1__ENTRY_ACK__INIT;
        ack.request_id = se->request_id;
        ack.entry_id = (ProtobufCBinaryData){32, eid};
        cairn_session_respond(s, &ack.base);
    }
}

static void on_close(cairn_session *s, const cairn_close_info *ci, void *ud)
{
    (void)s;
    side *x = ud;
    printf("  %s: closing — %s%s%s\n", x->name,
           ci->code ? cairn_wire_error_name(ci->code) : "no error",
           ci->by_peer ? " (from the peer)" : "", ci->message[0] ? "" : "");
}

/* Moves bytes between the two sessions until both are quiet. */
static void pump(side *a, side *b)
{
    for (int moved = 1; moved;) {
        moved = 0;
        side *from[2] = {a, b}, *to[2] = {b, a};
        for (int i = 0; i < 2; i++) {
            const uint8_t *data;
            size_t n = cairn_session_pending(from[i]->s, &data);
            if (!n)
                continue;
            long used = cairn_session_recv(to[i]->s, data, n);
            if (used > 0) {
                cairn_session_sent(from[i]->s, (size_t)used);
                moved = 1;
            }
        }
    }
}

static int open_side(side *x, int initiator, const char *agent, uint64_t services)
{
    static const cairn_session_callbacks cb = {
        .on_ready = on_ready, .on_message = on_message, .on_close = on_close, .on_frame = on_frame};
    const cairn_env *env = cairn_port_env();
    if (cairn_identity_generate(&x->id, env))
        return -1;
    cairn_session_config cfg = {0};
    cfg.initiator = initiator;
    cfg.identity = x->id;
    cairn_hex_decode(cfg.network_id, 32, GENESIS_ID);
    memcpy(cfg.tip_id, cfg.network_id, 32);
    cfg.total_work[30] = 0x10;
    cfg.services = services;
    cfg.user_agent = agent;
    cfg.listen_port = initiator ? 0 : CAIRN_DEFAULT_PORT;
    return cairn_session_new(&x->s, &cfg, &cb, x, env);
}

int main(void)
{
    color = isatty(1);
    side client = {"client", NULL, NULL}, node = {"node", NULL, NULL};
    printf("Cairn v1 — two sessions over an in-memory pipe (devnet, plaintext)\n\n");
    printf("handshake: both sides send Hello at once, then Auth signs the transcript\n");
    if (open_side(&client, 1, "cairn/0.1.0", 0) ||
        open_side(&node, 0, "cairnd/0.1.0", CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_PEERS)) {
        fprintf(stderr, "cannot create sessions\n");
        return 1;
    }
    pump(&client, &node);

    printf("\nkeepalive and requests\n");
    uint64_t nonce;
    cairn_session_ping(client.s, &nonce);
    pump(&client, &node);
    Cairn__V1__GetBlock gb = CAIRN__V1__GET_BLOCK__INIT;
    gb.selector_case = CAIRN__V1__GET_BLOCK__SELECTOR_HEIGHT;
    gb.height = 1;
    cairn_session_request(client.s, &gb.base, NULL);
    Cairn__V1__GetPeers gp = CAIRN__V1__GET_PEERS__INIT;
    cairn_session_request(client.s, &gp.base, NULL);
    Cairn__V1__SubmitEntry se = CAIRN__V1__SUBMIT_ENTRY__INIT;
    static uint8_t entry[] = "\0hello from the demo";
    se.entry = (ProtobufCBinaryData){sizeof(entry) - 1, entry};
    cairn_session_request(client.s, &se.base, NULL);
    pump(&client, &node);

    printf("\na misbehaving peer: bytes that are not a Cairn frame\n");
    static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
    cairn_session_recv(node.s, junk, sizeof(junk) - 1);
    pump(&client, &node);

    int ok = cairn_session_state(node.s) == CAIRN_SS_CLOSING &&
             cairn_session_close_info(node.s)->code == CAIRN_E_BAD_MAGIC;
    printf("\n%s\n", ok ? "done: handshake, ping, three requests answered, bad input refused."
                        : "unexpected end state");
    cairn_session_del(client.s);
    cairn_session_del(node.s);
    cairn_identity_del(client.id);
    cairn_identity_del(node.id);
    return ok ? 0 : 1;
}
