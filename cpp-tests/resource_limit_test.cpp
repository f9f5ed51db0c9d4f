// Resource exhaustion from raw-socket peers: hundreds of connections that
// never speak must not lock an honest peer out, and peers that claim 32 MiB
// payloads and stall must not make the engine reserve that memory.
#include "attacker_support.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <memory>

namespace p2pnet_test {
namespace {

constexpr std::size_t kDefaultMaxInbound = 114;

TEST(ResourceLimits, IdleConnectionsDoNotLockOutHonestPeer) {
  constexpr std::size_t kIdle = 500;
  // Client and server ends of every idle connection, plus the engines' own.
  ASSERT_GE(RaiseOpenFileLimit(4 * kIdle), 2 * kIdle + 256) << "RLIMIT_NOFILE too low";

  // Default inbound cap (114) and handshake timeout (60 s): room for the
  // honest peer has to come from eviction, not from a timeout.
  TestNode target(RelayConfig());
  target.Start();

  // 500 connections from 500 addresses (127.0.1.1 .. 127.0.2.250), so a
  // per-address limit alone cannot turn them away.
  std::vector<std::unique_ptr<Attacker>> idle;
  idle.reserve(kIdle);
  for (std::size_t i = 0; i < kIdle; ++i) {
    const std::string ip =
        "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
    idle.push_back(std::make_unique<Attacker>(ip, target.port));
    ASSERT_TRUE(idle.back()->connected()) << ip;
  }
  // The engine accepts in arrival order, so every idle connection reaches it
  // before the honest peer's does.
  ASSERT_NO_FATAL_FAILURE(ExpectHonestPeerServed(target));

  // Evicted connections close once their task winds down; then the inbound
  // connections (idle ones plus the honest one) are back within the cap.
  std::size_t still_open = kIdle;
  EXPECT_TRUE(PollUntil([&] {
    still_open = 0;
    for (auto& attacker : idle) {
      still_open += attacker->IsClosed() ? 0 : 1;
    }
    return still_open + 1 <= kDefaultMaxInbound;
  })) << still_open << " idle connections still open next to the honest one";
  std::cout << "[figure] idle connections: " << kIdle << " opened, " << kIdle - still_open
            << " closed by the engine (refused or evicted), " << still_open << " still open"
            << std::endl;
  EXPECT_EQ(target.peers.connected().size(), 1u) << "only the honest peer handshook";
}

TEST(ResourceLimits, PerIpInboundLimitClosesExtraConnectionsAtAccept) {
  constexpr uint32_t kPerIp = 3;
  p2pnet::Config config = RelayConfig();
  ASSERT_EQ(p2pnet_config_set_max_inbound_per_ip(config.native(), kPerIp), P2PNET_OK)
      << p2pnet_last_error_message();
  TestNode target(config);
  target.Start();

  const std::string crowded = "127.2.1.1";
  std::vector<std::unique_ptr<Attacker>> admitted;
  for (uint32_t i = 0; i < kPerIp; ++i) {
    admitted.push_back(std::make_unique<Attacker>(crowded, target.port));
    ASSERT_TRUE(admitted.back()->Handshake()) << "connection " << i + 1 << " of " << kPerIp;
  }
  Attacker extra(crowded, target.port);
  ASSERT_TRUE(extra.connected());
  extra.SendMessage("version", VersionPayload(0xe7a));
  EXPECT_TRUE(extra.WaitForClose()) << "a connection over the per-IP limit was kept";
  EXPECT_EQ(extra.bytes_received(), 0u) << "the engine spoke to a connection over the limit";

  // Another address is not affected.
  Attacker neighbour("127.2.1.2", target.port);
  ASSERT_TRUE(neighbour.Handshake());
  for (auto& attacker : admitted) {
    EXPECT_TRUE(attacker->Barrier()) << "an admitted connection was dropped";
  }

  // Once one of the three leaves, the address may connect again.
  const std::size_t disconnects_before = target.peers.disconnected().size();
  admitted.front()->Close();
  ASSERT_TRUE(PollUntil([&] { return target.peers.disconnected().size() > disconnects_before; }));
  Attacker replacement(crowded, target.port);
  EXPECT_TRUE(replacement.Handshake()) << "a freed per-IP slot was not reusable";
  ExpectHonestPeerServed(target);
}

TEST(ResourceLimits, StalledOversizedClaimsDoNotReserveMemory) {
  constexpr std::size_t kStallers = 50;
  constexpr uint32_t kClaimedBytes = 32u * 1024 * 1024;  // exactly the message limit
  constexpr std::size_t kSentPayloadBytes = 16;
  constexpr std::size_t kMaxGrowth = 64 * kMiB;
  constexpr std::size_t kMaxReservedGrowth = 512 * kMiB;

  TestNode target(RelayConfig());
  target.Start();
  const std::size_t rss_before = ResidentSetBytes();
  const std::size_t data_before = DataSegmentBytes();
  ASSERT_GT(rss_before, 0u) << "cannot read VmRSS from /proc/self/status";

  std::vector<std::unique_ptr<Attacker>> stallers;
  std::map<uint64_t, uint64_t> received_after_handshake;
  for (std::size_t i = 0; i < kStallers; ++i) {
    const std::string ip = "127.2.0." + std::to_string(i + 1);
    stallers.push_back(std::make_unique<Attacker>(ip, target.port));
    ASSERT_TRUE(stallers.back()->connected()) << ip;
    ASSERT_TRUE(stallers.back()->Handshake()) << ip;
    ASSERT_TRUE(stallers.back()->Barrier()) << ip;
    const auto id = PeerIdByAddress(target.net.native(), ip);
    ASSERT_TRUE(id) << ip;
    received_after_handshake[*id] = FindPeer(target.net.native(), *id)->bytes_received;
  }

  // A block header claiming 32 MiB, the first few payload bytes, then nothing.
  std::vector<uint8_t> claim = MessageHeader(kRegtestMagic, "block", kClaimedBytes, 0x12345678u);
  claim.resize(claim.size() + kSentPayloadBytes, 0x42);
  for (auto& staller : stallers) {
    ASSERT_TRUE(staller->SendAll(claim));
  }
  // Wait until the engine has read every claim.
  ASSERT_TRUE(PollUntil([&] {
    const auto peers = GetPeers(target.net.native());
    if (!peers) {
      return false;
    }
    std::size_t read_all = 0;
    for (const auto& peer : *peers) {
      auto it = received_after_handshake.find(peer.id);
      if (it != received_after_handshake.end() &&
          peer.bytes_received >= it->second + claim.size()) {
        ++read_all;
      }
    }
    return read_all == kStallers;
  })) << "the engine did not read every stalled claim";

  const std::size_t rss_after = ResidentSetBytes();
  const std::size_t data_after = DataSegmentBytes();
  auto mib = [](std::size_t bytes) {
    return static_cast<double>(bytes) / static_cast<double>(kMiB);
  };
  std::cout << "[figure] " << kStallers << " peers stalled on 32 MiB claims: RSS before "
            << mib(rss_before) << " MiB, after " << mib(rss_after) << " MiB, growth "
            << mib(rss_after) - mib(rss_before) << " MiB (limit " << mib(kMaxGrowth)
            << " MiB); VmData growth " << mib(data_after) - mib(data_before) << " MiB"
            << std::endl;
  EXPECT_LT(rss_after, rss_before + kMaxGrowth);
  // Untouched reservations do not show in RSS, so the address space is
  // checked too: reserving each claim would add 50 x 32 MiB = 1600 MiB.
  EXPECT_LT(data_after, data_before + kMaxReservedGrowth);

  // A partial frame is no offence: the stallers stay, unscored.
  const auto peers = GetPeers(target.net.native());
  ASSERT_TRUE(peers);
  EXPECT_EQ(peers->size(), kStallers);
  for (const auto& peer : *peers) {
    EXPECT_EQ(peer.misbehaviour_score, 0u) << peer.address;
  }
  EXPECT_TRUE(target.peers.disconnected().empty());

  ExpectHonestPeerServed(target);
}

}  // namespace
}  // namespace p2pnet_test
