// A small pool of libpq connections for short, bounded statements.
//
// Callers run on the threads that already call the state store (gRPC
// callback and completion threads): every wait is bounded, so a slow or
// unreachable database costs a caller at most about `connect_timeout` (a
// fresh connection) or `statement_timeout` (a statement), then UNAVAILABLE.
// Every statement is bounded on this side too (PgExec: statement_timeout
// plus kPgClientMargin), so a database that stops answering without
// closing its connections (a stopped process, a path that drops packets)
// costs a caller that much, never a blocked thread.
// After a failed connection attempt or a statement that got no answer,
// callers fail at once for `retry_interval` instead of each waiting out
// its own timeout;
// the next caller after that tries again, so the pool reconnects by itself
// when the database is back. Connections get TCP keepalives and
// tcp_user_timeout, so a peer that vanished without a FIN is noticed too.
//
// Every connection runs `on_connect` first (the schema migration check),
// and carries statement_timeout and lock_timeout as session settings.
#ifndef TL_GATEWAY_SERVER_STATE_PG_POOL_H_
#define TL_GATEWAY_SERVER_STATE_PG_POOL_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace tlgw {

// An owned PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept;
  ~PgResult();
  int rows() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;
  int64_t integer(int row, int col) const;  // 0 when not a number
  PGresult* get() const { return r_; }
  PGresult* release() {
    PGresult* r = r_;
    r_ = nullptr;
    return r;
  }

 private:
  PGresult* r_ = nullptr;
};

// How long a statement on `conn` may wait for its answer on this side
// (set it to the session's statement_timeout plus a margin). The server's
// statement_timeout cannot end a wait on a server that is stopped or
// behind a path that drops packets after the kernel acknowledged them, so
// every statement here also has a client-side deadline. Without a call,
// kPgDefaultClientTimeout.
inline constexpr absl::Duration kPgDefaultClientTimeout = absl::Seconds(30);
// What the gateway's connections allow beyond their statement_timeout.
inline constexpr absl::Duration kPgClientMargin = absl::Seconds(2);
void PgSetClientTimeout(PGconn* conn, absl::Duration timeout);

// The one way the gateway runs a statement (the pool's callers and the
// watch store alike): like PQexec / PQexecParams (without parameters, the
// simple protocol, so `sql` may hold several statements; the last result,
// or the first error), but never waiting past the connection's client
// timeout. On that timeout, or when another thread shuts the socket down
// (shutdown), the connection is closed (PQstatus is then CONNECTION_BAD),
// the result is null and `*timed_out` says whether the deadline did it.
PgResult PgExecBounded(PGconn* conn, const char* sql, const std::vector<std::string>& params, bool* timed_out);

// Runs one statement with text parameters on `conn` (without parameters,
// `sql` may hold several statements), through PgExecBounded. Errors:
// UNAVAILABLE for a lost connection, a timeout (either side's), a lock
// wait, a serialization failure or a server shutting down (retry later);
// INTERNAL for anything else (a bug). `what` names the statement in the
// message.
absl::StatusOr<PgResult> PgExec(PGconn* conn, const char* what, const char* sql,
                                const std::vector<std::string>& params = {});
// Whether `s` is PgExec's client-side timeout (the database did not
// answer at all; the connection was dropped).
bool PgClientTimedOut(const absl::Status& s);
// Drives a connection begun with PQconnectStartParams to the end without
// ever blocking: each host of the conninfo gets `per_host`, and `stop` is
// asked every 50 ms (shutdown need not wait out a connect timeout).
// UNAVAILABLE when it fails. Then sets the client timeout (above) to
// `client_timeout`.
absl::Status PgConnectPoll(PGconn* pg, absl::Duration per_host, absl::Duration client_timeout,
                           absl::FunctionRef<bool()> stop);

// A text[] literal ('{"a","b"}') of `values`, for `= ANY($1::text[])`.
std::string PgTextArray(const std::vector<std::string>& values);

struct PgPoolOptions {
  std::string conninfo;  // never logged
  std::string application_name = "tl-gateway";
  int size = 4;
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration lock_timeout = absl::Seconds(2);
  // After a failed connection attempt, how long callers fail fast.
  absl::Duration retry_interval = absl::Milliseconds(500);
};

class PgPool {
 public:
  using OnConnect = std::function<absl::Status(PGconn*)>;
  PgPool(PgPoolOptions options, OnConnect on_connect);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs `fn` with a connection. When `fn` fails because the connection
  // was lost and the connection had been idle in the pool (the server
  // restarted meanwhile), it runs once more on a fresh one.
  absl::Status Run(absl::FunctionRef<absl::Status(PGconn*)> fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens one connection now (start-up: migrate, and say whether the
  // database is reachable).
  absl::Status Probe() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the last attempt to use the database failed for want of it
  // (degraded mode; each change is logged once).
  bool down() const ABSL_LOCKS_EXCLUDED(mu_);
  // At process shutdown: from now on every call fails at once
  // (UNAVAILABLE), and statements in flight end now (their sockets are
  // shut down), so threads that wait on the database stop within the
  // drain bound even when the database host is unreachable. A connection
  // attempt under way ends within 50 ms.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Conn;
  absl::StatusOr<std::unique_ptr<Conn>> Acquire() ABSL_LOCKS_EXCLUDED(mu_);
  void Return(std::unique_ptr<Conn> conn) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::unique_ptr<Conn>> Connect() ABSL_LOCKS_EXCLUDED(mu_);
  // After a statement got no answer at all: drops the idle connections
  // and makes callers fail fast for `retry_interval`.
  void Unresponsive(absl::string_view why) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the mode and logs a change of it.
  void SetDown(bool down, absl::string_view why) ABSL_LOCKS_EXCLUDED(mu_);

  const PgPoolOptions options_;
  const OnConnect on_connect_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + in use + being opened
  absl::Time fail_fast_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<PGconn*> busy_ ABSL_GUARDED_BY(mu_);  // lent out by Acquire
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_PG_POOL_H_
