#include "server/common/clock.h"

#include <pthread.h>

#include <vector>

#include "absl/time/clock.h"

namespace tlgw {

RealClock::RealClock() : thread_([this] { Loop(); }) {}

RealClock::~RealClock() { Shutdown(); }

absl::Time RealClock::Now() { return absl::Now(); }

void RealClock::RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      due_.emplace(std::make_pair(absl::Now() + delay, next_id_++), std::move(fn));
      return;
    }
  }
  fn(true);
}

void RealClock::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RealClock::Loop() {
  pthread_setname_np(pthread_self(), "tlgw-timers");  // for top -H, perf and gdb
  while (true) {
    std::vector<absl::AnyInvocable<void(bool)>> ready;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      absl::Time wake = due_.empty() ? absl::InfiniteFuture() : due_.begin()->first.first;
      // Wakes early when an earlier callback is added than the one waited for.
      auto has_work = [this, wake]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        if (stopping_ || due_.empty()) return stopping_;
        absl::Time first = due_.begin()->first.first;
        return first < wake || first <= absl::Now();
      };
      mu_.AwaitWithDeadline(absl::Condition(&has_work), wake);
      stopping = stopping_;
      absl::Time now = absl::Now();
      while (!due_.empty() && (stopping || due_.begin()->first.first <= now)) {
        ready.push_back(std::move(due_.begin()->second));
        due_.erase(due_.begin());
      }
    }
    for (auto& fn : ready) fn(stopping);
    if (stopping) {
      absl::MutexLock lock(&mu_);
      if (due_.empty()) return;
    }
  }
}

}  // namespace tlgw
