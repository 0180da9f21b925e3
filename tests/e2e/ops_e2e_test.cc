// Operating the gateway: metrics after a known sequence of calls (and
// promtool's verdict on them), graceful shutdown with a stream open and a
// unary call in flight, the second signal, health and reflection.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "health.grpc.pb.h"
#include "reflection.grpc.pb.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

class OpsE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.extra_args = {"--watch_interval_seconds=0.2", "--watch_min_interval_seconds=0.1"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
  }

  std::string CreateTask() {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/ops.mp4");
    gw::Task task;
    EXPECT_TRUE(upload_->CreateUrlTask(Ctx().get(), req, &task).ok());
    return task.id();
  }
  grpc::Status Get(const std::string& id) {
    gw::GetTaskRequest req;
    req.set_task_id(id);
    gw::Task t;
    return tasks_->GetTask(Ctx().get(), req, &t);
  }
  // Waits until the gateway serves at least `n` calls and streams: a call
  // started on another thread has reached it (a fixed sleep can be too
  // short under load).
  ::testing::AssertionResult InFlight(int n) {
    return Eventually(
        [&] {
          auto text = HttpGet(gateway_.admin_port, "/metrics");
          return text.ok() && MetricValue(*text, "tl_gateway_grpc_calls_in_flight") >= n;
        },
        absl::StrCat(n, " calls in flight"));
  }

  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
};

TEST_F(OpsE2E, MetricsCountAKnownSequenceAndPassPromtool) {
  std::string id = CreateTask();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Get(id).ok());
  EXPECT_EQ(Get("aaaaaaaaaaaaaaaaaaaaaaaa").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("bad").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto text = HttpGet(gateway_.admin_port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string get = "method=\"/twelvelabs.gateway.v1.TaskService/GetTask\"";
  EXPECT_EQ(MetricValue(*text, "tl_gateway_grpc_calls_total{" + get + ",code=\"OK\"}"), 3) << *text;
  EXPECT_EQ(MetricValue(*text, "tl_gateway_grpc_calls_total{" + get + ",code=\"NOT_FOUND\"}"), 1);
  EXPECT_EQ(MetricValue(*text, "tl_gateway_grpc_calls_total{" + get + ",code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(MetricValue(*text, "tl_gateway_grpc_calls_duration_seconds_count{" + get + ",code=\"OK\"}"), 3);
  // Upstream: the create's POST and read-back, three reads, one unknown id.
  EXPECT_EQ(MetricValue(*text, "tl_gateway_upstream_requests_total{endpoint=\"POST /tasks\",status=\"201\"}"), 1);
  EXPECT_EQ(MetricValue(*text, "tl_gateway_upstream_requests_total{endpoint=\"GET /tasks/{id}\",status=\"200\"}"), 4);
  EXPECT_EQ(MetricValue(*text, "tl_gateway_upstream_requests_total{endpoint=\"GET /tasks/{id}\",status=\"400\"}"), 1);
  EXPECT_EQ(MetricValue(*text, "tl_gateway_upstream_requests_total"), -1) << "no unlabelled series";
  EXPECT_FALSE(absl::StrContains(*text, id)) << "a task id leaked into a metric label";
  EXPECT_FALSE(absl::StrContains(*text, kTestApiKey));

  std::string path = TempPath("metrics.txt");
  std::ofstream(path) << *text;
  FILE* p = popen(absl::StrCat("promtool check metrics < ", path, " 2>&1; echo rc=$?").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  EXPECT_TRUE(absl::StrContains(out, "rc=0")) << "promtool (Debian's prometheus package) said:\n" << out;

  ASSERT_TRUE(HttpGet(gateway_.admin_port, "/healthz").ok());
  ASSERT_TRUE(HttpGet(gateway_.admin_port, "/readyz").ok());
}

TEST_F(OpsE2E, GracefulShutdownDrainsUnaryCallsAndEndsStreamsWithResumeAdvice) {
  std::string id = CreateTask();
  auto stream_ctx = Ctx(absl::Seconds(30));
  gw::WatchTaskRequest wreq;
  wreq.set_task_id(id);
  auto reader = tasks_->WatchTask(stream_ctx.get(), wreq);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  // A unary call that will still be waiting on upstream when SIGTERM comes:
  // a read of another task, so that the watch's own polls cannot take the
  // one slow answer.
  const std::string other = CreateTask();
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/" + other + "$"}, {"kind", "latency"},
                      {"latency_ms", 1500}, {"count", 1}});
  grpc::Status slow;
  std::atomic<bool> unary_done{false};
  std::thread unary([&] {
    slow = Get(other);
    unary_done = true;
  });
  EXPECT_TRUE(InFlight(2)) << "the stream and the unary call";  // not ASSERT: `unary` must be joined
  ASSERT_EQ(kill(gateway_.process->pid(), SIGTERM), 0);
  EXPECT_FALSE(unary_done.load()) << "the unary call ended before SIGTERM: the drain was not exercised";
  while (reader->Read(&event)) {
  }
  grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_TRUE(absl::StrContains(ended.error_message(), absl::StrCat("resume_after=", event.sequence())))
      << ended.error_message();
  unary.join();
  EXPECT_TRUE(slow.ok()) << "the unary call in flight was not drained: " << slow.error_message();
  auto status = gateway_.process->WaitExit(absl::Seconds(15));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_TRUE(absl::StrContains(gateway_.process->Log(), "\"stopped\"")) << gateway_.process->Log();
}

TEST_F(OpsE2E, ASecondSignalExitsAtOnce) {
  std::string id = CreateTask();
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/"}, {"kind", "latency"}, {"latency_ms", 20000},
                      {"count", -1}});
  std::thread unary([&] { Get(id).error_code(); });
  EXPECT_TRUE(InFlight(1));
  kill(gateway_.process->pid(), SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(gateway_.process->Running()) << "the first signal should drain, not exit";
  kill(gateway_.process->pid(), SIGTERM);
  auto status = gateway_.process->WaitExit(absl::Seconds(2));
  ASSERT_TRUE(status.has_value()) << "still running after the second signal";
  EXPECT_NE(WEXITSTATUS(*status), 0);
  control_->ClearFaults();
  unary.join();
}

TEST_F(OpsE2E, HealthAndReflectionListTheFourServices) {
  auto health = grpc::health::v1::Health::NewStub(gateway_.channel);
  grpc::health::v1::HealthCheckResponse hr;
  ASSERT_TRUE(health->Check(Ctx().get(), {}, &hr).ok());
  EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(gateway_.channel);
  auto ctx = Ctx();
  auto stream = reflection->ServerReflectionInfo(ctx.get());
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("*");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  stream->WritesDone();
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  for (const char* want : {"twelvelabs.gateway.v1.UploadService", "twelvelabs.gateway.v1.TaskService",
                           "twelvelabs.gateway.v1.IntegrationService", "twelvelabs.gateway.v1.AssetService"}) {
    EXPECT_EQ(names.count(want), 1u) << want;
  }
  stream->Finish();
}

}  // namespace
}  // namespace tltest
