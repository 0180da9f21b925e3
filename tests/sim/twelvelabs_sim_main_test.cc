// Runs the twelvelabs_sim binary the way scripts do: port 0, --port_file,
// keys from flags or the environment, SIGTERM to stop.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/sim/sim_test_util.h"

extern char** environ;

namespace tlsim::testing {
namespace {

std::string BinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "tl_gateway",
                      "/sim/twelvelabs_sim");
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp ? tmp : "/tmp", "/", name);
}

class Process {
 public:
  Process(std::vector<std::string> args, std::vector<std::string> extra_env) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    env_ = std::move(extra_env);
    std::vector<char*> envp;
    for (std::string& e : env_) envp.push_back(e.data());
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
    }
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }

  // Sends `sig`; returns the exit code, or -1 if it did not exit in time.
  int StopWith(int sig, std::chrono::seconds timeout) {
    kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  std::vector<std::string> env_;
};

// Waits for the port file; 0 on timeout.
int WaitForPort(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST(TwelvelabsSimMainTest, PortFileKeysAndSigterm) {
  const std::string port_file = TempPath("port_flags");
  Process sim({BinaryPath(), "--listen=127.0.0.1:0", "--port_file=" + port_file, "--api_keys=k1,k2",
               "--manual_clock", "--create_rate_limit=1"},
              {});
  ASSERT_GT(sim.pid(), 0) << BinaryPath();
  const int port = WaitForPort(port_file);
  ASSERT_GT(port, 0) << "no port file";
  SimClient client(port, "k2");
  EXPECT_TRUE(IsJsonStatus(client.Control("GET", "/_sim/health"), 200));
  EXPECT_TRUE(IsJsonStatus(client.Get("/v1.3/tasks"), 200));
  HttpResult r = client.PostForm(
      "/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}, {"video_url", "https://c/a.mp4", "", ""}});
  EXPECT_EQ(r.Header("X-Ratelimit-Limit"), "1");
  client.set_api_key(kKey);
  EXPECT_TRUE(IsApiError(client.Get("/v1.3/tasks"), 401, "api_key_invalid"));
  EXPECT_EQ(sim.StopWith(SIGTERM, std::chrono::seconds(10)), 0);
}

TEST(TwelvelabsSimMainTest, KeysFromEnvironmentAndSigint) {
  const std::string port_file = TempPath("port_env");
  Process sim({BinaryPath(), "--listen=127.0.0.1:0", "--port_file=" + port_file},
              {"TWELVELABS_SIM_API_KEYS=envkey"});
  ASSERT_GT(sim.pid(), 0);
  const int port = WaitForPort(port_file);
  ASSERT_GT(port, 0);
  SimClient client(port, "envkey");
  EXPECT_TRUE(IsJsonStatus(client.Get("/v1.2/tasks"), 200));
  EXPECT_EQ(sim.StopWith(SIGINT, std::chrono::seconds(10)), 0);
}

TEST(TwelvelabsSimMainTest, WebhookUrlFlagAndSecretFromEnvironment) {
  WebhookSink sink;
  const std::string port_file = TempPath("port_webhooks");
  Process sim({BinaryPath(), "--listen=127.0.0.1:0", "--port_file=" + port_file,
               "--stage_seconds=0", "--webhook_url=" + sink.url("/from-flag")},
              {"TWELVELABS_SIM_WEBHOOK_SECRET=env-secret"});
  ASSERT_GT(sim.pid(), 0);
  const int port = WaitForPort(port_file);
  ASSERT_GT(port, 0);
  SimClient client(port);
  // With stage 0 the task is ready as soon as it exists.
  const std::string id = CreateUrlTask(client, "v1.3", "https://c/now.mp4");
  std::vector<WebhookSink::Delivery> got = sink.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/from-flag");
  EXPECT_NE(got[0].body.find(id), std::string::npos) << got[0].body;
  EXPECT_TRUE(SignedWith(got[0], "env-secret"));
  EXPECT_EQ(sim.StopWith(SIGTERM, std::chrono::seconds(10)), 0);
}

TEST(TwelvelabsSimMainTest, AssetFlags) {
  const std::string port_file = TempPath("port_assets");
  Process sim({BinaryPath(), "--listen=127.0.0.1:0", "--port_file=" + port_file,
               "--multipart_chunk_bytes=1234", "--multipart_initial_urls=1",
               "--presigned_url_ttl_seconds=60", "--empty_success_status=204"},
              {});
  ASSERT_GT(sim.pid(), 0);
  const int port = WaitForPort(port_file);
  ASSERT_GT(port, 0);
  SimClient client(port);
  HttpResult r = client.PostJson("/v1.3/assets/multipart-uploads",
                                 {{"filename", "a.mp4"}, {"type", "video"}, {"total_size", 5000}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  EXPECT_EQ(r.json["chunk_size"], 1234);
  EXPECT_EQ(r.json["total_chunks"], 5);
  EXPECT_EQ(r.json["upload_urls"].size(), 1u);
  HttpResult config = client.Control("GET", "/_sim/assets/config");
  EXPECT_EQ(config.json["url_ttl_seconds"], 60);
  EXPECT_EQ(config.json["empty_success_status"], 204);
  EXPECT_EQ(client.Delete("/v1.3/assets/" + r.json["asset_id"].get<std::string>()).status, 204);
  EXPECT_EQ(sim.StopWith(SIGTERM, std::chrono::seconds(10)), 0);
}

TEST(TwelvelabsSimMainTest, BadListenFlagFails) {
  Process sim({BinaryPath(), "--listen=nonsense"}, {});
  ASSERT_GT(sim.pid(), 0);
  EXPECT_EQ(sim.StopWith(0, std::chrono::seconds(10)), 2);
}

}  // namespace
}  // namespace tlsim::testing
