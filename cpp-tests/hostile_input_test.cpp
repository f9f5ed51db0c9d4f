// Hostile input from raw-socket peers, one test per class of bad frame and one
// per offence of the misbehaviour table (DESIGN.md §1, src/misbehaviour.rs):
// framing faults disconnect, a bad checksum drops only that message, unknown
// commands are ignored, and each offence adds exactly its points until 100
// disconnects and bans the address. Every attacker has its own 127.1.x.y
// source address, and every test ends by checking that an honest engine is
// still served.
#include "attacker_support.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <functional>
#include <memory>
#include <random>

namespace p2pnet_test {
namespace {

using p2pnet::Hash;
using p2pnet::Verdict;

// Points per offence, as src/misbehaviour.rs scores them.
constexpr uint32_t kOversizedListPoints = 20;
constexpr uint32_t kMessageBeforeVersionPoints = 1;
constexpr uint32_t kDuplicateVersionPoints = 1;
constexpr uint32_t kMalformedPayloadPoints = 10;
constexpr uint32_t kUnsolicitedItemPoints = 20;
constexpr uint32_t kInvalidItemPoints = 100;

// Protocol limits of DESIGN.md §1.
constexpr std::size_t kMaxInvEntries = 50'000;
constexpr std::size_t kMaxAddrEntries = 1'000;
constexpr std::size_t kMaxHeaders = 2'000;
constexpr std::size_t kMaxLocatorHashes = 101;
constexpr uint32_t kMaxMessageBytes = 32u * 1024 * 1024;

Hash RandomHash(std::mt19937_64& rng) {
  Hash hash{};
  for (auto& byte : hash) {
    byte = static_cast<uint8_t>(rng());
  }
  return hash;
}

uint32_t ChecksumOf(const std::vector<uint8_t>& payload) {
  const Hash32 digest = Sha256d(payload);
  return static_cast<uint32_t>(digest[0]) | static_cast<uint32_t>(digest[1]) << 8 |
         static_cast<uint32_t>(digest[2]) << 16 | static_cast<uint32_t>(digest[3]) << 24;
}

std::vector<uint8_t> Text(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

// An inv/getdata payload with one entry more than MAX_INV_SZ.
std::vector<uint8_t> OversizedInventory() {
  std::mt19937_64 rng(7);
  std::vector<InvEntry> entries(kMaxInvEntries + 1);
  for (InvEntry& entry : entries) {
    entry.type = kInvTx;
    entry.hash = RandomHash(rng);
  }
  return InvPayload(entries);
}

// An addr payload with one address more than allowed.
std::vector<uint8_t> OversizedAddr() {
  ByteWriter w;
  w.CompactSize(kMaxAddrEntries + 1);
  const uint32_t now = static_cast<uint32_t>(std::time(nullptr));
  for (std::size_t i = 0; i < kMaxAddrEntries + 1; ++i) {
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9,
                                static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    w.U32(now).U64(1).Bytes(mapped, sizeof(mapped)).U16BE(18444);
  }
  return w.bytes();
}

// A headers payload with one header more than allowed (80 bytes and a zero
// transaction count each).
std::vector<uint8_t> OversizedHeaders() {
  ByteWriter w;
  w.CompactSize(kMaxHeaders + 1);
  for (std::size_t i = 0; i < kMaxHeaders + 1; ++i) {
    const std::vector<uint8_t> block =
        ToyChain::MakeBlock(Hash{}, static_cast<uint32_t>(i), 0x4ead);
    w.Bytes(block.data(), ToyChain::kHeaderSize).U8(0);
  }
  return w.bytes();
}

// A getheaders payload whose locator has one hash more than allowed.
std::vector<uint8_t> OversizedLocator() {
  std::mt19937_64 rng(101);
  ByteWriter w;
  w.U32(70001).CompactSize(kMaxLocatorHashes + 1);
  for (std::size_t i = 0; i < kMaxLocatorHashes + 1; ++i) {
    w.Hash(RandomHash(rng));
  }
  w.Hash(Hash{});  // no stop hash
  return w.bytes();
}

// An inv that promises two entries and carries one.
std::vector<uint8_t> TruncatedInv() {
  ByteWriter w;
  w.CompactSize(2).U32(kInvTx).Hash(Hash{});
  return w.bytes();
}

// The v1 table: with v2 enabled, a peer whose first bytes are not a v1 version
// frame is taken for a BIP324 handshake (transport_test.cpp covers that side).
p2pnet::Config V1Config() {
  p2pnet::Config config = RelayConfig();
  config.SetTransport(p2pnet::TransportMode::V1Only);
  return config;
}

class HostileInput : public ::testing::Test {
 protected:
  HostileInput() : target_(V1Config()) {}

  void SetUp() override { target_.Start(); }

  p2pnet_engine* engine() { return target_.net.native(); }

  // Connects from `ip`, completes the handshake and looks up the id the
  // engine gave the connection.
  std::unique_ptr<Attacker> Handshaken(const std::string& ip, uint64_t* id) {
    auto attacker = std::make_unique<Attacker>(ip, target_.port);
    if (!attacker->connected() || !attacker->Handshake() || !attacker->Barrier()) {
      ADD_FAILURE() << ip << " could not complete the handshake";
      return nullptr;
    }
    const std::optional<uint64_t> found = PeerIdByAddress(engine(), ip);
    if (!found) {
      ADD_FAILURE() << ip << " is not in p2pnet_engine_list_peers after the handshake";
      return nullptr;
    }
    EXPECT_EQ(ScoreOf(engine(), *found), std::optional<uint32_t>(0));
    *id = *found;
    return attacker;
  }

  // The disconnect event of peer `id` (waiting for it).
  std::optional<PeerLog::Event> DisconnectOf(uint64_t id) {
    if (!target_.peers.WaitForDisconnectedId(id)) {
      ADD_FAILURE() << "peer " << id << " was not disconnected";
      return std::nullopt;
    }
    for (const auto& event : target_.peers.disconnected()) {
      if (event.id == id) {
        return event;
      }
    }
    return std::nullopt;
  }

  // A framing fault: the connection closes with a protocol violation, the
  // peer leaves the list, and its address is not banned (it may come back).
  void ExpectProtocolViolation(Attacker& attacker, uint64_t id) {
    EXPECT_TRUE(attacker.WaitForClose()) << "the engine kept the connection open";
    const auto event = DisconnectOf(id);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->reason, p2pnet::DisconnectReason::ProtocolViolation) << event->detail;
    EXPECT_FALSE(FindPeer(engine(), id));
    EXPECT_TRUE(ListBans(engine()).empty()) << "a framing fault is not an offence that bans";
    uint64_t again = 0;
    EXPECT_TRUE(Handshaken(attacker.source_ip(), &again)) << "the address may reconnect";
  }

  // The offence that reached the threshold: the connection is closed with the
  // misbehaviour reason and `score`, the address is banned for 24 h, and a
  // new connection from it is refused before anything is exchanged.
  void ExpectBannedForMisbehaviour(Attacker& attacker, uint64_t id, uint32_t score) {
    EXPECT_TRUE(attacker.WaitForClose()) << "the engine kept the connection open";
    const auto event = DisconnectOf(id);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->reason, p2pnet::DisconnectReason::Misbehaviour) << event->detail;
    EXPECT_EQ(ScoreInDetail(event->detail), std::optional<uint32_t>(score)) << event->detail;
    EXPECT_FALSE(FindPeer(engine(), id));
    ExpectBanned(attacker.source_ip());
  }

  // `ip` is banned for misbehaviour, for 24 h, and refused at accept.
  void ExpectBanned(const std::string& ip) {
    const auto ban = FindBan(engine(), ip + "/32");
    ASSERT_TRUE(ban) << ip << " was not banned";
    EXPECT_NEAR(static_cast<double>(ban->until - ban->created),
                static_cast<double>(kDefaultBanSeconds), 1.0);
    EXPECT_NE(std::string(ban->reason).find("misbehaviour"), std::string::npos) << ban->reason;
    Attacker again(ip, target_.port);
    ASSERT_TRUE(again.connected());
    again.SendMessage("version", VersionPayload(0xb0b));
    EXPECT_TRUE(again.WaitForClose()) << "a banned address was let in";
    EXPECT_EQ(again.bytes_received(), 0u) << "the engine talked to a banned address";
  }

  // Commits an offence worth `points` from a fresh peer at `ip` until the
  // threshold: below it the score grows by exactly `points` each time and the
  // connection stays up; the offence that reaches it disconnects and bans.
  void ExpectScoredUntilBanned(const std::string& ip, uint32_t points,
                               const std::function<void(Attacker&, int)>& commit) {
    uint64_t id = 0;
    auto attacker = Handshaken(ip, &id);
    ASSERT_TRUE(attacker);
    const int steps = static_cast<int>((kBanThreshold + points - 1) / points);
    for (int step = 0; step + 1 < steps; ++step) {
      ASSERT_NO_FATAL_FAILURE(commit(*attacker, step));
      ASSERT_TRUE(attacker->Barrier()) << "connection lost below the threshold, step " << step;
      ASSERT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(points * (step + 1)))
          << "after offence " << step + 1;
      ASSERT_TRUE(ListBans(engine()).empty());
    }
    ASSERT_NO_FATAL_FAILURE(commit(*attacker, steps - 1));
    ExpectBannedForMisbehaviour(*attacker, id, points * static_cast<uint32_t>(steps));
  }

  // Announces `id` and waits for the engine to ask this peer for it.
  static void AnnounceAndAwaitRequest(Attacker& attacker, uint32_t type, const Hash& id) {
    ASSERT_TRUE(attacker.SendMessage("inv", InvPayload({InvEntry{type, id}})));
    const auto getdata = attacker.WaitForCommand("getdata");
    ASSERT_TRUE(getdata) << "the engine did not request an announced item";
    const auto requested = ParseInv(getdata->payload);
    ASSERT_TRUE(requested);
    const std::vector<InvEntry> expected{InvEntry{type, id}};
    ASSERT_EQ(*requested, expected);
  }

  TestNode target_;
};

TEST_F(HostileInput, WrongMagicDisconnects) {
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.1.1", &id);
  ASSERT_TRUE(attacker);
  ASSERT_TRUE(attacker->SendMessage("ping", ByteWriter().U64(1).bytes(), 0xD9B4BEF9u));
  ExpectProtocolViolation(*attacker, id);
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedLengthDisconnects) {
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.2.1", &id);
  ASSERT_TRUE(attacker);
  // One byte over the 32 MiB limit; refused from the header alone.
  ASSERT_TRUE(attacker->SendAll(MessageHeader(kRegtestMagic, "block", kMaxMessageBytes + 1, 0)));
  ExpectProtocolViolation(*attacker, id);
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, UndecodableHeaderDisconnects) {
  uint64_t id = 0;
  auto padded = Handshaken("127.1.3.1", &id);
  ASSERT_TRUE(padded);
  // The checksum is right, so the command field is the only fault.
  const uint32_t checksum = ChecksumOf({});
  // A non-NUL byte after the NUL padding starts.
  ASSERT_TRUE(padded->SendAll(
      MessageHeader(kRegtestMagic, std::string("verack\0x", 8), 0, checksum)));
  ExpectProtocolViolation(*padded, id);

  auto unprintable = Handshaken("127.1.3.2", &id);
  ASSERT_TRUE(unprintable);
  ASSERT_TRUE(unprintable->SendAll(MessageHeader(kRegtestMagic, "ver\x01" "ack", 0, checksum)));
  ExpectProtocolViolation(*unprintable, id);
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, BadChecksumDropsOnlyThatMessage) {
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.4.1", &id);
  ASSERT_TRUE(attacker);
  constexpr uint64_t kDroppedNonce = 0xbadc0ffee;
  std::vector<uint8_t> corrupt =
      Frame(kRegtestMagic, "ping", ByteWriter().U64(kDroppedNonce).bytes());
  corrupt[20] ^= 0xff;  // first checksum byte
  ASSERT_TRUE(attacker->SendAll(corrupt));
  // A transaction with a bad checksum must not reach the node either.
  std::vector<uint8_t> corrupt_tx = Frame(kRegtestMagic, "tx", Text("tx behind a bad checksum"));
  corrupt_tx[23] ^= 0x01;
  ASSERT_TRUE(attacker->SendAll(corrupt_tx));

  std::vector<RawMessage> skipped;
  ASSERT_TRUE(attacker->Barrier(&skipped)) << "the connection did not survive a bad checksum";
  for (const RawMessage& message : skipped) {
    if (message.command == "pong") {
      EXPECT_NE(ByteReader(message.payload).U64(), kDroppedNonce)
          << "the ping with a bad checksum was answered";
    }
  }
  EXPECT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(0)) << "a bad checksum is no offence";
  EXPECT_EQ(target_.txs.Total(), 0u);
  EXPECT_TRUE(target_.peers.disconnected().empty());
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, UnknownCommandIsIgnored) {
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.5.1", &id);
  ASSERT_TRUE(attacker);
  ASSERT_TRUE(attacker->SendMessage("frobnicate", Text("whatever the future brings")));
  ASSERT_TRUE(attacker->SendMessage("sendcmpct", ByteWriter().U8(0).U64(1).bytes()));
  ASSERT_TRUE(attacker->SendMessage("x", {}));
  ASSERT_TRUE(attacker->Barrier()) << "an unknown command cost the connection";
  EXPECT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(0))
      << "an unknown command is no offence";
  EXPECT_TRUE(target_.peers.disconnected().empty());
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, MalformedPayloadScoresTen) {
  const std::vector<uint8_t> truncated = TruncatedInv();
  ExpectScoredUntilBanned("127.1.6.1", kMalformedPayloadPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("inv", truncated));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedInvScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedInventory();
  ExpectScoredUntilBanned("127.1.7.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("inv", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedGetDataScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedInventory();
  ExpectScoredUntilBanned("127.1.8.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("getdata", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedAddrScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedAddr();
  ExpectScoredUntilBanned("127.1.9.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("addr", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedHeadersScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedHeaders();
  ExpectScoredUntilBanned("127.1.10.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("headers", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedNotFoundScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedInventory();
  ExpectScoredUntilBanned("127.1.18.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("notfound", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, OversizedLocatorScoresTwenty) {
  const std::vector<uint8_t> payload = OversizedLocator();
  ExpectScoredUntilBanned("127.1.19.1", kOversizedListPoints, [&](Attacker& attacker, int) {
    ASSERT_TRUE(attacker.SendMessage("getheaders", payload));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, UnsolicitedBlockScoresTwenty) {
  const uint32_t tag = NextItemTag();
  ExpectScoredUntilBanned("127.1.11.1", kUnsolicitedItemPoints, [&](Attacker& attacker, int step) {
    ASSERT_TRUE(attacker.SendMessage(
        "block", ToyChain::MakeBlock(Hash{}, static_cast<uint32_t>(step + 1), tag)));
  });
  EXPECT_EQ(target_.blocks.Total(), 0u) << "an unsolicited block reached the node";
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, MismatchedTxScoresTwenty) {
  // The peer announces one id and, asked for it, delivers a transaction
  // with another: an item nobody requested.
  std::mt19937_64 rng(12);
  ExpectScoredUntilBanned("127.1.12.1", kUnsolicitedItemPoints, [&](Attacker& attacker, int step) {
    ASSERT_NO_FATAL_FAILURE(AnnounceAndAwaitRequest(attacker, kInvTx, RandomHash(rng)));
    ASSERT_TRUE(attacker.SendMessage("tx", Text("not the announced tx #" + std::to_string(step))));
  });
  EXPECT_EQ(target_.txs.Total(), 0u) << "a mismatched transaction reached the node";
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, MessageBeforeVersionScoresOne) {
  // 99 messages before version cost 99 points; the score shows once the
  // handshake is done.
  {
    Attacker attacker("127.1.13.1", target_.port);
    ASSERT_TRUE(attacker.connected());
    for (uint32_t i = 0; i + 1 < kBanThreshold; ++i) {
      ASSERT_TRUE(attacker.SendMessage("getaddr", {}));
    }
    ASSERT_TRUE(attacker.Handshake());
    std::vector<RawMessage> skipped;
    ASSERT_TRUE(attacker.Barrier(&skipped));
    for (const RawMessage& message : skipped) {
      EXPECT_NE(message.command, "addr") << "a getaddr sent before version was answered";
    }
    const auto id = PeerIdByAddress(engine(), "127.1.13.1");
    ASSERT_TRUE(id);
    EXPECT_EQ(ScoreOf(engine(), *id),
              std::optional<uint32_t>((kBanThreshold - 1) * kMessageBeforeVersionPoints));
    EXPECT_TRUE(ListBans(engine()).empty());
  }
  // The hundredth closes the connection before any handshake and bans.
  Attacker attacker("127.1.13.2", target_.port);
  ASSERT_TRUE(attacker.connected());
  for (uint32_t i = 0; i < kBanThreshold; ++i) {
    if (!attacker.SendMessage("getaddr", {})) {
      break;  // already closed
    }
  }
  EXPECT_TRUE(attacker.WaitForClose());
  EXPECT_EQ(attacker.bytes_received(), 0u) << "the engine answered a peer without a version";
  std::optional<PeerLog::Event> misbehaviour;
  EXPECT_TRUE(PollUntil([&] {
    for (const auto& event : target_.peers.disconnected()) {
      if (event.reason == p2pnet::DisconnectReason::Misbehaviour) {
        misbehaviour = event;
      }
    }
    return misbehaviour.has_value();
  })) << "no misbehaviour disconnect for 100 messages before version";
  if (misbehaviour) {
    EXPECT_EQ(ScoreInDetail(misbehaviour->detail), std::optional<uint32_t>(kBanThreshold))
        << misbehaviour->detail;
  }
  ExpectBanned("127.1.13.2");
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, DuplicateVersionScoresOne) {
  ExpectScoredUntilBanned("127.1.14.1", kDuplicateVersionPoints, [](Attacker& attacker, int step) {
    const uint64_t nonce = 0xd0b1e000u + static_cast<uint64_t>(step);
    ASSERT_TRUE(attacker.SendMessage("version", VersionPayload(nonce)));
  });
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, InvalidVerdictScoresHundred) {
  const std::vector<uint8_t> block = ToyChain::MakeBlock(Hash{}, 1, NextItemTag());
  const Hash bad_id = ToyChain::IdOf(block.data());
  target_.blocks.SetDecider(
      [bad_id](const Hash& id) { return id == bad_id ? Verdict::Invalid : Verdict::Accepted; });
  ExpectScoredUntilBanned("127.1.15.1", kInvalidItemPoints, [&](Attacker& attacker, int) {
    ASSERT_NO_FATAL_FAILURE(AnnounceAndAwaitRequest(attacker, kInvBlock, bad_id));
    ASSERT_TRUE(attacker.SendMessage("block", block));
  });
  EXPECT_EQ(target_.blocks.Count(bad_id), 1);
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, InvalidVerdictReportedLaterScoresHundred) {
  const std::vector<uint8_t> tx = Text("a transaction the node rejects after validating it later");
  const Hash pending_id = Sha256d(tx);
  target_.txs.SetDecider([pending_id](const Hash& id) {
    return id == pending_id ? Verdict::Pending : Verdict::Accepted;
  });
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.16.1", &id);
  ASSERT_TRUE(attacker);
  ASSERT_NO_FATAL_FAILURE(AnnounceAndAwaitRequest(*attacker, kInvTx, pending_id));
  ASSERT_TRUE(attacker->SendMessage("tx", tx));
  ASSERT_TRUE(target_.txs.WaitFor(pending_id));
  ASSERT_TRUE(attacker->Barrier());
  EXPECT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(0)) << "a pending item is no offence";

  // The engine records the pending item once the callback has returned.
  p2pnet_result reported = P2PNET_ERR_NOT_FOUND;
  ASSERT_TRUE(PollUntil([&] {
    reported = p2pnet_engine_report_verdict(engine(), pending_id.data(), P2PNET_VERDICT_INVALID);
    return reported != P2PNET_ERR_NOT_FOUND;
  })) << "the pending transaction never became reportable";
  ASSERT_EQ(reported, P2PNET_OK) << p2pnet_last_error_message();
  ExpectBannedForMisbehaviour(*attacker, id, kInvalidItemPoints);
  EXPECT_EQ(p2pnet_engine_report_verdict(engine(), pending_id.data(), P2PNET_VERDICT_INVALID),
            P2PNET_ERR_NOT_FOUND)
      << "a verdict counts once";
  ExpectHonestPeerServed(target_);
}

TEST_F(HostileInput, NodeAddedScoreCounts) {
  uint64_t id = 0;
  auto attacker = Handshaken("127.1.17.1", &id);
  ASSERT_TRUE(attacker);
  ASSERT_EQ(p2pnet_engine_report_misbehaviour(engine(), id, 37, "test: first report"), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(37));
  ASSERT_TRUE(attacker->Barrier()) << "37 points cost the connection";
  ASSERT_EQ(p2pnet_engine_report_misbehaviour(engine(), id, 62, nullptr), P2PNET_OK);
  EXPECT_EQ(ScoreOf(engine(), id), std::optional<uint32_t>(99));
  ASSERT_TRUE(attacker->Barrier()) << "99 points cost the connection";
  ASSERT_EQ(p2pnet_engine_report_misbehaviour(engine(), id, 1, "test: the last straw"), P2PNET_OK);
  ExpectBannedForMisbehaviour(*attacker, id, kBanThreshold);
  ExpectHonestPeerServed(target_);
}

}  // namespace
}  // namespace p2pnet_test
