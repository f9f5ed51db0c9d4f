// Bans through the C API: subnet bans refuse connections at accept, a new ban
// drops connections already open, bans persist in the data directory, expire,
// are bounded by the configured cap, and IPv6 subnets work like IPv4 ones.
// Attackers use 127.3.x.y (and 127.0.0.2 for the 127.0.0.0/24 case).
#include "attacker_support.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <memory>

namespace p2pnet_test {
namespace {


std::vector<std::string> ListedSubnets(const p2pnet_engine* engine) {
  std::vector<std::string> subnets;
  for (const p2pnet_ban_entry& ban : ListBans(engine)) {
    subnets.emplace_back(ban.subnet);
  }
  return subnets;
}

// Connecting from `ip` gets the connection closed without a byte from the
// engine, even though we send a version.
void ExpectRefusedAtAccept(const std::string& ip, uint16_t port,
                           const std::string& target_ip = "127.0.0.1") {
  Attacker attacker(ip, port, target_ip);
  ASSERT_TRUE(attacker.connected());
  attacker.SendMessage("version", VersionPayload(0x5ca1ab1e));
  EXPECT_TRUE(attacker.WaitForClose()) << ip << " was let in";
  EXPECT_EQ(attacker.bytes_received(), 0u) << "the engine spoke to banned " << ip;
}


bool Ipv6LoopbackAvailable() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return bound;
}

TEST(Bans, SubnetBanRefusesConnectionAtAccept) {
  TestNode target(RelayConfig());
  target.Start();
  ASSERT_EQ(p2pnet_engine_ban(target.net.native(), "127.0.0.0/24", 3600, "test: subnet"), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(ListedSubnets(target.net.native()), std::vector<std::string>{"127.0.0.0/24"});

  ExpectRefusedAtAccept("127.0.0.2", target.port);
  // Just outside the subnet is fine.
  Attacker outside("127.0.1.2", target.port);
  ASSERT_TRUE(outside.Handshake());
  ASSERT_TRUE(outside.Barrier());

  // The refused connection never became a peer: the only connection the node
  // heard of is the one from outside.
  ASSERT_TRUE(target.peers.WaitForConnected(1));
  EXPECT_EQ(target.peers.connected().size(), 1u);
  EXPECT_EQ(target.peers.connected()[0].address, "127.0.1.2");
  EXPECT_TRUE(target.peers.disconnected().empty()) << "a refused connection was reported";
}

TEST(Bans, NewBanDropsOpenConnections) {
  TestNode target(RelayConfig());
  target.Start();
  p2pnet_engine* engine = target.net.native();
  Attacker first("127.3.2.1", target.port);
  Attacker second("127.3.2.2", target.port);
  Attacker bystander("127.3.3.1", target.port);
  for (Attacker* attacker : {&first, &second, &bystander}) {
    ASSERT_TRUE(attacker->Handshake());
    ASSERT_TRUE(attacker->Barrier());
  }
  const auto first_id = PeerIdByAddress(engine, "127.3.2.1");
  const auto second_id = PeerIdByAddress(engine, "127.3.2.2");
  ASSERT_TRUE(first_id && second_id);

  ASSERT_EQ(p2pnet_engine_ban(engine, "127.3.2.0/24", 600, "test: drop open connections"), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_TRUE(first.WaitForClose());
  EXPECT_TRUE(second.WaitForClose());
  for (uint64_t id : {*first_id, *second_id}) {
    ASSERT_TRUE(target.peers.WaitForDisconnectedId(id));
    for (const auto& event : target.peers.disconnected()) {
      if (event.id == id) {
        EXPECT_EQ(event.reason, p2pnet::DisconnectReason::Banned) << event.detail;
      }
    }
  }
  EXPECT_TRUE(bystander.Barrier()) << "a ban of 127.3.2.0/24 dropped 127.3.3.1";
  EXPECT_EQ(target.peers.disconnected().size(), 2u);
  ExpectRefusedAtAccept("127.3.2.77", target.port);
  ExpectHonestPeerServed(target);
}

TEST(Bans, BansSurviveRestartWithSameDataDir) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::vector<p2pnet_ban_entry> before;
  {
    p2pnet::Config config = RelayConfig();
    config.SetDataDir(dir.path());
    TestNode first(config);
    first.Start();
    p2pnet_engine* engine = first.net.native();
    ASSERT_EQ(p2pnet_engine_ban(engine, "127.3.4.0/24", 3600, "test: persisted subnet"), P2PNET_OK)
        << p2pnet_last_error_message();
    // A misbehaviour ban is persisted too.
    Attacker offender("127.3.5.1", first.port);
    ASSERT_TRUE(offender.Handshake());
    ASSERT_TRUE(offender.Barrier());
    const auto id = PeerIdByAddress(engine, "127.3.5.1");
    ASSERT_TRUE(id);
    ASSERT_EQ(p2pnet_engine_report_misbehaviour(engine, *id, kBanThreshold,
                                                "test: persisted offence"), P2PNET_OK);
    EXPECT_TRUE(offender.WaitForClose());
    before = ListBans(engine);
    ASSERT_EQ(before.size(), 2u);
  }  // stopped and freed
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/banlist.dat"))
      << "no ban list file in the data directory";

  p2pnet::Config config = RelayConfig();
  config.SetDataDir(dir.path());
  TestNode second(config);
  second.Start();
  const std::vector<p2pnet_ban_entry> after = ListBans(second.net.native());
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_STREQ(after[i].subnet, before[i].subnet);
    EXPECT_EQ(after[i].created, before[i].created);
    EXPECT_EQ(after[i].until, before[i].until);
    EXPECT_STREQ(after[i].reason, before[i].reason);
  }
  EXPECT_EQ(ListedSubnets(second.net.native()),
            (std::vector<std::string>{"127.3.4.0/24", "127.3.5.1/32"}));
  ExpectRefusedAtAccept("127.3.4.9", second.port);
  ExpectRefusedAtAccept("127.3.5.1", second.port);
  ExpectHonestPeerServed(second);
}

TEST(Bans, ExpiredBanLetsPeerBackIn) {
  TestNode target(RelayConfig());
  target.Start();
  p2pnet_engine* engine = target.net.native();
  const int64_t until = UnixNow() + 2;
  ASSERT_EQ(p2pnet_engine_ban_until(engine, "127.3.6.1", until, "test: short ban"), P2PNET_OK)
      << p2pnet_last_error_message();
  ASSERT_EQ(ListedSubnets(engine), std::vector<std::string>{"127.3.6.1/32"});
  ExpectRefusedAtAccept("127.3.6.1", target.port);

  // The list drops the ban once it ends; from then on the peer is admitted.
  ASSERT_TRUE(PollUntil([&] { return ListBans(engine).empty(); }, std::chrono::seconds(5)))
      << "the ban did not expire";
  EXPECT_GE(UnixNow(), until) << "the ban ended early";
  Attacker returning("127.3.6.1", target.port);
  ASSERT_TRUE(returning.Handshake()) << "an expired ban still refused the peer";
  ASSERT_TRUE(returning.Barrier());
  EXPECT_TRUE(PeerIdByAddress(engine, "127.3.6.1"));
}

TEST(Bans, BanListIsCapped) {
  constexpr uint32_t kMaxBans = 5;
  constexpr int kBans = 8;
  p2pnet::Config config = RelayConfig();
  ASSERT_EQ(p2pnet_config_set_max_bans(config.native(), kMaxBans), P2PNET_OK)
      << p2pnet_last_error_message();
  TestNode target(config);
  target.Start();
  p2pnet_engine* engine = target.net.native();

  // Each new ban lasts longer than the ones before it, so the one ending
  // soonest gives way each time the list is full.
  for (int i = 0; i < kBans; ++i) {
    const std::string subnet = "127.3.7." + std::to_string(i + 1);
    ASSERT_EQ(p2pnet_engine_ban(engine, subnet.c_str(), 1000 + 100 * static_cast<uint64_t>(i), nullptr),
              P2PNET_OK)
        << subnet << ": " << p2pnet_last_error_message();
    EXPECT_EQ(ListBans(engine).size(), std::min<std::size_t>(i + 1, kMaxBans));
  }
  EXPECT_EQ(ListedSubnets(engine),
            (std::vector<std::string>{"127.3.7.4/32", "127.3.7.5/32", "127.3.7.6/32",
                                      "127.3.7.7/32", "127.3.7.8/32"}));

  // A ban shorter than every stored one does not displace any of them.
  EXPECT_EQ(p2pnet_engine_ban(engine, "127.3.8.1", 10, nullptr), P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ListBans(engine).size(), kMaxBans);
  EXPECT_FALSE(FindBan(engine, "127.3.8.1/32"));

  // A misbehaviour ban (24 h) outlasts them all and still fits under the cap.
  Attacker offender("127.3.9.1", target.port);
  ASSERT_TRUE(offender.Handshake());
  ASSERT_TRUE(offender.Barrier());
  const auto id = PeerIdByAddress(engine, "127.3.9.1");
  ASSERT_TRUE(id);
  ASSERT_EQ(p2pnet_engine_report_misbehaviour(engine, *id, kBanThreshold, nullptr), P2PNET_OK);
  EXPECT_TRUE(offender.WaitForClose());
  EXPECT_EQ(ListBans(engine).size(), kMaxBans);
  EXPECT_TRUE(FindBan(engine, "127.3.9.1/32"));
  EXPECT_FALSE(FindBan(engine, "127.3.7.4/32")) << "the ban ending soonest should give way";
}

TEST(Bans, Ipv6SubnetsAreParsedAndListed) {
  TestNode target(RelayConfig());
  target.Start();
  p2pnet_engine* engine = target.net.native();
  // Host bits are cleared, addresses without a prefix are single hosts.
  ASSERT_EQ(p2pnet_engine_ban(engine, "2001:db8:1234::5/32", 600, nullptr), P2PNET_OK)
      << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_engine_ban(engine, "fd00::1", 600, nullptr),
            P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_engine_ban(engine, "2001:db8::/129", 600, nullptr), P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(p2pnet_engine_ban(engine, "2001:db8::g", 600, nullptr), P2PNET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ListedSubnets(engine), (std::vector<std::string>{"2001:db8::/32", "fd00::1/128"}));
  ASSERT_EQ(p2pnet_engine_unban(engine, "2001:db8::/32"), P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_EQ(ListedSubnets(engine), std::vector<std::string>{"fd00::1/128"});
}

TEST(Bans, Ipv6LoopbackBanDropsAndRefuses) {
  if (!Ipv6LoopbackAvailable()) {
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  p2pnet::Config config = RelayConfig();
  config.SetListenAddress("[::1]:0");
  TestNode target(config, "::1");
  target.Start();
  p2pnet_engine* engine = target.net.native();

  Attacker attacker("::1", target.port, "::1");
  ASSERT_TRUE(attacker.Handshake());
  ASSERT_TRUE(attacker.Barrier());
  const auto id = PeerIdByAddress(engine, "::1");
  ASSERT_TRUE(id) << "the IPv6 peer is not listed as ::1";

  ASSERT_EQ(p2pnet_engine_ban(engine, "::1/128", 600, "test: ipv6 loopback"), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(ListedSubnets(engine), std::vector<std::string>{"::1/128"});
  EXPECT_TRUE(attacker.WaitForClose());
  ASSERT_TRUE(target.peers.WaitForDisconnectedId(*id));
  EXPECT_EQ(target.peers.disconnected()[0].reason, p2pnet::DisconnectReason::Banned);
  ExpectRefusedAtAccept("::1", target.port, "::1");
}

}  // namespace
}  // namespace p2pnet_test
