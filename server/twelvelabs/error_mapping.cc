#include "server/twelvelabs/error_mapping.h"

#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

struct ErrorBody {
  std::string code;
  std::string message;
  std::string docs_url;
};

ErrorBody ParseErrorBody(const std::string& body) {
  ErrorBody out;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return out;
  // Newer endpoints wrap errors as {"error": {...}}; tasks do not, but a
  // proxy in between might.
  const nlohmann::json* e = &j;
  if (auto it = j.find("error"); it != j.end() && it->is_object()) e = &*it;
  auto str = [e](const char* key) -> std::string {
    auto it = e->find(key);
    return it != e->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  out.code = str("code");
  out.message = str("message");
  out.docs_url = str("docs_url");
  return out;
}

absl::StatusCode CodeFor(int http, const std::string& code) {
  if (code == "resource_not_exist" || code == "resource_not_exists") return absl::StatusCode::kNotFound;
  if (code == "index_name_already_exists") return absl::StatusCode::kAlreadyExists;
  if (code == "task_cannot_be_deleted" || code == "index_option_cannot_be_changed" ||
      code == "index_engine_cannot_be_changed" || code == "api_upgrade_required") {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (code == "too_many_requests" || code == "usage_limit_exceeded") {
    return absl::StatusCode::kResourceExhausted;
  }
  if (code == "api_key_invalid" || code == "unauthorized" || http == 401) {
    return absl::StatusCode::kInternal;
  }
  if (code == "api_not_allowed" || code == "api_allowed_for_paid_plan" ||
      code == "region_not_allowed" || http == 403) {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (code == "request_canceled_or_timed_out" || http == 408) return absl::StatusCode::kUnavailable;
  if (http == 404) return absl::StatusCode::kNotFound;
  if (http == 409) return absl::StatusCode::kAlreadyExists;
  if (http == 429) return absl::StatusCode::kResourceExhausted;
  if (http >= 500 && http <= 599) return absl::StatusCode::kUnavailable;
  if (http >= 400 && http <= 499) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

// ErrorInfo.reason is UPPER_SNAKE_CASE (AIP-193: [A-Z][A-Z0-9_]*, at most
// 63 characters): the upstream code upper-cased, anything else made '_'.
// The code as sent stays in the metadata.
std::string ReasonFor(const std::string& code, int http) {
  if (code.empty()) return absl::StrCat("HTTP_", http);
  std::string reason;
  for (char c : code) reason.push_back(absl::ascii_isalnum(c) ? absl::ascii_toupper(c) : '_');
  if (!absl::ascii_isupper(reason[0])) reason = absl::StrCat("UPSTREAM_", reason);
  if (reason.size() > 63) reason.resize(63);
  return reason;
}

}  // namespace

std::optional<absl::Duration> RetryAfter(const HttpResponse& response, absl::Time now) {
  if (auto v = response.Header("retry-after")) {
    double seconds;
    if (absl::SimpleAtod(*v, &seconds) && seconds >= 0) return absl::Seconds(seconds);
    absl::Time when;
    std::string err;
    if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", *v, &when, &err)) {
      return when > now ? when - now : absl::ZeroDuration();
    }
  }
  if (auto v = response.Header("x-ratelimit-reset")) {
    int64_t epoch;
    if (absl::SimpleAtoi(*v, &epoch)) {
      absl::Time when = absl::FromUnixSeconds(epoch);
      return when > now ? when - now : absl::ZeroDuration();
    }
  }
  ErrorBody body = ParseErrorBody(response.body);
  std::string lower = absl::AsciiStrToLower(body.message);
  size_t at = lower.find("retry after ");
  if (at != std::string::npos) {
    const char* start = lower.c_str() + at + 12;
    char* end = nullptr;
    double seconds = std::strtod(start, &end);
    if (end != start && seconds >= 0) return absl::Seconds(seconds);
  }
  return std::nullopt;
}

absl::Status MapHttpError(const HttpResponse& response, absl::Time now) {
  ErrorBody body = ParseErrorBody(response.body);
  absl::StatusCode code = CodeFor(response.status, body.code);
  std::string upstream = body.message.empty() ? std::string("no error message") : body.message;
  std::string message;
  switch (code) {
    case absl::StatusCode::kInternal:
      message = (response.status == 401 || body.code == "api_key_invalid" || body.code == "unauthorized")
                    ? absl::StrCat("the gateway's Twelve Labs API key was rejected; the gateway "
                                   "operator must check or rotate it (upstream said: ", upstream, ")")
                    : absl::StrCat("Twelve Labs API answered HTTP ", response.status,
                                   " unexpectedly: ", upstream);
      break;
    case absl::StatusCode::kFailedPrecondition:
      message = (response.status == 403 || body.code == "api_not_allowed" ||
                 body.code == "api_allowed_for_paid_plan" || body.code == "region_not_allowed")
                    ? absl::StrCat("the gateway's Twelve Labs account may not do this; the gateway "
                                   "operator must check its plan (upstream said: ", upstream, ")")
                    : absl::StrCat("Twelve Labs API: ", upstream);
      break;
    case absl::StatusCode::kUnavailable:
      message = absl::StrCat("Twelve Labs API is unavailable (HTTP ", response.status, "): ",
                             upstream, "; retry with backoff");
      break;
    default:
      message = absl::StrCat("Twelve Labs API: ", upstream);
  }
  std::map<std::string, std::string> meta{{"http_status", std::to_string(response.status)}};
  if (!body.docs_url.empty()) meta["docs_url"] = body.docs_url;
  if (!body.code.empty()) meta["upstream_code"] = body.code;
  std::string reason = ReasonFor(body.code, response.status);
  absl::Status status = WithErrorInfo(absl::Status(code, message), reason, kUpstreamDomain, meta);
  if (code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable) {
    if (auto delay = RetryAfter(response, now)) status = WithRetryDelay(std::move(status), *delay);
  }
  return status;
}

absl::Status MalformedResponse(absl::string_view what, absl::string_view detail) {
  return WithErrorInfo(
      absl::InternalError(absl::StrCat("Twelve Labs API sent a response the gateway cannot read (",
                                       what, "): ", detail)),
      "UPSTREAM_MALFORMED_RESPONSE", kGatewayDomain);
}

}  // namespace tlgw
