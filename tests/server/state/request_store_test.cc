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

std::string TempDb() {
  const char* dir = std::getenv("TEST_TMPDIR");
  static int n = 0;
  return std::string(dir != nullptr ? dir : "/tmp") + "/store" + std::to_string(++n) + ".db";
}

TEST(SqliteRequestStore, ClaimCompleteRepeat) {
  auto store = *SqliteRequestStore::Open(":memory:", &clock);
  auto first = store->Claim("t/Create", "r1", "fp");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->outcome, RequestStore::Outcome::kNew);
  EXPECT_EQ(store->Claim("t/Create", "r1", "fp")->outcome, RequestStore::Outcome::kInProgress);
  EXPECT_EQ(store->Claim("t/Create", "r1", "other")->outcome, RequestStore::Outcome::kConflict);
  ASSERT_TRUE(store->Complete("t/Create", "r1", "task1").ok());
  auto again = store->Claim("t/Create", "r1", "fp");
  EXPECT_EQ(again->outcome, RequestStore::Outcome::kDone);
  EXPECT_EQ(again->task_id, "task1");
  // Scopes are separate.
  EXPECT_EQ(store->Claim("u/Create", "r1", "fp")->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, ReleaseAllowsATryAgain) {
  auto store = *SqliteRequestStore::Open(":memory:", &clock);
  store->Claim("s", "r", "fp").IgnoreError();
  ASSERT_TRUE(store->Release("s", "r").ok());
  EXPECT_EQ(store->Claim("s", "r", "fp")->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, StaleClaimIsTakenOverOnlyAfterItsTime) {
  FakeClock c;
  auto store = *SqliteRequestStore::Open(":memory:", &c, absl::Seconds(2), absl::Minutes(10));
  store->Claim("s", "r", "fp").IgnoreError();
  c.Advance(absl::Minutes(9));
  EXPECT_EQ(store->Claim("s", "r", "fp")->outcome, RequestStore::Outcome::kInProgress);
  c.Advance(absl::Minutes(2));
  EXPECT_EQ(store->Claim("s", "r", "fp")->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, SurvivesReopen) {
  std::string path = TempDb();
  {
    auto store = *SqliteRequestStore::Open(path, &clock);
    store->Claim("s", "r", "fp").IgnoreError();
    ASSERT_TRUE(store->Complete("s", "r", "task9").ok());
  }
  auto store = *SqliteRequestStore::Open(path, &clock);
  auto claim = store->Claim("s", "r", "fp");
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

  auto claim = store->Claim("s", "r", "fp");
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kUnavailable) << claim.status();
  absl::Status owner = store->RecordOwner("task2", "t1");
  EXPECT_EQ(owner.code(), absl::StatusCode::kUnavailable) << owner;
  EXPECT_NE(owner.message().find("locked"), absl::string_view::npos) << owner;
  EXPECT_EQ(*store->Owner("task1"), "t1") << "reads go on under another writer's lock";

  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(store->Claim("s", "r", "fp")->outcome, RequestStore::Outcome::kNew);
}

TEST(SqliteRequestStore, UnopenablePathIsAClearError) {
  auto store = SqliteRequestStore::Open("/nonexistent-dir/x/state.db", &clock);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("--state_db"), absl::string_view::npos);
}

}  // namespace
}  // namespace tlgw
