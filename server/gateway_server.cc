#include "server/gateway_server.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>
#include <utility>

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "absl/synchronization/notification.h"
#include "server/common/grpc_errors.h"
#include "server/common/log.h"
#include "server/auth/shared_rate_limiter.h"
#include "server/state/postgres_store.h"
#include "server/webhook/postgres_replay_set.h"
#include "server/listener/grpc_log_bridge.h"
#include "server/services/multipart_uploader.h"
#include "server/services/upload_pipe.h"
#include "server/services/upload_reactor.h"
#include "server/upstream/curl_transport.h"

namespace tlgw {

namespace {
// Threads that run upstream completions (parsing, store writes, finishing
// reactors): more than one so a callback blocked on a locked state store
// (bounded by the store's busy timeout) leaves the others running.
constexpr int kCompletionThreads = 4;
// Calls in flight on one connection beyond its stream limit before the
// call guard closes it (see ConnectionLimiter::CallGuard): a compliant
// client's cancelled calls may still be tearing down on the server.
constexpr int kCallGuardMargin = 100;
// What Shutdown() may take beyond the drain time: ending calls still in
// flight (half) and gRPC's own teardown (half). README's documented margin.
constexpr absl::Duration kShutdownMargin = absl::Seconds(1);

std::vector<std::string> KeysOf(const GatewayConfig& config) {
  std::vector<std::string> keys;
  for (const TenantConfig& t : config.tenants) keys.insert(keys.end(), t.resolved_keys.begin(), t.resolved_keys.end());
  return keys;
}
}  // namespace

GatewayServer::GatewayServer(GatewayOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GatewayServer::ServerCredentials(
    const TlsOptions& tls) {
  if (tls.cert_pem.empty() && tls.key_pem.empty()) {
    if (!tls.client_ca_pem.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca: needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_pem.empty() || tls.key_pem.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key: give both or neither");
  }
  grpc::SslServerCredentialsOptions ssl(tls.client_ca_pem.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(ssl);
}

bool GatewayServer::ServedMethod(absl::string_view method) {
  // gRPC's own services are not in the generated descriptor pool.
  if (method == "/grpc.health.v1.Health/Check" || method == "/grpc.health.v1.Health/Watch" ||
      method == "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") {
    return true;
  }
  if (!absl::ConsumePrefix(&method, "/twelvelabs.gateway.v1.")) return false;
  size_t slash = method.find('/');
  if (slash == absl::string_view::npos) return false;
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      absl::StrCat("twelvelabs.gateway.v1.", method.substr(0, slash)));
  return service != nullptr && service->FindMethodByName(std::string(method.substr(slash + 1))) != nullptr;
}

std::shared_ptr<const GatewayConfig> GatewayServer::config() const {
  absl::MutexLock lock(&config_mu_);
  return config_;
}

absl::StatusOr<std::string> GatewayServer::Reload(const GatewayConfig& config) {
  // What a running gateway never changes by a reload: its security mode
  // (an edit that drops every client would open it to any caller) and its
  // upstream (the client, its API version and every watch are built on it).
  std::shared_ptr<const GatewayConfig> running = this->config();
  if (!running->clients.empty() && config.clients.empty()) {
    return absl::FailedPreconditionError(
        "the new configuration has no clients, which would switch the running gateway to open, "
        "token-less mode; configure at least one client, or restart the gateway to change its "
        "security mode");
  }
  if (config.upstream_url != running->upstream_url) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upstream_url changed from '", running->upstream_url, "' to '", config.upstream_url,
        "': a running gateway keeps its upstream; restart it to apply the new one"));
  }
  // Permissions and keys first: if they are refused, nothing changes.
  // Known as secrets before any call can use them.
  secrets_.Add(KeysOf(config));
  auto changes = auth_->Reload(config);
  if (!changes.ok()) return changes.status();
  absl::MutexLock lock(&config_mu_);
  config_ = std::make_shared<const GatewayConfig>(config);
  return changes;
}

// Construction, in this order (each step uses only what the steps before
// it built); Shutdown() and the destructor undo it in the reverse order:
//  1. StartUpstream: clock, completion executor, curl transport, REST client.
//  2. OpenState: state store, authenticator, audit log, the config in force.
//  3. StartWatches: poll budget, fan-out executor, webhook activity, the
//     watch kinds and their engines.
//  4. StartServices: the services' dependencies and the three services.
//  5. StartServers: the gRPC server, then the admin and webhook HTTP servers
//     (they call into everything above), then health says SERVING.
absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Create(GatewayOptions options) {
  auto g = std::unique_ptr<GatewayServer>(new GatewayServer(std::move(options)));
  for (absl::Status (GatewayServer::*step)() :
       {&GatewayServer::StartUpstream, &GatewayServer::OpenState, &GatewayServer::StartWatches,
        &GatewayServer::StartServices, &GatewayServer::StartServers}) {
    if (absl::Status s = (g.get()->*step)(); !s.ok()) return s;  // ~GatewayServer undoes what was built
  }
  return g;
}

absl::Status GatewayServer::StartUpstream() {
  const GatewayOptions& o = options_;
  clock_ = std::make_unique<RealClock>();
  completions_ = std::make_unique<ThreadExecutor>(kCompletionThreads, "tlgw-complete");
  auto transport = CurlTransport::Create(CurlTransportOptions{});
  if (!transport.ok()) return transport.status();
  transport_ = *std::move(transport);
  ClientOptions client_options = o.client;
  secrets_.Add(KeysOf(o.config));
  secrets_.Add({o.api_key});
  client_options.redactor = &secrets_;
  RequestMetrics* metrics = &metrics_;
  client_options.on_attempt = [metrics](const std::string& method, const std::string& path, int status,
                                        absl::Duration latency) {
    metrics->RecordUpstream(method, path, status, latency);
  };
  auto client = TwelveLabsClient::Create(client_options, transport_.get(), clock_.get(), completions_.get());
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  return absl::OkStatus();
}

absl::Status GatewayServer::OpenState() {
  const GatewayOptions& o = options_;
  if (o.state.kind == StateStoreOptions::Kind::kSqlite) {
    auto store = SqliteRequestStore::Open(o.state.sqlite_path, clock_.get(), o.state.busy_timeout);
    if (!store.ok()) return store.status();
    owners_ = store->get();
    store_ = *std::move(store);
  } else {
    PostgresStoreOptions pg;
    pg.pool.conninfo = o.state.conninfo;
    pg.pool.size = o.state.pool_size;
    pg.pool.connect_timeout = o.state.connect_timeout;
    pg.pool.statement_timeout = o.state.statement_timeout;
    pg.pool.lock_timeout = o.state.lock_timeout;
    pg.pool.application_name = "tl-gateway " + o.state.replica_id;
    pg.replica_id = o.state.replica_id;
    // A schema newer than this build stops start-up; an unreachable
    // database does not (calls that need it answer UNAVAILABLE meanwhile).
    auto store = PostgresStateStore::Open(pg, clock_.get());
    if (!store.ok()) return store.status();
    if ((*store)->pool()->down()) {
      Log(LogLevel::kWarning, "state", "PostgreSQL is unreachable at start-up; serving what needs no shared state "
                                       "and retrying (creates with request_id answer UNAVAILABLE meanwhile)");
    }
    owners_ = store->get();
    pg_store_ = store->get();
    store_ = *std::move(store);
  }
  auto auth = Authenticator::Create(o.config, o.api_key, clock_.get());
  if (!auth.ok()) return auth.status();
  auth_ = *std::move(auth);
  if (pg_store_ != nullptr) {
    // Per-client rate limits hold across replicas (bounded overshoot, see
    // shared_rate_limiter.h).
    rate_limiter_ = std::make_unique<SharedRateLimiter>(pg_store_->pool(), clock_.get());
    auth_->SetRateLimiter(rate_limiter_.get());
    // One replica at a time sweeps the shared tables (housekeeper.h).
    HousekeeperOptions ho;
    ho.replica_id = o.state.replica_id;
    ho.request_keep_for = pg_store_->keep_for();
    housekeeper_ = std::make_unique<Housekeeper>(pg_store_->pool(), ho);
  }
  if (o.audit_log != "none") {
    auto audit = AuditLog::Open(o.audit_log);
    if (!audit.ok()) return audit.status();
    audit_ = *std::move(audit);
  }
  absl::MutexLock lock(&config_mu_);
  config_ = std::make_shared<const GatewayConfig>(o.config);
  return absl::OkStatus();
}

absl::Status GatewayServer::StartWatches() {
  const GatewayOptions& o = options_;
  Authenticator* authn = auth_.get();
  auto key_for = [authn](const std::string& tenant) { return authn->CurrentKey(tenant); };
  poll_budget_ = std::make_unique<PollBudget>(o.watch.max_polls_per_second);
  fanout_ = std::make_unique<ThreadExecutor>(1, "tlgw-fanout");
  webhook_activity_ = std::make_unique<WebhookActivity>(clock_.get(), o.watch.webhook_active_window);
  task_kind_ = std::make_unique<TaskWatchKind>(client_.get());
  index_kind_ = std::make_unique<IndexWatchKind>(client_.get(), o.watch.max_index_pages);
  import_kind_ = std::make_unique<ImportWatchKind>(client_.get());
  asset_kind_ = std::make_unique<AssetWatchKind>(client_.get());
  indexed_asset_kind_ = std::make_unique<IndexedAssetWatchKind>(client_.get());
  if (o.state.kind == StateStoreOptions::Kind::kPostgres) {
    // Several replicas: who polls what, the numbering and the fan-out
    // across replicas go through the watch tables (docs/cluster.md needs 3-6).
    // A schema newer than this build stops start-up. An unreachable
    // database does not: a replica restarted during an outage comes up in
    // local mode, and the store migrates on its first connection that
    // works, then the coordinator goes shared (its recovery probe).
    const absl::Status migrated =
        PgWatchStore::Migrate(o.state.conninfo, o.state.connect_timeout + o.state.statement_timeout);
    if (!migrated.ok() && !absl::IsUnavailable(migrated)) {
      return absl::Status(migrated.code(), absl::StrCat("the watch tables in PostgreSQL: ", migrated.message()));
    }
    if (!migrated.ok()) {
      Log(LogLevel::kWarning, "watch", "PostgreSQL is unreachable at start-up; watches start in local mode "
                                       "and go shared once it answers",
          {{"error", std::string(migrated.message())}});
    }
    PgWatchStoreOptions so;
    so.conninfo = o.state.conninfo;
    so.application_name = "tl-gateway " + o.state.replica_id;
    so.listen = o.state.notify == StateNotify::kListen;
    so.statement_timeout = o.state.statement_timeout;
    so.lock_timeout = o.state.lock_timeout;
    so.connect_timeout = o.state.connect_timeout;
    watch_store_ = std::make_unique<PgWatchStore>(so, /*migrated=*/migrated.ok());
    SharedCoordinatorOptions co;
    co.replica = o.state.replica_id;
    co.max_polls_per_second = o.watch.max_polls_per_second;
    co.tombstone_ttl = o.watch.tombstone_ttl;
    // Without LISTEN (PgBouncer) the rows are read every second instead.
    co.sweep_period = so.listen ? absl::Seconds(30) : absl::Seconds(1);
    co.lease = std::max(absl::Seconds(15), o.watch.max_interval / 2);
    watch_coordinator_ = std::make_unique<SharedCoordinator>(watch_store_.get(), clock_.get(), co);
  }
  auto engine = [&](WatchKind* kind) {
    if (watch_coordinator_ != nullptr) {
      return std::make_unique<WatchEngine>(kind, o.watch, clock_.get(), watch_coordinator_.get(),
                                           fanout_.get(), webhook_activity_.get(), key_for);
    }
    return std::make_unique<WatchEngine>(kind, o.watch, clock_.get(), poll_budget_.get(), fanout_.get(),
                                         webhook_activity_.get(), key_for);
  };
  task_watches_ = engine(task_kind_.get());
  index_watches_ = engine(index_kind_.get());
  import_watches_ = engine(import_kind_.get());
  asset_watches_ = engine(asset_kind_.get());
  indexed_asset_watches_ = engine(indexed_asset_kind_.get());
  if (watch_coordinator_ != nullptr) watch_coordinator_->Start();
  return absl::OkStatus();
}

absl::Status GatewayServer::StartServices() {
  deps_.api = client_.get();
  deps_.requests = store_.get();
  deps_.owners = owners_;
  deps_.auth = auth_.get();
  deps_.audit = audit_.get();
  deps_.streams = &streams_;
  deps_.task_watches = task_watches_.get();
  deps_.index_watches = index_watches_.get();
  deps_.import_watches = import_watches_.get();
  deps_.asset_watches = asset_watches_.get();
  deps_.indexed_asset_watches = indexed_asset_watches_.get();
  deps_.clock = clock_.get();
  deps_.upload_idle_timeout = options_.upload_idle_timeout;
  deps_.asset_upload.chunks_in_flight = options_.asset_upload_chunks_in_flight;
  deps_.asset_upload.max_buffer_bytes = options_.asset_upload_max_buffer_bytes;
  upload_budget_ = std::make_unique<UploadBudget>(options_.upload_memory_bytes);
  deps_.upload_budget = upload_budget_.get();
  deps_.request_timeout = options_.client.default_deadline;
  deps_.config = [this] { return config(); };
  return absl::OkStatus();
}

absl::StatusOr<GatewayServer::GrpcGeneration> GatewayServer::StartGrpcServer(const std::string& address,
                                                                              int* port) {
  const GatewayOptions& o = options_;
  GrpcGeneration g;
  g.upload = std::make_unique<UploadServiceImpl>(&deps_);
  g.task = std::make_unique<TaskServiceImpl>(&deps_);
  g.integration = std::make_unique<IntegrationServiceImpl>(&deps_);
  g.asset = std::make_unique<AssetServiceImpl>(&deps_);
  grpc::ServerBuilder builder;
  auto credentials = ServerCredentials(o.tls);
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(address, *credentials, port);
  // Bounded receive buffers (see GatewayOptions::stream_window_bytes). With
  // BDP probing on, a 2 GiB upload let the client run 50-120 MiB ahead of
  // the pipe (bench/RESULTS.md).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, o.stream_window_bytes);
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_streams_per_connection);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(o.handshake_timeout)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(o.max_connection_idle)));
  builder.SetResourceQuota(*quota_);
  limiter_->InstallOn(&builder);
  builder.RegisterService(g.upload.get());
  builder.RegisterService(g.task.get());
  builder.RegisterService(g.integration.get());
  builder.RegisterService(g.asset.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  // First, so a rapid-reset connection is cut before the others' work;
  // then the status gRPC itself answers is explained, before the call
  // counter and the audit trail record it.
  interceptors.push_back(limiter_->CallGuard(o.max_streams_per_connection + kCallGuardMargin));
  interceptors.push_back(GrpcErrorsInterceptorFactory());
  interceptors.push_back(calls_.Factory());
  if (audit_ != nullptr) interceptors.push_back(audit_->Factory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  g.server = builder.BuildAndStart();
  if (g.server == nullptr || *port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: cannot listen on '", address, "' (in use, or not HOST:PORT)"));
  }
  limiter_->SetBacklog(o.listen_backlog);
  auto* health = g.server->GetHealthCheckService();
  for (const char* service : {"twelvelabs.gateway.v1.UploadService", "twelvelabs.gateway.v1.TaskService",
                              "twelvelabs.gateway.v1.IntegrationService", "twelvelabs.gateway.v1.AssetService"}) {
    health->SetServingStatus(service, true);
  }
  return g;
}

absl::Status GatewayServer::StartServers() {
  const GatewayOptions& o = options_;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  RouteGrpcLogsToJson();
  limiter_ = std::make_unique<ConnectionLimiter>(o.max_connections);
  quota_ = std::make_unique<grpc::ResourceQuota>("tl-gateway");
  quota_->Resize(static_cast<size_t>(o.memory_quota_bytes));
  auto grpc_server = StartGrpcServer(o.listen, &port_);
  if (!grpc_server.ok()) return grpc_server.status();
  {
    absl::MutexLock lock(&servers_mu_);
    servers_.push_back(*std::move(grpc_server));
  }
  accept_failure_handler_ = AddAcceptFailureHandler([this](const std::string&) {
    absl::MutexLock lock(&watchdog_mu_);
    accept_failed_ = true;
  });
  listener_watchdog_ = std::thread([this] { WatchListener(); });
  trimmer_ = std::make_unique<MemoryTrimmer>();
  // The webhook receiver before the admin server: /metrics, on the admin
  // server's thread, reads webhooks_, which is then already set; admin_
  // itself is read through admin_published_, set once it is.
  if (!o.webhook_host.empty()) {
    WebhookReceiverOptions wo;
    wo.host = o.webhook_host;
    wo.port = o.webhook_port;
    wo.verifier.secrets = o.webhook_secrets;
    if (pg_store_ != nullptr) {
      // Replicas de-duplicate together: an event replayed to another
      // replica is a duplicate there too.
      webhook_replays_ = std::make_unique<PostgresReplaySet>(pg_store_->pool(), wo.verifier.replay_capacity);
      wo.verifier.replay_set = webhook_replays_.get();
    }
    wo.clock = clock_.get();
    wo.limits = o.http_limits;
    auto receiver = WebhookReceiver::Start(wo, [this](const WebhookEvent& e) {
      webhook_activity_->Record();
      task_watches_->OnWebhook(e.task_id, e.status);
      index_watches_->OnWebhook(e.task_id, e.status);
    });
    if (!receiver.ok()) return receiver.status();
    webhooks_ = *std::move(receiver);
  }
  if (!o.admin_host.empty()) {
    AdminOptions ao;
    ao.host = o.admin_host;
    ao.port = o.admin_port;
    ao.limits = o.http_limits;
    ao.limits.max_body_bytes = o.http_limits.max_head_bytes;
    auto admin = AdminServer::Start(
        ao, [this] { return MetricsText(); },
        [this](std::string* why) {
          if (shutting_down_) {
            *why = "shutting down";
            return false;
          }
          if (!accepting_) {
            *why = "the gRPC listener is not accepting connections (out of file descriptors); restarting it";
            return false;
          }
          return true;
        });
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
    admin_published_ = admin_.get();
  }
  return absl::OkStatus();
}

namespace {

// Whether this process could open a few more descriptors.
bool DescriptorsFree() {
  struct rlimit lim {};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return true;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;  // itself needs a descriptor
  rlim_t open = 0;
  while (readdir(dir) != nullptr) ++open;
  closedir(dir);
  return open + 32 < lim.rlim_cur;  // "." and ".." included: errs on the safe side
}

}  // namespace

void GatewayServer::WatchListener() {
  // The address to listen on again: the configured host, the bound port.
  const std::string address =
      absl::StrCat(options_.listen.substr(0, options_.listen.rfind(':')), ":", port_);
  for (;;) {
    {
      absl::MutexLock lock(&watchdog_mu_);
      watchdog_mu_.Await(absl::Condition(
          +[](GatewayServer* g) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g->watchdog_mu_) {
            return g->accept_failed_ || g->stop_watchdog_;
          },
          this));
      if (stop_watchdog_) return;
      accept_failed_ = false;
    }
    accepting_ = false;
    Log(LogLevel::kError, "server", "the gRPC listener stopped accepting connections; restarting it",
        {{"address", address}});
    absl::Duration backoff = absl::Milliseconds(100);
    for (;;) {
      if (DescriptorsFree()) {
        // Close the dead listener first: the new one shares the port
        // (SO_REUSEPORT), and connections the kernel queued on the dead one
        // would never be accepted.
        for (int fd : limiter_->TakeListeners()) shutdown(fd, SHUT_RDWR);
        int port = 0;
        auto g = StartGrpcServer(address, &port);
        if (g.ok()) {
          absl::MutexLock lock(&servers_mu_);
          servers_.push_back(*std::move(g));
          break;
        }
        Log(LogLevel::kWarning, "server", "restarting the gRPC listener failed; retrying",
            {{"error", g.status().ToString()}});
      }
      absl::MutexLock lock(&watchdog_mu_);
      if (watchdog_mu_.AwaitWithTimeout(absl::Condition(&stop_watchdog_), backoff)) return;
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
    accepting_ = true;
    ++listener_restarts_;
    Log(LogLevel::kInfo, "server", "the gRPC listener accepts connections again", {{"address", address}});
  }
}

void GatewayServer::StopListenerWatchdog() {
  if (accept_failure_handler_ != 0) RemoveAcceptFailureHandler(accept_failure_handler_);
  accept_failure_handler_ = 0;
  {
    absl::MutexLock lock(&watchdog_mu_);
    stop_watchdog_ = true;
  }
  if (listener_watchdog_.joinable()) listener_watchdog_.join();
}

std::vector<grpc::Server*> GatewayServer::GrpcServers() {
  absl::MutexLock lock(&servers_mu_);
  std::vector<grpc::Server*> out;
  for (GrpcGeneration& g : servers_) out.push_back(g.server.get());
  return out;
}

GatewayServer::~GatewayServer() {
  Shutdown();  // nothing serves, runs or completes any more
  // Then each part before what it uses: the reverse of Create's steps.
  webhooks_.reset();
  webhook_replays_.reset();
  admin_.reset();
  {
    absl::MutexLock lock(&servers_mu_);
    servers_.clear();  // each server before its services
  }
  // The store's threads first (the coordinator, stopped, calls neither it
  // nor the engines any more; what the threads complete finds it alive).
  watch_store_.reset();
  indexed_asset_watches_.reset();
  asset_watches_.reset();
  import_watches_.reset();
  index_watches_.reset();
  task_watches_.reset();
  watch_coordinator_.reset();
  indexed_asset_kind_.reset();
  asset_kind_.reset();
  import_kind_.reset();
  index_kind_.reset();
  task_kind_.reset();
  webhook_activity_.reset();
  fanout_.reset();
  poll_budget_.reset();
  audit_.reset();
  auth_.reset();
  rate_limiter_.reset();  // after auth_, which calls it
  housekeeper_.reset();
  owners_ = nullptr;
  pg_store_ = nullptr;
  store_.reset();
  client_.reset();
  transport_.reset();
  completions_.reset();
  clock_.reset();
}

namespace {

// Appends one sample, with its HELP and TYPE lines the first time.
void Metric(std::string* out, const char* name, const char* type, const char* help, int64_t value,
            const std::string& labels = "") {
  if (out->find(absl::StrCat("# TYPE ", name, " ")) == std::string::npos) {
    absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  absl::StrAppend(out, name, labels.empty() ? "" : absl::StrCat("{", labels, "}"), " ", value, "\n");
}

}  // namespace

std::string GatewayServer::MetricsText() {
  std::string out;
  Metric(&out, "tl_gateway_grpc_calls_in_flight", "gauge", "gRPC calls and streams being served.",
         calls_.in_flight());
  if (limiter_ != nullptr) {
    ConnectionLimiter::Stats ls = limiter_->stats();
    Metric(&out, "tl_gateway_grpc_connections", "gauge", "gRPC connections open.", ls.open);
    Metric(&out, "tl_gateway_grpc_connections_rejected_total", "counter",
           "gRPC connections closed on arrival because the connection cap was reached.", ls.rejected);
    Metric(&out, "tl_gateway_grpc_connections_abusive_closed_total", "counter",
           "gRPC connections closed for having more calls in flight than streams (rapid reset).",
           limiter_->abusive_closed());
  }
  Metric(&out, "tl_gateway_grpc_listener_restarts_total", "counter",
         "Times the gRPC listener stopped accepting and was started again.", listener_restarts_.load());
  if (trimmer_ != nullptr) {
    Metric(&out, "tl_gateway_memory_trims_total", "counter",
           "Times free heap memory was handed back to the system after a burst.", trimmer_->trims());
  }
  const ClientStats& cs = client_->stats();
  Metric(&out, "tl_gateway_upstream_retries_total", "counter", "Upstream requests that were retries.",
         cs.retries.load());
  Metric(&out, "tl_gateway_upstream_retries_denied_total", "counter",
         "Retries not made because the retry budget was spent.", cs.retries_denied_by_budget.load());
  Metric(&out, "tl_gateway_upload_bytes_buffered", "gauge",
         "Bytes of uploads held in the gateway between client and upstream.", UploadPipe::TotalBuffered());
  if (pg_store_ != nullptr) {
    Metric(&out, "tl_gateway_state_store_up", "gauge",
           "1 while the shared PostgreSQL state store answers (shared mode), 0 in degraded mode.",
           pg_store_->pool()->down() ? 0 : 1);
  }
  Metric(&out, "tl_gateway_asset_upload_chunk_bytes_buffered", "gauge",
         "Bytes of multipart asset-upload chunks held until upstream has them.", MultipartBufferedBytes());
  if (upload_budget_ != nullptr) {
    Metric(&out, "tl_gateway_upload_memory_reserved_bytes", "gauge",
           "Upload memory reserved by the uploads in progress (at most --upload_memory_mib).",
           upload_budget_->reserved());
    Metric(&out, "tl_gateway_upload_memory_limit_bytes", "gauge", "The upload memory budget (--upload_memory_mib).",
           upload_budget_->capacity());
    Metric(&out, "tl_gateway_upload_capacity_refusals_total", "counter",
           "Uploads refused at their header because the upload memory budget was spent (UPLOAD_CAPACITY).",
           upload_budget_->refusals());
  }
  metrics_.Render(&out);
  if (watch_coordinator_ != nullptr) {
    const SharedCoordinator::Stats ws = watch_coordinator_->stats();
    Metric(&out, "tl_gateway_watch_state_shared", "gauge",
           "1 while watches are shared through PostgreSQL; 0 in local mode (the database unreachable).",
           ws.shared ? 1 : 0);
    Metric(&out, "tl_gateway_watch_state_transitions_total", "counter",
           "Switches between shared and local watch mode.", ws.transitions);
    Metric(&out, "tl_gateway_watch_claims_total", "counter", "Polls this replica was handed by the cluster.",
           ws.claims);
    Metric(&out, "tl_gateway_watch_fenced_off_total", "counter",
           "Reads not published because another replica had taken the poll.", ws.fenced_off);
  }
  for (const WatchEngine* e : {task_watches_.get(), index_watches_.get(), import_watches_.get(),
                               asset_watches_.get(), indexed_asset_watches_.get()}) {
    WatchEngine::Stats st = e->stats();
    const std::string kind = absl::StrCat("kind=\"", e->kind().name(), "\"");
    Metric(&out, "tl_gateway_watch_entries", "gauge", "Watched subjects (one poll loop each).",
           st.entries, kind);
    Metric(&out, "tl_gateway_watch_subscribers", "gauge", "Open watch streams.", st.subscribers,
           kind);
    Metric(&out, "tl_gateway_watch_polls_total", "counter", "Upstream reads made by watches.",
           st.polls, kind);
    Metric(&out, "tl_gateway_watch_polls_saved_total", "counter",
           "Upstream reads avoided by sharing one poll among subscribers.", st.polls_saved, kind);
    Metric(&out, "tl_gateway_watch_webhook_refreshes_total", "counter",
           "Watched subjects refreshed at once because a webhook named them.",
           st.webhook_refreshes, kind);
  }
  std::vector<std::pair<const char*, HttpServer::Stats>> http;
  if (AdminServer* admin = admin_published_.load(); admin != nullptr) {
    http.emplace_back("admin", admin->http_stats());
  }
  if (webhooks_ != nullptr) http.emplace_back("webhook", webhooks_->stats().http);
  for (const auto& [port, hs] : http) {
    const std::string label = absl::StrCat("port=\"", port, "\"");
    Metric(&out, "tl_gateway_http_connections_open", "gauge",
           "Open connections of the gateway's HTTP ports (admin, webhook).", hs.connections_open, label);
    Metric(&out, "tl_gateway_http_connections_total", "counter", "Connections accepted on the HTTP ports.",
           hs.connections_accepted, label);
    Metric(&out, "tl_gateway_http_connections_evicted_total", "counter",
           "Connections closed to make room over the HTTP connection cap.", hs.evicted, label);
    Metric(&out, "tl_gateway_http_connections_timed_out_total", "counter",
           "Connections closed because a head, body, idle or write deadline passed.", hs.timed_out, label);
    Metric(&out, "tl_gateway_http_requests_refused_total", "counter",
           "Requests refused by the HTTP server itself (malformed, too large, unsupported).", hs.refused,
           label);
  }
  if (webhooks_ != nullptr) {
    WebhookReceiver::Stats ws = webhooks_->stats();
    Metric(&out, "tl_gateway_webhook_events_total", "counter", "Webhook deliveries by outcome.", ws.accepted,
           "outcome=\"accepted\"");
    Metric(&out, "tl_gateway_webhook_events_total", "counter", "", ws.duplicates, "outcome=\"duplicate\"");
    for (const auto& [reason, n] : ws.rejected) {
      Metric(&out, "tl_gateway_webhook_events_total", "counter", "", n,
             absl::StrCat("outcome=\"rejected\",reason=\"", reason, "\""));
    }
  }
  return out;
}

void GatewayServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  shutting_down_ = true;
  // No listener restart may race the shutdown.
  StopListenerWatchdog();
  const std::vector<grpc::Server*> servers = GrpcServers();
  // One deadline for the whole stop: calls get the drain time, and what
  // follows it is bounded by kShutdownMargin, so SIGTERM ends the process
  // within drain + margin whatever an upstream or a client does.
  const absl::Time deadline = absl::Now() + options_.drain;
  // First, so that no webhook can start an upstream read once the
  // transport is going.
  if (webhooks_ != nullptr) webhooks_->Stop();
  // Another replica takes this one's polls at its next claim round, not
  // after the lease; its interest goes with it. Asked for now, waited for
  // below: calls drain meanwhile, whatever the database does.
  const absl::Time stop_started = absl::Now();
  if (watch_coordinator_ != nullptr) watch_coordinator_->Stop();
  if (!servers.empty()) {
    for (grpc::Server* server : servers) server->GetHealthCheckService()->Shutdown();
    // Streams never finish by themselves: end them now, telling clients to
    // reconnect; unary calls get the drain time.
    streams_.EndAll();
    absl::Notification drained;
    // Closes the listeners at once and waits for calls and connections;
    // at the deadline gRPC cancels what is left.
    std::thread stopper([&servers, &drained, deadline] {
      for (grpc::Server* server : servers) server->Shutdown(absl::ToChronoTime(deadline));
      drained.Notify();
    });
    while (calls_.in_flight() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    if (calls_.in_flight() > 0) {
      Log(LogLevel::kWarning, "server", "calls outlived the drain time; ending them",
          {{"in_flight", std::to_string(calls_.in_flight())}});
    }
    // Retries still waiting fail at once from here on.
    clock_->Shutdown();
    // A call still waiting on upstream gets its answer now (UNAVAILABLE,
    // GATEWAY_SHUTTING_DOWN) rather than a bare cancellation, and nothing
    // upstream can hold a reactor open any more. (It used to wait 2 s more
    // here before giving up on the upstream: SIGTERM took drain + 2 s.)
    transport_->Stop();
    absl::Time finish_by = absl::Now() + kShutdownMargin / 2;
    while (calls_.in_flight() > 0 && absl::Now() < finish_by) absl::SleepFor(absl::Milliseconds(5));
    // A call still waiting on PostgreSQL (one that stopped answering)
    // answers UNAVAILABLE now rather than at its statement timeout; calls
    // that finished upstream have had the half margin above to record it.
    if (housekeeper_ != nullptr) housekeeper_->RequestStop();
    if (pg_store_ != nullptr) pg_store_->pool()->Shutdown();
    // Cancels what is left and disconnects idle clients, which gRPC would
    // otherwise wait for until the deadline.
    for (grpc::Server* server : servers) grpc_server_cancel_all_calls(server->c_server());
    if (!drained.WaitForNotificationWithTimeout(kShutdownMargin / 2)) {
      Log(LogLevel::kWarning, "server", "gRPC server still stopping after the drain time and margin");
    }
    stopper.join();
  }
  if (clock_ != nullptr) clock_->Shutdown();
  if (transport_ != nullptr) transport_->Stop();
  // Transport stopped: no completion can be queued any more; run what is.
  if (completions_ != nullptr) completions_->Shutdown();
  // No upstream read or timer can complete any more, so no new fan-out:
  // deliver what is queued while the streams' state is still alive.
  if (fanout_ != nullptr) fanout_->Shutdown();
  if (admin_ != nullptr) admin_->Stop();
  // The hand back asked for above: confirmed by now unless the database
  // does not answer, then given what is left of half a second, within the
  // margin (the watch store's destructor cuts the statement).
  if (watch_coordinator_ != nullptr) {
    watch_coordinator_->AwaitHandBack(
        std::min(stop_started + absl::Milliseconds(500), deadline + kShutdownMargin - absl::Milliseconds(250)));
  }
  // Last, once nothing completes a create any more: the database threads
  // (rate-limit sync, housekeeping) then stop at once even when the
  // database host is unreachable, so SIGTERM keeps its bound.
  if (housekeeper_ != nullptr) housekeeper_->RequestStop();
  if (pg_store_ != nullptr) pg_store_->pool()->Shutdown();
  if (housekeeper_ != nullptr) housekeeper_->Stop();
}

}  // namespace tlgw
