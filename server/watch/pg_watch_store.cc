#include "server/watch/pg_watch_store.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "postgresql/libpq-fe.h"
#include "server/common/log.h"
#include "server/state/pg_pool.h"
#include "server/state/pg_schema.h"

namespace tlgw {

namespace {

constexpr char kChannel[] = "tlgw_watch";

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Full precision: StrCat would print a double with six digits.
std::string Num(double v) { return absl::StrFormat("%.6f", v); }
std::string Seconds(absl::Duration d) { return Num(absl::ToDoubleSeconds(d)); }

// A text[] literal.
std::string PgArray(const std::vector<std::string>& values) {
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
  out += '}';
  return out;
}

int64_t Int(const PGresult* r, int row, int col) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r, row, col), &v);
  return v;
}
double Float(const PGresult* r, int row, int col) {
  double v = 0;
  (void)absl::SimpleAtod(PQgetvalue(r, row, col), &v);
  return v;
}
bool Bool(const PGresult* r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }
std::string Text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}
absl::Time Epoch(double seconds) { return absl::FromUnixMicros(static_cast<int64_t>(std::llround(seconds * 1e6))); }

}  // namespace

// One connection, used by one thread at a time.
class PgWatchStore::Conn {
 public:
  // `stop` ends a connection attempt under way (shutdown).
  Conn(const PgWatchStoreOptions& o, std::function<bool()> stop) : o_(o), stop_(std::move(stop)) {}
  ~Conn() { Drop(); }

  bool ready() const { return c_ != nullptr && !broken_ && PQstatus(c_) == CONNECTION_OK; }

  absl::Status Ensure() {
    if (ready()) return absl::OkStatus();
    Drop();
    const std::string timeout = absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(o_.connect_timeout)));
    // The conninfo first (expanded), then what the gateway insists on:
    // bounded connects, and keepalives so a silently dead peer is noticed.
    const char* keys[] = {"dbname", "connect_timeout", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "application_name", nullptr};
    const char* values[] = {o_.conninfo.c_str(), timeout.c_str(), "1", "10", "5", "3", o_.application_name.c_str(), nullptr};
    // Non-blocking, like the pool's: shutdown cuts an attempt under way.
    c_ = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
    absl::Status s = PgConnectPoll(c_, std::max(absl::Seconds(2), o_.connect_timeout),
                                   o_.statement_timeout + kPgClientMargin, [this] { return stop_ && stop_(); });
    if (!s.ok()) {
      // libpq's message names host and port, never the password.
      Drop();
      return s;
    }
    auto set = Exec(absl::StrCat("SET statement_timeout = ", absl::ToInt64Milliseconds(o_.statement_timeout),
                                 "; SET lock_timeout = ", absl::ToInt64Milliseconds(o_.lock_timeout)),
                    {});
    if (!set.ok()) {
      Drop();
      return set.status();
    }
    return absl::OkStatus();
  }

  void Drop() {
    if (c_ != nullptr) PQfinish(c_);
    c_ = nullptr;
    broken_ = false;
  }
  PGconn* raw() { return c_; }

  // Runs `sql` with text parameters ($1...), within statement_timeout plus
  // a margin on this side too (PgExecBounded). A failure of the connection
  // itself marks it broken, so the next job reconnects (it is closed then,
  // not here: its socket may be in the store's busy set).
  absl::StatusOr<Result> Exec(const std::string& sql, const std::vector<std::string>& params) {
    if (c_ == nullptr || broken_) return absl::UnavailableError("not connected to PostgreSQL");
    bool timed_out = false;
    PgResult bounded = PgExecBounded(c_, sql.c_str(), params, &timed_out);
    if (timed_out) {
      broken_ = true;
      return absl::UnavailableError(absl::StrCat("PostgreSQL did not answer within ",
                                                 absl::FormatDuration(o_.statement_timeout + kPgClientMargin),
                                                 " (the connection was dropped)"));
    }
    Result r(bounded.release(), &PQclear);
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    absl::Status s = ErrorOf(r.get());
    if (absl::IsUnavailable(s)) broken_ = true;
    return s;
  }

  absl::Status Run(const std::string& sql, const std::vector<std::string>& params = {}) {
    return Exec(sql, params).status();
  }

  // Runs `body` in a transaction, rolled back when it fails.
  template <typename F>
  absl::Status Transaction(F body) {
    if (absl::Status s = Run("BEGIN"); !s.ok()) return s;
    absl::Status s = body();
    if (s.ok()) return Run("COMMIT");
    if (ready()) (void)Run("ROLLBACK");
    return s;
  }

 private:
  absl::Status ErrorOf(const PGresult* r) {
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = r != nullptr ? PQresultErrorMessage(r) : "";
    if (message.empty() && c_ != nullptr) message = PQerrorMessage(c_);
    const std::string code = state != nullptr ? state : "";
    if (PQstatus(c_) != CONNECTION_OK || code.empty() || code.rfind("08", 0) == 0 || code == "57P01" ||
        code == "57P02" || code == "57P03") {
      return absl::UnavailableError(absl::StrCat("PostgreSQL unreachable: ", message));
    }
    if (code == "57014") return absl::DeadlineExceededError(absl::StrCat("PostgreSQL statement timed out: ", message));
    if (code == "55P03" || code == "40001" || code == "40P01") {
      return absl::AbortedError(absl::StrCat("PostgreSQL lock: ", message));
    }
    return absl::InternalError(absl::StrCat("PostgreSQL (", code, "): ", message));
  }

  const PgWatchStoreOptions& o_;
  const std::function<bool()> stop_;
  PGconn* c_ = nullptr;
  bool broken_ = false;
};

// ---- Schema ------------------------------------------------------------------

absl::Status PgWatchStore::Migrate(const std::string& conninfo, absl::Duration timeout) {
  PgWatchStoreOptions o;
  o.conninfo = conninfo;
  o.connect_timeout = timeout;
  o.statement_timeout = timeout;
  o.lock_timeout = timeout;
  Conn conn(o, nullptr);
  if (absl::Status s = conn.Ensure(); !s.ok()) return s;
  // The shared schema's versioned migrations (server/state/pg_schema.cc;
  // the watch tables are version 10).
  return PgMigrate(conn.raw());
}

// ---- Threads -----------------------------------------------------------------

PgWatchStore::PgWatchStore(PgWatchStoreOptions options, bool migrated)
    : options_(std::move(options)), migrated_(migrated) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { Work(); });
}

PgWatchStore::~PgWatchStore() {
  std::deque<Job> left;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // A statement under way ends now (its socket is shut down; the thread
    // closes the connection), even when the database does not answer.
    for (PGconn* c : busy_) {
      if (const int fd = PQsocket(c); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
  }
  for (auto& t : workers_) t.join();
  if (listener_.joinable()) listener_.join();
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  const absl::Status gone = absl::UnavailableError("the watch store is shutting down");
  for (auto& job : left) job(nullptr, gone);
}

void PgWatchStore::Enqueue(Job job) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_ && queue_.size() < options_.max_queued) {
      queue_.push_back(std::move(job));
      return;
    }
  }
  job(nullptr, absl::UnavailableError("too many watch-store statements queued"));
}

bool PgWatchStore::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

absl::Status PgWatchStore::Connect(Conn& conn) {
  if (conn.ready()) return absl::OkStatus();
  {
    // Right after a failed attempt, jobs fail at once instead of each
    // waiting out a connect timeout of its own.
    absl::MutexLock lock(&mu_);
    if (absl::Now() < fail_fast_until_) return unreachable_;
  }
  absl::Status s = conn.Ensure();
  if (s.ok() && !migrated_.load()) {
    // Started while the database was unreachable: the schema is checked
    // (and migrated) on the first connection that works.
    s = PgMigrate(conn.raw());
    if (s.ok()) {
      migrated_.store(true);
    } else {
      conn.Drop();
    }
  }
  if (absl::IsUnavailable(s)) {
    absl::MutexLock lock(&mu_);
    fail_fast_until_ = absl::Now() + kRetryInterval;
    unreachable_ = s;
  }
  return s;
}

bool PgWatchStore::MarkBusy(PGconn* c, bool busy) {
  absl::MutexLock lock(&mu_);
  if (!busy) {
    busy_.erase(c);
    return true;
  }
  if (stopping_) return false;
  busy_.insert(c);
  return true;
}

void PgWatchStore::Work() {
  Conn conn(options_, [this] { return Stopping(); });
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status s = Connect(conn);
    PGconn* raw = s.ok() ? conn.raw() : nullptr;
    if (raw != nullptr && !MarkBusy(raw, true)) {
      s = absl::UnavailableError("the watch store is shutting down");
      raw = nullptr;
    }
    job(s.ok() ? &conn : nullptr, s);
    if (raw != nullptr) MarkBusy(raw, false);
  }
}

void PgWatchStore::Listen(const std::string& replica,
                          absl::AnyInvocable<void(const std::string&, int64_t)> on_hint,
                          absl::AnyInvocable<void(bool)> on_channel) {
  {
    absl::MutexLock lock(&mu_);
    listen_replica_ = replica;
    on_hint_ = std::make_shared<absl::AnyInvocable<void(const std::string&, int64_t)>>(std::move(on_hint));
    on_channel_ = std::make_shared<absl::AnyInvocable<void(bool)>>(std::move(on_channel));
  }
  if (options_.listen && !listener_.joinable()) listener_ = std::thread([this] { ListenLoop(); });
}

void PgWatchStore::ListenLoop() {
  Conn conn(options_, [this] { return Stopping(); });
  std::shared_ptr<absl::AnyInvocable<void(const std::string&, int64_t)>> on_hint;
  std::shared_ptr<absl::AnyInvocable<void(bool)>> on_channel;
  {
    absl::MutexLock lock(&mu_);
    on_hint = on_hint_;
    on_channel = on_channel_;
  }
  bool up = false;
  auto stopping = [this](absl::Duration wait) {
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    return mu_.AwaitWithTimeout(absl::Condition(&stop), wait);
  };
  while (!stopping(absl::ZeroDuration())) {
    // LISTEN first, then tell the coordinator to read again what it may
    // have missed while the channel was down.
    absl::Status s = conn.Ensure();
    PGconn* raw = s.ok() ? conn.raw() : nullptr;
    if (raw != nullptr && !MarkBusy(raw, true)) break;  // shutting down
    if (s.ok()) s = conn.Run(absl::StrCat("LISTEN ", kChannel));
    if (!s.ok()) {
      if (raw != nullptr) MarkBusy(raw, false);
      if (up) (*on_channel)(false);
      up = false;
      stopping(absl::Seconds(1));
      continue;
    }
    up = true;
    (*on_channel)(true);
    while (!stopping(absl::ZeroDuration())) {
      pollfd pfd{PQsocket(conn.raw()), POLLIN, 0};
      int n = poll(&pfd, 1, 250);
      if (n < 0 && errno != EINTR) break;
      if (PQconsumeInput(conn.raw()) == 0) break;  // the connection is gone
      while (PGnotify* note = PQnotifies(conn.raw())) {
        const std::string payload = note->extra != nullptr ? note->extra : "";
        PQfreemem(note);
        const size_t space = payload.rfind(' ');
        int64_t seq = 0;
        if (space == std::string::npos || !absl::SimpleAtoi(payload.substr(space + 1), &seq)) continue;
        (*on_hint)(payload.substr(0, space), seq);
      }
      if (PQstatus(conn.raw()) != CONNECTION_OK) break;
    }
    MarkBusy(raw, false);
    conn.Drop();
    if (up) (*on_channel)(false);
    up = false;
  }
}

// ---- Statements --------------------------------------------------------------

void PgWatchStore::AddInterest(const std::string& replica, const std::vector<WatchKey>& keys, bool fresh,
                               absl::Duration ttl, absl::AnyInvocable<void(absl::StatusOr<int>)> done) {
  std::vector<std::string> names, kinds, scopes, subjects;
  for (const WatchKey& k : keys) {
    names.push_back(k.str());
    kinds.push_back(k.kind);
    scopes.push_back(k.scope);
    subjects.push_back(k.subject);
  }
  Enqueue([replica, names = PgArray(names), kinds = PgArray(kinds), scopes = PgArray(scopes),
           subjects = PgArray(subjects), fresh, ttl,
           done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    // A key nobody else keeps current (or whose watch ended) starts over
    // when a replica starts watching it: a read at once.
    auto up = conn->Run(R"sql(
WITH k AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(key, kind, scope, subject)),
others AS (SELECT DISTINCT i.key FROM watch_interest i JOIN k USING (key)
           WHERE i.replica <> $1 AND i.expires_at > now()),
polls AS (
  INSERT INTO watch_polls AS p (key, kind, scope, subject, next_poll_at)
  SELECT key, kind, scope, subject, now() FROM k
  ON CONFLICT (key) DO UPDATE SET next_poll_at = now(), cursor = '', failures = 0, primed = false,
      finished = false, ended_code = 0, ended_message = '', poller = NULL
  WHERE $6::boolean AND (p.ended_code <> 0 OR p.key NOT IN (SELECT key FROM others)))
INSERT INTO watch_interest (key, replica, expires_at)
SELECT key, $1, now() + make_interval(secs => $7::float8) FROM k
ON CONFLICT (key, replica) DO UPDATE SET expires_at = EXCLUDED.expires_at)sql",
                        {replica, names, kinds, scopes, subjects, fresh ? "true" : "false", Seconds(ttl)});
    if (!up.ok()) return done(up);
    auto live = conn->Exec("SELECT count(DISTINCT replica) FROM watch_interest WHERE expires_at > now()", {});
    if (!live.ok()) return done(live.status());
    done(static_cast<int>(Int(live->get(), 0, 0)));
  });
}

void PgWatchStore::DropInterest(const std::string& replica, const std::vector<std::string>& keys,
                                absl::AnyInvocable<void(absl::Status)> done) {
  Enqueue([replica, keys = PgArray(keys), done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    done(conn->Run(R"sql(
WITH d AS (DELETE FROM watch_interest WHERE replica = $1 AND key = ANY($2::text[]) RETURNING key)
DELETE FROM watch_polls p WHERE p.key IN (SELECT key FROM d)
  AND NOT EXISTS (SELECT 1 FROM watch_interest i WHERE i.key = p.key AND i.replica <> $1))sql",
                   {replica, keys}));
  });
}

namespace {

// Claims from rows of (kind, scope, subject, fence, cursor, failures).
std::vector<StoredClaim> ClaimsOf(const PGresult* r, absl::Duration lease) {
  std::vector<StoredClaim> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    StoredClaim c;
    c.key = WatchKey{Text(r, i, 0), Text(r, i, 1), Text(r, i, 2)};
    c.fence = Int(r, i, 3);
    c.cursor = Text(r, i, 4);
    c.failures = static_cast<int>(Int(r, i, 5));
    c.read_after = absl::ZeroDuration();
    c.lease = lease;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

void PgWatchStore::Claim(const std::string& replica, int max, absl::Duration spacing, absl::Duration horizon,
                         absl::Duration lease,
                         absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  Enqueue([replica, max, spacing, horizon, lease, done = std::move(done)](
              Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    std::vector<StoredClaim> claims;
    absl::Status s = conn->Transaction([&]() -> absl::Status {
      if (auto s = conn->Run("INSERT INTO poll_budget VALUES ('watch', '-infinity', '-infinity') "
                             "ON CONFLICT DO NOTHING");
          !s.ok()) {
        return s;
      }
      // The budget row is the cluster's leaky bucket: locked for the batch.
      auto b = conn->Exec("SELECT extract(epoch FROM now())::float8, "
                          "extract(epoch FROM greatest(next_free, now()))::float8, blocked_until > now(), "
                          "CASE WHEN webhook_at = '-infinity' THEN -1 "
                          "ELSE extract(epoch FROM now() - webhook_at)::float8 END "
                          "FROM poll_budget WHERE name = 'watch' FOR UPDATE",
                          {});
      if (!b.ok()) return b.status();
      const double now = Float(b->get(), 0, 0), slot0 = Float(b->get(), 0, 1);
      const double since_webhook = Float(b->get(), 0, 3);
      if (Bool(b->get(), 0, 2)) return absl::OkStatus();  // upstream said 429: nobody polls
      const double step = absl::ToDoubleSeconds(spacing);
      const double last = now + absl::ToDoubleSeconds(horizon);
      if (slot0 > last) return absl::OkStatus();  // the budget is spent for this round
      // Polls due before the next round are claimed now and read at their
      // due time (or their budget slot, if later): a poll is not late by
      // the claim period.
      auto due = conn->Exec(R"sql(
SELECT key, extract(epoch FROM next_poll_at)::float8 FROM watch_polls p
WHERE p.next_poll_at <= to_timestamp($2::float8) AND NOT p.finished AND p.ended_code = 0
  AND EXISTS (SELECT 1 FROM watch_interest i WHERE i.key = p.key AND i.expires_at > now())
ORDER BY p.next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED)sql",
                            {absl::StrCat(max), Num(last)});
      if (!due.ok()) return due.status();
      std::vector<std::string> keys, ats;
      double next_free = slot0, at = 0;
      for (int i = 0; i < PQntuples(due->get()); ++i) {
        at = std::max(next_free, Float(due->get(), i, 1));
        if (at > last) break;  // left for a later round (the lock goes at commit)
        next_free = at + step;
        keys.push_back(Text(due->get(), i, 0));
        ats.push_back(Num(at));
      }
      if (keys.empty()) return absl::OkStatus();
      auto c = conn->Exec(R"sql(
WITH s AS (SELECT * FROM unnest($2::text[], $3::float8[]) AS u(key, at))
UPDATE watch_polls p SET fence = p.fence + 1, poller = $1,
  next_poll_at = to_timestamp(s.at) + make_interval(secs => $4::float8)
FROM s WHERE p.key = s.key
RETURNING p.kind, p.scope, p.subject, p.fence, p.cursor, p.failures, s.at)sql",
                          {replica, PgArray(keys), absl::StrCat("{", absl::StrJoin(ats, ","), "}"), Seconds(lease)});
      if (!c.ok()) return c.status();
      claims = ClaimsOf(c->get(), lease);
      for (int i = 0; i < PQntuples(c->get()); ++i) {
        claims[i].read_after = absl::Seconds(std::max(0.0, Float(c->get(), i, 6) - now));
        if (since_webhook >= 0) claims[i].since_webhook = absl::Seconds(since_webhook);
      }
      return conn->Run("UPDATE poll_budget SET next_free = to_timestamp($1::float8) WHERE name = 'watch'",
                       {Num(next_free)});
    });
    if (!s.ok()) return done(s);
    done(std::move(claims));
  });
}

void PgWatchStore::Take(const std::string& replica, const std::vector<std::string>& keys, absl::Duration lease,
                        absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  Enqueue([replica, keys = PgArray(keys), lease, done = std::move(done)](
              Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    auto r = conn->Exec(R"sql(
UPDATE watch_polls SET fence = fence + 1, poller = $1, next_poll_at = now() + make_interval(secs => $3::float8)
WHERE key = ANY($2::text[]) AND ended_code = 0
RETURNING kind, scope, subject, fence, cursor, failures)sql",
                        {replica, keys, Seconds(lease)});
    if (!r.ok()) return done(r.status());
    done(ClaimsOf(r->get(), lease));
  });
}

void PgWatchStore::TakeItem(const std::string& replica, const std::string& kind, const std::string& item,
                            absl::Duration lease,
                            absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  Enqueue([replica, kind, item, lease, done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    // Webhooks flow: every replica's polls slow to the safety net.
    if (auto s = conn->Run("INSERT INTO poll_budget AS b VALUES ('watch', '-infinity', '-infinity', now()) "
                           "ON CONFLICT (name) DO UPDATE SET webhook_at = now()");
        !s.ok()) {
      return done(s);
    }
    // Every watched key of the kind that is about the item, on any replica;
    // a read in flight elsewhere is fenced off.
    auto r = conn->Exec(R"sql(
UPDATE watch_polls p SET fence = p.fence + 1, poller = $1, next_poll_at = now() + make_interval(secs => $4::float8)
WHERE p.kind = $2 AND p.ended_code = 0
  AND (p.subject = $3 OR p.key IN (SELECT s.key FROM watch_state s WHERE s.item = $3))
  AND EXISTS (SELECT 1 FROM watch_interest i WHERE i.key = p.key AND i.expires_at > now())
RETURNING p.kind, p.scope, p.subject, p.fence, p.cursor, p.failures)sql",
                        {replica, kind, item, Seconds(lease)});
    if (!r.ok()) return done(r.status());
    std::vector<StoredClaim> claims = ClaimsOf(r->get(), lease);
    for (StoredClaim& c : claims) c.since_webhook = absl::ZeroDuration();
    done(std::move(claims));
  });
}

void PgWatchStore::Publish(StoredPublish sp,
                           absl::AnyInvocable<void(absl::StatusOr<StoredPublishResult>)> done) {
  Enqueue([sp = std::move(sp), done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    StoredPublishResult result;
    const std::string key = sp.key.str();
    absl::Status s = conn->Transaction([&]() -> absl::Status {
      // The fence, under the poll row's lock: publishes of one key are
      // serialized, and a poller whose read was taken over changes nothing.
      auto p = conn->Exec("SELECT primed FROM watch_polls WHERE key = $1 AND fence = $2 FOR UPDATE",
                          {key, absl::StrCat(sp.fence)});
      if (!p.ok()) return p.status();
      if (PQntuples(p->get()) == 0) return absl::OkStatus();
      result.accepted = true;
      const bool primed = Bool(p->get(), 0, 0);
      if (!sp.ended.ok()) {
        if (auto s = conn->Run("UPDATE watch_polls SET ended_code = $2, ended_message = $3, poller = NULL "
                               "WHERE key = $1",
                               {key, absl::StrCat(static_cast<int>(sp.ended.code())),
                                std::string(sp.ended.message())});
            !s.ok()) {
          return s;
        }
        if (key.size() < 7000) return conn->Run("SELECT pg_notify($1, $2)", {kChannel, key + " 0"});
        return absl::OkStatus();
      }
      const int source = primed ? sp.source : twelvelabs::gateway::v1::EVENT_SOURCE_SNAPSHOT;
      int64_t newest = 0;
      for (const StoredPublish::Item& item : sp.items) {
        // Numbered only when the state changed: above the key's previous
        // number and at least the database clock in µs.
        auto r = conn->Exec(R"sql(
INSERT INTO watch_state AS s (key, item, seq, fingerprint, terminal, source, observed, value)
VALUES ($1, $2, greatest(coalesce((SELECT max(seq) FROM watch_state WHERE key = $1), 0) + 1,
                         (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
        $3, $4, $5, now(), decode($6, 'hex'))
ON CONFLICT (key, item) DO UPDATE SET seq = EXCLUDED.seq, fingerprint = EXCLUDED.fingerprint,
    terminal = EXCLUDED.terminal, source = EXCLUDED.source, observed = EXCLUDED.observed, value = EXCLUDED.value
  WHERE s.fingerprint <> EXCLUDED.fingerprint
RETURNING seq, extract(epoch FROM observed)::float8)sql",
                            {key, item.id, item.fingerprint, item.terminal ? "true" : "false",
                             absl::StrCat(source), absl::BytesToHexString(item.value)});
        if (!r.ok()) return r.status();
        if (PQntuples(r->get()) == 0) continue;
        StoredRow row;
        row.key = key;
        row.item = item.id;
        row.sequence = Int(r->get(), 0, 0);
        row.fingerprint = item.fingerprint;
        row.terminal = item.terminal;
        row.source = source;
        row.observed = Epoch(Float(r->get(), 0, 1));
        newest = std::max(newest, row.sequence);
        result.changed.push_back(std::move(row));
      }
      if (auto s = conn->Run(R"sql(
UPDATE watch_polls SET cursor = CASE WHEN $2::boolean THEN $3 ELSE cursor END, primed = primed OR $2::boolean,
  failures = $4, finished = $5::boolean, next_poll_at = now() + make_interval(secs => $6::float8), poller = NULL
WHERE key = $1)sql",
                             {key, sp.read_ok ? "true" : "false", sp.cursor, absl::StrCat(sp.failures),
                              sp.finished ? "true" : "false", Seconds(sp.next_poll)});
          !s.ok()) {
        return s;
      }
      if (sp.block_polls > absl::ZeroDuration()) {
        if (auto s = conn->Run("UPDATE poll_budget SET blocked_until = greatest(blocked_until, now() + "
                               "make_interval(secs => $1::float8)) WHERE name = 'watch'",
                               {Seconds(sp.block_polls)});
            !s.ok()) {
          return s;
        }
      }
      // A hint only for a real change, and small: NOTIFY takes a global
      // lock at commit. Keys too long for a payload are found by the sweep.
      if (newest > 0 && key.size() < 7000) {
        return conn->Run("SELECT pg_notify($1, $2)", {kChannel, absl::StrCat(key, " ", newest)});
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return done(s);
    done(std::move(result));
  });
}

void PgWatchStore::Load(const std::vector<std::string>& keys, const std::string& replica,
                        absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, StoredKey>>)> done) {
  Enqueue([keys, done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    const std::string array = PgArray(keys);
    auto rows = conn->Exec(
        "SELECT key, item, seq, fingerprint, terminal, source, extract(epoch FROM observed)::float8, "
        "encode(value, 'hex') FROM watch_state WHERE key = ANY($1::text[]) ORDER BY key, seq",
        {array});
    if (!rows.ok()) return done(rows.status());
    auto polls = conn->Exec(
        "SELECT key, primed, ended_code, ended_message FROM watch_polls WHERE key = ANY($1::text[])", {array});
    if (!polls.ok()) return done(polls.status());
    std::map<std::string, StoredKey> out;
    for (const std::string& k : keys) out[k];
    const PGresult* r = rows->get();
    for (int i = 0; i < PQntuples(r); ++i) {
      StoredRow row;
      row.key = Text(r, i, 0);
      row.item = Text(r, i, 1);
      row.sequence = Int(r, i, 2);
      row.fingerprint = Text(r, i, 3);
      row.terminal = Bool(r, i, 4);
      row.source = static_cast<int>(Int(r, i, 5));
      row.observed = Epoch(Float(r, i, 6));
      row.value = absl::HexStringToBytes(Text(r, i, 7));
      out[row.key].rows.push_back(std::move(row));
    }
    const PGresult* p = polls->get();
    for (int i = 0; i < PQntuples(p); ++i) {
      StoredKey& sk = out[Text(p, i, 0)];
      const int code = static_cast<int>(Int(p, i, 2));
      sk.ended = code == 0 ? absl::OkStatus() : absl::Status(static_cast<absl::StatusCode>(code), Text(p, i, 3));
      sk.current = Bool(p, i, 1) && code == 0;
    }
    done(std::move(out));
  });
}

void PgWatchStore::PushRows(const std::vector<StoredRow>& rows, absl::AnyInvocable<void(absl::Status)> done) {
  Enqueue([rows, done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    done(conn->Transaction([&]() -> absl::Status {
      for (const StoredRow& r : rows) {
        // A row numbered alone replaces the stored one only when newer.
        auto s = conn->Run(R"sql(
INSERT INTO watch_state AS s (key, item, seq, fingerprint, terminal, source, observed, value)
VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8), decode($8, 'hex'))
ON CONFLICT (key, item) DO UPDATE SET seq = EXCLUDED.seq, fingerprint = EXCLUDED.fingerprint,
    terminal = EXCLUDED.terminal, source = EXCLUDED.source, observed = EXCLUDED.observed, value = EXCLUDED.value
  WHERE EXCLUDED.seq > s.seq)sql",
                           {r.key, r.item, absl::StrCat(r.sequence), r.fingerprint, r.terminal ? "true" : "false",
                            absl::StrCat(r.source), Num(absl::ToUnixMicros(r.observed) / 1e6),
                            absl::BytesToHexString(r.value)});
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }));
  });
}

void PgWatchStore::HandBack(const std::string& replica, absl::AnyInvocable<void(absl::Status)> done) {
  Enqueue([replica, done = std::move(done)](Conn* conn, const absl::Status& unreachable) mutable {
    if (conn == nullptr) return done(unreachable);
    done(conn->Transaction([&]() -> absl::Status {
      if (auto s = conn->Run("UPDATE watch_polls SET next_poll_at = now(), poller = NULL WHERE poller = $1",
                             {replica});
          !s.ok()) {
        return s;
      }
      return conn->Run(R"sql(
WITH d AS (DELETE FROM watch_interest WHERE replica = $1 RETURNING key)
DELETE FROM watch_polls p WHERE p.key IN (SELECT key FROM d)
  AND NOT EXISTS (SELECT 1 FROM watch_interest i WHERE i.key = p.key AND i.replica <> $1))sql",
                       {replica});
    }));
  });
}

}  // namespace tlgw
