// The simulator's driver: each simulated node is a cairn node core
// (cairn/node.h) on a deduplicating in-memory store, speaking the wire
// protocol in plaintext over ns-3 TCP sockets. World holds the run: the
// scenario, the topology, the nodes, the event log and the measurements.
#ifndef CAIRN_SIM_SIM_H
#define CAIRN_SIM_SIM_H

#include <array>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <openssl/evp.h>

#include <ns3/event-id.h>
#include <ns3/nstime.h>
#include <ns3/socket.h>

#include "cairn/node.h"
#include "scenario.h"
#include "topology.h"

namespace cairnsim
{

using BlockId = std::array<uint8_t, CAIRN_HASH_LEN>;
struct BlockIdHash {
    size_t operator()(const BlockId &b) const
    {
        size_t h;
        memcpy(&h, b.data(), sizeof(h));
        return h;
    }
};

// One block body, shared by every node that stores it (bodies dominate the
// memory of a run; each node keeps only which ones it has).
struct Body {
    std::vector<uint8_t> bytes;
    std::vector<std::pair<uint32_t, uint32_t>> entries; // offset, length
};

// What the run learns about one block, from the stores' writes.
struct BlockInfo {
    BlockId id;
    uint64_t height = 0;
    uint32_t miner = 0;
    uint32_t serial = 0; // in mining order
    double t_mined = 0;
    size_t body_bytes = 0;
    uint32_t online_at_mine = 0;
    std::vector<float> t_header, t_full; // per node, seconds after mining; <0 never
};

class World;
class SimNode;

// Heap bytes the node cores (and their sessions) hold, all nodes together.
size_t CoreHeapBytes();

// One transport: an ns-3 TCP socket and the core's peer on it.
struct Conn {
    SimNode *owner = nullptr;
    ns3::Ptr<ns3::Socket> sock;
    cairn_node_peer *peer = nullptr;
    std::vector<uint8_t> inbuf; // read from the socket, not yet taken by the session
    int dial_id = -1;
    uint64_t serial = 0;
    bool closed = false;
    bool dirty = false;   // a FLUSH is due (listed in the node's m_dirty)
    bool touched = false; // its deadline may have changed (in m_touched)
    uint64_t timer_at = UINT64_MAX;
    ns3::EventId timer;

    void OnRecv(ns3::Ptr<ns3::Socket>);
    void OnSend(ns3::Ptr<ns3::Socket>, uint32_t);
    void OnClose(ns3::Ptr<ns3::Socket>);
    void OnConnected(ns3::Ptr<ns3::Socket>);
    void OnConnectFailed(ns3::Ptr<ns3::Socket>);
    void OnTimer();
};

// The in-memory store of one node (cairn_node_store): records in arrival
// order, bodies by reference into the world's cache, the address book.
struct SimStore {
    struct Rec {
        uint8_t raw[CAIRN_BLOCK_HEADER_LEN];
        uint64_t height;
        bool data;
    };
    std::vector<Rec> recs;
    std::unordered_map<BlockId, size_t, BlockIdHash> index;
    std::unordered_map<BlockId, std::shared_ptr<const Body>, BlockIdHash> bodies;
    BlockId tip{};
    bool have_tip = false;
    std::vector<cairn_node_addr_rec> addrs;
    cairn_chain_store chain{};
    cairn_node_store iface{};
};

class SimNode
{
  public:
    SimNode(World *w, uint32_t idx);
    ~SimNode();
    void Start();
    void Stop();
    bool Online() const { return m_core != nullptr; }
    cairn_node *Core() { return m_core; }
    uint32_t Index() const { return m_idx; }
    uint64_t BytesSent() const { return m_bytes_sent; }
    const BlockId &Tip() const { return m_store.tip; }
    void Mine();
    void Flood();
    void Settle();

    // Roles.
    double hash_share = 0;
    bool withholder = false, flooder = false;

  private:
    friend struct Conn;
    friend class World;
    static int StoreWrite(void *ud, const cairn_chain_write *w);
    static int StoreLoad(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                         int *have_tip);
    static int StoreGetBlock(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                             uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn,
                             void *fn_ud);
    static int StoreSaveAddrs(void *ud, const cairn_node_addr_rec *recs, size_t n);
    static int StoreLoadAddrs(void *ud, int (*fn)(void *, const cairn_node_addr_rec *),
                              void *fn_ud);
    static uint64_t EnvMono(void *ud);
    static uint64_t EnvWall(void *ud);
    static int EnvRandom(uint8_t *buf, size_t len, void *ud);

    bool OnConnRequest(ns3::Ptr<ns3::Socket>, const ns3::Address &);
    void OnAccept(ns3::Ptr<ns3::Socket>, const ns3::Address &);
    void Dial(const cairn_node_action &a);
    void Flush(Conn *c);
    void Pump(Conn *c);
    void CloseConn(Conn *c, bool tell_core);
    void Timers();
    void OnTimer();
    void FlushAll();
    Conn *NewConn(ns3::Ptr<ns3::Socket> s);
    void MarkDirty(Conn *c);
    void Touch(Conn *c);

    World *m_w;
    uint32_t m_idx;
    Rng m_rng;
    cairn_identity *m_id = nullptr;
    cairn_env m_env{};
    cairn_node *m_core = nullptr;
    SimStore m_store;
    ns3::Ptr<ns3::Socket> m_listener;
    std::map<uint64_t, std::unique_ptr<Conn>> m_conns;
    std::vector<uint64_t> m_dirty, m_touched; // conn serials
    uint64_t m_next_serial = 1;
    uint64_t m_bytes_sent = 0;
    ns3::Time m_busy_until; // CPU: validating blocks
    ns3::Time m_hold_until; // withholding: no output before
    bool m_flush_scheduled = false, m_resume_scheduled = false;
    uint64_t m_timer_at = UINT64_MAX;
    ns3::EventId m_timer;
    uint64_t m_mined = 0;
    bool m_settling = false;
};

class World
{
  public:
    World(const Scenario &s, const LinkModel &m);
    ~World();
    void Run();
    // Writes the results (deterministic: no wall time) as JSON and the
    // propagation CDF as a gnuplot data file. Returns false on an I/O error.
    bool WriteResults(const std::string &json_path, const std::string &dat_path);
    std::string Digest();
    uint64_t LogLines() const { return m_log_lines; }
    // Every `every_s` simulated seconds, a line on stderr of where the
    // memory is (never in the log or the digest: it reads the heap).
    void MemReportEvery(double every_s);

    void Log(uint32_t node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    uint64_t MonoMs() const;
    uint64_t WallMs() const;
    const Scenario &Sc() const { return m_sc; }
    Topology &Topo() { return *m_topo; }
    SimNode *Node(uint32_t i) { return m_nodes[i].get(); }
    uint32_t Size() const { return (uint32_t)m_nodes.size(); }
    int64_t NodeOf(const struct sockaddr *sa) const;
    void Bury(std::unique_ptr<Conn> c) { m_grave.push_back(std::move(c)); }

    // From the stores.
    std::shared_ptr<const Body> FindBody(const BlockId &id) const;
    std::shared_ptr<const Body> MakeBody(const BlockId &id, const cairn_bytes_ref *e, size_t n);
    void OnHeader(uint32_t node, const BlockId &id, uint64_t height, double t);
    void OnBody(uint32_t node, const BlockId &id, double t_valid);
    void OnTip(uint32_t node, const BlockId *old_tip, const BlockId &tip, uint64_t height);
    void OnOnline(uint32_t node, bool up);
    bool Mining() const { return m_mining_node >= 0; }

    uint64_t entry_counter = 0;

  private:
    void ScheduleMining();
    void MineOne();
    void Churn(bool leave);
    void ScheduleChurn(bool leave);
    void Partition(bool on);
    void Reap();
    void CheckConverged();
    void MemReport();
    BlockInfo &Info(const BlockId &id, uint32_t node, uint64_t height);

    Scenario m_sc;
    LinkModel m_model;
    Rng m_rng;
    std::unique_ptr<Topology> m_topo;
    std::vector<std::unique_ptr<SimNode>> m_nodes;
    std::vector<std::unique_ptr<Conn>> m_grave;
    std::unordered_map<BlockId, std::weak_ptr<const Body>, BlockIdHash> m_bodies;
    std::unordered_map<BlockId, size_t, BlockIdHash> m_block_index;
    std::vector<BlockInfo> m_blocks;
    std::unordered_map<BlockId, uint32_t, BlockIdHash> m_tip_count;
    uint32_t m_online = 0;
    int64_t m_mining_node = -1;
    uint32_t m_blocks_mined = 0;
    double m_heal_t = -1, m_converged_t = -1;
    EVP_MD_CTX *m_digest;
    FILE *m_logf = nullptr;
    uint64_t m_log_lines = 0;
    std::vector<double> m_cum_share; // miners' cumulative hash share
    std::vector<uint32_t> m_miners;
    double m_mem_every = 0;

  public:
    std::string log_path;
};

} // namespace cairnsim
#endif
