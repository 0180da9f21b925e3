// Tests of WebhookReceiver over real HTTP on loopback: every answer of the
// endpoint, and that the callback runs exactly once per accepted event.
#include "server/webhook/webhook_receiver.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/fake_clock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace tlgw {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "receiver-secret";
constexpr char kPath[] = "/webhooks/twelvelabs";

std::string HmacHex(const std::string& key, const std::string& payload) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(mac[i], absl::kZeroPad2));
  return hex;
}

// The receiver's clock: fixed at the test's start, so signature timestamps
// are judged against a time the test controls.
FakeClock& TestClock() {
  static FakeClock* clock = new FakeClock(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())));
  return *clock;
}

std::string Signature(const std::string& body, const std::string& secret = kSecret,
                      int64_t t = absl::ToUnixSeconds(TestClock().Now())) {
  return absl::StrCat("t=", t, ",v1=", HmacHex(secret, absl::StrCat(t, ".", body)));
}

std::string EventBody(const std::string& id, const std::string& status = "ready") {
  return json{{"id", id},
              {"created_at", "2022-08-01T17:22:18.372553+09:00"},
              {"type", absl::StrCat("index.task.", status)},
              {"data",
               {{"id", "6298d673f1090f1100476d4c"},
                {"metadata", {{"duration", 12.5}}},
                {"status", status},
                {"models", {{{"name", "marengo2.7"}, {"options", {"visual", "audio"}}}}},
                {"tags", json::array()}}}}
      .dump();
}

class WebhookReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(Options()); }

  static WebhookReceiverOptions Options() {
    WebhookReceiverOptions o;
    o.clock = &TestClock();
    o.verifier.secrets = {kSecret};
    o.limits.max_body_bytes = 4096;
    return o;
  }

  void Start(const WebhookReceiverOptions& options) {
    receiver_.reset();
    absl::StatusOr<std::unique_ptr<WebhookReceiver>> r =
        WebhookReceiver::Start(options, [this](const WebhookEvent& event) {
          absl::MutexLock lock(&mu_);
          events_.push_back(event);
        });
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(*r);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", receiver_->port());
    client_->set_read_timeout(10, 0);
  }

  httplib::Result Post(const std::string& body, const std::string& signature,
                       const std::string& path = kPath) {
    httplib::Headers headers;
    if (!signature.empty()) headers.emplace("TL-Signature", signature);
    return client_->Post(path, headers, body, "application/json");
  }

  std::vector<WebhookEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  // Status, {"error": reason} and a message free of secrets.
  ::testing::AssertionResult IsError(const httplib::Result& r, int status,
                                     const std::string& reason) {
    if (!r) return ::testing::AssertionFailure() << "transport " << httplib::to_string(r.error());
    if (r->status != status) {
      return ::testing::AssertionFailure()
             << "want " << status << ", got " << r->status << " " << r->body;
    }
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || body.value("error", "") != reason ||
        !body.contains("message") || !body["message"].is_string() ||
        body["message"].get<std::string>().empty()) {
      return ::testing::AssertionFailure() << "want error " << reason << ", got " << r->body;
    }
    if (r->get_header_value("Content-Type") != "application/json") {
      return ::testing::AssertionFailure()
             << "Content-Type " << r->get_header_value("Content-Type");
    }
    if (r->body.find(kSecret) != std::string::npos) {
      return ::testing::AssertionFailure() << "the secret leaked: " << r->body;
    }
    return ::testing::AssertionSuccess();
  }

  absl::Mutex mu_;
  std::vector<WebhookEvent> events_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<WebhookReceiver> receiver_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(WebhookReceiverTest, AcceptsOnceThenReportsDuplicates) {
  const std::string body = EventBody("whe_accept");
  httplib::Result r = Post(body, Signature(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body), json({{"status", "accepted"}}));
  std::vector<WebhookEvent> got = events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, "whe_accept");
  EXPECT_EQ(got[0].type, "index.task.ready");
  EXPECT_EQ(got[0].task_id, "6298d673f1090f1100476d4c");
  EXPECT_EQ(got[0].status, "ready");
  EXPECT_EQ(got[0].duration_seconds, 12.5);

  // A redelivery (fresh signature, same id): 200, and nothing happens.
  r = Post(body, Signature(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json({{"status", "duplicate"}}));
  EXPECT_EQ(events().size(), 1u);

  const std::string failed = EventBody("whe_failed", "failed");
  r = Post(failed, Signature(failed));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  got = events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].type, "index.task.failed");

  WebhookReceiver::Stats stats = receiver_->stats();
  EXPECT_EQ(stats.accepted, 2);
  EXPECT_EQ(stats.duplicates, 1);
  EXPECT_TRUE(stats.rejected.empty());
}

TEST_F(WebhookReceiverTest, SignatureProblemsAre400Or401) {
  const std::string body = EventBody("whe_forged");
  const int64_t now = absl::ToUnixSeconds(TestClock().Now());
  EXPECT_TRUE(IsError(Post(body, ""), 400, "missing_signature"));
  EXPECT_TRUE(IsError(Post(body, "v1=abc"), 400, "malformed_signature"));
  EXPECT_TRUE(IsError(Post(body, "t=soon,v1=abc"), 400, "malformed_signature"));
  EXPECT_TRUE(IsError(Post(body, Signature(body, "wrong-secret")), 401, "bad_signature"));
  EXPECT_TRUE(IsError(Post(body, Signature(EventBody("whe_other"))), 401, "bad_signature"));
  EXPECT_TRUE(IsError(Post(body, Signature(body, kSecret, now - 3600)), 401, "stale"));
  EXPECT_TRUE(IsError(Post(body, Signature(body, kSecret, now + 3600)), 401, "stale"));
  // The expected signature is never echoed.
  httplib::Result r = Post(body, Signature(body, "wrong-secret"));
  ASSERT_TRUE(r);
  const std::string expected_v1 = Signature(body).substr(Signature(body).find("v1=") + 3);
  EXPECT_EQ(r->body.find(expected_v1.substr(0, 16)), std::string::npos);

  // Two TL-Signature headers are ambiguous.
  httplib::Headers two = {{"TL-Signature", Signature(body)}, {"TL-Signature", Signature(body)}};
  EXPECT_TRUE(
      IsError(client_->Post(kPath, two, body, "application/json"), 400, "malformed_signature"));

  EXPECT_TRUE(events().empty());
  // None of these made the id "seen": the genuine delivery is accepted.
  r = Post(body, Signature(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body), json({{"status", "accepted"}}));

  WebhookReceiver::Stats stats = receiver_->stats();
  EXPECT_EQ(stats.accepted, 1);
  EXPECT_EQ(stats.rejected["missing_signature"], 1);
  EXPECT_EQ(stats.rejected["malformed_signature"], 3);
  EXPECT_EQ(stats.rejected["bad_signature"], 3);
  EXPECT_EQ(stats.rejected["stale"], 2);
}

TEST_F(WebhookReceiverTest, MalformedBodyAfterValidSignatureIs400) {
  for (const std::string& body :
       {std::string("{not json"), std::string(R"({"id":"whe_x","type":"index.task.ready"})")}) {
    EXPECT_TRUE(IsError(Post(body, Signature(body)), 400, "malformed_body")) << body;
  }
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(receiver_->stats().rejected["malformed_body"], 2);
}

TEST_F(WebhookReceiverTest, TooLargeBodiesAre413) {
  std::string big = EventBody("whe_big");
  big.insert(big.size() - 1, absl::StrCat(",\"pad\":\"", std::string(8000, 'x'), "\""));
  EXPECT_TRUE(IsError(Post(big, Signature(big)), 413, "too_large"));
  // Chunked bodies have no Content-Length; they are counted as they come.
  httplib::Client chunked("127.0.0.1", receiver_->port());
  chunked.set_read_timeout(10, 0);
  httplib::Result r = chunked.Post(
      kPath, {{"TL-Signature", Signature(big)}},
      [&big](size_t, httplib::DataSink& sink) {
        for (size_t i = 0; i < big.size(); i += 1000) {
          sink.write(big.data() + i, std::min<size_t>(1000, big.size() - i));
        }
        sink.done();
        return true;
      },
      "application/json");
  EXPECT_TRUE(IsError(r, 413, "too_large"));
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(receiver_->stats().rejected["too_large"], 2);

  // A body just under the limit is fine, and the server still serves.
  const std::string body = EventBody("whe_after_big");
  r = Post(body, Signature(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(WebhookReceiverTest, OtherMethodsAre405AndOtherPaths404) {
  httplib::Result r = client_->Get(kPath);
  EXPECT_TRUE(IsError(r, 405, "wrong_method"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_TRUE(IsError(client_->Put(kPath, "{}", "application/json"), 405, "wrong_method"));
  EXPECT_TRUE(IsError(client_->Delete(kPath), 405, "wrong_method"));

  const std::string body = EventBody("whe_path");
  EXPECT_TRUE(IsError(Post(body, Signature(body), "/webhooks/other"), 404, "not_found"));
  EXPECT_TRUE(IsError(Post(body, Signature(body), "/"), 404, "not_found"));
  EXPECT_TRUE(IsError(client_->Get("/metrics"), 404, "not_found"));
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(receiver_->stats().rejected["wrong_method"], 3);

  // The connection survives all of that.
  r = Post(body, Signature(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(events().size(), 1u);
}

TEST_F(WebhookReceiverTest, CustomPathAndSecretRotation) {
  WebhookReceiverOptions o = Options();
  o.path = "/hooks/tl";
  o.verifier.secrets = {"first"};
  Start(o);
  const std::string a = EventBody("whe_rot_a"), b = EventBody("whe_rot_b");
  httplib::Result r = Post(a, Signature(a, "first"), "/hooks/tl");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  receiver_->SetSecrets({"second"});
  EXPECT_TRUE(IsError(Post(b, Signature(b, "first"), "/hooks/tl"), 401, "bad_signature"));
  r = Post(b, Signature(b, "second"), "/hooks/tl");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(events().size(), 2u);
}

TEST_F(WebhookReceiverTest, BusyPortFailsAndStopIsIdempotent) {
  WebhookReceiverOptions taken = Options();
  taken.port = receiver_->port();
  EXPECT_FALSE(WebhookReceiver::Start(taken, nullptr).ok()) << "port in use";
  WebhookReceiverOptions bad = Options();
  bad.path = "no-slash";
  EXPECT_FALSE(WebhookReceiver::Start(bad, nullptr).ok());

  // With an idle keep-alive connection open.
  const std::string body = EventBody("whe_stop");
  client_->set_keep_alive(true);
  ASSERT_TRUE(Post(body, Signature(body)));
  receiver_->Stop();
  receiver_->Stop();
  httplib::Client fresh("127.0.0.1", receiver_->port());
  EXPECT_FALSE(fresh.Post(kPath, body, "application/json"));
}

TEST_F(WebhookReceiverTest, NullCallbackIsAllowed) {
  absl::StatusOr<std::unique_ptr<WebhookReceiver>> r = WebhookReceiver::Start(Options(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  httplib::Client client("127.0.0.1", (*r)->port());
  const std::string body = EventBody("whe_null");
  httplib::Result res =
      client.Post(kPath, {{"TL-Signature", Signature(body)}}, body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ((*r)->stats().accepted, 1);
}

}  // namespace
}  // namespace tlgw
