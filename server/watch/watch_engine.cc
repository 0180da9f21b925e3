#include "server/watch/watch_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

bool PermanentWatchError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

absl::Duration WatchKind::NextInterval(const WatchOptions& options,
                                       const std::vector<const WatchItem*>&, int failures,
                                       bool webhooks_active, absl::Time now) const {
  return NextPollInterval(options, gw::Task(), failures, webhooks_active, now);
}

void WebhookActivity::Record() {
  absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  last_ = now;
}

bool WebhookActivity::Active() const {
  absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  return now - last_ < window_;
}

struct WatchEngine::Entry {
  uint64_t generation = 0;  // tells a recreated entry from the one a callback started for
  std::string scope;
  std::string subject;
  std::map<uint64_t, std::shared_ptr<WatchSink>> sinks;
  std::map<std::string, Known> items;
  bool initialized = false;  // a read has succeeded
  std::string cursor;
  int64_t sequence = 0;      // the newest handed out
  bool fetching = false;
  bool refetch = false;
  gw::EventSource source = gw::EVENT_SOURCE_POLL;          // of the read under way
  gw::EventSource refetch_source = gw::EVENT_SOURCE_POLL;
  std::string webhook_item, webhook_status;  // the last webhook's word, used if its read fails
  uint64_t timer = 0;  // only the newest scheduled poll may run
  int failures = 0;
  std::optional<Tombstone> restored;  // what subscribers saw before the entry was last dropped
};

namespace {

std::string Key(const std::string& scope, const std::string& subject) {
  return absl::StrCat(scope, "/", subject);
}

}  // namespace

WatchEngine::WatchEngine(WatchKind* kind, const WatchOptions& options, Clock* clock,
                         PollBudget* budget, Executor* fanout, WebhookActivity* webhooks,
                         std::function<std::string(const std::string&)> key_for)
    : kind_(kind),
      options_(options),
      clock_(clock),
      budget_(budget),
      fanout_(fanout),
      webhooks_(webhooks),
      key_for_(std::move(key_for)) {}

WatchEngine::~WatchEngine() = default;

uint64_t WatchEngine::Subscribe(const std::string& scope, const std::string& subject,
                                std::shared_ptr<WatchSink> sink) {
  Outbox out;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto it = tombstones_.begin(); it != tombstones_.end();) {
      it = it->second.expires < now ? tombstones_.erase(it) : std::next(it);
    }
    const std::string key = Key(scope, subject);
    auto& slot = entries_[key];
    if (slot == nullptr) {
      slot = std::make_unique<Entry>();
      slot->generation = next_id_++;
      slot->scope = scope;
      slot->subject = subject;
      if (auto tomb = tombstones_.find(key); tomb != tombstones_.end()) {
        slot->restored = std::move(tomb->second);
        tombstones_.erase(tomb);
      }
    }
    Entry& e = *slot;
    id = next_id_++;
    e.sinks.emplace(id, sink);
    ++subscribers_;
    if (e.initialized) {
      // The snapshot: every item's latest state, oldest change first.
      std::vector<const Known*> known;
      for (const auto& [item_id, k] : e.items) known.push_back(&k);
      std::sort(known.begin(), known.end(),
                [](const Known* a, const Known* b) { return a->sequence < b->sequence; });
      for (const Known* k : known) {
        auto event = std::make_shared<WatchEvent>();
        event->sequence = k->sequence;
        event->item = k->item.id;
        event->terminal = k->item.terminal;
        event->value = k->item.value;
        event->message = kind_->MakeEvent(k->item, k->sequence, gw::EVENT_SOURCE_SNAPSHOT, now);
        out.deliveries.push_back({sink, std::move(event), {}});
      }
    } else {
      RequestFetchLocked(e, gw::EVENT_SOURCE_SNAPSHOT, &out);
    }
  }
  Carry(out, /*inline_delivery=*/true);  // the snapshot goes to the new subscriber alone
  return id;
}

void WatchEngine::Unsubscribe(const std::string& scope, const std::string& subject, uint64_t id) {
  absl::MutexLock lock(&mu_);
  const std::string key = Key(scope, subject);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->sinks.erase(id) == 0) return;
  --subscribers_;
  if (!it->second->sinks.empty()) return;
  Entry& e = *it->second;
  Tombstone tomb;
  if (e.restored) tomb = std::move(*e.restored);  // items not read again since keep their numbers
  for (const auto& [item_id, k] : e.items) tomb.items[item_id] = {k.sequence, k.item.fingerprint};
  tomb.expires = clock_->Now() + options_.tombstone_ttl;
  if (!tomb.items.empty()) tombstones_[key] = std::move(tomb);
  entries_.erase(it);  // a read in flight finds no entry and stops
}

void WatchEngine::OnWebhook(const std::string& item_id, const std::string& status) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, e] : entries_) {
      if (e->subject != item_id && e->items.count(item_id) == 0) continue;
      e->webhook_item = item_id;
      e->webhook_status = status;
      ++webhook_refreshes_;
      RequestFetchLocked(*e, gw::EVENT_SOURCE_WEBHOOK, &out);
    }
  }
  Carry(out, false);
}

WatchEngine::Stats WatchEngine::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{static_cast<int64_t>(entries_.size()), subscribers_, polls_, polls_saved_,
               webhook_refreshes_};
}

void WatchEngine::RequestFetchLocked(Entry& e, gw::EventSource source, Outbox* out) {
  if (e.fetching) {
    // One read at a time per entry; a webhook's read is done right after.
    e.refetch = true;
    if (source == gw::EVENT_SOURCE_WEBHOOK) e.refetch_source = source;
    return;
  }
  e.fetching = true;
  e.refetch = false;
  e.refetch_source = gw::EVENT_SOURCE_POLL;
  e.source = source;
  ++polls_;
  polls_saved_ += static_cast<int64_t>(e.sinks.size()) - 1;
  out->fetches.emplace_back(Key(e.scope, e.subject), e.generation);
}

void WatchEngine::StartFetch(const std::string& key, uint64_t generation) {
  std::string scope, subject, cursor;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    scope = it->second->scope;
    subject = it->second->subject;
    cursor = it->second->cursor;
  }
  CallOptions opts;
  opts.api_key = key_for_(scope);  // looked up now: a rotated key takes effect at the next read
  opts.deadline = clock_->Now() + options_.max_interval;
  kind_->Fetch(subject, cursor, opts,
               [this, key, generation](absl::StatusOr<WatchKind::Read> r) {
                 OnFetched(key, generation, std::move(r));
               });
}

void WatchEngine::PublishLocked(Entry& e, WatchItem item, gw::EventSource source, absl::Time now,
                                Outbox* out) {
  auto found = e.items.find(item.id);
  int64_t sequence;
  if (found != e.items.end()) {
    if (found->second.item.fingerprint == item.fingerprint) {
      found->second.item = std::move(item);  // refresh fields that do not count as a change
      return;
    }
    sequence = NextSequence(e.sequence, now);
  } else {
    // New to this entry: the tombstone tells whether subscribers saw it
    // before the entry was last dropped.
    std::optional<int64_t> seen;
    if (e.restored) {
      auto t = e.restored->items.find(item.id);
      if (t != e.restored->items.end()) {
        e.sequence = std::max(e.sequence, t->second.first);
        if (t->second.second == item.fingerprint) seen = t->second.first;
        e.restored->items.erase(t);
      }
    }
    sequence = seen ? *seen : NextSequence(e.sequence, now);
  }
  e.sequence = std::max(e.sequence, sequence);
  if (!e.initialized) source = gw::EVENT_SOURCE_SNAPSHOT;
  auto event = std::make_shared<WatchEvent>();
  event->sequence = sequence;
  event->item = item.id;
  event->terminal = item.terminal;
  event->value = item.value;
  event->message = kind_->MakeEvent(item, sequence, source, now);
  Known& k = e.items[item.id];
  k.item = std::move(item);
  k.sequence = sequence;
  WatchEventPtr shared = std::move(event);
  for (const auto& [id, sink] : e.sinks) out->deliveries.push_back({sink, shared, {}});
}

bool WatchEngine::FinishedLocked(const Entry& e) const {
  if (!kind_->EndsWhenTerminal() || e.items.empty()) return false;
  for (const auto& [id, k] : e.items) {
    if (!k.item.terminal) return false;
  }
  return true;
}

void WatchEngine::OnFetched(const std::string& key, uint64_t generation,
                            absl::StatusOr<WatchKind::Read> result) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    Entry& e = *it->second;
    e.fetching = false;
    const absl::Time now = clock_->Now();
    if (!result.ok() && (PermanentWatchError(result.status()) ||
                         ++e.failures >= options_.max_consecutive_failures)) {
      absl::Status error = result.status();
      if (!PermanentWatchError(error)) {
        error = absl::Status(error.code(),
                             absl::StrCat("the ", kind_->name(), " can no longer be watched: ",
                                          e.failures, " reads in a row failed; last: ", error.message()));
      }
      DropLocked(key, error, &out);  // `e` is gone
    } else {
      if (result.ok()) {
        e.failures = 0;
        // Oldest change first, so sequences follow the order of changes:
        // kinds list items newest first.
        for (auto item = result->items.rbegin(); item != result->items.rend(); ++item) {
          PublishLocked(e, std::move(*item), e.source, now, &out);
        }
        e.cursor = std::move(result->cursor);
        e.initialized = true;
      } else if (e.source == gw::EVENT_SOURCE_WEBHOOK && e.items.count(e.webhook_item) > 0) {
        // The read after a webhook failed: the webhook's own word is enough
        // to announce the new status, when the kind can tell it.
        if (auto item = kind_->FromWebhook(e.items[e.webhook_item].item, e.webhook_status)) {
          PublishLocked(e, *std::move(item), e.source, now, &out);
        }
      } else {
        Log(LogLevel::kWarning, "watch", "read failed; retrying",
            {{"kind", kind_->name()}, {"subject", e.subject},
             {"failures", std::to_string(e.failures)},
             {"error", std::string(result.status().message())}});
      }
      if (FinishedLocked(e)) {
        // Nothing more to learn; subscribers end after the terminal event.
      } else if (e.refetch) {
        RequestFetchLocked(e, e.refetch_source, &out);
      } else {
        ScheduleLocked(e);
      }
    }
  }
  Carry(out, false);  // not on this thread: it may be the one completing upstream reads
}

void WatchEngine::DropLocked(const std::string& key, const absl::Status& error, Outbox* out) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  for (const auto& [id, sink] : it->second->sinks) out->deliveries.push_back({sink, nullptr, error});
  subscribers_ -= static_cast<int64_t>(it->second->sinks.size());
  entries_.erase(it);
}

void WatchEngine::ScheduleLocked(Entry& e) {
  std::vector<const WatchItem*> items;
  for (const auto& [id, k] : e.items) items.push_back(&k.item);
  absl::Duration delay = kind_->NextInterval(options_, items, e.failures,
                                             webhooks_ != nullptr && webhooks_->Active(),
                                             clock_->Now());
  ArmTimer(delay, [this, key = Key(e.scope, e.subject), generation = e.generation,
                   timer = ++e.timer](bool start) { return OnTimer(key, generation, timer, start); });
}

// After `delay`, `on_timer(false)` says whether the entry still wants the
// poll (so a dropped entry or a superseded timer spends no budget slot);
// if so, the next free slot of the global budget is reserved, and at that
// slot `on_timer(true)` checks again and starts the read.
void WatchEngine::ArmTimer(absl::Duration delay, std::function<bool(bool)> on_timer) {
  Clock* clock = clock_;
  PollBudget* budget = budget_;
  clock_->RunAfter(delay, [clock, budget, on_timer](bool cancelled) {
    if (cancelled || !on_timer(false)) return;
    const absl::Time now = clock->Now();
    const absl::Time slot = budget->Reserve(now);
    if (slot <= now) {
      on_timer(true);
      return;
    }
    clock->RunAfter(slot - now, [on_timer](bool cancelled) {
      if (!cancelled) on_timer(true);
    });
  });
}

bool WatchEngine::OnTimer(const std::string& key, uint64_t generation, uint64_t timer, bool start) {
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
  Carry(out, false);
  return true;
}

void WatchEngine::Carry(Outbox& out, bool inline_delivery) {
  if (!out.deliveries.empty()) {
    auto deliver = [deliveries = std::move(out.deliveries)] {
      for (const auto& d : deliveries) {
        if (d.event != nullptr) {
          d.sink->OnEvent(d.event);
        } else {
          d.sink->OnError(d.error);
        }
      }
    };
    if (inline_delivery) {
      deliver();
    } else {
      fanout_->Run(std::move(deliver));
    }
  }
  for (const auto& [key, generation] : out.fetches) StartFetch(key, generation);
}

}  // namespace tlgw
