/* Build check: p2pnet.h compiles as strict C99 with -Wall -Wextra -pedantic -Werror,
 * and its types and functions are usable from C as declared. */
#include "p2pnet.h"

/* Including twice must be harmless (include guard). */
#include "p2pnet.h"

typedef char p2pnet_check_result_ok_is_zero[P2PNET_OK == 0 ? 1 : -1];

static void check_release(void *user_data) { (void)user_data; }

static void check_connected(void *user_data, const p2pnet_peer_info *peer) {
  (void)user_data;
  (void)peer;
}

static void check_disconnected(void *user_data, uint64_t peer_id, p2pnet_disconnect_reason reason,
                               const char *detail) {
  (void)user_data;
  (void)peer_id;
  (void)reason;
  (void)detail;
}

static void check_log(void *user_data, p2pnet_log_level level, const char *target,
                      const char *message) {
  (void)user_data;
  (void)level;
  (void)target;
  (void)message;
}

/* Never called; only type-checks the declarations. */
int p2pnet_header_check_c(void);
int p2pnet_header_check_c(void) {
  p2pnet_config *config = NULL;
  p2pnet_engine *engine = NULL;
  p2pnet_peer_info peers[2];
  size_t count = 0;
  uint16_t port = 0;
  uint64_t peer_id = 0;
  p2pnet_release_fn release = check_release;
  p2pnet_peer_connected_fn connected = check_connected;
  p2pnet_peer_disconnected_fn disconnected = check_disconnected;
  p2pnet_log_fn log = check_log;
  p2pnet_result result = p2pnet_config_new(P2PNET_NETWORK_REGTEST, &config);
  result = p2pnet_config_set_listen_address(config, "127.0.0.1:0");
  result = p2pnet_engine_new(config, &engine);
  p2pnet_config_free(config);
  result = p2pnet_engine_set_on_peer_connected(engine, connected, NULL, release);
  result = p2pnet_engine_set_on_peer_disconnected(engine, disconnected, NULL, release);
  result = p2pnet_engine_set_on_log(engine, P2PNET_LOG_INFO, log, NULL, release);
  result = p2pnet_engine_start(engine);
  result = p2pnet_engine_get_listen_port(engine, &port);
  result = p2pnet_engine_add_peer(engine, "127.0.0.1", port, &peer_id);
  result = p2pnet_engine_list_peers(engine, peers, 2, &count);
  result = p2pnet_engine_stop(engine);
  p2pnet_engine_free(engine);
  (void)p2pnet_result_name(result);
  (void)p2pnet_disconnect_reason_name(P2PNET_DISCONNECT_SELF_CONNECTION);
  (void)p2pnet_last_error_message();
  (void)p2pnet_version_string();
  return (int)result + (int)port + (int)count + (int)peer_id;
}
