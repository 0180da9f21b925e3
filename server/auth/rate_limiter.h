// Where per-client rate limits are decided when they must hold across
// replicas. The Authenticator decides locally (a token bucket per client)
// unless given a RateLimiter.
#ifndef TL_GATEWAY_SERVER_AUTH_RATE_LIMITER_H_
#define TL_GATEWAY_SERVER_AUTH_RATE_LIMITER_H_

#include <optional>
#include <string>

#include "absl/time/time.h"

namespace tlgw {

// Thread-safe; called on gRPC threads, so it must not block.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Admits one call of `key` at `rate` per second with `burst`: nullopt,
  // or how long until a call would be admitted.
  virtual std::optional<absl::Duration> Take(const std::string& key, double rate, double burst) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_AUTH_RATE_LIMITER_H_
