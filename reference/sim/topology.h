// The simulated Internet: every node has one access link (its own upload
// and download rate, its own one-way delay) to an access router of its
// region (at most kArSize nodes each: ns-3 scans a node's protocol handlers
// per packet, one per device, so no router may have thousands of links);
// access routers hang off their region's router by links that add no delay
// and no bottleneck; the regions' routers are fully meshed by core links whose one-way delay
// comes from a measured region-to-region latency table (README.md, "Link
// model"). Routing is arithmetic on the address (AddressOf),
// so a router with thousands of access links forwards in O(1) and keeps no
// table; a partition is a flag the routers consult per packet. The addresses
// are public-looking so that the core's address book treats them as the
// Internet; they never leave the process.
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
    uint8_t group;  // partition side
    uint32_t ar;    // its access router
    uint32_t ar_if; // its interface on the access router
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
    // Node i's address: 20.0.0.1 and up, node i in /16 number i mod 10240
    // of 20.0.0.0-59.255.255.255 (each node its own network group up to
    // 10,240 nodes), host i / 10240 + 1 in it.
    static ns3::Ipv4Address AddressOf(uint32_t i)
    {
        uint32_t g = i % kGroups, h = i / kGroups + 1;
        return ns3::Ipv4Address(((20u + g / 256) << 24) | ((g % 256) << 16) | h);
    }
    static const uint32_t kGroups = 40 * 256;
    static const uint32_t kArSize = 64;
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
    // The region router's interface towards access router `ar`.
    uint32_t ArIf(uint32_t ar) const { return m_ar_if[ar]; }
    uint64_t Dropped() const { return m_dropped; }
    void CountDrop() { m_dropped++; }

  private:
    std::vector<NodeLink> m_links;
    std::vector<ns3::Ptr<ns3::Node>> m_leaves, m_routers, m_ars;
    std::vector<uint32_t> m_ar_if;
    std::vector<std::vector<uint32_t>> m_core_if;
    bool m_partitioned = false;
    uint64_t m_dropped = 0;
};

} // namespace cairnsim
#endif
