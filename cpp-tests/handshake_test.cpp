// Handshake between two engines over loopback TCP, through the C API.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace p2pnet_test {
namespace {

struct NodeSettings {
  const char* user_agent;
  int32_t protocol_version;
  uint64_t services;
  int32_t start_height;
};

constexpr NodeSettings kNodeA{"/p2pnet-test-a:1.0/", 70015, 0x409, 1111};
constexpr NodeSettings kNodeB{"/p2pnet-test-b:2.0/", 70016, 0x1, 2222};

ConfigPtr MakeConfig(const NodeSettings& settings) {
  ConfigPtr config = MakeLoopbackConfig();
  EXPECT_EQ(p2pnet_config_set_user_agent(config.get(), settings.user_agent), P2PNET_OK);
  EXPECT_EQ(p2pnet_config_set_protocol_version(config.get(), settings.protocol_version), P2PNET_OK);
  EXPECT_EQ(p2pnet_config_set_services(config.get(), settings.services), P2PNET_OK);
  EXPECT_EQ(p2pnet_config_set_start_height(config.get(), settings.start_height), P2PNET_OK);
  return config;
}

void ExpectDescribes(const p2pnet_peer_info& peer, const NodeSettings& remote, bool inbound) {
  EXPECT_NE(peer.id, 0u);
  EXPECT_STREQ(peer.address, "127.0.0.1");
  EXPECT_NE(peer.port, 0);
  EXPECT_EQ(peer.inbound, inbound);
  EXPECT_EQ(peer.version, remote.protocol_version);
  // The engine adds NODE_P2P_V2 (bit 11) to what the node set: v2 is on by default.
  EXPECT_EQ(peer.services, remote.services | (uint64_t{1} << 11));
  EXPECT_STREQ(peer.user_agent, remote.user_agent);
  EXPECT_EQ(peer.start_height, remote.start_height);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_LE(std::llabs(now - peer.connected_since), 5) << "connected_since=" << peer.connected_since;
}

TEST(Handshake, TwoEnginesSeeEachOther) {
  EventRecorder events_a;
  EventRecorder events_b;
  ConfigPtr config_a = MakeConfig(kNodeA);
  ConfigPtr config_b = MakeConfig(kNodeB);
  EnginePtr a = MakeEngine(config_a.get());
  EnginePtr b = MakeEngine(config_b.get());
  ASSERT_TRUE(a && b);
  events_a.Attach(a.get());
  events_b.Attach(b.get());
  ASSERT_EQ(p2pnet_engine_start(a.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_engine_start(b.get()), P2PNET_OK) << p2pnet_last_error_message();
  const uint16_t port_a = ListenPort(a.get());
  const uint16_t port_b = ListenPort(b.get());

  uint64_t dialed_id = 0;
  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", port_b, &dialed_id), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_NE(dialed_id, 0u);
  ASSERT_TRUE(events_a.WaitForConnected(1)) << "A never reported the connection to B";
  ASSERT_TRUE(events_b.WaitForConnected(1)) << "B never reported the connection from A";

  // The callback's record describes the remote node.
  const p2pnet_peer_info from_callback_a = events_a.connected().at(0);
  const p2pnet_peer_info from_callback_b = events_b.connected().at(0);
  ExpectDescribes(from_callback_a, kNodeB, /*inbound=*/false);
  EXPECT_EQ(from_callback_a.port, port_b);
  EXPECT_EQ(from_callback_a.id, dialed_id) << "add_peer reports the id the connection gets";
  ExpectDescribes(from_callback_b, kNodeA, /*inbound=*/true);
  EXPECT_NE(from_callback_b.port, port_b);

  // Both handshakes exchanged version+verack, so both directions carried bytes.
  std::optional<std::vector<p2pnet_peer_info>> peers_a;
  std::optional<std::vector<p2pnet_peer_info>> peers_b;
  ASSERT_TRUE(PollUntil([&] {
    peers_a = GetPeers(a.get());
    peers_b = GetPeers(b.get());
    return peers_a && peers_b && peers_a->size() == 1 && peers_b->size() == 1 &&
           (*peers_a)[0].bytes_sent > 0 && (*peers_a)[0].bytes_received > 0 &&
           (*peers_b)[0].bytes_sent > 0 && (*peers_b)[0].bytes_received > 0;
  })) << "peer lists did not settle to one peer each with traffic counted";

  const p2pnet_peer_info& on_a = (*peers_a)[0];
  const p2pnet_peer_info& on_b = (*peers_b)[0];
  ExpectDescribes(on_a, kNodeB, /*inbound=*/false);
  EXPECT_EQ(on_a.port, port_b);
  EXPECT_EQ(on_a.id, from_callback_a.id);
  ExpectDescribes(on_b, kNodeA, /*inbound=*/true);
  EXPECT_EQ(on_b.id, from_callback_b.id);
  EXPECT_NE(on_b.port, port_a) << "A dialed from an ephemeral port, not its listen port";

  EXPECT_TRUE(events_a.disconnected().empty());
  EXPECT_TRUE(events_b.disconnected().empty());
}

TEST(Handshake, GetPeersReportsRequiredCountWhenBufferTooSmall) {
  EventRecorder events_a;
  EventRecorder events_b;
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr a = MakeEngine(config.get());
  EnginePtr b = MakeEngine(config.get());
  ASSERT_TRUE(a && b);
  events_a.Attach(a.get());
  events_b.Attach(b.get());
  ASSERT_EQ(p2pnet_engine_start(a.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(b.get()), P2PNET_OK);

  std::size_t count = 99;
  ASSERT_EQ(p2pnet_engine_list_peers(a.get(), nullptr, 0, &count), P2PNET_OK);
  EXPECT_EQ(count, 0u);

  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", ListenPort(b.get()), nullptr), P2PNET_OK);
  ASSERT_TRUE(events_a.WaitForConnected(1));

  count = 0;
  EXPECT_EQ(p2pnet_engine_list_peers(a.get(), nullptr, 0, &count), P2PNET_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(count, 1u);

  p2pnet_peer_info peers[4];
  count = 0;
  ASSERT_EQ(p2pnet_engine_list_peers(a.get(), peers, 4, &count), P2PNET_OK);
  ASSERT_EQ(count, 1u);
  EXPECT_FALSE(peers[0].inbound);
}

TEST(Handshake, PingTimeIsMeasured) {
  EventRecorder events_a;
  EventRecorder events_b;
  ConfigPtr config = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_ping_interval_ms(config.get(), 100), P2PNET_OK);
  EnginePtr a = MakeEngine(config.get());
  EnginePtr b = MakeEngine(config.get());
  ASSERT_TRUE(a && b);
  events_a.Attach(a.get());
  events_b.Attach(b.get());
  ASSERT_EQ(p2pnet_engine_start(a.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(b.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", ListenPort(b.get()), nullptr), P2PNET_OK);
  ASSERT_TRUE(events_a.WaitForConnected(1));
  ASSERT_TRUE(events_b.WaitForConnected(1));

  // No event exists for "pong received": poll the peer list with a deadline.
  auto ping_measured = [](const p2pnet_engine* engine) {
    auto peers = GetPeers(engine);
    return peers && peers->size() == 1 && (*peers)[0].ping_time_us >= 0;
  };
  EXPECT_TRUE(PollUntil([&] { return ping_measured(a.get()); })) << "A never measured a ping";
  EXPECT_TRUE(PollUntil([&] { return ping_measured(b.get()); })) << "B never measured a ping";

  auto peers = GetPeers(a.get());
  ASSERT_TRUE(peers && peers->size() == 1);
  EXPECT_LT((*peers)[0].ping_time_us, 2'000'000) << "loopback ping should be far below 2 s";
}

TEST(Handshake, PeerBelowMinimumVersionIsDisconnected) {
  EventRecorder events_old;
  EventRecorder events_strict;
  ConfigPtr old_config = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_protocol_version(old_config.get(), 70001), P2PNET_OK);
  ConfigPtr strict_config = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_protocol_version(strict_config.get(), 70016), P2PNET_OK);
  ASSERT_EQ(p2pnet_config_set_min_protocol_version(strict_config.get(), 70015), P2PNET_OK);
  EnginePtr old_engine = MakeEngine(old_config.get());
  EnginePtr strict_engine = MakeEngine(strict_config.get());
  ASSERT_TRUE(old_engine && strict_engine);
  events_old.Attach(old_engine.get());
  events_strict.Attach(strict_engine.get());
  ASSERT_EQ(p2pnet_engine_start(old_engine.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(strict_engine.get()), P2PNET_OK);

  ASSERT_EQ(p2pnet_engine_add_peer(old_engine.get(), "127.0.0.1", ListenPort(strict_engine.get()),
                                   nullptr),
            P2PNET_OK);
  EXPECT_TRUE(events_strict.WaitForDisconnectReason(P2PNET_DISCONNECT_OBSOLETE_VERSION));
  EXPECT_TRUE(events_old.WaitForDisconnected(1));
  EXPECT_TRUE(events_strict.connected().empty());
  auto peers = GetPeers(strict_engine.get());
  ASSERT_TRUE(peers);
  EXPECT_TRUE(peers->empty());
}

}  // namespace
}  // namespace p2pnet_test
