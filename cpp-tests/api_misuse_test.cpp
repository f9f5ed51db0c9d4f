// Misusing the C API yields error codes (with a message), never a crash.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace p2pnet_test {
namespace {

constexpr const char* kInvalidUtf8 = "\xff\xfe";

void NoopConnected(void*, const p2pnet_peer_info*) {}
void NoopDisconnected(void*, uint64_t, p2pnet_disconnect_reason, const char*) {}
void NoopLog(void*, p2pnet_log_level, const char*, const char*) {}

void CountRelease(void* user_data) { static_cast<std::atomic<int>*>(user_data)->fetch_add(1); }

// Checks the code and that a non-empty message was recorded for it.
#define EXPECT_P2PNET_ERROR(call, expected)                                             \
  do {                                                                                  \
    const p2pnet_result result_ = (call);                                               \
    EXPECT_EQ(result_, (expected)) << #call << " returned " << ResultName(result_);     \
    EXPECT_STRNE(p2pnet_last_error_message(), "") << #call << " left no error message"; \
  } while (0)

TEST(ApiMisuse, NullConfigIsRejectedBySetters) {
  EXPECT_P2PNET_ERROR(p2pnet_config_set_listen_address(nullptr, "127.0.0.1:0"), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_magic(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_default_port(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_protocol_version(nullptr, 70015), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_min_protocol_version(nullptr, 70001), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_user_agent(nullptr, "/x/"), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_services(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_start_height(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_connect_timeout_ms(nullptr, 1000), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_handshake_timeout_ms(nullptr, 1000), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_ping_interval_ms(nullptr, 1000), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_inactivity_timeout_ms(nullptr, 1000), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_max_outbound(nullptr, 8), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_max_inbound(nullptr, 8), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_max_connections(nullptr, 8), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_max_message_size(nullptr, 1024), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_worker_threads(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  p2pnet_config_free(nullptr);
}

TEST(ApiMisuse, NullEngineIsRejectedEverywhere) {
  std::atomic<int> releases{0};
  std::size_t count = 0;
  uint16_t port = 0;
  p2pnet_engine* engine = nullptr;
  EXPECT_P2PNET_ERROR(p2pnet_engine_new(nullptr, &engine), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_EQ(engine, nullptr);
  EXPECT_P2PNET_ERROR(p2pnet_engine_start(nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_stop(nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_get_listen_port(nullptr, &port), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_add_peer(nullptr, "127.0.0.1", 1, nullptr),
                      P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_disconnect_peer(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_list_peers(nullptr, nullptr, 0, &count), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_set_best_height(nullptr, 1), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_set_on_peer_connected(nullptr, &NoopConnected, &releases,
                                                          &CountRelease),
                      P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(
      p2pnet_engine_set_on_peer_disconnected(nullptr, &NoopDisconnected, &releases, &CountRelease),
      P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(
      p2pnet_engine_set_on_log(nullptr, P2PNET_LOG_INFO, &NoopLog, &releases, &CountRelease),
      P2PNET_ERR_NULL_ARGUMENT);
  p2pnet_engine_free(nullptr);
  EXPECT_EQ(releases.load(), 0) << "on an error result the caller keeps ownership of user_data";
}

TEST(ApiMisuse, NullOutPointersAreRejected) {
  ConfigPtr config = MakeLoopbackConfig();
  EXPECT_P2PNET_ERROR(p2pnet_engine_new(config.get(), nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK);
  p2pnet_peer_info peers[2];
  EXPECT_P2PNET_ERROR(p2pnet_engine_get_listen_port(engine.get(), nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_list_peers(engine.get(), peers, 2, nullptr),
                      P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_engine_add_peer(engine.get(), nullptr, 1, nullptr),
                      P2PNET_ERR_NULL_ARGUMENT);
}

TEST(ApiMisuse, NullAndInvalidStringsAreRejected) {
  ConfigPtr config = MakeLoopbackConfig();
  EXPECT_P2PNET_ERROR(p2pnet_config_set_listen_address(config.get(), nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_user_agent(config.get(), nullptr), P2PNET_ERR_NULL_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_listen_address(config.get(), kInvalidUtf8),
                      P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_user_agent(config.get(), kInvalidUtf8),
                      P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_listen_address(config.get(), "not an address"),
                      P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_P2PNET_ERROR(p2pnet_config_set_listen_address(config.get(), "127.0.0.1:99999"),
                      P2PNET_ERR_INVALID_ARGUMENT);
  const std::string too_long(257, 'u');
  EXPECT_P2PNET_ERROR(p2pnet_config_set_user_agent(config.get(), too_long.c_str()),
                      P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(p2pnet_config_set_user_agent(config.get(), std::string(256, 'u').c_str()), P2PNET_OK);

  // The rejected values did not stick: the config still listens on loopback.
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_P2PNET_ERROR(p2pnet_engine_add_peer(engine.get(), kInvalidUtf8, 8333, nullptr),
                      P2PNET_ERR_INVALID_ARGUMENT);
}

TEST(ApiMisuse, ErrorMessagesAndNamesAreAvailable) {
  ConfigPtr config = MakeLoopbackConfig();
  EXPECT_NE(p2pnet_config_set_user_agent(config.get(), kInvalidUtf8), P2PNET_OK);
  const char* message = p2pnet_last_error_message();
  ASSERT_NE(message, nullptr);
  EXPECT_STRNE(message, "");

  for (int r = P2PNET_OK; r <= P2PNET_ERR_PANIC; ++r) {
    const char* name = p2pnet_result_name(static_cast<p2pnet_result>(r));
    ASSERT_NE(name, nullptr);
    EXPECT_STRNE(name, "");
  }
  EXPECT_STREQ(p2pnet_result_name(P2PNET_ERR_IO), "P2PNET_ERR_IO");
  ASSERT_NE(p2pnet_result_name(999), nullptr) << "out-of-range codes still get a name";
  for (int r = P2PNET_DISCONNECT_REQUESTED; r <= P2PNET_DISCONNECT_ROTATED; ++r) {
    const char* name = p2pnet_disconnect_reason_name(static_cast<uint32_t>(r));
    ASSERT_NE(name, nullptr);
    EXPECT_STRNE(name, "");
    EXPECT_STRNE(name, "unknown") << "reason " << r;
  }
  ASSERT_NE(p2pnet_disconnect_reason_name(999), nullptr);
  ASSERT_NE(p2pnet_version_string(), nullptr);
  EXPECT_STREQ(p2pnet_version_string(), P2PNET_EXPECTED_VERSION)
      << "crate version and CMake project version differ";
}

TEST(ApiMisuse, OutOfRangeEnumValuesAreRejected) {
  p2pnet_config* bad_config = nullptr;
  EXPECT_P2PNET_ERROR(p2pnet_config_new(99, &bad_config), P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_config, nullptr);

  std::atomic<int> releases{0};
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  EXPECT_P2PNET_ERROR(p2pnet_engine_set_on_log(engine.get(), 6, &NoopLog, &releases, &CountRelease),
                      P2PNET_ERR_INVALID_ARGUMENT);
  engine.reset();
  EXPECT_EQ(releases.load(), 0) << "a rejected registration must not release the user data";
}

TEST(ApiMisuse, LifecycleOrderIsEnforced) {
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  uint16_t port = 0;
  EXPECT_NE(p2pnet_engine_get_listen_port(engine.get(), &port), P2PNET_OK) << "no port before start";
  EXPECT_P2PNET_ERROR(p2pnet_engine_stop(engine.get()), P2PNET_ERR_INVALID_STATE);

  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_P2PNET_ERROR(p2pnet_engine_start(engine.get()), P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_disconnect_peer(engine.get(), 424242), P2PNET_ERR_NOT_FOUND);
  EXPECT_EQ(p2pnet_engine_set_best_height(engine.get(), 5), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_stop(engine.get()), P2PNET_OK) << p2pnet_last_error_message();

  // Stop is final.
  std::size_t count = 0;
  EXPECT_P2PNET_ERROR(p2pnet_engine_start(engine.get()), P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_add_peer(engine.get(), "127.0.0.1", 1, nullptr),
                      P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_list_peers(engine.get(), nullptr, 0, &count),
                      P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_disconnect_peer(engine.get(), 1), P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_set_best_height(engine.get(), 6), P2PNET_ERR_INVALID_STATE);
  EXPECT_P2PNET_ERROR(p2pnet_engine_get_listen_port(engine.get(), &port), P2PNET_ERR_INVALID_STATE);
  EXPECT_EQ(p2pnet_engine_stop(engine.get()), P2PNET_OK) << "stopping twice is harmless";
}

TEST(ApiMisuse, ListenPortInUseFailsWithIoError) {
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr first = MakeEngine(config.get());
  ASSERT_TRUE(first);
  ASSERT_EQ(p2pnet_engine_start(first.get()), P2PNET_OK);
  const std::string taken = "127.0.0.1:" + std::to_string(ListenPort(first.get()));

  ConfigPtr clash = MakeLoopbackConfig();
  ASSERT_EQ(p2pnet_config_set_listen_address(clash.get(), taken.c_str()), P2PNET_OK);
  EnginePtr second = MakeEngine(clash.get());
  ASSERT_TRUE(second);
  EXPECT_P2PNET_ERROR(p2pnet_engine_start(second.get()), P2PNET_ERR_IO);
}

TEST(ApiMisuse, EngineCopiesItsConfig) {
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  // Changing or freeing the config afterwards does not affect the engine.
  ASSERT_EQ(p2pnet_config_set_listen_address(config.get(), ""), P2PNET_OK);
  config.reset();
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_NE(ListenPort(engine.get()), 0);
}

TEST(ApiMisuse, ReleaseRunsExactlyOnceOnReRegistrationAndFree) {
  std::atomic<int> first{0};
  std::atomic<int> second{0};
  std::atomic<int> third{0};
  std::atomic<int> log_first{0};
  std::atomic<int> log_second{0};
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);

  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &first,
                                                &CountRelease), P2PNET_OK);
  EXPECT_EQ(first.load(), 0);
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &second,
                                                &CountRelease), P2PNET_OK);
  EXPECT_EQ(first.load(), 1) << "re-registration releases the previous user data";
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), nullptr, nullptr, nullptr), P2PNET_OK);
  EXPECT_EQ(second.load(), 1) << "unregistering releases the previous user data";
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &third,
                                                &CountRelease), P2PNET_OK);
  // A NULL release function is allowed.
  ASSERT_EQ(p2pnet_engine_set_on_peer_disconnected(engine.get(), &NoopDisconnected, &third,
                                                   nullptr), P2PNET_OK);

  ASSERT_EQ(p2pnet_engine_set_on_log(engine.get(), P2PNET_LOG_DEBUG, &NoopLog, &log_first,
                                     &CountRelease),
            P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_set_on_log(engine.get(), P2PNET_LOG_INFO, &NoopLog, &log_second,
                                     &CountRelease),
            P2PNET_OK);
  EXPECT_EQ(log_first.load(), 1);

  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK);
  engine.reset();  // free without stop
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(second.load(), 1);
  EXPECT_EQ(third.load(), 1);
  EXPECT_EQ(log_first.load(), 1);
  EXPECT_EQ(log_second.load(), 1);
}

TEST(ApiMisuse, ReleaseRunsOnceWhenFreedWithoutStart) {
  std::atomic<int> releases{0};
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &releases,
                                                &CountRelease), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_set_on_peer_disconnected(engine.get(), &NoopDisconnected, &releases,
                                                   &CountRelease), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_set_on_log(engine.get(), P2PNET_LOG_INFO, &NoopLog, &releases,
                                     &CountRelease), P2PNET_OK);
  engine.reset();
  EXPECT_EQ(releases.load(), 3);
}

TEST(ApiMisuse, RegistrationAfterStopNeverLeaksOrDoubleReleases) {
  std::atomic<int> releases{0};
  ConfigPtr config = MakeLoopbackConfig();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &releases,
                                                &CountRelease), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK);
  ASSERT_EQ(p2pnet_engine_stop(engine.get()), P2PNET_OK);
  EXPECT_EQ(releases.load(), 1) << "stop releases registered user data";

  // Whatever the result, a registered release runs exactly once overall.
  const p2pnet_result late =
      p2pnet_engine_set_on_peer_connected(engine.get(), &NoopConnected, &releases, &CountRelease);
  engine.reset();
  EXPECT_EQ(releases.load(), late == P2PNET_OK ? 2 : 1) << ResultName(late);
}

}  // namespace
}  // namespace p2pnet_test
