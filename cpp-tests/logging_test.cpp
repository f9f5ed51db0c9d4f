// The log callback honours its level filter.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>

namespace p2pnet_test {
namespace {

struct LogCollector {
  std::mutex mutex;
  std::array<int, 6> per_level{};  // indexed by p2pnet_log_level
  int out_of_range = 0;
  int null_strings = 0;

  static void OnLog(void* user_data, p2pnet_log_level level, const char* target, const char* message) {
    auto* self = static_cast<LogCollector*>(user_data);
    std::lock_guard<std::mutex> lock(self->mutex);
    if (target == nullptr || message == nullptr) {
      ++self->null_strings;
    }
    const int index = static_cast<int>(level);
    if (index < 0 || index >= static_cast<int>(self->per_level.size())) {
      ++self->out_of_range;
      return;
    }
    ++self->per_level[static_cast<std::size_t>(index)];
  }

  int Total() {
    std::lock_guard<std::mutex> lock(mutex);
    int total = 0;
    for (int count : per_level) {
      total += count;
    }
    return total;
  }
};

// Runs a busy scenario (start, handshake with another engine, a wrong-magic
// connection, a disconnect, stop) on an engine whose log filter is `filter`.
// Stop waits for in-flight callbacks, so counts are final when this returns.
void RunScenario(p2pnet_log_level filter, LogCollector& collector) {
  EventRecorder events;
  EventRecorder events_other;
  ConfigPtr config = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_handshake_timeout_ms(config.get(), 2000), P2PNET_OK);
  // v1 only: the wrong-magic connection is then a framing violation at once.
  ASSERT_EQ(p2pnet_config_set_transport(config.get(), P2PNET_TRANSPORT_V1_ONLY), P2PNET_OK);
  EnginePtr engine = MakeEngine(config.get());
  EnginePtr other = MakeEngine(config.get());
  ASSERT_TRUE(engine && other);
  ASSERT_EQ(p2pnet_engine_set_on_log(engine.get(), filter, &LogCollector::OnLog, &collector, nullptr),
            P2PNET_OK);
  events.Attach(engine.get());
  events_other.Attach(other.get());
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(other.get()), P2PNET_OK);

  ASSERT_EQ(p2pnet_engine_add_peer(engine.get(), "127.0.0.1", ListenPort(other.get()), nullptr),
            P2PNET_OK);
  ASSERT_TRUE(events.WaitForConnected(1));
  {
    RawSocket socket(ListenPort(engine.get()));
    ASSERT_TRUE(socket.SendAll(MessageHeader(0x01020304u, "version", 0, 0)));
    ASSERT_TRUE(socket.WaitForClose());
  }
  ASSERT_TRUE(events.WaitForDisconnectReason(P2PNET_DISCONNECT_PROTOCOL_VIOLATION));
  ASSERT_EQ(p2pnet_engine_disconnect_peer(engine.get(), events.connected().at(0).id), P2PNET_OK);
  ASSERT_TRUE(events.WaitForDisconnectReason(P2PNET_DISCONNECT_REQUESTED));
  ASSERT_EQ(p2pnet_engine_stop(engine.get()), P2PNET_OK);
}

void ExpectNothingAbove(p2pnet_log_level filter, LogCollector& collector) {
  std::lock_guard<std::mutex> lock(collector.mutex);
  EXPECT_EQ(collector.out_of_range, 0);
  EXPECT_EQ(collector.null_strings, 0);
  EXPECT_EQ(collector.per_level[P2PNET_LOG_OFF], 0) << "OFF is a filter, never a message level";
  for (int level = static_cast<int>(filter) + 1; level <= P2PNET_LOG_TRACE; ++level) {
    EXPECT_EQ(collector.per_level[static_cast<std::size_t>(level)], 0)
        << "got messages at level " << level << " with filter " << static_cast<int>(filter);
  }
}

TEST(Logging, TraceFilterDeliversMessages) {
  LogCollector collector;
  RunScenario(P2PNET_LOG_TRACE, collector);
  ExpectNothingAbove(P2PNET_LOG_TRACE, collector);
  EXPECT_GT(collector.Total(), 0) << "a connection lifecycle at TRACE must log something";
}

TEST(Logging, InfoFilterDeliversInfoButNotDebugOrTrace) {
  LogCollector collector;
  RunScenario(P2PNET_LOG_INFO, collector);
  ExpectNothingAbove(P2PNET_LOG_INFO, collector);
  int delivered = 0;
  {
    std::lock_guard<std::mutex> lock(collector.mutex);
    for (int level = P2PNET_LOG_ERROR; level <= P2PNET_LOG_INFO; ++level) {
      delivered += collector.per_level[static_cast<std::size_t>(level)];
    }
  }
  EXPECT_GT(delivered, 0) << "start, a handshake, a protocol violation and a disconnect "
                             "should log at least one INFO/WARN/ERROR message";
}

TEST(Logging, WarnFilterDropsInfoAndBelow) {
  LogCollector collector;
  RunScenario(P2PNET_LOG_WARN, collector);
  ExpectNothingAbove(P2PNET_LOG_WARN, collector);
}

TEST(Logging, OffFilterDeliversNothing) {
  LogCollector collector;
  RunScenario(P2PNET_LOG_OFF, collector);
  EXPECT_EQ(collector.Total(), 0);
}

}  // namespace
}  // namespace p2pnet_test
