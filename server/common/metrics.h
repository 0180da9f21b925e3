// Request metrics in the Prometheus text format: gRPC calls by method and
// code, and upstream requests by endpoint and HTTP status, each with a
// latency histogram. Labels are method names, endpoint templates (ids
// replaced by {id}) and codes only: never an id, key or token. Thread-safe.
#ifndef TL_GATEWAY_SERVER_COMMON_METRICS_H_
#define TL_GATEWAY_SERVER_COMMON_METRICS_H_

#include <array>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

// The canonical name of gRPC status code `code` ("NOT_FOUND"); "UNKNOWN"
// for a value outside the known set, so labels stay a fixed set.
const char* GrpcCodeName(int code);

class RequestMetrics {
 public:
  // The label of calls to methods `known_method` does not accept: callers
  // can send any method name, so labels come only from a known set.
  static constexpr char kUnknownMethod[] = "unknown";

  // `known_method("/pkg.Service/Method")` says whether a method is served;
  // without it every method counts as unknown.
  explicit RequestMetrics(std::function<bool(absl::string_view)> known_method = nullptr)
      : known_method_(std::move(known_method)) {}

  // `method` "/twelvelabs.gateway.v1.TaskService/GetTask"; `code` a gRPC code.
  void RecordGrpc(const std::string& method, int code, absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);
  // `http_status` 0 when no response came (connection failure, timeout).
  void RecordUpstream(const std::string& method, const std::string& path, int http_status,
                      absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends the metrics, with HELP and TYPE lines, to `out`.
  void Render(std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);

  // "/v1.3/tasks/6298d673f1090f1100476d4c?x=1" -> "/tasks/{id}".
  static std::string PathTemplate(const std::string& path);

 private:
  static constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1,     2.5,  5,     10};
  struct Histogram {
    std::array<int64_t, kBuckets.size()> counts{};
    int64_t count = 0;
    double sum = 0;
    void Add(double seconds);
  };
  const std::function<bool(absl::string_view)> known_method_;
  mutable absl::Mutex mu_;
  // (method, code) and (endpoint, status) -> histogram
  std::map<std::pair<std::string, std::string>, Histogram> grpc_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, Histogram> upstream_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_METRICS_H_
