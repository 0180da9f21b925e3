// The PostgreSQL schema of the shared state, as versioned migrations
// applied at start-up (and on the first connection after the database was
// unreachable at start-up).
//
// Applying: one transaction under pg_advisory_xact_lock(kPgSchemaLock),
// so replicas starting at once apply each migration exactly once; the
// others wait for the lock, then find it applied. Applied versions are
// rows of tlgw_schema_migrations. A database holding a version this build
// does not know was migrated by a newer gateway: this one refuses it
// (FAILED_PRECONDITION) rather than misread its tables.
//
// Version numbers are reserved by component, so branches can add theirs
// without renumbering; each is applied when missing, in ascending order,
// whatever else is applied (gaps are fine):
//     1..9    request_ids, task_owners, webhook_events (server/state)
//    10..29   the cluster watch engine: watch_state, watch_polls,
//             watch_interest, poll_budget, replicas, leader (server/watch)
//    30..39   per-client rate limits: rate_buckets
//    40..49   housekeeping: leader (server/state/housekeeper)
//    50..     next free
// A migration, once released, never changes: fix forward with a new one.
#ifndef TL_GATEWAY_SERVER_STATE_PG_SCHEMA_H_
#define TL_GATEWAY_SERVER_STATE_PG_SCHEMA_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

typedef struct pg_conn PGconn;

namespace tlgw {

struct PgMigration {
  int version;
  const char* description;
  const char* sql;  // may hold several statements
};

// The key of the advisory lock that serializes migrations.
inline constexpr int64_t kPgSchemaLock = 0x746c67770001;  // "tlgw" 1

// Every migration this build knows, ascending. Components append theirs to
// the list in pg_schema.cc, in their reserved range.
const std::vector<PgMigration>& PgMigrations();

// Applies the missing migrations of `migrations` on `conn`, or refuses a
// database with versions it does not know. UNAVAILABLE when the database
// fails mid-way (nothing is half-applied: one transaction).
absl::Status PgMigrate(PGconn* conn, const std::vector<PgMigration>& migrations = PgMigrations());

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_PG_SCHEMA_H_
