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
  WatchKey key;
  std::map<uint64_t, std::shared_ptr<WatchSink>> sinks;
  std::map<std::string, WatchRow> items;  // the coordinator's rows, as last announced
  bool initialized = false;  // the coordinator gave every item
  int first_read_retries = 0;  // quick retries of a first read that failed
};

WatchEngine::WatchEngine(WatchKind* kind, const WatchOptions& options, Clock* clock,
                         PollBudget* budget, Executor* fanout, WebhookActivity* webhooks,
                         std::function<std::string(const std::string&)> key_for)
    : kind_(kind),
      options_(options),
      clock_(clock),
      own_coordinator_(std::make_unique<LocalCoordinator>(clock, budget, options.tombstone_ttl)),
      coordinator_(own_coordinator_.get()),
      fanout_(fanout),
      webhooks_(webhooks),
      key_for_(std::move(key_for)) {
  coordinator_->AddListener(kind_->name(), this);
}

WatchEngine::WatchEngine(WatchKind* kind, const WatchOptions& options, Clock* clock,
                         WatchCoordinator* coordinator, Executor* fanout, WebhookActivity* webhooks,
                         std::function<std::string(const std::string&)> key_for)
    : kind_(kind),
      options_(options),
      clock_(clock),
      coordinator_(coordinator),
      fanout_(fanout),
      webhooks_(webhooks),
      key_for_(std::move(key_for)) {
  coordinator_->AddListener(kind_->name(), this);
}

WatchEngine::~WatchEngine() { coordinator_->RemoveListener(kind_->name()); }

WatchEventPtr WatchEngine::MakeEvent(const WatchRow& row, gw::EventSource source) const {
  auto event = std::make_shared<WatchEvent>();
  event->sequence = row.sequence;
  event->item = row.item.id;
  event->terminal = row.item.terminal;
  event->value = row.item.value;
  event->message = kind_->MakeEvent(row.item, row.sequence, source, clock_->Now());
  return event;
}

uint64_t WatchEngine::Subscribe(const std::string& scope, const std::string& subject,
                                std::shared_ptr<WatchSink> sink) {
  Outbox out;
  uint64_t id;
  std::optional<std::pair<WatchKey, uint64_t>> watch;  // a new entry: (key, generation)
  {
    absl::MutexLock lock(&mu_);
    WatchKey key{kind_->name(), scope, subject};
    auto& slot = entries_[key.str()];
    if (slot == nullptr) {
      slot = std::make_unique<Entry>();
      slot->generation = next_id_++;
      slot->key = key;
      watch.emplace(std::move(key), slot->generation);
    }
    Entry& e = *slot;
    id = next_id_++;
    e.sinks.emplace(id, sink);
    ++subscribers_;
    if (e.initialized) {
      // The snapshot: every item's latest state, oldest change first.
      std::vector<const WatchRow*> known;
      for (const auto& [item_id, row] : e.items) known.push_back(&row);
      std::sort(known.begin(), known.end(),
                [](const WatchRow* a, const WatchRow* b) { return a->sequence < b->sequence; });
      for (const WatchRow* row : known) {
        out.deliveries.push_back({sink, MakeEvent(*row, gw::EVENT_SOURCE_SNAPSHOT), {}});
      }
    }
  }
  Carry(out, /*inline_delivery=*/true);  // the snapshot goes to the new subscriber alone
  if (watch) {
    const std::string key = watch->first.str();
    const uint64_t generation = watch->second;
    coordinator_->Watch(watch->first, generation, [this, key, generation](std::vector<WatchRow> rows) {
      OnLoaded(key, generation, std::move(rows));
    });
  }
  return id;
}

void WatchEngine::Unsubscribe(const std::string& scope, const std::string& subject, uint64_t id) {
  std::optional<std::pair<WatchKey, uint64_t>> unwatch;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(WatchKey{kind_->name(), scope, subject}.str());
    if (it == entries_.end() || it->second->sinks.erase(id) == 0) return;
    --subscribers_;
    if (!it->second->sinks.empty()) return;
    unwatch.emplace(std::move(it->second->key), it->second->generation);
    entries_.erase(it);
  }
  coordinator_->Unwatch(unwatch->first, unwatch->second);
}

void WatchEngine::OnWebhook(const std::string& item_id, const std::string& status) {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, e] : entries_) {
      if (e->key.subject == item_id || e->items.count(item_id) > 0) ++webhook_refreshes_;
    }
  }
  coordinator_->OnWebhook(kind_->name(), item_id, status);
}

WatchEngine::Stats WatchEngine::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{static_cast<int64_t>(entries_.size()), subscribers_, polls_, polls_saved_,
               webhook_refreshes_};
}

void WatchEngine::OnLoaded(const std::string& key, uint64_t generation, std::vector<WatchRow> rows) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->generation != generation) return;
    Entry& e = *it->second;
    for (WatchRow& row : rows) {
      WatchRow& known = e.items[row.item.id];
      if (row.sequence >= known.sequence) known = std::move(row);
    }
    e.initialized = true;
    // Every subscriber so far waited for this: each item as a snapshot.
    std::vector<const WatchRow*> known;
    for (const auto& [item_id, row] : e.items) known.push_back(&row);
    std::sort(known.begin(), known.end(),
              [](const WatchRow* a, const WatchRow* b) { return a->sequence < b->sequence; });
    for (const WatchRow* row : known) {
      WatchEventPtr event = MakeEvent(*row, gw::EVENT_SOURCE_SNAPSHOT);
      for (const auto& [id, sink] : e.sinks) out.deliveries.push_back({sink, event, {}});
    }
  }
  Carry(out, false);
}

void WatchEngine::OnRows(const std::string& key, std::vector<WatchRow> rows) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = *it->second;
    for (WatchRow& row : rows) {
      auto found = e.items.find(row.item.id);
      if (found != e.items.end() && row.sequence <= found->second.sequence) {
        // Announced before; an unnumbered refresh of fields that do not count.
        if (row.sequence == found->second.sequence) found->second.item = std::move(row.item);
        continue;
      }
      if (found != e.items.end() && row.item.fingerprint == found->second.item.fingerprint) {
        // The same state under a higher number (replicas that numbered it
        // alone while the store was down agreed on one): subscribers have
        // it; later subscribers get the agreed number.
        found->second = std::move(row);
        continue;
      }
      WatchRow& known = e.items[row.item.id];
      known = std::move(row);
      if (!e.initialized) continue;  // the snapshot to come includes it
      WatchEventPtr event = MakeEvent(known, known.source);
      for (const auto& [id, sink] : e.sinks) out.deliveries.push_back({sink, event, {}});
    }
  }
  Carry(out, false);  // not on this thread: it may be the one completing upstream reads
}

void WatchEngine::OnEnded(const std::string& key, const absl::Status& status) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    for (const auto& [id, sink] : it->second->sinks) out.deliveries.push_back({sink, nullptr, status});
    subscribers_ -= static_cast<int64_t>(it->second->sinks.size());
    entries_.erase(it);
  }
  Carry(out, false);
}

void WatchEngine::OnClaim(WatchClaim claim) {
  {
    absl::MutexLock lock(&mu_);
    ++polls_;
    auto it = entries_.find(claim.key.str());
    if (it != entries_.end()) polls_saved_ += static_cast<int64_t>(it->second->sinks.size()) - 1;
  }
  const absl::Time now = clock_->Now();
  if (claim.read_at <= now) {
    StartRead(std::move(claim));
    return;
  }
  // A slot of the poll budget later on.
  clock_->RunAfter(claim.read_at - now, [this, claim = std::move(claim)](bool cancelled) mutable {
    if (!cancelled) StartRead(std::move(claim));
  });
}

void WatchEngine::StartRead(WatchClaim claim) {
  CallOptions opts;
  opts.api_key = key_for_(claim.key.scope);  // looked up now: a rotated key takes effect at the next read
  opts.deadline = std::min(clock_->Now() + options_.max_interval, claim.deadline);
  const std::string subject = claim.key.subject;
  const std::string cursor = claim.cursor;
  kind_->Fetch(subject, cursor, opts, [this, claim = std::move(claim)](absl::StatusOr<WatchKind::Read> r) {
    OnRead(claim, std::move(r));
  });
}

void WatchEngine::OnRead(const WatchClaim& claim, absl::StatusOr<WatchKind::Read> result) {
  const absl::Time now = clock_->Now();
  const bool webhooks_active = (webhooks_ != nullptr && webhooks_->Active()) ||
                               claim.since_webhook < options_.webhook_active_window;
  WatchPublish p;
  if (result.ok()) {
    p.read_ok = true;
    // Oldest change first, so sequences follow the order of changes: kinds
    // list items newest first.
    p.items.assign(std::make_move_iterator(result->items.rbegin()),
                   std::make_move_iterator(result->items.rend()));
    p.cursor = std::move(result->cursor);
    std::vector<const WatchItem*> items;
    bool all_terminal = !p.items.empty();
    for (const WatchItem& item : p.items) {
      items.push_back(&item);
      all_terminal = all_terminal && item.terminal;
    }
    p.finished = kind_->EndsWhenTerminal() && all_terminal;
    p.next_poll = kind_->NextInterval(options_, items, 0, webhooks_active, now);
    coordinator_->Publish(claim, std::move(p));
    return;
  }
  const absl::Status& error = result.status();
  p.failures = claim.failures + 1;
  p.upstream_throttled = error.code() == absl::StatusCode::kResourceExhausted;
  if (PermanentWatchError(error) || p.failures >= options_.max_consecutive_failures) {
    p.ended = PermanentWatchError(error)
                  ? error
                  : absl::Status(error.code(),
                                 absl::StrCat("the ", kind_->name(), " can no longer be watched: ",
                                              p.failures, " reads in a row failed; last: ", error.message()));
    coordinator_->Publish(claim, std::move(p));
    return;
  }
  // What this replica knows of the key's items, for the interval and for
  // a webhook's word.
  std::vector<WatchItem> known;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(claim.key.str());
    if (it != entries_.end()) {
      for (const auto& [id, row] : it->second->items) known.push_back(row.item);
    }
  }
  std::optional<WatchItem> stand_in;
  if (claim.source == gw::EVENT_SOURCE_WEBHOOK) {
    for (const WatchItem& k : known) {
      // The read after a webhook failed: the webhook's own word is enough
      // to announce the new status, when the kind can tell it.
      if (k.id == claim.webhook_item) stand_in = kind_->FromWebhook(k, claim.webhook_status);
    }
  }
  if (stand_in) {
    p.finished = kind_->EndsWhenTerminal() && stand_in->terminal && known.size() == 1;
    p.items.push_back(*std::move(stand_in));
  } else {
    Log(LogLevel::kWarning, "watch", "read failed; retrying",
        {{"kind", kind_->name()}, {"subject", claim.key.subject},
         {"failures", std::to_string(p.failures)}, {"error", std::string(error.message())}});
  }
  std::vector<const WatchItem*> items;
  for (const WatchItem& k : known) items.push_back(&k);
  p.next_poll = kind_->NextInterval(options_, items, p.failures, webhooks_active, now);
  if (!p.upstream_throttled) {
    // Subscribers that have had nothing yet should not wait a backed-off
    // interval for a transient failure: retry sooner, doubling from
    // first_read_retry, until that reaches the usual interval. These
    // retries are few, go through the poll budget like any poll, and do
    // not count toward max_consecutive_failures (the watch gives up no
    // sooner than before); a 429 backs off as usual.
    const absl::Duration usual = kind_->NextInterval(options_, items, 0, webhooks_active, now);
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(claim.key.str());
    if (it != entries_.end() && !it->second->initialized) {
      const int n = it->second->first_read_retries;
      const absl::Duration quick = options_.first_read_retry * (int64_t{1} << std::min(n, 30));
      if (quick < usual) {
        ++it->second->first_read_retries;
        p.failures = claim.failures;
        p.next_poll = quick;
      }
    }
  }
  coordinator_->Publish(claim, std::move(p));
}

void WatchEngine::Carry(Outbox& out, bool inline_delivery) {
  if (out.deliveries.empty()) return;
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

}  // namespace tlgw
