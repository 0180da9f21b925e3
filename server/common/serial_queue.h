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

#include <vector>

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
    // Takes the queued actions a batch at a time: what they queue while
    // running comes in the next batch, so the order is kept.
    std::vector<absl::AnyInvocable<void()>> batch;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (queue_.empty()) {
          draining_ = false;
          if (queue_.capacity() > 0) std::vector<absl::AnyInvocable<void()>>().swap(queue_);
          return;
        }
        batch.swap(queue_);
      }
      for (auto& next : batch) next();
      batch.clear();
    }
  }

 private:
  absl::Mutex mu_;
  // A vector, not a deque: an idle queue (one per open stream) holds no
  // memory, where libstdc++'s deque allocates ~576 bytes even when empty.
  std::vector<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_SERIAL_QUEUE_H_
