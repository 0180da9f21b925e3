// Builds the REST requests of every operation for a given API version.
//
// Pure functions: the inputs are already validated by the services, the
// outputs are relative paths (query included) and bodies. The client adds
// the base URL, the key and the timeout.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_REQUESTS_H_
#define TL_GATEWAY_SERVER_TWELVELABS_REQUESTS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/twelvelabs/api_version.h"
#include "server/upstream/http.h"
#include "twelvelabs/gateway/v1/asset.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task_service.pb.h"
#include "twelvelabs/gateway/v1/upload_service.pb.h"

namespace tlgw {

struct RestCall {
  std::string method;
  std::string path;  // starts with '/', relative to the versioned base URL
  std::string json_body;         // sent as application/json when non-empty
  std::vector<FormPart> form;    // sent as multipart/form-data when non-empty
};

// Percent-encodes a query value or path segment (RFC 3986 unreserved kept).
std::string UrlEncode(absl::string_view s);

// FAILED_PRECONDITION on v1.3, which has no external-provider endpoint.
absl::StatusOr<RestCall> CreateExternalProviderCall(
    ApiVersion v, const twelvelabs::gateway::v1::CreateExternalProviderTaskRequest& req);
// INVALID_ARGUMENT when user_metadata holds values the API refuses.
absl::StatusOr<RestCall> CreateUrlTaskCall(
    ApiVersion v, const twelvelabs::gateway::v1::CreateUrlTaskRequest& req);
// `video_file` comes from `source`, exactly header.size_bytes() bytes.
absl::StatusOr<RestCall> UploadVideoFileCall(
    ApiVersion v, const twelvelabs::gateway::v1::UploadVideoFileHeader& header,
    std::shared_ptr<BodySource> source);
RestCall GetTaskCall(const std::string& task_id);
// `page` is 1-based; `page_limit` 1..50.
RestCall ListTasksCall(ApiVersion v, const twelvelabs::gateway::v1::ListTasksRequest& req,
                       int page, int page_limit);
RestCall DeleteTaskCall(const std::string& task_id);
RestCall IndexTaskCountsCall(const std::string& index_id);
absl::StatusOr<RestCall> ImportVideosCall(const std::string& integration_id,
                                          const twelvelabs::gateway::v1::ImportVideosRequest& req);
RestCall ImportStatusCall(const std::string& integration_id, const std::string& index_id);
RestCall ImportLogsCall(const std::string& integration_id);

// Assets and indexed assets (v1.3 only; the client checks the version).
// `POST /assets` with method=url as multipart/form-data; INVALID_ARGUMENT
// when user_metadata holds values the API refuses.
absl::StatusOr<RestCall> CreateAssetCall(const twelvelabs::gateway::v1::CreateAssetRequest& req);
RestCall GetAssetCall(const std::string& asset_id);
// `page` is 1-based; `page_limit` 1..50.
RestCall ListAssetsCall(const twelvelabs::gateway::v1::ListAssetsRequest& req, int page,
                        int page_limit);
RestCall DeleteAssetCall(const std::string& asset_id, bool force);
// `GET /assets/{id}/indexed-assets`: the indexed assets that refer to it.
RestCall AssetIndexedAssetsCall(const std::string& asset_id, int page, int page_limit);
// JSON body; INVALID_ARGUMENT for refused user_metadata values.
absl::StatusOr<RestCall> CreateIndexedAssetCall(
    const twelvelabs::gateway::v1::IndexAssetRequest& req);
RestCall GetIndexedAssetCall(const std::string& index_id, const std::string& indexed_asset_id);
RestCall ListIndexedAssetsCall(const twelvelabs::gateway::v1::ListIndexedAssetsRequest& req,
                               int page, int page_limit);
RestCall DeleteIndexedAssetCall(const std::string& index_id, const std::string& indexed_asset_id);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_REQUESTS_H_
