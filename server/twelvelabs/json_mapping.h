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

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_JSON_MAPPING_H_
