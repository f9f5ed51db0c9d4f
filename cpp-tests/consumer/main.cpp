// Consumer of an installed p2pnet (static library, C API from C++): create an
// engine on regtest, listen on 127.0.0.1:0, read the port, stop, free.
#include <p2pnet.h>

#include <cstdio>

namespace {

int Fail(const char* what, p2pnet_result result) {
  std::fprintf(stderr, "%s failed: %s: %s\n", what, p2pnet_result_name(result),
               p2pnet_last_error_message());
  return 1;
}

}  // namespace

int main() {
  p2pnet_config* config = nullptr;
  p2pnet_result result = p2pnet_config_new(P2PNET_NETWORK_REGTEST, &config);
  if (result != P2PNET_OK) {
    return Fail("p2pnet_config_new", result);
  }
  result = p2pnet_config_set_listen_address(config, "127.0.0.1:0");
  if (result != P2PNET_OK) {
    p2pnet_config_free(config);
    return Fail("p2pnet_config_set_listen_address", result);
  }
  p2pnet_engine* engine = nullptr;
  result = p2pnet_engine_new(config, &engine);
  p2pnet_config_free(config);
  if (result != P2PNET_OK) {
    return Fail("p2pnet_engine_new", result);
  }
  result = p2pnet_engine_start(engine);
  if (result != P2PNET_OK) {
    p2pnet_engine_free(engine);
    return Fail("p2pnet_engine_start", result);
  }
  uint16_t port = 0;
  result = p2pnet_engine_get_listen_port(engine, &port);
  if (result != P2PNET_OK || port == 0) {
    p2pnet_engine_free(engine);
    return Fail("p2pnet_engine_get_listen_port", result);
  }
  result = p2pnet_engine_stop(engine);
  p2pnet_engine_free(engine);
  if (result != P2PNET_OK) {
    return Fail("p2pnet_engine_stop", result);
  }
  std::printf("p2pnet %s listened on 127.0.0.1:%u\n", p2pnet_version_string(),
              static_cast<unsigned>(port));
  return 0;
}
