// The WatchStore contract, run against the in-memory store the cluster
// unit tests use and against PostgreSQL (a real server from the fixture,
// one database per test): fences, numbering, interest, the shared budget,
// the 429 block, webhooks' reach, hints, floors, hand-back, outages.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/common/clock.h"
#include "server/watch/pg_watch_store.h"
#include "server/watch/watch_store.h"
#include "tests/support/memory_watch_store.h"
#include "tests/support/postgres_fixture.h"

namespace tlgw {
namespace {

// Calls `f(done)` and waits for `done`'s value.
template <typename T, typename F>
T Sync(F f) {
  absl::Notification n;
  std::optional<T> out;
  f([&](T v) {
    out.emplace(std::move(v));
    n.Notify();
  });
  EXPECT_TRUE(n.WaitForNotificationWithTimeout(absl::Seconds(30)));
  return *std::move(out);
}

class Env {
 public:
  virtual ~Env() = default;
  virtual WatchStore* store() = 0;
  // A database outage and its end.
  virtual void Down() = 0;
  virtual void Up() = 0;
};

class MemoryEnv : public Env {
 public:
  WatchStore* store() override { return &store_; }
  void Down() override { store_.SetDown(true); }
  void Up() override { store_.SetDown(false); }

 private:
  RealClock clock_;
  MemoryWatchStore store_{&clock_};
};

class PgEnv : public Env {
 public:
  explicit PgEnv(bool own_server) {
    if (own_server) {
      auto s = tltest::PostgresServer::Create();
      if (!s.ok()) ADD_FAILURE() << s.status();
      own_ = *std::move(s);
      server_ = own_.get();
    } else {
      auto s = tltest::PostgresServer::Shared();
      if (!s.ok()) ADD_FAILURE() << s.status();
      server_ = *s;
    }
    auto db = server_->CreateDatabase("watch");
    if (!db.ok()) ADD_FAILURE() << db.status();
    conninfo_ = *db;
    absl::Status m = PgWatchStore::Migrate(conninfo_, absl::Seconds(10));
    EXPECT_TRUE(m.ok()) << m;
    EXPECT_TRUE(PgWatchStore::Migrate(conninfo_, absl::Seconds(10)).ok()) << "a second start finds the tables";
    PgWatchStoreOptions o;
    o.conninfo = conninfo_;
    o.connect_timeout = absl::Seconds(1);
    store_ = std::make_unique<PgWatchStore>(o);
  }
  ~PgEnv() override { store_.reset(); }
  WatchStore* store() override { return store_.get(); }
  void Down() override { ASSERT_TRUE(server_->Stop().ok()); }
  void Up() override { ASSERT_TRUE(server_->Start().ok()) << server_->LogTail(); }

 private:
  std::unique_ptr<tltest::PostgresServer> own_;
  tltest::PostgresServer* server_ = nullptr;
  std::string conninfo_;
  std::unique_ptr<PgWatchStore> store_;
};

enum class Backend { kMemory, kPostgres };

class WatchStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<Env> MakeEnv(bool own_server = false) {
    if (GetParam() == Backend::kMemory) return std::make_unique<MemoryEnv>();
    return std::make_unique<PgEnv>(own_server);
  }
  void SetUp() override { env_ = MakeEnv(); }
  WatchStore* s() { return env_->store(); }

  absl::StatusOr<int> Interest(const std::string& replica, const std::vector<WatchKey>& keys,
                               bool fresh = true) {
    return Sync<absl::StatusOr<int>>(
        [&](auto done) { s()->AddInterest(replica, keys, fresh, absl::Seconds(30), std::move(done)); });
  }
  std::vector<StoredClaim> Claim(const std::string& replica, int max = 10,
                                 absl::Duration spacing = absl::Milliseconds(1)) {
    auto r = Sync<absl::StatusOr<std::vector<StoredClaim>>>([&](auto done) {
      s()->Claim(replica, max, spacing, absl::Milliseconds(250), absl::Seconds(15), std::move(done));
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<StoredClaim>{};
  }
  std::vector<StoredClaim> Take(const std::string& replica, const WatchKey& key) {
    auto r = Sync<absl::StatusOr<std::vector<StoredClaim>>>(
        [&](auto done) { s()->Take(replica, {key.str()}, absl::Seconds(15), std::move(done)); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<StoredClaim>{};
  }
  StoredPublish Outcome(const std::string& replica, const StoredClaim& c,
                        std::vector<std::pair<std::string, std::string>> items) {
    StoredPublish p;
    p.replica = replica;
    p.key = c.key;
    p.fence = c.fence;
    p.read_ok = true;
    for (auto& [id, fp] : items) {
      StoredPublish::Item i;
      i.id = id;
      i.fingerprint = fp;
      i.value = "\x01\x02 value of " + fp;  // bytes, including a NUL-free binary prefix
      p.items.push_back(std::move(i));
    }
    p.source = 1;
    p.cursor = "c1";
    p.next_poll = absl::Seconds(5);
    return p;
  }
  StoredPublishResult Publish(StoredPublish p) {
    auto r = Sync<absl::StatusOr<StoredPublishResult>>(
        [&](auto done) { s()->Publish(std::move(p), std::move(done)); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : StoredPublishResult{};
  }
  StoredKey Load(const WatchKey& key) {
    auto r = Sync<absl::StatusOr<std::map<std::string, StoredKey>>>(
        [&](auto done) { s()->Load({key.str()}, "x", std::move(done)); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[key.str()] : StoredKey{};
  }

  const WatchKey task_{"task", "t1", "aaaaaaaaaaaaaaaaaaaaaaaa"};
  std::unique_ptr<Env> env_;
};

TEST_P(WatchStoreTest, AWatchedKeyIsClaimedByOneReplicaUntilItsLeaseRunsOut) {
  ASSERT_EQ(*Interest("a", {task_}), 1);
  ASSERT_EQ(*Interest("b", {task_}), 2);
  auto a = Claim("a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].key.str(), task_.str());
  EXPECT_EQ(a[0].key.subject, task_.subject);
  EXPECT_TRUE(Claim("b").empty()) << "the provisional lease keeps others off";
  EXPECT_FALSE(Load(task_).current) << "not read yet";
}

TEST_P(WatchStoreTest, PublishIsFencedAndNumbersOnlyRealChanges) {
  ASSERT_TRUE(Interest("a", {task_}).ok());
  auto stale = Claim("a");
  ASSERT_EQ(stale.size(), 1u);
  auto taken = Take("b", task_);  // a webhook at b takes the poll
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_GT(taken[0].fence, stale[0].fence);

  EXPECT_FALSE(Publish(Outcome("a", stale[0], {{"x", "indexing"}})).accepted) << "fenced off";
  EXPECT_TRUE(Load(task_).rows.empty());

  auto first = Publish(Outcome("b", taken[0], {{"x", "indexing"}}));
  ASSERT_TRUE(first.accepted);
  ASSERT_EQ(first.changed.size(), 1u);
  const int64_t s1 = first.changed[0].sequence;
  EXPECT_GT(s1, 0);

  auto again = Take("b", task_);
  auto same = Publish(Outcome("b", again[0], {{"x", "indexing"}}));
  EXPECT_TRUE(same.accepted);
  EXPECT_TRUE(same.changed.empty()) << "the same state is no change";

  again = Take("b", task_);
  auto changed = Publish(Outcome("b", again[0], {{"x", "ready"}, {"y", "queued"}}));
  ASSERT_EQ(changed.changed.size(), 2u);
  EXPECT_GT(changed.changed[0].sequence, s1);
  EXPECT_GT(changed.changed[1].sequence, changed.changed[0].sequence) << "one numbering per key";

  StoredKey k = Load(task_);
  EXPECT_TRUE(k.current);
  ASSERT_EQ(k.rows.size(), 2u);
  EXPECT_EQ(k.rows[0].item, "x");
  EXPECT_EQ(k.rows[0].fingerprint, "ready");
  EXPECT_EQ(k.rows[0].value, "\x01\x02 value of ready");
  EXPECT_EQ(k.rows[1].sequence, changed.changed[1].sequence);
  EXPECT_EQ(Take("b", task_)[0].cursor, "c1");
}

TEST_P(WatchStoreTest, PushedRowsAreFloorsForLaterNumbers) {
  ASSERT_TRUE(Interest("a", {task_}).ok());
  auto c = Claim("a");
  ASSERT_EQ(c.size(), 1u);
  auto first = Publish(Outcome("a", c[0], {{"x", "indexing"}}));
  ASSERT_EQ(first.changed.size(), 1u);
  // A replica numbered a change alone, far above the store's clock.
  StoredRow local = first.changed[0];
  local.sequence = first.changed[0].sequence + 3600LL * 1000000;
  local.fingerprint = "ready";
  local.value = "v";
  ASSERT_TRUE(Sync<absl::Status>([&](auto done) { s()->PushRows({local}, std::move(done)); }).ok());
  StoredRow older = local;
  older.sequence = first.changed[0].sequence - 5;
  older.fingerprint = "pending";
  ASSERT_TRUE(Sync<absl::Status>([&](auto done) { s()->PushRows({older}, std::move(done)); }).ok());
  StoredKey k = Load(task_);
  ASSERT_EQ(k.rows.size(), 1u);
  EXPECT_EQ(k.rows[0].fingerprint, "ready") << "an older row does not replace a newer one";
  auto next = Publish(Outcome("a", Take("a", task_)[0], {{"x", "indexing again"}}));
  ASSERT_EQ(next.changed.size(), 1u);
  EXPECT_EQ(next.changed[0].sequence, local.sequence + 1);
}

TEST_P(WatchStoreTest, AWebhookReachesEveryWatchedKeyAboutItsItem) {
  const WatchKey index{"index", "t1", "bbbbbbbbbbbbbbbbbbbbbbbb"};
  const WatchKey other{"task", "t2", "cccccccccccccccccccccccc"};
  ASSERT_TRUE(Interest("a", {task_, index, other}).ok());
  auto claims = Claim("a");
  ASSERT_EQ(claims.size(), 3u);
  for (const auto& c : claims) {
    if (c.key.kind == "index") Publish(Outcome("a", c, {{task_.subject, "indexing"}}));
  }
  auto t = Sync<absl::StatusOr<std::vector<StoredClaim>>>(
      [&](auto done) { s()->TakeItem("b", "task", task_.subject, absl::Seconds(15), std::move(done)); });
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].key.str(), task_.str());
  auto x = Sync<absl::StatusOr<std::vector<StoredClaim>>>(
      [&](auto done) { s()->TakeItem("b", "index", task_.subject, absl::Seconds(15), std::move(done)); });
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_EQ(x->size(), 1u) << "the index watch holds the task";
  EXPECT_EQ((*x)[0].key.str(), index.str());
}

TEST_P(WatchStoreTest, ClaimsTellEveryReplicaThatWebhooksFlow) {
  ASSERT_TRUE(Interest("a", {task_}).ok());
  auto first = Claim("a");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].since_webhook, absl::InfiniteDuration()) << "no webhook yet";
  Publish(Outcome("a", first[0], {{"x", "indexing"}}));
  auto t = Sync<absl::StatusOr<std::vector<StoredClaim>>>(
      [&](auto done) { s()->TakeItem("b", "task", "nothing-watched", absl::Seconds(15), std::move(done)); });
  ASSERT_TRUE(t.ok()) << t.status();
  auto taken = Take("a", task_);
  ASSERT_EQ(taken.size(), 1u);
  StoredPublish p = Outcome("a", taken[0], {{"x", "indexing"}});
  p.next_poll = absl::ZeroDuration();
  Publish(std::move(p));
  auto next = Claim("c");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_LT(next[0].since_webhook, absl::Minutes(1)) << "b's webhook is known to c";
}

TEST_P(WatchStoreTest, TheBudgetIsSharedByEveryReplica) {
  std::vector<WatchKey> keys;
  for (int i = 0; i < 6; ++i) keys.push_back(WatchKey{"task", "t1", absl::StrCat("dddddddddddddddddddddd", 10 + i)});
  ASSERT_TRUE(Interest("a", keys).ok());
  // One slot per 100 ms, claims looking 250 ms ahead: three slots.
  auto a = Claim("a", 10, absl::Milliseconds(100));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_LT(a[0].read_after, a[1].read_after);
  EXPECT_LT(a[1].read_after, a[2].read_after);
  EXPECT_GE(a[2].read_after - a[0].read_after, absl::Milliseconds(199));
  EXPECT_TRUE(Claim("b", 10, absl::Milliseconds(100)).empty()) << "b finds the budget spent";
}

TEST_P(WatchStoreTest, AnUpstream429BlocksEveryReplicasClaims) {
  const WatchKey other{"task", "t1", "cccccccccccccccccccccccc"};
  ASSERT_TRUE(Interest("a", {task_, other}).ok());
  auto c = Claim("a", 1);
  ASSERT_EQ(c.size(), 1u);
  StoredPublish p = Outcome("a", c[0], {});
  p.read_ok = false;
  p.failures = 1;
  p.block_polls = absl::Seconds(30);
  ASSERT_TRUE(Publish(std::move(p)).accepted);
  EXPECT_TRUE(Claim("b").empty()) << "the other key is due but nobody may poll";
}

TEST_P(WatchStoreTest, AnEndedWatchIsSeenEverywhereAndStartsOverWhenWatchedAfresh) {
  ASSERT_TRUE(Interest("a", {task_}).ok());
  ASSERT_TRUE(Interest("b", {task_}).ok());
  auto c = Claim("a");
  ASSERT_EQ(c.size(), 1u);
  StoredPublish p = Outcome("a", c[0], {});
  p.read_ok = false;
  p.ended = absl::NotFoundError("no such task");
  ASSERT_TRUE(Publish(std::move(p)).accepted);
  StoredKey k = Load(task_);
  EXPECT_EQ(k.ended.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(k.ended.message(), "no such task");
  EXPECT_TRUE(Claim("b").empty());
  ASSERT_TRUE(Interest("c", {task_}).ok());
  EXPECT_TRUE(Load(task_).ended.ok()) << "a fresh watcher starts over";
  EXPECT_EQ(Claim("c").size(), 1u);
}

TEST_P(WatchStoreTest, InterestRefreshesDropsAndHandsBack) {
  ASSERT_TRUE(Interest("a", {task_}).ok());
  ASSERT_TRUE(Interest("b", {task_}).ok());
  ASSERT_EQ(Claim("a").size(), 1u);
  // a shuts down: its claim is due again at once, its interest gone.
  ASSERT_TRUE(Sync<absl::Status>([&](auto done) { s()->HandBack("a", std::move(done)); }).ok());
  EXPECT_EQ(Claim("b").size(), 1u);
  ASSERT_TRUE(Sync<absl::Status>([&](auto done) { s()->DropInterest("b", {task_.str()}, std::move(done)); }).ok());
  EXPECT_FALSE(Load(task_).current);
  EXPECT_TRUE(Claim("b").empty()) << "nobody watches it";
  ASSERT_EQ(*Interest("c", {task_}), 1) << "a and b left";
}

TEST_P(WatchStoreTest, ChangesAreHintedToListeners) {
  absl::Mutex mu;
  std::vector<std::pair<std::string, int64_t>> hints;
  absl::Notification channel_up;
  s()->Listen(
      "b",
      [&](const std::string& key, int64_t seq) {
        absl::MutexLock lock(&mu);
        hints.emplace_back(key, seq);
      },
      [&](bool up) {
        if (up && !channel_up.HasBeenNotified()) channel_up.Notify();
      });
  ASSERT_TRUE(channel_up.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(Interest("a", {task_}).ok());
  auto c = Claim("a");
  ASSERT_EQ(c.size(), 1u);
  auto r = Publish(Outcome("a", c[0], {{"x", "indexing"}}));
  ASSERT_EQ(r.changed.size(), 1u);
  absl::MutexLock lock(&mu);
  auto got = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !hints.empty(); };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&got), absl::Seconds(30)));
  EXPECT_EQ(hints[0].first, task_.str());
  EXPECT_EQ(hints[0].second, r.changed[0].sequence);
}

TEST_P(WatchStoreTest, AnOutageFailsCallsUnavailableAndTheStoreComesBack) {
  env_.reset();
  env_ = MakeEnv(/*own_server=*/true);
  ASSERT_TRUE(Interest("a", {task_}).ok());
  env_->Down();
  auto r = Interest("a", {task_});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  env_->Up();
  absl::StatusOr<int> back = absl::UnavailableError("");
  // The first call after the server came back may find a dead connection,
  // and calls fail fast for 500 ms after a failed connection attempt.
  for (int i = 0; i < 20 && !back.ok(); ++i) {
    back = Interest("a", {task_});
    if (!back.ok()) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(back.ok()) << back.status();
}

INSTANTIATE_TEST_SUITE_P(Stores, WatchStoreTest, ::testing::Values(Backend::kMemory, Backend::kPostgres),
                         [](const auto& info) { return info.param == Backend::kMemory ? "Memory" : "Postgres"; });

}  // namespace
}  // namespace tlgw
