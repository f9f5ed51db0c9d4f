// The receive budget (README, "Hostile input"): unfinished messages larger than
// 64 KiB draw on one budget shared by all peers, a peer whose message does not
// fit is not read until it fits, and a peer that sends nothing more of such a
// message for the partial-message timeout is disconnected (INACTIVITY_TIMEOUT).
//
//  - 100 raw-socket peers (127.5.0.x) each declare a 32 MiB block, push up to
//    31 MiB of it and stall. The engine's resident memory may grow by the
//    budget and a margin, not by 100 x 31 MiB (the issue measured 7 MB ->
//    3.2 GB); every staller is cut off for its stall, no sooner than the
//    timeout after its last byte and no later than 15 s after that; and an
//    honest engine is served meanwhile and afterwards.
//  - An honest engine's 20 MiB block sent while two stallers hold the whole
//    budget is not read while it does not fit, and is read as soon as a
//    holder is cut off and it fits.
//  - An honest 20 MiB block that fits the part of the budget no message holds
//    is read at once, not after stallers that arrived earlier and wait for
//    more than is free.
//
// Each staller handshakes with blocking I/O and is then fed by one thread
// with non-blocking sends, so connections the engine does not read never hold
// the test up.
#include "attacker_support.hpp"
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace p2pnet_test {
namespace {

using p2pnet::Hash;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kFrameHeaderBytes = 24;
/// The claimed payload (exactly the 32 MiB message limit) and what is sent of it.
constexpr uint32_t kClaimedBytes = 32u * 1024 * 1024;
constexpr std::size_t kSentPayloadBytes = 31 * kMiB;


double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

uint32_t LittleEndian32(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

/// A raw peer from its own 127.x.y.z address that handshakes with blocking
/// I/O and then sends without blocking, so one thread can push many
/// connections the engine reads at different times (or not at all).
class StallingPeer {
 public:
  StallingPeer(const std::string& source_ip, uint16_t port) : ip_(source_ip) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(port);
    if (::inet_pton(AF_INET, source_ip.c_str(), &source.sin_addr) != 1 ||
        ::inet_pton(AF_INET, "127.0.0.1", &target.sin_addr) != 1) {
      ADD_FAILURE() << "bad address " << source_ip;
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0) {
      ADD_FAILURE() << source_ip << ": cannot connect: " << std::strerror(errno);
      Close();
    }
  }
  ~StallingPeer() { Close(); }
  StallingPeer(const StallingPeer&) = delete;
  StallingPeer& operator=(const StallingPeer&) = delete;

  const std::string& ip() const { return ip_; }
  int fd() const { return fd_; }

  /// version/verack as the connecting side, blocking, then switches the socket
  /// to non-blocking sends.
  bool Handshake() {
    if (fd_ < 0 || !SendAllToSocket(fd_, Frame(kRegtestMagic, "version", VersionPayload(0x5a11)))) {
      return false;
    }
    bool version = false;
    bool verack = false;
    std::vector<uint8_t> buffer;
    const Clock::time_point until = Clock::now() + kDeadline;
    while (!(version && verack)) {
      while (buffer.size() >= kFrameHeaderBytes &&
             buffer.size() >= kFrameHeaderBytes + LittleEndian32(buffer.data() + 16)) {
        const std::string command(reinterpret_cast<const char*>(buffer.data() + 4),
                                  ::strnlen(reinterpret_cast<const char*>(buffer.data() + 4), 12));
        version = version || command == "version";
        verack = verack || command == "verack";
        buffer.erase(buffer.begin(),
                     buffer.begin() + kFrameHeaderBytes + LittleEndian32(buffer.data() + 16));
      }
      if (version && verack) {
        break;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
      pollfd descriptor{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&descriptor, 1, static_cast<int>(left)) <= 0) {
        return false;
      }
      uint8_t chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        return false;
      }
      buffer.insert(buffer.end(), chunk, chunk + n);
    }
    return SendAllToSocket(fd_, Frame(kRegtestMagic, "verack", {}));
  }

  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  std::string ip_;
  int fd_ = -1;
};

/// Bytes a connection the engine does not read can take (socket buffers on
/// both ends, about 3 MiB on loopback here); a staller that got further is
/// being read.
constexpr std::size_t kBeyondSocketBuffers = 8 * kMiB;

/// What one staller managed to send, as seen by the sending thread.
struct StallProgress {
  std::size_t sent = 0;
  Clock::time_point last_byte{};
  /// When its bytes passed kBeyondSocketBuffers: the engine was reading it.
  std::optional<Clock::time_point> read_from;
  bool closed = false;
};

/// One thread that pushes `claim` (a frame header and part of its payload) to
/// every peer without ever blocking on one of them: each gets what its socket
/// takes, whenever it takes it, until all is sent or the connection closed.
class ClaimPusher {
 public:
  ClaimPusher(const std::vector<std::unique_ptr<StallingPeer>>& peers,
              const std::vector<uint8_t>& claim)
      : peers_(peers), claim_(claim), progress_(peers.size()) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ClaimPusher() { Stop(); }
  ClaimPusher(const ClaimPusher&) = delete;
  ClaimPusher& operator=(const ClaimPusher&) = delete;

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  std::vector<StallProgress> Progress() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return progress_;
  }

  /// Peers that sent their whole claim.
  std::size_t Completed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(progress_.begin(), progress_.end(),
                      [this](const StallProgress& p) { return p.sent == claim_.size(); }));
  }

 private:
  void Run() {
    constexpr std::size_t kChunk = 1 * kMiB;
    std::vector<pollfd> waiting;
    std::vector<std::size_t> index;
    while (!stop_.load()) {
      waiting.clear();
      index.clear();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = 0; i < peers_.size(); ++i) {
          if (!progress_[i].closed && progress_[i].sent < claim_.size()) {
            waiting.push_back(pollfd{peers_[i]->fd(), POLLOUT, 0});
            index.push_back(i);
          }
        }
      }
      if (waiting.empty()) {
        return;
      }
      if (::poll(waiting.data(), waiting.size(), 50) <= 0) {
        continue;
      }
      for (std::size_t k = 0; k < waiting.size(); ++k) {
        if (waiting[k].revents == 0) {
          continue;
        }
        const std::size_t i = index[k];
        std::size_t sent = 0;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          sent = progress_[i].sent;
        }
        const std::size_t len = std::min(kChunk, claim_.size() - sent);
        const ssize_t n =
            ::send(waiting[k].fd, claim_.data() + sent, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        const Clock::time_point now = Clock::now();
        std::lock_guard<std::mutex> lock(mutex_);
        StallProgress& p = progress_[i];
        if (n > 0) {
          p.sent += static_cast<std::size_t>(n);
          p.last_byte = now;
          if (p.sent > kBeyondSocketBuffers && !p.read_from) {
            p.read_from = now;
          }
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          p.closed = true;  // the engine closed the connection
        }
      }
    }
  }

  const std::vector<std::unique_ptr<StallingPeer>>& peers_;
  const std::vector<uint8_t>& claim_;
  mutable std::mutex mutex_;
  std::vector<StallProgress> progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Disconnects of one engine with the time each was reported.
class DisconnectTimes {
 public:
  struct Entry {
    p2pnet::DisconnectReason reason;
    std::string detail;
    Clock::time_point at;
  };

  void Record(uint64_t id, p2pnet::DisconnectReason reason, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_[id] = Entry{reason, detail, Clock::now()};
    changed_.notify_all();
  }

  bool WaitForAll(const std::vector<uint64_t>& ids, std::chrono::milliseconds deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] {
      return std::all_of(ids.begin(), ids.end(),
                         [&](uint64_t id) { return entries_.count(id) != 0; });
    });
  }

  bool WaitForAny(const std::vector<uint64_t>& ids, std::chrono::milliseconds deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] {
      return std::any_of(ids.begin(), ids.end(),
                         [&](uint64_t id) { return entries_.count(id) != 0; });
    });
  }

  std::optional<Entry> Of(uint64_t id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
};

/// Blocks of 20 MiB and more are beyond what a BIP324 packet carries (16 MiB):
/// these tests speak v1.
p2pnet::Config V1Config() {
  p2pnet::Config config = RelayConfig();
  config.SetTransport(p2pnet::TransportMode::V1Only);
  return config;
}

/// A target engine for the budget tests: RelayConfig with room for `inbound`
/// peers, the given budget and partial-message timeout, and its disconnects
/// timed.
struct BudgetTarget {
  BudgetTarget(std::size_t inbound, std::size_t budget, milliseconds timeout)
      : node(RelayConfig()
                 .SetTransport(p2pnet::TransportMode::V1Only)
                 .SetMaxInbound(static_cast<uint32_t>(inbound))
                 .SetMaxConnections(static_cast<uint32_t>(inbound + 8))
                 .SetReceiveBudget(budget)
                 .SetPartialMessageTimeout(timeout)) {
    node.net.SetOnPeerDisconnected(
        [this](uint64_t id, p2pnet::DisconnectReason reason, const std::string& detail) {
          disconnects.Record(id, reason, detail);
          node.peers.Disconnected(id, reason, detail);
        });
    node.Start();
  }

  DisconnectTimes disconnects;
  TestNode node;
};

/// `count` stallers from 127.5.`third`.1, .2, ... connected and handshaken
/// with `target`, and their engine ids in the same order.
void ConnectStallers(TestNode& target, std::size_t count, int third,
                     std::vector<std::unique_ptr<StallingPeer>>* stallers,
                     std::vector<uint64_t>* ids) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::string ip = "127.5." + std::to_string(third) + "." + std::to_string(i + 1);
    stallers->push_back(std::make_unique<StallingPeer>(ip, target.port));
    ASSERT_TRUE(stallers->back()->Handshake()) << ip << ": no handshake";
  }
  std::map<std::string, uint64_t> by_address;
  ASSERT_TRUE(PollUntil([&] {
    const auto peers = GetPeers(target.net.native());
    if (!peers) {
      return false;
    }
    by_address.clear();
    for (const auto& peer : *peers) {
      by_address[peer.address] = peer.id;
    }
    return std::all_of(stallers->begin(), stallers->end(),
                       [&](const auto& s) { return by_address.count(s->ip()) != 0; });
  })) << "not every staller is in the engine's peer list";
  for (const auto& staller : *stallers) {
    ids->push_back(by_address.at(staller->ip()));
  }
}

/// A block frame header claiming kClaimedBytes (checksum never checked: the
/// payload never completes) followed by `payload` bytes of it.
std::vector<uint8_t> PartialBlockClaim(std::size_t payload) {
  std::vector<uint8_t> claim = MessageHeader(kRegtestMagic, "block", kClaimedBytes, 0x5ca1ab1e);
  claim.resize(claim.size() + payload, 0xb1);
  return claim;
}

/// The share of the budget one unfinished message holds: the whole frame.
constexpr std::size_t kClaimShare = kFrameHeaderBytes + kClaimedBytes;

/// An honest block of about `body` bytes: a toy header (the block id is its
/// SHA-256d) and a filler body.
std::vector<uint8_t> LargeHonestBlock(std::size_t body) {
  std::vector<uint8_t> block = ToyChain::MakeBlock(p2pnet::Hash{}, 1, NextItemTag());
  block.resize(block.size() + body, 0x5e);
  return block;
}

/// The bytes the engine has received from each handshaken peer, by peer id.
std::map<uint64_t, uint64_t> BytesReceived(const TestNode& node) {
  std::map<uint64_t, uint64_t> received;
  if (const auto peers = GetPeers(node.net.native())) {
    for (const auto& peer : *peers) {
      received[peer.id] = peer.bytes_received;
    }
  }
  return received;
}

TEST(ReceiveBudget, HundredStalledPartialFramesStayWithinTheBudget) {
  constexpr std::size_t kStallers = 100;
  constexpr std::size_t kBudget = 256 * kMiB;  // the default
  constexpr milliseconds kTimeout{1000};
  // Beyond the budget: the engine's own buffers, the growth of receive
  // buffers while reading (they double), the dispatcher queue and allocator
  // slack.
  constexpr std::size_t kMargin = 48 * kMiB;
  constexpr std::chrono::seconds kLateBy{15};
  // Messages read at once (each holds its whole frame, 32 MiB + 24 bytes) and
  // so the rounds it takes to cut off every staller.
  constexpr std::size_t kHolders = kBudget / kClaimShare;
  constexpr std::size_t kRounds = (kStallers + kHolders - 1) / kHolders;
  ASSERT_GE(RaiseOpenFileLimit(4 * kStallers), 2 * kStallers + 64) << "RLIMIT_NOFILE too low";

  BudgetTarget target(kStallers + 10, kBudget, kTimeout);
  std::vector<std::unique_ptr<StallingPeer>> stallers;
  std::vector<uint64_t> ids;
  ASSERT_NO_FATAL_FAILURE(ConnectStallers(target.node, kStallers, 0, &stallers, &ids));
  const std::vector<uint8_t> claim = PartialBlockClaim(kSentPayloadBytes);

  PeakRssSampler rss;
  const Clock::time_point start = Clock::now();
  ClaimPusher pusher(stallers, claim);

  // Served while stallers hold the whole budget: once one has sent all it
  // will, the holders are being read and the rest wait.
  ASSERT_TRUE(PollUntil([&] { return pusher.Completed() > 0; }))
      << "no staller got its 31 MiB read within " << kDeadline.count() << " s";
  const Clock::time_point honest_during = Clock::now();
  ASSERT_NO_FATAL_FAILURE(ExpectHonestPeerServed(target.node)) << "while stallers hold the budget";
  const double honest_during_s = Seconds(Clock::now() - honest_during);

  const milliseconds all_cut_off =
      kRounds * (kTimeout + milliseconds(2000)) + std::chrono::duration_cast<milliseconds>(kLateBy);
  const bool all_disconnected = target.disconnects.WaitForAll(ids, all_cut_off);
  const Clock::time_point last_seen = Clock::now();
  rss.Stop();
  pusher.Stop();
  EXPECT_TRUE(all_disconnected) << "stallers still connected " << Seconds(last_seen - start)
                                << " s after they started";
  ASSERT_NO_FATAL_FAILURE(ExpectHonestPeerServed(target.node)) << "after the stallers";

  const std::vector<StallProgress> progress = pusher.Progress();
  std::optional<Clock::time_point> first_cut_off;
  for (uint64_t id : ids) {
    if (const auto event = target.disconnects.Of(id)) {
      first_cut_off = first_cut_off ? std::min(*first_cut_off, event->at) : event->at;
    }
  }
  // Read beyond what socket buffers hold before anyone was cut off: the
  // stallers the budget admitted at once.
  std::size_t read_at_once = 0;
  for (const StallProgress& p : progress) {
    read_at_once += p.read_from && first_cut_off && *p.read_from < *first_cut_off ? 1 : 0;
  }
  std::vector<double> cut_after_last_byte;
  double waited_for_budget = 0;
  double last_cut_off = 0;
  std::size_t sent_everything = 0;
  for (std::size_t i = 0; i < kStallers; ++i) {
    const std::string& ip = stallers[i]->ip();
    const auto event = target.disconnects.Of(ids[i]);
    if (!event) {
      ADD_FAILURE() << ip << " (sent " << Mib(progress[i].sent) << " MiB) never disconnected";
      continue;
    }
    EXPECT_EQ(event->reason, p2pnet::DisconnectReason::InactivityTimeout)
        << ip << ": " << p2pnet::ToString(event->reason) << " (" << event->detail << ")";
    ASSERT_GE(progress[i].sent, kFrameHeaderBytes) << ip << ": its claim never went out";
    const Clock::duration quiet = event->at - progress[i].last_byte;
    EXPECT_GE(quiet, kTimeout * 95 / 100) << ip << " cut off before the timeout: " << event->detail;
    EXPECT_LE(quiet, kTimeout + kLateBy) << ip << " cut off late: " << event->detail;
    cut_after_last_byte.push_back(Seconds(quiet));
    last_cut_off = std::max(last_cut_off, Seconds(event->at - start));
    if (progress[i].read_from) {
      waited_for_budget = std::max(waited_for_budget, Seconds(*progress[i].read_from - start));
    }
    sent_everything += progress[i].sent == claim.size() ? 1 : 0;
  }
  std::sort(cut_after_last_byte.begin(), cut_after_last_byte.end());

  std::cout << "[figures] " << kStallers << " peers x (32 MiB block claimed, "
            << Mib(kSentPayloadBytes) << " MiB sent, then stall), receive budget "
            << Mib(kBudget) << " MiB, partial-message timeout " << kTimeout.count() << " ms"
            << std::endl;
  std::cout << "[figures] RSS before " << Mib(rss.baseline()) << " MiB, peak " << Mib(rss.peak())
            << " MiB, growth " << Mib(rss.growth()) << " MiB (bound: budget + "
            << Mib(kMargin) << " = " << Mib(kBudget + kMargin) << " MiB; unbounded would be "
            << Mib(kStallers * kSentPayloadBytes) << " MiB)" << std::endl;
  std::cout << "[figures] stallers read at once: " << read_at_once << " (budget / frame = "
            << kHolders << "); all " << sent_everything << "/" << kStallers
            << " sent their 31 MiB in the end; the last began to be read "
            << waited_for_budget << " s after the start" << std::endl;
  if (!cut_after_last_byte.empty()) {
    std::cout << "[figures] cut off (INACTIVITY_TIMEOUT) after the last byte: min "
              << cut_after_last_byte.front() << " s, median "
              << cut_after_last_byte[cut_after_last_byte.size() / 2] << " s, max "
              << cut_after_last_byte.back() << " s (bounds " << 0.95 * Seconds(kTimeout)
              << " .. " << Seconds(kTimeout + kLateBy) << " s); last staller cut off "
              << last_cut_off << " s after the start (" << kRounds << " rounds of "
              << kHolders << ")" << std::endl;
  }
  std::cout << "[figures] honest peer served while stallers held the budget in "
            << honest_during_s << " s" << std::endl;
  EXPECT_LE(rss.growth(), kBudget + kMargin);
}

TEST(ReceiveBudget, HonestBlockIsReadOnceStalledHoldersAreCutOff) {
  constexpr std::size_t kHolders = 2;
  constexpr std::size_t kBudget = kHolders * kClaimShare;  // exactly full with them
  constexpr milliseconds kTimeout{2000};
  constexpr std::size_t kBlockBody = 20 * kMiB;
  // Once a holder's share is released the block fits; reading 20 MiB over
  // loopback and the callback take well under this.
  constexpr milliseconds kReadOnceFree{2000};

  BudgetTarget target(16, kBudget, kTimeout);
  TestNode honest(V1Config());
  honest.Start();
  ASSERT_NE(Connect(honest, target.node), 0u);
  std::vector<std::unique_ptr<StallingPeer>> stallers;
  std::vector<uint64_t> ids;
  ASSERT_NO_FATAL_FAILURE(ConnectStallers(target.node, kHolders, 1, &stallers, &ids));
  const std::vector<uint8_t> claim = PartialBlockClaim(kSentPayloadBytes);
  ClaimPusher pusher(stallers, claim);
  ASSERT_TRUE(PollUntil([&] { return pusher.Completed() == kHolders; }))
      << "the holders' 31 MiB were not read";

  const std::vector<uint8_t> block = LargeHonestBlock(kBlockBody);
  const Clock::time_point sent = Clock::now();
  const Hash id = honest.net.BroadcastBlock(block);
  const milliseconds wait = 2 * (kTimeout + kReadOnceFree) + kDeadline;
  const bool arrived = target.node.blocks.WaitFor(id, wait);
  const Clock::time_point arrived_at = target.node.blocks.LastArrival();
  ASSERT_TRUE(arrived) << "the honest block was not read within " << wait.count() << " ms";
  ASSERT_TRUE(target.disconnects.WaitForAny(ids, kDeadline));

  std::optional<Clock::time_point> first_cut;
  for (uint64_t staller : ids) {
    if (const auto event = target.disconnects.Of(staller)) {
      EXPECT_EQ(event->reason, p2pnet::DisconnectReason::InactivityTimeout) << event->detail;
      first_cut = first_cut ? std::min(*first_cut, event->at) : event->at;
    }
  }
  ASSERT_TRUE(first_cut);
  std::cout << "[figures] " << Mib(block.size()) << " MiB honest block sent while " << kHolders
            << " stallers held the whole " << Mib(kBudget) << " MiB budget (timeout "
            << kTimeout.count() << " ms): read " << Seconds(arrived_at - sent)
            << " s after it was sent, " << Seconds(arrived_at - *first_cut)
            << " s after the first holder was cut off" << std::endl;
  EXPECT_GT(arrived_at, *first_cut) << "read before any holder released its share";
  EXPECT_LT(arrived_at - *first_cut, kReadOnceFree) << "not read once it fitted";
  EXPECT_EQ(target.node.blocks.Count(id), 1);
}

TEST(ReceiveBudget, HonestBlockThatFitsIsNotHeldBehindWaitingStallers) {
  constexpr std::size_t kBudget = 64 * kMiB;  // one 32 MiB frame, and room for 20 MiB more
  constexpr std::size_t kStallers = 4;         // one is read, three wait for budget
  constexpr milliseconds kTimeout{3000};
  constexpr std::size_t kBlockBody = 20 * kMiB;

  BudgetTarget target(16, kBudget, kTimeout);
  TestNode honest(V1Config());
  honest.Start();
  ASSERT_NE(Connect(honest, target.node), 0u);
  std::vector<std::unique_ptr<StallingPeer>> stallers;
  std::vector<uint64_t> ids;
  ASSERT_NO_FATAL_FAILURE(ConnectStallers(target.node, kStallers, 2, &stallers, &ids));
  const std::map<uint64_t, uint64_t> before = BytesReceived(target.node);
  const std::vector<uint8_t> claim = PartialBlockClaim(kSentPayloadBytes);
  ClaimPusher pusher(stallers, claim);
  // One staller holds 32 MiB + 24 bytes and has sent all it will; the engine
  // has read the others' headers, so they wait for budget.
  ASSERT_TRUE(PollUntil([&] {
    const std::map<uint64_t, uint64_t> now = BytesReceived(target.node);
    return pusher.Completed() == 1 &&
           std::all_of(ids.begin(), ids.end(), [&](uint64_t staller) {
             return now.count(staller) != 0 && now.at(staller) >= before.at(staller) + 24;
           });
  })) << "expected one staller read to the end and the others waiting";

  const std::vector<uint8_t> block = LargeHonestBlock(kBlockBody);
  ASSERT_LE(block.size() + kFrameHeaderBytes, kBudget - kClaimShare) << "test setup";
  const Clock::time_point sent = Clock::now();
  const Hash id = honest.net.BroadcastBlock(block);
  const milliseconds wait = kStallers * (kTimeout + milliseconds(2000)) + kDeadline;
  const bool arrived = target.node.blocks.WaitFor(id, wait);
  const Clock::time_point arrived_at = target.node.blocks.LastArrival();
  ASSERT_TRUE(target.disconnects.WaitForAny(ids, kDeadline));

  std::vector<double> cut_offs;
  for (uint64_t staller : ids) {
    if (const auto event = target.disconnects.Of(staller)) {
      cut_offs.push_back(Seconds(event->at - sent));
    }
  }
  std::sort(cut_offs.begin(), cut_offs.end());
  std::cout << "[figures] " << Mib(block.size()) << " MiB honest block sent while 1 staller held "
            << Mib(kClaimShare) << " MiB of a " << Mib(kBudget) << " MiB budget and "
            << kStallers - 1 << " stallers waited (timeout " << kTimeout.count() << " ms): ";
  if (arrived) {
    std::cout << "read " << Seconds(arrived_at - sent) << " s after it was sent";
  } else {
    std::cout << "not read within " << wait.count() << " ms";
  }
  std::cout << "; stallers cut off at";
  for (double at : cut_offs) {
    std::cout << " " << at;
  }
  std::cout << " s after it was sent" << std::endl;
  ASSERT_TRUE(arrived) << "the honest block was never read";
  ASSERT_FALSE(cut_offs.empty());
  // 20 MiB fit in the budget's unused part from the start, so the block is
  // read at once rather than after the stallers queued before it.
  EXPECT_LT(Seconds(arrived_at - sent), cut_offs.front())
      << "a block that fitted the budget waited until a staller was cut off";
}

}  // namespace
}  // namespace p2pnet_test
