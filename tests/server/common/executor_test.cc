#include "server/common/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"

namespace tlgw {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

TEST(ThreadExecutor, RunsInOrderOnItsOwnThread) {
  ThreadExecutor ex;
  std::vector<int> order;  // touched only by the worker until Shutdown() returns
  std::vector<std::thread::id> threads;
  for (int i = 0; i < 1000; ++i) {
    ex.Run([&order, &threads, i] {
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
    });
  }
  ex.Shutdown();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  for (const auto& id : threads) {
    EXPECT_NE(id, std::this_thread::get_id());
    EXPECT_EQ(id, threads.front());
  }
}

TEST(ThreadExecutor, ShutdownRunsWhatIsQueuedThenReturns) {
  ThreadExecutor ex;
  absl::Notification release;
  int ran = 0;  // touched only by the worker until Shutdown() returns
  ex.Run([&release] { ASSERT_TRUE(release.WaitForNotificationWithTimeout(kWait)); });
  for (int i = 0; i < 100; ++i) ex.Run([&ran] { ++ran; });
  absl::Notification shutdown_returned;
  std::thread stopper([&] {
    ex.Shutdown();
    shutdown_returned.Notify();
  });
  release.Notify();
  ASSERT_TRUE(shutdown_returned.WaitForNotificationWithTimeout(kWait));
  stopper.join();
  EXPECT_EQ(ran, 100);
}

TEST(ThreadExecutor, DestructorRunsWhatIsQueued) {
  int ran = 0;
  {
    ThreadExecutor ex;
    for (int i = 0; i < 100; ++i) ex.Run([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 100);
}

TEST(ThreadExecutor, WorkHandedOverAfterShutdownRunsAtOnceOnTheCaller) {
  ThreadExecutor ex;
  ex.Shutdown();
  ex.Shutdown();  // idempotent
  std::thread::id ran_on;
  ex.Run([&ran_on] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(ThreadExecutor, RunFromManyThreadsKeepsEachThreadsOrder) {
  constexpr int kThreads = 8;
  constexpr int kEach = 1000;
  ThreadExecutor ex;
  std::vector<std::pair<int, int>> seen;  // (thread, n); touched only by the worker
  absl::Notification go;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      ASSERT_TRUE(go.WaitForNotificationWithTimeout(kWait));
      for (int n = 0; n < kEach; ++n) ex.Run([&seen, t, n] { seen.emplace_back(t, n); });
    });
  }
  go.Notify();
  for (auto& p : producers) p.join();
  ex.Shutdown();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& [t, n] : seen) {
    EXPECT_EQ(n, next[t]) << "thread " << t;
    next[t] = n + 1;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kEach);
}

TEST(ThreadExecutor, WorkMayHandOverMoreWork) {
  ThreadExecutor ex;
  absl::Notification done;
  ex.Run([&] { ex.Run([&] { done.Notify(); }); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
}

TEST(InlineExecutor, RunsOnTheCaller) {
  InlineExecutor ex;
  std::thread::id ran_on;
  ex.Run([&ran_on] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace tlgw
