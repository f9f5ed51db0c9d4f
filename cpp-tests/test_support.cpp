#include "test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace p2pnet_test {

ConfigPtr MakeLoopbackConfig() {
  ConfigPtr config(p2pnet_config_new(P2PNET_NETWORK_REGTEST));
  if (!config) {
    ADD_FAILURE() << "p2pnet_config_new returned NULL";
    return config;
  }
  p2pnet_result result = p2pnet_config_set_listen_address(config.get(), "127.0.0.1:0");
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
  p2pnet_result result = p2pnet_engine_listen_port(engine, &port);
  EXPECT_EQ(result, P2PNET_OK) << p2pnet_last_error_message();
  EXPECT_NE(port, 0);
  return port;
}

std::optional<std::vector<p2pnet_peer_info>> GetPeers(const p2pnet_engine* engine) {
  std::vector<p2pnet_peer_info> peers;
  for (;;) {
    std::size_t count = 0;
    p2pnet_result result =
        p2pnet_get_peers(engine, peers.empty() ? nullptr : peers.data(), peers.size(), &count);
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
  ASSERT_EQ(p2pnet_set_on_peer_connected(engine, &OnConnected, this, &OnRelease), P2PNET_OK)
      << p2pnet_last_error_message();
  ASSERT_EQ(p2pnet_set_on_peer_disconnected(engine, &OnDisconnected, this, &OnRelease), P2PNET_OK)
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

bool RawSocket::SendAll(const std::vector<uint8_t>& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
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

}  // namespace p2pnet_test
