// The fixture itself: a server that answers queries, a database per call,
// Stop/Start on the same port and data, nothing left behind.
#include "tests/support/postgres_fixture.h"

#include <signal.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "postgresql/libpq-fe.h"

namespace tltest {
namespace {

// The value of a one-row, one-column query, or "ERROR: ...".
std::string QueryOne(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb((conninfo + " connect_timeout=5").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string err = std::string("ERROR: ") + PQerrorMessage(conn);
    PQfinish(conn);
    return err;
  }
  PGresult* res = PQexec(conn, sql.c_str());
  std::string out = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                        ? PQgetvalue(res, 0, 0)
                        : std::string("ERROR: ") + PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  return out;
}

TEST(PostgresFixtureTest, DatabasesAreSeparateAndDurableSettingsAreOff) {
  auto server = PostgresServer::Shared();
  ASSERT_TRUE(server.ok()) << server.status();
  auto a = (*server)->CreateDatabase("Fixture Test");
  auto b = (*server)->CreateDatabase("Fixture Test");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(*a, *b);
  EXPECT_EQ(QueryOne(*a, "SELECT current_database()"), "fixturetest_0");
  EXPECT_EQ(QueryOne(*a, "CREATE TABLE x (v int); INSERT INTO x VALUES (7); SELECT v FROM x"), "7");
  EXPECT_NE(QueryOne(*b, "SELECT v FROM x").rfind("ERROR", 0), std::string::npos);
  EXPECT_EQ(QueryOne(*a, "SHOW fsync"), "off");
  EXPECT_EQ(QueryOne(*a, "SHOW synchronous_commit"), "off");
  EXPECT_EQ(QueryOne(*a, "SHOW full_page_writes"), "off");
  EXPECT_EQ(QueryOne(*a, "SHOW server_encoding"), "UTF8");
}

TEST(PostgresFixtureTest, StopAndStartKeepPortAndData) {
  auto server = PostgresServer::Create();
  ASSERT_TRUE(server.ok()) << server.status();
  auto db = (*server)->CreateDatabase("restart");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_EQ(QueryOne(*db, "CREATE TABLE k (v text); INSERT INTO k VALUES ('kept'); SELECT v FROM k"), "kept");
  const int port = (*server)->port();
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_FALSE((*server)->running());
  EXPECT_EQ(PQping(((*server)->ConnInfo("postgres") + " connect_timeout=1").c_str()), PQPING_NO_RESPONSE);
  ASSERT_TRUE((*server)->Start().ok()) << (*server)->LogTail();
  EXPECT_EQ((*server)->port(), port);
  EXPECT_EQ(QueryOne(*db, "SELECT v FROM k"), "kept");
}

TEST(PostgresFixtureTest, DestructorStopsTheServerAndRemovesItsDirectory) {
  auto server = PostgresServer::Create();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string conninfo = (*server)->ConnInfo("postgres");
  const std::string data_dir = QueryOne(conninfo, "SHOW data_directory");
  ASSERT_TRUE(std::filesystem::exists(data_dir)) << data_dir;
  const std::string pid = QueryOne(conninfo, "SELECT pg_backend_pid()");
  ASSERT_EQ(pid.rfind("ERROR", 0), std::string::npos) << pid;
  server->reset();
  EXPECT_EQ(PQping((conninfo + " connect_timeout=1").c_str()), PQPING_NO_RESPONSE);
  EXPECT_FALSE(std::filesystem::exists(data_dir));
}

}  // namespace
}  // namespace tltest
