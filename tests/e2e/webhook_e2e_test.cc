// Signed webhooks end to end: the simulator signs and sends them, the
// gateway's receiver verifies them and pushes the change to subscribers
// without waiting for a poll; forged, stale, replayed and malformed
// deliveries are rejected and change nothing.
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
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

constexpr char kSecret[] = "whsec_e2e_Pq7Zr2Lk9Vn4";

std::string Sign(const std::string& t, const std::string& body, const std::string& secret) {
  std::string payload = t + "." + body;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), len));
}

class WebhookE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    // Polls far apart: anything seen sooner came from a webhook.
    StartGatewayWith({"--watch_interval_seconds=30", "--watch_min_interval_seconds=1",
                      "--watch_max_interval_seconds=60", "--webhook_safety_interval_seconds=60"});
  }

  void StartGatewayWith(std::vector<std::string> watch_args) {
    if (gateway_.process != nullptr) gateway_.process->Stop();
    webhook_port_file_ = TempPath("webhook.port");
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.env["TWELVELABS_WEBHOOK_SECRET"] = kSecret;
    args.extra_args = {"--webhook_listen=127.0.0.1:0", "--webhook_port_file=" + webhook_port_file_};
    args.extra_args.insert(args.extra_args.end(), watch_args.begin(), watch_args.end());
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    auto port = WaitForPortFile(webhook_port_file_, gateway_.process.get());
    ASSERT_TRUE(port.ok()) << port.status();
    webhook_port_ = *port;
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
    Post("/_sim/webhooks/config",
         {{"url", absl::StrCat("http://127.0.0.1:", webhook_port_, "/webhooks/twelvelabs")}, {"secret", kSecret}});
  }
  void TearDown() override {
    if (gateway_.process != nullptr) {
      EXPECT_FALSE(absl::StrContains(gateway_.process->Log(), kSecret)) << "the webhook secret leaked";
    }
  }

  void Post(const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", sim_.port);
    auto r = c.Post(path.c_str(), body.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : "no answer");
  }

  // Delivers `body` to the gateway's receiver with `signature_header`.
  int Deliver(const std::string& body, const std::string& signature_header) {
    httplib::Client c("127.0.0.1", webhook_port_);
    httplib::Headers h;
    if (!signature_header.empty()) h.emplace("TL-Signature", signature_header);
    auto r = c.Post("/webhooks/twelvelabs", h, body, "application/json");
    return r ? r->status : -1;
  }

  std::string CreateTask() {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/hook.mp4");
    gw::Task task;
    grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task.id();
  }

  int GetsOf(const std::string& id) {
    int n = 0;
    for (const auto& r : control_->Requests("/tasks/" + id)) n += r["method"] == "GET";
    return n;
  }

  double Metric(const std::string& name) {
    auto text = HttpGet(gateway_.admin_port, "/metrics");
    return text.ok() ? MetricValue(*text, name) : -1;
  }

  std::string webhook_port_file_;
  int webhook_port_ = 0;
  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
};

TEST_F(WebhookE2E, ReadyArrivesByWebhookWithoutWaitingForAPoll) {
  std::string id = CreateTask();
  auto ctx = Ctx(absl::Seconds(30));
  gw::WatchTaskRequest req;
  req.set_task_id(id);
  auto reader = tasks_->WatchTask(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.task().status_text(), "validating");
  int gets = GetsOf(id);
  // Straight to ready in simulated time: the simulator sends a signed
  // index.task.ready; the next poll would be 30 s away.
  absl::Time start = absl::Now();
  control_->AdvanceClock(10.0);
  ASSERT_TRUE(reader->Read(&event));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(event.task().status_text(), "ready");
  EXPECT_EQ(event.source(), gw::EVENT_SOURCE_WEBHOOK);
  EXPECT_FALSE(event.task().video_id().empty()) << "the terminal event should carry the full task";
  EXPECT_LT(took, absl::Seconds(20)) << "it waited for a poll";
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(GetsOf(id), gets + 1) << "one read when the webhook came, no poll";
  EXPECT_EQ(Metric("tl_gateway_webhook_events_total{outcome=\"accepted\"}"), 1);
}

TEST_F(WebhookE2E, ForgedStaleReplayedAndMalformedDeliveriesAreRejectedAndChangeNothing) {
  std::string id = CreateTask();
  auto ctx = Ctx(absl::Seconds(30));
  gw::WatchTaskRequest req;
  req.set_task_id(id);
  auto reader = tasks_->WatchTask(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  int gets = GetsOf(id);

  const std::string now = std::to_string(absl::ToUnixSeconds(absl::Now()));
  const std::string body = json{{"id", "whe_0123456789abcdef0123456789abcdef"},
                                {"created_at", "2026-11-29T10:00:00Z"},
                                {"type", "index.task.ready"},
                                {"data", {{"id", id}, {"status", "ready"}}}}
                               .dump();
  EXPECT_EQ(Deliver(body, absl::StrCat("t=", now, ",v1=", Sign(now, body, "wrong-secret"))), 401) << "forged";
  EXPECT_EQ(Deliver(body + " ", absl::StrCat("t=", now, ",v1=", Sign(now, body, kSecret))), 401) << "tampered";
  std::string old = std::to_string(absl::ToUnixSeconds(absl::Now()) - 3600);
  EXPECT_EQ(Deliver(body, absl::StrCat("t=", old, ",v1=", Sign(old, body, kSecret))), 401) << "stale";
  EXPECT_EQ(Deliver(body, ""), 400) << "unsigned";
  EXPECT_EQ(Deliver(body, "garbage"), 400) << "malformed header";
  EXPECT_EQ(Deliver("not json", absl::StrCat("t=", now, ",v1=", Sign(now, "not json", kSecret))), 400)
      << "garbage body";
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(GetsOf(id), gets) << "a rejected delivery made the gateway act";

  // A genuine one is accepted once; its replay is ignored.
  std::string good = absl::StrCat("t=", now, ",v1=", Sign(now, body, kSecret));
  EXPECT_EQ(Deliver(body, good), 200);
  ASSERT_TRUE(Eventually([&] { return GetsOf(id) == gets + 1; }, "the refresh read"));
  EXPECT_EQ(Deliver(body, good), 200);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(GetsOf(id), gets + 1) << "a replay made the gateway act";
  // The task is really still validating: nothing was sent to the subscriber.
  ctx->TryCancel();
  while (reader->Read(&event)) ADD_FAILURE() << "unexpected event " << event.task().status_text();
  reader->Finish();

  EXPECT_EQ(Metric("tl_gateway_webhook_events_total{outcome=\"duplicate\"}"), 1);
  EXPECT_EQ(Metric("tl_gateway_webhook_events_total{outcome=\"rejected\",reason=\"bad_signature\"}"), 2);
  EXPECT_EQ(Metric("tl_gateway_webhook_events_total{outcome=\"rejected\",reason=\"stale\"}"), 1);
  EXPECT_EQ(Metric("tl_gateway_webhook_events_total{outcome=\"rejected\",reason=\"malformed_body\"}"), 1);
}

TEST_F(WebhookE2E, PollingBacksOffToTheSafetyNetWhileWebhooksFlow) {
  StartGatewayWith({"--watch_interval_seconds=0.1", "--watch_min_interval_seconds=0.1",
                    "--watch_max_interval_seconds=1", "--webhook_safety_interval_seconds=30"});
  std::string watched = CreateTask();
  auto ctx = Ctx(absl::Seconds(30));
  gw::WatchTaskRequest req;
  req.set_task_id(watched);
  auto reader = tasks_->WatchTask(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(reader->Read(&event));
  int before = GetsOf(watched);
  absl::SleepFor(absl::Seconds(1));
  int polled = GetsOf(watched) - before;
  EXPECT_GE(polled, 4) << "without webhooks the task is polled every 0.1 s";
  // Another task reaches ready; its webhook shows webhooks are flowing.
  std::string other = CreateTask();
  control_->ForceStatus(other, "ready");
  ASSERT_TRUE(Eventually([&] { return Metric("tl_gateway_webhook_events_total{outcome=\"accepted\"}") == 1; },
                         "the webhook"));
  absl::SleepFor(absl::Milliseconds(1200));  // the poll already scheduled may still come
  int after = GetsOf(watched);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(GetsOf(watched), after) << "polling did not back off while webhooks flow";
  ctx->TryCancel();
  while (reader->Read(&event)) {
  }
  reader->Finish();
}

TEST_F(WebhookE2E, SimulatorForgeriesAreRejectedToo) {
  std::string id = CreateTask();
  Post("/_sim/webhooks/send", {{"task_id", id}, {"type", "index.task.ready"}, {"signature", "bad"}});
  Post("/_sim/webhooks/send", {{"task_id", id}, {"type", "index.task.ready"}, {"signature", "stale"}});
  ASSERT_TRUE(Eventually(
      [&] {
        httplib::Client c("127.0.0.1", sim_.port);
        auto r = c.Get("/_sim/webhooks");
        if (!r) return false;
        json log = json::parse(r->body);
        int done = 0;
        for (const auto& x : log["deliveries"]) done += x.value("done", false) ? 1 : 0;
        return done == 2;
      },
      "both deliveries attempted"));
  httplib::Client c("127.0.0.1", sim_.port);
  json log = json::parse(c.Get("/_sim/webhooks")->body);
  for (const auto& x : log["deliveries"]) EXPECT_EQ(x["status_code"], 401) << x.dump();
}

}  // namespace
}  // namespace tltest
