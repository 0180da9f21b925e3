// Everything that differs between Twelve Labs API v1.2 and v1.3, in one
// place. Request building and JSON mapping ask these functions instead of
// comparing versions themselves.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_API_VERSION_H_
#define TL_GATEWAY_SERVER_TWELVELABS_API_VERSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tlgw {

enum class ApiVersion { kV1_2, kV1_3 };

// "v1.2" or "v1.3".
std::string VersionName(ApiVersion v);

// The version is the last path segment of the base URL, e.g.
// "https://api.twelvelabs.io/v1.2". Anything else is an error naming the
// accepted forms.
absl::StatusOr<ApiVersion> VersionFromBaseUrl(absl::string_view base_url);

// `POST /tasks/external-provider` exists only in v1.2.
bool HasExternalProvider(ApiVersion v);
// OK, or the FAILED_PRECONDITION a caller gets for CreateExternalProviderTask
// on a version without it (naming the version that has it).
absl::Status RequireExternalProvider(ApiVersion v);

// The assets API (assets, multipart uploads, indexed assets) exists only
// in v1.3.
bool HasAssets(ApiVersion v);
// OK, or the FAILED_PRECONDITION naming v1.3 that `method` answers on a
// version without the assets API.
absl::Status RequireAssets(ApiVersion v, absl::string_view method);

// The task object's metadata key: "metadata" (v1.2) or "system_metadata".
absl::string_view TaskMetadataKey(ApiVersion v);

// How `GET /tasks` takes several statuses: one comma-joined `status`
// parameter (v1.2) or the parameter repeated (v1.3).
bool StatusFilterRepeated(ApiVersion v);

// `POST /tasks` streaming flag: v1.2 sends `disable_video_stream` (negated),
// v1.3 sends `enable_video_stream`.
bool UsesEnableVideoStream(ApiVersion v);

// v1.3 takes `user_metadata` on `POST /tasks`; v1.2 has no such field.
bool TakesUserMetadata(ApiVersion v);

// v1.2 takes `language` and transcription fields on `POST /tasks`.
bool TakesLanguage(ApiVersion v);

// Webhook payloads list "engines" (v1.2) or "models" (v1.3).
absl::string_view WebhookModelsKey(ApiVersion v);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_API_VERSION_H_
