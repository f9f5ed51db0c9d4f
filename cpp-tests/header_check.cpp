// Build check: p2pnet.h compiles as C++11 with -Wall -Wextra -pedantic -Werror.
#include "p2pnet.h"
#include "p2pnet.h"

#include <type_traits>

static_assert(std::is_standard_layout<p2pnet_peer_info>::value,
              "p2pnet_peer_info must be a plain C struct");
static_assert(P2PNET_OK == 0, "P2PNET_OK must be zero");

// Never called; only type-checks the declarations.
int p2pnet_header_check_cxx();
int p2pnet_header_check_cxx() {
  p2pnet_config* config = nullptr;
  p2pnet_result result = p2pnet_config_new(P2PNET_NETWORK_REGTEST, &config);
  p2pnet_engine* engine = nullptr;
  result = p2pnet_engine_new(config, &engine);
  p2pnet_config_free(config);
  p2pnet_peer_info peers[1];
  size_t count = 0;
  result = p2pnet_engine_list_peers(engine, peers, 1, &count);
  p2pnet_engine_free(engine);
  return static_cast<int>(result) + static_cast<int>(count);
}
