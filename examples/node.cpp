#include "node.hpp"

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <utility>

namespace {

using p2pnet::BlockHeader;
using p2pnet::ByteView;
using p2pnet::Hash;
using p2pnet::ItemKind;
using p2pnet::Verdict;

/// Bounds that keep a node's memory fixed whatever its peers send.
constexpr std::size_t kMaxMempool = 10000;
constexpr std::size_t kMaxParkedBlocks = 1000;
constexpr std::size_t kMaxHeaderIndex = 100000;

/// During a long sync only every 100th block (and the last few) gets a line.
constexpr std::size_t kSyncLineEvery = 100;
constexpr std::size_t kSyncTailLines = 20;

/// The peer's name: the comment of a p2pnet-node user agent ("/p2pnet-node:0.1.0(bob)/"
/// gives "bob"), otherwise the user agent itself, otherwise its address.
std::string PeerName(const p2pnet::PeerInfo& peer) {
  const std::string& agent = peer.user_agent;
  const std::size_t open = agent.find('(');
  const std::size_t close = agent.rfind(')');
  if (open != std::string::npos && close != std::string::npos && close > open + 1) {
    return agent.substr(open + 1, close - open - 1);
  }
  if (!agent.empty()) {
    return agent;
  }
  return peer.address + ":" + std::to_string(peer.port);
}

std::string HeightRange(std::size_t first, std::size_t last) {
  return first == last ? "height " + std::to_string(first)
                       : "heights " + std::to_string(first) + "-" + std::to_string(last);
}

std::string FormatBytes(uint64_t bytes) {
  char text[32];
  if (bytes < 10000) {
    std::snprintf(text, sizeof(text), "%" PRIu64 " B", bytes);
  } else if (bytes < 10000000) {
    std::snprintf(text, sizeof(text), "%.1f kB", static_cast<double>(bytes) / 1000.0);
  } else {
    std::snprintf(text, sizeof(text), "%.1f MB", static_cast<double>(bytes) / 1e6);
  }
  return text;
}

std::string FormatPing(const std::optional<std::chrono::microseconds>& ping) {
  if (!ping) {
    return "-";
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f ms", static_cast<double>(ping->count()) / 1000.0);
  return text;
}

const char* KindLabel(p2pnet::ConnectionKind kind) {
  switch (kind) {
    case p2pnet::ConnectionKind::Inbound:
      return "in";
    case p2pnet::ConnectionKind::OutboundFullRelay:
      return "out";
    case p2pnet::ConnectionKind::Manual:
      return "manual";
    case p2pnet::ConnectionKind::BlockRelay:
      return "block";
    case p2pnet::ConnectionKind::Feeler:
      return "feeler";
  }
  return "?";
}

const char* PartitionLabel(p2pnet::PartitionSignal signal) {
  switch (signal) {
    case p2pnet::PartitionSignal::None:
      return "none";
    case p2pnet::PartitionSignal::Isolated:
      return "suspected (isolated)";
    case p2pnet::PartitionSignal::KnownPeersUnreachable:
      return "suspected (known peers unreachable)";
    case p2pnet::PartitionSignal::StaleWithNoBetterPeer:
      return "suspected (stale tip, no better peer)";
  }
  return "?";
}

}  // namespace

std::string NodeUserAgent(const std::string& name) {
  return "/p2pnet-node:" + p2pnet::Version() + "(" + name + ")/";
}

Node::Node(std::string name, const p2pnet::Config& config, Console& console)
    : console_(console), name_(std::move(name)), net_(config) {
  net_.SetOnPeerConnected([this](const p2pnet::PeerInfo& peer) { OnPeerConnected(peer); });
  net_.SetOnPeerDisconnected(
      [this](uint64_t peer, p2pnet::DisconnectReason reason, const std::string& detail) {
        OnPeerDisconnected(peer, reason, detail);
      });
  net_.SetOnTransaction(
      [this](uint64_t peer, const Hash& id, ByteView tx) { return OnTransaction(peer, id, tx); });
  net_.SetOnBlock(
      [this](uint64_t peer, const Hash& id, ByteView block) { return OnBlock(peer, id, block); });
  net_.SetOnHeaders([this](uint64_t peer, const std::vector<BlockHeader>& headers) {
    OnHeaders(peer, headers);
  });
  net_.SetOnGetHeaders([this](uint64_t peer, const std::vector<Hash>& locator,
                              const std::optional<Hash>& stop) {
    return OnGetHeaders(peer, locator, stop);
  });
  net_.SetOnGetBlocks([this](uint64_t peer, const std::vector<Hash>& locator,
                             const std::optional<Hash>& stop) {
    return OnGetBlocks(peer, locator, stop);
  });
  net_.SetDataProvider(
      [this](ItemKind kind, const Hash& id, p2pnet::ItemForm) { return ProvideItem(kind, id); });
  net_.SetOnHealthChange([this](const p2pnet::Health& health) {
    console_.Event(name_, std::string("network health: stale tip ") +
                              (health.stale_tip ? "yes" : "no") + ", partition " +
                              PartitionLabel(health.partition));
  });
}

void Node::Start() {
  net_.Start();
  std::string where;
  try {
    where = "listening on port " + std::to_string(net_.ListenPort());
  } catch (const p2pnet::Error&) {
    where = "not listening";
  }
  console_.Event(name_, "started: " + where + ", chain height " + std::to_string(Height()));
}

void Node::Stop() { net_.Stop(); }

std::size_t Node::Height() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return chain_.height();
}

Hash Node::Tip() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return chain_.tip();
}

NodeRecord Node::Record() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return record_;
}

Hash Node::MineBlock() {
  std::vector<uint8_t> block;
  Hash id{};
  std::size_t height = 0;
  std::vector<std::pair<Hash, Verdict>> released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    height = chain_.height() + 1;
    block = chain_.NextBlock("block " + std::to_string(height) + " mined by " + name_,
                             static_cast<uint32_t>(std::time(nullptr)));
    id = toy::BlockId(block.data());
    released = ConnectLocked(block);
    ++record_.blocks_mined;
  }
  console_.Event(name_, "mined block " + std::to_string(height) + " " + toy::ShortId(id) +
                            ", announcing it to " + std::to_string(net_.GetPeers().size()) +
                            " peer(s)");
  ChainChanged();
  net_.BroadcastBlock(block);
  for (const auto& [parked_id, verdict] : released) {
    try {
      net_.ReportVerdict(parked_id, verdict);
    } catch (const p2pnet::Error&) {
      // The engine no longer holds it (evicted from its bounded pending set).
    }
  }
  return id;
}

Hash Node::BroadcastTestTransaction() {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    text = "test tx " + std::to_string(++transactions_created_) + " from " + name_ + " nonce " +
           std::to_string(random_());
  }
  const std::vector<uint8_t> tx(text.begin(), text.end());
  const Hash id = net_.ItemId(ItemKind::Tx, tx);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    AddToMempoolLocked(id, tx);
  }
  console_.Event(name_, "broadcast tx " + toy::ShortId(id) + " (" + std::to_string(tx.size()) +
                            " bytes)");
  net_.BroadcastTransaction(tx);
  return id;
}

void Node::OnPeerConnected(const p2pnet::PeerInfo& peer) {
  const std::string name = PeerName(peer);
  bool behind = false;
  std::size_t our_height = 0;
  std::vector<Hash> locator;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    record_.peer_names[peer.id] = name;
    ++record_.handshakes;
    our_height = chain_.height();
    // A peer that announces more blocks than we have: catch up, headers first.
    behind = peer.start_height > 0 && static_cast<std::size_t>(peer.start_height) > our_height &&
             header_index_.empty();
    if (behind) {
      locator = chain_.Locator();
    }
    // Printed under the lock, so that anyone waiting for this event sees the line first.
    console_.Event(name_, "handshake with " + name + " (#" + std::to_string(peer.id) + "): " +
                              (peer.inbound ? "inbound from " : "outbound to ") + peer.address +
                              ":" + std::to_string(peer.port) + ", " + peer.user_agent +
                              ", version " + std::to_string(peer.version) + ", height " +
                              std::to_string(peer.start_height));
  }
  changed_.notify_all();
  if (behind) {
    console_.Event(name_, name + " is ahead (height " + std::to_string(peer.start_height) +
                              ", ours " + std::to_string(our_height) +
                              "): sending getheaders, locator of " +
                              std::to_string(locator.size()));
    RequestHeaders(peer.id, std::move(locator));
  }
}

void Node::OnPeerDisconnected(uint64_t peer, p2pnet::DisconnectReason reason,
                              const std::string& detail) {
  std::string who;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = record_.peer_names.find(peer);
    if (it != record_.peer_names.end()) {
      who = it->second;
      record_.peer_names.erase(it);
    }
    record_.disconnects.push_back(NodeRecord::Disconnect{peer, who, reason, detail});
    const std::string why =
        p2pnet::ToString(reason) + (detail.empty() ? "" : " (" + detail + ")");
    if (who.empty()) {
      console_.Event(name_, "connection #" + std::to_string(peer) +
                                " ended before the handshake: " + why);
    } else {
      console_.Event(name_, who + " (#" + std::to_string(peer) + ") disconnected: " + why);
    }
  }
  changed_.notify_all();
}

Verdict Node::OnTransaction(uint64_t peer, const Hash& id, ByteView tx) {
  Verdict verdict = Verdict::Ignored;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string from = LabelLocked(peer);
    if (tx.empty()) {
      ++record_.invalid_items;
      verdict = Verdict::Invalid;
      console_.Event(name_, "tx " + toy::ShortId(id) + " from " + from + " is INVALID: empty");
    } else if (AddToMempoolLocked(id, tx.ToVector())) {
      ++record_.txs_accepted;
      record_.arrivals.emplace(
          id, NodeRecord::Arrival{ItemKind::Tx, peer, NameLocked(peer), Console::Clock::now()});
      verdict = Verdict::Accepted;
      console_.Event(name_, "tx " + toy::ShortId(id) + " from " + from +
                                ": new, kept in the mempool and relayed");
    }
  }
  changed_.notify_all();
  return verdict;
}

Verdict Node::OnBlock(uint64_t peer, const Hash& id, ByteView data) {
  if (data.size() >= toy::kHeaderSize && !toy::IsToyBlock(data)) {
    // Another chain's block: not relayed, but its sender did nothing wrong.
    std::lock_guard<std::mutex> lock(mutex_);
    console_.Event(name_, "block " + toy::ShortId(id) + " from " + LabelLocked(peer) +
                              " is not a toy-chain block: ignored");
    return Verdict::Ignored;
  }
  if (const std::optional<std::string> problem = toy::CheckBlock(data)) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++record_.invalid_items;
      console_.Event(name_, "block " + toy::ShortId(id) + " from " + LabelLocked(peer) +
                                " is INVALID: " + *problem +
                                "; verdict Invalid (the engine adds 100 to the sender's "
                                "misbehaviour score)");
    }
    changed_.notify_all();
    return Verdict::Invalid;
  }

  std::vector<uint8_t> block = data.ToVector();
  const std::size_t height = toy::Height(block.data());
  const Hash prev = toy::PrevId(block.data());
  Verdict verdict = Verdict::Ignored;
  std::string what;
  bool connected = false;
  bool print = true;
  std::vector<Hash> locator;
  std::vector<std::pair<Hash, Verdict>> released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string from = LabelLocked(peer);
    record_.arrivals.emplace(
        id, NodeRecord::Arrival{ItemKind::Block, peer, NameLocked(peer), Console::Clock::now()});
    what = "block " + std::to_string(height) + " " + toy::ShortId(id) + " from " + from + ": ";
    if (chain_.Contains(id)) {
      what += "already on our chain";
    } else if (prev == chain_.tip() && height != chain_.height() + 1) {
      ++record_.invalid_items;
      verdict = Verdict::Invalid;
      what += "INVALID: claims height " + std::to_string(height) + " on top of height " +
              std::to_string(chain_.height());
    } else if (prev == chain_.tip()) {
      const bool synced = header_index_.count(id) != 0;
      released = ConnectLocked(block);
      ++record_.blocks_accepted;
      connected = true;
      verdict = Verdict::Accepted;
      what += std::string(synced ? "connected (sync)" : "extends our tip, relayed") +
              ", height now " + std::to_string(chain_.height());
      print = !synced || header_index_.size() < kSyncTailLines ||
              chain_.height() % kSyncLineEvery == 0;
    } else if (const std::optional<std::size_t> parent = chain_.HeightOf(prev)) {
      what += "builds on height " + std::to_string(*parent) +
              ", not on our tip: ignored (the toy chain keeps the first block it saw)";
    } else if (parked_by_parent_.count(prev) != 0 || parked_by_parent_.size() >= kMaxParkedBlocks) {
      what += "parent unknown and no room to hold it: ignored";
    } else {
      parked_by_parent_.emplace(prev, std::move(block));
      verdict = Verdict::Pending;
      what += "parent not here yet: held (verdict Pending) until it connects";
      if (header_index_.count(id) == 0) {
        locator = chain_.Locator();
        what += "; asking " + from + " for the headers in between";
      }
    }
    if (print) {
      console_.Event(name_, what);
    }
  }
  for (const auto& [parked_id, parked_verdict] : released) {
    try {
      net_.ReportVerdict(parked_id, parked_verdict);
    } catch (const p2pnet::Error&) {
      // The engine no longer holds it (evicted from its bounded pending set).
    }
  }
  if (!locator.empty()) {
    RequestHeaders(peer, std::move(locator));
  }
  if (connected) {
    ChainChanged();
  } else {
    changed_.notify_all();
  }
  return verdict;
}

bool Node::AddToMempoolLocked(const Hash& id, std::vector<uint8_t> tx) {
  if (!mempool_.emplace(id, std::move(tx)).second) {
    return false;
  }
  mempool_order_.push_back(id);
  if (mempool_order_.size() > kMaxMempool) {
    mempool_.erase(mempool_order_.front());
    mempool_order_.pop_front();
  }
  return true;
}

std::vector<std::pair<Hash, Verdict>> Node::ConnectLocked(const std::vector<uint8_t>& block) {
  const Hash id = toy::BlockId(block.data());
  chain_.Connect(block);
  if (header_index_.erase(id) != 0) {
    ++record_.blocks_synced;
  }
  std::vector<std::pair<Hash, Verdict>> released;
  for (auto it = parked_by_parent_.find(chain_.tip()); it != parked_by_parent_.end();
       it = parked_by_parent_.find(chain_.tip())) {
    const std::vector<uint8_t> next = std::move(it->second);
    parked_by_parent_.erase(it);
    const Hash next_id = toy::BlockId(next.data());
    if (!chain_.Connect(next)) {
      released.emplace_back(next_id, Verdict::Invalid);
      break;
    }
    if (header_index_.erase(next_id) != 0) {
      ++record_.blocks_synced;
    }
    ++record_.blocks_accepted;
    released.emplace_back(next_id, Verdict::Accepted);
  }
  return released;
}

void Node::OnHeaders(uint64_t peer, const std::vector<BlockHeader>& headers) {
  std::vector<Hash> to_fetch;
  std::size_t first_height = 0;
  std::size_t last_height = 0;
  std::vector<Hash> locator;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const BlockHeader& header : headers) {
      const Hash id = toy::BlockId(header.data());
      if (chain_.Contains(id) || header_index_.count(id) != 0) {
        continue;
      }
      // Only headers that extend our best chain are followed; the toy chain has no forks.
      const Hash prev = toy::PrevId(header.data());
      std::size_t parent_height = 0;
      if (prev == chain_.tip()) {
        parent_height = chain_.height();
      } else if (auto parent = header_index_.find(prev); parent != header_index_.end()) {
        parent_height = toy::Height(parent->second.data());
      } else {
        break;
      }
      const std::size_t height = toy::Height(header.data());
      if (height != parent_height + 1 || header_index_.size() >= kMaxHeaderIndex) {
        break;
      }
      header_index_.emplace(id, header);
      if (to_fetch.empty()) {
        first_height = height;
      }
      last_height = height;
      to_fetch.push_back(id);
    }
    record_.headers_received += to_fetch.size();
    // A full message means the peer has more: continue after the last new header.
    if (headers.size() == toy::kMaxHeadersPerMessage && !to_fetch.empty()) {
      locator = chain_.Locator();
      locator.insert(locator.begin(), to_fetch.back());
    }
    const std::string received =
        std::to_string(headers.size()) + " header(s) from " + LabelLocked(peer);
    if (to_fetch.empty()) {
      console_.Event(name_, received + ": nothing new for our chain");
    } else {
      console_.Event(name_, received + ", " + HeightRange(first_height, last_height) +
                                ": fetching " + std::to_string(to_fetch.size()) + " block(s)");
    }
  }
  changed_.notify_all();
  if (to_fetch.empty()) {
    return;
  }
  net_.FetchBlocks(to_fetch);
  if (!locator.empty()) {
    RequestHeaders(peer, std::move(locator));
  }
}

std::vector<BlockHeader> Node::OnGetHeaders(uint64_t peer, const std::vector<Hash>& locator,
                                            const std::optional<Hash>& stop) {
  std::vector<BlockHeader> headers;
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    headers = chain_.HeadersAfter(locator, stop, toy::kMaxHeadersPerMessage);
    record_.headers_served += headers.size();
    text = LabelLocked(peer) + " sent getheaders (locator of " + std::to_string(locator.size()) +
           "): ";
    if (headers.empty()) {
      text += "nothing newer, answering with no headers";
    } else {
      text += "answering with " + std::to_string(headers.size()) + " header(s), " +
              HeightRange(toy::Height(headers.front().data()), toy::Height(headers.back().data()));
    }
  }
  console_.Event(name_, text);
  return headers;
}

std::vector<Hash> Node::OnGetBlocks(uint64_t peer, const std::vector<Hash>& locator,
                                    const std::optional<Hash>& stop) {
  std::vector<Hash> ids;
  std::string from;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ids = chain_.IdsAfter(locator, stop, toy::kMaxBlocksPerInv);
    from = LabelLocked(peer);
  }
  console_.Event(name_, from + " sent getblocks: announcing " + std::to_string(ids.size()) +
                            " block id(s)");
  return ids;
}

std::optional<std::vector<uint8_t>> Node::ProvideItem(ItemKind kind, const Hash& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<std::vector<uint8_t>> item;
  if (kind == ItemKind::Block) {
    item = chain_.BlockById(id);
  } else if (auto it = mempool_.find(id); it != mempool_.end()) {
    item = it->second;
  }
  if (item) {
    ++record_.items_served;
  }
  return item;
}

void Node::RequestHeaders(uint64_t peer, std::vector<Hash> locator) {
  try {
    net_.SendGetHeaders(peer, locator);
  } catch (const p2pnet::Error& e) {
    console_.Event(name_, std::string("cannot send getheaders: ") + e.what());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++record_.getheaders_sent;
  }
  changed_.notify_all();
}

std::string Node::NameLocked(uint64_t peer) const {
  auto it = record_.peer_names.find(peer);
  return it == record_.peer_names.end() ? std::string() : it->second;
}

std::string Node::LabelLocked(uint64_t peer) const {
  auto it = record_.peer_names.find(peer);
  if (it == record_.peer_names.end()) {
    return "peer #" + std::to_string(peer);
  }
  return it->second + " (#" + std::to_string(peer) + ")";
}

void Node::ChainChanged() {
  std::size_t height = 0;
  Hash tip{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    height = chain_.height();
    tip = chain_.tip();
  }
  try {
    net_.SetBestBlock(static_cast<int32_t>(height), tip);
  } catch (const p2pnet::Error&) {
    // Only fails once the engine is stopped, when no one is told our height any more.
  }
  changed_.notify_all();
}

void Node::PrintPeerTable() const {
  const std::vector<p2pnet::PeerInfo> peers = net_.GetPeers();
  std::map<uint64_t, std::string> names;
  std::size_t height = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    names = record_.peer_names;
    height = chain_.height();
  }
  char line[256];
  std::snprintf(line, sizeof(line), "  %s: %zu peer(s), chain height %zu, tip %s", name_.c_str(),
                peers.size(), height, toy::ShortId(Tip()).c_str());
  console_.Text(line);
  const p2pnet::Health health = net_.GetHealth();
  std::snprintf(line, sizeof(line),
                "    outbound %u/%u (full-relay %u, block-relay-only %u), inbound %u, "
                "tip age %llds, best peer height %d, stale tip %s, partition %s",
                health.outbound_filled, health.outbound_target, health.outbound_full_relay,
                health.block_relay, health.inbound,
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::seconds>(health.tip_age).count()),
                health.best_peer_height, health.stale_tip ? "yes" : "no",
                PartitionLabel(health.partition));
  console_.Text(line);
  if (peers.empty()) {
    return;
  }
  std::snprintf(line, sizeof(line), "    %-4s %-9s %-21s %-6s %-7s %-6s %-9s %-9s %-9s %-5s %s",
                "id", "peer", "address", "kind", "version", "start", "ping", "sent", "received",
                "score", "connected");
  console_.Text(line);
  const auto now = std::chrono::system_clock::now();
  for (const p2pnet::PeerInfo& peer : peers) {
    auto name = names.find(peer.id);
    const std::string address = peer.address + ":" + std::to_string(peer.port);
    const long long seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now - peer.connected_since).count();
    std::snprintf(line, sizeof(line),
                  "    %-4" PRIu64 " %-9s %-21s %-6s %-7d %-6d %-9s %-9s %-9s %-5u %llds",
                  peer.id, name != names.end() ? name->second.c_str() : "?", address.c_str(),
                  KindLabel(peer.kind), peer.version, peer.start_height,
                  FormatPing(peer.ping_time).c_str(), FormatBytes(peer.bytes_sent).c_str(),
                  FormatBytes(peer.bytes_received).c_str(), peer.misbehaviour_score,
                  seconds < 0 ? 0 : seconds);
    console_.Text(line);
  }
}
