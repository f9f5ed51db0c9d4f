// p2pnet_node: a toy node built on the p2pnet engine, linked through the CMake target
// p2pnet::p2pnet and the C++ wrapper. It keeps a toy chain, relays blocks and
// transactions, syncs from peers that are ahead, prints a peer table now and then, and
// stops cleanly on SIGINT/SIGTERM. With --demo it runs a small network in one process
// instead and checks that every step of it happens.

#include "console.hpp"
#include "endpoint.hpp"
#include "local_demo.hpp"
#include "node.hpp"

#include <p2pnet.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr char kUsage[] = R"(Usage: p2pnet_node [options]
       p2pnet_node --demo

A toy node on the p2pnet engine. It keeps a toy block chain (80-byte headers, block id
SHA-256d of the header), relays blocks and transactions, catches up with peers that
are ahead (getheaders, then the blocks), and prints its peers and relay events.

  --demo                 run a local network of nodes in this process, show the
                         handshakes, relay, sync and a ban, and exit (0 = all seen)

Network:
  --network NAME         mainnet, testnet or regtest preset (default: regtest)
  --magic HEX            network magic as a little-endian value, e.g. 0xDAB5BFFA
                         (overrides the preset's)
  --listen ADDR:PORT     listen address; port 0 picks a free port
                         (default: 0.0.0.0 and the preset's port)
  --connect HOST:PORT    keep a connection to this peer, redialled when it drops
                         (repeatable)
  --dns-seed NAME[:PORT] ask this DNS seed for peers; its records name peers on PORT
                         (default: the preset's port) (repeatable)
  --dns-server ADDR:PORT DNS server for seed lookups (default: the system resolver)
  --datadir DIR          keep the ban list and address book in DIR

Node:
  --name NAME            name shown to peers in the user agent (default: node)
  --mine SECONDS         mine a toy block every SECONDS and broadcast it
  --tx-rate N            broadcast N test transactions per second
  --status SECONDS       print the peer table every SECONDS (default: 10, 0: never)
  --log LEVEL            engine log level: off, error, warn, info, debug, trace
                         (default: warn)
  --help                 show this text

Example, two nodes on one machine:
  p2pnet_node --name a --listen 127.0.0.1:18444 --mine 5
  p2pnet_node --name b --listen 127.0.0.1:18445 --connect 127.0.0.1:18444 --tx-rate 1
)";

struct Options {
  bool help = false;
  bool demo = false;
  p2pnet::Network network = p2pnet::Network::Regtest;
  std::optional<uint32_t> magic;
  std::optional<std::string> listen;
  std::vector<Endpoint> connect;
  std::vector<std::string> dns_seeds;
  std::optional<std::string> dns_server;
  std::optional<std::string> datadir;
  std::string name = "node";
  double mine_seconds = 0;
  double tx_rate = 0;
  double status_seconds = 10;
  p2pnet::LogLevel log_level = p2pnet::LogLevel::Warn;
};

uint16_t DefaultPort(p2pnet::Network network) {
  switch (network) {
    case p2pnet::Network::Mainnet: return 8333;
    case p2pnet::Network::Testnet: return 18333;
    case p2pnet::Network::Regtest: return 18444;
  }
  return 18444;
}

std::string NetworkName(p2pnet::Network network) {
  switch (network) {
    case p2pnet::Network::Mainnet: return "mainnet";
    case p2pnet::Network::Testnet: return "testnet";
    case p2pnet::Network::Regtest: return "regtest";
  }
  return "unknown";
}

std::string Hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08X", static_cast<unsigned>(value));
  return text;
}

bool ParseNumber(const std::string& text, double& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0' && errno == 0 && value >= 0 && value <= 1e6;
}

bool ParseOptions(int argc, char** argv, Options& options, std::string& error) {
  int others = 0;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    const std::size_t equals = flag.find('=');
    if (flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      inline_value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    if (flag == "--help" || flag == "-h") {
      options.help = true;
      continue;
    }
    if (flag == "--demo") {
      options.demo = true;
      continue;
    }
    static const char* const kValueFlags[] = {
        "--network", "--magic", "--connect", "--listen", "--dns-seed", "--dns-server",
        "--datadir", "--name",  "--mine",    "--tx-rate", "--status", "--log"};
    bool known = false;
    for (const char* known_flag : kValueFlags) {
      known = known || flag == known_flag;
    }
    if (!known) {
      error = "unknown option " + flag;
      return false;
    }
    ++others;
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = flag + " needs a value";
      return false;
    }
    if (flag == "--network") {
      if (value == "mainnet") {
        options.network = p2pnet::Network::Mainnet;
      } else if (value == "testnet") {
        options.network = p2pnet::Network::Testnet;
      } else if (value == "regtest") {
        options.network = p2pnet::Network::Regtest;
      } else {
        error = "unknown network '" + value + "' (mainnet, testnet or regtest)";
        return false;
      }
    } else if (flag == "--magic") {
      char* end = nullptr;
      errno = 0;
      const unsigned long long magic = std::strtoull(value.c_str(), &end, 16);
      if (value.empty() || *end != '\0' || errno != 0 || magic > 0xffffffffull) {
        error = "--magic takes a 32-bit hex value, e.g. 0xDAB5BFFA";
        return false;
      }
      options.magic = static_cast<uint32_t>(magic);
    } else if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--connect") {
      Endpoint endpoint;
      if (!ParseEndpoint(value, endpoint)) {
        error = "--connect takes HOST:PORT, got '" + value + "'";
        return false;
      }
      options.connect.push_back(endpoint);
    } else if (flag == "--dns-seed") {
      options.dns_seeds.push_back(value);
    } else if (flag == "--dns-server") {
      options.dns_server = value;
    } else if (flag == "--datadir") {
      options.datadir = value;
    } else if (flag == "--name") {
      options.name = value;
    } else if (flag == "--mine" || flag == "--tx-rate" || flag == "--status") {
      double number = 0;
      if (!ParseNumber(value, number)) {
        error = flag + " takes a non-negative number, got '" + value + "'";
        return false;
      }
      (flag == "--mine" ? options.mine_seconds
                        : flag == "--tx-rate" ? options.tx_rate : options.status_seconds) = number;
    } else if (flag == "--log") {
      const std::pair<const char*, p2pnet::LogLevel> levels[] = {
          {"off", p2pnet::LogLevel::Off},     {"error", p2pnet::LogLevel::Error},
          {"warn", p2pnet::LogLevel::Warn},   {"info", p2pnet::LogLevel::Info},
          {"debug", p2pnet::LogLevel::Debug}, {"trace", p2pnet::LogLevel::Trace}};
      bool found = false;
      for (const auto& [level_name, level] : levels) {
        if (value == level_name) {
          options.log_level = level;
          found = true;
        }
      }
      if (!found) {
        error = "unknown log level '" + value + "'";
        return false;
      }
    } else {
      error = "unknown option " + flag;
      return false;
    }
  }
  if (options.demo && others > 0) {
    error = "--demo takes no other options";
    return false;
  }
  return true;
}

// Signal handling: the handler only records the signal and writes a byte to a pipe
// that the main loop polls, so that no engine call ever runs in signal context.
volatile std::sig_atomic_t g_stop_signal = 0;
int g_wake_write_fd = -1;

extern "C" void OnStopSignal(int signal_number) {
  g_stop_signal = signal_number;
  const int saved_errno = errno;
  const char byte = 1;
  const ssize_t written = write(g_wake_write_fd, &byte, 1);
  (void)written;  // a full pipe already wakes the loop
  errno = saved_errno;
}

/// The read end of the wake-up pipe; SIGINT/SIGTERM write to it. A second signal
/// terminates at once (SA_RESETHAND), in case stopping hangs.
int InstallStopSignals() {
  int fds[2];
  if (pipe(fds) != 0) {
    return -1;
  }
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  g_wake_write_fd = fds[1];
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return fds[0];
}

using Clock = std::chrono::steady_clock;

Clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

p2pnet::Config MakeConfig(const Options& options) {
  p2pnet::Config config(options.network);
  config.SetUserAgent(NodeUserAgent(options.name));
  if (options.magic) {
    config.SetMagic(*options.magic);
  }
  if (options.listen) {
    config.SetListenAddress(*options.listen);
  }
  if (options.datadir) {
    config.SetDataDir(*options.datadir);
  }
  if (options.dns_server) {
    config.SetDnsServer(*options.dns_server);
  }
  for (const std::string& seed : options.dns_seeds) {
    Endpoint endpoint{seed, DefaultPort(options.network)};
    if (seed.find(':') != std::string::npos && !ParseEndpoint(seed, endpoint)) {
      throw p2pnet::Error(P2PNET_ERR_INVALID_ARGUMENT, "--dns-seed takes NAME or NAME:PORT");
    }
    config.AddDNSSeed(endpoint.host, endpoint.port);
  }
  return config;
}

int RunNode(const Options& options, Console& console) {
  const int wake_fd = InstallStopSignals();
  if (wake_fd < 0) {
    std::perror("p2pnet_node: pipe");
    return 1;
  }
  Node node(options.name, MakeConfig(options), console);
  console.Event(options.name, "network " + NetworkName(options.network) +
                                  (options.magic ? ", magic " + Hex32(*options.magic) : "") +
                                  ", user agent " + NodeUserAgent(options.name) +
                                  (options.datadir ? ", data in " + *options.datadir : ""));
  if (options.log_level != p2pnet::LogLevel::Off) {
    node.net().SetLogger(options.log_level, [&console, name = options.name](
                                                p2pnet::LogLevel level, const std::string& target,
                                                const std::string& message) {
      console.Event(name, "[" + p2pnet::ToString(level) + " " + target + "] " + message);
    });
  }
  node.Start();
  for (const Endpoint& peer : options.connect) {
    node.net().AddNode(peer.host, peer.port);
    console.Event(options.name, "keeping a connection to " + peer.host + ":" +
                                    std::to_string(peer.port));
  }
  console.Event(options.name, "running; press Ctrl-C to stop");

  const bool mining = options.mine_seconds > 0;
  const bool sending = options.tx_rate > 0;
  const bool reporting = options.status_seconds > 0;
  const Clock::duration mine_interval = Seconds(mining ? options.mine_seconds : 1);
  const Clock::duration tx_interval = Seconds(sending ? 1.0 / options.tx_rate : 1);
  const Clock::duration status_interval = Seconds(reporting ? options.status_seconds : 1);
  Clock::time_point next_block = Clock::now() + mine_interval;
  Clock::time_point next_tx = Clock::now() + tx_interval;
  Clock::time_point next_status = Clock::now() + status_interval;

  while (g_stop_signal == 0) {
    const Clock::time_point now = Clock::now();
    if (mining && now >= next_block) {
      node.MineBlock();
      next_block = std::max(next_block + mine_interval, now);
    }
    // Catch up on transactions that fell due, but never more than a second's worth.
    for (int sent = 0; sending && now >= next_tx && sent <= options.tx_rate; ++sent) {
      node.BroadcastTestTransaction();
      next_tx += tx_interval;
    }
    if (sending && next_tx < now) {
      next_tx = now;
    }
    if (reporting && now >= next_status) {
      console.Text("");
      node.PrintPeerTable();
      console.Text("");
      next_status = std::max(next_status + status_interval, now);
    }

    std::optional<Clock::time_point> wake;
    for (const auto& [enabled, at] : {std::pair{mining, next_block}, std::pair{sending, next_tx},
                                      std::pair{reporting, next_status}}) {
      if (enabled && (!wake || at < *wake)) {
        wake = at;
      }
    }
    int timeout_ms = -1;
    if (wake) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 60000));
    }
    pollfd entry{wake_fd, POLLIN, 0};
    if (poll(&entry, 1, timeout_ms) > 0) {
      char drained[64];
      while (read(wake_fd, drained, sizeof(drained)) > 0) {
      }
    }
  }

  console.Event(options.name, std::string("received ") +
                                  (g_stop_signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                                  ", stopping the engine");
  node.Stop();
  const NodeRecord record = node.Record();
  console.Event(options.name,
                "stopped cleanly: chain height " + std::to_string(node.Height()) + ", " +
                    std::to_string(record.blocks_mined) + " block(s) mined, " +
                    std::to_string(record.blocks_accepted) + " received, " +
                    std::to_string(record.txs_accepted) + " tx received, " +
                    std::to_string(record.handshakes) + " handshake(s)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!ParseOptions(argc, argv, options, error)) {
    std::fprintf(stderr, "p2pnet_node: %s (see --help)\n", error.c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Console console;
  try {
    return options.demo ? RunLocalDemo(console) : RunNode(options, console);
  } catch (const p2pnet::Error& e) {
    std::fprintf(stderr, "p2pnet_node: %s\n", e.what());
    return 1;
  }
}
