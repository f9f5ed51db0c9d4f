/**
 * @file p2pnet.hpp
 * @brief Header-only C++17 wrapper around the p2pnet C API (p2pnet.h).
 *
 * The wrapper adds RAII ownership of the engine and configuration handles,
 * std::function callbacks and exceptions. It is a thin layer: every method
 * calls exactly one C function, and everything the C header documents about
 * threading, ownership and timing applies unchanged.
 *
 * Error handling: every method that calls a fallible C function throws
 * p2pnet::Error when the result is not P2PNET_OK. The exception carries the
 * result code and the message of p2pnet_last_error_message().
 *
 * Callbacks: callbacks run on the engine's dispatcher thread, never on the
 * thread that registered them (the one exception is the hash function of
 * SetHashFunction, which runs on network threads). They may call any
 * NetworkManager method (GetPeers, AddPeer, DisconnectPeer, BroadcastBlock,
 * Ban, Stop, ...) but must not destroy the NetworkManager that invoked them.
 * Exceptions thrown by a callback are caught by the wrapper, because an
 * exception must never unwind into the Rust engine; a callback that must
 * answer then gives a neutral answer (Verdict::Ignored, NOTFOUND, no headers,
 * the default id), as each callback type documents.
 *
 * Example:
 * @code
 *   p2pnet::Config config(p2pnet::Network::Regtest);
 *   config.SetListenAddress("127.0.0.1:0").SetUserAgent("/mynode:1.0/");
 *   p2pnet::NetworkManager network(config);
 *   network.SetOnPeerConnected([](const p2pnet::PeerInfo& peer) {
 *     std::cout << "connected to " << peer.address << ":" << peer.port << "\n";
 *   });
 *   network.SetOnTransaction([&](uint64_t peer, const p2pnet::Hash& id, p2pnet::ByteView tx) {
 *     return mempool.Accept(id, tx.ToVector()) ? p2pnet::Verdict::Accepted
 *                                              : p2pnet::Verdict::Invalid;
 *   });
 *   network.Start();
 *   network.AddPeer("127.0.0.1", 18444);
 *   p2pnet::Hash txid = network.BroadcastTransaction(my_tx_bytes);
 *   for (const auto& peer : network.GetPeers()) { ... }
 *   network.Stop();
 * @endcode
 */
#ifndef P2PNET_HPP
#define P2PNET_HPP

// One clear error instead of pages of them: the wrapper uses C++17 (std::optional,
// inline variables). MSVC reports its standard in _MSVC_LANG.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "p2pnet.hpp requires C++17 or later: compile with -std=c++17 (CMake: link p2pnet::p2pnet, which requires cxx_std_17). From C or older C++, include p2pnet.h, the C API."
#else

#include "p2pnet.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

/** @brief C++ interface of the p2pnet networking engine. */
namespace p2pnet {

/** @brief Network preset a Config starts from (magic, default port, ...). */
enum class Network {
  /** Bitcoin mainnet defaults: magic 0xD9B4BEF9, port 8333. */
  Mainnet = P2PNET_NETWORK_MAINNET,
  /** Bitcoin testnet defaults: magic 0x0709110B, port 18333. */
  Testnet = P2PNET_NETWORK_TESTNET,
  /** Bitcoin regtest defaults: magic 0xDAB5BFFA, port 18444. */
  Regtest = P2PNET_NETWORK_REGTEST,
};

/** @brief Which transports the engine speaks (BIP324); mirrors p2pnet_transport_mode. */
enum class TransportMode {
  /** Plaintext v1 only. */
  V1Only = P2PNET_TRANSPORT_V1_ONLY,
  /** The default: v2 where the peer offers it, v1 otherwise (Bitcoin Core's rule). */
  PreferV2 = P2PNET_TRANSPORT_PREFER_V2,
  /** Encrypted v2 only: v1 peers are refused. */
  V2Only = P2PNET_TRANSPORT_V2_ONLY,
};

/** @brief How a connection came about; mirrors p2pnet_connection_kind. */
enum class ConnectionKind {
  /** The peer connected to us. */
  Inbound = P2PNET_CONNECTION_INBOUND,
  /** Chosen from the address book to fill the outbound target. */
  OutboundFullRelay = P2PNET_CONNECTION_OUTBOUND_FULL_RELAY,
  /** Asked for by the node (AddPeer, AddNode). */
  Manual = P2PNET_CONNECTION_MANUAL,
  /** Outbound for blocks only: no transactions, no addresses. */
  BlockRelay = P2PNET_CONNECTION_BLOCK_RELAY,
  /** A short connection testing an address; closes after the handshake. */
  Feeler = P2PNET_CONNECTION_FEELER,
};

/** @brief Why a connection ended; mirrors p2pnet_disconnect_reason. */
enum class DisconnectReason {
  /** The node asked for it (NetworkManager::DisconnectPeer). */
  Requested = P2PNET_DISCONNECT_REQUESTED,
  /** The remote side closed the connection. */
  ClosedByPeer = P2PNET_DISCONNECT_CLOSED_BY_PEER,
  /** A socket error occurred. */
  IoError = P2PNET_DISCONNECT_IO_ERROR,
  /** The version/verack handshake did not complete in time. */
  HandshakeTimeout = P2PNET_DISCONNECT_HANDSHAKE_TIMEOUT,
  /** Nothing was received for the inactivity timeout. */
  InactivityTimeout = P2PNET_DISCONNECT_INACTIVITY_TIMEOUT,
  /** The engine connected to itself (its own version nonce came back). */
  SelfConnection = P2PNET_DISCONNECT_SELF_CONNECTION,
  /** Wrong magic, oversized frame, undecodable header or bad handshake. */
  ProtocolViolation = P2PNET_DISCONNECT_PROTOCOL_VIOLATION,
  /** The peer's protocol version is below the configured minimum. */
  ObsoleteVersion = P2PNET_DISCONNECT_OBSOLETE_VERSION,
  /** The peer's misbehaviour score reached the threshold, or it is banned. */
  Misbehaviour = P2PNET_DISCONNECT_MISBEHAVIOUR,
  /** The peer does not read what the engine sends. */
  SendBufferFull = P2PNET_DISCONNECT_SEND_BUFFER_FULL,
  /** Rejected or evicted because of connection limits. */
  ConnectionLimit = P2PNET_DISCONNECT_CONNECTION_LIMIT,
  /** An outbound connection attempt failed or timed out. */
  ConnectFailed = P2PNET_DISCONNECT_CONNECT_FAILED,
  /** The peer's address is banned. */
  Banned = P2PNET_DISCONNECT_BANNED,
  /** The connection's task failed unexpectedly; other peers are unaffected. */
  InternalError = P2PNET_DISCONNECT_INTERNAL_ERROR,
  /** Connection management closed it: a feeler after its handshake, or an extra
   *  outbound peer rotated out. */
  Rotated = P2PNET_DISCONNECT_ROTATED,
};

/** @brief Severity of an engine log message; mirrors p2pnet_log_level. */
enum class LogLevel {
  /** No messages (only meaningful as a filter). */
  Off = P2PNET_LOG_OFF,
  /** Errors. */
  Error = P2PNET_LOG_ERROR,
  /** Warnings. */
  Warn = P2PNET_LOG_WARN,
  /** Informational messages. */
  Info = P2PNET_LOG_INFO,
  /** Debugging messages. */
  Debug = P2PNET_LOG_DEBUG,
  /** Very verbose tracing messages. */
  Trace = P2PNET_LOG_TRACE,
};

/** @brief The two relayed item kinds; mirrors p2pnet_item_kind. */
enum class ItemKind {
  /** A block (its id is SHA-256d of the first 80 bytes by default). */
  Block = P2PNET_ITEM_BLOCK,
  /** A transaction (its id is its txid by default: SHA-256d without segwit witnesses). */
  Tx = P2PNET_ITEM_TX,
};

/** @brief How a peer asked for an item (BIP144, BIP339); mirrors p2pnet_item_form. */
enum class ItemForm {
  /** By id, without witnesses (MSG_TX, MSG_BLOCK); the witness form is stripped. */
  Legacy = P2PNET_FORM_LEGACY,
  /** By id, with witnesses (MSG_WITNESS_TX, MSG_WITNESS_BLOCK). */
  Witness = P2PNET_FORM_WITNESS,
  /** A transaction by its wtxid, with witnesses (MSG_WTX): the id is a wtxid. */
  WitnessByWtxid = P2PNET_FORM_WITNESS_BY_WTXID,
};

/**
 * @brief The node's verdict on a received block or transaction.
 *
 * The values are those of the C enum p2pnet_verdict (P2PNET_VERDICT_*), which
 * the item callbacks return as a uint32_t and p2pnet_engine_report_verdict takes.
 */
enum class Verdict : uint32_t {
  /** Valid and new: the engine relays it to peers that do not have it. */
  Accepted = 0,
  /** Not relayed; the sender is not blamed (already known, uninteresting, ...). */
  Ignored = 1,
  /** Invalid: not relayed, and the sender's misbehaviour score rises by 100. */
  Invalid = 2,
  /** The node validates later and reports with NetworkManager::ReportVerdict. */
  Pending = 3,
};

/** @brief A 32-byte item id (block or transaction hash), in wire byte order. */
using Hash = std::array<uint8_t, 32>;

/** @brief An 80-byte block header, as carried by headers messages. */
using BlockHeader = std::array<uint8_t, 80>;

/**
 * @brief A non-owning view of a contiguous byte range (a minimal std::span).
 *
 * Views passed to callbacks borrow engine memory for the duration of the call
 * only: copy the bytes (ToVector()) to keep them. Views passed to wrapper
 * methods must stay valid for the duration of that call.
 */
class ByteView {
 public:
  /** @brief An empty view. */
  constexpr ByteView() noexcept = default;

  /** @brief Views @p size bytes at @p data (NULL only when @p size is 0). */
  constexpr ByteView(const uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  /** @brief Views the bytes of a vector (implicit, so a vector can be passed directly). */
  ByteView(const std::vector<uint8_t>& bytes) noexcept  // NOLINT(google-explicit-constructor)
      : data_(bytes.data()), size_(bytes.size()) {}

  /** @brief Views the bytes of an array (implicit, so a Hash or BlockHeader can be passed). */
  template <std::size_t N>
  ByteView(const std::array<uint8_t, N>& bytes) noexcept  // NOLINT(google-explicit-constructor)
      : data_(bytes.data()), size_(N) {}

  /** @brief Pointer to the first byte (may be NULL when empty). */
  constexpr const uint8_t* data() const noexcept { return data_; }
  /** @brief Number of bytes. */
  constexpr std::size_t size() const noexcept { return size_; }
  /** @brief True when the view has no bytes. */
  constexpr bool empty() const noexcept { return size_ == 0; }
  /** @brief Iterator to the first byte. */
  constexpr const uint8_t* begin() const noexcept { return data_; }
  /** @brief Iterator past the last byte. */
  constexpr const uint8_t* end() const noexcept { return data_ + size_; }
  /** @brief The byte at @p index (unchecked). */
  constexpr uint8_t operator[](std::size_t index) const noexcept { return data_[index]; }

  /** @brief An owning copy of the bytes. */
  std::vector<uint8_t> ToVector() const { return std::vector<uint8_t>(begin(), end()); }

 private:
  /** @brief First viewed byte. */
  const uint8_t* data_ = nullptr;
  /** @brief Number of viewed bytes. */
  std::size_t size_ = 0;
};

/**
 * @brief Exception thrown when a p2pnet C function returns an error.
 *
 * what() is the engine's message for the failure (p2pnet_last_error_message()),
 * or the name of the result code when the engine gave no message.
 */
class Error : public std::runtime_error {
 public:
  /** @brief Creates an error with the given result code and message. */
  Error(p2pnet_result code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  /** @brief The C result code that caused this error (never P2PNET_OK). */
  p2pnet_result code() const noexcept { return code_; }

 private:
  /** @brief The C result code. */
  p2pnet_result code_;
};

/**
 * @brief Snapshot of a fully handshaken peer.
 *
 * A value type: it owns its strings and stays valid after the callback or
 * GetPeers() call that produced it.
 */
struct PeerInfo {
  /** Engine-assigned connection id, unique for the engine's lifetime. */
  uint64_t id = 0;
  /** Textual IP address without port, e.g. "127.0.0.1" or "::1". */
  std::string address;
  /** Remote TCP port. */
  uint16_t port = 0;
  /** True when the peer connected to us, false when we dialed it. */
  bool inbound = false;
  /** Protocol version from the peer's version message. */
  int32_t version = 0;
  /** Service bits from the peer's version message. */
  uint64_t services = 0;
  /** User agent from the peer's version message. */
  std::string user_agent;
  /** Best height the peer announced in its version message. */
  int32_t start_height = 0;
  /** Last measured ping round-trip time; empty until a pong was received. */
  std::optional<std::chrono::microseconds> ping_time;
  /** Bytes sent to the peer on this connection (frames included). */
  uint64_t bytes_sent = 0;
  /** Bytes received from the peer on this connection (frames included). */
  uint64_t bytes_received = 0;
  /** When the connection was established (second resolution). */
  std::chrono::system_clock::time_point connected_since;
  /** Accumulated misbehaviour points; the peer is disconnected and banned at 100. */
  uint32_t misbehaviour_score = 0;
  /** Blocks and transactions waiting to be announced to this peer (relay back-pressure). */
  uint64_t announcements_queued = 0;
  /** How the connection came about. */
  ConnectionKind kind = ConnectionKind::Inbound;
  /** When bytes last went to the peer's socket (second resolution). */
  std::chrono::system_clock::time_point last_send;
  /** When bytes last came from the peer's socket (second resolution). */
  std::chrono::system_clock::time_point last_receive;
  /** Blocks requested from the peer and not delivered yet. */
  uint32_t blocks_in_flight = 0;
  /** The highest block height the peer is known to have (see SyncStatus::best_peer_height). */
  int32_t best_known_height = 0;
  /** 1: plaintext v1; 2: BIP324 encrypted v2. */
  int transport_version = 1;
  /** The BIP324 session id (v2 only), the same on both ends of the connection. */
  std::optional<std::array<uint8_t, 32>> session_id;
};

/** @brief Engine-wide traffic since the engine was created (p2pnet_net_totals). */
struct NetTotals {
  /** Bytes written to peer sockets. */
  uint64_t bytes_sent = 0;
  /** Bytes read from peer sockets. */
  uint64_t bytes_received = 0;
  /** Messages sent. */
  uint64_t messages_sent = 0;
  /** Messages received. */
  uint64_t messages_received = 0;
};

/** @brief Messages and bytes (header included) of one command (p2pnet_command_traffic). */
struct CommandTraffic {
  /** The command; "*other*" sums the commands without a name of their own. */
  std::string command;
  /** Messages of this command sent. */
  uint64_t messages_sent = 0;
  /** Their bytes, header included. */
  uint64_t bytes_sent = 0;
  /** Messages of this command received. */
  uint64_t messages_received = 0;
  /** Their bytes, header included. */
  uint64_t bytes_received = 0;
};

/** @brief Block download progress (p2pnet_sync_status). */
struct SyncStatus {
  /** The node's own height as it last reported it (SetBestBlock). */
  int32_t current_height = 0;
  /**
   * The highest block height a connected peer is known to have: version start
   * heights, raised by the headers, announcements and blocks peers sent (where the
   * engine can tell the height from the tip given to SetBestBlock). The sync target.
   */
  int32_t best_peer_height = 0;
  /** Peers that completed the handshake. */
  uint32_t peer_count = 0;
  /** Blocks requested from peers and not yet received. */
  uint32_t blocks_in_flight = 0;
  /** Blocks passed to FetchBlocks waiting for a free peer slot. */
  uint32_t blocks_queued = 0;

  /** @brief How far the node is towards the best peer, in percent (100 when level). */
  double ProgressPercent() const {
    const int32_t target = best_peer_height > current_height ? best_peer_height : current_height;
    return target <= 0 ? 100.0 : 100.0 * current_height / target;
  }
};

/** @brief Why a partition is suspected; mirrors p2pnet_partition_signal. */
enum class PartitionSignal {
  /** No rule holds. */
  None = P2PNET_PARTITION_NONE,
  /** Outbound connections are wanted, but none has been up for a block interval. */
  Isolated = P2PNET_PARTITION_ISOLATED,
  /** At least half of the last 8 (at least 4) attempts to addresses that once worked
   *  failed. */
  KnownPeersUnreachable = P2PNET_PARTITION_KNOWN_PEERS_UNREACHABLE,
  /** The tip is stale and no connected peer has announced a block above it. */
  StaleWithNoBetterPeer = P2PNET_PARTITION_STALE_WITH_NO_BETTER_PEER,
};

/** @brief The node's standing in the network (p2pnet_health); a value type. */
struct Health {
  /** Connections that completed the handshake, by kind. */
  uint32_t inbound = 0;
  uint32_t outbound_full_relay = 0;
  uint32_t block_relay = 0;
  uint32_t manual = 0;
  uint32_t feeler = 0;
  /** Automatic outbound slots (full-relay plus block-relay-only) and how many are filled. */
  uint32_t outbound_target = 0;
  uint32_t outbound_filled = 0;
  /** The node's tip height (SetBestBlock) and the best height a peer announced. */
  int32_t tip_height = 0;
  int32_t best_peer_height = 0;
  /** Since the tip last advanced (since start while it never has). */
  std::chrono::milliseconds tip_age{0};
  /** Since a block new to the engine last arrived from a peer; empty before the first. */
  std::optional<std::chrono::milliseconds> network_block_age;
  /** The tip has not advanced for three block intervals (Config::SetBlockInterval). */
  bool stale_tip = false;
  /** Why a partition is suspected; PartitionSignal::None when it is not. */
  PartitionSignal partition = PartitionSignal::None;

  bool PartitionSuspected() const { return partition != PartitionSignal::None; }
};

/** @brief One ban in force (p2pnet_ban_entry); a value type. */
struct BanEntry {
  /** The banned subnet in CIDR form, e.g. "127.0.0.1/32" or "2001:db8::/32". */
  std::string subnet;
  /** When the ban was made (second resolution). */
  std::chrono::system_clock::time_point created;
  /** When the ban ends (second resolution). */
  std::chrono::system_clock::time_point until;
  /** Why the address was banned. */
  std::string reason;
};

/** @brief Name of a result code, e.g. "P2PNET_ERR_IO" (p2pnet_result_name). */
inline std::string ToString(p2pnet_result result) {
  const char* name = p2pnet_result_name(static_cast<uint32_t>(result));
  return name != nullptr ? std::string(name) : std::string();
}

/** @brief Description of a disconnect reason, e.g. "handshake timeout" (p2pnet_disconnect_reason_name). */
inline std::string ToString(DisconnectReason reason) {
  const char* name = p2pnet_disconnect_reason_name(static_cast<uint32_t>(reason));
  return name != nullptr ? std::string(name) : std::string();
}

/** @brief Name of a log level, e.g. "INFO". */
inline std::string ToString(LogLevel level) {
  switch (level) {
    case LogLevel::Off: return "OFF";
    case LogLevel::Error: return "ERROR";
    case LogLevel::Warn: return "WARN";
    case LogLevel::Info: return "INFO";
    case LogLevel::Debug: return "DEBUG";
    case LogLevel::Trace: return "TRACE";
  }
  return "UNKNOWN";
}

/** @brief Version of the linked p2pnet library, e.g. "0.1.0". */
inline std::string Version() {
  const char* version = p2pnet_version_string();
  return version != nullptr ? std::string(version) : std::string();
}

/** @brief A version as MAJOR.MINOR.PATCH numbers. */
struct VersionNumbers {
  /** Incompatible changes (from 1.0). */
  int major = 0;
  /** During 0.x, incompatible changes too. */
  int minor = 0;
  /** Fixes. */
  int patch = 0;
};

/** @brief The version this program was compiled against (p2pnet.h's P2PNET_VERSION_* macros). */
inline VersionNumbers HeaderVersion() noexcept {
  return VersionNumbers{P2PNET_VERSION_MAJOR, P2PNET_VERSION_MINOR, P2PNET_VERSION_PATCH};
}

/**
 * @brief The version of the library loaded at run time, from p2pnet_version_string().
 * Numbers that cannot be read are -1.
 */
inline VersionNumbers LibraryVersion() noexcept {
  VersionNumbers numbers{-1, -1, -1};
  const char* text = p2pnet_version_string();
  int* parts[3] = {&numbers.major, &numbers.minor, &numbers.patch};
  for (int i = 0; i < 3 && text != nullptr; ++i) {
    if (*text < '0' || *text > '9') {
      break;
    }
    int value = 0;
    while (*text >= '0' && *text <= '9' && value < 100000) {
      value = value * 10 + (*text - '0');
      ++text;
    }
    *parts[i] = value;
    if (*text != '.') {
      break;
    }
    ++text;
  }
  return numbers;
}

/**
 * @brief True when the loaded library can serve a program compiled against this
 * header: the same major version, and during 0.x (where every minor release may
 * change the ABI, see the soname libp2pnet.so.0.MINOR) the same minor version;
 * from 1.0 on a library minor version at least the header's.
 */
inline bool IsLibraryCompatible() noexcept {
  const VersionNumbers header = HeaderVersion();
  const VersionNumbers library = LibraryVersion();
  if (library.major != header.major) {
    return false;
  }
  return header.major == 0 ? library.minor == header.minor : library.minor >= header.minor;
}

/**
 * @brief Throws p2pnet::Error (P2PNET_ERR_INVALID_STATE) naming both versions
 * when IsLibraryCompatible() is false; call it once at start-up.
 */
inline void CheckLibraryVersion() {
  if (!IsLibraryCompatible()) {
    throw Error(P2PNET_ERR_INVALID_STATE,
                std::string("p2pnet: compiled against p2pnet.h " P2PNET_VERSION_STRING
                            ", but the loaded library is ") +
                    Version());
  }
}

/** @brief Implementation details of the wrapper; not part of the API. */
namespace detail {

/** @brief Throws Error unless @p result is P2PNET_OK. */
inline void Check(p2pnet_result result) {
  if (result == P2PNET_OK) {
    return;
  }
  const char* message = p2pnet_last_error_message();
  if (message != nullptr && *message != '\0') {
    throw Error(result, message);
  }
  throw Error(result, ToString(result));
}

/** @brief Returns s.c_str(), rejecting strings the C API would silently truncate. */
inline const char* CString(const std::string& s) {
  if (s.find('\0') != std::string::npos) {
    throw Error(P2PNET_ERR_INVALID_ARGUMENT, "string contains an embedded NUL byte");
  }
  return s.c_str();
}

/** @brief Copies a NUL-terminated string stored in a fixed-size array. */
template <std::size_t N>
std::string FromArray(const char (&chars)[N]) {
  const void* end = std::memchr(chars, '\0', N);
  std::size_t length =
      end != nullptr ? static_cast<std::size_t>(static_cast<const char*>(end) - chars) : N;
  return std::string(chars, length);
}

/** @brief Copies a possibly-NULL C string. */
inline std::string FromCString(const char* s) {
  return s != nullptr ? std::string(s) : std::string();
}

/** @brief Converts a duration to the uint32 milliseconds the C API takes. */
inline uint32_t ToMillis(std::chrono::milliseconds duration) {
  if (duration.count() < 0 || duration.count() > std::numeric_limits<uint32_t>::max()) {
    throw Error(P2PNET_ERR_INVALID_ARGUMENT, "duration out of range for uint32 milliseconds");
  }
  return static_cast<uint32_t>(duration.count());
}

/** @brief Converts Unix seconds to a system_clock time point. */
inline std::chrono::system_clock::time_point FromUnixSeconds(int64_t seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(seconds)));
}

/** @brief Copies 32 bytes at @p bytes into a Hash. */
inline Hash ToHash(const uint8_t* bytes) noexcept {
  Hash hash{};
  if (bytes != nullptr) {
    std::memcpy(hash.data(), bytes, hash.size());
  }
  return hash;
}

/** @brief Lays fixed-size arrays out back to back, as the C API takes lists of hashes. */
template <std::size_t N>
std::vector<uint8_t> Flatten(const std::vector<std::array<uint8_t, N>>& items) {
  std::vector<uint8_t> flat;
  flat.reserve(items.size() * N);
  for (const auto& item : items) {
    flat.insert(flat.end(), item.begin(), item.end());
  }
  return flat;
}

/** @brief Splits @p count back-to-back 32-byte hashes into a vector. */
inline std::vector<Hash> ToHashes(const uint8_t* flat, std::size_t count) {
  std::vector<Hash> hashes;
  if (flat == nullptr) {
    return hashes;
  }
  hashes.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    hashes.push_back(ToHash(flat + i * 32));
  }
  return hashes;
}

/** @brief The stop hash of a locator: empty when all 32 bytes are zero. */
inline std::optional<Hash> ToStop(const uint8_t* stop) {
  if (stop == nullptr) {
    return std::nullopt;
  }
  Hash hash = ToHash(stop);
  for (uint8_t byte : hash) {
    if (byte != 0) {
      return hash;
    }
  }
  return std::nullopt;
}

/** @brief Converts a C ban record into a BanEntry. */
inline BanEntry ToBanEntry(const p2pnet_ban_entry& raw) {
  BanEntry entry;
  entry.subnet = FromArray(raw.subnet);
  entry.created = FromUnixSeconds(raw.created);
  entry.until = FromUnixSeconds(raw.until);
  entry.reason = FromArray(raw.reason);
  return entry;
}

/** @brief Converts a C health record into a Health. */
inline Health ToHealth(const p2pnet_health& raw) {
  Health health;
  health.inbound = raw.inbound;
  health.outbound_full_relay = raw.outbound_full_relay;
  health.block_relay = raw.block_relay;
  health.manual = raw.manual;
  health.feeler = raw.feeler;
  health.outbound_target = raw.outbound_target;
  health.outbound_filled = raw.outbound_filled;
  health.tip_height = raw.tip_height;
  health.best_peer_height = raw.best_peer_height;
  health.tip_age = std::chrono::milliseconds(static_cast<int64_t>(raw.tip_age_ms));
  if (raw.network_block_age_ms >= 0) {
    health.network_block_age = std::chrono::milliseconds(raw.network_block_age_ms);
  }
  health.stale_tip = raw.stale_tip;
  health.partition = static_cast<PartitionSignal>(raw.partition_signal);
  return health;
}

/** @brief Converts a C peer record into a PeerInfo. */
inline PeerInfo ToPeerInfo(const p2pnet_peer_info& raw) {
  PeerInfo info;
  info.id = raw.id;
  info.address = FromArray(raw.address);
  info.port = raw.port;
  info.inbound = raw.inbound;
  info.version = raw.version;
  info.services = raw.services;
  info.user_agent = FromArray(raw.user_agent);
  info.start_height = raw.start_height;
  if (raw.ping_time_us >= 0) {
    info.ping_time = std::chrono::microseconds(raw.ping_time_us);
  }
  info.bytes_sent = raw.bytes_sent;
  info.bytes_received = raw.bytes_received;
  info.connected_since = FromUnixSeconds(raw.connected_since);
  info.misbehaviour_score = raw.misbehaviour_score;
  info.announcements_queued = raw.announcements_queued;
  info.kind = static_cast<ConnectionKind>(raw.kind);
  info.last_send = FromUnixSeconds(raw.last_send);
  info.last_receive = FromUnixSeconds(raw.last_receive);
  info.blocks_in_flight = raw.blocks_in_flight;
  info.best_known_height = raw.best_known_height;
  info.transport_version = raw.transport_version;
  if (raw.transport_version == 2) {
    std::array<uint8_t, 32> id{};
    std::copy(std::begin(raw.session_id), std::end(raw.session_id), id.begin());
    info.session_id = id;
  }
  return info;
}

/** @brief Release function for a heap-allocated callable passed as user data. */
template <typename Callable>
void Release(void* user_data) noexcept {
  delete static_cast<Callable*>(user_data);
}

}  // namespace detail

/**
 * @brief SHA-256d of @p data (p2pnet_sha256d): the digest behind Bitcoin's item
 * ids and message checksums.
 */
inline Hash Sha256d(ByteView data) {
  Hash hash{};
  detail::Check(p2pnet_sha256d(data.data(), data.size(), hash.data()));
  return hash;
}

/**
 * @brief Engine configuration; owns a p2pnet_config.
 *
 * Starts from the defaults of a network preset; setters adjust it and return
 * *this so they can be chained. Setters throw Error for invalid values.
 * NetworkManager copies the configuration, so a Config can be reused or
 * destroyed after constructing a NetworkManager from it. Not copyable,
 * movable; a moved-from Config may only be destroyed or assigned to.
 */
class Config {
 public:
  /** @brief Creates a configuration with the defaults of @p network. */
  explicit Config(Network network = Network::Mainnet) {
    detail::Check(p2pnet_config_new(static_cast<uint32_t>(network), &config_));
  }

  /** @brief Frees the configuration. */
  ~Config() { p2pnet_config_free(config_); }

  /** @brief Not copyable: the C API has no way to clone a configuration. */
  Config(const Config&) = delete;
  /** @brief Not copyable: the C API has no way to clone a configuration. */
  Config& operator=(const Config&) = delete;

  /** @brief Takes over @p other's configuration; @p other becomes empty. */
  Config(Config&& other) noexcept : config_(std::exchange(other.config_, nullptr)) {}

  /** @brief Frees this configuration and takes over @p other's. */
  Config& operator=(Config&& other) noexcept {
    if (this != &other) {
      p2pnet_config_free(config_);
      config_ = std::exchange(other.config_, nullptr);
    }
    return *this;
  }

  /** @brief Listen address "IP:PORT" (port 0 picks a free port); "" disables listening. */
  Config& SetListenAddress(const std::string& address) {
    detail::Check(p2pnet_config_set_listen_address(config_, detail::CString(address)));
    return *this;
  }

  /**
   * @brief Network magic: the four message-start bytes read as a little-endian
   * value (mainnet F9 BE B4 D9 is 0xD9B4BEF9).
   */
  Config& SetMagic(uint32_t magic) {
    detail::Check(p2pnet_config_set_magic(config_, magic));
    return *this;
  }

  /** @brief Default port of the network (used for seeds and addresses without a port). */
  Config& SetDefaultPort(uint16_t port) {
    detail::Check(p2pnet_config_set_default_port(config_, port));
    return *this;
  }

  /** @brief Protocol version announced in our version message. */
  Config& SetProtocolVersion(int32_t version) {
    detail::Check(p2pnet_config_set_protocol_version(config_, version));
    return *this;
  }

  /** @brief Peers announcing a lower protocol version are disconnected. */
  Config& SetMinProtocolVersion(int32_t version) {
    detail::Check(p2pnet_config_set_min_protocol_version(config_, version));
    return *this;
  }

  /** @brief User agent announced in our version message (at most 256 bytes, UTF-8). */
  Config& SetUserAgent(const std::string& user_agent) {
    detail::Check(p2pnet_config_set_user_agent(config_, detail::CString(user_agent)));
    return *this;
  }

  /** @brief Service bits announced in our version message. */
  Config& SetServices(uint64_t services) {
    detail::Check(p2pnet_config_set_services(config_, services));
    return *this;
  }

  /** @brief Best height announced in our version message until SetBestHeight is called. */
  Config& SetStartHeight(int32_t height) {
    detail::Check(p2pnet_config_set_start_height(config_, height));
    return *this;
  }

  /** @brief Time allowed for an outbound TCP connect. */
  Config& SetConnectTimeout(std::chrono::milliseconds timeout) {
    detail::Check(p2pnet_config_set_connect_timeout_ms(config_, detail::ToMillis(timeout)));
    return *this;
  }

  /** @brief Time allowed for the version/verack handshake. */
  Config& SetHandshakeTimeout(std::chrono::milliseconds timeout) {
    detail::Check(p2pnet_config_set_handshake_timeout_ms(config_, detail::ToMillis(timeout)));
    return *this;
  }

  /** @brief Interval between pings to each peer. */
  Config& SetPingInterval(std::chrono::milliseconds interval) {
    detail::Check(p2pnet_config_set_ping_interval_ms(config_, detail::ToMillis(interval)));
    return *this;
  }

  /** @brief A peer that sends nothing for this long is disconnected. */
  Config& SetInactivityTimeout(std::chrono::milliseconds timeout) {
    detail::Check(p2pnet_config_set_inactivity_timeout_ms(config_, detail::ToMillis(timeout)));
    return *this;
  }

  /** @brief Automatic full-relay outbound connections (default 8); 0 turns off
   *  automatic connections of every kind. */
  Config& SetMaxOutbound(uint32_t count) {
    detail::Check(p2pnet_config_set_max_outbound(config_, count));
    return *this;
  }

  /** @brief Outbound block-relay-only connections kept besides the full-relay ones
   *  (default 2; 0 disables them and their anchors). */
  Config& SetBlockRelayConnections(uint32_t count) {
    detail::Check(p2pnet_config_set_block_relay_connections(config_, count));
    return *this;
  }

  /** @brief The chain's expected time between blocks (default 10 min); the tip counts
   *  as stale after three of them. */
  Config& SetBlockInterval(std::chrono::milliseconds interval) {
    detail::Check(p2pnet_config_set_block_interval_ms(config_, detail::ToMillis(interval)));
    return *this;
  }

  /** @brief Mean time between feeler connections (default 2 min; 0 disables them). */
  Config& SetFeelerInterval(std::chrono::milliseconds interval) {
    detail::Check(p2pnet_config_set_feeler_interval_ms(config_, detail::ToMillis(interval)));
    return *this;
  }

  /** @brief Mean time between extra block-relay-only connections that look for blocks
   *  the node has not heard of (default 5 min; 0 disables them). */
  Config& SetExtraBlockRelayInterval(std::chrono::milliseconds interval) {
    detail::Check(
        p2pnet_config_set_extra_block_relay_interval_ms(config_, detail::ToMillis(interval)));
    return *this;
  }

  /** @brief Maximum number of inbound connections. */
  Config& SetMaxInbound(uint32_t count) {
    detail::Check(p2pnet_config_set_max_inbound(config_, count));
    return *this;
  }

  /** @brief Maximum number of inbound connections from one IP address. */
  Config& SetMaxInboundPerIp(uint32_t count) {
    detail::Check(p2pnet_config_set_max_inbound_per_ip(config_, count));
    return *this;
  }

  /** @brief Maximum total number of connections. */
  Config& SetMaxConnections(uint32_t count) {
    detail::Check(p2pnet_config_set_max_connections(config_, count));
    return *this;
  }

  /** @brief Largest accepted message payload in bytes. */
  Config& SetMaxMessageSize(uint32_t bytes) {
    detail::Check(p2pnet_config_set_max_message_size(config_, bytes));
    return *this;
  }

  /** @brief Number of worker threads of the engine's runtime. */
  Config& SetWorkerThreads(uint32_t threads) {
    detail::Check(p2pnet_config_set_worker_threads(config_, threads));
    return *this;
  }

  /**
   * @brief Mean intervals of the Poisson timers that batch transaction
   * announcements to inbound and outbound peers (defaults 5 s and 2 s); zero
   * announces at once.
   */
  Config& SetTxTrickle(std::chrono::milliseconds inbound, std::chrono::milliseconds outbound) {
    detail::Check(p2pnet_config_set_tx_trickle_ms(config_, detail::ToMillis(inbound),
                                                  detail::ToMillis(outbound)));
    return *this;
  }

  /**
   * @brief How long a peer may take to deliver a requested transaction
   * (default 60 s) and block (default 20 s) before the request moves to
   * another peer. Both must be positive.
   */
  Config& SetRequestTimeouts(std::chrono::milliseconds tx, std::chrono::milliseconds block) {
    detail::Check(p2pnet_config_set_request_timeouts_ms(config_, detail::ToMillis(tx),
                                                        detail::ToMillis(block)));
    return *this;
  }

  /** @brief Directory for the ban list and address book (created if missing). */
  Config& SetDataDir(const std::string& path) {
    detail::Check(p2pnet_config_set_data_dir(config_, detail::CString(path)));
    return *this;
  }

  /** @brief How long a misbehaving peer's address stays banned (default 24 h). */
  Config& SetBanTime(std::chrono::seconds duration) {
    if (duration.count() < 0 || duration.count() > std::numeric_limits<uint32_t>::max()) {
      throw Error(P2PNET_ERR_INVALID_ARGUMENT, "ban time out of range for uint32 seconds");
    }
    detail::Check(p2pnet_config_set_ban_time_s(config_, static_cast<uint32_t>(duration.count())));
    return *this;
  }

  /** @brief The most bans kept (default 10,000, at most 100,000). */
  Config& SetMaxBans(uint32_t count) {
    detail::Check(p2pnet_config_set_max_bans(config_, count));
    return *this;
  }

  /**
   * @brief Bytes all peers together may hold in unfinished messages larger
   * than 64 KiB (default 256 MiB); a peer whose message does not fit waits.
   */
  Config& SetReceiveBudget(uint64_t bytes) {
    detail::Check(p2pnet_config_set_receive_budget(config_, bytes));
    return *this;
  }

  /**
   * @brief How long a peer holding an unfinished message larger than 64 KiB
   * may send nothing before it is disconnected (default 30 s).
   */
  Config& SetPartialMessageTimeout(std::chrono::milliseconds timeout) {
    detail::Check(p2pnet_config_set_partial_message_timeout_ms(config_, detail::ToMillis(timeout)));
    return *this;
  }

  /** @brief DNS server for seed lookups, "IP:PORT"; "" restores the system resolver. */
  Config& SetDnsServer(const std::string& address) {
    detail::Check(p2pnet_config_set_dns_server(config_, detail::CString(address)));
    return *this;
  }

  /** @brief Adds a DNS seed whose A/AAAA records name peers listening on @p port. */
  Config& AddDNSSeed(const std::string& host, uint16_t port) {
    detail::Check(p2pnet_config_add_dns_seed(config_, detail::CString(host), port));
    return *this;
  }

  /**
   * @brief Accept loopback and private addresses into the address book
   * (default: only for regtest).
   */
  Config& SetAllowLocalAddresses(bool allow) {
    detail::Check(p2pnet_config_set_allow_local_addresses(config_, allow));
    return *this;
  }

  /** @brief Which transports the engine speaks (default TransportMode::PreferV2). */
  Config& SetTransport(TransportMode mode) {
    detail::Check(p2pnet_config_set_transport(config_, static_cast<uint32_t>(mode)));
    return *this;
  }

  /**
   * @brief At most one automatic outbound connection per network group
   * (default: on, except for regtest).
   */
  Config& SetOneOutboundPerNetgroup(bool enabled) {
    detail::Check(p2pnet_config_set_one_outbound_per_netgroup(config_, enabled));
    return *this;
  }

  /**
   * @brief Defines a command of the node's own protocol (p2pnet_config_add_message):
   * only peers that defined it too receive it. A received one over @p max_size
   * bytes costs the sender 20 points; each beyond @p max_per_second, 1 point.
   */
  Config& AddCustomMessage(const std::string& command, uint32_t max_size,
                           uint32_t max_per_second) {
    detail::Check(p2pnet_config_add_message(config_, detail::CString(command), max_size,
                                            max_per_second));
    return *this;
  }

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  const p2pnet_config* native() const noexcept { return config_; }

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  p2pnet_config* native() noexcept { return config_; }

 private:
  /** @brief The owned configuration handle; NULL after a move. */
  p2pnet_config* config_ = nullptr;
};

/**
 * @brief The networking engine; owns a p2pnet_engine.
 *
 * Construct it from a Config, register callbacks, then Start(). Stop() is
 * final; the destructor stops the engine if needed and frees it. Not
 * copyable, movable (callbacks stay registered across a move). Methods on a
 * moved-from NetworkManager throw Error(P2PNET_ERR_NULL_ARGUMENT).
 */
class NetworkManager {
 public:
  /** @brief Callback for a peer that completed the handshake. */
  using PeerConnectedCallback = std::function<void(const PeerInfo& peer)>;
  /** @brief Callback for a connection that ended; the string is a human-readable detail. */
  using PeerDisconnectedCallback =
      std::function<void(uint64_t peer_id, DisconnectReason reason, const std::string& detail)>;
  /** @brief Callback for a node-defined message (see Config::AddCustomMessage). */
  using MessageCallback =
      std::function<void(uint64_t peer_id, const std::string& command, ByteView payload)>;
  /** @brief Callback for a change of the stale-tip flag or the partition signal. */
  using HealthCallback = std::function<void(const Health& health)>;
  /** @brief Callback for a measured ping round trip to a peer. */
  using PingCallback = std::function<void(uint64_t peer_id, std::chrono::microseconds rtt)>;
  /** @brief Callback for an engine log message (target is the emitting module). */
  using LogCallback =
      std::function<void(LogLevel level, const std::string& target, const std::string& message)>;
  /**
   * @brief Callback for a block or transaction received from @p peer_id.
   *
   * @p id is the item's id and @p data its bytes, borrowed for the call. The
   * returned Verdict decides relay (Accepted) and blame (Invalid). If the
   * callback throws, the wrapper answers Verdict::Ignored.
   */
  using ItemCallback = std::function<Verdict(uint64_t peer_id, const Hash& id, ByteView data)>;
  /**
   * @brief Looks up an item a peer requested that is not in the engine's relay
   * cache; std::nullopt (or an empty vector, or an exception) answers NOTFOUND.
   *
   * @p id is the item's id, or a transaction's wtxid when @p form is
   * ItemForm::WitnessByWtxid. Returning the witness serialization is right for
   * every form: the engine strips witnesses for ItemForm::Legacy requests.
   */
  using DataProvider = std::function<std::optional<std::vector<uint8_t>>(
      ItemKind kind, const Hash& id, ItemForm form)>;
  /**
   * @brief Answers a peer's getheaders: up to 2,000 headers following the
   * first locator hash the node knows, stopping after @p stop if it is set.
   * Extra headers are dropped; an exception answers with no headers.
   */
  using GetHeadersCallback = std::function<std::vector<BlockHeader>(
      uint64_t peer_id, const std::vector<Hash>& locator, const std::optional<Hash>& stop)>;
  /**
   * @brief Answers a peer's getblocks: up to 500 block ids following the
   * locator, which the engine announces with an inv. Extra ids are dropped; an
   * exception answers with none.
   */
  using GetBlocksCallback = std::function<std::vector<Hash>(
      uint64_t peer_id, const std::vector<Hash>& locator, const std::optional<Hash>& stop)>;
  /** @brief Receives the headers a peer sent (an answer to SendGetHeaders or an announcement). */
  using HeadersCallback =
      std::function<void(uint64_t peer_id, const std::vector<BlockHeader>& headers)>;
  /**
   * @brief Says whether the node already has an announced item, so the engine
   * does not fetch it. Runs on the engine's network threads: thread-safe and
   * quick. If it throws, the item counts as not had.
   */
  using HaveFunction = std::function<bool(ItemKind kind, const Hash& id)>;
  /**
   * @brief Computes an item id. Runs on the engine's network threads, so it
   * must be pure and thread-safe. If it throws, Bitcoin's default id is used.
   */
  using HashFunction = std::function<Hash(ItemKind kind, ByteView data)>;

  /** @brief Creates an engine from a copy of @p config. Throws Error on failure. */
  explicit NetworkManager(const Config& config) : engine_(nullptr) {
    detail::Check(p2pnet_engine_new(config.native(), &engine_));
  }

  /** @brief Stops the engine if running, waits for callbacks in flight, and frees it. */
  ~NetworkManager() { p2pnet_engine_free(engine_); }

  /** @brief Not copyable: there is exactly one owner per engine. */
  NetworkManager(const NetworkManager&) = delete;
  /** @brief Not copyable: there is exactly one owner per engine. */
  NetworkManager& operator=(const NetworkManager&) = delete;

  /** @brief Takes over @p other's engine; @p other becomes empty. */
  NetworkManager(NetworkManager&& other) noexcept
      : engine_(std::exchange(other.engine_, nullptr)) {}

  /** @brief Frees this engine and takes over @p other's. */
  NetworkManager& operator=(NetworkManager&& other) noexcept {
    if (this != &other) {
      p2pnet_engine_free(engine_);
      engine_ = std::exchange(other.engine_, nullptr);
    }
    return *this;
  }

  /** @brief Binds the listener and starts the runtime (p2pnet_engine_start). */
  void Start() { detail::Check(p2pnet_engine_start(engine_)); }

  /**
   * @brief Stops the engine (p2pnet_engine_stop); final, and a second Stop() does nothing.
   *
   * Waits for callbacks in flight; no callback runs after it returns. May be
   * called from a callback.
   */
  void Stop() { detail::Check(p2pnet_engine_stop(engine_)); }

  /** @brief The port the engine listens on; valid after Start(). */
  uint16_t ListenPort() const {
    uint16_t port = 0;
    detail::Check(p2pnet_engine_get_listen_port(engine_, &port));
    return port;
  }

  /** @brief The address the engine listens on, as "ip:port" ("[ip]:port" for IPv6). */
  std::string ListenAddress() const {
    p2pnet_socket_address raw{};
    detail::Check(p2pnet_engine_get_listen_address(engine_, &raw));
    const std::string ip = detail::FromArray(raw.ip);
    const bool v6 = ip.find(':') != std::string::npos;
    return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(raw.port);
  }

  /** @brief Traffic since the engine was created, closed connections included. */
  NetTotals GetNetTotals() const {
    p2pnet_net_totals raw{};
    detail::Check(p2pnet_engine_get_net_totals(engine_, &raw));
    return NetTotals{raw.bytes_sent, raw.bytes_received, raw.messages_sent,
                     raw.messages_received};
  }

  /** @brief Traffic by command since the engine was created, in command order. */
  std::vector<CommandTraffic> GetCommandTraffic() const {
    std::vector<p2pnet_command_traffic> raw(32);
    std::size_t count = 0;
    detail::Check(p2pnet_engine_list_command_traffic(engine_, raw.data(), raw.size(), &count));
    std::vector<CommandTraffic> rows;
    rows.reserve(count);
    for (std::size_t i = 0; i < count && i < raw.size(); ++i) {
      rows.push_back(CommandTraffic{detail::FromArray(raw[i].command), raw[i].messages_sent,
                                    raw[i].bytes_sent, raw[i].messages_received,
                                    raw[i].bytes_received});
    }
    return rows;
  }

  /** @brief Log records dropped because the node's event queue was full. */
  uint64_t DroppedLogRecords() const {
    uint64_t count = 0;
    detail::Check(p2pnet_engine_get_dropped_log_records(engine_, &count));
    return count;
  }

  /**
   * @brief Starts a one-off asynchronous outbound connection to @p host : @p port.
   *
   * @p host is an IP address or a name to resolve. Returns the id the
   * connection will have; the outcome arrives through the peer-connected
   * callback, or the peer-disconnected callback with ConnectFailed. Nothing
   * redials it when it drops; use AddNode for a peer to keep.
   */
  uint64_t AddPeer(const std::string& host, uint16_t port) {
    uint64_t peer_id = 0;
    detail::Check(p2pnet_engine_add_peer(engine_, detail::CString(host), port, &peer_id));
    return peer_id;
  }

  /**
   * @brief Keeps a connection to @p host : @p port (Bitcoin Core's -addnode):
   * dialled at once and redialled with back-off whenever it drops, until
   * RemoveNode. Returns the id of the first attempt. Adding the same host and
   * port twice throws Error(P2PNET_ERR_INVALID_ARGUMENT).
   */
  uint64_t AddNode(const std::string& host, uint16_t port) {
    uint64_t peer_id = 0;
    detail::Check(p2pnet_engine_add_node(engine_, detail::CString(host), port, &peer_id));
    return peer_id;
  }

  /**
   * @brief Stops keeping @p host : @p port connected (an open connection stays
   * until it drops); throws Error(P2PNET_ERR_NOT_FOUND) when it was not added.
   */
  void RemoveNode(const std::string& host, uint16_t port) {
    detail::Check(p2pnet_engine_remove_node(engine_, detail::CString(host), port));
  }

  /** @brief Adds a DNS seed at run time; its A/AAAA records name peers on @p port. */
  void AddDNSSeed(const std::string& host, uint16_t port) {
    detail::Check(p2pnet_engine_add_dns_seed(engine_, detail::CString(host), port));
  }

  /**
   * @brief Queries every DNS seed now, in the background; the addresses found
   * feed the address book and the outbound connections.
   */
  void QueryDNSSeeds() { detail::Check(p2pnet_engine_query_dns_seeds(engine_)); }

  /** @brief Number of addresses in the address book. */
  std::size_t AddressCount() const {
    std::size_t count = 0;
    detail::Check(p2pnet_engine_get_address_count(engine_, &count));
    return count;
  }

  /** @brief Disconnects a peer; its disconnect callback reports Requested. */
  void DisconnectPeer(uint64_t peer_id) {
    detail::Check(p2pnet_engine_disconnect_peer(engine_, peer_id));
  }

  /** @brief Snapshot of all fully handshaken peers. */
  std::vector<PeerInfo> GetPeers() const {
    std::vector<p2pnet_peer_info> raw;
    std::size_t count = 0;
    for (;;) {
      p2pnet_result result =
          p2pnet_engine_list_peers(engine_, raw.empty() ? nullptr : raw.data(), raw.size(), &count);
      if (result != P2PNET_ERR_BUFFER_TOO_SMALL) {
        detail::Check(result);
        break;
      }
      raw.resize(count > raw.size() ? count : raw.size() * 2 + 1);
    }
    std::vector<PeerInfo> peers;
    peers.reserve(count);
    for (std::size_t i = 0; i < count && i < raw.size(); ++i) {
      peers.push_back(detail::ToPeerInfo(raw[i]));
    }
    return peers;
  }

  /** @brief Sets the best height announced to new peers. */
  void SetBestHeight(int32_t height) {
    detail::Check(p2pnet_engine_set_best_height(engine_, height));
  }

  /**
   * @brief Reports the node's tip (p2pnet_engine_set_best_block): announced to new
   * peers, and the anchor from which the engine tells how far each peer is.
   */
  void SetBestBlock(int32_t height, const Hash& id) {
    detail::Check(p2pnet_engine_set_best_block(engine_, height, id.data()));
  }

  /** @brief Registers the peer-connected callback; an empty function unregisters. */
  void SetOnPeerConnected(PeerConnectedCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_peer_connected(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<PeerConnectedCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_peer_connected(engine_, &OnPeerConnectedTrampoline,
                                                      holder.get(),
                                                      &detail::Release<PeerConnectedCallback>));
    holder.release();
  }

  /** @brief Registers the peer-disconnected callback; an empty function unregisters. */
  void SetOnPeerDisconnected(PeerDisconnectedCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_peer_disconnected(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<PeerDisconnectedCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_peer_disconnected(
        engine_, &OnPeerDisconnectedTrampoline, holder.get(),
        &detail::Release<PeerDisconnectedCallback>));
    holder.release();
  }

  /** @brief Registers the node-defined message callback; an empty function unregisters. */
  void SetOnCustomMessage(MessageCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_message(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<MessageCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_message(engine_, &OnMessageTrampoline, holder.get(),
                                               &detail::Release<MessageCallback>));
    holder.release();
  }

  /**
   * @brief Sends a node-defined message to a peer that offered the command;
   * throws if it did not, or if the payload is over the command's limit.
   */
  void SendCustomMessage(uint64_t peer_id, const std::string& command, ByteView payload) {
    detail::Check(p2pnet_engine_send_message(engine_, peer_id, detail::CString(command),
                                             payload.data(), payload.size()));
  }

  /** @brief Sends a node-defined message to every peer that offered it; returns how many. */
  std::size_t BroadcastCustomMessage(const std::string& command, ByteView payload) {
    std::size_t count = 0;
    detail::Check(p2pnet_engine_broadcast_message(engine_, detail::CString(command),
                                                  payload.data(), payload.size(), &count));
    return count;
  }

  /** @brief The node's standing in the network: connections by kind, the tip's age,
   *  the stale-tip and partition flags. */
  Health GetHealth() const {
    p2pnet_health raw{};
    detail::Check(p2pnet_engine_get_health(engine_, &raw));
    return detail::ToHealth(raw);
  }

  /** @brief Registers the health-change callback; an empty function unregisters. */
  void SetOnHealthChange(HealthCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_health_change(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<HealthCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_health_change(engine_, &OnHealthTrampoline, holder.get(),
                                                     &detail::Release<HealthCallback>));
    holder.release();
  }

  /** @brief Registers the ping-measured callback; an empty function unregisters. */
  void SetOnPing(PingCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_ping(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<PingCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_ping(engine_, &OnPingTrampoline, holder.get(),
                                            &detail::Release<PingCallback>));
    holder.release();
  }

  /**
   * @brief Registers the log callback for messages at or below @p max_level.
   *
   * An empty function (or LogLevel::Off) stops log delivery.
   */
  void SetLogger(LogLevel max_level, LogCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_log(engine_, P2PNET_LOG_OFF, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<LogCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_log(engine_, static_cast<uint32_t>(max_level),
                                           &LogTrampoline, holder.get(),
                                           &detail::Release<LogCallback>));
    holder.release();
  }

  /**
   * @brief Registers the block callback; an empty function unregisters.
   *
   * Every block received from a peer reaches it once per engine. Without a
   * block callback received blocks are not relayed.
   */
  void SetOnBlock(ItemCallback callback) {
    RegisterItemCallback(&p2pnet_engine_set_on_block, std::move(callback));
  }

  /** @brief Registers the transaction callback; as SetOnBlock. */
  void SetOnTransaction(ItemCallback callback) {
    RegisterItemCallback(&p2pnet_engine_set_on_transaction, std::move(callback));
  }

  /**
   * @brief Registers the data provider asked for requested items the relay
   * cache does not hold; an empty function unregisters (such requests then
   * get NOTFOUND).
   */
  void SetDataProvider(DataProvider provider) {
    if (!provider) {
      detail::Check(p2pnet_engine_set_on_get_data(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<DataProvider>(std::move(provider));
    detail::Check(p2pnet_engine_set_on_get_data(engine_, &DataProviderTrampoline, holder.get(),
                                                &detail::Release<DataProvider>));
    holder.release();
  }

  /**
   * @brief Registers the getheaders responder; an empty function unregisters
   * (peers then get empty headers messages).
   */
  void SetOnGetHeaders(GetHeadersCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_get_headers(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<GetHeadersCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_get_headers(engine_, &GetHeadersTrampoline, holder.get(),
                                                   &detail::Release<GetHeadersCallback>));
    holder.release();
  }

  /** @brief Registers the getblocks responder; an empty function unregisters. */
  void SetOnGetBlocks(GetBlocksCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_get_blocks(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<GetBlocksCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_get_blocks(engine_, &GetBlocksTrampoline, holder.get(),
                                                  &detail::Release<GetBlocksCallback>));
    holder.release();
  }

  /** @brief Registers the headers callback; an empty function unregisters. */
  void SetOnHeaders(HeadersCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_engine_set_on_headers(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<HeadersCallback>(std::move(callback));
    detail::Check(p2pnet_engine_set_on_headers(engine_, &HeadersTrampoline, holder.get(),
                                               &detail::Release<HeadersCallback>));
    holder.release();
  }

  /**
   * @brief Installs the function computing block and transaction ids; an
   * empty function restores Bitcoin's (a tx's txid, SHA-256d of the block's
   * first 80 bytes; p2pnet_bitcoin_item_id). See HashFunction for its constraints.
   */
  void SetHashFunction(HashFunction function) {
    if (!function) {
      detail::Check(p2pnet_engine_set_hash_function(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<HashFunction>(std::move(function));
    detail::Check(p2pnet_engine_set_hash_function(engine_, &HashTrampoline, holder.get(),
                                                  &detail::Release<HashFunction>));
    holder.release();
  }

  /**
   * @brief Installs the "already have" query for announced items; an empty
   * function removes it (then every unseen announced item is fetched).
   */
  void SetHaveFunction(HaveFunction function) {
    if (!function) {
      detail::Check(p2pnet_engine_set_have_function(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<HaveFunction>(std::move(function));
    detail::Check(p2pnet_engine_set_have_function(engine_, &HaveTrampoline, holder.get(),
                                                  &detail::Release<HaveFunction>));
    holder.release();
  }

  /**
   * @brief Relays a block the node produced or accepted: cached and announced
   * at once to every peer that does not have it. Returns the block id.
   */
  Hash BroadcastBlock(ByteView block) {
    Hash id{};
    detail::Check(p2pnet_engine_broadcast_block(engine_, block.data(), block.size(), id.data()));
    return id;
  }

  /**
   * @brief BroadcastBlock without a copy: the engine takes the vector, reads it
   * in place while it sends and caches the block, and frees it when done.
   */
  Hash BroadcastBlock(std::vector<uint8_t>&& block) {
    auto owned = std::make_unique<std::vector<uint8_t>>(std::move(block));
    const uint8_t* data = owned->data();
    const std::size_t size = owned->size();
    Hash id{};
    // The engine releases the vector in every case, also when the call fails.
    detail::Check(p2pnet_engine_broadcast_block_owned(
        engine_, data, size, &detail::Release<std::vector<uint8_t>>, owned.release(), id.data()));
    return id;
  }

  /**
   * @brief Relays a transaction: cached and announced to each peer at its
   * next trickle tick. Returns the transaction id.
   */
  Hash BroadcastTransaction(ByteView transaction) {
    Hash id{};
    detail::Check(p2pnet_engine_broadcast_transaction(engine_, transaction.data(),
                                                      transaction.size(), id.data()));
    return id;
  }

  /**
   * @brief Relays a transaction with its fee rate (satoshis per 1,000 vbytes):
   * peers whose fee filter (BIP133) is higher are not told about it.
   */
  Hash BroadcastTransaction(ByteView transaction, uint64_t fee_rate) {
    Hash id{};
    detail::Check(p2pnet_engine_broadcast_transaction_with_fee_rate(
        engine_, transaction.data(), transaction.size(), fee_rate, id.data()));
    return id;
  }

  /**
   * @brief The node's fee floor (satoshis per 1,000 vbytes), sent to peers as
   * feefilter (BIP133) so they need not announce cheaper transactions.
   */
  void SetFeeFilter(uint64_t fee_rate) {
    detail::Check(p2pnet_engine_set_fee_filter(engine_, fee_rate));
  }

  /**
   * @brief Reports the verdict (not Pending) for an item whose callback
   * returned Verdict::Pending. Throws Error(P2PNET_ERR_NOT_FOUND) when no item
   * with that id awaits a verdict.
   */
  void ReportVerdict(const Hash& id, Verdict verdict) {
    detail::Check(p2pnet_engine_report_verdict(engine_, id.data(), static_cast<uint32_t>(verdict)));
  }

  /**
   * @brief Adds misbehaviour points to a peer (e.g. for a bad block found
   * later); at 100 the peer is disconnected and banned. @p reason is logged.
   */
  void Misbehaving(uint64_t peer_id, uint32_t points, const std::string& reason = std::string()) {
    detail::Check(
        p2pnet_engine_report_misbehaviour(engine_, peer_id, points, detail::CString(reason)));
  }

  /**
   * @brief Sends getheaders to a peer with @p locator (newest first, at most
   * 101 hashes) and an optional stop hash; the answer arrives through the
   * headers callback.
   */
  void SendGetHeaders(uint64_t peer_id, const std::vector<Hash>& locator,
                      const std::optional<Hash>& stop = std::nullopt) {
    const std::vector<uint8_t> flat = detail::Flatten(locator);
    detail::Check(p2pnet_engine_send_get_headers(engine_, peer_id,
                                                 flat.empty() ? nullptr : flat.data(),
                                                 locator.size(), stop ? stop->data() : nullptr));
  }

  /**
   * @brief Downloads blocks by id from connected peers (at most 16 in flight
   * per peer); each arrives through the block callback. Returns how many were
   * newly queued (ids already received or queued are skipped).
   */
  std::size_t FetchBlocks(const std::vector<Hash>& ids) {
    const std::vector<uint8_t> flat = detail::Flatten(ids);
    std::size_t queued = 0;
    detail::Check(p2pnet_engine_fetch_blocks(engine_, flat.empty() ? nullptr : flat.data(),
                                             ids.size(), &queued));
    return queued;
  }

  /** @brief Block download progress. */
  SyncStatus GetSyncStatus() const {
    p2pnet_sync_status raw{};
    detail::Check(p2pnet_engine_get_sync_status(engine_, &raw));
    SyncStatus status;
    status.current_height = raw.current_height;
    status.best_peer_height = raw.best_peer_height;
    status.peer_count = raw.peer_count;
    status.blocks_in_flight = raw.blocks_in_flight;
    status.blocks_queued = raw.blocks_queued;
    return status;
  }

  /**
   * @brief Bans @p subnet (an address or CIDR subnet, IPv4 or IPv6) for
   * @p duration. Its connections are dropped with DisconnectReason::Banned and
   * it is never accepted or dialled while the ban lasts.
   */
  void Ban(const std::string& subnet, std::chrono::seconds duration,
           const std::string& reason = std::string()) {
    if (duration.count() < 0) {
      throw Error(P2PNET_ERR_INVALID_ARGUMENT, "negative ban duration");
    }
    detail::Check(p2pnet_engine_ban(engine_, detail::CString(subnet),
                                    static_cast<uint64_t>(duration.count()),
                                    detail::CString(reason)));
  }

  /** @brief Bans @p subnet until @p until (in the future); as Ban. */
  void BanUntil(const std::string& subnet, std::chrono::system_clock::time_point until,
                const std::string& reason = std::string()) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count();
    detail::Check(p2pnet_engine_ban_until(engine_, detail::CString(subnet),
                                          static_cast<int64_t>(seconds),
                                          detail::CString(reason)));
  }

  /**
   * @brief Lifts the ban on exactly @p subnet; throws
   * Error(P2PNET_ERR_NOT_FOUND) when there is none.
   */
  void Unban(const std::string& subnet) {
    detail::Check(p2pnet_engine_unban(engine_, detail::CString(subnet)));
  }

  /** @brief The bans in force. */
  std::vector<BanEntry> ListBans() const {
    std::vector<p2pnet_ban_entry> raw;
    std::size_t count = 0;
    for (;;) {
      p2pnet_result result =
          p2pnet_engine_list_bans(engine_, raw.empty() ? nullptr : raw.data(), raw.size(), &count);
      if (result != P2PNET_ERR_BUFFER_TOO_SMALL) {
        detail::Check(result);
        break;
      }
      raw.resize(count > raw.size() ? count : raw.size() * 2 + 1);
    }
    std::vector<BanEntry> bans;
    bans.reserve(count);
    for (std::size_t i = 0; i < count && i < raw.size(); ++i) {
      bans.push_back(detail::ToBanEntry(raw[i]));
    }
    return bans;
  }

  /** @brief Lifts every ban. */
  void ClearBans() { detail::Check(p2pnet_engine_clear_bans(engine_)); }

  /** @brief The id this engine gives an item (installed hash function or Bitcoin's). */
  Hash ItemId(ItemKind kind, ByteView data) const {
    Hash id{};
    detail::Check(p2pnet_engine_get_item_id(engine_, static_cast<uint32_t>(kind), data.data(),
                                            data.size(), id.data()));
    return id;
  }

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  p2pnet_engine* native() const noexcept { return engine_; }

 private:
  /** @brief The C registration function shared by the block and transaction callbacks. */
  using ItemRegistration = p2pnet_result (*)(p2pnet_engine*, p2pnet_item_fn, void*,
                                             p2pnet_release_fn);

  /** @brief Registers (or, with an empty function, clears) a block or transaction callback. */
  void RegisterItemCallback(ItemRegistration registration, ItemCallback callback) {
    if (!callback) {
      detail::Check(registration(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<ItemCallback>(std::move(callback));
    detail::Check(
        registration(engine_, &ItemTrampoline, holder.get(), &detail::Release<ItemCallback>));
    holder.release();
  }

  /** @brief C entry point of ItemCallback; exceptions answer Verdict::Ignored. */
  static uint32_t ItemTrampoline(void* user_data, uint64_t peer_id, const uint8_t* hash,
                                 const uint8_t* data, std::size_t len) noexcept {
    if (user_data == nullptr || hash == nullptr) {
      return static_cast<uint32_t>(Verdict::Ignored);
    }
    try {
      return static_cast<uint32_t>((*static_cast<ItemCallback*>(user_data))(
          peer_id, detail::ToHash(hash), ByteView(data, data != nullptr ? len : 0)));
    } catch (...) {
      return static_cast<uint32_t>(Verdict::Ignored);
    }
  }

  /** @brief C entry point of DataProvider; exceptions answer NOTFOUND. */
  static void DataProviderTrampoline(void* user_data, p2pnet_item_kind kind,
                                     p2pnet_item_form form, const uint8_t* hash,
                                     p2pnet_reply* reply) noexcept {
    if (user_data == nullptr || hash == nullptr || reply == nullptr) {
      return;
    }
    try {
      std::optional<std::vector<uint8_t>> item = (*static_cast<DataProvider*>(user_data))(
          static_cast<ItemKind>(kind), detail::ToHash(hash), static_cast<ItemForm>(form));
      if (item && !item->empty()) {
        p2pnet_reply_set_data(reply, item->data(), item->size());
      }
    } catch (...) {
    }
  }

  /** @brief C entry point of GetHeadersCallback; exceptions answer no headers. */
  static void GetHeadersTrampoline(void* user_data, uint64_t peer_id, const uint8_t* locator,
                                   std::size_t count, const uint8_t* stop,
                                   p2pnet_reply* reply) noexcept {
    if (user_data == nullptr || reply == nullptr) {
      return;
    }
    try {
      const std::vector<BlockHeader> headers = (*static_cast<GetHeadersCallback*>(user_data))(
          peer_id, detail::ToHashes(locator, count), detail::ToStop(stop));
      for (const BlockHeader& header : headers) {
        if (p2pnet_reply_add_header(reply, header.data()) != P2PNET_OK) {
          break;  // over the 2,000-header limit
        }
      }
    } catch (...) {
    }
  }

  /** @brief C entry point of GetBlocksCallback; exceptions answer no ids. */
  static void GetBlocksTrampoline(void* user_data, uint64_t peer_id, const uint8_t* locator,
                                  std::size_t count, const uint8_t* stop,
                                  p2pnet_reply* reply) noexcept {
    if (user_data == nullptr || reply == nullptr) {
      return;
    }
    try {
      const std::vector<Hash> ids = (*static_cast<GetBlocksCallback*>(user_data))(
          peer_id, detail::ToHashes(locator, count), detail::ToStop(stop));
      for (const Hash& id : ids) {
        if (p2pnet_reply_add_hash(reply, id.data()) != P2PNET_OK) {
          break;  // over the 500-id limit
        }
      }
    } catch (...) {
    }
  }

  /** @brief C entry point of HeadersCallback; exceptions are swallowed. */
  static void HeadersTrampoline(void* user_data, uint64_t peer_id, const uint8_t* headers,
                                std::size_t count) noexcept {
    if (user_data == nullptr) {
      return;
    }
    try {
      std::vector<BlockHeader> split;
      if (headers != nullptr) {
        split.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
          std::memcpy(split[i].data(), headers + i * 80, 80);
        }
      }
      (*static_cast<HeadersCallback*>(user_data))(peer_id, split);
    } catch (...) {
    }
  }

  /** @brief C entry point of HashFunction; exceptions fall back to Bitcoin's id. */
  static bool HaveTrampoline(void* user_data, p2pnet_item_kind kind,
                             const uint8_t* hash) noexcept {
    if (user_data == nullptr || hash == nullptr) {
      return false;
    }
    try {
      Hash id{};
      std::memcpy(id.data(), hash, id.size());
      return (*static_cast<HaveFunction*>(user_data))(static_cast<ItemKind>(kind), id);
    } catch (...) {
      return false;
    }
  }

  static void HashTrampoline(void* user_data, p2pnet_item_kind kind, const uint8_t* data,
                             std::size_t len, uint8_t* out_hash) noexcept {
    if (out_hash == nullptr) {
      return;
    }
    const ByteView view(data, data != nullptr ? len : 0);
    try {
      if (user_data != nullptr) {
        const Hash id = (*static_cast<HashFunction*>(user_data))(static_cast<ItemKind>(kind), view);
        std::memcpy(out_hash, id.data(), id.size());
        return;
      }
    } catch (...) {
    }
    // Bitcoin's default: a transaction's txid, SHA-256d of a block's first 80 bytes.
    if (p2pnet_bitcoin_item_id(static_cast<uint32_t>(kind), view.data(), view.size(), out_hash) !=
        P2PNET_OK) {
      std::memset(out_hash, 0, 32);
    }
  }

  /** @brief C entry point of PeerConnectedCallback; exceptions are swallowed. */
  static void OnPeerConnectedTrampoline(void* user_data, const p2pnet_peer_info* peer) noexcept {
    if (user_data == nullptr || peer == nullptr) {
      return;
    }
    try {
      (*static_cast<PeerConnectedCallback*>(user_data))(detail::ToPeerInfo(*peer));
    } catch (...) {
    }
  }

  /** @brief C entry point of PeerDisconnectedCallback; exceptions are swallowed. */
  static void OnPeerDisconnectedTrampoline(void* user_data, uint64_t peer_id,
                                           p2pnet_disconnect_reason reason,
                                           const char* detail_text) noexcept {
    if (user_data == nullptr) {
      return;
    }
    try {
      (*static_cast<PeerDisconnectedCallback*>(user_data))(
          peer_id, static_cast<DisconnectReason>(reason), detail::FromCString(detail_text));
    } catch (...) {
    }
  }

  /** @brief C entry point of MessageCallback; exceptions are swallowed. */
  static void OnMessageTrampoline(void* user_data, uint64_t peer_id, const char* command,
                                  const uint8_t* data, std::size_t len) noexcept {
    if (user_data == nullptr) {
      return;
    }
    try {
      (*static_cast<MessageCallback*>(user_data))(peer_id, detail::FromCString(command),
                                                  ByteView(data, len));
    } catch (...) {
    }
  }

  /** @brief C entry point of HealthCallback; exceptions are swallowed. */
  static void OnHealthTrampoline(void* user_data, const p2pnet_health* health) noexcept {
    if (user_data == nullptr || health == nullptr) {
      return;
    }
    try {
      (*static_cast<HealthCallback*>(user_data))(detail::ToHealth(*health));
    } catch (...) {
    }
  }

  /** @brief C entry point of PingCallback; exceptions are swallowed. */
  static void OnPingTrampoline(void* user_data, uint64_t peer_id, uint64_t rtt_us) noexcept {
    if (user_data == nullptr) {
      return;
    }
    try {
      (*static_cast<PingCallback*>(user_data))(
          peer_id, std::chrono::microseconds(static_cast<int64_t>(rtt_us)));
    } catch (...) {
    }
  }

  /** @brief C entry point of LogCallback; exceptions are swallowed. */
  static void LogTrampoline(void* user_data, p2pnet_log_level level, const char* target,
                            const char* message) noexcept {
    if (user_data == nullptr) {
      return;
    }
    try {
      (*static_cast<LogCallback*>(user_data))(static_cast<LogLevel>(level),
                                              detail::FromCString(target),
                                              detail::FromCString(message));
    } catch (...) {
    }
  }

  /** @brief The owned engine handle; NULL after a move. */
  p2pnet_engine* engine_;
};

}  // namespace p2pnet

#endif  // C++17
#endif  // P2PNET_HPP
