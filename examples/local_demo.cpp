#include "local_demo.hpp"

#include "node.hpp"
#include "toy_chain.hpp"
#include "watchdog.hpp"
#include "wire_peer.hpp"

#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = Console::Clock;

/// How long any one step may take; only reached when something is broken.
constexpr std::chrono::milliseconds kStepTimeout = 5s;
/// The whole demo, whatever it is blocked on, ends after this.
constexpr std::chrono::seconds kWatchdogLimit = 25s;
/// How long the final peer tables wait for ping times (cosmetic, not a check).
constexpr std::chrono::milliseconds kPingWait = 1s;
/// Blocks the three first nodes mine before the late joiner arrives.
constexpr std::size_t kChainHeight = 5;
/// Regtest magic as a little-endian value (wire bytes FA BF B5 DA).
constexpr uint32_t kRegtestMagic = 0xDAB5BFFAu;
constexpr char kLoopback[] = "127.0.0.1";
/// The misbehaving peer connects from its own loopback address, so that banning it
/// leaves the demo nodes on 127.0.0.1 connected.
constexpr char kMisbehavingPeerIp[] = "127.0.0.2";
constexpr char kMisbehavingPeerName[] = "mallory";

p2pnet::Config DemoConfig(const std::string& name) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress(std::string(kLoopback) + ":0")
      .SetUserAgent(NodeUserAgent(name))
      .SetMaxOutbound(0)       // only the connections the demo makes, no address gossip dials
      .SetTxTrickle(0ms, 0ms)  // announce transactions at once instead of batching them
      .SetWorkerThreads(1)
      .SetPingInterval(250ms);  // so that the peer tables show measured round trips
  return config;
}

/// Time left until `deadline`, for waits that share one step's budget.
std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : 0ms;
}

/// "0.42 ms" or "12.3 ms": loopback relay takes well under a millisecond.
std::string Millis(double ms) {
  char text[32];
  std::snprintf(text, sizeof(text), ms < 10 ? "%.2f ms" : "%.1f ms", ms);
  return text;
}

bool AllPingsMeasured(const Node& node) {
  for (const p2pnet::PeerInfo& peer : node.net().GetPeers()) {
    if (!peer.ping_time) {
      return false;
    }
  }
  return true;
}

std::string FormatTime(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

struct StepResult {
  std::string title;
  bool passed = false;
  std::string detail;
};

class LocalDemo {
 public:
  explicit LocalDemo(Console& console) : console_(console), watchdog_(kWatchdogLimit, "the demo") {}

  int Run();

 private:
  // Each step prints what happens, returns whether everything it checks was observed
  // and fills `detail` with a one-line outcome for the summary.
  bool StartAndConnect(std::string& detail);
  bool RelayTransaction(std::string& detail);
  bool RelayBlock(std::string& detail);
  bool GrowChain(std::string& detail);
  bool SyncLateJoiner(std::string& detail);
  bool BanMisbehavingPeer(std::string& detail);
  bool ShutDown(std::string& detail);

  /// Waits until `node` has completed at least `count` handshakes.
  static bool WaitForHandshakes(const Node& node, std::size_t count, Clock::time_point deadline);
  /// Waits until `node` received the item `id` from a peer.
  static bool WaitForArrival(const Node& node, const p2pnet::Hash& id, Clock::time_point deadline);
  /// Waits until `node`'s tip is `tip`.
  static bool WaitForTip(const Node& node, const p2pnet::Hash& tip, Clock::time_point deadline);
  /// "bob from alice after 1.2 ms"; `sender` is set to the peer it came from.
  static std::string DescribeArrival(const Node& node, const p2pnet::Hash& id,
                                     Clock::time_point sent, std::string& sender);
  void PrintSummary(double elapsed_ms) const;

  Console& console_;
  // Before the nodes: it still watches while their destructors stop the engines.
  Watchdog watchdog_;
  std::unique_ptr<Node> alice_;
  std::unique_ptr<Node> bob_;
  std::unique_ptr<Node> carol_;
  std::unique_ptr<Node> dave_;
  std::vector<StepResult> results_;
  std::size_t bans_ = 0;
};

int LocalDemo::Run() {
  using StepFunction = bool (LocalDemo::*)(std::string&);
  struct Step {
    const char* title;
    StepFunction run;
  };
  const Step steps[] = {
      {"1. Three nodes start and shake hands", &LocalDemo::StartAndConnect},
      {"2. A transaction propagates", &LocalDemo::RelayTransaction},
      {"3. A block propagates", &LocalDemo::RelayBlock},
      {"4. The chain grows", &LocalDemo::GrowChain},
      {"5. A fresh node joins and syncs the chain", &LocalDemo::SyncLateJoiner},
      {"6. A misbehaving peer gets banned", &LocalDemo::BanMisbehavingPeer},
      {"7. Clean shutdown", &LocalDemo::ShutDown},
  };

  const auto started = Clock::now();
  console_.Text("p2pnet " + p2pnet::Version() +
                " local demo: a small network of toy nodes in one process, on 127.0.0.1.\n"
                "Lines read [time since start] node  event. Every step waits for the events it\n"
                "expects (at most " + std::to_string(kStepTimeout.count() / 1000) +
                " s each); the summary says what was seen.");

  bool all_passed = true;
  for (const Step& step : steps) {
    if (!all_passed) {
      results_.push_back({step.title, false, "skipped: an earlier step failed"});
      continue;
    }
    console_.Heading(step.title);
    StepResult result{step.title, false, ""};
    try {
      result.passed = (this->*step.run)(result.detail);
    } catch (const p2pnet::Error& e) {
      result.detail = std::string("p2pnet error: ") + e.what();
    }
    if (!result.passed) {
      console_.Text("  FAILED: " + result.detail);
      all_passed = false;
    }
    results_.push_back(result);
  }
  PrintSummary(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  return all_passed ? 0 : 1;
}

bool LocalDemo::WaitForHandshakes(const Node& node, std::size_t count,
                                  Clock::time_point deadline) {
  return node.WaitUntil(Remaining(deadline), [count](const NodeRecord& record, const toy::Chain&) {
    return record.handshakes >= count;
  });
}

bool LocalDemo::WaitForArrival(const Node& node, const p2pnet::Hash& id,
                               Clock::time_point deadline) {
  return node.WaitUntil(Remaining(deadline), [&id](const NodeRecord& record, const toy::Chain&) {
    return record.arrivals.count(id) != 0;
  });
}

bool LocalDemo::WaitForTip(const Node& node, const p2pnet::Hash& tip, Clock::time_point deadline) {
  return node.WaitUntil(Remaining(deadline), [&tip](const NodeRecord&, const toy::Chain& chain) {
    return chain.tip() == tip;
  });
}

std::string LocalDemo::DescribeArrival(const Node& node, const p2pnet::Hash& id,
                                       Clock::time_point sent, std::string& sender) {
  const NodeRecord record = node.Record();
  auto it = record.arrivals.find(id);
  if (it == record.arrivals.end()) {
    sender.clear();
    return node.name() + " never got it";
  }
  sender = it->second.from;
  return node.name() + " got it from " + sender + " after " +
         Millis(MillisBetween(sent, it->second.at));
}

bool LocalDemo::StartAndConnect(std::string& detail) {
  console_.Text(
      "  alice, bob and carol are p2pnet engines listening on 127.0.0.1 (regtest preset,\n"
      "  ports picked by the OS, automatic outbound connections off). bob dials alice and\n"
      "  carol dials bob, so the network is a line: alice - bob - carol. Each connection\n"
      "  does the Bitcoin version/verack handshake; both ends report it.\n");
  alice_ = std::make_unique<Node>("alice", DemoConfig("alice"), console_);
  bob_ = std::make_unique<Node>("bob", DemoConfig("bob"), console_);
  carol_ = std::make_unique<Node>("carol", DemoConfig("carol"), console_);
  alice_->Start();
  bob_->Start();
  carol_->Start();

  const auto deadline = Clock::now() + kStepTimeout;
  bob_->net().AddPeer(kLoopback, alice_->net().ListenPort());
  carol_->net().AddPeer(kLoopback, bob_->net().ListenPort());
  if (!WaitForHandshakes(*alice_, 1, deadline) || !WaitForHandshakes(*bob_, 2, deadline) ||
      !WaitForHandshakes(*carol_, 1, deadline)) {
    detail = "handshakes seen: alice " + std::to_string(alice_->Record().handshakes) + "/1, bob " +
             std::to_string(bob_->Record().handshakes) + "/2, carol " +
             std::to_string(carol_->Record().handshakes) + "/1";
    return false;
  }
  console_.Text("\n  Peer tables right after the handshakes:");
  alice_->PrintPeerTable();
  bob_->PrintPeerTable();
  carol_->PrintPeerTable();
  detail = "4 handshakes on 2 connections (bob -> alice, carol -> bob)";
  return true;
}

bool LocalDemo::RelayTransaction(std::string& detail) {
  console_.Text(
      "  alice broadcasts a transaction. Her engine announces it (inv) to bob, bob's engine\n"
      "  asks for it (getdata) and hands it to his transaction callback, which accepts it;\n"
      "  being accepted, it is relayed on to carol the same way.\n");
  const auto sent = Clock::now();
  const auto deadline = sent + kStepTimeout;
  const p2pnet::Hash id = alice_->BroadcastTestTransaction();
  const bool arrived = WaitForArrival(*bob_, id, deadline) && WaitForArrival(*carol_, id, deadline);
  std::string bob_sender;
  std::string carol_sender;
  const std::string bob_line = DescribeArrival(*bob_, id, sent, bob_sender);
  const std::string carol_line = DescribeArrival(*carol_, id, sent, carol_sender);
  console_.Text("\n  tx " + toy::ShortId(id) + ": " + bob_line + "; " + carol_line);
  detail = "tx " + toy::ShortId(id) + ": " + bob_line + ", " + carol_line;
  return arrived && bob_sender == "alice" && carol_sender == "bob";
}

bool LocalDemo::RelayBlock(std::string& detail) {
  console_.Text(
      "  carol mines block 1 and broadcasts it. Blocks are announced at once; each node checks\n"
      "  that the block extends its tip before accepting (and so relaying) it, so it travels\n"
      "  carol -> bob -> alice.\n");
  const auto sent = Clock::now();
  const auto deadline = sent + kStepTimeout;
  const p2pnet::Hash id = carol_->MineBlock();
  const bool arrived = WaitForTip(*bob_, id, deadline) && WaitForTip(*alice_, id, deadline);
  std::string bob_sender;
  std::string alice_sender;
  const std::string bob_line = DescribeArrival(*bob_, id, sent, bob_sender);
  const std::string alice_line = DescribeArrival(*alice_, id, sent, alice_sender);
  console_.Text("\n  block 1 " + toy::ShortId(id) + ": " + bob_line + "; " + alice_line);
  detail = "block 1: " + bob_line + ", " + alice_line;
  return arrived && bob_sender == "carol" && alice_sender == "bob";
}

bool LocalDemo::GrowChain(std::string& detail) {
  console_.Text("  The three nodes take turns mining until height " + std::to_string(kChainHeight) +
                "; each block reaches every node\n  before the next one is mined.\n");
  Node* const miners[] = {alice_.get(), bob_.get(), carol_.get()};
  std::vector<std::string> timings;
  for (std::size_t height = 2; height <= kChainHeight; ++height) {
    Node& miner = *miners[(height - 2) % 3];
    const auto sent = Clock::now();
    const auto deadline = sent + kStepTimeout;
    const p2pnet::Hash id = miner.MineBlock();
    for (Node* node : miners) {
      if (!WaitForTip(*node, id, deadline)) {
        detail = "block " + std::to_string(height) + " mined by " + miner.name() +
                 " did not reach " + node->name();
        return false;
      }
    }
    timings.push_back(Millis(MillisBetween(sent, Clock::now())));
  }
  std::string all_timings;
  for (const std::string& timing : timings) {
    all_timings += (all_timings.empty() ? "" : ", ") + timing;
  }
  console_.Text("\n  blocks 2-" + std::to_string(kChainHeight) + " reached all three nodes in " +
                all_timings);
  const p2pnet::Hash tip = alice_->Tip();
  const bool same_tip = bob_->Tip() == tip && carol_->Tip() == tip;
  detail = "alice, bob and carol at height " + std::to_string(alice_->Height()) + ", tip " +
           toy::ShortId(tip) + (same_tip ? " on all three" : ", but the tips differ");
  return same_tip && alice_->Height() == kChainHeight;
}

bool LocalDemo::SyncLateJoiner(std::string& detail) {
  console_.Text(
      "  dave starts with only the genesis block and dials carol. carol's version message\n"
      "  announces height " + std::to_string(kChainHeight) +
      ", so dave sends getheaders with his block locator, carol\n"
      "  answers from her chain, and dave checks that the headers link up and fetches their\n"
      "  blocks (FetchBlocks); they arrive through his block callback and connect one by one.\n");
  dave_ = std::make_unique<Node>("dave", DemoConfig("dave"), console_);
  dave_->Start();
  const p2pnet::Hash target = carol_->Tip();
  const auto started = Clock::now();
  const auto deadline = started + kStepTimeout;
  dave_->net().AddPeer(kLoopback, carol_->net().ListenPort());
  const bool synced = WaitForTip(*dave_, target, deadline);
  const double sync_ms = MillisBetween(started, Clock::now());

  const NodeRecord dave = dave_->Record();
  const NodeRecord carol = carol_->Record();
  const p2pnet::SyncStatus status = dave_->net().GetSyncStatus();
  char line[512];
  std::snprintf(line, sizeof(line),
                "\n  dave: %zu getheaders sent, %zu headers received, %zu blocks synced, height %zu"
                "\n  carol: %zu headers served; %zu block(s) looked up by her data provider, the"
                "\n  rest sent from her engine's relay cache"
                "\n  dave's sync status: best peer height %d, %u in flight, %u queued",
                dave.getheaders_sent, dave.headers_received, dave.blocks_synced, dave_->Height(),
                carol.headers_served, carol.items_served, status.best_peer_height,
                status.blocks_in_flight, status.blocks_queued);
  console_.Text(line);
  detail = "dave synced " + std::to_string(dave.blocks_synced) + " blocks from carol in " +
           Millis(sync_ms) + " (" + std::to_string(dave.headers_received) + " headers, " +
           std::to_string(dave.getheaders_sent) + " getheaders)";
  if (!synced) {
    detail = "dave reached height " + std::to_string(dave_->Height()) + " of " +
             std::to_string(kChainHeight);
  }
  return synced && dave.blocks_synced == kChainHeight && dave.headers_received == kChainHeight;
}

bool LocalDemo::BanMisbehavingPeer(std::string& detail) {
  console_.Text(
      "  mallory is not a p2pnet node but a hand-written peer on a raw TCP socket from\n"
      "  127.0.0.2. She completes the handshake with alice and announces a block; when alice\n"
      "  asks for it she sends a block whose payload does not match its header. alice's block\n"
      "  callback returns Invalid, so the engine adds 100 to mallory's misbehaviour score,\n"
      "  which reaches the threshold: mallory is disconnected and her address banned.\n");
  const auto deadline = Clock::now() + kStepTimeout;
  const uint16_t alice_port = alice_->net().ListenPort();
  std::string mallory_ip = kMisbehavingPeerIp;
  auto mallory = std::make_unique<WirePeer>(kRegtestMagic);
  std::string error;
  if (!mallory->Connect(mallory_ip, kLoopback, alice_port, error)) {
    console_.Text("  (" + error + "; mallory uses 127.0.0.1 instead, so her ban also drops\n"
                  "  alice's connection to bob)");
    mallory_ip = kLoopback;
    mallory = std::make_unique<WirePeer>(kRegtestMagic);
    if (!mallory->Connect(mallory_ip, kLoopback, alice_port, error)) {
      detail = error;
      return false;
    }
  }
  if (!mallory->Handshake("/evil:0.1(" + std::string(kMisbehavingPeerName) + ")/",
                          Remaining(deadline))) {
    detail = "mallory's handshake with alice did not complete";
    return false;
  }
  uint64_t mallory_id = 0;
  const bool seen = alice_->WaitUntil(Remaining(deadline), [&](const NodeRecord& record,
                                                               const toy::Chain&) {
    for (const auto& [id, name] : record.peer_names) {
      if (name == kMisbehavingPeerName) {
        mallory_id = id;
        return true;
      }
    }
    return false;
  });
  if (!seen) {
    detail = "alice did not report mallory's handshake";
    return false;
  }

  // A well-formed header on alice's tip, committing to one payload, carrying another.
  const std::string promised = "the payload the header commits to";
  std::vector<uint8_t> bad_block =
      toy::MakeBlock(alice_->Tip(), static_cast<uint32_t>(alice_->Height() + 1),
                     std::vector<uint8_t>(promised.begin(), promised.end()),
                     static_cast<uint32_t>(std::time(nullptr)), 666);
  bad_block.resize(toy::kHeaderSize);
  const std::string delivered = "something else entirely";
  bad_block.insert(bad_block.end(), delivered.begin(), delivered.end());
  const p2pnet::Hash bad_id = toy::BlockId(bad_block.data());

  console_.Event(kMisbehavingPeerName,
                 "announces block " + toy::ShortId(bad_id) + " to alice (inv)");
  mallory->Send("inv", SingleInvPayload(kInvBlock, bad_id));
  bool requested = false;
  while (!requested) {
    const std::optional<WireMessage> getdata = mallory->WaitFor("getdata", Remaining(deadline));
    if (!getdata) {
      detail = "alice never asked mallory for the announced block";
      return false;
    }
    if (const auto entries = ParseInvPayload(getdata->payload)) {
      for (const auto& entry : *entries) {
        requested = requested || entry.second == bad_id;
      }
    }
  }
  console_.Event(kMisbehavingPeerName,
                 "alice asked for it (getdata); sending a block whose payload does not match "
                 "its header");
  mallory->Send("block", bad_block);

  const bool dropped = alice_->WaitUntil(Remaining(deadline), [&](const NodeRecord& record,
                                                                  const toy::Chain&) {
    for (const NodeRecord::Disconnect& event : record.disconnects) {
      if (event.peer == mallory_id) {
        return true;
      }
    }
    return false;
  });
  const bool socket_closed = mallory->WaitForClose(Remaining(deadline));
  if (!dropped) {
    detail = "alice did not disconnect mallory";
    return false;
  }
  p2pnet::DisconnectReason reason = p2pnet::DisconnectReason::Requested;
  std::string reason_detail;
  for (const NodeRecord::Disconnect& event : alice_->Record().disconnects) {
    if (event.peer == mallory_id) {
      reason = event.reason;
      reason_detail = event.detail;
    }
  }
  console_.Text("\n  alice dropped mallory (#" + std::to_string(mallory_id) + "): reason \"" +
                p2pnet::ToString(reason) + "\", " + reason_detail);
  console_.Text(std::string("  mallory's socket ") +
                (socket_closed ? "was closed by alice" : "is still open (unexpected)"));

  const std::vector<p2pnet::BanEntry> bans = alice_->net().ListBans();
  bans_ = bans.size();
  bool banned = false;
  console_.Text("  alice's ban list (" + std::to_string(bans.size()) + " entr" +
                (bans.size() == 1 ? "y" : "ies") + "):");
  for (const p2pnet::BanEntry& ban : bans) {
    console_.Text("    " + ban.subnet + "  until " + FormatTime(ban.until) + "  reason: " +
                  ban.reason);
    banned = banned || ban.subnet == mallory_ip + "/32";
  }

  // Banned addresses are turned away before a single byte is read.
  WirePeer retry(kRegtestMagic);
  const bool retry_connected = retry.Connect(mallory_ip, kLoopback, alice_port, error);
  const bool refused = !retry_connected || retry.WaitForClose(Remaining(deadline));
  console_.Event(kMisbehavingPeerName,
                 "tries again from " + mallory_ip + ": " +
                     (refused ? "the connection is closed at once, before any message"
                              : "the connection stays open (unexpected)"));

  const bool not_relayed = bob_->Record().arrivals.count(bad_id) == 0 &&
                           carol_->Record().arrivals.count(bad_id) == 0;
  console_.Text(std::string("  the invalid block ") +
                (not_relayed ? "went no further than alice" : "was relayed (unexpected)") +
                "; alice's chain is still at height " + std::to_string(alice_->Height()));

  const bool misbehaviour_reason = reason == p2pnet::DisconnectReason::Misbehaviour ||
                                   reason == p2pnet::DisconnectReason::Banned;
  detail = "mallory dropped (" + p2pnet::ToString(reason) + "), " +
           (banned ? mallory_ip + "/32 banned" : "no ban listed") + ", reconnect " +
           (refused ? "refused" : "accepted") + ", invalid block " +
           (not_relayed ? "not relayed" : "relayed");
  return misbehaviour_reason && socket_closed && banned && refused && not_relayed;
}

bool LocalDemo::ShutDown(std::string& detail) {
  console_.Text("  Final peer tables, then each engine stops: Stop() closes its connections and\n"
                "  returns once no callback runs any more.\n");
  const std::vector<Node*> nodes = {alice_.get(), bob_.get(), carol_.get(), dave_.get()};
  // Ping round trips have no event of their own; give the first ones a moment to show up
  // in the tables. This is cosmetic and not checked.
  const auto ping_deadline = Clock::now() + kPingWait;
  for (Node* node : nodes) {
    while (Clock::now() < ping_deadline && !AllPingsMeasured(*node)) {
      std::this_thread::sleep_for(10ms);
    }
  }
  for (Node* node : nodes) {
    node->PrintPeerTable();
  }
  console_.Text("");
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* node = *it;
    node->Stop();
    console_.Event(node->name(), "stopped");
  }
  detail = "4 engines stopped";
  return true;
}

void LocalDemo::PrintSummary(double elapsed_ms) const {
  console_.Heading("Summary");
  std::size_t passed = 0;
  for (const StepResult& result : results_) {
    passed += result.passed ? 1 : 0;
    console_.Text(std::string(result.passed ? "  PASS  " : "  FAIL  ") + result.title);
    if (!result.detail.empty()) {
      console_.Text("        " + result.detail);
    }
  }
  std::size_t handshakes = 0;
  std::size_t txs = 0;
  std::size_t mined = 0;
  std::size_t relayed = 0;
  std::size_t synced = 0;
  std::size_t headers = 0;
  std::size_t invalid = 0;
  for (const Node* node : {alice_.get(), bob_.get(), carol_.get(), dave_.get()}) {
    if (node == nullptr) {
      continue;
    }
    const NodeRecord record = node->Record();
    handshakes += record.handshakes;
    txs += record.txs_accepted;
    mined += record.blocks_mined;
    relayed += record.blocks_accepted - record.blocks_synced;
    synced += record.blocks_synced;
    headers += record.headers_served;
    invalid += record.invalid_items;
  }
  char line[512];
  std::snprintf(line, sizeof(line),
                "\n  counts: %zu handshakes, %zu tx receipts, %zu blocks mined, %zu block"
                "\n  receipts by relay, %zu blocks synced, %zu headers served, %zu invalid"
                "\n  item(s), %zu ban(s)",
                handshakes, txs, mined, relayed, synced, headers, invalid, bans_);
  console_.Text(line);
  const bool all_passed = passed == results_.size();
  std::snprintf(line, sizeof(line), "\nRESULT: %s (%zu of %zu steps observed) in %.2f s",
                all_passed ? "PASS" : "FAIL", passed, results_.size(), elapsed_ms / 1000.0);
  console_.Text(line);
}

}  // namespace

int RunLocalDemo(Console& console) {
  LocalDemo demo(console);
  return demo.Run();
}
