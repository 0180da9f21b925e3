// Rich error details carried on absl::Status and turned into grpc::Status.
//
// Components below the gRPC layer report failures as absl::Status and attach
// google.rpc details (ErrorInfo, RetryInfo, BadRequest) as payloads keyed by
// their type URLs. ToGrpcStatus() is the one place where an absl::Status
// becomes a grpc::Status, with the details packed into the
// `grpc-status-details-bin` trailer that every gRPC language decodes.
#ifndef TL_GATEWAY_SERVER_COMMON_STATUS_DETAILS_H_
#define TL_GATEWAY_SERVER_COMMON_STATUS_DETAILS_H_

#include <map>
#include <optional>
#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tlgw {

// The ErrorInfo domain for errors that came from the Twelve Labs API.
inline constexpr char kUpstreamDomain[] = "api.twelvelabs.io";
// The ErrorInfo domain for errors the gateway raised itself.
inline constexpr char kGatewayDomain[] = "tl-gateway";

// Attaches google.rpc.ErrorInfo. Replaces any earlier one.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           absl::string_view domain,
                           const std::map<std::string, std::string>& metadata = {});

// Attaches google.rpc.RetryInfo with `delay` (rounded up to milliseconds).
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);

// Reads back what WithErrorInfo/WithRetryDelay attached.
std::optional<std::string> ErrorReason(const absl::Status& status);
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// INVALID_ARGUMENT "<field>: <description>" with a google.rpc.BadRequest
// naming the field, so callers can point at what to fix.
absl::Status FieldError(absl::string_view field, absl::string_view description);

// The single absl::Status -> grpc::Status conversion. Details become a
// serialized google.rpc.Status in the status-details trailer. A status
// without ErrorInfo gets one (domain tl-gateway, reason the code's name,
// e.g. UNAVAILABLE), so every error a caller sees has a reason.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_STATUS_DETAILS_H_
