// A shared upstream link of fixed bandwidth for presigned chunk PUTs
// (--presigned_link_mbps): every PUT connection's bytes pass one shaper,
// as every chunk of an upload over a WAN shares the client's uplink, so a
// benchmark against the simulator is bound by the link rather than by CPU
// and shows whether the uploader keeps it busy.
//
// Each Take(n) books the link for n bytes right after the bytes booked
// before it and waits until its bytes are through. Idle time is saved up
// for at most kMaxCredit: enough that a reader woken late (a loaded
// machine oversleeps by milliseconds) does not lose link time it would
// have had, not so much that an idle link sends a long burst. A reader
// that waits stops draining its socket, so TCP slows the sender down.
#ifndef TL_GATEWAY_SIM_LINK_SHAPER_H_
#define TL_GATEWAY_SIM_LINK_SHAPER_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tlsim {

class LinkShaper {
 public:
  static constexpr absl::Duration kMaxCredit = absl::Milliseconds(20);
  // `bits_per_second` > 0. `now` and `sleep` are seams for tests.
  explicit LinkShaper(double bits_per_second, std::function<absl::Time()> now = absl::Now,
                      std::function<void(absl::Duration)> sleep = absl::SleepFor)
      : bytes_per_second_(bits_per_second / 8), now_(std::move(now)), sleep_(std::move(sleep)) {}

  // Waits until `n` more bytes fit the link; returns how long it waited
  // (zero while saved-up time covers them).
  // Thread-safe; waits without the lock.
  absl::Duration Take(size_t n) {
    absl::Time until;
    absl::Time now;
    {
      absl::MutexLock lock(&mu_);
      now = now_();
      if (free_at_ < now - kMaxCredit) free_at_ = now - kMaxCredit;
      free_at_ += absl::Seconds(static_cast<double>(n) / bytes_per_second_);
      until = free_at_;
    }
    const absl::Duration wait = std::max(until - now, absl::ZeroDuration());
    if (wait > absl::ZeroDuration()) sleep_(wait);
    return wait;
  }

 private:
  const double bytes_per_second_;
  const std::function<absl::Time()> now_;
  const std::function<void(absl::Duration)> sleep_;
  absl::Mutex mu_;
  absl::Time free_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_LINK_SHAPER_H_
