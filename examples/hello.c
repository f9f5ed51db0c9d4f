/* hello.c: the C API in one page (C11, p2pnet.h only).
 *
 * Creates a configuration, starts engine "server", starts engine "client" and connects
 * it to the server, waits (on a condition variable) until both see the
 * peer-connected callback, lists the client's peers, then stops and frees both.
 * Every result is checked; a failure prints p2pnet_last_error_message() and exits 1.
 */
#include <p2pnet.h>

#include <stdio.h>
#include <string.h>
#include <threads.h>
#include <time.h>

/* What one engine's peer-connected callback reports. The callback runs on the engine's
 * dispatcher thread, so the count is guarded by a mutex and main() waits on `changed`. */
struct watcher {
  const char *name;
  mtx_t mutex;
  cnd_t changed;
  int connected;
};

static void on_peer_connected(void *user_data, const p2pnet_peer_info *peer) {
  struct watcher *w = user_data;
  /* `peer` is borrowed for this call only: copy what you keep. */
  printf("%s: peer %llu connected: %s:%u, %s, user agent %s\n", w->name,
         (unsigned long long)peer->id, peer->address, (unsigned)peer->port,
         peer->inbound ? "inbound" : "outbound", peer->user_agent);
  mtx_lock(&w->mutex);
  w->connected++;
  cnd_broadcast(&w->changed);
  mtx_unlock(&w->mutex);
}

/* Waits up to 10 s for the first peer; the deadline is only reached on failure. */
static int wait_connected(struct watcher *w) {
  struct timespec deadline;
  timespec_get(&deadline, TIME_UTC);
  deadline.tv_sec += 10;
  mtx_lock(&w->mutex);
  while (w->connected == 0 && cnd_timedwait(&w->changed, &w->mutex, &deadline) == thrd_success) {
  }
  int ok = w->connected > 0;
  mtx_unlock(&w->mutex);
  return ok;
}

/* Checks a p2pnet_result; on failure prints it and jumps to the clean-up. */
#define CHECK(call)                                                                  \
  do {                                                                               \
    p2pnet_result result_ = (call);                                                  \
    if (result_ != P2PNET_OK) {                                                      \
      fprintf(stderr, "%s failed: %s: %s\n", #call, p2pnet_result_name(result_),     \
              p2pnet_last_error_message());                                          \
      goto done;                                                                     \
    }                                                                                \
  } while (0)

int main(void) {
  int exit_code = 1;
  p2pnet_config *config = NULL;
  p2pnet_engine *server = NULL;
  p2pnet_engine *client = NULL;
  struct watcher server_w = {.name = "server"};
  struct watcher client_w = {.name = "client"};
  mtx_init(&server_w.mutex, mtx_plain);
  cnd_init(&server_w.changed);
  mtx_init(&client_w.mutex, mtx_plain);
  cnd_init(&client_w.changed);

  /* The loaded library must be the version this program was compiled against. */
  if (strcmp(p2pnet_version_string(), P2PNET_VERSION_STRING) != 0) {
    fprintf(stderr, "p2pnet.h is %s, the library %s\n", P2PNET_VERSION_STRING,
            p2pnet_version_string());
    goto done;
  }

  /* One configuration serves both engines: p2pnet_engine_new copies it. */
  CHECK(p2pnet_config_new(P2PNET_NETWORK_REGTEST, &config));
  CHECK(p2pnet_config_set_listen_address(config, "127.0.0.1:0")); /* port 0: any free port */
  CHECK(p2pnet_config_set_user_agent(config, "/hello:0.1/"));
  CHECK(p2pnet_engine_new(config, &server));
  CHECK(p2pnet_config_set_listen_address(config, "")); /* the client does not listen */
  CHECK(p2pnet_engine_new(config, &client));

  /* Register callbacks before start. The watchers outlive the engines (freed below),
   * so no release function is needed: NULL. */
  CHECK(p2pnet_engine_set_on_peer_connected(server, on_peer_connected, &server_w, NULL));
  CHECK(p2pnet_engine_set_on_peer_connected(client, on_peer_connected, &client_w, NULL));
  CHECK(p2pnet_engine_start(server));
  CHECK(p2pnet_engine_start(client));

  uint16_t port = 0;
  CHECK(p2pnet_engine_get_listen_port(server, &port));
  uint64_t peer_id = 0;
  /* Returns at once; the outcome arrives through the callbacks. */
  CHECK(p2pnet_engine_add_peer(client, "127.0.0.1", port, &peer_id));
  if (!wait_connected(&client_w) || !wait_connected(&server_w)) {
    fprintf(stderr, "no handshake within 10 s\n");
    goto done;
  }

  /* list_ functions fill the caller's array; a too small one gives
   * P2PNET_ERR_BUFFER_TOO_SMALL and the count needed. */
  p2pnet_peer_info peers[8];
  size_t count = 0;
  CHECK(p2pnet_engine_list_peers(client, peers, 8, &count));
  printf("client has %zu peer(s):\n", count);
  for (size_t i = 0; i < count; i++) {
    printf("  id %llu  %s:%u  version %d  transport v%u  score %u\n",
           (unsigned long long)peers[i].id, peers[i].address, (unsigned)peers[i].port,
           (int)peers[i].version, (unsigned)peers[i].transport_version,
           (unsigned)peers[i].misbehaviour_score);
  }
  if (count != 1 || peers[0].id != peer_id) {
    fprintf(stderr, "expected exactly peer %llu\n", (unsigned long long)peer_id);
    goto done;
  }

  /* Stop is final; after it returns no callback runs. */
  CHECK(p2pnet_engine_stop(client));
  CHECK(p2pnet_engine_stop(server));
  printf("hello: OK (p2pnet %s)\n", p2pnet_version_string());
  exit_code = 0;

done:
  p2pnet_engine_free(client); /* stops the engine if still running; NULL is ignored */
  p2pnet_engine_free(server);
  p2pnet_config_free(config);
  cnd_destroy(&client_w.changed);
  mtx_destroy(&client_w.mutex);
  cnd_destroy(&server_w.changed);
  mtx_destroy(&server_w.mutex);
  return exit_code;
}
