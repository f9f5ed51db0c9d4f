// DNS seeds through the C API, against a small authoritative DNS server the
// test runs on a loopback UDP port: an engine configured with only a seed name
// and that server (p2pnet_config_set_dns_server, p2pnet_config_add_dns_seed)
// asks it at start, puts the answers in its address book and connects out to
// exactly the engines the answer names; p2pnet_engine_query_dns_seeds asks
// again (and is INVALID_STATE without seeds or before start); a seed the server
// answers NXDOMAIN is logged as a warning while the other seeds still serve.
// Engines listen on 127.6.x.y, one port per test shared by all its listeners
// (a seed carries a single port).
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace p2pnet_test {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kClassIn = 1;
constexpr uint8_t kRcodeNoError = 0;
constexpr uint8_t kRcodeFormErr = 1;
constexpr uint8_t kRcodeNxDomain = 3;
constexpr uint8_t kRcodeNotImp = 4;

// Names ("seed.p2pnet.test.", lower case) and the dotted IPv4 addresses they have.
using Zone = std::map<std::string, std::vector<std::string>>;

// One query the server answered.
struct DnsQuery {
  std::string name;  // lower case, with the trailing dot
  uint16_t type;
  uint8_t rcode;
};

// A minimal authoritative DNS server on 127.0.0.1 (UDP, OS-chosen port). Names
// in the zone answer A queries (class IN) with their IPv4 addresses and every
// other type with NOERROR and no records; other names get NXDOMAIN. Answers
// echo the id, the opcode, RD and the question, and set QR, AA and RA. Stops
// and joins its thread on destruction.
class DnsServer {
 public:
  explicit DnsServer(Zone zone) : zone_(std::move(zone)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      ADD_FAILURE() << "socket: " << std::strerror(errno);
      return;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "bind: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(address.sin_port);
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    thread_ = std::thread([this] { Serve(); });
  }

  ~DnsServer() {
    if (thread_.joinable()) {
      const char byte = 0;
      while (::write(wake_[1], &byte, 1) < 0 && errno == EINTR) {
      }
      thread_.join();
    }
    for (int fd : {fd_, wake_[0], wake_[1]}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }

  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // "127.0.0.1:PORT", for p2pnet_config_set_dns_server.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Answered queries for `name` of `type`.
  std::size_t Answered(const std::string& name, uint16_t type) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return AnsweredLocked(name, type);
  }

  // Waits until more than `count` queries for `name` of `type` were answered.
  bool WaitForMoreThan(const std::string& name, uint16_t type, std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline,
                             [&] { return AnsweredLocked(name, type) > count; });
  }

  std::vector<DnsQuery> queries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queries_;
  }

 private:
  std::size_t AnsweredLocked(const std::string& name, uint16_t type) const {
    return static_cast<std::size_t>(
        std::count_if(queries_.begin(), queries_.end(),
                      [&](const DnsQuery& q) { return q.name == name && q.type == type; }));
  }

  void Serve() {
    for (;;) {
      pollfd descriptors[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      const int ready = ::poll(descriptors, 2, -1);
      if (ready < 0 && errno == EINTR) {
        continue;
      }
      if (ready < 0 || descriptors[1].revents != 0) {
        return;
      }
      uint8_t buffer[1500];
      sockaddr_in from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = ::recvfrom(fd_, buffer, sizeof(buffer), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n <= 0) {
        continue;
      }
      std::vector<uint8_t> response;
      DnsQuery query{};
      if (!Answer(buffer, static_cast<std::size_t>(n), &response, &query)) {
        continue;  // not a query at all: no answer
      }
      // Counted before it is sent, so the engine never sees an answer the
      // count does not include yet.
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queries_.push_back(query);
        changed_.notify_all();
      }
      ::sendto(fd_, response.data(), response.size(), 0, reinterpret_cast<const sockaddr*>(&from),
               from_length);
    }
  }

  // Builds the response to one datagram; false if it is not a query to answer.
  bool Answer(const uint8_t* packet, std::size_t length, std::vector<uint8_t>* response,
              DnsQuery* query) const {
    if (length < 12) {
      return false;
    }
    const uint16_t flags = static_cast<uint16_t>(packet[2] << 8 | packet[3]);
    if ((flags & 0x8000) != 0) {
      return false;  // a response, not a query
    }
    const uint8_t opcode = static_cast<uint8_t>((flags >> 11) & 0x0F);
    const uint16_t question_count = static_cast<uint16_t>(packet[4] << 8 | packet[5]);
    // The question: labels up to the root, then type and class. No
    // compression pointers in a question (nothing precedes it to point at).
    std::size_t offset = 12;
    std::string name;
    bool well_formed = question_count == 1;
    while (well_formed) {
      if (offset >= length) {
        well_formed = false;
        break;
      }
      const uint8_t label = packet[offset++];
      if (label == 0) {
        break;
      }
      if (label > 63 || offset + label > length || name.size() + label + 1 > 254) {
        well_formed = false;
        break;
      }
      for (std::size_t i = 0; i < label; ++i) {
        name.push_back(static_cast<char>(std::tolower(packet[offset + i])));
      }
      name.push_back('.');
      offset += label;
    }
    if (well_formed && offset + 4 > length) {
      well_formed = false;
    }
    const std::size_t question_end = well_formed ? offset + 4 : 12;
    query->name = name.empty() ? "." : name;
    const auto u16_at = [packet](std::size_t at) {
      return static_cast<uint16_t>(packet[at] << 8 | packet[at + 1]);
    };
    query->type = well_formed ? u16_at(offset) : 0;
    const uint16_t qclass = well_formed ? u16_at(offset + 2) : 0;

    std::vector<std::array<uint8_t, 4>> answers;
    uint8_t rcode = kRcodeNoError;
    if (!well_formed) {
      rcode = kRcodeFormErr;
    } else if (opcode != 0) {
      rcode = kRcodeNotImp;
    } else {
      const auto entry = zone_.find(query->name);
      if (entry == zone_.end()) {
        rcode = kRcodeNxDomain;
      } else if (query->type == kTypeA && qclass == kClassIn) {
        for (const std::string& ip : entry->second) {
          std::array<uint8_t, 4> bytes{};
          if (::inet_pton(AF_INET, ip.c_str(), bytes.data()) == 1) {
            answers.push_back(bytes);
          }
        }
      }
    }
    query->rcode = rcode;

    std::vector<uint8_t>& out = *response;
    out.assign(packet, packet + 2);  // id
    // QR, the query's opcode, AA, the query's RD, RA, then the response code.
    out.push_back(static_cast<uint8_t>(0x80 | opcode << 3 | 0x04 | (flags >> 8 & 0x01)));
    out.push_back(static_cast<uint8_t>(0x80 | rcode));
    const uint16_t echoed = well_formed ? 1 : 0;
    const uint16_t answer_count = static_cast<uint16_t>(answers.size());
    // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    for (uint16_t count : {echoed, answer_count, uint16_t{0}, uint16_t{0}}) {
      out.push_back(static_cast<uint8_t>(count >> 8));
      out.push_back(static_cast<uint8_t>(count));
    }
    out.insert(out.end(), packet + 12, packet + question_end);
    for (const auto& ip : answers) {
      const uint8_t record[] = {0xC0, 0x0C,                   // the question's name
                                0x00, kTypeA, 0x00, kClassIn,  // A, IN
                                0x00, 0x00, 0x00, 60,          // TTL 60 s
                                0x00, 0x04};                   // RDLENGTH
      out.insert(out.end(), std::begin(record), std::end(record));
      out.insert(out.end(), ip.begin(), ip.end());
    }
    return true;
  }

  const Zone zone_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<DnsQuery> queries_;
};

struct LogRecord {
  p2pnet_log_level level;
  std::string message;
};

// Collects an engine's log records. Must outlive the engine it is attached to.
class LogRecorder {
 public:
  void Attach(p2pnet_engine* engine) {
    ASSERT_EQ(p2pnet_engine_set_on_log(engine, P2PNET_LOG_INFO, &OnLog, this, nullptr), P2PNET_OK)
        << p2pnet_last_error_message();
  }

  // Records whose message contains every one of `parts`.
  std::vector<LogRecord> Matching(const std::vector<std::string>& parts) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return MatchingLocked(parts);
  }

  // Waits until more than `count` records contain every one of `parts`.
  bool WaitForMoreThan(const std::vector<std::string>& parts, std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return MatchingLocked(parts).size() > count; });
  }

 private:
  std::vector<LogRecord> MatchingLocked(const std::vector<std::string>& parts) const {
    std::vector<LogRecord> found;
    for (const LogRecord& record : records_) {
      if (std::all_of(parts.begin(), parts.end(), [&](const std::string& part) {
            return record.message.find(part) != std::string::npos;
          })) {
        found.push_back(record);
      }
    }
    return found;
  }

  static void OnLog(void* user_data, p2pnet_log_level level, const char*, const char* message) {
    auto* self = static_cast<LogRecorder*>(user_data);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->records_.push_back(LogRecord{level, message != nullptr ? message : ""});
    self->changed_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LogRecord> records_;
};

// A started regtest engine listening on `ip`:`port` (0: any), not dialling out.
EnginePtr StartListener(const std::string& ip, uint16_t port, EventRecorder& events) {
  ConfigPtr config = MakeLoopbackConfig();
  const std::string listen = ip + ":" + std::to_string(port);
  EXPECT_EQ(p2pnet_config_set_listen_address(config.get(), listen.c_str()), P2PNET_OK)
      << p2pnet_last_error_message();
  EnginePtr engine = MakeEngine(config.get());
  if (!engine) {
    return engine;
  }
  events.Attach(engine.get());
  EXPECT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK)
      << listen << ": " << p2pnet_last_error_message();
  return engine;
}

// A regtest config for the engine under test: no listener (so it advertises no
// address of its own and its book holds only what the seeds said), automatic
// outbound connections on, local addresses accepted, seeds resolved by `dns`.
ConfigPtr SeededConfig(const DnsServer& dns) {
  p2pnet_config* raw = nullptr;
  EXPECT_EQ(p2pnet_config_new(P2PNET_NETWORK_REGTEST, &raw), P2PNET_OK)
      << p2pnet_last_error_message();
  ConfigPtr config(raw);
  if (!config) {
    return config;
  }
  EXPECT_EQ(p2pnet_config_set_listen_address(config.get(), ""), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_config_set_max_outbound(config.get(), 8), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_config_set_allow_local_addresses(config.get(), true), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_config_set_dns_server(config.get(), dns.address().c_str()), P2PNET_OK)
      << p2pnet_last_error_message();
  return config;
}

std::size_t AddressCount(const p2pnet_engine* engine) {
  std::size_t count = 0;
  EXPECT_EQ(p2pnet_engine_get_address_count(engine, &count), P2PNET_OK)
      << p2pnet_last_error_message();
  return count;
}

// "address:port" of every outbound peer in `peers`, and how many were inbound.
std::multiset<std::string> OutboundEndpoints(const std::vector<p2pnet_peer_info>& peers,
                                             std::size_t* inbound = nullptr) {
  std::multiset<std::string> endpoints;
  for (const p2pnet_peer_info& peer : peers) {
    if (peer.inbound) {
      if (inbound != nullptr) {
        ++*inbound;
      }
      continue;
    }
    endpoints.insert(std::string(peer.address) + ":" + std::to_string(peer.port));
  }
  return endpoints;
}

const std::string kSeed = "seed.p2pnet.test";
const std::string kSeedFqdn = "seed.p2pnet.test.";

// With only a seed name configured, the engine asks the DNS server at start,
// learns the three addresses of the answer, and fills its outbound slots with
// exactly those three engines; a fourth engine on the same port that the
// answer does not name is never dialled.
TEST(DnsSeed, SeedAnswerFillsOutboundSlots) {
  const std::vector<std::string> seeded = {"127.6.0.1", "127.6.0.2", "127.6.0.3"};
  std::vector<EventRecorder> listener_events(seeded.size());
  EventRecorder decoy_events;
  std::vector<EnginePtr> listeners;
  listeners.push_back(StartListener(seeded[0], 0, listener_events[0]));
  ASSERT_TRUE(listeners[0]);
  const uint16_t port = ListenPort(listeners[0].get());
  for (std::size_t i = 1; i < seeded.size(); ++i) {
    listeners.push_back(StartListener(seeded[i], port, listener_events[i]));
    ASSERT_TRUE(listeners[i]);
  }
  EnginePtr decoy = StartListener("127.6.0.4", port, decoy_events);
  ASSERT_TRUE(decoy);

  DnsServer dns(Zone{{kSeedFqdn, seeded}});
  EventRecorder events;
  LogRecorder log;
  ConfigPtr config = SeededConfig(dns);
  ASSERT_TRUE(config);
  ASSERT_EQ(p2pnet_config_add_dns_seed(config.get(), kSeed.c_str(), port), P2PNET_OK)
      << p2pnet_last_error_message();
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  events.Attach(engine.get());
  log.Attach(engine.get());
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();

  std::multiset<std::string> expected;
  for (const std::string& ip : seeded) {
    expected.insert(ip + ":" + std::to_string(port));
  }
  ASSERT_TRUE(events.WaitForConnected(seeded.size()))
      << "connected to " << events.connected().size() << " of the seeded engines";
  std::size_t inbound = 0;
  EXPECT_EQ(OutboundEndpoints(events.connected(), &inbound), expected);
  EXPECT_EQ(inbound, 0u);
  EXPECT_GT(dns.Answered(kSeedFqdn, kTypeA), 0u) << "the engine never asked the DNS server";

  ASSERT_TRUE(log.WaitForMoreThan({"DNS seed answered", "seed=" + kSeed}, 0));
  // The header has seeds name peers by A and AAAA records; the empty AAAA
  // answer is no failure.
  EXPECT_GT(dns.Answered(kSeedFqdn, kTypeAaaa), 0u) << "no AAAA query";
  EXPECT_TRUE(log.Matching({"DNS seed failed"}).empty())
      << log.Matching({"DNS seed failed"})[0].message;
  const auto answered = log.Matching({"DNS seed answered", "seed=" + kSeed});
  EXPECT_EQ(answered[0].level, P2PNET_LOG_INFO);
  EXPECT_NE(answered[0].message.find("found=3 added=3"), std::string::npos) << answered[0].message;
  EXPECT_EQ(AddressCount(engine.get()), seeded.size());

  // Each seeded engine sees the connection inbound; the list agrees.
  for (std::size_t i = 0; i < seeded.size(); ++i) {
    ASSERT_TRUE(listener_events[i].WaitForConnected(1)) << seeded[i];
    EXPECT_TRUE(listener_events[i].connected()[0].inbound) << seeded[i];
  }
  const auto peers = GetPeers(engine.get());
  ASSERT_TRUE(peers);
  EXPECT_EQ(OutboundEndpoints(*peers), expected);

  // Nothing else was dialled: no further connection or failed attempt, and the
  // engine the answer did not name heard nothing.
  EXPECT_EQ(events.connected().size(), seeded.size());
  EXPECT_TRUE(events.disconnected().empty())
      << "unexpected attempt, first: peer " << events.disconnected()[0].peer_id << " "
      << events.disconnected()[0].detail;
  EXPECT_TRUE(decoy_events.connected().empty()) << "connected to an address no seed gave";
  EXPECT_TRUE(decoy_events.disconnected().empty()) << "something dialled an address no seed gave";
  for (const DnsQuery& query : dns.queries()) {
    EXPECT_EQ(query.name, kSeedFqdn) << "query for a name that was not configured";
    EXPECT_EQ(query.rcode, kRcodeNoError) << query.name << " type " << query.type;
  }
}

// p2pnet_engine_query_dns_seeds is INVALID_STATE before start and without
// seeds; once a seed is added to the running engine, each call asks the server
// again, and the answer reaches the address book and the outbound connections.
TEST(DnsSeed, QueryDnsSeedsAsksAgain) {
  EventRecorder listener_events;
  EnginePtr listener = StartListener("127.6.1.1", 0, listener_events);
  ASSERT_TRUE(listener);
  const uint16_t port = ListenPort(listener.get());
  DnsServer dns(Zone{{kSeedFqdn, {"127.6.1.1"}}});

  // Configured with a seed, but not started.
  {
    ConfigPtr config = SeededConfig(dns);
    ASSERT_TRUE(config);
    ASSERT_EQ(p2pnet_config_add_dns_seed(config.get(), kSeed.c_str(), port), P2PNET_OK);
    EnginePtr idle = MakeEngine(config.get());
    ASSERT_TRUE(idle);
    EXPECT_EQ(p2pnet_engine_query_dns_seeds(idle.get()), P2PNET_ERR_INVALID_STATE);
  }

  EventRecorder events;
  LogRecorder log;
  ConfigPtr config = SeededConfig(dns);
  ASSERT_TRUE(config);
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  events.Attach(engine.get());
  log.Attach(engine.get());
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_engine_query_dns_seeds(engine.get()), P2PNET_ERR_INVALID_STATE)
      << "an engine without seeds accepted a seed query";
  EXPECT_EQ(AddressCount(engine.get()), 0u);

  ASSERT_EQ(p2pnet_engine_add_dns_seed(engine.get(), kSeed.c_str(), port), P2PNET_OK)
      << p2pnet_last_error_message();
  const std::size_t before = dns.Answered(kSeedFqdn, kTypeA);
  ASSERT_EQ(p2pnet_engine_query_dns_seeds(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_TRUE(dns.WaitForMoreThan(kSeedFqdn, kTypeA, before)) << "query_dns_seeds asked nothing";
  ASSERT_TRUE(log.WaitForMoreThan({"DNS seed answered", "seed=" + kSeed, "found=1 added=1"}, 0));
  EXPECT_EQ(AddressCount(engine.get()), 1u);
  ASSERT_TRUE(events.WaitForConnected(1));
  EXPECT_EQ(OutboundEndpoints(events.connected()),
            std::multiset<std::string>{"127.6.1.1:" + std::to_string(port)});

  // Asked again: a new query, the same address (known already, so none added).
  const std::size_t second = dns.Answered(kSeedFqdn, kTypeA);
  ASSERT_EQ(p2pnet_engine_query_dns_seeds(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_TRUE(dns.WaitForMoreThan(kSeedFqdn, kTypeA, second)) << "the second call asked nothing";
  ASSERT_TRUE(log.WaitForMoreThan({"DNS seed answered", "seed=" + kSeed, "found=1 added=0"}, 0));
  EXPECT_EQ(AddressCount(engine.get()), 1u);
  EXPECT_EQ(events.connected().size(), 1u);

  ASSERT_EQ(p2pnet_engine_stop(engine.get()), P2PNET_OK);
  EXPECT_EQ(p2pnet_engine_query_dns_seeds(engine.get()), P2PNET_ERR_INVALID_STATE)
      << "a stopped engine accepted a seed query";
}

// A seed the server answers NXDOMAIN is logged as a warning naming it; the
// engine keeps running, the other seed's answer still connects it, and a later
// query asks (and fails) again without harm.
TEST(DnsSeed, NxdomainSeedIsLoggedAndOthersStillServe) {
  const std::string missing = "missing.p2pnet.test";
  EventRecorder listener_events;
  EnginePtr listener = StartListener("127.6.2.1", 0, listener_events);
  ASSERT_TRUE(listener);
  const uint16_t port = ListenPort(listener.get());
  DnsServer dns(Zone{{kSeedFqdn, {"127.6.2.1"}}});

  EventRecorder events;
  LogRecorder log;
  ConfigPtr config = SeededConfig(dns);
  ASSERT_TRUE(config);
  // The failing seed first: a failure must not keep the next seed from being asked.
  ASSERT_EQ(p2pnet_config_add_dns_seed(config.get(), missing.c_str(), port), P2PNET_OK);
  ASSERT_EQ(p2pnet_config_add_dns_seed(config.get(), kSeed.c_str(), port), P2PNET_OK);
  EnginePtr engine = MakeEngine(config.get());
  ASSERT_TRUE(engine);
  events.Attach(engine.get());
  log.Attach(engine.get());
  ASSERT_EQ(p2pnet_engine_start(engine.get()), P2PNET_OK) << p2pnet_last_error_message();

  const std::vector<std::string> failure = {"DNS seed failed", "seed=" + missing};
  ASSERT_TRUE(log.WaitForMoreThan(failure, 0)) << "the NXDOMAIN seed was not logged";
  EXPECT_EQ(log.Matching(failure)[0].level, P2PNET_LOG_WARN) << log.Matching(failure)[0].message;
  EXPECT_GT(dns.Answered(missing + ".", kTypeA), 0u);
  for (const DnsQuery& query : dns.queries()) {
    if (query.name == missing + ".") {
      EXPECT_EQ(query.rcode, kRcodeNxDomain);
    }
  }

  ASSERT_TRUE(events.WaitForConnected(1)) << "the working seed did not lead to a connection";
  EXPECT_EQ(OutboundEndpoints(events.connected()),
            std::multiset<std::string>{"127.6.2.1:" + std::to_string(port)});
  EXPECT_EQ(AddressCount(engine.get()), 1u);
  EXPECT_TRUE(log.Matching({"seed=" + kSeed, "failed"}).empty());

  // Asking again repeats the failure as a warning, and the engine stays up.
  const std::size_t failures = log.Matching(failure).size();
  const std::size_t asked = dns.Answered(missing + ".", kTypeA);
  ASSERT_EQ(p2pnet_engine_query_dns_seeds(engine.get()), P2PNET_OK) << p2pnet_last_error_message();
  ASSERT_TRUE(dns.WaitForMoreThan(missing + ".", kTypeA, asked));
  ASSERT_TRUE(log.WaitForMoreThan(failure, failures));
  const auto peers = GetPeers(engine.get());
  ASSERT_TRUE(peers) << p2pnet_last_error_message();
  EXPECT_EQ(peers->size(), 1u);
  EXPECT_TRUE(events.disconnected().empty()) << events.disconnected()[0].detail;
  EXPECT_EQ(AddressCount(engine.get()), 1u);
}

}  // namespace
}  // namespace p2pnet_test
