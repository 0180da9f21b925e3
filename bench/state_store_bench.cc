// state_store_bench: what the shared PostgreSQL state store costs GetTask
// (issue 12, figure 5). Two gateways against one simulator, one with
// --state_store=sqlite:FILE, one with --state_store=postgres:... on a real
// local PostgreSQL (tests/support/postgres_fixture), both with two tenants
// sharing one upstream key, so that every GetTask looks up the task's
// owner. Two reads:
//   own      GetTask of the caller's own task: the owner lookup (cached
//            for good by the Postgres store after the first), then the
//            upstream GET on the simulator.
//   unknown  GetTask of a task the gateway has no record of: NOT_FOUND
//            from the lookup alone, no upstream call; the Postgres store
//            asks the database every time (negative answers are never
//            cached). This isolates the store's round trip.
// Calls are sequential from one caller (latency, not throughput), in
// ABBA order over --repeats, each run preceded by a warm-up.
//
//   bazel run -c opt //bench:state_store_bench -- --seconds=5 --repeats=2
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "bench/bench_util.h"
#include "tests/support/postgres_fixture.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

ABSL_FLAG(double, seconds, 5, "seconds per measured run");
ABSL_FLAG(int, repeats, 2, "repeats of each (store, read) pair, in ABBA order");
ABSL_FLAG(int, warmup, 200, "calls before each measured run");

namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kApiKey[] = "tlk_bench_state_store";
constexpr char kMediaToken[] = "tlgw_bench_media_token";
constexpr char kSeedIndex[] = "0123456789abcdef01234567";

std::string Sha256Hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d), sizeof(d)));
}

struct Gateway {
  std::string name;
  tlbench::Server server;
  std::unique_ptr<gw::TaskService::Stub> tasks;
  std::string own_task;
};

grpc::Status GetTask(Gateway& g, const std::string& id) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kMediaToken));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  gw::GetTaskRequest req;
  req.set_task_id(id);
  gw::Task task;
  return g.tasks->GetTask(&ctx, req, &task);
}

struct Run {
  std::vector<int64_t> us;
  int errors = 0;
};

// Sequential calls for `seconds`; an answer other than `want` is an error.
Run Measure(Gateway& g, const std::string& id, grpc::StatusCode want, double seconds, int warmup) {
  for (int i = 0; i < warmup; ++i) GetTask(g, id).ok();
  Run r;
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < end) {
    const absl::Time t0 = absl::Now();
    grpc::Status s = GetTask(g, id);
    r.us.push_back(absl::ToInt64Microseconds(absl::Now() - t0));
    if (s.error_code() != want) ++r.errors;
  }
  std::sort(r.us.begin(), r.us.end());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string gateway_bin = tlbench::BinaryOrExit("", "server/gateway", argv[0]);
  const std::string sim_bin = tlbench::BinaryOrExit("", "sim/twelvelabs_sim", argv[0]);
  auto dir = tlbench::MakeTempDir("tl-state-store-bench");
  if (!dir.ok()) {
    std::fprintf(stderr, "%s\n", dir.status().ToString().c_str());
    return 2;
  }
  tlbench::PrintReportHeader("GetTask with the SQLite and the PostgreSQL state store (issue 12, figure 5)", argc,
                             argv);
  auto pg = tltest::PostgresServer::Create();
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", pg.status().ToString().c_str());
    return 1;
  }
  auto db = (*pg)->CreateDatabase("bench");
  if (!db.ok()) {
    std::fprintf(stderr, "postgres: %s\n", db.status().ToString().c_str());
    return 1;
  }
  auto sim = tlbench::StartServer(tlbench::SimulatorArgv(sim_bin, kApiKey, 16), {}, *dir, "sim");
  if (!sim.ok()) {
    std::fprintf(stderr, "%s\n", sim.status().ToString().c_str());
    return 1;
  }
  const std::string key_file = *dir + "/key";
  std::ofstream(key_file) << kApiKey;
  const std::string config_file = *dir + "/config.json";
  std::ofstream(config_file) << absl::StrCat(
      R"({"tenants":[{"name":"media","api_keys":[{"file":")", key_file, R"("}]},)",
      R"({"name":"news","api_keys":[{"file":")", key_file, R"("}]}],)",
      R"("clients":[{"id":"media-svc","token_sha256":")", Sha256Hex(kMediaToken),
      R"(","tenant":"media","methods":["*"]}]})");
  std::vector<Gateway> gateways;
  for (const auto& [name, store] : std::vector<std::pair<std::string, std::string>>{
           {"sqlite", "sqlite:" + *dir + "/state.db"}, {"postgres", "postgres:" + *db}}) {
    auto s = tlbench::StartServer(
        {gateway_bin, "--listen=127.0.0.1:0", absl::StrCat("--upstream_url=http://127.0.0.1:", sim->port, "/v1.3"),
         "--config=" + config_file, "--state_store=" + store, "--audit_log=none", "--config_poll_seconds=0"},
        {}, *dir, "gateway-" + name);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      return 1;
    }
    Gateway g;
    g.name = name;
    g.server = *std::move(s);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", g.server.port), grpc::InsecureChannelCredentials());
    g.tasks = gw::TaskService::NewStub(channel);
    auto uploads = gw::UploadService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kMediaToken));
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/bench.mp4");
    gw::Task task;
    grpc::Status created = uploads->CreateUrlTask(&ctx, req, &task);
    if (!created.ok()) {
      std::fprintf(stderr, "%s: create: %s\n", name.c_str(), created.error_message().c_str());
      return 1;
    }
    g.own_task = task.id();
    gateways.push_back(std::move(g));
  }
  auto unknown = tlbench::CreateUrlTaskOnSim(sim->port, kApiKey, kSeedIndex, "https://cdn.example.com/other.mp4");
  if (!unknown.ok()) {
    std::fprintf(stderr, "%s\n", unknown.status().ToString().c_str());
    return 1;
  }
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int repeats = absl::GetFlag(FLAGS_repeats), warmup = absl::GetFlag(FLAGS_warmup);
  std::printf("config:  %.1f s per run, %d repeat(s) in ABBA order, warm-up %d calls, 1 sequential caller\n",
              seconds, repeats, warmup);
  std::printf("logs:    %s\n\n", dir->c_str());
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> p50s;
  std::map<std::pair<std::string, std::string>, Run> all;
  std::printf("| read | store | repeat | calls | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|---|\n");
  for (const std::string read : {"own", "unknown"}) {
    for (int rep = 0; rep < repeats; ++rep) {
      std::vector<Gateway*> order = {&gateways[0], &gateways[1]};
      if (rep % 2 == 1) std::reverse(order.begin(), order.end());
      for (Gateway* g : order) {
        const bool own = read == "own";
        Run r = Measure(*g, own ? g->own_task : *unknown, own ? grpc::StatusCode::OK : grpc::StatusCode::NOT_FOUND,
                        seconds, warmup);
        std::printf("| %s | %s | %d | %zu | %lld | %lld | %d |\n", read.c_str(), g->name.c_str(), rep + 1,
                    r.us.size(), static_cast<long long>(tlbench::Percentile(r.us, 0.5)),
                    static_cast<long long>(tlbench::Percentile(r.us, 0.99)), r.errors);
        std::fflush(stdout);
        auto& merged = all[{read, g->name}];
        merged.us.insert(merged.us.end(), r.us.begin(), r.us.end());
        merged.errors += r.errors;
      }
    }
  }
  std::printf("\n| read | sqlite p50 µs | postgres p50 µs | postgres/sqlite p50 | sqlite p99 µs | postgres p99 µs | "
              "target |\n|---|---|---|---|---|---|---|\n");
  for (const std::string read : {"own", "unknown"}) {
    auto& s = all[{read, "sqlite"}];
    auto& p = all[{read, "postgres"}];
    std::sort(s.us.begin(), s.us.end());
    std::sort(p.us.begin(), p.us.end());
    const double sp = static_cast<double>(tlbench::Percentile(s.us, 0.5));
    const double pp = static_cast<double>(tlbench::Percentile(p.us, 0.5));
    const double ratio = sp > 0 ? pp / sp : 0;
    std::printf("| %s | %.0f | %.0f | %.2f | %lld | %lld | %s |\n", read.c_str(), sp, pp, ratio,
                static_cast<long long>(tlbench::Percentile(s.us, 0.99)),
                static_cast<long long>(tlbench::Percentile(p.us, 0.99)),
                read == "own" ? (ratio <= 1.1 ? "p50 ≤ 1.1x: met" : "p50 ≤ 1.1x: MISSED") : "(store round trip)");
  }
  for (auto& g : gateways) g.server.process->Stop();
  sim->process->Stop();
  tlbench::RemoveOrKeepLogs(*dir, true, false);
  return 0;
}
