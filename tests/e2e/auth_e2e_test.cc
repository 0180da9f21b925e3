// Clients, tenants and keys end to end: tokens, permissions, tenant
// isolation under a shared upstream key, rate limits, rotation and
// revocation while a stream is open, TLS and mutual TLS, the audit trail,
// and a scan of everything the gateway printed for secrets.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

// Tokens and keys used by this suite; none may ever appear in any output.
constexpr char kMediaToken[] = "tlgw_media_Q8v2LrXw0pZk";
constexpr char kNewsToken[] = "tlgw_news_M3n7BsYe4qTa";
constexpr char kReaderToken[] = "tlgw_reader_H5c9VdKo2uWj";
constexpr char kLimitedToken[] = "tlgw_limited_F1g6NtRy8iEs";
constexpr char kSharedKey[] = "tlk_shared_Xh4Tq9Wm2Lp7";
constexpr char kRotatedKey[] = "tlk_rotated_Bn6Yc3Vz8Kd1";


std::string WriteFile(const std::string& name, const std::string& content) {
  std::string path = TempPath(name);
  std::ofstream(path) << content;
  return path;
}

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (p != nullptr) pclose(p);
  return out;
}

std::string HashOf(const std::string& token) {
  // The gateway's own command, as an operator would use it.
  std::string cmd = absl::StrCat("printf '%s' '", token, "' | ", Runfile("server/gateway"), " hash-token -");
  std::string out = Sh(cmd);
  return std::string(absl::StripAsciiWhitespace(out));
}

// A reader that collects TaskEvents on its own thread.
class Stream {
 public:
  Stream(gw::TaskService::Stub* stub, const std::string& token, const std::string& task_id) {
    ctx_.AddMetadata("authorization", "Bearer " + token);
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    gw::WatchTaskRequest req;
    req.set_task_id(task_id);
    reader_ = stub->WatchTask(&ctx_, req);
    thread_ = std::thread([this] {
      gw::TaskEvent e;
      while (reader_->Read(&e)) {
        absl::MutexLock l(&mu_);
        events_.push_back(e);
      }
      grpc::Status s = reader_->Finish();
      absl::MutexLock l(&mu_);
      status_ = s;
      done_ = true;
    });
  }
  ~Stream() {
    ctx_.TryCancel();
    thread_.join();
  }
  size_t count() {
    absl::MutexLock l(&mu_);
    return events_.size();
  }
  bool WaitDone(absl::Duration t) {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), t);
  }
  bool done() {
    absl::MutexLock l(&mu_);
    return done_;
  }
  grpc::Status status() {
    absl::MutexLock l(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<gw::TaskEvent>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<gw::TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

class AuthE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--api_keys=", kSharedKey, ",", kRotatedKey)}));
    key_file_ = WriteFile("shared.key", kSharedKey);
    config_path_ = TempPath("auth-config.json");
    WriteConfig(Config());
  }
  void TearDown() override {
    if (gateway_.process == nullptr) return;
    gateway_.process->Stop();
    ScanForSecrets(gateway_.process->Log());
  }

  json Config() {
    // Two tenants sharing one upstream key: only the gateway keeps them apart.
    json key = json::array({{{"file", key_file_}}});
    return json{
        {"tenants", {{{"name", "media"}, {"api_keys", key}}, {{"name", "news"}, {"api_keys", key}}}},
        {"clients",
         {{{"id", "media-svc"}, {"token_sha256", HashOf(kMediaToken)}, {"tenant", "media"}, {"methods", {"*"}}},
          {{"id", "news-svc"}, {"token_sha256", HashOf(kNewsToken)}, {"tenant", "news"}, {"methods", {"*"}}},
          {{"id", "reader"},
           {"token_sha256", HashOf(kReaderToken)},
           {"tenant", "media"},
           {"methods", {"TaskService.GetTask", "TaskService.ListTasks"}},
           {"indexes", {kSeedIndex}}},
          {{"id", "limited"},
           {"token_sha256", HashOf(kLimitedToken)},
           {"tenant", "news"},
           {"methods", {"*"}},
           {"rate_limit", {{"requests_per_second", 1}, {"burst", 2}}}}}},
        {"integrations", {{{"name", "marketing"}, {"integration_id", kSeedIntegration}, {"tenant", "media"}}}}};
  }

  void WriteConfig(const json& config) {
    std::string tmp = config_path_ + ".tmp";
    std::ofstream(tmp) << config.dump(2);
    std::rename(tmp.c_str(), config_path_.c_str());
  }

  void StartGatewayWith(std::vector<std::string> extra = {}, std::shared_ptr<grpc::ChannelCredentials> creds = nullptr,
                        std::string host = "127.0.0.1") {
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.api_key = "";
    args.extra_args = {"--config=" + config_path_, "--config_poll_seconds=0", "--watch_interval_seconds=0.2",
                       "--watch_min_interval_seconds=0.1"};
    args.extra_args.insert(args.extra_args.end(), extra.begin(), extra.end());
    args.channel_credentials = creds;
    args.target_host = host;
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
    integrations_ = gw::IntegrationService::NewStub(gateway_.channel);
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = Ctx();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  std::string Create(const std::string& token) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/owned.mp4");
    gw::Task task;
    grpc::Status s = upload_->CreateUrlTask(As(token).get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task.id();
  }

  grpc::Status Get(const std::string& token, const std::string& id, gw::Task* task = nullptr) {
    gw::Task t;
    gw::GetTaskRequest req;
    req.set_task_id(id);
    return tasks_->GetTask(As(token).get(), req, task != nullptr ? task : &t);
  }

  void ScanForSecrets(const std::string& text) {
    for (const char* secret : {kMediaToken, kNewsToken, kReaderToken, kLimitedToken, kSharedKey, kRotatedKey}) {
      EXPECT_FALSE(absl::StrContains(text, secret)) << "a secret leaked into the gateway's output";
    }
  }

  std::string key_file_;
  std::string config_path_;
  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
  std::unique_ptr<gw::IntegrationService::Stub> integrations_;
};

TEST_F(AuthE2E, MissingWrongOrMalformedTokensAreUnauthenticated) {
  StartGatewayWith();
  gw::Task t;
  for (const std::string& header : {std::string(), std::string("Bearer wrong-token"), std::string("Basic abc"),
                                    std::string("Bearer ")}) {
    auto ctx = Ctx();
    if (!header.empty()) ctx->AddMetadata("authorization", header);
    gw::GetTaskRequest req;
    req.set_task_id("aaaaaaaaaaaaaaaaaaaaaaaa");
    grpc::Status s = tasks_->GetTask(ctx.get(), req, &t);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "'" << header << "': " << s.error_message();
    ScanForSecrets(s.error_message());
  }
  // Streams too.
  Stream watch(tasks_.get(), "nope", "aaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_TRUE(watch.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(watch.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(control_->Requests().empty()) << "unauthenticated calls reached upstream";
}

TEST_F(AuthE2E, TenantsCannotSeeEachOthersTasksInAnyMethod) {
  StartGatewayWith();
  std::string mine = Create(kMediaToken);
  ASSERT_FALSE(mine.empty());
  gw::Task task;
  ASSERT_TRUE(Get(kMediaToken, mine, &task).ok());
  // The other tenant: the same answer as for a task that does not exist.
  grpc::Status theirs = Get(kNewsToken, mine);
  grpc::Status missing = Get(kNewsToken, "aaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(theirs.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(absl::StrReplaceAll(theirs.error_message(), {{mine, "ID"}}),
            absl::StrReplaceAll(missing.error_message(), {{"aaaaaaaaaaaaaaaaaaaaaaaa", "ID"}}));

  gw::DeleteTaskRequest del;
  del.set_task_id(mine);
  google::protobuf::Empty empty;
  EXPECT_EQ(tasks_->DeleteTask(As(kNewsToken).get(), del, &empty).error_code(), grpc::StatusCode::NOT_FOUND);

  Stream watch(tasks_.get(), kNewsToken, mine);
  ASSERT_TRUE(watch.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(watch.status().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(watch.count(), 0u);

  gw::ListTasksRequest list;
  list.set_index_id(kSeedIndex);
  gw::ListTasksResponse resp;
  ASSERT_TRUE(tasks_->ListTasks(As(kNewsToken).get(), list, &resp).ok());
  for (const auto& t : resp.tasks()) EXPECT_NE(t.id(), mine);
  ASSERT_TRUE(tasks_->ListTasks(As(kMediaToken).get(), list, &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), mine);

  // The integration belongs to media: news cannot even see it.
  gw::ListIntegrationsResponse ints;
  ASSERT_TRUE(integrations_->ListIntegrations(As(kNewsToken).get(), {}, &ints).ok());
  EXPECT_EQ(ints.integrations_size(), 0);
  ASSERT_TRUE(integrations_->ListIntegrations(As(kMediaToken).get(), {}, &ints).ok());
  EXPECT_EQ(ints.integrations_size(), 1);
  gw::ImportVideosRequest imp;
  imp.set_integration("marketing");
  imp.set_index_id(kSeedIndex);
  gw::ImportVideosResponse imported;
  EXPECT_EQ(integrations_->ImportVideos(As(kNewsToken).get(), imp, &imported).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Media's own delete works (the task is not terminal yet: upstream says so).
  EXPECT_EQ(tasks_->DeleteTask(As(kMediaToken).get(), del, &empty).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(AuthE2E, MethodAndIndexRestrictions) {
  StartGatewayWith();
  std::string id = Create(kMediaToken);
  ASSERT_TRUE(Get(kReaderToken, id).ok());
  gw::CreateUrlTaskRequest create;
  create.set_index_id(kSeedIndex);
  create.set_video_url("https://cdn.example.com/x.mp4");
  gw::Task t;
  grpc::Status s = upload_->CreateUrlTask(As(kReaderToken).get(), create, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "CreateUrlTask")) << s.error_message();
  gw::ListTasksRequest list;
  list.set_index_id("bbbbbbbbbbbbbbbbbbbbbbbb");
  gw::ListTasksResponse resp;
  EXPECT_EQ(tasks_->ListTasks(As(kReaderToken).get(), list, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  list.clear_index_id();
  EXPECT_EQ(tasks_->ListTasks(As(kReaderToken).get(), list, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  list.set_index_id(kSeedIndex);
  EXPECT_TRUE(tasks_->ListTasks(As(kReaderToken).get(), list, &resp).ok());
}

TEST_F(AuthE2E, PerClientRateLimit) {
  StartGatewayWith();
  std::vector<grpc::StatusCode> codes;
  for (int i = 0; i < 4; ++i) codes.push_back(Get(kLimitedToken, "aaaaaaaaaaaaaaaaaaaaaaaa").error_code());
  // Burst of 2, then limited.
  EXPECT_EQ(codes[0], grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(codes[1], grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(codes[3], grpc::StatusCode::RESOURCE_EXHAUSTED);
  gw::GetTaskRequest req;
  req.set_task_id("aaaaaaaaaaaaaaaaaaaaaaaa");
  gw::Task t;
  grpc::Status s = tasks_->GetTask(As(kLimitedToken).get(), req, &t);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(s.error_details()));
  bool retry_info = false;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) retry_info = info.retry_delay().seconds() > 0 || info.retry_delay().nanos() > 0;
  }
  EXPECT_TRUE(retry_info);
  // Another client of another tenant is not affected.
  EXPECT_EQ(Get(kNewsToken, "aaaaaaaaaaaaaaaaaaaaaaaa").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(AuthE2E, RotationAndRevocationWithoutRestart) {
  StartGatewayWith();
  std::string id = Create(kMediaToken);
  Stream media(tasks_.get(), kMediaToken, id);
  Stream news_watch_other(tasks_.get(), kNewsToken, Create(kNewsToken));
  ASSERT_TRUE(Eventually([&] { return media.count() >= 1 && news_watch_other.count() >= 1; }, "snapshots"));

  // Rotate the shared key: the file changes, then the config is reloaded.
  std::ofstream(key_file_) << kRotatedKey;
  ASSERT_EQ(kill(gateway_.process->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(gateway_.process->Log(), "key rotated"); }, "reload log"));
  control_->ClearRequests();
  control_->AdvanceClock(2.0);
  ASSERT_TRUE(Eventually([&] { return media.count() >= 2; }, "the stream's next event"));
  EXPECT_FALSE(media.done());
  json polls = control_->Requests("/tasks/" + id);
  ASSERT_FALSE(polls.empty());
  EXPECT_EQ(polls.back()["api_key"], kRotatedKey) << "the open stream's next poll did not use the new key";

  // Revoke media-svc and add a new client, in one edit.
  json config = Config();
  config["clients"].erase(0);
  config["clients"].push_back({{"id", "media-v2"}, {"token_sha256", HashOf("tlgw_media_v2_token_7Jq")},
                               {"tenant", "media"}, {"methods", {"*"}}});
  WriteConfig(config);
  ASSERT_EQ(kill(gateway_.process->pid(), SIGHUP), 0);
  ASSERT_TRUE(media.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(media.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(news_watch_other.done()) << "another client's stream was disturbed";
  EXPECT_EQ(Get(kMediaToken, id).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Get("tlgw_media_v2_token_7Jq", id).ok()) << "the new client of the same tenant sees the task";

  // A broken config is refused and the running one stays.
  std::ofstream(config_path_) << "{ not json";
  ASSERT_EQ(kill(gateway_.process->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(gateway_.process->Log(), "NOT reloaded"); }, "refusal"));
  EXPECT_TRUE(Get("tlgw_media_v2_token_7Jq", id).ok());
}

TEST_F(AuthE2E, AReloadNeverOpensTheGatewayNorMovesItsUpstream) {
  StartGatewayWith();
  std::string id = Create(kMediaToken);
  // Every client removed: open, token-less mode if it were applied.
  json config = Config();
  config.erase("clients");
  WriteConfig(config);
  ASSERT_EQ(kill(gateway_.process->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(gateway_.process->Log(), "token-less mode"); },
                         "the refusal in the log"));
  EXPECT_EQ(Get("", id).error_code(), grpc::StatusCode::UNAUTHENTICATED) << "the gateway opened up";
  EXPECT_TRUE(Get(kMediaToken, id).ok()) << "the running configuration stays";

  // A new upstream is refused, not silently ignored.
  config = Config();
  config["upstream_url"] = "http://127.0.0.1:1/v1.3";
  WriteConfig(config);
  ASSERT_EQ(kill(gateway_.process->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(gateway_.process->Log(), "upstream_url changed"); },
                         "the refusal in the log"));
  EXPECT_TRUE(Get(kMediaToken, id).ok()) << "calls still go to the running upstream";
}

TEST_F(AuthE2E, ConfigFileChangesAreNoticedWithoutASignal) {
  StartGatewayWith({"--config_poll_seconds=0.2"});
  EXPECT_EQ(Get("tlgw_new_client_4Rf", "aaaaaaaaaaaaaaaaaaaaaaaa").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  json config = Config();
  config["clients"].push_back({{"id", "new-client"}, {"token_sha256", HashOf("tlgw_new_client_4Rf")},
                               {"tenant", "news"}, {"methods", {"*"}}});
  WriteConfig(config);
  EXPECT_TRUE(Eventually(
      [&] { return Get("tlgw_new_client_4Rf", "aaaaaaaaaaaaaaaaaaaaaaaa").error_code() == grpc::StatusCode::NOT_FOUND; },
      "the new client to work"));
}

TEST_F(AuthE2E, AuditTrailHasOneLinePerCallWithoutSecrets) {
  std::string audit = TempPath("audit.jsonl");
  StartGatewayWith({"--audit_log=" + audit});
  std::string id = Create(kMediaToken);
  {
    auto ctx = As(kMediaToken);
    ctx->AddMetadata("x-request-id", "req-7f3a");
    gw::GetTaskRequest req;
    req.set_task_id(id);
    gw::Task t;
    ASSERT_TRUE(tasks_->GetTask(ctx.get(), req, &t).ok());
  }
  Get("bad-token", id).error_code();
  gateway_.process->Stop();
  std::ifstream in(audit);
  std::string line, all;
  int get_ok = 0, unauthenticated = 0;
  while (std::getline(in, line)) {
    all += line + "\n";
    json j = json::parse(line);
    if (j["method"] == "/twelvelabs.gateway.v1.TaskService/GetTask" && j["code"] == "OK") {
      ++get_ok;
      EXPECT_EQ(j["client_id"], "media-svc");
      EXPECT_EQ(j["tenant"], "media");
      EXPECT_EQ(j["resources"]["task_id"], id);
      EXPECT_GE(j["upstream_requests"].get<int>(), 1);
      EXPECT_TRUE(j.contains("latency_ms"));
      EXPECT_EQ(j["request_id"], "req-7f3a");
      EXPECT_GT(j["call_id"].get<int>(), 0);
    }
    if (j["code"] == "UNAUTHENTICATED") ++unauthenticated;
  }
  EXPECT_EQ(get_ok, 1) << all;
  EXPECT_EQ(unauthenticated, 1) << all;
  ScanForSecrets(all);
}

class TlsE2E : public AuthE2E {
 protected:
  void SetUp() override {
    AuthE2E::SetUp();
    dir_ = TempPath("pki");
    std::string script = absl::StrCat(
        "set -e; mkdir -p ", dir_, "; cd ", dir_, ";",
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca;",
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost;",
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext;",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile san.ext;",
        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=cert-svc;",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2;",
        "echo done");
    std::string out = Sh(script);
    ASSERT_TRUE(absl::StrContains(out, "done")) << out;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(TlsE2E, TlsServesAndRefusesPlaintext) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = Read("ca.pem");
  StartGatewayWith({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key"},
                   grpc::SslCredentials(opts), "localhost");
  EXPECT_EQ(Get(kMediaToken, "aaaaaaaaaaaaaaaaaaaaaaaa").error_code(), grpc::StatusCode::NOT_FOUND);
  auto plain = gw::TaskService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_.port), grpc::InsecureChannelCredentials()));
  gw::GetTaskRequest req;
  req.set_task_id("aaaaaaaaaaaaaaaaaaaaaaaa");
  gw::Task t;
  auto ctx = As(kMediaToken);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
  EXPECT_EQ(plain->GetTask(ctx.get(), req, &t).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsE2E, MutualTlsIdentifiesTheClientByItsCertificate) {
  json config = Config();
  config["clients"].push_back(
      {{"id", "cert-svc"}, {"certificate_name", "cert-svc"}, {"tenant", "media"}, {"methods", {"TaskService.*"}}});
  WriteConfig(config);
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = Read("ca.pem");
  opts.pem_private_key = Read("client.key");
  opts.pem_cert_chain = Read("client.pem");
  StartGatewayWith({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                    "--tls_client_ca=" + dir_ + "/ca.pem"},
                   grpc::SslCredentials(opts), "localhost");
  // No token: the certificate says who this is.
  EXPECT_EQ(Get("", "aaaaaaaaaaaaaaaaaaaaaaaa").error_code(), grpc::StatusCode::NOT_FOUND);
  gw::CreateUrlTaskRequest create;
  create.set_index_id(kSeedIndex);
  create.set_video_url("https://cdn.example.com/x.mp4");
  gw::Task t;
  EXPECT_EQ(upload_->CreateUrlTask(As("").get(), create, &t).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Without a client certificate the handshake fails.
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Read("ca.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto stub = gw::TaskService::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", gateway_.port), grpc::SslCredentials(no_cert), args));
  gw::GetTaskRequest req;
  req.set_task_id("aaaaaaaaaaaaaaaaaaaaaaaa");
  auto ctx = As(kMediaToken);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
  EXPECT_EQ(stub->GetTask(ctx.get(), req, &t).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(OpenMode, RefusesToServeTokenlessBeyondLoopbackUnlessAllowed) {
  std::vector<std::string> argv = {Runfile("server/gateway"), "--listen=0.0.0.0:0", "--state_db=:memory:"};
  auto p = Process::Start(argv, {{"TWELVELABS_API_KEY", "k"}}, TempPath("open.log"));
  ASSERT_TRUE(p.ok());
  auto st = (*p)->WaitExit(absl::Seconds(20));
  ASSERT_TRUE(st.has_value());
  EXPECT_NE(WEXITSTATUS(*st), 0);
  EXPECT_TRUE(absl::StrContains((*p)->Log(), "--allow_unauthenticated")) << (*p)->Log();
}

TEST(HashToken, PrintsATokenAndItsHash) {
  std::string out = Sh(Runfile("server/gateway") + " hash-token");
  EXPECT_TRUE(absl::StrContains(out, "token:        tlgw_")) << out;
  EXPECT_TRUE(absl::StrContains(out, "token_sha256: ")) << out;
  std::string hash = Sh(absl::StrCat("printf '%s' abc | ", Runfile("server/gateway"), " hash-token -"));
  EXPECT_EQ(absl::StripAsciiWhitespace(hash), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace tltest
