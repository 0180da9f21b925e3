#include "server/twelvelabs/api_version.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tlgw {

std::string VersionName(ApiVersion v) { return v == ApiVersion::kV1_2 ? "v1.2" : "v1.3"; }

absl::StatusOr<ApiVersion> VersionFromBaseUrl(absl::string_view base_url) {
  absl::string_view url = absl::StripSuffix(base_url, "/");
  size_t slash = url.rfind('/');
  absl::string_view last = slash == absl::string_view::npos ? url : url.substr(slash + 1);
  if (last == "v1.2") return ApiVersion::kV1_2;
  if (last == "v1.3") return ApiVersion::kV1_3;
  return absl::InvalidArgumentError(absl::StrCat(
      "upstream_url: must end with the API version, /v1.2 or /v1.3 (e.g. "
      "https://api.twelvelabs.io/v1.2), got '", base_url, "'"));
}

bool HasExternalProvider(ApiVersion v) { return v == ApiVersion::kV1_2; }

absl::string_view TaskMetadataKey(ApiVersion v) {
  return v == ApiVersion::kV1_2 ? "metadata" : "system_metadata";
}

bool StatusFilterRepeated(ApiVersion v) { return v == ApiVersion::kV1_3; }

bool UsesEnableVideoStream(ApiVersion v) { return v == ApiVersion::kV1_3; }

bool TakesUserMetadata(ApiVersion v) { return v == ApiVersion::kV1_3; }

bool TakesLanguage(ApiVersion v) { return v == ApiVersion::kV1_2; }

absl::string_view WebhookModelsKey(ApiVersion v) {
  return v == ApiVersion::kV1_2 ? "engines" : "models";
}

}  // namespace tlgw
