// Metrics through the C++ wrapper: engine-wide traffic by command counted exactly
// on both ends of an exchange, the peer record's connection kind and socket times,
// the ping-measured callback, the listen address and an idempotent Stop().
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

namespace p2pnet_test {
namespace {

/// Records ping-measured callbacks; tests wait on it.
class PingLog {
 public:
  p2pnet::NetworkManager::PingCallback Callback() {
    return [this](uint64_t peer, std::chrono::microseconds rtt) {
      std::lock_guard<std::mutex> lock(mutex_);
      rtts_[peer] = rtt;
      changed_.notify_all();
    };
  }

  bool WaitFor(uint64_t peer) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return rtts_.count(peer) != 0; });
  }

  std::chrono::microseconds Rtt(uint64_t peer) {
    std::lock_guard<std::mutex> lock(mutex_);
    return rtts_[peer];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, std::chrono::microseconds> rtts_;
};

using Table = std::map<std::string, p2pnet::CommandTraffic>;

Table ByCommand(const p2pnet::NetworkManager& net) {
  Table table;
  for (const auto& row : net.GetCommandTraffic()) {
    table[row.command] = row;
  }
  return table;
}

/// Whether everything `from` sent by command arrived at `to`, and nothing else.
bool SentArrived(const Table& from, const Table& to) {
  for (const auto& [command, row] : from) {
    auto it = to.find(command);
    const uint64_t messages = it == to.end() ? 0 : it->second.messages_received;
    const uint64_t bytes = it == to.end() ? 0 : it->second.bytes_received;
    if (messages != row.messages_sent || bytes != row.bytes_sent) {
      return false;
    }
  }
  for (const auto& [command, row] : to) {
    auto it = from.find(command);
    if (row.messages_received != (it == from.end() ? 0 : it->second.messages_sent)) {
      return false;
    }
  }
  return true;
}

TEST(Metrics, TrafficIsCountedExactlyOnBothEnds) {
  TestNode a(RelayConfig());
  TestNode b(RelayConfig());
  PingLog a_pings;
  PingLog b_pings;
  a.net.SetOnPing(a_pings.Callback());
  b.net.SetOnPing(b_pings.Callback());
  a.Start();
  b.Start();
  EXPECT_EQ(a.net.ListenAddress(), "127.0.0.1:" + std::to_string(a.port));
  const uint64_t b_at_a = Connect(a, b);
  ASSERT_NE(b_at_a, 0u);
  const uint64_t a_at_b = b.peers.connected()[0].id;
  // Each side pings right after the handshake; both round trips are measured.
  ASSERT_TRUE(a_pings.WaitFor(b_at_a));
  ASSERT_TRUE(b_pings.WaitFor(a_at_b));
  EXPECT_GT(a_pings.Rtt(b_at_a).count(), 0);

  const std::vector<uint8_t> tx(250, 0x5a);
  const p2pnet::Hash id = a.net.BroadcastTransaction(tx);
  ASSERT_TRUE(b.txs.WaitFor(id));

  // Once everything in flight has landed, each side received exactly what the other
  // sent, command by command, message by message and byte by byte on the socket.
  Table a_table;
  Table b_table;
  p2pnet::NetTotals a_totals;
  p2pnet::NetTotals b_totals;
  ASSERT_TRUE(PollUntil([&] {
    a_table = ByCommand(a.net);
    b_table = ByCommand(b.net);
    a_totals = a.net.GetNetTotals();
    b_totals = b.net.GetNetTotals();
    return SentArrived(a_table, b_table) && SentArrived(b_table, a_table) &&
           a_totals.bytes_sent == b_totals.bytes_received &&
           b_totals.bytes_sent == a_totals.bytes_received;
  })) << "traffic counted differently on the two ends";
  EXPECT_EQ(a_table["version"].messages_sent, 1u);
  EXPECT_EQ(a_table["verack"].messages_received, 1u);
  EXPECT_EQ(a_table["tx"].messages_sent, 1u);
  EXPECT_EQ(a_table["tx"].bytes_sent, 24u + tx.size());
  EXPECT_EQ(b_table["getdata"].messages_sent, 1u);
  EXPECT_EQ(b_table["inv"].messages_received, 1u);
  EXPECT_EQ(a_totals.messages_sent, b_totals.messages_received);

  // The peer records.
  const auto a_peers = a.net.GetPeers();
  const auto b_peers = b.net.GetPeers();
  ASSERT_EQ(a_peers.size(), 1u);
  ASSERT_EQ(b_peers.size(), 1u);
  EXPECT_EQ(a_peers[0].kind, p2pnet::ConnectionKind::Manual);
  EXPECT_EQ(b_peers[0].kind, p2pnet::ConnectionKind::Inbound);
  EXPECT_EQ(a_peers[0].blocks_in_flight, 0u);
  // Both ends speak BIP324 by default and see the same session id.
  EXPECT_EQ(a_peers[0].transport_version, 2);
  ASSERT_TRUE(a_peers[0].session_id && b_peers[0].session_id);
  EXPECT_EQ(*a_peers[0].session_id, *b_peers[0].session_id);
  const auto now = std::chrono::system_clock::now();
  for (const auto& peer : {a_peers[0], b_peers[0]}) {
    EXPECT_LE(now - peer.last_send, std::chrono::seconds(60));
    EXPECT_LE(now - peer.last_receive, std::chrono::seconds(60));
    EXPECT_GE(peer.last_receive, peer.connected_since);
  }
  EXPECT_EQ(a.net.DroppedLogRecords(), 0u);

  // Stopping twice is harmless, and the totals stay readable.
  a.net.Stop();
  EXPECT_NO_THROW(a.net.Stop());
  EXPECT_GE(a.net.GetNetTotals().bytes_sent, a_totals.bytes_sent);
}

}  // namespace
}  // namespace p2pnet_test
