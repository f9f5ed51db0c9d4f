// Consumer of an installed p2pnet through the C++ wrapper (shared library).
#include <p2pnet.hpp>

#include <iostream>

int main() {
  try {
    p2pnet::Config config(p2pnet::Network::Regtest);
    config.SetListenAddress("127.0.0.1:0").SetUserAgent("/consumer:0.1/");
    p2pnet::NetworkManager network(config);
    network.Start();
    const uint16_t port = network.ListenPort();
    network.Stop();
    if (port == 0) {
      std::cerr << "listen port is 0\n";
      return 1;
    }
    std::cout << "wrapper consumer (shared " << p2pnet::Version() << "): listened on 127.0.0.1:"
              << port << "\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
