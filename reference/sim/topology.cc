// The simulated Internet (topology.h): access links, region routers, core
// links, and the arithmetic routing that forwards between them.
#include "topology.h"

#include <cmath>

#include <ns3/internet-stack-helper.h>
#include <ns3/ipv4-l3-protocol.h>
#include <ns3/ipv4-route.h>
#include <ns3/ipv4-routing-helper.h>
#include <ns3/ipv4-routing-protocol.h>
#include <ns3/point-to-point-channel.h>
#include <ns3/point-to-point-helper.h>
#include <ns3/point-to-point-net-device.h>
#include <ns3/queue.h>
#include <ns3/string.h>

using namespace ns3;

namespace cairnsim
{

uint64_t Rng::Next()
{
    uint64_t z = (m_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double Rng::Uniform()
{
    return (double)(Next() >> 11) * (1.0 / 9007199254740992.0);
}

double Rng::Exponential(double mean)
{
    return -mean * std::log(1.0 - Uniform());
}

void Rng::Fill(uint8_t *buf, size_t len)
{
    while (len > 0) {
        uint64_t v = Next();
        size_t k = len < 8 ? len : 8;
        for (size_t i = 0; i < k; i++)
            buf[i] = (uint8_t)(v >> (8 * i));
        buf += k;
        len -= k;
    }
}

// SimBlock's Bitcoin parameters for 2015 (Aoki et al., "SimBlock: A
// Blockchain Network Simulator", INFOCOM Workshops 2019; the repository's
// NetworkConfiguration): node shares per region (bitnodes), mean upload and
// download per region (testmy.net), mean latency between regions. The year
// closest to the 2014 propagation measurement we compare with.
bool LoadLinkModel(const std::string &name, double spread, LinkModel *out)
{
    if (name != "simblock-2015")
        return false;
    out->name = name;
    out->spread = spread;
    out->regions = {
        {"north-america", 0.3869, 4.7e6, 25.0e6, 36}, {"europe", 0.5159, 8.1e6, 24.0e6, 12},
        {"south-america", 0.0113, 1.8e6, 6.5e6, 137}, {"asia-pacific", 0.0574, 5.3e6, 10.0e6, 99},
        {"japan", 0.0119, 3.4e6, 17.5e6, 9},          {"australia", 0.0166, 5.2e6, 14.0e6, 22},
    };
    out->latency_ms = {
        {36, 119, 255, 310, 154, 208},  {119, 12, 221, 242, 266, 350},
        {255, 221, 137, 347, 256, 269}, {310, 242, 347, 99, 172, 278},
        {154, 266, 256, 172, 9, 163},   {208, 350, 269, 278, 163, 22},
    };
    return true;
}

// ---- Routing ------------------------------------------------------------------

// Leaves send everything up their access link and accept what is addressed
// to them; a router sends a packet for node i down i's access link when i
// is in its region, else over the core link to i's region. Routes are
// cached per output interface (the gateway is unused on point-to-point).
class StarRouting : public Ipv4RoutingProtocol
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("cairnsim::StarRouting")
                                .SetParent<Ipv4RoutingProtocol>()
                                .AddConstructor<StarRouting>();
        return tid;
    }

    // A leaf (leaf >= 0), an access router (ar >= 0) or a region router.
    void Configure(Topology *t, int64_t leaf, int64_t ar, int32_t region)
    {
        m_topo = t;
        m_leaf = leaf;
        m_ar = ar;
        m_region = region;
    }

    Ptr<Ipv4Route> RouteOutput(Ptr<Packet>, const Ipv4Header &h, Ptr<NetDevice>,
                               Socket::SocketErrno &err) override
    {
        if (m_leaf < 0 || m_topo->IndexOf(h.GetDestination()) < 0) {
            err = Socket::ERROR_NOROUTETOHOST;
            return nullptr;
        }
        err = Socket::ERROR_NOTERROR;
        return RouteVia(1, Topology::AddressOf((uint32_t)m_leaf));
    }

    bool RouteInput(Ptr<const Packet> p, const Ipv4Header &h, Ptr<const NetDevice> idev,
                    UnicastForwardCallback ucb, MulticastForwardCallback, LocalDeliverCallback lcb,
                    ErrorCallback) override
    {
        int64_t dst = m_topo->IndexOf(h.GetDestination());
        if (dst < 0)
            return false;
        if (m_leaf >= 0) {
            if (dst != m_leaf)
                return false;
            lcb(p, h, m_ipv4->GetInterfaceForDevice(idev));
            return true;
        }
        int64_t src = m_topo->IndexOf(h.GetSource());
        if (src >= 0 && m_topo->Blocked((uint32_t)src, (uint32_t)dst)) {
            m_topo->CountDrop(); // the partition swallows it
            return true;
        }
        const NodeLink &l = m_topo->Link((uint32_t)dst);
        uint32_t oif;
        if (m_ar >= 0) // down to the node, or up to the region's router (interface 1)
            oif = l.ar == (uint32_t)m_ar ? l.ar_if : 1;
        else
            oif = l.region == m_region ? m_topo->ArIf(l.ar)
                                       : m_topo->CoreIf((uint16_t)m_region, l.region);
        ucb(RouteVia(oif, Ipv4Address::GetAny()), p, h);
        return true;
    }

    void NotifyInterfaceUp(uint32_t) override {}
    void NotifyInterfaceDown(uint32_t) override {}
    void NotifyAddAddress(uint32_t, Ipv4InterfaceAddress) override {}
    void NotifyRemoveAddress(uint32_t, Ipv4InterfaceAddress) override {}
    void SetIpv4(Ptr<Ipv4> ipv4) override { m_ipv4 = ipv4; }
    void PrintRoutingTable(Ptr<OutputStreamWrapper>, Time::Unit) const override {}

  private:
    Ptr<Ipv4Route> RouteVia(uint32_t oif, Ipv4Address src)
    {
        if (oif >= m_routes.size())
            m_routes.resize(oif + 1);
        if (!m_routes[oif]) {
            Ptr<Ipv4Route> r = Create<Ipv4Route>();
            r->SetDestination(Ipv4Address::GetAny());
            r->SetGateway(Ipv4Address::GetAny());
            r->SetSource(src);
            r->SetOutputDevice(m_ipv4->GetNetDevice(oif));
            m_routes[oif] = r;
        }
        return m_routes[oif];
    }

    Ptr<Ipv4> m_ipv4;
    Topology *m_topo = nullptr;
    int64_t m_leaf = -1, m_ar = -1;
    int32_t m_region = -1;
    std::vector<Ptr<Ipv4Route>> m_routes;
};

class StarRoutingHelper : public Ipv4RoutingHelper
{
  public:
    StarRoutingHelper *Copy() const override { return new StarRoutingHelper(*this); }
    Ptr<Ipv4RoutingProtocol> Create(Ptr<Node>) const override
    {
        return CreateObject<StarRouting>();
    }
};

// ---- Topology -----------------------------------------------------------------

int64_t Topology::IndexOf(Ipv4Address a) const
{
    uint32_t v = a.Get(), o1 = v >> 24, h = v & 0xffff;
    if (o1 < 20 || o1 >= 60 || h == 0)
        return -1;
    uint64_t i = (uint64_t)(h - 1) * kGroups + (o1 - 20) * 256 + ((v >> 16) & 0xff);
    if (i >= m_links.size())
        return -1;
    return (int64_t)i;
}

static void AddIf(Ptr<Node> n, Ptr<NetDevice> d, Ipv4Address a)
{
    Ptr<Ipv4> ip = n->GetObject<Ipv4>();
    uint32_t i = ip->AddInterface(d);
    if (a != Ipv4Address::GetAny())
        ip->AddAddress(i, Ipv4InterfaceAddress(a, Ipv4Mask("255.255.255.255")));
    ip->SetUp(i);
}

static void ConfigureRouting(Ptr<Node> n, Topology *t, int64_t leaf, int64_t ar, int32_t region)
{
    Ptr<Ipv4> ip = n->GetObject<Ipv4>();
    DynamicCast<StarRouting>(ip->GetRoutingProtocol())->Configure(t, leaf, ar, region);
}

Topology::Topology(uint32_t n, const LinkModel &m, double partition_fraction, Rng &rng)
{
    InternetStackHelper stack;
    StarRoutingHelper routing;
    stack.SetRoutingHelper(routing);
    stack.SetIpv6StackInstall(false);

    size_t nr = m.regions.size();
    m_routers.resize(nr);
    for (size_t r = 0; r < nr; r++) {
        m_routers[r] = CreateObject<Node>();
        stack.Install(m_routers[r]);
        ConfigureRouting(m_routers[r], this, -1, -1, (int32_t)r);
    }
    // Core links: delay = the region-to-region mean minus the two access
    // delays' means, so that a node-to-node delay averages the table's value.
    m_core_if.assign(nr, std::vector<uint32_t>(nr, 0));
    PointToPointHelper p2p;
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", StringValue("100000p"));
    p2p.SetDeviceAttribute("DataRate", StringValue("1000Gbps"));
    for (size_t a = 0; a < nr; a++) {
        for (size_t b = a + 1; b < nr; b++) {
            double ms = m.latency_ms[a][b] - (m.regions[a].intra_ms + m.regions[b].intra_ms) / 2;
            p2p.SetChannelAttribute("Delay", TimeValue(MicroSeconds((int64_t)(ms * 1000))));
            NetDeviceContainer d = p2p.Install(m_routers[a], m_routers[b]);
            AddIf(m_routers[a], d.Get(0), Ipv4Address::GetAny());
            AddIf(m_routers[b], d.Get(1), Ipv4Address::GetAny());
            m_core_if[a][b] = m_routers[a]->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(0));
            m_core_if[b][a] = m_routers[b]->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(1));
        }
    }
    // Access links: region by share; rates and delay by the region's mean
    // times a factor uniform in [1-spread, 1+spread].
    m_links.resize(n);
    m_leaves.resize(n);
    PointToPointHelper acc, up;
    acc.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", StringValue("1000p"));
    up.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", StringValue("100000p"));
    up.SetDeviceAttribute("DataRate", StringValue("1000Gbps"));
    up.SetChannelAttribute("Delay", TimeValue(Seconds(0)));
    std::vector<int64_t> open_ar(nr, -1); // per region: the access router being filled
    std::vector<uint32_t> ar_fill;
    for (uint32_t i = 0; i < n; i++) {
        NodeLink &l = m_links[i];
        double u = rng.Uniform(), acc_share = 0;
        l.region = (uint16_t)(nr - 1);
        for (size_t r = 0; r < nr; r++) {
            acc_share += m.regions[r].share;
            if (u < acc_share) {
                l.region = (uint16_t)r;
                break;
            }
        }
        const RegionModel &rm = m.regions[l.region];
        auto factor = [&]() { return 1.0 - m.spread + 2 * m.spread * rng.Uniform(); };
        l.up_bps = rm.up_bps * factor();
        l.down_bps = rm.down_bps * factor();
        l.access_ms = rm.intra_ms / 2 * factor();
        l.group = rng.Uniform() < partition_fraction ? 1 : 0;

        if (open_ar[l.region] < 0 || ar_fill[(size_t)open_ar[l.region]] >= kArSize) {
            uint32_t a = (uint32_t)m_ars.size();
            Ptr<Node> arn = CreateObject<Node>();
            stack.Install(arn);
            ConfigureRouting(arn, this, -1, a, l.region);
            NetDeviceContainer d = up.Install(arn, m_routers[l.region]);
            AddIf(arn, d.Get(0), Ipv4Address::GetAny()); // interface 1: up
            AddIf(m_routers[l.region], d.Get(1), Ipv4Address::GetAny());
            m_ar_if.push_back(
                m_routers[l.region]->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(1)));
            m_ars.push_back(arn);
            ar_fill.push_back(0);
            open_ar[l.region] = a;
        }
        l.ar = (uint32_t)open_ar[l.region];
        ar_fill[l.ar]++;
        Ptr<Node> arn = m_ars[l.ar];

        m_leaves[i] = CreateObject<Node>();
        stack.Install(m_leaves[i]);
        ConfigureRouting(m_leaves[i], this, i, -1, l.region);
        acc.SetChannelAttribute("Delay", TimeValue(MicroSeconds((int64_t)(l.access_ms * 1000))));
        NetDeviceContainer d = acc.Install(m_leaves[i], arn);
        DynamicCast<PointToPointNetDevice>(d.Get(0))->SetDataRate(DataRate((uint64_t)l.up_bps));
        DynamicCast<PointToPointNetDevice>(d.Get(1))->SetDataRate(DataRate((uint64_t)l.down_bps));
        AddIf(m_leaves[i], d.Get(0), AddressOf(i));
        AddIf(arn, d.Get(1), Ipv4Address::GetAny());
        l.ar_if = arn->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(1));
    }
}

} // namespace cairnsim
