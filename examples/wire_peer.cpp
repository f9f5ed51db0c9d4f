#include "wire_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

namespace {

constexpr std::size_t kFrameHeaderSize = 24;
constexpr std::size_t kCommandSize = 12;
/// Enough for anything the demo receives; larger frames are treated as malformed.
constexpr uint32_t kMaxPayload = 4 * 1024 * 1024;
constexpr int32_t kProtocolVersion = 70001;

/// Bitcoin's little-endian and CompactSize encodings.
class Writer {
 public:
  Writer& U8(uint8_t value) {
    bytes_.push_back(value);
    return *this;
  }
  Writer& U16BigEndian(uint16_t value) {
    return U8(static_cast<uint8_t>(value >> 8)).U8(static_cast<uint8_t>(value));
  }
  Writer& U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
    return *this;
  }
  Writer& U64(uint64_t value) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
    return *this;
  }
  Writer& CompactSize(uint64_t value) {
    if (value < 0xfd) return U8(static_cast<uint8_t>(value));
    if (value <= 0xffff) {
      return U8(0xfd).U8(static_cast<uint8_t>(value)).U8(static_cast<uint8_t>(value >> 8));
    }
    if (value <= 0xffffffffu) return U8(0xfe).U32(static_cast<uint32_t>(value));
    return U8(0xff).U64(value);
  }
  Writer& Bytes(const uint8_t* data, std::size_t size) {
    bytes_.insert(bytes_.end(), data, data + size);
    return *this;
  }
  Writer& VarStr(const std::string& text) {
    CompactSize(text.size());
    return Bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }
  /// A version-message network address: services, IPv4-mapped IPv6, big-endian port.
  Writer& Address(uint32_t ipv4, uint16_t port) {
    static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    U64(0).Bytes(kMappedPrefix, sizeof(kMappedPrefix));
    for (int shift = 24; shift >= 0; shift -= 8) U8(static_cast<uint8_t>(ipv4 >> shift));
    return U16BigEndian(port);
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

uint32_t ReadU32(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

std::vector<uint8_t> VersionPayload(const std::string& user_agent) {
  const uint32_t loopback = 0x7f000001;
  Writer w;
  w.U32(static_cast<uint32_t>(kProtocolVersion))
      .U64(0)  // services: none, this peer serves nothing
      .U64(static_cast<uint64_t>(std::time(nullptr)))
      .Address(loopback, 0)
      .Address(loopback, 0)
      .U64(std::random_device{}())  // nonce
      .VarStr(user_agent)
      .U32(0)  // start height
      .U8(1);  // relay
  return w.bytes();
}

}  // namespace

std::vector<uint8_t> SingleInvPayload(uint32_t type, const p2pnet::Hash& hash) {
  Writer w;
  w.CompactSize(1).U32(type).Bytes(hash.data(), hash.size());
  return w.bytes();
}

std::optional<std::vector<std::pair<uint32_t, p2pnet::Hash>>> ParseInvPayload(
    const std::vector<uint8_t>& payload) {
  if (payload.empty()) {
    return std::nullopt;
  }
  // Counts below 0xfd take one byte; the demo never sees longer lists.
  const std::size_t count = payload[0];
  if (count >= 0xfd || payload.size() != 1 + count * 36) {
    return std::nullopt;
  }
  std::vector<std::pair<uint32_t, p2pnet::Hash>> entries;
  for (std::size_t i = 0; i < count; ++i) {
    const uint8_t* entry = payload.data() + 1 + i * 36;
    p2pnet::Hash hash{};
    std::memcpy(hash.data(), entry + 4, hash.size());
    entries.emplace_back(ReadU32(entry), hash);
  }
  return entries;
}

WirePeer::~WirePeer() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool WirePeer::Connect(const std::string& local_ip, const std::string& remote_ip, uint16_t port,
                       std::string& error) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (::inet_pton(AF_INET, local_ip.c_str(), &local.sin_addr) != 1 ||
      ::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    error = "cannot bind " + local_ip + ": " + std::strerror(errno);
    return false;
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  if (::inet_pton(AF_INET, remote_ip.c_str(), &remote.sin_addr) != 1 ||
      ::connect(fd_, reinterpret_cast<const sockaddr*>(&remote), sizeof(remote)) != 0) {
    error = "cannot connect to " + remote_ip + ":" + std::to_string(port) + ": " +
            std::strerror(errno);
    return false;
  }
  // Each message goes out at once instead of waiting for the previous one's ACK.
  const int no_delay = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay));
  return true;
}

bool WirePeer::Send(const std::string& command, const std::vector<uint8_t>& payload) {
  if (fd_ < 0 || command.size() > kCommandSize) {
    return false;
  }
  Writer frame;
  frame.U32(magic_);
  char name[kCommandSize] = {};
  std::memcpy(name, command.data(), command.size());
  frame.Bytes(reinterpret_cast<const uint8_t*>(name), kCommandSize);
  frame.U32(static_cast<uint32_t>(payload.size()));
  const p2pnet::Hash checksum = p2pnet::Sha256d(payload);
  frame.Bytes(checksum.data(), 4).Bytes(payload.data(), payload.size());
  const std::vector<uint8_t>& bytes = frame.bytes();
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
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

bool WirePeer::WaitReadable(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return false;
    }
    pollfd entry{fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(remaining.count()));
    if (ready > 0) {
      return true;
    }
    if (ready < 0 && errno != EINTR) {
      return false;
    }
  }
}

std::optional<WireMessage> WirePeer::Receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (buffer_.size() >= kFrameHeaderSize) {
      if (ReadU32(buffer_.data()) != magic_) {
        return std::nullopt;
      }
      const uint32_t length = ReadU32(buffer_.data() + 16);
      if (length > kMaxPayload) {
        return std::nullopt;
      }
      if (buffer_.size() >= kFrameHeaderSize + length) {
        WireMessage message;
        const char* name = reinterpret_cast<const char*>(buffer_.data() + 4);
        message.command.assign(name, strnlen(name, kCommandSize));
        message.payload.assign(buffer_.begin() + kFrameHeaderSize,
                               buffer_.begin() + kFrameHeaderSize + length);
        buffer_.erase(buffer_.begin(), buffer_.begin() + kFrameHeaderSize + length);
        return message;
      }
    }
    if (closed_ || fd_ < 0 || !WaitReadable(deadline)) {
      return std::nullopt;
    }
    uint8_t chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      closed_ = true;
      return std::nullopt;
    }
    buffer_.insert(buffer_.end(), chunk, chunk + n);
  }
}

std::optional<WireMessage> WirePeer::WaitFor(const std::string& command,
                                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return std::nullopt;
    }
    std::optional<WireMessage> message = Receive(remaining);
    if (!message || message->command == command) {
      return message;
    }
    if (message->command == "ping") {
      Send("pong", message->payload);
    }
  }
}

bool WirePeer::Handshake(const std::string& user_agent, std::chrono::milliseconds timeout) {
  if (!Send("version", VersionPayload(user_agent))) {
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool got_version = false;
  bool got_verack = false;
  while (!(got_version && got_verack)) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<WireMessage> message = Receive(remaining);
    if (!message) {
      return false;
    }
    got_version = got_version || message->command == "version";
    got_verack = got_verack || message->command == "verack";
  }
  return Send("verack", {});
}

bool WirePeer::WaitForClose(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    if (fd_ < 0 || !WaitReadable(deadline)) {
      return closed_;
    }
    uint8_t chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      closed_ = true;
    }
  }
  return true;
}
