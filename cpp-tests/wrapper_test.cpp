// The header-only C++ wrapper (p2pnet.hpp) over real loopback connections.
#include "p2pnet.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <future>
#include <map>

namespace p2pnet_test {
namespace {

using p2pnet::Config;
using p2pnet::DisconnectReason;
using p2pnet::LogLevel;
using p2pnet::Network;
using p2pnet::NetworkManager;
using p2pnet::PeerInfo;

// Thread-safe event log for wrapper callbacks.
class Events {
 public:
  void Connected(const PeerInfo& peer) {
    std::lock_guard<std::mutex> lock(mutex_);
    connected_.push_back(peer);
    changed_.notify_all();
  }
  void Disconnected(uint64_t id, DisconnectReason reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    disconnected_.emplace_back(id, reason);
    changed_.notify_all();
  }
  bool WaitForConnected(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return connected_.size() >= count; });
  }
  bool WaitForDisconnect(DisconnectReason reason) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] {
      for (const auto& event : disconnected_) {
        if (event.second == reason) {
          return true;
        }
      }
      return false;
    });
  }
  bool WaitForDisconnected(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return disconnected_.size() >= count; });
  }
  std::vector<PeerInfo> connected() {
    std::lock_guard<std::mutex> lock(mutex_);
    return connected_;
  }

  // Registers both peer callbacks of `manager` to record into this log.
  void Attach(NetworkManager& manager) {
    manager.SetOnPeerConnected([this](const PeerInfo& peer) { Connected(peer); });
    manager.SetOnPeerDisconnected(
        [this](uint64_t id, DisconnectReason reason, const std::string&) { Disconnected(id, reason); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<PeerInfo> connected_;
  std::vector<std::pair<uint64_t, DisconnectReason>> disconnected_;
};

// No automatic outbound connections (max outbound 0): regtest engines accept
// loopback addresses from addr messages, and an engine whose peers all left
// would otherwise redial the address its former peer advertised.
Config LoopbackConfig() {
  Config config(Network::Regtest);
  config.SetListenAddress("127.0.0.1:0").SetMaxOutbound(0);
  return config;
}

TEST(Wrapper, TwoManagersHandshake) {
  Events events_a;
  Events events_b;
  Config config_a = LoopbackConfig();
  config_a.SetUserAgent("/wrapper-a:0.1/").SetStartHeight(7).SetServices(0x8).SetProtocolVersion(70015);
  Config config_b = LoopbackConfig();
  config_b.SetUserAgent("/wrapper-b:0.2/")
      .SetStartHeight(9)
      .SetServices(0x1)
      .SetProtocolVersion(70016)
      .SetPingInterval(std::chrono::milliseconds(100))
      .SetHandshakeTimeout(std::chrono::seconds(5))
      .SetWorkerThreads(1);
  NetworkManager a(config_a);
  NetworkManager b(config_b);
  events_a.Attach(a);
  events_b.Attach(b);
  a.Start();
  b.Start();
  EXPECT_TRUE(a.GetPeers().empty());

  a.AddPeer("127.0.0.1", b.ListenPort());
  ASSERT_TRUE(events_a.WaitForConnected(1));
  ASSERT_TRUE(events_b.WaitForConnected(1));

  const PeerInfo on_a = events_a.connected().at(0);
  EXPECT_EQ(on_a.address, "127.0.0.1");
  EXPECT_EQ(on_a.port, b.ListenPort());
  EXPECT_FALSE(on_a.inbound);
  EXPECT_EQ(on_a.user_agent, "/wrapper-b:0.2/");
  EXPECT_EQ(on_a.start_height, 9);
  EXPECT_EQ(on_a.services, 0x1u | 0x800u) << "NODE_NETWORK as set, NODE_P2P_V2 added";
  EXPECT_EQ(on_a.version, 70016);
  EXPECT_EQ(on_a.transport_version, 2);
  ASSERT_TRUE(on_a.session_id.has_value());
  const auto age = std::chrono::system_clock::now() - on_a.connected_since;
  EXPECT_LT(std::chrono::abs(age), std::chrono::seconds(5));

  const PeerInfo on_b = events_b.connected().at(0);
  EXPECT_TRUE(on_b.inbound);
  EXPECT_EQ(on_b.user_agent, "/wrapper-a:0.1/");
  EXPECT_EQ(on_b.start_height, 7);
  EXPECT_EQ(on_b.version, 70015);

  // B pings every 100 ms, so B's view of A gets a round-trip time.
  std::vector<PeerInfo> peers_b;
  ASSERT_TRUE(PollUntil([&] {
    peers_b = b.GetPeers();
    return peers_b.size() == 1 && peers_b[0].ping_time.has_value();
  }));
  EXPECT_GE(peers_b[0].ping_time->count(), 0);
  EXPECT_EQ(peers_b[0].id, on_b.id);
  EXPECT_GT(peers_b[0].bytes_sent, 0u);
  EXPECT_GT(peers_b[0].bytes_received, 0u);

  b.SetBestHeight(10);
  a.Stop();
  b.Stop();
}

TEST(Wrapper, ErrorsCarryCodeAndMessage) {
  Config config = LoopbackConfig();
  try {
    config.SetUserAgent("\xff\xfe");
    FAIL() << "invalid UTF-8 accepted";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(error.what(), "");
  }
  try {
    config.SetUserAgent(std::string("abc\0def", 7));
    FAIL() << "embedded NUL accepted";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_INVALID_ARGUMENT);
  }
  try {
    config.SetConnectTimeout(std::chrono::milliseconds(-1));
    FAIL() << "negative timeout accepted";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_INVALID_ARGUMENT);
  }

  NetworkManager manager(config);
  EXPECT_THROW(manager.Stop(), p2pnet::Error);
  manager.Start();
  try {
    manager.Start();
    FAIL() << "second Start succeeded";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_INVALID_STATE);
  }
  try {
    manager.DisconnectPeer(987654321);
    FAIL() << "unknown peer disconnected";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_NOT_FOUND);
  }

  Config clash = LoopbackConfig();
  clash.SetListenAddress("127.0.0.1:" + std::to_string(manager.ListenPort()));
  NetworkManager second(clash);
  try {
    second.Start();
    FAIL() << "bound a port that is in use";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_IO);
    EXPECT_STRNE(error.what(), "");
  }
  manager.Stop();
  EXPECT_THROW(manager.AddPeer("127.0.0.1", 1), p2pnet::Error);
}

TEST(Wrapper, EmptyFunctionUnregistersAndReleasesTheCallable) {
  auto token = std::make_shared<int>(0);
  Config config = LoopbackConfig();
  NetworkManager manager(config);
  manager.SetOnPeerConnected([token](const PeerInfo&) {});
  manager.SetOnPeerDisconnected([token](uint64_t, DisconnectReason, const std::string&) {});
  manager.SetLogger(LogLevel::Info, [token](LogLevel, const std::string&, const std::string&) {});
  EXPECT_EQ(token.use_count(), 4);
  manager.SetOnPeerConnected(nullptr);
  EXPECT_EQ(token.use_count(), 3);
  manager.SetOnPeerDisconnected({});
  manager.SetLogger(LogLevel::Trace, {});
  EXPECT_EQ(token.use_count(), 1);

  manager.SetOnPeerConnected([token](const PeerInfo&) {});
  manager.SetOnPeerConnected([token](const PeerInfo&) {});  // re-registration releases the first
  EXPECT_EQ(token.use_count(), 2);
  { NetworkManager destroyed = std::move(manager); }
  EXPECT_EQ(token.use_count(), 1) << "destroying the manager releases the callable";
}

TEST(Wrapper, ThrowingCallbacksDoNotBreakTheEngine) {
  Events events_b;
  std::atomic<int> thrown{0};
  Config config = LoopbackConfig();
  NetworkManager a(config);
  NetworkManager b(config);
  a.SetOnPeerConnected([&](const PeerInfo&) {
    thrown.fetch_add(1);
    throw std::runtime_error("callback failure");
  });
  a.SetLogger(LogLevel::Trace, [](LogLevel, const std::string&, const std::string&) {
    throw 42;  // not even a std::exception
  });
  events_b.Attach(b);
  a.Start();
  b.Start();
  a.AddPeer("127.0.0.1", b.ListenPort());
  ASSERT_TRUE(events_b.WaitForConnected(1));
  ASSERT_TRUE(PollUntil([&] { return thrown.load() == 1 && a.GetPeers().size() == 1; }));
  // The engine still works after the exceptions: disconnect and observe it.
  a.DisconnectPeer(a.GetPeers().at(0).id);
  EXPECT_TRUE(events_b.WaitForDisconnected(1));
}

TEST(Wrapper, DisconnectPeerReportsRequested) {
  Events events_a;
  Events events_b;
  Config config = LoopbackConfig();
  NetworkManager a(config);
  NetworkManager b(config);
  events_a.Attach(a);
  events_b.Attach(b);
  a.Start();
  b.Start();
  a.AddPeer("127.0.0.1", b.ListenPort());
  ASSERT_TRUE(events_a.WaitForConnected(1));
  a.DisconnectPeer(events_a.connected().at(0).id);
  EXPECT_TRUE(events_a.WaitForDisconnect(DisconnectReason::Requested));
  EXPECT_TRUE(events_b.WaitForDisconnected(1));
  EXPECT_TRUE(PollUntil([&] { return a.GetPeers().empty() && b.GetPeers().empty(); }));
  EXPECT_FALSE(p2pnet::ToString(DisconnectReason::Requested).empty());
  EXPECT_EQ(p2pnet::ToString(LogLevel::Warn), "WARN");
}

TEST(Wrapper, MovedManagerKeepsCallbacksAndMovedFromThrows) {
  Events events;
  Events events_b;
  Config config = LoopbackConfig();
  NetworkManager original(config);
  events.Attach(original);
  NetworkManager a(std::move(original));
  EXPECT_EQ(original.native(), nullptr);
  try {
    original.Start();
    FAIL() << "moved-from manager started";
  } catch (const p2pnet::Error& error) {
    EXPECT_EQ(error.code(), P2PNET_ERR_NULL_ARGUMENT);
  }

  Config moved_config = std::move(config);
  EXPECT_EQ(config.native(), nullptr);
  EXPECT_THROW(config.SetMagic(1), p2pnet::Error);
  NetworkManager b(moved_config);
  events_b.Attach(b);
  a.Start();
  b.Start();
  a.AddPeer("127.0.0.1", b.ListenPort());
  EXPECT_TRUE(events.WaitForConnected(1));
  EXPECT_TRUE(events_b.WaitForConnected(1));
}

TEST(Wrapper, CallbackCanUseTheManager) {
  Events events_b;
  std::promise<std::size_t> listed;
  std::atomic<bool> done{false};
  Config config = LoopbackConfig();
  NetworkManager a(config);
  NetworkManager b(config);
  a.SetOnPeerConnected([&](const PeerInfo&) {
    if (!done.exchange(true)) {
      try {
        listed.set_value(a.GetPeers().size());
      } catch (...) {
        listed.set_exception(std::current_exception());
      }
    }
  });
  events_b.Attach(b);
  a.Start();
  b.Start();
  auto future = listed.get_future();
  a.AddPeer("127.0.0.1", b.ListenPort());
  ASSERT_EQ(future.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(future.get(), 1u);
}

TEST(Wrapper, LoggerRespectsLevel) {
  std::mutex mutex;
  std::map<LogLevel, int> counts;
  Events events_a;
  Config config = LoopbackConfig();
  NetworkManager a(config);
  NetworkManager b(config);
  events_a.Attach(a);
  a.SetLogger(LogLevel::Debug, [&](LogLevel level, const std::string& target, const std::string&) {
    std::lock_guard<std::mutex> lock(mutex);
    ++counts[level];
    EXPECT_FALSE(target.empty());
  });
  a.Start();
  b.Start();
  a.AddPeer("127.0.0.1", b.ListenPort());
  ASSERT_TRUE(events_a.WaitForConnected(1));
  a.Stop();  // waits for in-flight log callbacks
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(counts[LogLevel::Trace], 0);
  EXPECT_EQ(counts[LogLevel::Off], 0);
  EXPECT_GT(counts[LogLevel::Debug] + counts[LogLevel::Info] + counts[LogLevel::Warn] +
                counts[LogLevel::Error],
            0);
}

TEST(Wrapper, VersionMatchesCApi) {
  EXPECT_EQ(p2pnet::Version(), p2pnet_version_string());
  EXPECT_EQ(p2pnet::ToString(P2PNET_ERR_IO), "P2PNET_ERR_IO");
}

}  // namespace
}  // namespace p2pnet_test
