// How the gateway binary starts, and refuses to start, as a process.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

// Runs the gateway and expects it to exit by itself, non-zero, saying
// `mentions`.
void ExpectRefusal(std::vector<std::string> args, std::map<std::string, std::string> env,
                   const std::string& mentions) {
  std::vector<std::string> argv = {Runfile("server/gateway"), "--listen=127.0.0.1:0", "--state_db=:memory:"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = Process::Start(argv, env, TempPath("refusal.log"));
  ASSERT_TRUE(p.ok()) << p.status();
  auto status = (*p)->WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << "gateway kept running; expected a refusal mentioning " << mentions;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  std::string log = (*p)->Log();
  EXPECT_TRUE(absl::StrContains(log, mentions)) << log;
}

TEST(Startup, InvalidConfigStopsStartupNamingTheField) {
  std::string path = TempPath("bad-config.json");
  std::ofstream(path) << R"({"integrations":[{"name":"x","integration_id":"not-an-id"}]})";
  ExpectRefusal({"--config=" + path}, {{"TWELVELABS_API_KEY", "k"}}, "integrations[0].integration_id");
  std::ofstream(path) << R"({"integrations":[], "upstream":"typo"})";
  ExpectRefusal({"--config=" + path}, {{"TWELVELABS_API_KEY", "k"}}, "upstream");
  ExpectRefusal({"--config=/nonexistent/config.json"}, {{"TWELVELABS_API_KEY", "k"}}, "--config");
}

TEST(Startup, NoKeyAndNoSimulatorIsRefused) {
  ExpectRefusal({}, {{"TWELVELABS_API_KEY", ""}}, "TWELVELABS_API_KEY");
}

TEST(Startup, UpstreamUrlMustNameTheVersion) {
  ExpectRefusal({"--upstream_url=https://api.twelvelabs.io"}, {{"TWELVELABS_API_KEY", "k"}}, "upstream_url");
}

TEST(Startup, OutOfRangeTuningFlagsAreRefused) {
  ExpectRefusal({"--grpc_stream_window_kib=1"}, {{"TWELVELABS_API_KEY", "k"}}, "--grpc_stream_window_kib");
  ExpectRefusal({"--max_polls_per_second=0"}, {{"TWELVELABS_API_KEY", "k"}}, "--max_polls_per_second");
  ExpectRefusal({"--asset_upload_chunks_in_flight=0"}, {{"TWELVELABS_API_KEY", "k"}},
                "--asset_upload_chunks_in_flight: must be 1..64");
  ExpectRefusal({"--upload_memory_mib=4"}, {{"TWELVELABS_API_KEY", "k"}}, "--upload_memory_mib: must be 8..65536");
  // A budget below one multipart upload's cap could never start one.
  ExpectRefusal({"--upload_memory_mib=32", "--asset_upload_max_buffer_mib=48"}, {{"TWELVELABS_API_KEY", "k"}},
                "--upload_memory_mib: must be at least --asset_upload_max_buffer_mib");
}

TEST(Startup, BadStateStoreFlagsAreRefused) {
  // ExpectRefusal passes --state_db too: both at once are ambiguous.
  ExpectRefusal({"--state_store=sqlite:/tmp/x.db"}, {{"TWELVELABS_API_KEY", "k"}}, "give one of them");
  ExpectRefusal({"--state_notify=notify"}, {{"TWELVELABS_API_KEY", "k"}}, "--state_notify");
  ExpectRefusal({"--replica_id=a b"}, {{"TWELVELABS_API_KEY", "k"}}, "--replica_id");
}

TEST(Startup, SimulateServesAndSaysSoInTheFirstLogLine) {
  std::string port_file = TempPath("sim-gateway.port");
  auto p = Process::Start({Runfile("server/gateway"), "--listen=127.0.0.1:0", "--simulate",
                           "--state_db=:memory:", "--port_file=" + port_file},
                          {{"TWELVELABS_API_KEY", ""}}, TempPath("simulate.log"));
  ASSERT_TRUE(p.ok()) << p.status();
  auto port = WaitForPortFile(port_file, p->get());
  ASSERT_TRUE(port.ok()) << port.status();
  std::string first_line = std::vector<std::string>(absl::StrSplit((*p)->Log(), '\n'))[0];
  EXPECT_TRUE(absl::StrContains(first_line, "simulator")) << first_line;

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  auto upload = gw::UploadService::NewStub(channel);
  gw::CreateUrlTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_video_url("https://cdn.example.com/demo.mp4");
  gw::Task task;
  grpc::Status s = upload->CreateUrlTask(Ctx().get(), req, &task);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(task.status(), gw::TASK_STATUS_VALIDATING);
  int status = (*p)->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace tltest
