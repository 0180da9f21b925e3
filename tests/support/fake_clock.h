// A Clock that moves only when a test says so.
//
// Now() starts at a fixed instant; Advance(d) moves it forward, running
// every callback that falls due on the way, in due order, each with Now()
// set to its due time, on the thread calling Advance(). Callbacks added
// while advancing run in the same Advance() if they fall due within it.
// Thread-safe.
#ifndef TL_GATEWAY_TESTS_SUPPORT_FAKE_CLOCK_H_
#define TL_GATEWAY_TESTS_SUPPORT_FAKE_CLOCK_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"

namespace tlgw {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))  // 2026-01-01
      : now_(start) {}
  ~FakeClock() override { CancelAll(); }

  absl::Time Now() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    due_.emplace(std::make_pair(now_ + std::max(delay, absl::ZeroDuration()), next_id_++),
                 std::move(fn));
  }

  // Moves time forward by `d`, running what falls due.
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Time target;
    {
      absl::MutexLock lock(&mu_);
      target = now_ + d;
    }
    while (true) {
      absl::AnyInvocable<void(bool)> fn;
      {
        absl::MutexLock lock(&mu_);
        if (due_.empty() || due_.begin()->first.first > target) {
          now_ = target;
          return;
        }
        now_ = std::max(now_, due_.begin()->first.first);
        fn = std::move(due_.begin()->second);
        due_.erase(due_.begin());
      }
      fn(false);
    }
  }

  // Runs what is due now (timers of zero delay) without moving time.
  void RunDue() { Advance(absl::ZeroDuration()); }

  // Timers not yet run.
  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return due_.size();
  }
  // How long until the next timer is due (InfiniteDuration() when none).
  absl::Duration NextDelay() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return due_.empty() ? absl::InfiniteDuration() : due_.begin()->first.first - now_;
  }

  // Runs every pending timer as cancelled (what a shutdown does).
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      absl::AnyInvocable<void(bool)> fn;
      {
        absl::MutexLock lock(&mu_);
        if (due_.empty()) return;
        fn = std::move(due_.begin()->second);
        due_.erase(due_.begin());
      }
      fn(true);
    }
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void(bool)>> due_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SUPPORT_FAKE_CLOCK_H_
