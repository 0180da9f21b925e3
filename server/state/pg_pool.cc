#include "server/state/pg_pool.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "postgresql/libpq-events.h"
#include "postgresql/libpq-fe.h"
#include "server/common/log.h"

namespace tlgw {

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}
PgResult::~PgResult() {
  if (r_ != nullptr) PQclear(r_);
}
int PgResult::rows() const { return r_ == nullptr ? 0 : PQntuples(r_); }
bool PgResult::null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
std::string PgResult::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}
int64_t PgResult::integer(int row, int col) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text(row, col), &v)) return 0;
  return v;
}

namespace {

// Failures that say "the database is unavailable now", not "this gateway
// sent something wrong": connection (08), resources (53), operator
// intervention incl. statement timeout and shutdown (57), transaction
// rollback (40), lock wait (55P03), a read-only standby after failover.
bool Transient(absl::string_view sqlstate) {
  return absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "53") ||
         absl::StartsWith(sqlstate, "57") || absl::StartsWith(sqlstate, "40") || sqlstate == "55P03" ||
         sqlstate == "25006";
}

}  // namespace

namespace {

constexpr char kTimeoutPayload[] = "tlgw.pg/client-timeout";

// Holds each connection's client timeout (ms) as libpq instance data: it
// lives and dies with the PGconn, whoever opened it.
int ClientTimeoutEvents(PGEventId, void*, void*) { return 1; }

absl::Duration ClientTimeout(const PGconn* conn) {
  void* v = PQinstanceData(conn, ClientTimeoutEvents);
  if (v == nullptr) return kPgDefaultClientTimeout;
  return absl::Milliseconds(reinterpret_cast<intptr_t>(v));
}

// Waits for `events` on the connection's socket until `deadline`: false
// when the deadline passed first.
bool WaitSocket(PGconn* conn, short events, absl::Time deadline) {
  while (true) {
    const int fd = PQsocket(conn);
    if (fd < 0) return true;  // closed: the caller sees the error
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let libpq report it
  }
}

// Makes libpq see the connection as lost (CONNECTION_BAD), so that
// PQisBusy is false and PQgetResult returns at once from then on.
void Close(PGconn* conn) {
  if (PQstatus(conn) == CONNECTION_BAD) return;
  if (const int fd = PQsocket(conn); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  // Reads what was buffered, then the end of the stream (never waits: the
  // socket is shut down).
  for (int i = 0; i < 1000 && PQstatus(conn) != CONNECTION_BAD; ++i) {
    if (PQconsumeInput(conn) == 0) break;
  }
}

}  // namespace

void PgSetClientTimeout(PGconn* conn, absl::Duration timeout) {
  if (conn == nullptr) return;
  (void)PQregisterEventProc(conn, ClientTimeoutEvents, "tlgw-client-timeout", nullptr);  // false: already there
  const intptr_t ms = std::max<intptr_t>(1, static_cast<intptr_t>(absl::ToInt64Milliseconds(timeout)));
  PQsetInstanceData(conn, ClientTimeoutEvents, reinterpret_cast<void*>(ms));
}

PgResult PgExecBounded(PGconn* conn, const char* sql, const std::vector<std::string>& params, bool* timed_out) {
  *timed_out = false;
  const absl::Time deadline = absl::Now() + ClientTimeout(conn);
  // Non-blocking: PQsendQuery* and PQflush never wait on the socket. (Any
  // PQexec elsewhere would still block: it ignores this mode.)
  if (PQisnonblocking(conn) == 0) PQsetnonblocking(conn, 1);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  // Without parameters, the simple protocol, which also takes several
  // statements at once (migrations).
  const int sent = values.empty() ? PQsendQuery(conn, sql)
                                  : PQsendQueryParams(conn, sql, static_cast<int>(values.size()), nullptr,
                                                      values.data(), nullptr, nullptr, 0);
  if (sent == 0) return PgResult();  // the message is in PQerrorMessage
  bool in_time = true;
  // Send all of it (the socket buffer may take only part), reading while
  // waiting so the server is never blocked writing to us.
  while (in_time) {
    const int f = PQflush(conn);
    if (f <= 0) break;  // sent, or failed (the results say so)
    in_time = WaitSocket(conn, POLLOUT | POLLIN, deadline);
    if (in_time && PQconsumeInput(conn) == 0) {
      Close(conn);
      break;
    }
  }
  PgResult last;
  while (in_time) {
    while (PQisBusy(conn) != 0) {
      in_time = WaitSocket(conn, POLLIN, deadline);
      if (!in_time) break;
      if (PQconsumeInput(conn) == 0) Close(conn);  // then not busy any more
    }
    if (!in_time) break;
    // Not busy: PQgetResult returns without waiting (also once the
    // connection is lost, with an error result).
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) break;
    const ExecStatusType st = PQresultStatus(r);
    const bool error = last.get() != nullptr && PQresultStatus(last.get()) == PGRES_FATAL_ERROR;
    if (error) {
      PQclear(r);  // like PQexec: the first error is the answer
    } else {
      last = PgResult(r);
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) break;  // not used here
  }
  if (in_time) return last;
  // No answer in time: the connection is in an unknown state, so it goes.
  // A cancel request would need the server that is not answering; the
  // server ends the statement itself (statement_timeout, or the closed
  // socket).
  *timed_out = true;
  Close(conn);
  while (PQisBusy(conn) == 0) {
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) break;
    PQclear(r);
  }
  return PgResult();
}

bool PgClientTimedOut(const absl::Status& s) { return s.GetPayload(kTimeoutPayload).has_value(); }

absl::StatusOr<PgResult> PgExec(PGconn* conn, const char* what, const char* sql,
                                const std::vector<std::string>& params) {
  bool timed_out = false;
  PgResult res = PgExecBounded(conn, sql, params, &timed_out);
  if (timed_out) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("state store: ", what, ": PostgreSQL did not answer within ",
                     absl::FormatDuration(ClientTimeout(conn)), " (the connection was dropped)"));
    s.SetPayload(kTimeoutPayload, absl::Cord("1"));
    return s;
  }
  const ExecStatusType st = res.get() == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  std::string message =
      std::string(absl::StripAsciiWhitespace(res.get() != nullptr ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn)));
  if (message.empty()) message = std::string(absl::StripAsciiWhitespace(PQerrorMessage(conn)));
  const char* state = res.get() != nullptr ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  const std::string text = absl::StrCat("state store: ", what, ": ", message, sqlstate.empty() ? "" : " (SQLSTATE ",
                                        sqlstate, sqlstate.empty() ? "" : ")");
  if (PQstatus(conn) == CONNECTION_BAD || sqlstate.empty() || Transient(sqlstate)) {
    return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

std::string PgTextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

struct PgPool::Conn {
  explicit Conn(PGconn* c) : pg(c) {}
  ~Conn() { PQfinish(pg); }
  PGconn* pg;
  bool reused = false;
};

PgPool::PgPool(PgPoolOptions options, OnConnect on_connect)
    : options_(std::move(options)), on_connect_(std::move(on_connect)) {}

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

bool PgPool::down() const {
  absl::MutexLock lock(&mu_);
  return down_;
}

absl::Status PgConnectPoll(PGconn* pg, absl::Duration per_host, absl::Duration client_timeout,
                           absl::FunctionRef<bool()> stop) {
  auto failed = [pg](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat("state store: cannot connect to PostgreSQL: ", why));
  };
  if (pg == nullptr) return failed("out of memory");
  int socket = PQsocket(pg);
  absl::Time deadline = absl::Now() + per_host;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (true) {
    if (PQstatus(pg) == CONNECTION_BAD || state == PGRES_POLLING_FAILED) {
      return failed(absl::StripAsciiWhitespace(PQerrorMessage(pg)));
    }
    if (state == PGRES_POLLING_OK) {
      PgSetClientTimeout(pg, client_timeout);
      return absl::OkStatus();
    }
    if (stop()) return absl::UnavailableError("state store: the gateway is shutting down");
    if (PQsocket(pg) != socket) {  // libpq moved on to the next host
      socket = PQsocket(pg);
      deadline = absl::Now() + per_host;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) return failed("timeout expired");
    pollfd p{socket, static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    // Short slices: `stop` is noticed within one.
    const int slice_ms = static_cast<int>(std::min<int64_t>(50, absl::ToInt64Milliseconds(deadline - now) + 1));
    if (::poll(&p, 1, slice_ms) > 0) state = PQconnectPoll(pg);
  }
}

absl::StatusOr<std::unique_ptr<PgPool::Conn>> PgPool::Connect() {
  const std::string connect_timeout =
      std::to_string(std::max<int64_t>(2, absl::ToInt64Seconds(absl::Ceil(options_.connect_timeout, absl::Seconds(1)))));
  const std::string user_timeout =
      std::to_string(absl::ToInt64Milliseconds(options_.statement_timeout + absl::Seconds(5)));
  // The caller's conninfo first (expanded), then what the pool needs.
  const char* keys[] = {"dbname",      "connect_timeout", "application_name", "keepalives", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout", nullptr};
  const char* values[] = {options_.conninfo.c_str(), connect_timeout.c_str(), options_.application_name.c_str(),
                          "1", "10", "3", "3", user_timeout.c_str(), nullptr};
  // Non-blocking, so that Shutdown() need not wait out connect_timeout
  // when the database host is unreachable (libpq's blocking connect could
  // not be interrupted). The timeout applies to each host of the conninfo.
  auto conn = std::make_unique<Conn>(PQconnectStartParams(keys, values, /*expand_dbname=*/1));
  const absl::Duration per_host = std::max(absl::Seconds(2), options_.connect_timeout);
  absl::Status s = PgConnectPoll(conn->pg, per_host, options_.statement_timeout + kPgClientMargin, [this] {
    absl::MutexLock lock(&mu_);
    return shut_down_;
  });
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    // Its session settings and migration can be cut by Shutdown() too.
    if (shut_down_) {
      s = absl::UnavailableError("state store: the gateway is shutting down");
    } else {
      busy_.insert(conn->pg);
    }
  }
  if (s.ok()) {
    // Session settings rather than the `options` start-up parameter,
    // which PgBouncer refuses.
    const std::string set = absl::StrCat("SET statement_timeout = ", absl::ToInt64Milliseconds(options_.statement_timeout),
                                         "; SET lock_timeout = ", absl::ToInt64Milliseconds(options_.lock_timeout));
    auto r = PgExec(conn->pg, "session settings", set.c_str());
    if (!r.ok()) {
      s = absl::UnavailableError(r.status().message());
    } else if (on_connect_) {
      s = on_connect_(conn->pg);
    }
  }
  if (!s.ok()) {
    {
      absl::MutexLock lock(&mu_);
      busy_.erase(conn->pg);
    }
    // Only a database we cannot reach makes callers fail fast; a refused
    // migration (say) is reported to each.
    if (s.code() == absl::StatusCode::kUnavailable) {
      {
        absl::MutexLock lock(&mu_);
        fail_fast_until_ = absl::Now() + options_.retry_interval;
      }
      SetDown(true, s.message());
    }
    return s;
  }
  SetDown(false, "");
  return conn;
}

void PgPool::SetDown(bool down, absl::string_view why) {
  {
    absl::MutexLock lock(&mu_);
    if (down_ == down) return;
    down_ = down;
  }
  // One line per change of mode, not per failed call.
  if (down) {
    Log(LogLevel::kWarning, "state", "PostgreSQL unreachable: degraded mode (calls that need shared state answer UNAVAILABLE)",
        {{"error", std::string(why)}});
  } else {
    Log(LogLevel::kInfo, "state", "PostgreSQL reachable: shared mode");
  }
}

void PgPool::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  // The owners still close them (PQfinish); this only wakes their reads.
  for (PGconn* c : busy_) {
    const int fd = PQsocket(c);
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
}

absl::StatusOr<std::unique_ptr<PgPool::Conn>> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time give_up = absl::Now() + options_.statement_timeout;
    while (true) {
      if (shut_down_) return absl::UnavailableError("state store: the gateway is shutting down");
      if (!idle_.empty()) {
        std::unique_ptr<Conn> c = std::move(idle_.back());
        idle_.pop_back();
        c->reused = true;
        busy_.insert(c->pg);
        return c;
      }
      if (open_ < options_.size) {
        if (absl::Now() < fail_fast_until_) {
          return absl::UnavailableError("state store: PostgreSQL is unreachable (the last connection attempt failed)");
        }
        ++open_;
        break;
      }
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shut_down_ || !idle_.empty() || open_ < options_.size;
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&ready), give_up)) {
        return absl::UnavailableError(absl::StrCat("state store: all ", options_.size,
                                                   " PostgreSQL connections stayed busy for ",
                                                   absl::FormatDuration(options_.statement_timeout)));
      }
    }
  }
  auto fresh = Connect();
  absl::MutexLock lock(&mu_);
  if (!fresh.ok()) {
    --open_;
    return fresh;
  }
  if (shut_down_) {
    --open_;
    return absl::UnavailableError("state store: the gateway is shutting down");
  }
  busy_.insert((*fresh)->pg);
  return fresh;
}

void PgPool::Return(std::unique_ptr<Conn> conn) {
  {
    absl::MutexLock lock(&mu_);
    busy_.erase(conn->pg);
  }
  bool keep = PQstatus(conn->pg) == CONNECTION_OK;
  if (keep) {
    const PGTransactionStatusType t = PQtransactionStatus(conn->pg);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) {
      (void)PgExec(conn->pg, "rollback", "ROLLBACK");
      keep = PQtransactionStatus(conn->pg) == PQTRANS_IDLE;
    } else {
      keep = t == PQTRANS_IDLE;
    }
  }
  const bool lost = PQstatus(conn->pg) != CONNECTION_OK;
  std::string why = lost ? std::string(absl::StripAsciiWhitespace(PQerrorMessage(conn->pg))) : "";
  {
    absl::MutexLock lock(&mu_);
    if (keep && !shut_down_) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
      conn.reset();
    }
  }
  if (lost) SetDown(true, why);  // until a connection succeeds again
}

absl::Status PgPool::Run(absl::FunctionRef<absl::Status(PGconn*)> fn) {
  for (int attempt = 0;; ++attempt) {
    auto conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::Status s = fn((*conn)->pg);
    const bool lost = PQstatus((*conn)->pg) != CONNECTION_OK;
    const bool reused = (*conn)->reused;
    Return(*std::move(conn));
    if (PgClientTimedOut(s)) {
      // The database is there but does not answer (stopped, or a path that
      // drops packets): the idle connections lead to it too, so they go,
      // and callers fail fast until a fresh connection answers again.
      Unresponsive(s.message());
      return s;
    }
    if (!s.ok() && lost && reused && attempt == 0) continue;  // a stale idle connection
    return s;
  }
}

void PgPool::Unresponsive(absl::string_view why) {
  std::vector<std::unique_ptr<Conn>> idle;
  {
    absl::MutexLock lock(&mu_);
    idle.swap(idle_);
    open_ -= static_cast<int>(idle.size());
    fail_fast_until_ = absl::Now() + options_.retry_interval;
  }
  idle.clear();  // PQfinish only queues a Terminate message: never waits
  SetDown(true, why);
}

absl::Status PgPool::Probe() {
  return Run([](PGconn*) { return absl::OkStatus(); });
}

}  // namespace tlgw
