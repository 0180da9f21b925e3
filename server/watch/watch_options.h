// Settings of the watch hubs, and the interval rule they share.
#ifndef TL_GATEWAY_SERVER_WATCH_WATCH_OPTIONS_H_
#define TL_GATEWAY_SERVER_WATCH_WATCH_OPTIONS_H_

#include "absl/time/time.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

struct WatchOptions {
  // The usual time between two polls of one task or index.
  absl::Duration base_interval = absl::Seconds(5);
  absl::Duration min_interval = absl::Seconds(1);
  absl::Duration max_interval = absl::Seconds(60);
  // While signed webhooks arrive, polling only guards against a lost one.
  absl::Duration webhook_safety_interval = absl::Seconds(60);
  // Webhooks count as "flowing" this long after the last valid one.
  absl::Duration webhook_active_window = absl::Minutes(15);
  // Upstream polls per second across all watches (the upstream's GET
  // limits are undocumented; this stays far below any plausible one).
  double max_polls_per_second = 20;
  // A watch whose polls fail this many times in a row ends with the error.
  int max_consecutive_failures = 8;
  // A key's first read failed (nobody has had a snapshot yet): the next
  // tries come after this, doubling, until that reaches the usual interval.
  absl::Duration first_read_retry = absl::Milliseconds(250);
  // How long a dropped task entry's last sequence is remembered, so a
  // subscriber that reconnects with resume_after gets nothing twice.
  absl::Duration tombstone_ttl = absl::Minutes(10);
  // WatchIndexTasks reads at most this many pages of 50 tasks per poll.
  int max_index_pages = 20;
};

// The time until the next poll of a task in `task`'s state: slower while it
// waits (pending, queued) or while the upstream's estimate is far, faster
// when the estimate is near, backed off after failures, and the safety-net
// interval while webhooks flow; always within [min, max] (the safety net
// may exceed max).
absl::Duration NextPollInterval(const WatchOptions& o, const twelvelabs::gateway::v1::Task& task,
                                int consecutive_failures, bool webhooks_active, absl::Time now);

// A sequence number for a new change: larger than `previous` and than any
// number handed out before (it follows the wall clock in microseconds), so
// sequences keep increasing across restarts of the gateway.
int64_t NextSequence(int64_t previous, absl::Time now);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_WATCH_OPTIONS_H_
