#include "server/watch/index_watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/log.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

constexpr int kPageLimit = 50;  // the most the API serves per page

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace

struct IndexWatchHub::Entry {
  struct Known {
    gw::Task task;
    int64_t sequence = 0;
    std::string fingerprint;
  };
  uint64_t generation = 0;
  std::string scope;
  std::string index_id;
  std::map<uint64_t, std::shared_ptr<TaskEventSink>> sinks;
  std::map<std::string, Known> tasks;
  bool initialized = false;
  int64_t sequence = 0;
  absl::Time high_water = absl::InfinitePast();  // newest updated_at seen
  bool polling = false;
  bool repoll = false;
  gw::EventSource repoll_source = gw::EVENT_SOURCE_POLL;
  uint64_t timer = 0;
  int failures = 0;
};

struct IndexWatchHub::Page {
  std::string key;
  uint64_t generation;
  gw::EventSource source;
  CallOptions opts;
  std::string index_id;
  bool initialized;
  absl::Time high_water;
  int page = 1;
  std::vector<gw::Task> tasks;
};

IndexWatchHub::IndexWatchHub(const WatchOptions& options, TwelveLabsClient* client,
                             Scheduler* scheduler, PollBudget* budget, Executor* fanout,
                             std::function<bool()> webhooks_active,
                             std::function<std::string(const std::string&)> key_for)
    : options_(options),
      client_(client),
      scheduler_(scheduler),
      budget_(budget),
      fanout_(fanout),
      webhooks_active_(std::move(webhooks_active)),
      key_for_(std::move(key_for)) {}

IndexWatchHub::~IndexWatchHub() = default;

uint64_t IndexWatchHub::Subscribe(const std::string& scope, const std::string& index_id,
                                  std::shared_ptr<TaskEventSink> sink) {
  Outbox out;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    std::string key = absl::StrCat(scope, "/", index_id);
    auto& slot = entries_[key];
    if (slot == nullptr) {
      slot = std::make_unique<Entry>();
      slot->generation = next_id_++;
      slot->scope = scope;
      slot->index_id = index_id;
    }
    Entry& e = *slot;
    id = next_id_++;
    e.sinks.emplace(id, sink);
    ++subscribers_;
    if (e.initialized) {
      // The snapshot: every task's latest event, oldest change first.
      std::vector<const Entry::Known*> known;
      for (const auto& [tid, k] : e.tasks) known.push_back(&k);
      std::sort(known.begin(), known.end(), [](auto* a, auto* b) { return a->sequence < b->sequence; });
      const absl::Time now = absl::Now();
      for (const auto* k : known) {
        out.deliveries.push_back(
            {sink,
             std::make_shared<const gw::TaskEvent>(
                 MakeTaskEvent(k->task, k->sequence, gw::EVENT_SOURCE_SNAPSHOT, now)),
             {}});
      }
    } else if (!e.polling) {
      RequestPollLocked(e, gw::EVENT_SOURCE_SNAPSHOT, &out);
    }
  }
  out.Deliver();  // the snapshot, to the new subscriber alone
  StartPolls(out);
  return id;
}

void IndexWatchHub::Unsubscribe(const std::string& scope, const std::string& index_id, uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(absl::StrCat(scope, "/", index_id));
  if (it == entries_.end() || it->second->sinks.erase(id) == 0) return;
  --subscribers_;
  if (it->second->sinks.empty()) entries_.erase(it);
}

void IndexWatchHub::OnWebhook(const std::string& task_id) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, e] : entries_) {
      if (e->tasks.count(task_id) > 0) RequestPollLocked(*e, gw::EVENT_SOURCE_WEBHOOK, &out);
    }
  }
  StartPolls(out);
}

IndexWatchHub::Stats IndexWatchHub::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{static_cast<int64_t>(entries_.size()), subscribers_, polls_, polls_saved_};
}

void IndexWatchHub::StartPolls(const Outbox& out) {
  for (const auto& f : out.fetches) StartPoll(f.key, f.generation, f.source);
}

void IndexWatchHub::RequestPollLocked(Entry& e, gw::EventSource source, Outbox* out) {
  if (e.polling) {
    e.repoll = true;
    if (source == gw::EVENT_SOURCE_WEBHOOK) e.repoll_source = source;
    return;
  }
  e.polling = true;
  e.repoll = false;
  e.repoll_source = gw::EVENT_SOURCE_POLL;
  out->fetches.push_back({absl::StrCat(e.scope, "/", e.index_id), e.generation, source});
}

void IndexWatchHub::StartPoll(const std::string& key, uint64_t generation, gw::EventSource source) {
  auto poll = std::make_shared<Page>();
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    const Entry& e = *it->second;
    poll->key = key;
    poll->generation = generation;
    poll->source = source;
    poll->opts.api_key = key_for_(e.scope);
    poll->index_id = e.index_id;
    poll->initialized = e.initialized;
    poll->high_water = e.high_water;
  }
  FetchPage(std::move(poll));
}

void IndexWatchHub::FetchPage(std::shared_ptr<Page> poll) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(poll->key);
    if (it == entries_.end() || it->second->generation != poll->generation) return;
    ++polls_;
    polls_saved_ += static_cast<int64_t>(it->second->sinks.size()) - 1;
  }
  gw::ListTasksRequest req;
  req.set_index_id(poll->index_id);
  req.set_sort_by(gw::TASK_SORT_FIELD_UPDATE_TIME);
  req.set_sort_order(gw::SORT_ORDER_DESCENDING);
  poll->opts.deadline = absl::Now() + options_.max_interval;
  CallOptions opts = poll->opts;
  int page = poll->page;
  client_->ListTasks(opts, req, page, kPageLimit, [this, poll = std::move(poll)](absl::StatusOr<TaskPage> r) {
    OnPage(poll, std::move(r));
  });
}

void IndexWatchHub::OnPage(std::shared_ptr<Page> poll, absl::StatusOr<TaskPage> page) {
  if (page.ok()) {
    for (auto& t : *page->tasks.mutable_tasks()) poll->tasks.push_back(std::move(t));
    // Read on while this page may still hold unseen changes: all pages the
    // first time (up to the cap), later only while tasks are newer than
    // what was seen.
    bool more = poll->page < page->total_pages && poll->page < options_.max_index_pages &&
                page->tasks.tasks_size() > 0;
    if (more && poll->initialized && !poll->tasks.empty() &&
        TimeOf(poll->tasks.back().update_time()) < poll->high_water) {
      more = false;
    }
    if (more) {
      ++poll->page;
      FetchPage(std::move(poll));
      return;
    }
  }
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(poll->key);
    if (it == entries_.end() || it->second->generation != poll->generation) return;
    Entry& e = *it->second;
    e.polling = false;
    if (!page.ok()) {
      if (PermanentWatchError(page.status()) || ++e.failures >= options_.max_consecutive_failures) {
        absl::Status error = page.status();
        if (!PermanentWatchError(error)) {
          error = absl::Status(error.code(), absl::StrCat("the index can no longer be watched: ",
                                                          e.failures, " reads in a row failed; last: ",
                                                          error.message()));
        }
        for (const auto& [id, sink] : e.sinks) out.deliveries.push_back({sink, nullptr, error});
        subscribers_ -= static_cast<int64_t>(e.sinks.size());
        entries_.erase(it);
      } else {
        Log(LogLevel::kWarning, "watch", "index read failed; retrying",
            {{"index_id", e.index_id}, {"error", std::string(page.status().message())}});
        ScheduleLocked(e);
      }
    } else {
      e.failures = 0;
      const absl::Time now = absl::Now();
      gw::EventSource source = e.initialized ? poll->source : gw::EVENT_SOURCE_SNAPSHOT;
      // Oldest change first, so sequences follow the order of changes.
      for (auto t = poll->tasks.rbegin(); t != poll->tasks.rend(); ++t) {
        std::string fp = TaskFingerprint(*t);
        Entry::Known& k = e.tasks[t->id()];
        e.high_water = std::max(e.high_water, TimeOf(t->update_time()));
        if (k.sequence != 0 && k.fingerprint == fp) {
          k.task = *t;
          continue;
        }
        e.sequence = NextSequence(e.sequence, now);
        k = {*t, e.sequence, fp};
        auto event =
            std::make_shared<const gw::TaskEvent>(MakeTaskEvent(*t, e.sequence, source, now));
        for (const auto& [id, sink] : e.sinks) out.deliveries.push_back({sink, event, {}});
      }
      e.initialized = true;
      if (e.repoll) RequestPollLocked(e, e.repoll_source, &out);
      else ScheduleLocked(e);
    }
  }
  out.DeliverOn(*fanout_);  // not on this thread: it completes every upstream read
  StartPolls(out);
}

void IndexWatchHub::ScheduleLocked(Entry& e) {
  const absl::Time now = absl::Now();
  // An index always has something that may change: the base rule with an
  // unknown task state (no estimate), backed off after failures.
  absl::Duration delay = NextPollInterval(options_, gw::Task(), e.failures, webhooks_active_(), now);
  ArmPollTimer(*scheduler_, *budget_, delay,
               [this, key = absl::StrCat(e.scope, "/", e.index_id), generation = e.generation,
                timer = ++e.timer](bool start) { return OnTimer(key, generation, timer, start); });
}

bool IndexWatchHub::OnTimer(const std::string& key, uint64_t generation, uint64_t timer,
                            bool start) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation ||
        it->second->timer != timer || it->second->polling) {
      return false;  // dropped, superseded, or a poll is under way (it schedules the next)
    }
    if (!start) return true;
    RequestPollLocked(*it->second, gw::EVENT_SOURCE_POLL, &out);
  }
  StartPolls(out);
  return true;
}

}  // namespace tlgw
