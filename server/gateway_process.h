// The gateway as a process: what runs between main() parsing its flags and
// the process exiting. Starts the built-in simulator when asked, the
// GatewayServer, the config-file watcher; writes port files; reloads the
// configuration on SIGHUP; shuts down on SIGTERM/SIGINT (a second one
// exits at once).
//
// Reads no flag and no environment variable itself: main() puts everything
// in ProcessOptions, including how to look up the environment variables a
// configuration file names for its keys.
#ifndef TL_GATEWAY_SERVER_GATEWAY_PROCESS_H_
#define TL_GATEWAY_SERVER_GATEWAY_PROCESS_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/gateway_server.h"

namespace tlgw {

struct ProcessOptions {
  // The server's options; `gateway.config` is the configuration loaded
  // from `config_path` (keys resolved), `gateway.api_key` the open-mode key.
  GatewayOptions gateway;
  // Reloaded on SIGHUP; polled every `config_poll` (zero: only SIGHUP).
  std::string config_path;
  absl::Duration config_poll = absl::Seconds(2);
  // Resolves the environment variables a configuration names (main's
  // getenv); used again at every reload.
  std::function<std::optional<std::string>(const std::string&)> env;
  // Run the built-in simulator and use it as the upstream (with a throwaway
  // key); `sim_stage_seconds` per indexing stage.
  bool simulate = false;
  double sim_stage_seconds = 5;
  // Without clients, listening beyond loopback needs this.
  bool allow_unauthenticated = false;
  // Written once serving (empty: not written).
  std::string port_file, admin_port_file, webhook_port_file;
};

// Loads a configuration file with its keys resolved through `env`.
absl::StatusOr<GatewayConfig> LoadConfig(
    const std::string& path, const std::function<std::optional<std::string>(const std::string&)>& env);

// Runs the gateway until a shutdown signal; the process's exit code. The
// signals SIGTERM, SIGINT and SIGHUP must be blocked in every thread (main
// does so before starting any).
int RunGatewayProcess(ProcessOptions options);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_GATEWAY_PROCESS_H_
