// Per-client rate limits shared by replicas through a real PostgreSQL.
// Rates of one call per hour make every decision independent of how long
// the test takes: only the syncs move information between replicas.
#include "server/auth/shared_rate_limiter.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/common/clock.h"
#include "server/state/pg_pool.h"
#include "server/state/pg_schema.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

constexpr double kPerHour = 1.0 / 3600;
RealClock real_clock;

tltest::PostgresServer* Server() {
  // Stopped and removed at exit; tests that stop it start it again.
  auto server = tltest::PostgresServer::Shared();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.value_or(nullptr);
}

struct Replica {
  std::unique_ptr<PgPool> pool;
  std::unique_ptr<SharedRateLimiter> limiter;
};

Replica Open(const std::string& conninfo, const std::string& id) {
  PgPoolOptions o;
  o.conninfo = conninfo;
  o.application_name = "tl-gateway " + id;  // how replicas are counted
  o.connect_timeout = absl::Seconds(2);
  o.retry_interval = absl::Milliseconds(50);
  Replica r;
  r.pool = std::make_unique<PgPool>(o, [](PGconn* c) { return PgMigrate(c); });
  r.limiter = std::make_unique<SharedRateLimiter>(r.pool.get(), &real_clock, absl::ZeroDuration());
  return r;
}

int Admitted(Replica& r, const std::string& key, int tries, double burst) {
  int n = 0;
  for (int i = 0; i < tries; ++i) {
    if (!r.limiter->Take(key, kPerHour, burst)) ++n;
  }
  return n;
}

class SharedRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(Server(), nullptr);
    if (!Server()->running()) {
      ASSERT_TRUE(Server()->Start().ok());
    }
    auto db = Server()->CreateDatabase("rate");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
  }
  std::string conninfo_;
};

TEST_F(SharedRateLimiterTest, OneReplicaAdmitsItsBurstThenSaysHowLongToWait) {
  Replica a = Open(conninfo_, "a");
  EXPECT_EQ(Admitted(a, "client", 10, 3), 3);
  auto wait = a.limiter->Take("client", kPerHour, 3);
  ASSERT_TRUE(wait.has_value());
  EXPECT_GT(*wait, absl::Minutes(59));
  ASSERT_TRUE(a.limiter->SyncNow());
  EXPECT_EQ(Admitted(a, "client", 10, 3), 0) << "the shared row agrees";
  EXPECT_EQ(Admitted(a, "other-client", 10, 3), 3) << "clients are separate";
}

// What A admitted reaches B at B's next sync: B then refuses. Before it,
// B may admit at most its burst (the documented overshoot).
TEST_F(SharedRateLimiterTest, ReplicasShareOneBucketAfterASync) {
  Replica a = Open(conninfo_, "a");
  Replica b = Open(conninfo_, "b");
  EXPECT_EQ(Admitted(a, "client", 10, 4), 4);
  ASSERT_TRUE(a.limiter->SyncNow());
  EXPECT_EQ(Admitted(b, "client", 1, 4), 1) << "B has not heard of A yet";
  ASSERT_TRUE(b.limiter->SyncNow());
  EXPECT_EQ(Admitted(b, "client", 10, 4), 0) << "without sharing B would admit 3 more";
  ASSERT_TRUE(a.limiter->SyncNow());
  EXPECT_EQ(Admitted(a, "client", 10, 4), 0);
  // Overshoot bound: at most (replicas - 1) x burst beyond one limiter.
  Replica c = Open(conninfo_, "c");
  EXPECT_LE(Admitted(c, "client", 10, 4), 4);
  ASSERT_TRUE(c.limiter->SyncNow());
  EXPECT_EQ(Admitted(c, "client", 10, 4), 0);
}

// Database down: each replica decides alone with its share (rate and
// burst divided by the replicas last counted), and shares again after.
TEST_F(SharedRateLimiterTest, DatabaseDownDecidesLocallyWithTheReplicasShare) {
  std::vector<Replica> replicas;
  for (const char* id : {"a", "b", "c"}) {
    replicas.push_back(Open(conninfo_, id));
    replicas.back().limiter->Take("warm", kPerHour, 100);
  }
  for (auto& r : replicas) ASSERT_TRUE(r.limiter->SyncNow());
  Replica& a = replicas[0];
  // Replicas are counted every 50th sync (the first counted only A).
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a.limiter->SyncNow());
  EXPECT_EQ(a.limiter->live_replicas(), 3);
  ASSERT_TRUE(Server()->Stop().ok());
  EXPECT_FALSE(a.limiter->SyncNow());
  EXPECT_TRUE(a.limiter->local_mode());
  EXPECT_EQ(Admitted(a, "fresh", 10, 6), 2) << "a third of a burst of 6";
  ASSERT_TRUE(Server()->Start().ok());
  bool shared = false;
  for (int i = 0; i < 100 && !shared; ++i) {
    shared = a.limiter->SyncNow();
    if (!shared) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(shared);
  EXPECT_FALSE(a.limiter->local_mode());
}

}  // namespace
}  // namespace tlgw
