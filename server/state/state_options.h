// Where the gateway keeps the state that must outlive a call, and how a
// replica takes part in a cluster: --state_store, --replica_id,
// --state_notify (README "Running several replicas").
//
//   sqlite:PATH        one replica, a local file (the default, today's behaviour;
//                      --state_db=PATH is the same)
//   postgres:CONNINFO  several replicas sharing one PostgreSQL database; CONNINFO is
//                      a libpq conninfo ("host=... dbname=...") or URI
//                      ("postgresql://user@host/db"). It may hold a password: only
//                      RedactConnInfo() of it is ever logged.
#ifndef TL_GATEWAY_SERVER_STATE_STATE_OPTIONS_H_
#define TL_GATEWAY_SERVER_STATE_STATE_OPTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tlgw {

// How a replica learns that shared watch state changed: LISTEN/NOTIFY on a
// dedicated connection, or polling the rows (behind PgBouncer in
// transaction mode, which cannot LISTEN).
enum class StateNotify { kListen, kPoll };

struct StateStoreOptions {
  enum class Kind { kSqlite, kPostgres };
  Kind kind = Kind::kSqlite;
  std::string sqlite_path = ":memory:";  // kSqlite
  std::string conninfo;                  // kPostgres; never logged (RedactConnInfo)
  // This replica's name in shared rows (claims, leases, interest).
  std::string replica_id;
  StateNotify notify = StateNotify::kListen;
  // SQLite: how long a call waits for a lock another process holds.
  absl::Duration busy_timeout = absl::Seconds(2);
  // PostgreSQL: every statement, lock wait and connection attempt is
  // bounded; past it the call fails UNAVAILABLE.
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration lock_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  int pool_size = 4;  // connections for store calls (not counting LISTEN)
};

// Parses --state_store ("sqlite:PATH" or "postgres:CONNINFO"), filling
// kind and sqlite_path or conninfo of `base`.
absl::StatusOr<StateStoreOptions> ParseStateStore(absl::string_view flag, StateStoreOptions base = {});
// Parses --state_notify ("listen" or "poll").
absl::StatusOr<StateNotify> ParseStateNotify(absl::string_view flag);
absl::string_view StateNotifyName(StateNotify notify);
// "hostname-pid": unique per process, readable in logs and rows.
std::string DefaultReplicaId();
// Validates --replica_id: 1..64 of [A-Za-z0-9._:-].
absl::Status ValidateReplicaId(absl::string_view id);

// `conninfo` with every password replaced by "***": the `password=`
// keyword (quoted or not), a URI's `user:password@` and its `password=`
// query parameter.
std::string RedactConnInfo(absl::string_view conninfo);
// "sqlite:PATH" or "postgres:<redacted conninfo>", for logs.
std::string DescribeStateStore(const StateStoreOptions& options);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_STATE_OPTIONS_H_
