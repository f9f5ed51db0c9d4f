// "host:port" and "[ipv6]:port" on the command lines of the demo node and the network
// simulator's node.
#ifndef P2PNET_EXAMPLES_ENDPOINT_HPP
#define P2PNET_EXAMPLES_ENDPOINT_HPP

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

struct Endpoint {
  std::string host;
  uint16_t port = 0;
};

/// A decimal port, 0 to 65535.
inline bool ParsePort(const std::string& text, uint16_t& port) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

/// "host:port" or "[ipv6]:port", with a port other than 0.
inline bool ParseEndpoint(const std::string& text, Endpoint& endpoint) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return false;
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint16_t port = 0;
  if (!ParsePort(text.substr(colon + 1), port) || port == 0) {
    return false;
  }
  endpoint = Endpoint{host, port};
  return true;
}

#endif  // P2PNET_EXAMPLES_ENDPOINT_HPP
