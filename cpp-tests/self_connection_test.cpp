// An engine that dials its own listen port detects itself by the version
// nonce and drops the connection.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace p2pnet_test {
namespace {

TEST(SelfConnection, DialingOwnPortIsDetectedAndDropped) {
  EventRecorder events;
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  events.Attach(engine.get());
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK);

  uint64_t dialed_id = 0;
  ASSERT_EQ(p2pnet_engine_add_peer(engine.get(), "127.0.0.1", ListenPort(engine.get()), &dialed_id),
            P2PNET_OK);
  ASSERT_TRUE(events.WaitForDisconnectReason(P2PNET_DISCONNECT_SELF_CONNECTION))
      << "no disconnect with reason SELF_CONNECTION";

  // Both ends of the loop (the dialed and the accepted connection) got an id
  // and both end; neither ever counts as a handshaken peer.
  ASSERT_TRUE(events.WaitForDisconnected(2)) << "both ends of the self-connection must be reported";
  const auto disconnected = events.disconnected();
  std::set<uint64_t> ids;
  for (const auto& event : disconnected) {
    ids.insert(event.peer_id);
  }
  EXPECT_EQ(ids.size(), disconnected.size()) << "each connection is reported once";
  EXPECT_EQ(ids.count(dialed_id), 1u) << "the dialed connection is among the reported ones";
  EXPECT_TRUE(events.connected().empty()) << "a self-connection must never complete the handshake";

  auto peers = GetPeers(engine.get());
  ASSERT_TRUE(peers);
  EXPECT_TRUE(peers->empty());
}

}  // namespace
}  // namespace p2pnet_test
