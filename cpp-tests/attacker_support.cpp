#include "attacker_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

namespace p2pnet_test {
namespace {

/// A socket address for `ip`:`port`; false if `ip` is not an IP literal.
bool MakeAddress(const std::string& ip, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof(*out));
  if (ip.find(':') != std::string::npos) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return ::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1;
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(port);
  *len = sizeof(sockaddr_in);
  return ::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1;
}

uint32_t LittleEndian32(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

std::chrono::milliseconds Remaining(std::chrono::steady_clock::time_point until) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(until -
                                                               std::chrono::steady_clock::now());
}

}  // namespace

Attacker::Attacker(const std::string& source_ip, uint16_t port, const std::string& target_ip,
                   bool expect_success)
    : source_ip_(source_ip) {
  sockaddr_storage source{};
  sockaddr_storage target{};
  socklen_t source_len = 0;
  socklen_t target_len = 0;
  if (!MakeAddress(source_ip, 0, &source, &source_len) ||
      !MakeAddress(target_ip, port, &target, &target_len) ||
      source.ss_family != target.ss_family) {
    ADD_FAILURE() << "bad address pair " << source_ip << " -> " << target_ip;
    return;
  }
  fd_ = ::socket(source.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    if (expect_success) {
      ADD_FAILURE() << "socket: " << std::strerror(errno);
    }
    return;
  }
  const char* step = "bind";
  bool ok = ::bind(fd_, reinterpret_cast<const sockaddr*>(&source), source_len) == 0;
  if (ok) {
    step = "connect";
    ok = ::connect(fd_, reinterpret_cast<const sockaddr*>(&target), target_len) == 0;
  }
  if (ok) {
    // Frames go out as written: Nagle would hold a ping behind an unacknowledged
    // offence for the peer's delayed ACK.
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  } else {
    if (expect_success) {
      ADD_FAILURE() << step << " " << source_ip << " -> " << target_ip << ":" << port << ": "
                    << std::strerror(errno);
    }
    ::close(fd_);
    fd_ = -1;
  }
}

Attacker::~Attacker() { Close(); }

void Attacker::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Attacker::SendAll(const std::vector<uint8_t>& bytes) {
  return fd_ >= 0 && SendAllToSocket(fd_, bytes);
}

bool Attacker::SendMessage(const std::string& command, const std::vector<uint8_t>& payload,
                           uint32_t magic) {
  return SendAll(Frame(magic, command, payload));
}

bool Attacker::Fill(std::chrono::milliseconds remaining, bool* closed) {
  *closed = false;
  if (fd_ < 0) {
    *closed = true;
    return false;
  }
  if (remaining.count() < 0) {
    return false;
  }
  pollfd descriptor{fd_, POLLIN, 0};
  int ready = ::poll(&descriptor, 1, static_cast<int>(remaining.count()));
  if (ready < 0 && errno == EINTR) {
    return true;
  }
  if (ready <= 0) {
    return false;
  }
  uint8_t chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    return true;
  }
  if (n <= 0) {
    *closed = true;  // orderly close, or reset by the engine
    return false;
  }
  bytes_received_ += static_cast<std::size_t>(n);
  buffer_.insert(buffer_.end(), chunk, chunk + n);
  return true;
}

std::optional<RawMessage> Attacker::ReadMessage(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (buffer_.size() >= 24) {
      if (LittleEndian32(buffer_.data()) != kRegtestMagic) {
        ADD_FAILURE() << "frame with foreign magic from the engine";
        return std::nullopt;
      }
      const uint32_t length = LittleEndian32(buffer_.data() + 16);
      const uint32_t checksum = LittleEndian32(buffer_.data() + 20);
      if (buffer_.size() >= 24 + static_cast<std::size_t>(length)) {
        RawMessage message;
        const auto command_begin = buffer_.begin() + 4;
        message.command.assign(command_begin, std::find(command_begin, command_begin + 12, 0));
        message.payload.assign(buffer_.begin() + 24, buffer_.begin() + 24 + length);
        buffer_.erase(buffer_.begin(), buffer_.begin() + 24 + length);
        if (LittleEndian32(Sha256d(message.payload).data()) != checksum) {
          ADD_FAILURE() << "bad checksum on '" << message.command << "' from the engine";
          return std::nullopt;
        }
        return message;
      }
    }
    bool closed = false;
    if (!Fill(Remaining(until), &closed) && (closed || Remaining(until).count() <= 0)) {
      return std::nullopt;
    }
  }
}

std::optional<RawMessage> Attacker::WaitForCommand(const std::string& command,
                                                   std::chrono::milliseconds deadline,
                                                   std::vector<RawMessage>* skipped) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    std::optional<RawMessage> message = ReadMessage(Remaining(until));
    if (!message || message->command == command) {
      return message;
    }
    if (message->command == "ping") {
      SendMessage("pong", message->payload);
    }
    if (skipped != nullptr) {
      skipped->push_back(std::move(*message));
    }
  }
}

bool Attacker::Handshake(uint64_t nonce) {
  if (!SendMessage("version", VersionPayload(nonce))) {
    ADD_FAILURE() << source_ip_ << ": cannot send version";
    return false;
  }
  bool got_version = false;
  bool got_verack = false;
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!(got_version && got_verack)) {
    std::optional<RawMessage> message = ReadMessage(Remaining(until));
    if (!message) {
      ADD_FAILURE() << source_ip_ << ": no version/verack from the engine";
      return false;
    }
    got_version = got_version || message->command == "version";
    got_verack = got_verack || message->command == "verack";
  }
  if (!SendMessage("verack", {})) {
    ADD_FAILURE() << source_ip_ << ": cannot send verack";
    return false;
  }
  return true;
}

bool Attacker::Barrier(std::vector<RawMessage>* skipped) {
  const uint64_t nonce = next_ping_nonce_++;
  if (!SendMessage("ping", ByteWriter().U64(nonce).bytes())) {
    return false;
  }
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    std::optional<RawMessage> pong = WaitForCommand("pong", Remaining(until), skipped);
    if (!pong) {
      return false;
    }
    ByteReader reader(pong->payload);
    if (reader.U64() == nonce && reader.ok()) {
      return true;
    }
    if (skipped != nullptr) {
      skipped->push_back(std::move(*pong));
    }
  }
}

bool Attacker::WaitForClose(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    bool closed = false;
    if (!Fill(Remaining(until), &closed)) {
      if (closed) {
        return true;
      }
      if (Remaining(until).count() <= 0) {
        return false;
      }
    }
    buffer_.clear();
  }
}

bool Attacker::IsClosed() {
  for (;;) {
    bool closed = false;
    if (!Fill(std::chrono::milliseconds(0), &closed)) {
      return closed;
    }
    buffer_.clear();
  }
}

std::vector<p2pnet_ban_entry> ListBans(const p2pnet_engine* engine) {
  std::vector<p2pnet_ban_entry> bans;
  for (;;) {
    std::size_t count = 0;
    const p2pnet_result result =
        p2pnet_engine_list_bans(engine, bans.empty() ? nullptr : bans.data(), bans.size(), &count);
    if (result == P2PNET_OK) {
      bans.resize(count);
      return bans;
    }
    if (result != P2PNET_ERR_BUFFER_TOO_SMALL) {
      ADD_FAILURE() << "p2pnet_engine_list_bans: " << ResultName(result) << ": "
                    << p2pnet_last_error_message();
      return {};
    }
    bans.resize(std::max(count, bans.size() + 1));
  }
}

std::optional<p2pnet_ban_entry> FindBan(const p2pnet_engine* engine, const std::string& subnet) {
  for (const p2pnet_ban_entry& ban : ListBans(engine)) {
    if (subnet == ban.subnet) {
      return ban;
    }
  }
  return std::nullopt;
}

std::optional<p2pnet_peer_info> FindPeer(const p2pnet_engine* engine, uint64_t id) {
  const auto peers = GetPeers(engine);
  if (!peers) {
    ADD_FAILURE() << "p2pnet_engine_list_peers failed: " << p2pnet_last_error_message();
    return std::nullopt;
  }
  for (const p2pnet_peer_info& peer : *peers) {
    if (peer.id == id) {
      return peer;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> PeerIdByAddress(const p2pnet_engine* engine, const std::string& ip) {
  const auto peers = GetPeers(engine);
  if (!peers) {
    return std::nullopt;
  }
  std::optional<uint64_t> found;
  for (const p2pnet_peer_info& peer : *peers) {
    if (ip == peer.address) {
      if (found) {
        return std::nullopt;
      }
      found = peer.id;
    }
  }
  return found;
}

std::optional<uint32_t> ScoreOf(const p2pnet_engine* engine, uint64_t id) {
  const auto peer = FindPeer(engine, id);
  if (!peer) {
    return std::nullopt;
  }
  return peer->misbehaviour_score;
}

std::optional<uint32_t> ScoreInDetail(const std::string& detail) {
  static const std::string kMarker = "misbehaviour score ";
  const std::size_t at = detail.find(kMarker);
  if (at == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream digits(detail.substr(at + kMarker.size()));
  uint32_t score = 0;
  if (!(digits >> score)) {
    return std::nullopt;
  }
  return score;
}

namespace {

std::size_t StatusField(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      std::size_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

}  // namespace

std::size_t ResidentSetBytes() { return StatusField("VmRSS"); }

std::size_t DataSegmentBytes() { return StatusField("VmData"); }

std::size_t RaiseOpenFileLimit(std::size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

uint32_t NextItemTag() {
  static std::atomic<uint32_t> next{0x4a770000u};
  return next.fetch_add(1);
}

void ExpectHonestPeerServed(TestNode& target) {
  TestNode honest(RelayConfig());
  honest.Start();
  ASSERT_NE(Connect(honest, target), 0u) << "the engine no longer accepts an honest peer";

  const uint32_t tag = NextItemTag();
  const std::string text = "honest transaction " + std::to_string(tag);
  const std::vector<uint8_t> tx_in(text.begin(), text.end());
  const std::vector<uint8_t> block_in = ToyChain::MakeBlock(p2pnet::Hash{}, 1, tag);
  const p2pnet::Hash tx_in_id = honest.net.BroadcastTransaction(tx_in);
  const p2pnet::Hash block_in_id = honest.net.BroadcastBlock(block_in);
  EXPECT_TRUE(target.txs.WaitFor(tx_in_id)) << "honest transaction did not reach the engine";
  EXPECT_TRUE(target.blocks.WaitFor(block_in_id)) << "honest block did not reach the engine";

  const std::string reply = "engine transaction " + std::to_string(tag);
  const p2pnet::Hash tx_out_id =
      target.net.BroadcastTransaction(std::vector<uint8_t>(reply.begin(), reply.end()));
  const p2pnet::Hash block_out_id =
      target.net.BroadcastBlock(ToyChain::MakeBlock(block_in_id, 2, tag));
  EXPECT_TRUE(honest.txs.WaitFor(tx_out_id)) << "the engine's transaction did not reach the peer";
  EXPECT_TRUE(honest.blocks.WaitFor(block_out_id)) << "the engine's block did not reach the peer";
}

PeakRssSampler::PeakRssSampler() : baseline_(ResidentSetBytes()), peak_(baseline_) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      const std::size_t now = ResidentSetBytes();
      std::size_t seen = peak_.load();
      while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

void PeakRssSampler::Stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace p2pnet_test
