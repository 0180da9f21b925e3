// The watch engine with its real kinds, against the fake upstream API and a
// fake clock: sharing, intervals, the poll budget, sequences, tombstones,
// terminal states, errors, key rotation, webhooks and where fan-out runs.
#include "server/watch/watch_engine.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/common/executor.h"
#include "server/watch/watch_kinds.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fake_twelvelabs_api.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kTask[] = "aaaaaaaaaaaaaaaaaaaaaaaa";
constexpr char kIndex[] = "bbbbbbbbbbbbbbbbbbbbbbbb";

gw::Task Task(const std::string& id, const std::string& status, int64_t updated = 1767225600) {
  gw::Task t;
  t.set_id(id);
  t.set_index_id(kIndex);
  t.set_status_text(status);
  t.set_status(TaskStatusFromText(status));
  t.mutable_update_time()->set_seconds(updated);
  return t;
}

// Records every call, with the thread it came on. With `release` set, the
// first call blocks until it is notified.
class RecordingSink : public WatchSink {
 public:
  struct Call {
    WatchEventPtr event;  // null for an error
    absl::Status error;
    std::thread::id thread;
  };
  explicit RecordingSink(absl::Notification* release = nullptr) : release_(release) {}
  void OnEvent(WatchEventPtr event) override { Record({std::move(event), {}, std::this_thread::get_id()}); }
  void OnError(const absl::Status& status) override { Record({nullptr, status, std::this_thread::get_id()}); }
  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<int64_t> sequences() const {
    std::vector<int64_t> out;
    for (const auto& c : calls()) out.push_back(c.event ? c.event->sequence : -1);
    return out;
  }
  const gw::TaskEvent& task_event(size_t i) const {
    absl::MutexLock lock(&mu_);
    return static_cast<const gw::TaskEvent&>(*calls_.at(i).event->message);
  }
  absl::Notification entered;

 private:
  void Record(Call c) {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(std::move(c));
    }
    if (release_ == nullptr) return;
    if (!announced_.exchange(true)) entered.Notify();
    release_->WaitForNotificationWithTimeout(absl::Seconds(30));
  }
  absl::Notification* const release_;
  std::atomic<bool> announced_{false};
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

class WatchEngineTest : public ::testing::Test {
 protected:
  std::unique_ptr<WatchEngine> Engine(WatchKind* kind, Executor* fanout = nullptr) {
    return std::make_unique<WatchEngine>(kind, options_, &clock_, &budget_,
                                         fanout != nullptr ? fanout : &inline_, &webhooks_,
                                         [this](const std::string& scope) {
                                           absl::MutexLock lock(&key_mu_);
                                           return absl::StrCat(key_, "-", scope);
                                         });
  }
  void SetKey(const std::string& key) {
    absl::MutexLock lock(&key_mu_);
    key_ = key;
  }
  // Moves the clock to the next timer (a poll, through the budget).
  void NextPoll() {
    absl::Duration d = clock_.NextDelay();
    ASSERT_NE(d, absl::InfiniteDuration()) << "no poll is scheduled";
    clock_.Advance(d);
    clock_.RunDue();  // a budget slot that is due at once
  }

  WatchOptions options_;
  FakeClock clock_;
  PollBudget budget_{1000};
  InlineExecutor inline_;
  WebhookActivity webhooks_{&clock_, absl::Minutes(15)};
  FakeTwelveLabsApi api_;
  TaskWatchKind task_kind_{&api_};
  IndexWatchKind index_kind_{&api_, 20};
  ImportWatchKind import_kind_{&api_};
  absl::Mutex key_mu_;
  std::string key_ ABSL_GUARDED_BY(key_mu_) = "key1";
};

TEST_F(WatchEngineTest, SubscribersShareOneReadPerInterval) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 5; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    engine->Subscribe("t1", kTask, sinks.back());
  }
  EXPECT_EQ(api_.count("GetTask"), 1);
  for (const auto& s : sinks) ASSERT_EQ(s->calls().size(), 1u) << "each gets the snapshot";
  EXPECT_EQ(sinks[0]->task_event(0).source(), gw::EVENT_SOURCE_SNAPSHOT);

  NextPoll();
  EXPECT_EQ(api_.count("GetTask"), 2);
  for (const auto& s : sinks) EXPECT_EQ(s->calls().size(), 1u) << "no change, no event";
  EXPECT_EQ(engine->stats().polls_saved, 4);

  api_.PutTask(Task(kTask, "ready"));
  NextPoll();
  EXPECT_EQ(api_.count("GetTask"), 3);
  for (const auto& s : sinks) {
    ASSERT_EQ(s->calls().size(), 2u);
    EXPECT_GT(s->sequences()[1], s->sequences()[0]);
    EXPECT_TRUE(s->calls()[1].event->terminal);
  }
  EXPECT_EQ(clock_.pending(), 0u) << "a terminal task is not polled again";
}

TEST_F(WatchEngineTest, TenantsNeverShareAnEntry) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  engine->Subscribe("t1", kTask, std::make_shared<RecordingSink>());
  engine->Subscribe("t2", kTask, std::make_shared<RecordingSink>());
  EXPECT_EQ(engine->stats().entries, 2);
  auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].opts.api_key, "key1-t1");
  EXPECT_EQ(calls[1].opts.api_key, "key1-t2");
}

TEST_F(WatchEngineTest, TheNextPollUsesARotatedKey) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  engine->Subscribe("t1", kTask, std::make_shared<RecordingSink>());
  SetKey("key2");
  NextPoll();
  auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].opts.api_key, "key2-t1");
}

TEST_F(WatchEngineTest, IntervalAdaptsAndBacksOffAfterFailures) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  engine->Subscribe("t1", kTask, std::make_shared<RecordingSink>());
  const absl::Duration healthy = clock_.NextDelay();
  EXPECT_GE(healthy, options_.min_interval);
  EXPECT_LE(healthy, options_.max_interval);
  api_.FailNext("GetTask", absl::UnavailableError("upstream down"));
  NextPoll();
  EXPECT_GT(clock_.NextDelay(), healthy) << "backed off after a failure";
  NextPoll();  // succeeds
  EXPECT_EQ(clock_.NextDelay(), healthy) << "back to normal after a success";
}

TEST_F(WatchEngineTest, AFailedFirstReadIsRetriedSoonDoublingUpToTheUsualInterval) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  for (int i = 0; i < 8; ++i) api_.FailNext("GetTask", absl::UnavailableError("upstream down"));
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, sink);
  // The usual interval is 5 s (10 s after a failure): a subscriber with
  // nothing yet does not wait that long.
  std::vector<absl::Duration> waits;
  for (int i = 1; i < 8; ++i) {
    waits.push_back(clock_.NextDelay());
    NextPoll();
    ASSERT_EQ(api_.count("GetTask"), i + 1);
  }
  EXPECT_EQ(waits, (std::vector<absl::Duration>{absl::Milliseconds(250), absl::Milliseconds(500),
                                                absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                                absl::Seconds(10), absl::Seconds(20)}))
      << "doubling from 250 ms; at the usual interval the usual backoff takes over";
  // Eight failures in a row, the default limit, of which three count.
  EXPECT_TRUE(sink->calls().empty()) << "the quick retries do not count toward ending the watch";
  NextPoll();  // succeeds
  ASSERT_EQ(sink->calls().size(), 1u);
  EXPECT_EQ(sink->task_event(0).source(), gw::EVENT_SOURCE_SNAPSHOT);
  EXPECT_EQ(clock_.NextDelay(), options_.base_interval) << "the usual interval once read";

  // Later failures back off as before: the quick retries are for first reads.
  api_.FailNext("GetTask", absl::UnavailableError("upstream down"));
  NextPoll();
  EXPECT_EQ(clock_.NextDelay(), 2 * options_.base_interval);
}

TEST_F(WatchEngineTest, QuickRetriesOfAFirstReadWaitForTheBudget) {
  PollBudget slow(1);  // one poll a second
  auto engine = std::make_unique<WatchEngine>(&task_kind_, options_, &clock_, &slow, &inline_,
                                              &webhooks_, [](const std::string&) { return "k"; });
  api_.PutTask(Task(kTask, "indexing"));
  for (int i = 0; i < 2; ++i) api_.FailNext("GetTask", absl::UnavailableError("upstream down"));
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, sink);
  clock_.Advance(absl::Milliseconds(250));
  EXPECT_EQ(api_.count("GetTask"), 2) << "the first retry takes the free slot";
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(api_.count("GetTask"), 2) << "the second is due, but the budget's next slot is not";
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(api_.count("GetTask"), 3);
  EXPECT_EQ(sink->calls().size(), 1u);
}

TEST_F(WatchEngineTest, AThrottledFirstReadBacksOffAsUsual) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  api_.FailNext("GetTask", absl::ResourceExhaustedError("429"));
  engine->Subscribe("t1", kTask, std::make_shared<RecordingSink>());
  EXPECT_EQ(clock_.NextDelay(), 2 * options_.base_interval);
}

TEST_F(WatchEngineTest, PollsOfManyEntriesAreSpacedByTheBudget) {
  PollBudget slow(2);  // one poll every 500 ms
  auto engine = std::make_unique<WatchEngine>(&task_kind_, options_, &clock_, &slow, &inline_,
                                              &webhooks_, [](const std::string&) { return "k"; });
  for (int i = 0; i < 4; ++i) {
    std::string id = absl::StrCat("cccccccccccccccccccccc0", i);
    api_.PutTask(Task(id, "indexing"));
    engine->Subscribe("t1", id, std::make_shared<RecordingSink>());
  }
  ASSERT_EQ(api_.count("GetTask"), 4);  // first reads are not budgeted: a subscriber waits on them
  const absl::Time start = clock_.Now();
  clock_.Advance(clock_.NextDelay());  // all four timers fire together...
  EXPECT_EQ(api_.count("GetTask"), 5) << "...but only one slot is free";
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_EQ(api_.count("GetTask"), 5);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(api_.count("GetTask"), 6);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(api_.count("GetTask"), 8);
  EXPECT_GE(clock_.Now() - start, absl::Milliseconds(1500));
}

TEST_F(WatchEngineTest, APermanentErrorEndsEverySubscriber) {
  auto engine = Engine(&task_kind_);  // the task does not exist
  auto a = std::make_shared<RecordingSink>(), b = std::make_shared<RecordingSink>();
  api_.hold(true);
  engine->Subscribe("t1", kTask, a);
  engine->Subscribe("t1", kTask, b);
  api_.CompleteAll();
  for (const auto& s : {a, b}) {
    ASSERT_EQ(s->calls().size(), 1u);
    EXPECT_EQ(s->calls()[0].error.code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(engine->stats().entries, 0);
  EXPECT_EQ(engine->stats().subscribers, 0);
}

TEST_F(WatchEngineTest, ReadsFailingInARowEndTheWatch) {
  options_.max_consecutive_failures = 3;
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, sink);
  for (int i = 0; i < 3; ++i) api_.FailNext("GetTask", absl::UnavailableError("upstream down"));
  NextPoll();
  NextPoll();
  EXPECT_EQ(sink->calls().size(), 1u);
  NextPoll();
  ASSERT_EQ(sink->calls().size(), 2u);
  EXPECT_EQ(sink->calls()[1].error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(sink->calls()[1].error.message().find("3 reads in a row"), std::string::npos);
}

TEST_F(WatchEngineTest, AComebackWithinTheTombstoneTimeKeepsSequences) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  auto first = std::make_shared<RecordingSink>();
  uint64_t id = engine->Subscribe("t1", kTask, first);
  const int64_t seen = first->sequences().at(0);
  engine->Unsubscribe("t1", kTask, id);
  EXPECT_EQ(engine->stats().entries, 0);

  auto again = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, again);
  EXPECT_EQ(again->sequences(), std::vector<int64_t>{seen}) << "same state, same number";
}

TEST_F(WatchEngineTest, AfterTheTombstoneExpiredTheStateIsNumberedAnew) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  auto first = std::make_shared<RecordingSink>();
  uint64_t id = engine->Subscribe("t1", kTask, first);
  engine->Unsubscribe("t1", kTask, id);
  clock_.Advance(options_.tombstone_ttl + absl::Seconds(1));
  auto again = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, again);
  EXPECT_GT(again->sequences().at(0), first->sequences().at(0));
}

TEST_F(WatchEngineTest, AnIndexWatchResumedAfterItsLastSubscriberLeftSendsNothingTwice) {
  for (int i = 0; i < 3; ++i) {
    api_.PutTask(Task(absl::StrCat("dddddddddddddddddddddd0", i), "indexing", 1767225600 + i));
  }
  auto engine = Engine(&index_kind_);
  auto first = std::make_shared<RecordingSink>();
  uint64_t id = engine->Subscribe("t1", kIndex, first);
  ASSERT_EQ(first->calls().size(), 3u);
  const std::vector<int64_t> seen = first->sequences();
  engine->Unsubscribe("t1", kIndex, id);

  // One task changes while nobody watches.
  api_.PutTask(Task("dddddddddddddddddddddd01", "ready", 1767225700));
  auto again = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kIndex, again);
  int64_t last_seen = *std::max_element(seen.begin(), seen.end());
  int newer = 0;
  for (const auto& c : again->calls()) {
    if (c.event->sequence > last_seen) {
      ++newer;
      EXPECT_EQ(c.event->item, "dddddddddddddddddddddd01");
    }
  }
  EXPECT_EQ(newer, 1) << "only the changed task is new to a client resuming after " << last_seen;
}

TEST_F(WatchEngineTest, AnIndexPollReadsOnlyPagesWithNewChanges) {
  for (int i = 0; i < 120; ++i) {
    api_.PutTask(Task(absl::StrCat("eeeeeeeeeeeeeeeeeeee", 1000 + i), "indexing", 1767225600 + i));
  }
  auto engine = Engine(&index_kind_);
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kIndex, sink);
  EXPECT_EQ(api_.count("ListTasks"), 3) << "the first poll reads every page";
  EXPECT_EQ(sink->calls().size(), 120u);
  NextPoll();
  EXPECT_EQ(api_.count("ListTasks"), 4) << "later polls stop at what they have seen";
  EXPECT_EQ(sink->calls().size(), 120u);
  api_.PutTask(Task("eeeeeeeeeeeeeeeeeeee1000", "ready", 1767230000));
  NextPoll();
  ASSERT_EQ(sink->calls().size(), 121u);
  EXPECT_EQ(sink->calls().back().event->item, "eeeeeeeeeeeeeeeeeeee1000");
}

TEST_F(WatchEngineTest, AWebhookMakesTaskAndIndexEntriesReadAtOnce) {
  api_.PutTask(Task(kTask, "indexing"));
  auto tasks = Engine(&task_kind_);
  auto indexes = Engine(&index_kind_);
  auto t = std::make_shared<RecordingSink>(), x = std::make_shared<RecordingSink>();
  tasks->Subscribe("t1", kTask, t);
  indexes->Subscribe("t1", kIndex, x);
  api_.PutTask(Task(kTask, "ready", 1767229999));
  webhooks_.Record();
  tasks->OnWebhook(kTask, "ready");
  indexes->OnWebhook(kTask, "ready");
  ASSERT_EQ(t->calls().size(), 2u);
  EXPECT_EQ(t->task_event(1).source(), gw::EVENT_SOURCE_WEBHOOK);
  ASSERT_EQ(x->calls().size(), 2u);
  EXPECT_EQ(x->task_event(1).source(), gw::EVENT_SOURCE_WEBHOOK);
  EXPECT_EQ(tasks->stats().webhook_refreshes, 1);
  // Unrelated items trigger nothing.
  tasks->OnWebhook("ffffffffffffffffffffffff", "ready");
  EXPECT_EQ(tasks->stats().webhook_refreshes, 1);
}

TEST_F(WatchEngineTest, AWebhooksStatusStandsInWhenItsReadFails) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", kTask, sink);
  api_.FailNext("GetTask", absl::UnavailableError("blip"));
  engine->OnWebhook(kTask, "ready");
  ASSERT_EQ(sink->calls().size(), 2u);
  EXPECT_EQ(sink->task_event(1).task().status(), gw::TASK_STATUS_READY);
  EXPECT_TRUE(sink->calls()[1].event->terminal);
}

TEST_F(WatchEngineTest, WhileWebhooksFlowPollsSlowToTheSafetyNet) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  engine->Subscribe("t1", kTask, std::make_shared<RecordingSink>());
  const absl::Duration without = clock_.NextDelay();
  webhooks_.Record();
  NextPoll();
  EXPECT_GE(clock_.NextDelay(), options_.webhook_safety_interval);
  EXPECT_GT(clock_.NextDelay(), without);
}

TEST_F(WatchEngineTest, AnImportWatchEndsWhenNothingIsInProgress) {
  gw::ImportStatus running;
  running.add_indexing()->set_video_id("v1");
  api_.PutImportStatus("int1", kIndex, running);
  auto engine = Engine(&import_kind_);
  auto sink = std::make_shared<RecordingSink>();
  engine->Subscribe("t1", ImportWatchKind::Subject("int1", kIndex), sink);
  ASSERT_EQ(sink->calls().size(), 1u);
  EXPECT_FALSE(sink->calls()[0].event->terminal);
  gw::ImportStatus done;
  done.add_ready()->set_video_id("v1");
  api_.PutImportStatus("int1", kIndex, done);
  NextPoll();
  ASSERT_EQ(sink->calls().size(), 2u);
  EXPECT_TRUE(sink->calls()[1].event->terminal);
  EXPECT_TRUE(static_cast<const gw::ImportStatusEvent&>(*sink->calls()[1].event->message).done());
  EXPECT_EQ(clock_.pending(), 0u);
  EXPECT_EQ(api_.calls()[0].id, "int1");
  EXPECT_EQ(api_.calls()[0].index_id, kIndex);
}

TEST_F(WatchEngineTest, FanOutRunsOffTheThreadThatCompletedTheRead) {
  api_.PutTask(Task(kTask, "indexing"));
  ThreadExecutor fanout;
  auto engine = Engine(&task_kind_, &fanout);
  absl::Notification release;
  auto sink = std::make_shared<RecordingSink>(&release);
  api_.hold(true);
  engine->Subscribe("t1", kTask, sink);
  absl::Notification completed;
  std::thread::id upstream_id;
  std::thread upstream([&] {
    upstream_id = std::this_thread::get_id();
    api_.CompleteNext();
    completed.Notify();
  });
  ASSERT_TRUE(sink->entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(completed.WaitForNotificationWithTimeout(absl::Seconds(30)))
      << "the completing thread waited for a subscriber";
  release.Notify();
  upstream.join();
  fanout.Shutdown();
  ASSERT_EQ(sink->calls().size(), 1u);
  EXPECT_NE(sink->calls()[0].thread, upstream_id);
}

TEST_F(WatchEngineTest, AReadInFlightForADroppedEntryChangesNothing) {
  api_.PutTask(Task(kTask, "indexing"));
  auto engine = Engine(&task_kind_);
  api_.hold(true);
  auto sink = std::make_shared<RecordingSink>();
  uint64_t id = engine->Subscribe("t1", kTask, sink);
  engine->Unsubscribe("t1", kTask, id);
  api_.CompleteAll();
  EXPECT_TRUE(sink->calls().empty());
  EXPECT_EQ(engine->stats().entries, 0);
  EXPECT_EQ(clock_.pending(), 0u);
}

}  // namespace
}  // namespace tlgw
