// Three replicas in one process: each a SharedCoordinator with its own
// engines, all sharing one in-memory watch store (what PostgreSQL holds),
// one fake upstream and one FakeClock. What docs/cluster.md promises of the
// watch side: one poll per interval across replicas, a webhook at one
// replica reaching subscribers of the others, resume on another replica,
// a dead or stalled poller replaced, degraded mode and the way back.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/executor.h"
#include "server/watch/shared_coordinator.h"
#include "server/watch/watch_engine.h"
#include "server/watch/watch_kinds.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fake_twelvelabs_api.h"
#include "tests/server/watch/cluster_test_support.h"
#include "tests/support/memory_watch_store.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kTask[] = "aaaaaaaaaaaaaaaaaaaaaaaa";
constexpr char kIndex[] = "bbbbbbbbbbbbbbbbbbbbbbbb";

gw::Task Task(const std::string& id, const std::string& status, double progress = -1,
              int64_t updated = 1767225600) {
  gw::Task t;
  t.set_id(id);
  t.set_index_id(kIndex);
  t.set_status_text(status);
  t.set_status(TaskStatusFromText(status));
  if (progress >= 0) t.mutable_progress()->set_percentage(progress);
  t.mutable_update_time()->set_seconds(updated);
  return t;
}

struct Replica {
  std::string id;
  std::unique_ptr<SharedCoordinator> coordinator;
  std::unique_ptr<KillableKind> task_kind, index_kind;
  std::unique_ptr<WatchEngine> tasks, indexes;
};

class ClusterWatchTest : public ::testing::Test {
 protected:
  ClusterWatchTest() {
    options_.base_interval = options_.min_interval = options_.max_interval = absl::Seconds(1);
  }

  Replica* Start(const std::string& id) {
    auto r = std::make_unique<Replica>();
    r->id = id;
    SharedCoordinatorOptions o;
    o.replica = id;
    o.max_polls_per_second = polls_per_second_;
    o.tombstone_ttl = options_.tombstone_ttl;
    o.hint_batch = absl::ZeroDuration();  // hints answered at once: no clock step needed
    r->coordinator = std::make_unique<SharedCoordinator>(&store_, &clock_, o);
    r->task_kind = std::make_unique<KillableKind>(&task_kind_);
    r->index_kind = std::make_unique<KillableKind>(&index_kind_);
    auto key_for = [](const std::string& scope) { return absl::StrCat("key-", scope); };
    r->tasks = std::make_unique<WatchEngine>(r->task_kind.get(), options_, &clock_, r->coordinator.get(),
                                             &inline_, nullptr, key_for);
    r->indexes = std::make_unique<WatchEngine>(r->index_kind.get(), options_, &clock_,
                                               r->coordinator.get(), &inline_, nullptr, key_for);
    r->coordinator->Start();
    replicas_.push_back(std::move(r));
    return replicas_.back().get();
  }
  // The process dies: no hand-back, no interest deleted, reads in flight lost.
  void Kill(Replica* r) {
    r->task_kind->Kill();
    r->index_kind->Kill();
    store_.Disconnect(r->id);
    for (auto& p : replicas_) {
      if (p.get() == r) {
        p->tasks.reset();
        p->indexes.reset();
        p->coordinator.reset();
      }
    }
  }
  std::shared_ptr<Sink> Watch(Replica* r, int64_t resume_after = 0, const std::string& task = kTask) {
    auto sink = std::make_shared<Sink>(resume_after);
    r->tasks->Subscribe("t1", task, sink);
    return sink;
  }
  void Run(absl::Duration d) {
    // In steps, so claim rounds of every replica interleave as in time.
    for (absl::Duration done; done < d; done += absl::Milliseconds(50)) clock_.Advance(absl::Milliseconds(50));
  }

  WatchOptions options_;
  double polls_per_second_ = 1000;
  FakeClock clock_;
  MemoryWatchStore store_{&clock_};
  FakeTwelveLabsApi api_;
  TaskWatchKind task_kind_{&api_};
  IndexWatchKind index_kind_{&api_, 20};
  InlineExecutor inline_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(ClusterWatchTest, OnePollPerIntervalAcrossReplicas) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sa = Watch(a), sb = Watch(b), sc = Watch(c);
  EXPECT_EQ(api_.count("GetTask"), 1) << "b and c get their snapshot from the stored rows";
  for (const auto& s : {sa, sb, sc}) ASSERT_EQ(s->statuses(), std::vector<std::string>{"indexing"});

  Run(absl::Seconds(10));
  const int polls = api_.count("GetTask") - 1;
  EXPECT_GE(polls, 9);
  EXPECT_LE(polls, 10) << "one poll per 1 s interval for the cluster, not one per replica";
  const int64_t claims = a->coordinator->stats().claims + b->coordinator->stats().claims +
                         c->coordinator->stats().claims;
  EXPECT_EQ(claims, polls + 1);

  api_.PutTask(Task(kTask, "ready"));
  Run(absl::Seconds(2));
  for (const auto& s : {sa, sb, sc}) {
    EXPECT_EQ(s->statuses(), (std::vector<std::string>{"indexing", "ready"}));
    EXPECT_TRUE(s->terminal());
  }
  EXPECT_EQ(sa->sequences(), sb->sequences()) << "one numbering for the cluster";
  EXPECT_EQ(sa->sequences(), sc->sequences());
  const int after_terminal = api_.count("GetTask");
  Run(absl::Seconds(5));
  EXPECT_EQ(api_.count("GetTask"), after_terminal) << "a terminal task is polled by nobody";
}

TEST_F(ClusterWatchTest, AWebhookAtOneReplicaReachesSubscribersOfTheOthers) {
  options_.base_interval = options_.min_interval = options_.max_interval = absl::Seconds(60);
  api_.PutTask(Task(kTask, "indexing"));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sb = Watch(b), sc = Watch(c);
  ASSERT_EQ(api_.count("GetTask"), 1);
  api_.PutTask(Task(kTask, "ready"));
  a->tasks->OnWebhook(kTask, "ready");  // a has no subscriber of its own
  EXPECT_EQ(api_.count("GetTask"), 2) << "a read the task once";
  for (const auto& s : {sb, sc}) {
    ASSERT_EQ(s->statuses(), (std::vector<std::string>{"indexing", "ready"}));
    EXPECT_EQ(static_cast<const gw::TaskEvent&>(*s->events().back()->message).source(),
              gw::EVENT_SOURCE_WEBHOOK);
    EXPECT_TRUE(s->terminal());
  }
  EXPECT_EQ(sb->sequences(), sc->sequences());
}

TEST_F(ClusterWatchTest, AWebhookReachesAnIndexWatchOnAnotherReplica) {
  options_.base_interval = options_.min_interval = options_.max_interval = absl::Seconds(60);
  api_.PutTask(Task(kTask, "indexing", -1, 1767225600));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sink = std::make_shared<Sink>();
  b->indexes->Subscribe("t1", kIndex, sink);
  ASSERT_EQ(sink->events().size(), 1u);
  api_.PutTask(Task(kTask, "ready", -1, 1767225700));
  a->indexes->OnWebhook(kTask, "ready");
  ASSERT_EQ(sink->events().size(), 2u);
  EXPECT_EQ(sink->events().back()->item, kTask);
  EXPECT_TRUE(sink->events().back()->terminal);
}

TEST_F(ClusterWatchTest, ResumeOnAnotherReplicaMissesNothingAndRepeatsNothing) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto keeper = Watch(c);  // keeps the task polled while the client moves
  auto sa = Watch(a);
  api_.PutTask(Task(kTask, "indexing", 50));
  Run(absl::Seconds(2));
  ASSERT_EQ(sa->events().size(), 2u);
  const int64_t seen = sa->last();  // the client disconnects from a after event 2

  api_.PutTask(Task(kTask, "indexing", 90));
  Run(absl::Seconds(2));
  api_.PutTask(Task(kTask, "ready"));
  Run(absl::Seconds(2));
  auto sb = Watch(b, /*resume_after=*/seen);
  // The client sees the latest state after what it saw, once, and the end.
  ASSERT_EQ(sb->events().size(), 1u);
  EXPECT_GT(sb->events()[0]->sequence, seen);
  EXPECT_TRUE(sb->terminal());
  EXPECT_EQ(sb->sequences().back(), keeper->sequences().back());
  EXPECT_EQ(keeper->statuses().back(), "ready");
}

TEST_F(ClusterWatchTest, ResumeOnAnotherReplicaAfterNobodyWatchedKeepsNumbers) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  uint64_t id;
  auto sa = std::make_shared<Sink>();
  id = a->tasks->Subscribe("t1", kTask, sa);
  const int64_t seen = sa->last();
  a->tasks->Unsubscribe("t1", kTask, id);
  Run(absl::Seconds(3));
  // b reads again (nobody kept it current); the state did not change, so
  // its number did not either: a client resuming after it gets nothing.
  auto sb = Watch(b, seen);
  EXPECT_EQ(api_.count("GetTask"), 2);
  EXPECT_TRUE(sb->events().empty());
  EXPECT_EQ(sb->calls(), 1) << "the snapshot came, with the number already seen";
  api_.PutTask(Task(kTask, "ready"));
  Run(absl::Seconds(2));
  ASSERT_EQ(sb->events().size(), 1u);
  EXPECT_GT(sb->events()[0]->sequence, seen);
  EXPECT_TRUE(sb->terminal());
}

TEST_F(ClusterWatchTest, WhenThePollerDiesAnotherReplicaPollsAfterTheLease) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");  // first in every claim round: it takes the polls
  Replica* b = Start("b");
  auto sb = Watch(b);
  Run(absl::Seconds(3));
  ASSERT_GT(a->coordinator->stats().claims, 0);
  api_.hold(true);
  Run(absl::Seconds(1));
  ASSERT_EQ(api_.held(), 1u);
  const int64_t a_claims = a->coordinator->stats().claims;
  const int64_t b_claims = b->coordinator->stats().claims;
  EXPECT_EQ(a_claims + b_claims, api_.count("GetTask"));
  // Whoever holds the read in flight dies with it.
  Replica* poller = a;
  Replica* other = b;
  Kill(poller);
  api_.CompleteAll();  // the answer reaches no one
  api_.hold(false);
  api_.PutTask(Task(kTask, "ready"));
  Run(absl::Seconds(5));
  EXPECT_FALSE(sb->terminal()) << "the lease has not run out yet";
  Run(absl::Seconds(12));
  EXPECT_TRUE(sb->terminal()) << "another replica polls once the lease ran out";
  EXPECT_GT(other->coordinator->stats().claims, b_claims);
}

TEST_F(ClusterWatchTest, AStalledPollerWhoseFenceWasBumpedCannotPublish) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sa = Watch(a), sb = Watch(b);
  api_.hold(true);
  Run(absl::Seconds(1));
  ASSERT_EQ(api_.held(), 1u);  // a's read stalls
  api_.PutTask(Task(kTask, "indexing", 20));
  Run(absl::Seconds(16));      // its lease runs out; b polls (held too)
  ASSERT_EQ(api_.held(), 2u);
  api_.PutTask(Task(kTask, "indexing", 30));
  // b's read answers "30" first; then a's stalled read answers "30" as well:
  // it must change nothing.
  api_.CompleteNext();  // a's (oldest)
  api_.CompleteNext();  // b's
  api_.hold(false);
  const SharedCoordinator::Stats sa_stats = a->coordinator->stats();
  const SharedCoordinator::Stats sb_stats = b->coordinator->stats();
  EXPECT_EQ(sa_stats.fenced_off + sb_stats.fenced_off, 1) << "the stalled read was refused";
  EXPECT_EQ(sa->sequences(), sb->sequences());
  ASSERT_EQ(store_.rows(WatchKey{"task", "t1", kTask}.str()).size(), 1u);
  EXPECT_EQ(sa->events().size(), 2u) << "10, then 30 once";
}

TEST_F(ClusterWatchTest, AStoppedReplicaHandsItsPollsBackAtOnce) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sa = Watch(a), sb = Watch(b);
  api_.hold(true);
  Run(absl::Seconds(1));
  ASSERT_EQ(api_.held(), 1u);
  a->coordinator->Stop();  // SIGTERM: its claim goes back, its interest too
  Kill(a);
  api_.CompleteAll();
  api_.hold(false);
  const int before = api_.count("GetTask");
  Run(absl::Milliseconds(300));
  EXPECT_EQ(api_.count("GetTask"), before + 1) << "b polls at its next claim round, not after the lease";
  EXPECT_EQ(store_.interest(WatchKey{"task", "t1", kTask}.str()), 1);
}

TEST_F(ClusterWatchTest, AnUpstream429StopsEveryReplicasPolls) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sa = Watch(a);
  auto sb = Watch(b, 0, "cccccccccccccccccccccccc");
  api_.PutTask(Task("cccccccccccccccccccccccc", "indexing", 10));
  (void)sb;
  Run(absl::Seconds(2));
  api_.FailNext("GetTask", absl::ResourceExhaustedError("429 from upstream"));
  api_.FailNext("GetTask", absl::ResourceExhaustedError("429 from upstream"));
  Run(absl::Seconds(1));
  const int after_429 = api_.count("GetTask");
  Run(absl::Seconds(8));
  EXPECT_EQ(api_.count("GetTask"), after_429) << "no replica polls while the cluster backs off";
  Run(absl::Seconds(4));
  EXPECT_GT(api_.count("GetTask"), after_429);
}

TEST_F(ClusterWatchTest, WhileWebhooksReachOneReplicaEveryReplicaSlowsItsPolls) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sb = Watch(b);
  Run(absl::Seconds(3));
  ASSERT_GE(api_.count("GetTask"), 3) << "every second without webhooks";
  // a receives a webhook about another task: webhooks flow.
  a->tasks->OnWebhook("cccccccccccccccccccccccc", "ready");
  Run(absl::Seconds(2));  // the poll due now still uses the old interval
  const int before = api_.count("GetTask");
  Run(absl::Seconds(20));
  EXPECT_EQ(api_.count("GetTask"), before) << "polls slowed to the safety net on every replica";
  Run(absl::Seconds(60));
  EXPECT_GT(api_.count("GetTask"), before) << "the safety net still polls";
}

TEST_F(ClusterWatchTest, TheClusterPollBudgetHoldsAcrossReplicas) {
  polls_per_second_ = 4;
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  std::vector<std::shared_ptr<Sink>> sinks;
  Replica* rs[] = {a, b, c};
  for (int i = 0; i < 12; ++i) {
    const std::string id = absl::StrCat("dddddddddddddddddddddd", 10 + i);
    api_.PutTask(Task(id, "indexing", 10));
    sinks.push_back(Watch(rs[i % 3], 0, id));
  }
  const int first = api_.count("GetTask");
  ASSERT_EQ(first, 12);  // first reads are not budgeted: subscribers wait on them
  Run(absl::Seconds(10));
  const int polls = api_.count("GetTask") - first;
  EXPECT_LE(polls, 41) << "4 polls a second for the cluster, not 4 per replica";
  EXPECT_GE(polls, 36);
}

TEST_F(ClusterWatchTest, DegradedModeAndBackWithoutGoingBackwardsOrLosingTheEnd) {
  api_.PutTask(Task(kTask, "indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sa = Watch(a), sb = Watch(b), sc = Watch(c);
  Run(absl::Seconds(2));
  const int64_t before_outage = sa->last();

  store_.SetDown(true);
  Run(absl::Seconds(1));
  for (Replica* r : {a, b, c}) EXPECT_FALSE(r->coordinator->stats().shared) << r->id;
  int polls = api_.count("GetTask");
  Run(absl::Seconds(5));
  EXPECT_GE(api_.count("GetTask") - polls, 3 * 4) << "each replica polls its own subscribed task";
  api_.PutTask(Task(kTask, "indexing", 60));
  Run(absl::Seconds(2));
  for (const auto& s : {sa, sb, sc}) {
    EXPECT_EQ(s->statuses().back(), "indexing");
    EXPECT_GT(s->last(), before_outage) << "numbers continue above the last shared one";
  }
  // A webhook at a fans out to a's subscribers only.
  api_.PutTask(Task(kTask, "indexing", 70));
  a->tasks->OnWebhook(kTask, "indexing");
  EXPECT_EQ(static_cast<const gw::Task&>(*sa->events().back()->value).progress().percentage(), 70);

  store_.SetDown(false);
  Run(absl::Seconds(2));
  for (Replica* r : {a, b, c}) {
    EXPECT_TRUE(r->coordinator->stats().shared) << r->id;
    EXPECT_EQ(r->coordinator->stats().transitions, 2) << r->id;
  }
  polls = api_.count("GetTask");
  Run(absl::Seconds(5));
  EXPECT_LE(api_.count("GetTask") - polls, 6) << "one poll per interval for the cluster again";
  Run(absl::Seconds(31));  // a sweep reads every row again
  api_.PutTask(Task(kTask, "ready"));
  Run(absl::Seconds(2));
  for (const auto& s : {sa, sb, sc}) {
    EXPECT_TRUE(s->terminal());
    EXPECT_EQ(s->statuses().back(), "ready");
    std::vector<int64_t> seqs = s->sequences();
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
    // Replicas numbered the same states differently while alone; the
    // shared numbering that wins must not send a state twice.
    const auto events = s->events();
    for (size_t i = 1; i < events.size(); ++i) {
      EXPECT_NE(events[i]->value->SerializeAsString(), events[i - 1]->value->SerializeAsString())
          << "the same state twice, at " << events[i - 1]->sequence << " and " << events[i]->sequence;
    }
  }
}

}  // namespace
}  // namespace tlgw
