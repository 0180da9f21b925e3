#include "client/error_details.h"

#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tlclient {

namespace {

constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr char kRetryInfoUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

template <typename Message>
std::optional<Message> Detail(const absl::Status& status, const char* type_url) {
  // Debian builds Abseil with its own optional type, not std::optional.
  auto payload = status.GetPayload(type_url);
  if (!payload.has_value()) return std::nullopt;
  Message message;
  if (!message.ParseFromString(std::string(*payload))) return std::nullopt;
  return message;
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share the canonical numbering.
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (status.error_details().empty()) return out;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return out;
  for (const auto& any : details.details()) {
    out.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return out;
}

std::optional<std::string> ErrorReason(const absl::Status& status) {
  auto info = Detail<google::rpc::ErrorInfo>(status, kErrorInfoUrl);
  if (!info.has_value() || info->reason().empty()) return std::nullopt;
  return info->reason();
}

std::optional<std::string> ErrorDomain(const absl::Status& status) {
  auto info = Detail<google::rpc::ErrorInfo>(status, kErrorInfoUrl);
  if (!info.has_value() || info->domain().empty()) return std::nullopt;
  return info->domain();
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  auto info = Detail<google::rpc::RetryInfo>(status, kRetryInfoUrl);
  if (!info.has_value() || !info->has_retry_delay()) return std::nullopt;
  return absl::Seconds(info->retry_delay().seconds()) +
         absl::Nanoseconds(info->retry_delay().nanos());
}

std::string DescribeStatus(const absl::Status& status) {
  // An empty message (gRPC's own UNIMPLEMENTED has one) would leave a
  // dangling "CODE: " that reads like a truncated line.
  std::string out = absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                 status.message().empty() ? "(no message)" : status.message());
  std::vector<std::string> extras;
  if (auto reason = ErrorReason(status)) extras.push_back(absl::StrCat("reason: ", *reason));
  if (auto delay = RetryDelay(status)) {
    extras.push_back(absl::StrCat("retry after ", absl::FormatDuration(*delay)));
  }
  if (!extras.empty()) absl::StrAppend(&out, " (", absl::StrJoin(extras, ", "), ")");
  return out;
}

}  // namespace tlclient
