#include "server/state/pg_pool.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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

absl::StatusOr<PgResult> PgExec(PGconn* conn, const char* what, const char* sql,
                                const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  // Without parameters, the simple protocol, which also takes several
  // statements at once (migrations).
  PgResult res(values.empty() ? PQexec(conn, sql)
                              : PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                                             nullptr, nullptr, 0));
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

absl::Status PgPool::ConnectPoll(PGconn* pg, absl::Duration per_host) {
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
    if (state == PGRES_POLLING_OK) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return absl::UnavailableError("state store: the gateway is shutting down");
    }
    if (PQsocket(pg) != socket) {  // libpq moved on to the next host
      socket = PQsocket(pg);
      deadline = absl::Now() + per_host;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) return failed("timeout expired");
    pollfd p{socket, static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    // Short slices: Shutdown() is noticed within one.
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
  absl::Status s = ConnectPoll(conn->pg, per_host);
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
    PgResult r(PQexec(conn->pg, set.c_str()));
    if (r.get() == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      s = absl::UnavailableError(absl::StrCat("state store: session settings: ", PQerrorMessage(conn->pg)));
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
      PgResult r(PQexec(conn->pg, "ROLLBACK"));
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
    if (!s.ok() && lost && reused && attempt == 0) continue;  // a stale idle connection
    return s;
  }
}

absl::Status PgPool::Probe() {
  return Run([](PGconn*) { return absl::OkStatus(); });
}

}  // namespace tlgw
