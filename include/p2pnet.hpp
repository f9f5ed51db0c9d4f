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
 * thread that registered them. They may call any NetworkManager method
 * (GetPeers, AddPeer, DisconnectPeer, Stop, ...) but must not destroy the
 * NetworkManager that invoked them. Exceptions thrown by a callback are caught
 * and discarded by the wrapper, because an exception must never unwind into
 * the Rust engine; handle errors inside the callback if they matter.
 *
 * Example:
 * @code
 *   p2pnet::Config config(p2pnet::Network::Regtest);
 *   config.SetListenAddress("127.0.0.1:0").SetUserAgent("/mynode:1.0/");
 *   p2pnet::NetworkManager network(config);
 *   network.SetOnPeerConnected([](const p2pnet::PeerInfo& peer) {
 *     std::cout << "connected to " << peer.address << ":" << peer.port << "\n";
 *   });
 *   network.Start();
 *   network.AddPeer("127.0.0.1", 18444);
 *   for (const auto& peer : network.GetPeers()) { ... }
 *   network.Stop();
 * @endcode
 */
#ifndef P2PNET_HPP
#define P2PNET_HPP

#include "p2pnet.h"

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
  info.connected_since = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(raw.connected_since)));
  return info;
}

/** @brief Release function for a heap-allocated callable passed as user data. */
template <typename Callable>
void Release(void* user_data) noexcept {
  delete static_cast<Callable*>(user_data);
}

}  // namespace detail

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
  explicit Config(Network network = Network::Mainnet)
      : config_(p2pnet_config_new(static_cast<uint32_t>(network))) {
    if (config_ == nullptr) {
      const char* message = p2pnet_last_error_message();
      throw Error(P2PNET_ERR_INVALID_ARGUMENT,
                  message != nullptr && *message != '\0' ? message : "p2pnet_config_new failed");
    }
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

  /** @brief Maximum number of outbound connections. */
  Config& SetMaxOutbound(uint32_t count) {
    detail::Check(p2pnet_config_set_max_outbound(config_, count));
    return *this;
  }

  /** @brief Maximum number of inbound connections. */
  Config& SetMaxInbound(uint32_t count) {
    detail::Check(p2pnet_config_set_max_inbound(config_, count));
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

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  const p2pnet_config* native() const noexcept { return config_; }

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  p2pnet_config* native() noexcept { return config_; }

 private:
  p2pnet_config* config_;
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
  /** @brief Callback for an engine log message (target is the emitting module). */
  using LogCallback =
      std::function<void(LogLevel level, const std::string& target, const std::string& message)>;

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
   * @brief Stops the engine (p2pnet_engine_stop); final.
   *
   * Waits for callbacks in flight; no callback runs after it returns. May be
   * called from a callback.
   */
  void Stop() { detail::Check(p2pnet_engine_stop(engine_)); }

  /** @brief The port the engine listens on; valid after Start(). */
  uint16_t ListenPort() const {
    uint16_t port = 0;
    detail::Check(p2pnet_engine_listen_port(engine_, &port));
    return port;
  }

  /**
   * @brief Starts an asynchronous outbound connection to @p host : @p port.
   *
   * @p host is an IP address or a name to resolve. Returns the id the
   * connection will have; the outcome arrives through the peer-connected
   * callback, or the peer-disconnected callback with ConnectFailed.
   */
  uint64_t AddPeer(const std::string& host, uint16_t port) {
    uint64_t peer_id = 0;
    detail::Check(p2pnet_add_peer(engine_, detail::CString(host), port, &peer_id));
    return peer_id;
  }

  /** @brief Disconnects a peer; its disconnect callback reports Requested. */
  void DisconnectPeer(uint64_t peer_id) {
    detail::Check(p2pnet_disconnect_peer(engine_, peer_id));
  }

  /** @brief Snapshot of all fully handshaken peers. */
  std::vector<PeerInfo> GetPeers() const {
    std::vector<p2pnet_peer_info> raw;
    std::size_t count = 0;
    for (;;) {
      p2pnet_result result =
          p2pnet_get_peers(engine_, raw.empty() ? nullptr : raw.data(), raw.size(), &count);
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
  void SetBestHeight(int32_t height) { detail::Check(p2pnet_set_best_height(engine_, height)); }

  /** @brief Registers the peer-connected callback; an empty function unregisters. */
  void SetOnPeerConnected(PeerConnectedCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_set_on_peer_connected(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<PeerConnectedCallback>(std::move(callback));
    detail::Check(p2pnet_set_on_peer_connected(engine_, &OnPeerConnectedTrampoline, holder.get(),
                                               &detail::Release<PeerConnectedCallback>));
    holder.release();
  }

  /** @brief Registers the peer-disconnected callback; an empty function unregisters. */
  void SetOnPeerDisconnected(PeerDisconnectedCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_set_on_peer_disconnected(engine_, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<PeerDisconnectedCallback>(std::move(callback));
    detail::Check(p2pnet_set_on_peer_disconnected(engine_, &OnPeerDisconnectedTrampoline,
                                                  holder.get(),
                                                  &detail::Release<PeerDisconnectedCallback>));
    holder.release();
  }

  /**
   * @brief Registers the log callback for messages at or below @p max_level.
   *
   * An empty function (or LogLevel::Off) stops log delivery.
   */
  void SetLogger(LogLevel max_level, LogCallback callback) {
    if (!callback) {
      detail::Check(p2pnet_set_log_callback(engine_, P2PNET_LOG_OFF, nullptr, nullptr, nullptr));
      return;
    }
    auto holder = std::make_unique<LogCallback>(std::move(callback));
    detail::Check(p2pnet_set_log_callback(engine_, static_cast<uint32_t>(max_level),
                                          &LogTrampoline, holder.get(),
                                          &detail::Release<LogCallback>));
    holder.release();
  }

  /** @brief The underlying C handle (owned by this object; NULL after a move). */
  p2pnet_engine* native() const noexcept { return engine_; }

 private:
  static void OnPeerConnectedTrampoline(void* user_data, const p2pnet_peer_info* peer) noexcept {
    if (user_data == nullptr || peer == nullptr) {
      return;
    }
    try {
      (*static_cast<PeerConnectedCallback*>(user_data))(detail::ToPeerInfo(*peer));
    } catch (...) {
    }
  }

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

  p2pnet_engine* engine_;
};

}  // namespace p2pnet

#endif  // P2PNET_HPP
