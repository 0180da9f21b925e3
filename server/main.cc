// tl-gateway: flags and environment in, ProcessOptions out; everything
// after that is RunGatewayProcess (server/gateway_process.h).
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
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/gateway_process.h"
#include "server/auth/authenticator.h"
#include "server/state/state_options.h"

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
          "keeps none. Same as --state_store=sqlite:PATH");
ABSL_FLAG(std::string, state_store, "",
          "where shared state lives: sqlite:PATH (one replica; default sqlite:<--state_db>) or "
          "postgres:CONNINFO (several replicas sharing one PostgreSQL database; a libpq conninfo or URI, "
          "its password is never logged)");
ABSL_FLAG(std::string, replica_id, "",
          "this replica's name in shared state and logs (default: hostname-pid)");
ABSL_FLAG(std::string, state_notify, "listen",
          "with postgres: how replicas learn of shared watch changes: listen (LISTEN/NOTIFY) or poll "
          "(behind PgBouncer in transaction mode)");
ABSL_FLAG(int, state_busy_timeout_ms, 2000,
          "how long a state-store call waits for a lock held by another process before it fails "
          "UNAVAILABLE (1..60000)");
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
ABSL_FLAG(bool, allow_unauthenticated, false,
          "without clients in --config, serve callers without tokens even when not listening on "
          "loopback (by default open single-key mode is loopback-only)");
ABSL_FLAG(std::string, audit_log, "-",
          "audit trail, one JSON line per call: a file to append to, '-' for stderr, 'none' for off");
ABSL_FLAG(std::string, webhook_listen, "",
          "HOST:PORT of the webhook receiver (POST /webhooks/twelvelabs); empty = off. Secret from "
          "TWELVELABS_WEBHOOK_SECRET or --webhook_secret_file");
ABSL_FLAG(std::string, webhook_secret_file, "", "a file holding the webhook secret");
ABSL_FLAG(std::string, webhook_port_file, "", "write the bound webhook port here once serving");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TLS on the gRPC port");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: clients must present a certificate it signed (mutual TLS)");
ABSL_FLAG(double, config_poll_seconds, 2,
          "how often to check --config for changes (0 = only on SIGHUP)");
ABSL_FLAG(int, grpc_stream_window_kib, 1024,
          "HTTP/2 flow-control window of each incoming gRPC stream, in KiB: how far an upload may run ahead "
          "of the gateway (memory per upload); raise for clients on high-latency links");
ABSL_FLAG(int, grpc_max_streams_per_connection, 5000,
          "HTTP/2 streams one client connection may have open at once (1..100000)");
ABSL_FLAG(int, grpc_max_connections, 0,
          "gRPC connections open at once; more are closed on arrival (0: derived from the open-file limit, "
          "at most 10000)");
ABSL_FLAG(double, grpc_handshake_timeout_seconds, 5,
          "a new gRPC connection that has not completed its handshake by then is closed");
ABSL_FLAG(double, grpc_max_connection_idle_seconds, 300,
          "a gRPC connection with no call for this long is closed");
ABSL_FLAG(int, memory_quota_mib, 256,
          "memory gRPC may use for messages and uploads in flight, all callers together (16..65536)");
ABSL_FLAG(double, upload_idle_timeout_seconds, 60,
          "an upload whose client sends no chunk for this long ends DEADLINE_EXCEEDED; one whose upstream "
          "takes no byte (or, after the last, gives no answer) for this long ends UNAVAILABLE");
ABSL_FLAG(int, asset_upload_chunks_in_flight, 2,
          "UploadAsset's multipart uploads: chunk PUTs under way at once per upload (1..64)");
ABSL_FLAG(int, asset_upload_max_buffer_mib, 48,
          "UploadAsset's multipart uploads: chunk bytes one upload may hold (8..4096); fewer chunks fly "
          "when the server's chunks are large, and a chunk size over a third of this is refused");
ABSL_FLAG(int, upload_memory_mib, 256,
          "upload bytes all uploads together may hold in the gateway's own buffers, outside "
          "--memory_quota_mib (8..65536, at least --asset_upload_max_buffer_mib); an upload that does not "
          "fit is refused at its header with RESOURCE_EXHAUSTED (UPLOAD_CAPACITY)");
ABSL_FLAG(int, http_max_connections, 256,
          "connections open at once on each of the webhook and admin HTTP ports; one more closes the "
          "least useful (lingering, idle, then slowest) (1..100000)");
ABSL_FLAG(double, http_head_timeout_seconds, 5,
          "webhook and admin ports: time for a whole request head, from its first byte (or the connection)");
ABSL_FLAG(double, http_body_timeout_seconds, 10,
          "webhook and admin ports: time for a whole request body, from the end of its head");
ABSL_FLAG(double, http_idle_timeout_seconds, 5,
          "webhook and admin ports: a keep-alive connection with no new request for this long is closed");
ABSL_FLAG(double, http_write_timeout_seconds, 10,
          "webhook and admin ports: time to write a whole response to a client that does not read it");
ABSL_FLAG(int, http_max_head_kib, 16,
          "webhook and admin ports: largest request head (request line and headers), in KiB; beyond: 431");
ABSL_FLAG(int, webhook_max_body_kib, 1024, "largest webhook body, in KiB; beyond: 413 (1..65536)");
ABSL_FLAG(double, drain_seconds, 5,
          "on SIGTERM/SIGINT, how long calls in flight get to finish before the rest are ended; the "
          "process exits within this plus about 1 second");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace {

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

// "HOST:PORT" -> host, port; false if malformed.
bool SplitHostPort(const std::string& hp, std::string* host, int* port) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = hp.substr(0, colon);
  return absl::SimpleAtoi(hp.substr(colon + 1), port) && *port >= 0 && *port < 65536;
}

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// `gateway hash-token`: makes a new client token and prints it with the
// SHA-256 to put in the config; `gateway hash-token -` hashes a token read
// from standard input instead.
int HashToken(int argc, char** argv) {
  if (argc > 2 && std::string(argv[2]) == "-") {
    std::string token;
    std::getline(std::cin, token);
    token = std::string(absl::StripAsciiWhitespace(token));
    if (token.empty()) {
      std::cerr << "hash-token: no token on standard input\n";
      return 2;
    }
    std::cout << tlgw::TokenSha256(token) << "\n";
    return 0;
  }
  std::string token = tlgw::NewToken();
  std::cout << "token:        " << token << "\n"
            << "token_sha256: " << tlgw::TokenSha256(token) << "\n"
            << "Give the token to the client (it sends 'authorization: Bearer <token>'); put only\n"
            << "token_sha256 in the gateway's config file.\n";
  return 0;
}

int Fail(absl::string_view message) {
  tlgw::Log(tlgw::LogLevel::kError, "main", message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Upload chunks (up to 4 MiB, usually 1 MiB) are allocated and freed
  // hundreds of times a second. Served by mmap, or trimmed from the heap's
  // top on every free (glibc's default once the mmap threshold is fixed),
  // each costs an munmap/madvise and fresh page faults: about half the
  // gateway's CPU per uploaded byte. So large blocks come from the heap,
  // and up to 16 MiB of free heap top is kept for the next chunks (8 MiB
  // made 4 MiB chunks churn again: 7 s of CPU per 2 GiB instead of 2.5). Fixed
  // values, unlike glibc's self-adjusting ones, keep that bound: memory
  // stays bounded because each upload's buffers are (the pipe, and gRPC's
  // --grpc_stream_window_kib), see bench/RESULTS.md.
  mallopt(M_MMAP_THRESHOLD, 5 << 20);  // above kMaxUploadChunkBytes
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  // Each arena keeps up to the trim threshold of free memory, and glibc
  // makes up to 8 per core for gRPC's and curl's threads: freed 1 MiB gRPC
  // receive buffers spread over them held a multipart upload's gateway at
  // 67-72 MiB. One arena per core (at least 2): 64-67 MiB for the same CPU
  // (4 GiB asset_upload_bench runs, bench/RESULTS.md).
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  // Debian's Abseil checks every Mutex operation for lock-order cycles
  // (about 4% of the gateway's CPU per call in bench/RESULTS.md); the
  // sanitizer and unit-test builds keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && std::string(argv[1]) == "hash-token") return HashToken(argc, argv);
  absl::SetProgramUsageMessage(
      "tl-gateway: gRPC gateway to the Twelve Labs API\n  gateway [flags]\n  gateway hash-token [-]");
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

  tlgw::ProcessOptions process;
  tlgw::GatewayOptions& options = process.gateway;
  options.listen = absl::GetFlag(FLAGS_listen);
  tlgw::StateStoreOptions& state = options.state;
  const int busy_ms = absl::GetFlag(FLAGS_state_busy_timeout_ms);
  if (busy_ms < 1 || busy_ms > 60000) {
    return Fail("--state_busy_timeout_ms: must be between 1 and 60000");
  }
  state.busy_timeout = absl::Milliseconds(busy_ms);
  const std::string state_db = absl::GetFlag(FLAGS_state_db);
  if (const std::string flag = absl::GetFlag(FLAGS_state_store); !flag.empty()) {
    if (state_db != "tl-gateway-state.db") {
      return Fail("--state_store and --state_db: give one of them (--state_db=PATH is --state_store=sqlite:PATH)");
    }
    auto parsed = tlgw::ParseStateStore(flag, state);
    if (!parsed.ok()) return Fail(parsed.status().message());
    state = *std::move(parsed);
  } else {
    state.kind = tlgw::StateStoreOptions::Kind::kSqlite;
    state.sqlite_path = state_db;
  }
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
      state.kind == tlgw::StateStoreOptions::Kind::kSqlite && dir != nullptr && !state.sqlite_path.empty() &&
      state.sqlite_path[0] != '/' && state.sqlite_path != ":memory:") {
    state.sqlite_path = absl::StrCat(dir, "/", state.sqlite_path);  // `bazel run` changes cwd
  }
  state.replica_id = absl::GetFlag(FLAGS_replica_id);
  if (state.replica_id.empty()) state.replica_id = tlgw::DefaultReplicaId();
  if (auto s = tlgw::ValidateReplicaId(state.replica_id); !s.ok()) return Fail(s.message());
  auto notify = tlgw::ParseStateNotify(absl::GetFlag(FLAGS_state_notify));
  if (!notify.ok()) return Fail(notify.status().message());
  state.notify = *notify;
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
  const int window_kib = absl::GetFlag(FLAGS_grpc_stream_window_kib);
  if (window_kib < 64 || window_kib > (1 << 20)) {
    return Fail("--grpc_stream_window_kib: must be 64..1048576 (64 KiB to 1 GiB)");
  }
  options.stream_window_bytes = window_kib * 1024;
  options.max_streams_per_connection = absl::GetFlag(FLAGS_grpc_max_streams_per_connection);
  if (options.max_streams_per_connection < 1 || options.max_streams_per_connection > 100000) {
    return Fail("--grpc_max_streams_per_connection: must be 1..100000");
  }
  options.max_connections = absl::GetFlag(FLAGS_grpc_max_connections);
  if (options.max_connections < 0 || options.max_connections > 1000000) {
    return Fail("--grpc_max_connections: must be 0 (derived from the open-file limit) or 1..1000000");
  }
  const double handshake = absl::GetFlag(FLAGS_grpc_handshake_timeout_seconds);
  const double idle = absl::GetFlag(FLAGS_grpc_max_connection_idle_seconds);
  if (!(handshake > 0 && handshake <= 600) || !(idle > 0 && idle <= 86400)) {
    return Fail("--grpc_handshake_timeout_seconds (0..600] and --grpc_max_connection_idle_seconds "
                "(0..86400] must be positive");
  }
  options.handshake_timeout = absl::Seconds(handshake);
  options.max_connection_idle = absl::Seconds(idle);
  const int quota_mib = absl::GetFlag(FLAGS_memory_quota_mib);
  if (quota_mib < 16 || quota_mib > 65536) return Fail("--memory_quota_mib: must be 16..65536");
  options.memory_quota_bytes = int64_t{quota_mib} << 20;
  const double idle_seconds = absl::GetFlag(FLAGS_upload_idle_timeout_seconds);
  if (!(idle_seconds > 0) || idle_seconds > 86400) {
    return Fail("--upload_idle_timeout_seconds: must be more than 0 and at most 86400 (a day)");
  }
  options.upload_idle_timeout = absl::Seconds(idle_seconds);
  const int chunks_in_flight = absl::GetFlag(FLAGS_asset_upload_chunks_in_flight);
  if (chunks_in_flight < 1 || chunks_in_flight > 64) return Fail("--asset_upload_chunks_in_flight: must be 1..64");
  options.asset_upload_chunks_in_flight = chunks_in_flight;
  const int buffer_mib = absl::GetFlag(FLAGS_asset_upload_max_buffer_mib);
  if (buffer_mib < 8 || buffer_mib > 4096) return Fail("--asset_upload_max_buffer_mib: must be 8..4096");
  options.asset_upload_max_buffer_bytes = int64_t{buffer_mib} << 20;
  const int upload_mib = absl::GetFlag(FLAGS_upload_memory_mib);
  if (upload_mib < 8 || upload_mib > 65536) return Fail("--upload_memory_mib: must be 8..65536");
  if (upload_mib < buffer_mib) {
    return Fail(absl::StrCat("--upload_memory_mib: must be at least --asset_upload_max_buffer_mib (", buffer_mib,
                             "): a multipart upload reserves that much when it starts"));
  }
  options.upload_memory_bytes = int64_t{upload_mib} << 20;
  tlgw::HttpLimits& http = options.http_limits;
  http.max_connections = absl::GetFlag(FLAGS_http_max_connections);
  if (http.max_connections < 1 || http.max_connections > 100000) {
    return Fail("--http_max_connections: must be 1..100000");
  }
  for (auto [flag, out] : {std::make_pair(&FLAGS_http_head_timeout_seconds, &http.head_timeout),
                           std::make_pair(&FLAGS_http_body_timeout_seconds, &http.body_timeout),
                           std::make_pair(&FLAGS_http_idle_timeout_seconds, &http.idle_timeout),
                           std::make_pair(&FLAGS_http_write_timeout_seconds, &http.write_timeout)}) {
    const double seconds = absl::GetFlag(*flag);
    if (!(seconds > 0) || seconds > 3600) {
      return Fail(absl::StrCat("--", absl::GetFlagReflectionHandle(*flag).Name(),
                               ": must be more than 0 and at most 3600"));
    }
    *out = absl::Seconds(seconds);
  }
  const int head_kib = absl::GetFlag(FLAGS_http_max_head_kib);
  if (head_kib < 1 || head_kib > 1024) return Fail("--http_max_head_kib: must be 1..1024");
  http.max_head_bytes = static_cast<size_t>(head_kib) << 10;
  const int body_kib = absl::GetFlag(FLAGS_webhook_max_body_kib);
  if (body_kib < 1 || body_kib > 65536) return Fail("--webhook_max_body_kib: must be 1..65536");
  http.max_body_bytes = static_cast<size_t>(body_kib) << 10;
  const double drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  if (!(drain_seconds >= 0) || drain_seconds > 3600) return Fail("--drain_seconds: must be 0..3600");
  options.drain = absl::Seconds(drain_seconds);
  if (std::string admin = absl::GetFlag(FLAGS_admin_listen); !admin.empty()) {
    if (!SplitHostPort(admin, &options.admin_host, &options.admin_port)) {
      return Fail("--admin_listen: must be HOST:PORT, e.g. 127.0.0.1:9464");
    }
  }
  if (std::string hook = absl::GetFlag(FLAGS_webhook_listen); !hook.empty()) {
    if (!SplitHostPort(hook, &options.webhook_host, &options.webhook_port)) {
      return Fail("--webhook_listen: must be HOST:PORT, e.g. 0.0.0.0:8443");
    }
    std::string secret;
    if (std::string f = absl::GetFlag(FLAGS_webhook_secret_file); !f.empty()) {
      secret = ReadKeyFile(f);
      if (secret.empty()) return Fail("--webhook_secret_file: the file is missing or empty");
    } else if (auto v = GetEnv("TWELVELABS_WEBHOOK_SECRET")) {
      secret = *v;
    }
    if (secret.empty() && !absl::GetFlag(FLAGS_simulate)) {
      return Fail("--webhook_listen: needs the webhook secret in TWELVELABS_WEBHOOK_SECRET or "
                  "--webhook_secret_file (the dashboard's \"Reveal Secret\")");
    }
    if (!secret.empty()) options.webhook_secrets = {secret};  // --simulate makes one up
  }
  options.audit_log = absl::GetFlag(FLAGS_audit_log);
  for (auto [flag, out] : {std::make_pair(&FLAGS_tls_cert, &options.tls.cert_pem),
                           std::make_pair(&FLAGS_tls_key, &options.tls.key_pem),
                           std::make_pair(&FLAGS_tls_client_ca, &options.tls.client_ca_pem)}) {
    std::string path = absl::GetFlag(*flag);
    if (path.empty()) continue;
    *out = ReadKeyFile(path);
    if (out->empty()) return Fail(absl::StrCat("--", absl::GetFlagReflectionHandle(*flag).Name(), ": cannot read '", path, "'"));
  }
  std::string upstream = absl::GetFlag(FLAGS_upstream_url);
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (!config_path.empty()) {
    auto config = tlgw::LoadConfig(config_path, GetEnv);
    if (!config.ok()) return Fail(config.status().message());
    options.config = *std::move(config);
    if (!options.config.upstream_url.empty()) upstream = options.config.upstream_url;
  }
  std::string key;
  if (const char* k = std::getenv("TWELVELABS_API_KEY"); k != nullptr) key = k;
  if (key.empty()) {
    if (const char* f = std::getenv("TWELVELABS_API_KEY_FILE"); f != nullptr && *f != '\0') {
      key = ReadKeyFile(f);
      if (key.empty()) return Fail("TWELVELABS_API_KEY_FILE: the file is missing or empty");
    }
  }

  options.client.base_url = upstream;
  options.api_key = key;
  process.config_path = config_path;
  process.config_poll = absl::Seconds(std::max(0.0, absl::GetFlag(FLAGS_config_poll_seconds)));
  process.env = GetEnv;
  process.simulate = absl::GetFlag(FLAGS_simulate);
  process.sim_stage_seconds = absl::GetFlag(FLAGS_sim_stage_seconds);
  process.allow_unauthenticated = absl::GetFlag(FLAGS_allow_unauthenticated);
  process.port_file = absl::GetFlag(FLAGS_port_file);
  process.admin_port_file = absl::GetFlag(FLAGS_admin_port_file);
  process.webhook_port_file = absl::GetFlag(FLAGS_webhook_port_file);
  return tlgw::RunGatewayProcess(std::move(process));
}
