// Network health through the C++ wrapper: connections by kind, the stale-tip flag and
// the partition signal, and the callback told when they change, over real sockets.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

namespace p2pnet_test {
namespace {

/// Records health-change callbacks; tests wait on it.
class HealthLog {
 public:
  p2pnet::NetworkManager::HealthCallback Callback() {
    return [this](const p2pnet::Health& health) {
      std::lock_guard<std::mutex> lock(mutex_);
      changes_.push_back(health);
      changed_.notify_all();
    };
  }

  /// Waits for a change after the first `seen` ones; returns it.
  std::optional<p2pnet::Health> WaitForChange(std::size_t seen) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, kDeadline, [&] { return changes_.size() > seen; })) {
      return std::nullopt;
    }
    return changes_[seen];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<p2pnet::Health> changes_;
};

p2pnet::Hash BlockId(uint8_t n) {
  p2pnet::Hash id{};
  id.fill(n);
  return id;
}

TEST(Health, StaleTipIsFlaggedAndClearsWhenTheTipAdvances) {
  TestNode a(RelayConfig());
  p2pnet::Config fast = RelayConfig();
  fast.SetBlockInterval(std::chrono::milliseconds(200));
  TestNode b(fast);
  HealthLog log;
  b.net.SetOnHealthChange(log.Callback());
  a.Start();
  b.Start();
  b.net.SetBestBlock(1, BlockId(1));
  ASSERT_NE(Connect(b, a), 0u);

  const p2pnet::Health at_b = b.net.GetHealth();
  EXPECT_EQ(at_b.manual, 1u);
  EXPECT_EQ(at_b.inbound, 0u);
  EXPECT_EQ(at_b.outbound_target, 0u) << "automatic connections are off";
  EXPECT_EQ(at_b.tip_height, 1);
  EXPECT_FALSE(at_b.network_block_age.has_value());
  EXPECT_EQ(a.net.GetHealth().inbound, 1u);

  // Three block intervals without a new tip: stale, and the one peer is no further
  // ahead than we are.
  const auto stale = log.WaitForChange(0);
  ASSERT_TRUE(stale.has_value()) << "no health change";
  EXPECT_TRUE(stale->stale_tip);
  EXPECT_EQ(stale->partition, p2pnet::PartitionSignal::StaleWithNoBetterPeer);
  EXPECT_TRUE(stale->PartitionSuspected());
  EXPECT_GE(stale->tip_age, std::chrono::milliseconds(600));

  b.net.SetBestBlock(2, BlockId(2));
  const auto fresh = log.WaitForChange(1);
  ASSERT_TRUE(fresh.has_value()) << "no change when the tip advanced";
  EXPECT_FALSE(fresh->stale_tip);
  EXPECT_EQ(fresh->partition, p2pnet::PartitionSignal::None);
  EXPECT_LT(fresh->tip_age, std::chrono::milliseconds(600));
}

}  // namespace
}  // namespace p2pnet_test
