// Time, injected: the current time and callbacks after a delay.
//
// Everything in the gateway that reads the time or waits (retry backoff,
// poll intervals, the poll budget, rate limiters, request-store staleness,
// webhook timestamp tolerance) asks a Clock, so tests advance a fake clock
// (tests/support/fake_clock.h) instead of sleeping. Only main() and
// RealClock read the system clock.
#ifndef TL_GATEWAY_SERVER_COMMON_CLOCK_H_
#define TL_GATEWAY_SERVER_COMMON_CLOCK_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Runs `fn` once, on the clock's timer thread, no earlier than `delay`
  // from Now(). `fn` must not block: it hands work on (to the transport, an
  // executor). After shutdown pending callbacks run at once with
  // `cancelled` true, so no caller waits forever.
  virtual void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool cancelled)> fn) = 0;
};

// The system clock, with one timer thread ("tlgw-timers").
class RealClock : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  absl::Time Now() override;
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs every pending callback as cancelled and stops the thread; later
  // RunAfter() calls run their callback at once, cancelled. Idempotent.
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

#endif  // TL_GATEWAY_SERVER_COMMON_CLOCK_H_
