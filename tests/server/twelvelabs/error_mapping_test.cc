#include "server/twelvelabs/error_mapping.h"

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

#include "server/common/status_details.h"

namespace tlgw {
namespace {

HttpResponse Response(int status, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string Body(const std::string& code, const std::string& message = "m") {
  return R"({"code":")" + code + R"(","message":")" + message + R"(","docs_url":"https://docs"})";
}

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST(MapHttpError, CodeInBodyDecidesBeforeHttpStatus) {
  struct Case {
    int http;
    std::string code;
    absl::StatusCode want;
  } cases[] = {
      {400, "resource_not_exist", absl::StatusCode::kNotFound},
      {404, "resource_not_exist", absl::StatusCode::kNotFound},
      {404, "", absl::StatusCode::kNotFound},
      {400, "parameter_invalid", absl::StatusCode::kInvalidArgument},
      {400, "parameter_not_provided", absl::StatusCode::kInvalidArgument},
      {400, "parameter_unknown", absl::StatusCode::kInvalidArgument},
      {400, "video_filesize_too_large", absl::StatusCode::kInvalidArgument},
      {422, "", absl::StatusCode::kInvalidArgument},
      {400, "index_name_already_exists", absl::StatusCode::kAlreadyExists},
      {409, "", absl::StatusCode::kAlreadyExists},
      {409, "import_in_progress", absl::StatusCode::kAlreadyExists},
      {400, "task_cannot_be_deleted", absl::StatusCode::kFailedPrecondition},
      {429, "too_many_requests", absl::StatusCode::kResourceExhausted},
      {429, "", absl::StatusCode::kResourceExhausted},
      {401, "api_key_invalid", absl::StatusCode::kInternal},
      {401, "", absl::StatusCode::kInternal},
      {403, "api_allowed_for_paid_plan", absl::StatusCode::kFailedPrecondition},
      {403, "", absl::StatusCode::kFailedPrecondition},
      {500, "", absl::StatusCode::kUnavailable},
      {502, "", absl::StatusCode::kUnavailable},
      {503, "internal_error", absl::StatusCode::kUnavailable},
      {504, "", absl::StatusCode::kUnavailable},
      {408, "", absl::StatusCode::kUnavailable},
      {302, "", absl::StatusCode::kInternal},
  };
  for (const auto& c : cases) {
    absl::Status s = MapHttpError(Response(c.http, c.code.empty() ? "" : Body(c.code)), kNow);
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.code << " -> " << s;
    EXPECT_NE(s.code(), absl::StatusCode::kUnauthenticated);
    auto reason = ErrorReason(s);
    ASSERT_TRUE(reason.has_value());
    EXPECT_EQ(*reason, c.code.empty() ? "HTTP_" + std::to_string(c.http) : absl::AsciiStrToUpper(c.code));
  }
}

TEST(MapHttpError, ReasonIsUpperSnakeCaseAndTheCodeAsSentStaysInMetadata) {
  for (const std::string& code : std::vector<std::string>{"resource_not_exist", "weird-code.v2", "9lives", std::string(100, 'x')}) {
    absl::Status s = MapHttpError(Response(400, Body(code)), kNow);
    std::string reason = ErrorReason(s).value_or("");
    ASSERT_FALSE(reason.empty()) << code;
    EXPECT_TRUE(absl::ascii_isupper(reason[0])) << reason;
    EXPECT_LE(reason.size(), 63u) << reason;
    for (char c : reason) EXPECT_TRUE(absl::ascii_isupper(c) || absl::ascii_isdigit(c) || c == '_') << reason;
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_TRUE(absl::StrContains(g.error_details(), code)) << "upstream_code metadata missing for " << code;
  }
  EXPECT_EQ(ErrorReason(MapHttpError(Response(400, Body("weird-code.v2")), kNow)), "WEIRD_CODE_V2");
}

TEST(MapHttpError, KeyProblemsSayTheGatewayKeyIsWrong) {
  absl::Status s = MapHttpError(Response(401, Body("api_key_invalid", "The API key is invalid.")), kNow);
  EXPECT_NE(s.message().find("gateway's Twelve Labs API key"), absl::string_view::npos) << s;
}

TEST(MapHttpError, MessageCarriesUpstreamText) {
  absl::Status s = MapHttpError(Response(400, Body("parameter_invalid", "The index_id parameter is invalid.")), kNow);
  EXPECT_EQ(s.message(), "Twelve Labs API: The index_id parameter is invalid.");
}

TEST(MapHttpError, ErrorBodyShapesAreAllRead) {
  // Plain, wrapped in {"error":...}, not JSON, empty.
  EXPECT_EQ(ErrorReason(MapHttpError(Response(400, Body("resource_not_exist")), kNow)), "RESOURCE_NOT_EXIST");
  EXPECT_EQ(MapHttpError(Response(400, R"({"error":{"code":"resource_not_exist","message":"x"}})"), kNow).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MapHttpError(Response(400, "<html>bad gateway</html>"), kNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MapHttpError(Response(503, ""), kNow).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MapHttpError(Response(400, R"({"code":7,"message":["x"]})"), kNow).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RetryAfter, HeaderThenRateLimitResetThenMessageHint) {
  EXPECT_EQ(RetryAfter(Response(429, "", {{"retry-after", "7"}}), kNow), absl::Seconds(7));
  EXPECT_EQ(RetryAfter(Response(429, "", {{"retry-after", "Tue, 14 Nov 2023 22:13:40 GMT"}}), kNow),
            absl::Seconds(20));
  EXPECT_EQ(RetryAfter(Response(429, "", {{"x-ratelimit-reset", "1700000030"}}), kNow), absl::Seconds(30));
  EXPECT_EQ(RetryAfter(Response(429, Body("too_many_requests",
                                          "You have exceeded the rate limit (50). Please retry after 12 seconds.")),
                       kNow),
            absl::Seconds(12));
  EXPECT_EQ(RetryAfter(Response(429, ""), kNow), std::nullopt);
  // Retry-After wins over the others.
  EXPECT_EQ(RetryAfter(Response(429, "", {{"retry-after", "3"}, {"x-ratelimit-reset", "1700000030"}}), kNow),
            absl::Seconds(3));
}

TEST(MapHttpError, RateLimitCarriesRetryInfo) {
  absl::Status s = MapHttpError(Response(429, Body("too_many_requests"), {{"x-ratelimit-reset", "1700000045"}}), kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelay(s), absl::Seconds(45));
}

TEST(ToGrpcStatus, DetailsTravelInTheTrailer) {
  absl::Status s = MapHttpError(Response(429, Body("too_many_requests"), {{"retry-after", "2"}}), kNow);
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(g.error_details().empty());
}

}  // namespace
}  // namespace tlgw
