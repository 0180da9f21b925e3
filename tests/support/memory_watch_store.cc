#include "tests/support/memory_watch_store.h"

#include <algorithm>

namespace tlgw {

namespace {

absl::Status Down() { return absl::UnavailableError("the watch store is down (test)"); }

}  // namespace

void MemoryWatchStore::SetDown(bool down) {
  std::vector<std::shared_ptr<Channel>> channels;
  {
    absl::MutexLock lock(&mu_);
    if (down_ == down) return;
    down_ = down;
    for (auto& [replica, c] : channels_) channels.push_back(c);
  }
  for (auto& c : channels) c->on_channel(!down);
}

void MemoryWatchStore::Disconnect(const std::string& replica) {
  absl::MutexLock lock(&mu_);
  channels_.erase(replica);
}

std::vector<StoredRow> MemoryWatchStore::rows(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  std::vector<StoredRow> out;
  auto it = state_.find(key);
  if (it == state_.end()) return out;
  for (const auto& [item, row] : it->second) out.push_back(row);
  std::sort(out.begin(), out.end(), [](const StoredRow& a, const StoredRow& b) { return a.sequence < b.sequence; });
  return out;
}

int64_t MemoryWatchStore::fence(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = polls_.find(key);
  return it == polls_.end() ? 0 : it->second.fence;
}

int MemoryWatchStore::interest(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [k, expires] : interest_) n += k.first == key ? 1 : 0;
  return n;
}

bool MemoryWatchStore::LiveInterestLocked(const std::string& key, const std::string& except,
                                          absl::Time now) const {
  for (auto it = interest_.lower_bound({key, ""}); it != interest_.end() && it->first.first == key; ++it) {
    if (it->first.second != except && it->second > now) return true;
  }
  return false;
}

int MemoryWatchStore::LiveReplicasLocked(absl::Time now) const {
  std::set<std::string> live;
  for (const auto& [k, expires] : interest_) {
    if (expires > now) live.insert(k.second);
  }
  return static_cast<int>(live.size());
}

void MemoryWatchStore::Listen(const std::string& replica,
                              absl::AnyInvocable<void(const std::string&, int64_t)> on_hint,
                              absl::AnyInvocable<void(bool)> on_channel) {
  auto c = std::make_shared<Channel>();
  c->on_hint = std::move(on_hint);
  c->on_channel = std::move(on_channel);
  bool up;
  {
    absl::MutexLock lock(&mu_);
    channels_[replica] = c;
    up = !down_;
  }
  if (up) c->on_channel(true);
}

void MemoryWatchStore::AddInterest(const std::string& replica, const std::vector<WatchKey>& keys,
                                   bool fresh, absl::Duration ttl,
                                   absl::AnyInvocable<void(absl::StatusOr<int>)> done) {
  absl::StatusOr<int> result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      const absl::Time now = clock_->Now();
      for (const WatchKey& key : keys) {
        const std::string k = key.str();
        const bool others = LiveInterestLocked(k, replica, now);
        interest_[{k, replica}] = now + ttl;
        auto [it, created] = polls_.try_emplace(k);
        Poll& p = it->second;
        if (created || (fresh && (!p.ended.ok() || !others))) {
          // Nobody else keeps it current: it starts over (a read at once).
          p.key = key;
          p.next_poll_at = now;
          p.cursor.clear();
          p.failures = 0;
          p.primed = false;
          p.finished = false;
          p.ended = absl::OkStatus();
        }
      }
      result = LiveReplicasLocked(now);
    }
  }
  done(std::move(result));
}

void MemoryWatchStore::DropInterest(const std::string& replica, const std::vector<std::string>& keys,
                                    absl::AnyInvocable<void(absl::Status)> done) {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      for (const std::string& k : keys) {
        interest_.erase({k, replica});
        auto it = interest_.lower_bound({k, ""});
        if (it == interest_.end() || it->first.first != k) polls_.erase(k);
      }
    }
  }
  done(result);
}

StoredClaim MemoryWatchStore::TakeLocked(Poll& p, const std::string& replica, absl::Time now,
                                         absl::Duration lease) {
  ++p.fence;
  p.poller = replica;
  p.next_poll_at = now + lease;  // provisional: the publish sets the real one
  StoredClaim c;
  c.key = p.key;
  c.fence = p.fence;
  c.cursor = p.cursor;
  c.failures = p.failures;
  c.read_after = absl::ZeroDuration();
  c.lease = lease;
  c.since_webhook = webhook_at_ == absl::InfinitePast() ? absl::InfiniteDuration() : now - webhook_at_;
  return c;
}

void MemoryWatchStore::Claim(const std::string& replica, int max, absl::Duration spacing,
                             absl::Duration horizon, absl::Duration lease,
                             absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  absl::StatusOr<std::vector<StoredClaim>> result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      const absl::Time now = clock_->Now();
      std::vector<StoredClaim> claims;
      if (now >= blocked_until_) {
        // Due before the next round: claimed now, read at the due time (or
        // the budget slot, if later).
        const absl::Time last = now + horizon;
        std::vector<Poll*> due;
        for (auto& [k, p] : polls_) {
          if (!p.finished && p.ended.ok() && p.next_poll_at <= last && LiveInterestLocked(k, "", now)) {
            due.push_back(&p);
          }
        }
        std::sort(due.begin(), due.end(), [](const Poll* a, const Poll* b) {
          return a->next_poll_at < b->next_poll_at;
        });
        absl::Time next_free = std::max(now, next_free_);
        for (Poll* p : due) {
          if (static_cast<int>(claims.size()) >= max) break;
          const absl::Time slot = std::max(next_free, p->next_poll_at);
          if (slot > last) break;  // the budget is spent for this round
          next_free = slot + spacing;
          StoredClaim c = TakeLocked(*p, replica, now, lease);
          p->next_poll_at = slot + lease;
          c.read_after = slot - now;
          claims.push_back(std::move(c));
        }
        if (!claims.empty()) next_free_ = next_free;
      }
      result = std::move(claims);
    }
  }
  done(std::move(result));
}

void MemoryWatchStore::Take(const std::string& replica, const std::vector<std::string>& keys,
                            absl::Duration lease,
                            absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  absl::StatusOr<std::vector<StoredClaim>> result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      const absl::Time now = clock_->Now();
      std::vector<StoredClaim> claims;
      for (const std::string& k : keys) {
        auto it = polls_.find(k);
        if (it != polls_.end() && it->second.ended.ok()) {
          claims.push_back(TakeLocked(it->second, replica, now, lease));
        }
      }
      result = std::move(claims);
    }
  }
  done(std::move(result));
}

void MemoryWatchStore::TakeItem(const std::string& replica, const std::string& kind,
                                const std::string& item, absl::Duration lease,
                                absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) {
  absl::StatusOr<std::vector<StoredClaim>> result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      const absl::Time now = clock_->Now();
      webhook_at_ = now;
      std::vector<StoredClaim> claims;
      for (auto& [k, p] : polls_) {
        if (p.key.kind != kind || !p.ended.ok() || !LiveInterestLocked(k, "", now)) continue;
        auto rows = state_.find(k);
        const bool holds = p.key.subject == item || (rows != state_.end() && rows->second.count(item) > 0);
        if (holds) claims.push_back(TakeLocked(p, replica, now, lease));
      }
      result = std::move(claims);
    }
  }
  done(std::move(result));
}

void MemoryWatchStore::Publish(StoredPublish sp,
                               absl::AnyInvocable<void(absl::StatusOr<StoredPublishResult>)> done) {
  absl::StatusOr<StoredPublishResult> result;
  Hints hints;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      StoredPublishResult r;
      const std::string k = sp.key.str();
      auto it = polls_.find(k);
      if (it != polls_.end() && it->second.fence == sp.fence) {
        r.accepted = true;
        Poll& p = it->second;
        const absl::Time now = clock_->Now();
        if (!sp.ended.ok()) {
          p.ended = sp.ended;
          hints.emplace_back(k, 0);
        } else {
          auto& rows = state_[k];
          int64_t prev = 0;
          for (const auto& [id, row] : rows) prev = std::max(prev, row.sequence);
          for (StoredPublish::Item& item : sp.items) {
            auto found = rows.find(item.id);
            if (found != rows.end() && found->second.fingerprint == item.fingerprint) continue;
            StoredRow row;
            row.key = k;
            row.item = item.id;
            row.sequence = prev = std::max(prev + 1, absl::ToUnixMicros(now));
            row.fingerprint = std::move(item.fingerprint);
            row.terminal = item.terminal;
            row.source = p.primed ? sp.source : twelvelabs::gateway::v1::EVENT_SOURCE_SNAPSHOT;
            row.observed = now;
            row.value = std::move(item.value);
            rows[row.item] = row;
            hints.emplace_back(k, row.sequence);
            r.changed.push_back(std::move(row));
          }
          if (sp.read_ok) {
            p.cursor = std::move(sp.cursor);
            p.primed = true;
          }
          p.failures = sp.failures;
          p.finished = sp.finished;
          p.next_poll_at = now + sp.next_poll;
          p.poller.clear();
        }
        if (sp.block_polls > absl::ZeroDuration()) {
          blocked_until_ = std::max(blocked_until_, now + sp.block_polls);
        }
      }
      result = std::move(r);
    }
  }
  done(std::move(result));
  SendHints(hints);
}

void MemoryWatchStore::SendHints(const Hints& hints) {
  if (hints.empty()) return;
  std::vector<std::shared_ptr<Channel>> channels;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [replica, c] : channels_) channels.push_back(c);
  }
  for (const auto& [key, seq] : hints) {
    for (auto& c : channels) c->on_hint(key, seq);
  }
}

void MemoryWatchStore::Load(const std::vector<std::string>& keys, const std::string& replica,
                            absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, StoredKey>>)> done) {
  absl::StatusOr<std::map<std::string, StoredKey>> result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      std::map<std::string, StoredKey> out;
      for (const std::string& k : keys) {
        StoredKey& sk = out[k];
        auto rows = state_.find(k);
        if (rows != state_.end()) {
          for (const auto& [item, row] : rows->second) sk.rows.push_back(row);
          std::sort(sk.rows.begin(), sk.rows.end(),
                    [](const StoredRow& a, const StoredRow& b) { return a.sequence < b.sequence; });
        }
        auto p = polls_.find(k);
        if (p != polls_.end()) {
          sk.current = p->second.primed && p->second.ended.ok();
          sk.ended = p->second.ended;
        }
      }
      result = std::move(out);
    }
  }
  done(std::move(result));
}

void MemoryWatchStore::PushRows(const std::vector<StoredRow>& rows, absl::AnyInvocable<void(absl::Status)> done) {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      for (const StoredRow& r : rows) {
        StoredRow& mine = state_[r.key][r.item];
        if (r.sequence > mine.sequence) mine = r;
      }
    }
  }
  done(result);
}

void MemoryWatchStore::HandBack(const std::string& replica, absl::AnyInvocable<void(absl::Status)> done) {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (down_) {
      result = Down();
    } else {
      const absl::Time now = clock_->Now();
      for (auto& [k, p] : polls_) {
        if (p.poller == replica) {
          p.next_poll_at = now;
          p.poller.clear();
        }
      }
      std::vector<std::string> mine;
      for (const auto& [k, expires] : interest_) {
        if (k.second == replica) mine.push_back(k.first);
      }
      for (const std::string& k : mine) {
        interest_.erase({k, replica});
        auto it = interest_.lower_bound({k, ""});
        if (it == interest_.end() || it->first.first != k) polls_.erase(k);
      }
    }
  }
  done(result);
}

}  // namespace tlgw
