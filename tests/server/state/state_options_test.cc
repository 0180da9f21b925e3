#include "server/state/state_options.h"

#include "gtest/gtest.h"

namespace tlgw {
namespace {

TEST(StateOptionsTest, ParsesBothStores) {
  auto sqlite = ParseStateStore("sqlite:/var/lib/x.db");
  ASSERT_TRUE(sqlite.ok()) << sqlite.status();
  EXPECT_EQ(sqlite->kind, StateStoreOptions::Kind::kSqlite);
  EXPECT_EQ(sqlite->sqlite_path, "/var/lib/x.db");
  auto memory = ParseStateStore("sqlite::memory:");
  ASSERT_TRUE(memory.ok());
  EXPECT_EQ(memory->sqlite_path, ":memory:");
  auto pg = ParseStateStore("postgres:host=db port=5432 dbname=tlgw");
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(pg->kind, StateStoreOptions::Kind::kPostgres);
  EXPECT_EQ(pg->conninfo, "host=db port=5432 dbname=tlgw");
  auto uri = ParseStateStore("postgres:postgresql://u:pw@db1,db2/tlgw?target_session_attrs=read-write");
  ASSERT_TRUE(uri.ok()) << uri.status();
}

TEST(StateOptionsTest, RefusesBadValuesWithoutEchoingThem) {
  for (const char* bad : {"", "mysql:x", "sqlite:", "postgres:", "SQLITE:x"}) {
    auto r = ParseStateStore(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--state_store"), std::string::npos) << bad;
  }
  // A malformed conninfo may hold a password: the error does not repeat it.
  auto r = ParseStateStore("postgres:host=db password='s3cretPW");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().find("s3cretPW"), std::string::npos) << r.status();
  EXPECT_EQ(ParseStateNotify("poll").value(), StateNotify::kPoll);
  EXPECT_EQ(ParseStateNotify("listen").value(), StateNotify::kListen);
  EXPECT_EQ(ParseStateNotify("notify").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StateOptionsTest, RedactsEveryFormOfPassword) {
  for (const char* conninfo : {
           "host=db password=s3cretPW dbname=x",
           "host=db password = 's3cret PW' dbname=x",
           "host=db password='s3cret\\'PW'",
           "postgresql://tlgw:s3cretPW@db:5432/x",
           "postgres://tlgw@db/x?password=s3cretPW&sslmode=require",
       }) {
    const std::string redacted = RedactConnInfo(conninfo);
    EXPECT_EQ(redacted.find("s3cret"), std::string::npos) << conninfo << " -> " << redacted;
    EXPECT_NE(redacted.find("password=***"), std::string::npos) << conninfo << " -> " << redacted;
    EXPECT_NE(redacted.find("host=db"), std::string::npos) << conninfo << " -> " << redacted;
  }
  EXPECT_EQ(RedactConnInfo("host=db dbname=x"), "dbname=x host=db");
  EXPECT_EQ(RedactConnInfo("host=db password='unterminated").find("unterminated"), std::string::npos);
  StateStoreOptions o;
  o.kind = StateStoreOptions::Kind::kPostgres;
  o.conninfo = "postgresql://u:hunter2@db/x";
  EXPECT_EQ(DescribeStateStore(o).find("hunter2"), std::string::npos);
  EXPECT_EQ(DescribeStateStore(o).rfind("postgres:", 0), 0u);
}

TEST(StateOptionsTest, ReplicaIds) {
  const std::string id = DefaultReplicaId();
  EXPECT_TRUE(ValidateReplicaId(id).ok()) << id;
  EXPECT_NE(id.find('-'), std::string::npos);
  EXPECT_TRUE(ValidateReplicaId("gw-0.prod:a_b").ok());
  EXPECT_FALSE(ValidateReplicaId("").ok());
  EXPECT_FALSE(ValidateReplicaId("a b").ok());
  EXPECT_FALSE(ValidateReplicaId(std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace tlgw
