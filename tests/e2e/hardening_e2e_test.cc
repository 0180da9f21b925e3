// Issue 11's smaller items, against the real gateway and simulator
// processes: no configured key reaches a caller whatever upstream echoes,
// every error carries ErrorInfo with a stable reason, non-ASCII file names
// arrive intact, and SIGTERM ends the process within the drain time plus a
// small margin even with a hung upstream call, an upload and a watch open.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>

#include <functional>
#include <iostream>
#include <regex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "tests/support/postgres_fixture.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;
using ::tlgw::ErrorInfoOf;

// Every key the gateway is configured with: the media tenant's new key (the
// one it uses), its rotated-out old key, and the news tenant's key.
constexpr char kNewKey[] = "tlk_media_new_K3yQ9ZxW";
constexpr char kOldKey[] = "tlk_media_old_P4sT8rVb";
constexpr char kNewsKey[] = "tlk_news_N7wsKeyLmQ2";
constexpr char kSvcToken[] = "svc-token-7d1f0e";
constexpr char kReaderToken[] = "reader-token-3b9a2c";
constexpr char kLimitedToken[] = "limited-token-5e8d4a";
constexpr char kMissingTask[] = "aaaaaaaaaaaaaaaaaaaaaaaa";

std::string Sha256Hex(const std::string& s) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

std::unique_ptr<grpc::ClientContext> AuthCtx(const std::string& token, absl::Duration timeout = absl::Seconds(20)) {
  auto ctx = Ctx(timeout);
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return ctx;
}

std::string Describe(const grpc::Status& s) {
  auto info = ErrorInfoOf(s);
  return absl::StrCat(s.error_code(), " ", s.error_message(),
                      info ? absl::StrCat(" reason ", info->reason(), " domain ", info->domain()) : " (no ErrorInfo)");
}

// Everything a caller receives with a status: message, details and trailers.
std::string EverythingReceived(const grpc::Status& s, const grpc::ClientContext& ctx) {
  std::string all = absl::StrCat(s.error_message(), "|", s.error_details());
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    absl::StrAppend(&all, "|", std::string(k.data(), k.size()), "=", std::string(v.data(), v.size()));
  }
  for (const auto& [k, v] : ctx.GetServerInitialMetadata()) {
    absl::StrAppend(&all, "|", std::string(k.data(), k.size()), "=", std::string(v.data(), v.size()));
  }
  return all;
}

class HardeningE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--api_keys=", kNewKey, ",", kOldKey, ",", kNewsKey)}));
  }
  void TearDown() override {
    if (gateway_.process == nullptr) return;
    gateway_.process->Stop();
    for (const char* key : {kNewKey, kOldKey, kNewsKey}) {
      EXPECT_FALSE(absl::StrContains(gateway_.process->Log(), key)) << "a key reached the gateway's log";
    }
  }

  void StartGatewayWith(std::vector<std::string> extra = {}, std::string upstream = "",
                        std::string state_store = "") {
    json config = {
        {"tenants",
         // media is its account's only user: the tests read tasks it did not
         // create through the gateway (upstream errors for made-up ids).
         {{{"name", "media"},
           {"api_keys", {{{"env", "TL_KEY_MEDIA_NEW"}}, {{"env", "TL_KEY_MEDIA_OLD"}}}},
           {"sole_user_of_account", true}},
          {{"name", "news"}, {"api_keys", {{{"env", "TL_KEY_NEWS"}}}}}}},
        {"clients",
         {{{"id", "svc"}, {"token_sha256", Sha256Hex(kSvcToken)}, {"tenant", "media"}, {"methods", {"*"}}},
          {{"id", "reader"},
           {"token_sha256", Sha256Hex(kReaderToken)},
           {"tenant", "media"},
           {"methods", {"TaskService.GetTask"}},
           {"indexes", {kSeedIndex}}},
          {{"id", "limited"},
           {"token_sha256", Sha256Hex(kLimitedToken)},
           {"tenant", "media"},
           {"methods", {"*"}},
           {"rate_limit", {{"requests_per_second", 0.01}, {"burst", 1}}}}}}};
    GatewayArgs args;
    args.upstream_url = upstream.empty() ? sim_.Url("v1.3") : upstream;
    args.api_key = "";
    args.config_json = config.dump();
    args.env = {{"TL_KEY_MEDIA_NEW", kNewKey}, {"TL_KEY_MEDIA_OLD", kOldKey}, {"TL_KEY_NEWS", kNewsKey}};
    args.extra_args = std::move(extra);
    args.state_store = std::move(state_store);
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
    integrations_ = gw::IntegrationService::NewStub(gateway_.channel);
  }

  static std::string LogTail(const std::string& log) {
    return log.size() > 6000 ? log.substr(log.size() - 6000) : log;
  }

  // SIGTERM with a watch stream, an upload and a held call open: the
  // process exits within the drain time plus the documented 1 s margin
  // (plus `slack` for the process's own exit on a loaded machine).
  // `before_sigterm` runs last before the signal.
  void SigtermEndsWithinTheDrainTime(absl::Duration drain, absl::Duration slack, std::string state_store = "",
                                     std::function<void()> before_sigterm = nullptr) {
    ASSERT_NO_FATAL_FAILURE(StartGatewayWith({absl::StrCat("--drain_seconds=", absl::ToDoubleSeconds(drain))}, "",
                                             std::move(state_store)));
    // A watch stream, an upload waiting for its next chunk, and a read the
    // upstream holds far longer than the drain.
    auto wctx = AuthCtx(kSvcToken, absl::Seconds(60));
    auto watch = tasks_->WatchIndexTasks(wctx.get(), [] {
      gw::WatchIndexTasksRequest r;
      r.set_index_id(kSeedIndex);
      return r;
    }());
    // And a task's watch (a claimed poll, in Postgres mode, to hand back).
    gw::CreateUrlTaskRequest create;
    create.set_index_id(kSeedIndex);
    create.set_video_url("https://cdn.example.com/drain.mp4");
    gw::Task task;
    grpc::Status created = upload_->CreateUrlTask(AuthCtx(kSvcToken).get(), create, &task);
    ASSERT_TRUE(created.ok()) << Describe(created);
    gw::WatchTaskRequest wt;
    wt.set_task_id(task.id());
    auto tctx = AuthCtx(kSvcToken, absl::Seconds(60));
    auto task_watch = tasks_->WatchTask(tctx.get(), wt);
    gw::TaskEvent first;
    ASSERT_TRUE(task_watch->Read(&first));
    gw::Task uploaded;
    auto uctx = AuthCtx(kSvcToken, absl::Seconds(60));
    auto upload = upload_->UploadVideoFile(uctx.get(), &uploaded);
    gw::UploadVideoFileRequest h;
    h.mutable_header()->set_index_id(kSeedIndex);
    h.mutable_header()->set_filename("held.mp4");
    h.mutable_header()->set_size_bytes(1 << 20);
    ASSERT_TRUE(upload->Write(h));
    gw::UploadVideoFileRequest c;
    c.set_chunk(std::string(1000, 'x'));
    ASSERT_TRUE(upload->Write(c));
    control_->AddFault({{"method", "GET"}, {"path_regex", absl::StrCat("/tasks/", kMissingTask)},
                        {"kind", "latency"}, {"latency_ms", 30000}, {"count", -1}});
    grpc::Status held;
    absl::Time held_ended;
    std::thread unary([&] {
      gw::GetTaskRequest req;
      req.set_task_id(kMissingTask);
      gw::Task t;
      held = tasks_->GetTask(AuthCtx(kSvcToken, absl::Seconds(60)).get(), req, &t);
      held_ended = absl::Now();
    });
    // All four reached the gateway (the simulator logs a request only once
    // it has answered it, so the gateway's count says so).
    EXPECT_TRUE(Eventually(
        [&] {
          auto text = HttpGet(gateway_.admin_port, "/metrics");
          return text.ok() && MetricValue(*text, "tl_gateway_grpc_calls_in_flight") >= 4;
        },
        "the two watches, the upload and the held call in flight"));  // not ASSERT: `unary` must be joined
    if (before_sigterm) before_sigterm();
    const absl::Time sent = absl::Now();
    ASSERT_EQ(kill(gateway_.process->pid(), SIGTERM), 0);
    auto status = gateway_.process->WaitExit(drain + absl::Seconds(10));
    const absl::Duration took = absl::Now() - sent;
    ASSERT_TRUE(status.has_value()) << "still running 11 s after SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    // The documented margin is 1 s; half a second more for the process's own
    // exit and a loaded machine. (Before the fix: drain + 2 s and more.)
    EXPECT_LT(took, drain + absl::Seconds(1) + slack) << "SIGTERM took " << took << " with a drain of " << drain << "; the log ends:\n"
        << LogTail(gateway_.process->Log());
    std::cout << "SIGTERM to exit: " << took << " (drain " << drain << ")\n";
    unary.join();
    EXPECT_FALSE(held.ok());
    EXPECT_NE(held.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "the held call hung: " << Describe(held);
    EXPECT_LT(held_ended - sent, drain + absl::Seconds(2)) << Describe(held);
    gw::TaskEvent e;
    while (watch->Read(&e)) {
    }
    EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
    while (task_watch->Read(&e)) {
    }
    EXPECT_EQ(task_watch->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
    upload->WritesDone();
    EXPECT_FALSE(upload->Finish().ok());
  }

  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
  std::unique_ptr<gw::IntegrationService::Stub> integrations_;
};

TEST_F(HardeningE2E, NoConfiguredKeyReachesACallerWhateverUpstreamEchoes) {
  StartGatewayWith();
  // An error body echoing every key in its code, message, docs_url and
  // another field, and headers echoing them too.
  std::string echo = absl::StrCat(kNewKey, " ", kOldKey, " ", kNewsKey);
  json error_body = {{"code", absl::StrCat("parameter_invalid_", kNewKey)},
                     {"message", absl::StrCat("your key ", echo, " is odd")},
                     {"docs_url", absl::StrCat("https://docs.twelvelabs.io/?key=", kOldKey)},
                     {"details", {{"key", kNewsKey}}}};
  for (int status : {400, 429, 401, 503}) {
    control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/"}, {"kind", "status"}, {"status", status},
                        {"count", -1}, {"body", error_body.dump()},
                        {"headers", {{"X-Echo", echo}, {"Retry-After", "1"}}}});
    gw::GetTaskRequest req;
    req.set_task_id(kMissingTask);
    gw::Task task;
    auto ctx = AuthCtx(kSvcToken);
    grpc::Status s = tasks_->GetTask(ctx.get(), req, &task);
    control_->ClearFaults();
    ASSERT_FALSE(s.ok()) << status;
    std::string all = EverythingReceived(s, *ctx);
    for (const char* key : {kNewKey, kOldKey, kNewsKey}) {
      EXPECT_FALSE(absl::StrContains(all, key)) << "HTTP " << status << " leaked " << key << ": " << all;
    }
    EXPECT_TRUE(absl::StrContains(all, "[redacted]")) << all;
  }

  // A 2xx body whose fields, passed through to the caller, echo the keys.
  json task_body = {{"_id", "0123456789abcdef0123abcd"},
                    {"index_id", kSeedIndex},
                    {"status", kOldKey},
                    {"created_at", "2024-01-01T00:00:00Z"},
                    {"updated_at", "2024-01-01T00:00:10Z"},
                    {"system_metadata", {{"filename", absl::StrCat(kNewKey, ".mp4")}}},
                    {"hls", {{"video_url", absl::StrCat("https://cdn/?k=", kNewsKey)}, {"status", "COMPLETE"}}}};
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/0123456789abcdef0123abcd"}, {"kind", "status"},
                      {"status", 200}, {"count", -1}, {"body", task_body.dump()}});
  gw::GetTaskRequest req;
  req.set_task_id("0123456789abcdef0123abcd");
  gw::Task task;
  auto ctx = AuthCtx(kSvcToken);
  grpc::Status s = tasks_->GetTask(ctx.get(), req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  for (const char* key : {kNewKey, kOldKey, kNewsKey}) {
    EXPECT_FALSE(absl::StrContains(task.DebugString(), key)) << task.DebugString();
  }
  EXPECT_EQ(task.status_text(), "[redacted]");
}

// One gRPC call and what it should answer.
struct Case {
  std::string name;
  std::function<grpc::Status(grpc::ClientContext*)> call;
  std::string token;
  json fault;  // injected for this case, or null
  grpc::StatusCode code;
  std::string reason;
};

TEST_F(HardeningE2E, EveryErrorCarriesErrorInfoWithAStableReason) {
  StartGatewayWith({"--request_timeout_seconds=2"});
  auto get = [this](const std::string& id) {
    return [this, id](grpc::ClientContext* ctx) {
      gw::GetTaskRequest req;
      req.set_task_id(id);
      gw::Task t;
      return tasks_->GetTask(ctx, req, &t);
    };
  };
  auto list = [this](grpc::ClientContext* ctx) {
    gw::ListTasksRequest req;
    req.set_index_id(kSeedIndex);
    gw::ListTasksResponse r;
    return tasks_->ListTasks(ctx, req, &r);
  };
  auto upload_named = [this](const std::string& filename) {
    return [this, filename](grpc::ClientContext* ctx) {
      gw::Task t;
      auto w = upload_->UploadVideoFile(ctx, &t);
      gw::UploadVideoFileRequest h;
      h.mutable_header()->set_index_id(kSeedIndex);
      h.mutable_header()->set_filename(filename);
      h.mutable_header()->set_size_bytes(4);
      w->Write(h);
      gw::UploadVideoFileRequest c;
      c.set_chunk("abcd");
      w->Write(c);
      w->WritesDone();
      return w->Finish();
    };
  };
  auto external = [this](grpc::ClientContext* ctx) {
    gw::CreateExternalProviderTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_url("https://www.youtube.com/watch?v=dQw4w9WgXcQ");
    gw::Task t;
    return upload_->CreateExternalProviderTask(ctx, req, &t);
  };
  auto import_status = [this](grpc::ClientContext* ctx) {
    gw::GetImportStatusRequest req;
    req.set_integration("nope");
    req.set_index_id(kSeedIndex);
    gw::ImportStatus r;
    return integrations_->GetImportStatus(ctx, req, &r);
  };
  const std::string task_path = absl::StrCat("/tasks/", kMissingTask);
  auto fault = [&](json f) {
    f["method"] = "GET";
    f["path_regex"] = task_path;
    f["count"] = -1;
    return f;
  };
  std::vector<Case> cases = {
      {"no token", get(kMissingTask), "", nullptr, grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
      {"wrong token", get(kMissingTask), "nope", nullptr, grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
      {"method not allowed", list, kReaderToken, nullptr, grpc::StatusCode::PERMISSION_DENIED,
       "METHOD_NOT_ALLOWED"},
      {"bad id", get("nope"), kSvcToken, nullptr, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_FIELD"},
      {"hostile file name", upload_named("a\xe2\x80\xaegpj.exe"), kSvcToken, nullptr,
       grpc::StatusCode::INVALID_ARGUMENT, "INVALID_FIELD"},
      {"method not in API version", external, kSvcToken, nullptr, grpc::StatusCode::FAILED_PRECONDITION,
       "METHOD_NOT_IN_API_VERSION"},
      {"integration not configured", import_status, kSvcToken, nullptr, grpc::StatusCode::NOT_FOUND,
       "INTEGRATION_NOT_CONFIGURED"},
      {"upstream: no such task", get(kMissingTask), kSvcToken, nullptr, grpc::StatusCode::NOT_FOUND,
       "RESOURCE_NOT_EXIST"},
      {"upstream: 503", get(kMissingTask), kSvcToken, fault({{"kind", "status"}, {"status", 503}}),
       grpc::StatusCode::UNAVAILABLE, "INTERNAL_ERROR"},
      {"upstream: 502 without a body", get(kMissingTask), kSvcToken,
       fault({{"kind", "status"}, {"status", 502}, {"body", ""}}), grpc::StatusCode::UNAVAILABLE, "HTTP_502"},
      {"upstream: 429", get(kMissingTask), kSvcToken, fault({{"kind", "rate_limit"}}),
       grpc::StatusCode::RESOURCE_EXHAUSTED, "TOO_MANY_REQUESTS"},
      {"upstream: connection reset", get(kMissingTask), kSvcToken, fault({{"kind", "reset"}}),
       grpc::StatusCode::UNAVAILABLE, "UPSTREAM_CONNECTION_RESET"},
      {"upstream: malformed JSON", get(kMissingTask), kSvcToken, fault({{"kind", "malformed_json"}}),
       grpc::StatusCode::INTERNAL, "UPSTREAM_MALFORMED_RESPONSE"},
      {"upstream: no answer in time", get(kMissingTask), kSvcToken,
       fault({{"kind", "latency"}, {"latency_ms", 4000}}), grpc::StatusCode::DEADLINE_EXCEEDED,
       "UPSTREAM_TIMEOUT"},
      // Last: it spends the client's only token.
      {"client rate limit", get(kMissingTask), kLimitedToken, nullptr, grpc::StatusCode::NOT_FOUND,
       "RESOURCE_NOT_EXIST"},
      {"client rate limit, over", get(kMissingTask), kLimitedToken, nullptr, grpc::StatusCode::RESOURCE_EXHAUSTED,
       "CLIENT_RATE_LIMITED"},
  };
  const std::regex upper_snake("[A-Z][A-Z0-9_]*");
  for (const Case& c : cases) {
    control_->ClearFaults();
    if (!c.fault.is_null()) control_->AddFault(c.fault);
    auto ctx = c.token.empty() ? Ctx() : AuthCtx(c.token);
    grpc::Status s = c.call(ctx.get());
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << Describe(s);
    auto info = ErrorInfoOf(s);
    ASSERT_TRUE(info.has_value()) << c.name << ": no ErrorInfo in " << Describe(s);
    EXPECT_EQ(info->reason(), c.reason) << c.name << ": " << Describe(s);
    EXPECT_TRUE(std::regex_match(info->reason(), upper_snake)) << c.name << ": " << info->reason();
    EXPECT_FALSE(info->domain().empty()) << c.name;
  }
  control_->ClearFaults();
}

TEST_F(HardeningE2E, AnUnreachableUpstreamIsUnavailableWithItsReason) {
  // A port nothing listens on: connection refused.
  StartGatewayWith({}, "http://127.0.0.1:1/v1.3");
  gw::GetTaskRequest req;
  req.set_task_id(kMissingTask);
  gw::Task t;
  grpc::Status s = tasks_->GetTask(AuthCtx(kSvcToken).get(), req, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  auto info = ErrorInfoOf(s);
  ASSERT_TRUE(info.has_value()) << Describe(s);
  EXPECT_EQ(info->reason(), "UPSTREAM_CONNECT_FAILED") << Describe(s);
  EXPECT_EQ(info->domain(), "tl-gateway");
}

TEST_F(HardeningE2E, NonAsciiFileNamesArriveIntact) {
  StartGatewayWith();
  const std::string name = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d.mp4";
  gw::Task task;
  auto ctx = AuthCtx(kSvcToken);
  auto w = upload_->UploadVideoFile(ctx.get(), &task);
  gw::UploadVideoFileRequest h;
  h.mutable_header()->set_index_id(kSeedIndex);
  h.mutable_header()->set_filename(name);
  h.mutable_header()->set_size_bytes(4);
  ASSERT_TRUE(w->Write(h));
  gw::UploadVideoFileRequest c;
  c.set_chunk("abcd");
  ASSERT_TRUE(w->Write(c));
  w->WritesDone();
  grpc::Status s = w->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  json posts = control_->Requests("/tasks");
  ASSERT_FALSE(posts.empty());
  EXPECT_EQ(posts.front()["files"]["video_file"]["filename"], name) << posts.front().dump();
  EXPECT_EQ(task.system_metadata().filename(), name);
}

TEST_F(HardeningE2E, SigtermEndsWithinTheDrainTimeWithAHungCallAnUploadAndAWatchOpen) {
  SigtermEndsWithinTheDrainTime(absl::Seconds(1), absl::Milliseconds(500));
}

// The same with the shared PostgreSQL store (its watch store's threads,
// the claims handed back, the pool): the same bound, with no drain.
TEST_F(HardeningE2E, SigtermEndsWithinTheDrainTimeInPostgresMode) {
  auto pg = PostgresServer::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto db = (*pg)->CreateDatabase("shutdown");
  ASSERT_TRUE(db.ok()) << db.status();
  SigtermEndsWithinTheDrainTime(absl::ZeroDuration(), absl::Milliseconds(500), "postgres:" + *db);
}

// And with the database frozen (SIGSTOP: connections open, no answers)
// while a create with request_id waits on it: shutdown cuts the wait.
TEST_F(HardeningE2E, SigtermEndsWithinTheDrainTimeWithThePostgresDatabaseFrozen) {
  auto pg = PostgresServer::Create();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto db = (*pg)->CreateDatabase("frozen");
  ASSERT_TRUE(db.ok()) << db.status();
  grpc::Status waiting;
  std::thread create;
  SigtermEndsWithinTheDrainTime(absl::ZeroDuration(), absl::Milliseconds(500), "postgres:" + *db, [&] {
    ASSERT_TRUE((*pg)->Freeze().ok());
    create = std::thread([&] {
      gw::CreateUrlTaskRequest req;
      req.set_index_id(kSeedIndex);
      req.set_video_url("https://cdn.example.com/frozen.mp4");
      req.set_request_id("frozen-1");
      gw::Task t;
      waiting = upload_->CreateUrlTask(AuthCtx(kSvcToken, absl::Seconds(60)).get(), req, &t);
    });
    absl::SleepFor(absl::Milliseconds(300));  // the create reaches the database
  });
  if (create.joinable()) create.join();
  EXPECT_FALSE(waiting.ok());
  EXPECT_NE(waiting.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(waiting);
  ASSERT_TRUE((*pg)->Thaw().ok());
}

}  // namespace
}  // namespace tltest
