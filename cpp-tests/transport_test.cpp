// BIP324 through the C++ wrapper, over real sockets: two default engines speak v2
// and relay; a v2 engine and a v1-only engine connect both ways (fallback and
// detection); a v2-only engine refuses v1; a peer whose handshake never ends its
// garbage is disconnected while an honest peer keeps being served.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace p2pnet_test {
namespace {

using p2pnet::TransportMode;

p2pnet::Config ModeConfig(TransportMode mode) {
  p2pnet::Config config = RelayConfig();
  config.SetTransport(mode);
  return config;
}

/// The only peer `node` lists, once there is exactly one.
std::optional<p2pnet::PeerInfo> OnlyPeer(TestNode& node) {
  std::optional<p2pnet::PeerInfo> found;
  PollUntil([&] {
    const auto peers = node.net.GetPeers();
    if (peers.size() == 1) {
      found = peers[0];
    }
    return found.has_value();
  });
  return found;
}

TEST(Transport, DefaultEnginesSpeakV2AndRelay) {
  TestNode a(RelayConfig());
  TestNode b(RelayConfig());
  a.Start();
  b.Start();
  ASSERT_NE(Connect(a, b), 0u);
  const auto at_a = OnlyPeer(a);
  const auto at_b = OnlyPeer(b);
  ASSERT_TRUE(at_a && at_b);
  EXPECT_EQ(at_a->transport_version, 2);
  EXPECT_EQ(at_b->transport_version, 2);
  ASSERT_TRUE(at_a->session_id && at_b->session_id);
  EXPECT_EQ(*at_a->session_id, *at_b->session_id) << "both ends derive the same session";
  EXPECT_NE(at_a->services & (uint64_t{1} << 11), 0u) << "NODE_P2P_V2 announced";

  const std::vector<uint8_t> tx(300, 0x42);
  const p2pnet::Hash tx_id = a.net.BroadcastTransaction(tx);
  ASSERT_TRUE(b.txs.WaitFor(tx_id));
  ToyChain chain(0x324);
  chain.Extend(1);
  const p2pnet::Hash block_id = b.net.BroadcastBlock(chain.BlockAt(1));
  ASSERT_TRUE(a.blocks.WaitFor(block_id));
  EXPECT_EQ(a.blocks.Arrivals().back().data, chain.BlockAt(1));
}

TEST(Transport, V2FallsBackToV1AndDetectsV1) {
  // A v2 engine dials a v1-only one: the v1 engine closes the unreadable attempt
  // before sending a byte, and the dialler connects again with v1.
  TestNode v2(RelayConfig());
  TestNode v1(ModeConfig(TransportMode::V1Only));
  v2.Start();
  v1.Start();
  ASSERT_NE(Connect(v2, v1), 0u);
  const auto seen_by_v2 = OnlyPeer(v2);
  ASSERT_TRUE(seen_by_v2);
  EXPECT_EQ(seen_by_v2->transport_version, 1);
  EXPECT_FALSE(seen_by_v2->session_id.has_value());
  EXPECT_EQ(seen_by_v2->services & (uint64_t{1} << 11), 0u) << "v1-only: no NODE_P2P_V2";
  const std::vector<uint8_t> tx(120, 0x17);
  const p2pnet::Hash id = v2.net.BroadcastTransaction(tx);
  ASSERT_TRUE(v1.txs.WaitFor(id));

  // The other way: a v1-only engine dials the v2 engine, which reads v1 from its
  // first bytes.
  TestNode v1_dialler(ModeConfig(TransportMode::V1Only));
  v1_dialler.Start();
  ASSERT_NE(Connect(v1_dialler, v2), 0u);
  const auto seen_by_dialler = OnlyPeer(v1_dialler);
  ASSERT_TRUE(seen_by_dialler);
  EXPECT_EQ(seen_by_dialler->transport_version, 1);
}

TEST(Transport, V2OnlyRefusesV1) {
  TestNode strict(ModeConfig(TransportMode::V2Only));
  strict.Start();
  // A v1 peer's handshake is refused at its first bytes.
  RawSocket raw(strict.port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.SendMessage("version", VersionPayload(0x11, 0, 70016)));
  EXPECT_TRUE(raw.WaitForClose());
  ASSERT_TRUE(PollUntil([&] { return !strict.peers.disconnected().empty(); }));
  const auto refused = strict.peers.disconnected().front();
  EXPECT_EQ(refused.reason, p2pnet::DisconnectReason::ProtocolViolation);
  EXPECT_NE(refused.detail.find("v2"), std::string::npos) << refused.detail;

  // Dialling a v1-only engine fails without a fallback.
  TestNode v1(ModeConfig(TransportMode::V1Only));
  v1.Start();
  const uint64_t attempt = strict.net.AddPeer(v1.ip, v1.port);
  ASSERT_TRUE(strict.peers.WaitForDisconnectedId(attempt));
  EXPECT_TRUE(strict.peers.connected().empty());

  // A default engine is welcome.
  TestNode v2(RelayConfig());
  v2.Start();
  ASSERT_NE(Connect(v2, strict), 0u);
  const auto peer = OnlyPeer(v2);
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->transport_version, 2);
}

// 64 bytes that pass for a key, then garbage with no terminator: BIP324 allows
// 4,095 bytes of garbage, after which the engine disconnects. A connected peer is
// served all along.
TEST(Transport, GarbageWithoutTerminatorIsDisconnected) {
  TestNode e(RelayConfig());
  TestNode honest(RelayConfig());
  e.Start();
  honest.Start();
  ASSERT_NE(Connect(honest, e), 0u);
  const std::size_t connected_before = e.peers.connected().size();

  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  std::mt19937 rng(324);
  std::vector<uint8_t> bytes(64 + 4095 + 16 + 1);
  for (auto& byte : bytes) {
    byte = static_cast<uint8_t>(rng());
  }
  bytes[0] = 0x00;  // not the network magic: read as a v2 key
  ASSERT_TRUE(raw.SendAll(bytes));
  EXPECT_TRUE(raw.WaitForClose());
  ASSERT_TRUE(PollUntil([&] {
    for (const auto& event : e.peers.disconnected()) {
      if (event.reason == p2pnet::DisconnectReason::ProtocolViolation) {
        return true;
      }
    }
    return false;
  }));
  const std::vector<uint8_t> tx(80, 0x66);
  const p2pnet::Hash id = honest.net.BroadcastTransaction(tx);
  ASSERT_TRUE(e.txs.WaitFor(id)) << "the honest peer is served";
  EXPECT_EQ(e.peers.connected().size(), connected_before);
}

}  // namespace
}  // namespace p2pnet_test
