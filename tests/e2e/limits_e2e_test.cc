// Bounds that hold before a caller is authenticated: the gateway raises its
// open-file limit, and one connection cannot open more streams than
// --grpc_max_streams_per_connection (issue 11 item 1).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

// The soft and hard "Max open files" of process `pid`.
std::pair<std::string, std::string> OpenFileLimits(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line.substr(14), ' ', absl::SkipWhitespace());
    if (parts.size() >= 2) return {parts[0], parts[1]};
  }
  return {"", ""};
}

class LimitsE2E : public E2EFixture<> {
 protected:
  void Start(std::vector<std::string> extra) {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.extra_args = std::move(extra);
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  }
  void TearDown() override {
    if (gateway_.process != nullptr) gateway_.process->Stop();
  }
};

TEST_F(LimitsE2E, TheOpenFileLimitIsRaisedToTheHardLimit) {
  struct rlimit mine {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &mine), 0);
  if (mine.rlim_max != RLIM_INFINITY && mine.rlim_max <= 256) GTEST_SKIP() << "hard limit too low to test";
  struct rlimit low = mine;
  low.rlim_cur = 256;  // the child inherits it
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Start({});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &mine), 0);
  auto [soft, hard] = OpenFileLimits(gateway_.process->pid());
  EXPECT_EQ(soft, hard) << "soft " << soft << ", hard " << hard;
  EXPECT_NE(soft, "256");
}

TEST_F(LimitsE2E, OneConnectionCannotOpenMoreStreamsThanTheCap) {
  Start({"--grpc_max_streams_per_connection=20"});
  auto upload = gw::UploadService::NewStub(gateway_.channel);
  auto tasks = gw::TaskService::NewStub(gateway_.channel);
  gw::CreateUrlTaskRequest create;
  create.set_index_id(kSeedIndex);
  create.set_video_url("https://cdn.example.com/videos/clip.mp4");
  gw::Task task;
  ASSERT_TRUE(upload->CreateUrlTask(Ctx().get(), create, &task).ok());

  // 30 watches on one connection: at most 20 reach the gateway. Each
  // starts on its own thread: a stream waiting for a free slot blocks there.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int i = 0; i < 30; ++i) contexts.push_back(Ctx(absl::Seconds(60)));
  std::vector<std::thread> watchers;
  for (int i = 0; i < 30; ++i) {
    watchers.emplace_back([&, ctx = contexts[i].get()] {
      gw::WatchTaskRequest watch;
      watch.set_task_id(task.id());
      auto reader = tasks->WatchTask(ctx, watch);
      gw::TaskEvent event;
      while (reader->Read(&event)) {
      }
      reader->Finish().IgnoreError();
    });
  }
  auto subscribers = [&] {
    auto text = HttpGet(gateway_.admin_port, "/metrics");
    return text.ok() ? MetricValue(*text, "tl_gateway_watch_subscribers{kind=\"task\"}") : -1;
  };
  ASSERT_TRUE(Eventually([&] { return subscribers() == 20; }, "20 streams open"));
  absl::SleepFor(absl::Milliseconds(300));  // give any 21st stream the time to arrive
  EXPECT_EQ(subscribers(), 20);
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : watchers) t.join();
}

}  // namespace
}  // namespace tltest
