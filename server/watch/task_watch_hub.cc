#include "server/watch/task_watch_hub.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/log.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

struct TaskWatchHub::Entry {
  uint64_t generation = 0;  // tells a recreated entry from the one a callback started for
  std::string scope;
  std::string task_id;
  std::map<uint64_t, std::shared_ptr<TaskEventSink>> sinks;
  std::optional<gw::Task> latest;
  int64_t sequence = 0;
  bool fetching = false;
  bool refetch = false;
  gw::EventSource refetch_source = gw::EVENT_SOURCE_POLL;
  std::string webhook_status;  // the last webhook's status, used if its read fails
  uint64_t timer = 0;          // only the newest scheduled poll may run
  int failures = 0;
};

namespace {

std::string Key(const std::string& scope, const std::string& task_id) {
  return absl::StrCat(scope, "/", task_id);
}

}  // namespace

TaskWatchHub::TaskWatchHub(const WatchOptions& options, TwelveLabsClient* client, Scheduler* scheduler,
                           PollBudget* budget, Executor* fanout,
                           std::function<std::string(const std::string&)> key_for)
    : options_(options),
      client_(client),
      scheduler_(scheduler),
      budget_(budget),
      fanout_(fanout),
      key_for_(std::move(key_for)) {}

TaskWatchHub::~TaskWatchHub() = default;

uint64_t TaskWatchHub::Subscribe(const std::string& scope, const std::string& task_id,
                                 std::shared_ptr<TaskEventSink> sink) {
  Outbox out;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (auto it = tombstones_.begin(); it != tombstones_.end();) {
      it = it->second.expires < now ? tombstones_.erase(it) : std::next(it);
    }
    std::string key = Key(scope, task_id);
    auto& slot = entries_[key];
    if (slot == nullptr) {
      slot = std::make_unique<Entry>();
      slot->generation = next_id_++;
      slot->scope = scope;
      slot->task_id = task_id;
    }
    Entry& e = *slot;
    id = next_id_++;
    e.sinks.emplace(id, sink);
    ++subscribers_;
    if (e.latest) {
      out.deliveries.push_back(
          {sink,
           std::make_shared<const gw::TaskEvent>(
               MakeTaskEvent(*e.latest, e.sequence, gw::EVENT_SOURCE_SNAPSHOT, now)),
           {}});
    } else {
      RequestFetchLocked(e, gw::EVENT_SOURCE_SNAPSHOT, &out);
    }
  }
  out.Deliver();  // the snapshot, to the new subscriber alone
  for (const auto& f : out.fetches) StartFetch(f.key, f.generation, f.source);
  return id;
}

void TaskWatchHub::Unsubscribe(const std::string& scope, const std::string& task_id, uint64_t id) {
  absl::MutexLock lock(&mu_);
  std::string key = Key(scope, task_id);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->sinks.erase(id) == 0) return;
  --subscribers_;
  if (!it->second->sinks.empty()) return;
  Entry& e = *it->second;
  if (e.latest) {
    tombstones_[key] = {e.sequence, TaskFingerprint(*e.latest), absl::Now() + options_.tombstone_ttl};
  }
  entries_.erase(it);  // a poll in flight finds no entry and stops
}

void TaskWatchHub::OnWebhook(const std::string& task_id, const std::string& status) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    last_webhook_ = absl::Now();
    for (auto& [key, e] : entries_) {
      if (e->task_id != task_id) continue;
      e->webhook_status = status;
      ++webhook_refreshes_;
      RequestFetchLocked(*e, gw::EVENT_SOURCE_WEBHOOK, &out);
    }
  }
  for (const auto& f : out.fetches) StartFetch(f.key, f.generation, f.source);
}

bool TaskWatchHub::WebhooksActive() const {
  absl::MutexLock lock(&mu_);
  return WebhooksActiveLocked(absl::Now());
}

bool TaskWatchHub::WebhooksActiveLocked(absl::Time now) const {
  return now - last_webhook_ < options_.webhook_active_window;
}

TaskWatchHub::Stats TaskWatchHub::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s;
  s.entries = static_cast<int64_t>(entries_.size());
  s.subscribers = subscribers_;
  s.polls = polls_;
  s.polls_saved = polls_saved_;
  s.webhook_refreshes = webhook_refreshes_;
  return s;
}

void TaskWatchHub::RequestFetchLocked(Entry& e, gw::EventSource source, Outbox* out) {
  if (e.fetching) {
    // One read at a time per task; a webhook's read is done right after.
    e.refetch = true;
    if (source == gw::EVENT_SOURCE_WEBHOOK) e.refetch_source = source;
    return;
  }
  e.fetching = true;
  e.refetch = false;
  e.refetch_source = gw::EVENT_SOURCE_POLL;
  ++polls_;
  polls_saved_ += static_cast<int64_t>(e.sinks.size()) - 1;
  out->fetches.push_back({Key(e.scope, e.task_id), e.generation, source});
}

void TaskWatchHub::StartFetch(const std::string& key, uint64_t generation, gw::EventSource source) {
  CallOptions opts;
  std::string task_id;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    task_id = it->second->task_id;
  }
  opts.api_key = key_for_(key.substr(0, key.rfind('/')));
  opts.deadline = absl::Now() + options_.max_interval;
  client_->GetTask(opts, task_id, [this, key, generation, source](absl::StatusOr<gw::Task> r) {
    OnFetched(key, generation, source, std::move(r));
  });
}

void TaskWatchHub::PublishLocked(Entry& e, const gw::Task& task, gw::EventSource source, Outbox* out) {
  const absl::Time now = absl::Now();
  if (!e.latest) {
    // First read of a (re)created entry: the tombstone tells whether this
    // is what subscribers saw before the entry was dropped.
    auto tomb = tombstones_.find(Key(e.scope, e.task_id));
    int64_t previous = tomb != tombstones_.end() ? tomb->second.sequence : 0;
    e.sequence = tomb != tombstones_.end() && tomb->second.fingerprint == TaskFingerprint(task)
                     ? previous
                     : NextSequence(previous, now);
    if (tomb != tombstones_.end()) tombstones_.erase(tomb);
    source = gw::EVENT_SOURCE_SNAPSHOT;
  } else if (TaskFingerprint(*e.latest) != TaskFingerprint(task)) {
    e.sequence = NextSequence(e.sequence, now);
  } else {
    e.latest = task;  // refresh fields that do not count as a change
    return;
  }
  e.latest = task;
  auto event = std::make_shared<const gw::TaskEvent>(MakeTaskEvent(task, e.sequence, source, now));
  for (const auto& [id, sink] : e.sinks) out->deliveries.push_back({sink, event, {}});
}

void TaskWatchHub::OnFetched(const std::string& key, uint64_t generation, gw::EventSource source,
                             absl::StatusOr<gw::Task> result) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    Entry& e = *it->second;
    e.fetching = false;
    if (!result.ok() && (PermanentWatchError(result.status()) || ++e.failures >= options_.max_consecutive_failures)) {
      absl::Status error = result.status();
      if (!PermanentWatchError(error)) {
        error = absl::Status(error.code(), absl::StrCat("the task can no longer be watched: ", e.failures,
                                                        " reads in a row failed; last: ", error.message()));
      }
      DropLocked(key, error, &out);  // `e` is gone
    } else {
      if (result.ok()) {
        e.failures = 0;
        PublishLocked(e, *result, source, &out);
      } else if (source == gw::EVENT_SOURCE_WEBHOOK && e.latest && !e.webhook_status.empty()) {
        // The read after a webhook failed: the webhook's own word is enough
        // to announce the new status.
        gw::Task merged = *e.latest;
        merged.set_status_text(e.webhook_status);
        merged.set_status(TaskStatusFromText(e.webhook_status));
        PublishLocked(e, merged, source, &out);
      } else {
        Log(LogLevel::kWarning, "watch", "task read failed; retrying",
            {{"task_id", e.task_id}, {"failures", std::to_string(e.failures)},
             {"error", std::string(result.status().message())}});
      }
      if (e.latest && IsTerminal(e.latest->status())) {
        // Nothing more to learn; subscribers end after the terminal event.
      } else if (e.refetch) {
        RequestFetchLocked(e, e.refetch_source, &out);
      } else {
        ScheduleLocked(e);
      }
    }
  }
  out.DeliverOn(*fanout_);  // not on this thread: it completes every upstream read
  for (const auto& f : out.fetches) StartFetch(f.key, f.generation, f.source);
}

void TaskWatchHub::DropLocked(const std::string& key, const absl::Status& error, Outbox* out) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  for (const auto& [id, sink] : it->second->sinks) {
    out->deliveries.push_back({sink, nullptr, error});
  }
  subscribers_ -= static_cast<int64_t>(it->second->sinks.size());
  entries_.erase(it);
}

void TaskWatchHub::ScheduleLocked(Entry& e) {
  const absl::Time now = absl::Now();
  gw::Task current = e.latest ? *e.latest : gw::Task();
  absl::Duration delay = NextPollInterval(options_, current, e.failures, WebhooksActiveLocked(now), now);
  ArmPollTimer(*scheduler_, *budget_, delay,
               [this, key = Key(e.scope, e.task_id), generation = e.generation,
                timer = ++e.timer](bool start) { return OnTimer(key, generation, timer, start); });
}

bool TaskWatchHub::OnTimer(const std::string& key, uint64_t generation, uint64_t timer,
                           bool start) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation ||
        it->second->timer != timer || it->second->fetching) {
      return false;  // dropped, superseded, or a read is under way (it schedules the next)
    }
    if (!start) return true;
    RequestFetchLocked(*it->second, gw::EVENT_SOURCE_POLL, &out);
  }
  for (const auto& f : out.fetches) StartFetch(f.key, f.generation, f.source);
  return true;
}

}  // namespace tlgw
