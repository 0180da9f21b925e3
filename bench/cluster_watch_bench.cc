// Watches across replicas (issue 12; docs/cluster.md figures 1 and 2): gateway
// replicas with --state_store=postgres: on one real PostgreSQL (the test
// fixture), one simulator (manual clock), WatchTask streams spread evenly
// over the replicas.
//
//  (1) Upstream polls per task per interval with 1, 2 and 3 replicas: one
//      stream per task on every replica, a 1 s interval, nothing changing;
//      GETs counted from the simulator's request log over a window. With
//      sharing it is 1.0 whatever the number of replicas.
//  (2) Cross-replica webhook latency: 3 replicas, `--streams` streams over
//      `--webhook_tasks` tasks (each task's streams on all three), a 600 s
//      interval, the simulator's signed webhooks sent to replica a only.
//      One task at a time is forced to ready; from that control call to
//      the last subscriber's ready event, p50 / p99 over tasks, for a's own
//      subscribers and for b's and c's.
//
//  (3) Failover (issue 12 item 6): 3 replicas, `--failover_tasks` tasks,
//      each watched by one stream on every replica, a 1 s interval, no
//      webhooks. SIGKILL the replica holding most polls, then force a
//      third of the tasks to ready: time from the kill to the first and to
//      the last surviving subscriber's ready event. Then stop PostgreSQL,
//      force another third ready while it is down, start it again and force
//      the last third ready: time from the restart to every surviving
//      subscriber's ready event. Terminal (ready) events lost: surviving
//      streams that never got theirs, out of how many. Also database
//      sessions per replica (pg_stat_activity) and gateway RSS per stream.
//
//   bazel build -c opt //bench:cluster_watch_bench
//   bazel-bin/bench/cluster_watch_bench --replicas=1,2,3 --streams=3000
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "bench/bench_util.h"
#include "nlohmann/json.hpp"
#include "postgresql/libpq-fe.h"
#include "tests/support/postgres_fixture.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, replicas, "1,2,3", "replica counts for figure (1)");
ABSL_FLAG(int, poll_tasks, 20, "(1): tasks watched");
ABSL_FLAG(double, poll_window_seconds, 10, "(1): window over which GETs are counted");
ABSL_FLAG(int, streams, 3000, "(2): streams, spread evenly over three replicas");
ABSL_FLAG(int, webhook_tasks, 100, "(2): tasks the streams watch; each is forced to ready once");
ABSL_FLAG(bool, failover_only, false, "run figure (3) only");
ABSL_FLAG(int, failover_tasks, 60, "(3): tasks, each watched by one stream on every replica (0: skip (3))");
ABSL_FLAG(bool, keep_logs, false, "keep the temporary directory with the servers' logs");

namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kApiKey[] = "tlk_bench_Cl9sT4rW2pX7";
constexpr char kSecret[] = "whsec_bench_Cl3uSt8Er";
constexpr char kIndexId[] = "0123456789abcdef01234567";

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

std::string g_gateway_bin, g_sim_bin;

// One WatchTask stream: when it got its first event and its ready event.
class Stream : public grpc::ClientReadReactor<gw::TaskEvent> {
 public:
  Stream(gw::TaskService::Stub* stub, const std::string& task_id) {
    req_.set_task_id(task_id);
    stub->async()->WatchTask(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    first_.store(true);
    if (event_.task().status() == gw::TASK_STATUS_READY && ready_ns_.load() == 0) ready_ns_.store(NowNs());
    StartRead(&event_);
  }
  void OnDone(const grpc::Status&) override { done_.store(true); }
  void Cancel() { ctx_.TryCancel(); }
  bool first() const { return first_.load(); }
  bool done() const { return done_.load(); }
  int64_t ready_ns() const { return ready_ns_.load(); }

 private:
  grpc::ClientContext ctx_;
  gw::WatchTaskRequest req_;
  gw::TaskEvent event_;
  std::atomic<bool> first_{false}, done_{false};
  std::atomic<int64_t> ready_ns_{0};
};

struct Cluster {
  tlbench::Server sim;
  std::vector<tlbench::Server> gateways;
  std::vector<std::unique_ptr<gw::TaskService::Stub>> stubs;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::string> tasks;
  std::string conninfo;
};

absl::Status StartCluster(const std::string& dir, const std::string& tag, tltest::PostgresServer* pg, int replicas,
                          double interval, bool webhooks, int tasks, Cluster* c) {
  const std::string& gateway_bin = g_gateway_bin;
  const std::string& sim_bin = g_sim_bin;
  auto db = pg->CreateDatabase(tag);
  if (!db.ok()) return db.status();
  c->conninfo = *db;
  auto sim = tlbench::StartServer(tlbench::SimulatorArgv(sim_bin, kApiKey, 32), {}, dir, tag + "-sim");
  if (!sim.ok()) return sim.status();
  c->sim = *std::move(sim);
  for (int r = 0; r < replicas; ++r) {
    const std::string id = std::string(1, static_cast<char>('a' + r));
    const std::string hook_file = absl::StrCat(dir, "/", tag, "-", id, "-webhook.port");
    std::vector<std::string> argv = {gateway_bin,
                                     "--listen=127.0.0.1:0",
                                     absl::StrCat("--upstream_url=http://127.0.0.1:", c->sim.port, "/v1.3"),
                                     "--state_store=postgres:" + *db,
                                     "--replica_id=" + id,
                                     "--audit_log=none",
                                     "--config_poll_seconds=0",
                                     absl::StrCat("--watch_interval_seconds=", interval),
                                     absl::StrCat("--watch_min_interval_seconds=", interval),
                                     absl::StrCat("--watch_max_interval_seconds=", interval),
                                     absl::StrCat("--webhook_safety_interval_seconds=", interval),
                                     "--max_polls_per_second=200"};
    std::map<std::string, std::string> env = {{"TWELVELABS_API_KEY", kApiKey}};
    if (webhooks && r == 0) {
      argv.push_back("--webhook_listen=127.0.0.1:0");
      argv.push_back("--webhook_port_file=" + hook_file);
      env["TWELVELABS_WEBHOOK_SECRET"] = kSecret;
    }
    auto g = tlbench::StartServer(argv, env, dir, absl::StrCat(tag, "-gateway-", id));
    if (!g.ok()) return g.status();
    if (webhooks && r == 0) {
      auto port = tlbench::WaitForPortFile(hook_file, g->process.get());
      if (!port.ok()) return port.status();
      nlohmann::json config = {{"url", absl::StrCat("http://127.0.0.1:", *port, "/webhooks/twelvelabs")},
                               {"secret", kSecret}};
      auto a = tlbench::HttpCall(c->sim.port, "POST", "/_sim/webhooks/config", config.dump());
      if (a.status != 200) return absl::InternalError("configuring the simulator's webhooks: " + a.body + a.error);
    }
    auto ch = grpc::CreateChannel(absl::StrCat("127.0.0.1:", g->port), grpc::InsecureChannelCredentials());
    c->stubs.push_back(gw::TaskService::NewStub(ch));
    c->channels.push_back(ch);
    c->gateways.push_back(*std::move(g));
  }
  for (int i = 0; i < tasks; ++i) {
    auto id = tlbench::CreateUrlTaskOnSim(c->sim.port, kApiKey, kIndexId,
                                          absl::StrCat("https://cdn.example.com/cluster-", tag, "-", i, ".mp4"));
    if (!id.ok()) return id.status();
    c->tasks.push_back(*id);
  }
  return absl::OkStatus();
}

bool AwaitAll(const std::vector<std::unique_ptr<Stream>>& streams, bool (Stream::*what)() const,
              absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    bool all = true;
    for (const auto& s : streams) all = all && ((*s).*what)();
    if (all) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

void Close(std::vector<std::unique_ptr<Stream>>& streams) {
  for (auto& s : streams) s->Cancel();
  AwaitAll(streams, &Stream::done, absl::Seconds(30));
  streams.clear();
}

double Pct(std::vector<int64_t> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return tlbench::Percentile(v, q) / 1e6;
}


// Rows of one query on the bench's database ("" on error).
std::vector<std::vector<std::string>> Query(const std::string& conninfo, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        out.emplace_back();
        for (int j = 0; j < PQnfields(r); ++j) out.back().push_back(PQgetvalue(r, i, j));
      }
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

bool ForceReady(int sim_port, const std::string& task) {
  auto a = tlbench::HttpCall(sim_port, "POST", absl::StrCat("/_sim/tasks/", task, "/status"),
                             nlohmann::json({{"status", "ready"}}).dump());
  return a.status == 200;
}

// Waits until every stream in `which` has its ready event (or `limit`);
// returns the first and last arrival (0 when none / not all).
std::pair<int64_t, int64_t> AwaitReady(const std::vector<std::unique_ptr<Stream>>& streams,
                                       const std::vector<int>& which, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (true) {
    int64_t first = 0, last = 0;
    bool all = true;
    for (int i : which) {
      const int64_t at = streams[i]->ready_ns();
      if (at == 0) {
        all = false;
        continue;
      }
      first = first == 0 ? at : std::min(first, at);
      last = std::max(last, at);
    }
    if (all) return {first, last};
    if (absl::Now() >= end) return {first, 0};
    absl::SleepFor(absl::Milliseconds(2));
  }
}

int Failover(const std::string& dir, tltest::PostgresServer* pg) {
  const int tasks = absl::GetFlag(FLAGS_failover_tasks);
  std::printf("\n(3) failover: 3 replicas, %d tasks, one stream per task on every replica, 1 s interval\n\n",
              tasks);
  Cluster c;
  absl::Status s = StartCluster(dir, "failover", pg, 3, 1.0, false, tasks, &c);
  if (!s.ok()) {
    std::printf("cluster did not start: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string conninfo = c.conninfo;
  std::vector<int64_t> rss0;
  for (auto& g : c.gateways) rss0.push_back(tlbench::ProcStatusKib(g.process->pid(), "VmRSS"));
  std::vector<std::unique_ptr<Stream>> streams;
  std::vector<int> task_of, replica_of;
  for (int t = 0; t < tasks; ++t) {
    for (int r = 0; r < 3; ++r) {
      streams.push_back(std::make_unique<Stream>(c.stubs[r].get(), c.tasks[t]));
      task_of.push_back(t);
      replica_of.push_back(r);
    }
  }
  if (!AwaitAll(streams, &Stream::first, absl::Seconds(120))) {
    std::printf("streams did not open\n");
    return 1;
  }
  absl::SleepFor(absl::Seconds(3));  // claims settle
  std::printf("database sessions per replica (pg_stat_activity, %d streams open):\n\n| application_name | sessions |\n|---|---:|\n",
              static_cast<int>(streams.size()));
  for (const auto& row : Query(conninfo,
                               "SELECT application_name, count(*) FROM pg_stat_activity WHERE application_name LIKE "
                               "'tl-gateway%' GROUP BY 1 ORDER BY 1")) {
    std::printf("| %s | %s |\n", row[0].c_str(), row[1].c_str());
  }
  std::printf("\ngateway RSS per stream (VmRSS after opening the streams minus before, / streams on it):\n\n"
              "| replica | RSS before KiB | after KiB | streams | KiB per stream |\n|---|---:|---:|---:|---:|\n");
  for (int r = 0; r < 3; ++r) {
    const int64_t after = tlbench::ProcStatusKib(c.gateways[r].process->pid(), "VmRSS");
    std::printf("| %c | %lld | %lld | %d | %.1f |\n", 'a' + r, static_cast<long long>(rss0[r]),
                static_cast<long long>(after), tasks, (after - rss0[r]) / static_cast<double>(tasks));
  }
  auto holder = Query(conninfo,
                      "SELECT poller, count(*) FROM watch_polls WHERE poller IS NOT NULL GROUP BY 1 ORDER BY 2 DESC");
  int victim = 0;
  if (!holder.empty() && holder[0][0].size() == 1) victim = holder[0][0][0] - 'a';
  std::printf("\npoll claims by replica before the kill:");
  for (const auto& row : holder) std::printf(" %s=%s", row[0].c_str(), row[1].c_str());
  std::printf("; killing %c\n\n", 'a' + victim);
  auto group = [&](int g) {
    std::vector<int> out;
    for (size_t i = 0; i < streams.size(); ++i) {
      if (replica_of[i] != victim && task_of[i] % 3 == g) out.push_back(static_cast<int>(i));
    }
    return out;
  };
  bool ok = true;
  // Phase A: SIGKILL the poller, then changes.
  ::kill(c.gateways[victim].process->pid(), SIGKILL);
  const int64_t killed = NowNs();
  for (int t = 0; t < tasks; ++t) {
    if (t % 3 == 0) ok = ForceReady(c.sim.port, c.tasks[t]) && ok;
  }
  auto [a_first, a_last] = AwaitReady(streams, group(0), absl::Seconds(90));
  // Phase B: database stop; changes while it is down; restart; changes.
  if (!pg->Stop().ok()) ok = false;
  const int64_t down_at = NowNs();
  for (int t = 0; t < tasks; ++t) {
    if (t % 3 == 1) ok = ForceReady(c.sim.port, c.tasks[t]) && ok;
  }
  auto [b_first, b_last] = AwaitReady(streams, group(1), absl::Seconds(60));
  absl::SleepFor(absl::Seconds(3));
  if (!pg->Start().ok()) ok = false;
  const int64_t restarted = NowNs();
  for (int t = 0; t < tasks; ++t) {
    if (t % 3 == 2) ok = ForceReady(c.sim.port, c.tasks[t]) && ok;
  }
  auto [c_first, c_last] = AwaitReady(streams, group(2), absl::Seconds(90));
  // Final count over every surviving stream, after one more grace period.
  std::vector<int> survivors;
  for (size_t i = 0; i < streams.size(); ++i) {
    if (replica_of[i] != victim) survivors.push_back(static_cast<int>(i));
  }
  AwaitReady(streams, survivors, absl::Seconds(10));
  int lost = 0;
  for (int i : survivors) lost += streams[i]->ready_ns() == 0 ? 1 : 0;
  auto ms = [](int64_t from, int64_t to) { return to == 0 ? -1.0 : (to - from) / 1e6; };
  std::printf("| phase | first ready ms | last ready ms | subscribers |\n|---|---:|---:|---:|\n");
  std::printf("| SIGKILL of the poller -> ready (from the kill) | %.0f | %.0f | %zu |\n", ms(killed, a_first),
              ms(killed, a_last), group(0).size());
  std::printf("| ready while PostgreSQL is down (from the stop) | %.0f | %.0f | %zu |\n", ms(down_at, b_first),
              ms(down_at, b_last), group(1).size());
  std::printf("| PostgreSQL restarted -> ready (from the restart) | %.0f | %.0f | %zu |\n", ms(restarted, c_first),
              ms(restarted, c_last), group(2).size());
  std::printf("\nterminal events lost: %d of %zu surviving subscribers (streams on the killed replica excluded: "
              "their clients reconnect elsewhere with resume_after)\n",
              lost, survivors.size());
  Close(streams);
  return ok && lost == 0 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  g_gateway_bin = tlbench::BinaryOrExit("", "server/gateway", argv[0]);
  g_sim_bin = tlbench::BinaryOrExit("", "sim/twelvelabs_sim", argv[0]);
  tlbench::RaiseFdLimit();
  auto dir = tlbench::MakeTempDir("tl-cluster-watch-bench");
  if (!dir.ok()) return 2;
  tlbench::PrintReportHeader("watches across replicas on PostgreSQL (issue 12, figures 1 and 2)", argc, argv);
  auto pg = tltest::PostgresServer::Create();
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", pg.status().ToString().c_str());
    return 1;
  }
  bool ok = true;
  if (absl::GetFlag(FLAGS_failover_only)) {
    const int rc = Failover(*dir, pg->get());
    tlbench::RemoveOrKeepLogs(*dir, rc == 0, absl::GetFlag(FLAGS_keep_logs));
    return rc;
  }

  // (1) Polls per task per interval.
  std::printf("\n(1) polls per task per interval, %d tasks, one stream per task on every replica, 1 s interval\n\n",
              absl::GetFlag(FLAGS_poll_tasks));
  std::printf("| replicas | streams | GETs in window | window s | polls / task / interval (mean) | max per task |\n"
              "|---:|---:|---:|---:|---:|---:|\n");
  for (absl::string_view rs : absl::StrSplit(absl::GetFlag(FLAGS_replicas), ',')) {
    int replicas = 0;
    if (!absl::SimpleAtoi(rs, &replicas) || replicas < 1) continue;
    Cluster c;
    absl::Status s = StartCluster(*dir, absl::StrCat("polls", replicas), pg->get(), replicas, 1.0, false,
                                  absl::GetFlag(FLAGS_poll_tasks), &c);
    if (!s.ok()) {
      std::printf("| %d | cluster did not start: %s |\n", replicas, s.ToString().c_str());
      ok = false;
      continue;
    }
    std::vector<std::unique_ptr<Stream>> streams;
    for (const auto& id : c.tasks) {
      for (auto& stub : c.stubs) streams.push_back(std::make_unique<Stream>(stub.get(), id));
    }
    if (!AwaitAll(streams, &Stream::first, absl::Seconds(60))) {
      std::printf("| %d | streams did not open |\n", replicas);
      ok = false;
      Close(streams);
      continue;
    }
    absl::SleepFor(absl::Seconds(2));  // first reads and claims settle
    tlbench::HttpCall(c.sim.port, "DELETE", "/_sim/requests");
    const int64_t w0 = NowNs();
    absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_poll_window_seconds)));
    auto log = tlbench::HttpCall(c.sim.port, "GET", "/_sim/requests?path_contains=/v1.3/tasks/");
    const double window = (NowNs() - w0) / 1e9;
    std::map<std::string, int> gets;
    for (const auto& id : c.tasks) gets[id] = 0;
    nlohmann::json j = nlohmann::json::parse(log.body, nullptr, false);
    if (!j.is_discarded() && j.contains("requests")) {
      for (const auto& e : j["requests"]) {
        if (e.value("method", "") != "GET") continue;
        const std::string path = e.value("path", "");
        if (!absl::StartsWith(path, "/v1.3/tasks/")) continue;
        auto it = gets.find(path.substr(strlen("/v1.3/tasks/")));
        if (it != gets.end()) ++it->second;
      }
    }
    int total = 0, most = 0;
    for (const auto& [id, n] : gets) total += n, most = std::max(most, n);
    const double intervals = window / 1.0;
    std::printf("| %d | %zu | %d | %.2f | %.3f | %.2f |\n", replicas, streams.size(), total, window,
                total / (intervals * c.tasks.size()), most / intervals);
    std::fflush(stdout);
    Close(streams);
  }

  // (2) Cross-replica webhook latency.
  const int n = absl::GetFlag(FLAGS_streams), tasks = absl::GetFlag(FLAGS_webhook_tasks);
  std::printf("\n(2) webhook to replica a -> last subscriber, %d streams over 3 replicas, %d tasks, 600 s interval\n\n",
              n, tasks);
  Cluster c;
  absl::Status s = StartCluster(*dir, "hooks", pg->get(), 3, 600, true, tasks, &c);
  if (!s.ok()) {
    std::printf("cluster did not start: %s\n", s.ToString().c_str());
    tlbench::RemoveOrKeepLogs(*dir, false, true);
    return 1;
  }
  std::vector<std::unique_ptr<Stream>> streams;
  std::vector<int> task_of, replica_of;
  for (int i = 0; i < n; ++i) {
    const int t = i % tasks, r = (i / tasks) % 3;
    streams.push_back(std::make_unique<Stream>(c.stubs[r].get(), c.tasks[t]));
    task_of.push_back(t);
    replica_of.push_back(r);
  }
  if (!AwaitAll(streams, &Stream::first, absl::Seconds(120))) {
    std::printf("streams did not open\n");
    ok = false;
  }
  std::vector<int64_t> own, other, all;
  int missing = 0;
  for (int t = 0; t < tasks && ok; ++t) {
    const int64_t trig = NowNs();
    auto a = tlbench::HttpCall(c.sim.port, "POST", absl::StrCat("/_sim/tasks/", c.tasks[t], "/status"),
                               nlohmann::json({{"status", "ready"}}).dump());
    if (a.status != 200) {
      std::printf("forcing ready failed: %d %s\n", a.status, a.body.c_str());
      ok = false;
      break;
    }
    const absl::Time end = absl::Now() + absl::Seconds(10);
    int64_t last_own = 0, last_other = 0;
    while (absl::Now() < end) {
      bool all_ready = true;
      last_own = last_other = 0;
      for (int i = t; i < n; i += tasks) {
        const int64_t at = streams[i]->ready_ns();
        if (at == 0) {
          all_ready = false;
          break;
        }
        (replica_of[i] == 0 ? last_own : last_other) = std::max(replica_of[i] == 0 ? last_own : last_other, at);
      }
      if (all_ready) break;
      absl::SleepFor(absl::Microseconds(500));
    }
    if (last_own == 0 || last_other == 0) {
      ++missing;
      continue;
    }
    own.push_back(last_own - trig);
    other.push_back(last_other - trig);
    all.push_back(std::max(last_own, last_other) - trig);
  }
  std::printf("| subscribers | p50 ms | p99 ms | tasks |\n|---|---:|---:|---:|\n");
  std::printf("| on a (received the webhook) | %.1f | %.1f | %zu |\n", Pct(own, 0.5), Pct(own, 0.99), own.size());
  std::printf("| on b and c | %.1f | %.1f | %zu |\n", Pct(other, 0.5), Pct(other, 0.99), other.size());
  std::printf("| last of all | %.1f | %.1f | %zu |\n", Pct(all, 0.5), Pct(all, 0.99), all.size());
  std::printf("\ntasks whose ready event did not reach every subscriber within 10 s: %d\n", missing);
  Close(streams);
  if (absl::GetFlag(FLAGS_failover_tasks) > 0 && Failover(*dir, pg->get()) != 0) ok = false;
  tlbench::RemoveOrKeepLogs(*dir, ok && missing == 0, absl::GetFlag(FLAGS_keep_logs));
  return ok && missing == 0 ? 0 : 1;
}
