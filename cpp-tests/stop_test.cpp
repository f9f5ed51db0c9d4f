// Stopping an engine with live peers: prompt, waits for callbacks in flight,
// and no callback runs after stop returns.
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace p2pnet_test {
namespace {

// Callback state for the engine under test. Every callback checks `stopped`,
// which the test sets right after p2pnet_engine_stop returns.
struct StopWatch {
  std::atomic<bool> stopped{false};
  std::atomic<int> violations{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> releases{0};
  std::atomic<int> calls{0};

  void Enter() {
    in_flight.fetch_add(1);
    calls.fetch_add(1);
    if (stopped.load()) {
      violations.fetch_add(1);
    }
  }
  void Leave() { in_flight.fetch_sub(1); }

  static void OnConnected(void* user_data, const p2pnet_peer_info*) {
    auto* self = static_cast<StopWatch*>(user_data);
    self->Enter();
    {
      std::lock_guard<std::mutex> lock(self->mutex);
      ++self->connected;
    }
    self->changed.notify_all();
    self->Leave();
  }
  static void OnDisconnected(void* user_data, uint64_t, p2pnet_disconnect_reason, const char*) {
    auto* self = static_cast<StopWatch*>(user_data);
    self->Enter();
    // A slow callback: stop must wait for it to finish.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    self->Leave();
  }
  static void OnLog(void* user_data, p2pnet_log_level, const char*, const char*) {
    auto* self = static_cast<StopWatch*>(user_data);
    self->Enter();
    self->Leave();
  }
  static void OnRelease(void* user_data) {
    auto* self = static_cast<StopWatch*>(user_data);
    self->releases.fetch_add(1);
  }

  bool WaitForConnected(int count) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, kDeadline, [&] { return connected >= count; });
  }

  std::mutex mutex;
  std::condition_variable changed;
  int connected = 0;
};

TEST(Stop, WithPeersConnectedIsPromptAndSilencesCallbacks) {
  StopWatch watch;
  EventRecorder events_b;
  EventRecorder events_c;
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr a = MakeEngine(config.get());
  // B and C keep talking to A: they ping every 20 ms.
  ConfigPtr chatty = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_ping_interval_ms(chatty.get(), 20), P2PNET_OK);
  EnginePtr b = MakeEngine(chatty.get());
  EnginePtr c = MakeEngine(chatty.get());
  ASSERT_TRUE(a && b && c);

  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(a.get(), &StopWatch::OnConnected, &watch,
                                                &StopWatch::OnRelease), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_set_on_peer_disconnected(a.get(), &StopWatch::OnDisconnected, &watch,
                                                   &StopWatch::OnRelease), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_set_on_log(a.get(), P2PNET_LOG_TRACE, &StopWatch::OnLog, &watch,
                                     &StopWatch::OnRelease), P2PNET_OK);
  events_b.Attach(b.get());
  events_c.Attach(c.get());
  ASSERT_EQ(p2pnet_engine_start(a.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(b.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(c.get()), P2PNET_OK);
  const uint16_t port_a = ListenPort(a.get());

  ASSERT_EQ(p2pnet_engine_add_peer(b.get(), "127.0.0.1", port_a, nullptr), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_add_peer(c.get(), "127.0.0.1", port_a, nullptr), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", ListenPort(c.get()), nullptr), P2PNET_OK);
  ASSERT_TRUE(watch.WaitForConnected(3));
  ASSERT_TRUE(events_b.WaitForConnected(1));
  ASSERT_TRUE(events_c.WaitForConnected(2));
  // Traffic is flowing: B has a pong back from A.
  ASSERT_TRUE(PollUntil([&] {
    auto peers = GetPeers(b.get());
    return peers && peers->size() == 1 && (*peers)[0].ping_time_us >= 0;
  }));

  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(p2pnet_engine_stop(a.get()), P2PNET_OK) << p2pnet_last_error_message();
  const auto elapsed = std::chrono::steady_clock::now() - before;
  watch.stopped.store(true);
  EXPECT_LT(elapsed, std::chrono::seconds(2)) << "stop took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
  EXPECT_EQ(watch.in_flight.load(), 0) << "stop returned while a callback was still running";
  EXPECT_GT(watch.calls.load(), 0);
  EXPECT_EQ(watch.releases.load(), 3) << "stop must release all registered user data once";

  // The other engines notice that A went away, and B dialing A again fails.
  EXPECT_TRUE(events_b.WaitForDisconnected(1));
  EXPECT_TRUE(events_c.WaitForDisconnected(2));
  uint64_t redial_id = 0;
  ASSERT_EQ(p2pnet_engine_add_peer(b.get(), "127.0.0.1", port_a, &redial_id), P2PNET_OK);
  EXPECT_TRUE(events_b.WaitUntil([redial_id](const auto&, const auto& disconnected) {
    for (const auto& event : disconnected) {
      if (event.peer_id == redial_id && event.reason == P2PNET_DISCONNECT_CONNECT_FAILED) {
        return true;
      }
    }
    return false;
  })) << "dialing a stopped engine must fail with CONNECT_FAILED for the returned id";

  a.reset();
  EXPECT_EQ(watch.violations.load(), 0) << "callbacks ran after stop returned";
  EXPECT_EQ(watch.releases.load(), 3) << "free must not release user data a second time";
}

TEST(Stop, FreeWithoutStopShutsDownCleanly) {
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
  ASSERT_EQ(p2pnet_engine_add_peer(a.get(), "127.0.0.1", ListenPort(b.get()), nullptr), P2PNET_OK);
  ASSERT_TRUE(events_a.WaitForConnected(1));

  const auto before = std::chrono::steady_clock::now();
  a.reset();  // p2pnet_engine_free on a running engine with a peer
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  EXPECT_EQ(events_a.releases(), 2);
  EXPECT_TRUE(events_b.WaitForDisconnected(1));
}

}  // namespace
}  // namespace p2pnet_test
