// An in-process gateway for service tests: the real TaskService,
// UploadService, IntegrationService and AssetService on a real gRPC server (127.0.0.1,
// port 0), wired as GatewayServer::Create() wires them, but with the fake
// upstream API, a fake clock, an in-memory request store and inline
// fan-out. Tests call it through real stubs.
//
// Determinism: the fake API answers on the calling thread and the fan-out
// is inline, so a watch polls only when the test calls clock().Advance(),
// and the resulting events are handed to the stream before Advance()
// returns. Every client call has a deadline (Ctx()), and every stream read
// is bounded (WatchReader::Next / Finish).
#ifndef TL_GATEWAY_TESTS_SERVER_SERVICES_SERVICE_HARNESS_H_
#define TL_GATEWAY_TESTS_SERVER_SERVICES_SERVICE_HARNESS_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "server/auth/authenticator.h"
#include "server/common/executor.h"
#include "server/common/stream_registry.h"
#include "server/config/config.h"
#include "server/services/asset_service.h"
#include "server/services/deps.h"
#include "server/services/integration_service.h"
#include "server/services/task_service.h"
#include "server/services/upload_budget.h"
#include "server/services/upload_service.h"
#include "server/state/request_store.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_engine.h"
#include "server/watch/watch_kinds.h"
#include "server/watch/watch_options.h"
#include "tests/support/fake_clock.h"
#include "tests/support/grpc_details.h"
#include "tests/support/fake_twelvelabs_api.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tlgw::testing {

// Deterministic bytes that differ at every offset of a chunk (upload tests).
std::string Bytes(size_t n, uint32_t seed);

// The default configuration's tenants, clients and resources.
//
//   tenant "media" (key kMediaKey):
//     client media-svc   token kMediaToken   every method
//     client reader      token kReaderToken  TaskService Get/List/Watch*/
//                                            DeleteTask and UploadVideoFile
//                                            (not GetIndexTaskCounts nor the
//                                            other creates); index kIndexA only
//     client importer    token kImporterToken IntegrationService.*;
//                                            integration "marketing" only
//     integrations "marketing" (kMarketingId), "archive" (kArchiveId)
//   tenant "news" (key kNewsKey):
//     client news-svc    token kNewsToken    every method
//     client limited     token kLimitedToken every method, 1 call/s, burst 2
//     integration "sales" (kSalesId)
//   Both tenants are declared sole users of their accounts, so tasks the
//   fake holds that no one created through the gateway are visible to
//   both (the fake does not tell keys apart, as if the two keys were of one
//   account). IsolatedConfig() is the same without the declarations: each
//   tenant then sees only the tasks it created.
inline constexpr char kMediaKey[] = "tlk_media_key_1";
inline constexpr char kMediaKeyRotated[] = "tlk_media_key_2";
inline constexpr char kNewsKey[] = "tlk_news_key_1";
inline constexpr char kMediaToken[] = "tlgw_media_svc_token";
inline constexpr char kNewsToken[] = "tlgw_news_svc_token";
inline constexpr char kReaderToken[] = "tlgw_reader_token";
inline constexpr char kImporterToken[] = "tlgw_importer_token";
inline constexpr char kLimitedToken[] = "tlgw_limited_token";
inline constexpr char kIndexA[] = "6298d673f1090f1100476d4c";
inline constexpr char kIndexB[] = "6298d673f1090f1100476d4d";
inline constexpr char kMarketingId[] = "0123456789abcdef89abcdef";
inline constexpr char kArchiveId[] = "0123456789abcdef89abcd01";
inline constexpr char kSalesId[] = "0123456789abcdef89abcd02";
inline constexpr char kMissingTaskId[] = "ffffffffffffffffffffffff";

namespace gw = ::twelvelabs::gateway::v1;

GatewayConfig DefaultConfig();
GatewayConfig IsolatedConfig();
// A client of `tenant` allowed `methods`, with `token`'s hash.
ClientConfig Client(const std::string& id, const std::string& token, const std::string& tenant,
                    std::vector<std::string> methods = {"*"});

class ServiceHarness {
 public:
  // `version`: the upstream API version the fake speaks.
  explicit ServiceHarness(GatewayConfig config = DefaultConfig(), WatchOptions watch = WatchOptions(),
                          ApiVersion version = ApiVersion::kV1_3);
  ~ServiceHarness();
  ServiceHarness(const ServiceHarness&) = delete;
  ServiceHarness& operator=(const ServiceHarness&) = delete;

  FakeTwelveLabsApi& api() { return *api_; }
  FakeClock& clock() { return *clock_; }
  SqliteRequestStore& store() { return *store_; }
  // Makes the state store as the services see it fail UNAVAILABLE (a
  // shared database that is down), or work again.
  void SetStateStoreDown(bool down) { store_switch_->down = down; }
  WatchEngine& task_watches() { return *task_watches_; }
  WatchEngine& index_watches() { return *index_watches_; }
  WatchEngine& import_watches() { return *import_watches_; }
  WatchEngine& asset_watches() { return *asset_watches_; }
  WatchEngine& indexed_asset_watches() { return *indexed_asset_watches_; }
  int port() const { return port_; }
  // The services' dependencies, for a test to change limits before its
  // first call (e.g. asset_direct_max_bytes).
  ServiceDeps& deps() { return deps_; }
  // The upload budget the services use (256 MiB, as the gateway's
  // default); SetUploadBudget() replaces it before a test's first call.
  UploadBudget& upload_budget() { return *upload_budget_; }
  void SetUploadBudget(int64_t bytes) {
    upload_budget_ = std::make_unique<UploadBudget>(bytes);
    deps_.upload_budget = upload_budget_.get();
  }

  gw::TaskService::Stub* tasks() { return tasks_.get(); }
  gw::UploadService::Stub* uploads() { return uploads_.get(); }
  gw::IntegrationService::Stub* integrations() { return integrations_.get(); }
  gw::AssetService::Stub* assets() { return assets_.get(); }

  // A context carrying `authorization: Bearer <token>` (none when `token`
  // is empty) and a deadline `timeout` from now.
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                                  absl::Duration timeout = absl::Seconds(10));

  // What a config reload does: the authenticator first (revoking clients
  // that were removed or whose token changed), then the config the
  // services see.
  absl::StatusOr<std::string> Reload(const GatewayConfig& config);
  std::shared_ptr<const GatewayConfig> config() const ABSL_LOCKS_EXCLUDED(config_mu_);

  // What a gateway shutdown does to the open streams (StreamRegistry::
  // EndAll). Streams opened afterwards register afresh, as with the gateway
  // that takes over, so a test can resume what was ended.
  void EndStreams();

  // Waits (bounded) until `engine` has `n` subscribers: the server side of a
  // cancelled stream unsubscribes on a gRPC thread, after the client's
  // Finish() has returned.
  static bool AwaitSubscribers(const WatchEngine& engine, int64_t n,
                               absl::Duration timeout = absl::Seconds(5));

 private:
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<FakeTwelveLabsApi> api_;
  std::unique_ptr<SqliteRequestStore> store_;
  // Our own interfaces in front of store_, so a test can take it down.
  struct SwitchableStore : public RequestStore, public OwnershipStore {
    explicit SwitchableStore(SqliteRequestStore* s) : store(s) {}
    static absl::Status Down() { return absl::UnavailableError("state store: PostgreSQL is unreachable (test)"); }
    absl::StatusOr<ClaimResult> Claim(const std::string& scope, const std::string& id, const std::string& fp,
                                      const Attempt& a) override {
      if (down) return Down();
      return store->Claim(scope, id, fp, a);
    }
    absl::Status Complete(const std::string& scope, const std::string& id, const std::string& task) override {
      return down ? Down() : store->Complete(scope, id, task);
    }
    absl::Status Release(const std::string& scope, const std::string& id) override {
      return down ? Down() : store->Release(scope, id);
    }
    absl::Status Reopen(const std::string& scope, const std::string& id, const Attempt& a) override {
      return down ? Down() : store->Reopen(scope, id, a);
    }
    absl::Status RecordOwner(const std::string& task, const std::string& tenant) override {
      return down ? Down() : store->RecordOwner(task, tenant);
    }
    absl::StatusOr<std::string> Owner(const std::string& task) override {
      if (down) return Down();
      return store->Owner(task);
    }
    absl::StatusOr<std::map<std::string, std::string>> Owners(const std::vector<std::string>& ids) override {
      if (down) return Down();
      return store->Owners(ids);
    }
    absl::Status Ready() override { return down ? Down() : absl::OkStatus(); }
    SqliteRequestStore* const store;
    std::atomic<bool> down{false};
  };
  std::unique_ptr<SwitchableStore> store_switch_;
  std::unique_ptr<Authenticator> auth_;
  InlineExecutor fanout_;
  std::unique_ptr<PollBudget> budget_;
  std::unique_ptr<WebhookActivity> webhooks_;
  std::unique_ptr<TaskWatchKind> task_kind_;
  std::unique_ptr<IndexWatchKind> index_kind_;
  std::unique_ptr<ImportWatchKind> import_kind_;
  std::unique_ptr<AssetWatchKind> asset_kind_;
  std::unique_ptr<IndexedAssetWatchKind> indexed_asset_kind_;
  std::unique_ptr<WatchEngine> task_watches_, index_watches_, import_watches_, asset_watches_,
      indexed_asset_watches_;
  // The registries EndStreams() ended, kept until the server is gone: the
  // streams they ended still remove themselves on their way out.
  std::vector<std::unique_ptr<StreamRegistry>> ended_streams_;
  std::unique_ptr<StreamRegistry> streams_ = std::make_unique<StreamRegistry>();
  std::unique_ptr<UploadBudget> upload_budget_ = std::make_unique<UploadBudget>(int64_t{256} << 20);
  ServiceDeps deps_;
  std::unique_ptr<TaskServiceImpl> task_service_;
  std::unique_ptr<UploadServiceImpl> upload_service_;
  std::unique_ptr<IntegrationServiceImpl> integration_service_;
  std::unique_ptr<AssetServiceImpl> asset_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
  std::unique_ptr<gw::UploadService::Stub> uploads_;
  std::unique_ptr<gw::IntegrationService::Stub> integrations_;
  std::unique_ptr<gw::AssetService::Stub> assets_;

  mutable absl::Mutex config_mu_;
  std::shared_ptr<const GatewayConfig> config_ ABSL_GUARDED_BY(config_mu_);
};

// Reads a server stream on its own thread so that the test can wait for
// each event with a timeout. The context's deadline bounds the call; the
// destructor cancels it and joins the thread.
template <typename Event>
class WatchReader {
 public:
  using Start =
      std::function<std::unique_ptr<grpc::ClientReader<Event>>(grpc::ClientContext*)>;
  WatchReader(std::unique_ptr<grpc::ClientContext> ctx, Start start) : ctx_(std::move(ctx)) {
    reader_ = start(ctx_.get());
    thread_ = std::thread([this] {
      Event e;
      while (reader_->Read(&e)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(e);
      }
      grpc::Status s = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = s;
    });
  }
  ~WatchReader() {
    ctx_->TryCancel();
    thread_.join();
  }

  // The next event, or nullopt if none came within `timeout` or the stream
  // ended first.
  std::optional<Event> Next(absl::Duration timeout = absl::Seconds(5)) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !events_.empty() || status_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    if (events_.empty()) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  // The stream's final status once every event was read, or nullopt if it
  // has not ended within `timeout`. Events not yet read stay readable.
  std::optional<grpc::Status> Finish(absl::Duration timeout = absl::Seconds(5))
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return status_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
    return status_;
  }
  // Events received and not yet read by Next().
  size_t unread() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  void Cancel() { ctx_->TryCancel(); }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<Event>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
};

// Code, message and ErrorInfo reason, for failure messages.
std::string Describe(const grpc::Status& s);

// A task of the fake upstream in `index_id`, in `status`, updated at
// `updated` (Unix seconds).
gw::Task MakeTask(const std::string& id, const std::string& index_id, gw::TaskStatus status,
                  int64_t updated = 1767225600);

}  // namespace tlgw::testing

#endif  // TL_GATEWAY_TESTS_SERVER_SERVICES_SERVICE_HARNESS_H_
