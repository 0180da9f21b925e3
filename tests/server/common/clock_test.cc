#include "server/common/clock.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/synchronization/notification.h"

namespace tlgw {
namespace {

TEST(RealClock, RunsInDueOrderEvenWhenAddedOutOfOrder) {
  RealClock s;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  s.RunAfter(absl::Milliseconds(300), [&](bool) {
    absl::MutexLock l(&mu);
    order.push_back(3);
    done.Notify();
  });
  s.RunAfter(absl::Milliseconds(100), [&](bool) {
    absl::MutexLock l(&mu);
    order.push_back(2);
  });
  s.RunAfter(absl::ZeroDuration(), [&](bool) {
    absl::MutexLock l(&mu);
    order.push_back(1);
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock l(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(RealClock, ShutdownRunsPendingCallbacksAsCancelled) {
  RealClock s;
  bool ran = false, cancelled = false;
  s.RunAfter(absl::Hours(1), [&](bool c) {
    ran = true;
    cancelled = c;
  });
  s.Shutdown();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(cancelled);
  bool late = false;
  s.RunAfter(absl::ZeroDuration(), [&](bool c) { late = c; });
  EXPECT_TRUE(late);
}

}  // namespace
}  // namespace tlgw
