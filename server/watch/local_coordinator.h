// The coordinator of a single process (and of a replica whose shared store
// is unreachable): every watched key's rows, sequence and poll timer in
// memory.
//
//  - A key is read when its first subscriber comes and nobody read it since
//    (not budgeted: a subscriber waits on it), then after the interval the
//    engine's publish gives, each read in a slot of the PollBudget.
//  - One read at a time per key; a webhook's read comes right after one
//    under way.
//  - When the last subscriber leaves, the rows stay for `tombstone_ttl`, so
//    a subscriber that comes back with resume_after is not sent again what
//    it saw (unchanged items keep their numbers).
//
// Thread-safe; no listener runs under the lock.
#ifndef TL_GATEWAY_SERVER_WATCH_LOCAL_COORDINATOR_H_
#define TL_GATEWAY_SERVER_WATCH_LOCAL_COORDINATOR_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/common/clock.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_coordinator.h"

namespace tlgw {

class LocalCoordinator : public WatchCoordinator {
 public:
  // Not owned; must outlive the coordinator. `budget` may be shared.
  LocalCoordinator(Clock* clock, PollBudget* budget, absl::Duration tombstone_ttl);
  ~LocalCoordinator() override;

  void AddListener(const std::string& kind, WatchListener* listener) override ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveListener(const std::string& kind) override ABSL_LOCKS_EXCLUDED(mu_);
  void Watch(const WatchKey& key, uint64_t token,
             absl::AnyInvocable<void(std::vector<WatchRow>)> done) override ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(const WatchKey& key, uint64_t token) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWebhook(const std::string& kind, const std::string& item, const std::string& status) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(const WatchClaim& claim, WatchPublish outcome) override ABSL_LOCKS_EXCLUDED(mu_);

  // For the shared coordinator's degraded mode: rows it learnt before
  // (never numbered below). `current`: they are every item, so the next
  // Watch() gets them at once and its first read waits for a budget slot.
  void Seed(const WatchKey& key, const std::vector<WatchRow>& rows, bool current) ABSL_LOCKS_EXCLUDED(mu_);
  // What this coordinator holds now, per key.
  std::map<std::string, std::vector<WatchRow>> Rows() const ABSL_LOCKS_EXCLUDED(mu_);
  // Keys with local interest.
  size_t watched() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct KeyState;
  // Calls to make once the lock is released.
  struct Outbox {
    std::vector<WatchClaim> claims;
    std::vector<std::pair<std::string, std::vector<WatchRow>>> rows;
    std::vector<std::pair<std::string, absl::Status>> ended;
    std::vector<std::pair<absl::AnyInvocable<void(std::vector<WatchRow>)>, std::vector<WatchRow>>> loaded;
  };
  void ReadLocked(KeyState& ks, twelvelabs::gateway::v1::EventSource source, Outbox* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleLocked(KeyState& ks, absl::Duration delay) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OnTimer(const std::string& key, uint64_t timer, bool start) ABSL_LOCKS_EXCLUDED(mu_);
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static std::vector<WatchRow> SortedRows(const KeyState& ks);
  void Carry(Outbox& out) ABSL_LOCKS_EXCLUDED(mu_);

  Clock* const clock_;
  PollBudget* const budget_;
  const absl::Duration tombstone_ttl_;

  mutable absl::Mutex mu_;
  std::map<std::string, WatchListener*> listeners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<KeyState>> keys_ ABSL_GUARDED_BY(mu_);
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_LOCAL_COORDINATOR_H_
