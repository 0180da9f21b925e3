// Pieces the watch hubs share: the sink interface, building events, the
// "outbox" of deliveries and reads that a hub decides under its lock and
// carries out after releasing it (so no sink or REST call ever runs under
// a hub's lock), and the poll timers' use of the global PollBudget.
//
// A fan-out decided on the upstream-completion path is handed to an
// Executor as one task, so the thread that completed the read (the single
// libcurl event thread) is not held up by thousands of sinks.
#ifndef TL_GATEWAY_SERVER_WATCH_FANOUT_H_
#define TL_GATEWAY_SERVER_WATCH_FANOUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/common/executor.h"
#include "server/common/scheduler.h"
#include "server/watch/poll_budget.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// A subscriber. Calls come from any thread (a hub's fan-out executor, or
// the thread that subscribed, for the snapshot), possibly concurrently, and
// must not block; events can arrive out of order, so a sink ignores an
// event whose sequence is not above the last it handled for that task.
// One change, built once and shared (read-only) by every subscriber it
// goes to, until the last of them has written it.
using TaskEventPtr = std::shared_ptr<const twelvelabs::gateway::v1::TaskEvent>;

class TaskEventSink {
 public:
  virtual ~TaskEventSink() = default;
  virtual void OnEvent(TaskEventPtr event) = 0;
  // The watch cannot go on (the task or index does not exist, or upstream
  // kept failing). No event follows.
  virtual void OnError(const absl::Status& status) = 0;
};

twelvelabs::gateway::v1::TaskEvent MakeTaskEvent(const twelvelabs::gateway::v1::Task& task,
                                                 int64_t sequence,
                                                 twelvelabs::gateway::v1::EventSource source,
                                                 absl::Time now);

// What counts as a change worth an event: status, progress, estimate, HLS
// state and video id (not updated_at alone).
std::string TaskFingerprint(const twelvelabs::gateway::v1::Task& task);

// Whether a failed read means the watch cannot succeed by retrying.
bool PermanentWatchError(const absl::Status& status);

// Work decided under a hub's lock, done after it is released.
struct Outbox {
  struct Delivery {
    std::shared_ptr<TaskEventSink> sink;
    // Built once per change and shared by every sink it goes to; null means
    // `error`.
    TaskEventPtr event;
    absl::Status error;
  };
  struct Fetch {
    std::string key;
    uint64_t generation;
    twelvelabs::gateway::v1::EventSource source;
  };
  std::vector<Delivery> deliveries;
  std::vector<Fetch> fetches;

  // Calls the sinks now, on this thread: for a snapshot to one new
  // subscriber, which is no more work than the Subscribe() call itself.
  void Deliver();
  // Hands every delivery to `executor` as one task (none if there are no
  // deliveries), leaving `deliveries` empty: the fan-out of a change.
  void DeliverOn(Executor& executor);
};

// A hub entry's poll timer, run the same way by both hubs so that their
// polls share the global `budget`. After `delay`, on the scheduler's
// thread, `on_timer(false)` says whether the entry still wants the poll
// (it takes the hub's lock and starts nothing), so that a dropped entry or
// a superseded timer spends no slot. If it does, the next free slot of
// `budget` is reserved, and at that slot (at once if it is due)
// `on_timer(true)` checks again and starts the poll. Nothing runs once the
// scheduler has shut down. May be called under the hub's lock.
void ArmPollTimer(Scheduler& scheduler, PollBudget& budget, absl::Duration delay,
                  absl::AnyInvocable<bool(bool start)> on_timer);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_FANOUT_H_
