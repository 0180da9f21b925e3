// Several replicas as one gateway, end to end: one real PostgreSQL (the
// fixture), one simulator, three gateway processes on loopback sharing the
// database (--state_store=postgres:...). Two tenants share one upstream
// key, so every read needs the shared ownership records.
#include <openssl/sha.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "tests/support/postgres_fixture.h"
#include "postgresql/libpq-fe.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using ::tlgw::ErrorInfoOf;
using ::tlgw::RetryDelayOf;
using nlohmann::json;

constexpr char kSharedKey[] = "tlk_cluster_shared_Jq3Vb8";
constexpr char kMediaToken[] = "tlgw_cluster_media_W2pX9r";
constexpr char kNewsToken[] = "tlgw_cluster_news_L5kT0a";
// One call per hour, burst 3: only what replicas tell each other matters.
constexpr char kLimitedToken[] = "tlgw_cluster_limited_P7nQ4c";
// In the conninfo only to prove it is never logged (the fixture's server
// trusts loopback, so it is never sent either).
constexpr char kDbPassword[] = "pgPass_Zr8Kq2Wm";

std::string Sha256Hex(const std::string& s) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

struct Replica {
  GatewayProcess process;
  std::unique_ptr<gw::UploadService::Stub> uploads;
  std::unique_ptr<gw::TaskService::Stub> tasks;
};

class ClusterE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    auto server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    ASSERT_TRUE(server_->running() || server_->Start().ok());
    auto db = server_->CreateDatabase("cluster");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = absl::StrCat(*db, " password=", kDbPassword);
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--api_keys=", kSharedKey)}));
    const std::string key_file = TempPath("cluster.key");
    std::ofstream(key_file) << kSharedKey;
    const json key = json::array({{{"file", key_file}}});
    const json config = {
        {"tenants", {{{"name", "media"}, {"api_keys", key}}, {{"name", "news"}, {"api_keys", key}}}},
        {"clients",
         {{{"id", "media-svc"}, {"token_sha256", Sha256Hex(kMediaToken)}, {"tenant", "media"}, {"methods", {"*"}}},
          {{"id", "news-svc"}, {"token_sha256", Sha256Hex(kNewsToken)}, {"tenant", "news"}, {"methods", {"*"}}},
          {{"id", "limited"},
           {"token_sha256", Sha256Hex(kLimitedToken)},
           {"tenant", "media"},
           {"methods", {"*"}},
           {"rate_limit", {{"requests_per_second", 1.0 / 3600}, {"burst", 3}}}}}}};
    for (const char* id : {"a", "b", "c"}) {
      GatewayArgs args;
      args.upstream_url = sim_.Url("v1.3");
      args.api_key = "";
      args.config_json = config.dump();
      args.state_store = "postgres:" + conninfo_;
      args.extra_args = {absl::StrCat("--replica_id=replica-", id), "--config_poll_seconds=0"};
      auto g = StartGateway(args);
      ASSERT_TRUE(g.ok()) << g.status();
      Replica r;
      r.process = *std::move(g);
      r.uploads = gw::UploadService::NewStub(r.process.channel);
      r.tasks = gw::TaskService::NewStub(r.process.channel);
      replicas_.push_back(std::move(r));
    }
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = Ctx();
    ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }
  static gw::CreateUrlTaskRequest UrlRequest(const std::string& request_id, const std::string& url) {
    gw::CreateUrlTaskRequest r;
    r.set_index_id(kSeedIndex);
    r.set_video_url(url);
    r.set_request_id(request_id);
    return r;
  }
  grpc::Status Get(Replica& r, const std::string& token, const std::string& id, gw::Task* out = nullptr) {
    gw::GetTaskRequest req;
    req.set_task_id(id);
    gw::Task t;
    return r.tasks->GetTask(As(token).get(), req, out != nullptr ? out : &t);
  }
  // POST /v1.3/tasks requests the simulator received.
  int UpstreamCreates() {
    int n = 0;
    for (const auto& r : control_->Requests("/tasks")) {
      if (r["method"] == "POST" && absl::EndsWith(r["path"].get<std::string>(), "/tasks")) ++n;
    }
    return n;
  }

  // Hours until the shared bucket of `key` is empty again (0 without a row).
  double SharedBucketHours(const std::string& key) {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    const std::string sql = absl::StrCat(
        "SELECT coalesce(extract(epoch FROM max(tat) - now()) / 3600, 0) FROM rate_buckets WHERE key = '", key, "'");
    PGresult* r = PQexec(c, sql.c_str());
    const double hours = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atof(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return hours;
  }

  PostgresServer* server_ = nullptr;
  std::string conninfo_;
  std::vector<Replica> replicas_;
};

// The same create, with one request_id, sent to all three replicas at
// once, 20 times: one upstream POST per request_id, and every caller ends
// up with the same task (a caller told REQUEST_IN_PROGRESS retries, as a
// client would after the RetryInfo delay).
TEST_F(ClusterE2E, ConcurrentDuplicateCreatesOnThreeReplicasMakeOneUpstreamPostEach) {
  constexpr int kRounds = 20;
  control_->ClearRequests();
  for (int round = 0; round < kRounds; ++round) {
    const std::string request_id = absl::StrCat("dup-", round);
    const gw::CreateUrlTaskRequest req = UrlRequest(request_id, absl::StrCat("https://cdn.example.com/dup-", round, ".mp4"));
    std::vector<std::string> task_ids(replicas_.size());
    std::vector<std::string> failures(replicas_.size());
    std::atomic<int> arrived{0};
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replicas_.size(); ++i) {
      threads.emplace_back([&, i] {
        arrived.fetch_add(1);
        while (arrived.load() < static_cast<int>(replicas_.size())) std::this_thread::yield();
        for (int attempt = 0; attempt < 50; ++attempt) {
          gw::Task task;
          grpc::Status s = replicas_[i].uploads->CreateUrlTask(As(kMediaToken).get(), req, &task);
          if (s.ok()) {
            task_ids[i] = task.id();
            return;
          }
          auto info = ErrorInfoOf(s);
          if (s.error_code() != grpc::StatusCode::ABORTED || !info || info->reason() != "REQUEST_IN_PROGRESS") {
            failures[i] = absl::StrCat(s.error_code(), " ", s.error_message());
            return;
          }
          absl::SleepFor(absl::Milliseconds(100));
        }
        failures[i] = "still in progress after 50 retries";
      });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < replicas_.size(); ++i) {
      ASSERT_TRUE(failures[i].empty()) << "round " << round << " replica " << i << ": " << failures[i];
    }
    EXPECT_FALSE(task_ids[0].empty());
    EXPECT_EQ(task_ids[1], task_ids[0]) << "round " << round;
    EXPECT_EQ(task_ids[2], task_ids[0]) << "round " << round;
  }
  EXPECT_EQ(UpstreamCreates(), kRounds) << "one upstream POST per request_id";
}

// Ownership recorded on A is seen on B and C: the creating tenant sees
// its task everywhere, the other tenant sharing the key sees NOT_FOUND.
TEST_F(ClusterE2E, ATaskCreatedOnOneReplicaBelongsToItsTenantOnEvery) {
  gw::Task created;
  grpc::Status s = replicas_[0].uploads->CreateUrlTask(
      As(kMediaToken).get(), UrlRequest("", "https://cdn.example.com/owned.mp4"), &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (size_t i = 1; i < replicas_.size(); ++i) {
    grpc::Status other = Get(replicas_[i], kNewsToken, created.id());
    EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND) << "replica " << i << ": " << other.error_message();
    gw::Task seen;
    grpc::Status own = Get(replicas_[i], kMediaToken, created.id(), &seen);
    ASSERT_TRUE(own.ok()) << "replica " << i << ": " << own.error_message();
    EXPECT_EQ(seen.id(), created.id());
  }
}

// The first log lines say which store and mode; the conninfo's password
// appears nowhere in any replica's output.
TEST_F(ClusterE2E, StartupLogNamesTheSharedStoreWithoutThePassword) {
  for (auto& r : replicas_) {
    const std::string log = r.process.process->Log();
    EXPECT_TRUE(absl::StrContains(log, "state store: shared PostgreSQL (cluster mode)")) << log;
    EXPECT_TRUE(absl::StrContains(log, "password=***")) << log;
    EXPECT_TRUE(absl::StrContains(log, "\"replica_id\":\"replica-")) << log;
    EXPECT_FALSE(absl::StrContains(log, kDbPassword)) << "the database password leaked:\n" << log;
  }
}

// One client's rate limit holds across replicas: what A admitted is
// charged to the shared bucket, and B refuses once its mirror has synced.
// Waiting on the shared row (not on time) makes each step deterministic.
TEST_F(ClusterE2E, OneClientsRateLimitHoldsAcrossReplicas) {
  auto get = [&](Replica& r) { return Get(r, kLimitedToken, "ffffffffffffffffffffffff").error_code(); };
  for (int i = 0; i < 3; ++i) EXPECT_NE(get(replicas_[0]), grpc::StatusCode::RESOURCE_EXHAUSTED) << i;
  EXPECT_EQ(get(replicas_[0]), grpc::StatusCode::RESOURCE_EXHAUSTED) << "A's burst is spent";
  ASSERT_TRUE(Eventually([&] { return SharedBucketHours("limited") > 2.9; }, "A charging its 3 calls"));
  // B has not used the bucket: its first call is the documented overshoot
  // (at most a burst per other replica between syncs); it is charged too.
  EXPECT_NE(get(replicas_[1]), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Eventually([&] { return SharedBucketHours("limited") > 3.9; }, "B charging its call"));
  grpc::Status refused = Get(replicas_[1], kLimitedToken, "ffffffffffffffffffffffff");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "B alone would still have 2 of its burst of 3: " << refused.error_message();
  ASSERT_TRUE(ErrorInfoOf(refused).has_value());
  EXPECT_EQ(ErrorInfoOf(refused)->reason(), "CLIENT_RATE_LIMITED");
}

// PostgreSQL stopped: creates with request_id and unseen owner lookups
// answer UNAVAILABLE with RetryInfo (never NOT_FOUND), owners a replica
// has seen are still served; after the restart everything works again
// without restarting the gateways.
TEST_F(ClusterE2E, DatabaseDownIsUnavailableThenRecovers) {
  gw::Task created;
  ASSERT_TRUE(replicas_[0].uploads->CreateUrlTask(As(kMediaToken).get(),
                                                  UrlRequest("", "https://cdn.example.com/seen.mp4"), &created)
                  .ok());
  gw::Task unseen;
  ASSERT_TRUE(replicas_[0].uploads->CreateUrlTask(As(kMediaToken).get(),
                                                  UrlRequest("", "https://cdn.example.com/unseen.mp4"), &unseen)
                  .ok());
  ASSERT_TRUE(Get(replicas_[1], kMediaToken, created.id()).ok());  // B caches this owner
  ASSERT_TRUE(server_->Stop().ok());
  const int creates_before = UpstreamCreates();
  gw::Task out;
  grpc::Status create = replicas_[1].uploads->CreateUrlTask(
      As(kMediaToken).get(), UrlRequest("down-1", "https://cdn.example.com/down.mp4"), &out);
  EXPECT_EQ(create.error_code(), grpc::StatusCode::UNAVAILABLE) << create.error_message();
  ASSERT_TRUE(ErrorInfoOf(create).has_value());
  EXPECT_EQ(ErrorInfoOf(create)->reason(), "STATE_STORE_UNAVAILABLE");
  EXPECT_TRUE(RetryDelayOf(create).has_value());
  grpc::Status plain = replicas_[2].uploads->CreateUrlTask(
      As(kMediaToken).get(), UrlRequest("", "https://cdn.example.com/down2.mp4"), &out);
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
  EXPECT_EQ(UpstreamCreates(), creates_before) << "refused before the upstream POST";
  EXPECT_TRUE(Get(replicas_[1], kMediaToken, created.id()).ok()) << "a cached owner is served";
  grpc::Status miss = Get(replicas_[1], kMediaToken, unseen.id());
  EXPECT_EQ(miss.error_code(), grpc::StatusCode::UNAVAILABLE) << miss.error_message();
  // The mode is visible: a metric and one log line.
  auto metrics = HttpGet(replicas_[1].process.admin_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(MetricValue(*metrics, "tl_gateway_state_store_up"), 0) << *metrics;
  EXPECT_TRUE(absl::StrContains(replicas_[1].process.process->Log(), "PostgreSQL unreachable: degraded mode"));
  auto ready = HttpGet(replicas_[1].process.admin_port, "/readyz");
  EXPECT_TRUE(ready.ok()) << "stays ready: " << ready.status();
  ASSERT_TRUE(server_->Start().ok()) << server_->LogTail();
  EXPECT_TRUE(Eventually([&] { return Get(replicas_[1], kMediaToken, unseen.id()).ok(); },
                         "owner lookups after the database restart"));
  grpc::Status after;
  EXPECT_TRUE(Eventually(
      [&] {
        after = replicas_[1].uploads->CreateUrlTask(As(kMediaToken).get(),
                                                    UrlRequest("down-1", "https://cdn.example.com/down.mp4"), &out);
        return after.ok();
      },
      "creates after the database restart"))
      << after.error_message();
  metrics = HttpGet(replicas_[1].process.admin_port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(MetricValue(*metrics, "tl_gateway_state_store_up"), 1);
  EXPECT_TRUE(absl::StrContains(replicas_[1].process.process->Log(), "PostgreSQL reachable: shared mode"));
}

}  // namespace
}  // namespace tltest
