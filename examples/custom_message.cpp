// custom_message.cpp: node-defined messages ("chainvote") between engines.
//
// A and B define the command with Config::AddCustomMessage; C does not. A connects to
// both. In the handshake each engine lists its commands (a "sendcustom" message before
// verack), so A knows B offered "chainvote" and C did not: BroadcastCustomMessage
// reaches B only, and SendCustomMessage to C is refused. B answers from inside its
// callback. A marker transaction from A shows C read everything A sent it, and that
// no "chainvote" was among it.
#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr char kVote[] = "chainvote";  // 1 to 12 printable characters, not a Bitcoin command

struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> messages;  // "<node> got <command> '<payload>' from peer <id>"
  int a_connected = 0;
  bool c_got_marker = false;

  void Add(std::string line) {
    std::lock_guard<std::mutex> lock(mutex);
    std::cout << line << "\n";
    messages.push_back(std::move(line));
    changed.notify_all();
  }

  template <typename Predicate>
  bool WaitUntil(Predicate done) {  // the 10 s deadline is only reached on failure
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), done);
  }
};

p2pnet::Config MakeConfig(bool votes) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress("127.0.0.1:0")
      .SetTxTrickle(std::chrono::milliseconds(0), std::chrono::milliseconds(0))
      .SetMaxOutbound(0);
  if (votes) {
    // At most 1 KiB each (a larger one costs the sender 20 points), 50 per second
    // (each one beyond costs 1 point and is dropped).
    config.AddCustomMessage(kVote, 1024, 50);
  }
  return config;
}

std::string Text(p2pnet::ByteView payload) { return {payload.begin(), payload.end()}; }
std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

}  // namespace

int main() {
  Seen seen;  // declared first: it must outlive the engines, whose callbacks use it
  try {
    p2pnet::NetworkManager a(MakeConfig(true));
    p2pnet::NetworkManager b(MakeConfig(true));
    p2pnet::NetworkManager c(MakeConfig(false));

    a.SetOnPeerConnected([&](const p2pnet::PeerInfo&) {
      std::lock_guard<std::mutex> lock(seen.mutex);
      ++seen.a_connected;
      seen.changed.notify_all();
    });
    a.SetOnCustomMessage([&](uint64_t peer, const std::string& command, p2pnet::ByteView data) {
      seen.Add("A got " + command + " '" + Text(data) + "' from peer " + std::to_string(peer));
    });
    b.SetOnCustomMessage([&](uint64_t peer, const std::string& command, p2pnet::ByteView data) {
      seen.Add("B got " + command + " '" + Text(data) + "' from peer " + std::to_string(peer));
      b.SendCustomMessage(peer, kVote, Bytes("ack " + Text(data)));  // allowed in a callback
    });
    c.SetOnCustomMessage([&](uint64_t peer, const std::string& command, p2pnet::ByteView data) {
      seen.Add("C got " + command + " '" + Text(data) + "' from peer " + std::to_string(peer));
    });
    c.SetOnTransaction([&](uint64_t, const p2pnet::Hash&, p2pnet::ByteView) {
      std::lock_guard<std::mutex> lock(seen.mutex);
      seen.c_got_marker = true;
      seen.changed.notify_all();
      return p2pnet::Verdict::Accepted;
    });

    a.Start();
    b.Start();
    c.Start();
    a.AddPeer("127.0.0.1", b.ListenPort());
    const uint64_t c_at_a = a.AddPeer("127.0.0.1", c.ListenPort());
    if (!seen.WaitUntil([&] { return seen.a_connected == 2; })) {
      std::cerr << "FAIL: A did not connect to B and C\n";
      return 1;
    }

    const std::vector<uint8_t> ballot = Bytes("block 42: yes");
    const std::size_t sent = a.BroadcastCustomMessage(kVote, ballot);  // to B only
    std::cout << "A broadcast " << kVote << " to " << sent << " peer(s)\n";
    if (sent != 1 || !seen.WaitUntil([&] { return seen.messages.size() == 2; })) {
      std::cerr << "FAIL: the vote and its answer did not arrive\n";
      return 1;
    }

    bool refused = false;
    try {
      a.SendCustomMessage(c_at_a, kVote, ballot);
    } catch (const p2pnet::Error& error) {
      refused = error.code() == P2PNET_ERR_INVALID_ARGUMENT;
      std::cout << "A to C refused: " << error.what() << "\n";
    }

    // A marker: once C has this transaction, it has read everything A sent it before.
    a.BroadcastTransaction(Bytes("marker"));
    if (!seen.WaitUntil([&] { return seen.c_got_marker; })) {
      std::cerr << "FAIL: the marker did not reach C\n";
      return 1;
    }
    a.Stop();
    b.Stop();
    c.Stop();  // no callback runs after Stop: `seen` needs no lock from here on
    uint64_t c_unknown = 0;  // commands C has no name for are counted as "*other*"
    for (const p2pnet::CommandTraffic& row : c.GetCommandTraffic()) {
      if (row.command == "*other*") c_unknown = row.messages_received;
    }
    std::cout << "C received " << c_unknown << " message(s) it has no name for\n";
    if (!refused || seen.messages.size() != 2 || c_unknown != 0) {
      std::cerr << "FAIL\n";
      return 1;
    }
    std::cout << "custom_message: OK\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
