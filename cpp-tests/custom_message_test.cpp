// Node-defined messages through the C++ wrapper: two engines whose nodes define the
// same command exchange it; an engine that did not define it never receives it; a
// raw peer that offered it is held to its size and rate limits.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace p2pnet_test {
namespace {

constexpr const char* kVote = "chainvote";
constexpr uint32_t kMaxSize = 1024;
constexpr uint32_t kPerSecond = 50;

p2pnet::Config VoteConfig() {
  p2pnet::Config config = RelayConfig();
  config.AddCustomMessage(kVote, kMaxSize, kPerSecond);
  return config;
}

/// Records node-defined messages; tests wait on it.
class MessageLog {
 public:
  struct Received {
    uint64_t peer;
    std::string command;
    std::vector<uint8_t> payload;
  };

  p2pnet::NetworkManager::MessageCallback Callback() {
    return [this](uint64_t peer, const std::string& command, p2pnet::ByteView payload) {
      std::lock_guard<std::mutex> lock(mutex_);
      received_.push_back(Received{peer, command, payload.ToVector()});
      changed_.notify_all();
    };
  }

  bool WaitForCount(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return received_.size() >= count; });
  }

  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> received_;
};

uint64_t MessagesReceived(const p2pnet::NetworkManager& net, const std::string& command) {
  for (const auto& row : net.GetCommandTraffic()) {
    if (row.command == command) {
      return row.messages_received;
    }
  }
  return 0;
}

TEST(CustomMessages, OnlyPeersThatDefinedTheCommandReceiveIt) {
  TestNode a(VoteConfig());
  TestNode b(VoteConfig());
  TestNode c(RelayConfig());
  MessageLog a_log;
  MessageLog b_log;
  MessageLog c_log;
  a.net.SetOnCustomMessage(a_log.Callback());
  b.net.SetOnCustomMessage(b_log.Callback());
  c.net.SetOnCustomMessage(c_log.Callback());
  a.Start();
  b.Start();
  c.Start();
  const uint64_t b_at_a = Connect(a, b);
  const uint64_t c_at_a = Connect(a, c);
  ASSERT_NE(b_at_a, 0u);
  ASSERT_NE(c_at_a, 0u);

  const std::vector<uint8_t> ballot{'y', 'e', 's'};
  EXPECT_EQ(a.net.BroadcastCustomMessage(kVote, ballot), 1u) << "B offered it, C did not";
  ASSERT_TRUE(b_log.WaitForCount(1));
  EXPECT_EQ(b_log.received()[0].command, kVote);
  EXPECT_EQ(b_log.received()[0].payload, ballot);
  const uint64_t a_at_b = b_log.received()[0].peer;

  b.net.SendCustomMessage(a_at_b, kVote, std::vector<uint8_t>{'n', 'o'});
  ASSERT_TRUE(a_log.WaitForCount(1));
  EXPECT_EQ(a_log.received()[0].peer, b_at_a);
  EXPECT_EQ(a_log.received()[0].payload, (std::vector<uint8_t>{'n', 'o'}));

  EXPECT_THROW(a.net.SendCustomMessage(c_at_a, kVote, ballot), p2pnet::Error);
  EXPECT_THROW(a.net.SendCustomMessage(b_at_a, kVote, std::vector<uint8_t>(kMaxSize + 1)),
               p2pnet::Error);
  EXPECT_THROW(a.net.SendCustomMessage(b_at_a, "notdefined", ballot), p2pnet::Error);
  // A ping round trip after the broadcast: C has read everything A sent before it.
  ASSERT_TRUE(PollUntil([&] {
    const auto peers = c.net.GetPeers();
    return peers.size() == 1 && peers[0].ping_time.has_value();
  }));
  EXPECT_TRUE(c_log.received().empty());
  EXPECT_EQ(MessagesReceived(c.net, "*other*"), 0u) << "C never saw the command on the wire";
}

TEST(CustomMessages, DefinitionsAreChecked) {
  p2pnet::Config config = RelayConfig();
  EXPECT_THROW(config.AddCustomMessage("inv", 10, 1), p2pnet::Error) << "a Bitcoin command";
  EXPECT_THROW(config.AddCustomMessage("sendcmpct", 10, 1), p2pnet::Error)
      << "a Bitcoin command the engine does not implement";
  EXPECT_THROW(config.AddCustomMessage("thirteenchars", 10, 1), p2pnet::Error);
  EXPECT_THROW(config.AddCustomMessage("", 10, 1), p2pnet::Error);
  EXPECT_THROW(config.AddCustomMessage("ok", 0, 1), p2pnet::Error);
  EXPECT_THROW(config.AddCustomMessage("ok", 10, 0), p2pnet::Error);
  config.AddCustomMessage("ok", 10, 1);
  EXPECT_THROW(config.AddCustomMessage("ok", 10, 1), p2pnet::Error) << "defined twice";
}

// A raw peer that offered the command: one message over the size limit costs 20
// points, each message beyond the rate 1 point; the honest engine peer is served.
TEST(CustomMessages, OversizeAndFloodArePenalised) {
  TestNode e(VoteConfig());
  MessageLog log;
  e.net.SetOnCustomMessage(log.Callback());
  e.Start();
  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  RawSocket::HandshakeOptions options;
  options.protocol_version = 70016;
  ASSERT_TRUE(raw.Handshake(0x0c57, 0, options));
  // Handshake returns once its verack is sent; the engine may not have read it yet, and
  // the offering peer below must be the second to connect.
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  // The offer is a sendcustom listing the command, before verack: a new handshake.
  RawSocket offering(e.port);
  ASSERT_TRUE(offering.connected());
  ASSERT_TRUE(offering.SendMessage("version", VersionPayload(0x0c58, 0, 70016)));
  ByteWriter offer;
  offer.CompactSize(1).VarStr(kVote);
  ASSERT_TRUE(offering.SendMessage("sendcustom", offer.bytes()));
  ASSERT_TRUE(offering.WaitForCommand("verack"));
  ASSERT_TRUE(offering.SendMessage("verack", {}));
  ASSERT_TRUE(e.peers.WaitForConnected(2));
  const uint64_t offering_id = e.peers.connected().back().id;

  // The peer that did not offer it is ignored.
  ASSERT_TRUE(raw.SendMessage(kVote, {1, 2, 3}));
  // The one that did: a burst of the per-second rate arrives, one more costs a point.
  for (uint32_t i = 0; i <= kPerSecond; ++i) {
    ASSERT_TRUE(offering.SendMessage(kVote, {static_cast<uint8_t>(i)}));
  }
  ASSERT_TRUE(offering.SendMessage(kVote, std::vector<uint8_t>(kMaxSize + 1, 0)));
  ASSERT_TRUE(offering.SendMessage("ping", ByteWriter().U64(9).bytes()));
  ASSERT_TRUE(offering.WaitForCommand("pong"));
  ASSERT_TRUE(log.WaitForCount(kPerSecond));
  for (const auto& message : log.received()) {
    EXPECT_EQ(message.peer, offering_id);
  }
  std::optional<uint32_t> score;
  for (const auto& peer : e.net.GetPeers()) {
    if (peer.id == offering_id) {
      score = peer.misbehaviour_score;
    }
  }
  // At 50 per second the burst may have earned a token back; at most one more passes.
  ASSERT_TRUE(score.has_value());
  EXPECT_GE(*score, 20u);
  EXPECT_LE(*score, 21u);
  EXPECT_LE(log.received().size(), kPerSecond + 1);
}

}  // namespace
}  // namespace p2pnet_test
