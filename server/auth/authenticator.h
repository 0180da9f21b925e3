// Who is calling, and may they: client tokens, tenants and their Twelve
// Labs keys, method/index/integration permissions and per-client rate
// limits, from the configuration file, reloadable without a restart.
//
// Tokens are never stored: only their SHA-256, compared in constant time.
// Keys and tokens never appear in a message or a log line; Reload()
// describes changes by client id and tenant name only. Thread-safe.
#ifndef TL_GATEWAY_SERVER_AUTH_AUTHENTICATOR_H_
#define TL_GATEWAY_SERVER_AUTH_AUTHENTICATOR_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/rate_limiter.h"
#include "server/common/clock.h"
#include "server/config/config.h"

namespace tlgw {

// The caller of one call, as authorized.
struct CallIdentity {
  std::string client_id;  // "anonymous" in open single-key mode
  std::string tenant;
  std::string api_key;  // the tenant's current key; never logged
  // The config declares this tenant the only user of its upstream account
  // (always so in open single-key mode): tasks the gateway has no record
  // of are its own. Otherwise it sees only the tasks it created.
  bool sole_user = false;
  // A sole user that is also the only tenant configured (open mode
  // included): no other tenant can own a task, so visibility needs no
  // ownership look-up, and calls like GetTask never wait on the state store.
  bool alone = false;
  std::vector<std::string> indexes;       // allowed indexes; empty = any
  std::vector<std::string> integrations;  // allowed integrations (names or ids); empty = any
};

// What a call touches, for permission checks.
struct CallResources {
  std::string index_id;
  std::string integration;     // the configured name
  std::string integration_id;  // and its id: a client may list either
};

class Authenticator {
 public:
  // `open_key`: without clients in the config, every caller is the
  // "default" tenant using this key (open single-key mode; main decides
  // whether that is allowed). With clients, every call needs a token.
  // `clock` times rate limits; not owned, must outlive the authenticator.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const GatewayConfig& config,
                                                               const std::string& open_key,
                                                               Clock* clock);

  // Checks the caller's credentials, then its right to `method`
  // ("TaskService.GetTask"), then its rate limit: UNAUTHENTICATED,
  // PERMISSION_DENIED or RESOURCE_EXHAUSTED (RetryInfo). Nothing of the
  // request is looked at, so a caller without credentials learns nothing
  // about how requests are validated.
  absl::StatusOr<CallIdentity> Authorize(const grpc::ServerContextBase& ctx, absl::string_view method)
      ABSL_LOCKS_EXCLUDED(mu_);

  // PERMISSION_DENIED if `identity`'s client may not use the index or
  // integration a (validated) request names.
  static absl::Status CheckResources(const CallIdentity& identity, const CallResources& resources);

  // Whether `identity`'s client may use `index_id` (for checks made after
  // an upstream read reveals a task's index).
  static bool IndexAllowed(const CallIdentity& identity, const std::string& index_id);

  // Whether `tenant` is, in the configuration in force now, the declared
  // only user of its upstream account (open single-key mode: always).
  // Streams ask at each event, so a reload applies to them too.
  // Whether `tenant` is a sole user and the only tenant (CallIdentity::alone).
  bool Alone(const std::string& tenant) const ABSL_LOCKS_EXCLUDED(mu_);
  bool SoleUser(const std::string& tenant) const ABSL_LOCKS_EXCLUDED(mu_);

  // The current key of `tenant` ("" if the tenant is gone).
  std::string CurrentKey(const std::string& tenant) const ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces the configuration (keys already resolved). On success returns
  // a summary of what changed; clients that were removed or whose token
  // changed are revoked: their watchers are called. On error the old
  // configuration stays.
  absl::StatusOr<std::string> Reload(const GatewayConfig& config) ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `on_revoked` (on the reloading thread) if `client_id` is revoked
  // while watched. Returns an id for Unwatch().
  uint64_t WatchRevocation(const std::string& client_id, std::function<void()> on_revoked)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  bool open_mode() const ABSL_LOCKS_EXCLUDED(mu_);

  // Rate limits decided by `limiter` (a cluster's shared one) instead of
  // this process's buckets. Not owned; set before serving, or nullptr.
  void SetRateLimiter(RateLimiter* limiter) { limiter_.store(limiter); }

 private:
  struct State;
  struct Bucket {
    double tokens = 0;
    absl::Time updated = absl::InfinitePast();
  };
  explicit Authenticator(Clock* clock) : clock_(clock) {}
  static absl::StatusOr<std::shared_ptr<const State>> Build(const GatewayConfig& config,
                                                            const std::string& open_key);
  absl::Status TakeToken(const std::string& client_id, const RateLimit& limit) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const State> state_ ABSL_GUARDED_BY(mu_);
  std::string open_key_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  Clock* const clock_;
  std::atomic<RateLimiter*> limiter_{nullptr};
  std::map<uint64_t, std::pair<std::string, std::function<void()>>> watchers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_watch_ ABSL_GUARDED_BY(mu_) = 1;
};

// SHA-256 of `token`, lowercase hex.
std::string TokenSha256(absl::string_view token);
// A new random token ("tlgw_" + 43 base64url characters, 256 bits).
std::string NewToken();

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_AUTH_AUTHENTICATOR_H_
