// Helpers for the hostile-input, resource-limit and ban tests: a raw socket
// bound to a chosen loopback source address (so each attacker has its own IP
// to be scored and banned), C-API lookups of scores and bans, the test
// process's resident memory, and the check that an engine still serves an
// honest peer.
#ifndef P2PNET_ATTACKER_SUPPORT_HPP
#define P2PNET_ATTACKER_SUPPORT_HPP

#include "relay_support.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace p2pnet_test {

/// The misbehaviour threshold of DESIGN.md §1: at this score a peer is
/// disconnected and its address banned.
inline constexpr uint32_t kBanThreshold = 100;

/// The default ban time (24 h), in seconds.
inline constexpr int64_t kDefaultBanSeconds = 24 * 60 * 60;

/// A blocking TCP client whose source address is bound before it connects,
/// speaking hand-built Bitcoin frames. IPv4 or IPv6 by the address form.
class Attacker {
 public:
  /// Connects from `source_ip` (any port) to `target_ip`:`port`. On failure
  /// connected() is false and a test failure is recorded unless
  /// `expect_success` is false.
  Attacker(const std::string& source_ip, uint16_t port,
           const std::string& target_ip = "127.0.0.1", bool expect_success = true);
  ~Attacker();
  Attacker(const Attacker&) = delete;
  Attacker& operator=(const Attacker&) = delete;

  bool connected() const { return fd_ >= 0; }
  const std::string& source_ip() const { return source_ip_; }

  /// Sends all bytes; false on error (e.g. the engine already closed).
  bool SendAll(const std::vector<uint8_t>& bytes);

  /// Sends one well-formed frame.
  bool SendMessage(const std::string& command, const std::vector<uint8_t>& payload,
                   uint32_t magic = kRegtestMagic);

  /// Reads the next frame; nullopt on close, timeout or a malformed frame.
  std::optional<RawMessage> ReadMessage(std::chrono::milliseconds deadline = kDeadline);

  /// Reads frames until one with `command` arrives, answering pings; other
  /// frames go to `skipped` when given.
  std::optional<RawMessage> WaitForCommand(const std::string& command,
                                           std::chrono::milliseconds deadline = kDeadline,
                                           std::vector<RawMessage>* skipped = nullptr);

  /// version/verack as the connecting side. After it returns the engine has
  /// the peer in its list as soon as it read our verack, which precedes
  /// anything sent next.
  bool Handshake(uint64_t nonce = 0xa77ac4e2a77ac4e2ULL);

  /// Sends a ping with a fresh nonce and waits for the matching pong. The
  /// engine handles one connection's frames in order, so once the pong is
  /// back everything sent before the ping has been processed.
  bool Barrier(std::vector<RawMessage>* skipped = nullptr);

  /// Waits until the engine closes the connection (EOF or reset), discarding
  /// what arrives. False on timeout.
  bool WaitForClose(std::chrono::milliseconds deadline = kDeadline);

  /// Whether the engine has closed the connection; reads what is pending but
  /// never waits.
  bool IsClosed();

  /// Bytes received on this connection so far, whether consumed or not.
  std::size_t bytes_received() const { return bytes_received_; }

  /// Closes the socket now.
  void Close();

 private:
  /// Waits up to `remaining` for data and appends it to the buffer; false on
  /// close, error or timeout (`closed` tells which).
  bool Fill(std::chrono::milliseconds remaining, bool* closed);

  std::string source_ip_;
  int fd_ = -1;
  std::vector<uint8_t> buffer_;
  std::size_t bytes_received_ = 0;
  uint64_t next_ping_nonce_ = 0x9a1e000000000001ULL;
};

/// The bans `engine` holds, through p2pnet_engine_list_bans (asserting success).
std::vector<p2pnet_ban_entry> ListBans(const p2pnet_engine* engine);

/// The ban on exactly `subnet` ("127.1.2.3/32"), if listed.
std::optional<p2pnet_ban_entry> FindBan(const p2pnet_engine* engine, const std::string& subnet);

/// The handshaken peer with this id, through p2pnet_engine_list_peers.
std::optional<p2pnet_peer_info> FindPeer(const p2pnet_engine* engine, uint64_t id);

/// The id of the single handshaken peer whose address is `ip`; nullopt when
/// there is none or more than one.
std::optional<uint64_t> PeerIdByAddress(const p2pnet_engine* engine, const std::string& ip);

/// The misbehaviour score p2pnet_engine_list_peers reports for peer `id`.
std::optional<uint32_t> ScoreOf(const p2pnet_engine* engine, uint64_t id);

/// The score in a disconnect detail "misbehaviour score N (...)"; nullopt if
/// the detail has no such figure.
std::optional<uint32_t> ScoreInDetail(const std::string& detail);

inline constexpr std::size_t kMiB = 1024 * 1024;

/// Bytes as MiB, for figures in test output.
inline double Mib(std::size_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(kMiB);
}

/// VmRSS of this process in bytes, from /proc/self/status (0 if unreadable).
std::size_t ResidentSetBytes();

/// VmData of this process in bytes (heap and private mappings, touched or
/// not), from /proc/self/status (0 if unreadable).
std::size_t DataSegmentBytes();

/// Samples this process's resident set every 5 ms on its own thread and keeps
/// the peak, from construction until Stop().
class PeakRssSampler {
 public:
  PeakRssSampler();
  ~PeakRssSampler() { Stop(); }
  PeakRssSampler(const PeakRssSampler&) = delete;
  PeakRssSampler& operator=(const PeakRssSampler&) = delete;

  void Stop();
  std::size_t baseline() const { return baseline_; }
  std::size_t peak() const { return peak_.load(); }
  std::size_t growth() const { return peak() > baseline_ ? peak() - baseline_ : 0; }

 private:
  const std::size_t baseline_;
  std::atomic<std::size_t> peak_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Raises the soft RLIMIT_NOFILE to at least `wanted` (capped by the hard
/// limit); returns the soft limit in force afterwards.
std::size_t RaiseOpenFileLimit(std::size_t wanted);

/// A process-unique tag for test items, so ids never collide between tests.
uint32_t NextItemTag();

/// An honest engine connects to `target` (from 127.0.0.1), and a block and a
/// transaction travel each way. `target` must accept both items from the
/// honest peer (its item logs record them).
void ExpectHonestPeerServed(TestNode& target);

}  // namespace p2pnet_test

#endif  // P2PNET_ATTACKER_SUPPORT_HPP
