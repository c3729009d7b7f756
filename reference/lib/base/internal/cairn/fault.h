/*
 * Switchable faults, for the conformance suite's self-test (conformance/
 * README.md, "The suite tests itself"): a build configured with
 * -DCAIRN_FAULT_INJECTION=ON compiles fault points into the library, and a
 * program switches them on with the environment variable CAIRN_FAULTS, a
 * comma-separated list of fault names (CAIRN_FAULTS=skip_magic,pong_nonce).
 * In every other build CAIRN_FAULT() is the constant 0 and the fault points
 * compile away.
 */
#ifndef CAIRN_FAULT_H
#define CAIRN_FAULT_H

#ifdef __cplusplus
extern "C" {
#endif

enum cairn_fault {
    CAIRN_FAULT_SKIP_MAGIC = 1u << 0,             /* frame: any magic is accepted */
    CAIRN_FAULT_SKIP_TYPE_CAP = 1u << 1,          /* frame: no per-type payload cap */
    CAIRN_FAULT_CANONICAL_AS_MALFORMED = 1u << 2, /* msg: NON_CANONICAL reported as MALFORMED */
    CAIRN_FAULT_ACCEPT_UNKNOWN_FIELD = 1u << 3,   /* msg: unknown fields are ignored */
    CAIRN_FAULT_SKIP_FIELD_RULES = 1u << 4,       /* msg: no semantic validation on decode */
    CAIRN_FAULT_ACCEPT_BAD_SIGNATURE = 1u << 5,   /* session: Auth is not verified */
    CAIRN_FAULT_SKIP_VERSION_CHECK = 1u << 6,     /* session: Hello.version 0 is accepted */
    CAIRN_FAULT_SKIP_NETWORK_CHECK = 1u << 7,     /* session: any network_id is accepted */
    CAIRN_FAULT_SKIP_SELF_CHECK = 1u << 8,        /* session: no self-connection detection */
    CAIRN_FAULT_PONG_NONCE = 1u << 9,             /* session: Pong carries nonce + 1 */
    CAIRN_FAULT_EARLY_MESSAGES = 1u << 10,        /* session: any type is legal before READY */
    CAIRN_FAULT_SIGN_WRONG_ROLE = 1u << 11,       /* session: Auth signed with the peer's role */
    CAIRN_FAULT_NO_BINDING = 1u << 12,            /* session: transcript without the exporter */
    CAIRN_FAULT_WRONG_CODE = 1u << 13, /* session: every fatal Error is PROTOCOL_VIOLATION */
    CAIRN_FAULT_PERMISSIVE_ED25519 = 1u << 14, /* base: Ed25519 as OpenSSL alone (no §6.4.1) */
    CAIRN_FAULT_DROP_SYNC_BLOCKS = 1u << 15,   /* node: a Block of <= 64 entries is discarded */
    CAIRN_FAULT_NO_ANNOUNCE = 1u << 16,        /* node: a new tip is never announced (SYNC-50) */
    CAIRN_FAULT_NO_RELAY = 1u << 17,        /* node: accepted entries are never relayed (REL-27) */
    CAIRN_FAULT_BEST_CHAIN_ONLY = 1u << 18, /* node: bodies only along the best header chain */
    CAIRN_FAULT_EMPTY_PEERS = 1u << 19,     /* node: every GetPeers is answered empty (DISC-18) */
};

/* The fault names, as in CAIRN_FAULTS: "skip_magic", ... NULL-terminated. */
extern const char *const cairn_fault_names[];

/* Whether `fault` is on. Reads CAIRN_FAULTS the first time it is called. */
int cairn_fault_on(unsigned fault);
/* Replaces the mask (tests); the environment is then no longer read. */
void cairn_fault_set(unsigned mask);

#ifdef CAIRN_FAULT_INJECTION
#define CAIRN_FAULT(name) cairn_fault_on(CAIRN_FAULT_##name)
#else
#define CAIRN_FAULT(name) 0
#endif

#ifdef __cplusplus
}
#endif
#endif
