#include "server/services/validation.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/services/page_token.h"
#include "server/services/s3_setup_check.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

TEST(ValidateId, TwentyFourLowercaseHex) {
  EXPECT_TRUE(ValidateId("task_id", "6298d673f1090f1100476d4c").ok());
  for (const char* bad : {"", "6298d673f1090f1100476d4", "6298D673F1090F1100476D4C", "6298d673f1090f1100476d4z",
                          "../../etc/passwd", "6298d673f1090f1100476d4c0"}) {
    absl::Status s = ValidateId("task_id", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(s.message(), "task_id: ")) << s;
  }
}

TEST(ValidateHttpUrl, AbsoluteHttpOnly) {
  EXPECT_TRUE(ValidateHttpUrl("video_url", "https://cdn.example.com/v/a.mp4?sig=1").ok());
  EXPECT_TRUE(ValidateHttpUrl("video_url", "http://10.0.0.1:8080/a.mp4").ok());
  for (const char* bad : {"", "ftp://x/a.mp4", "cdn.example.com/a.mp4", "https://", "https:///a.mp4",
                          "https://x/a b.mp4", "javascript:alert(1)", "file:///etc/passwd"}) {
    absl::Status s = ValidateHttpUrl("video_url", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(s.message(), "video_url: ")) << s;
  }
}

TEST(IsYouTubeUrl, Hosts) {
  EXPECT_TRUE(IsYouTubeUrl("https://www.youtube.com/watch?v=dQw4w9WgXcQ"));
  EXPECT_TRUE(IsYouTubeUrl("https://youtu.be/dQw4w9WgXcQ"));
  EXPECT_TRUE(IsYouTubeUrl("https://M.YouTube.com/watch?v=x"));
  EXPECT_FALSE(IsYouTubeUrl("https://notyoutube.com/watch?v=x"));
  EXPECT_FALSE(IsYouTubeUrl("https://youtube.com.evil.example/watch?v=x"));
  EXPECT_FALSE(IsYouTubeUrl("https://cdn.example.com/youtube.com/a.mp4"));
}

TEST(ValidateRequestId, Charset) {
  EXPECT_TRUE(ValidateRequestId("request_id", "").ok());
  EXPECT_TRUE(ValidateRequestId("request_id", "3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6b").ok());
  EXPECT_FALSE(ValidateRequestId("request_id", "a b").ok());
  EXPECT_FALSE(ValidateRequestId("request_id", std::string(129, 'a')).ok());
}

TEST(ValidateFileName, Utf8ControlsQuotesAndBidi) {
  for (const std::string& ok : {std::string("clip.mp4"), std::string("caf\xc3\xa9.mp4"),
                                std::string("\xf0\x9f\x8e\xac movie.mp4"), std::string(255, 'a')}) {
    EXPECT_TRUE(ValidateFileName("f", ok).ok()) << ok;
  }
  const std::pair<std::string, std::string> bad[] = {
      {"", "is required"},
      {std::string(256, 'a'), "longer than 255 bytes"},
      {"a\x80.mp4", "not valid UTF-8 at byte 1"},
      {"a\xe2\x80", "not valid UTF-8"},
      {"a\xc0\xaf.mp4", "not valid UTF-8"},      // overlong '/'
      {"a\xed\xa0\x80.mp4", "not valid UTF-8"},  // a surrogate
      {"a\xf4\x90\x80\x80", "not valid UTF-8"},  // past U+10FFFF
      {std::string("a\0", 2), "U+0000"},
      {"a\x1f", "U+001F"},
      {"a\x7f", "U+007F"},
      {"a\xc2\x80", "U+0080"},
      {"a\xc2\x9f", "U+009F"},
      {"a\"b", "remove the quotes"},
      {"a\\b", "'/' or '\\'"},
      {"\xe2\x80\xaa", "U+202A"},
      {"\xe2\x80\xae", "U+202E"},
      {"\xe2\x81\xa6", "U+2066"},
      {"\xe2\x81\xa9", "U+2069"},
  };
  for (const auto& [name, says] : bad) {
    absl::Status s = ValidateFileName("header.filename", name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_TRUE(absl::StartsWith(s.message(), "header.filename: ")) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), says)) << s;
  }
  // Neighbours of the refused ranges are fine.
  EXPECT_TRUE(ValidateFileName("f", "\xc2\xa0\xe2\x80\xa9\xe2\x81\xaa").ok());  // U+00A0, U+2029, U+206A
}

TEST(ValidatePageSize, Range) {
  EXPECT_TRUE(ValidatePageSize("page_size", 0, 50).ok());
  EXPECT_TRUE(ValidatePageSize("page_size", 50, 50).ok());
  EXPECT_FALSE(ValidatePageSize("page_size", 51, 50).ok());
  EXPECT_FALSE(ValidatePageSize("page_size", -1, 50).ok());
}

TEST(PageToken, RoundTripAndFilterBinding) {
  std::string token = EncodePageToken({3, 25, "abc"});
  auto back = DecodePageToken("page_token", token, "abc");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->page, 3);
  EXPECT_EQ(back->page_size, 25);
  EXPECT_EQ(DecodePageToken("page_token", token, "other").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken("page_token", "garbage!", "abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken("page_token", EncodePageToken({0, 25, "abc"}), "abc").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PageToken, LocalPagesWalkTheWholeListOnceInOrder) {
  // 5 items in pages of 2: [0,2) [2,4) [4,5), the last without a token.
  auto start = StartLocalPage("page_token", "", 2, "l:x");
  ASSERT_TRUE(start.ok());
  std::vector<std::pair<size_t, size_t>> pages;
  for (int guard = 0; guard < 10; ++guard) {
    LocalPage page = SliceLocalPage(*start, 5);
    pages.emplace_back(page.begin, page.end);
    if (page.next_page_token.empty()) break;
    start = StartLocalPage("page_token", page.next_page_token, 0, "l:x");
    ASSERT_TRUE(start.ok()) << start.status();
  }
  EXPECT_EQ(pages, (std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 4}, {4, 5}}));
  // page_size 0 without a token: everything, no token.
  LocalPage all = SliceLocalPage(*StartLocalPage("page_token", "", 0, "l:x"), 5);
  EXPECT_EQ(all.begin, 0u);
  EXPECT_EQ(all.end, 5u);
  EXPECT_TRUE(all.next_page_token.empty());
  // A page size on a later request overrides the token's.
  LocalPage first = SliceLocalPage(*StartLocalPage("page_token", "", 1, "l:x"), 5);
  LocalPage bigger = SliceLocalPage(*StartLocalPage("page_token", first.next_page_token, 3, "l:x"), 5);
  EXPECT_EQ(bigger.begin, 1u);
  EXPECT_EQ(bigger.end, 4u);
  // A list that shrank below the token's position gives an empty last page.
  LocalPage past = SliceLocalPage(*StartLocalPage("page_token", bigger.next_page_token, 0, "l:x"), 2);
  EXPECT_EQ(past.begin, past.end);
  EXPECT_TRUE(past.next_page_token.empty());
  // Another listing's token is refused.
  EXPECT_EQ(StartLocalPage("page_token", first.next_page_token, 0, "l:y").status().code(),
            absl::StatusCode::kInvalidArgument);
}

gw::CheckAwsS3SetupRequest GoodSetup() {
  gw::CheckAwsS3SetupRequest r;
  r.set_bucket("acme-videos");
  r.set_region("us-west-2");
  r.set_aws_account_id("123456789012");
  r.set_policy_name("TwelvelabsIntegrationPolicy");
  r.set_role_name("TwelvelabsIntegrationRole");
  return r;
}

TEST(CheckAwsS3Setup, GoodSetupHasNoFindings) {
  auto out = CheckAwsS3Setup(GoodSetup());
  EXPECT_TRUE(out.ok());
  EXPECT_EQ(out.findings_size(), 0);
}

TEST(CheckAwsS3Setup, EachRuleProducesAFindingWithAFix) {
  struct Case {
    void (*mutate)(gw::CheckAwsS3SetupRequest*);
    const char* field;
    const char* mentions;
  } cases[] = {
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_region("eu-west-1"); }, "region", "us-west-2"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_region(""); }, "region", "us-west-2"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_policy_name("TwelveLabsIntegrationPolicy"); }, "policy_name",
       "letter case"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_policy_name("MyPolicy"); }, "policy_name",
       "TwelvelabsIntegrationPolicy"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_role_name("TwelvelabsRole"); }, "role_name",
       "TwelvelabsIntegrationRole"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_aws_account_id("1234-5678-9012"); }, "aws_account_id", "12-digit"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_bucket("Acme_Videos"); }, "bucket", "lowercase"},
      {[](gw::CheckAwsS3SetupRequest* r) { r->set_bucket("192.168.1.1"); }, "bucket", "IP address"},
  };
  for (const auto& c : cases) {
    gw::CheckAwsS3SetupRequest r = GoodSetup();
    c.mutate(&r);
    auto out = CheckAwsS3Setup(r);
    EXPECT_FALSE(out.ok()) << c.field;
    ASSERT_EQ(out.findings_size(), 1) << c.field;
    EXPECT_EQ(out.findings(0).field(), c.field);
    EXPECT_EQ(out.findings(0).severity(), gw::FINDING_SEVERITY_ERROR);
    EXPECT_FALSE(out.findings(0).fix().empty());
    EXPECT_TRUE(absl::StrContains(out.findings(0).problem() + " " + out.findings(0).fix(), c.mentions))
        << out.findings(0).DebugString();
  }
}

TEST(CheckAwsS3Setup, OddlyWrittenRegionIsOnlyAWarningAndErrorsComeFirst) {
  gw::CheckAwsS3SetupRequest r = GoodSetup();
  r.set_region("US-WEST-2");
  r.set_role_name("x");
  auto out = CheckAwsS3Setup(r);
  EXPECT_FALSE(out.ok());
  ASSERT_EQ(out.findings_size(), 2);
  EXPECT_EQ(out.findings(0).severity(), gw::FINDING_SEVERITY_ERROR);
  EXPECT_EQ(out.findings(1).severity(), gw::FINDING_SEVERITY_WARNING);
}

}  // namespace
}  // namespace tlgw
