// JSON bodies of the Twelve Labs API <-> the gateway's protobuf messages.
//
// Pure functions, no I/O, tested on their own. Bodies are untrusted: they
// are parsed with exceptions off and every field is looked up defensively.
// A missing optional field is left unset; a field of the wrong type, or a
// body that is not JSON, is an INTERNAL error naming the field.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_JSON_MAPPING_H_
#define TL_GATEWAY_SERVER_TWELVELABS_JSON_MAPPING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/twelvelabs/api_version.h"
#include "twelvelabs/gateway/v1/asset.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task.pb.h"
#include "twelvelabs/gateway/v1/task_service.pb.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

// Lower-case upstream status text <-> enum. Unknown text maps to
// TASK_STATUS_OTHER (the text itself is kept in Task.status_text).
gw::TaskStatus TaskStatusFromText(absl::string_view text);
// "" for UNSPECIFIED and OTHER.
std::string TaskStatusText(gw::TaskStatus status);
bool IsTerminal(gw::TaskStatus status);

// RFC 3339 ("2022-01-14T13:20:22.986Z", any offset) <-> Timestamp.
absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text);
// Always UTC with milliseconds, as the API writes it.
std::string FormatRfc3339(const google::protobuf::Timestamp& ts);

// A task object (`GET /tasks/{id}` or an item of `GET /tasks`).
absl::StatusOr<gw::Task> ParseTask(absl::string_view body, ApiVersion version);

// The reply of a create: `{"_id", "video_id"?}`.
struct CreatedTask {
  std::string id;
  std::string video_id;
};
absl::StatusOr<CreatedTask> ParseCreatedTask(absl::string_view body);

// `GET /tasks`: the items and page_info.
struct TaskPage {
  gw::ListTasksResponse tasks;  // tasks and total_size; no page token
  int64_t page = 0;
  int64_t total_pages = 0;
};
absl::StatusOr<TaskPage> ParseTaskPage(absl::string_view body, ApiVersion version);

// `GET /tasks/status?index_id=`.
absl::StatusOr<gw::IndexTaskCounts> ParseIndexTaskCounts(absl::string_view body);

// Imports.
absl::StatusOr<gw::ImportVideosResponse> ParseImportVideos(absl::string_view body);
absl::StatusOr<gw::ImportStatus> ParseImportStatus(absl::string_view body);
absl::StatusOr<gw::ListImportLogsResponse> ParseImportLogs(absl::string_view body);

// user_metadata for the API: a JSON object whose values are strings,
// numbers or booleans. Nested values or nulls are an INVALID_ARGUMENT
// naming `field`.
absl::StatusOr<std::string> UserMetadataJson(const google::protobuf::Struct& metadata,
                                             absl::string_view field);

// ---- Assets and indexed assets (v1.3, docs/upstream-api.md §9) ----------------

// Lower-case upstream status text <-> enum; unknown text maps to OTHER
// (kept in status_text by the parsers) and is not terminal.
gw::AssetStatus AssetStatusFromText(absl::string_view text);
std::string AssetStatusText(gw::AssetStatus status);  // "" for UNSPECIFIED/OTHER
bool IsTerminal(gw::AssetStatus status);
gw::IndexedAssetStatus IndexedAssetStatusFromText(absl::string_view text);
std::string IndexedAssetStatusText(gw::IndexedAssetStatus status);  // "" for UNSPECIFIED/OTHER
bool IsTerminal(gw::IndexedAssetStatus status);
// "image", "video", "audio"; "" for UNSPECIFIED.
std::string AssetTypeText(gw::AssetType type);

// An asset object (`GET /assets/{id}`, the reply of `POST /assets`, or an
// item of `GET /assets`).
absl::StatusOr<gw::Asset> ParseAsset(absl::string_view body);

// `GET /assets`: the items and page_info.
struct AssetPage {
  gw::ListAssetsResponse assets;  // assets and total_size; no page token
  int64_t page = 0;
  int64_t total_pages = 0;
};
absl::StatusOr<AssetPage> ParseAssetPage(absl::string_view body);

// An indexed asset object. Upstream does not repeat the index id, so the
// caller's `index_id` (from the path) is set on the result.
absl::StatusOr<gw::IndexedAsset> ParseIndexedAsset(absl::string_view body,
                                                   const std::string& index_id);

// `GET /indexes/{id}/indexed-assets`.
struct IndexedAssetPage {
  gw::ListIndexedAssetsResponse indexed_assets;  // items and total_size; no page token
  int64_t page = 0;
  int64_t total_pages = 0;
};
absl::StatusOr<IndexedAssetPage> ParseIndexedAssetPage(absl::string_view body,
                                                       const std::string& index_id);

// The 202 reply of `POST /indexes/{id}/indexed-assets`: `{"_id","asset_id"}`.
struct CreatedIndexedAsset {
  std::string id;
  std::string asset_id;
};
absl::StatusOr<CreatedIndexedAsset> ParseCreatedIndexedAsset(absl::string_view body);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_JSON_MAPPING_H_
