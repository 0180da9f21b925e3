#include "server/gateway_process.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/common/log.h"
#include "server/listener/grpc_log_bridge.h"
#include "server/state/state_options.h"
#include "server/twelvelabs/api_version.h"
#include "sim/simulator.h"
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace tlgw {

namespace {

std::string RandomKey() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "tlk_sim_";
  for (int i = 0; i < 32; ++i) key.push_back(kHex[rd() % 16]);
  return key;
}

// Written atomically (rename), so a reader never sees half a number.
void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

bool IsLoopbackListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host == "::1" || host == "[::1]" || absl::StartsWith(host, "127.");
}

int Fail(absl::string_view message) {
  Log(LogLevel::kError, "main", message);
  return 2;
}

// Starts the in-process simulator with a throwaway key (plus the configured
// tenants' keys) and points `o` at it.
absl::StatusOr<std::unique_ptr<tlsim::Simulator>> StartSimulator(ProcessOptions& o, ApiVersion version) {
  tlsim::SimulatorOptions sim_options;
  o.gateway.api_key = RandomKey();  // shared only with the in-process simulator
  sim_options.api_keys = {o.gateway.api_key};
  for (const auto& t : o.gateway.config.tenants) {
    sim_options.api_keys.insert(sim_options.api_keys.end(), t.resolved_keys.begin(), t.resolved_keys.end());
  }
  sim_options.stage_seconds = o.sim_stage_seconds;
  auto sim = tlsim::Simulator::Start(sim_options);
  if (!sim.ok()) return absl::Status(sim.status().code(), absl::StrCat("simulator: ", sim.status().message()));
  o.gateway.client.base_url = (*sim)->base_url(VersionName(version));
  if (!o.gateway.webhook_host.empty() && o.gateway.webhook_secrets.empty()) {
    o.gateway.webhook_secrets = {RandomKey()};  // simulated webhooks: any shared secret will do
  }
  Log(LogLevel::kInfo, "main", "tl-gateway is serving against the built-in Twelve Labs simulator, not the real API",
      {{"simulator_url", o.gateway.client.base_url},
       {"seed_index_id", sim_options.seed_index_id},
       {"seed_integration_id", sim_options.seed_integration_id}});
  return sim;
}

// Points the in-process simulator's webhooks at the gateway's receiver.
void ConnectSimulatorWebhooks(const tlsim::Simulator& sim, int webhook_port, const std::string& secret) {
  httplib::Client control("127.0.0.1", sim.port());
  nlohmann::json body = {
      {"url", absl::StrCat("http://127.0.0.1:", webhook_port, "/webhooks/twelvelabs")}, {"secret", secret}};
  auto r = control.Post("/_sim/webhooks/config", body.dump(), "application/json");
  if (!r || r->status != 200) Log(LogLevel::kWarning, "main", "simulator webhooks not configured");
}

// Raises SIGHUP when the file's mtime or size changes, so every reload
// takes the same path. Stops when `stop` is notified.
std::thread WatchConfigFile(const std::string& path, absl::Duration poll, absl::Notification* stop) {
  return std::thread([path, poll, stop] {
    struct stat last {};
    stat(path.c_str(), &last);
    while (!stop->WaitForNotificationWithTimeout(poll)) {
      struct stat now {};
      if (stat(path.c_str(), &now) != 0) continue;
      if (now.st_mtim.tv_sec != last.st_mtim.tv_sec || now.st_mtim.tv_nsec != last.st_mtim.tv_nsec ||
          now.st_size != last.st_size) {
        last = now;
        kill(getpid(), SIGHUP);
      }
    }
  });
}

void Reload(GatewayServer& server, const ProcessOptions& o) {
  if (o.config_path.empty()) {
    Log(LogLevel::kInfo, "main", "SIGHUP: no --config to reload");
    return;
  }
  auto config = LoadConfig(o.config_path, o.env);
  absl::StatusOr<std::string> changed =
      config.ok() ? server.Reload(*config) : absl::StatusOr<std::string>(config.status());
  if (changed.ok()) {
    Log(LogLevel::kInfo, "main", "configuration reloaded", {{"changes", *changed}});
  } else {
    Log(LogLevel::kError, "main", "configuration NOT reloaded; the previous one stays",
        {{"error", std::string(changed.status().message())}});
  }
}

// Raises the soft limit on open files to the hard limit: with the usual
// 1024, about 1,100 idle connections used to make gRPC's accept fail for
// good. Returns the limit now in force.
rlim_t RaiseFileLimit() {
  struct rlimit lim {};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    struct rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur;
}

// Descriptors kept outside the gRPC connection cap: upstream connections
// (CurlTransportOptions::max_connections), the webhook and admin ports'
// connections (`http_connections` each), and the process's own (state
// store, logs, gRPC's pollers).
rlim_t ReservedFiles(int http_connections) { return 512 + 2 * static_cast<rlim_t>(http_connections) + 128; }
constexpr int kMaxDerivedConnections = 10000;

// The gRPC connection cap for `files` open files: what the reserve leaves,
// or half of a limit too small for the reserve.
int DerivedMaxConnections(rlim_t files, rlim_t reserved) {
  if (files == 0 || files == RLIM_INFINITY || files > 2 * reserved + kMaxDerivedConnections) {
    return kMaxDerivedConnections;
  }
  rlim_t cap = files > 2 * reserved ? files - reserved : files / 2;
  return static_cast<int>(std::max<rlim_t>(cap, 1));
}

}  // namespace

absl::StatusOr<GatewayConfig> LoadConfig(
    const std::string& path, const std::function<std::optional<std::string>(const std::string&)>& env) {
  auto config = LoadConfigFile(path);
  if (!config.ok()) return config.status();
  if (auto s = ResolveKeys(&*config, env); !s.ok()) return s;
  return config;
}

int RunGatewayProcess(ProcessOptions o) {
  // First, so that whatever gRPC logs from here on is a JSON line too.
  RouteGrpcLogsToJson();
  const rlim_t files = RaiseFileLimit();
  const int derived = DerivedMaxConnections(files, ReservedFiles(o.gateway.http_limits.max_connections));
  if (o.gateway.max_connections == 0) {
    o.gateway.max_connections = derived;
    // A burst of arrivals holds up to the accept queue's length on top of
    // the cap: below a small limit, keep it within the reserve.
    if (derived < kMaxDerivedConnections) {
      o.gateway.listen_backlog = std::clamp(static_cast<int>((files - derived) / 4), 8, o.gateway.listen_backlog);
    }
  } else if (o.gateway.max_connections > derived) {
    Log(LogLevel::kWarning, "main",
        "--grpc_max_connections leaves little room below the open-file limit: a connection flood may "
        "exhaust descriptors (the listener then restarts, and /readyz says not ready meanwhile)",
        {{"max_connections", std::to_string(o.gateway.max_connections)},
         {"max_open_files", std::to_string(files)},
         {"suggested", std::to_string(derived)}});
  }
  auto version = VersionFromBaseUrl(o.gateway.client.base_url);
  if (!version.ok()) return Fail(version.status().message());
  std::unique_ptr<tlsim::Simulator> sim;
  if (o.simulate) {
    auto started = StartSimulator(o, *version);
    if (!started.ok()) return Fail(started.status().message());
    sim = *std::move(started);
  } else if (o.gateway.api_key.empty() && o.gateway.config.tenants.empty()) {
    return Fail("no Twelve Labs API key: set TWELVELABS_API_KEY (or TWELVELABS_API_KEY_FILE), "
                "configure tenants in --config, or pass --simulate to use the built-in simulator");
  }
  if (o.gateway.config.clients.empty()) {
    if (!IsLoopbackListen(o.gateway.listen) && !o.allow_unauthenticated) {
      return Fail("--listen: without clients in --config the gateway serves anyone with its key, "
                  "so it listens only on loopback; configure clients, or pass "
                  "--allow_unauthenticated to accept callers without tokens");
    }
    Log(LogLevel::kWarning, "main", "open single-key mode: callers need no token (no clients configured)",
        {{"listen", o.gateway.listen}});
  }
  const std::string upstream = o.gateway.client.base_url;
  const std::string webhook_secret =
      o.gateway.webhook_secrets.empty() ? std::string() : o.gateway.webhook_secrets.front();

  // Which store and mode, right after the simulator's line (which stays
  // first): the operator of a cluster sees at once whether this replica
  // shares state. The conninfo's password is never printed.
  {
    const StateStoreOptions& state = o.gateway.state;
    const bool shared = state.kind == StateStoreOptions::Kind::kPostgres;
    Log(LogLevel::kInfo, "main", shared ? "state store: shared PostgreSQL (cluster mode)"
                                        : "state store: local SQLite (single replica)",
        {{"state_store", DescribeStateStore(state)},
         {"replica_id", state.replica_id},
         {"state_notify", shared ? std::string(StateNotifyName(state.notify)) : std::string("local")}});
  }
  auto server = GatewayServer::Create(o.gateway);
  if (!server.ok()) return Fail(server.status().message());
  Log(LogLevel::kInfo, "main", "tl-gateway listening",
      {{"grpc_port", std::to_string((*server)->port())},
       {"admin_port", std::to_string((*server)->admin_port())},
       {"upstream_url", upstream},
       {"api_version", VersionName(*version)},
       {"max_open_files", std::to_string(files)},
       {"max_connections", std::to_string(o.gateway.max_connections)}});
  WritePortFile(o.admin_port_file, (*server)->admin_port());
  WritePortFile(o.webhook_port_file, (*server)->webhook_port());
  if (sim != nullptr && (*server)->webhook_port() != 0) {
    ConnectSimulatorWebhooks(*sim, (*server)->webhook_port(), webhook_secret);
  }
  absl::Notification stop_watcher;
  std::thread watcher;
  if (!o.config_path.empty() && o.config_poll > absl::ZeroDuration()) {
    watcher = WatchConfigFile(o.config_path, o.config_poll, &stop_watcher);
  }
  WritePortFile(o.port_file, (*server)->port());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      Reload(**server, o);
      continue;
    }
    Log(LogLevel::kInfo, "main", "shutting down", {{"signal", strsignal(sig)}});
    break;
  }
  stop_watcher.Notify();
  if (watcher.joinable()) watcher.join();
  // Shut down on another thread, so a second SIGTERM/SIGINT can still end
  // the process at once (an operator who does not want to wait).
  absl::Notification stopped;
  std::thread stopper([&] {
    (*server)->Shutdown();
    server->reset();
    if (sim != nullptr) sim->Stop();
    stopped.Notify();
  });
  while (!stopped.HasBeenNotified()) {
    timespec tick{0, 50 * 1000 * 1000};
    int again = sigtimedwait(&signals, nullptr, &tick);
    if (again == SIGTERM || again == SIGINT) {
      Log(LogLevel::kWarning, "main", "second signal: exiting now");
      _exit(1);
    }
  }
  stopper.join();
  Log(LogLevel::kInfo, "main", "stopped");
  return 0;
}

}  // namespace tlgw
