#include "sim/model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tlsim {
namespace {

constexpr TaskStatus kHappyPath[] = {TaskStatus::kValidating, TaskStatus::kPending,
                                     TaskStatus::kQueued, TaskStatus::kIndexing,
                                     TaskStatus::kReady};

// FNV-1a: stable across runs and builds, unlike absl::Hash.
uint64_t StableHash(absl::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

namespace {
constexpr EnumName<TaskStatus> kTaskStatusNames[] = {
    {TaskStatus::kValidating, "validating"},
    {TaskStatus::kPending, "pending"},
    {TaskStatus::kQueued, "queued"},
    {TaskStatus::kIndexing, "indexing"},
    {TaskStatus::kReady, "ready"},
    {TaskStatus::kFailed, "failed"},
};
}  // namespace

const char* TaskStatusName(TaskStatus status) { return NameOf(kTaskStatusNames, status); }

std::optional<TaskStatus> ParseTaskStatus(absl::string_view name) {
  return ValueOf(kTaskStatusNames, name);
}

bool IsTerminal(TaskStatus status) {
  return status == TaskStatus::kReady || status == TaskStatus::kFailed;
}

VideoMetadata MetadataFor(absl::string_view filename, absl::string_view source) {
  static constexpr int kSizes[][2] = {{1280, 720}, {1920, 1080}, {640, 360}, {3840, 2160}};
  uint64_t h = StableHash(absl::StrCat(filename, "|", source));
  VideoMetadata m;
  m.filename = std::string(filename);
  m.duration = 10.0 + static_cast<double>(h % 59001) / 100.0;  // 10..600 s
  const auto& size = kSizes[(h >> 32) % 4];
  m.width = size[0];
  m.height = size[1];
  return m;
}

TaskState ComputeState(const Task& task, absl::Time now) {
  if (task.forced_status.has_value() && now >= task.forced_at) {
    return {*task.forced_status, task.forced_at};
  }
  int64_t stages = 4;  // stage 0 means everything happens at creation.
  if (task.stage > absl::ZeroDuration()) {
    absl::Duration elapsed = std::max(now - task.created_at, absl::ZeroDuration());
    stages = absl::IDivDuration(elapsed, task.stage, &elapsed);
  }
  if (task.broken) {
    if (stages < 1) return {TaskStatus::kValidating, task.created_at};
    return {TaskStatus::kFailed, task.created_at + task.stage};
  }
  int64_t i = std::min<int64_t>(stages, 4);
  return {kHappyPath[i], task.created_at + task.stage * i};
}

absl::Time NaturalTerminalTime(const Task& task) {
  return task.created_at + task.stage * (task.broken ? 1 : 4);
}

nlohmann::json RenderTask(const Task& task, ApiVersion version, absl::Time now, bool with_hls) {
  const TaskState state = ComputeState(task, now);
  nlohmann::json j;
  j["_id"] = task.id;
  j["index_id"] = task.index_id;
  if (version == ApiVersion::kV1_3 || state.status == TaskStatus::kReady) {
    j["video_id"] = task.id;
  }
  j["status"] = TaskStatusName(state.status);
  j["created_at"] = FormatRfc3339(task.created_at);
  j["updated_at"] = FormatRfc3339(state.updated_at);
  nlohmann::json metadata = {
      {"duration", task.metadata.duration},
      {"filename", task.metadata.filename},
      {"height", task.metadata.height},
      {"width", task.metadata.width},
  };
  if (version == ApiVersion::kV1_3) {
    j["system_metadata"] = std::move(metadata);
  } else {
    j["metadata"] = std::move(metadata);
    const absl::Time done = task.created_at + task.stage * 4;
    j["estimated_time"] = FormatRfc3339(done);
    if (state.status == TaskStatus::kIndexing) {
      const absl::Time start = task.created_at + task.stage * 3;
      double fraction =
          task.stage > absl::ZeroDuration() ? absl::FDivDuration(now - start, task.stage) : 1.0;
      fraction = std::clamp(fraction, 0.0, 1.0);
      j["process"] = {
          {"percentage", std::round(fraction * 1000.0) / 10.0},
          {"remain_seconds", std::max(0.0, absl::ToDoubleSeconds(done - now))},
      };
    }
  }
  if (with_hls && task.stream_enabled) {
    const char* hls_status = "PROCESSING";
    if (state.status == TaskStatus::kReady) hls_status = "COMPLETE";
    if (state.status == TaskStatus::kFailed) hls_status = "ERROR";
    j["hls"] = {
        {"video_url",
         absl::StrCat("https://stream.sim.twelvelabs.invalid/", task.id, "/stream.m3u8")},
        {"thumbnail_urls",
         nlohmann::json::array({absl::StrCat("https://stream.sim.twelvelabs.invalid/", task.id,
                                             "/thumbnails/0.jpg")})},
        {"status", hls_status},
        {"updated_at", FormatRfc3339(state.updated_at)},
    };
  }
  return j;
}

}  // namespace tlsim
