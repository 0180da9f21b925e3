// The simulator's data model: indexes, tasks and S3 integrations, and how a
// task's status follows from simulated time. Plain data and pure functions;
// the caller owns locking and supplies `now`, so tests can drive time freely.
#ifndef TL_GATEWAY_SIM_MODEL_H_
#define TL_GATEWAY_SIM_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/common.h"

namespace tlsim {

enum class TaskStatus { kValidating, kPending, kQueued, kIndexing, kReady, kFailed };

// Lower-case wire name ("validating", ...).
const char* TaskStatusName(TaskStatus status);
std::optional<TaskStatus> ParseTaskStatus(absl::string_view name);
bool IsTerminal(TaskStatus status);

// The error message a failed task reports in import status and logs.
inline constexpr char kBrokenVideoError[] = "video_file_broken";

struct VideoMetadata {
  double duration = 0;  // seconds
  std::string filename;
  int width = 0;
  int height = 0;
};

// Deterministic per source name, so repeated runs see the same values:
// duration 10..600 s, a common 16:9 resolution.
VideoMetadata MetadataFor(absl::string_view filename, absl::string_view source);

struct Index {
  std::string id;
  std::string name;
  absl::Time created_at;
};

struct Task {
  std::string id;  // also the video id
  std::string index_id;
  int64_t seq = 0;  // creation order, breaks sort ties
  absl::Time created_at;
  absl::Duration stage;  // time spent in each non-terminal status
  bool broken = false;   // fails after validating
  bool stream_enabled = true;
  VideoMetadata metadata;
  std::string video_url;         // empty for file uploads and imports
  nlohmann::json user_metadata;  // null or object
  // Set by the control API: the task shows this status from `forced_at` on.
  std::optional<TaskStatus> forced_status;
  absl::Time forced_at;
  // DELETE /indexes/{index-id}/videos/{video-id} ran; the task may go now.
  bool video_deleted = false;
  // The version it was created through; its webhook bodies follow it.
  ApiVersion version = ApiVersion::kV1_3;
  // The terminal status a webhook event was last emitted for; cleared when
  // a forced status takes the task out of ready/failed, so each arrival at
  // ready or failed is reported once.
  std::optional<TaskStatus> notified_terminal;
};

struct TaskState {
  TaskStatus status;
  absl::Time updated_at;  // time of the last transition
};

// validating -> pending -> queued -> indexing -> ready, each lasting
// `task.stage`; a broken task goes validating -> failed after one stage.
TaskState ComputeState(const Task& task, absl::Time now);

// When the unforced lifecycle reaches ready (or failed, for a broken task).
absl::Time NaturalTerminalTime(const Task& task);

// Task JSON as GET /tasks/{id} returns it (with_hls) or as a list item.
nlohmann::json RenderTask(const Task& task, ApiVersion version, absl::Time now, bool with_hls);

struct IntegrationFile {
  std::string filename;
  bool broken = false;
};

struct FailedFile {
  std::string filename;
  std::string error_message;
  absl::Time at;
};

// One POST /tasks/transfers/import/{id} call.
struct ImportRun {
  std::string index_id;
  absl::Time created_at;
  std::vector<std::string> task_ids;  // tasks it created, may since be deleted
  std::vector<FailedFile> rejected;   // files refused up front
};

struct Integration {
  std::string id;
  std::vector<IntegrationFile> files;
  std::vector<ImportRun> runs;  // oldest first
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_MODEL_H_
