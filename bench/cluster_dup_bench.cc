// cluster_dup_bench: concurrent duplicate creates on different replicas
// (issue 12, figure 3). One PostgreSQL (tests/support/postgres_fixture),
// one simulator and three gateway processes sharing it; each round sends
// one CreateUrlTask with one request_id to all three replicas at once (a
// caller told REQUEST_IN_PROGRESS retries after 50 ms, as a client would).
// Reports upstream creates per request_id from the simulator's request
// log (must be exactly 1) and whether every caller got the same task.
//
//   bazel run -c opt //bench:cluster_dup_bench -- --rounds=1000
#include <openssl/sha.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
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
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"
#include <nlohmann/json.hpp>

ABSL_FLAG(int, rounds, 1000, "duplicate rounds (one request_id each)");
ABSL_FLAG(int, replicas, 3, "gateway replicas");

namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr char kApiKey[] = "tlk_bench_cluster_dup";
constexpr char kToken[] = "tlgw_bench_cluster_token";
constexpr char kSeedIndex[] = "0123456789abcdef01234567";

std::string Sha256Hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d), sizeof(d)));
}

// POSTs per video_url in the simulator's log since the last clear.
std::map<std::string, int> UpstreamCreates(int sim_port) {
  std::map<std::string, int> out;
  auto r = tlbench::HttpCall(sim_port, "GET", "/_sim/requests?path_contains=%2Ftasks");
  json log = json::parse(r.body, nullptr, false);
  if (log.is_discarded()) return out;
  for (const auto& e : log["requests"]) {
    if (e["method"] != "POST") continue;
    if (e["form"].contains("video_url")) ++out[e["form"]["video_url"].get<std::string>()];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds), replicas = absl::GetFlag(FLAGS_replicas);
  const std::string gateway_bin = tlbench::BinaryOrExit("", "server/gateway", argv[0]);
  const std::string sim_bin = tlbench::BinaryOrExit("", "sim/twelvelabs_sim", argv[0]);
  auto dir = tlbench::MakeTempDir("tl-cluster-dup-bench");
  if (!dir.ok()) return 2;
  tlbench::PrintReportHeader("concurrent duplicate creates across replicas (issue 12, figure 3)", argc, argv);
  auto pg = tltest::PostgresServer::Create();
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", pg.status().ToString().c_str());
    return 1;
  }
  auto db = (*pg)->CreateDatabase("dup");
  if (!db.ok()) return 1;
  std::vector<std::string> sim_argv = tlbench::SimulatorArgv(sim_bin, kApiKey, 32);
  sim_argv.push_back("--create_rate_limit=1000000");
  auto sim = tlbench::StartServer(sim_argv, {}, *dir, "sim");
  if (!sim.ok()) {
    std::fprintf(stderr, "%s\n", sim.status().ToString().c_str());
    return 1;
  }
  const std::string key_file = *dir + "/key";
  std::ofstream(key_file) << kApiKey;
  const std::string config_file = *dir + "/config.json";
  std::ofstream(config_file) << absl::StrCat(R"({"tenants":[{"name":"media","api_keys":[{"file":")", key_file,
                                             R"("}]}],"clients":[{"id":"svc","token_sha256":")", Sha256Hex(kToken),
                                             R"(","tenant":"media","methods":["*"]}]})");
  std::vector<tlbench::Server> gateways;
  std::vector<std::unique_ptr<gw::UploadService::Stub>> stubs;
  for (int i = 0; i < replicas; ++i) {
    auto s = tlbench::StartServer(
        {gateway_bin, "--listen=127.0.0.1:0", absl::StrCat("--upstream_url=http://127.0.0.1:", sim->port, "/v1.3"),
         "--config=" + config_file, "--state_store=postgres:" + *db, absl::StrCat("--replica_id=bench-", i),
         "--audit_log=none", "--config_poll_seconds=0"},
        {}, *dir, absl::StrCat("gateway-", i));
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      return 1;
    }
    stubs.push_back(gw::UploadService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", s->port), grpc::InsecureChannelCredentials())));
    gateways.push_back(*std::move(s));
  }
  std::printf("config:  %d rounds, %d replicas, one PostgreSQL (fsync off), retry after 50 ms on REQUEST_IN_PROGRESS\n",
              rounds, replicas);
  std::fflush(stdout);
  int mismatched = 0, failed = 0, in_progress_answers = 0;
  std::map<std::string, int> creates;
  const absl::Time start = absl::Now();
  for (int round = 0; round < rounds; ++round) {
    const std::string url = absl::StrCat("https://cdn.example.com/dup-", round, ".mp4");
    std::vector<std::string> ids(replicas);
    std::vector<int> busy(replicas, 0);
    std::atomic<int> arrived{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < replicas; ++i) {
      threads.emplace_back([&, i] {
        gw::CreateUrlTaskRequest req;
        req.set_index_id(kSeedIndex);
        req.set_video_url(url);
        req.set_request_id(absl::StrCat("dup-", round));
        arrived.fetch_add(1);
        while (arrived.load() < replicas) std::this_thread::yield();
        for (int attempt = 0; attempt < 100; ++attempt) {
          grpc::ClientContext ctx;
          ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          gw::Task task;
          grpc::Status s = stubs[i]->CreateUrlTask(&ctx, req, &task);
          if (s.ok()) {
            ids[i] = task.id();
            return;
          }
          if (s.error_code() != grpc::StatusCode::ABORTED) return;
          ++busy[i];
          absl::SleepFor(absl::Milliseconds(50));
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < replicas; ++i) {
      if (ids[i].empty()) ++failed;
      if (ids[i] != ids[0]) ++mismatched;
      in_progress_answers += busy[i];
    }
    if ((round + 1) % 200 == 0 || round + 1 == rounds) {
      for (const auto& [u, n] : UpstreamCreates(sim->port)) creates[u] += n;
      tlbench::HttpCall(sim->port, "DELETE", "/_sim/requests");
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  int total = 0, max_per_id = 0, missing = 0;
  for (int round = 0; round < rounds; ++round) {
    auto it = creates.find(absl::StrCat("https://cdn.example.com/dup-", round, ".mp4"));
    const int n = it == creates.end() ? 0 : it->second;
    total += n;
    max_per_id = std::max(max_per_id, n);
    if (n == 0) ++missing;
  }
  std::printf("\n| rounds | replicas | upstream creates | per request_id (max) | request_ids with none | callers "
              "failed | callers with another task | REQUEST_IN_PROGRESS answers | rounds/s | target |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::printf("| %d | %d | %d | %d | %d | %d | %d | %d | %.1f | %s |\n", rounds, replicas, total, max_per_id, missing,
              failed, mismatched, in_progress_answers, rounds / seconds,
              total == rounds && max_per_id == 1 && failed == 0 && mismatched == 0 ? "exactly 1: met" : "MISSED");
  for (auto& g : gateways) g.process->Stop();
  sim->process->Stop();
  tlbench::RemoveOrKeepLogs(*dir, true, false);
  return total == rounds && max_per_id == 1 ? 0 : 1;
}
