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
      {10, "watch_state, watch_polls, watch_interest, poll_budget",
       // The cluster watch engine (server/watch/pg_watch_store.cc).
       // watch_state is durable: rows and their sequence numbers outlive a
       // restart, so resume_after does. The rest is UNLOGGED: rebuilt by the
       // replicas within seconds after a crash, no WAL cost.
       "CREATE TABLE watch_state ( "
       "  key text NOT NULL, "
       "  item text NOT NULL, "
       "  seq bigint NOT NULL, "
       "  fingerprint text NOT NULL, "
       "  terminal boolean NOT NULL, "
       "  source integer NOT NULL, "
       "  observed timestamptz NOT NULL, "
       "  value bytea NOT NULL, "
       "  PRIMARY KEY (key, item)); "
       "CREATE INDEX watch_state_item ON watch_state (item); "
       "CREATE UNLOGGED TABLE watch_polls ( "
       "  key text PRIMARY KEY, "
       "  kind text NOT NULL, "
       "  scope text NOT NULL, "
       "  subject text NOT NULL, "
       "  next_poll_at timestamptz NOT NULL, "
       "  poller text, "
       "  fence bigint NOT NULL DEFAULT 0, "
       "  cursor text NOT NULL DEFAULT '', "
       "  failures integer NOT NULL DEFAULT 0, "
       "  primed boolean NOT NULL DEFAULT false, "
       "  finished boolean NOT NULL DEFAULT false, "
       "  ended_code integer NOT NULL DEFAULT 0, "
       "  ended_message text NOT NULL DEFAULT ''); "
       "CREATE INDEX watch_polls_due ON watch_polls (next_poll_at); "
       "CREATE INDEX watch_polls_subject ON watch_polls (kind, subject); "
       "CREATE UNLOGGED TABLE watch_interest ( "
       "  key text NOT NULL, "
       "  replica text NOT NULL, "
       "  expires_at timestamptz NOT NULL, "
       "  PRIMARY KEY (key, replica)); "
       "CREATE INDEX watch_interest_replica ON watch_interest (replica); "
       "CREATE UNLOGGED TABLE poll_budget ( "
       "  name text PRIMARY KEY, "
       "  next_free timestamptz NOT NULL, "
       "  blocked_until timestamptz NOT NULL, "
       "  webhook_at timestamptz NOT NULL DEFAULT '-infinity'); "},
      {30, "rate_buckets",
       // GCRA: one theoretical arrival time per client. UNLOGGED: after a
       // database crash the buckets start full again, which is harmless.
       "CREATE UNLOGGED TABLE rate_buckets (key text PRIMARY KEY, tat timestamptz NOT NULL);"},
      {40, "leader",
       // Lease rows: one holder per name until expires_at (database clock).
       // UNLOGGED: after a crash nobody leads until the next renewal round.
       "CREATE UNLOGGED TABLE leader (name text PRIMARY KEY, holder text NOT NULL,"
       " expires_at timestamptz NOT NULL);"},
  };
  return *migrations;
}

absl::Status PgMigrate(PGconn* conn, const std::vector<PgMigration>& migrations) {
  auto exec = [conn](const char* what, const std::string& sql) { return PgExec(conn, what, sql.c_str()).status(); };
  auto fail = [&](absl::Status s) {
    (void)PgExec(conn, "rollback migration", "ROLLBACK");
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
