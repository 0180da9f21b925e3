// WatchTask end to end: many subscribers on one shared upstream poll,
// resume after a disconnect, slow readers, cancel and upstream failures,
// through the real gateway against the real simulator (manual clock).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/task_subscriber.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr double kIntervalSeconds = 0.2;

// A WatchIndexTasks stream, read on its own thread.
class IndexSubscriber {
 public:
  IndexSubscriber(gw::TaskService::Stub* stub, std::vector<gw::TaskStatus> statuses = {}) {
    gw::WatchIndexTasksRequest req;
    req.set_index_id(kSeedIndex);
    for (auto s : statuses) req.add_statuses(s);
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    reader_ = stub->WatchIndexTasks(&ctx_, req);
    thread_ = std::thread([this] {
      gw::TaskEvent e;
      while (reader_->Read(&e)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(e);
      }
      grpc::Status s = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = s;
    });
  }
  ~IndexSubscriber() {
    ctx_.TryCancel();
    thread_.join();
  }
  std::vector<gw::TaskEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // How many events say `status`, one task counted once.
  size_t TasksIn(const std::string& status) {
    std::map<std::string, std::string> latest;
    for (const auto& e : events()) latest[e.task().id()] = e.task().status_text();
    size_t n = 0;
    for (const auto& [id, s] : latest) n += s == status;
    return n;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<gw::TaskEvent>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<gw::TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class WatchE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.config_json = R"({"integrations":[{"name":"marketing","integration_id":"0123456789abcdef89abcdef"}]})";
    args.extra_args = {absl::StrCat("--watch_interval_seconds=", kIntervalSeconds),
                       "--watch_min_interval_seconds=0.1", "--watch_max_interval_seconds=2",
                       "--max_polls_per_second=200"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
    integrations_ = gw::IntegrationService::NewStub(gateway_.channel);
  }
  void TearDown() override {
    if (gateway_.process == nullptr) return;
    EXPECT_TRUE(gateway_.process->Running()) << gateway_.process->Log();
  }

  std::string CreateTask(const std::string& url = "https://cdn.example.com/w.mp4") {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url(url);
    gw::Task task;
    grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task.id();
  }

  double Metric(const std::string& name) {
    auto text = HttpGet(gateway_.admin_port, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? MetricValue(*text, name) : -1;
  }

  int GetsOf(const std::string& task_id) {
    int n = 0;
    for (const auto& r : control_->Requests("/tasks/" + task_id)) n += r["method"] == "GET";
    return n;
  }

  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
  std::unique_ptr<gw::IntegrationService::Stub> integrations_;
};

const std::vector<std::string> kLifecycle = {"validating", "pending", "queued", "indexing", "ready"};

TEST_F(WatchE2E, OneStreamSeesEveryStatusInOrderThenOk) {
  std::string id = CreateTask();
  TaskSubscriber sub(tasks_.get(), id);
  for (size_t i = 0; i < kLifecycle.size(); ++i) {
    ASSERT_TRUE(Eventually([&] { return sub.count() == i + 1; }, "event " + kLifecycle[i]));
    if (i + 1 < kLifecycle.size()) control_->AdvanceClock(2.0);
  }
  ASSERT_TRUE(sub.WaitDone());
  EXPECT_TRUE(sub.status().ok()) << sub.status().error_message();
  EXPECT_EQ(sub.statuses(), kLifecycle);
  auto events = sub.events();
  EXPECT_EQ(events[0].source(), gw::EVENT_SOURCE_SNAPSHOT);
  EXPECT_EQ(events[1].source(), gw::EVENT_SOURCE_POLL);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
  EXPECT_TRUE(events.back().task().has_hls());
  EXPECT_FALSE(events.back().task().video_id().empty());
}

TEST_F(WatchE2E, ThousandSubscribersShareOnePollPerInterval) {
  constexpr int kSubscribers = 1000;
  std::string id = CreateTask();
  control_->ClearRequests();
  absl::Time start = absl::Now();
  std::vector<std::unique_ptr<TaskSubscriber>> subs;
  for (int i = 0; i < kSubscribers; ++i) subs.push_back(std::make_unique<TaskSubscriber>(tasks_.get(), id));
  for (size_t stage = 0; stage < kLifecycle.size(); ++stage) {
    ASSERT_TRUE(Eventually(
        [&] {
          for (auto& s : subs) {
            if (s->count() < stage + 1) return false;
          }
          return true;
        },
        "all subscribers to see " + kLifecycle[stage], absl::Seconds(60)));
    if (stage + 1 < kLifecycle.size()) control_->AdvanceClock(2.0);
  }
  for (auto& s : subs) {
    ASSERT_TRUE(s->WaitDone());
    EXPECT_TRUE(s->status().ok()) << s->status().error_message();
    EXPECT_EQ(s->statuses(), kLifecycle);
  }
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  int gets = GetsOf(id);
  // One poll per interval at most (plus the first read), whatever the
  // number of subscribers; without sharing there would be >= 1000.
  EXPECT_LE(gets, static_cast<int>(elapsed / kIntervalSeconds) + 2)
      << gets << " GETs in " << elapsed << " s";
  EXPECT_GE(Metric("tl_gateway_watch_polls_saved_total{kind=\"task\"}"), kSubscribers - 1);
}

TEST_F(WatchE2E, ResumeAfterADisconnectSendsOnlyWhatChanged) {
  std::string id = CreateTask();
  int64_t seen;
  {
    TaskSubscriber first(tasks_.get(), id);
    ASSERT_TRUE(Eventually([&] { return first.count() == 1; }, "snapshot"));
    seen = first.events()[0].sequence();
    first.Cancel();
    ASSERT_TRUE(first.WaitDone());
  }
  // Nothing changed: a resumed stream sends nothing until a change.
  {
    TaskSubscriber same(tasks_.get(), id, seen);
    absl::SleepFor(absl::Milliseconds(600));
    EXPECT_EQ(same.count(), 0u) << "resume_after=" << seen << " got " << same.events()[0].DebugString();
    control_->AdvanceClock(2.0);
    ASSERT_TRUE(Eventually([&] { return same.count() == 1; }, "the next change"));
    EXPECT_EQ(same.last_status(), "pending");
    seen = same.events()[0].sequence();
    same.Cancel();
    ASSERT_TRUE(same.WaitDone());
  }
  // Changes while away: the latest state once, not each step.
  control_->AdvanceClock(4.0);  // pending -> queued -> indexing
  TaskSubscriber resumed(tasks_.get(), id, seen);
  ASSERT_TRUE(Eventually([&] { return resumed.count() == 1; }, "the latest state"));
  EXPECT_EQ(resumed.last_status(), "indexing");
  EXPECT_GT(resumed.events()[0].sequence(), seen);
  control_->AdvanceClock(2.0);
  ASSERT_TRUE(resumed.WaitDone());
  EXPECT_EQ(resumed.statuses(), (std::vector<std::string>{"indexing", "ready"}));
  int64_t terminal = resumed.events().back().sequence();
  // Resuming after the terminal event: the stream ends at once, empty.
  TaskSubscriber after(tasks_.get(), id, terminal);
  ASSERT_TRUE(after.WaitDone());
  EXPECT_TRUE(after.status().ok());
  EXPECT_EQ(after.count(), 0u);
}

TEST_F(WatchE2E, SlowSubscriberGetsTheLatestStateAndTheTerminalEvent) {
  std::string id = CreateTask();
  auto ctx = Ctx(absl::Seconds(60));
  gw::WatchTaskRequest req;
  req.set_task_id(id);
  auto reader = tasks_->WatchTask(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.task().status_text(), "validating");
  // The reader stops reading while the task runs to the end.
  for (int i = 0; i < 4; ++i) {
    control_->AdvanceClock(2.0);
    absl::SleepFor(absl::Milliseconds(500));
  }
  std::vector<std::string> rest;
  while (reader->Read(&event)) rest.push_back(event.task().status_text());
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back(), "ready");
}

TEST_F(WatchE2E, UnknownTaskIsNotFoundAtOnce) {
  TaskSubscriber sub(tasks_.get(), "bbbbbbbbbbbbbbbbbbbbbbbb");
  ASSERT_TRUE(sub.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(sub.status().error_code(), grpc::StatusCode::NOT_FOUND) << sub.status().error_message();
  EXPECT_EQ(sub.count(), 0u);
  TaskSubscriber bad(tasks_.get(), "not-an-id");
  ASSERT_TRUE(bad.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(bad.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Eventually([&] { return Metric("tl_gateway_watch_entries{kind=\"task\"}") == 0; }, "no entries"));
}

TEST_F(WatchE2E, CancelFreesTheEntryAndStopsPolling) {
  std::string id = CreateTask();
  std::vector<std::unique_ptr<TaskSubscriber>> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(std::make_unique<TaskSubscriber>(tasks_.get(), id));
  ASSERT_TRUE(Eventually([&] { return Metric("tl_gateway_watch_subscribers{kind=\"task\"}") == 3; }, "3 subscribers"));
  EXPECT_EQ(Metric("tl_gateway_watch_entries{kind=\"task\"}"), 1);
  for (auto& s : subs) s->Cancel();
  for (auto& s : subs) {
    ASSERT_TRUE(s->WaitDone());
    EXPECT_EQ(s->status().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(Eventually([&] { return Metric("tl_gateway_watch_entries{kind=\"task\"}") == 0; }, "entry freed"));
  EXPECT_EQ(Metric("tl_gateway_watch_subscribers{kind=\"task\"}"), 0);
  absl::SleepFor(absl::Milliseconds(300));
  int gets = GetsOf(id);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(GetsOf(id), gets) << "polling went on after the last subscriber left";
}

TEST_F(WatchE2E, UpstreamOutageDuringAWatchDoesNotEndTheStream) {
  std::string id = CreateTask();
  TaskSubscriber sub(tasks_.get(), id);
  ASSERT_TRUE(Eventually([&] { return sub.count() == 1; }, "snapshot"));
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/" + id + "$"}, {"kind", "status"}, {"status", 503}, {"count", -1}});
  absl::SleepFor(absl::Seconds(2));
  control_->ClearFaults();
  EXPECT_FALSE(sub.done()) << sub.status().error_message();
  control_->AdvanceClock(8.0);  // straight to ready
  ASSERT_TRUE(sub.WaitDone(absl::Seconds(20)));
  EXPECT_TRUE(sub.status().ok()) << sub.status().error_message();
  EXPECT_EQ(sub.last_status(), "ready");
  int failed = 0;
  for (const auto& r : control_->Requests("/tasks/" + id)) failed += r["status"] == 503;
  EXPECT_GT(failed, 0) << "the outage was not seen";
}

TEST_F(WatchE2E, FailedTaskEndsTheStreamWithTheFailedEvent) {
  std::string id = CreateTask("https://cdn.example.com/broken.mp4");
  TaskSubscriber sub(tasks_.get(), id);
  ASSERT_TRUE(Eventually([&] { return sub.count() == 1; }, "snapshot"));
  // A failed task is terminal: the stream ends with it.
  control_->AdvanceClock(3.0);
  ASSERT_TRUE(sub.WaitDone());
  EXPECT_TRUE(sub.status().ok());
  EXPECT_EQ(sub.last_status(), "failed");
}

TEST_F(WatchE2E, IndexWatchSnapshotsThenFollowsEveryTaskIncludingNewOnes) {
  std::string a = CreateTask("https://cdn.example.com/a.mp4");
  std::string b = CreateTask("https://cdn.example.com/b.mp4");
  control_->ClearRequests();
  absl::Time start = absl::Now();
  IndexSubscriber all(tasks_.get());
  IndexSubscriber all2(tasks_.get());
  IndexSubscriber ready_only(tasks_.get(), {gw::TASK_STATUS_READY});
  ASSERT_TRUE(Eventually([&] { return all.TasksIn("validating") == 2 && all2.TasksIn("validating") == 2; },
                         "snapshot of both tasks"));
  for (const auto& e : all.events()) EXPECT_EQ(e.source(), gw::EVENT_SOURCE_SNAPSHOT);
  std::string c = CreateTask("https://cdn.example.com/c.mp4");
  ASSERT_TRUE(Eventually([&] { return all.TasksIn("validating") == 3; }, "the new task"));
  control_->AdvanceClock(2.0);
  ASSERT_TRUE(Eventually([&] { return all.TasksIn("pending") == 3; }, "three pending"));
  control_->AdvanceClock(6.0);
  ASSERT_TRUE(Eventually([&] { return all.TasksIn("ready") == 3; }, "three ready"));
  ASSERT_TRUE(Eventually([&] { return ready_only.TasksIn("ready") == 3; }, "filtered stream: three ready"));
  for (const auto& e : ready_only.events()) EXPECT_EQ(e.task().status_text(), "ready");
  auto events = all.events();
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
  // Three streams, one shared list poll per interval.
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  int lists = 0;
  for (const auto& r : control_->Requests("/tasks")) lists += r["method"] == "GET" && r["path"] == "/v1.3/tasks";
  EXPECT_LE(lists, static_cast<int>(elapsed / kIntervalSeconds) + 2) << lists << " lists in " << elapsed << " s";
  EXPECT_EQ(Metric("tl_gateway_watch_entries{kind=\"index\"}"), 1);
}

TEST_F(WatchE2E, ImportWatchEndsWhenEveryFileIsDone) {
  gw::ImportVideosRequest imp;
  imp.set_integration("marketing");
  imp.set_index_id(kSeedIndex);
  gw::ImportVideosResponse started;
  ASSERT_TRUE(integrations_->ImportVideos(Ctx().get(), imp, &started).ok());
  auto ctx = Ctx(absl::Seconds(60));
  gw::WatchImportRequest req;
  req.set_integration("marketing");
  req.set_index_id(kSeedIndex);
  auto reader = integrations_->WatchImport(ctx.get(), req);
  gw::ImportStatusEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.status().validating_size(), 2);
  EXPECT_FALSE(event.done());
  control_->AdvanceClock(10.0);
  gw::ImportStatusEvent last = event;
  while (reader->Read(&event)) last = event;
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.status().ready_size(), 2);
  EXPECT_GT(last.sequence(), 0);

  grpc::ClientContext bad_ctx;
  req.set_integration("sales");
  auto bad = integrations_->WatchImport(&bad_ctx, req);
  EXPECT_FALSE(bad->Read(&event));
  EXPECT_EQ(bad->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace tltest
