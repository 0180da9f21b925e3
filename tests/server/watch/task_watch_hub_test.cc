// TaskWatchHub against a transport the test completes by hand: where and
// how a change is fanned out to the subscribers.
#include "server/watch/task_watch_hub.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/twelvelabs/client.h"
#include "tests/server/watch/fakes.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

HttpResponse TaskResponse(const std::string& id, const std::string& status) {
  return JsonResponse(200, absl::StrCat(R"({"_id":")", id, R"(","index_id":"idx1","status":")",
                                        status, R"(","updated_at":"2024-05-01T10:00:00Z"})"));
}

class TaskWatchHubTest : public ::testing::Test {
 protected:
  std::unique_ptr<TaskWatchHub> MakeHub(Executor* fanout) {
    return std::make_unique<TaskWatchHub>(WatchOptions{}, up_.client.get(), &up_.scheduler,
                                          &up_.budget, fanout, &FakeUpstream::KeyFor);
  }

  // Subscribes a sink that blocks in its first call, completes the first
  // read with `response` on a thread of its own, and checks that this
  // thread is free again while the sink is still blocked.
  void ExpectFanOutOffTheCompletingThread(absl::StatusOr<HttpResponse> response, bool want_error) {
    ThreadExecutor fanout;
    auto hub = MakeHub(&fanout);
    absl::Notification release;
    auto sink = std::make_shared<RecordingSink>(&release);
    hub->Subscribe("tenant", "task1", sink);
    EXPECT_TRUE(sink->calls().empty());  // no snapshot before the first read

    std::thread::id upstream_thread;
    ASSERT_TRUE(CompletesWhileSinkBlocks(up_.transport, std::move(response), *sink, release,
                                         &upstream_thread));
    fanout.Shutdown();

    auto calls = sink->calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].is_error, want_error);
    EXPECT_NE(calls[0].thread, upstream_thread);
    EXPECT_NE(calls[0].thread, std::this_thread::get_id());
  }

  FakeUpstream up_;
};

TEST_F(TaskWatchHubTest, ChangeIsNotFannedOutOnTheThreadThatCompletedTheRead) {
  ExpectFanOutOffTheCompletingThread(TaskResponse("task1", "indexing"), /*want_error=*/false);
}

TEST_F(TaskWatchHubTest, DropAfterAFailedReadIsNotDeliveredOnTheThreadThatCompletedIt) {
  ExpectFanOutOffTheCompletingThread(
      JsonResponse(404, R"({"code":"resource_not_exists","message":"no such task"})"),
      /*want_error=*/true);
}

TEST_F(TaskWatchHubTest, OneChangeIsOneExecutorTaskSharingOneEvent) {
  CountingExecutor fanout;
  auto hub = MakeHub(&fanout);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  auto c = std::make_shared<RecordingSink>();
  hub->Subscribe("tenant", "task1", a);
  hub->Subscribe("tenant", "task1", b);  // joins the read in flight
  hub->Subscribe("tenant", "task1", c);
  ASSERT_EQ(up_.transport.pending(), 1u);
  ASSERT_TRUE(up_.transport.CompleteNext(TaskResponse("task1", "indexing")));
  EXPECT_EQ(fanout.runs.load(), 1);
  for (const auto& sink : {a, b, c}) {
    auto calls = sink->calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].event.task().status_text(), "indexing");
    EXPECT_EQ(calls[0].event.source(), gw::EVENT_SOURCE_SNAPSHOT);
    EXPECT_EQ(calls[0].address, a->calls()[0].address);  // one event for all
  }

  // The read asked for while one was in flight: no change, no task.
  ASSERT_TRUE(up_.transport.CompleteNext(TaskResponse("task1", "indexing")));
  EXPECT_EQ(fanout.runs.load(), 1);

  // A late subscriber's snapshot is delivered inline, not as a fan-out.
  auto d = std::make_shared<RecordingSink>();
  hub->Subscribe("tenant", "task1", d);
  EXPECT_EQ(fanout.runs.load(), 1);
  ASSERT_EQ(d->calls().size(), 1u);
  EXPECT_EQ(d->calls()[0].thread, std::this_thread::get_id());
  EXPECT_EQ(d->calls()[0].event.sequence(), a->calls()[0].event.sequence());

  // The next poll sees a change: one more task, to all four.
  ASSERT_EQ(up_.transport.pending(), 0u);
  while (up_.scheduler.size() > 0 && up_.transport.pending() == 0)
    ASSERT_TRUE(up_.scheduler.RunNext());
  ASSERT_TRUE(up_.transport.CompleteNext(TaskResponse("task1", "ready")));
  EXPECT_EQ(fanout.runs.load(), 2);
  for (const auto& sink : {a, b, c, d}) {
    auto calls = sink->calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[1].event.task().status_text(), "ready");
    EXPECT_EQ(calls[1].event.source(), gw::EVENT_SOURCE_POLL);
    EXPECT_GT(calls[1].event.sequence(), calls[0].event.sequence());
  }
}

}  // namespace
}  // namespace tlgw
