// A toy node on top of p2pnet: it keeps a toy chain and a mempool, judges the blocks
// and transactions peers send, answers getheaders/getblocks/getdata from its chain,
// catches up with peers that are ahead (headers first, then the blocks), and prints
// what happens. The local demo runs several of these in one process; the node program
// runs one.
#ifndef P2PNET_EXAMPLES_NODE_HPP
#define P2PNET_EXAMPLES_NODE_HPP

#include "console.hpp"
#include "toy_chain.hpp"

#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

/// The user agent a node announces; its name travels in the comment so that peers
/// can show who they talk to, e.g. "/p2pnet-node:0.1.0(alice)/".
std::string NodeUserAgent(const std::string& name);

/// What a node saw happen; the local demo waits on it and summarises it.
struct NodeRecord {
  /// The first arrival of a block or transaction from a peer.
  struct Arrival {
    p2pnet::ItemKind kind;
    uint64_t peer;
    std::string from;  // the sending peer's name
    Console::Clock::time_point at;
  };
  /// A connection that ended.
  struct Disconnect {
    uint64_t peer;
    std::string who;  // the peer's name, or "" when it never completed the handshake
    p2pnet::DisconnectReason reason;
    std::string detail;
  };

  /// Names of the peers currently connected (handshake complete), by peer id.
  std::map<uint64_t, std::string> peer_names;
  std::size_t handshakes = 0;
  std::vector<Disconnect> disconnects;
  std::map<p2pnet::Hash, Arrival> arrivals;
  std::size_t txs_accepted = 0;
  std::size_t blocks_accepted = 0;  // connected to the chain, from peers
  std::size_t blocks_mined = 0;
  std::size_t invalid_items = 0;
  std::size_t getheaders_sent = 0;
  std::size_t headers_received = 0;  // new headers learned from peers
  std::size_t blocks_synced = 0;     // blocks connected whose header came first
  std::size_t headers_served = 0;
  std::size_t items_served = 0;  // answered from the chain or mempool (not the relay cache)
};

class Node {
 public:
  Node(std::string name, const p2pnet::Config& config, Console& console);

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  p2pnet::NetworkManager& net() { return net_; }
  const p2pnet::NetworkManager& net() const { return net_; }

  /// Starts the engine; prints where it listens.
  void Start();
  /// Stops the engine; no callback runs afterwards.
  void Stop();

  /// Builds a block on the tip, connects it and broadcasts it. Returns its id.
  p2pnet::Hash MineBlock();
  /// Creates a small test transaction, keeps it in the mempool and broadcasts it.
  p2pnet::Hash BroadcastTestTransaction();

  std::size_t Height() const;
  p2pnet::Hash Tip() const;
  /// A copy of what the node saw so far.
  NodeRecord Record() const;

  /// Waits until `predicate(record, chain)` holds, re-checking after every event;
  /// false when `timeout` passes first.
  template <typename Predicate>
  bool WaitUntil(std::chrono::milliseconds timeout, Predicate predicate) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(record_, chain_); });
  }

  /// Prints the connected peers as a table.
  void PrintPeerTable() const;

 private:
  void OnPeerConnected(const p2pnet::PeerInfo& peer);
  void OnPeerDisconnected(uint64_t peer, p2pnet::DisconnectReason reason,
                          const std::string& detail);
  p2pnet::Verdict OnTransaction(uint64_t peer, const p2pnet::Hash& id, p2pnet::ByteView tx);
  p2pnet::Verdict OnBlock(uint64_t peer, const p2pnet::Hash& id, p2pnet::ByteView block);
  void OnHeaders(uint64_t peer, const std::vector<p2pnet::BlockHeader>& headers);
  std::vector<p2pnet::BlockHeader> OnGetHeaders(uint64_t peer,
                                                const std::vector<p2pnet::Hash>& locator,
                                                const std::optional<p2pnet::Hash>& stop);
  std::vector<p2pnet::Hash> OnGetBlocks(uint64_t peer, const std::vector<p2pnet::Hash>& locator,
                                        const std::optional<p2pnet::Hash>& stop);
  std::optional<std::vector<uint8_t>> ProvideItem(p2pnet::ItemKind kind, const p2pnet::Hash& id);

  /// Connects the block (which extends the tip), then every parked block that follows
  /// it. Returns the parked blocks tried, with the verdict they were waiting for.
  /// Caller holds mutex_.
  std::vector<std::pair<p2pnet::Hash, p2pnet::Verdict>> ConnectLocked(
      const std::vector<uint8_t>& block);
  /// Adds a transaction, evicting the oldest when full; false if it was there already.
  /// Caller holds mutex_.
  bool AddToMempoolLocked(const p2pnet::Hash& id, std::vector<uint8_t> tx);
  /// Asks a peer for the headers after our chain (outside mutex_).
  void RequestHeaders(uint64_t peer, std::vector<p2pnet::Hash> locator);
  /// The peer's name, "" if unknown. Caller holds mutex_.
  std::string NameLocked(uint64_t peer) const;
  /// "alice (#3)", or "peer #3" for a peer we have no name for. Caller holds mutex_.
  std::string LabelLocked(uint64_t peer) const;
  /// Updates the height announced to new peers and wakes waiters (outside mutex_).
  void ChainChanged();

  Console& console_;
  const std::string name_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  toy::Chain chain_;
  /// Headers peers sent whose blocks we do not have yet, by block id.
  std::map<p2pnet::Hash, p2pnet::BlockHeader> header_index_;
  /// Blocks that arrived before their parent, by parent id, waiting to connect.
  std::map<p2pnet::Hash, std::vector<uint8_t>> parked_by_parent_;
  /// Transactions by id, oldest first in mempool_order_ (bounded).
  std::map<p2pnet::Hash, std::vector<uint8_t>> mempool_;
  std::deque<p2pnet::Hash> mempool_order_;
  uint64_t transactions_created_ = 0;
  std::mt19937_64 random_{std::random_device{}()};
  NodeRecord record_;

  // Last member: destroyed first, so its callbacks never see a destroyed member.
  p2pnet::NetworkManager net_;
};

#endif  // P2PNET_EXAMPLES_NODE_HPP
