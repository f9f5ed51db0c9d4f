// sync.cpp: headers-first sync of a toy chain from one peer.
//
// Node B has a 300-block chain; node A has only the genesis block, which every node
// shares. When A connects and sees that B announced a greater height, it sends
// getheaders with a block locator (SendGetHeaders). Each headers answer is checked
// (every header must link to the previous one by its prev hash), its blocks are
// fetched with FetchBlocks, and the next getheaders goes out; an empty answer means
// the headers are complete. Blocks may arrive out of order; A connects them in header
// order and prints progress from GetSyncStatus. Ends when A's tip is B's tip.
#include <p2pnet.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

using p2pnet::BlockHeader;
using p2pnet::Hash;

namespace {

// The toy chain: a block is an 80-byte header and a body. Header bytes 4..36 hold the
// previous block's id, 36..40 the height. The id is SHA-256d of the header (the
// engine's default block id), so every header commits to its parent.
using Block = std::vector<uint8_t>;

Hash IdOf(const uint8_t* header) { return p2pnet::Sha256d(p2pnet::ByteView(header, 80)); }

Hash PrevOf(const uint8_t* header) {
  Hash prev;
  std::memcpy(prev.data(), header + 4, prev.size());
  return prev;
}

Block MakeBlock(const Hash& prev, uint32_t height) {
  Block block(100, 0);
  block[0] = 1;  // version
  std::memcpy(block.data() + 4, prev.data(), prev.size());
  for (int i = 0; i < 4; ++i) block[36 + i] = static_cast<uint8_t>(height >> (8 * i));
  block[80] = static_cast<uint8_t>(height);  // the "transactions"
  return block;
}

// Bitcoin's block locator over a list of ids (genesis first): the newest ten, then
// exponentially sparser, always ending at genesis.
std::vector<Hash> Locator(const std::vector<Hash>& ids) {
  std::vector<Hash> locator;
  std::size_t step = 1;
  for (std::size_t i = ids.size() - 1; i > 0; i = i > step ? i - step : 0) {
    locator.push_back(ids[i]);
    if (locator.size() >= 10) step *= 2;
  }
  locator.push_back(ids.front());
  return locator;
}

}  // namespace

int main() {
  constexpr uint32_t kHeight = 300;
  // Node B's chain, from the genesis block every node shares. Read-only once the
  // engines run, so B's callbacks need no lock.
  std::vector<Block> b_blocks{MakeBlock(Hash{}, 0)};
  std::map<Hash, std::size_t> b_height{{IdOf(b_blocks[0].data()), 0}};
  for (uint32_t h = 1; h <= kHeight; ++h) {
    b_blocks.push_back(MakeBlock(IdOf(b_blocks.back().data()), h));
    b_height[IdOf(b_blocks.back().data())] = h;
  }

  // Node A's state, written by its callbacks (dispatcher thread), read by main().
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Hash> a_headers{IdOf(b_blocks[0].data())};  // header ids, genesis first
  std::size_t a_height = 0;         // blocks connected: those of a_headers[0..a_height]
  std::map<Hash, Block> a_arrived;  // blocks waiting for their parent
  std::size_t next_report = 50;

  try {
    p2pnet::Config config(p2pnet::Network::Regtest);
    config.SetListenAddress("127.0.0.1:0").SetMaxOutbound(0);
    p2pnet::NetworkManager a(config);
    config.SetStartHeight(kHeight);  // B announces its height in its version message
    p2pnet::NetworkManager b(config);

    // B serves its chain: up to 2,000 headers after the first locator entry it knows
    // (genesis when none), and blocks by id.
    b.SetOnGetHeaders([&](uint64_t, const std::vector<Hash>& locator,
                          const std::optional<Hash>& stop) {
      std::size_t h = 0;
      for (const Hash& id : locator) {
        if (b_height.count(id)) { h = b_height.at(id); break; }
      }
      std::vector<BlockHeader> headers;
      while (++h < b_blocks.size() && headers.size() < 2000) {
        headers.emplace_back();
        std::memcpy(headers.back().data(), b_blocks[h].data(), 80);
        if (stop && IdOf(b_blocks[h].data()) == *stop) break;
      }
      return headers;
    });
    b.SetDataProvider([&](p2pnet::ItemKind kind, const Hash& id, p2pnet::ItemForm)
                          -> std::optional<std::vector<uint8_t>> {
      if (kind != p2pnet::ItemKind::Block || !b_height.count(id)) return std::nullopt;
      return b_blocks[b_height.at(id)];
    });

    // A: a peer that announced a greater height gets a getheaders.
    a.SetOnPeerConnected([&](const p2pnet::PeerInfo& peer) {
      std::vector<Hash> locator;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (peer.start_height <= static_cast<int32_t>(a_headers.size() - 1)) return;
        locator = Locator(a_headers);
      }
      std::cout << "A: peer " << peer.id << " is at height " << peer.start_height
                << "; asking for headers\n";
      a.SendGetHeaders(peer.id, locator);  // engine calls outside our lock
    });
    a.SetOnHeaders([&](uint64_t peer, const std::vector<BlockHeader>& headers) {
      std::vector<Hash> fresh, locator;
      bool connects = true;
      {
        std::lock_guard<std::mutex> lock(mutex);
        for (const BlockHeader& header : headers) {
          if (!(connects = PrevOf(header.data()) == a_headers.back())) break;
          a_headers.push_back(IdOf(header.data()));
          fresh.push_back(a_headers.back());
        }
        locator = Locator(a_headers);
      }
      std::cout << "A: " << headers.size() << " headers from peer " << peer << "\n";
      if (!connects) {
        a.Misbehaving(peer, 20, "headers do not connect");
      } else if (!headers.empty()) {  // empty: B has nothing after our last header
        a.FetchBlocks(fresh);
        a.SendGetHeaders(peer, locator);
      }
    });
    a.SetOnBlock([&](uint64_t, const Hash& id, p2pnet::ByteView data) {
      bool report = false;  // a progress line is due
      std::size_t height = 0;
      Hash tip{};
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (data.size() < 80 || IdOf(data.data()) != id) return p2pnet::Verdict::Invalid;
        a_arrived[id] = data.ToVector();
        // Connect in header order; a real node validates and stores each block here.
        while (a_height + 1 < a_headers.size() && a_arrived.erase(a_headers[a_height + 1])) {
          ++a_height;
        }
        if (a_height >= next_report) {
          report = true;
          next_report += 50;
        }
        height = a_height;
        tip = a_headers[a_height];
        changed.notify_all();
      }
      // The new tip: announced to later peers, and the anchor for peers' heights.
      a.SetBestBlock(static_cast<int32_t>(height), tip);
      if (report) {  // the seed's current height, target height and progress
        const p2pnet::SyncStatus status = a.GetSyncStatus();
        std::cout << "A: height " << status.current_height << " of " << status.best_peer_height
                  << " (" << static_cast<int>(status.ProgressPercent()) << "%), blocks in flight "
                  << status.blocks_in_flight << ", queued " << status.blocks_queued
                  << ", peers " << status.peer_count << "\n";
      }
      return p2pnet::Verdict::Accepted;
    });

    a.Start();
    b.Start();
    a.SetBestBlock(0, a_headers.front());  // A's tip: the genesis block
    a.AddPeer("127.0.0.1", b.ListenPort());
    std::unique_lock<std::mutex> lock(mutex);
    const bool synced = changed.wait_for(lock, std::chrono::seconds(20),
                                         [&] { return a_height == kHeight; });
    lock.unlock();
    a.Stop();
    b.Stop();  // no callback runs after Stop: A's state needs no lock from here on
    if (!synced || a_headers.back() != IdOf(b_blocks.back().data())) {
      std::cerr << "FAIL: A reached height " << a_height << " of " << kHeight << "\n";
      return 1;
    }
    std::cout << "sync: OK, A has all " << kHeight << " blocks\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
