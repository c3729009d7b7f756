/* Seeds of the node core family (fuzz_node_core.c): sync, forks, relay, stalls, floods, faults. */
#include <string.h>

#include "gen_seeds.h"

/* The operations of fuzz_node_core.c, in its order. */
enum {
    OP_CONNECT,
    OP_PUMP,
    OP_TIME,
    OP_MINE,
    OP_CUT,
    OP_MUTE,
    OP_INJECT,
    OP_FLIP,
    OP_PIECE,
    OP_EOF,
    OP_STORE_FAIL,
    OP_PUBLISH,
    OP_RAW_OPEN,
    OP_RAW_SEND,
    OP_HEARD,
    OP_SHUTDOWN,
    OP_RESTART,
    OP_DIAL_FAIL
};

/* flags: helpers - 1 in bits 0-1, bit 2 the victim dials from its book,
 * bits 3-4 max_inbound (2, 4, 8, 117), bit 5 one connection per IP, bit 6 no
 * discouragement. */
#define HELPERS(n)  ((uint8_t)((n)-1))
#define DIALS       4u
#define INBOUND_2   0u
#define INBOUND_117 (3u << 3)

typedef struct script {
    uint8_t b[16384];
    size_t n;
} script;

static void put(script *s, const void *p, size_t n)
{
    if (s->n + n <= sizeof(s->b)) {
        memcpy(s->b + s->n, p, n);
        s->n += n;
    }
}

static void u8(script *s, uint8_t v)
{
    put(s, &v, 1);
}

static void u16(script *s, uint16_t v)
{
    u8(s, (uint8_t)(v >> 8));
    u8(s, (uint8_t)v);
}

/* The single-operation steps, named as fuzz_node_core.c's run_op() reads them. */
static void op(script *s, uint8_t code)
{
    u8(s, code);
}

static void op1(script *s, uint8_t code, uint8_t a)
{
    u8(s, code);
    u8(s, a);
}

/* Link v's bytes stop (or flow again) in one direction: dir 1 those from
 * the link's first node to its second (connect's a to b), 0 the others. */
static void mute(script *s, uint8_t v, uint8_t dir)
{
    u8(s, OP_MUTE);
    u8(s, v);
    u8(s, dir);
}

/* An inbound connection that never speaks Cairn (kind: address family and
 * group, as in op_raw_open). */
static void raw_open(script *s, uint8_t kind, uint8_t x, uint8_t y)
{
    u8(s, OP_RAW_OPEN);
    u8(s, kind);
    u8(s, x);
    u8(s, y);
}

static void raw_send(script *s, uint8_t v, const char *bytes, uint16_t n)
{
    u8(s, OP_RAW_SEND);
    u8(s, v);
    u16(s, n);
    put(s, bytes, n);
}

static void connect(script *s, int a, int b)
{
    u8(s, OP_CONNECT);
    u8(s, (uint8_t)a);
    u8(s, (uint8_t)b);
}

static void pump(script *s, int rounds)
{
    u8(s, OP_PUMP);
    u8(s, (uint8_t)(rounds - 1));
}

/* ms < 10000 in 50 ms steps; whole seconds >= 10 s as a jump. */
static void wait_ms(script *s, unsigned ms)
{
    u8(s, OP_TIME);
    u16(s, ms < 10000 ? (uint16_t)ms : (uint16_t)(0x8000u | (ms / 1000)));
}

static void mine(script *s, int node, int count)
{
    for (int i = 0; i < count; i++) {
        u8(s, OP_MINE);
        u8(s, (uint8_t)node);
    }
}

static void publish(script *s, int node, int count, uint8_t tag)
{
    u8(s, OP_PUBLISH);
    u8(s, (uint8_t)node);
    u8(s, (uint8_t)(count - 1));
    for (int i = 0; i < count; i++) {
        u8(s, 12);
        const char text[] = "seed entry ";
        put(s, text, 11);
        u8(s, (uint8_t)(tag + i));
    }
}

static void start(script *s, uint8_t flags)
{
    s->n = 0;
    u8(s, flags);
}

/* With the second configuration byte. */
#define MORE         0x80u
#define SKEW_3MIN    1u
#define SKEW_10MIN   2u
#define LOW_WORK_4   4u
#define NOBAN_TEN    8u
#define NO_LISTEN    0x10u
#define ALWAYS_INPUT 0x20u
#define BATCHES      0x40u

static void start2(script *s, uint8_t flags, uint8_t more)
{
    start(s, (uint8_t)(flags | MORE));
    u8(s, more);
}

/* With the third configuration byte (fuzz_node_world.c). */
#define EXTRA      0x80u
#define LONG_WORLD 1u
#define FILES      2u

static void start3(script *s, uint8_t flags, uint8_t more, uint8_t extra)
{
    start2(s, flags, (uint8_t)(more | EXTRA));
    u8(s, extra);
}

static void done(script *s)
{
    emit("node_core", s->b, s->n);
}

/* An injected frame: a registered type's index and its payload. */
static void inject(script *s, uint8_t link, uint16_t type, const uint8_t *payload, size_t len)
{
    size_t idx = 0;
    for (size_t i = 0; i < fuzz_n_msg_types; i++)
        if (fuzz_msg_types[i] == type)
            idx = i;
    u8(s, OP_INJECT);
    u8(s, link);
    u8(s, (uint8_t)idx);
    u16(s, (uint16_t)len);
    put(s, payload, len);
}

/* Every message type injected into a synced session, one seed each. */
static void inject_each(const uint8_t *f, size_t n, void *ud)
{
    (void)ud;
    if (n < CAIRN_FRAME_HEADER_LEN || n - CAIRN_FRAME_HEADER_LEN > 4000)
        return;
    uint16_t type = (uint16_t)(f[2] << 8 | f[3]);
    script s;
    start(&s, HELPERS(1));
    mine(&s, 1, 3);
    connect(&s, 0, 1);
    wait_ms(&s, 1500);
    inject(&s, 0, type, f + CAIRN_FRAME_HEADER_LEN, n - CAIRN_FRAME_HEADER_LEN);
    wait_ms(&s, 1000);
    done(&s);
}

/* Seeds: sync, relay, reorg, entries, stalls and discovery. */
static void node_seeds_chain(void)
{
    script s;

    /* Initial sync from one helper, then blocks as they are mined. */
    start(&s, HELPERS(1));
    mine(&s, 1, 6);
    connect(&s, 0, 1);
    wait_ms(&s, 2000);
    mine(&s, 1, 2);
    pump(&s, 32);
    mine(&s, 0, 1);
    wait_ms(&s, 1000);
    done(&s);

    /* A helper dials the victim; the victim mines and the helper follows. */
    start(&s, HELPERS(1) | INBOUND_117);
    connect(&s, 1, 0);
    wait_ms(&s, 500);
    mine(&s, 0, 3);
    wait_ms(&s, 1000);
    done(&s);

    /* Two helpers on competing branches: a reorg to the longer one. */
    start(&s, HELPERS(2));
    mine(&s, 1, 3);
    mine(&s, 2, 5);
    connect(&s, 0, 1);
    wait_ms(&s, 1500);
    connect(&s, 2, 0);
    wait_ms(&s, 3000);
    mine(&s, 1, 4);
    wait_ms(&s, 3000);
    done(&s);

    /* Entries relayed, mined into a block, and published by the victim. */
    start(&s, HELPERS(2));
    connect(&s, 0, 1);
    connect(&s, 2, 0);
    wait_ms(&s, 1000);
    publish(&s, 1, 3, 'a');
    pump(&s, 32);
    mine(&s, 1, 1);
    wait_ms(&s, 1000);
    publish(&s, 0, 2, 'k');
    mine(&s, 0, 1);
    wait_ms(&s, 1000);
    done(&s);

    /* A stalled peer during body download: stall timeouts, another peer. */
    start(&s, HELPERS(2));
    mine(&s, 1, 20);
    connect(&s, 2, 1);
    wait_ms(&s, 3000);
    connect(&s, 0, 1);
    pump(&s, 4);
    mute(&s, 1, 0);
    wait_ms(&s, 5000);
    connect(&s, 0, 2);
    wait_ms(&s, 9000);
    wait_ms(&s, 70000);
    wait_ms(&s, 3000);
    done(&s);

    /* Discovery: the victim learns a helper from Peers and dials it. */
    start(&s, HELPERS(2) | DIALS);
    connect(&s, 1, 2);
    wait_ms(&s, 1000);
    connect(&s, 0, 1);
    wait_ms(&s, 2000);
    wait_ms(&s, 61000);
    wait_ms(&s, 3000);
    done(&s);
}

/* Seeds: raw inbound connections, pieces and flips, cuts and eviction. */
static void node_seeds_peers(void)
{
    script s;

    /* Raw inbound connections: a flood, junk, silence, eviction at the cap. */
    start(&s, HELPERS(1) | INBOUND_2);
    for (int i = 0; i < 6; i++) {
        raw_open(&s, (uint8_t)(i % 3 | (i == 4 ? 0x80 : 0)), (uint8_t)i, (uint8_t)(i * 7));
    }
    raw_send(&s, 0, "\xca\x1e\x00\x01\x00\x00\x00\x08junkjunk", 16);
    op1(&s, OP_HEARD, 0x84);
    connect(&s, 1, 0);
    wait_ms(&s, 3000);
    wait_ms(&s, 11000);
    done(&s);

    /* The store fails while syncing: the core stops. */
    start(&s, HELPERS(1));
    mine(&s, 1, 4);
    connect(&s, 0, 1);
    pump(&s, 6);
    op1(&s, OP_STORE_FAIL, 0);
    wait_ms(&s, 2000);
    done(&s);

    /* Bytes in small pieces, one flipped, an EOF, then a shutdown. */
    start(&s, HELPERS(1));
    mine(&s, 1, 2);
    connect(&s, 0, 1);
    for (int i = 0; i < 24; i++) {
        u8(&s, OP_PIECE);
        u8(&s, 0);
        u8(&s, (uint8_t)(i & 1));
        u8(&s, (uint8_t)(i * 5));
    }
    wait_ms(&s, 1000);
    u8(&s, OP_FLIP);
    u8(&s, 0);
    u16(&s, 3);
    u8(&s, 0x40);
    mine(&s, 1, 1);
    wait_ms(&s, 500);
    connect(&s, 0, 1);
    wait_ms(&s, 1000);
    op1(&s, OP_EOF, 0);
    wait_ms(&s, 500);
    op(&s, OP_SHUTDOWN);
    wait_ms(&s, 6000);
    done(&s);

    /* A peer cut mid-sync and reconnected, discouragement off. */
    start(&s, HELPERS(1) | 0x40);
    mine(&s, 1, 8);
    connect(&s, 0, 1);
    pump(&s, 3);
    op1(&s, OP_CUT, 0);
    wait_ms(&s, 2000);
    connect(&s, 0, 1);
    wait_ms(&s, 3000);
    done(&s);

    /* Inbound slots full of ready peers: eviction by the protection rules. */
    start(&s, HELPERS(3) | INBOUND_2);
    mine(&s, 1, 1);
    connect(&s, 1, 0);
    wait_ms(&s, 500);
    publish(&s, 2, 1, 'e');
    connect(&s, 2, 0);
    wait_ms(&s, 500);
    connect(&s, 3, 0);
    wait_ms(&s, 1000);
    raw_open(&s, 0, 1, 1);
    wait_ms(&s, 1000);
    done(&s);
}

/* Seeds: clocks ahead, low-work branches, noban, batches and restarts. */
static void node_seeds_time(void)
{
    script s;

    /* Helpers whose clocks run ahead: headers held as TIME_TOO_NEW, taken later. */
    for (uint8_t skew = SKEW_3MIN; skew <= SKEW_10MIN; skew++) {
        start2(&s, HELPERS(1), skew);
        mine(&s, 1, 3);
        connect(&s, 0, 1);
        wait_ms(&s, 2000);
        wait_ms(&s, 200000);
        wait_ms(&s, 2000);
        wait_ms(&s, 600000);
        wait_ms(&s, 2000);
        done(&s);
    }

    /* A long low-work branch against a victim that keeps 4 such headers. */
    start2(&s, HELPERS(2), LOW_WORK_4);
    mine(&s, 0, 5);
    mine(&s, 1, 12);
    connect(&s, 0, 1);
    wait_ms(&s, 3000);
    mine(&s, 2, 3);
    connect(&s, 2, 0);
    wait_ms(&s, 3000);
    done(&s);

    /* --noban helpers misbehave; the victim listens nowhere; input always waits. */
    start2(&s, HELPERS(2), NOBAN_TEN | NO_LISTEN | ALWAYS_INPUT);
    connect(&s, 1, 0);
    connect(&s, 0, 2);
    wait_ms(&s, 1000);
    inject(&s, 0, CAIRN_T_HEADERS, (const uint8_t *)"\x08\x07\x12\x01\x00", 5);
    wait_ms(&s, 1000);
    connect(&s, 1, 0);
    raw_open(&s, 0x80, 2, 3);
    op1(&s, OP_HEARD, 0);
    wait_ms(&s, 12000);
    done(&s);

    /* Initial sync far behind, in sync batches; a commit fails; a restart resumes. */
    start2(&s, HELPERS(1) | DIALS, BATCHES);
    mine(&s, 1, 24);
    connect(&s, 0, 1);
    wait_ms(&s, 1500);
    wait_ms(&s, 1500);
    op(&s, OP_RESTART);
    connect(&s, 0, 1);
    wait_ms(&s, 2000);
    mine(&s, 1, 20);
    pump(&s, 8);
    op1(&s, OP_STORE_FAIL, 1);
    wait_ms(&s, 3000);
    op(&s, OP_RESTART);
    connect(&s, 1, 0);
    wait_ms(&s, 3000);
    done(&s);

    /* A restart with addresses and discouragements to save and load; dials fail. */
    start(&s, HELPERS(3) | DIALS);
    connect(&s, 1, 2);
    connect(&s, 3, 1);
    wait_ms(&s, 1000);
    connect(&s, 0, 1);
    wait_ms(&s, 2000);
    wait_ms(&s, 61000);
    inject(&s, 0, CAIRN_T_PING, (const uint8_t *)"\x08", 1);
    wait_ms(&s, 1000);
    op1(&s, OP_DIAL_FAIL, 3);
    op(&s, OP_RESTART);
    wait_ms(&s, 5000);
    wait_ms(&s, 61000);
    done(&s);

    /* Raw inbound connections over IPv6 and IPv4-mapped IPv6. */
    start(&s, HELPERS(1) | INBOUND_117);
    for (int i = 0; i < 4; i++) {
        raw_open(&s, (uint8_t)(i < 2 ? 3 : 0x40 | i), (uint8_t)(i + 1), (uint8_t)(i * 3));
    }
    raw_send(&s, 1, "\xca\x1e\x00\x04\x00\x00\x00\x00", 8);
    connect(&s, 1, 0);
    wait_ms(&s, 11000);
    done(&s);

    /* A branch of equal work first (its headers not stored [SYNC-45]), then
     * heavier: fetched again, storing it. */
    for (int low = 0; low < 2; low++) {
        start2(&s, HELPERS(2), low ? LOW_WORK_4 : 0);
        mine(&s, 0, 6 + low);
        mine(&s, 1, 6 + low);
        connect(&s, 0, 1);
        wait_ms(&s, 2000);
        mine(&s, 1, 4);
        wait_ms(&s, 3000);
        mine(&s, 2, 7);
        connect(&s, 2, 0);
        wait_ms(&s, 2000);
        mine(&s, 2, 5);
        wait_ms(&s, 3000);
        done(&s);
    }

    all_messages(inject_each, NULL);
}

/* GetManifest / GetChunk payloads for the served files of fuzz_node_world.c
 * (file f's ID is 32 bytes of 0xA0 + f). */
static size_t file_request(uint8_t *b, uint64_t rid, int f, int chunk, uint64_t index)
{
    size_t n = 0;
    b[n++] = 0x08;
    b[n++] = (uint8_t)rid;
    b[n++] = 0x12;
    b[n++] = 32;
    memset(b + n, 0xA0 + f, 32);
    n += 32;
    if (chunk && index) { /* proto3: a zero index is left out */
        b[n++] = 0x18;
        b[n++] = (uint8_t)index;
    }
    return n;
}

/* Seeds: the long world (pre-built chains of 1000-2100 blocks on a network
 * of one-bit proof of work) and served files. */
static void node_seeds_world(void)
{
    script s;

    /* Helper 1's heavier branch from genesis: 2000 headers lighter than the
     * tip are checked and not stored, then fetched again and stored [SYNC-45]. */
    start3(&s, HELPERS(2), 0, LONG_WORLD);
    connect(&s, 0, 1);
    wait_ms(&s, 3000);
    wait_ms(&s, 9000);
    wait_ms(&s, 9000);
    done(&s);

    /* The same against a victim that keeps 4 low-work headers: the branch
     * fetched again is pinned [SYNC-44]; cut after its first 2000 headers
     * are stored, they are low-work and unpinned, and the heavier headers
     * helper 2 mines on A (more than 4 of them: one does not start a pass)
     * prune them. */
    for (int v = 0; v < 10; v++) {
        int rounds = 4 + 2 * (v / 2);
        start3(&s, HELPERS(2), LOW_WORK_4, LONG_WORLD);
        connect(&s, 0, 1);
        pump(&s, rounds);
        op1(&s, OP_CUT, 0);
        mine(&s, 2, v & 1 ? 5 : 1);
        connect(&s, 2, 0);
        wait_ms(&s, 3000);
        connect(&s, 0, 1);
        wait_ms(&s, 9000);
        done(&s);
    }

    /* An empty helper syncs 2050 blocks from the victim (Headers answers of
     * 2000, bodies under the upload budget); the victim restarts on its long
     * store with sync batches. */
    start3(&s, HELPERS(3), BATCHES, LONG_WORLD);
    connect(&s, 3, 0);
    wait_ms(&s, 3000);
    wait_ms(&s, 9000);
    op(&s, OP_RESTART);
    connect(&s, 0, 1);
    wait_ms(&s, 1500);
    op(&s, OP_RESTART);
    connect(&s, 0, 1);
    wait_ms(&s, 9000);
    mine(&s, 0, 2);
    wait_ms(&s, 2000);
    done(&s);

    /* The redownload meets a stall and a cut, then a reconnect. */
    start3(&s, HELPERS(2), 0, LONG_WORLD);
    connect(&s, 0, 1);
    pump(&s, 6);
    mute(&s, 0, 0);
    wait_ms(&s, 9000);
    wait_ms(&s, 70000);
    op1(&s, OP_CUT, 0);
    connect(&s, 0, 1);
    wait_ms(&s, 9000);
    done(&s);

    /* [SEC-8] Full Headers answers (2000 headers, 192 KB each) asked for
     * faster than the peer reads: past OUTPUT_SOFT the victim holds the next
     * requests; it serves them when the peer next sends something (a Ping)
     * after its output drained, or answers BUSY after 30 s. */
    for (int busy = 0; busy < 2; busy++) {
        start3(&s, HELPERS(2), 0, LONG_WORLD);
        connect(&s, 2, 0);
        wait_ms(&s, 1000);
        mute(&s, 0, 0);
        for (int i = 0; i < 10; i++) {
            uint8_t gh[36] = {0x08, (uint8_t)(1 + i), 0x12, 32};
            memset(gh + 4, 0x22, 32);
            inject(&s, 0, CAIRN_T_GET_HEADERS, gh, sizeof(gh));
        }
        if (busy) {
            wait_ms(&s, 40000);
        } else {
            pump(&s, 32);
            inject(&s, 0, CAIRN_T_PING, (const uint8_t *)"\x08\x05", 2);
        }
        pump(&s, 32);
        wait_ms(&s, 1000);
        done(&s);
    }

    /* Served files: manifests and chunks asked for in a helper's session
     * (the answers are not delivered: the helper asked for none of them). */
    uint8_t b[64];
    start3(&s, HELPERS(1), 0, FILES);
    connect(&s, 1, 0);
    wait_ms(&s, 1000);
    mute(&s, 0, 0);
    for (int f = 0; f < 4; f++)
        inject(&s, 0, CAIRN_T_GET_MANIFEST, b, file_request(b, (uint64_t)(1 + f), f, 0, 0));
    wait_ms(&s, 500);
    for (int i = 0; i < 5; i++)
        inject(&s, 0, CAIRN_T_GET_CHUNK, b, file_request(b, (uint64_t)(10 + i), 0, 1, (uint64_t)i));
    inject(&s, 0, CAIRN_T_GET_CHUNK, b, file_request(b, 20, 1, 1, 0));
    inject(&s, 0, CAIRN_T_GET_CHUNK, b, file_request(b, 21, 2, 1, 0));
    inject(&s, 0, CAIRN_T_GET_CHUNK, b, file_request(b, 22, 3, 1, 0));
    wait_ms(&s, 500);
    inject(&s, 0, CAIRN_T_GET_CHUNK, b, file_request(b, 23, 0, 1, 9));
    wait_ms(&s, 1000);
    done(&s);

    /* Chunks to a peer that reads nothing: the output queue fills. */
    start3(&s, HELPERS(1), 0, FILES);
    connect(&s, 0, 1);
    wait_ms(&s, 1000);
    mute(&s, 0, 1);
    for (int i = 0; i < 60; i++)
        inject(&s, 0, CAIRN_T_GET_CHUNK, b,
               file_request(b, (uint64_t)(30 + i), 0, 1, (uint64_t)(i % 5)));
    wait_ms(&s, 3000);
    done(&s);
}

/* Seeds: requests past the victim's rates, refusals of the victim's own. */
static void node_seeds_rates(void)
{
    script s;
    uint8_t b[4096];

    /* [REQ-21] GetHeaders past 100 at once from one session: RATE_LIMITED
     * (the answers are not delivered: the helper asked for none of them). */
    start(&s, HELPERS(1));
    connect(&s, 1, 0);
    wait_ms(&s, 1000);
    mute(&s, 0, 0);
    for (int i = 0; i < 110; i++) {
        size_t n = 0;
        b[n++] = 0x08;
        b[n++] = (uint8_t)(1 + i);
        b[n++] = 0x12;
        b[n++] = 32;
        memset(b + n, 0x11, 32);
        n += 32;
        inject(&s, 0, CAIRN_T_GET_HEADERS, b, n);
    }
    wait_ms(&s, 1000);
    done(&s);

    /* [REL-22] [REL-23] Entries past 256 at once from one session: relayed
     * ones dropped, submitted ones RATE_LIMITED. */
    start(&s, HELPERS(1));
    connect(&s, 1, 0);
    wait_ms(&s, 1000);
    mute(&s, 0, 0);
    for (int f = 0; f < 18; f++) {
        size_t n = 0;
        for (int i = 0; i < 16; i++) {
            b[n++] = 0x0a;
            b[n++] = 5;
            b[n++] = 0x00; /* a data entry */
            b[n++] = 'r';
            b[n++] = (uint8_t)f;
            b[n++] = (uint8_t)i;
            b[n++] = '!';
        }
        inject(&s, 0, CAIRN_T_ENTRIES, b, n);
    }
    for (int i = 0; i < 4; i++) {
        uint8_t e[] = {0x08, (uint8_t)(1 + i), 0x12, 5, 0x00, 's', (uint8_t)i, '.', '!'};
        inject(&s, 0, CAIRN_T_SUBMIT_ENTRY, e, sizeof(e));
    }
    wait_ms(&s, 1000);
    done(&s);

    /* [REQ-22] BUSY and RATE_LIMITED answering the victim's GetHeaders (its
     * request IDs 1-2 after one pump round) and GetBlock (3-8 after two): it
     * rests 1 s and asks again. */
    for (int v = 0; v < 4; v++) {
        int bodies = v >= 2, code = v & 1 ? 22 : 21;
        start(&s, HELPERS(1));
        mine(&s, 1, 6);
        connect(&s, 0, 1);
        pump(&s, 1 + bodies);
        mute(&s, 0, 0);
        pump(&s, 4);
        for (int rid = bodies ? 3 : 1; rid <= (bodies ? 8 : 2); rid++) {
            uint8_t e[] = {0x08, (uint8_t)code, 0x18, (uint8_t)rid};
            inject(&s, 0, CAIRN_T_ERROR, e, sizeof(e));
        }
        mute(&s, 0, 0);
        wait_ms(&s, 1500);
        wait_ms(&s, 3000);
        done(&s);
    }
}

/* Seeds: the store fails inside a sync batch [VAL-31]: the core stops. */
static void node_seeds_stop(void)
{
    script s;
    start2(&s, HELPERS(1), BATCHES);
    mine(&s, 1, 40);
    connect(&s, 0, 1);
    pump(&s, 2);
    op1(&s, OP_STORE_FAIL, 0);
    wait_ms(&s, 2000);
    wait_ms(&s, 2000);
    done(&s);
}

void node_seeds(void)
{
    node_seeds_stop();
    node_seeds_rates();
    node_seeds_chain();
    node_seeds_peers();
    node_seeds_time();
    node_seeds_world();
}
