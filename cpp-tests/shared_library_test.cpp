// Smoke test linked against the shared library (p2pnet::p2pnet_shared): the
// soname resolves at run time and the exported API works end to end.
#include "p2pnet.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace p2pnet_test {
namespace {

TEST(SharedLibrary, ExportsVersionAndNames) {
  ASSERT_NE(p2pnet_version_string(), nullptr);
  EXPECT_STRNE(p2pnet_version_string(), "");
  EXPECT_STREQ(p2pnet_result_name(P2PNET_OK), "P2PNET_OK");
}

TEST(SharedLibrary, TwoEnginesHandshake) {
  EventRecorder events_a;
  EventRecorder events_b;
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr a = MakeEngine(config.get());
  EnginePtr b = MakeEngine(config.get());
  ASSERT_TRUE(a && b);
  events_a.Attach(a.get());
  events_b.Attach(b.get());
  ASSERT_EQ(p2pnet_engine_start(a.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_engine_start(b.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", ListenPort(b.get()), nullptr), P2PNET_OK);
  EXPECT_TRUE(events_a.WaitForConnected(1));
  EXPECT_TRUE(events_b.WaitForConnected(1));
  EXPECT_EQ(p2pnet_engine_stop(a.get()), P2PNET_OK);
  EXPECT_TRUE(events_b.WaitForDisconnected(1));
}

TEST(SharedLibrary, WrapperWorks) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress("127.0.0.1:0");
  p2pnet::NetworkManager manager(config);
  manager.Start();
  EXPECT_NE(manager.ListenPort(), 0);
  EXPECT_TRUE(manager.GetPeers().empty());
  manager.Stop();
}

}  // namespace
}  // namespace p2pnet_test
