// Helpers for the relay and sync tests, built on the C++ wrapper: per-node
// event logs that tests wait on, a node bundle that wires them up, and a toy
// block chain.
#ifndef P2PNET_RELAY_SUPPORT_HPP
#define P2PNET_RELAY_SUPPORT_HPP

#include "p2pnet.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace p2pnet_test {

/// Deadline for the larger relay/sync scenarios; only reached on failure.
inline constexpr std::chrono::seconds kLongDeadline{30};

/// Records the block or transaction callbacks of one node: how often each id
/// arrived and from which peer. The verdict returned is decided by `decide`
/// (Accepted when unset). Thread-safe; tests wait on it.
class ItemLog {
 public:
  struct Arrival {
    uint64_t peer;
    p2pnet::Hash id;
    std::vector<uint8_t> data;
  };

  /// Sets how the callback judges items; call before the engine starts.
  void SetDecider(std::function<p2pnet::Verdict(const p2pnet::Hash&)> decide) {
    std::lock_guard<std::mutex> lock(mutex_);
    decide_ = std::move(decide);
  }

  /// The callback body: records the arrival and returns the verdict.
  p2pnet::Verdict Record(uint64_t peer, const p2pnet::Hash& id, p2pnet::ByteView data) {
    std::lock_guard<std::mutex> lock(mutex_);
    arrivals_.push_back(Arrival{peer, id, data.ToVector()});
    ++counts_[id];
    last_arrival_ = std::chrono::steady_clock::now();
    changed_.notify_all();
    return decide_ ? decide_(id) : p2pnet::Verdict::Accepted;
  }

  /// A callable for NetworkManager::SetOnBlock / SetOnTransaction.
  p2pnet::NetworkManager::ItemCallback Callback() {
    return [this](uint64_t peer, const p2pnet::Hash& id, p2pnet::ByteView data) {
      return Record(peer, id, data);
    };
  }

  /// Waits until `id` arrived at least once.
  bool WaitFor(const p2pnet::Hash& id, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return counts_.count(id) != 0; });
  }

  /// Waits until at least `total` arrivals were recorded.
  bool WaitForTotal(std::size_t total, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return arrivals_.size() >= total; });
  }

  int Count(const p2pnet::Hash& id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = counts_.find(id);
    return it == counts_.end() ? 0 : it->second;
  }

  std::size_t Total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_.size();
  }

  std::vector<Arrival> Arrivals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }

  std::map<p2pnet::Hash, int> Counts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_;
  }

  /// When the latest arrival was recorded.
  std::chrono::steady_clock::time_point LastArrival() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_arrival_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::function<p2pnet::Verdict(const p2pnet::Hash&)> decide_;
  std::vector<Arrival> arrivals_;
  std::map<p2pnet::Hash, int> counts_;
  std::chrono::steady_clock::time_point last_arrival_{};
};

/// Records peer-connected / peer-disconnected callbacks of one node.
class PeerLog {
 public:
  void Connected(const p2pnet::PeerInfo& peer) {
    std::lock_guard<std::mutex> lock(mutex_);
    connected_.push_back(peer);
    changed_.notify_all();
  }

  void Disconnected(uint64_t id, p2pnet::DisconnectReason reason, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    disconnected_.push_back(Event{id, reason, detail});
    changed_.notify_all();
  }

  /// Waits until at least `count` peers connected in total.
  bool WaitForConnected(std::size_t count, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return connected_.size() >= count; });
  }

  /// Waits until the peer with engine id `id` connected.
  bool WaitForConnectedId(uint64_t id, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] {
      for (const auto& peer : connected_) {
        if (peer.id == id) {
          return true;
        }
      }
      return false;
    });
  }

  /// Waits until the peer with engine id `id` disconnected.
  bool WaitForDisconnectedId(uint64_t id, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] {
      for (const auto& event : disconnected_) {
        if (event.id == id) {
          return true;
        }
      }
      return false;
    });
  }

  struct Event {
    uint64_t id;
    p2pnet::DisconnectReason reason;
    std::string detail;
  };

  std::vector<p2pnet::PeerInfo> connected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connected_;
  }

  std::vector<Event> disconnected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return disconnected_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<p2pnet::PeerInfo> connected_;
  std::vector<Event> disconnected_;
};

/// Regtest configuration listening on `ip`:0 with immediate transaction
/// announcements and one worker thread (several engines share two cores).
/// Automatic outbound connections are off (max outbound 0): regtest engines
/// accept loopback addresses from addr messages and would otherwise dial the
/// addresses their peers advertise, turning the tests' exact topologies (a
/// line, a given mesh) into something else. Connections made with AddPeer are
/// unaffected.
inline p2pnet::Config RelayConfig(const std::string& ip = "127.0.0.1") {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress(ip + ":0")
      .SetTxTrickle(std::chrono::milliseconds(0), std::chrono::milliseconds(0))
      .SetWorkerThreads(1)
      .SetMaxOutbound(0);
  return config;
}

/// An engine with its logs attached. The logs are declared before the
/// manager, so they outlive it.
struct TestNode {
  explicit TestNode(const p2pnet::Config& config, const std::string& listen_ip = "127.0.0.1")
      : ip(listen_ip), net(config) {
    net.SetOnPeerConnected([this](const p2pnet::PeerInfo& peer) { peers.Connected(peer); });
    net.SetOnPeerDisconnected(
        [this](uint64_t id, p2pnet::DisconnectReason reason, const std::string& detail) {
          peers.Disconnected(id, reason, detail);
        });
    net.SetOnTransaction(txs.Callback());
    net.SetOnBlock(blocks.Callback());
  }

  /// Starts the engine and records its listen port.
  void Start() {
    net.Start();
    port = net.ListenPort();
  }

  PeerLog peers;
  ItemLog txs;
  ItemLog blocks;
  std::string ip;
  uint16_t port = 0;
  p2pnet::NetworkManager net;
};

/// `from` dials `to` and both sides see the handshake complete. Returns the
/// id `from` gives the connection (0 on failure, with a test failure).
inline uint64_t Connect(TestNode& from, TestNode& to) {
  const std::size_t to_before = to.peers.connected().size();
  const uint64_t id = from.net.AddPeer(to.ip, to.port);
  if (!from.peers.WaitForConnectedId(id)) {
    ADD_FAILURE() << "no handshake " << from.ip << " -> " << to.ip << ":" << to.port;
    return 0;
  }
  if (!to.peers.WaitForConnected(to_before + 1)) {
    ADD_FAILURE() << "inbound side " << to.ip << ":" << to.port << " saw no handshake";
    return 0;
  }
  return id;
}

/// A toy block chain. Block layout: an 80-byte header (version 1, the previous
/// block id at bytes 4..36, the height at 36..40 and a chain tag at 40..44,
/// little endian, zero padding) followed by a small body. Ids are SHA-256d of
/// the header, the engine's default block id.
class ToyChain {
 public:
  static constexpr std::size_t kHeaderSize = 80;

  /// A chain holding only its genesis block; equal tags give equal geneses.
  explicit ToyChain(uint32_t tag = 0) : tag_(tag) {
    Append(MakeBlock(p2pnet::Hash{}, 0, tag_));
  }

  static std::vector<uint8_t> MakeBlock(const p2pnet::Hash& prev, uint32_t height, uint32_t tag) {
    ByteWriter w;
    w.U32(1).Bytes(prev.data(), prev.size()).U32(height).U32(tag);
    std::vector<uint8_t> block = w.bytes();
    block.resize(kHeaderSize, 0);
    ByteWriter body;
    body.VarStr("toy block body").U32(height * 2654435761u).U32(tag);
    block.insert(block.end(), body.bytes().begin(), body.bytes().end());
    return block;
  }

  static p2pnet::Hash IdOf(const uint8_t* header) {
    const Hash32 id = Sha256d(header, kHeaderSize);
    return id;
  }

  static p2pnet::Hash PrevOf(const uint8_t* header) {
    p2pnet::Hash prev{};
    std::memcpy(prev.data(), header + 4, prev.size());
    return prev;
  }

  static uint32_t HeightOf(const uint8_t* header) {
    return static_cast<uint32_t>(header[36]) | static_cast<uint32_t>(header[37]) << 8 |
           static_cast<uint32_t>(header[38]) << 16 | static_cast<uint32_t>(header[39]) << 24;
  }

  /// Mines `count` more blocks on the tip.
  void Extend(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      Append(MakeBlock(ids_.back(), static_cast<uint32_t>(blocks_.size()), tag_));
    }
  }

  /// Appends a block; false if its prev link does not point at the tip.
  bool Connect(const std::vector<uint8_t>& block) {
    if (block.size() < kHeaderSize || PrevOf(block.data()) != ids_.back() ||
        HeightOf(block.data()) != blocks_.size()) {
      return false;
    }
    Append(block);
    return true;
  }

  std::size_t height() const { return blocks_.size() - 1; }
  const p2pnet::Hash& tip() const { return ids_.back(); }
  const p2pnet::Hash& IdAt(std::size_t height) const { return ids_.at(height); }
  const std::vector<uint8_t>& BlockAt(std::size_t height) const { return blocks_.at(height); }

  p2pnet::BlockHeader HeaderAt(std::size_t height) const {
    p2pnet::BlockHeader header{};
    std::memcpy(header.data(), blocks_.at(height).data(), header.size());
    return header;
  }

  /// The height of a block id, or -1.
  long HeightOfId(const p2pnet::Hash& id) const {
    auto it = height_of_.find(id);
    return it == height_of_.end() ? -1 : static_cast<long>(it->second);
  }

  /// Up to `limit` headers after the first locator hash this chain knows
  /// (genesis when it knows none), ending at `stop` if given: Bitcoin Core's
  /// getheaders answer.
  std::vector<p2pnet::BlockHeader> HeadersAfter(const std::vector<p2pnet::Hash>& locator,
                                                const std::optional<p2pnet::Hash>& stop,
                                                std::size_t limit = 2000) const {
    std::size_t fork = 0;
    for (const auto& hash : locator) {
      long h = HeightOfId(hash);
      if (h >= 0) {
        fork = static_cast<std::size_t>(h);
        break;
      }
    }
    std::vector<p2pnet::BlockHeader> headers;
    for (std::size_t h = fork + 1; h <= height() && headers.size() < limit; ++h) {
      headers.push_back(HeaderAt(h));
      if (stop && IdAt(h) == *stop) {
        break;
      }
    }
    return headers;
  }

 private:
  void Append(const std::vector<uint8_t>& block) {
    const p2pnet::Hash id = IdOf(block.data());
    height_of_[id] = blocks_.size();
    ids_.push_back(id);
    blocks_.push_back(block);
  }

  uint32_t tag_;
  std::vector<std::vector<uint8_t>> blocks_;
  std::vector<p2pnet::Hash> ids_;
  std::map<p2pnet::Hash, std::size_t> height_of_;
};

}  // namespace p2pnet_test

#endif  // P2PNET_RELAY_SUPPORT_HPP
