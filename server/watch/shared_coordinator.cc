#include "server/watch/shared_coordinator.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/common/log.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

std::string KindOf(const std::string& key) { return key.substr(0, key.find('/')); }

bool Unreachable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

// Callbacks (timers, store completions) may come after the coordinator is
// gone; each enters through this, and the destructor waits for those
// inside.
class SharedCoordinator::Life {
 public:
  bool Enter() {
    active_.fetch_add(1);
    if (alive_.load()) return true;
    active_.fetch_sub(1);
    return false;
  }
  void Leave() { active_.fetch_sub(1); }
  void End() {
    alive_.store(false);
    while (active_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

 private:
  std::atomic<bool> alive_{true};
  std::atomic<int> active_{0};
};

template <typename F>
auto SharedCoordinator::Guard(F f) {
  return [life = life_, f = std::move(f)](auto&&... args) mutable {
    if (!life->Enter()) return;
    f(std::forward<decltype(args)>(args)...);
    life->Leave();
  };
}

class SharedCoordinator::FallbackListener : public WatchListener {
 public:
  FallbackListener(SharedCoordinator* owner, WatchListener* engine) : owner_(owner), engine_(engine) {}
  void OnClaim(WatchClaim claim) override {
    claim.local = true;  // its publish goes back to the fallback
    engine_->OnClaim(std::move(claim));
  }
  void OnRows(const std::string& key, std::vector<WatchRow> rows) override {
    owner_->AnnounceRows(key, std::move(rows), false);
  }
  void OnEnded(const std::string& key, const absl::Status& status) override {
    {
      absl::MutexLock lock(&owner_->mu_);
      owner_->keys_.erase(key);
    }
    engine_->OnEnded(key, status);
  }
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) override {
    return engine_->ParseValue(bytes);
  }

 private:
  SharedCoordinator* const owner_;
  WatchListener* const engine_;
};

SharedCoordinator::SharedCoordinator(WatchStore* store, Clock* clock, SharedCoordinatorOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      life_(std::make_shared<Life>()),
      local_budget_(options_.max_polls_per_second),
      local_(clock, &local_budget_, options_.tombstone_ttl) {}

SharedCoordinator::~SharedCoordinator() { life_->End(); }

void SharedCoordinator::Start() {
  store_->Listen(
      options_.replica,
      Guard([this](const std::string& key, int64_t sequence) {
        bool load = false, schedule = false;
        {
          absl::MutexLock lock(&mu_);
          ++stats_.hints;
          auto it = keys_.find(key);
          if (it != keys_.end() && shared_) {
            int64_t newest = 0;
            for (const auto& [id, row] : it->second->rows) newest = std::max(newest, row.sequence);
            load = sequence == 0 || sequence > newest;
          }
          if (load && options_.hint_batch > absl::ZeroDuration()) {
            schedule = hinted_.empty();
            hinted_.insert(key);
            load = false;
          }
        }
        if (load) LoadKeys({key});
        if (schedule) {
          clock_->RunAfter(options_.hint_batch, Guard([this](bool cancelled) {
                             if (!cancelled) FlushHints();
                           }));
        }
      }),
      Guard([this](bool up) {
        // Hints may have been missed while the channel was down.
        if (up) LoadKeys(WatchedKeys());
      }));
  Every(options_.claim_period, &SharedCoordinator::ClaimTick);
  Every(options_.interest_refresh, &SharedCoordinator::RefreshTick);
  Every(options_.sweep_period, &SharedCoordinator::SweepTick);
  Every(options_.probe_period, &SharedCoordinator::ProbeTick);
}

void SharedCoordinator::Stop(absl::Duration wait) {
  std::vector<std::pair<WatchKey, uint64_t>> local;
  bool shared;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    shared = shared_;
    for (auto& [key, ks] : keys_) {
      if (ks->local_token != 0) local.emplace_back(ks->key, std::exchange(ks->local_token, 0));
    }
  }
  for (const auto& [key, token] : local) local_.Unwatch(key, token);
  auto handed = std::make_shared<absl::Notification>();
  {
    absl::MutexLock lock(&mu_);
    handed_back_ = handed;
  }
  if (!shared) {
    handed->Notify();  // nothing this replica holds is in the store's hands
    return;
  }
  store_->HandBack(options_.replica, [handed](absl::Status) { handed->Notify(); });
  handed->WaitForNotificationWithTimeout(wait);
}

bool SharedCoordinator::AwaitHandBack(absl::Time deadline) {
  std::shared_ptr<absl::Notification> handed;
  {
    absl::MutexLock lock(&mu_);
    handed = handed_back_;
  }
  return handed != nullptr && handed->WaitForNotificationWithDeadline(deadline);
}

void SharedCoordinator::AddListener(const std::string& kind, WatchListener* listener) {
  auto fallback = std::make_unique<FallbackListener>(this, listener);
  local_.AddListener(kind, fallback.get());
  absl::MutexLock lock(&mu_);
  listeners_[kind] = listener;
  fallback_listeners_[kind] = std::move(fallback);
}

void SharedCoordinator::RemoveListener(const std::string& kind) {
  local_.RemoveListener(kind);
  absl::MutexLock lock(&mu_);
  listeners_.erase(kind);
  fallback_listeners_.erase(kind);
}

WatchListener* SharedCoordinator::ListenerFor(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return nullptr;  // the engines may be going away
  auto it = listeners_.find(kind);
  return it == listeners_.end() ? nullptr : it->second;
}

SharedCoordinator::Stats SharedCoordinator::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.shared = shared_;
  return s;
}

std::vector<std::string> SharedCoordinator::WatchedKeys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> keys;
  for (const auto& [key, ks] : keys_) {
    if (!ks->tokens.empty()) keys.push_back(key);
  }
  return keys;
}

bool SharedCoordinator::Failed(const absl::Status& s) {
  if (s.ok()) return false;
  if (Unreachable(s)) {
    Degrade(s);
  } else {
    Log(LogLevel::kWarning, "watch", "shared watch state: a statement failed",
        {{"error", std::string(s.message())}});
  }
  return true;
}

// ---- Subscribers -------------------------------------------------------------

void SharedCoordinator::Watch(const WatchKey& key, uint64_t token,
                              absl::AnyInvocable<void(std::vector<WatchRow>)> done) {
  const std::string k = key.str();
  bool start_shared = false, start_local = false;
  std::vector<WatchRow> ready;
  bool has_ready = false;
  uint64_t local_token = 0;
  std::vector<WatchRow> seed;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = keys_[k];
    if (slot == nullptr) {
      slot = std::make_unique<KeyState>();
      slot->key = key;
    }
    KeyState& ks = *slot;
    if (ks.cancelled.erase(token) > 0) {
      if (ks.tokens.empty() && ks.cancelled.empty()) keys_.erase(k);
      return;
    }
    const bool first = ks.tokens.empty();
    ks.tokens.insert(token);
    if (!first && ks.loaded) {
      for (const auto& [id, row] : ks.rows) ready.push_back(row);
      has_ready = true;
    } else {
      ks.waiting.push_back(std::move(done));
    }
    if (first && !stopped_) {
      if (shared_) {
        start_shared = true;
      } else {
        start_local = true;
        local_token = ks.local_token = next_local_token_++;
        for (const auto& [id, row] : ks.rows) seed.push_back(row);
      }
    }
  }
  if (has_ready) {
    std::sort(ready.begin(), ready.end(),
              [](const WatchRow& a, const WatchRow& b) { return a.sequence < b.sequence; });
    done(std::move(ready));
  }
  if (start_shared) StartWatch(key);
  if (start_local) {
    local_.Seed(key, seed, /*current=*/false);
    local_.Watch(key, local_token, Guard([this, k](std::vector<WatchRow> rows) {
                   OnFallbackLoaded(k, std::move(rows));
                 }));
  }
}

void SharedCoordinator::StartWatch(const WatchKey& key) {
  const std::string k = key.str();
  store_->AddInterest(
      options_.replica, {key}, /*fresh=*/true, options_.interest_ttl,
      Guard([this, k](absl::StatusOr<int> replicas) {
        if (Failed(replicas.status())) return;
        {
          absl::MutexLock lock(&mu_);
          replicas_ = std::max(1, *replicas);
        }
        store_->Load({k}, options_.replica,
                     Guard([this, k](absl::StatusOr<std::map<std::string, StoredKey>> loaded) {
                       if (Failed(loaded.status())) return;
                       auto it = loaded->find(k);
                       if (it != loaded->end() && (it->second.current || !it->second.ended.ok())) {
                         Announce(k, it->second);  // another replica keeps it current: no read
                         return;
                       }
                       store_->Take(options_.replica, {k}, options_.lease,
                                    Guard([this](absl::StatusOr<std::vector<StoredClaim>> claims) {
                                      if (Failed(claims.status())) return;
                                      Handout(*std::move(claims), gw::EVENT_SOURCE_SNAPSHOT, "", "");
                                    }));
                     }));
      }));
}

void SharedCoordinator::Unwatch(const WatchKey& key, uint64_t token) {
  const std::string k = key.str();
  uint64_t local_token = 0;
  bool drop = false;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = keys_[k];
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
    local_token = ks.local_token;
    drop = shared_ && !stopped_;
    if (ks.cancelled.empty()) keys_.erase(k);
  }
  if (local_token != 0) local_.Unwatch(key, local_token);
  if (drop) store_->DropInterest(options_.replica, {k}, Guard([this](absl::Status s) { Failed(s); }));
}

void SharedCoordinator::OnWebhook(const std::string& kind, const std::string& item,
                                  const std::string& status) {
  bool shared;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    shared = shared_;
  }
  if (!shared) {
    local_.OnWebhook(kind, item, status);  // fans out to this replica's subscribers only
    return;
  }
  store_->TakeItem(options_.replica, kind, item, options_.lease,
                   Guard([this, kind, item, status](absl::StatusOr<std::vector<StoredClaim>> claims) {
                     if (!claims.ok()) {
                       Failed(claims.status());
                       local_.OnWebhook(kind, item, status);
                       return;
                     }
                     Handout(*std::move(claims), gw::EVENT_SOURCE_WEBHOOK, item, status);
                   }));
}

// ---- Reads -------------------------------------------------------------------

void SharedCoordinator::Handout(std::vector<StoredClaim> claims, gw::EventSource source,
                                const std::string& webhook_item, const std::string& webhook_status) {
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    stats_.claims += static_cast<int64_t>(claims.size());
  }
  for (StoredClaim& c : claims) {
    WatchListener* listener = ListenerFor(c.key.kind);
    if (listener == nullptr) continue;  // a kind this replica does not serve: the lease runs out
    WatchClaim claim;
    claim.key = std::move(c.key);
    claim.fence = c.fence;
    claim.cursor = std::move(c.cursor);
    claim.failures = c.failures;
    claim.source = source;
    claim.webhook_item = webhook_item;
    claim.webhook_status = webhook_status;
    claim.read_at = now + c.read_after;
    claim.deadline = now + c.lease;
    claim.since_webhook = c.since_webhook;
    listener->OnClaim(std::move(claim));
  }
}

void SharedCoordinator::Publish(const WatchClaim& claim, WatchPublish p) {
  if (claim.local) {
    local_.Publish(claim, std::move(p));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!shared_ || stopped_) return;  // the store is down (the local fallback polls), or shutdown
  }
  StoredPublish sp;
  sp.replica = options_.replica;
  sp.key = claim.key;
  sp.fence = claim.fence;
  sp.read_ok = p.read_ok;
  auto values = std::make_shared<std::map<std::string, std::shared_ptr<const google::protobuf::Message>>>();
  for (const WatchItem& item : p.items) {
    StoredPublish::Item si;
    si.id = item.id;
    si.fingerprint = item.fingerprint;
    si.terminal = item.terminal;
    if (item.value != nullptr) si.value = item.value->SerializeAsString();
    sp.items.push_back(std::move(si));
    (*values)[item.id] = item.value;
  }
  sp.source = claim.source;
  sp.cursor = std::move(p.cursor);
  sp.failures = p.failures;
  sp.next_poll = p.next_poll;
  sp.finished = p.finished;
  sp.ended = p.ended;
  if (p.upstream_throttled) sp.block_polls = options_.throttle_backoff;
  const std::string key = claim.key.str();
  const bool read_ok = p.read_ok;
  store_->Publish(std::move(sp), Guard([this, key, values, read_ok, ended = p.ended](
                                           absl::StatusOr<StoredPublishResult> r) {
    if (Failed(r.status())) return;
    if (!r->accepted) {
      absl::MutexLock lock(&mu_);
      ++stats_.fenced_off;
      return;
    }
    if (!ended.ok()) {
      Announce(key, StoredKey{{}, false, ended});
      return;
    }
    std::vector<WatchRow> rows;
    for (StoredRow& sr : r->changed) {
      WatchRow row;
      row.item.id = sr.item;
      row.item.fingerprint = std::move(sr.fingerprint);
      row.item.terminal = sr.terminal;
      row.item.value = (*values)[sr.item];  // what was read: no parse
      row.sequence = sr.sequence;
      row.source = static_cast<gw::EventSource>(sr.source);
      row.observed = sr.observed;
      rows.push_back(std::move(row));
    }
    bool waiting = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = keys_.find(key);
      waiting = it != keys_.end() && !it->second->waiting.empty();
    }
    AnnounceRows(key, std::move(rows), false);
    // Subscribers waiting for the first read get every item of the key.
    if (waiting && read_ok) LoadKeys({key});
  }));
}

// ---- Rows --------------------------------------------------------------------

WatchRow SharedCoordinator::ToRow(const StoredRow& r) {
  WatchRow row;
  row.item.id = r.item;
  row.item.fingerprint = r.fingerprint;
  row.item.terminal = r.terminal;
  if (WatchListener* l = ListenerFor(KindOf(r.key))) row.item.value = l->ParseValue(r.value);
  row.sequence = r.sequence;
  row.source = static_cast<gw::EventSource>(r.source);
  row.observed = r.observed;
  return row;
}

void SharedCoordinator::LoadKeys(std::vector<std::string> keys) {
  if (keys.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    ++stats_.loads;
  }
  store_->Load(keys, options_.replica,
               Guard([this](absl::StatusOr<std::map<std::string, StoredKey>> loaded) {
                 if (Failed(loaded.status())) return;
                 for (const auto& [key, stored] : *loaded) Announce(key, stored);
               }));
}

void SharedCoordinator::Announce(const std::string& key, const StoredKey& stored) {
  if (!stored.ended.ok()) {
    bool drop = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = keys_.find(key);
      if (it == keys_.end() || it->second->tokens.empty()) return;
      drop = shared_ && !stopped_;
      keys_.erase(it);
    }
    if (drop) store_->DropInterest(options_.replica, {key}, [](absl::Status) {});
    if (WatchListener* l = ListenerFor(KindOf(key))) l->OnEnded(key, stored.ended);
    return;
  }
  std::vector<WatchRow> rows;
  for (const StoredRow& r : stored.rows) {
    WatchRow row = ToRow(r);
    if (row.item.value != nullptr) rows.push_back(std::move(row));
  }
  AnnounceRows(key, std::move(rows), stored.current);
}

void SharedCoordinator::AnnounceRows(const std::string& key, std::vector<WatchRow> rows, bool complete) {
  std::vector<WatchRow> fresh;
  std::vector<absl::AnyInvocable<void(std::vector<WatchRow>)>> waiting;
  std::vector<WatchRow> all;
  {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find(key);
    if (it == keys_.end() || it->second->tokens.empty()) return;
    KeyState& ks = *it->second;
    for (WatchRow& row : rows) {
      auto found = ks.rows.find(row.item.id);
      if (found != ks.rows.end() && row.sequence <= found->second.sequence) continue;
      ks.rows[row.item.id] = row;
      fresh.push_back(std::move(row));
    }
    if (complete) ks.loaded = true;
    if (complete && !ks.waiting.empty()) {
      waiting = std::move(ks.waiting);
      ks.waiting.clear();
      for (const auto& [id, row] : ks.rows) all.push_back(row);
      std::sort(all.begin(), all.end(),
                [](const WatchRow& a, const WatchRow& b) { return a.sequence < b.sequence; });
    }
  }
  if (!fresh.empty()) {
    if (WatchListener* l = ListenerFor(KindOf(key))) l->OnRows(key, std::move(fresh));
  }
  for (auto& done : waiting) done(all);
}

// ---- Timers ------------------------------------------------------------------

void SharedCoordinator::Every(absl::Duration period, void (SharedCoordinator::*tick)()) {
  clock_->RunAfter(period, Guard([this, period, tick](bool cancelled) {
                     if (cancelled) return;
                     {
                       absl::MutexLock lock(&mu_);
                       if (stopped_) return;
                     }
                     (this->*tick)();
                     Every(period, tick);
                   }));
}

void SharedCoordinator::ClaimTick() {
  std::vector<std::string> waiting;
  {
    absl::MutexLock lock(&mu_);
    if (!shared_ || listeners_.empty()) return;
    // Subscribers still waiting for their first state: their rows are read
    // again each round, so a lost hint or a read fenced off costs a round,
    // not a sweep period.
    for (const auto& [k, ks] : keys_) {
      if (!ks->tokens.empty() && !ks->waiting.empty()) waiting.push_back(k);
    }
  }
  LoadKeys(std::move(waiting));
  const double rate = options_.max_polls_per_second > 0 ? options_.max_polls_per_second : 1;
  store_->Claim(options_.replica, options_.claim_batch, absl::Seconds(1) / rate, options_.claim_period,
                options_.lease, Guard([this](absl::StatusOr<std::vector<StoredClaim>> claims) {
                  if (Failed(claims.status())) return;
                  Handout(*std::move(claims), gw::EVENT_SOURCE_POLL, "", "");
                }));
}

void SharedCoordinator::RefreshTick() {
  std::vector<WatchKey> keys;
  {
    absl::MutexLock lock(&mu_);
    if (!shared_ || recovering_) return;
    for (const auto& [k, ks] : keys_) {
      if (!ks->tokens.empty()) keys.push_back(ks->key);
    }
  }
  if (keys.empty()) return;
  store_->AddInterest(options_.replica, keys, /*fresh=*/false, options_.interest_ttl,
                      Guard([this](absl::StatusOr<int> replicas) {
                        if (Failed(replicas.status())) return;
                        absl::MutexLock lock(&mu_);
                        replicas_ = std::max(1, *replicas);
                      }));
}

void SharedCoordinator::SweepTick() {
  {
    absl::MutexLock lock(&mu_);
    if (!shared_ || recovering_) return;
  }
  LoadKeys(WatchedKeys());
}

void SharedCoordinator::ProbeTick() { Recover(); }

void SharedCoordinator::FlushHints() {
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    keys.assign(hinted_.begin(), hinted_.end());
    hinted_.clear();
  }
  LoadKeys(std::move(keys));
}

// ---- Degraded mode -----------------------------------------------------------

void SharedCoordinator::Degrade(const absl::Status& why) {
  std::vector<std::tuple<WatchKey, uint64_t, std::vector<WatchRow>>> keys;
  int replicas;
  {
    absl::MutexLock lock(&mu_);
    if (!shared_ || stopped_) return;
    shared_ = false;
    ++stats_.transitions;
    replicas = replicas_;
    for (auto& [k, ks] : keys_) {
      if (ks->tokens.empty() || ks->local_token != 0) continue;
      ks->local_token = next_local_token_++;
      std::vector<WatchRow> rows;
      for (const auto& [id, row] : ks->rows) rows.push_back(row);
      keys.emplace_back(ks->key, ks->local_token, std::move(rows));
    }
  }
  local_budget_.SetRate(options_.max_polls_per_second / std::max(1, replicas));
  Log(LogLevel::kWarning, "watch",
      "shared watch state unreachable: watches go on in local mode (this replica polls its own "
      "subscribed keys on its share of the poll budget)",
      {{"replica", options_.replica}, {"replicas", std::to_string(replicas)},
       {"keys", std::to_string(keys.size())}, {"error", std::string(why.message())}});
  for (auto& [key, token, rows] : keys) {
    // Known rows keep their numbers; the first local poll comes through
    // the budget, not all at once.
    const std::string k = key.str();
    local_.Seed(key, rows, /*current=*/!rows.empty());
    local_.Watch(key, token, Guard([this, k](std::vector<WatchRow> rows) {
                   OnFallbackLoaded(k, std::move(rows));
                 }));
  }
}

void SharedCoordinator::OnFallbackLoaded(const std::string& key, std::vector<WatchRow> rows) {
  AnnounceRows(key, std::move(rows), /*complete=*/true);
}

void SharedCoordinator::Recover() {
  std::vector<WatchKey> keys;
  {
    absl::MutexLock lock(&mu_);
    if (shared_ || recovering_ || stopped_) return;
    recovering_ = true;
    for (const auto& [k, ks] : keys_) {
      if (!ks->tokens.empty()) keys.push_back(ks->key);
    }
  }
  auto give_up = [this](const absl::Status& s) {
    // Still unreachable: the local polls go on (or start again).
    std::vector<std::tuple<WatchKey, uint64_t, std::vector<WatchRow>>> restart;
    {
      absl::MutexLock lock(&mu_);
      recovering_ = false;
      for (auto& [k, ks] : keys_) {
        if (ks->tokens.empty() || ks->local_token != 0) continue;
        ks->local_token = next_local_token_++;
        std::vector<WatchRow> rows;
        for (const auto& [id, row] : ks->rows) rows.push_back(row);
        restart.emplace_back(ks->key, ks->local_token, std::move(rows));
      }
    }
    for (auto& [key, token, rows] : restart) {
      const std::string k = key.str();
      local_.Seed(key, rows, !rows.empty());
      local_.Watch(key, token, Guard([this, k](std::vector<WatchRow> rows) {
                     OnFallbackLoaded(k, std::move(rows));
                   }));
    }
    Log(LogLevel::kDebug, "watch", "shared watch state still unreachable",
        {{"error", std::string(s.message())}});
  };
  store_->AddInterest(
      options_.replica, keys, /*fresh=*/false, options_.interest_ttl,
      Guard([this, keys, give_up](absl::StatusOr<int> replicas) {
        if (!replicas.ok()) {
          give_up(replicas.status());
          return;
        }
        // Stop the local polls first, so no row is numbered locally after
        // the floors are pushed.
        std::vector<std::pair<WatchKey, uint64_t>> local;
        {
          absl::MutexLock lock(&mu_);
          replicas_ = std::max(1, *replicas);
          for (auto& [k, ks] : keys_) {
            if (ks->local_token != 0) local.emplace_back(ks->key, std::exchange(ks->local_token, 0));
          }
        }
        for (const auto& [key, token] : local) local_.Unwatch(key, token);
        std::vector<StoredRow> floors;
        for (const auto& [key, rows] : local_.Rows()) {
          for (const WatchRow& row : rows) {
            StoredRow sr;
            sr.key = key;
            sr.item = row.item.id;
            sr.sequence = row.sequence;
            sr.fingerprint = row.item.fingerprint;
            sr.terminal = row.item.terminal;
            sr.source = row.source;
            sr.observed = row.observed;
            if (row.item.value != nullptr) sr.value = row.item.value->SerializeAsString();
            floors.push_back(std::move(sr));
          }
        }
        std::vector<std::string> names;
        for (const WatchKey& k : keys) names.push_back(k.str());
        store_->PushRows(floors, Guard([this, names, give_up](absl::Status s) {
                           if (!s.ok()) {
                             give_up(s);
                             return;
                           }
                           store_->Load(names, options_.replica,
                                        Guard([this, give_up](
                                                  absl::StatusOr<std::map<std::string, StoredKey>> loaded) {
                                          if (!loaded.ok()) {
                                            give_up(loaded.status());
                                            return;
                                          }
                                          {
                                            absl::MutexLock lock(&mu_);
                                            shared_ = true;
                                            recovering_ = false;
                                            ++stats_.transitions;
                                          }
                                          Log(LogLevel::kInfo, "watch",
                                              "shared watch state reachable again: watches are "
                                              "shared across replicas",
                                              {{"replica", options_.replica}});
                                          for (const auto& [key, stored] : *loaded) Announce(key, stored);
                                        }));
                         }));
      }));
}

}  // namespace tlgw
