// One shared watch per task, however many subscribers.
//
// Each watched task has one entry: one upstream poll per interval (spaced
// by a global PollBudget), its result fanned out to every subscriber. A
// signed webhook about the task triggers a read at once. Sequence numbers
// increase with every change (and across restarts); a dropped entry leaves
// a tombstone so a reconnecting subscriber is not sent what it saw.
//
// Thread-safe. The hub never calls a sink or the REST client while holding
// its lock: fan-out and new polls happen after the lock is released. A
// change (or the error that ends a watch) is fanned out to its subscribers
// as one task on the fan-out executor's thread, never on the thread that
// completed the upstream read; only a new subscriber's snapshot is
// delivered inline, on the thread calling Subscribe().
#ifndef TL_GATEWAY_SERVER_WATCH_TASK_WATCH_HUB_H_
#define TL_GATEWAY_SERVER_WATCH_TASK_WATCH_HUB_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/common/executor.h"
#include "server/common/scheduler.h"
#include "server/twelvelabs/client.h"
#include "server/watch/fanout.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_options.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

class TaskWatchHub {
 public:
  // `client`, `scheduler`, `budget` and `fanout` are not owned and must
  // outlive the hub and every callback it started. `fanout` runs the
  // fan-outs; the tasks it is given hold the sinks, not the hub.
  // `key_for(scope)` gives the key to poll with, looked up at every poll
  // so a rotated key takes effect without disturbing open streams.
  TaskWatchHub(const WatchOptions& options, TwelveLabsClient* client, Scheduler* scheduler,
               PollBudget* budget, Executor* fanout,
               std::function<std::string(const std::string&)> key_for);
  ~TaskWatchHub();

  // Subscribes to `task_id` as seen by tenant `scope` (tenants never share
  // an entry). The sink gets the current state first (a snapshot), then every
  // change. Returns an id for Unsubscribe().
  uint64_t Subscribe(const std::string& scope, const std::string& task_id,
                     std::shared_ptr<TaskEventSink> sink) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(const std::string& scope, const std::string& task_id, uint64_t id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A verified webhook said `task_id` is now `status`.
  void OnWebhook(const std::string& task_id, const std::string& status) ABSL_LOCKS_EXCLUDED(mu_);
  bool WebhooksActive() const ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    int64_t entries = 0;
    int64_t subscribers = 0;
    int64_t polls = 0;        // upstream reads made
    int64_t polls_saved = 0;  // reads that N subscribers would have made beyond the one
    int64_t webhook_refreshes = 0;
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry;
  struct Tombstone {
    int64_t sequence;
    std::string fingerprint;
    absl::Time expires;
  };
  void StartFetch(const std::string& key, uint64_t generation,
                  twelvelabs::gateway::v1::EventSource source) ABSL_LOCKS_EXCLUDED(mu_);
  void OnFetched(const std::string& key, uint64_t generation, twelvelabs::gateway::v1::EventSource source,
                 absl::StatusOr<twelvelabs::gateway::v1::Task> result) ABSL_LOCKS_EXCLUDED(mu_);
  // The poll timer of entry `key` (see ArmPollTimer): whether the entry
  // still wants the poll it was armed for, and when `start`, starts it.
  bool OnTimer(const std::string& key, uint64_t generation, uint64_t timer, bool start)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RequestFetchLocked(Entry& e, twelvelabs::gateway::v1::EventSource source, Outbox* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked(Entry& e, const twelvelabs::gateway::v1::Task& task,
                     twelvelabs::gateway::v1::EventSource source, Outbox* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropLocked(const std::string& key, const absl::Status& error, Outbox* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WebhooksActiveLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WatchOptions options_;
  TwelveLabsClient* const client_;
  Scheduler* const scheduler_;
  PollBudget* const budget_;
  Executor* const fanout_;
  const std::function<std::string(const std::string&)> key_for_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Tombstone> tombstones_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Time last_webhook_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t subscribers_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_saved_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t webhook_refreshes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_TASK_WATCH_HUB_H_
