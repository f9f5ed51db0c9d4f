// Bursts arrive whole: a node that broadcasts far more items at once than a
// receiver keeps unrequested announcements for (5,000 per peer) must pace its
// announcements instead of losing the rest. Exact counts over real loopback TCP,
// one hop and along a line of three, with the default Poisson trickle and with
// trickling off; small blocks; and 4 MiB blocks relayed by a middle node that has
// no data provider, so only its relay cache can serve the next hop.
#include "attacker_support.hpp"
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace p2pnet_test {
namespace {

using p2pnet::Hash;
using Clock = std::chrono::steady_clock;

/// Deadline for a whole burst; only reached on failure (a lost item never
/// arrives, so the wait ends here and the count shows what is missing).
constexpr std::chrono::seconds kBurstDeadline{150};

/// RelayConfig with the default Poisson trickle (5 s inbound, 2 s outbound)
/// instead of immediate announcements.
p2pnet::Config DefaultTrickleConfig() {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress("127.0.0.1:0").SetWorkerThreads(1).SetMaxOutbound(0);
  return config;
}

/// `count` distinct transactions of `size` bytes; the index and a test tag
/// make each unique.
std::vector<std::vector<uint8_t>> MakeTransactions(std::size_t count, std::size_t size) {
  const uint32_t tag = NextItemTag();
  std::vector<std::vector<uint8_t>> txs;
  txs.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ByteWriter w;
    w.U32(tag).U64(i);
    std::vector<uint8_t> tx = w.bytes();
    tx.resize(size, static_cast<uint8_t>(i));
    txs.push_back(std::move(tx));
  }
  return txs;
}

/// `count` distinct blocks of `size` bytes (at least 80): the header carries the
/// index and a test tag, so every block id (SHA-256d of the header) differs.
std::vector<std::vector<uint8_t>> MakeBlocks(std::size_t count, std::size_t size) {
  const uint32_t tag = NextItemTag();
  std::vector<std::vector<uint8_t>> blocks;
  blocks.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ByteWriter w;
    w.U32(1).U32(tag).U64(i);
    std::vector<uint8_t> block = w.bytes();
    block.resize(std::max<std::size_t>(size, ToyChain::kHeaderSize), static_cast<uint8_t>(i * 7));
    blocks.push_back(std::move(block));
  }
  return blocks;
}

/// The largest announcement backlog `node` reports for any peer.
uint64_t LargestBacklog(const p2pnet::NetworkManager& node) {
  uint64_t largest = 0;
  for (const auto& peer : node.GetPeers()) {
    largest = std::max(largest, peer.announcements_queued);
  }
  return largest;
}

/// Broadcasts every item from `origin` at once (as fast as the calls return),
/// sampling the backlog the engine reports while doing so. Returns the ids and
/// the largest backlog seen.
struct Broadcast {
  std::vector<Hash> ids;
  uint64_t largest_backlog = 0;
};

Broadcast BroadcastAll(TestNode& origin, const std::vector<std::vector<uint8_t>>& items,
                       bool blocks) {
  Broadcast result;
  result.ids.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    result.ids.push_back(blocks ? origin.net.BroadcastBlock(items[i])
                                : origin.net.BroadcastTransaction(items[i]));
    if (i % 1000 == 999) {
      result.largest_backlog = std::max(result.largest_backlog, LargestBacklog(origin.net));
    }
  }
  result.largest_backlog = std::max(result.largest_backlog, LargestBacklog(origin.net));
  return result;
}

/// Every id arrived exactly once in `log`, and nothing else did. Reports how
/// many of the expected ids are missing or duplicated.
void ExpectEachExactlyOnce(const ItemLog& log, const std::vector<Hash>& ids,
                           const std::string& where) {
  const auto counts = log.Counts();
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (const auto& id : ids) {
    auto it = counts.find(id);
    if (it == counts.end()) {
      ++missing;
    } else if (it->second != 1) {
      ++duplicated;
    }
  }
  EXPECT_EQ(missing, 0u) << where << ": " << missing << " of " << ids.size() << " never arrived";
  EXPECT_EQ(duplicated, 0u) << where << ": " << duplicated << " arrived more than once";
  EXPECT_EQ(counts.size(), ids.size()) << where << ": unexpected items arrived";
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// One hop or a line of `hops` + 1 nodes; `origin` broadcasts `count`
/// transactions at once and the last node must receive every one.
void TransactionBurstArrivesWhole(const p2pnet::Config& config, std::size_t hops,
                                  std::size_t count, const std::string& label) {
  std::vector<std::unique_ptr<TestNode>> line;
  for (std::size_t i = 0; i <= hops; ++i) {
    line.push_back(std::make_unique<TestNode>(config));
    line.back()->Start();
  }
  for (std::size_t i = 0; i < hops; ++i) {
    ASSERT_NE(Connect(*line[i], *line[i + 1]), 0u);
  }
  const auto txs = MakeTransactions(count, 250);

  const auto start = Clock::now();
  const Broadcast sent = BroadcastAll(*line.front(), txs, false);
  const double broadcast_s = SecondsSince(start);
  TestNode& last = *line.back();
  const bool whole = last.txs.WaitForTotal(count, kBurstDeadline);
  const double delivered_s = SecondsSince(start);

  std::cout << "[figures] " << label << ": " << last.txs.Total() << "/" << count
            << " txs arrived after " << hops << " hop(s) in " << delivered_s
            << " s (broadcast calls took " << broadcast_s
            << " s; largest announcement backlog reported: " << sent.largest_backlog << ")\n";
  EXPECT_TRUE(whole) << label << ": only " << last.txs.Total() << " of " << count << " arrived";
  for (std::size_t i = 1; i < line.size(); ++i) {
    ExpectEachExactlyOnce(line[i]->txs, sent.ids, label + " node " + std::to_string(i));
  }
  EXPECT_EQ(line.front()->txs.Total(), 0u) << "the origin got its own transactions back";
  // The backlog is visible to the caller while it lasts and empty afterwards.
  EXPECT_GT(sent.largest_backlog, 0u) << "a burst of " << count << " showed no backlog";
  for (std::size_t i = 0; i < hops; ++i) {
    EXPECT_TRUE(PollUntil([&] { return LargestBacklog(line[i]->net) == 0; }))
        << label << ": node " << i << " still reports queued announcements";
  }
  for (const auto& node : line) {
    EXPECT_TRUE(node->peers.disconnected().empty()) << label << ": a connection dropped";
  }
}

TEST(Burst, HundredThousandTxsArriveWholeWithTrickleOff) {
  TransactionBurstArrivesWhole(RelayConfig(), 1, 100000, "trickle 0, one hop");
}

TEST(Burst, HundredThousandTxsArriveWholeWithDefaultTrickle) {
  TransactionBurstArrivesWhole(DefaultTrickleConfig(), 1, 100000, "default trickle, one hop");
}

TEST(Burst, HundredThousandTxsCrossALineOfThreeWithTrickleOff) {
  TransactionBurstArrivesWhole(RelayConfig(), 2, 100000, "trickle 0, line of three");
}

TEST(Burst, HundredThousandTxsCrossALineOfThreeWithDefaultTrickle) {
  TransactionBurstArrivesWhole(DefaultTrickleConfig(), 2, 100000,
                               "default trickle, line of three");
}

TEST(Burst, TenThousandSmallBlocksArriveWhole) {
  constexpr std::size_t kBlocks = 10000;
  TestNode a(RelayConfig());
  TestNode b(RelayConfig());
  a.Start();
  b.Start();
  ASSERT_NE(Connect(a, b), 0u);
  const auto blocks = MakeBlocks(kBlocks, 1024);

  const auto start = Clock::now();
  const Broadcast sent = BroadcastAll(a, blocks, true);
  const bool whole = b.blocks.WaitForTotal(kBlocks, kBurstDeadline);
  std::cout << "[figures] 1 KiB blocks, one hop: " << b.blocks.Total() << "/" << kBlocks
            << " arrived in " << SecondsSince(start)
            << " s (largest announcement backlog reported: " << sent.largest_backlog << ")\n";
  EXPECT_TRUE(whole);
  ExpectEachExactlyOnce(b.blocks, sent.ids, "B");
  EXPECT_TRUE(a.peers.disconnected().empty());
  EXPECT_TRUE(b.peers.disconnected().empty());
}

// The middle node has no data provider: what it relays onward can only come
// from its relay cache, whose 64 MiB budget is smaller than the 200 MiB burst.
// Items announced to a peer stay servable until that peer fetched them.
TEST(Burst, FiftyLargeBlocksCrossALineWithoutADataProvider) {
  constexpr std::size_t kBlocks = 50;
  constexpr std::size_t kBlockSize = 4 * 1024 * 1024;
  TestNode a(RelayConfig());
  TestNode b(RelayConfig());
  TestNode c(RelayConfig());
  a.Start();
  b.Start();
  c.Start();
  ASSERT_NE(Connect(a, b), 0u);
  ASSERT_NE(Connect(b, c), 0u);
  const auto blocks = MakeBlocks(kBlocks, kBlockSize);

  const auto start = Clock::now();
  const Broadcast sent = BroadcastAll(a, blocks, true);
  const bool whole = c.blocks.WaitForTotal(kBlocks, kBurstDeadline);
  std::cout << "[figures] 4 MiB blocks, line of three, no data provider: " << c.blocks.Total()
            << "/" << kBlocks << " arrived at the far end in " << SecondsSince(start) << " s\n";
  EXPECT_TRUE(whole);
  ExpectEachExactlyOnce(b.blocks, sent.ids, "B");
  ExpectEachExactlyOnce(c.blocks, sent.ids, "C");
  for (const auto& arrival : c.blocks.Arrivals()) {
    const auto it = std::find(sent.ids.begin(), sent.ids.end(), arrival.id);
    ASSERT_NE(it, sent.ids.end());
    EXPECT_EQ(arrival.data, blocks[static_cast<std::size_t>(it - sent.ids.begin())])
        << "bytes changed in transit";
  }
  for (TestNode* node : {&a, &b, &c}) {
    for (const auto& event : node->peers.disconnected()) {
      ADD_FAILURE() << "a connection dropped: peer " << event.id << ": " << event.detail;
    }
  }
}

}  // namespace
}  // namespace p2pnet_test
