// Checks on request fields made before any REST call, so a bad request
// costs no upstream quota and the caller learns which field to fix.
// Every failure is INVALID_ARGUMENT "<field>: <what to fix>" with a
// google.rpc.BadRequest naming the field.
#ifndef TL_GATEWAY_SERVER_SERVICES_VALIDATION_H_
#define TL_GATEWAY_SERVER_SERVICES_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tlgw {

// Task, index, video and integration ids are 24 lowercase hex characters
// (IsResourceId in server/common/ids.h, which the config loader shares).
absl::Status ValidateId(absl::string_view field, absl::string_view value);
// An absolute http(s) URL with a host, no spaces or control characters.
absl::Status ValidateHttpUrl(absl::string_view field, absl::string_view value);
// A YouTube watch/shorts/embed/youtu.be URL.
bool IsYouTubeUrl(absl::string_view url);
// Empty, or 1-128 of [A-Za-z0-9_-] (a UUID fits).
absl::Status ValidateRequestId(absl::string_view field, absl::string_view value);
// A file name that goes into a multipart Content-Disposition header as is
// (raw UTF-8, see requests.h): 1-255 bytes of valid UTF-8, no path
// separators, quotes, control characters (C0, DEL, C1) or bidirectional
// overrides and isolates (U+202A-U+202E, U+2066-U+2069), which would break
// the header or make the name display as something else.
absl::Status ValidateFileName(absl::string_view field, absl::string_view value);
// 0 (= default) or 1..max.
absl::Status ValidatePageSize(absl::string_view field, int value, int max);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_VALIDATION_H_
