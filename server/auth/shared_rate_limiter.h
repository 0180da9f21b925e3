// Per-client rate limits across the replicas of a cluster: GCRA (one
// theoretical arrival time, TAT, per client) in PostgreSQL's rate_buckets.
//
// Authorize runs on gRPC threads and must not wait for the database, so
// each replica decides from a local mirror of every bucket it uses and,
// every `sync_interval` (100 ms), charges what it admitted since the last
// sync to the shared row in one statement and adopts the row's TAT (as an
// offset from the database's clock, so replicas' clocks never compare).
//
// Overshoot: between two syncs a replica does not see what the others
// admit. Over any window, the cluster admits at most what one limiter
// would, plus at most (replicas - 1) x (burst + rate x sync_interval): a
// full burst on each other replica, and what each admits before hearing
// of the others. Admissions beyond the limit are charged to the row all
// the same, so the cluster then refuses until the debt is paid: the long
// run rate holds exactly.
//
// Database down (a sync fails): each replica decides alone with rate and
// burst divided by the number of replicas last seen (sessions named
// "tl-gateway ..." in pg_stat_activity, counted every few seconds): it
// fails open, at about the configured total.
#ifndef TL_GATEWAY_SERVER_AUTH_SHARED_RATE_LIMITER_H_
#define TL_GATEWAY_SERVER_AUTH_SHARED_RATE_LIMITER_H_

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/auth/rate_limiter.h"
#include "server/common/clock.h"
#include "server/state/pg_pool.h"

namespace tlgw {

class SharedRateLimiter : public RateLimiter {
 public:
  // `pool` and `clock` are not owned. With a zero `sync_interval` there
  // is no sync thread (tests call SyncNow()).
  SharedRateLimiter(PgPool* pool, Clock* clock, absl::Duration sync_interval = absl::Milliseconds(100));
  ~SharedRateLimiter() override;

  std::optional<absl::Duration> Take(const std::string& key, double rate, double burst) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // One sync: charges what was admitted, adopts the shared TATs; every
  // 50th also counts the live replicas. False when the database failed
  // (local mode until a sync succeeds).
  bool SyncNow() ABSL_LOCKS_EXCLUDED(mu_);
  bool local_mode() const { return local_.load(); }
  int live_replicas() const { return replicas_.load(); }

 private:
  struct Bucket {
    double rate = 0;
    absl::Time tat = absl::InfinitePast();  // on this replica's clock
    int64_t pending = 0;                    // admitted since the last sync
    absl::Time used = absl::InfinitePast();
  };

  PgPool* const pool_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> local_{false};
  std::atomic<int> replicas_{1};
  int64_t syncs_ = 0;  // sync thread only
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_AUTH_SHARED_RATE_LIMITER_H_
