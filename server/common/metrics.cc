#include "server/common/metrics.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tlgw {

const char* GrpcCodeName(int code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                 "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

namespace {

bool IsId(absl::string_view s) {
  if (s.size() != 24) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

}  // namespace

void RequestMetrics::Histogram::Add(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++counts[i];
  }
  ++count;
  sum += seconds;
}

std::string RequestMetrics::PathTemplate(const std::string& path) {
  absl::string_view p = path;
  p = p.substr(0, p.find('?'));
  std::vector<std::string> parts;
  for (absl::string_view seg : absl::StrSplit(p, '/', absl::SkipEmpty())) {
    if (seg == "v1.2" || seg == "v1.3") continue;  // the version is a label of its own worth
    parts.push_back(IsId(seg) ? "{id}" : std::string(seg));
  }
  return "/" + absl::StrJoin(parts, "/");
}

void RequestMetrics::RecordGrpc(const std::string& method, int code, absl::Duration latency) {
  const bool known = known_method_ != nullptr && known_method_(method);
  absl::MutexLock lock(&mu_);
  grpc_[{known ? method : kUnknownMethod, GrpcCodeName(code)}].Add(absl::ToDoubleSeconds(latency));
}

void RequestMetrics::RecordUpstream(const std::string& method, const std::string& path, int http_status,
                                    absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  upstream_[{absl::StrCat(method, " ", PathTemplate(path)), http_status == 0 ? "none" : std::to_string(http_status)}]
      .Add(absl::ToDoubleSeconds(latency));
}

void RequestMetrics::Render(std::string* out) const {
  absl::MutexLock lock(&mu_);
  auto render = [out](const char* name, const char* help, const char* key_label, const char* value_label,
                      const std::map<std::pair<std::string, std::string>, Histogram>& series) {
    absl::StrAppend(out, "# HELP ", name, "_total ", help, "\n# TYPE ", name, "_total counter\n");
    for (const auto& [k, h] : series) {
      absl::StrAppend(out, name, "_total{", key_label, "=\"", k.first, "\",", value_label, "=\"", k.second, "\"} ",
                      h.count, "\n");
    }
    absl::StrAppend(out, "# HELP ", name, "_duration_seconds ", help, " (latency)\n# TYPE ", name,
                    "_duration_seconds histogram\n");
    for (const auto& [k, h] : series) {
      std::string labels = absl::StrCat(key_label, "=\"", k.first, "\",", value_label, "=\"", k.second, "\"");
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        absl::StrAppend(out, name, "_duration_seconds_bucket{", labels, ",le=\"", kBuckets[i], "\"} ", h.counts[i],
                        "\n");
      }
      absl::StrAppend(out, name, "_duration_seconds_bucket{", labels, ",le=\"+Inf\"} ", h.count, "\n");
      absl::StrAppend(out, name, "_duration_seconds_sum{", labels, "} ", h.sum, "\n");
      absl::StrAppend(out, name, "_duration_seconds_count{", labels, "} ", h.count, "\n");
    }
  };
  render("tl_gateway_grpc_calls", "gRPC calls served, by method and status code.", "method", "code", grpc_);
  render("tl_gateway_upstream_requests", "Requests to the Twelve Labs API, by endpoint and HTTP status.",
         "endpoint", "status", upstream_);
}

}  // namespace tlgw
