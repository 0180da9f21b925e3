// Unit tests of the TL-Signature scheme both the simulator and the gateway
// use (//wire:webhook_signature).
#include "wire/webhook_signature.h"

#include <string>

#include "gtest/gtest.h"

namespace tlgw {
namespace {

// printf '%s' '1659342128.{"name":"test"}' | openssl dgst -sha256 -hmac test-secret
constexpr char kDocExample[] = "4d7762c0de3dea84e7ff7f9ee8697e88722b7e0cc62a2a54d2a1c0e9bbad6be0";

TEST(WebhookSignatureTest, SignsTheDocExample) {
  EXPECT_EQ(WebhookSignatureHex("test-secret", 1659342128, R"({"name":"test"})"), kDocExample);
  EXPECT_EQ(WebhookSignatureHeader("test-secret", 1659342128, R"({"name":"test"})"),
            std::string("t=1659342128,v1=") + kDocExample);
}

TEST(WebhookSignatureTest, ParsesWhatItSigns) {
  const std::string header = WebhookSignatureHeader("s", 42, "body");
  std::string error;
  auto parsed = ParseWebhookSignatureHeader(header, &error);
  ASSERT_TRUE(parsed.has_value()) << error;
  EXPECT_EQ(parsed->t, 42);
  ASSERT_EQ(parsed->v1.size(), 1u);
  EXPECT_EQ(parsed->v1[0], WebhookSignatureHex("s", 42, "body"));
}

TEST(WebhookSignatureTest, ToleratesSpacesAndUnknownKeys) {
  std::string error;
  auto parsed = ParseWebhookSignatureHeader(" t = 7 , v2=zz, v1=ab ,v1=cd", &error);
  ASSERT_TRUE(parsed.has_value()) << error;
  EXPECT_EQ(parsed->t, 7);
  ASSERT_EQ(parsed->v1.size(), 2u);
  EXPECT_EQ(parsed->v1[0], "ab");
  EXPECT_EQ(parsed->v1[1], "cd");
}

TEST(WebhookSignatureTest, RejectsMalformedHeaders) {
  for (const char* bad : {"", "v1=ab", "t=1", "t=1,t=2,v1=ab", "t=-1,v1=ab", "t=x,v1=ab",
                          "t=1234567890123456789,v1=ab", "t=1,v1",
                          "t=1,v1=a,v1=a,v1=a,v1=a,v1=a,v1=a,v1=a,v1=a,v1=a"}) {
    std::string error;
    EXPECT_FALSE(ParseWebhookSignatureHeader(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace tlgw
