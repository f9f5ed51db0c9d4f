/* Consumer of an installed p2pnet from plain C (static library). */
#include <p2pnet.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  /* The library loaded at run time is the one this program was compiled against. */
  if (strcmp(p2pnet_version_string(), P2PNET_VERSION_STRING) != 0) {
    fprintf(stderr, "version mismatch: p2pnet.h %s (%d.%d.%d), library %s\n", P2PNET_VERSION_STRING,
            P2PNET_VERSION_MAJOR, P2PNET_VERSION_MINOR, P2PNET_VERSION_PATCH,
            p2pnet_version_string());
    return 1;
  }
  p2pnet_config *config = NULL;
  p2pnet_engine *engine = NULL;
  uint16_t port = 0;
  p2pnet_result result = p2pnet_config_new(P2PNET_NETWORK_REGTEST, &config);
  if (result != P2PNET_OK) {
    fprintf(stderr, "p2pnet_config_new failed: %s: %s\n", p2pnet_result_name(result),
            p2pnet_last_error_message());
    return 1;
  }
  result = p2pnet_config_set_listen_address(config, "127.0.0.1:0");
  if (result == P2PNET_OK) {
    result = p2pnet_engine_new(config, &engine);
  }
  p2pnet_config_free(config);
  if (result == P2PNET_OK) {
    result = p2pnet_engine_start(engine);
  }
  if (result == P2PNET_OK) {
    result = p2pnet_engine_get_listen_port(engine, &port);
  }
  if (result == P2PNET_OK) {
    result = p2pnet_engine_stop(engine);
  }
  if (result != P2PNET_OK) {
    fprintf(stderr, "failed: %s: %s\n", p2pnet_result_name(result), p2pnet_last_error_message());
  }
  p2pnet_engine_free(engine);
  if (result != P2PNET_OK || port == 0) {
    return 1;
  }
  printf("C consumer (p2pnet %s): listened on 127.0.0.1:%u\n", p2pnet_version_string(),
         (unsigned)port);
  return 0;
}
