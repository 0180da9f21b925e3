#include "server/common/status_details.h"

#include <cmath>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/duration.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tlgw {
namespace {

constexpr char kTypePrefix[] = "type.googleapis.com/";

std::string TypeUrl(const google::protobuf::Message& m) {
  return absl::StrCat(kTypePrefix, m.GetDescriptor()->full_name());
}

template <typename M>
std::optional<M> GetDetail(const absl::Status& status) {
  M m;
  auto payload = status.GetPayload(TypeUrl(m));
  if (!payload.has_value()) return std::nullopt;
  if (!m.ParseFromString(std::string(*payload))) return std::nullopt;
  return m;
}

template <typename M>
absl::Status SetDetail(absl::Status status, const M& m) {
  if (status.ok()) return status;
  status.SetPayload(TypeUrl(m), absl::Cord(m.SerializeAsString()));
  return status;
}

}  // namespace

absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           absl::string_view domain,
                           const std::map<std::string, std::string>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(domain));
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  return SetDetail(std::move(status), info);
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  google::rpc::RetryInfo info;
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(delay, absl::Milliseconds(1)));
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  return SetDetail(std::move(status), info);
}

std::optional<std::string> ErrorReason(const absl::Status& status) {
  auto info = GetDetail<google::rpc::ErrorInfo>(status);
  if (!info) return std::nullopt;
  return info->reason();
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  auto info = GetDetail<google::rpc::RetryInfo>(status);
  if (!info) return std::nullopt;
  return absl::Seconds(info->retry_delay().seconds()) +
         absl::Nanoseconds(info->retry_delay().nanos());
}

absl::Status FieldError(absl::string_view field, absl::string_view description) {
  absl::Status status = absl::InvalidArgumentError(absl::StrCat(field, ": ", description));
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field(std::string(field));
  v->set_description(std::string(description));
  return WithErrorInfo(SetDetail(std::move(status), bad), "INVALID_FIELD", kGatewayDomain,
                       {{"field", std::string(field)}});
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (!ErrorReason(status).has_value()) {
    // Every error a caller gets carries ErrorInfo: a status nobody gave a
    // reason gets its code's name (NOT_FOUND, UNAVAILABLE, ...).
    return ToGrpcStatus(WithErrorInfo(status, absl::StatusCodeToString(status.code()), kGatewayDomain));
  }
  google::rpc::Status proto;
  proto.set_code(static_cast<int>(status.code()));
  proto.set_message(std::string(status.message()));
  status.ForEachPayload([&proto](absl::string_view url, const absl::Cord& payload) {
    if (!absl::StartsWith(url, kTypePrefix)) return;
    auto* any = proto.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(payload));
  });
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()), proto.SerializeAsString());
}

}  // namespace tlgw
