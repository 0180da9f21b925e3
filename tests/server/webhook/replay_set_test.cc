// The webhook replay set, in memory and shared in a real PostgreSQL.
#include "server/webhook/replay_set.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/state/pg_pool.h"
#include "server/state/pg_schema.h"
#include "server/webhook/postgres_replay_set.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

TEST(MemoryReplaySetTest, RemembersUpToItsCapacity) {
  MemoryReplaySet set(2);
  EXPECT_TRUE(set.Remember("a"));
  EXPECT_FALSE(set.Remember("a"));
  EXPECT_TRUE(set.Remember("b"));
  EXPECT_TRUE(set.Remember("c"));  // "a" is forgotten
  EXPECT_TRUE(set.Remember("a"));
  EXPECT_FALSE(set.Remember("c"));
  MemoryReplaySet none(0);
  EXPECT_TRUE(none.Remember("x"));
  EXPECT_TRUE(none.Remember("x"));
}

// A replica's pool on the shared database (migrated on first connect).
std::unique_ptr<PgPool> Pool(const std::string& conninfo) {
  PgPoolOptions o;
  o.conninfo = conninfo;
  o.connect_timeout = absl::Seconds(2);
  o.retry_interval = absl::Milliseconds(50);
  return std::make_unique<PgPool>(o, [](PGconn* c) { return PgMigrate(c); });
}

class PostgresReplaySetTest : public ::testing::Test {
 protected:
  static tltest::PostgresServer* Server() {
    // Stopped and removed at exit; tests that stop it start it again.
  auto server = tltest::PostgresServer::Shared();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.value_or(nullptr);
  }
  void SetUp() override {
    ASSERT_NE(Server(), nullptr);
    if (!Server()->running()) {
      ASSERT_TRUE(Server()->Start().ok());
    }
    auto db = Server()->CreateDatabase("replay");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
  }
  std::string conninfo_;
};

TEST_F(PostgresReplaySetTest, AnEventReplayedToAnotherReplicaIsADuplicateThere) {
  auto pool_a = Pool(conninfo_);
  auto pool_b = Pool(conninfo_);
  PostgresReplaySet a(pool_a.get(), 100), b(pool_b.get(), 100);
  EXPECT_TRUE(a.Remember("whe_1"));
  EXPECT_FALSE(b.Remember("whe_1"));
  EXPECT_FALSE(a.Remember("whe_1"));
  EXPECT_TRUE(b.Remember("whe_2"));
  EXPECT_FALSE(a.Remember("whe_2"));
  EXPECT_EQ(a.local_decisions() + b.local_decisions(), 0);
}

TEST_F(PostgresReplaySetTest, ConcurrentDeliveriesToThreeReplicasAcceptEachEventOnce) {
  constexpr int kReplicas = 3, kEvents = 60;
  std::vector<std::unique_ptr<PgPool>> pools;
  std::vector<std::unique_ptr<PostgresReplaySet>> sets;
  for (int i = 0; i < kReplicas; ++i) {
    pools.push_back(Pool(conninfo_));
    sets.push_back(std::make_unique<PostgresReplaySet>(pools.back().get(), 1000));
  }
  std::vector<std::atomic<int>> accepted(kEvents);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      for (int e = 0; e < kEvents; ++e) {
        if (sets[i]->Remember(absl::StrCat("whe_", e))) accepted[e].fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int e = 0; e < kEvents; ++e) EXPECT_EQ(accepted[e].load(), 1) << "event " << e;
}

TEST_F(PostgresReplaySetTest, DatabaseDownFallsBackToTheLocalSetAndRecovers) {
  auto pool = Pool(conninfo_);
  PostgresReplaySet set(pool.get(), 100);
  ASSERT_TRUE(set.Remember("before"));
  ASSERT_TRUE(Server()->Stop().ok());
  EXPECT_FALSE(set.Remember("before")) << "known locally";
  EXPECT_TRUE(set.Remember("during"));
  EXPECT_FALSE(set.Remember("during")) << "a replay to this replica is still caught";
  EXPECT_GE(set.local_decisions(), 2);
  ASSERT_TRUE(Server()->Start().ok());
  auto other_pool = Pool(conninfo_);
  PostgresReplaySet other(other_pool.get(), 100);
  bool shared_again = false;
  for (int i = 0; i < 100 && !shared_again; ++i) {
    const int64_t local = set.local_decisions();
    const bool fresh = set.Remember(absl::StrCat("after", i));
    shared_again = fresh && set.local_decisions() == local;
    if (!shared_again) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(shared_again);
  EXPECT_FALSE(other.Remember("before")) << "recorded before the outage";
}

}  // namespace
}  // namespace tlgw
