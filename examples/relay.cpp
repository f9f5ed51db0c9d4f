// relay.cpp: block and transaction relay with verdicts, on a line of engines A - B - C.
//
// A broadcasts a transaction and a block; B's callbacks accept both and the engine
// relays them on to C. Then A broadcasts a transaction B's callback judges Invalid:
// B does not relay it, and A's misbehaviour score at B rises by 100, which gets A
// disconnected and its address banned. A marker transaction from B shows that C, which
// received everything B sent before it, never got the invalid one.
#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using p2pnet::ByteView;
using p2pnet::Hash;
using p2pnet::Verdict;

namespace {

// What the callbacks saw. They run on the engines' dispatcher threads; main() waits.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::set<Hash> at_c;                 // item ids C received
  int handshakes = 0;                  // peer-connected callbacks, all engines
  std::map<uint64_t, p2pnet::DisconnectReason> dropped_by_b;
  std::string detail;                  // what B said when dropping a peer

  template <typename Predicate>
  bool WaitUntil(Predicate done) {  // the 10 s deadline is only reached on failure
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), done);
  }
};

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

p2pnet::Config LineConfig(const std::string& ip) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress(ip + ":0")
      .SetTxTrickle(std::chrono::milliseconds(0), std::chrono::milliseconds(0))  // no batching
      .SetMaxOutbound(0);  // no automatic connections: the line stays a line
  return config;
}

}  // namespace

int main() {
  try {
    Seen seen;  // declared first: it must outlive the engines, whose callbacks use it
    // Distinct loopback addresses, so that banning A's address leaves C connected.
    p2pnet::NetworkManager a(LineConfig("127.0.0.2"));
    p2pnet::NetworkManager b(LineConfig("127.0.0.1"));
    p2pnet::NetworkManager c(LineConfig("127.0.0.3"));

    const std::vector<uint8_t> good_tx = Bytes("tx: alice pays bob 5");
    const std::vector<uint8_t> bad_tx = Bytes("tx: alice pays bob 5 again (double spend)");
    std::vector<uint8_t> block = Bytes("block: an 80-byte header, then the transactions");
    block.resize(120);  // the engine's default block id is SHA-256d of the first 80 bytes
    const Hash bad_id = b.ItemId(p2pnet::ItemKind::Tx, bad_tx);

    // B validates: here a fixed rule; a node checks scripts, inputs, proof of work...
    b.SetOnTransaction([&](uint64_t peer, const Hash& id, ByteView) {
      const Verdict verdict = id == bad_id ? Verdict::Invalid : Verdict::Accepted;
      std::cout << "B: tx from peer " << peer << ": "
                << (verdict == Verdict::Invalid ? "Invalid" : "Accepted") << "\n";
      return verdict;  // Accepted: relayed on. Invalid: not relayed, sender +100 points.
    });
    b.SetOnBlock([](uint64_t peer, const Hash&, ByteView data) {
      std::cout << "B: block (" << data.size() << " bytes) from peer " << peer << ": Accepted\n";
      return Verdict::Accepted;
    });
    const auto connected = [&](const p2pnet::PeerInfo&) {
      std::lock_guard<std::mutex> lock(seen.mutex);
      ++seen.handshakes;
      seen.changed.notify_all();
    };
    a.SetOnPeerConnected(connected);
    b.SetOnPeerConnected(connected);
    c.SetOnPeerConnected(connected);
    b.SetOnPeerDisconnected(
        [&](uint64_t peer, p2pnet::DisconnectReason reason, const std::string& detail) {
          std::lock_guard<std::mutex> lock(seen.mutex);
          seen.dropped_by_b[peer] = reason;
          seen.detail = p2pnet::ToString(reason) + ": " + detail;
          seen.changed.notify_all();
        });
    const auto c_received = [&](uint64_t, const Hash& id, ByteView) {
      std::lock_guard<std::mutex> lock(seen.mutex);
      seen.at_c.insert(id);
      seen.changed.notify_all();
      return Verdict::Accepted;
    };
    c.SetOnTransaction(c_received);
    c.SetOnBlock(c_received);

    a.Start();
    b.Start();
    c.Start();
    // B dials both, so it knows A by A's listen address, 127.0.0.2.
    const uint64_t a_at_b = b.AddPeer("127.0.0.2", a.ListenPort());
    const uint64_t c_at_b = b.AddPeer("127.0.0.3", c.ListenPort());
    // Both ends of both connections: A relays only to peers whose handshake it completed.
    if (!seen.WaitUntil([&] { return seen.handshakes == 4; })) {
      std::cerr << "FAIL: B did not connect to A and C\n";
      return 1;
    }

    // 1. A valid transaction and a block: A -> B -> C.
    const Hash good_id = a.BroadcastTransaction(good_tx);
    const Hash block_id = a.BroadcastBlock(block);
    if (!seen.WaitUntil([&] { return seen.at_c.count(good_id) && seen.at_c.count(block_id); })) {
      std::cerr << "FAIL: the transaction and the block did not reach C\n";
      return 1;
    }
    std::cout << "C: got the transaction and the block, relayed by B\n";

    // 2. A transaction B judges invalid.
    a.BroadcastTransaction(bad_tx);
    if (!seen.WaitUntil([&] { return seen.dropped_by_b.count(a_at_b) != 0; })) {
      std::cerr << "FAIL: B did not drop A\n";
      return 1;
    }
    {
      std::lock_guard<std::mutex> lock(seen.mutex);
      std::cout << "B dropped A: " << seen.detail << "\n";
    }
    for (const p2pnet::BanEntry& ban : b.ListBans()) {
      std::cout << "B bans " << ban.subnet << ": " << ban.reason << "\n";
    }

    // 3. A marker from B: once C has it, C has read everything B sent before it.
    const Hash marker = b.BroadcastTransaction(Bytes("tx: carol pays dave 1"));
    if (!seen.WaitUntil([&] { return seen.at_c.count(marker) != 0; })) {
      std::cerr << "FAIL: the marker did not reach C\n";
      return 1;
    }
    const auto b_peers = b.GetPeers();
    a.Stop();
    b.Stop();
    c.Stop();  // no callback runs after Stop: `seen` needs no lock from here on
    const bool relayed_bad = seen.at_c.count(bad_id) != 0;
    const bool c_still_there = b_peers.size() == 1 && b_peers[0].id == c_at_b;
    std::cout << "C got the invalid transaction: " << (relayed_bad ? "yes" : "no")
              << "; B's peers: " << b_peers.size() << " (C, score "
              << (b_peers.empty() ? 0 : b_peers[0].misbehaviour_score) << ")\n";
    if (relayed_bad || !c_still_there ||
        seen.dropped_by_b[a_at_b] != p2pnet::DisconnectReason::Misbehaviour) {
      std::cerr << "FAIL\n";
      return 1;
    }
    std::cout << "relay: OK\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
