// Address relay on the wire (BIP155): a peer that sent sendaddrv2 before its
// verack gets addresses as addrv2, others as addr; received addrv2 entries of
// IP networks join the address book, other networks are dropped.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace p2pnet_test {
namespace {

constexpr uint8_t kNetIpv4 = 1;
constexpr uint8_t kNetIpv6 = 2;
constexpr uint8_t kNetTorV3 = 4;

/// One addrv2 entry as it goes on the wire (the port in network byte order).
struct AddrV2 {
  uint8_t network = 0;
  std::vector<uint8_t> address;
  uint16_t port = 0;
  bool operator==(const AddrV2& other) const {
    return network == other.network && address == other.address && port == other.port;
  }
};

std::vector<uint8_t> AddrV2Payload(const std::vector<AddrV2>& entries) {
  ByteWriter w;
  w.CompactSize(entries.size());
  for (const AddrV2& entry : entries) {
    w.U32(static_cast<uint32_t>(std::time(nullptr)))
        .CompactSize(9)  // NODE_NETWORK | NODE_WITNESS
        .U8(entry.network)
        .CompactSize(entry.address.size())
        .Bytes(entry.address)
        .U16BE(entry.port);
  }
  return w.bytes();
}

/// The entries of an addrv2 payload, or nullopt if it is malformed.
std::optional<std::vector<AddrV2>> ParseAddrV2(const std::vector<uint8_t>& payload) {
  ByteReader r(payload);
  const uint64_t count = r.CompactSize();
  std::vector<AddrV2> entries;
  for (uint64_t i = 0; r.ok() && i < count; ++i) {
    AddrV2 entry;
    r.U32();          // time
    r.CompactSize();  // services
    entry.network = r.U8();
    entry.address.resize(r.CompactSize());
    for (auto& byte : entry.address) {
      byte = r.U8();
    }
    entry.port = static_cast<uint16_t>(r.U8() << 8);
    entry.port = static_cast<uint16_t>(entry.port | r.U8());
    entries.push_back(entry);
  }
  if (!r.ok() || !r.at_end()) {
    return std::nullopt;
  }
  return entries;
}

/// The 16-byte addresses of an addr payload, or nullopt if it is malformed.
std::optional<std::vector<std::vector<uint8_t>>> ParseAddrIps(const std::vector<uint8_t>& payload) {
  ByteReader r(payload);
  const uint64_t count = r.CompactSize();
  std::vector<std::vector<uint8_t>> ips;
  for (uint64_t i = 0; r.ok() && i < count; ++i) {
    r.U32();  // time
    r.U64();  // services
    std::vector<uint8_t> ip(16);
    for (auto& byte : ip) {
      byte = r.U8();
    }
    r.Skip(2);  // port
    ips.push_back(ip);
  }
  if (!r.ok() || !r.at_end()) {
    return std::nullopt;
  }
  return ips;
}

/// A raw peer at protocol 70016 that completed its handshake, announcing
/// `before_verack` between version and verack.
std::unique_ptr<RawSocket> Connected70016(TestNode& node, std::vector<std::string> before_verack,
                                          uint64_t nonce) {
  auto raw = std::make_unique<RawSocket>(node.port);
  EXPECT_TRUE(raw->connected());
  RawSocket::HandshakeOptions options;
  options.protocol_version = 70016;
  options.before_verack = std::move(before_verack);
  EXPECT_TRUE(raw->Handshake(nonce, 0, options));
  return raw;
}

/// Reads `raw`'s messages up to the answer to a ping: everything the engine sent
/// it before reading the ping.
std::vector<RawMessage> Drain(RawSocket& raw, uint64_t nonce) {
  std::vector<RawMessage> messages;
  EXPECT_TRUE(raw.SendMessage("ping", ByteWriter().U64(nonce).bytes()));
  EXPECT_TRUE(raw.WaitForCommand("pong", kDeadline, &messages));
  return messages;
}

// Fresh addresses a peer announces are relayed at once to two other peers (here
// the two learners), each in the format it asked for.
TEST(AddressRelay, Addrv2IsTakenAndRelayedInTheFormatEachPeerAskedFor) {
  TestNode e(RelayConfig());
  e.Start();
  auto v2_learner = Connected70016(e, {"sendaddrv2"}, 0x1ea2);
  auto v1_learner = Connected70016(e, {}, 0x1ea1);
  ASSERT_TRUE(e.peers.WaitForConnected(2));
  Drain(*v2_learner, 1);
  Drain(*v1_learner, 1);

  // Routable addresses: the book refuses documentation and private ranges.
  const AddrV2 ipv4{kNetIpv4, {93, 184, 216, 34}, 8333};
  const AddrV2 ipv6{kNetIpv6, {0x2a, 0x00, 0x14, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 18444};
  const AddrV2 tor{kNetTorV3, std::vector<uint8_t>(32, 0xab), 9050};
  const AddrV2 unknown{0x2a, {1, 2, 3, 4, 5}, 1};
  // An inbound peer may send one address at first (Bitcoin Core's token bucket), so
  // each entry comes from a teacher of its own, gone before the next arrives.
  uint64_t nonce = 0x7ea;
  for (const AddrV2& entry : {ipv4, tor, ipv6, unknown}) {
    const std::size_t before = e.peers.connected().size();
    auto teacher = Connected70016(e, {"sendaddrv2"}, ++nonce);
    ASSERT_TRUE(e.peers.WaitForConnected(before + 1));
    const uint64_t teacher_id = e.peers.connected().back().id;
    ASSERT_TRUE(teacher->SendMessage("addrv2", AddrV2Payload({entry})));
    Drain(*teacher, nonce);
    teacher.reset();
    ASSERT_TRUE(e.peers.WaitForDisconnectedId(teacher_id));
  }
  EXPECT_EQ(e.net.AddressCount(), 2u) << "IPv4 and IPv6 kept, Tor and the unknown network not";

  std::vector<AddrV2> relayed_v2;
  for (const RawMessage& message : Drain(*v2_learner, 2)) {
    EXPECT_NE(message.command, "addr") << "the learner asked for addrv2";
    if (message.command == "addrv2") {
      auto entries = ParseAddrV2(message.payload);
      ASSERT_TRUE(entries);
      relayed_v2.insert(relayed_v2.end(), entries->begin(), entries->end());
    }
  }
  EXPECT_EQ(relayed_v2, (std::vector<AddrV2>{ipv4, ipv6}));

  std::vector<std::vector<uint8_t>> relayed_v1;
  for (const RawMessage& message : Drain(*v1_learner, 2)) {
    EXPECT_NE(message.command, "addrv2") << "the learner did not send sendaddrv2";
    if (message.command == "addr") {
      auto ips = ParseAddrIps(message.payload);
      ASSERT_TRUE(ips);
      relayed_v1.insert(relayed_v1.end(), ips->begin(), ips->end());
    }
  }
  const std::vector<uint8_t> mapped_ipv4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 93, 184, 216, 34};
  EXPECT_EQ(relayed_v1, (std::vector<std::vector<uint8_t>>{mapped_ipv4, ipv6.address}));
}

}  // namespace
}  // namespace p2pnet_test
