// Runs callbacks after a delay, on one background thread.
//
// Used for retry backoff (and, later, poll timers). Thread-safe. Callbacks run
// on the scheduler's thread, once each, and must not block: they hand work to
// the transport, which completes asynchronously.
#ifndef TL_GATEWAY_SERVER_COMMON_SCHEDULER_H_
#define TL_GATEWAY_SERVER_COMMON_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

// The seam tests replace to control time.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `fn` once, no earlier than `delay` from now. After Shutdown() (or
  // the destructor) pending callbacks are run at once so that no caller
  // waits forever; they can tell by `cancelled`.
  virtual void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool cancelled)> fn) = 0;
};

class ThreadScheduler : public Scheduler {
 public:
  ThreadScheduler();
  ~ThreadScheduler() override;
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  absl::Mutex mu_;
  // Keyed by (due time, insertion number) so equal times keep their order.
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void(bool)>> due_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_SCHEDULER_H_
