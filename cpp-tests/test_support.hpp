// Shared helpers for the p2pnet integration tests: owning handles for the C
// API, an event recorder for the peer callbacks, deadline-based waiting, and
// raw loopback sockets.
#ifndef P2PNET_TEST_SUPPORT_HPP
#define P2PNET_TEST_SUPPORT_HPP

#include "p2pnet.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace p2pnet_test {

/// Generous deadline for anything the tests wait for; only reached on failure.
inline constexpr std::chrono::seconds kDeadline{10};

/// Regtest magic in host byte order (on the wire: FA BF B5 DA).
inline constexpr uint32_t kRegtestMagic = 0xDAB5BFFAu;

struct ConfigDeleter {
  void operator()(p2pnet_config* config) const { p2pnet_config_free(config); }
};
struct EngineDeleter {
  void operator()(p2pnet_engine* engine) const { p2pnet_engine_free(engine); }
};
using ConfigPtr = std::unique_ptr<p2pnet_config, ConfigDeleter>;
using EnginePtr = std::unique_ptr<p2pnet_engine, EngineDeleter>;

/// Regtest config listening on 127.0.0.1 with an OS-chosen port.
ConfigPtr MakeLoopbackConfig();

/// Creates an engine from `config` (asserting success), not started.
EnginePtr MakeEngine(const p2pnet_config* config);

/// Returns the engine's bound listen port (asserting success).
uint16_t ListenPort(const p2pnet_engine* engine);

/// All handshaken peers, growing the buffer on P2PNET_ERR_BUFFER_TOO_SMALL.
/// Returns nullopt if p2pnet_get_peers fails with any other error.
std::optional<std::vector<p2pnet_peer_info>> GetPeers(const p2pnet_engine* engine);

/// Polls `predicate` every 10 ms until it holds or the deadline passes.
/// Only for state that has no event (e.g. ping times, peer list contents).
bool PollUntil(const std::function<bool()>& predicate,
               std::chrono::milliseconds deadline = kDeadline);

/// Human-readable name of a result code for assertion messages.
std::string ResultName(p2pnet_result result);

/// One disconnect event.
struct Disconnect {
  uint64_t peer_id;
  p2pnet_disconnect_reason reason;
  std::string detail;
};

/// Records peer-connected and peer-disconnected callbacks of one engine and
/// lets the test wait for them. Must outlive the engine it is attached to
/// (declare it before the EnginePtr).
class EventRecorder {
 public:
  /// Registers this recorder's callbacks on `engine` (asserting success).
  /// The release functions count how often they ran.
  void Attach(p2pnet_engine* engine);

  /// Waits until `predicate(connected, disconnected)` holds; false on timeout.
  bool WaitUntil(const std::function<bool(const std::vector<p2pnet_peer_info>&,
                                          const std::vector<Disconnect>&)>& predicate,
                 std::chrono::milliseconds deadline = kDeadline);

  bool WaitForConnected(std::size_t count);
  bool WaitForDisconnected(std::size_t count);
  bool WaitForDisconnectReason(p2pnet_disconnect_reason reason);

  std::vector<p2pnet_peer_info> connected() const;
  std::vector<Disconnect> disconnected() const;
  int releases() const { return releases_.load(); }

 private:
  static void OnConnected(void* user_data, const p2pnet_peer_info* peer);
  static void OnDisconnected(void* user_data, uint64_t peer_id, p2pnet_disconnect_reason reason,
                             const char* detail);
  static void OnRelease(void* user_data);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<p2pnet_peer_info> connected_;
  std::vector<Disconnect> disconnected_;
  std::atomic<int> releases_{0};
};

/// A blocking POSIX TCP client socket connected to 127.0.0.1.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }

  /// Sends all bytes (MSG_NOSIGNAL); false on error.
  bool SendAll(const std::vector<uint8_t>& bytes);

  /// Reads and discards data until the peer closes the connection (EOF or
  /// reset). Returns true if closed before `deadline`.
  bool WaitForClose(std::chrono::milliseconds deadline = kDeadline);

 private:
  int fd_ = -1;
};

/// A 24-byte Bitcoin message header. `checksum` is taken as given.
std::vector<uint8_t> MessageHeader(uint32_t magic, const std::string& command,
                                   uint32_t payload_length, uint32_t checksum);

}  // namespace p2pnet_test

#endif  // P2PNET_TEST_SUPPORT_HPP
