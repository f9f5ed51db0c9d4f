// Headers-first block sync between two engines over loopback: node A serves a
// 2,000-block toy chain through the getheaders responder and the data
// provider; a fresh node B follows the headers, fetches the blocks and
// connects them to its own chain.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>

namespace p2pnet_test {
namespace {

using p2pnet::BlockHeader;
using p2pnet::ByteView;
using p2pnet::Hash;
using p2pnet::ItemKind;
using p2pnet::Verdict;

constexpr std::size_t kChainLength = 2000;

// B's node-side state: the header chain it learned, the blocks it connected,
// and blocks that arrived before their parent.
class Syncer {
 public:
  explicit Syncer(const ToyChain& genesis_only) : chain_(genesis_only) {
    header_ids_.push_back(chain_.tip());
  }

  // Headers callback: extend the header chain (checking every link), fetch the
  // new blocks and ask for more; an empty answer means the headers are in sync.
  void OnHeaders(p2pnet::NetworkManager& net, uint64_t peer,
                 const std::vector<BlockHeader>& headers) {
    std::vector<Hash> fresh;
    Hash locator_tip{};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++headers_messages_;
      if (headers.empty()) {
        ++empty_headers_messages_;
        changed_.notify_all();
        return;
      }
      for (const BlockHeader& header : headers) {
        if (ToyChain::PrevOf(header.data()) != header_ids_.back() ||
            ToyChain::HeightOf(header.data()) != header_ids_.size()) {
          errors_.push_back("header does not extend the header chain at height " +
                            std::to_string(header_ids_.size()));
          changed_.notify_all();
          return;
        }
        const Hash id = ToyChain::IdOf(header.data());
        header_height_[id] = header_ids_.size();
        header_ids_.push_back(id);
        fresh.push_back(id);
      }
      locator_tip = header_ids_.back();
    }
    // Outside our lock: these call into the engine (allowed from a callback).
    const std::size_t queued = net.FetchBlocks(fresh);
    net.SendGetHeaders(peer, {locator_tip});
    std::lock_guard<std::mutex> lock(mutex_);
    queued_ += queued;
  }

  // Block callback: connect to the chain when the prev link matches the tip,
  // park it when its parent is still missing, reject it when its header is unknown.
  Verdict OnBlock(const Hash& id, ByteView data) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++block_calls_;
    if (data.size() < ToyChain::kHeaderSize || ToyChain::IdOf(data.data()) != id) {
      errors_.push_back("block id does not match its header");
      return Verdict::Invalid;
    }
    if (header_height_.count(id) == 0) {
      errors_.push_back("block without a known header");
      return Verdict::Invalid;
    }
    std::vector<uint8_t> block = data.ToVector();
    if (ToyChain::PrevOf(block.data()) != chain_.tip()) {
      ++out_of_order_;
      orphans_[ToyChain::PrevOf(block.data())] = std::move(block);
      return Verdict::Accepted;
    }
    if (!chain_.Connect(block)) {
      errors_.push_back("block does not connect at height " + std::to_string(chain_.height() + 1));
      return Verdict::Invalid;
    }
    for (auto it = orphans_.find(chain_.tip()); it != orphans_.end();
         it = orphans_.find(chain_.tip())) {
      std::vector<uint8_t> next = std::move(it->second);
      orphans_.erase(it);
      if (!chain_.Connect(next)) {
        errors_.push_back("parked block does not connect");
        break;
      }
    }
    if (chain_.height() == kChainLength) {
      finished_ = std::chrono::steady_clock::now();
    }
    changed_.notify_all();
    return Verdict::Accepted;
  }

  bool WaitForSync(std::size_t height, std::chrono::milliseconds deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] {
      return !errors_.empty() || (chain_.height() >= height && empty_headers_messages_ >= 1);
    });
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  ToyChain chain_;
  std::vector<Hash> header_ids_;
  std::map<Hash, std::size_t> header_height_;
  std::map<Hash, std::vector<uint8_t>> orphans_;
  std::vector<std::string> errors_;
  std::size_t headers_messages_ = 0;
  std::size_t empty_headers_messages_ = 0;
  std::size_t block_calls_ = 0;
  std::size_t out_of_order_ = 0;
  std::size_t queued_ = 0;
  std::chrono::steady_clock::time_point finished_{};
};

TEST(BlockSync, FreshNodeCatchesUp2000Blocks) {
  ToyChain chain_a;
  const ToyChain genesis_only = chain_a;  // B starts from the same genesis
  chain_a.Extend(kChainLength);
  ASSERT_EQ(chain_a.height(), kChainLength);

  std::atomic<int> getheaders_calls{0};
  std::atomic<int> provider_calls{0};
  std::atomic<int> provider_misses{0};
  Syncer syncer(genesis_only);

  TestNode a(RelayConfig());
  // A is read-only from here on, so its callbacks may read chain_a freely.
  a.net.SetOnGetHeaders([&](uint64_t, const std::vector<Hash>& locator,
                            const std::optional<Hash>& stop) {
    ++getheaders_calls;
    return chain_a.HeadersAfter(locator, stop);
  });
  a.net.SetDataProvider([&](ItemKind kind, const Hash& id,
                            p2pnet::ItemForm) -> std::optional<std::vector<uint8_t>> {
    ++provider_calls;
    const long height = chain_a.HeightOfId(id);
    if (kind != ItemKind::Block || height < 0) {
      ++provider_misses;
      return std::nullopt;
    }
    return chain_a.BlockAt(static_cast<std::size_t>(height));
  });

  TestNode b(RelayConfig());
  b.net.SetOnHeaders([&](uint64_t peer, const std::vector<BlockHeader>& headers) {
    syncer.OnHeaders(b.net, peer, headers);
  });
  b.net.SetOnBlock(
      [&](uint64_t, const Hash& id, ByteView data) { return syncer.OnBlock(id, data); });

  a.Start();
  b.Start();
  const uint64_t a_on_b = Connect(b, a);
  ASSERT_NE(a_on_b, 0u);

  // B's tip is the genesis block: headers building on it tell B how far A is.
  b.net.SetBestBlock(0, genesis_only.tip());
  EXPECT_EQ(b.net.GetSyncStatus().best_peer_height, 0) << "A announced height 0 in its version";
  const auto started = std::chrono::steady_clock::now();
  b.net.SendGetHeaders(a_on_b, {genesis_only.tip()});
  const bool synced = syncer.WaitForSync(kChainLength, kLongDeadline);

  {  // Node-side state, read under its lock; no engine call in here.
    std::lock_guard<std::mutex> lock(syncer.mutex_);
    ASSERT_TRUE(syncer.errors_.empty()) << syncer.errors_.front();
    ASSERT_TRUE(synced) << "B reached height " << syncer.chain_.height() << " of " << kChainLength
                        << " after " << syncer.block_calls_ << " block callbacks";
    const auto sync_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(syncer.finished_ - started).count();
    std::cout << "[figure] 2000-block sync: " << sync_ms << " ms (" << syncer.out_of_order_
              << " blocks arrived before their parent)" << std::endl;

    EXPECT_EQ(syncer.chain_.height(), kChainLength);
    EXPECT_EQ(syncer.chain_.tip(), chain_a.tip());
    EXPECT_EQ(syncer.block_calls_, kChainLength);
    EXPECT_TRUE(syncer.orphans_.empty());
    EXPECT_EQ(syncer.header_ids_.size(), kChainLength + 1);
    EXPECT_EQ(syncer.queued_, kChainLength);
    // One full answer of 2,000 headers, then the empty answer to the follow-up.
    EXPECT_EQ(syncer.headers_messages_, 2u);
    EXPECT_EQ(syncer.empty_headers_messages_, 1u);
    EXPECT_EQ(getheaders_calls.load(), 2);
    EXPECT_EQ(provider_calls.load(), static_cast<int>(kChainLength));
    EXPECT_EQ(provider_misses.load(), 0);
  }

  const p2pnet::SyncStatus status = b.net.GetSyncStatus();
  EXPECT_EQ(status.blocks_in_flight, 0u);
  EXPECT_EQ(status.blocks_queued, 0u);
  EXPECT_EQ(status.peer_count, 1u);
  EXPECT_EQ(status.current_height, 0) << "the node has not reported a new tip";
  EXPECT_EQ(status.best_peer_height, static_cast<int32_t>(kChainLength))
      << "A's height, learnt from the headers it sent";
  EXPECT_EQ(b.net.GetPeers().at(0).best_known_height, static_cast<int32_t>(kChainLength));
  // Every block is known now: fetching them again queues nothing.
  std::vector<Hash> all;
  for (std::size_t h = 1; h <= kChainLength; ++h) {
    all.push_back(chain_a.IdAt(h));
  }
  EXPECT_EQ(b.net.FetchBlocks(all), 0u);
}

}  // namespace
}  // namespace p2pnet_test
