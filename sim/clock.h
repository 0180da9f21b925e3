// Simulated time: wall time anchored to the monotonic clock at start (so
// wall-clock jumps do not move tasks), plus an offset the control API can
// advance. With `manual`, time stands still except for those advances.
//
// Thread-compatible.
#ifndef TL_GATEWAY_SIM_CLOCK_H_
#define TL_GATEWAY_SIM_CLOCK_H_

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tlsim {

class SimClock {
 public:
  explicit SimClock(bool manual)
      : manual_(manual),
        // Whole milliseconds, so times printed to the API round-trip.
        anchor_wall_(absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()))),
        anchor_steady_(std::chrono::steady_clock::now()) {}

  absl::Time Now() const {
    absl::Time t = anchor_wall_ + offset_;
    if (!manual_) {
      t += absl::FromChrono(std::chrono::steady_clock::now() - anchor_steady_);
    }
    return t;
  }

  void Advance(absl::Duration d) { offset_ += d; }
  bool manual() const { return manual_; }

 private:
  const bool manual_;
  const absl::Time anchor_wall_;
  const std::chrono::steady_clock::time_point anchor_steady_;
  absl::Duration offset_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_CLOCK_H_
