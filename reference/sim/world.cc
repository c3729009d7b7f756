// The run (sim.h): builds the network, schedules starts, mining, churn,
// partitions and floods, keeps the event log and its digest, and measures
// propagation.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstring>

#include <arpa/inet.h>
#include <malloc.h>

#include <jansson.h>

#include <ns3/node-list.h>
#include <ns3/point-to-point-net-device.h>
#include <ns3/queue.h>
#include <ns3/simulator.h>
#include <ns3/tcp-socket.h>
#include <ns3/uinteger.h>

#include "sim.h"

using namespace ns3;

namespace cairnsim
{

// Simulated clocks: the monotonic one starts well above zero; the wall clock
// one day after the devnet genesis, so mined times are valid.
static const uint64_t kMonoBase = 1000000;

uint64_t World::MonoMs() const
{
    return kMonoBase + (uint64_t)Simulator::Now().GetMilliSeconds();
}

uint64_t World::WallMs() const
{
    return cairn_network_devnet()->genesis_time_ms + 86400000ull +
           (uint64_t)Simulator::Now().GetMilliSeconds();
}

static std::string Hex(const uint8_t *p, size_t n)
{
    std::string s;
    char b[3];
    for (size_t i = 0; i < n; i++) {
        snprintf(b, sizeof(b), "%02x", p[i]);
        s += b;
    }
    return s;
}

void World::Log(uint32_t node, const char *fmt, ...)
{
    char line[512];
    int k = snprintf(line, sizeof(line), "%lld %u ", (long long)Simulator::Now().GetNanoSeconds(),
                     node);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + k, sizeof(line) - (size_t)k - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)k + (size_t)std::min<int>(m, (int)(sizeof(line) - (size_t)k - 2));
    line[len++] = '\n';
    EVP_DigestUpdate(m_digest, line, len);
    if (m_logf)
        fwrite(line, 1, len, m_logf);
    m_log_lines++;
}

std::string World::Digest()
{
    uint8_t md[32];
    unsigned int len = 0;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    EVP_MD_CTX_copy_ex(copy, m_digest);
    EVP_DigestFinal_ex(copy, md, &len);
    EVP_MD_CTX_free(copy);
    return Hex(md, len);
}

int64_t World::NodeOf(const struct sockaddr *sa) const
{
    if (sa->sa_family != AF_INET)
        return -1;
    const struct sockaddr_in *sin = reinterpret_cast<const struct sockaddr_in *>(sa);
    int64_t i = m_topo->IndexOf(Ipv4Address(ntohl(sin->sin_addr.s_addr)));
    if (i < 0 || (uint64_t)i >= m_nodes.size() || ntohs(sin->sin_port) != CAIRN_DEFAULT_PORT)
        return -1;
    return i;
}

World::World(const Scenario &s, const LinkModel &m) : m_sc(s), m_model(m), m_rng(s.seed)
{
    m_digest = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m_digest, EVP_sha256(), nullptr);
    double frac = s.split_s < s.heal_s ? s.partition_fraction : 0.0;
    m_topo = std::make_unique<Topology>(s.nodes, m, frac, m_rng);
    for (uint32_t i = 0; i < s.nodes; i++)
        m_nodes.push_back(std::make_unique<SimNode>(this, i));

    // Roles on distinct random nodes among the initially online ones.
    uint32_t initial = s.nodes - s.churn_spare;
    std::vector<uint32_t> order(initial);
    for (uint32_t i = 0; i < initial; i++)
        order[i] = i;
    for (uint32_t i = initial; i > 1; i--)
        std::swap(order[i - 1], order[m_rng.Next() % i]);
    uint32_t k = 0;
    double share = 1.0, total = 0;
    for (uint32_t i = 0; i < s.miners + s.withholders; i++) {
        SimNode *n = m_nodes[order[k++]].get();
        n->hash_share = share;
        n->withholder = i >= s.miners;
        total += share;
        if (s.miner_distribution == "geometric")
            share *= s.miner_ratio;
        m_miners.push_back(n->Index());
    }
    double acc = 0;
    for (uint32_t i : m_miners) {
        acc += m_nodes[i]->hash_share / total;
        m_cum_share.push_back(acc);
    }
    for (uint32_t i = 0; i < s.flooders; i++)
        m_nodes[order[k++]]->flooder = true;

    // Every node starts knowing `known_addrs` random initially online nodes.
    for (uint32_t i = 0; i < s.nodes; i++) {
        SimStore &st = m_nodes[i]->m_store;
        for (uint32_t j = 0; j < s.known_addrs && initial > 1; j++) {
            uint32_t to = (uint32_t)(m_rng.Next() % initial);
            if (to == i)
                continue;
            cairn_node_addr_rec r;
            memset(&r, 0, sizeof(r));
            struct sockaddr_in *sin = reinterpret_cast<struct sockaddr_in *>(&r.sa);
            sin->sin_family = AF_INET;
            sin->sin_port = htons(CAIRN_DEFAULT_PORT);
            sin->sin_addr.s_addr = htonl(Topology::AddressOf(to).Get());
            r.salen = sizeof(*sin);
            r.last_seen_ms = 0;
            r.services = CAIRN_SERVICE_CHAIN | CAIRN_SERVICE_RELAY | CAIRN_SERVICE_PEERS;
            r.table = 1;
            st.addrs.push_back(r);
        }
    }
    // Starts spread over the first seconds.
    for (uint32_t i = 0; i < initial; i++) {
        double t = m_rng.Uniform() * std::min(5.0, s.warmup_s / 2 + 0.001);
        Simulator::Schedule(Seconds(t), &SimNode::Start, m_nodes[i].get());
    }
    ScheduleMining();
    if (s.split_s < s.heal_s) {
        Simulator::Schedule(Seconds(s.split_s), &World::Partition, this, true);
        Simulator::Schedule(Seconds(s.heal_s), &World::Partition, this, false);
    }
    if (s.leave_per_min > 0)
        ScheduleChurn(true);
    if (s.join_per_min > 0)
        ScheduleChurn(false);
    for (uint32_t i = 0; i < s.nodes; i++) {
        if (!m_nodes[i]->flooder || s.flood_per_s <= 0)
            continue;
        for (double t = s.warmup_s; t < s.duration_s - s.quiet_s; t += 1.0 / s.flood_per_s)
            Simulator::Schedule(Seconds(t), &SimNode::Flood, m_nodes[i].get());
    }
    Simulator::Schedule(Seconds(1), &World::Reap, this);
}

World::~World()
{
    m_nodes.clear();
    m_grave.clear();
    EVP_MD_CTX_free(m_digest);
    if (m_logf)
        fclose(m_logf);
}

void World::Reap()
{
    m_grave.clear();
    if (Simulator::Now() < Seconds(m_sc.duration_s))
        Simulator::Schedule(Seconds(1), &World::Reap, this);
}

void World::ScheduleMining()
{
    double t = Simulator::Now().GetSeconds();
    if (t < m_sc.warmup_s)
        t = m_sc.warmup_s;
    t += m_rng.Exponential(m_sc.block_interval_s);
    if (t >= m_sc.duration_s - m_sc.quiet_s ||
        (m_sc.max_blocks && m_blocks_mined >= m_sc.max_blocks))
        return;
    Simulator::Schedule(Seconds(t) - Simulator::Now(), &World::MineOne, this);
}

void World::MineOne()
{
    double u = m_rng.Uniform();
    size_t i = 0;
    while (i + 1 < m_cum_share.size() && u >= m_cum_share[i])
        i++;
    SimNode *n = m_nodes[m_miners[i]].get();
    if (n->Online()) {
        m_mining_node = n->Index();
        n->Mine();
        m_mining_node = -1;
        m_blocks_mined++;
        n->Settle();
    }
    ScheduleMining();
}

void World::ScheduleChurn(bool leave)
{
    double rate = leave ? m_sc.leave_per_min : m_sc.join_per_min;
    double t = std::max(Simulator::Now().GetSeconds(), m_sc.churn_start_s) +
               m_rng.Exponential(60.0 / rate);
    if (t >= m_sc.churn_stop_s)
        return;
    Simulator::Schedule(Seconds(t) - Simulator::Now(), &World::Churn, this, leave);
}

// A leave takes a random online node that is neither miner nor adversary
// down; a join brings a random offline node up (a spare, or one that left).
void World::Churn(bool leave)
{
    std::vector<uint32_t> cand;
    for (auto &n : m_nodes)
        if (n->Online() == leave && n->hash_share == 0 && !n->flooder)
            cand.push_back(n->Index());
    if (!cand.empty()) {
        SimNode *n = m_nodes[cand[m_rng.Next() % cand.size()]].get();
        if (leave)
            n->Stop();
        else
            n->Start();
    }
    ScheduleChurn(leave);
}

void World::Partition(bool on)
{
    m_topo->SetPartitioned(on);
    Log(UINT32_MAX, on ? "partition" : "heal");
    if (!on) {
        m_heal_t = Simulator::Now().GetSeconds();
        CheckConverged();
    }
}

std::shared_ptr<const Body> World::FindBody(const BlockId &id) const
{
    auto it = m_bodies.find(id);
    return it == m_bodies.end() ? nullptr : it->second.lock();
}

std::shared_ptr<const Body> World::MakeBody(const BlockId &id, const cairn_bytes_ref *e, size_t n)
{
    auto b = std::make_shared<Body>();
    for (size_t i = 0; i < n; i++) {
        b->entries.emplace_back((uint32_t)b->bytes.size(), (uint32_t)e[i].len);
        b->bytes.insert(b->bytes.end(), e[i].data, e[i].data + e[i].len);
    }
    m_bodies[id] = b;
    return b;
}

BlockInfo &World::Info(const BlockId &id, uint32_t node, uint64_t height)
{
    auto it = m_block_index.find(id);
    if (it != m_block_index.end())
        return m_blocks[it->second];
    // The first store to see a block is its miner's.
    BlockInfo b;
    b.id = id;
    b.height = height;
    b.miner = node;
    b.serial = (uint32_t)m_blocks.size();
    b.t_mined = Simulator::Now().GetSeconds();
    b.online_at_mine = m_online;
    b.t_header.assign(m_nodes.size(), -1.0f);
    b.t_full.assign(m_nodes.size(), -1.0f);
    m_block_index.emplace(id, m_blocks.size());
    m_blocks.push_back(std::move(b));
    Log(node, "mined %s h=%llu", Hex(id.data(), 8).c_str(), (unsigned long long)height);
    return m_blocks.back();
}

void World::OnHeader(uint32_t node, const BlockId &id, uint64_t height, double t)
{
    BlockInfo &b = Info(id, node, height);
    if (b.t_header[node] < 0)
        b.t_header[node] = (float)(t - b.t_mined);
    Log(node, "header %s", Hex(id.data(), 8).c_str());
}

void World::OnBody(uint32_t node, const BlockId &id, double t_valid)
{
    auto it = m_block_index.find(id);
    if (it == m_block_index.end())
        return;
    BlockInfo &b = m_blocks[it->second];
    if (b.t_full[node] < 0)
        b.t_full[node] = (float)(t_valid - b.t_mined);
    if (b.body_bytes == 0) {
        auto body = FindBody(id);
        b.body_bytes = body ? body->bytes.size() : 0;
    }
    Log(node, "block %s", Hex(id.data(), 8).c_str());
}

void World::OnTip(uint32_t node, const BlockId *old_tip, const BlockId &tip, uint64_t height)
{
    // During cairn_node_new (m_core not set yet) the node is not counted:
    // OnOnline counts it with the tip it ends up on.
    if (old_tip && m_nodes[node]->m_core) {
        auto it = m_tip_count.find(*old_tip);
        if (it != m_tip_count.end() && --it->second == 0)
            m_tip_count.erase(it);
    }
    if (m_nodes[node]->m_core) {
        ++m_tip_count[tip];
        CheckConverged();
    }
    Log(node, "tip %s h=%llu", Hex(tip.data(), 8).c_str(), (unsigned long long)height);
}

// After a heal: the first moment every online node is on one tip.
void World::CheckConverged()
{
    if (m_heal_t < 0 || m_converged_t >= 0)
        return;
    for (const auto &kv : m_tip_count)
        if (kv.second == m_online)
            m_converged_t = Simulator::Now().GetSeconds();
}

void World::OnOnline(uint32_t node, bool up)
{
    SimNode *n = m_nodes[node].get();
    if (up) {
        m_online++;
        m_tip_count[n->m_store.tip]++;
    } else {
        m_online--;
        auto it = m_tip_count.find(n->m_store.tip);
        if (it != m_tip_count.end() && --it->second == 0)
            m_tip_count.erase(it);
    }
    CheckConverged();
}

void World::Run()
{
    if (!log_path.empty())
        m_logf = fopen(log_path.c_str(), "w");
    Simulator::Stop(Seconds(m_sc.duration_s));
    Simulator::Run();
}

void World::MemReportEvery(double every_s)
{
    m_mem_every = every_s;
    if (every_s > 0)
        Simulator::Schedule(Seconds(every_s), &World::MemReport, this);
}

// Where the memory is: the process (RSS, malloc's bytes in use), the cores'
// heap (sessions' queues included), the driver's input buffers, ns-3's TCP
// buffers and device queues, the shared bodies and the stores' records.
void World::MemReport()
{
    long pages = 0, rss = 0;
    if (FILE *f = fopen("/proc/self/statm", "r")) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    struct mallinfo2 mi = mallinfo2();
    size_t out_q = 0, inbuf = 0, tx = 0, rx = 0, recs = 0, held = 0, conns = 0;
    for (auto &n : m_nodes) {
        recs += n->m_store.recs.capacity() * sizeof(SimStore::Rec);
        held += n->m_store.bodies.size();
        for (auto &kv : n->m_conns) {
            Conn *c = kv.second.get();
            conns++;
            inbuf += c->inbuf.capacity();
            if (c->peer && n->m_core) {
                const uint8_t *d;
                out_q += cairn_node_peer_pending(n->m_core, c->peer, &d);
            }
            if (c->sock) {
                UintegerValue snd;
                c->sock->GetAttribute("SndBufSize", snd);
                tx += snd.Get() - c->sock->GetTxAvailable();
                rx += c->sock->GetRxAvailable();
            }
        }
    }
    size_t qbytes = 0;
    for (uint32_t i = 0; i < NodeList::GetNNodes(); i++) {
        Ptr<ns3::Node> nd = NodeList::GetNode(i);
        for (uint32_t d = 0; d < nd->GetNDevices(); d++) {
            Ptr<PointToPointNetDevice> p2p = DynamicCast<PointToPointNetDevice>(nd->GetDevice(d));
            if (p2p)
                qbytes += p2p->GetQueue()->GetNBytes();
        }
    }
    size_t bodies = 0, body_bytes = 0;
    for (auto &kv : m_bodies)
        if (auto b = kv.second.lock()) {
            bodies++;
            body_bytes += b->bytes.capacity();
        }
    const double M = 1048576.0;
    fprintf(stderr,
            "mem t=%.0f rss=%.0f heap=%.0f mmap=%.0f core=%.1f outq=%.1f inbuf=%.1f tcp_tx=%.1f "
            "tcp_rx=%.1f devq=%.1f bodies=%zu/%.1f held=%zu recs=%.1f conns=%zu grave=%zu "
            "events=%llu (MiB)\n",
            Simulator::Now().GetSeconds(), (double)rss * 4096 / M, (double)mi.uordblks / M,
            (double)mi.hblkhd / M, (double)CoreHeapBytes() / M, (double)out_q / M,
            (double)inbuf / M, (double)tx / M, (double)rx / M, (double)qbytes / M, bodies,
            (double)body_bytes / M, held, (double)recs / M, conns, m_grave.size(),
            (unsigned long long)Simulator::GetEventCount());
    if (Simulator::Now() + Seconds(m_mem_every) < Seconds(m_sc.duration_s))
        Simulator::Schedule(Seconds(m_mem_every), &World::MemReport, this);
}

// ---- results ---------------------------------------------------------------------------

// The time by which `pct` % of `n` nodes had it, or -1.
static double Percentile(std::vector<float> v, uint32_t n, double pct)
{
    v.erase(std::remove_if(v.begin(), v.end(), [](float x) { return x < 0; }), v.end());
    std::sort(v.begin(), v.end());
    size_t need = (size_t)std::ceil(pct / 100.0 * n);
    if (need == 0)
        need = 1;
    if (v.size() < need)
        return -1;
    return v[need - 1];
}

static json_t *Round(double x)
{
    return x < 0 ? json_null() : json_real(std::round(x * 1000.0) / 1000.0);
}

static double Median(std::vector<double> v)
{
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return x < 0; }), v.end());
    if (v.empty())
        return -1;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

bool World::WriteResults(const std::string &json_path, const std::string &dat_path)
{
    static const double pcts[] = {50, 90, 95, 99};
    // The most-work tip among online nodes (equal work: any of those with
    // the greatest height; all blocks of a network weigh the same).
    const cairn_chain_block *best = nullptr;
    SimNode *best_node = nullptr;
    for (auto &n : m_nodes) {
        if (!n->m_core)
            continue;
        const cairn_chain_block *t = cairn_chain_tip(cairn_node_chain(n->m_core));
        if (!best || cairn_work_cmp(&t->work, &best->work) > 0) {
            best = t;
            best_node = n.get();
        }
    }
    uint32_t online = 0, on_best = 0;
    std::vector<uint64_t> sent;
    for (auto &n : m_nodes) {
        sent.push_back(n->BytesSent());
        if (!n->m_core)
            continue;
        online++;
        const cairn_chain_block *t = cairn_chain_tip(cairn_node_chain(n->m_core));
        if (best && memcmp(t->id, best->id, CAIRN_HASH_LEN) == 0)
            on_best++;
    }
    json_t *root = json_object();
    json_object_set_new(root, "scenario", json_string(m_sc.name.c_str()));
    json_object_set_new(root, "seed", json_integer((json_int_t)m_sc.seed));
    json_object_set_new(root, "nodes", json_integer(m_sc.nodes));
    json_object_set_new(root, "online_at_end", json_integer(online));
    json_object_set_new(root, "link_model", json_string(m_model.name.c_str()));
    json_object_set_new(root, "block_size", json_integer(m_sc.block_size));
    json_object_set_new(root, "sim_seconds", json_real(m_sc.duration_s));
    json_object_set_new(root, "events", json_integer((json_int_t)Simulator::GetEventCount()));
    json_object_set_new(root, "log_lines", json_integer((json_int_t)m_log_lines));

    json_t *blocks = json_array();
    std::vector<double> med[2][4];
    size_t stale = 0;
    std::vector<std::vector<double>> cdf_h(100), cdf_b(100);
    for (const BlockInfo &b : m_blocks) {
        bool in_best = false;
        if (best_node) {
            const cairn_chain_block *r =
                cairn_chain_find(cairn_node_chain(best_node->m_core), b.id.data());
            in_best = r && cairn_chain_is_active(cairn_node_chain(best_node->m_core), r);
        }
        stale += in_best ? 0 : 1;
        uint32_t n = b.online_at_mine ? b.online_at_mine : 1;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(Hex(b.id.data(), 8).c_str()));
        json_object_set_new(o, "height", json_integer((json_int_t)b.height));
        json_object_set_new(o, "miner", json_integer(b.miner));
        json_object_set_new(o, "mined_at", Round(b.t_mined));
        json_object_set_new(o, "body_bytes", json_integer((json_int_t)b.body_bytes));
        json_object_set_new(o, "in_best_chain", json_boolean(in_best));
        json_object_set_new(o, "nodes_online", json_integer(b.online_at_mine));
        const std::vector<float> *series[2] = {&b.t_header, &b.t_full};
        const char *names[2] = {"header", "block"};
        for (int s = 0; s < 2; s++) {
            json_t *p = json_object();
            for (int k = 0; k < 4; k++) {
                double v = Percentile(*series[s], n, pcts[k]);
                char key[8];
                snprintf(key, sizeof(key), "p%d", (int)pcts[k]);
                json_object_set_new(p, key, Round(v));
                if (in_best)
                    med[s][k].push_back(v);
            }
            json_object_set_new(o, names[s], p);
        }
        if (in_best)
            for (int pc = 1; pc <= 100; pc++) {
                cdf_h[pc - 1].push_back(Percentile(b.t_header, n, pc));
                cdf_b[pc - 1].push_back(Percentile(b.t_full, n, pc));
            }
        json_array_append_new(blocks, o);
    }
    json_object_set_new(root, "blocks", blocks);

    json_t *sum = json_object();
    json_object_set_new(sum, "blocks_mined", json_integer((json_int_t)m_blocks.size()));
    json_object_set_new(sum, "stale_blocks", json_integer((json_int_t)stale));
    json_object_set_new(
        sum, "stale_rate",
        json_real(m_blocks.empty()
                      ? 0.0
                      : std::round(1e4 * (double)stale / (double)m_blocks.size()) / 1e4));
    const char *names[2] = {"header", "block"};
    for (int s = 0; s < 2; s++) {
        json_t *p = json_object();
        for (int k = 0; k < 4; k++) {
            char key[8];
            snprintf(key, sizeof(key), "p%d", (int)pcts[k]);
            json_object_set_new(p, key, Round(Median(med[s][k])));
        }
        json_object_set_new(sum, (std::string("median_") + names[s]).c_str(), p);
    }
    std::sort(sent.begin(), sent.end());
    uint64_t total = 0;
    for (uint64_t v : sent)
        total += v;
    json_t *bs = json_object();
    json_object_set_new(bs, "mean",
                        json_integer((json_int_t)(sent.empty() ? 0 : total / sent.size())));
    json_object_set_new(bs, "p50",
                        json_integer((json_int_t)(sent.empty() ? 0 : sent[sent.size() / 2])));
    json_object_set_new(bs, "p90",
                        json_integer((json_int_t)(sent.empty() ? 0 : sent[sent.size() * 9 / 10])));
    json_object_set_new(bs, "max", json_integer((json_int_t)(sent.empty() ? 0 : sent.back())));
    json_object_set_new(sum, "bytes_sent_per_node", bs);
    json_object_set_new(sum, "best_tip", json_string(best ? Hex(best->id, 8).c_str() : ""));
    json_object_set_new(sum, "best_height", json_integer(best ? (json_int_t)best->hdr.height : 0));
    json_object_set_new(sum, "nodes_on_best_tip", json_integer(on_best));
    json_object_set_new(sum, "all_on_best_tip", json_boolean(online > 0 && on_best == online));
    json_object_set_new(sum, "partition_dropped_packets",
                        json_integer((json_int_t)m_topo->Dropped()));
    if (m_heal_t >= 0) {
        json_object_set_new(sum, "healed_at", Round(m_heal_t));
        json_object_set_new(sum, "converged_after_heal_s",
                            Round(m_converged_t < 0 ? -1 : m_converged_t - m_heal_t));
    }
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "digest", json_string(Digest().c_str()));
    int rv = json_dump_file(root, json_path.c_str(), JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rv != 0)
        return false;

    FILE *f = fopen(dat_path.c_str(), "w");
    if (!f)
        return false;
    fprintf(f, "# percent of nodes, median seconds after mining: header, full block\n");
    for (int pc = 1; pc <= 100; pc++) {
        double h = Median(cdf_h[pc - 1]), b = Median(cdf_b[pc - 1]);
        if (h < 0 && b < 0)
            continue;
        fprintf(f, "%d %s %s\n", pc, h < 0 ? "NaN" : std::to_string(h).c_str(),
                b < 0 ? "NaN" : std::to_string(b).c_str());
    }
    return fclose(f) == 0;
}

} // namespace cairnsim
