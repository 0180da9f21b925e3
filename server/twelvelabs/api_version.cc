#include "server/twelvelabs/api_version.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/common/status_details.h"

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

absl::Status RequireExternalProvider(ApiVersion v) {
  if (HasExternalProvider(v)) return absl::OkStatus();
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          "CreateExternalProviderTask needs Twelve Labs API v1.2 (POST /tasks/external-provider); "
          "this gateway speaks ", VersionName(v),
          ", which indexes only direct video URLs: use CreateUrlTask, or run the gateway with an "
          "--upstream_url ending in /v1.2")),
      "METHOD_NOT_IN_API_VERSION", kGatewayDomain, {{"api_version", VersionName(v)}});
}

bool HasAssets(ApiVersion v) { return v == ApiVersion::kV1_3; }

absl::Status RequireAssets(ApiVersion v, absl::string_view method) {
  if (HasAssets(v)) return absl::OkStatus();
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          method, " needs Twelve Labs API v1.3 (the assets API); this gateway speaks ",
          VersionName(v), ": run it with an --upstream_url ending in /v1.3")),
      "METHOD_NOT_IN_API_VERSION", kGatewayDomain, {{"api_version", VersionName(v)}});
}

}  // namespace tlgw
