// p2pnet_netsim_node: one node of the network simulator (netsim.py). It keeps a toy
// block chain as a tree of blocks, so that it reorganises onto a longer branch, and a
// pool of test transactions; it syncs headers first, relays through the engine, and
// is driven by the simulator over stdin and stdout.
//
// Commands on stdin, one per line:  mine | tx | status | peers | quit   (EOF = quit)
// Events on stdout, one per line, flushed at once; the first word names the event and
// the last is its time in CLOCK_MONOTONIC nanoseconds, the same clock in every network
// namespace of a machine, so the simulator can compare nodes:
//   ready <listen-address> <t>
//   tip <height> <block-id> <t>                  the best tip changed
//   reorg <fork-height> <old-height> <new-height> <t>   (just before its tip line)
//   mined <height> <block-id> <t>                answer to `mine`, after its tip line
//   tx <tx-id> <t>                               a transaction entered the pool
//   created <tx-id> <t>                          answer to `tx`, after its tx line
//   connect <peer-id> <ip:port> in|out <kind> <t>   a handshake completed
//   disconnect <peer-id> <ip:port> <reason> <t>  a handshaken peer left
//   peers <n-in> <n-out> <t>                     after every connect and disconnect
//   status <height> <block-id> <n-in> <n-out> <known-addresses> <outbound-filled>
//          <outbound-target> <stale 0|1> <partition-signal> <t>        answer to `status`
//   health <stale 0|1> <partition-signal> <t>    the engine's health flags changed
//   peer <peer-id> <ip:port> in|out <kind> <ping-us|-> <user-agent> <t>
//   peer-list <count> <t>                        answer to `peers`: a peer line per
//                                                peer, then this one
//   error <message> <t>                          a command was not understood
// Ids are 64 hex digits in Bitcoin's display order (byte-reversed).

#include "endpoint.hpp"
#include "toy_chain.hpp"

#include <p2pnet.hpp>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using p2pnet::BlockHeader;
using p2pnet::ByteView;
using p2pnet::Hash;
using p2pnet::ItemKind;
using p2pnet::Verdict;

constexpr char kUsage[] = R"(Usage: p2pnet_netsim_node [options]

A node for the p2pnet network simulator: a toy block chain with reorganisations,
controlled by commands on stdin (mine, tx, status, peers, quit), reporting events on
stdout, one line each, ending with a CLOCK_MONOTONIC time in nanoseconds.

  --listen IP:PORT              listen address (default 0.0.0.0:18444)
  --peer IP:PORT                connect once at start-up (repeatable); staying
                                connected is left to the engine's own outbound
                                connections and address gossip
  --datadir DIR                 keep the address book and ban list in DIR
  --max-outbound N              automatic full-relay outbound connections (engine
                                default 8; block-relay-only ones come on top)
  --max-inbound N               inbound connections (engine default 117)
  --ping-interval-ms MS         ping each peer this often
  --inactivity-timeout-ms MS    drop a peer silent for this long
  --connect-timeout-ms MS       give up an outbound connect after this long
  --block-interval-ms MS        expected time between blocks; the tip is stale after
                                three (engine default 10 min)
  --feeler-interval-ms MS       mean time between feeler connections (0: none)
  --extra-block-relay-interval-ms MS
                                mean time between extra block-relay-only peers
                                (0: none)
  --name NAME                   name carried in the user agent (default: node)
  --log LEVEL                   engine log to stderr: off, error, warn, info, debug,
                                trace (default: warn)
  --help                        show this text
)";

/// Test transactions start with this; anything else is not a transaction of this chain.
const std::string kTxMarker = "netsim-tx:";

/// Bounds that keep memory fixed whatever peers send.
constexpr std::size_t kMaxParkedBlocks = 1000;
constexpr std::size_t kMaxHeaderIndex = 100000;
constexpr std::size_t kMaxMempool = 10000;
/// Headers messages that do not connect to anything we know, per peer, before we stop
/// asking that peer for the headers in between (Bitcoin Core allows 10).
constexpr int kMaxUnconnectingHeaders = 10;

struct Options {
  std::optional<Endpoint> listen;
  std::vector<Endpoint> peers;
  std::optional<std::string> datadir;
  std::optional<uint32_t> max_outbound;
  std::optional<uint32_t> max_inbound;
  std::optional<uint32_t> ping_interval_ms;
  std::optional<uint32_t> inactivity_timeout_ms;
  std::optional<uint32_t> connect_timeout_ms;
  std::optional<uint32_t> block_interval_ms;
  std::optional<uint32_t> feeler_interval_ms;
  std::optional<uint32_t> extra_block_relay_interval_ms;
  std::string name = "node";
  p2pnet::LogLevel log_level = p2pnet::LogLevel::Warn;
};

int64_t MonotonicNanos() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

std::string HexId(const Hash& id) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = id.size(); i-- > 0;) {
    text += kDigits[id[i] >> 4];
    text += kDigits[id[i] & 0x0f];
  }
  return text;
}

/// Event fields are separated by spaces, so free text (user agents) must not have any.
std::string OneWord(std::string text) {
  for (char& c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      c = '_';
    }
  }
  return text.empty() ? "-" : text;
}

/// The engine's name of a disconnect reason as one word, e.g. "inactivity-timeout".
std::string ReasonWord(p2pnet::DisconnectReason reason) {
  std::string word = p2pnet::ToString(reason);
  for (char& c : word) {
    c = c == ' ' ? '-' : c;
  }
  return word.empty() ? "unknown" : word;
}

std::string KindWord(p2pnet::ConnectionKind kind) {
  switch (kind) {
    case p2pnet::ConnectionKind::Inbound: return "inbound";
    case p2pnet::ConnectionKind::OutboundFullRelay: return "full-relay";
    case p2pnet::ConnectionKind::Manual: return "manual";
    case p2pnet::ConnectionKind::BlockRelay: return "block-relay";
    case p2pnet::ConnectionKind::Feeler: return "feeler";
  }
  return "unknown";
}

std::string PartitionWord(p2pnet::PartitionSignal signal) {
  switch (signal) {
    case p2pnet::PartitionSignal::None: return "none";
    case p2pnet::PartitionSignal::Isolated: return "isolated";
    case p2pnet::PartitionSignal::KnownPeersUnreachable: return "known-peers-unreachable";
    case p2pnet::PartitionSignal::StaleWithNoBetterPeer: return "stale-with-no-better-peer";
  }
  return "unknown";
}

/// "<stale 0|1> <partition-signal>".
std::string HealthFlags(const p2pnet::Health& health) {
  return std::string(health.stale_tip ? "1" : "0") + " " + PartitionWord(health.partition);
}

/// Writes whole event lines, stamped and flushed, from any thread.
class EventWriter {
 public:
  void Emit(const std::string& fields) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::printf("%s %lld\n", fields.c_str(), static_cast<long long>(MonotonicNanos()));
    std::fflush(stdout);
  }

 private:
  std::mutex mutex_;
};

/// Every block this node has, as a tree hanging from the shared genesis block. The best
/// chain ends at the highest block; of equally high ones, the first seen stays best.
/// Not thread-safe: the node guards it.
class BlockTree {
 public:
  struct Block {
    std::vector<uint8_t> bytes;
    Hash parent;
    uint32_t height;
  };

  /// How the best chain changed when a block was added.
  struct TipChange {
    uint32_t fork_height;  // the highest block the old and new best chains share
    uint32_t old_height;
    bool reorganised() const { return fork_height < old_height; }
  };

  BlockTree() {
    const toy::Chain genesis_only;
    const std::vector<uint8_t>& genesis = genesis_only.BlockAt(0);
    const Hash id = toy::BlockId(genesis.data());
    blocks_.emplace(id, Block{genesis, Hash{}, 0});
    best_chain_.push_back(id);
  }

  const Hash& tip() const { return best_chain_.back(); }
  uint32_t height() const { return static_cast<uint32_t>(best_chain_.size() - 1); }
  bool Contains(const Hash& id) const { return blocks_.count(id) != 0; }

  const Block* Find(const Hash& id) const {
    auto it = blocks_.find(id);
    return it == blocks_.end() ? nullptr : &it->second;
  }

  bool OnBestChain(const Hash& id) const {
    const Block* block = Find(id);
    return block != nullptr && block->height < best_chain_.size() &&
           best_chain_[block->height] == id;
  }

  /// Adds a well-formed block whose parent is in the tree, at the parent's height + 1
  /// (the caller checks both). Returns the change when it becomes the new tip.
  std::optional<TipChange> Add(const Hash& id, std::vector<uint8_t> bytes) {
    const Hash parent = toy::PrevId(bytes.data());
    const uint32_t height = toy::Height(bytes.data());
    blocks_.emplace(id, Block{std::move(bytes), parent, height});
    if (height <= this->height()) {
      return std::nullopt;
    }
    const uint32_t old_height = this->height();
    // Walk the new branch down to the best chain, then swap the part above the fork.
    std::vector<Hash> branch{id};
    Hash cursor = parent;
    while (!OnBestChain(cursor)) {
      branch.push_back(cursor);
      cursor = blocks_.at(cursor).parent;
    }
    const uint32_t fork_height = blocks_.at(cursor).height;
    best_chain_.resize(fork_height + 1);
    best_chain_.insert(best_chain_.end(), branch.rbegin(), branch.rend());
    return TipChange{fork_height, old_height};
  }

  /// Bitcoin's block locator of the best chain: the tip, nine more, then exponentially
  /// sparser ancestors, ending at genesis.
  std::vector<Hash> Locator() const {
    std::vector<Hash> locator;
    std::size_t step = 1;
    for (std::size_t h = height();; h -= step) {
      locator.push_back(best_chain_[h]);
      if (locator.size() >= 10) {
        step *= 2;
      }
      if (h < step) {
        break;
      }
    }
    if (locator.back() != best_chain_.front()) {
      locator.push_back(best_chain_.front());
    }
    return locator;
  }

  /// The best-chain headers after the first locator entry on the best chain (genesis
  /// when none), up to `limit`, ending at `stop` when given: the answer to getheaders.
  std::vector<BlockHeader> HeadersAfter(const std::vector<Hash>& locator,
                                        const std::optional<Hash>& stop,
                                        std::size_t limit) const {
    std::vector<BlockHeader> headers;
    for (const Hash& id : IdsAfter(locator, stop, limit)) {
      BlockHeader header{};
      const std::vector<uint8_t>& bytes = blocks_.at(id).bytes;
      std::copy(bytes.begin(), bytes.begin() + toy::kHeaderSize, header.begin());
      headers.push_back(header);
    }
    return headers;
  }

  /// The same as block ids: the answer to getblocks.
  std::vector<Hash> IdsAfter(const std::vector<Hash>& locator, const std::optional<Hash>& stop,
                             std::size_t limit) const {
    uint32_t fork = 0;
    for (const Hash& id : locator) {
      if (OnBestChain(id)) {
        fork = blocks_.at(id).height;
        break;
      }
    }
    std::vector<Hash> ids;
    for (std::size_t h = fork + 1; h < best_chain_.size() && ids.size() < limit; ++h) {
      ids.push_back(best_chain_[h]);
      if (stop && best_chain_[h] == *stop) {
        break;
      }
    }
    return ids;
  }

 private:
  std::map<Hash, Block> blocks_;
  /// best_chain_[h] is the id of the best chain's block at height h.
  std::vector<Hash> best_chain_;
};

class SimNode {
 public:
  SimNode(const Options& options, const p2pnet::Config& config, EventWriter& events)
      : options_(options), events_(events), net_(config) {
    net_.SetOnPeerConnected([this](const p2pnet::PeerInfo& peer) { OnPeerConnected(peer); });
    net_.SetOnPeerDisconnected(
        [this](uint64_t peer, p2pnet::DisconnectReason reason, const std::string&) {
          OnPeerDisconnected(peer, reason);
        });
    net_.SetOnTransaction(
        [this](uint64_t, const Hash& id, ByteView tx) { return OnTransaction(id, tx); });
    net_.SetOnBlock(
        [this](uint64_t peer, const Hash& id, ByteView block) { return OnBlock(peer, id, block); });
    net_.SetOnHeaders([this](uint64_t peer, const std::vector<BlockHeader>& headers) {
      OnHeaders(peer, headers);
    });
    net_.SetOnGetHeaders(
        [this](uint64_t, const std::vector<Hash>& locator, const std::optional<Hash>& stop) {
          std::lock_guard<std::mutex> lock(mutex_);
          return tree_.HeadersAfter(locator, stop, toy::kMaxHeadersPerMessage);
        });
    net_.SetOnGetBlocks(
        [this](uint64_t, const std::vector<Hash>& locator, const std::optional<Hash>& stop) {
          std::lock_guard<std::mutex> lock(mutex_);
          return tree_.IdsAfter(locator, stop, toy::kMaxBlocksPerInv);
        });
    net_.SetDataProvider(
        [this](ItemKind kind, const Hash& id, p2pnet::ItemForm) { return ProvideItem(kind, id); });
    net_.SetOnHealthChange(
        [this](const p2pnet::Health& health) { events_.Emit("health " + HealthFlags(health)); });
    if (options.log_level != p2pnet::LogLevel::Off) {
      net_.SetLogger(options.log_level, [name = options.name](p2pnet::LogLevel level,
                                                             const std::string& target,
                                                             const std::string& message) {
        std::fprintf(stderr, "[%s] %s %s: %s\n", name.c_str(), p2pnet::ToString(level).c_str(),
                     target.c_str(), message.c_str());
      });
    }
  }

  void Start() {
    net_.Start();
    ReportTip();
    for (const Endpoint& peer : options_.peers) {
      net_.AddPeer(peer.host, peer.port);
    }
    events_.Emit("ready " + net_.ListenAddress());
  }

  void Stop() { net_.Stop(); }

  void Mine() {
    std::vector<uint8_t> block;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const uint32_t height = tree_.height() + 1;
      const std::string text = "netsim block " + std::to_string(height) + " by " +
                               options_.name + " nonce " + std::to_string(random_());
      block = toy::MakeBlock(tree_.tip(), height, std::vector<uint8_t>(text.begin(), text.end()),
                             static_cast<uint32_t>(std::time(nullptr)),
                             static_cast<uint32_t>(random_()));
      const Hash id = toy::BlockId(block.data());
      ConnectLocked(id, block);
      events_.Emit("mined " + std::to_string(height) + " " + HexId(id));
    }
    ReportTip();
    net_.BroadcastBlock(block);
  }

  void CreateTransaction() {
    std::string text;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      text = kTxMarker + options_.name + ":" + std::to_string(++transactions_created_) + ":" +
             std::to_string(random_());
    }
    const std::vector<uint8_t> tx(text.begin(), text.end());
    const Hash id = net_.ItemId(ItemKind::Tx, tx);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      AddToPoolLocked(id, tx);
      events_.Emit("created " + HexId(id));
    }
    net_.BroadcastTransaction(tx);
  }

  void PrintStatus() {
    const std::size_t addresses = net_.AddressCount();
    const p2pnet::Health health = net_.GetHealth();
    std::lock_guard<std::mutex> lock(mutex_);
    events_.Emit("status " + std::to_string(tree_.height()) + " " + HexId(tree_.tip()) + " " +
                 PeerCountsLocked() + " " + std::to_string(addresses) + " " +
                 std::to_string(health.outbound_filled) + " " +
                 std::to_string(health.outbound_target) + " " + HealthFlags(health));
  }

  void PrintPeers() {
    const std::vector<p2pnet::PeerInfo> peers = net_.GetPeers();
    for (const p2pnet::PeerInfo& peer : peers) {
      const std::string ping =
          peer.ping_time ? std::to_string(peer.ping_time->count()) : std::string("-");
      events_.Emit("peer " + std::to_string(peer.id) + " " + peer.address + ":" +
                   std::to_string(peer.port) + " " + (peer.inbound ? "in" : "out") + " " +
                   KindWord(peer.kind) + " " + ping + " " + OneWord(peer.user_agent));
    }
    events_.Emit("peer-list " + std::to_string(peers.size()));
  }

 private:
  struct ConnectedPeer {
    std::string address;  // ip:port
    bool inbound;
  };

  /// "<n-in> <n-out>". Caller holds mutex_.
  std::string PeerCountsLocked() const {
    std::size_t inbound = 0;
    for (const auto& entry : connected_) {
      inbound += entry.second.inbound ? 1 : 0;
    }
    return std::to_string(inbound) + " " + std::to_string(connected_.size() - inbound);
  }

  void OnPeerConnected(const p2pnet::PeerInfo& peer) {
    std::vector<Hash> locator;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::string address = peer.address + ":" + std::to_string(peer.port);
      connected_[peer.id] = ConnectedPeer{address, peer.inbound};
      events_.Emit("connect " + std::to_string(peer.id) + " " + address + " " +
                   (peer.inbound ? "in" : "out") + " " + KindWord(peer.kind));
      events_.Emit("peers " + PeerCountsLocked());
      // A peer with more blocks may be on another branch: ask what we are missing.
      if (peer.start_height > 0 && static_cast<uint32_t>(peer.start_height) > tree_.height()) {
        locator = tree_.Locator();
      }
    }
    if (!locator.empty()) {
      RequestHeaders(peer.id, locator);
    }
  }

  void OnPeerDisconnected(uint64_t peer, p2pnet::DisconnectReason reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    unconnecting_headers_.erase(peer);
    auto it = connected_.find(peer);
    if (it == connected_.end()) {
      return;  // never completed the handshake
    }
    events_.Emit("disconnect " + std::to_string(peer) + " " + it->second.address + " " +
                 ReasonWord(reason));
    connected_.erase(it);
    events_.Emit("peers " + PeerCountsLocked());
  }

  Verdict OnTransaction(const Hash& id, ByteView tx) {
    if (tx.size() < kTxMarker.size() ||
        !std::equal(kTxMarker.begin(), kTxMarker.end(), tx.begin())) {
      return Verdict::Invalid;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    // Accepted makes the engine relay it to the peers that lack it.
    return AddToPoolLocked(id, tx.ToVector()) ? Verdict::Accepted : Verdict::Ignored;
  }

  Verdict OnBlock(uint64_t peer, const Hash& id, ByteView data) {
    if (toy::CheckBlock(data)) {
      return Verdict::Invalid;
    }
    std::vector<uint8_t> block = data.ToVector();
    const Hash parent = toy::PrevId(block.data());
    Verdict verdict = Verdict::Ignored;
    std::vector<Hash> locator;
    std::vector<std::pair<Hash, Verdict>> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (tree_.Contains(id)) {
        return Verdict::Ignored;
      }
      if (const BlockTree::Block* parent_block = tree_.Find(parent)) {
        if (toy::Height(block.data()) != parent_block->height + 1) {
          return Verdict::Invalid;
        }
        verdict = ConnectLocked(id, block, &released);
      } else if (parked_.size() >= kMaxParkedBlocks) {
        return Verdict::Ignored;
      } else {
        // Held until its parent connects; the engine waits for the verdict meanwhile.
        parked_.emplace(parent, std::move(block));
        verdict = Verdict::Pending;
        if (header_index_.count(id) == 0) {
          locator = tree_.Locator();
        }
      }
    }
    ReportParkedVerdicts(released);
    if (!locator.empty()) {
      RequestHeaders(peer, locator);
    }
    if (verdict == Verdict::Accepted) {
      ReportTip();
    }
    return verdict;
  }

  /// Adds a block whose parent is in the tree, then every parked block that now
  /// connects. Returns the block's verdict: Accepted when it ends up on the best chain,
  /// so that the engine relays it; a block left on a side branch is kept but not
  /// relayed. The parked blocks tried go to `released` with their verdicts. Caller
  /// holds mutex_.
  Verdict ConnectLocked(const Hash& id, std::vector<uint8_t> block,
                        std::vector<std::pair<Hash, Verdict>>* released = nullptr) {
    std::vector<Hash> connected{id};
    AddLocked(id, std::move(block));
    for (std::size_t i = 0; i < connected.size(); ++i) {
      auto [first, last] = parked_.equal_range(connected[i]);
      std::vector<std::vector<uint8_t>> children;
      for (auto it = first; it != last; ++it) {
        children.push_back(std::move(it->second));
      }
      parked_.erase(first, last);
      for (std::vector<uint8_t>& child : children) {
        const Hash child_id = toy::BlockId(child.data());
        const BlockTree::Block* parent = tree_.Find(connected[i]);
        if (tree_.Contains(child_id) || toy::Height(child.data()) != parent->height + 1) {
          if (released != nullptr) {
            released->emplace_back(child_id, tree_.Contains(child_id) ? Verdict::Ignored
                                                                      : Verdict::Invalid);
          }
          continue;
        }
        AddLocked(child_id, std::move(child));
        connected.push_back(child_id);
      }
    }
    if (released != nullptr) {
      for (std::size_t i = 1; i < connected.size(); ++i) {
        released->emplace_back(connected[i], tree_.OnBestChain(connected[i]) ? Verdict::Accepted
                                                                             : Verdict::Ignored);
      }
    }
    return tree_.OnBestChain(id) ? Verdict::Accepted : Verdict::Ignored;
  }

  /// Adds one block to the tree and reports a tip change. Caller holds mutex_.
  void AddLocked(const Hash& id, std::vector<uint8_t> block) {
    header_index_.erase(id);
    const std::optional<BlockTree::TipChange> change = tree_.Add(id, std::move(block));
    if (!change) {
      return;
    }
    if (change->reorganised()) {
      events_.Emit("reorg " + std::to_string(change->fork_height) + " " +
                   std::to_string(change->old_height) + " " + std::to_string(tree_.height()));
    }
    events_.Emit("tip " + std::to_string(tree_.height()) + " " + HexId(tree_.tip()));
  }

  void ReportParkedVerdicts(const std::vector<std::pair<Hash, Verdict>>& released) {
    for (const auto& [id, verdict] : released) {
      try {
        net_.ReportVerdict(id, verdict);
      } catch (const p2pnet::Error&) {
        // The engine no longer holds it (evicted from its bounded pending set).
      }
    }
  }

  void OnHeaders(uint64_t peer, const std::vector<BlockHeader>& headers) {
    std::vector<Hash> to_fetch;
    std::vector<Hash> locator;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bool connects = true;
      for (const BlockHeader& header : headers) {
        const Hash id = toy::BlockId(header.data());
        if (tree_.Contains(id) || header_index_.count(id) != 0) {
          continue;
        }
        const std::optional<uint32_t> parent_height = KnownHeightLocked(toy::PrevId(header.data()));
        if (!parent_height) {
          connects = false;
          break;
        }
        if (toy::Height(header.data()) != *parent_height + 1 ||
            header_index_.size() >= kMaxHeaderIndex) {
          break;
        }
        header_index_.emplace(id, header);
        to_fetch.push_back(id);
      }
      if (!connects) {
        // The peer is on a branch we do not know: ask for the headers in between, a
        // bounded number of times (a peer could keep sending unconnectable headers).
        if (++unconnecting_headers_[peer] <= kMaxUnconnectingHeaders) {
          locator = tree_.Locator();
        }
      } else {
        unconnecting_headers_.erase(peer);
        // A full message means the peer has more: continue after its last header.
        if (headers.size() == toy::kMaxHeadersPerMessage && !to_fetch.empty()) {
          locator = tree_.Locator();
          locator.insert(locator.begin(), to_fetch.back());
        }
      }
    }
    if (!to_fetch.empty()) {
      net_.FetchBlocks(to_fetch);
    }
    if (!locator.empty()) {
      RequestHeaders(peer, locator);
    }
  }

  /// The height of a block we have or whose header we hold. Caller holds mutex_.
  std::optional<uint32_t> KnownHeightLocked(const Hash& id) const {
    if (const BlockTree::Block* block = tree_.Find(id)) {
      return block->height;
    }
    auto it = header_index_.find(id);
    if (it != header_index_.end()) {
      return toy::Height(it->second.data());
    }
    return std::nullopt;
  }

  std::optional<std::vector<uint8_t>> ProvideItem(ItemKind kind, const Hash& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (kind == ItemKind::Block) {
      if (const BlockTree::Block* block = tree_.Find(id)) {
        return block->bytes;
      }
    } else if (auto it = pool_.find(id); it != pool_.end()) {
      return it->second;
    }
    return std::nullopt;
  }

  /// Adds a transaction, evicting the oldest when full, and reports it; false if it was
  /// there already. Caller holds mutex_.
  bool AddToPoolLocked(const Hash& id, std::vector<uint8_t> tx) {
    if (!pool_.emplace(id, std::move(tx)).second) {
      return false;
    }
    pool_order_.push_back(id);
    if (pool_order_.size() > kMaxMempool) {
      pool_.erase(pool_order_.front());
      pool_order_.pop_front();
    }
    events_.Emit("tx " + HexId(id));
    return true;
  }

  void RequestHeaders(uint64_t peer, const std::vector<Hash>& locator) {
    try {
      net_.SendGetHeaders(peer, locator);
    } catch (const p2pnet::Error&) {
      // The peer has gone; another peer's announcement will bring the branch.
    }
  }

  /// Tells the engine our tip. Serialised, and reading the tip inside, so that
  /// concurrent tip changes cannot leave an older tip reported last.
  void ReportTip() {
    std::lock_guard<std::mutex> report_lock(report_mutex_);
    uint32_t height = 0;
    Hash tip{};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      height = tree_.height();
      tip = tree_.tip();
    }
    try {
      net_.SetBestBlock(static_cast<int32_t>(height), tip);
    } catch (const p2pnet::Error&) {
      // Only fails once the engine is stopped, when no one needs our tip any more.
    }
  }

  const Options& options_;
  EventWriter& events_;

  std::mutex report_mutex_;
  mutable std::mutex mutex_;
  BlockTree tree_;
  /// Headers of blocks we have asked for and not received yet.
  std::map<Hash, BlockHeader> header_index_;
  /// Blocks whose parent has not arrived, by parent id.
  std::multimap<Hash, std::vector<uint8_t>> parked_;
  std::map<uint64_t, int> unconnecting_headers_;
  std::map<Hash, std::vector<uint8_t>> pool_;
  std::deque<Hash> pool_order_;
  std::map<uint64_t, ConnectedPeer> connected_;
  uint64_t transactions_created_ = 0;
  std::mt19937_64 random_{std::random_device{}()};

  // Last member: destroyed first, so its callbacks never see a destroyed member.
  p2pnet::NetworkManager net_;
};

bool ParseUnsigned(const std::string& text, uint32_t& value) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || parsed > UINT32_MAX) {
    return false;
  }
  value = static_cast<uint32_t>(parsed);
  return true;
}

bool ParseLogLevel(const std::string& text, p2pnet::LogLevel& level) {
  const std::pair<const char*, p2pnet::LogLevel> levels[] = {
      {"off", p2pnet::LogLevel::Off},     {"error", p2pnet::LogLevel::Error},
      {"warn", p2pnet::LogLevel::Warn},   {"info", p2pnet::LogLevel::Info},
      {"debug", p2pnet::LogLevel::Debug}, {"trace", p2pnet::LogLevel::Trace}};
  for (const auto& [name, value] : levels) {
    if (text == name) {
      level = value;
      return true;
    }
  }
  return false;
}

/// Parses the command line; returns an error message, or nothing when it is valid.
std::optional<std::string> ParseOptions(int argc, char** argv, Options& options, bool& help) {
  const std::map<std::string, std::optional<uint32_t>*> numbers = {
      {"--max-outbound", &options.max_outbound},
      {"--max-inbound", &options.max_inbound},
      {"--ping-interval-ms", &options.ping_interval_ms},
      {"--inactivity-timeout-ms", &options.inactivity_timeout_ms},
      {"--connect-timeout-ms", &options.connect_timeout_ms},
      {"--block-interval-ms", &options.block_interval_ms},
      {"--feeler-interval-ms", &options.feeler_interval_ms},
      {"--extra-block-relay-interval-ms", &options.extra_block_relay_interval_ms}};
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> value;
    if (const std::size_t equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    if (flag == "--help" || flag == "-h") {
      help = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) {
        return flag + " needs a value";
      }
      value = argv[++i];
    }
    if (auto number = numbers.find(flag); number != numbers.end()) {
      uint32_t parsed = 0;
      if (!ParseUnsigned(*value, parsed)) {
        return flag + " takes a non-negative integer, got '" + *value + "'";
      }
      *number->second = parsed;
    } else if (flag == "--listen" || flag == "--peer") {
      Endpoint endpoint;
      if (!ParseEndpoint(*value, endpoint)) {
        return flag + " takes IP:PORT, got '" + *value + "'";
      }
      if (flag == "--listen") {
        options.listen = endpoint;
      } else {
        options.peers.push_back(endpoint);
      }
    } else if (flag == "--datadir") {
      options.datadir = *value;
    } else if (flag == "--name") {
      options.name = *value;
    } else if (flag == "--log") {
      if (!ParseLogLevel(*value, options.log_level)) {
        return "unknown log level '" + *value + "'";
      }
    } else {
      return "unknown option " + flag;
    }
  }
  return std::nullopt;
}

p2pnet::Config MakeConfig(const Options& options) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetUserAgent("/p2pnet-netsim:" + p2pnet::Version() + "(" + options.name + ")/");
  // The simulator gives nodes routable-looking addresses; local ones would not be
  // gossiped, which is what the simulation is about.
  config.SetAllowLocalAddresses(false);
  config.SetWorkerThreads(1);
  if (options.listen) {
    const Endpoint& listen = *options.listen;
    const bool v6 = listen.host.find(':') != std::string::npos;
    config.SetListenAddress((v6 ? "[" + listen.host + "]" : listen.host) + ":" +
                            std::to_string(listen.port));
  }
  if (options.datadir) {
    config.SetDataDir(*options.datadir);
  }
  if (options.max_outbound) {
    config.SetMaxOutbound(*options.max_outbound);
  }
  if (options.max_inbound) {
    config.SetMaxInbound(*options.max_inbound);
  }
  if (options.ping_interval_ms) {
    config.SetPingInterval(std::chrono::milliseconds(*options.ping_interval_ms));
  }
  if (options.inactivity_timeout_ms) {
    config.SetInactivityTimeout(std::chrono::milliseconds(*options.inactivity_timeout_ms));
  }
  if (options.connect_timeout_ms) {
    config.SetConnectTimeout(std::chrono::milliseconds(*options.connect_timeout_ms));
  }
  if (options.block_interval_ms) {
    config.SetBlockInterval(std::chrono::milliseconds(*options.block_interval_ms));
  }
  if (options.feeler_interval_ms) {
    config.SetFeelerInterval(std::chrono::milliseconds(*options.feeler_interval_ms));
  }
  if (options.extra_block_relay_interval_ms) {
    config.SetExtraBlockRelayInterval(
        std::chrono::milliseconds(*options.extra_block_relay_interval_ms));
  }
  return config;
}

/// Runs commands from stdin until quit or end of input.
void RunCommands(SimNode& node, EventWriter& events) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line == "mine") {
      node.Mine();
    } else if (line == "tx") {
      node.CreateTransaction();
    } else if (line == "status") {
      node.PrintStatus();
    } else if (line == "peers") {
      node.PrintPeers();
    } else if (line == "quit") {
      return;
    } else if (!line.empty()) {
      events.Emit("error unknown-command:" + OneWord(line));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool help = false;
  if (const std::optional<std::string> error = ParseOptions(argc, argv, options, help)) {
    std::fprintf(stderr, "p2pnet_netsim_node: %s\n\n%s", error->c_str(), kUsage);
    return 2;
  }
  if (help) {
    std::printf("%s", kUsage);
    return 0;
  }
  try {
    p2pnet::CheckLibraryVersion();
    EventWriter events;
    SimNode node(options, MakeConfig(options), events);
    node.Start();
    RunCommands(node, events);
    node.Stop();
  } catch (const p2pnet::Error& e) {
    std::fprintf(stderr, "p2pnet_netsim_node (%s): %s\n", options.name.c_str(), e.what());
    return 1;
  }
  return 0;
}
