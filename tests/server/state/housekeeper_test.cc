// The lease-led sweeps of the shared state, against a real PostgreSQL.
// Ages are set with the database clock (now() - interval), far from every
// threshold, so no decision depends on how long the test takes; a lease
// "lapses" by setting its expires_at in the past, not by waiting.
#include "server/state/housekeeper.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "postgresql/libpq-fe.h"
#include "server/state/pg_pool.h"
#include "server/state/pg_schema.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

tltest::PostgresServer* Server() {
  auto server = tltest::PostgresServer::Shared();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.value_or(nullptr);
}

std::unique_ptr<PgPool> OpenPool(const std::string& conninfo, const std::string& id,
                                 absl::Duration statement_timeout = absl::Seconds(5)) {
  PgPoolOptions o;
  o.conninfo = conninfo;
  o.application_name = "tl-gateway " + id;
  o.connect_timeout = absl::Seconds(2);
  o.statement_timeout = statement_timeout;
  o.retry_interval = absl::Milliseconds(50);
  return std::make_unique<PgPool>(o, [](PGconn* c) { return PgMigrate(c); });
}

HousekeeperOptions Options(const std::string& id) {
  HousekeeperOptions o;
  o.replica_id = id;
  o.lease = absl::Hours(1);  // lapses only when a test says so
  o.request_keep_for = absl::Hours(24 * 7);
  o.webhook_keep_for = absl::Hours(24);
  o.watch_idle = absl::Minutes(10);
  o.rate_bucket_idle = absl::Minutes(10);
  o.interest_grace = absl::Minutes(1);
  return o;
}

class HousekeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(Server(), nullptr);
    if (!Server()->running()) {
      ASSERT_TRUE(Server()->Start().ok());
    }
    auto db = Server()->CreateDatabase("housekeeping");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
    admin_ = OpenPool(conninfo_, "admin");
    ASSERT_TRUE(admin_->Probe().ok());
  }

  void Sql(const std::string& sql) {
    absl::Status s = admin_->Run([&](PGconn* c) { return PgExec(c, "test", sql.c_str()).status(); });
    ASSERT_TRUE(s.ok()) << s << " in " << sql;
  }
  std::set<std::string> Column(const std::string& sql) {
    std::set<std::string> out;
    absl::Status s = admin_->Run([&](PGconn* c) -> absl::Status {
      auto r = PgExec(c, "test", sql.c_str());
      if (!r.ok()) return r.status();
      for (int i = 0; i < r->rows(); ++i) out.insert(r->text(i, 0));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s << " in " << sql;
    return out;
  }

  // Rows of every swept table: "old*" ones past their threshold, "new*"
  // and "watched*" ones that must stay.
  void Populate(const std::string& suffix = "") {
    auto request = [&](const std::string& id, const std::string& age) {
      Sql(absl::StrCat(
          "INSERT INTO request_ids (scope, request_id, fingerprint, state, claimed_by, claimed_at, updated_at,"
          " started_at, deadline_at) VALUES ('s', '",
          id, suffix, "', 'f', 1, 'r', now(), now() - interval '", age, "', now(), now())"));
    };
    request("old-request", "8 days");
    request("new-request", "6 days");
    Sql(absl::StrCat("INSERT INTO webhook_events (id, received_at) VALUES ('old-event", suffix,
                     "', now() - interval '25 hours'), ('new-event", suffix, "', now() - interval '23 hours')"));
    // Interest: a dead replica's (expired long ago), one just expired
    // (within the grace), a live one.
    Sql(absl::StrCat("INSERT INTO watch_interest (key, replica, expires_at) VALUES"
                     " ('dead-key", suffix, "', 'dead', now() - interval '5 minutes'),"
                     " ('recent-key", suffix, "', 'slow', now() - interval '10 seconds'),"
                     " ('watched-key", suffix, "', 'live', now() + interval '30 seconds')"));
    auto state = [&](const std::string& key, const std::string& age) {
      Sql(absl::StrCat("INSERT INTO watch_state (key, item, seq, fingerprint, terminal, source, observed, value)"
                       " VALUES ('", key, suffix, "', 'task', 1, 'f', true, 0, now() - interval '", age, "', '')"));
      Sql(absl::StrCat("INSERT INTO watch_polls (key, kind, scope, subject, next_poll_at) VALUES ('", key, suffix,
                       "', 'task', 's', 'task', now() - interval '", age, "')"));
    };
    state("dead-key", "1 hour");      // only a dead replica watched it: goes
    state("unwatched-key", "1 hour");  // nobody watches it: goes
    state("fresh-key", "1 minute");   // unwatched but recent: stays
    state("watched-key", "1 hour");   // old but watched: stays
    Sql(absl::StrCat("INSERT INTO rate_buckets (key, tat) VALUES ('old-bucket", suffix,
                     "', now() - interval '1 hour'), ('new-bucket", suffix, "', now() + interval '1 minute')"));
  }

  void ExpectOnlyFreshRowsLeft(const std::string& suffix = "") {
    auto s = [&](const std::string& v) { return v + suffix; };
    EXPECT_EQ(Column("SELECT request_id FROM request_ids"), std::set<std::string>{s("new-request")});
    EXPECT_EQ(Column("SELECT id FROM webhook_events"), std::set<std::string>{s("new-event")});
    EXPECT_EQ(Column("SELECT key FROM watch_interest"), (std::set<std::string>{s("recent-key"), s("watched-key")}));
    EXPECT_EQ(Column("SELECT key FROM watch_state"), (std::set<std::string>{s("fresh-key"), s("watched-key")}));
    EXPECT_EQ(Column("SELECT key FROM watch_polls"), (std::set<std::string>{s("fresh-key"), s("watched-key")}));
    EXPECT_EQ(Column("SELECT key FROM rate_buckets"), std::set<std::string>{s("new-bucket")});
  }

  std::string conninfo_;
  std::unique_ptr<PgPool> admin_;
};

TEST_F(HousekeeperTest, OneLeaderAtATimeAndLeadershipMovesWhenTheLeaseLapses) {
  auto pool_a = OpenPool(conninfo_, "a");
  auto pool_b = OpenPool(conninfo_, "b");
  Housekeeper a(pool_a.get(), Options("a"), /*start_thread=*/false);
  Housekeeper b(pool_b.get(), Options("b"), /*start_thread=*/false);
  EXPECT_EQ(a.TryLead().value_or(false), true);
  EXPECT_EQ(b.TryLead().value_or(true), false) << "a's lease is live";
  EXPECT_EQ(a.TryLead().value_or(false), true) << "the holder renews";
  EXPECT_EQ(Column("SELECT holder FROM leader"), std::set<std::string>{"a"});

  // a stops renewing: once its lease is past, b takes it and a cannot.
  Sql("UPDATE leader SET expires_at = now() - interval '1 second'");
  EXPECT_EQ(b.TryLead().value_or(false), true);
  EXPECT_EQ(a.TryLead().value_or(true), false);
  EXPECT_EQ(Column("SELECT holder FROM leader"), std::set<std::string>{"b"});

  // Resigning hands it over at once; resigning what one does not hold
  // changes nothing.
  ASSERT_TRUE(a.Resign().ok());
  EXPECT_EQ(Column("SELECT holder FROM leader"), std::set<std::string>{"b"});
  ASSERT_TRUE(b.Resign().ok());
  EXPECT_EQ(a.TryLead().value_or(false), true);
}

TEST_F(HousekeeperTest, EachSweepDeletesExactlyWhatIsPastItsThreshold) {
  Populate();
  auto pool = OpenPool(conninfo_, "a");
  Housekeeper h(pool.get(), Options("a"), /*start_thread=*/false);
  auto n = h.Sweep();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->request_ids, 1);
  EXPECT_EQ(n->webhook_events, 1);
  EXPECT_EQ(n->watch_interest, 1);
  EXPECT_EQ(n->watch_state, 2);
  EXPECT_EQ(n->watch_polls, 2);
  EXPECT_EQ(n->rate_buckets, 1);
  ExpectOnlyFreshRowsLeft();
  // Idempotent: a second round finds nothing more.
  auto again = h.Sweep();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->request_ids + again->webhook_events + again->watch_interest + again->watch_state +
                again->watch_polls + again->rate_buckets,
            0);
  ExpectOnlyFreshRowsLeft();
}

TEST_F(HousekeeperTest, SweepsInBatchesUntilDone) {
  Sql("INSERT INTO webhook_events (id, received_at)"
      " SELECT 'old-' || g, now() - interval '2 days' FROM generate_series(1, 25) g");
  Sql("INSERT INTO webhook_events (id) VALUES ('new')");
  auto pool = OpenPool(conninfo_, "a");
  HousekeeperOptions o = Options("a");
  o.batch = 4;
  Housekeeper h(pool.get(), o, /*start_thread=*/false);
  auto n = h.Sweep();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->webhook_events, 25);
  EXPECT_EQ(Column("SELECT id FROM webhook_events"), std::set<std::string>{"new"});
}

// A lease that lapses while its holder still sweeps gives two leaders for
// a moment: both sweeping at once delete the same rows, no more, and
// neither fails.
TEST_F(HousekeeperTest, TwoLeadersSweepingAtOnceDoNoHarm) {
  for (int i = 0; i < 20; ++i) Populate(absl::StrCat("-", i));
  auto pool_a = OpenPool(conninfo_, "a");
  auto pool_b = OpenPool(conninfo_, "b");
  HousekeeperOptions oa = Options("a"), ob = Options("b");
  oa.batch = ob.batch = 3;
  Housekeeper a(pool_a.get(), oa, false), b(pool_b.get(), ob, false);
  absl::StatusOr<SweepCounts> ra, rb;
  std::thread ta([&] { ra = a.Sweep(); });
  std::thread tb([&] { rb = b.Sweep(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  // Each row is deleted once, by one of them.
  EXPECT_EQ(ra->request_ids + rb->request_ids, 20);
  EXPECT_EQ(ra->webhook_events + rb->webhook_events, 20);
  EXPECT_EQ(ra->watch_interest + rb->watch_interest, 20);
  EXPECT_EQ(ra->watch_state + rb->watch_state, 40);
  EXPECT_EQ(ra->watch_polls + rb->watch_polls, 40);
  EXPECT_EQ(ra->rate_buckets + rb->rate_buckets, 20);
  EXPECT_EQ(Column("SELECT count(*) FROM request_ids"), std::set<std::string>{"20"});
  EXPECT_EQ(Column("SELECT count(*) FROM watch_state"), std::set<std::string>{"40"});
  EXPECT_EQ(Column("SELECT count(*) FROM watch_polls"), std::set<std::string>{"40"});
  EXPECT_EQ(Column("SELECT count(*) FROM watch_interest"), std::set<std::string>{"40"});
  EXPECT_EQ(Column("SELECT count(*) FROM rate_buckets"), std::set<std::string>{"20"});
  EXPECT_EQ(Column("SELECT count(*) FROM webhook_events"), std::set<std::string>{"20"});
}

// The thread leads, sweeps and, stopped, hands the lease back.
TEST_F(HousekeeperTest, TheThreadLeadsSweepsAndResignsWhenStopped) {
  Populate();
  auto pool = OpenPool(conninfo_, "a");
  HousekeeperOptions o = Options("a");
  o.interval = absl::Hours(1);  // one round at start, then only Stop()
  {
    Housekeeper h(pool.get(), o);
    // The first round runs at once; wait for its effect, not for a time.
    for (int i = 0; i < 2000 && !Column("SELECT 1 FROM rate_buckets WHERE key = 'old-bucket'").empty(); ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    for (int i = 0; i < 2000 && Column("SELECT key FROM watch_polls").size() != 2; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ExpectOnlyFreshRowsLeft();
    EXPECT_EQ(Column("SELECT holder FROM leader"), std::set<std::string>{"a"});
  }
  EXPECT_TRUE(Column("SELECT holder FROM leader").empty()) << "resigned at stop";
}

// Shutdown ends a statement in flight instead of waiting for it.
TEST_F(HousekeeperTest, PoolShutdownEndsStatementsInFlightAndRefusesNewOnes) {
  auto pool = OpenPool(conninfo_, "a", /*statement_timeout=*/absl::Minutes(5));
  ASSERT_TRUE(pool->Probe().ok());
  absl::Status slow;
  std::thread t([&] {
    slow = pool->Run([](PGconn* c) { return PgExec(c, "sleep", "SELECT pg_sleep(60)").status(); });
  });
  // Wait until the sleep is running on the server.
  for (int i = 0; i < 2000 && Column("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'").empty();
       ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  pool->Shutdown();
  t.join();
  EXPECT_EQ(slow.code(), absl::StatusCode::kUnavailable) << slow;
  absl::Status after = pool->Run([](PGconn* c) { return PgExec(c, "ping", "SELECT 1").status(); });
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
}

}  // namespace
}  // namespace tlgw
