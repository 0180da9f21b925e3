// The open server streams, so shutdown can end them all at once with a
// clear status instead of leaving clients to time out. Thread-safe; the
// `end` callbacks run on the thread calling EndAll(), outside the lock.
#ifndef TL_GATEWAY_SERVER_COMMON_STREAM_REGISTRY_H_
#define TL_GATEWAY_SERVER_COMMON_STREAM_REGISTRY_H_

#include <functional>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

class StreamRegistry {
 public:
  // Registers a stream; `end` must be safe to call from any thread, once.
  // After EndAll() a new stream is ended at once.
  uint64_t Add(std::function<void()> end) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!closed_) {
        ends_.emplace(next_, std::move(end));
        return next_++;
      }
    }
    end();
    return 0;
  }
  void Remove(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ends_.erase(id);
  }
  void EndAll() ABSL_LOCKS_EXCLUDED(mu_) {
    std::map<uint64_t, std::function<void()>> ends;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      ends.swap(ends_);
    }
    for (auto& [id, end] : ends) end();
  }

 private:
  absl::Mutex mu_;
  std::map<uint64_t, std::function<void()>> ends_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_STREAM_REGISTRY_H_
