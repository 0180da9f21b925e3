// A global budget for upstream polls: at most `rate` polls per second across
// every watched task and index, handed out as evenly spaced slots (a
// leaky bucket) so polls never come in bursts that trip the upstream's rate
// limit. Thread-safe.
#ifndef TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_
#define TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

class PollBudget {
 public:
  explicit PollBudget(double polls_per_second)
      : spacing_(absl::Seconds(1) / (polls_per_second > 0 ? polls_per_second : 1)) {}

  // Reserves the next free slot at or after `now` and returns its time; the
  // caller polls then (or at once when it is `now`).
  absl::Time Reserve(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    absl::Time slot = std::max(now, next_free_);
    next_free_ = slot + spacing_;
    return slot;
  }

 private:
  const absl::Duration spacing_;
  absl::Mutex mu_;
  absl::Time next_free_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_POLL_BUDGET_H_
