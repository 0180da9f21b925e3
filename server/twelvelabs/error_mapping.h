// The one place where an upstream HTTP failure becomes an absl::Status.
//
// The error body's `code` decides first, the HTTP status second, because the
// API answers an unknown id with 400 `resource_not_exist` as well as 404.
// The upstream code travels upper-cased as google.rpc.ErrorInfo.reason (as
// sent in its metadata `upstream_code`); a 429 carries
// google.rpc.RetryInfo. A 401/403 means the *gateway's* key is wrong, which
// the caller cannot fix, so it never maps to UNAUTHENTICATED (that code is
// for the caller's own credentials).
#ifndef TL_GATEWAY_SERVER_TWELVELABS_ERROR_MAPPING_H_
#define TL_GATEWAY_SERVER_TWELVELABS_ERROR_MAPPING_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/upstream/http.h"

namespace tlgw {

// Maps a non-2xx response. `now` is used to turn X-Ratelimit-Reset (epoch
// seconds) into a delay.
absl::Status MapHttpError(const HttpResponse& response, absl::Time now);

// The delay a response asks for: Retry-After (seconds or HTTP date), else
// X-Ratelimit-Reset, else the "retry after N" hint in a too_many_requests
// message. nullopt when the response says nothing.
std::optional<absl::Duration> RetryAfter(const HttpResponse& response, absl::Time now);

// An unreadable 2xx body (malformed JSON, wrong types): INTERNAL, naming
// what was expected.
absl::Status MalformedResponse(absl::string_view what, absl::string_view detail);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_ERROR_MAPPING_H_
