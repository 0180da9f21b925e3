// The rich error details a grpc::Status carries (google.rpc.Status in its
// error_details), for tests' assertions: in-process service tests and
// end-to-end tests read them the same way.
#ifndef TL_GATEWAY_TESTS_SUPPORT_GRPC_DETAILS_H_
#define TL_GATEWAY_TESTS_SUPPORT_GRPC_DETAILS_H_

#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tlgw {

// The first detail of type `T` in `s`, if any.
template <typename T>
std::optional<T> DetailOf(const grpc::Status& s) {
  google::rpc::Status details;
  if (!details.ParseFromString(s.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    T detail;
    if (any.UnpackTo(&detail)) return detail;
  }
  return std::nullopt;
}

inline std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const grpc::Status& s) {
  return DetailOf<google::rpc::ErrorInfo>(s);
}

inline std::optional<absl::Duration> RetryDelayOf(const grpc::Status& s) {
  auto info = DetailOf<google::rpc::RetryInfo>(s);
  if (!info) return std::nullopt;
  return absl::Seconds(info->retry_delay().seconds()) + absl::Nanoseconds(info->retry_delay().nanos());
}

// The fields a google.rpc.BadRequest names.
inline std::vector<std::string> BadFieldsOf(const grpc::Status& s) {
  std::vector<std::string> out;
  if (auto bad = DetailOf<google::rpc::BadRequest>(s)) {
    for (const auto& v : bad->field_violations()) out.push_back(v.field());
  }
  return out;
}

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SUPPORT_GRPC_DETAILS_H_
