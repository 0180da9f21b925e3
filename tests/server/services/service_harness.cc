#include "tests/server/services/service_harness.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"
#include "server/services/upload_reactor.h"

namespace tlgw::testing {

namespace {

TenantConfig Tenant(const std::string& name, const std::string& key) {
  TenantConfig t;
  t.name = name;
  t.api_keys.push_back(KeyRef{absl::StrCat("TL_KEY_", name), ""});
  t.resolved_keys.push_back(key);
  return t;
}

IntegrationConfig Integration(const std::string& name, const std::string& id, const std::string& tenant) {
  IntegrationConfig ic;
  ic.name = name;
  ic.integration_id = id;
  ic.bucket = absl::StrCat(name, "-videos");
  ic.region = "us-west-2";
  ic.tenant = tenant;
  return ic;
}

}  // namespace

ClientConfig Client(const std::string& id, const std::string& token, const std::string& tenant,
                    std::vector<std::string> methods) {
  ClientConfig c;
  c.id = id;
  c.token_sha256 = TokenSha256(token);
  c.tenant = tenant;
  c.methods = std::move(methods);
  return c;
}

GatewayConfig DefaultConfig() {
  GatewayConfig c;
  c.tenants = {Tenant("media", kMediaKey), Tenant("news", kNewsKey)};
  c.clients.push_back(Client("media-svc", kMediaToken, "media"));
  c.clients.push_back(Client("news-svc", kNewsToken, "news"));
  ClientConfig reader = Client("reader", kReaderToken, "media",
                               {"TaskService.GetTask", "TaskService.ListTasks", "TaskService.WatchTask",
                                "TaskService.WatchIndexTasks", "TaskService.DeleteTask",
                                "UploadService.UploadVideoFile"});
  reader.indexes = {kIndexA};
  c.clients.push_back(reader);
  ClientConfig importer = Client("importer", kImporterToken, "media", {"IntegrationService.*"});
  importer.integrations = {"marketing"};
  c.clients.push_back(importer);
  ClientConfig limited = Client("limited", kLimitedToken, "news");
  limited.rate_limit.requests_per_second = 1;
  limited.rate_limit.burst = 2;
  c.clients.push_back(limited);
  c.integrations = {Integration("marketing", kMarketingId, "media"), Integration("archive", kArchiveId, "media"),
                    Integration("sales", kSalesId, "news")};
  for (auto& t : c.tenants) t.sole_user_of_account = true;
  return c;
}

GatewayConfig IsolatedConfig() {
  GatewayConfig c = DefaultConfig();
  for (auto& t : c.tenants) t.sole_user_of_account = false;
  return c;
}

ServiceHarness::ServiceHarness(GatewayConfig config, WatchOptions watch, ApiVersion version) {
  clock_ = std::make_unique<FakeClock>();
  api_ = std::make_unique<FakeTwelveLabsApi>(version);
  auto store = SqliteRequestStore::Open(":memory:", clock_.get());
  if (!store.ok()) abort();
  store_ = *std::move(store);
  auto auth = Authenticator::Create(config, "", clock_.get());
  if (!auth.ok()) {
    fprintf(stderr, "harness config refused: %s\n", auth.status().ToString().c_str());
    abort();
  }
  auth_ = *std::move(auth);
  {
    absl::MutexLock lock(&config_mu_);
    config_ = std::make_shared<const GatewayConfig>(std::move(config));
  }
  Authenticator* authn = auth_.get();
  auto key_for = [authn](const std::string& tenant) { return authn->CurrentKey(tenant); };
  budget_ = std::make_unique<PollBudget>(watch.max_polls_per_second);
  webhooks_ = std::make_unique<WebhookActivity>(clock_.get(), watch.webhook_active_window);
  task_kind_ = std::make_unique<TaskWatchKind>(api_.get());
  index_kind_ = std::make_unique<IndexWatchKind>(api_.get(), watch.max_index_pages);
  import_kind_ = std::make_unique<ImportWatchKind>(api_.get());
  asset_kind_ = std::make_unique<AssetWatchKind>(api_.get());
  indexed_asset_kind_ = std::make_unique<IndexedAssetWatchKind>(api_.get());
  auto engine = [&](WatchKind* kind) {
    return std::make_unique<WatchEngine>(kind, watch, clock_.get(), budget_.get(), &fanout_,
                                         webhooks_.get(), key_for);
  };
  task_watches_ = engine(task_kind_.get());
  index_watches_ = engine(index_kind_.get());
  import_watches_ = engine(import_kind_.get());
  asset_watches_ = engine(asset_kind_.get());
  indexed_asset_watches_ = engine(indexed_asset_kind_.get());

  deps_.api = api_.get();
  store_switch_ = std::make_unique<SwitchableStore>(store_.get());
  deps_.requests = store_switch_.get();
  deps_.owners = store_switch_.get();
  deps_.auth = auth_.get();
  deps_.audit = nullptr;
  deps_.streams = streams_.get();
  deps_.task_watches = task_watches_.get();
  deps_.index_watches = index_watches_.get();
  deps_.import_watches = import_watches_.get();
  deps_.asset_watches = asset_watches_.get();
  deps_.indexed_asset_watches = indexed_asset_watches_.get();
  deps_.clock = clock_.get();
  deps_.upload_budget = upload_budget_.get();
  deps_.config = [this] { return this->config(); };
  task_service_ = std::make_unique<TaskServiceImpl>(&deps_);
  upload_service_ = std::make_unique<UploadServiceImpl>(&deps_);
  integration_service_ = std::make_unique<IntegrationServiceImpl>(&deps_);
  asset_service_ = std::make_unique<AssetServiceImpl>(&deps_);

  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);  // as the gateway does
  builder.RegisterService(task_service_.get());
  builder.RegisterService(upload_service_.get());
  builder.RegisterService(integration_service_.get());
  builder.RegisterService(asset_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    fprintf(stderr, "harness: the gRPC server did not start\n");
    abort();
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxReceiveMessageBytes);
  channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials(),
                                       args);
  tasks_ = gw::TaskService::NewStub(channel_);
  uploads_ = gw::UploadService::NewStub(channel_);
  integrations_ = gw::IntegrationService::NewStub(channel_);
  assets_ = gw::AssetService::NewStub(channel_);
}

ServiceHarness::~ServiceHarness() {
  // Open streams end first (as at a gateway shutdown), then the server
  // waits for every call; only then may the engines and fakes go.
  streams_->EndAll();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  server_->Wait();
  clock_->CancelAll();
}

void ServiceHarness::EndStreams() {
  streams_->EndAll();
  ended_streams_.push_back(std::move(streams_));
  streams_ = std::make_unique<StreamRegistry>();
  deps_.streams = streams_.get();  // read by each new call
}

std::unique_ptr<grpc::ClientContext> ServiceHarness::Ctx(const std::string& token, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

absl::StatusOr<std::string> ServiceHarness::Reload(const GatewayConfig& config) {
  auto changes = auth_->Reload(config);
  if (!changes.ok()) return changes.status();
  absl::MutexLock lock(&config_mu_);
  config_ = std::make_shared<const GatewayConfig>(config);
  return changes;
}

std::shared_ptr<const GatewayConfig> ServiceHarness::config() const {
  absl::MutexLock lock(&config_mu_);
  return config_;
}

bool ServiceHarness::AwaitSubscribers(const WatchEngine& engine, int64_t n, absl::Duration timeout) {
  // The engine has no notification to wait on: look every millisecond,
  // for at most `timeout`.
  const absl::Time deadline = absl::Now() + timeout;
  while (engine.stats().subscribers != n) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

std::string Describe(const grpc::Status& s) {
  auto info = ErrorInfoOf(s);
  return absl::StrCat("code ", s.error_code(), " '", s.error_message(), "'",
                      info ? absl::StrCat(" reason ", info->reason(), " domain ", info->domain()) : "");
}

gw::Task MakeTask(const std::string& id, const std::string& index_id, gw::TaskStatus status, int64_t updated) {
  gw::Task t;
  t.set_id(id);
  t.set_index_id(index_id);
  t.set_video_id(absl::StrCat("v", id.substr(1)));
  t.set_status(status);
  std::string name = gw::TaskStatus_Name(status);
  t.set_status_text(absl::AsciiStrToLower(name.substr(sizeof("TASK_STATUS_") - 1)));
  t.mutable_update_time()->set_seconds(updated);
  return t;
}

std::string Bytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

}  // namespace tlgw::testing
