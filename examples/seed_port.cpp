// seed_port.cpp: the seed design's NetworkManager usage example, ported to p2pnet
// (docs/porting.md explains each change). The original:
//
//   parthenon::p2p::NetworkManager network(8333, parthenon::p2p::NetworkMagic::MAINNET);
//   network.SetOnBlock([](const std::string& peer_id,
//                         const parthenon::primitives::Block& block) {
//       std::cout << "Received block from " << peer_id << std::endl; });
//   network.SetOnTransaction([](const std::string& peer_id,
//                               const parthenon::primitives::Transaction& tx) {
//       std::cout << "Received transaction from " << peer_id << std::endl; });
//   network.Start();
//   network.AddPeer("192.168.1.100", 8333);
//   network.AddPeer("10.0.0.50", 8333);
//   network.BroadcastBlock(block);
//   network.BroadcastTransaction(tx);
//   network.Stop();
//
// To run anywhere, the node listens on 127.0.0.1 with port 0 instead of 8333, and a
// second engine ("remote") stands in for the two remote peers: it sends the node a
// block and a transaction and receives the node's. The program also prints the peer
// list and the sync status, as the seed's "Manual Peer Management" example did.
#include <p2pnet.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// Stand-ins for parthenon::primitives: the node's own types and serialization.
// p2pnet carries bytes; the node turns them into its types and judges them.
namespace primitives {
struct Transaction {
  std::string memo;
  std::vector<uint8_t> Serialize() const { return {memo.begin(), memo.end()}; }
  static std::optional<Transaction> Deserialize(p2pnet::ByteView b) {
    if (b.empty()) return std::nullopt;
    return Transaction{std::string(b.begin(), b.end())};
  }
};
struct Block {  // an 80-byte header (its SHA-256d is the block id) and a body
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> Serialize() const { return bytes; }
  static std::optional<Block> Deserialize(p2pnet::ByteView b) {
    if (b.size() < 80) return std::nullopt;
    return Block{b.ToVector()};
  }
};
}  // namespace primitives

namespace {
struct Seen {  // what the callbacks saw; they run on the engines' dispatcher threads
  std::mutex mutex;
  std::condition_variable changed;
  int connected = 0, node_items = 0, remote_items = 0;
  int chain_height = 0;  // the node's chain
  template <typename Predicate>
  bool WaitUntil(Predicate done) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), done);
  }
  void Count(int& counter) {
    std::lock_guard<std::mutex> lock(mutex);
    ++counter;
    changed.notify_all();
  }
};

p2pnet::Config MainnetConfig() {
  p2pnet::Config config(p2pnet::Network::Mainnet);  // magic 0xD9B4BEF9, default port 8333
  config.SetListenAddress("127.0.0.1:0")            // a real node: "0.0.0.0:8333"
      // Demo only: announce transactions at once (Core's default: Poisson, 5 s / 2 s).
      .SetTxTrickle(std::chrono::milliseconds(0), std::chrono::milliseconds(0));
  return config;
}

void PrintSyncStatus(p2pnet::NetworkManager& network, Seen& seen) {
  const p2pnet::SyncStatus status = network.GetSyncStatus();
  int current;
  {
    std::lock_guard<std::mutex> lock(seen.mutex);
    current = seen.chain_height;  // current_height: the node's own chain knows it
  }
  const int target = std::max(status.best_peer_height, current);  // what peers announced
  std::cout << "Syncing: " << current << "/" << target << " ("
            << (target == 0 ? 100 : 100 * current / target) << "%)" << std::endl;
}
}  // namespace

int main() {
  Seen seen;  // declared first: it must outlive the engines, whose callbacks use it
  try {
    p2pnet::CheckLibraryVersion();
    p2pnet::NetworkManager remote(MainnetConfig().SetStartHeight(1));
    const auto remote_got = [&](uint64_t, const p2pnet::Hash&, p2pnet::ByteView) {
      seen.Count(seen.remote_items);
      return p2pnet::Verdict::Accepted;
    };
    remote.SetOnBlock(remote_got);
    remote.SetOnTransaction(remote_got);
    remote.SetOnPeerConnected([&](const p2pnet::PeerInfo&) { seen.Count(seen.connected); });
    remote.Start();

    p2pnet::NetworkManager network(MainnetConfig());
    network.SetOnBlock([&](uint64_t peer_id, const p2pnet::Hash&, p2pnet::ByteView bytes) {
      const std::optional<primitives::Block> block = primitives::Block::Deserialize(bytes);
      if (!block) return p2pnet::Verdict::Invalid;  // not relayed; the sender is penalised
      std::cout << "Received block from " << peer_id << std::endl;
      { std::lock_guard<std::mutex> lock(seen.mutex); ++seen.chain_height; }
      seen.Count(seen.node_items);
      return p2pnet::Verdict::Accepted;  // valid: the engine relays it to other peers
    });
    network.SetOnTransaction([&](uint64_t peer_id, const p2pnet::Hash&, p2pnet::ByteView bytes) {
      if (!primitives::Transaction::Deserialize(bytes)) return p2pnet::Verdict::Invalid;
      std::cout << "Received transaction from " << peer_id << std::endl;
      seen.Count(seen.node_items);
      return p2pnet::Verdict::Accepted;
    });
    network.SetOnPeerConnected([&](const p2pnet::PeerInfo&) { seen.Count(seen.connected); });
    network.Start();

    network.AddPeer("127.0.0.1", remote.ListenPort());  // was: AddPeer("192.168.1.100", 8333)
    // Both ends: an engine announces items only to peers whose handshake it completed.
    if (!seen.WaitUntil([&] { return seen.connected == 2; })) {
      std::cerr << "FAIL: no connection\n";
      return 1;
    }
    for (const p2pnet::PeerInfo& peer : network.GetPeers()) {
      std::cout << peer.address << ":" << peer.port << std::endl;
    }
    PrintSyncStatus(network, seen);

    primitives::Block block{std::vector<uint8_t>(100, 7)};
    primitives::Transaction tx{"alice pays bob 5"};
    network.BroadcastBlock(block.Serialize());
    network.BroadcastTransaction(tx.Serialize());
    // The remote peer's new block and transaction reach the node's callbacks.
    remote.BroadcastBlock(primitives::Block{std::vector<uint8_t>(100, 9)}.Serialize());
    remote.BroadcastTransaction(primitives::Transaction{"carol pays dave 1"}.Serialize());
    if (!seen.WaitUntil([&] { return seen.node_items == 2 && seen.remote_items == 2; })) {
      std::cerr << "FAIL: blocks and transactions did not cross\n";
      return 1;
    }
    PrintSyncStatus(network, seen);

    network.Stop();
    remote.Stop();
    std::cout << "seed_port: OK" << std::endl;
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
