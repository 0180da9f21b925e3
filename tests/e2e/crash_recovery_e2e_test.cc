// Crash recovery of an idempotent create, with real processes: the gateway
// is killed (SIGKILL) after the simulator has made the task but before the
// gateway got the answer; a gateway restarted on the same state database
// answers the retry with that task instead of creating a second one.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kUrl[] = "https://cdn.example.com/videos/clip.mp4";
// The create's own deadline, and so how long its claim holds.
constexpr absl::Duration kCallDeadline = absl::Seconds(3);

class CrashRecoveryE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    const char* dir = std::getenv("TEST_TMPDIR");
    args_.upstream_url = sim_.Url("v1.3");
    args_.state_db = absl::StrCat(dir != nullptr ? dir : "/tmp", "/recovery-", getpid(), ".db");
    StartGatewayOrDie();
  }
  void TearDown() override {
    if (gateway_.process != nullptr) gateway_.process->Stop();
  }
  void StartGatewayOrDie() {
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args_));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    assets_ = gw::AssetService::NewStub(gateway_.channel);
  }
  // Kills the gateway once the simulator received `path`'s POST (which a
  // late_answer fault holds), with `call` still waiting, then restarts it
  // on the same state database.
  void KillAfterPost(const std::string& path, const std::function<void()>& call) {
    control_->AddFault({{"method", "POST"},
                        {"path_regex", "^" + path + "$"},
                        {"kind", "late_answer"},
                        {"latency_ms", 20000}});
    std::thread first(call);
    ASSERT_TRUE(Eventually([&] { return Requests("POST", path) == 1; },
                           "the simulator accepting the create"));
    ASSERT_EQ(::kill(gateway_.process->pid(), SIGKILL), 0);
    ASSERT_TRUE(gateway_.process->WaitExit(absl::Seconds(10)).has_value());
    first.join();
    gateway_.process.reset();
    control_->ClearFaults();
    StartGatewayOrDie();
  }
  // Repeats `call` as a client told ABORTED would, until answered.
  static grpc::Status RetryWhileAborted(const std::function<grpc::Status()>& call) {
    grpc::Status s = call();
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (s.error_code() == grpc::StatusCode::ABORTED && absl::Now() < give_up) {
      absl::SleepFor(tlgw::RetryDelayOf(s).value_or(absl::Seconds(1)));
      s = call();
    }
    return s;
  }
  grpc::Status Create(const std::string& request_id, gw::Task* task, absl::Duration timeout) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url(kUrl);
    req.set_request_id(request_id);
    return upload_->CreateUrlTask(Ctx(timeout).get(), req, task);
  }
  size_t Requests(const std::string& method, const std::string& path) {
    size_t n = 0;
    for (const auto& r : control_->Requests(path)) n += r["method"] == method && r["path"] == path;
    return n;
  }
  // The simulator's own list at `path` (newest first).
  nlohmann::json Upstream(const std::string& path) {
    httplib::Client client("127.0.0.1", sim_.port);
    auto r = client.Get(path.c_str(), {{"x-api-key", kTestApiKey}});
    if (!r || r->status != 200) return nlohmann::json::array();
    return nlohmann::json::parse(r->body)["data"];
  }
  // The simulator's own list of the tasks named clip.mp4 in the index.
  nlohmann::json UpstreamTasks() {
    httplib::Client client("127.0.0.1", sim_.port);
    auto r = client.Get(absl::StrCat("/v1.3/tasks?index_id=", kSeedIndex, "&filename=clip.mp4").c_str(),
                        {{"x-api-key", kTestApiKey}});
    if (!r || r->status != 200) return nlohmann::json::array();
    return nlohmann::json::parse(r->body)["data"];
  }

  GatewayArgs args_;
  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::AssetService::Stub> assets_;
};

TEST_F(CrashRecoveryE2E, AGatewayKilledAfterUpstreamMadeTheTaskAnswersTheRetryWithThatTask) {
  // The simulator makes the task, then holds the answer long past the
  // call's deadline.
  control_->AddFault({{"method", "POST"},
                      {"path_regex", "^/v1\\.3/tasks$"},
                      {"kind", "late_answer"},
                      {"latency_ms", 20000}});
  const absl::Time started = absl::Now();
  grpc::Status first_status;
  std::thread first([&] {
    gw::Task ignored;
    first_status = Create("crash-1", &ignored, kCallDeadline);
  });
  ASSERT_TRUE(Eventually([&] { return Requests("POST", "/v1.3/tasks") == 1; },
                         "the simulator accepting the create"));
  ASSERT_EQ(UpstreamTasks().size(), 1u);
  ASSERT_EQ(::kill(gateway_.process->pid(), SIGKILL), 0);
  ASSERT_TRUE(gateway_.process->WaitExit(absl::Seconds(10)).has_value());
  first.join();
  EXPECT_FALSE(first_status.ok());
  gateway_.process.reset();

  StartGatewayOrDie();
  // Before the killed create's deadline (plus a 2 s margin) its claim
  // holds: the retry is told to come back. Checked only when the restart
  // was quick enough to ask that early.
  gw::Task task;
  grpc::Status s = Create("crash-1", &task, absl::Seconds(10));
  if (absl::Now() < started + kCallDeadline + absl::Seconds(1)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
    EXPECT_TRUE(tlgw::RetryDelayOf(s).has_value());
  }
  // Retry as a client would, as told, until answered.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (s.error_code() == grpc::StatusCode::ABORTED && absl::Now() < give_up) {
    absl::SleepFor(tlgw::RetryDelayOf(s).value_or(absl::Seconds(1)));
    s = Create("crash-1", &task, absl::Seconds(10));
  }
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_GE(absl::Now(), started + kCallDeadline) << "taken over before the create's deadline";

  nlohmann::json upstream = UpstreamTasks();
  ASSERT_EQ(upstream.size(), 1u) << upstream.dump();
  EXPECT_EQ(upstream[0]["_id"], task.id()) << "the retry answers the task the killed gateway made";
  EXPECT_EQ(Requests("POST", "/v1.3/tasks"), 1u) << "created once";
  EXPECT_GE(Requests("GET", "/v1.3/tasks"), 1u) << "the gateway looked for it";

  // From now on the request_id answers that task without looking again.
  const size_t lists = Requests("GET", "/v1.3/tasks");
  gw::Task again;
  ASSERT_TRUE(Create("crash-1", &again, absl::Seconds(10)).ok());
  EXPECT_EQ(again.id(), task.id());
  EXPECT_EQ(Requests("GET", "/v1.3/tasks"), lists);
  EXPECT_EQ(Requests("POST", "/v1.3/tasks"), 1u);
}

TEST_F(CrashRecoveryE2E, AKilledCreateAssetIsAnsweredWithTheAssetUpstreamMade) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/videos/crash-asset.mp4");
  req.set_request_id("asset-crash-1");
  auto create = [&](gw::Asset* out) {
    return assets_->CreateAsset(Ctx(absl::Seconds(10)).get(), req, out);
  };
  ASSERT_NO_FATAL_FAILURE(KillAfterPost("/v1.3/assets", [&] {
    gw::Asset ignored;
    assets_->CreateAsset(Ctx(kCallDeadline).get(), req, &ignored);
  }));
  gw::Asset asset;
  grpc::Status s = RetryWhileAborted([&] { return create(&asset); });
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  nlohmann::json upstream = Upstream("/v1.3/assets?filename=crash-asset.mp4");
  ASSERT_EQ(upstream.size(), 1u) << upstream.dump();
  EXPECT_EQ(upstream[0]["_id"], asset.id())
      << "the retry answers the asset the killed gateway made";
  EXPECT_EQ(Requests("POST", "/v1.3/assets"), 1u) << "created once";
  EXPECT_GE(Requests("GET", "/v1.3/assets"), 1u) << "the gateway looked for it";
  gw::Asset again;
  ASSERT_TRUE(create(&again).ok());
  EXPECT_EQ(again.id(), asset.id());
}

TEST_F(CrashRecoveryE2E, AKilledIndexAssetIsAnsweredWithTheIndexedAssetUpstreamMade) {
  gw::CreateAssetRequest creq;
  creq.set_url("https://cdn.example.com/videos/crash-index.mp4");
  gw::Asset asset;
  ASSERT_TRUE(assets_->CreateAsset(Ctx().get(), creq, &asset).ok());
  control_->AdvanceClock(5);  // ready
  gw::IndexAssetRequest req;
  req.set_index_id(kSeedIndex);
  req.set_asset_id(asset.id());
  req.set_request_id("index-crash-1");
  const std::string path = absl::StrCat("/v1.3/indexes/", kSeedIndex, "/indexed-assets");
  ASSERT_NO_FATAL_FAILURE(KillAfterPost(path, [&] {
    gw::IndexedAsset ignored;
    assets_->IndexAsset(Ctx(kCallDeadline).get(), req, &ignored);
  }));
  gw::IndexedAsset indexed;
  grpc::Status s = RetryWhileAborted(
      [&] { return assets_->IndexAsset(Ctx(absl::Seconds(10)).get(), req, &indexed); });
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  nlohmann::json upstream = Upstream(path);
  ASSERT_EQ(upstream.size(), 1u) << upstream.dump();
  EXPECT_EQ(upstream[0]["_id"], indexed.id())
      << "the retry answers the indexed asset the killed gateway made";
  EXPECT_EQ(indexed.asset_id(), asset.id());
  EXPECT_EQ(Requests("POST", path), 1u) << "indexed once";
  EXPECT_GE(Requests("GET", path), 1u) << "the gateway looked for it";
}

}  // namespace
}  // namespace tltest
