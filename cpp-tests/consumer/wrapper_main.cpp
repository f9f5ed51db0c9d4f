// Consumer of an installed p2pnet through the C++ wrapper (built against the
// shared library by CMake and against the static one through pkg-config).
#include <p2pnet.hpp>

#include <iostream>

int main() {
  try {
    // The library loaded at run time must be the version compiled against.
    p2pnet::CheckLibraryVersion();
    const p2pnet::VersionNumbers header = p2pnet::HeaderVersion();
    const p2pnet::VersionNumbers library = p2pnet::LibraryVersion();
    if (header.major != library.major || header.minor != library.minor ||
        header.patch != library.patch || p2pnet::Version() != P2PNET_VERSION_STRING) {
      std::cerr << "version mismatch: p2pnet.h " << P2PNET_VERSION_STRING << ", library "
                << p2pnet::Version() << "\n";
      return 1;
    }

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
    std::cout << "wrapper consumer (p2pnet " << p2pnet::Version() << ", header "
              << P2PNET_VERSION_STRING << "): listened on 127.0.0.1:" << port << "\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
