// The hubs' shared pieces: one executor task per fan-out, and the poll
// timer that spends the global poll budget.
#include "server/watch/fanout.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/server/watch/fakes.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

TEST(Outbox, DeliverOnHandsTheWholeFanOutOverAsOneTask) {
  CountingExecutor executor;
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  auto c = std::make_shared<RecordingSink>();
  gw::TaskEvent e;
  e.set_sequence(7);
  auto event = std::make_shared<const gw::TaskEvent>(e);
  Outbox out;
  out.deliveries.push_back({a, event, {}});
  out.deliveries.push_back({b, event, {}});
  out.deliveries.push_back({c, nullptr, absl::NotFoundError("gone")});
  out.DeliverOn(executor);
  EXPECT_EQ(executor.runs.load(), 1);
  EXPECT_TRUE(out.deliveries.empty());
  ASSERT_EQ(a->calls().size(), 1u);
  ASSERT_EQ(b->calls().size(), 1u);
  ASSERT_EQ(c->calls().size(), 1u);
  EXPECT_EQ(a->calls()[0].event.sequence(), 7);
  // One event object shared by every sink, not a copy each.
  EXPECT_EQ(a->calls()[0].address, event.get());
  EXPECT_EQ(b->calls()[0].address, event.get());
  EXPECT_TRUE(c->calls()[0].is_error);
  EXPECT_EQ(c->calls()[0].error.code(), absl::StatusCode::kNotFound);

  Outbox empty;
  empty.DeliverOn(executor);
  EXPECT_EQ(executor.runs.load(), 1);  // nothing to deliver, no task
}

TEST(ArmPollTimer, PollsAtOnceWhenTheSlotIsFreeElseAtTheSlot) {
  ManualScheduler scheduler;
  PollBudget budget(0.001);  // slots 1000 s apart
  int checks = 0, starts = 0;
  auto on_timer = [&](bool start) {
    ++(start ? starts : checks);
    return true;
  };
  ArmPollTimer(scheduler, budget, absl::Seconds(5), on_timer);
  ASSERT_EQ(scheduler.size(), 1u);
  EXPECT_EQ(scheduler.next_delay(), absl::Seconds(5));
  ASSERT_TRUE(scheduler.RunNext());  // the interval passed; the first slot is free
  EXPECT_EQ(checks, 1);
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(scheduler.size(), 0u);

  ArmPollTimer(scheduler, budget, absl::Seconds(5), on_timer);
  ASSERT_TRUE(scheduler.RunNext());  // the next slot is far: wait for it
  EXPECT_EQ(checks, 2);
  EXPECT_EQ(starts, 1);
  ASSERT_EQ(scheduler.size(), 1u);
  EXPECT_GT(scheduler.next_delay(), absl::Seconds(900));
  ASSERT_TRUE(scheduler.RunNext());  // the slot: start without asking again
  EXPECT_EQ(checks, 2);
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(scheduler.size(), 0u);
}

TEST(ArmPollTimer, ATimerNoLongerWantedSpendsNoSlot) {
  ManualScheduler scheduler;
  PollBudget budget(0.001);
  int starts = 0;
  ArmPollTimer(scheduler, budget, absl::Seconds(1), [&](bool start) {
    starts += start;
    return false;  // e.g. the entry was dropped
  });
  ASSERT_TRUE(scheduler.RunNext());
  EXPECT_EQ(starts, 0);
  EXPECT_EQ(scheduler.size(), 0u);
  // The slot is still free for the next poll.
  ArmPollTimer(scheduler, budget, absl::Seconds(1), [&](bool start) {
    starts += start;
    return true;
  });
  ASSERT_TRUE(scheduler.RunNext());
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(scheduler.size(), 0u);
}

TEST(ArmPollTimer, NothingRunsWhenTheSchedulerCancels) {
  ManualScheduler scheduler;
  PollBudget budget(1);
  int calls = 0;
  ArmPollTimer(scheduler, budget, absl::Seconds(1), [&](bool) {
    ++calls;
    return true;
  });
  ASSERT_TRUE(scheduler.RunNext(/*cancelled=*/true));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace tlgw
