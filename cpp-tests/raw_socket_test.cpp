// Hand-built frames on a raw POSIX socket: the engine must drop connections
// that violate the v1 framing rules or never complete the handshake. The engine
// speaks v1 only here; with v2 enabled, bytes that do not start like a v1
// version frame are taken as a BIP324 handshake (see transport_test.cpp).
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace p2pnet_test {
namespace {

class RawSocketTest : public ::testing::Test {
 protected:
  void StartEngine(uint32_t handshake_timeout_ms) {
    ConfigPtr config = MakeLoopbackConfig();
    ASSERT_EQ(p2pnet_config_set_handshake_timeout_ms(config.get(), handshake_timeout_ms), P2PNET_OK);
    ASSERT_EQ(p2pnet_config_set_transport(config.get(), P2PNET_TRANSPORT_V1_ONLY), P2PNET_OK);
    engine_ = MakeEngine(config.get());
    ASSERT_TRUE(engine_);
    events_.Attach(engine_.get());
    ASSERT_EQ(p2pnet_engine_start(engine_.get()), P2PNET_OK) << p2pnet_last_error_message();
    port_ = ListenPort(engine_.get());
  }

  void ExpectNoPeers() {
    auto peers = GetPeers(engine_.get());
    ASSERT_TRUE(peers);
    EXPECT_TRUE(peers->empty());
    EXPECT_TRUE(events_.connected().empty());
  }

  EventRecorder events_;  // outlives engine_
  EnginePtr engine_;
  uint16_t port_ = 0;
};

TEST_F(RawSocketTest, WrongMagicIsDisconnected) {
  StartEngine(10'000);
  RawSocket socket(port_);
  ASSERT_TRUE(socket.connected());
  // Mainnet magic on a regtest engine; the checksum is irrelevant because the
  // header is rejected before any payload is read.
  ASSERT_TRUE(socket.SendAll(MessageHeader(0xD9B4BEF9u, "version", 0, 0)));
  EXPECT_TRUE(socket.WaitForClose()) << "engine kept a wrong-magic connection open";
  EXPECT_TRUE(events_.WaitForDisconnectReason(P2PNET_DISCONNECT_PROTOCOL_VIOLATION));
  ExpectNoPeers();
}

TEST_F(RawSocketTest, GarbageBytesAreDisconnected) {
  StartEngine(10'000);
  RawSocket socket(port_);
  ASSERT_TRUE(socket.connected());
  std::vector<uint8_t> garbage(64, 0xAB);
  ASSERT_TRUE(socket.SendAll(garbage));
  EXPECT_TRUE(socket.WaitForClose());
  EXPECT_TRUE(events_.WaitForDisconnectReason(P2PNET_DISCONNECT_PROTOCOL_VIOLATION));
  ExpectNoPeers();
}

TEST_F(RawSocketTest, OversizedLengthIsDisconnected) {
  StartEngine(10'000);
  RawSocket socket(port_);
  ASSERT_TRUE(socket.connected());
  // Right magic, but a payload length far above the 32 MiB limit.
  ASSERT_TRUE(socket.SendAll(MessageHeader(kRegtestMagic, "version", 0xFFFFFFF0u, 0)));
  EXPECT_TRUE(socket.WaitForClose()) << "engine kept a connection announcing a 4 GiB payload";
  EXPECT_TRUE(events_.WaitForDisconnectReason(P2PNET_DISCONNECT_PROTOCOL_VIOLATION));
  ExpectNoPeers();
}

TEST_F(RawSocketTest, SilentConnectionHitsHandshakeTimeout) {
  constexpr uint32_t kTimeoutMs = 300;
  StartEngine(kTimeoutMs);
  RawSocket socket(port_);
  ASSERT_TRUE(socket.connected());
  const auto connected_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(socket.WaitForClose()) << "engine kept a silent connection open";
  const auto elapsed = std::chrono::steady_clock::now() - connected_at;
  EXPECT_GE(elapsed, std::chrono::milliseconds(kTimeoutMs - 50)) << "closed before the timeout";
  EXPECT_TRUE(events_.WaitForDisconnectReason(P2PNET_DISCONNECT_HANDSHAKE_TIMEOUT));
  ExpectNoPeers();
}

}  // namespace
}  // namespace p2pnet_test
