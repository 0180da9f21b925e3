// Runs actions one at a time, in order, on whichever thread submits while
// the queue is idle: a lock-free-for-callers "actor" for objects that many
// threads poke (a gRPC reactor fed by gRPC callbacks, the curl thread and
// timers).
//
// Why not a mutex around the work: gRPC may run a reactor's reaction
// (e.g. OnReadDone) inline inside a call such as StartRead() when that call
// is made from a thread gRPC does not own. With a mutex held across
// StartRead() that reentry deadlocks; with this queue the reentrant action
// is queued and runs right after the current one returns.
#ifndef TL_GATEWAY_SERVER_COMMON_SERIAL_QUEUE_H_
#define TL_GATEWAY_SERVER_COMMON_SERIAL_QUEUE_H_

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

class SerialQueue {
 public:
  // Runs `action` now if nothing is running, else after what is queued.
  // Never blocks on another thread's action.
  void Run(absl::AnyInvocable<void()> action) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(std::move(action));
      if (draining_) return;
      draining_ = true;
    }
    while (true) {
      absl::AnyInvocable<void()> next;
      {
        absl::MutexLock lock(&mu_);
        if (queue_.empty()) {
          draining_ = false;
          return;
        }
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      next();
    }
  }

 private:
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_SERIAL_QUEUE_H_
