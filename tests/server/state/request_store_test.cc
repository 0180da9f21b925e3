#include "server/state/request_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/fake_clock.h"

namespace tlgw {
namespace {

FakeClock clock;

using Attempt = RequestStore::Attempt;

// An attempt made now on `c` that must end within `timeout`.
Attempt AttemptAt(FakeClock& c, absl::Duration timeout = absl::Seconds(30),
                  const std::string& source = "clip.mp4") {
  return Attempt{"idx1", source, c.Now(), c.Now() + timeout};
}

std::string TempDb() {
  const char* dir = std::getenv("TEST_TMPDIR");
  static int n = 0;
  return std::string(dir != nullptr ? dir : "/tmp") + "/store" + std::to_string(++n) + ".db";
}

TEST(SqliteRequestStore, ClaimCompleteRepeat) {
  auto store = *SqliteRequestStore::Open(":memory:", &clock);
  auto first = store->Claim("t/Create", "r1", "fp", AttemptAt(clock));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->outcome, RequestStore::Outcome::kNew);
  EXPECT_EQ(store->Claim("t/Create", "r1", "fp", AttemptAt(clock))->outcome, RequestStore::Outcome::kInProgress);
  EXPECT_EQ(store->Claim("t/Create", "r1", "other", AttemptAt(clock))->outcome, RequestStore::Outcome::kConflict);
  ASSERT_TRUE(store->Complete("t/Create", "r1", "task1").ok());
  auto again = store->Claim("t/Create", "r1", "fp", AttemptAt(clock));
  EXPECT_EQ(again->outcome, RequestStore::Outcome::kDone);
  EXPECT_EQ(again->task_id, "task1");
  // Scopes are separate.
  EXPECT_EQ(store->Claim("u/Create", "r1", "fp", AttemptAt(clock))->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, ReleaseAllowsATryAgain) {
  auto store = *SqliteRequestStore::Open(":memory:", &clock);
  store->Claim("s", "r", "fp", AttemptAt(clock)).IgnoreError();
  ASSERT_TRUE(store->Release("s", "r").ok());
  EXPECT_EQ(store->Claim("s", "r", "fp", AttemptAt(clock))->outcome, RequestStore::Outcome::kNew);
}

// A claim is held until its attempt's own deadline (plus the margin), not
// a fixed 10 minutes; the taker learns what the attempt was about to make.
TEST(SqliteRequestStore, ClaimIsTakenOverOnceItsDeadlinePassed) {
  FakeClock c;
  auto store = *SqliteRequestStore::Open(":memory:", &c, absl::Seconds(2), absl::Seconds(2));
  const Attempt first = AttemptAt(c, absl::Seconds(3));
  ASSERT_EQ(store->Claim("s", "r", "fp", first)->outcome, RequestStore::Outcome::kNew);
  c.Advance(absl::Seconds(4));
  auto held = store->Claim("s", "r", "fp", AttemptAt(c));
  EXPECT_EQ(held->outcome, RequestStore::Outcome::kInProgress);
  EXPECT_EQ(held->retry_at, first.deadline + absl::Seconds(2)) << "deadline plus the margin";
  c.Advance(absl::Seconds(1));
  const Attempt second = AttemptAt(c, absl::Seconds(10));
  auto taken = store->Claim("s", "r", "fp", second);
  ASSERT_EQ(taken->outcome, RequestStore::Outcome::kTakenOver);
  EXPECT_EQ(taken->unresolved.index_id, "idx1");
  EXPECT_EQ(taken->unresolved.source, "clip.mp4");
  EXPECT_EQ(taken->unresolved.started, first.started);
  EXPECT_EQ(taken->unresolved.deadline, first.deadline);
  // The taker holds the claim for its own deadline; its window starts with
  // the first, unanswered attempt.
  c.Advance(absl::Seconds(11));
  EXPECT_EQ(store->Claim("s", "r", "fp", AttemptAt(c))->outcome, RequestStore::Outcome::kInProgress);
  c.Advance(absl::Seconds(1));
  auto again = store->Claim("s", "r", "fp", AttemptAt(c));
  ASSERT_EQ(again->outcome, RequestStore::Outcome::kTakenOver);
  EXPECT_EQ(again->unresolved.started, first.started);
  EXPECT_EQ(again->unresolved.deadline, second.deadline);
}

TEST(SqliteRequestStore, AStaleClaimWithOtherFieldsIsAConflict) {
  FakeClock c;
  auto store = *SqliteRequestStore::Open(":memory:", &c);
  store->Claim("s", "r", "fp", AttemptAt(c, absl::Seconds(1))).IgnoreError();
  c.Advance(absl::Minutes(1));
  EXPECT_EQ(store->Claim("s", "r", "other", AttemptAt(c))->outcome, RequestStore::Outcome::kConflict);
}

// A look-up that failed puts the attempt back: the next claim takes it
// over at once, over the same window.
TEST(SqliteRequestStore, ReopenMakesTheAttemptTakeableAgainAtOnce) {
  FakeClock c;
  auto store = *SqliteRequestStore::Open(":memory:", &c, absl::Seconds(2), absl::Seconds(2));
  const Attempt first = AttemptAt(c, absl::Seconds(3));
  store->Claim("s", "r", "fp", first).IgnoreError();
  c.Advance(absl::Seconds(6));
  auto taken = store->Claim("s", "r", "fp", AttemptAt(c, absl::Minutes(1)));
  ASSERT_EQ(taken->outcome, RequestStore::Outcome::kTakenOver);
  EXPECT_EQ(store->Claim("s", "r", "fp", AttemptAt(c))->outcome, RequestStore::Outcome::kInProgress);
  ASSERT_TRUE(store->Reopen("s", "r", taken->unresolved).ok());
  auto retaken = store->Claim("s", "r", "fp", AttemptAt(c));
  ASSERT_EQ(retaken->outcome, RequestStore::Outcome::kTakenOver);
  EXPECT_EQ(retaken->unresolved.started, first.started);
  EXPECT_EQ(retaken->unresolved.deadline, first.deadline);
  // A completed record is not reopened.
  ASSERT_TRUE(store->Complete("s", "r", "task1").ok());
  ASSERT_TRUE(store->Reopen("s", "r", taken->unresolved).ok());
  EXPECT_EQ(store->Claim("s", "r", "fp", AttemptAt(c))->outcome, RequestStore::Outcome::kDone);
}

// A database written before attempts were recorded: its records are kept,
// the columns are added, and a claim in progress keeps the fixed 10-minute
// staleness of that time, with no attempt to look for.
TEST(SqliteRequestStore, MigratesADatabaseWithoutAttemptColumns) {
  FakeClock c;
  std::string path = TempDb();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string now = std::to_string(absl::ToUnixMillis(c.Now()));
    const std::string sql =
        "CREATE TABLE request_ids ("
        "  scope TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL,"
        "  state INTEGER NOT NULL, task_id TEXT NOT NULL DEFAULT '',"
        "  updated_at INTEGER NOT NULL, PRIMARY KEY (scope, request_id));"
        "CREATE TABLE task_owners ("
        "  task_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at INTEGER NOT NULL);"
        "INSERT INTO request_ids VALUES ('s', 'done', 'fp', 1, 'task7', " + now + ");"
        "INSERT INTO request_ids VALUES ('s', 'running', 'fp', 0, '', " + now + ");"
        "INSERT INTO task_owners VALUES ('task7', 'media', " + now + ");";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  for (int open = 0; open < 2; ++open) {  // a second open finds it migrated
    auto store = SqliteRequestStore::Open(path, &c);
    ASSERT_TRUE(store.ok()) << store.status();
    auto done = (*store)->Claim("s", "done", "fp", AttemptAt(c));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->outcome, RequestStore::Outcome::kDone);
    EXPECT_EQ(done->task_id, "task7");
    EXPECT_EQ(*(*store)->Owner("task7"), "media");
    EXPECT_EQ((*store)->Claim("s", "running", "fp", AttemptAt(c))->outcome,
              RequestStore::Outcome::kInProgress);
  }
  c.Advance(absl::Minutes(10) + absl::Seconds(3));
  auto store = *SqliteRequestStore::Open(path, &c);
  auto taken = store->Claim("s", "running", "fp", AttemptAt(c));
  ASSERT_EQ(taken->outcome, RequestStore::Outcome::kTakenOver);
  EXPECT_EQ(taken->unresolved.index_id, "") << "no attempt was recorded";
}

TEST(SqliteRequestStore, SurvivesReopen) {
  std::string path = TempDb();
  {
    auto store = *SqliteRequestStore::Open(path, &clock);
    store->Claim("s", "r", "fp", AttemptAt(clock)).IgnoreError();
    ASSERT_TRUE(store->Complete("s", "r", "task9").ok());
  }
  auto store = *SqliteRequestStore::Open(path, &clock);
  auto claim = store->Claim("s", "r", "fp", AttemptAt(clock));
  EXPECT_EQ(claim->outcome, RequestStore::Outcome::kDone);
  EXPECT_EQ(claim->task_id, "task9");
}

// Another process holding the database's write lock makes store calls
// fail UNAVAILABLE after the busy timeout, never hang; reads still work
// (WAL), and writes work again once the lock is gone.
TEST(SqliteRequestStore, OwnersLooksUpManyTasksAtOnceAndLeavesOutUnrecordedOnes) {
  auto store = *SqliteRequestStore::Open(":memory:", &clock);
  std::vector<std::string> ids;
  for (int i = 0; i < 450; ++i) {  // more than one batch of parameters
    ids.push_back("task" + std::to_string(i));
    if (i % 3 == 0) ASSERT_TRUE(store->RecordOwner(ids.back(), i % 2 == 0 ? "t1" : "t2").ok());
  }
  ASSERT_TRUE(store->RecordOwner("task0", "t2").ok());  // the first record wins
  auto owners = store->Owners(ids);
  ASSERT_TRUE(owners.ok()) << owners.status();
  EXPECT_EQ(owners->size(), 150u);
  EXPECT_EQ(owners->at("task0"), "t1");
  EXPECT_EQ(owners->at("task3"), "t2");
  EXPECT_EQ(owners->count("task1"), 0u) << "an unrecorded task has no owner";
  EXPECT_EQ(owners->at("task447"), "t2");
  EXPECT_TRUE(store->Owners({})->empty());
}

TEST(SqliteRequestStore, ALockHeldElsewhereIsUnavailableNotAHang) {
  std::string path = TempDb();
  auto store = *SqliteRequestStore::Open(path, &clock, absl::Milliseconds(50));
  ASSERT_TRUE(store->RecordOwner("task1", "t1").ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto claim = store->Claim("s", "r", "fp", AttemptAt(clock));
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable) << claim.status();
  absl::Status owner = store->RecordOwner("task2", "t1");
  EXPECT_EQ(owner.code(), absl::StatusCode::kUnavailable) << owner;
  EXPECT_NE(owner.message().find("locked"), absl::string_view::npos) << owner;
  EXPECT_EQ(*store->Owner("task1"), "t1") << "reads go on under another writer's lock";

  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(store->Claim("s", "r", "fp", AttemptAt(clock))->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, UnopenablePathIsAClearError) {
  auto store = SqliteRequestStore::Open("/nonexistent-dir/x/state.db", &clock);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("--state_db"), absl::string_view::npos);
}

}  // namespace
}  // namespace tlgw
