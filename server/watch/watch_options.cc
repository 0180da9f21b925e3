#include "server/watch/watch_options.h"

#include <algorithm>

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

absl::Duration NextPollInterval(const WatchOptions& o, const gw::Task& task, int consecutive_failures,
                                bool webhooks_active, absl::Time now) {
  absl::Duration d = o.base_interval;
  if (task.status() == gw::TASK_STATUS_PENDING || task.status() == gw::TASK_STATUS_QUEUED) d *= 2;
  absl::Duration left = absl::InfiniteDuration();
  if (task.has_estimated_time()) {
    left = absl::FromUnixSeconds(task.estimated_time().seconds()) +
           absl::Nanoseconds(task.estimated_time().nanos()) - now;
  } else if (task.has_progress() && task.progress().remaining_seconds() > 0) {
    left = absl::Seconds(task.progress().remaining_seconds());
  }
  if (left != absl::InfiniteDuration()) {
    // Far from the estimate: half the remaining time (nothing to see yet);
    // near it: half the base interval, to catch `ready` promptly.
    if (left > 4 * o.base_interval) d = std::max(d, left / 2);
    else if (left < o.base_interval) d = o.base_interval / 2;
  }
  d = std::clamp(d, o.min_interval, o.max_interval);
  for (int i = 0; i < consecutive_failures && d < o.max_interval; ++i) d *= 2;
  d = std::min(d, o.max_interval);
  if (webhooks_active) d = std::max(d, o.webhook_safety_interval);
  return d;
}

int64_t NextSequence(int64_t previous, absl::Time now) {
  return std::max(previous + 1, absl::ToUnixMicros(now));
}

}  // namespace tlgw
