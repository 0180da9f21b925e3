// IndexWatchHub against a transport the test completes by hand: where and
// how a poll's changes are fanned out to the subscribers.
#include "server/watch/index_watch_hub.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "server/twelvelabs/client.h"
#include "tests/server/watch/fakes.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

// One page of `GET /tasks` holding `ids`, all indexing.
HttpResponse PageResponse(const std::vector<std::string>& ids) {
  std::vector<std::string> tasks;
  int minute = 0;
  for (const auto& id : ids) {
    tasks.push_back(absl::StrCat(R"({"_id":")", id, R"(","index_id":"idx1","status":"indexing",)",
                                 R"("updated_at":"2024-05-01T10:)", 10 + minute++, R"(:00Z"})"));
  }
  return JsonResponse(
      200,
      absl::StrCat(R"({"data":[)", absl::StrJoin(tasks, ","),
                   R"(],"page_info":{"page":1,"total_page":1,"total_results":)", ids.size(), "}}"));
}

class IndexWatchHubTest : public ::testing::Test {
 protected:
  std::unique_ptr<IndexWatchHub> MakeHub(Executor* fanout) {
    return std::make_unique<IndexWatchHub>(
        WatchOptions{}, up_.client.get(), &up_.scheduler, &up_.budget, fanout, [] { return false; },
        &FakeUpstream::KeyFor);
  }

  FakeUpstream up_;
};

TEST_F(IndexWatchHubTest, PollIsNotFannedOutOnTheThreadThatCompletedIt) {
  ThreadExecutor fanout;
  auto hub = MakeHub(&fanout);
  absl::Notification release;
  auto sink = std::make_shared<RecordingSink>(&release);
  hub->Subscribe("tenant", "idx1", sink);

  std::thread::id upstream_thread;
  ASSERT_TRUE(CompletesWhileSinkBlocks(up_.transport, PageResponse({"t1", "t2"}), *sink, release,
                                       &upstream_thread));
  fanout.Shutdown();

  auto calls = sink->calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const auto& call : calls) {
    EXPECT_FALSE(call.is_error);
    EXPECT_NE(call.thread, upstream_thread);
    EXPECT_EQ(call.thread, calls[0].thread);  // one task, one thread
  }
}

TEST_F(IndexWatchHubTest, OnePollIsOneExecutorTaskSharingEachEvent) {
  CountingExecutor fanout;
  auto hub = MakeHub(&fanout);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  hub->Subscribe("tenant", "idx1", a);
  hub->Subscribe("tenant", "idx1", b);
  ASSERT_TRUE(up_.transport.CompleteNext(PageResponse({"t3", "t2", "t1"})));
  EXPECT_EQ(fanout.runs.load(), 1);
  auto ca = a->calls(), cb = b->calls();
  ASSERT_EQ(ca.size(), 3u);
  ASSERT_EQ(cb.size(), 3u);
  for (size_t i = 0; i < ca.size(); ++i) {
    EXPECT_EQ(ca[i].address, cb[i].address);  // one event per change, shared
    EXPECT_EQ(ca[i].event.source(), gw::EVENT_SOURCE_SNAPSHOT);
  }
  EXPECT_EQ(ca[0].event.task().id(), "t1");  // oldest change first

  // A late subscriber's snapshot is delivered inline, not as a fan-out.
  auto c = std::make_shared<RecordingSink>();
  hub->Subscribe("tenant", "idx1", c);
  EXPECT_EQ(fanout.runs.load(), 1);
  ASSERT_EQ(c->calls().size(), 3u);
  EXPECT_EQ(c->calls()[0].thread, std::this_thread::get_id());
}

TEST_F(IndexWatchHubTest, DropAfterAFailedPollIsOneExecutorTask) {
  CountingExecutor fanout;
  auto hub = MakeHub(&fanout);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  hub->Subscribe("tenant", "idx1", a);
  hub->Subscribe("tenant", "idx1", b);
  ASSERT_TRUE(up_.transport.CompleteNext(
      JsonResponse(404, R"({"code":"resource_not_exists","message":"no such index"})")));
  EXPECT_EQ(fanout.runs.load(), 1);
  for (const auto& sink : {a, b}) {
    auto calls = sink->calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_TRUE(calls[0].is_error);
    EXPECT_EQ(calls[0].error.code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(hub->stats().entries, 0);
}

}  // namespace
}  // namespace tlgw
