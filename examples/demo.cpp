// Two p2pnet engines in one process: they listen on loopback, one dials the other, both
// complete the Bitcoin version/verack handshake, and each prints its peer table.

#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Counts events from the dispatcher thread and lets main wait for them.
class EventCounter {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
    cv_.notify_all();
  }

  bool WaitFor(int count, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

p2pnet::Config NodeConfig(const std::string& name, int32_t height) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress("127.0.0.1:0")
      .SetUserAgent("/p2pnet-demo:" + name + "/")
      .SetStartHeight(height)
      .SetPingInterval(std::chrono::milliseconds(200));
  return config;
}

void PrintPeers(const std::string& name, p2pnet::NetworkManager& node) {
  std::printf("\n%s peers:\n", name.c_str());
  std::printf("  %-4s %-22s %-9s %-8s %-24s %-7s %-10s\n", "id", "address", "direction", "version",
              "user agent", "height", "ping");
  for (const p2pnet::PeerInfo& peer : node.GetPeers()) {
    std::string address = peer.address + ":" + std::to_string(peer.port);
    std::string ping = peer.ping_time ? std::to_string(peer.ping_time->count()) + " us" : "-";
    std::printf("  %-4llu %-22s %-9s %-8d %-24s %-7d %-10s\n",
                static_cast<unsigned long long>(peer.id), address.c_str(),
                peer.inbound ? "inbound" : "outbound", peer.version, peer.user_agent.c_str(),
                peer.start_height, ping.c_str());
  }
}

}  // namespace

int main() {
  try {
    std::cout << "p2pnet " << p2pnet::Version() << " demo: two engines on 127.0.0.1\n";
    p2pnet::NetworkManager alice(NodeConfig("alice", 100));
    p2pnet::NetworkManager bob(NodeConfig("bob", 200));

    EventCounter handshakes;
    auto on_connected = [&handshakes](const std::string& who) {
      return [&handshakes, who](const p2pnet::PeerInfo& peer) {
        std::printf("[%s] handshake complete with %s:%u (%s, %s)\n", who.c_str(),
                    peer.address.c_str(), peer.port, peer.user_agent.c_str(),
                    peer.inbound ? "inbound" : "outbound");
        handshakes.Add();
      };
    };
    alice.SetOnPeerConnected(on_connected("alice"));
    bob.SetOnPeerConnected(on_connected("bob"));

    alice.Start();
    bob.Start();
    std::printf("alice listens on port %u, bob on port %u\n", alice.ListenPort(), bob.ListenPort());
    alice.AddPeer("127.0.0.1", bob.ListenPort());

    if (!handshakes.WaitFor(2, std::chrono::seconds(10))) {
      std::cerr << "handshake did not complete within 10 s\n";
      return 1;
    }

    // Let a ping round trip happen so the tables show a measured ping time.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<p2pnet::PeerInfo> peers = alice.GetPeers();
      if (!peers.empty() && peers.front().ping_time) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    PrintPeers("alice", alice);
    PrintPeers("bob", bob);

    alice.Stop();
    bob.Stop();
    std::cout << "\nboth engines stopped cleanly\n";
    return 0;
  } catch (const p2pnet::Error& e) {
    std::cerr << "p2pnet error: " << e.what() << "\n";
    return 1;
  }
}
