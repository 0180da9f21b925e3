// The cluster scenarios of cluster_watch_test against PostgreSQL: three
// replicas in one process, each with its own PgWatchStore (its own
// connections and LISTEN connection) on one database of a real server,
// the real clock with short intervals and leases, one fake upstream.
// Conditions are awaited (up to 30 s), never timed.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/watch/pg_watch_store.h"
#include "server/watch/shared_coordinator.h"
#include "server/watch/watch_engine.h"
#include "server/watch/watch_kinds.h"
#include "tests/server/watch/cluster_test_support.h"
#include "tests/support/fake_twelvelabs_api.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

constexpr char kTask[] = "aaaaaaaaaaaaaaaaaaaaaaaa";

gw::Task Task(const std::string& status, double progress = -1) {
  gw::Task t;
  t.set_id(kTask);
  t.set_index_id("bbbbbbbbbbbbbbbbbbbbbbbb");
  t.set_status_text(status);
  t.set_status(TaskStatusFromText(status));
  if (progress >= 0) t.mutable_progress()->set_percentage(progress);
  return t;
}

bool Await(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(30)) {
  const absl::Time end = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

struct Replica {
  std::string id;
  std::unique_ptr<PgWatchStore> store;
  std::unique_ptr<SharedCoordinator> coordinator;
  std::unique_ptr<KillableKind> kind;
  std::unique_ptr<WatchEngine> tasks;
};

class PgClusterWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.base_interval = options_.min_interval = options_.max_interval = absl::Milliseconds(300);
  }
  void UseServer(tltest::PostgresServer* server) {
    server_ = server;
    auto db = server_->CreateDatabase("cluster");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
    ASSERT_TRUE(PgWatchStore::Migrate(conninfo_, absl::Seconds(10)).ok());
  }
  void SharedServer() {
    auto s = tltest::PostgresServer::Shared();
    ASSERT_TRUE(s.ok()) << s.status();
    UseServer(*s);
  }
  Replica* Start(const std::string& id) {
    auto r = std::make_unique<Replica>();
    r->id = id;
    PgWatchStoreOptions so;
    so.conninfo = conninfo_;
    so.connect_timeout = absl::Seconds(1);
    r->store = std::make_unique<PgWatchStore>(so);
    SharedCoordinatorOptions o;
    o.replica = id;
    o.claim_period = absl::Milliseconds(100);
    o.lease = absl::Seconds(2);
    o.probe_period = absl::Milliseconds(200);
    o.max_polls_per_second = 1000;
    r->coordinator = std::make_unique<SharedCoordinator>(r->store.get(), &clock_, o);
    r->kind = std::make_unique<KillableKind>(&task_kind_);
    r->tasks = std::make_unique<WatchEngine>(r->kind.get(), options_, &clock_, r->coordinator.get(), &fanout_,
                                             nullptr, [](const std::string& s) { return "key-" + s; });
    r->coordinator->Start();
    replicas_.push_back(std::move(r));
    return replicas_.back().get();
  }
  void Kill(Replica* r) {
    r->kind->Kill();
    r->tasks.reset();
    r->coordinator.reset();
    r->store.reset();
  }
  std::shared_ptr<Sink> Watch(Replica* r, int64_t resume_after = 0) {
    auto sink = std::make_shared<Sink>(resume_after);
    r->tasks->Subscribe("t1", kTask, sink);
    return sink;
  }
  void TearDown() override {
    for (auto& r : replicas_) Kill(r.get());
    clock_.Shutdown();
    fanout_.Shutdown();
  }

  WatchOptions options_;
  RealClock clock_;
  ThreadExecutor fanout_;
  FakeTwelveLabsApi api_;
  TaskWatchKind task_kind_{&api_};
  tltest::PostgresServer* server_ = nullptr;
  std::string conninfo_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(PgClusterWatchTest, OnePollPerIntervalForTheCluster) {
  SharedServer();
  api_.PutTask(Task("indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sa = Watch(a), sb = Watch(b), sc = Watch(c);
  ASSERT_TRUE(Await([&] { return sa->events().size() == 1 && sb->events().size() == 1 && sc->events().size() == 1; }));
  const int before = api_.count("GetTask");
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(3));
  const int polls = api_.count("GetTask") - before;
  const double intervals = absl::ToDoubleSeconds(absl::Now() - start) / 0.3;
  // Three replicas polling on their own would make about 3 per interval.
  EXPECT_LE(polls, intervals * 1.5 + 2) << polls << " polls in " << intervals << " intervals";
  EXPECT_GE(polls, 1);
  api_.PutTask(Task("ready"));
  ASSERT_TRUE(Await([&] { return sa->terminal() && sb->terminal() && sc->terminal(); }));
  EXPECT_EQ(sa->sequences(), sb->sequences());
  EXPECT_EQ(sa->sequences(), sc->sequences());
}

TEST_F(PgClusterWatchTest, AWebhookAtOneReplicaEndsStreamsOnTheOthers) {
  options_.base_interval = options_.min_interval = options_.max_interval = absl::Seconds(60);
  SharedServer();
  api_.PutTask(Task("indexing"));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sb = Watch(b), sc = Watch(c);
  ASSERT_TRUE(Await([&] { return sb->events().size() == 1 && sc->events().size() == 1; }))
      << sb->events().size() << " " << sc->events().size() << " " << api_.count("GetTask") << " claims "
      << a->coordinator->stats().claims << "/" << b->coordinator->stats().claims << "/"
      << c->coordinator->stats().claims << " fenced " << a->coordinator->stats().fenced_off << "/"
      << b->coordinator->stats().fenced_off << "/" << c->coordinator->stats().fenced_off << " loads "
      << b->coordinator->stats().loads << "/" << c->coordinator->stats().loads << " hints "
      << b->coordinator->stats().hints << "/" << c->coordinator->stats().hints;
  const int gets = api_.count("GetTask");
  api_.PutTask(Task("ready"));
  a->tasks->OnWebhook(kTask, "ready");
  ASSERT_TRUE(Await([&] { return sb->terminal() && sc->terminal(); }));
  EXPECT_EQ(static_cast<const gw::TaskEvent&>(*sb->events().back()->message).source(), gw::EVENT_SOURCE_WEBHOOK);
  EXPECT_EQ(api_.count("GetTask"), gets + 1) << "one read for the webhook, made by a";
}

TEST_F(PgClusterWatchTest, ResumeOnAnotherReplica) {
  SharedServer();
  api_.PutTask(Task("indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto keeper = Watch(c);
  auto sa = Watch(a);
  ASSERT_TRUE(Await([&] { return sa->events().size() == 1; }));
  api_.PutTask(Task("indexing", 50));
  ASSERT_TRUE(Await([&] { return sa->events().size() == 2; }));
  const int64_t seen = sa->last();
  api_.PutTask(Task("indexing", 90));
  ASSERT_TRUE(Await([&] { return keeper->events().size() == 3; }));
  api_.PutTask(Task("ready"));
  ASSERT_TRUE(Await([&] { return keeper->terminal(); }));
  auto sb = Watch(b, seen);
  ASSERT_TRUE(Await([&] { return sb->terminal(); }));
  ASSERT_EQ(sb->events().size(), 1u) << "only the latest state after what was seen";
  EXPECT_EQ(sb->sequences().back(), keeper->sequences().back());
}

TEST_F(PgClusterWatchTest, WhenThePollerDiesAnotherPollsAfterTheLease) {
  SharedServer();
  api_.PutTask(Task("indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  auto sa = Watch(a), sb = Watch(b);
  ASSERT_TRUE(Await([&] { return sb->events().size() == 1; }));
  const int64_t a_before = a->coordinator->stats().claims;
  api_.hold(true);
  ASSERT_TRUE(api_.AwaitHeld(1));
  // Whoever holds the read dies; if it was b, a's subscriber is the one to watch.
  const bool a_polls = a->coordinator->stats().claims > a_before;
  Replica* dead = a_polls ? a : b;
  auto survivor = a_polls ? sb : sa;
  Kill(dead);
  api_.CompleteAll();
  api_.hold(false);
  api_.CompleteAll();
  api_.PutTask(Task("ready"));
  ASSERT_TRUE(Await([&] { return survivor->terminal(); })) << "the lease ran out and the other replica polled";
}

TEST_F(PgClusterWatchTest, ADatabaseOutageGoesLocalAndBackWithoutLosingTheEnd) {
  auto own = tltest::PostgresServer::Create();
  ASSERT_TRUE(own.ok()) << own.status();
  UseServer(own->get());
  api_.PutTask(Task("indexing", 10));
  Replica* a = Start("a");
  Replica* b = Start("b");
  Replica* c = Start("c");
  auto sa = Watch(a), sb = Watch(b), sc = Watch(c);
  ASSERT_TRUE(Await([&] { return sa->events().size() == 1 && sb->events().size() == 1 && sc->events().size() == 1; }));

  ASSERT_TRUE(server_->Stop().ok());
  ASSERT_TRUE(Await([&] {
    return !a->coordinator->stats().shared && !b->coordinator->stats().shared && !c->coordinator->stats().shared;
  }));
  api_.PutTask(Task("indexing", 60));
  ASSERT_TRUE(Await([&] {
    for (const auto& s : {sa, sb, sc}) {
      if (static_cast<const gw::Task&>(*s->events().back()->value).progress().percentage() != 60) return false;
    }
    return true;
  })) << "each replica polls its own subscribers' task";

  ASSERT_TRUE(server_->Start().ok());
  ASSERT_TRUE(Await([&] {
    return a->coordinator->stats().shared && b->coordinator->stats().shared && c->coordinator->stats().shared;
  }));
  api_.PutTask(Task("ready"));
  ASSERT_TRUE(Await([&] { return sa->terminal() && sb->terminal() && sc->terminal(); }));
  for (const auto& s : {sa, sb, sc}) {
    const std::vector<int64_t> seqs = s->sequences();
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
    EXPECT_EQ(s->statuses().back(), "ready");
  }
  for (auto& r : replicas_) Kill(r.get());
}

}  // namespace
}  // namespace tlgw
