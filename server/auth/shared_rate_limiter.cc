#include "server/auth/shared_rate_limiter.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "postgresql/libpq-fe.h"
#include "server/common/log.h"

namespace tlgw {
namespace {

// Buckets unused this long are dropped from the mirror (bounded memory).
constexpr absl::Duration kForgetAfter = absl::Minutes(2);

}  // namespace

SharedRateLimiter::SharedRateLimiter(PgPool* pool, Clock* clock, absl::Duration sync_interval)
    : pool_(pool), clock_(clock) {
  if (sync_interval > absl::ZeroDuration()) {
    thread_ = std::thread([this, sync_interval] {
      while (!stop_.WaitForNotificationWithTimeout(sync_interval)) SyncNow();
    });
  }
}

SharedRateLimiter::~SharedRateLimiter() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::optional<absl::Duration> SharedRateLimiter::Take(const std::string& key, double rate, double burst) {
  if (!(rate > 0)) return std::nullopt;
  // Alone (database down): this replica's share of the limit.
  const int share = local_.load() ? std::max(1, replicas_.load()) : 1;
  const absl::Duration interval = absl::Seconds(share / rate);
  const absl::Duration tolerance = std::max(1.0, burst / share) * interval;
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[key];
  b.rate = rate;
  b.used = now;
  const absl::Time tat = std::max(b.tat, now) + interval;
  // A millisecond of slack against rounding of the shared offsets.
  if (tat - now > tolerance + absl::Milliseconds(1)) return tat - now - tolerance;
  b.tat = tat;
  ++b.pending;
  return std::nullopt;
}

bool SharedRateLimiter::SyncNow() {
  std::vector<std::string> keys;
  std::vector<int64_t> charge_us, sent;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      if (now - it->second.used > kForgetAfter && it->second.pending == 0) {
        it = buckets_.erase(it);
        continue;
      }
      keys.push_back(it->first);
      charge_us.push_back(static_cast<int64_t>(it->second.pending * 1e6 / it->second.rate));
      sent.push_back(it->second.pending);
      it->second.pending = 0;
      ++it;
    }
  }
  const bool count_replicas = syncs_++ % 50 == 0;
  if (keys.empty() && !count_replicas) return !local_.load();
  std::string key_array = PgTextArray(keys);
  std::string charge_array = "{";
  for (size_t i = 0; i < charge_us.size(); ++i) absl::StrAppend(&charge_array, i ? "," : "", charge_us[i]);
  charge_array += "}";
  std::map<std::string, int64_t> offsets_us;
  int replicas = 0;
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    if (!keys.empty()) {
      auto r = PgExec(c, "sync rate buckets",
                      "INSERT INTO rate_buckets AS b (key, tat)"
                      " SELECT k, now() + n * interval '1 microsecond'"
                      "   FROM unnest($1::text[], $2::bigint[]) AS u(k, n) ORDER BY k"
                      " ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, now()) + (excluded.tat - now())"
                      " RETURNING key, (extract(epoch FROM (tat - now())) * 1000000)::bigint",
                      {key_array, charge_array});
      if (!r.ok()) return r.status();
      for (int i = 0; i < r->rows(); ++i) offsets_us[r->text(i, 0)] = r->integer(i, 1);
    }
    if (count_replicas) {
      auto r = PgExec(c, "count replicas",
                      "SELECT count(DISTINCT application_name) FROM pg_stat_activity"
                      " WHERE application_name LIKE 'tl-gateway %'");
      if (!r.ok()) return r.status();
      replicas = static_cast<int>(r->integer(0, 0));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    // What was admitted alone is not charged later: it was within this
    // replica's share.
    if (!local_.exchange(true)) {
      Log(LogLevel::kWarning, "ratelimit", "rate limits decided locally (rate / replicas) while PostgreSQL is unreachable",
          {{"replicas", std::to_string(replicas_.load())}});
    }
    return false;
  }
  if (replicas > 0) replicas_ = replicas;
  if (local_.exchange(false)) Log(LogLevel::kInfo, "ratelimit", "rate limits shared again");
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  for (const auto& [key, offset] : offsets_us) {
    auto it = buckets_.find(key);
    if (it == buckets_.end()) continue;
    Bucket& b = it->second;
    // The shared TAT, plus what this replica admitted during the round trip.
    b.tat = now + absl::Microseconds(std::max<int64_t>(0, offset)) + absl::Seconds(b.pending / b.rate);
  }
  return true;
}

}  // namespace tlgw
