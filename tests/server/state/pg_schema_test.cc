// Schema migrations on a real PostgreSQL: replicas starting at once apply
// each migration once; a schema from a newer gateway is refused.
#include "server/state/pg_schema.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "postgresql/libpq-fe.h"
#include "server/common/clock.h"
#include "server/state/pg_pool.h"
#include "server/state/postgres_store.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

RealClock real_clock;

std::string NewDatabase() {
  auto server = tltest::PostgresServer::Shared();
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return "";
  auto db = (*server)->CreateDatabase("schema");
  EXPECT_TRUE(db.ok()) << db.status();
  return db.value_or("");
}

absl::StatusOr<std::unique_ptr<PostgresStateStore>> OpenStore(const std::string& conninfo, const std::string& id) {
  PostgresStoreOptions o;
  o.pool.conninfo = conninfo;
  o.replica_id = id;
  return PostgresStateStore::Open(o, &real_clock, /*require_database=*/true);
}

std::string One(const std::string& conninfo, const char* sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, sql);
  std::string out = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)
                    : PQresultStatus(r) == PGRES_COMMAND_OK                  ? "OK"
                                                                              : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  return out;
}

TEST(PgSchemaTest, ReplicasStartingAtOnceMigrateOnce) {
  const std::string conninfo = NewDatabase();
  constexpr int kReplicas = 6;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      auto store = OpenStore(conninfo, "r" + std::to_string(i));
      if (store.ok()) {
        ok.fetch_add(1);
      } else {
        ADD_FAILURE() << store.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kReplicas);
  EXPECT_EQ(One(conninfo, "SELECT count(*) FROM tlgw_schema_migrations"), std::to_string(PgMigrations().size()));
  EXPECT_EQ(One(conninfo, "SELECT count(*) FROM request_ids"), "0");
  EXPECT_EQ(One(conninfo, "SELECT count(*) FROM task_owners"), "0");
  EXPECT_EQ(One(conninfo, "SELECT count(*) FROM webhook_events"), "0");
}

TEST(PgSchemaTest, MigrationsAppliedLaterAreAddedAndGapsAreFine) {
  const std::string conninfo = NewDatabase();
  ASSERT_TRUE(OpenStore(conninfo, "a").ok());
  // A later build with one more migration in another component's range.
  std::vector<PgMigration> more = PgMigrations();
  more.push_back({12, "test table", "CREATE TABLE later_table (k text PRIMARY KEY)"});
  PGconn* c = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  EXPECT_TRUE(PgMigrate(c, more).ok());
  EXPECT_TRUE(PgMigrate(c, more).ok()) << "applying again changes nothing";
  PQfinish(c);
  EXPECT_EQ(One(conninfo, "SELECT count(*) FROM later_table"), "0");
  // The older build now sees a version it does not know: refused.
  auto old = OpenStore(conninfo, "b");
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition) << old.status();
  EXPECT_NE(old.status().message().find("12"), std::string::npos) << old.status();
}

TEST(PgSchemaTest, UnreachableDatabaseIsUnavailableNotFatal) {
  PostgresStoreOptions o;
  // A port nothing listens on (the fixture's server was stopped there).
  auto server = tltest::PostgresServer::Create();
  ASSERT_TRUE(server.ok()) << server.status();
  o.pool.conninfo = (*server)->ConnInfo("postgres");
  o.replica_id = "r";
  ASSERT_TRUE((*server)->Stop().ok());
  auto strict = PostgresStateStore::Open(o, &real_clock, /*require_database=*/true);
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kUnavailable) << strict.status();
  auto lenient = PostgresStateStore::Open(o, &real_clock);
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_TRUE((*lenient)->pool()->down());
  EXPECT_EQ((*lenient)->Owner("x").status().code(), absl::StatusCode::kUnavailable);
  // Back: the first call connects and migrates.
  ASSERT_TRUE((*server)->Start().ok());
  absl::StatusOr<std::string> owner;
  for (int i = 0; i < 100 && !owner.ok(); ++i) {
    owner = (*lenient)->Owner("x");
    if (!owner.ok()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ(*owner, "");
  EXPECT_FALSE((*lenient)->pool()->down());
}

}  // namespace
}  // namespace tlgw
