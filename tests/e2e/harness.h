// End-to-end fixtures: the real simulator and the real gateway as separate
// processes on loopback, a gRPC channel to the gateway, and the simulator's
// control API (request log, faults, clock).
#ifndef TL_GATEWAY_TESTS_E2E_HARNESS_H_
#define TL_GATEWAY_TESTS_E2E_HARNESS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"

#include "absl/status/statusor.h"
#include "tests/e2e/process.h"
#include <nlohmann/json.hpp>

namespace tltest {

inline constexpr char kTestApiKey[] = "tlk_e2e_Zq8sLw3v9Xy2";
inline constexpr char kSeedIndex[] = "0123456789abcdef01234567";
inline constexpr char kSeedIntegration[] = "0123456789abcdef89abcdef";

struct SimProcess {
  std::unique_ptr<Process> process;
  int port = 0;
  std::string Url(const std::string& version) const {
    return "http://127.0.0.1:" + std::to_string(port) + "/" + version;
  }
};

// Starts //sim:twelvelabs_sim with a manual clock and kTestApiKey.
absl::StatusOr<SimProcess> StartSim(std::vector<std::string> extra_args = {});

struct GatewayProcess {
  std::unique_ptr<Process> process;
  int port = 0;
  int admin_port = 0;
  std::string log_path;
  std::shared_ptr<grpc::Channel> channel;
};

struct GatewayArgs {
  std::string upstream_url;
  std::string api_key = kTestApiKey;
  std::string config_json;  // written to a file and passed as --config
  std::string state_db = ":memory:";
  // When set, passed as --state_store instead of --state_db (e.g.
  // "postgres:" + a PostgresServer's conninfo).
  std::string state_store;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;  // more environment for the gateway
  // For TLS: the credentials and host name the test channel uses.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  std::string target_host = "127.0.0.1";
  // When set, the gateway's open-file limit (soft and hard, through
  // prlimit), for attacks that aim at running it out of descriptors.
  int max_open_files = 0;
};

absl::StatusOr<GatewayProcess> StartGateway(const GatewayArgs& args);

// The simulator's /_sim/ control API.
class SimControl {
 public:
  explicit SimControl(int port) : port_(port) {}
  // The REST requests received, oldest first, optionally only those whose
  // path contains `path_contains`.
  nlohmann::json Requests(const std::string& path_contains = "");
  void ClearRequests();
  int AddFault(const nlohmann::json& fault);
  void ClearFaults();
  void AdvanceClock(double seconds);
  void ForceStatus(const std::string& task_id, const std::string& status);

 private:
  nlohmann::json Call(const std::string& method, const std::string& path, const std::string& body = "");
  int port_;
};

// GET http://127.0.0.1:<port><path>; the body, or an error.
// A request left unanswered for `timeout` is an error too (as a probe's).
absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    absl::Duration timeout = absl::Seconds(10));
// The value of the sample `name{labels}` in Prometheus text, or -1.
double MetricValue(const std::string& metrics, const std::string& name_and_labels);

// Polls `pred` every 10 ms until it is true or `timeout` passes; the
// failure names `what`, so a hang is a test failure with a message.
template <typename Pred>
::testing::AssertionResult Eventually(Pred pred, const std::string& what,
                                      absl::Duration timeout = absl::Seconds(20)) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return ::testing::AssertionSuccess();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return ::testing::AssertionFailure() << "timed out waiting for " << what;
}

// What the end-to-end fixtures share: the simulator, its control API and a
// gateway against it. The Launch helpers fail the test fatally when a
// process does not come up: call them inside ASSERT_NO_FATAL_FAILURE.
template <typename Base = ::testing::Test>
class E2EFixture : public Base {
 protected:
  void LaunchSimulator(std::vector<std::string> extra_args = {}) {
    auto sim = StartSim(std::move(extra_args));
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = std::move(*sim);
    control_ = std::make_unique<SimControl>(sim_.port);
  }
  void LaunchGateway(const GatewayArgs& args) {
    auto gateway = StartGateway(args);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
  }

  SimProcess sim_;
  std::unique_ptr<SimControl> control_;
  GatewayProcess gateway_;
};

// A context with a deadline, the default for every test call.
std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(20));

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_E2E_HARNESS_H_
