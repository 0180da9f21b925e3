#include "server/state/request_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tlgw {
namespace {

sqlite3* Db(void* p) { return static_cast<sqlite3*>(p); }

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// A database another writer holds locked past the busy timeout is
// UNAVAILABLE (retry later), not INTERNAL: the store itself is fine.
absl::Status DbError(sqlite3* db, absl::string_view what) {
  std::string message = absl::StrCat("state store: ", what, ": ", sqlite3_errmsg(db));
  int code = sqlite3_errcode(db) & 0xff;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::UnavailableError(absl::StrCat(message, "; the database stayed locked by another writer"));
  }
  return absl::InternalError(message);
}

constexpr int kInProgress = 0;
constexpr int kDone = 1;

// Schema versions (PRAGMA user_version): 0 had no attempt columns; 1
// records each claim's attempt (index, filename or URL, start, deadline);
// 2 records who holds each claim (claimed_by, for fencing).
constexpr int kSchemaVersion = 2;
// Claims written by version 0 had no deadline; they kept the fixed
// staleness of that time.
constexpr int64_t kLegacyStaleMillis = 10 * 60 * 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteRequestStore>> SqliteRequestStore::Open(
    const std::string& path, Clock* clock, absl::Duration busy_timeout, absl::Duration takeover_margin,
    absl::Duration keep_for, std::string replica_id) {
  if (replica_id.empty()) replica_id = absl::StrCat("pid-", getpid());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::InvalidArgumentError(absl::StrCat("--state_db: cannot open '", path, "': ", msg));
  }
  // Every store call waits at most this long for another writer's lock,
  // then fails UNAVAILABLE: a locked database never hangs a call.
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));
  auto store = std::unique_ptr<SqliteRequestStore>(
      new SqliteRequestStore(db, clock, takeover_margin, keep_for, std::move(replica_id)));
  absl::MutexLock lock(&store->mu_);
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=NORMAL",
           "CREATE TABLE IF NOT EXISTS request_ids ("
           "  scope TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL,"
           "  state INTEGER NOT NULL, task_id TEXT NOT NULL DEFAULT '',"
           "  updated_at INTEGER NOT NULL, PRIMARY KEY (scope, request_id))",
           "CREATE TABLE IF NOT EXISTS task_owners ("
           "  task_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at INTEGER NOT NULL)",
       }) {
    if (auto s = store->ExecLocked(sql); !s.ok()) return s;
  }
  if (auto s = store->MigrateLocked(); !s.ok()) return s;
  return store;
}

SqliteRequestStore::SqliteRequestStore(void* db, Clock* clock, absl::Duration takeover_margin,
                                       absl::Duration keep_for, std::string replica_id)
    : db_(db),
      clock_(clock),
      takeover_margin_(takeover_margin),
      keep_for_(keep_for),
      replica_id_(std::move(replica_id)) {}

absl::Status SqliteRequestStore::MigrateLocked() {
  sqlite3* db = Db(db_);
  // One transaction, so two gateways opening one file at once cannot both
  // add the columns.
  if (auto s = ExecLocked("BEGIN IMMEDIATE"); !s.ok()) return s;
  Stmt version(db, "PRAGMA user_version");
  if (!version.ok() || version.Step() != SQLITE_ROW) {
    ExecLocked("ROLLBACK").IgnoreError();
    return DbError(db, "read schema version");
  }
  const int64_t v = version.Int(0);
  if (v >= kSchemaVersion) return ExecLocked("COMMIT");
  if (v < 1) {
    if (auto s = MigrateToAttemptsLocked(); !s.ok()) {
      ExecLocked("ROLLBACK").IgnoreError();
      return s;
    }
  }
  // Version 2: claims made before it belong to no one, so only a takeover
  // (which a crash left them waiting for anyway) finishes them.
  if (auto s = ExecLocked("ALTER TABLE request_ids ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''"); !s.ok()) {
    ExecLocked("ROLLBACK").IgnoreError();
    return s;
  }
  const std::string set_version = absl::StrCat("PRAGMA user_version = ", kSchemaVersion);
  if (auto s = ExecLocked(set_version.c_str()); !s.ok()) {
    ExecLocked("ROLLBACK").IgnoreError();
    return s;
  }
  return ExecLocked("COMMIT");
}

absl::Status SqliteRequestStore::MigrateToAttemptsLocked() {
  sqlite3* db = Db(db_);
  for (const char* sql : {
           "ALTER TABLE request_ids ADD COLUMN index_id TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE request_ids ADD COLUMN source TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE request_ids ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0",
           "ALTER TABLE request_ids ADD COLUMN deadline_at INTEGER NOT NULL DEFAULT 0",
       }) {
    if (auto s = ExecLocked(sql); !s.ok()) return s;
  }
  Stmt legacy(db, "UPDATE request_ids SET started_at = updated_at, deadline_at = updated_at + ?");
  legacy.Bind(1, kLegacyStaleMillis);
  if (legacy.Step() != SQLITE_DONE) return DbError(db, "migrate");
  return absl::OkStatus();
}

SqliteRequestStore::~SqliteRequestStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(Db(db_));
}

absl::Status SqliteRequestStore::ExecLocked(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(Db(db_), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return DbError(Db(db_), sql);
  }
  return absl::OkStatus();
}

absl::StatusOr<RequestStore::ClaimResult> SqliteRequestStore::Claim(const std::string& scope,
                                                                     const std::string& request_id,
                                                                     const std::string& fingerprint,
                                                                     const Attempt& attempt) {
  absl::MutexLock lock(&mu_);
  sqlite3* db = Db(db_);
  const int64_t now = absl::ToUnixMillis(clock_->Now());
  if (++claims_since_sweep_ >= 1000) {
    claims_since_sweep_ = 0;
    Stmt sweep(db, "DELETE FROM request_ids WHERE updated_at < ?");
    sweep.Bind(1, now - absl::ToInt64Milliseconds(keep_for_)).Step();
  }
  if (auto s = ExecLocked("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto finish = [&](absl::StatusOr<ClaimResult> r) -> absl::StatusOr<ClaimResult> {
    absl::Status s = ExecLocked(r.ok() ? "COMMIT" : "ROLLBACK");
    if (!s.ok()) return s;
    return r;
  };
  Stmt find(db, "SELECT fingerprint, state, task_id, index_id, source, started_at, deadline_at "
                "FROM request_ids WHERE scope = ? AND request_id = ?");
  if (!find.ok()) return finish(DbError(db, "prepare"));
  find.Bind(1, scope).Bind(2, request_id);
  int rc = find.Step();
  int64_t started = absl::ToUnixMillis(attempt.started);
  ClaimResult result{Outcome::kNew, "", absl::InfinitePast(), {}};
  if (rc == SQLITE_ROW) {
    // Another request under this id, in progress or not, is a conflict.
    if (find.Text(0) != fingerprint) return finish(ClaimResult{Outcome::kConflict, "", {}, {}});
    const int state = static_cast<int>(find.Int(1));
    if (state == kDone) return finish(ClaimResult{Outcome::kDone, find.Text(2), {}, {}});
    const int64_t takeable_at = find.Int(6) + absl::ToInt64Milliseconds(takeover_margin_);
    if (now < takeable_at) {
      return finish(ClaimResult{Outcome::kInProgress, "", absl::FromUnixMillis(takeable_at), {}});
    }
    // The earlier create is past its deadline, answered or not: the window
    // to search upstream starts with it, and stays open from there until
    // a look-up settles it.
    result.outcome = Outcome::kTakenOver;
    result.unresolved = Attempt{find.Text(3), find.Text(4), absl::FromUnixMillis(find.Int(5)),
                                absl::FromUnixMillis(find.Int(6))};
    started = std::min(started, find.Int(5));
  } else if (rc != SQLITE_DONE) {
    return finish(DbError(db, "select"));
  }
  Stmt put(db, "INSERT OR REPLACE INTO request_ids (scope, request_id, fingerprint, state, task_id, "
               "updated_at, index_id, source, started_at, deadline_at, claimed_by) "
               "VALUES (?, ?, ?, 0, '', ?, ?, ?, ?, ?, ?)");
  put.Bind(1, scope).Bind(2, request_id).Bind(3, fingerprint).Bind(4, now);
  put.Bind(5, attempt.index_id).Bind(6, attempt.source).Bind(7, started);
  put.Bind(8, absl::ToUnixMillis(attempt.deadline)).Bind(9, replica_id_);
  if (put.Step() != SQLITE_DONE) return finish(DbError(db, "insert"));
  return finish(result);
}

absl::Status SqliteRequestStore::Complete(const std::string& scope, const std::string& request_id,
                                          const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  Stmt s(Db(db_), "UPDATE request_ids SET state = ?, task_id = ?, updated_at = ? "
                  "WHERE scope = ? AND request_id = ? AND claimed_by = ?");
  s.Bind(1, static_cast<int64_t>(kDone)).Bind(2, task_id).Bind(3, absl::ToUnixMillis(clock_->Now()));
  s.Bind(4, scope).Bind(5, request_id).Bind(6, replica_id_);
  if (s.Step() != SQLITE_DONE) return DbError(Db(db_), "update");
  if (sqlite3_changes(Db(db_)) == 0) {
    return absl::AbortedError(absl::StrCat("state store: request_id '", request_id,
                                           "' is no longer claimed by this process (taken over or finished); "
                                           "its record was left as it is"));
  }
  return absl::OkStatus();
}

absl::Status SqliteRequestStore::Release(const std::string& scope, const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  Stmt s(Db(db_), "DELETE FROM request_ids WHERE scope = ? AND request_id = ? AND state = 0 AND claimed_by = ?");
  s.Bind(1, scope).Bind(2, request_id).Bind(3, replica_id_);
  if (s.Step() != SQLITE_DONE) return DbError(Db(db_), "delete");
  return absl::OkStatus();
}

absl::Status SqliteRequestStore::Reopen(const std::string& scope, const std::string& request_id,
                                        const Attempt& unresolved) {
  absl::MutexLock lock(&mu_);
  Stmt s(Db(db_), "UPDATE request_ids SET index_id = ?, source = ?, started_at = ?, deadline_at = ?, "
                  "updated_at = ? WHERE scope = ? AND request_id = ? AND state = 0 AND claimed_by = ?");
  s.Bind(1, unresolved.index_id).Bind(2, unresolved.source);
  s.Bind(3, absl::ToUnixMillis(unresolved.started)).Bind(4, absl::ToUnixMillis(unresolved.deadline));
  s.Bind(5, absl::ToUnixMillis(clock_->Now())).Bind(6, scope).Bind(7, request_id).Bind(8, replica_id_);
  if (s.Step() != SQLITE_DONE) return DbError(Db(db_), "reopen");
  return absl::OkStatus();
}

absl::Status SqliteRequestStore::RecordOwner(const std::string& task_id, const std::string& tenant) {
  absl::MutexLock lock(&mu_);
  // The first record wins: a task has one creator.
  Stmt s(Db(db_), "INSERT OR IGNORE INTO task_owners (task_id, tenant, created_at) VALUES (?, ?, ?)");
  s.Bind(1, task_id).Bind(2, tenant).Bind(3, absl::ToUnixMillis(clock_->Now()));
  if (s.Step() != SQLITE_DONE) return DbError(Db(db_), "insert owner");
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteRequestStore::Owner(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  Stmt s(Db(db_), "SELECT tenant FROM task_owners WHERE task_id = ?");
  s.Bind(1, task_id);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return s.Text(0);
  if (rc == SQLITE_DONE) return std::string();
  return DbError(Db(db_), "select owner");
}

absl::StatusOr<std::map<std::string, std::string>> SqliteRequestStore::Owners(
    const std::vector<std::string>& task_ids) {
  std::map<std::string, std::string> out;
  // In batches well under SQLite's limit on bound parameters.
  constexpr size_t kBatch = 200;
  absl::MutexLock lock(&mu_);
  for (size_t start = 0; start < task_ids.size(); start += kBatch) {
    const size_t n = std::min(kBatch, task_ids.size() - start);
    std::string sql = "SELECT task_id, tenant FROM task_owners WHERE task_id IN (?";
    for (size_t i = 1; i < n; ++i) sql += ",?";
    sql += ")";
    Stmt s(Db(db_), sql.c_str());
    if (!s.ok()) return DbError(Db(db_), "prepare owners");
    for (size_t i = 0; i < n; ++i) s.Bind(static_cast<int>(i + 1), task_ids[start + i]);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out[s.Text(0)] = s.Text(1);
    if (rc != SQLITE_DONE) return DbError(Db(db_), "select owners");
  }
  return out;
}

}  // namespace tlgw
