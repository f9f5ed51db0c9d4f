// Shared helpers for the p2pnet integration tests: owning handles for the C
// API, an event recorder for the peer callbacks, deadline-based waiting, and
// raw loopback sockets.
#ifndef P2PNET_TEST_SUPPORT_HPP
#define P2PNET_TEST_SUPPORT_HPP

#include "p2pnet.h"

#include <array>
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

/// Regtest config listening on 127.0.0.1 with an OS-chosen port and no
/// automatic outbound connections (only the connections a test makes).
ConfigPtr MakeLoopbackConfig();

/// Creates an engine from `config` (asserting success), not started.
EnginePtr MakeEngine(const p2pnet_config* config);

/// Returns the engine's bound listen port (asserting success).
uint16_t ListenPort(const p2pnet_engine* engine);

/// All handshaken peers, growing the buffer on P2PNET_ERR_BUFFER_TOO_SMALL.
/// Returns nullopt if p2pnet_engine_list_peers fails with any other error.
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

// ---------------------------------------------------------------------------
// Hand-built Bitcoin wire messages for raw-socket peers.
// ---------------------------------------------------------------------------

/// A 32-byte id in wire byte order.
using Hash32 = std::array<uint8_t, 32>;

/// SHA-256d through p2pnet_sha256d (asserting success).
Hash32 Sha256d(const uint8_t* data, std::size_t len);
Hash32 Sha256d(const std::vector<uint8_t>& data);

/// Lower-case hex of the bytes (for assertion messages).
std::string Hex(const uint8_t* data, std::size_t len);
std::string Hex(const Hash32& hash);

/// Inventory types of inv/getdata/notfound entries.
inline constexpr uint32_t kInvTx = 1;
inline constexpr uint32_t kInvBlock = 2;
/// A transaction by wtxid (BIP339).
inline constexpr uint32_t kInvWtx = 5;
/// The witness forms (BIP144).
inline constexpr uint32_t kInvWitnessTx = 0x40000001;
inline constexpr uint32_t kInvWitnessBlock = 0x40000002;

/// Bytes from hex (two digits per byte, no separators).
std::vector<uint8_t> FromHex(const std::string& hex);

/// A txid or wtxid as explorers display it, in wire byte order.
Hash32 DisplayedId(const std::string& hex);

/// Segwit transactions with published ids, to check ids and relay by wtxid.
struct SegwitVector {
  std::vector<uint8_t> bytes;
  Hash32 txid;
  Hash32 wtxid;
};

/// BIP143's native P2WPKH example, signed.
SegwitVector Bip143SegwitTx();
/// Mainnet transaction c06aaaa2...954d (one P2WPKH input).
SegwitVector MainnetSegwitTx();

/// One inventory entry.
struct InvEntry {
  uint32_t type = 0;
  Hash32 hash{};
  bool operator==(const InvEntry& other) const { return type == other.type && hash == other.hash; }
  bool operator!=(const InvEntry& other) const { return !(*this == other); }
};

/// Appends Bitcoin consensus encodings (little endian, CompactSize) to a buffer.
class ByteWriter {
 public:
  ByteWriter& U8(uint8_t value);
  ByteWriter& U16BE(uint16_t value);
  ByteWriter& U32(uint32_t value);
  ByteWriter& U64(uint64_t value);
  ByteWriter& I32(int32_t value) { return U32(static_cast<uint32_t>(value)); }
  ByteWriter& I64(int64_t value) { return U64(static_cast<uint64_t>(value)); }
  ByteWriter& CompactSize(uint64_t value);
  ByteWriter& Bytes(const uint8_t* data, std::size_t len);
  ByteWriter& Bytes(const std::vector<uint8_t>& data) { return Bytes(data.data(), data.size()); }
  ByteWriter& Hash(const Hash32& hash) { return Bytes(hash.data(), hash.size()); }
  ByteWriter& VarStr(const std::string& text);
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

/// Reads Bitcoin consensus encodings; any read past the end sets ok() to false.
class ByteReader {
 public:
  explicit ByteReader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  uint64_t CompactSize();
  Hash32 Hash();
  void Skip(std::size_t len);
  bool ok() const { return ok_; }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  bool Take(std::size_t len);
  const std::vector<uint8_t>& bytes_;
  std::size_t offset_ = 0;
  bool ok_ = true;
};

/// A complete frame: 24-byte header with the correct checksum, then the payload.
std::vector<uint8_t> Frame(uint32_t magic, const std::string& command,
                           const std::vector<uint8_t>& payload);

/// A version payload (protocol 70001 by default) from a peer at 127.0.0.1.
std::vector<uint8_t> VersionPayload(uint64_t nonce, int32_t start_height = 0,
                                    int32_t protocol_version = 70001,
                                    const std::string& user_agent = "/p2pnet-raw-test:0.1/");

/// inv / getdata / notfound payload.
std::vector<uint8_t> InvPayload(const std::vector<InvEntry>& entries);

/// Parses an inv / getdata / notfound payload; nullopt if malformed.
std::optional<std::vector<InvEntry>> ParseInv(const std::vector<uint8_t>& payload);

/// A received frame.
struct RawMessage {
  std::string command;
  std::vector<uint8_t> payload;
};

/// Sends all bytes on a connected socket (MSG_NOSIGNAL, retrying on EINTR); false on error.
bool SendAllToSocket(int fd, const std::vector<uint8_t>& bytes);

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

  /// Sends one well-formed frame.
  bool SendMessage(const std::string& command, const std::vector<uint8_t>& payload,
                   uint32_t magic = kRegtestMagic);

  /// Reads and discards data until the peer closes the connection (EOF or
  /// reset). Returns true if closed before `deadline`.
  bool WaitForClose(std::chrono::milliseconds deadline = kDeadline);

  /// Reads the next complete frame. Returns nullopt (with a test failure
  /// message for bad frames) on close, timeout, wrong magic or bad checksum.
  std::optional<RawMessage> ReadMessage(std::chrono::milliseconds deadline = kDeadline,
                                        uint32_t magic = kRegtestMagic);

  /// Reads frames until one with `command` arrives; other frames are appended
  /// to `skipped` (if given), and pings are answered with pongs.
  std::optional<RawMessage> WaitForCommand(const std::string& command,
                                           std::chrono::milliseconds deadline = kDeadline,
                                           std::vector<RawMessage>* skipped = nullptr);

  /// The version/verack handshake as the connecting side: sends version,
  /// reads the engine's version and verack, sends verack. Returns false (with
  /// a test failure) if it does not complete. Afterwards the engine has
  /// registered the peer once it reads the verack, which precedes anything
  /// sent next on this socket.
  bool Handshake(uint64_t nonce = 0x5eed5eed5eed5eedULL, int32_t start_height = 0);

  /// What a handshake announces beyond the defaults.
  struct HandshakeOptions {
    int32_t protocol_version = 70001;
    /// Payload-less commands sent between our version and our verack, such as
    /// "wtxidrelay" or "sendaddrv2".
    std::vector<std::string> before_verack;
    /// Filled with the commands the engine sent, up to and including its verack.
    std::vector<std::string>* received = nullptr;
  };
  bool Handshake(uint64_t nonce, int32_t start_height, const HandshakeOptions& options);

 private:
  int fd_ = -1;
  std::vector<uint8_t> buffer_;
};

/// Unix seconds from the clock the engine reads (time() may lag behind it: glibc
/// serves it from the coarse clock).
int64_t UnixNow();

/// A temporary directory under /tmp, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A 24-byte Bitcoin message header. `checksum` is taken as given.
std::vector<uint8_t> MessageHeader(uint32_t magic, const std::string& command,
                                   uint32_t payload_length, uint32_t checksum);

}  // namespace p2pnet_test

#endif  // P2PNET_TEST_SUPPORT_HPP
