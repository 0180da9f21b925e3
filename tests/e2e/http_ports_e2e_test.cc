// The webhook and admin HTTP ports hold up under idle and slow connections
// (issue 11 item 7): with 300 idle and 50 trickling (slowloris) connections
// open to each port, more than the 256 cap, a signed webhook is still
// accepted and reaches a watch stream, /readyz still answers 200, and once
// the attackers go the gateway's open files return to their baseline.
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"
#include <httplib.h>

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr char kSecret[] = "whsec_e2e_Hp4Qs8Wm2Xc6";
constexpr int kIdle = 300;
constexpr int kSlow = 50;

std::string Sign(const std::string& t, const std::string& body) {
  const std::string payload = t + "." + body;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret, static_cast<int>(sizeof(kSecret) - 1),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), len));
}

int OpenFiles(int pid) {
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

// A loopback connection that sends nothing (or what the test trickles).
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

class HttpPortsE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    // This process opens about 700 sockets.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    const std::string port_file = TempPath("webhook.port");
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.env["TWELVELABS_WEBHOOK_SECRET"] = kSecret;
    // Polls far apart: a change seen sooner came from a webhook.
    args.extra_args = {"--webhook_listen=127.0.0.1:0", "--webhook_port_file=" + port_file,
                       "--watch_interval_seconds=30", "--watch_min_interval_seconds=1",
                       "--watch_max_interval_seconds=60", "--webhook_safety_interval_seconds=60"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    auto port = WaitForPortFile(port_file, gateway_.process.get());
    ASSERT_TRUE(port.ok()) << port.status();
    webhook_port_ = *port;
    httplib::Client sim_client("127.0.0.1", sim_.port);
    auto r = sim_client.Post(
        "/_sim/webhooks/config",
        json{{"url", absl::StrCat("http://127.0.0.1:", webhook_port_, "/webhooks/twelvelabs")},
             {"secret", kSecret}}
            .dump(),
        "application/json");
    ASSERT_TRUE(r && r->status == 200);
  }

  void TearDown() override {
    stop_ = true;
    if (trickler_.joinable()) trickler_.join();
    CloseAttackers();
  }

  // Opens kIdle silent and kSlow trickling connections to `port`.
  void Attack(int port) {
    for (int i = 0; i < kIdle; ++i) {
      int fd = Connect(port);
      ASSERT_GE(fd, 0) << "connect " << i;
      idle_.push_back(fd);
    }
    for (int i = 0; i < kSlow; ++i) {
      int fd = Connect(port);
      ASSERT_GE(fd, 0);
      slow_.push_back(fd);
    }
  }

  // One header byte per connection every 500 ms (a slowloris), until the
  // test ends; errors (the gateway closed it) are ignored.
  void StartTrickling() {
    trickler_ = std::thread([this] {
      const std::string head = "POST /webhooks/twelvelabs HTTP/1.1\r\nX-Slow: " + std::string(4000, 's');
      for (size_t i = 0; !stop_; ++i) {
        for (int fd : slow_) (void)send(fd, &head[i % head.size()], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        absl::SleepFor(absl::Milliseconds(500));
      }
    });
  }

  void CloseAttackers() {
    for (std::vector<int>* fds : {&idle_, &slow_}) {
      for (int fd : *fds) close(fd);
      fds->clear();
    }
  }

  std::string CreateTask() {
    auto upload = gw::UploadService::NewStub(gateway_.channel);
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/slowloris.mp4");
    gw::Task task;
    grpc::Status s = upload->CreateUrlTask(Ctx().get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task.id();
  }

  int Deliver(const std::string& body) {
    httplib::Client c("127.0.0.1", webhook_port_);
    c.set_connection_timeout(10, 0);
    c.set_read_timeout(10, 0);
    const std::string t = std::to_string(absl::ToUnixSeconds(absl::Now()));
    auto r = c.Post("/webhooks/twelvelabs", {{"TL-Signature", absl::StrCat("t=", t, ",v1=", Sign(t, body))}},
                    body, "application/json");
    return r ? r->status : -1;
  }

  int webhook_port_ = 0;
  std::vector<int> idle_, slow_;
  std::atomic<bool> stop_{false};
  std::thread trickler_;
};

TEST_F(HttpPortsE2E, WebhooksAndReadinessSurviveIdleAndSlowConnectionsAndFilesReturn) {
  const int pid = gateway_.process->pid();
  const std::string id = CreateTask();
  auto tasks = gw::TaskService::NewStub(gateway_.channel);
  auto ctx = Ctx(absl::Seconds(40));
  gw::WatchTaskRequest req;
  req.set_task_id(id);
  auto reader = tasks->WatchTask(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_EQ(event.task().status_text(), "validating");
  const int baseline = OpenFiles(pid);
  ASSERT_GT(baseline, 0);

  const absl::Time start = absl::Now();
  Attack(webhook_port_);
  Attack(gateway_.admin_port);
  StartTrickling();
  ASSERT_EQ(idle_.size() + slow_.size(), size_t{2 * (kIdle + kSlow)});

  // During the attack (well within the 5 s head deadline of the idle ones):
  auto ready = HttpGet(gateway_.admin_port, "/readyz");
  EXPECT_TRUE(ready.ok()) << ready.status();
  // A signed delivery of our own is accepted...
  const std::string body = json{{"id", "whe_slowloris_0000000000000001"},
                                {"created_at", "2026-11-29T10:00:00Z"},
                                {"type", "index.task.processing"},
                                {"data", {{"id", "aaaaaaaaaaaaaaaaaaaaaaaa"}, {"status", "processing"}}}}
                               .dump();
  EXPECT_EQ(Deliver(body), 200);
  // ...and the simulator's own signed webhook reaches the watch stream.
  control_->ForceStatus(id, "ready");
  ASSERT_TRUE(reader->Read(&event)) << "no event: the webhook did not get through";
  EXPECT_EQ(event.task().status_text(), "ready");
  EXPECT_EQ(event.source(), gw::EVENT_SOURCE_WEBHOOK);
  ready = HttpGet(gateway_.admin_port, "/readyz");
  EXPECT_TRUE(ready.ok()) << ready.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));

  // The cap held: connections over it were closed to make room.
  auto metrics = HttpGet(gateway_.admin_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  for (const char* port : {"admin", "webhook"}) {
    const std::string label = absl::StrCat("{port=\"", port, "\"}");
    EXPECT_GT(MetricValue(*metrics, "tl_gateway_http_connections_evicted_total" + label), 0) << port;
    EXPECT_LE(MetricValue(*metrics, "tl_gateway_http_connections_open" + label), 256) << port;
  }
  EXPECT_GT(OpenFiles(pid), baseline + 256) << "the attack did not reach the gateway";

  // The attackers go; so do the gateway's files.
  stop_ = true;
  trickler_.join();
  CloseAttackers();
  EXPECT_TRUE(Eventually([&] { return OpenFiles(pid) <= baseline + 8; }, "open files back near the baseline",
                         absl::Seconds(15)))
      << OpenFiles(pid) << " open, baseline " << baseline;
  // And the ports still serve.
  EXPECT_TRUE(HttpGet(gateway_.admin_port, "/healthz").ok());
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
}

// The slow ones are cut off at the head deadline, not kept forever by a
// byte now and then (httplib's per-recv timeout never fired for them).
TEST_F(HttpPortsE2E, TricklingConnectionsAreClosedAtTheHeadDeadline) {
  gateway_.process->Stop();
  GatewayArgs args;
  args.upstream_url = sim_.Url("v1.3");
  args.extra_args = {"--http_head_timeout_seconds=1"};
  ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  for (int i = 0; i < 20; ++i) {
    int fd = Connect(gateway_.admin_port);
    ASSERT_GE(fd, 0);
    slow_.push_back(fd);
  }
  StartTrickling();
  // Closed (EOF after the 408, or a reset) within a generous bound.
  const absl::Time end = absl::Now() + absl::Seconds(15);
  size_t closed = 0;
  std::vector<bool> done(slow_.size(), false);
  while (closed < slow_.size() && absl::Now() < end) {
    for (size_t i = 0; i < slow_.size(); ++i) {
      if (done[i]) continue;
      char buf[4096];
      ssize_t n = recv(slow_[i], buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        done[i] = true;
        ++closed;
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(closed, slow_.size());
  auto metrics = HttpGet(gateway_.admin_port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_GE(MetricValue(*metrics, "tl_gateway_http_connections_timed_out_total{port=\"admin\"}"), 20);
}

}  // namespace
}  // namespace tltest
