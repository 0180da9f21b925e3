// One contract, every store: the SQLite store (one file, each "replica" a
// handle of its own) and the PostgreSQL store (one real server, each
// replica its own connections) must behave alike for idempotent creates
// and ownership. Staleness is real time here (PostgreSQL judges it on its
// own clock), with attempts of zero length and a short takeover margin.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/common/clock.h"
#include "server/state/postgres_store.h"
#include "server/state/request_store.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

using Attempt = RequestStore::Attempt;
using Outcome = RequestStore::Outcome;
constexpr absl::Duration kMargin = absl::Milliseconds(200);

// One replica's view of the shared store.
struct Replica {
  std::unique_ptr<RequestStore> owned;
  RequestStore* requests = nullptr;
  OwnershipStore* owners = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // A new handle on the one shared store, as replica `id`.
  virtual Replica Open(const std::string& id) = 0;
  // Makes the shared store unreachable and reachable again (PostgreSQL
  // only; SQLite is a local file).
  virtual bool CanStop() const { return false; }
  virtual void StopDatabase() {}
  virtual void StartDatabase() {}
};

RealClock real_clock;

class SqliteBackend : public Backend {
 public:
  SqliteBackend() {
    static int n = 0;
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/contract", ++n, "-", getpid(), ".db");
  }
  Replica Open(const std::string& id) override {
    auto s = SqliteRequestStore::Open(path_, &real_clock, absl::Seconds(10), kMargin, absl::Hours(1), id);
    EXPECT_TRUE(s.ok()) << s.status();
    Replica r;
    r.owners = s->get();
    r.requests = s->get();
    r.owned = *std::move(s);
    return r;
  }

 private:
  std::string path_;
};

tltest::PostgresServer* Server() {
  // Stopped and removed at exit; tests that stop it start it again.
  auto server = tltest::PostgresServer::Shared();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.value_or(nullptr);
}

class PostgresBackend : public Backend {
 public:
  PostgresBackend() {
    auto db = Server()->CreateDatabase("contract");
    EXPECT_TRUE(db.ok()) << db.status();
    conninfo_ = db.value_or("");
  }
  Replica Open(const std::string& id) override {
    PostgresStoreOptions o;
    o.pool.conninfo = conninfo_;
    o.pool.connect_timeout = absl::Seconds(2);
    o.pool.retry_interval = absl::Milliseconds(100);
    o.replica_id = id;
    o.takeover_margin = kMargin;
    auto s = PostgresStateStore::Open(o, &real_clock, /*require_database=*/true);
    EXPECT_TRUE(s.ok()) << s.status();
    Replica r;
    r.owners = s->get();
    r.requests = s->get();
    r.owned = *std::move(s);
    return r;
  }
  bool CanStop() const override { return true; }
  void StopDatabase() override { ASSERT_TRUE(Server()->Stop().ok()); }
  void StartDatabase() override { ASSERT_TRUE(Server()->Start().ok()) << Server()->LogTail(); }

 private:
  std::string conninfo_;
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
    } else {
      ASSERT_NE(Server(), nullptr);
      // A test that failed while the server was stopped must not fail the next.
      if (!Server()->running()) {
        ASSERT_TRUE(Server()->Start().ok());
      }
      backend_ = std::make_unique<PostgresBackend>();
    }
  }
  // An attempt starting now that must end within `length`.
  static Attempt AttemptOf(absl::Duration length, const std::string& source = "clip.mp4") {
    const absl::Time now = absl::Now();
    return Attempt{"idx1", source, now, now + length};
  }
  std::unique_ptr<Backend> backend_;
};

TEST_P(StoreContractTest, ClaimCompleteDone) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  auto first = a.requests->Claim("t/Create", "r1", "fp", AttemptOf(absl::Minutes(1)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, Outcome::kNew);
  auto again = b.requests->Claim("t/Create", "r1", "fp", AttemptOf(absl::Minutes(1)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, Outcome::kInProgress);
  EXPECT_GT(again->retry_at, absl::Now() + absl::Seconds(30)) << "takeable only after the first attempt's deadline";
  ASSERT_TRUE(a.requests->Complete("t/Create", "r1", "task1").ok());
  for (Replica* r : {&a, &b}) {
    auto done = r->requests->Claim("t/Create", "r1", "fp", AttemptOf(absl::Minutes(1)));
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(done->outcome, Outcome::kDone);
    EXPECT_EQ(done->task_id, "task1");
  }
  // Scopes are separate.
  EXPECT_EQ(b.requests->Claim("u/Create", "r1", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
}

TEST_P(StoreContractTest, OtherFieldsConflictInProgressOrDone) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  ASSERT_EQ(a.requests->Claim("s", "r", "fp1", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
  EXPECT_EQ(b.requests->Claim("s", "r", "fp2", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kConflict);
  ASSERT_TRUE(a.requests->Complete("s", "r", "task1").ok());
  EXPECT_EQ(b.requests->Claim("s", "r", "fp2", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kConflict);
}

TEST_P(StoreContractTest, ReleaseLetsTheNextClaimGoAhead) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  ASSERT_EQ(a.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
  // Only the claim's holder releases it.
  ASSERT_TRUE(b.requests->Release("s", "r").ok());
  EXPECT_EQ(b.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kInProgress);
  ASSERT_TRUE(a.requests->Release("s", "r").ok());
  EXPECT_EQ(b.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
}

// A claim past its deadline (a crash mid-create) is taken over by exactly
// the next claimer, which learns what the first attempt was about; the
// replica taken over can no longer complete, release or reopen it.
TEST_P(StoreContractTest, StaleClaimIsTakenOverAndTheLoserIsFenced) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  Replica c = backend_->Open("c");
  const Attempt first = AttemptOf(absl::ZeroDuration(), "first.mp4");
  ASSERT_EQ(a.requests->Claim("s", "r", "fp", first)->outcome, Outcome::kNew);
  absl::SleepFor(kMargin + absl::Milliseconds(200));
  auto taken = b.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1), "second.mp4"));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->outcome, Outcome::kTakenOver);
  EXPECT_EQ(taken->unresolved.index_id, "idx1");
  EXPECT_EQ(taken->unresolved.source, "first.mp4");
  EXPECT_LE(taken->unresolved.started, absl::Now());
  // B holds it now: C waits, A is fenced off.
  EXPECT_EQ(c.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kInProgress);
  absl::Status late = a.requests->Complete("s", "r", "task-of-a");
  EXPECT_EQ(late.code(), absl::StatusCode::kAborted) << late;
  ASSERT_TRUE(a.requests->Release("s", "r").ok());
  ASSERT_TRUE(a.requests->Reopen("s", "r", taken->unresolved).ok());
  EXPECT_EQ(c.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kInProgress)
      << "A's release or reopen must not touch B's claim";
  ASSERT_TRUE(b.requests->Complete("s", "r", "task-of-b").ok());
  auto done = c.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)));
  EXPECT_EQ(done->outcome, Outcome::kDone);
  EXPECT_EQ(done->task_id, "task-of-b");
}

// Reopen puts an unresolved attempt back: the next claim takes it over at
// once, over the same window.
TEST_P(StoreContractTest, ReopenMakesTheAttemptTakeableAtOnce) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  ASSERT_EQ(a.requests->Claim("s", "r", "fp", AttemptOf(absl::ZeroDuration(), "x.mp4"))->outcome, Outcome::kNew);
  absl::SleepFor(kMargin + absl::Milliseconds(200));
  auto taken = b.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1), "y.mp4"));
  ASSERT_EQ(taken->outcome, Outcome::kTakenOver);
  ASSERT_TRUE(b.requests->Reopen("s", "r", taken->unresolved).ok());
  absl::SleepFor(kMargin + absl::Milliseconds(200));
  auto retaken = a.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1), "z.mp4"));
  ASSERT_EQ(retaken->outcome, Outcome::kTakenOver);
  EXPECT_EQ(retaken->unresolved.source, "x.mp4");
  EXPECT_LE(absl::AbsDuration(retaken->unresolved.started - taken->unresolved.started), absl::Milliseconds(1));
}

// Claims on separate connections (or handles) racing for one request_id:
// exactly one wins, every round.
TEST_P(StoreContractTest, ThreeRacingReplicasHaveExactlyOneWinnerPerRound) {
  constexpr int kReplicas = 3;
  constexpr int kRounds = 100;
  std::vector<Replica> replicas;
  for (int i = 0; i < kReplicas; ++i) replicas.push_back(backend_->Open(absl::StrCat("racer", i)));
  std::vector<std::vector<Outcome>> outcomes(kReplicas, std::vector<Outcome>(kRounds));
  std::atomic<int> errors{0};
  // Everyone starts each round together.
  std::vector<std::atomic<int>> arrived(kRounds);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < kRounds; ++round) {
        arrived[round].fetch_add(1);
        while (arrived[round].load() < kReplicas) std::this_thread::yield();
        auto r = replicas[i].requests->Claim("s", absl::StrCat("race-", round), "fp",
                                             AttemptOf(absl::Minutes(1)));
        if (!r.ok()) {
          errors.fetch_add(1);
          ADD_FAILURE() << r.status();
          continue;
        }
        outcomes[i][round] = r->outcome;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.load(), 0);
  for (int round = 0; round < kRounds; ++round) {
    int winners = 0;
    for (int i = 0; i < kReplicas; ++i) {
      if (outcomes[i][round] == Outcome::kNew) {
        ++winners;
      } else {
        EXPECT_EQ(outcomes[i][round], Outcome::kInProgress) << "round " << round;
      }
    }
    EXPECT_EQ(winners, 1) << "round " << round;
  }
}

TEST_P(StoreContractTest, RecordsSurviveANewHandle) {
  {
    Replica a = backend_->Open("a");
    ASSERT_EQ(a.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
    ASSERT_TRUE(a.requests->Complete("s", "r", "task9").ok());
    ASSERT_TRUE(a.owners->RecordOwner("task9", "t1").ok());
  }
  Replica again = backend_->Open("a2");
  auto claim = again.requests->Claim("s", "r", "fp", AttemptOf(absl::Minutes(1)));
  EXPECT_EQ(claim->outcome, Outcome::kDone);
  EXPECT_EQ(claim->task_id, "task9");
  EXPECT_EQ(again.owners->Owner("task9").value_or("?"), "t1");
}

TEST_P(StoreContractTest, OwnershipIsSharedAndTheFirstRecordWins) {
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  EXPECT_EQ(b.owners->Owner("task1").value_or("?"), "") << "unknown before it is recorded";
  ASSERT_TRUE(a.owners->RecordOwner("task1", "t1").ok());
  EXPECT_EQ(b.owners->Owner("task1").value_or("?"), "t1") << "not cached as unknown";
  ASSERT_TRUE(b.owners->RecordOwner("task1", "t2").ok());
  EXPECT_EQ(a.owners->Owner("task1").value_or("?"), "t1");
  ASSERT_TRUE(a.owners->RecordOwner("task2", "t2").ok());
  auto many = b.owners->Owners({"task1", "task2", "task3", "task\"odd\\id"});
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(*many, (std::map<std::string, std::string>{{"task1", "t1"}, {"task2", "t2"}}));
}

// With the database stopped: creates cannot claim (UNAVAILABLE, so the
// service answers UNAVAILABLE with RetryInfo), owners already seen are
// still answered, an unseen one is UNAVAILABLE (never "unknown"); after a
// restart the same handles work again without being reopened.
TEST_P(StoreContractTest, DatabaseDownIsUnavailableAndRecoversAfterRestart) {
  if (!backend_->CanStop()) GTEST_SKIP() << "a local SQLite file cannot be stopped";
  Replica a = backend_->Open("a");
  Replica b = backend_->Open("b");
  ASSERT_TRUE(b.owners->RecordOwner("seen", "t1").ok());
  ASSERT_TRUE(b.owners->RecordOwner("unseen", "t1").ok());  // recorded by another replica
  ASSERT_EQ(a.owners->Owner("seen").value_or("?"), "t1");
  ASSERT_EQ(a.requests->Claim("s", "before", "fp", AttemptOf(absl::Minutes(1)))->outcome, Outcome::kNew);
  ASSERT_NO_FATAL_FAILURE(backend_->StopDatabase());
  for (int i = 0; i < 3; ++i) {
    auto claim = a.requests->Claim("s", absl::StrCat("down", i), "fp", AttemptOf(absl::Minutes(1)));
    EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable) << claim.status();
  }
  EXPECT_EQ(a.requests->Complete("s", "before", "task1").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.owners->Owner("seen").value_or("?"), "t1") << "a positive answer is cached for good";
  EXPECT_EQ(a.owners->Owner("unseen").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.owners->Owners({"seen", "unseen"}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.owners->RecordOwner("new", "t1").code(), absl::StatusCode::kUnavailable);
  ASSERT_NO_FATAL_FAILURE(backend_->StartDatabase());
  absl::StatusOr<RequestStore::ClaimResult> claim;
  // The pool fails fast for a moment after a failed connection attempt.
  for (int i = 0; i < 100; ++i) {
    claim = a.requests->Claim("s", "after", "fp", AttemptOf(absl::Minutes(1)));
    if (claim.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->outcome, Outcome::kNew);
  EXPECT_TRUE(a.requests->Complete("s", "before", "task1").ok());
  EXPECT_EQ(a.owners->Owner("unseen").value_or("?"), "t1");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// PostgreSQL frozen (SIGSTOP: its connections stay open and its port
// accepts, but nothing answers; the server's statement_timeout cannot
// fire). A call on an open connection answers UNAVAILABLE at the client
// bound (statement_timeout + 2 s) instead of waiting for good, later calls
// fail fast, and after SIGCONT the same handle works again. Shutdown cuts
// a call that is waiting.
TEST(PostgresStoreFrozen, CallsAreUnavailableAtTheClientBoundAndRecover) {
  auto server = tltest::PostgresServer::Create();  // its own: frozen here only
  ASSERT_TRUE(server.ok()) << server.status();
  auto db = (*server)->CreateDatabase("frozen");
  ASSERT_TRUE(db.ok()) << db.status();
  PostgresStoreOptions o;
  o.pool.conninfo = *db;
  o.pool.connect_timeout = absl::Seconds(2);
  o.pool.statement_timeout = absl::Seconds(1);
  o.pool.lock_timeout = absl::Milliseconds(500);
  o.pool.retry_interval = absl::Milliseconds(100);
  o.replica_id = "a";
  auto store = PostgresStateStore::Open(o, &real_clock, /*require_database=*/true);
  ASSERT_TRUE(store.ok()) << store.status();
  RequestStore* requests = store->get();
  ASSERT_TRUE((*store)->RecordOwner("before", "t1").ok());  // a pooled connection, open and idle
  ASSERT_TRUE((*server)->Freeze().ok());
  std::atomic<bool> returned{false};
  absl::Status first;
  std::thread caller([&] {
    first = (*store)->RecordOwner("frozen", "t1");
    returned = true;
  });
  // Generous: the bound is 3 s; without it the call never returns.
  for (int i = 0; i < 300 && !returned; ++i) absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(returned.load()) << "a call waited 30 s on a frozen database";
  caller.join();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  EXPECT_TRUE(absl::StrContains(first.message(), "did not answer")) << first;
  EXPECT_TRUE((*store)->pool()->down());
  auto attempt = [] {
    const absl::Time now = absl::Now();
    return Attempt{"idx1", "clip.mp4", now, now + absl::Minutes(1)};
  };
  auto claim = requests->Claim("s", "frozen", "fp", attempt());
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable) << claim.status();
  ASSERT_TRUE((*server)->Thaw().ok());
  for (int i = 0; i < 100; ++i) {
    claim = requests->Claim("s", "thawed", "fp", attempt());
    if (claim.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_FALSE((*store)->pool()->down());
  // Frozen again, with a call waiting (client bound 12 s): Shutdown ends
  // it long before.
  o.pool.statement_timeout = absl::Seconds(10);
  o.replica_id = "b";
  auto slow = PostgresStateStore::Open(o, &real_clock, /*require_database=*/true);
  ASSERT_TRUE(slow.ok()) << slow.status();
  ASSERT_TRUE((*slow)->RecordOwner("before-b", "t1").ok());
  ASSERT_TRUE((*server)->Freeze().ok());
  returned = false;
  std::thread waiting([&] {
    first = (*slow)->RecordOwner("cut", "t1");
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(300));
  (*slow)->pool()->Shutdown();
  for (int i = 0; i < 60 && !returned; ++i) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(returned.load()) << "Shutdown left a call waiting on the database";
  waiting.join();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  ASSERT_TRUE((*server)->Thaw().ok());
}

}  // namespace
}  // namespace tlgw
