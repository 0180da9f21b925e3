// A global budget for upstream polls: at most `rate` polls per second across
// every watched task and index, handed out as evenly spaced slots (a
// leaky bucket) so polls never come in bursts that trip the upstream's rate
// limit. Thread-safe.
#ifndef TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_
#define TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_

#include <algorithm>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

class PollBudget {
 public:
  explicit PollBudget(double polls_per_second) : spacing_(Spacing(polls_per_second)) {}

  // A replica that polls on its own share of a cluster's budget.
  void SetRate(double polls_per_second) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    spacing_ = Spacing(polls_per_second);
  }
  absl::Duration spacing() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return spacing_;
  }

  // Reserves the next free slot at or after `now` and returns its time; the
  // caller polls then (or at once when it is `now`).
  absl::Time Reserve(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    absl::Time slot = std::max(now, next_free_);
    next_free_ = slot + spacing_;
    return slot;
  }

 private:
  static absl::Duration Spacing(double rate) { return absl::Seconds(1) / (rate > 0 ? rate : 1); }

  mutable absl::Mutex mu_;
  absl::Duration spacing_ ABSL_GUARDED_BY(mu_);
  absl::Time next_free_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_
