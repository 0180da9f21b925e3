#include "server/state/postgres_store.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "postgresql/libpq-fe.h"
#include "server/state/pg_schema.h"

namespace tlgw {
namespace {

constexpr int kInProgress = 0;
constexpr int kDone = 1;
// The longest an attempt may claim a request_id (an upload without a
// deadline gets less from create_flow; this only bounds odd inputs).
constexpr absl::Duration kMaxAttempt = absl::Hours(24);

std::string Millis(absl::Duration d) { return std::to_string(absl::ToInt64Milliseconds(d)); }

// How many claim rounds before answering "in progress": each round loses
// only to another replica's insert, takeover, release or completion.
constexpr int kClaimRounds = 4;

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresStateStore>> PostgresStateStore::Open(PostgresStoreOptions options,
                                                                             Clock* clock, bool require_database) {
  if (options.replica_id.empty()) return absl::InvalidArgumentError("state store: a replica id is required");
  auto store = std::unique_ptr<PostgresStateStore>(new PostgresStateStore(std::move(options), clock));
  absl::Status probe = store->pool_->Probe();
  if (probe.ok()) return store;
  if (probe.code() == absl::StatusCode::kUnavailable && !require_database) return store;
  return probe;
}

PostgresStateStore::PostgresStateStore(PostgresStoreOptions options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  auto migrated = std::make_shared<std::atomic<bool>>(false);
  pool_ = std::make_unique<PgPool>(options_.pool, [migrated](PGconn* conn) -> absl::Status {
    if (migrated->load()) return absl::OkStatus();
    absl::Status s = PgMigrate(conn);
    if (s.ok()) migrated->store(true);
    return s;
  });
}

PostgresStateStore::~PostgresStateStore() = default;

absl::StatusOr<RequestStore::ClaimResult> PostgresStateStore::Claim(const std::string& scope,
                                                                     const std::string& request_id,
                                                                     const std::string& fingerprint,
                                                                     const Attempt& attempt) {
  const std::string length =
      Millis(std::clamp(attempt.deadline - attempt.started, absl::ZeroDuration(), kMaxAttempt));
  const std::string margin = Millis(options_.takeover_margin);
  absl::StatusOr<ClaimResult> result = absl::InternalError("state store: claim not attempted");
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    for (int round = 0; round < kClaimRounds; ++round) {
      auto inserted = PgExec(
          c, "claim",
          "INSERT INTO request_ids (scope, request_id, fingerprint, state, claimed_by, claimed_at, updated_at,"
          " index_id, source, started_at, deadline_at)"
          " VALUES ($1, $2, $3, 0, $4, now(), now(), $5, $6, now(), now() + ($7::bigint * interval '1 millisecond'))"
          " ON CONFLICT DO NOTHING RETURNING 1",
          {scope, request_id, fingerprint, options_.replica_id, attempt.index_id, attempt.source, length});
      if (!inserted.ok()) return inserted.status();
      if (inserted->rows() == 1) {
        result = ClaimResult{Outcome::kNew, "", absl::InfinitePast(), {}};
        return absl::OkStatus();
      }
      auto row = PgExec(
          c, "read claim",
          "SELECT fingerprint, state, task_id, index_id, source,"
          " (extract(epoch FROM started_at) * 1000)::bigint, (extract(epoch FROM deadline_at) * 1000)::bigint,"
          " claim_seq,"
          " greatest(0, ceil(extract(epoch FROM (deadline_at + ($3::bigint * interval '1 millisecond') - now()))"
          "   * 1000))::bigint"
          " FROM request_ids WHERE scope = $1 AND request_id = $2",
          {scope, request_id, margin});
      if (!row.ok()) return row.status();
      if (row->rows() == 0) continue;  // released meanwhile: claim again
      if (row->text(0, 0) != fingerprint) {
        result = ClaimResult{Outcome::kConflict, "", {}, {}};
        return absl::OkStatus();
      }
      if (row->integer(0, 1) == kDone) {
        result = ClaimResult{Outcome::kDone, row->text(0, 2), {}, {}};
        return absl::OkStatus();
      }
      const int64_t wait_ms = row->integer(0, 8);
      if (wait_ms > 0) {
        result = ClaimResult{Outcome::kInProgress, "", clock_->Now() + absl::Milliseconds(wait_ms), {}};
        return absl::OkStatus();
      }
      // Stale: take it over if nobody else did since we read it. The
      // window to search upstream keeps the first attempt's start.
      auto taken = PgExec(
          c, "take over claim",
          "UPDATE request_ids SET claimed_by = $3, claimed_at = now(), claim_seq = claim_seq + 1,"
          " updated_at = now(), index_id = $4, source = $5,"
          " deadline_at = now() + ($6::bigint * interval '1 millisecond')"
          " WHERE scope = $1 AND request_id = $2 AND state = 0 AND claim_seq = $7"
          " AND deadline_at + ($8::bigint * interval '1 millisecond') <= now() RETURNING 1",
          {scope, request_id, options_.replica_id, attempt.index_id, attempt.source, length, row->text(0, 7),
           margin});
      if (!taken.ok()) return taken.status();
      if (taken->rows() == 1) {
        ClaimResult r{Outcome::kTakenOver, "", absl::InfinitePast(), {}};
        r.unresolved = Attempt{row->text(0, 3), row->text(0, 4), absl::FromUnixMillis(row->integer(0, 5)),
                               absl::FromUnixMillis(row->integer(0, 6))};
        result = r;
        return absl::OkStatus();
      }
    }
    // Others kept changing the row: theirs is in progress.
    result = ClaimResult{Outcome::kInProgress, "", clock_->Now() + absl::Seconds(1), {}};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::Status PostgresStateStore::Complete(const std::string& scope, const std::string& request_id,
                                          const std::string& task_id) {
  return pool_->Run([&](PGconn* c) -> absl::Status {
    auto r = PgExec(c, "complete",
                    "UPDATE request_ids SET state = 1, task_id = $3, updated_at = now()"
                    " WHERE scope = $1 AND request_id = $2 AND claimed_by = $4 RETURNING 1",
                    {scope, request_id, task_id, options_.replica_id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) {
      return absl::AbortedError(absl::StrCat("state store: request_id '", request_id,
                                             "' is no longer claimed by this replica (taken over or finished); "
                                             "its record was left as it is"));
    }
    return absl::OkStatus();
  });
}

absl::Status PostgresStateStore::Release(const std::string& scope, const std::string& request_id) {
  return pool_->Run([&](PGconn* c) {
    return PgExec(c, "release",
                  "DELETE FROM request_ids WHERE scope = $1 AND request_id = $2 AND state = 0 AND claimed_by = $3",
                  {scope, request_id, options_.replica_id})
        .status();
  });
}

absl::Status PostgresStateStore::Reopen(const std::string& scope, const std::string& request_id,
                                        const Attempt& unresolved) {
  return pool_->Run([&](PGconn* c) {
    return PgExec(c, "reopen",
                  "UPDATE request_ids SET index_id = $3, source = $4,"
                  " started_at = to_timestamp($5::bigint / 1000.0),"
                  " deadline_at = least(to_timestamp($6::bigint / 1000.0), now()), updated_at = now()"
                  " WHERE scope = $1 AND request_id = $2 AND state = 0 AND claimed_by = $7",
                  {scope, request_id, unresolved.index_id, unresolved.source,
                   std::to_string(absl::ToUnixMillis(unresolved.started)),
                   std::to_string(absl::ToUnixMillis(unresolved.deadline)), options_.replica_id})
        .status();
  });
}

absl::Status PostgresStateStore::Ready() {
  return pool_->Run([](PGconn* c) { return PgExec(c, "ping", "SELECT 1").status(); });
}

void PostgresStateStore::Remember(const std::string& task_id, const std::string& tenant) {
  absl::MutexLock lock(&cache_mu_);
  // Bounded: past the cap, start over (answers are only ever positive, so
  // forgetting costs a lookup, never a wrong answer).
  if (owners_.size() >= options_.max_cached_owners) owners_.clear();
  owners_.emplace(task_id, tenant);
}

absl::Status PostgresStateStore::RecordOwner(const std::string& task_id, const std::string& tenant) {
  bool recorded = false;
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    // The first record wins: a task has one creator.
    auto r = PgExec(c, "record owner",
                    "INSERT INTO task_owners (task_id, tenant) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                    {task_id, tenant});
    if (!r.ok()) return r.status();
    recorded = r->rows() == 1;
    return absl::OkStatus();
  });
  // Known for good without asking again (only when this record won).
  if (s.ok() && recorded) Remember(task_id, tenant);
  return s;
}

absl::StatusOr<std::string> PostgresStateStore::Owner(const std::string& task_id) {
  {
    absl::MutexLock lock(&cache_mu_);
    if (auto it = owners_.find(task_id); it != owners_.end()) return it->second;
  }
  std::string owner;
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    auto r = PgExec(c, "read owner", "SELECT tenant FROM task_owners WHERE task_id = $1", {task_id});
    if (!r.ok()) return r.status();
    owner = r->rows() == 1 ? r->text(0, 0) : std::string();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!owner.empty()) Remember(task_id, owner);
  return owner;
}

absl::StatusOr<std::map<std::string, std::string>> PostgresStateStore::Owners(
    const std::vector<std::string>& task_ids) {
  std::map<std::string, std::string> out;
  std::vector<std::string> missing;
  {
    absl::MutexLock lock(&cache_mu_);
    for (const auto& id : task_ids) {
      if (auto it = owners_.find(id); it != owners_.end()) {
        out[id] = it->second;
      } else {
        missing.push_back(id);
      }
    }
  }
  constexpr size_t kBatch = 1000;
  for (size_t start = 0; start < missing.size(); start += kBatch) {
    std::vector<std::string> batch(missing.begin() + start,
                                   missing.begin() + std::min(missing.size(), start + kBatch));
    absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
      auto r = PgExec(c, "read owners", "SELECT task_id, tenant FROM task_owners WHERE task_id = ANY($1::text[])",
                      {PgTextArray(batch)});
      if (!r.ok()) return r.status();
      for (int i = 0; i < r->rows(); ++i) out[r->text(i, 0)] = r->text(i, 1);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  for (const auto& id : missing) {
    if (auto it = out.find(id); it != out.end()) Remember(id, it->second);
  }
  return out;
}

}  // namespace tlgw
