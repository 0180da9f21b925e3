// The gateway process's core: the gRPC server with its three services,
// health checking and reflection, wired to one REST client.
//
// main.cc reads flags and the environment into GatewayOptions; everything
// below it receives its settings from here and never reads flags itself.
#ifndef TL_GATEWAY_SERVER_GATEWAY_SERVER_H_
#define TL_GATEWAY_SERVER_GATEWAY_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/admin/admin_server.h"
#include "server/audit/audit_log.h"
#include "server/auth/authenticator.h"
#include "server/auth/rate_limiter.h"
#include "server/common/call_counter.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/common/memory_trimmer.h"
#include "server/common/metrics.h"
#include "server/common/redactor.h"
#include "server/common/stream_registry.h"
#include "server/config/config.h"
#include "server/listener/connection_limiter.h"
#include "server/http/http_server.h"
#include "server/services/deps.h"
#include "server/services/integration_service.h"
#include "server/services/asset_service.h"
#include "server/services/task_service.h"
#include "server/services/upload_budget.h"
#include "server/services/upload_service.h"
#include "server/state/housekeeper.h"
#include "server/state/request_store.h"
#include "server/state/state_options.h"
#include "server/twelvelabs/client.h"
#include "server/upstream/http.h"
#include "server/watch/pg_watch_store.h"
#include "server/watch/poll_budget.h"
#include "server/watch/shared_coordinator.h"
#include "server/watch/watch_engine.h"
#include "server/watch/watch_kinds.h"
#include "server/watch/watch_options.h"
#include "server/webhook/replay_set.h"
#include "server/webhook/webhook_receiver.h"

namespace tlgw {

class PostgresStateStore;

struct TlsOptions {
  std::string cert_pem;
  std::string key_pem;       // never logged
  std::string client_ca_pem;  // when set, clients must present a certificate it signed
};

struct GatewayOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free one
  ClientOptions client;                     // client.base_url is the upstream URL
  // Open single-key mode's key (no clients configured); never logged.
  std::string api_key;
  GatewayConfig config;  // keys resolved
  TlsOptions tls;
  // "-" or "" = stderr, "none" = off, else a file appended to.
  std::string audit_log = "-";
  // The webhook receiver; empty host = off.
  std::string webhook_host;
  int webhook_port = 0;
  std::vector<std::string> webhook_secrets;
  // --state_store, --replica_id, --state_notify (SQLite :memory: by default).
  StateStoreOptions state;
  WatchOptions watch;
  // The admin HTTP endpoint (/healthz, /readyz, /metrics); empty host = off.
  std::string admin_host;
  int admin_port = 0;
  // Bounds of each of the two HTTP ports (webhook, admin), per port:
  // connections, head size, deadlines. max_body_bytes is the webhook
  // body's; admin requests, which carry no body, get max_head_bytes.
  HttpLimits http_limits;
  // Unary calls in flight get this long to finish on Shutdown()
  // (--drain_seconds); Shutdown() returns within it plus about 1 s.
  absl::Duration drain = absl::Seconds(5);
  // HTTP/2 flow-control window of each incoming gRPC stream, fixed (gRPC's
  // BDP probing, which would grow it without bound, is off). It is how far
  // a client may run ahead of a stream the gateway has stopped reading: an
  // upload whose upstream is slower holds at most this much in gRPC's
  // receive buffers, on top of its UploadPipe. Raise it for clients on
  // high-latency links: one upload's rate is at most window / round trip.
  int stream_window_bytes = 1 << 20;
  // Bounds that hold before a caller is authenticated (issue 11): streams
  // one HTTP/2 connection may have open at once (more wait in the client),
  // how long a new connection may take to complete its handshake, how long
  // a connection may sit idle before it is closed, and one memory quota
  // for everything gRPC buffers (messages, uploads in flight): past it,
  // new reads wait and new calls are refused with RESOURCE_EXHAUSTED.
  int max_streams_per_connection = 5000;
  // gRPC connections open at once; more are closed as they arrive. Keep it
  // below the open-file limit with room for upstream and HTTP sockets
  // (gateway_process.cc derives the default from the limit), so that a
  // connection flood cannot make accept() fail. 0: gateway_process.cc
  // derives it from the open-file limit.
  int max_connections = 10000;
  // Connections the kernel queues for gRPC's accept; see
  // ConnectionLimiter::SetBacklog.
  int listen_backlog = 256;
  absl::Duration handshake_timeout = absl::Seconds(5);
  absl::Duration max_connection_idle = absl::Minutes(5);
  // 256 MiB held 30,000 watch streams with no connection reclaimed
  // (bench/RESULTS.md); gRPC 1.51 buffers an oversized message whole before
  // refusing it, so the quota is also what bounds that.
  int64_t memory_quota_bytes = int64_t{256} << 20;
  // The longest an upload may make no progress: its client sending no
  // message (the call ends DEADLINE_EXCEEDED), or the upstream taking none
  // of its bytes or, once it has them all, not answering (UNAVAILABLE).
  // Whatever the call's own deadline (an upload may have none), nothing
  // an upload holds stays held longer than this without progress.
  absl::Duration upload_idle_timeout = absl::Seconds(60);
  // UploadAsset's multipart uploads: chunk PUTs at once, and the chunk
  // bytes one upload may hold (MultipartLimits).
  int asset_upload_chunks_in_flight = 2;
  int64_t asset_upload_max_buffer_bytes = int64_t{48} << 20;
  // Upload bytes all callers' uploads together may hold in the gateway's
  // own buffers, outside gRPC's quota (UploadBudget): an upload that does
  // not fit is refused at its header, RESOURCE_EXHAUSTED UPLOAD_CAPACITY.
  // At least asset_upload_max_buffer_bytes, or no multipart upload starts.
  int64_t upload_memory_bytes = int64_t{256} << 20;
};

class GatewayServer {
 public:
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Create(GatewayOptions options);
  ~GatewayServer();  // Shuts down.

  int port() const { return port_; }
  int admin_port() const { return admin_ != nullptr ? admin_->port() : 0; }
  int webhook_port() const { return webhooks_ != nullptr ? webhooks_->port() : 0; }
  // Applies a new configuration (keys resolved): clients, tenants, keys and
  // integrations change for new calls at once; calls in flight finish as
  // they began; streams of revoked clients end. Returns what changed (no
  // secrets), or why it was refused (the old configuration stays). Refused
  // (FAILED_PRECONDITION): a configuration without clients while the
  // running one has some (that would open the gateway to anyone), and a
  // changed upstream_url (applied only by a restart).
  absl::StatusOr<std::string> Reload(const GatewayConfig& config);
  std::shared_ptr<const GatewayConfig> config() const;
  // The Prometheus text of /metrics.
  std::string MetricsText();
  const TwelveLabsClient& client() const { return *client_; }
  // Stops accepting calls, lets calls in flight finish within the drain
  // time, then ends what is left (calls waiting on upstream get
  // UNAVAILABLE) and closes idle client connections (gRPC alone would wait
  // for clients to hang up), all within drain + 1 s. Idempotent.
  void Shutdown();

 private:
  explicit GatewayServer(GatewayOptions options);
  // The steps of Create(), in order; see gateway_server.cc.
  absl::Status StartUpstream();
  absl::Status OpenState();
  absl::Status StartWatches();
  absl::Status StartServices();
  absl::Status StartServers();
  // One gRPC server and the service objects registered on it. Members in
  // this order so the server goes before the services it calls.
  struct GrpcGeneration {
    std::unique_ptr<UploadServiceImpl> upload;
    std::unique_ptr<TaskServiceImpl> task;
    std::unique_ptr<IntegrationServiceImpl> integration;
    std::unique_ptr<AssetServiceImpl> asset;
    std::unique_ptr<grpc::Server> server;
  };
  // Builds and starts a gRPC server listening on `address`; `*port` gets
  // the port bound.
  absl::StatusOr<GrpcGeneration> StartGrpcServer(const std::string& address, int* port);
  // The listener watchdog's thread: when gRPC reports that its listener
  // stopped accepting, closes that listener and starts a new server on the
  // same port once descriptors are free again. The servers before keep
  // serving the connections they have.
  void WatchListener();
  void StopListenerWatchdog();
  std::vector<grpc::Server*> GrpcServers();
  static absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsOptions& tls);
  // Whether "/pkg.Service/Method" is a method this server serves (metric
  // labels come only from these).
  static bool ServedMethod(absl::string_view method);

  GatewayOptions options_;
  // Built by Create()'s steps and torn down by Shutdown() and the
  // destructor in an order they state, not by declaration order.
  std::unique_ptr<RealClock> clock_;
  // Where upstream results are parsed and callbacks run (never the
  // transport's event thread): a few threads, so one callback waiting on
  // the state store does not hold up the others.
  std::unique_ptr<ThreadExecutor> completions_;
  // The request_id records and task owners: one object, SQLite or
  // PostgreSQL (--state_store); `owners_` is the same object's other face.
  std::unique_ptr<RequestStore> store_;
  OwnershipStore* owners_ = nullptr;
  PostgresStateStore* pg_store_ = nullptr;  // the same object with --state_store=postgres:
  // With postgres: per-client rate limits shared by the replicas.
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<Housekeeper> housekeeper_;  // with --state_store=postgres: only
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<AuditLog> audit_;
  mutable absl::Mutex config_mu_;
  std::shared_ptr<const GatewayConfig> config_ ABSL_GUARDED_BY(config_mu_);
  // Every key configured since start (old ones too), kept out of all that
  // upstream sends; declared before the client, which reads it.
  Redactor secrets_;
  std::unique_ptr<TwelveLabsClient> client_;
  std::unique_ptr<PollBudget> poll_budget_;
  // The hubs' fan-out thread, so that fanning a change out to thousands of
  // streams never holds up the transport's thread. Declared before the hubs
  // so it outlives them; Shutdown() drains it once the transport is gone
  // (nothing can queue a fan-out after that), while the streams' state is
  // still alive.
  std::unique_ptr<ThreadExecutor> fanout_;
  std::unique_ptr<WebhookActivity> webhook_activity_;
  std::unique_ptr<TaskWatchKind> task_kind_;
  std::unique_ptr<IndexWatchKind> index_kind_;
  std::unique_ptr<ImportWatchKind> import_kind_;
  std::unique_ptr<AssetWatchKind> asset_kind_;
  std::unique_ptr<IndexedAssetWatchKind> indexed_asset_kind_;
  // With --state_store=postgres: the watch tables and this replica's
  // coordinator, shared by the engines (declared before them: they outlive
  // them). Null with SQLite: each engine coordinates in memory.
  std::unique_ptr<PgWatchStore> watch_store_;
  std::unique_ptr<SharedCoordinator> watch_coordinator_;
  std::unique_ptr<WatchEngine> task_watches_;
  std::unique_ptr<WatchEngine> index_watches_;
  std::unique_ptr<WatchEngine> import_watches_;
  std::unique_ptr<WatchEngine> asset_watches_;
  std::unique_ptr<WatchEngine> indexed_asset_watches_;
  // Declared before deps_, which points at it.
  std::unique_ptr<UploadBudget> upload_budget_;
  ServiceDeps deps_;
  RequestMetrics metrics_{&ServedMethod};
  CallCounter calls_{&metrics_};
  StreamRegistry streams_;
  // Shared by every gRPC server this process starts (see WatchListener).
  std::unique_ptr<ConnectionLimiter> limiter_;
  std::unique_ptr<grpc::ResourceQuota> quota_;
  absl::Mutex servers_mu_;
  // The newest last; earlier ones only if the listener was restarted.
  std::vector<GrpcGeneration> servers_ ABSL_GUARDED_BY(servers_mu_);
  absl::Mutex watchdog_mu_;
  bool accept_failed_ ABSL_GUARDED_BY(watchdog_mu_) = false;
  bool stop_watchdog_ ABSL_GUARDED_BY(watchdog_mu_) = false;
  std::thread listener_watchdog_;
  int accept_failure_handler_ = 0;
  std::atomic<bool> accepting_{true};  // read by /readyz
  std::atomic<int64_t> listener_restarts_{0};
  std::unique_ptr<MemoryTrimmer> trimmer_;
  std::unique_ptr<AdminServer> admin_;
  // admin_ for /metrics, which runs on the admin server's own thread and may
  // come before Start() has returned and admin_ is set.
  std::atomic<AdminServer*> admin_published_{nullptr};
  std::unique_ptr<WebhookReceiver> webhooks_;
  // With --state_store=postgres: the cluster's shared replay set (the
  // receiver's verifier uses it; reset after webhooks_).
  std::unique_ptr<WebhookReplaySet> webhook_replays_;
  std::unique_ptr<HttpTransport> transport_;
  int port_ = 0;
  bool shut_down_ = false;
  std::atomic<bool> shutting_down_{false};  // read by /readyz
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_GATEWAY_SERVER_H_
