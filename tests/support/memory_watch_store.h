// The watch store of a cluster, in memory: what PostgreSQL's watch tables
// hold (watch_state, watch_polls, watch_interest, poll_budget), with the
// same statement semantics, for unit tests that run several replicas'
// coordinators and engines in one process on one FakeClock (the database
// clock). Completions and hints run inline on the calling thread, outside
// the store's lock.
//
// SetDown(true) makes every call fail UNAVAILABLE and drops the hint
// channels (as a stopped server would); SetDown(false) re-establishes them.
#ifndef TL_GATEWAY_TESTS_SUPPORT_MEMORY_WATCH_STORE_H_
#define TL_GATEWAY_TESTS_SUPPORT_MEMORY_WATCH_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/common/clock.h"
#include "server/watch/watch_store.h"

namespace tlgw {

class MemoryWatchStore : public WatchStore {
 public:
  explicit MemoryWatchStore(Clock* clock) : clock_(clock) {}

  void SetDown(bool down) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets a replica's hint channel (its process died).
  void Disconnect(const std::string& replica) ABSL_LOCKS_EXCLUDED(mu_);
  // The stored rows of `key`, oldest first.
  std::vector<StoredRow> rows(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t fence(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  int interest(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);

  void Listen(const std::string& replica,
              absl::AnyInvocable<void(const std::string& key, int64_t sequence)> on_hint,
              absl::AnyInvocable<void(bool up)> on_channel) override ABSL_LOCKS_EXCLUDED(mu_);
  void AddInterest(const std::string& replica, const std::vector<WatchKey>& keys, bool fresh,
                   absl::Duration ttl, absl::AnyInvocable<void(absl::StatusOr<int>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void DropInterest(const std::string& replica, const std::vector<std::string>& keys,
                    absl::AnyInvocable<void(absl::Status)> done) override ABSL_LOCKS_EXCLUDED(mu_);
  void Claim(const std::string& replica, int max, absl::Duration spacing, absl::Duration horizon,
             absl::Duration lease,
             absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Take(const std::string& replica, const std::vector<std::string>& keys, absl::Duration lease,
            absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void TakeItem(const std::string& replica, const std::string& kind, const std::string& item,
                absl::Duration lease,
                absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(StoredPublish publish,
               absl::AnyInvocable<void(absl::StatusOr<StoredPublishResult>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Load(const std::vector<std::string>& keys, const std::string& replica,
            absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, StoredKey>>)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void PushRows(const std::vector<StoredRow>& rows, absl::AnyInvocable<void(absl::Status)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandBack(const std::string& replica, absl::AnyInvocable<void(absl::Status)> done) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Poll {
    WatchKey key;
    int64_t fence = 0;
    std::string poller;
    absl::Time next_poll_at;
    std::string cursor;
    int failures = 0;
    bool primed = false;
    bool finished = false;
    absl::Status ended;
  };
  struct Channel {
    absl::AnyInvocable<void(const std::string&, int64_t)> on_hint;
    absl::AnyInvocable<void(bool)> on_channel;
  };
  using Hints = std::vector<std::pair<std::string, int64_t>>;

  bool LiveInterestLocked(const std::string& key, const std::string& except, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int LiveReplicasLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StoredClaim TakeLocked(Poll& p, const std::string& replica, absl::Time now, absl::Duration lease)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendHints(const Hints& hints) ABSL_LOCKS_EXCLUDED(mu_);

  Clock* const clock_;
  mutable absl::Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Poll> polls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, StoredRow>> state_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, absl::Time> interest_ ABSL_GUARDED_BY(mu_);  // (key, replica)
  absl::Time next_free_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time blocked_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time webhook_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Called outside mu_.
  std::map<std::string, std::shared_ptr<Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SUPPORT_MEMORY_WATCH_STORE_H_
