/*
 * The node_core target's optional worlds (fuzz_node_core.c, third config
 * byte): a network of cheap proof of work with long pre-built chains, and
 * served files.
 *
 * The long world. Real chains of more than one Headers answer
 * (CAIRN_HEADERS_MAX = 2000) cannot be mined per input on devnet (12 bits,
 * about 4096 hashes a block), so this world runs on its own network: devnet's
 * rules with one bit of proof of work and another genesis (a custom network
 * as §9.8 defines them; cairn_network_verify checks it). Two chains are mined
 * once per process and written into the cores' stores before they open (as a
 * node restarting on its data directory): A of NC_LONG_A blocks on genesis,
 * and B of NC_LONG_B blocks forking from genesis, heavier than A but with its
 * first 2000 headers lighter than A's tip. The victim holds A, helper 1 B
 * (so the victim's header sync with it meets the redownload of SYNC-45 and
 * its pins against the low-work bound of SYNC-44), helper 2 A too (a block
 * it mines is a heavier header that prunes what a broken redownload left),
 * helper 3 nothing (it syncs from the victim, which serves full Headers
 * answers and bodies). The block index outgrows its first table, every block
 * carries an entry (the recent-entry index of REL-24 fills and, on the
 * reorganisation to B, empties again).
 *
 * Served files. An in-memory share behind cairn_node_files with the answers
 * cairnd's share gives: file 0 served whole, file 1 whose chunk reads fail
 * (its data went away after the proof was read: not found), file 2 whose
 * store fails (a negative error: BUSY), anything else not found, an index
 * past the last chunk INVALID_FIELD [CHK-3]. The oracle: every Manifest the
 * victim writes is byte for byte a served file's manifest with no ranges
 * [FILE-13], and every Chunk is exactly the chunk of that index of a served
 * file, data and audit path.
 */
#include <string.h>

#include "cairn/merkle.h"
#include "common.h"
#include "fuzz_node_core.h"

/* ---- the long world ----------------------------------------------------------------- */

typedef struct nc_block {
    uint8_t hdr[CAIRN_BLOCK_HEADER_LEN];
    uint8_t entry[8]; /* CAIRN_ENTRY_DATA, the chain's tag, its height */
} nc_block;

static const uint8_t long_genesis_entry[] = "\0Cairn fuzz long world: one bit of proof of work";
static cairn_network long_net;
static nc_block *chain_a, *chain_b;

static void entry_of(nc_block *b, char tag, uint64_t height)
{
    b->entry[0] = CAIRN_ENTRY_DATA;
    b->entry[1] = (uint8_t)tag;
    for (int k = 0; k < 6; k++)
        b->entry[2 + k] = (uint8_t)(height >> (8 * (5 - k)));
}

/* Mines `n` blocks on the genesis of long_net, one second apart. */
static nc_block *mine_chain(size_t n, char tag)
{
    cairn_chain *c;
    cairn_chain_config cc = {.net = &long_net, .env = cairn_port_env()};
    FUZZ_CHECK(cairn_chain_new(&c, &cc) == 0, "long world chain");
    nc_block *out = calloc(n, sizeof(*out));
    FUZZ_CHECK(out, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cairn_block_header hdr;
        uint8_t id[CAIRN_HASH_LEN];
        size_t k;
        FUZZ_CHECK(cairn_miner_template(c, NULL, long_net.genesis_time_ms + (i + 1) * 1000, &hdr,
                                        NULL, 0, &k) == 0,
                   "template");
        entry_of(&out[i], tag, hdr.height);
        cairn_bytes_ref e = {out[i].entry, sizeof(out[i].entry)};
        FUZZ_CHECK(cairn_block_entries_root(NULL, hdr.entries_root, &e, 1) == 0, "root");
        FUZZ_CHECK(cairn_miner_solve(NULL, &hdr, UINT64_MAX, out[i].hdr, id) == 0, "solve");
        cairn_chain_result res;
        uint32_t reason = 0;
        int rv = cairn_chain_add_block(c, out[i].hdr, CAIRN_BLOCK_HEADER_LEN, &e, 1, &res, &reason);
        FUZZ_CHECK(rv == 0 && res.status == CAIRN_CHAIN_ADDED && res.tip_changed,
                   "long world block %zu: %d reason %u", i + 1, rv, reason);
    }
    cairn_chain_del(c);
    return out;
}

const cairn_network *nc_long_net(void)
{
    if (chain_a)
        return &long_net;
    long_net = *cairn_network_devnet();
    long_net.name = "fuzz-long";
    long_net.bits = 1;
    long_net.genesis_time_ms -= 86400000; /* a day before the fake wall clock starts */
    long_net.genesis_entry = long_genesis_entry;
    long_net.genesis_entry_len = sizeof(long_genesis_entry) - 1;
    cairn_block_header hdr;
    uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
    FUZZ_CHECK(cairn_network_genesis(&long_net, &hdr, raw) == 0, "genesis");
    FUZZ_CHECK(cairn_miner_solve(NULL, &hdr, UINT64_MAX, raw, long_net.genesis_id) == 0, "genesis");
    long_net.genesis_nonce = hdr.nonce;
    FUZZ_CHECK(cairn_network_verify(&long_net) == 0, "the long world's network");
    chain_a = mine_chain(NC_LONG_A, 'A');
    chain_b = mine_chain(NC_LONG_B, 'B');
    return &long_net;
}

/* Writes node i's chain into its (empty) store, as an earlier run would have. */
void nc_long_preload(cairn_node_memstore *ms, int i, const cairn_env *env)
{
    const nc_block *blocks = i == 1 ? chain_b : chain_a;
    size_t n = i == 0 || i == 2 ? NC_LONG_A : i == 1 ? NC_LONG_B : 0;
    if (!n)
        return;
    cairn_chain *c;
    cairn_chain_config cc = {
        .net = &long_net, .env = env, .store = cairn_node_memstore_iface(ms)->chain};
    FUZZ_CHECK(cairn_chain_new(&c, &cc) == 0, "preload");
    for (size_t k = 0; k < n; k++) {
        cairn_bytes_ref e = {blocks[k].entry, sizeof(blocks[k].entry)};
        uint32_t reason = 0;
        int rv =
            cairn_chain_add_block(c, blocks[k].hdr, CAIRN_BLOCK_HEADER_LEN, &e, 1, NULL, &reason);
        FUZZ_CHECK(rv == 0, "preload block %zu: %d reason %u", k + 1, rv, reason);
    }
    FUZZ_CHECK(cairn_chain_tip(c)->hdr.height == n, "preloaded tip");
    cairn_chain_del(c);
}

/* ---- served files -------------------------------------------------------------------- */

#define NC_CHUNK_MAX 96
static const size_t file_chunks[NC_FILES] = {5, 1, 3};
static const size_t file_last[NC_FILES] = {40, 17, NC_CHUNK_MAX}; /* the last chunk's length */

typedef struct nc_file {
    uint8_t manifest[48];
    uint8_t data[8][NC_CHUNK_MAX];
    uint8_t leaves[8][CAIRN_HASH_LEN];
    uint8_t root[CAIRN_HASH_LEN];
} nc_file;

static nc_file files[NC_FILES];
static int files_ready;

static size_t chunk_len(int f, uint64_t index)
{
    return index + 1 == file_chunks[f] ? file_last[f] : NC_CHUNK_MAX;
}

static void files_init(void)
{
    for (int f = 0; f < NC_FILES; f++) {
        nc_file *x = &files[f];
        for (size_t i = 0; i < file_chunks[f]; i++) {
            for (size_t j = 0; j < NC_CHUNK_MAX; j++)
                x->data[i][j] = (uint8_t)(f * 89 + i * 31 + j);
            FUZZ_CHECK(cairn_merkle_leaf_hash(NULL, x->leaves[i], x->data[i], chunk_len(f, i)) == 0,
                       "leaf");
        }
        FUZZ_CHECK(cairn_merkle_root(NULL, x->root, (const uint8_t(*)[CAIRN_HASH_LEN])x->leaves,
                                     file_chunks[f]) == 0,
                   "root");
        /* what the core relays as it is: the entry type, the file's number, its root */
        x->manifest[0] = CAIRN_ENTRY_MANIFEST;
        memcpy(x->manifest + 1, "fuzz file ", 10);
        x->manifest[11] = (uint8_t)('0' + f);
        memcpy(x->manifest + 16, x->root, CAIRN_HASH_LEN);
    }
    files_ready = 1;
}

void nc_file_id(int f, uint8_t id[CAIRN_HASH_LEN])
{
    memset(id, 0xA0 + f, CAIRN_HASH_LEN);
}

static int file_of(const uint8_t id[CAIRN_HASH_LEN])
{
    for (int f = 0; f < NC_FILES; f++) {
        uint8_t x[CAIRN_HASH_LEN];
        nc_file_id(f, x);
        if (memcmp(x, id, CAIRN_HASH_LEN) == 0)
            return f;
    }
    return -1;
}

static int fs_manifest(void *ud, const uint8_t id[CAIRN_HASH_LEN], Cairn__V1__Manifest *out)
{
    (void)ud;
    int f = file_of(id);
    if (f < 0)
        return 1; /* [FILE-12] */
    out->manifest.data = files[f].manifest;
    out->manifest.len = sizeof(files[f].manifest);
    out->n_have = 0; /* [FILE-13] every chunk is served */
    out->have = NULL;
    return 0;
}

static uint8_t proof[64][CAIRN_HASH_LEN];
static ProtobufCBinaryData proof_bd[64];

static int fs_prepare(void *ud, const uint8_t id[CAIRN_HASH_LEN], uint64_t index,
                      Cairn__V1__Chunk *out)
{
    (void)ud;
    int f = file_of(id);
    if (f < 0)
        return 1; /* [CHK-4] */
    if (index >= file_chunks[f])
        return CAIRN_ERR_PROTO(CAIRN_E_INVALID_FIELD); /* [CHK-3] */
    if (f == 2)
        return CAIRN_ERR_INTERNAL; /* its store fails */
    size_t k;
    FUZZ_CHECK(cairn_merkle_proof(NULL, (const uint8_t(*)[CAIRN_HASH_LEN])files[f].leaves,
                                  file_chunks[f], (size_t)index, proof, 64, &k) == 0,
               "proof");
    for (size_t i = 0; i < k; i++)
        proof_bd[i] = (ProtobufCBinaryData){CAIRN_HASH_LEN, proof[i]};
    out->index = index;    /* as cairnd's share: the core sends what prepare filled [CHK-7] */
    out->data.data = NULL; /* chunk_read brings the bytes */
    out->data.len = chunk_len(f, index);
    out->n_proof = k;
    out->proof = k ? proof_bd : NULL;
    return 0;
}

static int fs_read(void *ud, const uint8_t id[CAIRN_HASH_LEN], uint64_t index, uint8_t *dst)
{
    (void)ud;
    int f = file_of(id);
    if (f != 0)
        return 1; /* file 1: its data went away */
    memcpy(dst, files[f].data[index], chunk_len(f, index));
    return 0;
}

const cairn_node_files *nc_files(void)
{
    static const cairn_node_files fs = {fs_manifest, fs_prepare, fs_read, NULL};
    if (!files_ready)
        files_init();
    return &fs;
}

void nc_files_check(uint16_t type, const ProtobufCMessage *m)
{
    if (type == CAIRN_T_MANIFEST) {
        const Cairn__V1__Manifest *x = (const Cairn__V1__Manifest *)m;
        int ok = 0;
        for (int f = 0; f < NC_FILES; f++)
            ok |= x->manifest.len == sizeof(files[f].manifest) &&
                  memcmp(x->manifest.data, files[f].manifest, x->manifest.len) == 0;
        FUZZ_CHECK(ok && x->n_have == 0, "a Manifest that no served file has");
        return;
    }
    const Cairn__V1__Chunk *c = (const Cairn__V1__Chunk *)m;
    /* Only file 0's chunks are ever read: the chunk of that index, its audit path. */
    FUZZ_CHECK(c->index < file_chunks[0], "Chunk index %llu past file 0",
               (unsigned long long)c->index);
    size_t len = chunk_len(0, c->index);
    FUZZ_CHECK(c->data.len == len && memcmp(c->data.data, files[0].data[c->index], len) == 0,
               "Chunk %llu carries other bytes than the file's", (unsigned long long)c->index);
    uint8_t want[64][CAIRN_HASH_LEN];
    size_t k;
    FUZZ_CHECK(cairn_merkle_proof(NULL, (const uint8_t(*)[CAIRN_HASH_LEN])files[0].leaves,
                                  file_chunks[0], (size_t)c->index, want, 64, &k) == 0,
               "proof");
    FUZZ_CHECK(c->n_proof == k, "Chunk %llu with %zu proof hashes, not %zu",
               (unsigned long long)c->index, c->n_proof, k);
    for (size_t i = 0; i < k; i++)
        FUZZ_CHECK(c->proof[i].len == CAIRN_HASH_LEN &&
                       memcmp(c->proof[i].data, want[i], CAIRN_HASH_LEN) == 0,
                   "Chunk %llu proof hash %zu differs", (unsigned long long)c->index, i);
}
