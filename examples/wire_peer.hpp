// A peer written by hand on a plain blocking TCP socket, speaking just enough of the
// Bitcoin wire protocol (frames, version/verack, inv, getdata, block, ping/pong) to
// play a misbehaving peer in the local demo. It does not use p2pnet's engine, only its
// SHA-256d for frame checksums.
#ifndef P2PNET_EXAMPLES_WIRE_PEER_HPP
#define P2PNET_EXAMPLES_WIRE_PEER_HPP

#include <p2pnet.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

/// Inventory type of a block in inv/getdata (MSG_BLOCK).
inline constexpr uint32_t kInvBlock = 2;

/// One received frame.
struct WireMessage {
  std::string command;
  std::vector<uint8_t> payload;
};

/// An inv/getdata payload with one entry.
std::vector<uint8_t> SingleInvPayload(uint32_t type, const p2pnet::Hash& hash);

/// The entries of an inv/getdata payload; nothing if it is malformed.
std::optional<std::vector<std::pair<uint32_t, p2pnet::Hash>>> ParseInvPayload(
    const std::vector<uint8_t>& payload);

class WirePeer {
 public:
  /// `magic` is the network magic as a little-endian value (regtest: 0xDAB5BFFA).
  explicit WirePeer(uint32_t magic) : magic_(magic) {}
  ~WirePeer();

  WirePeer(const WirePeer&) = delete;
  WirePeer& operator=(const WirePeer&) = delete;

  /// Connects to `remote_ip`:`port` from `local_ip` (bound first, so that the peer
  /// appears with that address). On failure returns false with `error` set.
  bool Connect(const std::string& local_ip, const std::string& remote_ip, uint16_t port,
               std::string& error);

  /// Sends one frame; false when the connection is gone.
  bool Send(const std::string& command, const std::vector<uint8_t>& payload);

  /// The next frame, or nothing on timeout, close or a malformed frame.
  std::optional<WireMessage> Receive(std::chrono::milliseconds timeout);

  /// Reads frames until one with `command` arrives, answering pings on the way.
  std::optional<WireMessage> WaitFor(const std::string& command,
                                     std::chrono::milliseconds timeout);

  /// The connecting side of the handshake: version out, version and verack in,
  /// verack out.
  bool Handshake(const std::string& user_agent, std::chrono::milliseconds timeout);

  /// True when the remote side closes the connection within `timeout`.
  bool WaitForClose(std::chrono::milliseconds timeout);

 private:
  /// Waits until the socket is readable; false on timeout.
  bool WaitReadable(std::chrono::steady_clock::time_point deadline);

  uint32_t magic_;
  int fd_ = -1;
  std::vector<uint8_t> buffer_;
  bool closed_ = false;
};

#endif  // P2PNET_EXAMPLES_WIRE_PEER_HPP
