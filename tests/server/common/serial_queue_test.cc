// SerialQueue: actions run one at a time, each exactly once, in the order
// they were queued, including actions queued from inside an action.
#include "server/common/serial_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tlgw {
namespace {

TEST(SerialQueue, ReentrantActionsRunAfterTheCurrentOneInOrder) {
  SerialQueue q;
  std::vector<int> order;
  q.Run([&] {
    order.push_back(1);
    q.Run([&] {
      order.push_back(3);
      q.Run([&] { order.push_back(5); });
    });
    q.Run([&] { order.push_back(4); });
    order.push_back(2);  // the queued ones wait for this action to return
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(SerialQueue, ManyThreadsEachActionOnceNeverTwoAtATime) {
  SerialQueue q;
  std::atomic<int> running{0}, overlaps{0};
  int count = 0;  // touched only inside actions, which never overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        q.Run([&] {
          if (running.fetch_add(1) != 0) ++overlaps;
          ++count;
          running.fetch_sub(1);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(count, 8 * 2000);
}

}  // namespace
}  // namespace tlgw
