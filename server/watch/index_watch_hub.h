// One shared watch per index, however many subscribers.
//
// Each watched index has one entry that reads `GET /tasks?index_id=...`
// sorted by update time, newest first, page by page until it reaches tasks
// it has already seen (the first poll reads up to max_index_pages pages),
// so a poll costs one request while little changes. Each task whose state
// changed becomes an event with the index's next sequence number; a new
// subscriber first gets every task's latest event (a snapshot). A webhook
// about a task of a watched index makes that index poll at once.
//
// Thread-safe; no sink or REST call runs under the hub's lock. The events
// of a poll (or the error that ends a watch) are fanned out as one task on
// the fan-out executor's thread, never on the thread that completed the
// upstream read; only a new subscriber's snapshot is delivered inline, on
// the thread calling Subscribe(). Tasks deleted from the index are not
// announced (the list does not show them).
#ifndef TL_GATEWAY_SERVER_WATCH_INDEX_WATCH_HUB_H_
#define TL_GATEWAY_SERVER_WATCH_INDEX_WATCH_HUB_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/common/executor.h"
#include "server/common/scheduler.h"
#include "server/twelvelabs/client.h"
#include "server/watch/fanout.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_options.h"

namespace tlgw {

class IndexWatchHub {
 public:
  // Not owned; must outlive the hub and every callback it started.
  // `fanout` runs the fan-outs; the tasks it is given hold the sinks, not
  // the hub.
  IndexWatchHub(const WatchOptions& options, TwelveLabsClient* client, Scheduler* scheduler,
                PollBudget* budget, Executor* fanout, std::function<bool()> webhooks_active,
                std::function<std::string(const std::string&)> key_for);
  ~IndexWatchHub();

  uint64_t Subscribe(const std::string& scope, const std::string& index_id,
                     std::shared_ptr<TaskEventSink> sink) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(const std::string& scope, const std::string& index_id, uint64_t id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A webhook named `task_id`: indexes known to hold it poll now.
  void OnWebhook(const std::string& task_id) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    int64_t entries = 0;
    int64_t subscribers = 0;
    int64_t polls = 0;  // list requests made
    int64_t polls_saved = 0;
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry;
  struct Page;  // a poll in progress

  void StartPoll(const std::string& key, uint64_t generation, twelvelabs::gateway::v1::EventSource source)
      ABSL_LOCKS_EXCLUDED(mu_);
  void FetchPage(std::shared_ptr<Page> poll) ABSL_LOCKS_EXCLUDED(mu_);
  void OnPage(std::shared_ptr<Page> poll, absl::StatusOr<TaskPage> page) ABSL_LOCKS_EXCLUDED(mu_);
  // The poll timer of entry `key` (see ArmPollTimer): whether the entry
  // still wants the poll it was armed for, and when `start`, starts it.
  bool OnTimer(const std::string& key, uint64_t generation, uint64_t timer, bool start)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RequestPollLocked(Entry& e, twelvelabs::gateway::v1::EventSource source, Outbox* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the polls `out` asks for.
  void StartPolls(const Outbox& out) ABSL_LOCKS_EXCLUDED(mu_);

  const WatchOptions options_;
  TwelveLabsClient* const client_;
  Scheduler* const scheduler_;
  PollBudget* const budget_;
  Executor* const fanout_;
  const std::function<bool()> webhooks_active_;
  const std::function<std::string(const std::string&)> key_for_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t subscribers_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_saved_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_INDEX_WATCH_HUB_H_
