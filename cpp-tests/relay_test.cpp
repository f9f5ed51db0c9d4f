// Inventory relay between engines and against hand-driven raw-socket peers:
// propagation along a line and through a mesh, verdicts, NOTFOUND, request
// time-outs and unsolicited items.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <random>
#include <set>

namespace p2pnet_test {
namespace {

using p2pnet::Hash;
using p2pnet::ItemKind;
using p2pnet::Verdict;

std::vector<uint8_t> Bytes(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

// The misbehaviour score `engine` holds for peer `id`, or nullopt when it is
// not in the peer list.
std::optional<uint32_t> ScoreOf(const p2pnet::NetworkManager& engine, uint64_t id) {
  for (const auto& peer : engine.GetPeers()) {
    if (peer.id == id) {
      return peer.misbehaviour_score;
    }
  }
  return std::nullopt;
}

TEST(Relay, TxCrossesLineOfThree) {
  TestNode a(RelayConfig());
  TestNode b(RelayConfig());
  TestNode c(RelayConfig());
  a.Start();
  b.Start();
  c.Start();
  ASSERT_NE(Connect(a, b), 0u);
  const uint64_t c_on_b = Connect(b, c);
  ASSERT_NE(c_on_b, 0u);

  const std::vector<uint8_t> tx = Bytes("line-of-three transaction from A");
  const Hash id = a.net.BroadcastTransaction(tx);
  EXPECT_EQ(id, Sha256d(tx)) << "default tx id is SHA-256d of the bytes";
  EXPECT_EQ(id, a.net.ItemId(ItemKind::Tx, tx));
  ASSERT_TRUE(b.txs.WaitFor(id)) << "B never received A's transaction";
  ASSERT_TRUE(c.txs.WaitFor(id)) << "C never received A's transaction through B";

  // Marker: a transaction from C travels the line the other way. Once it has
  // reached A, anything A's transaction could still have caused has happened.
  const Hash marker = c.net.BroadcastTransaction(Bytes("marker transaction from C"));
  ASSERT_TRUE(a.txs.WaitFor(marker));

  EXPECT_EQ(a.txs.Count(id), 0) << "the origin got its own transaction back";
  EXPECT_EQ(a.txs.Count(marker), 1);
  EXPECT_EQ(a.txs.Total(), 1u);
  EXPECT_EQ(b.txs.Count(id), 1);
  EXPECT_EQ(b.txs.Count(marker), 1);
  EXPECT_EQ(b.txs.Total(), 2u);
  EXPECT_EQ(c.txs.Count(id), 1);
  EXPECT_EQ(c.txs.Count(marker), 0) << "the origin got its own transaction back";
  EXPECT_EQ(c.txs.Total(), 1u);

  const auto on_c = c.txs.Arrivals();
  ASSERT_EQ(on_c.size(), 1u);
  EXPECT_EQ(on_c[0].data, tx) << "bytes changed in transit";
  EXPECT_EQ(a.blocks.Total() + b.blocks.Total() + c.blocks.Total(), 0u);
}

TEST(Relay, TenNodeMeshDeliversEverythingOnce) {
  constexpr std::size_t kNodes = 10;
  constexpr std::size_t kExtraEdges = 5;  // ring (10 edges) + 5: mean degree 3
  constexpr std::size_t kTxs = 200;
  constexpr std::size_t kBlocks = 20;
  std::mt19937 rng(0x5eed);

  std::vector<std::unique_ptr<TestNode>> nodes;
  for (std::size_t i = 0; i < kNodes; ++i) {
    nodes.push_back(std::make_unique<TestNode>(RelayConfig()));
    nodes.back()->Start();
  }
  std::set<std::pair<std::size_t, std::size_t>> edges;
  for (std::size_t i = 0; i < kNodes; ++i) {
    edges.insert({std::min(i, (i + 1) % kNodes), std::max(i, (i + 1) % kNodes)});
  }
  while (edges.size() < kNodes + kExtraEdges) {
    const std::size_t u = rng() % kNodes;
    const std::size_t v = rng() % kNodes;
    if (u != v) {
      edges.insert({std::min(u, v), std::max(u, v)});
    }
  }
  std::vector<std::size_t> degree(kNodes, 0);
  for (const auto& [u, v] : edges) {
    ASSERT_NE(Connect(*nodes[u], *nodes[v]), 0u) << "edge " << u << "-" << v;
    ++degree[u];
    ++degree[v];
  }
  for (std::size_t i = 0; i < kNodes; ++i) {
    ASSERT_EQ(nodes[i]->net.GetPeers().size(), degree[i]) << "node " << i;
  }

  // 220 distinct items from random origins, in random order.
  struct Item {
    ItemKind kind;
    std::size_t origin;
    std::vector<uint8_t> bytes;
    Hash id{};
  };
  std::vector<Item> items;
  for (std::size_t k = 0; k < kTxs; ++k) {
    items.push_back({ItemKind::Tx, rng() % kNodes, Bytes("mesh tx #" + std::to_string(k)), {}});
  }
  for (std::size_t k = 0; k < kBlocks; ++k) {
    items.push_back({ItemKind::Block, rng() % kNodes,
                     ToyChain::MakeBlock(Hash{}, static_cast<uint32_t>(k + 1), 0x3e54), {}});
  }
  std::shuffle(items.begin(), items.end(), rng);
  std::vector<std::size_t> txs_from(kNodes, 0);
  std::vector<std::size_t> blocks_from(kNodes, 0);
  for (const Item& item : items) {
    ++(item.kind == ItemKind::Tx ? txs_from : blocks_from)[item.origin];
  }

  const auto started = std::chrono::steady_clock::now();
  for (Item& item : items) {
    p2pnet::NetworkManager& net = nodes[item.origin]->net;
    item.id = item.kind == ItemKind::Tx ? net.BroadcastTransaction(item.bytes)
                                        : net.BroadcastBlock(item.bytes);
  }
  for (std::size_t i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(nodes[i]->txs.WaitForTotal(kTxs - txs_from[i], kLongDeadline))
        << "node " << i << " got " << nodes[i]->txs.Total() << " of " << kTxs - txs_from[i]
        << " transactions";
    ASSERT_TRUE(nodes[i]->blocks.WaitForTotal(kBlocks - blocks_from[i], kLongDeadline))
        << "node " << i << " got " << nodes[i]->blocks.Total() << " of "
        << kBlocks - blocks_from[i] << " blocks";
  }
  auto last = started;
  for (const auto& node : nodes) {
    last = std::max({last, node->txs.LastArrival(), node->blocks.LastArrival()});
  }
  const auto mesh_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(last - started).count();
  std::cout << "[figure] mesh of " << kNodes << " nodes / " << edges.size() << " edges, " << kTxs
            << " txs + " << kBlocks << " blocks, " << (kTxs + kBlocks) * (kNodes - 1)
            << " deliveries: " << mesh_ms << " ms from first broadcast to last delivery"
            << std::endl;

  // Marker: one more block from node 0 reaches everyone after all of the above.
  const Hash marker =
      nodes[0]->net.BroadcastBlock(ToyChain::MakeBlock(Hash{}, 999, 0x3e54));
  for (std::size_t i = 1; i < kNodes; ++i) {
    ASSERT_TRUE(nodes[i]->blocks.WaitFor(marker)) << "node " << i;
  }

  std::size_t deliveries = 0;
  for (std::size_t i = 0; i < kNodes; ++i) {
    const auto txs = nodes[i]->txs.Counts();
    const auto blocks = nodes[i]->blocks.Counts();
    for (const Item& item : items) {
      const auto& counts = item.kind == ItemKind::Tx ? txs : blocks;
      auto it = counts.find(item.id);
      const int seen = it == counts.end() ? 0 : it->second;
      EXPECT_EQ(seen, item.origin == i ? 0 : 1)
          << "node " << i << ", item " << Hex(item.id) << " from node " << item.origin;
      deliveries += static_cast<std::size_t>(seen);
    }
    EXPECT_EQ(nodes[i]->txs.Total(), kTxs - txs_from[i]) << "node " << i;
    EXPECT_EQ(nodes[i]->blocks.Total(), kBlocks - blocks_from[i] + (i == 0 ? 0 : 1))
        << "node " << i;
  }
  EXPECT_EQ(deliveries, (kTxs + kBlocks) * (kNodes - 1));
}

TEST(Relay, InvalidVerdictPenalisesAndDoesNotRelay) {
  // Distinct loopback addresses, so that banning A's address leaves B-C alone.
  TestNode a(RelayConfig("127.0.0.2"), "127.0.0.2");
  TestNode b(RelayConfig("127.0.0.1"), "127.0.0.1");
  TestNode c(RelayConfig("127.0.0.3"), "127.0.0.3");
  const std::vector<uint8_t> bad_tx = Bytes("a transaction B judges invalid");
  const Hash bad_id = Sha256d(bad_tx);
  b.txs.SetDecider([bad_id](const Hash& id) {
    return id == bad_id ? Verdict::Invalid : Verdict::Accepted;
  });
  a.Start();
  b.Start();
  c.Start();
  // B dials both, so it knows A by A's own address, 127.0.0.2.
  const uint64_t a_on_b = Connect(b, a);
  const uint64_t c_on_b = Connect(b, c);
  ASSERT_NE(a_on_b, 0u);
  ASSERT_NE(c_on_b, 0u);

  // The score shows in B's peer list: 0, then 10 after an explicit report.
  EXPECT_EQ(ScoreOf(b.net, a_on_b), std::optional<uint32_t>(0));
  b.net.Misbehaving(a_on_b, 10, "test: a small offence first");
  EXPECT_TRUE(PollUntil([&] { return ScoreOf(b.net, a_on_b) == std::optional<uint32_t>(10); }));

  a.net.BroadcastTransaction(bad_tx);
  ASSERT_TRUE(b.peers.WaitForDisconnectedId(a_on_b)) << "A was not disconnected by B";
  for (const auto& event : b.peers.disconnected()) {
    if (event.id == a_on_b) {
      EXPECT_EQ(event.reason, p2pnet::DisconnectReason::Misbehaviour) << event.detail;
      // "misbehaviour score 110 (invalid item)": the 10 above plus 100 for the item.
      EXPECT_NE(event.detail.find("invalid item"), std::string::npos) << event.detail;
      const std::size_t at = event.detail.find("score ");
      ASSERT_NE(at, std::string::npos) << event.detail;
      const unsigned long score = std::stoul(event.detail.substr(at + 6));
      EXPECT_GE(score, 100u) << event.detail;
      EXPECT_LE(score, 110u) << event.detail;
    }
  }
  const auto bans = b.net.ListBans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].subnet, "127.0.0.2/32");
  EXPECT_GT(bans[0].until, std::chrono::system_clock::now() + std::chrono::hours(23));
  EXPECT_EQ(b.txs.Count(bad_id), 1);
  ASSERT_EQ(b.txs.Arrivals().size(), 1u);
  EXPECT_EQ(b.txs.Arrivals()[0].peer, a_on_b);

  // B-C is untouched by the ban.
  const auto peers_b = b.net.GetPeers();
  ASSERT_EQ(peers_b.size(), 1u);
  EXPECT_EQ(peers_b[0].id, c_on_b);
  EXPECT_EQ(peers_b[0].misbehaviour_score, 0u);

  // Marker: a valid transaction from B reaches C; the invalid one never did.
  const Hash good_id = b.net.BroadcastTransaction(Bytes("a valid transaction from B"));
  ASSERT_TRUE(c.txs.WaitFor(good_id));
  EXPECT_EQ(c.txs.Count(bad_id), 0) << "B relayed a transaction it judged invalid";
  EXPECT_EQ(c.txs.Count(good_id), 1);
  EXPECT_EQ(c.txs.Total(), 1u);
  EXPECT_EQ(b.txs.Total(), 1u);
  EXPECT_EQ(a.txs.Total(), 0u);
}

// BIP130 on the wire: a peer that sent sendheaders is told of a new block by a
// headers message once it has the block's parent; before that, by inv.
TEST(Relay, BlocksAreAnnouncedByHeadersAfterSendHeaders) {
  TestNode e(RelayConfig());
  e.Start();
  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.Handshake());
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  ASSERT_TRUE(raw.SendMessage("sendheaders", {}));
  // A ping round trip: the engine has read sendheaders.
  ASSERT_TRUE(raw.SendMessage("ping", ByteWriter().U64(0x5e4d).bytes()));
  ASSERT_TRUE(raw.WaitForCommand("pong"));

  ToyChain chain(0xb130);
  chain.Extend(2);
  e.net.BroadcastBlock(chain.BlockAt(1));
  auto first = raw.WaitForCommand("inv");
  ASSERT_TRUE(first) << "the first block, whose parent the peer lacks, goes by inv";
  e.net.BroadcastBlock(chain.BlockAt(2));
  std::vector<RawMessage> skipped;
  auto headers = raw.WaitForCommand("headers", kDeadline, &skipped);
  ASSERT_TRUE(headers) << "the block building on one the peer has goes by headers";
  ByteReader r(headers->payload);
  ASSERT_EQ(r.CompactSize(), 1u);
  std::vector<uint8_t> header(ToyChain::kHeaderSize);
  for (auto& byte : header) {
    byte = r.U8();
  }
  EXPECT_EQ(r.CompactSize(), 0u) << "tx count";
  EXPECT_TRUE(r.ok() && r.at_end());
  EXPECT_EQ(header, std::vector<uint8_t>(chain.BlockAt(2).begin(),
                                         chain.BlockAt(2).begin() + ToyChain::kHeaderSize));
  for (const auto& message : skipped) {
    EXPECT_NE(message.command, "inv") << "block 2 was also announced by inv";
  }
}

// BIP339 on the wire: a peer that sent wtxidrelay before its verack is told of
// transactions by wtxid (MSG_WTX) and asked for them that way; its MSG_TX
// announcements are ignored. BIP144: asked by MSG_TX, it gets the legacy form.
TEST(Relay, TransactionsGoByWtxidToPeersThatSentWtxidRelay) {
  TestNode e(RelayConfig());
  e.Start();
  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  std::vector<std::string> received;
  RawSocket::HandshakeOptions options;
  options.protocol_version = 70016;
  options.before_verack = {"wtxidrelay", "sendaddrv2"};
  options.received = &received;
  ASSERT_TRUE(raw.Handshake(0x5eed, 0, options));
  EXPECT_EQ(received, (std::vector<std::string>{"version", "wtxidrelay", "sendaddrv2", "verack"}));
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  const uint64_t raw_id = e.peers.connected()[0].id;

  const SegwitVector ours = Bip143SegwitTx();
  EXPECT_EQ(e.net.BroadcastTransaction(ours.bytes), ours.txid);
  std::vector<RawMessage> skipped;
  auto inv = raw.WaitForCommand("inv", kDeadline, &skipped);
  ASSERT_TRUE(inv);
  EXPECT_EQ(ParseInv(inv->payload), (std::vector<InvEntry>{{kInvWtx, ours.wtxid}}));
  ASSERT_TRUE(raw.SendMessage("getdata", InvPayload({{kInvWtx, ours.wtxid}})));
  auto served = raw.WaitForCommand("tx", kDeadline, &skipped);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->payload, ours.bytes) << "asked by wtxid: the witness form";
  ASSERT_TRUE(raw.SendMessage("getdata", InvPayload({{kInvTx, ours.txid}})));
  served = raw.WaitForCommand("tx", kDeadline, &skipped);
  ASSERT_TRUE(served);
  EXPECT_LT(served->payload.size(), ours.bytes.size());
  EXPECT_EQ(Sha256d(served->payload), ours.txid) << "asked by MSG_TX: the legacy form";

  const SegwitVector theirs = MainnetSegwitTx();
  Hash32 by_txid{};
  by_txid.fill(0x77);
  ASSERT_TRUE(raw.SendMessage("inv", InvPayload({{kInvTx, by_txid}, {kInvWtx, theirs.wtxid}})));
  auto getdata = raw.WaitForCommand("getdata", kDeadline, &skipped);
  ASSERT_TRUE(getdata);
  EXPECT_EQ(ParseInv(getdata->payload), (std::vector<InvEntry>{{kInvWtx, theirs.wtxid}}))
      << "requested by wtxid; the txid announcement ignored";
  ASSERT_TRUE(raw.SendMessage("tx", theirs.bytes));
  ASSERT_TRUE(e.txs.WaitFor(theirs.txid)) << "the node gets the tx under its txid";
  EXPECT_EQ(e.txs.Arrivals().back().data, theirs.bytes);
  EXPECT_EQ(ScoreOf(e.net, raw_id), std::optional<uint32_t>(0));
}

TEST(Relay, GetDataForUnknownGetsNotFound) {
  TestNode e(RelayConfig());
  e.Start();
  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.Handshake());
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  const uint64_t raw_id = e.peers.connected()[0].id;

  std::mt19937_64 rng(42);
  auto random_entries = [&rng](std::size_t count) {
    std::vector<InvEntry> entries;
    for (std::size_t i = 0; i < count; ++i) {
      InvEntry entry;
      entry.type = i % 3 == 0 ? kInvBlock : kInvTx;
      for (auto& byte : entry.hash) {
        byte = static_cast<uint8_t>(rng());
      }
      entries.push_back(entry);
    }
    return entries;
  };

  // Without a data provider the engine answers from its relay cache alone.
  const std::vector<InvEntry> first = random_entries(7);
  ASSERT_TRUE(raw.SendMessage("getdata", InvPayload(first)));
  std::vector<RawMessage> skipped;
  auto notfound = raw.WaitForCommand("notfound", kDeadline, &skipped);
  ASSERT_TRUE(notfound) << "no notfound for unknown hashes";
  auto listed = ParseInv(notfound->payload);
  ASSERT_TRUE(listed) << "malformed notfound payload";
  EXPECT_EQ(*listed, first);

  // With a provider that does not have them either, the answer is the same.
  std::atomic<int> asked{0};
  e.net.SetDataProvider([&asked](ItemKind, const Hash&,
                                 p2pnet::ItemForm) -> std::optional<std::vector<uint8_t>> {
    ++asked;
    return std::nullopt;
  });
  const std::vector<InvEntry> second = random_entries(4);
  ASSERT_TRUE(raw.SendMessage("getdata", InvPayload(second)));
  notfound = raw.WaitForCommand("notfound", kDeadline, &skipped);
  ASSERT_TRUE(notfound) << "no notfound after asking the data provider";
  listed = ParseInv(notfound->payload);
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed, second);
  EXPECT_EQ(asked.load(), 4);

  for (const RawMessage& message : skipped) {
    EXPECT_NE(message.command, "tx");
    EXPECT_NE(message.command, "block");
    EXPECT_NE(message.command, "notfound");
  }
  EXPECT_EQ(ScoreOf(e.net, raw_id), std::optional<uint32_t>(0)) << "asking is no offence";
}

TEST(Relay, UnresponsivePeerIsTimedOutAndItemFetchedElsewhere) {
  constexpr auto kTxTimeout = std::chrono::milliseconds(500);
  p2pnet::Config e_config = RelayConfig();
  e_config.SetRequestTimeouts(kTxTimeout, std::chrono::seconds(20));
  TestNode e(e_config);
  TestNode h(RelayConfig());
  e.Start();
  h.Start();

  const std::vector<uint8_t> tx = Bytes("a transaction the raw peer never delivers");
  const Hash id = Sha256d(tx);

  // R announces first, and E asks R.
  RawSocket r(e.port);
  ASSERT_TRUE(r.connected());
  ASSERT_TRUE(r.Handshake());
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  const uint64_t r_id = e.peers.connected()[0].id;
  ASSERT_TRUE(r.SendMessage("inv", InvPayload({InvEntry{kInvTx, id}})));
  auto getdata = r.WaitForCommand("getdata");
  ASSERT_TRUE(getdata) << "E never asked the announcing raw peer";
  const auto asked_at = std::chrono::steady_clock::now();
  auto requested = ParseInv(getdata->payload);
  ASSERT_TRUE(requested);
  const std::vector<InvEntry> expected_request{InvEntry{kInvTx, id}};
  EXPECT_EQ(*requested, expected_request);

  // Only now does the honest node connect and announce the same transaction.
  ASSERT_NE(Connect(h, e), 0u);
  h.net.BroadcastTransaction(tx);
  ASSERT_TRUE(e.txs.WaitFor(id)) << "E never fetched the transaction from the honest peer";
  const auto fetched_after = std::chrono::steady_clock::now() - asked_at;

  const auto arrivals = e.txs.Arrivals();
  ASSERT_EQ(arrivals.size(), 1u);
  EXPECT_EQ(arrivals[0].id, id);
  EXPECT_NE(arrivals[0].peer, r_id);
  EXPECT_EQ(arrivals[0].data, tx);
  EXPECT_GE(fetched_after, kTxTimeout - std::chrono::milliseconds(50))
      << "E fetched from the second announcer before R's request timed out";

  // Barrier on R's connection: everything E sent R before the pong is read.
  std::vector<RawMessage> skipped;
  ASSERT_TRUE(r.SendMessage("ping", ByteWriter().U64(0xfeedULL).bytes()));
  ASSERT_TRUE(r.WaitForCommand("pong", kDeadline, &skipped));
  for (const RawMessage& message : skipped) {
    EXPECT_NE(message.command, "getdata") << "E asked the unresponsive peer again";
  }
  EXPECT_EQ(e.txs.Total(), 1u);
  EXPECT_EQ(h.txs.Total(), 0u);
}

TEST(Relay, UnsolicitedBlockIsPenalised) {
  TestNode e(RelayConfig());
  e.Start();
  RawSocket raw(e.port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.Handshake());
  ASSERT_TRUE(e.peers.WaitForConnected(1));
  const uint64_t raw_id = e.peers.connected()[0].id;
  EXPECT_EQ(ScoreOf(e.net, raw_id), std::optional<uint32_t>(0));

  const std::vector<uint8_t> block = ToyChain::MakeBlock(Hash{}, 1, 0xbad);
  ASSERT_TRUE(raw.SendMessage("block", block));
  std::optional<uint32_t> score;
  ASSERT_TRUE(PollUntil([&] {
    score = ScoreOf(e.net, raw_id);
    return score && *score > 0;
  })) << "no misbehaviour score for an unsolicited block";
  EXPECT_LT(*score, 100u) << "one unsolicited block should not be enough for a ban";
  EXPECT_EQ(e.blocks.Total(), 0u) << "an unsolicited block reached the node";
  EXPECT_TRUE(e.net.ListBans().empty());
  EXPECT_TRUE(e.peers.disconnected().empty());
}

}  // namespace
}  // namespace p2pnet_test
