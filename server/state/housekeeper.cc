#include "server/state/housekeeper.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "postgresql/libpq-fe.h"
#include "server/common/log.h"

namespace tlgw {
namespace {

constexpr char kLeaseName[] = "housekeeping";

std::string Millis(absl::Duration d) { return std::to_string(absl::ToInt64Milliseconds(d)); }

}  // namespace

Housekeeper::Housekeeper(PgPool* pool, HousekeeperOptions options, bool start_thread)
    : pool_(pool), options_(std::move(options)) {
  if (start_thread) thread_ = std::thread([this] { Loop(); });
}

Housekeeper::~Housekeeper() { Stop(); }

void Housekeeper::RequestStop() {
  absl::MutexLock lock(&stop_mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

void Housekeeper::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<bool> Housekeeper::TryLead() {
  bool leading = false;
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    // One arbitrated statement: insert, renew our own lease, or take a
    // lapsed one; any other holder's live lease leaves the row unchanged.
    auto r = PgExec(c, "take housekeeping lease",
                    "INSERT INTO leader AS l (name, holder, expires_at)"
                    " VALUES ($1, $2, now() + ($3::bigint * interval '1 millisecond'))"
                    " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at"
                    " WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()"
                    " RETURNING 1",
                    {kLeaseName, options_.replica_id, Millis(options_.lease)});
    if (!r.ok()) return r.status();
    leading = r->rows() == 1;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return leading;
}

absl::Status Housekeeper::Resign() {
  return pool_->Run([&](PGconn* c) {
    return PgExec(c, "give up housekeeping lease", "DELETE FROM leader WHERE name = $1 AND holder = $2",
                  {kLeaseName, options_.replica_id})
        .status();
  });
}

absl::StatusOr<int64_t> Housekeeper::DeleteBatches(const char* what, const std::string& table,
                                                   const std::string& where,
                                                   const std::vector<std::string>& params) {
  // ctid batches: each statement deletes at most `batch` rows.
  const std::string limit = std::to_string(params.size() + 1);
  const std::string sql = absl::StrCat("DELETE FROM ", table, " WHERE ctid = ANY(ARRAY(SELECT ctid FROM ", table,
                                       " t WHERE ", where, " LIMIT $", limit, "))");
  std::vector<std::string> p = params;
  p.push_back(std::to_string(options_.batch));
  int64_t total = 0;
  while (true) {
    int64_t n = 0;
    absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
      auto r = PgExec(c, what, sql.c_str(), p);
      if (!r.ok()) return r.status();
      n = std::atoll(PQcmdTuples(r->get()));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    total += n;
    if (n < options_.batch || stop_.HasBeenNotified()) return total;
  }
}

absl::StatusOr<SweepCounts> Housekeeper::Sweep() {
  SweepCounts out;
  const std::string ms = "($1::bigint * interval '1 millisecond')";
  auto run = [&](const char* what, const char* table, const std::string& where, absl::Duration age,
                 int64_t* count) -> absl::Status {
    auto n = DeleteBatches(what, table, where, {Millis(age)});
    if (!n.ok()) return n.status();
    *count = *n;
    return absl::OkStatus();
  };
  if (auto s = run("sweep request_ids", "request_ids", absl::StrCat("t.updated_at < now() - ", ms),
                   options_.request_keep_for, &out.request_ids);
      !s.ok()) {
    return s;
  }
  if (auto s = run("sweep webhook_events", "webhook_events", absl::StrCat("t.received_at < now() - ", ms),
                   options_.webhook_keep_for, &out.webhook_events);
      !s.ok()) {
    return s;
  }
  // Dead replicas' interest first, so their keys count as unwatched below.
  if (auto s = run("sweep watch_interest", "watch_interest", absl::StrCat("t.expires_at < now() - ", ms),
                   options_.interest_grace, &out.watch_interest);
      !s.ok()) {
    return s;
  }
  const std::string unwatched =
      "NOT EXISTS (SELECT 1 FROM watch_interest i WHERE i.key = t.key AND i.expires_at > now())";
  if (auto s = run("sweep watch_state", "watch_state",
                   absl::StrCat("t.observed < now() - ", ms, " AND ", unwatched), options_.watch_idle,
                   &out.watch_state);
      !s.ok()) {
    return s;
  }
  // A poll row without interest is never claimed; one whose state is gone
  // (or never came) and that nobody watches goes too. The row is brought
  // back by the next replica that watches the key.
  if (auto s = run("sweep watch_polls", "watch_polls",
                   absl::StrCat("t.next_poll_at < now() - ", ms, " AND ", unwatched,
                                " AND NOT EXISTS (SELECT 1 FROM watch_state s WHERE s.key = t.key"
                                " AND s.observed >= now() - ",
                                ms, ")"),
                   options_.watch_idle, &out.watch_polls);
      !s.ok()) {
    return s;
  }
  if (auto s = run("sweep rate_buckets", "rate_buckets", absl::StrCat("t.tat < now() - ", ms),
                   options_.rate_bucket_idle, &out.rate_buckets);
      !s.ok()) {
    return s;
  }
  return out;
}

void Housekeeper::Loop() {
  bool was_leading = false;
  do {
    auto leading = TryLead();
    if (!leading.ok()) continue;  // degraded: the pool logs the mode change
    if (*leading != was_leading) {
      Log(LogLevel::kInfo, "state", *leading ? "housekeeping: this replica leads" : "housekeeping: another replica leads");
      was_leading = *leading;
    }
    if (!*leading || stop_.HasBeenNotified()) continue;
    auto swept = Sweep();
    if (!swept.ok()) continue;
    const SweepCounts& n = *swept;
    if (n.request_ids + n.webhook_events + n.watch_state + n.watch_polls + n.rate_buckets + n.watch_interest > 0) {
      Log(LogLevel::kInfo, "state", "housekeeping: swept",
          {{"request_ids", std::to_string(n.request_ids)},
           {"webhook_events", std::to_string(n.webhook_events)},
           {"watch_state", std::to_string(n.watch_state)},
           {"watch_polls", std::to_string(n.watch_polls)},
           {"rate_buckets", std::to_string(n.rate_buckets)},
           {"watch_interest", std::to_string(n.watch_interest)}});
    }
  } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
  // Another replica leads at its next round rather than after the lease
  // (not worth a connection attempt when the database is away).
  if (was_leading && !pool_->down()) Resign().IgnoreError();  // fails at once after PgPool::Shutdown
}

}  // namespace tlgw
