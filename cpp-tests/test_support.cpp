#include "test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace p2pnet_test {

ConfigPtr MakeLoopbackConfig() {
  p2pnet_config* raw = nullptr;
  p2pnet_result result = p2pnet_config_new(P2PNET_NETWORK_REGTEST, &raw);
  ConfigPtr config(raw);
  if (result != P2PNET_OK || !config) {
    ADD_FAILURE() << "p2pnet_config_new failed: " << p2pnet_last_error_message();
    return config;
  }
  result = p2pnet_config_set_listen_address(config.get(), "127.0.0.1:0");
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  // No automatic outbound connections: regtest engines accept loopback
  // addresses from addr messages and would redial each other by themselves.
  result = p2pnet_config_set_max_outbound(config.get(), 0);
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  return config;
}

EnginePtr MakeEngine(const p2pnet_config* config) {
  p2pnet_engine* engine = nullptr;
  p2pnet_result result = p2pnet_engine_new(config, &engine);
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_NE(engine, nullptr);
  return EnginePtr(engine);
}

uint16_t ListenPort(const p2pnet_engine* engine) {
  uint16_t port = 0;
  p2pnet_result result = p2pnet_engine_get_listen_port(engine, &port);
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_NE(port, 0);
  return port;
}

std::optional<std::vector<p2pnet_peer_info>> GetPeers(const p2pnet_engine* engine) {
  std::vector<p2pnet_peer_info> peers;
  for (;;) {
    std::size_t count = 0;
    p2pnet_result result =
        p2pnet_engine_list_peers(engine, peers.empty() ? nullptr : peers.data(), peers.size(), &count);
    if (result == P2PNET_OK) {
      peers.resize(count);
      return peers;
    }
    if (result != P2PNET_ERR_BUFFER_TOO_SMALL) {
      return std::nullopt;
    }
    peers.resize(count > peers.size() ? count : peers.size() + 1);
  }
}

bool PollUntil(const std::function<bool()>& predicate, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (predicate()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ResultName(p2pnet_result result) {
  const char* name = p2pnet_result_name(result);
  return name != nullptr ? name : "(null)";
}

void EventRecorder::Attach(p2pnet_engine* engine) {
  ASSERT_EQ(p2pnet_engine_set_on_peer_connected(engine, &OnConnected, this, &OnRelease), P2PNET_OK)
      << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_engine_set_on_peer_disconnected(engine, &OnDisconnected, this, &OnRelease), P2PNET_OK)
      << p2pnet_last_error_message();
}

bool EventRecorder::WaitUntil(
    const std::function<bool(const std::vector<p2pnet_peer_info>&, const std::vector<Disconnect>&)>&
        predicate,
    std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, deadline,
                           [&] { return predicate(connected_, disconnected_); });
}

bool EventRecorder::WaitForConnected(std::size_t count) {
  return WaitUntil([count](const auto& connected, const auto&) { return connected.size() >= count; });
}

bool EventRecorder::WaitForDisconnected(std::size_t count) {
  return WaitUntil(
      [count](const auto&, const auto& disconnected) { return disconnected.size() >= count; });
}

bool EventRecorder::WaitForDisconnectReason(p2pnet_disconnect_reason reason) {
  return WaitUntil([reason](const auto&, const auto& disconnected) {
    for (const auto& event : disconnected) {
      if (event.reason == reason) {
        return true;
      }
    }
    return false;
  });
}

std::vector<p2pnet_peer_info> EventRecorder::connected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connected_;
}

std::vector<Disconnect> EventRecorder::disconnected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return disconnected_;
}

void EventRecorder::OnConnected(void* user_data, const p2pnet_peer_info* peer) {
  auto* self = static_cast<EventRecorder*>(user_data);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->connected_.push_back(*peer);
  self->changed_.notify_all();
}

void EventRecorder::OnDisconnected(void* user_data, uint64_t peer_id,
                                   p2pnet_disconnect_reason reason, const char* detail) {
  auto* self = static_cast<EventRecorder*>(user_data);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->disconnected_.push_back(Disconnect{peer_id, reason, detail != nullptr ? detail : ""});
  self->changed_.notify_all();
}

void EventRecorder::OnRelease(void* user_data) {
  static_cast<EventRecorder*>(user_data)->releases_.fetch_add(1);
}

RawSocket::RawSocket(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << ": " << std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
  }
}

RawSocket::~RawSocket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool SendAllToSocket(int fd, const std::vector<uint8_t>& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool RawSocket::SendAll(const std::vector<uint8_t>& bytes) { return SendAllToSocket(fd_, bytes); }

bool RawSocket::WaitForClose(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return false;
    }
    pollfd descriptor{fd_, POLLIN, 0};
    int ready = ::poll(&descriptor, 1, static_cast<int>(remaining.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return false;
    }
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) {
      return true;  // orderly close
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return true;  // ECONNRESET and friends: the engine dropped us
    }
    // Data (e.g. the engine's own version message): discard and keep reading.
  }
}

bool RawSocket::SendMessage(const std::string& command, const std::vector<uint8_t>& payload,
                            uint32_t magic) {
  return SendAll(Frame(magic, command, payload));
}

std::optional<RawMessage> RawSocket::ReadMessage(std::chrono::milliseconds deadline,
                                                 uint32_t magic) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (buffer_.size() >= 24) {
      uint32_t got_magic = 0;
      uint32_t length = 0;
      uint32_t checksum = 0;
      for (int i = 3; i >= 0; --i) {
        got_magic = (got_magic << 8) | buffer_[static_cast<std::size_t>(i)];
        length = (length << 8) | buffer_[16 + static_cast<std::size_t>(i)];
        checksum = (checksum << 8) | buffer_[20 + static_cast<std::size_t>(i)];
      }
      if (got_magic != magic) {
        ADD_FAILURE() << "frame with magic 0x" << std::hex << got_magic;
        return std::nullopt;
      }
      if (buffer_.size() >= 24 + static_cast<std::size_t>(length)) {
        RawMessage message;
        const auto command_begin = buffer_.begin() + 4;
        const auto command_end = std::find(command_begin, command_begin + 12, uint8_t{0});
        message.command.assign(command_begin, command_end);
        message.payload.assign(buffer_.begin() + 24, buffer_.begin() + 24 + length);
        buffer_.erase(buffer_.begin(), buffer_.begin() + 24 + length);
        const Hash32 digest = Sha256d(message.payload);
        const uint32_t expected = static_cast<uint32_t>(digest[0]) |
                                  static_cast<uint32_t>(digest[1]) << 8 |
                                  static_cast<uint32_t>(digest[2]) << 16 |
                                  static_cast<uint32_t>(digest[3]) << 24;
        if (expected != checksum) {
          ADD_FAILURE() << "bad checksum on '" << message.command << "' frame";
          return std::nullopt;
        }
        return message;
      }
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (remaining.count() <= 0 || fd_ < 0) {
      return std::nullopt;
    }
    pollfd descriptor{fd_, POLLIN, 0};
    int ready = ::poll(&descriptor, 1, static_cast<int>(remaining.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return std::nullopt;
    }
    uint8_t chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n <= 0) {
      return std::nullopt;  // closed or reset
    }
    buffer_.insert(buffer_.end(), chunk, chunk + n);
  }
}

std::optional<RawMessage> RawSocket::WaitForCommand(const std::string& command,
                                                    std::chrono::milliseconds deadline,
                                                    std::vector<RawMessage>* skipped) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return std::nullopt;
    }
    std::optional<RawMessage> message = ReadMessage(remaining);
    if (!message) {
      return std::nullopt;
    }
    if (message->command == command) {
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

bool RawSocket::Handshake(uint64_t nonce, int32_t start_height) {
  return Handshake(nonce, start_height, HandshakeOptions{});
}

bool RawSocket::Handshake(uint64_t nonce, int32_t start_height, const HandshakeOptions& options) {
  if (!SendMessage("version", VersionPayload(nonce, start_height, options.protocol_version))) {
    ADD_FAILURE() << "cannot send version";
    return false;
  }
  for (const std::string& command : options.before_verack) {
    if (!SendMessage(command, {})) {
      ADD_FAILURE() << "cannot send " << command;
      return false;
    }
  }
  bool got_version = false;
  bool got_verack = false;
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!(got_version && got_verack)) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    std::optional<RawMessage> message = ReadMessage(remaining);
    if (!message) {
      ADD_FAILURE() << "handshake: no version/verack from the engine";
      return false;
    }
    if (options.received != nullptr) {
      options.received->push_back(message->command);
    }
    if (message->command == "version") {
      got_version = true;
    } else if (message->command == "verack") {
      got_verack = true;
    }
  }
  if (!SendMessage("verack", {})) {
    ADD_FAILURE() << "cannot send verack";
    return false;
  }
  return true;
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

Hash32 DisplayedId(const std::string& hex) {
  Hash32 id{};
  const std::vector<uint8_t> bytes = FromHex(hex);
  EXPECT_EQ(bytes.size(), id.size());
  std::copy(bytes.rbegin(), bytes.rend(), id.begin());
  return id;
}

SegwitVector Bip143SegwitTx() {
  return SegwitVector{
      FromHex(
          "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f00000000"
          "494830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be02204052"
          "9b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d1"
          "82d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb2060000000019"
          "76a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e"
          "4dbe6a21b2d50ce2f0167faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0"
          "d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de6"
          "7eebee0121025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000"),
      DisplayedId("e8151a2af31c368a35053ddd4bdb285a8595c769a3ad83e0fa02314a602d4609"),
      DisplayedId("c36c38370907df2324d9ce9d149d191192f338b37665a82e78e76a12c909b762")};
}

SegwitVector MainnetSegwitTx() {
  return SegwitVector{
      FromHex(
          "01000000000101438afdb24e414d54cc4a17a95f3d40be90d23dfeeb07a48e9e782178efddd88901000000"
          "00fdffffff020db9a60000000000160014b549d227c9edd758288112fe3573c1f85240166880a812010000"
          "00001976a914ae28f233464e6da03c052155119a413d13f3380188ac024730440220200254b765f2512633"
          "4b8de16ee4badf57315c047243942340c16cffd9b11196022074a9476633f093f229456ad904a9d97e26c2"
          "71fc4f01d0501dec008e4aae71c2012102c37a3c5b21a5991d3d7b1e203be195be07104a1a19e5c2ed8232"
          "9a56b431213000000000"),
      DisplayedId("c06aaaa2753dc4e74dd4fe817522dc3c126fd71792dd9acfefdaff11f8ff954d"),
      DisplayedId("f12d56f2234e809129dbf59392961bbe7a89b6250651f6aea7852cc00ced63ff")};
}

Hash32 Sha256d(const uint8_t* data, std::size_t len) {
  Hash32 hash{};
  p2pnet_result result = p2pnet_sha256d(data, len, hash.data());
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  return hash;
}

Hash32 Sha256d(const std::vector<uint8_t>& data) { return Sha256d(data.data(), data.size()); }

std::string Hex(const uint8_t* data, std::size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

std::string Hex(const Hash32& hash) { return Hex(hash.data(), hash.size()); }

ByteWriter& ByteWriter::U8(uint8_t value) {
  bytes_.push_back(value);
  return *this;
}

ByteWriter& ByteWriter::U16BE(uint16_t value) {
  bytes_.push_back(static_cast<uint8_t>(value >> 8));
  bytes_.push_back(static_cast<uint8_t>(value));
  return *this;
}

ByteWriter& ByteWriter::U32(uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) {
    bytes_.push_back(static_cast<uint8_t>(value >> shift));
  }
  return *this;
}

ByteWriter& ByteWriter::U64(uint64_t value) {
  for (int shift = 0; shift < 64; shift += 8) {
    bytes_.push_back(static_cast<uint8_t>(value >> shift));
  }
  return *this;
}

ByteWriter& ByteWriter::CompactSize(uint64_t value) {
  if (value < 0xfd) {
    return U8(static_cast<uint8_t>(value));
  }
  if (value <= 0xffff) {
    U8(0xfd);
    bytes_.push_back(static_cast<uint8_t>(value));
    bytes_.push_back(static_cast<uint8_t>(value >> 8));
    return *this;
  }
  if (value <= 0xffffffffULL) {
    U8(0xfe);
    return U32(static_cast<uint32_t>(value));
  }
  U8(0xff);
  return U64(value);
}

ByteWriter& ByteWriter::Bytes(const uint8_t* data, std::size_t len) {
  bytes_.insert(bytes_.end(), data, data + len);
  return *this;
}

ByteWriter& ByteWriter::VarStr(const std::string& text) {
  CompactSize(text.size());
  return Bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

bool ByteReader::Take(std::size_t len) {
  if (!ok_ || bytes_.size() - offset_ < len) {
    ok_ = false;
    return false;
  }
  return true;
}

uint8_t ByteReader::U8() {
  if (!Take(1)) {
    return 0;
  }
  return bytes_[offset_++];
}

uint32_t ByteReader::U32() {
  if (!Take(4)) {
    return 0;
  }
  uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(bytes_[offset_ + i]) << (8 * i);
  }
  offset_ += 4;
  return value;
}

uint64_t ByteReader::U64() {
  if (!Take(8)) {
    return 0;
  }
  uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(bytes_[offset_ + i]) << (8 * i);
  }
  offset_ += 8;
  return value;
}

uint64_t ByteReader::CompactSize() {
  const uint8_t first = U8();
  if (first < 0xfd) {
    return first;
  }
  if (first == 0xfd) {
    if (!Take(2)) {
      return 0;
    }
    const uint64_t value = static_cast<uint64_t>(bytes_[offset_]) |
                           static_cast<uint64_t>(bytes_[offset_ + 1]) << 8;
    offset_ += 2;
    return value;
  }
  if (first == 0xfe) {
    return U32();
  }
  return U64();
}

Hash32 ByteReader::Hash() {
  Hash32 hash{};
  if (Take(32)) {
    std::memcpy(hash.data(), bytes_.data() + offset_, 32);
    offset_ += 32;
  }
  return hash;
}

void ByteReader::Skip(std::size_t len) {
  if (Take(len)) {
    offset_ += len;
  }
}

std::vector<uint8_t> Frame(uint32_t magic, const std::string& command,
                           const std::vector<uint8_t>& payload) {
  const Hash32 digest = Sha256d(payload);
  const uint32_t checksum = static_cast<uint32_t>(digest[0]) |
                            static_cast<uint32_t>(digest[1]) << 8 |
                            static_cast<uint32_t>(digest[2]) << 16 |
                            static_cast<uint32_t>(digest[3]) << 24;
  std::vector<uint8_t> frame =
      MessageHeader(magic, command, static_cast<uint32_t>(payload.size()), checksum);
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

std::vector<uint8_t> VersionPayload(uint64_t nonce, int32_t start_height,
                                    int32_t protocol_version, const std::string& user_agent) {
  // IPv4-mapped 127.0.0.1.
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  ByteWriter w;
  w.I32(protocol_version)
      .U64(1)  // services: NODE_NETWORK
      .I64(static_cast<int64_t>(std::time(nullptr)))
      .U64(1)  // addr_recv
      .Bytes(kLoopback, sizeof(kLoopback))
      .U16BE(18444)
      .U64(1)  // addr_from
      .Bytes(kLoopback, sizeof(kLoopback))
      .U16BE(0)
      .U64(nonce)
      .VarStr(user_agent)
      .I32(start_height)
      .U8(1);  // relay
  return w.bytes();
}

std::vector<uint8_t> InvPayload(const std::vector<InvEntry>& entries) {
  ByteWriter w;
  w.CompactSize(entries.size());
  for (const InvEntry& entry : entries) {
    w.U32(entry.type).Hash(entry.hash);
  }
  return w.bytes();
}

std::optional<std::vector<InvEntry>> ParseInv(const std::vector<uint8_t>& payload) {
  ByteReader r(payload);
  const uint64_t count = r.CompactSize();
  if (!r.ok() || count > payload.size() / 36) {
    return std::nullopt;
  }
  std::vector<InvEntry> entries;
  entries.reserve(static_cast<std::size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    InvEntry entry;
    entry.type = r.U32();
    entry.hash = r.Hash();
    entries.push_back(entry);
  }
  if (!r.ok() || !r.at_end()) {
    return std::nullopt;
  }
  return entries;
}

std::vector<uint8_t> MessageHeader(uint32_t magic, const std::string& command,
                                   uint32_t payload_length, uint32_t checksum) {
  std::vector<uint8_t> header;
  header.reserve(24);
  auto put_le32 = [&header](uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) {
      header.push_back(static_cast<uint8_t>(value >> shift));
    }
  };
  put_le32(magic);
  for (std::size_t i = 0; i < 12; ++i) {
    header.push_back(i < command.size() ? static_cast<uint8_t>(command[i]) : 0);
  }
  put_le32(payload_length);
  put_le32(checksum);
  return header;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TempDir::TempDir() {
  char pattern[] = "/tmp/p2pnet-test-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  EXPECT_NE(made, nullptr) << "mkdtemp failed";
  if (made != nullptr) {
    path_ = made;
  }
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace p2pnet_test
