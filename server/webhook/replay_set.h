// Which webhook event ids were already accepted, so a replayed delivery
// changes nothing. One replica keeps them in memory; replicas of a cluster
// share them in PostgreSQL (webhook_events), so an event replayed to
// another replica is a duplicate there too.
#ifndef TL_GATEWAY_SERVER_WEBHOOK_REPLAY_SET_H_
#define TL_GATEWAY_SERVER_WEBHOOK_REPLAY_SET_H_

#include <cstddef>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

// Thread-safe.
class WebhookReplaySet {
 public:
  virtual ~WebhookReplaySet() = default;
  // True when `id` is new (and is now remembered), false when it was
  // remembered before. Of concurrent calls with one id, one gets true.
  virtual bool Remember(const std::string& id) = 0;
};

// The last `capacity` ids, in memory; the oldest is forgotten first.
// Capacity 0 remembers none (every id is new).
class MemoryReplaySet : public WebhookReplaySet {
 public:
  explicit MemoryReplaySet(size_t capacity) : capacity_(capacity) {}
  bool Remember(const std::string& id) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WEBHOOK_REPLAY_SET_H_
