// Unit tests of WebhookVerifier: the TL-Signature procedure of
// docs/upstream-api.md §4, timestamps, bodies of both API versions and replays.
#include "server/webhook/webhook_verifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tlgw {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "test-secret";
constexpr int64_t kT = 1659342128;  // the doc example's t

// Computed independently of the code under test.
std::string HmacHex(const std::string& key, const std::string& payload) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(mac[i], absl::kZeroPad2));
  return hex;
}

std::string Header(int64_t t, const std::string& body, const std::string& secret = kSecret) {
  return absl::StrCat("t=", t, ",v1=", HmacHex(secret, absl::StrCat(t, ".", body)));
}

absl::Time At(int64_t unix_seconds) { return absl::FromUnixSeconds(unix_seconds); }

std::string EventBody(const std::string& id = "whe_0123456789abcdef0123456789abcdef",
                      const std::string& type = "index.task.ready") {
  return json{{"id", id},
              {"created_at", "2022-08-01T17:22:18.372553+09:00"},
              {"type", type},
              {"data",
               {{"id", "6298d673f1090f1100476d4c"},
                {"metadata", {{"duration", 30}}},
                {"status", "ready"},
                {"models", {{{"name", "marengo2.7"}, {"options", {"visual", "audio"}}}}},
                {"tags", json::array()}}}}
      .dump();
}

WebhookVerifierOptions Options(std::vector<std::string> secrets = {kSecret}) {
  WebhookVerifierOptions o;
  o.secrets = std::move(secrets);
  return o;
}

TEST(WebhookVerifierTest, DocExamplePayloadAndSignature) {
  const std::string body = R"({"name":"test"})";
  // printf '%s' '1659342128.{"name":"test"}' | openssl dgst -sha256 -hmac test-secret
  const std::string want = "4d7762c0de3dea84e7ff7f9ee8697e88722b7e0cc62a2a54d2a1c0e9bbad6be0";
  ASSERT_EQ(HmacHex(kSecret, R"(1659342128.{"name":"test"})"), want);
  EXPECT_EQ(Header(kT, body), absl::StrCat("t=1659342128,v1=", want));

  WebhookVerifier verifier(Options());
  // The signature is right, so verification gets as far as the body, which
  // lacks id/type/data.
  WebhookVerifier::Result r = verifier.Verify("t=1659342128,v1=" + want, body, At(kT + 10));
  ASSERT_TRUE(r.rejection.has_value());
  EXPECT_EQ(*r.rejection, WebhookRejection::kMalformedBody) << r.message;
  EXPECT_FALSE(r.event.has_value());

  std::string wrong = want;
  wrong[10] = wrong[10] == '0' ? '1' : '0';
  r = verifier.Verify("t=1659342128,v1=" + wrong, body, At(kT + 10));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);
}

TEST(WebhookVerifierTest, AcceptsV13EventAndParsesFields) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  WebhookVerifier::Result r = verifier.Verify(Header(kT, body), body, At(kT));
  ASSERT_FALSE(r.rejection.has_value()) << r.message;
  ASSERT_TRUE(r.event.has_value());
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.event->id, "whe_0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.event->type, "index.task.ready");
  EXPECT_EQ(r.event->task_id, "6298d673f1090f1100476d4c");
  EXPECT_EQ(r.event->status, "ready");
  ASSERT_TRUE(r.event->duration_seconds.has_value());
  EXPECT_DOUBLE_EQ(*r.event->duration_seconds, 30);
  // 17:22:18.372553 at +09:00 is 08:22:18.372553 UTC.
  EXPECT_EQ(r.event->created_at,
            absl::FromCivil(absl::CivilSecond(2022, 8, 1, 8, 22, 18), absl::UTCTimeZone()) +
                absl::Microseconds(372553));
}

TEST(WebhookVerifierTest, AcceptsV12EngineBodyAndUnknownTypes) {
  WebhookVerifier verifier(Options());
  const json event = {{"id", "whe_v12"},
                      {"created_at", "2024-01-16T07:59:40.879Z"},
                      {"type", "index.task.failed"},
                      {"data",
                       {{"id", "0123456789abcdef01234567"},
                        {"status", "failed"},
                        {"engines",
                         {{{"name", "marengo2.6"},
                           {"options", {"visual", "conversation", "text_in_video", "logo"}}}}},
                        {"tags", json::array()}}}};
  const std::string body = event.dump();
  WebhookVerifier::Result r = verifier.Verify(Header(kT, body), body, At(kT));
  ASSERT_TRUE(r.event.has_value()) << r.message;
  EXPECT_EQ(r.event->type, "index.task.failed");
  EXPECT_EQ(r.event->status, "failed");
  EXPECT_FALSE(r.event->duration_seconds.has_value());
  EXPECT_EQ(r.event->created_at, absl::FromUnixMillis(1705391980879));

  // Other event types are kept as they are; a missing status or an
  // unparseable created_at is not an error.
  const std::string other = R"({"id":"whe_x","type":"analyze.task.ready","data":{"id":"t1"},)"
                            R"("created_at":"yesterday"})";
  r = verifier.Verify(Header(kT, other), other, At(kT));
  ASSERT_TRUE(r.event.has_value()) << r.message;
  EXPECT_EQ(r.event->type, "analyze.task.ready");
  EXPECT_EQ(r.event->status, "");
  EXPECT_EQ(r.event->created_at, absl::InfinitePast());
}

TEST(WebhookVerifierTest, WrongSecretAndTamperingAreBadSignatures) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  WebhookVerifier::Result r = verifier.Verify(Header(kT, body, "other-secret"), body, At(kT));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);
  EXPECT_FALSE(r.event.has_value());

  std::string tampered = body;
  tampered.replace(tampered.find("ready"), 5, "faile");
  r = verifier.Verify(Header(kT, body), tampered, At(kT));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);

  // A signature is bound to its t: moving t to look fresh breaks it.
  const std::string v1 = HmacHex(kSecret, absl::StrCat(kT - 3600, ".", body));
  r = verifier.Verify(absl::StrCat("t=", kT, ",v1=", v1), body, At(kT));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);

  // Re-serialised JSON is not the raw body.
  const std::string reserialised = json::parse(body).dump(2);
  r = verifier.Verify(Header(kT, body), reserialised, At(kT));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);
}

TEST(WebhookVerifierTest, StaleAndFutureTimestamps) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  const std::string header = Header(kT, body);
  // |now - t| >= 300 s is stale, either way.
  for (int64_t now : {kT + 300, kT - 300, kT + 3600, kT - 86400}) {
    WebhookVerifier::Result r = verifier.Verify(header, body, At(now));
    EXPECT_EQ(r.rejection, WebhookRejection::kStale) << now - kT;
    EXPECT_FALSE(r.event.has_value());
  }
  // Stale deliveries are not remembered, so the on-time one is accepted.
  WebhookVerifier::Result r = verifier.Verify(header, body, At(kT + 299));
  EXPECT_FALSE(r.rejection.has_value()) << r.message;
  EXPECT_FALSE(r.duplicate);

  WebhookVerifierOptions tight = Options();
  tight.tolerance = absl::Seconds(5);
  WebhookVerifier strict(tight);
  EXPECT_EQ(strict.Verify(header, body, At(kT - 5)).rejection, WebhookRejection::kStale);
  EXPECT_FALSE(strict.Verify(header, body, At(kT - 4)).rejection.has_value());
}

TEST(WebhookVerifierTest, StaleIsJudgedOnlyAfterTheSignature) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  // A forged delivery with an old t is a bad signature, not "stale".
  EXPECT_EQ(verifier.Verify(Header(kT, body, "forger"), body, At(kT + 3600)).rejection,
            WebhookRejection::kBadSignature);
}

TEST(WebhookVerifierTest, MissingAndMalformedHeaders) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  const std::string v1 = HmacHex(kSecret, absl::StrCat(kT, ".", body));
  for (const char* missing : {"", "   "}) {
    WebhookVerifier::Result r = verifier.Verify(missing, body, At(kT));
    EXPECT_EQ(r.rejection, WebhookRejection::kMissingSignature) << "'" << missing << "'";
  }
  for (const std::string& malformed : std::vector<std::string>{
           "garbage",
           "v1=" + v1,                                     // no t
           absl::StrCat("t=", kT),                         // no v1
           absl::StrCat("t=", kT, ",v0=", v1),             // only an unknown scheme
           "t=abc,v1=" + v1,                               // t not a number
           "t=-5,v1=" + v1,                                // signed
           "t=,v1=" + v1,                                  // empty
           "t=1659342128.5,v1=" + v1,                      // fraction
           "t=99999999999999999999,v1=" + v1,              // overflows
           absl::StrCat("t=", kT, ",t=", kT, ",v1=", v1),  // two t
           absl::StrCat("t=", kT, ",", v1),                // element without '='
           absl::StrCat("t=", kT, ",v1=a,v1=b,v1=c,v1=d,v1=e,v1=f,v1=g,v1=h,v1=", v1),  // 9 v1
       }) {
    WebhookVerifier::Result r = verifier.Verify(malformed, body, At(kT));
    EXPECT_EQ(r.rejection, WebhookRejection::kMalformedSignature) << malformed;
    EXPECT_FALSE(r.message.empty());
  }
}

TEST(WebhookVerifierTest, ToleratesSpacesAndUnknownElements) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  const std::string v1 = HmacHex(kSecret, absl::StrCat(kT, ".", body));
  // Split on the first '=' only: a value may contain '='.
  WebhookVerifier::Result r =
      verifier.Verify(absl::StrCat(" t = ", kT, " , v0=x=y ,, v1= ", v1, " "), body, At(kT));
  EXPECT_FALSE(r.rejection.has_value()) << r.message;
}

TEST(WebhookVerifierTest, AnyOfSeveralV1ValuesMayMatch) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody("whe_several");
  const std::string good = HmacHex(kSecret, absl::StrCat(kT, ".", body));
  const std::string bad = HmacHex("old-secret", absl::StrCat(kT, ".", body));
  WebhookVerifier::Result r =
      verifier.Verify(absl::StrCat("t=", kT, ",v1=", bad, ",v1=", good), body, At(kT));
  EXPECT_FALSE(r.rejection.has_value()) << r.message;
  r = verifier.Verify(absl::StrCat("t=", kT, ",v1=", bad, ",v1=", bad), body, At(kT));
  EXPECT_EQ(r.rejection, WebhookRejection::kBadSignature);
}

TEST(WebhookVerifierTest, SignaturesOfOtherLengthsOrCaseAreRejected) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  const std::string v1 = HmacHex(kSecret, absl::StrCat(kT, ".", body));
  for (const std::string& candidate : {v1 + "00", v1.substr(0, 63), v1.substr(0, 32), std::string(),
                                       absl::AsciiStrToUpper(v1), v1 + v1}) {
    EXPECT_EQ(verifier.Verify(absl::StrCat("t=", kT, ",v1=", candidate), body, At(kT)).rejection,
              WebhookRejection::kBadSignature)
        << candidate;
  }
  EXPECT_FALSE(
      verifier.Verify(absl::StrCat("t=", kT, ",v1=", v1), body, At(kT)).rejection.has_value());
}

TEST(WebhookVerifierTest, SecretRotation) {
  WebhookVerifier verifier(Options({"old-secret", "new-secret"}));
  const std::string a = EventBody("whe_a"), b = EventBody("whe_b"), c = EventBody("whe_c");
  EXPECT_FALSE(verifier.Verify(Header(kT, a, "old-secret"), a, At(kT)).rejection.has_value());
  EXPECT_FALSE(verifier.Verify(Header(kT, b, "new-secret"), b, At(kT)).rejection.has_value());
  verifier.SetSecrets({"new-secret"});
  EXPECT_EQ(verifier.Verify(Header(kT, c, "old-secret"), c, At(kT)).rejection,
            WebhookRejection::kBadSignature);
  EXPECT_FALSE(verifier.Verify(Header(kT, c, "new-secret"), c, At(kT)).rejection.has_value());
}

TEST(WebhookVerifierTest, EmptySecretsNeverMatch) {
  // HMAC with an empty key is computable by anyone.
  WebhookVerifier verifier(Options({""}));
  const std::string body = EventBody();
  EXPECT_EQ(verifier.Verify(Header(kT, body, ""), body, At(kT)).rejection,
            WebhookRejection::kBadSignature);
  verifier.SetSecrets({});
  EXPECT_EQ(verifier.Verify(Header(kT, body), body, At(kT)).rejection,
            WebhookRejection::kBadSignature);
}

TEST(WebhookVerifierTest, DuplicateIdsAreReportedNotRejected) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody("whe_dup");
  // A rejected delivery of the id does not count as having seen it.
  EXPECT_EQ(verifier.Verify(Header(kT, body, "forger"), body, At(kT)).rejection,
            WebhookRejection::kBadSignature);
  WebhookVerifier::Result first = verifier.Verify(Header(kT, body), body, At(kT));
  ASSERT_FALSE(first.rejection.has_value()) << first.message;
  EXPECT_FALSE(first.duplicate);
  // A redelivery (new t, same id) is a duplicate with the event filled in.
  WebhookVerifier::Result again = verifier.Verify(Header(kT + 60, body), body, At(kT + 60));
  EXPECT_FALSE(again.rejection.has_value()) << again.message;
  EXPECT_TRUE(again.duplicate);
  ASSERT_TRUE(again.event.has_value());
  EXPECT_EQ(again.event->id, "whe_dup");
}

TEST(WebhookVerifierTest, ReplayMemoryForgetsOldestFirst) {
  WebhookVerifierOptions o = Options();
  o.replay_capacity = 2;
  WebhookVerifier verifier(o);
  auto verify = [&](const std::string& id) {
    const std::string body = EventBody(id);
    return verifier.Verify(Header(kT, body), body, At(kT));
  };
  EXPECT_FALSE(verify("whe_1").duplicate);
  EXPECT_FALSE(verify("whe_2").duplicate);
  EXPECT_TRUE(verify("whe_1").duplicate);
  EXPECT_FALSE(verify("whe_3").duplicate);  // forgets whe_1
  EXPECT_FALSE(verify("whe_1").duplicate);
  EXPECT_TRUE(verify("whe_3").duplicate);

  o.replay_capacity = 0;
  WebhookVerifier forgetful(o);
  const std::string body = EventBody("whe_z");
  EXPECT_FALSE(forgetful.Verify(Header(kT, body), body, At(kT)).duplicate);
  EXPECT_FALSE(forgetful.Verify(Header(kT, body), body, At(kT)).duplicate);
}

TEST(WebhookVerifierTest, MalformedBodiesAfterAValidSignature) {
  WebhookVerifier verifier(Options());
  for (const std::string& body : std::vector<std::string>{
           "{not json",
           "",
           "[]",
           R"("whe_x")",
           R"({"type":"index.task.ready","data":{"id":"t"}})",
           R"({"id":"","type":"index.task.ready","data":{"id":"t"}})",
           R"({"id":"whe_x","data":{"id":"t"}})",
           R"({"id":"whe_x","type":7,"data":{"id":"t"}})",
           R"({"id":"whe_x","type":"index.task.ready"})",
           R"({"id":"whe_x","type":"index.task.ready","data":"t"})",
           R"({"id":"whe_x","type":"index.task.ready","data":{"status":"ready"}})",
           R"({"id":"whe_x","type":"index.task.ready","data":{"id":5}})",
       }) {
    WebhookVerifier::Result r = verifier.Verify(Header(kT, body), body, At(kT));
    EXPECT_EQ(r.rejection, WebhookRejection::kMalformedBody) << body;
    EXPECT_FALSE(r.event.has_value());
  }
  // None of those was remembered.
  const std::string ok = R"({"id":"whe_x","type":"index.task.ready","data":{"id":"t"}})";
  EXPECT_FALSE(verifier.Verify(Header(kT, ok), ok, At(kT)).duplicate);
}

TEST(WebhookVerifierTest, MessagesNeverCarryTheSecretOrExpectedSignature) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody();
  const std::string expected = HmacHex(kSecret, absl::StrCat(kT, ".", body));
  for (const std::string& header :
       {Header(kT, body, "forger"), absl::StrCat("t=", kT, ",v1=", expected.substr(0, 60)),
        std::string("t=x"), Header(kT, body)}) {
    WebhookVerifier::Result r = verifier.Verify(header, body, At(kT + 100000));
    EXPECT_EQ(r.message.find(kSecret), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find(expected), std::string::npos) << r.message;
  }
}

TEST(WebhookVerifierTest, ConcurrentDeliveriesOfOneEventAcceptOnce) {
  WebhookVerifier verifier(Options());
  const std::string body = EventBody("whe_race");
  const std::string header = Header(kT, body);
  std::atomic<int> accepted{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        WebhookVerifier::Result r = verifier.Verify(header, body, At(kT));
        ASSERT_FALSE(r.rejection.has_value());
        ++(r.duplicate ? duplicates : accepted);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(duplicates.load(), 399);
}

TEST(WebhookVerifierTest, RejectionNames) {
  EXPECT_STREQ(RejectionName(WebhookRejection::kMissingSignature), "missing_signature");
  EXPECT_STREQ(RejectionName(WebhookRejection::kMalformedSignature), "malformed_signature");
  EXPECT_STREQ(RejectionName(WebhookRejection::kBadSignature), "bad_signature");
  EXPECT_STREQ(RejectionName(WebhookRejection::kStale), "stale");
  EXPECT_STREQ(RejectionName(WebhookRejection::kMalformedBody), "malformed_body");
}

}  // namespace
}  // namespace tlgw
