#include "server/state/pg_schema.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "postgresql/libpq-fe.h"
#include "server/state/pg_pool.h"

namespace tlgw {

const std::vector<PgMigration>& PgMigrations() {
  static const std::vector<PgMigration>* migrations = new std::vector<PgMigration>{
      {1, "request_ids, task_owners, webhook_events",
       // Times are the database's (now()), never a replica's clock.
       // claim_seq fences takeovers: a takeover is a compare-and-set on it.
       "CREATE TABLE request_ids ("
       "  scope text NOT NULL, request_id text NOT NULL, fingerprint text NOT NULL,"
       "  state smallint NOT NULL, task_id text NOT NULL DEFAULT '',"
       "  claimed_by text NOT NULL, claimed_at timestamptz NOT NULL, claim_seq bigint NOT NULL DEFAULT 0,"
       "  updated_at timestamptz NOT NULL,"
       "  index_id text NOT NULL DEFAULT '', source text NOT NULL DEFAULT '',"
       "  started_at timestamptz NOT NULL, deadline_at timestamptz NOT NULL,"
       "  PRIMARY KEY (scope, request_id));"
       "CREATE INDEX request_ids_updated_at ON request_ids (updated_at);"
       "CREATE TABLE task_owners ("
       "  task_id text PRIMARY KEY, tenant text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
       "CREATE TABLE webhook_events ("
       "  id text PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now());"
       "CREATE INDEX webhook_events_received_at ON webhook_events (received_at);"},
  };
  return *migrations;
}

absl::Status PgMigrate(PGconn* conn, const std::vector<PgMigration>& migrations) {
  auto exec = [conn](const char* what, const std::string& sql) { return PgExec(conn, what, sql.c_str()).status(); };
  auto fail = [&](absl::Status s) {
    PgResult r(PQexec(conn, "ROLLBACK"));
    return s;
  };
  if (auto s = exec("begin migration", "BEGIN"); !s.ok()) return s;
  if (auto s = exec("migration lock", absl::StrCat("SELECT pg_advisory_xact_lock(", kPgSchemaLock, ")")); !s.ok()) {
    return fail(s);
  }
  if (auto s = exec("migration table",
                    "CREATE TABLE IF NOT EXISTS tlgw_schema_migrations ("
                    "  version integer PRIMARY KEY, description text NOT NULL,"
                    "  applied_at timestamptz NOT NULL DEFAULT now())");
      !s.ok()) {
    return fail(s);
  }
  auto applied_rows = PgExec(conn, "read schema versions", "SELECT version FROM tlgw_schema_migrations");
  if (!applied_rows.ok()) return fail(applied_rows.status());
  std::set<int64_t> applied;
  for (int i = 0; i < applied_rows->rows(); ++i) applied.insert(applied_rows->integer(i, 0));
  std::set<int64_t> known;
  for (const auto& m : migrations) known.insert(m.version);
  std::vector<std::string> unknown;
  for (int64_t v : applied) {
    if (known.count(v) == 0) unknown.push_back(std::to_string(v));
  }
  if (!unknown.empty()) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "state store: the PostgreSQL schema has migration(s) ", absl::StrJoin(unknown, ", "),
        " that this gateway does not know (a newer gateway migrated it): run a gateway at least as new as "
        "the newest replica, or point --state_store at another database")));
  }
  for (const auto& m : migrations) {
    if (applied.count(m.version) != 0) continue;
    if (auto s = exec(m.description, m.sql); !s.ok()) return fail(s);
    if (auto r = PgExec(conn, "record migration",
                        "INSERT INTO tlgw_schema_migrations (version, description) VALUES ($1, $2)",
                        {std::to_string(m.version), m.description});
        !r.ok()) {
      return fail(r.status());
    }
  }
  return exec("commit migration", "COMMIT");
}

}  // namespace tlgw
