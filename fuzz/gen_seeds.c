/*
 * Seed generator for the fuzz corpora, built with the library itself.
 *
 *   fuzz_gen_seeds seeds OUTDIR [SPEC_VECTORS_DIR]
 *       writes OUTDIR/<target>/<sha256 prefix> for every target: every
 *       message type built by hand and encoded by cairn_msg_encode, frame
 *       streams, session scripts (handshakes, traffic, timeouts, limits),
 *       blocks (the devnet genesis and mined devnet-style blocks), Merkle
 *       trees and proofs, manifest entries; plus every frame in
 *       SPEC_VECTORS_DIR/frames.json (jansson) when it exists. fuzz/run and
 *       fuzz/ci.sh minimise them into fuzz/corpus/<target>/ with -merge=1.
 *   fuzz_gen_seeds regressions OUTDIR
 *       writes the named hardening inputs OUTDIR/msg/<what>__<EXPECTED>
 *       (the protobuf-c pitfalls of ARCHITECTURE.md) that fuzz_expect checks.
 *
 * This file holds main(); gen_seeds_out.c the output helpers and the shared
 * byte patterns; each family of seeds has its own file: gen_seeds_msg.c (messages, JSON, frames,
 * hardening regressions), gen_seeds_session.c, gen_seeds_chain.c (blocks, Merkle, manifests,
 * chains, spec vectors), gen_seeds_addrbook.c (address-book scripts),
 * gen_seeds_node.c (node core scripts).
 */
#include <string.h>

#include "gen_seeds.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s seeds OUTDIR [VECTORS_DIR] | regressions OUTDIR\n", argv[0]);
        return 2;
    }
    seeds_set_outdir(argv[2]);
    memset(ff32, 0xFF, sizeof(ff32));
    for (size_t i = 0; i < sizeof(sig64); i++)
        sig64[i] = (uint8_t)i;
    cairn_put_u32(hdr96, 1);
    manifest(manifest_entry, 100000, 16, "", 0);
    if (strcmp(argv[1], "regressions") == 0) {
        regressions();
    } else {
        all_messages(to_msg_corpus, NULL);
#ifdef HAVE_JANSSON
        all_messages(to_json_corpus, NULL);
        json_text_seeds();
#endif
        frame_seeds();
        session_seeds();
        block_seeds();
        merkle_seeds();
        manifest_seeds();
        chain_seeds();
        addrbook_seeds();
        node_seeds();
#ifdef HAVE_JANSSON
        if (argc > 3) {
            vector_seeds(argv[3]);
            block_vector_seeds(argv[3]);
            merkle_vector_seeds(argv[3]);
        }
#endif
    }
    fprintf(stderr, "%zu files in %s\n", seeds_written(), argv[2]);
    return 0;
}
