// Turns a gRPC status from the gateway into an absl::Status that keeps the
// code, the message and the google.rpc details the gateway attaches
// (ErrorInfo, RetryInfo, BadRequest), so callers can branch on the reason
// and honour a retry delay without touching gRPC types.
//
// Each detail is kept as an absl::Status payload keyed by its type URL
// (e.g. "type.googleapis.com/google.rpc.ErrorInfo") holding the serialized
// message; the accessors below read them back.
#ifndef TL_GATEWAY_CLIENT_ERROR_DETAILS_H_
#define TL_GATEWAY_CLIENT_ERROR_DETAILS_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tlclient {

// The one grpc::Status -> absl::Status conversion. Unreadable details are
// dropped rather than failing the conversion: the code and message matter
// more than the extras.
absl::Status FromGrpcStatus(const grpc::Status& status);

// google.rpc.ErrorInfo.reason, e.g. "resource_not_exist", if attached.
std::optional<std::string> ErrorReason(const absl::Status& status);
// google.rpc.ErrorInfo.domain, e.g. "api.twelvelabs.io" or "tl-gateway".
std::optional<std::string> ErrorDomain(const absl::Status& status);
// google.rpc.RetryInfo.retry_delay, if attached: wait at least this long
// before calling again.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// "NOT_FOUND: <message> (reason: resource_not_exist, retry after 7s)": the
// one-line form tlctl prints.
std::string DescribeStatus(const absl::Status& status);

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_ERROR_DETAILS_H_
