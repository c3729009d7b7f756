// The simulated Internet: every node has one access link (its own upload
// and download rate, its own one-way delay) to the router of its region;
// the regions' routers are fully meshed by core links whose one-way delay
// comes from a measured region-to-region latency table (README.md, "Link
// model"). Routing is arithmetic on the address (node i is 10.0.0.0 + i + 1),
// so a router with thousands of access links forwards in O(1) and keeps no
// table; a partition is a flag the routers consult per packet.
#ifndef CAIRN_SIM_TOPOLOGY_H
#define CAIRN_SIM_TOPOLOGY_H

#include <cstdint>
#include <string>
#include <vector>

#include <ns3/ipv4-address.h>
#include <ns3/node.h>
#include <ns3/ptr.h>

namespace cairnsim
{

// A deterministic generator (splitmix64) for every draw the simulator makes
// itself, so results depend on the scenario's seed only.
class Rng
{
  public:
    explicit Rng(uint64_t seed) : m_s(seed) {}
    uint64_t Next();
    double Uniform(); // [0, 1)
    double Exponential(double mean);
    void Fill(uint8_t *buf, size_t len);

  private:
    uint64_t m_s;
};

struct RegionModel {
    std::string name;
    double share;    // of nodes
    double up_bps;   // mean upload
    double down_bps; // mean download
    double intra_ms; // mean one-way delay between two nodes of the region
};

// The link model a scenario selects (only "simblock-2015" for now).
struct LinkModel {
    std::string name;
    std::vector<RegionModel> regions;
    std::vector<std::vector<double>> latency_ms; // mean one-way, region to region
    double spread;                               // per-node factor in [1-spread, 1+spread]
};

bool LoadLinkModel(const std::string &name, double spread, LinkModel *out);

struct NodeLink {
    uint16_t region;
    uint8_t group;      // partition side
    uint32_t router_if; // interface index on the region's router
    double up_bps, down_bps, access_ms;
};

class Topology
{
  public:
    // Builds n leaf nodes and the routers. Parameters are drawn from `rng`.
    Topology(uint32_t n, const LinkModel &m, double partition_fraction, Rng &rng);

    uint32_t Size() const { return (uint32_t)m_links.size(); }
    ns3::Ptr<ns3::Node> Leaf(uint32_t i) const { return m_leaves[i]; }
    const NodeLink &Link(uint32_t i) const { return m_links[i]; }
    static ns3::Ipv4Address AddressOf(uint32_t i) { return ns3::Ipv4Address(0x0A000001u + i); }
    // The node index of an address, or -1.
    int64_t IndexOf(ns3::Ipv4Address a) const;

    void SetPartitioned(bool on) { m_partitioned = on; }
    bool Partitioned() const { return m_partitioned; }
    // Whether a packet from node a to node b crosses the partition now.
    bool Blocked(uint32_t a, uint32_t b) const
    {
        return m_partitioned && m_links[a].group != m_links[b].group;
    }
    uint32_t CoreIf(uint16_t from, uint16_t to) const { return m_core_if[from][to]; }
    uint64_t Dropped() const { return m_dropped; }
    void CountDrop() { m_dropped++; }

  private:
    std::vector<NodeLink> m_links;
    std::vector<ns3::Ptr<ns3::Node>> m_leaves, m_routers;
    std::vector<std::vector<uint32_t>> m_core_if;
    bool m_partitioned = false;
    uint64_t m_dropped = 0;
};

} // namespace cairnsim
#endif
