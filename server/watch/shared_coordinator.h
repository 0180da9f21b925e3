// The coordinator of one replica among several (docs/cluster.md, needs 3-6),
// over a WatchStore they share:
//  - Interest: the first local subscriber of a key registers this replica's
//    interest (refreshed in one batch every `interest_refresh`, expiring
//    after `interest_ttl`); the last one leaving deletes it.
//  - Polls: every `claim_period` the replica claims due keys (any watched
//    key, local subscribers or not), each in a slot of the cluster's poll
//    budget, under a lease with a fence; the read is published fenced.
//  - A new subscriber gets the stored rows when another replica keeps the
//    key current, else the replica takes the poll and reads at once.
//  - A webhook takes the poll of every watched key holding its item, in the
//    whole cluster, and reads each once.
//  - Changes: a publish announces the rows to local engines at once; other
//    replicas hear a hint, read the rows and announce them. After the hint
//    channel reconnects, and every `sweep_period`, the rows of every
//    locally watched key are read again: a hint is never the only path.
//  - Degraded: when the store cannot be reached, the replica goes on alone
//    with a LocalCoordinator (its subscribed keys only, the budget divided
//    by the replicas last seen, sequences continuing from the last known
//    ones), logs the change once and says so in stats(). Every
//    `probe_period` it tries the store; when it answers the local polls
//    stop, the rows numbered meanwhile are pushed as floors, the rows are
//    read again and shared mode resumes.
//
// Thread-safe; no listener and no store call runs under the lock.
#ifndef TL_GATEWAY_SERVER_WATCH_SHARED_COORDINATOR_H_
#define TL_GATEWAY_SERVER_WATCH_SHARED_COORDINATOR_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/common/clock.h"
#include "server/watch/local_coordinator.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_coordinator.h"
#include "server/watch/watch_store.h"

namespace tlgw {

struct SharedCoordinatorOptions {
  std::string replica;  // unique among live replicas
  absl::Duration claim_period = absl::Milliseconds(250);
  int claim_batch = 100;
  // A claimed read must publish within this, or another replica may poll.
  absl::Duration lease = absl::Seconds(15);
  absl::Duration interest_ttl = absl::Seconds(30);
  absl::Duration interest_refresh = absl::Seconds(10);
  // Rows of every locally watched key are read again this often (1 s when
  // hints cannot be listened to, behind PgBouncer).
  absl::Duration sweep_period = absl::Seconds(30);
  absl::Duration probe_period = absl::Seconds(1);
  // Hints arriving within this are answered by one read of their rows
  // (zero: one read per hint, at once).
  absl::Duration hint_batch = absl::Milliseconds(2);
  double max_polls_per_second = 20;  // for the whole cluster
  absl::Duration tombstone_ttl = absl::Minutes(10);
  // After upstream's 429 no replica polls for this long.
  absl::Duration throttle_backoff = absl::Seconds(10);
};

class SharedCoordinator : public WatchCoordinator {
 public:
  // Not owned; must outlive the coordinator.
  SharedCoordinator(WatchStore* store, Clock* clock, SharedCoordinatorOptions options);
  ~SharedCoordinator() override;
  SharedCoordinator(const SharedCoordinator&) = delete;
  SharedCoordinator& operator=(const SharedCoordinator&) = delete;

  // Listens for hints and starts the timers. Call once listeners are added.
  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Shutdown: stops polling and claiming, hands this replica's claims back
  // and deletes its interest so another replica polls at once; waits up to
  // `wait` for the store to confirm. Afterwards the coordinator calls no
  // listener and starts no store call: the store may be destroyed first.
  void Stop(absl::Duration wait = absl::ZeroDuration()) ABSL_LOCKS_EXCLUDED(mu_);
  // After Stop: waits until `deadline` for the store to confirm the hand
  // back (so a shutdown can drain calls meanwhile instead of first waiting
  // on a database that may not answer). True when it did.
  bool AwaitHandBack(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  void AddListener(const std::string& kind, WatchListener* listener) override ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveListener(const std::string& kind) override ABSL_LOCKS_EXCLUDED(mu_);
  void Watch(const WatchKey& key, uint64_t token,
             absl::AnyInvocable<void(std::vector<WatchRow>)> done) override ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(const WatchKey& key, uint64_t token) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWebhook(const std::string& kind, const std::string& item, const std::string& status) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(const WatchClaim& claim, WatchPublish outcome) override ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    bool shared = true;         // false: degraded, polling alone
    int64_t transitions = 0;    // shared -> local and back, each counted
    int64_t claims = 0;         // reads this replica was handed
    int64_t fenced_off = 0;     // publishes refused because another took the poll
    int64_t hints = 0;          // hints heard
    int64_t loads = 0;          // row reads
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct KeyState {
    WatchKey key;
    std::set<uint64_t> tokens;
    std::set<uint64_t> cancelled;
    std::vector<absl::AnyInvocable<void(std::vector<WatchRow>)>> waiting;
    std::map<std::string, WatchRow> rows;  // the newest announced per item
    bool loaded = false;                   // `rows` held every item once
    uint64_t local_token = 0;              // held in the local fallback under this token
  };
  // Forwards the local fallback's calls to the engine of one kind.
  class FallbackListener;
  class Life;

  WatchListener* ListenerFor(const std::string& kind) ABSL_LOCKS_EXCLUDED(mu_);
  WatchRow ToRow(const StoredRow& r);
  void Announce(const std::string& key, const StoredKey& stored) ABSL_LOCKS_EXCLUDED(mu_);
  void AnnounceRows(const std::string& key, std::vector<WatchRow> rows, bool complete)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Handout(std::vector<StoredClaim> claims, twelvelabs::gateway::v1::EventSource source,
               const std::string& webhook_item, const std::string& webhook_status);
  void LoadKeys(std::vector<std::string> keys) ABSL_LOCKS_EXCLUDED(mu_);
  void StartWatch(const WatchKey& key) ABSL_LOCKS_EXCLUDED(mu_);
  void Degrade(const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_);
  void Recover() ABSL_LOCKS_EXCLUDED(mu_);
  void FallbackWatchLocked(KeyState& ks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnFallbackLoaded(const std::string& key, std::vector<WatchRow> rows) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> WatchedKeys() const ABSL_LOCKS_EXCLUDED(mu_);
  void Every(absl::Duration period, void (SharedCoordinator::*tick)());
  void ClaimTick() ABSL_LOCKS_EXCLUDED(mu_);
  void RefreshTick() ABSL_LOCKS_EXCLUDED(mu_);
  void SweepTick() ABSL_LOCKS_EXCLUDED(mu_);
  void ProbeTick() ABSL_LOCKS_EXCLUDED(mu_);
  bool Failed(const absl::Status& s);
  // Wraps a callback so it does nothing once the coordinator is gone.
  template <typename F>
  auto Guard(F f);

  WatchStore* const store_;
  Clock* const clock_;
  const SharedCoordinatorOptions options_;
  std::shared_ptr<Life> life_;
  PollBudget local_budget_;
  LocalCoordinator local_;  // the fallback

  mutable absl::Mutex mu_;
  std::map<std::string, WatchListener*> listeners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<FallbackListener>> fallback_listeners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<KeyState>> keys_ ABSL_GUARDED_BY(mu_);
  bool shared_ ABSL_GUARDED_BY(mu_) = true;
  bool recovering_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<absl::Notification> handed_back_ ABSL_GUARDED_BY(mu_);  // set by Stop
  int replicas_ ABSL_GUARDED_BY(mu_) = 1;  // live replicas, as last seen
  uint64_t next_local_token_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<std::string> hinted_ ABSL_GUARDED_BY(mu_);  // keys to read at the batch's end
  void FlushHints() ABSL_LOCKS_EXCLUDED(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_SHARED_COORDINATOR_H_
