// One simulated node (sim.h): the node core driven over ns-3 sockets, its
// in-memory store, the CPU model and the adversarial roles.
#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <malloc.h>

#include <ns3/inet-socket-address.h>
#include <ns3/packet.h>
#include <ns3/simulator.h>
#include <ns3/tcp-socket-factory.h>

#include "cairn/port.h"
#include "sim.h"

using namespace ns3;

namespace cairnsim
{

static const uint16_t kPort = CAIRN_DEFAULT_PORT;
// Input buffer capacity a transport keeps once it has fed everything.
static const size_t kInbufKeep = 16 * 1024;
// Bytes per Socket::Send and Socket::Recv: one TCP segment. ns-3 keeps freed
// packet buffers on a free list once they are as large as the largest buffer
// ever freed (Buffer::Recycle, g_maxSize) and hands them to any new packet,
// however small: a single 256 KiB Send or Recv would make every later ACK
// and segment hold 256 KiB (the run grew without bound). Segment-sized
// buffers keep every packet at its own size.
static const uint32_t kIoChunk = 1448;

static BlockId IdOf(const uint8_t *p)
{
    BlockId b;
    memcpy(b.data(), p, b.size());
    return b;
}

// ---- the cores' allocator: malloc, counting the bytes the cores hold ------------

static size_t g_core_heap;

static void *CoreMalloc(size_t n, void *)
{
    void *p = malloc(n ? n : 1);
    if (p)
        g_core_heap += malloc_usable_size(p);
    return p;
}

static void *CoreRealloc(void *p, size_t n, void *)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n ? n : 1);
    if (q)
        g_core_heap += malloc_usable_size(q) - old;
    return q;
}

static void CoreFree(void *p, void *)
{
    if (p)
        g_core_heap -= malloc_usable_size(p);
    free(p);
}

static const cairn_mem kCoreMem = {CoreMalloc, CoreRealloc, CoreFree, nullptr};

size_t CoreHeapBytes()
{
    return g_core_heap;
}

// ---- store ----------------------------------------------------------------------

int SimNode::StoreWrite(void *ud, const cairn_chain_write *w)
{
    SimNode *n = static_cast<SimNode *>(ud);
    SimStore &st = n->m_store;
    double now = Simulator::Now().GetSeconds();
    auto add = [&](const cairn_chain_block *b, bool data) {
        BlockId id = IdOf(b->id);
        auto it = st.index.find(id);
        if (it == st.index.end()) {
            SimStore::Rec r;
            cairn_block_header_encode(r.raw, &b->hdr);
            r.height = b->hdr.height;
            r.data = data;
            st.index.emplace(id, st.recs.size());
            st.recs.push_back(r);
            if (b->hdr.height > 0)
                n->m_w->OnHeader(n->m_idx, id, b->hdr.height, now);
        } else if (data) {
            st.recs[it->second].data = true;
        }
    };
    for (size_t i = 0; i < w->n_pruned; i++) {
        BlockId id = IdOf(w->pruned[i]->id);
        auto it = st.index.find(id);
        if (it != st.index.end() && !st.recs[it->second].data)
            st.recs[it->second].height = UINT64_MAX; // skipped by load
    }
    for (size_t i = 0; i < w->n_headers; i++)
        add(w->headers[i], false);
    if (w->block) {
        BlockId id = IdOf(w->block->id);
        bool had = st.bodies.count(id) != 0;
        add(w->block, true);
        if (!had) {
            std::shared_ptr<const Body> body = n->m_w->FindBody(id);
            if (!body)
                body = n->m_w->MakeBody(id, w->entries, w->n_entries);
            st.bodies.emplace(id, body);
            // CPU: a block that arrives is validated before anything else
            // is read or sent (the miner built its own: no cost).
            Time t = std::max(Simulator::Now(), n->m_busy_until);
            if (!n->m_w->Mining() && w->block->hdr.height > 0) {
                const Scenario &sc = n->m_w->Sc();
                double us = sc.cpu_block_fixed_us +
                            sc.cpu_per_mib_ms * 1000.0 * (double)body->bytes.size() / 1048576.0;
                t += MicroSeconds((int64_t)us);
                n->m_busy_until = t;
            }
            if (w->block->hdr.height > 0)
                n->m_w->OnBody(n->m_idx, id, t.GetSeconds());
        }
    }
    if (w->tip) {
        BlockId old = st.tip;
        bool had = st.have_tip;
        st.tip = IdOf(w->tip->id);
        st.have_tip = true;
        n->m_w->OnTip(n->m_idx, had ? &old : nullptr, st.tip, w->tip->hdr.height);
    }
    return 0;
}

int SimNode::StoreLoad(void *ud, cairn_chain_load_fn fn, void *fn_ud, uint8_t tip[CAIRN_HASH_LEN],
                       int *have_tip)
{
    SimNode *n = static_cast<SimNode *>(ud);
    SimStore &st = n->m_store;
    std::vector<const SimStore::Rec *> order;
    for (const SimStore::Rec &r : st.recs)
        if (r.height != UINT64_MAX)
            order.push_back(&r);
    std::stable_sort(
        order.begin(), order.end(),
        [](const SimStore::Rec *a, const SimStore::Rec *b) { return a->height < b->height; });
    for (const SimStore::Rec *r : order)
        if (fn(fn_ud, r->raw, r->data ? 1 : 0) != 0)
            break;
    memcpy(tip, st.tip.data(), CAIRN_HASH_LEN);
    *have_tip = st.have_tip ? 1 : 0;
    return 0;
}

int SimNode::StoreGetBlock(void *ud, const uint8_t id[CAIRN_HASH_LEN],
                           uint8_t header[CAIRN_BLOCK_HEADER_LEN], cairn_node_entry_fn fn,
                           void *fn_ud)
{
    SimNode *n = static_cast<SimNode *>(ud);
    SimStore &st = n->m_store;
    BlockId key = IdOf(id);
    auto it = st.bodies.find(key);
    if (it == st.bodies.end())
        return 1;
    if (header)
        memcpy(header, st.recs[st.index.at(key)].raw, CAIRN_BLOCK_HEADER_LEN);
    if (fn)
        for (const auto &e : it->second->entries)
            if (fn(fn_ud, it->second->bytes.data() + e.first, e.second) != 0)
                break;
    return 0;
}

int SimNode::StoreSaveAddrs(void *ud, const cairn_node_addr_rec *recs, size_t n)
{
    static_cast<SimNode *>(ud)->m_store.addrs.assign(recs, recs + n);
    return 0;
}

int SimNode::StoreLoadAddrs(void *ud, int (*fn)(void *, const cairn_node_addr_rec *), void *fn_ud)
{
    for (const cairn_node_addr_rec &r : static_cast<SimNode *>(ud)->m_store.addrs)
        if (fn(fn_ud, &r) != 0)
            break;
    return 0;
}

uint64_t SimNode::EnvMono(void *ud)
{
    return static_cast<SimNode *>(ud)->m_w->MonoMs();
}

uint64_t SimNode::EnvWall(void *ud)
{
    return static_cast<SimNode *>(ud)->m_w->WallMs();
}

int SimNode::EnvRandom(uint8_t *buf, size_t len, void *ud)
{
    static_cast<SimNode *>(ud)->m_rng.Fill(buf, len);
    return 0;
}

// ---- life ------------------------------------------------------------------------

SimNode::SimNode(World *w, uint32_t idx)
    : m_w(w), m_idx(idx), m_rng(w->Sc().seed * 0x100000001B3ull + idx)
{
    uint8_t seed[CAIRN_KEY_LEN];
    m_rng.Fill(seed, sizeof(seed));
    if (cairn_identity_from_seed(&m_id, seed) != 0)
        abort(); // only a broken libcrypto fails here
    m_env.mem = &kCoreMem;
    m_env.mono_ms = EnvMono;
    m_env.wall_ms = EnvWall;
    m_env.random = EnvRandom;
    m_env.ud = this;
    m_store.chain.write = StoreWrite;
    m_store.chain.load = StoreLoad;
    m_store.chain.ud = this;
    m_store.iface.chain = &m_store.chain;
    m_store.iface.get_block = StoreGetBlock;
    m_store.iface.save_addrs = StoreSaveAddrs;
    m_store.iface.load_addrs = StoreLoadAddrs;
    m_store.iface.ud = this;
}

SimNode::~SimNode()
{
    if (m_core)
        Stop();
    cairn_identity_del(m_id);
}

void SimNode::Start()
{
    if (m_core)
        return;
    const Scenario &sc = m_w->Sc();
    cairn_node_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.net = cairn_network_devnet();
    cfg.env = &m_env;
    cfg.store = &m_store.iface;
    cfg.identity = m_id;
    cfg.user_agent = "cairn-sim/0.1.0";
    cfg.listen_port = kPort;
    struct sockaddr_in *sin = reinterpret_cast<struct sockaddr_in *>(&cfg.listen_sa);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(kPort);
    sin->sin_addr.s_addr = htonl(Topology::AddressOf(m_idx).Get());
    cfg.outbound_target = (int)sc.outbound;
    cfg.book_key = m_rng.Next();
    cfg.discourage_ms = 24u * 3600 * 1000;
    int rv = cairn_node_new(&m_core, &cfg);
    if (rv != 0) {
        m_w->Log(m_idx, "start-failed %d", rv);
        m_core = nullptr;
        return;
    }
    m_listener = Socket::CreateSocket(m_w->Topo().Leaf(m_idx), TcpSocketFactory::GetTypeId());
    m_listener->Bind(InetSocketAddress(Ipv4Address::GetAny(), kPort));
    m_listener->Listen();
    m_listener->SetAcceptCallback(MakeCallback(&SimNode::OnConnRequest, this),
                                  MakeCallback(&SimNode::OnAccept, this));
    m_w->OnOnline(m_idx, true);
    m_w->Log(m_idx, "up");
    Settle();
}

void SimNode::Stop()
{
    if (!m_core)
        return;
    // A crash: every transport aborts, the core goes without a word.
    for (auto &kv : m_conns) {
        Conn *c = kv.second.get();
        c->timer.Cancel();
        if (c->sock) {
            c->sock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
            c->sock->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
            c->sock->SetCloseCallbacks(MakeNullCallback<void, Ptr<Socket>>(),
                                       MakeNullCallback<void, Ptr<Socket>>());
            c->sock->SetConnectCallback(MakeNullCallback<void, Ptr<Socket>>(),
                                        MakeNullCallback<void, Ptr<Socket>>());
            c->sock->Close();
        }
        c->closed = true;
        m_w->Bury(std::move(kv.second));
    }
    m_conns.clear();
    m_dirty.clear();
    m_touched.clear();
    cairn_node_del(m_core);
    m_core = nullptr;
    m_listener->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address &>(),
                                  MakeNullCallback<void, Ptr<Socket>, const Address &>());
    m_listener->Close();
    m_listener = nullptr;
    m_timer.Cancel();
    m_timer_at = UINT64_MAX;
    m_w->OnOnline(m_idx, false);
    m_w->Log(m_idx, "down");
}

Conn *SimNode::NewConn(Ptr<Socket> s)
{
    auto c = std::make_unique<Conn>();
    c->owner = this;
    c->sock = s;
    c->serial = m_next_serial++;
    Conn *raw = c.get();
    m_conns.emplace(raw->serial, std::move(c));
    s->SetRecvCallback(MakeCallback(&Conn::OnRecv, raw));
    s->SetSendCallback(MakeCallback(&Conn::OnSend, raw));
    s->SetCloseCallbacks(MakeCallback(&Conn::OnClose, raw), MakeCallback(&Conn::OnClose, raw));
    return raw;
}

bool SimNode::OnConnRequest(Ptr<Socket>, const Address &)
{
    return m_core != nullptr;
}

static void ToSockaddr(Ipv4Address ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = reinterpret_cast<struct sockaddr_in *>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(ip.Get());
    *len = sizeof(*sin);
}

void SimNode::OnAccept(Ptr<Socket> s, const Address &from)
{
    if (!m_core) {
        s->Close();
        return;
    }
    InetSocketAddress in = InetSocketAddress::ConvertFrom(from);
    struct sockaddr_storage ss;
    socklen_t len;
    ToSockaddr(in.GetIpv4(), in.GetPort(), &ss, &len);
    Conn *c = NewConn(s);
    int64_t from_node = m_w->Topo().IndexOf(in.GetIpv4());
    if (cairn_node_accept(m_core, &c->peer, reinterpret_cast<struct sockaddr *>(&ss), len, c) !=
        0) {
        m_w->Log(m_idx, "refuse %lld", (long long)from_node);
        CloseConn(c, false);
        Settle();
        return;
    }
    m_w->Log(m_idx, "accept %lld", (long long)from_node);
    if (cairn_node_peer_start(m_core, c->peer, nullptr, 0, nullptr) != 0) {
        CloseConn(c, true);
        Settle();
        return;
    }
    Pump(c); // bytes may have arrived with the handshake
    Settle();
}

void SimNode::Dial(const cairn_node_action &a)
{
    int64_t to = m_w->NodeOf(reinterpret_cast<const struct sockaddr *>(&a.addr));
    const struct sockaddr_in *sin = reinterpret_cast<const struct sockaddr_in *>(&a.addr);
    if (to < 0 || (uint32_t)to == m_idx || a.addr.ss_family != AF_INET) {
        cairn_node_dial_failed(m_core, a.dial_id);
        return;
    }
    m_w->Log(m_idx, "dial %lld", (long long)to);
    Ptr<Socket> s = Socket::CreateSocket(m_w->Topo().Leaf(m_idx), TcpSocketFactory::GetTypeId());
    s->Bind();
    Conn *c = NewConn(s);
    c->dial_id = a.dial_id;
    s->SetConnectCallback(MakeCallback(&Conn::OnConnected, c),
                          MakeCallback(&Conn::OnConnectFailed, c));
    s->Connect(InetSocketAddress(Topology::AddressOf((uint32_t)to), ntohs(sin->sin_port)));
}

void Conn::OnConnected(Ptr<Socket>)
{
    SimNode *n = owner;
    if (!n->m_core || closed)
        return;
    sock->SetConnectCallback(MakeNullCallback<void, Ptr<Socket>>(),
                             MakeNullCallback<void, Ptr<Socket>>());
    int d = dial_id;
    dial_id = -1;
    if (cairn_node_dial_done(n->m_core, d, &peer, this) != 0 || !peer) {
        peer = nullptr;
        n->CloseConn(this, false);
    } else if (cairn_node_peer_start(n->m_core, peer, nullptr, 0, nullptr) != 0) {
        n->CloseConn(this, true);
    } else {
        n->m_w->Log(n->m_idx, "connected");
        n->Touch(this);
    }
    n->Settle();
}

void Conn::OnConnectFailed(Ptr<Socket>)
{
    SimNode *n = owner;
    if (!n->m_core || closed)
        return;
    n->m_w->Log(n->m_idx, "dial-failed");
    int d = dial_id;
    dial_id = -1;
    cairn_node_dial_failed(n->m_core, d);
    n->CloseConn(this, false);
    n->Settle();
}

// Ends a transport. tell_core: the core has a peer for it that must learn
// the transport is gone.
void SimNode::CloseConn(Conn *c, bool tell_core)
{
    if (c->closed)
        return;
    c->closed = true;
    c->timer.Cancel();
    c->sock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
    c->sock->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
    c->sock->SetCloseCallbacks(MakeNullCallback<void, Ptr<Socket>>(),
                               MakeNullCallback<void, Ptr<Socket>>());
    c->sock->SetConnectCallback(MakeNullCallback<void, Ptr<Socket>>(),
                                MakeNullCallback<void, Ptr<Socket>>());
    c->sock->Close();
    if (tell_core && c->peer)
        cairn_node_peer_closed(m_core, c->peer);
    c->peer = nullptr;
    auto it = m_conns.find(c->serial);
    if (it != m_conns.end()) {
        m_w->Bury(std::move(it->second));
        m_conns.erase(it);
    }
}

void Conn::OnClose(Ptr<Socket>)
{
    SimNode *n = owner;
    if (!n->m_core || closed)
        return;
    if (peer)
        cairn_node_peer_eof(n->m_core, peer, "transport closed");
    n->m_w->Log(n->m_idx, "eof");
    n->CloseConn(this, true);
    n->Settle();
}

// ---- input ------------------------------------------------------------------------

// Reads what the socket has and feeds the session, unless the node's CPU is
// busy validating (then it resumes when done) or the session pushes back.
void SimNode::Pump(Conn *c)
{
    Touch(c);
    while (!c->closed && c->peer && m_core) {
        if (Simulator::Now() < m_busy_until) {
            if (!m_resume_scheduled) {
                m_resume_scheduled = true;
                Simulator::Schedule(m_busy_until - Simulator::Now(), [this]() {
                    m_resume_scheduled = false;
                    if (!m_core)
                        return;
                    std::vector<uint64_t> keys;
                    for (auto &kv : m_conns)
                        keys.push_back(kv.first);
                    for (uint64_t k : keys) {
                        auto it = m_conns.find(k);
                        if (it != m_conns.end())
                            Pump(it->second.get());
                    }
                    Settle();
                });
            }
            return;
        }
        if (!c->inbuf.empty()) {
            long r = cairn_node_peer_recv(m_core, c->peer, c->inbuf.data(), c->inbuf.size());
            if (r < 0) {
                c->inbuf.clear();
                return;
            }
            c->inbuf.erase(c->inbuf.begin(), c->inbuf.begin() + r);
            if (!c->inbuf.empty())
                return; // backpressure: the flush that drains output resumes
            if (c->inbuf.capacity() > kInbufKeep)
                std::vector<uint8_t>().swap(c->inbuf); // an idle transport holds nothing
            continue;
        }
        if (!cairn_node_peer_want_read(c->peer))
            return;
        Ptr<Packet> p = c->sock->Recv(kIoChunk, 0);
        if (!p || p->GetSize() == 0)
            return;
        size_t old = c->inbuf.size();
        c->inbuf.resize(old + p->GetSize());
        p->CopyData(c->inbuf.data() + old, p->GetSize());
    }
}

void Conn::OnRecv(Ptr<Socket>)
{
    SimNode *n = owner;
    if (!n->m_core || closed)
        return;
    n->Pump(this);
    n->Settle();
}

void Conn::OnSend(Ptr<Socket>, uint32_t)
{
    SimNode *n = owner;
    if (!n->m_core || closed || !peer)
        return;
    n->MarkDirty(this);
    n->Settle();
}

// ---- output and timers ---------------------------------------------------------------

void SimNode::MarkDirty(Conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        m_dirty.push_back(c->serial);
    }
}

void SimNode::Touch(Conn *c)
{
    if (!c->touched) {
        c->touched = true;
        m_touched.push_back(c->serial);
    }
}

void SimNode::Flush(Conn *c)
{
    c->dirty = false;
    if (c->closed || !c->peer)
        return;
    Touch(c);
    const uint8_t *d;
    size_t len;
    while ((len = cairn_node_peer_pending(m_core, c->peer, &d)) > 0) {
        uint32_t room = c->sock->GetTxAvailable();
        if (room == 0)
            break; // OnSend comes back
        uint32_t k = (uint32_t)std::min<size_t>(std::min<size_t>(len, room), kIoChunk);
        int sent = c->sock->Send(d, k, 0);
        if (sent <= 0)
            break;
        m_bytes_sent += (uint64_t)sent;
        cairn_node_peer_sent(m_core, c->peer, (size_t)sent);
    }
    if (cairn_node_peer_want_close(c->peer)) {
        CloseConn(c, true);
        return;
    }
    if (!c->inbuf.empty())
        Pump(c);
}

void SimNode::FlushAll()
{
    std::vector<uint64_t> due;
    due.swap(m_dirty);
    for (uint64_t k : due) {
        auto it = m_conns.find(k);
        if (it != m_conns.end() && it->second->dirty)
            Flush(it->second.get());
    }
}

// Drains the core's actions and carries them out, flushes every peer with
// output (or, while the CPU is busy or a withholder holds, later), and
// schedules the timers. Repeats until the core has nothing more to say.
void SimNode::Settle()
{
    if (!m_core || m_settling)
        return;
    m_settling = true;
    for (int round = 0; round < 1000 && m_core; round++) {
        cairn_node_action a;
        bool any = false;
        while (m_core && cairn_node_next_action(m_core, &a) == 1) {
            any = true;
            switch (a.type) {
            case CAIRN_NODE_ACT_DIAL:
                Dial(a);
                break;
            case CAIRN_NODE_ACT_FLUSH:
                MarkDirty(static_cast<Conn *>(a.ud));
                break;
            case CAIRN_NODE_ACT_DROP: {
                Conn *c = static_cast<Conn *>(a.ud);
                c->peer = nullptr; // told below, once the transport is gone
                CloseConn(c, false);
                cairn_node_peer_closed(m_core, a.peer);
                break;
            }
            case CAIRN_NODE_ACT_STOP:
                m_w->Log(m_idx, "stop %d", a.code);
                m_settling = false;
                Stop();
                return;
            }
        }
        Time later = std::max(m_busy_until, m_hold_until);
        bool dirty = !m_dirty.empty();
        if (dirty && later > Simulator::Now()) {
            if (!m_flush_scheduled) {
                m_flush_scheduled = true;
                Simulator::Schedule(later - Simulator::Now(), [this]() {
                    m_flush_scheduled = false;
                    Settle();
                });
            }
            break;
        }
        if (dirty) {
            FlushAll();
            continue;
        }
        if (!any)
            break;
    }
    m_settling = false;
    Timers();
}

void SimNode::Timers()
{
    if (!m_core)
        return;
    uint64_t now = m_w->MonoMs();
    uint64_t d = std::min(cairn_node_deadline(m_core), cairn_node_wake_at(m_core));
    if (d < m_timer_at) {
        m_timer.Cancel();
        m_timer_at = d;
        m_timer = Simulator::Schedule(MilliSeconds((int64_t)(d > now ? d - now : 0)),
                                      &SimNode::OnTimer, this);
    }
    std::vector<uint64_t> touched;
    touched.swap(m_touched);
    for (uint64_t k : touched) {
        auto it = m_conns.find(k);
        if (it == m_conns.end())
            continue;
        Conn *c = it->second.get();
        c->touched = false;
        if (!c->peer)
            continue;
        uint64_t pd = cairn_node_peer_deadline(m_core, c->peer);
        if (pd < c->timer_at) {
            c->timer.Cancel();
            c->timer_at = pd;
            c->timer = Simulator::Schedule(MilliSeconds((int64_t)(pd > now ? pd - now : 0)),
                                           &Conn::OnTimer, c);
        }
    }
}

void SimNode::OnTimer()
{
    m_timer_at = UINT64_MAX;
    if (!m_core)
        return;
    uint64_t now = m_w->MonoMs();
    if (now >= cairn_node_deadline(m_core))
        cairn_node_tick(m_core);
    if (now >= cairn_node_wake_at(m_core))
        cairn_node_wake(m_core); /* requests that waited for their pace */
    Settle();
}

void Conn::OnTimer()
{
    timer_at = UINT64_MAX;
    SimNode *n = owner;
    if (!n->m_core || closed || !peer)
        return;
    if (n->m_w->MonoMs() >= cairn_node_peer_deadline(n->m_core, peer))
        cairn_node_peer_tick(n->m_core, peer);
    n->Touch(this);
    n->Settle();
}

// ---- roles ---------------------------------------------------------------------------

// Mines one block of the scenario's size on this node's tip: fresh entries
// into its pool, then the core's own template and nonce search.
void SimNode::Mine()
{
    if (!m_core)
        return;
    const Scenario &sc = m_w->Sc();
    cairn_mempool *pool = cairn_node_pool(m_core);
    std::vector<uint8_t> e(sc.entry_size);
    uint32_t n_entries = sc.block_size / sc.entry_size;
    for (uint32_t i = 0; i < n_entries && pool; i++) {
        m_rng.Fill(e.data(), e.size());
        e[0] = CAIRN_ENTRY_DATA;
        uint64_t ctr = m_w->entry_counter++;
        memcpy(&e[1], &ctr, sizeof(ctr)); // unique
        uint8_t id[CAIRN_HASH_LEN];
        uint32_t reason = 0;
        cairn_mempool_add(pool, e.data(), e.size(), id, &reason);
    }
    int mined = 0;
    for (int i = 0; i < 256 && !mined; i++)
        mined = cairn_node_mine_step(m_core, 1u << 16);
    if (!mined) {
        m_w->Log(m_idx, "mine-failed");
        return;
    }
    m_mined++;
    if (withholder)
        m_hold_until = Simulator::Now() + Seconds(sc.withhold_s);
}

// A flooder pings every ready peer, as fast as its rate says.
void SimNode::Flood()
{
    if (!m_core)
        return;
    for (auto &kv : m_conns) {
        Conn *c = kv.second.get();
        if (!c->peer)
            continue;
        cairn_session *s = cairn_node_peer_session(c->peer);
        if (s && cairn_session_state(s) == CAIRN_SS_READY && cairn_session_ping(s, nullptr) == 0)
            MarkDirty(c);
    }
    Settle();
}

} // namespace cairnsim
