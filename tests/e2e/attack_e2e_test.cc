// The adversarial suite (issue 11 item 9): the real gateway, started with a
// low open-file limit and small quotas, against the attacks that once broke
// it. Each attack is bounded in count and time and stays on loopback; each
// test asserts that the gateway keeps serving a well-behaved client, that
// it recovers, and that what the attack made it hold is given back.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <memory>
#include <thread>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/e2e/attacks.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

// ASan's allocator keeps freed memory in quarantine and ignores
// malloc_trim: under the sanitizers resident memory says nothing about the
// gateway's own bounds, so those checks run only in the plain build.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPlainHeap = false;
#else
constexpr bool kPlainHeap = true;
#endif

std::string ErrorInfoReason(const grpc::Status& s) {
  auto info = tlgw::ErrorInfoOf(s);
  return info ? info->reason() : "(no ErrorInfo)";
}

class AttackE2E : public E2EFixture<> {
 protected:
  void Start(int max_open_files, std::vector<std::string> extra = {}) {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.max_open_files = max_open_files;
    args.extra_args = std::move(extra);
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  }
  void TearDown() override {
    if (gateway_.process != nullptr) gateway_.process->Stop();
    if (HasFailure() && !gateway_.log_path.empty()) {
      std::ifstream in(gateway_.log_path);
      std::string line;
      std::deque<std::string> tail;
      while (std::getline(in, line)) {
        tail.push_back(line.substr(0, 300));
        if (tail.size() > 15) tail.pop_front();
      }
      for (const std::string& l : tail) std::cerr << "gateway: " << l << "\n";
    }
  }
  // One ListTasks on `channel`; whether it succeeded.
  static bool Serves(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = gw::TaskService::NewStub(channel);
    gw::ListTasksRequest req;
    req.set_index_id(kSeedIndex);
    gw::ListTasksResponse resp;
    auto ctx = Ctx(absl::Seconds(5));
    return stub->ListTasks(ctx.get(), req, &resp).ok();
  }
  // A channel with its own connection (equal arguments would share one).
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt("test.channel_number", ++channels_);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", gateway_.port),
                                     grpc::InsecureChannelCredentials(), args);
  }
  std::string Metrics() {
    auto m = HttpGet(gateway_.admin_port, "/metrics");
    return m.ok() ? *m : "";
  }
  // Calls the well-behaved client makes on its own connection while
  // `attack` runs; returns {served, failed}.
  template <typename Attack>
  std::pair<int, int> ServedDuring(const std::shared_ptr<grpc::Channel>& client, Attack attack) {
    std::atomic<bool> done{false};
    std::atomic<int> served{0}, failed{0};
    std::thread caller([&] {
      while (!done) {
        (Serves(client) ? served : failed)++;
        absl::SleepFor(absl::Milliseconds(20));
      }
    });
    attack();
    done = true;
    caller.join();
    return {served.load(), failed.load()};
  }

  int channels_ = 0;
};

TEST_F(AttackE2E, AConnectionFloodNeverStopsTheListenerAndConnectedClientsStayServed) {
  Start(/*max_open_files=*/192);
  const pid_t pid = gateway_.process->pid();
  ASSERT_TRUE(Serves(gateway_.channel));
  const int baseline_fds = OpenDescriptors(pid);
  auto [served, failed] = ServedDuring(gateway_.channel, [&] {
    IdleConnections flood(gateway_.port, 600);  // three times the file limit
    absl::SleepFor(absl::Seconds(2));
    // Over the cap, not out of descriptors: still ready.
    EXPECT_TRUE(HttpGet(gateway_.admin_port, "/readyz").ok()) << "the gateway must stay ready";
    const std::string m = Metrics();
    EXPECT_GT(MetricValue(m, "tl_gateway_grpc_connections_rejected_total"), 0);
    // The cap derived from 192 files: half of them, the rest kept for others.
    EXPECT_LE(MetricValue(m, "tl_gateway_grpc_connections"), 96);
  });
  EXPECT_GT(served, 0);
  EXPECT_EQ(failed, 0) << "a client connected before the flood must be served throughout";
  // At so low a file limit a fast enough burst can still outrun gRPC's
  // closing of refused connections and make accept() fail once; the
  // listener then restarts (next test), so that is not asserted here.
  // After the flood, new clients get in and the descriptors are given back.
  EXPECT_TRUE(Eventually([&] { return Serves(NewChannel()); }, "a new client served after the flood",
                         absl::Seconds(15)));
  EXPECT_TRUE(Eventually([&] { return OpenDescriptors(pid) <= baseline_fds + 8; },
                         "descriptors back near the baseline", absl::Seconds(15)))
      << OpenDescriptors(pid) << " open, baseline " << baseline_fds;
}

TEST_F(AttackE2E, AListenerThatRanOutOfDescriptorsIsRestartedAndReadyzSaysNotReadyMeanwhile) {
  // A cap above what the file limit allows (the gateway warns): the flood
  // does exhaust descriptors, which once stopped gRPC's listener for good.
  Start(/*max_open_files=*/128, {"--grpc_max_connections=1000"});
  ASSERT_TRUE(Serves(gateway_.channel));
  {
    IdleConnections flood(gateway_.port, 500);
    // As an orchestrator's probe: a 503, or no answer within a second.
    EXPECT_TRUE(Eventually([&] { return !HttpGet(gateway_.admin_port, "/readyz", absl::Seconds(1)).ok(); },
                           "/readyz to say not ready while the listener cannot accept",
                           absl::Seconds(20)));
    EXPECT_TRUE(Serves(gateway_.channel)) << "connections made before keep being served";
  }
  EXPECT_TRUE(Eventually([&] { return HttpGet(gateway_.admin_port, "/readyz").ok(); },
                         "/readyz ready again once descriptors are free", absl::Seconds(15)));
  EXPECT_TRUE(Eventually([&] { return Serves(NewChannel()); }, "a new client served after the restart",
                         absl::Seconds(10)));
  EXPECT_GE(MetricValue(Metrics(), "tl_gateway_grpc_listener_restarts_total"), 1);
}

TEST_F(AttackE2E, RapidResetStreamsAreBoundedAndMemoryReturns) {
  Start(/*max_open_files=*/256, {"--memory_quota_mib=64"});
  const pid_t pid = gateway_.process->pid();
  ASSERT_TRUE(Serves(gateway_.channel));
  const int64_t before = ResidentBytes(pid);
  PeakResident sampler(pid);
  RapidResetResult attack;
  auto [served, failed] = ServedDuring(gateway_.channel, [&] {
    attack = RapidReset(gateway_.port, "/twelvelabs.gateway.v1.TaskService/WatchTask", 2000000, 10);
  });
  const int64_t peak = sampler.Stop();
  EXPECT_GT(served, 0) << "another client must be served during the attack";
  EXPECT_LT(failed, served / 10 + 1);
  // Back near the baseline (it once stayed at 2.4 GB): within the trimmer's
  // 32 MiB of free heap plus what fragmentation keeps.
  EXPECT_TRUE(!kPlainHeap || Eventually([&] { return ResidentBytes(pid) < before + (128 << 20); },
                                       "resident memory back within 128 MiB of its baseline", absl::Seconds(15)))
      << "before " << before << " peak " << peak << " now " << ResidentBytes(pid) << " after "
      << attack.streams << " streams";
  // Unguarded, gRPC 1.51 queued the reset streams' calls without bound
  // (2 GB in 10 s). The call guard closes a connection whose calls pile up
  // (tl_gateway_grpc_connections_abusive_closed_total); when the gateway
  // keeps up, nothing piles up and it need not.
  if (kPlainHeap) EXPECT_LT(peak, before + (512 << 20));
  RecordProperty("streams", std::to_string(attack.streams));
  RecordProperty("rss_before", std::to_string(before));
  RecordProperty("rss_peak", std::to_string(peak));
  RecordProperty("rss_after", std::to_string(ResidentBytes(pid)));
  std::cerr << "rapid reset: " << attack.streams << " streams on " << attack.connections
            << " connections, RSS before " << (before >> 20) << " MiB, peak " << (peak >> 20) << " MiB, after " << (ResidentBytes(pid) >> 20) << " MiB; well-behaved calls "
            << served << " served, " << failed << " failed\n";
}

TEST_F(AttackE2E, AMalformedRequestGetsInvalidArgumentSayingWhatToSend) {
  Start(0);
  grpc::GenericStub stub(gateway_.channel);
  const std::string garbage("\xff\xff\xff\xff\x0f\x0a", 6);  // not a valid protobuf
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1), response;
  auto ctx = Ctx();
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(ctx.get(), "/twelvelabs.gateway.v1.TaskService/GetTask", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("twelvelabs.gateway.v1.GetTaskRequest"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(ErrorInfoReason(status), "MALFORMED_REQUEST");
}

TEST_F(AttackE2E, AnUnknownMethodIsNamedAndItsNameCannotFloodTheMetrics) {
  Start(0);
  grpc::GenericStub stub(gateway_.channel);
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  for (int i = 0; i < 50; ++i) {
    auto ctx = Ctx();
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(ctx.get(), absl::StrCat("/evil.Service/Method", i, std::string(300, 'x')),
                   grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(status.error_message().find("unknown method"), std::string::npos) << status.error_message();
    EXPECT_EQ(ErrorInfoReason(status), "METHOD_NOT_FOUND");
  }
  const std::string metrics = Metrics();
  EXPECT_EQ(metrics.find("evil"), std::string::npos) << "method names callers make up never become labels";
  EXPECT_LT(metrics.size(), 64u << 10);
}

TEST_F(AttackE2E, OversizedMessagesAreRefusedWithBoundedMemory) {
  // gRPC 1.51 checks a message's size only once it has all arrived, so what
  // bounds the buffering is the memory quota: past it, gRPC closes the
  // connections that hold the memory.
  Start(0, {"--memory_quota_mib=64"});
  const pid_t pid = gateway_.process->pid();
  ASSERT_TRUE(Serves(gateway_.channel));
  const int64_t before = ResidentBytes(pid);
  PeakResident sampler(pid);
  // Two 400 MiB requests at once, each on its own connection: 800 MiB that
  // the gateway would buffer whole without the quota.
  std::vector<grpc::Status> statuses(2);
  auto [served, failed] = ServedDuring(gateway_.channel, [&] {
    std::vector<std::thread> senders;
    for (grpc::Status& status : statuses) {
      senders.emplace_back([&, channel = NewChannel()] {
        grpc::GenericStub stub(channel);
        std::string big(size_t{400} << 20, 'x');
        grpc::Slice slice(big);
        grpc::ByteBuffer request(&slice, 1), response;
        auto ctx = Ctx(absl::Seconds(30));
        absl::Notification done;
        stub.UnaryCall(ctx.get(), "/twelvelabs.gateway.v1.TaskService/GetTask", grpc::StubOptions(), &request,
                       &response, [&](grpc::Status s) {
                         status = std::move(s);
                         done.Notify();
                       });
        done.WaitForNotification();
      });
    }
    for (std::thread& t : senders) t.join();
  });
  const int64_t peak = sampler.Stop();
  for (const grpc::Status& status : statuses) {
    // Refused for its size, or its connection closed by the quota first.
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                status.error_code() == grpc::StatusCode::UNAVAILABLE)
        << status.error_code() << " " << status.error_message();
  }
  EXPECT_LE(failed, 2) << "the well-behaved client's own connection may be reclaimed once";
  std::cerr << "oversized: RSS before " << (before >> 20) << " MiB, peak " << (peak >> 20)
            << " MiB; well-behaved calls " << served << " served, " << failed << " failed\n";
  if (kPlainHeap) {
    EXPECT_LT(peak, before + (256 << 20)) << "the memory quota must bound what refused messages hold";
    EXPECT_TRUE(Eventually([&] { return ResidentBytes(pid) < before + (64 << 20); },
                           "resident memory back within 64 MiB of its baseline", absl::Seconds(10)));
  }
}

TEST_F(AttackE2E, CallersWithoutATokenCannotWriteLargeLogLines) {
  // One configured client, so callers need a token; theirs is wrong.
  const std::string audit = TempPath("audit.jsonl");
  ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
  GatewayArgs args;
  args.upstream_url = sim_.Url("v1.3");
  args.api_key = "";
  args.env["TL_ATTACK_KEY"] = kTestApiKey;
  args.config_json = R"({"tenants": [{"name": "t", "api_keys": [{"env": "TL_ATTACK_KEY"}]}],
    "clients": [{"id": "c", "tenant": "t", "methods": ["*"],
      "token_sha256": "064d71a61b3c13f881cbbb415f132a8bca107a60836f97a625724aa70866260b"}]})";
  args.extra_args = {"--audit_log=" + audit};
  ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  auto stub = gw::TaskService::NewStub(gateway_.channel);
  grpc::GenericStub generic(gateway_.channel);
  for (int i = 0; i < 20; ++i) {
    auto ctx = Ctx();
    ctx->AddMetadata("authorization", "Bearer " + std::string(4000, 'k'));
    ctx->AddMetadata("x-request-id", std::string(3000, 'r'));
    gw::GetTaskRequest req;
    req.set_task_id(std::string(1 << 20, 'a'));
    gw::Task task;
    EXPECT_EQ(stub->GetTask(ctx.get(), req, &task).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    auto ctx2 = Ctx();
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    absl::Notification done;
    generic.UnaryCall(ctx2.get(), "/" + std::string(6000, 'm'), grpc::StubOptions(), &request, &response,
                      [&](grpc::Status) { done.Notify(); });
    done.WaitForNotification();
  }
  gateway_.process->Stop();
  for (const std::string& path : {audit, gateway_.log_path}) {
    std::ifstream in(path);
    std::string line;
    size_t longest = 0, total = 0, lines = 0;
    while (std::getline(in, line)) {
      longest = std::max(longest, line.size());
      total += line.size();
      ++lines;
    }
    EXPECT_GT(lines, 0u) << path;
    EXPECT_LE(longest, 4096u) << path << ": one line must stay small whatever callers send";
    EXPECT_LT(total, 200u << 10) << path;
  }
}

}  // namespace
}  // namespace tltest
