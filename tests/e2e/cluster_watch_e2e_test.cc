// Watches across replicas end to end: one PostgreSQL (the fixture), one
// simulator (manual clock), three gateway processes with
// --state_store=postgres: sharing it. A webhook at one replica ends
// streams on the others; one poll per interval for the cluster; a killed
// poller is replaced; resume on another replica; the cluster poll budget;
// a database outage and its end.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "health.grpc.pb.h"
#include "httplib.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/task_subscriber.h"
#include "tests/support/postgres_fixture.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr char kSecret[] = "whsec_cluster_e2e_Hq2Vm8Rt";
const std::vector<std::string> kLifecycle = {"validating", "pending", "queued", "indexing", "ready"};

struct Replica {
  std::string id;
  GatewayProcess process;
  int webhook_port = 0;
  std::unique_ptr<gw::TaskService::Stub> tasks;
  std::unique_ptr<gw::UploadService::Stub> upload;
};

class ClusterWatchE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Create();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto db = pg_->CreateDatabase("cluster");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
  }
  void TearDown() override {
    for (auto& r : replicas_) {
      if (r->process.process != nullptr) {
        EXPECT_FALSE(absl::StrContains(r->process.process->Log(), kSecret)) << "the webhook secret leaked";
      }
    }
  }

  // Starts three replicas a, b, c with `watch_args`; a receives webhooks.
  void StartCluster(std::vector<std::string> watch_args) {
    for (const char* id : {"a", "b", "c"}) {
      auto r = std::make_unique<Replica>();
      r->id = id;
      GatewayArgs args;
      args.upstream_url = sim_.Url("v1.3");
      args.state_store = "postgres:" + conninfo_;
      args.env["TWELVELABS_WEBHOOK_SECRET"] = kSecret;
      args.extra_args = watch_args;
      args.extra_args.push_back(absl::StrCat("--replica_id=", id));
      const std::string port_file = TempPath(absl::StrCat("webhook-", id, ".port"));
      if (r->id == "a") {
        args.extra_args.push_back("--webhook_listen=127.0.0.1:0");
        args.extra_args.push_back("--webhook_port_file=" + port_file);
      }
      auto g = StartGateway(args);
      ASSERT_TRUE(g.ok()) << g.status();
      r->process = std::move(*g);
      if (r->id == "a") {
        auto port = WaitForPortFile(port_file, r->process.process.get());
        ASSERT_TRUE(port.ok()) << port.status();
        r->webhook_port = *port;
      }
      r->tasks = gw::TaskService::NewStub(r->process.channel);
      r->upload = gw::UploadService::NewStub(r->process.channel);
      replicas_.push_back(std::move(r));
    }
    httplib::Client c("127.0.0.1", sim_.port);
    auto res = c.Post("/_sim/webhooks/config",
                      json{{"url", absl::StrCat("http://127.0.0.1:", replicas_[0]->webhook_port, "/webhooks/twelvelabs")},
                           {"secret", kSecret}}
                          .dump(),
                      "application/json");
    ASSERT_TRUE(res && res->status == 200);
  }
  Replica* R(int i) { return replicas_[i].get(); }

  std::string CreateTask(Replica* r) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/cluster.mp4");
    gw::Task task;
    grpc::Status s = r->upload->CreateUrlTask(Ctx().get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task.id();
  }
  int GetsOf(const std::string& task_id) {
    int n = 0;
    for (const auto& r : control_->Requests("/tasks/" + task_id)) n += r["method"] == "GET";
    return n;
  }
  double Metric(Replica* r, const std::string& name) {
    auto text = HttpGet(r->process.admin_port, "/metrics");
    return text.ok() ? MetricValue(*text, name) : -1;
  }
  // One WatchTask of `id` on each replica.
  std::vector<std::unique_ptr<TaskSubscriber>> SubscribeOnEach(const std::string& id) {
    std::vector<std::unique_ptr<TaskSubscriber>> subs;
    for (int i = 0; i < 3; ++i) subs.push_back(std::make_unique<TaskSubscriber>(R(i)->tasks.get(), id));
    return subs;
  }
  // After an outage: every replica back in shared mode.
  bool AllSharedAgain() {
    return Eventually(
        [&] {
          for (int i = 0; i < 3; ++i) {
            if (Metric(R(i), "tl_gateway_watch_state_shared") != 1) return false;
          }
          return true;
        },
        "every replica shared again", absl::Seconds(30));
  }
  // Moves the task through the rest of its lifecycle, each stage seen by
  // every subscriber, which then ends OK with the whole lifecycle in order.
  void DriveToTheEnd(const std::vector<std::unique_ptr<TaskSubscriber>>& subs) {
    for (size_t stage = 2; stage < kLifecycle.size(); ++stage) {
      control_->AdvanceClock(2.0);
      ASSERT_TRUE(Eventually(
          [&] {
            for (auto& s : subs) {
              if (s->statuses().back() != kLifecycle[stage]) return false;
            }
            return true;
          },
          kLifecycle[stage]));
    }
    for (auto& s : subs) {
      ASSERT_TRUE(s->WaitDone());
      EXPECT_TRUE(s->status().ok()) << s->status().error_message();
      EXPECT_EQ(s->statuses(), kLifecycle);
      auto events = s->events();
      for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
    }
  }

  std::unique_ptr<PostgresServer> pg_;
  std::string conninfo_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(ClusterWatchE2E, AWebhookAtOneReplicaEndsStreamsOnTheOthers) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=60", "--watch_min_interval_seconds=60",
                                        "--watch_max_interval_seconds=60", "--webhook_safety_interval_seconds=60"}));
  const std::string id = CreateTask(R(0));
  TaskSubscriber b(R(1)->tasks.get(), id), c(R(2)->tasks.get(), id);
  ASSERT_TRUE(Eventually([&] { return b.count() == 1 && c.count() == 1; }, "the snapshots"));
  // A replica's first read can still be under way when both snapshots have
  // arrived (one replica's read served both; the simulator logs a request
  // once it has answered it). With a 60 s interval nothing else reads the
  // task, so the count holding still for a second means none is under way.
  int gets = GetsOf(id);
  absl::Time still_since = absl::Now();
  ASSERT_TRUE(Eventually(
      [&] {
        const int now = GetsOf(id);
        if (now != gets) {
          gets = now;
          still_since = absl::Now();
        }
        return absl::Now() - still_since >= absl::Seconds(1);
      },
      "no read of the task under way"));
  // Straight to ready in simulated time: the simulator signs and sends
  // index.task.ready to a; the next poll is a minute away.
  const absl::Time start = absl::Now();
  control_->AdvanceClock(10.0);
  ASSERT_TRUE(b.WaitDone(absl::Seconds(20)) && c.WaitDone(absl::Seconds(20))) << "streams on b and c did not end";
  const absl::Duration took = absl::Now() - start;
  for (TaskSubscriber* s : {&b, &c}) {
    EXPECT_TRUE(s->status().ok()) << s->status().error_message();
    EXPECT_EQ(s->statuses().back(), "ready");
    EXPECT_EQ(s->events().back().source(), gw::EVENT_SOURCE_WEBHOOK);
  }
  EXPECT_EQ(b.events().back().sequence(), c.events().back().sequence());
  EXPECT_EQ(GetsOf(id), gets + 1) << "a read the task once for the whole cluster";
  std::cout << "webhook at a -> streams on b and c ended: " << absl::FormatDuration(took) << "\n";
}

TEST_F(ClusterWatchE2E, SubscribersOnThreeReplicasShareOnePollPerInterval) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=1", "--watch_min_interval_seconds=1",
                                        "--watch_max_interval_seconds=1"}));
  const std::string id = CreateTask(R(0));
  TaskSubscriber a(R(0)->tasks.get(), id), b(R(1)->tasks.get(), id), c(R(2)->tasks.get(), id);
  ASSERT_TRUE(Eventually([&] { return a.count() == 1 && b.count() == 1 && c.count() == 1; }, "the snapshots"));
  const int before = GetsOf(id);
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(10));
  const int gets = GetsOf(id) - before;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << gets << " upstream GETs in " << seconds << " s with subscribers on 3 replicas\n";
  EXPECT_LE(gets, static_cast<int>(seconds) + 2) << "about one per second, not three";
  EXPECT_GE(gets, 5);
}

TEST_F(ClusterWatchE2E, WhenThePollingReplicaIsKilledTheOthersDeliverEveryChange) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=0.5", "--watch_min_interval_seconds=0.5",
                                        "--watch_max_interval_seconds=0.5"}));
  const std::string id = CreateTask(R(0));
  std::vector<std::unique_ptr<TaskSubscriber>> subs = SubscribeOnEach(id);
  ASSERT_TRUE(Eventually([&] { return subs[0]->count() == 1 && subs[1]->count() == 1 && subs[2]->count() == 1; },
                         "the snapshots"));
  // The replica that polled last is the one to kill.
  std::vector<double> before;
  for (int i = 0; i < 3; ++i) before.push_back(Metric(R(i), "tl_gateway_watch_claims_total"));
  absl::SleepFor(absl::Seconds(2));
  int victim = 0;
  double most = -1;
  for (int i = 0; i < 3; ++i) {
    const double grew = Metric(R(i), "tl_gateway_watch_claims_total") - before[i];
    if (grew > most) most = grew, victim = i;
  }
  ASSERT_GT(most, 0);
  kill(R(victim)->process.process->pid(), SIGKILL);
  for (size_t stage = 1; stage < kLifecycle.size(); ++stage) {
    control_->AdvanceClock(2.0);
    for (int i = 0; i < 3; ++i) {
      if (i == victim) continue;
      ASSERT_TRUE(Eventually([&] { return subs[i]->count() == stage + 1; },
                             absl::StrCat("replica ", R(i)->id, " to see ", kLifecycle[stage]), absl::Seconds(40)));
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (i == victim) continue;
    ASSERT_TRUE(subs[i]->WaitDone());
    EXPECT_TRUE(subs[i]->status().ok()) << subs[i]->status().error_message();
    EXPECT_EQ(subs[i]->statuses(), kLifecycle) << "every change, in order";
  }
}

TEST_F(ClusterWatchE2E, ResumeOnAnotherReplicaMissesNothingAndRepeatsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=0.3", "--watch_min_interval_seconds=0.3",
                                        "--watch_max_interval_seconds=0.3"}));
  const std::string id = CreateTask(R(0));
  int64_t seen = 0;
  std::vector<std::string> got;
  {
    TaskSubscriber a(R(0)->tasks.get(), id);
    ASSERT_TRUE(Eventually([&] { return a.count() == 1; }, "the snapshot"));
    control_->AdvanceClock(2.0);
    ASSERT_TRUE(Eventually([&] { return a.count() == 2; }, "event 2 on a"));
    seen = a.events().back().sequence();
    got = a.statuses();
    a.Cancel();
    ASSERT_TRUE(a.WaitDone());
  }
  // Changes while the client is away; it comes back on b.
  control_->AdvanceClock(2.0);
  absl::SleepFor(absl::Milliseconds(500));
  TaskSubscriber b(R(1)->tasks.get(), id, seen);
  ASSERT_TRUE(Eventually([&] { return b.count() >= 1; }, "the state after what a sent"));
  for (size_t stage = 3; stage < kLifecycle.size(); ++stage) {
    control_->AdvanceClock(2.0);
    ASSERT_TRUE(Eventually([&] { return b.statuses().back() == kLifecycle[stage]; }, kLifecycle[stage]));
  }
  ASSERT_TRUE(b.WaitDone());
  EXPECT_TRUE(b.status().ok()) << b.status().error_message();
  int64_t last = seen;
  for (const auto& e : b.events()) {
    EXPECT_GT(e.sequence(), last) << "nothing twice, nothing older";
    last = e.sequence();
    got.push_back(e.task().status_text());
  }
  EXPECT_EQ(got, kLifecycle) << "nothing missing";
}

TEST_F(ClusterWatchE2E, TheClusterPollBudgetHoldsAcrossReplicas) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=1", "--watch_min_interval_seconds=1",
                                        "--watch_max_interval_seconds=1", "--max_polls_per_second=2"}));
  std::vector<std::string> ids;
  std::vector<std::unique_ptr<TaskSubscriber>> subs;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(CreateTask(R(i % 3)));
    subs.push_back(std::make_unique<TaskSubscriber>(R(i % 3)->tasks.get(), ids.back()));
  }
  ASSERT_TRUE(Eventually(
      [&] {
        for (auto& s : subs) {
          if (s->count() < 1) return false;
        }
        return true;
      },
      "the snapshots"));
  auto total = [&] {
    int n = 0;
    for (const auto& id : ids) n += GetsOf(id);
    return n;
  };
  const int before = total();
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(5));
  const int gets = total() - before;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << gets << " upstream GETs in " << seconds << " s for 6 tasks at a 2/s cluster budget\n";
  EXPECT_LE(gets, static_cast<int>(2 * seconds) + 3) << "2 polls a second for the cluster, not 2 per replica";
  EXPECT_GE(gets, 4);
}

TEST_F(ClusterWatchE2E, ADatabaseOutageGoesLocalAndBackWithoutLosingTheEnd) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=0.5", "--watch_min_interval_seconds=0.5",
                                        "--watch_max_interval_seconds=0.5"}));
  const std::string id = CreateTask(R(0));
  std::vector<std::unique_ptr<TaskSubscriber>> subs = SubscribeOnEach(id);
  ASSERT_TRUE(Eventually([&] { return subs[0]->count() == 1 && subs[1]->count() == 1 && subs[2]->count() == 1; },
                         "the snapshots"));
  ASSERT_TRUE(Metric(R(0), "tl_gateway_watch_state_shared") == 1);

  ASSERT_TRUE(pg_->Stop().ok());
  const absl::Time stopped = absl::Now();
  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 3; ++i) {
          if (Metric(R(i), "tl_gateway_watch_state_shared") != 0) return false;
        }
        return true;
      },
      "every replica in local mode"));
  for (int i = 0; i < 3; ++i) {
    auto ready = HttpGet(R(i)->process.admin_port, "/readyz");
    EXPECT_TRUE(ready.ok()) << "replica " << R(i)->id << " must stay ready: " << ready.status();
  }
  control_->AdvanceClock(2.0);  // pending
  ASSERT_TRUE(Eventually([&] { return subs[0]->count() == 2 && subs[1]->count() == 2 && subs[2]->count() == 2; },
                         "the change, polled by each replica alone"));
  absl::SleepFor(absl::Seconds(5) - (absl::Now() - stopped));
  ASSERT_TRUE(pg_->Start().ok());
  ASSERT_TRUE(AllSharedAgain());
  DriveToTheEnd(subs);
}

// PostgreSQL frozen (SIGSTOP to every process of it: connections stay
// open, the port accepts, nothing answers), which the server-side
// statement_timeout cannot end. Calls that need the database answer
// UNAVAILABLE well within their 30 s deadline, never hang; what needs no
// database keeps working; watches go local; after SIGCONT creates with
// request_id work again and every subscriber gets the rest of the task.
TEST_F(ClusterWatchE2E, AFrozenDatabaseNeverHoldsACallAndRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--watch_interval_seconds=0.5", "--watch_min_interval_seconds=0.5",
                                        "--watch_max_interval_seconds=0.5"}));
  const std::string id = CreateTask(R(0));
  std::vector<std::unique_ptr<TaskSubscriber>> subs = SubscribeOnEach(id);
  ASSERT_TRUE(Eventually([&] { return subs[0]->count() == 1 && subs[1]->count() == 1 && subs[2]->count() == 1; },
                         "the snapshots"));
  auto create = [&](Replica* r, const std::string& request_id) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/" + request_id + ".mp4");
    req.set_request_id(request_id);
    gw::Task task;
    return r->upload->CreateUrlTask(Ctx(absl::Seconds(30)).get(), req, &task);
  };
  for (int i = 0; i < 3; ++i) {  // every replica's pool holds open connections now
    grpc::Status warm = create(R(i), absl::StrCat("warm-", i));
    ASSERT_TRUE(warm.ok()) << warm.error_message();
  }

  ASSERT_TRUE(pg_->Freeze().ok());
  // Two creates per replica at once, each on a gRPC thread of its own.
  std::vector<grpc::Status> frozen(6);
  std::vector<std::thread> callers;
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&, i] { frozen[i] = create(R(i % 3), absl::StrCat("frozen-", i)); });
  }
  // Meanwhile what needs no database answers.
  for (int i = 0; i < 3; ++i) {
    auto health = grpc::health::v1::Health::NewStub(R(i)->process.channel);
    grpc::health::v1::HealthCheckRequest hreq;
    grpc::health::v1::HealthCheckResponse hresp;
    grpc::Status h = health->Check(Ctx(absl::Seconds(5)).get(), hreq, &hresp);
    EXPECT_TRUE(h.ok()) << "replica " << R(i)->id << ": " << h.error_message();
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    auto ready = HttpGet(R(i)->process.admin_port, "/readyz", absl::Seconds(5));
    EXPECT_TRUE(ready.ok()) << "replica " << R(i)->id << " must stay ready: " << ready.status();
  }
  for (auto& t : callers) t.join();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(frozen[i].error_code(), grpc::StatusCode::UNAVAILABLE)
        << "create " << i << " (DEADLINE_EXCEEDED means a thread waited on the database): "
        << frozen[i].error_message();
  }
  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 3; ++i) {
          if (Metric(R(i), "tl_gateway_watch_state_shared") != 0) return false;
        }
        return true;
      },
      "every replica in local mode", absl::Seconds(30)));
  control_->AdvanceClock(2.0);  // pending
  ASSERT_TRUE(Eventually([&] { return subs[0]->count() == 2 && subs[1]->count() == 2 && subs[2]->count() == 2; },
                         "the change, polled by each replica alone"));

  ASSERT_TRUE(pg_->Thaw().ok());
  for (int i = 0; i < 3; ++i) {
    grpc::Status after;
    EXPECT_TRUE(Eventually(
        [&] {
          after = create(R(i), absl::StrCat("thawed-", i));
          return after.ok();
        },
        "a create with request_id after SIGCONT", absl::Seconds(30)))
        << R(i)->id << ": " << after.error_message();
  }
  ASSERT_TRUE(AllSharedAgain());
  DriveToTheEnd(subs);
}

// A replica started while PostgreSQL is down comes up degraded (plain
// calls served, watches local, both modes 0 on /metrics) and goes shared
// once the database answers (migrating it then): a create with request_id
// works and the subscriber it had gets the task to its end.
TEST_F(ClusterWatchE2E, AReplicaStartedWhileTheDatabaseIsDownGoesSharedWhenItAnswers) {
  ASSERT_TRUE(pg_->Stop().ok());
  GatewayArgs args;
  args.upstream_url = sim_.Url("v1.3");
  args.state_store = "postgres:" + conninfo_;
  args.extra_args = {"--replica_id=late", "--watch_interval_seconds=0.5", "--watch_min_interval_seconds=0.5",
                     "--watch_max_interval_seconds=0.5"};
  auto g = StartGateway(args);
  ASSERT_TRUE(g.ok()) << "a replica must start while the database is down: " << g.status();
  auto r = std::make_unique<Replica>();
  r->id = "late";
  r->process = std::move(*g);
  r->tasks = gw::TaskService::NewStub(r->process.channel);
  r->upload = gw::UploadService::NewStub(r->process.channel);
  replicas_.push_back(std::move(r));
  const std::string id = CreateTask(R(0));  // a plain create needs no shared state
  ASSERT_FALSE(id.empty());
  TaskSubscriber sub(R(0)->tasks.get(), id);
  ASSERT_TRUE(Eventually([&] { return sub.count() == 1; }, "the snapshot, polled locally"));
  EXPECT_EQ(Metric(R(0), "tl_gateway_state_store_up"), 0);
  EXPECT_TRUE(Eventually([&] { return Metric(R(0), "tl_gateway_watch_state_shared") == 0; }, "local mode"));
  auto ready = HttpGet(R(0)->process.admin_port, "/readyz");
  EXPECT_TRUE(ready.ok()) << "ready while degraded: " << ready.status();

  ASSERT_TRUE(pg_->Start().ok()) << pg_->LogTail();
  gw::CreateUrlTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_video_url("https://cdn.example.com/late.mp4");
  req.set_request_id("late-1");
  grpc::Status created;
  EXPECT_TRUE(Eventually(
      [&] {
        gw::Task task;
        created = R(0)->upload->CreateUrlTask(Ctx().get(), req, &task);
        return created.ok();
      },
      "a create with request_id once the database answers", absl::Seconds(30)))
      << created.error_message();
  ASSERT_TRUE(Eventually(
      [&] {
        return Metric(R(0), "tl_gateway_state_store_up") == 1 && Metric(R(0), "tl_gateway_watch_state_shared") == 1;
      },
      "shared mode", absl::Seconds(30)));
  for (size_t stage = 1; stage < kLifecycle.size(); ++stage) {
    control_->AdvanceClock(2.0);
    ASSERT_TRUE(Eventually([&] { return sub.statuses().back() == kLifecycle[stage]; }, kLifecycle[stage]));
  }
  ASSERT_TRUE(sub.WaitDone());
  EXPECT_TRUE(sub.status().ok()) << sub.status().error_message();
  EXPECT_EQ(sub.statuses(), kLifecycle);
}

}  // namespace
}  // namespace tltest
