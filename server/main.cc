// tl-gateway: flags and environment in, a running GatewayServer out.
//
// The Twelve Labs key comes from TWELVELABS_API_KEY or the file named by
// TWELVELABS_API_KEY_FILE, never from the command line (which `ps` shows).
// Without a key the gateway refuses to start unless --simulate asks for the
// built-in simulator, so a deployment that lost its key cannot silently
// serve made-up data.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/gateway_server.h"
#include "sim/simulator.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC address, HOST:PORT (port 0 picks one)");
ABSL_FLAG(std::string, upstream_url, "https://api.twelvelabs.io/v1.2",
          "Twelve Labs REST base URL; its last segment (v1.2 or v1.3) is the API version");
ABSL_FLAG(bool, simulate, false,
          "serve against the built-in Twelve Labs simulator on loopback instead of the real API");
ABSL_FLAG(double, sim_stage_seconds, 5.0,
          "with --simulate: seconds a simulated task spends in each indexing stage");
ABSL_FLAG(std::string, config, "", "JSON configuration file (integrations, upstream_url)");
ABSL_FLAG(std::string, state_db, "tl-gateway-state.db",
          "SQLite file for state that must survive a restart (request_id records); ':memory:' "
          "keeps none");
ABSL_FLAG(std::string, port_file, "", "write the bound gRPC port here once serving (for tests)");
ABSL_FLAG(std::string, admin_listen, "",
          "admin HTTP address for /healthz, /readyz and /metrics, HOST:PORT; empty = off");
ABSL_FLAG(std::string, admin_port_file, "", "write the bound admin port here once serving");
ABSL_FLAG(double, request_timeout_seconds, 60,
          "upstream time budget of a call that carries no gRPC deadline");
ABSL_FLAG(double, watch_interval_seconds, 5,
          "usual time between two upstream polls of a watched task or index");
ABSL_FLAG(double, watch_min_interval_seconds, 1, "shortest time between two polls of one watch");
ABSL_FLAG(double, watch_max_interval_seconds, 60, "longest time between two polls of one watch");
ABSL_FLAG(double, webhook_safety_interval_seconds, 60,
          "poll interval while signed webhooks are arriving (a safety net for a lost one)");
ABSL_FLAG(double, max_polls_per_second, 20, "upstream polls per second across all watches");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace {

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

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

int Fail(absl::string_view message) {
  tlgw::Log(tlgw::LogLevel::kError, "main", message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Upload chunks are ~1 MiB. glibc raises its mmap threshold after the
  // first such block is freed, after which freed chunks stay in the heap
  // and resident memory creeps up with concurrent uploads; a fixed
  // threshold returns every large block to the system when freed.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  absl::SetProgramUsageMessage("tl-gateway: gRPC gateway to the Twelve Labs API");
  absl::ParseCommandLine(argc, argv);
  std::string level = absl::GetFlag(FLAGS_log_level);
  if (level == "debug") tlgw::SetMinLogLevel(tlgw::LogLevel::kDebug);
  else if (level == "warning") tlgw::SetMinLogLevel(tlgw::LogLevel::kWarning);
  else if (level == "error") tlgw::SetMinLogLevel(tlgw::LogLevel::kError);
  else if (level != "info") return Fail("--log_level: must be debug, info, warning or error");

  // Signals are taken by sigwait() below, never by a handler on some thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  tlgw::GatewayOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.state_db = absl::GetFlag(FLAGS_state_db);
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
      dir != nullptr && !options.state_db.empty() && options.state_db[0] != '/' &&
      options.state_db != ":memory:") {
    options.state_db = absl::StrCat(dir, "/", options.state_db);  // `bazel run` changes cwd
  }
  double timeout = absl::GetFlag(FLAGS_request_timeout_seconds);
  if (!(timeout > 0)) return Fail("--request_timeout_seconds: must be positive");
  options.client.default_deadline = absl::Seconds(timeout);
  options.watch.base_interval = absl::Seconds(absl::GetFlag(FLAGS_watch_interval_seconds));
  options.watch.min_interval = absl::Seconds(absl::GetFlag(FLAGS_watch_min_interval_seconds));
  options.watch.max_interval = absl::Seconds(absl::GetFlag(FLAGS_watch_max_interval_seconds));
  options.watch.webhook_safety_interval =
      absl::Seconds(absl::GetFlag(FLAGS_webhook_safety_interval_seconds));
  options.watch.max_polls_per_second = absl::GetFlag(FLAGS_max_polls_per_second);
  if (!(options.watch.min_interval > absl::ZeroDuration()) ||
      options.watch.min_interval > options.watch.base_interval ||
      options.watch.base_interval > options.watch.max_interval) {
    return Fail("--watch_*interval_seconds: need 0 < min <= interval <= max");
  }
  if (!(options.watch.max_polls_per_second > 0)) return Fail("--max_polls_per_second: must be positive");
  if (std::string admin = absl::GetFlag(FLAGS_admin_listen); !admin.empty()) {
    size_t colon = admin.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(admin.substr(colon + 1), &options.admin_port)) {
      return Fail("--admin_listen: must be HOST:PORT, e.g. 127.0.0.1:9464");
    }
    options.admin_host = admin.substr(0, colon);
  }
  std::string upstream = absl::GetFlag(FLAGS_upstream_url);
  if (!absl::GetFlag(FLAGS_config).empty()) {
    auto config = tlgw::LoadConfigFile(absl::GetFlag(FLAGS_config));
    if (!config.ok()) return Fail(config.status().message());
    options.config = *std::move(config);
    if (!options.config.upstream_url.empty()) upstream = options.config.upstream_url;
  }
  auto version = tlgw::VersionFromBaseUrl(upstream);
  if (!version.ok()) return Fail(version.status().message());

  std::string key;
  if (const char* k = std::getenv("TWELVELABS_API_KEY"); k != nullptr) key = k;
  if (key.empty()) {
    if (const char* f = std::getenv("TWELVELABS_API_KEY_FILE"); f != nullptr && *f != '\0') {
      key = ReadKeyFile(f);
      if (key.empty()) return Fail("TWELVELABS_API_KEY_FILE: the file is missing or empty");
    }
  }

  std::unique_ptr<tlsim::Simulator> sim;
  if (absl::GetFlag(FLAGS_simulate)) {
    tlsim::SimulatorOptions sim_options;
    key = RandomKey();  // a throwaway key shared only with the in-process simulator
    sim_options.api_keys = {key};
    sim_options.stage_seconds = absl::GetFlag(FLAGS_sim_stage_seconds);
    auto started = tlsim::Simulator::Start(sim_options);
    if (!started.ok()) return Fail(absl::StrCat("simulator: ", started.status().message()));
    sim = *std::move(started);
    upstream = sim->base_url(tlgw::VersionName(*version));
    tlgw::Log(tlgw::LogLevel::kInfo, "main",
              "tl-gateway is serving against the built-in Twelve Labs simulator, not the real API",
              {{"simulator_url", upstream},
               {"seed_index_id", sim_options.seed_index_id},
               {"seed_integration_id", sim_options.seed_integration_id}});
  } else if (key.empty()) {
    return Fail("no Twelve Labs API key: set TWELVELABS_API_KEY (or TWELVELABS_API_KEY_FILE), "
                "or pass --simulate to use the built-in simulator");
  }
  options.client.base_url = upstream;
  options.api_key = key;

  auto server = tlgw::GatewayServer::Create(std::move(options));
  if (!server.ok()) return Fail(server.status().message());
  tlgw::Log(tlgw::LogLevel::kInfo, "main", "tl-gateway listening",
            {{"grpc_port", std::to_string((*server)->port())},
             {"admin_port", std::to_string((*server)->admin_port())},
             {"upstream_url", upstream},
             {"api_version", tlgw::VersionName(*version)}});
  WritePortFile(absl::GetFlag(FLAGS_admin_port_file), (*server)->admin_port());
  WritePortFile(absl::GetFlag(FLAGS_port_file), (*server)->port());

  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      tlgw::Log(tlgw::LogLevel::kInfo, "main", "SIGHUP ignored: configuration is read only at start-up");
      continue;
    }
    tlgw::Log(tlgw::LogLevel::kInfo, "main", "shutting down", {{"signal", strsignal(sig)}});
    break;
  }
  (*server)->Shutdown();
  server->reset();
  if (sim != nullptr) sim->Stop();
  tlgw::Log(tlgw::LogLevel::kInfo, "main", "stopped");
  return 0;
}
