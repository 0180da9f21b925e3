// The simulator's signed webhooks: body shapes and signatures (checked with
// OpenSSL here, independently of the simulator), one event per arrival at
// ready/failed on the manual clock, retries, run-time configuration and
// /_sim/webhooks/send. A WebhookSink on loopback plays the receiver.
#include "sim/webhooks.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/common.h"
#include "sim/model.h"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "sim-webhook-secret";

// ---- Pure parts -------------------------------------------------------------

TEST(WebhookPartsTest, SignatureOfTheDocExample) {
  // printf '%s' '1659342128.{"name":"test"}' | openssl dgst -sha256 -hmac test-secret
  const std::string want = "4d7762c0de3dea84e7ff7f9ee8697e88722b7e0cc62a2a54d2a1c0e9bbad6be0";
  EXPECT_EQ(WebhookSignatureHex("test-secret", 1659342128, R"({"name":"test"})"), want);
  EXPECT_EQ(WebhookSignatureHeader("test-secret", 1659342128, R"({"name":"test"})"),
            "t=1659342128,v1=" + want);
  EXPECT_EQ(HmacSha256Hex("test-secret", R"(1659342128.{"name":"test"})"), want);
}

TEST(WebhookPartsTest, EventIds) {
  absl::BitGen rng;
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewWebhookEventId(rng);
    ASSERT_EQ(id.size(), 36u) << id;
    EXPECT_TRUE(absl::StartsWith(id, "whe_")) << id;
    for (char c : id.substr(4)) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    }
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(WebhookPartsTest, BodyFollowsTheTaskVersion) {
  Task task;
  task.id = "0123456789abcdef0123abcd";
  task.metadata.duration = 42.5;
  const absl::Time at = absl::FromUnixMicros(1659342138372553);
  task.version = ApiVersion::kV1_3;
  json v13 = WebhookEventBody("whe_1", "index.task.ready", task, TaskStatus::kReady, at);
  EXPECT_EQ(v13, json::parse(R"({"id":"whe_1","created_at":"2022-08-01T08:22:18.372553+00:00",
      "type":"index.task.ready","data":{"id":"0123456789abcdef0123abcd",
      "metadata":{"duration":42.5},"status":"ready","tags":[],
      "models":[{"name":"marengo2.7","options":["visual","audio"]}]}})"));
  task.version = ApiVersion::kV1_2;
  json v12 = WebhookEventBody("whe_2", "index.task.failed", task, TaskStatus::kFailed, at);
  EXPECT_EQ(v12["type"], "index.task.failed");
  EXPECT_EQ(v12["data"]["status"], "failed");
  EXPECT_FALSE(v12["data"].contains("models"));
  EXPECT_EQ(v12["data"]["engines"], json::parse(R"([{"name":"marengo2.6",
                "options":["visual","conversation","text_in_video","logo"]}])"));
  EXPECT_EQ(WebhookEventType(TaskStatus::kReady), std::string("index.task.ready"));
  EXPECT_EQ(WebhookEventType(TaskStatus::kFailed), std::string("index.task.failed"));
}

TEST(WebhookPartsTest, SplitUrl) {
  auto split = SplitWebhookUrl("http://127.0.0.1:8080/hooks/tl?x=1#frag");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->first, "http://127.0.0.1:8080");
  EXPECT_EQ(split->second, "/hooks/tl?x=1");
  split = SplitWebhookUrl("https://example.test");
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->first, "https://example.test");
  EXPECT_EQ(split->second, "/");
  split = SplitWebhookUrl("http://h?q");
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->second, "/?q");
  for (const char* bad : {"", "ftp://h/x", "/relative", "http://", "http:// spaced/"}) {
    EXPECT_FALSE(SplitWebhookUrl(bad).ok()) << bad;
  }
}

// ---- Over HTTP ----------------------------------------------------------------

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_unique<WebhookSink>();
    SimulatorOptions options = TestOptions();
    options.webhook_url = sink_->url();
    options.webhook_secret = kSecret;
    Restart(options);
  }

  void Restart(const SimulatorOptions& options) {
    client_.reset();
    sim_.reset();
    sim_ = StartOrDie(options);
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
  }

  json Deliveries() {
    HttpResult r = client_->Control("GET", "/_sim/webhooks");
    EXPECT_TRUE(IsJsonStatus(r, 200));
    return r.json.value("deliveries", json::array());
  }

  json GetTask(const std::string& version, const std::string& id) {
    HttpResult r = client_->Get(absl::StrCat("/", version, "/tasks/", id));
    EXPECT_TRUE(IsJsonStatus(r, 200));
    return r.json;
  }

  HttpResult Configure(const json& body) {
    return client_->Control("POST", "/_sim/webhooks/config", body);
  }

  std::unique_ptr<WebhookSink> sink_;
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
};

TEST_F(WebhooksTest, ReadyEventIsSignedAndVerifies) {
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://cdn.test/a/clip.mp4");
  ASSERT_FALSE(id.empty());
  client_->Advance(6);  // indexing
  EXPECT_TRUE(Deliveries().empty());
  client_->Advance(2);  // ready
  // The arrival is queued before the advance answers.
  ASSERT_EQ(Deliveries().size(), 1u);

  std::vector<WebhookSink::Delivery> got = sink_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  const WebhookSink::Delivery& d = got[0];
  EXPECT_EQ(d.path, "/hooks/tl");
  EXPECT_EQ(d.content_type, "application/json");
  EXPECT_TRUE(SignedWith(d, kSecret));
  EXPECT_FALSE(SignedWith(d, "another-secret"));

  json body = json::parse(d.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << d.body;
  const std::string event_id = body.value("id", "");
  EXPECT_TRUE(absl::StartsWith(event_id, "whe_")) << event_id;
  EXPECT_EQ(event_id.size(), 36u);
  EXPECT_EQ(body["type"], "index.task.ready");
  EXPECT_EQ(body["data"]["id"], id);
  EXPECT_EQ(body["data"]["status"], "ready");
  EXPECT_EQ(body["data"]["tags"], json::array());
  // created_at is the simulated moment the task became ready.
  const json task = GetTask("v1.3", id);
  std::optional<absl::Time> created = ParseRfc3339(body["created_at"].get<std::string>());
  std::optional<absl::Time> ready_at = ParseRfc3339(task["updated_at"].get<std::string>());
  ASSERT_TRUE(created.has_value() && ready_at.has_value()) << body["created_at"];
  EXPECT_EQ(*created, *ready_at);
  EXPECT_EQ(body["data"]["metadata"]["duration"], task["system_metadata"]["duration"]);

  json log = WaitForDeliveries(*client_, 1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["event_id"], event_id);
  EXPECT_EQ(log[0]["type"], "index.task.ready");
  EXPECT_EQ(log[0]["task_id"], id);
  EXPECT_EQ(log[0]["status_code"], 200);
  EXPECT_EQ(log[0]["attempts"], 1);
  EXPECT_EQ(log[0]["body"], d.body);
  EXPECT_FALSE(absl::StrContains(log.dump(), kSecret));
}

TEST_F(WebhooksTest, ReadyAndFailedAreSentOnceEach) {
  const std::string good = CreateUrlTask(*client_, "v1.3", "https://cdn.test/good.mp4");
  const std::string broken = CreateUrlTask(*client_, "v1.3", "https://cdn.test/broken.mp4");
  ASSERT_FALSE(good.empty());
  ASSERT_FALSE(broken.empty());
  client_->Advance(2);  // broken fails after validating
  json log = Deliveries();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["task_id"], broken);
  EXPECT_EQ(log[0]["type"], "index.task.failed");
  client_->Advance(6);
  client_->Advance(100);
  client_->Advance(3600);
  // Reads do not resend either.
  GetTask("v1.3", good);
  EXPECT_TRUE(IsJsonStatus(client_->Get("/v1.3/tasks"), 200));

  log = WaitForDeliveries(*client_, 2);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1]["task_id"], good);
  EXPECT_EQ(log[1]["type"], "index.task.ready");
  // Every delivery is done, so the sink has seen all there will be (in
  // either order: two workers deliver).
  std::vector<WebhookSink::Delivery> got = sink_->deliveries();
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, json> by_task;
  for (const WebhookSink::Delivery& d : got) {
    EXPECT_TRUE(SignedWith(d, kSecret));
    json body = json::parse(d.body);
    by_task[body["data"]["id"]] = body;
  }
  ASSERT_EQ(by_task.count(broken), 1u);
  ASSERT_EQ(by_task.count(good), 1u);
  EXPECT_EQ(by_task[broken]["type"], "index.task.failed");
  EXPECT_EQ(by_task[broken]["data"]["status"], "failed");
  EXPECT_EQ(by_task[good]["type"], "index.task.ready");
  EXPECT_EQ(by_task[good]["data"]["status"], "ready");
  EXPECT_NE(by_task[broken]["id"], by_task[good]["id"]);
}

TEST_F(WebhooksTest, BodyShapeFollowsTheVersionOfTheCreate) {
  const std::string v12 = CreateUrlTask(*client_, "v1.2", "https://cdn.test/v12.mp4");
  const std::string v13 = CreateUrlTask(*client_, "v1.3", "https://cdn.test/v13.mp4");
  // A v1.2 task read through v1.3 is still reported in v1.2 shape.
  GetTask("v1.3", v12);
  client_->Advance(8);
  WaitForDeliveries(*client_, 2);
  std::vector<WebhookSink::Delivery> got = sink_->deliveries();
  ASSERT_EQ(got.size(), 2u);
  for (const WebhookSink::Delivery& d : got) {
    json body = json::parse(d.body);
    const json& data = body["data"];
    if (data["id"] == v12) {
      ASSERT_TRUE(data.contains("engines")) << d.body;
      EXPECT_FALSE(data.contains("models")) << d.body;
      EXPECT_EQ(data["engines"][0]["name"], "marengo2.6");
      EXPECT_EQ(data["metadata"]["duration"], GetTask("v1.2", v12)["metadata"]["duration"]);
    } else {
      EXPECT_EQ(data["id"], v13);
      ASSERT_TRUE(data.contains("models")) << d.body;
      EXPECT_FALSE(data.contains("engines")) << d.body;
      EXPECT_EQ(data["models"][0]["name"], "marengo2.7");
    }
    EXPECT_TRUE(SignedWith(d, kSecret));
  }
}

TEST_F(WebhooksTest, ImportedTasksSendEventsToo) {
  HttpResult r = client_->PostJson(absl::StrCat("/v1.2/tasks/transfers/import/", kSeedIntegration),
                                   {{"index_id", kSeedIndex}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  client_->Advance(8);
  json log = WaitForDeliveries(*client_, 2);  // clip-a, clip-b (broken-c is refused up front)
  EXPECT_EQ(log.size(), 2u);
  for (const json& d : log) {
    EXPECT_TRUE(json::parse(d["body"].get<std::string>())["data"].contains("engines"));
  }
}

TEST_F(WebhooksTest, RetriesNon2xxAndFailedConnections) {
  sink_->FailNext(1, 500);
  const std::string a = CreateUrlTask(*client_, "v1.3", "https://cdn.test/a.mp4");
  client_->Advance(8);
  json log = WaitForDeliveries(*client_, 1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["attempts"], 2);
  EXPECT_EQ(log[0]["status_code"], 200);
  std::vector<WebhookSink::Delivery> got = sink_->deliveries();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, got[1].body);  // same event, same id
  EXPECT_TRUE(SignedWith(got[0], kSecret));
  EXPECT_TRUE(SignedWith(got[1], kSecret));

  // Three attempts at most.
  sink_->FailNext(10, 503);
  EXPECT_TRUE(IsJsonStatus(client_->Control("DELETE", "/_sim/webhooks"), 200));
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/b.mp4");
  client_->Advance(8);
  log = WaitForDeliveries(*client_, 1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["attempts"], 3);
  EXPECT_EQ(log[0]["status_code"], 503);
  EXPECT_EQ(sink_->deliveries().size(), 5u);

  // Nobody listening: status_code 0.
  std::string closed_url;
  {
    WebhookSink gone;
    closed_url = gone.url();
  }
  ASSERT_TRUE(IsJsonStatus(Configure({{"url", closed_url}}), 200));
  EXPECT_TRUE(IsJsonStatus(client_->Control("DELETE", "/_sim/webhooks"), 200));
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/c.mp4");
  client_->Advance(8);
  log = WaitForDeliveries(*client_, 1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["attempts"], 3);
  EXPECT_EQ(log[0]["status_code"], 0);
}

TEST_F(WebhooksTest, ConfigAtRunTime) {
  SimulatorOptions options = TestOptions();  // no webhook URL
  Restart(options);
  HttpResult r = client_->Control("GET", "/_sim/webhooks/config");
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json, json({{"url", ""}, {"secret_set", false}}));

  // Arrivals while no URL is configured are never sent, not even later.
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/early.mp4");
  client_->Advance(8);
  EXPECT_TRUE(IsApiError(
      client_->Control("POST", "/_sim/webhooks/send", {{"task_id", "0123456789abcdef0123abcd"}}),
      400, "parameter_invalid"));

  r = Configure({{"url", sink_->url("/late")}, {"secret", "first-secret"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json, json({{"url", sink_->url("/late")}, {"secret_set", true}}));
  EXPECT_FALSE(absl::StrContains(r.body, "first-secret"));
  EXPECT_TRUE(Deliveries().empty());

  const std::string b = CreateUrlTask(*client_, "v1.3", "https://cdn.test/b.mp4");
  client_->Advance(8);
  WaitForDeliveries(*client_, 1);
  std::vector<WebhookSink::Delivery> got = sink_->deliveries();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/late");
  EXPECT_EQ(json::parse(got[0].body)["data"]["id"], b);
  EXPECT_TRUE(SignedWith(got[0], "first-secret"));

  // Only the secret changes.
  ASSERT_TRUE(IsJsonStatus(Configure({{"secret", "second-secret"}}), 200));
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/c.mp4");
  client_->Advance(8);
  WaitForDeliveries(*client_, 2);
  got = sink_->deliveries();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].path, "/late");
  EXPECT_TRUE(SignedWith(got[1], "second-secret"));
  EXPECT_FALSE(SignedWith(got[1], "first-secret"));

  // Refused configurations change nothing.
  EXPECT_TRUE(IsApiError(Configure({{"url", "ftp://x/y"}}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Configure({{"url", 5}}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Configure({{"uri", "http://x/"}}), 400, "parameter_invalid"));
  r = client_->Control("GET", "/_sim/webhooks/config");
  EXPECT_EQ(r.json["url"], sink_->url("/late"));

  // An empty URL turns sending off.
  ASSERT_TRUE(IsJsonStatus(Configure({{"url", ""}}), 200));
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/d.mp4");
  client_->Advance(8);
  EXPECT_EQ(Deliveries().size(), 2u);
}

TEST_F(WebhooksTest, SendOnDemandWithGoodBadAndStaleSignatures) {
  const std::string id = CreateUrlTask(*client_, "v1.2", "https://cdn.test/x.mp4");
  HttpResult r = client_->Control("POST", "/_sim/webhooks/send",
                                  {{"task_id", id}, {"type", "index.task.ready"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  const std::string good_id = r.json.value("event_id", "");
  r = client_->Control("POST", "/_sim/webhooks/send",
                       {{"task_id", id}, {"type", "index.task.ready"}, {"signature", "bad"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  r = client_->Control("POST", "/_sim/webhooks/send",
                       {{"task_id", id}, {"type", "index.task.failed"}, {"signature", "stale"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  const std::string stale_id = r.json.value("event_id", "");

  json log = WaitForDeliveries(*client_, 3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0]["event_id"], good_id);
  EXPECT_EQ(log[0]["signing"], "good");
  EXPECT_EQ(log[1]["signing"], "bad");
  EXPECT_EQ(log[2]["event_id"], stale_id);
  EXPECT_EQ(log[2]["type"], "index.task.failed");

  // Two workers deliver, so the sink may have them in any order.
  std::map<std::string, WebhookSink::Delivery> by_signing;
  for (const WebhookSink::Delivery& d : sink_->deliveries()) {
    const std::string event_id = json::parse(d.body)["id"];
    for (const json& entry : log) {
      if (entry["event_id"] == event_id) by_signing[entry["signing"]] = d;
    }
  }
  ASSERT_EQ(by_signing.size(), 3u);
  EXPECT_TRUE(SignedWith(by_signing["good"], kSecret));
  EXPECT_FALSE(SignedWith(by_signing["bad"], kSecret));
  // Correctly signed, but an hour old in real time.
  EXPECT_TRUE(SignedWith(by_signing["stale"], kSecret, absl::Now() - absl::Hours(1)));
  EXPECT_FALSE(SignedWith(by_signing["stale"], kSecret));
  json body = json::parse(by_signing["good"].body);
  EXPECT_EQ(body["data"]["id"], id);
  EXPECT_EQ(body["data"]["status"], "validating");  // what the task is now
  EXPECT_TRUE(body["data"].contains("engines"));

  // The type defaults from the status.
  ASSERT_TRUE(IsJsonStatus(
      client_->Control("POST", "/_sim/tasks/" + id + "/status", {{"status", "failed"}}), 200));
  r = client_->Control("POST", "/_sim/webhooks/send", {{"task_id", id}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  log = WaitForDeliveries(*client_, 5);  // the forced failure + this one
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[4]["type"], "index.task.failed");

  EXPECT_TRUE(IsApiError(
      client_->Control("POST", "/_sim/webhooks/send", {{"task_id", "0123456789abcdef0123abcd"}}),
      404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(
      client_->Control("POST", "/_sim/webhooks/send", {{"task_id", id}, {"signature", "meh"}}), 400,
      "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Control("POST", "/_sim/webhooks/send", json::object()), 400,
                         "parameter_invalid"));
}

TEST_F(WebhooksTest, ForcedStatusesSendEachArrivalOnce) {
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://cdn.test/f.mp4");
  auto force = [&](const char* status) {
    ASSERT_TRUE(IsJsonStatus(
        client_->Control("POST", "/_sim/tasks/" + id + "/status", {{"status", status}}), 200));
  };
  force("failed");
  force("failed");  // no new arrival
  force("ready");   // failed -> ready
  force("indexing");
  force("indexing");
  client_->Advance(100);  // forced: stays indexing
  force("ready");
  json log = WaitForDeliveries(*client_, 3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0]["type"], "index.task.failed");
  EXPECT_EQ(log[1]["type"], "index.task.ready");
  EXPECT_EQ(log[2]["type"], "index.task.ready");
}

TEST_F(WebhooksTest, DeleteClearsTheLog) {
  CreateUrlTask(*client_, "v1.3", "https://cdn.test/g.mp4");
  client_->Advance(8);
  WaitForDeliveries(*client_, 1);
  EXPECT_TRUE(IsJsonStatus(client_->Control("DELETE", "/_sim/webhooks"), 200));
  EXPECT_TRUE(Deliveries().empty());
  EXPECT_TRUE(IsApiError(client_->Control("POST", "/_sim/webhooks"), 404, "resource_not_exist"));
}

TEST_F(WebhooksTest, RealClockArrivalsAreSentWithoutRequests) {
  SimulatorOptions options = TestOptions();
  options.manual_clock = false;
  options.stage_seconds = 0.05;
  options.webhook_url = sink_->url();
  options.webhook_secret = kSecret;
  Restart(options);
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://cdn.test/real.mp4");
  std::vector<WebhookSink::Delivery> got = sink_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(json::parse(got[0].body)["data"]["id"], id);
  EXPECT_TRUE(SignedWith(got[0], kSecret));
}

TEST_F(WebhooksTest, BadUrlOptionFailsStart) {
  SimulatorOptions options = TestOptions();
  options.webhook_url = "not a url";
  EXPECT_FALSE(Simulator::Start(options).ok());
}

}  // namespace
}  // namespace tlsim::testing
