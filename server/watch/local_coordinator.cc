#include "server/watch/local_coordinator.h"

#include <algorithm>
#include <utility>

#include "server/watch/watch_options.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

struct LocalCoordinator::KeyState {
  WatchKey key;
  std::set<uint64_t> tokens;     // engine entries holding the key
  std::set<uint64_t> cancelled;  // Unwatch came before its Watch
  std::map<std::string, WatchRow> rows;
  int64_t sequence = 0;   // the newest handed out
  bool current = false;   // a read succeeded since the key was last unwatched
  int64_t fence = 0;      // of the read that may publish
  bool reading = false;
  bool refetch = false;
  gw::EventSource refetch_source = gw::EVENT_SOURCE_POLL;
  std::string webhook_item, webhook_status;
  uint64_t timer = 0;     // only the newest scheduled poll may run
  std::string cursor;
  int failures = 0;
  absl::Time expires = absl::InfiniteFuture();  // rows are forgotten then, while unwatched
  bool seeded = false;    // current from Seed(): no read yet, the first poll goes through the budget
  std::vector<absl::AnyInvocable<void(std::vector<WatchRow>)>> waiting;
};

LocalCoordinator::LocalCoordinator(Clock* clock, PollBudget* budget, absl::Duration tombstone_ttl)
    : clock_(clock), budget_(budget), tombstone_ttl_(tombstone_ttl) {}

LocalCoordinator::~LocalCoordinator() = default;

void LocalCoordinator::AddListener(const std::string& kind, WatchListener* listener) {
  absl::MutexLock lock(&mu_);
  listeners_[kind] = listener;
}

void LocalCoordinator::RemoveListener(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(kind);
}

void LocalCoordinator::SweepLocked(absl::Time now) {
  // Forgotten rows are found by a scan at most once a second: cheap next to
  // one scan per subscriber.
  if (now < next_sweep_) return;
  next_sweep_ = now + absl::Seconds(1);
  for (auto it = keys_.begin(); it != keys_.end();) {
    const KeyState& ks = *it->second;
    it = ks.tokens.empty() && ks.cancelled.empty() && ks.expires < now ? keys_.erase(it) : std::next(it);
  }
}

std::vector<WatchRow> LocalCoordinator::SortedRows(const KeyState& ks) {
  std::vector<WatchRow> rows;
  rows.reserve(ks.rows.size());
  for (const auto& [id, row] : ks.rows) rows.push_back(row);
  std::sort(rows.begin(), rows.end(),
            [](const WatchRow& a, const WatchRow& b) { return a.sequence < b.sequence; });
  return rows;
}

void LocalCoordinator::Watch(const WatchKey& key, uint64_t token,
                             absl::AnyInvocable<void(std::vector<WatchRow>)> done) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    SweepLocked(now);
    auto& slot = keys_[key.str()];
    if (slot == nullptr) {
      slot = std::make_unique<KeyState>();
      slot->key = key;
    }
    KeyState& ks = *slot;
    if (ks.cancelled.erase(token) > 0) return;
    ks.tokens.insert(token);
    ks.expires = absl::InfiniteFuture();
    if (ks.current) {
      out.loaded.emplace_back(std::move(done), SortedRows(ks));
      if (std::exchange(ks.seeded, false) && !ks.reading) ScheduleLocked(ks, absl::ZeroDuration());
    } else {
      ks.waiting.push_back(std::move(done));
      if (!ks.reading) ReadLocked(ks, gw::EVENT_SOURCE_SNAPSHOT, &out);
    }
  }
  Carry(out);
}

void LocalCoordinator::Unwatch(const WatchKey& key, uint64_t token) {
  absl::MutexLock lock(&mu_);
  auto& slot = keys_[key.str()];
  if (slot == nullptr) {
    slot = std::make_unique<KeyState>();
    slot->key = key;
  }
  KeyState& ks = *slot;
  if (ks.tokens.erase(token) == 0) {
    ks.cancelled.insert(token);
    return;
  }
  if (!ks.tokens.empty()) return;
  // Nobody left: a read in flight publishes nothing, no poll is due, and
  // the rows are kept a while for a subscriber that comes back.
  ks.current = false;
  ++ks.fence;
  ++ks.timer;
  ks.reading = false;
  ks.refetch = false;
  ks.waiting.clear();
  ks.expires = clock_->Now() + tombstone_ttl_;
  if (ks.rows.empty()) keys_.erase(key.str());
}

void LocalCoordinator::OnWebhook(const std::string& kind, const std::string& item,
                                 const std::string& status) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [k, ks] : keys_) {
      if (ks->key.kind != kind || ks->tokens.empty()) continue;
      if (ks->key.subject != item && ks->rows.count(item) == 0) continue;
      ks->webhook_item = item;
      ks->webhook_status = status;
      ReadLocked(*ks, gw::EVENT_SOURCE_WEBHOOK, &out);
    }
  }
  Carry(out);
}

void LocalCoordinator::ReadLocked(KeyState& ks, gw::EventSource source, Outbox* out) {
  if (ks.reading) {
    // One read at a time per key; a webhook's read is done right after.
    ks.refetch = true;
    if (source == gw::EVENT_SOURCE_WEBHOOK) ks.refetch_source = source;
    return;
  }
  ks.reading = true;
  ks.refetch = false;
  ks.refetch_source = gw::EVENT_SOURCE_POLL;
  WatchClaim claim;
  claim.key = ks.key;
  claim.fence = ++ks.fence;
  claim.cursor = ks.cursor;
  claim.failures = ks.failures;
  claim.source = source;
  if (source == gw::EVENT_SOURCE_WEBHOOK) {
    claim.webhook_item = ks.webhook_item;
    claim.webhook_status = ks.webhook_status;
  }
  claim.read_at = absl::InfinitePast();
  claim.deadline = absl::InfiniteFuture();
  out->claims.push_back(std::move(claim));
}

void LocalCoordinator::Publish(const WatchClaim& claim, WatchPublish p) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    const std::string key = claim.key.str();
    auto it = keys_.find(key);
    if (it == keys_.end() || it->second->fence != claim.fence || it->second->tokens.empty()) return;
    KeyState& ks = *it->second;
    ks.reading = false;
    if (!p.ended.ok()) {
      out.ended.emplace_back(key, p.ended);
      keys_.erase(it);
    } else {
      const absl::Time now = clock_->Now();
      std::vector<WatchRow> changed;
      for (WatchItem& item : p.items) {
        auto found = ks.rows.find(item.id);
        if (found != ks.rows.end() && found->second.item.fingerprint == item.fingerprint) {
          // Fields that do not count as a change are refreshed, unnumbered.
          found->second.item = std::move(item);
          changed.push_back(found->second);
          continue;
        }
        WatchRow row;
        row.sequence = ks.sequence = NextSequence(ks.sequence, now);
        row.source = ks.current ? claim.source : gw::EVENT_SOURCE_SNAPSHOT;
        row.observed = now;
        row.item = std::move(item);
        changed.push_back(row);
        ks.rows[row.item.id] = std::move(row);
      }
      if (p.read_ok) {
        ks.cursor = std::move(p.cursor);
        ks.current = true;
      }
      ks.failures = p.failures;
      if (!changed.empty()) out.rows.emplace_back(key, std::move(changed));
      if (ks.current && !ks.waiting.empty()) {
        std::vector<WatchRow> all = SortedRows(ks);
        for (auto& done : ks.waiting) out.loaded.emplace_back(std::move(done), all);
        ks.waiting.clear();
      }
      if (p.finished) {
        // Nothing more to learn; subscribers end after the terminal event.
      } else if (ks.refetch) {
        ReadLocked(ks, ks.refetch_source, &out);
      } else {
        ScheduleLocked(ks, p.next_poll);
      }
    }
  }
  Carry(out);
}

// After `delay`, OnTimer(false) says whether the key still wants the poll
// (so an unwatched key or a superseded timer spends no budget slot); if
// so, the next free slot of the budget is reserved, and at that slot
// OnTimer(true) checks again and starts the read.
void LocalCoordinator::ScheduleLocked(KeyState& ks, absl::Duration delay) {
  const uint64_t timer = ++ks.timer;
  Clock* clock = clock_;
  PollBudget* budget = budget_;
  auto on_timer = [this, key = ks.key.str(), timer](bool start) { return OnTimer(key, timer, start); };
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

bool LocalCoordinator::OnTimer(const std::string& key, uint64_t timer, bool start) {
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find(key);
    if (it == keys_.end() || it->second->timer != timer || it->second->tokens.empty() ||
        it->second->reading) {
      return false;  // unwatched, superseded, or a read is under way (it schedules the next)
    }
    if (!start) return true;
    ReadLocked(*it->second, gw::EVENT_SOURCE_POLL, &out);
  }
  Carry(out);
  return true;
}

void LocalCoordinator::Seed(const WatchKey& key, const std::vector<WatchRow>& rows, bool current) {
  absl::MutexLock lock(&mu_);
  auto& slot = keys_[key.str()];
  if (slot == nullptr) {
    slot = std::make_unique<KeyState>();
    slot->key = key;
    slot->expires = clock_->Now() + tombstone_ttl_;
  }
  for (const WatchRow& row : rows) {
    WatchRow& mine = slot->rows[row.item.id];
    if (row.sequence >= mine.sequence) mine = row;
    slot->sequence = std::max(slot->sequence, row.sequence);
  }
  if (current && slot->tokens.empty()) {
    slot->current = true;
    slot->seeded = true;
  }
}

std::map<std::string, std::vector<WatchRow>> LocalCoordinator::Rows() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::vector<WatchRow>> out;
  for (const auto& [key, ks] : keys_) {
    if (!ks->rows.empty()) out[key] = SortedRows(*ks);
  }
  return out;
}

size_t LocalCoordinator::watched() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, ks] : keys_) n += ks->tokens.empty() ? 0 : 1;
  return n;
}

void LocalCoordinator::Carry(Outbox& out) {
  if (out.rows.empty() && out.loaded.empty() && out.ended.empty() && out.claims.empty()) return;
  auto listener = [&](const std::string& kind) -> WatchListener* {
    absl::MutexLock lock(&mu_);
    auto it = listeners_.find(kind);
    return it == listeners_.end() ? nullptr : it->second;
  };
  auto kind_of = [](const std::string& key) { return key.substr(0, key.find('/')); };
  for (auto& [key, rows] : out.rows) {
    if (WatchListener* l = listener(kind_of(key))) l->OnRows(key, std::move(rows));
  }
  for (auto& [done, rows] : out.loaded) done(std::move(rows));
  for (auto& [key, status] : out.ended) {
    if (WatchListener* l = listener(kind_of(key))) l->OnEnded(key, status);
  }
  for (auto& claim : out.claims) {
    if (WatchListener* l = listener(claim.key.kind)) l->OnClaim(std::move(claim));
  }
}

}  // namespace tlgw
