// What tlctl prints: human sizes and durations, aligned tables, a progress
// bar, a live watch line, and JSON. Pure functions of their inputs (time is
// passed in, never read), so every output is unit-tested without a
// terminal, a clock or a gateway.
//
// Text that came from the network (file names, messages) goes through
// SanitizeCell before it reaches a terminal, so a crafted file name cannot
// move the cursor or rewrite the screen.
#ifndef TL_GATEWAY_CLIENT_FORMAT_H_
#define TL_GATEWAY_CLIENT_FORMAT_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "twelvelabs/gateway/v1/asset.pb.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task.pb.h"
#include "twelvelabs/gateway/v1/task_service.pb.h"

namespace tlclient {

// --- Values ---

// Binary units with one decimal: "0 B", "1023 B", "1.0 KiB", "2.5 MiB".
std::string HumanBytes(int64_t bytes);
// A transfer rate, e.g. "12.3 MiB/s"; "-" when unknown (negative).
std::string HumanRate(double bytes_per_second);
// A time left, rounded up to whole seconds: "0s", "45s", "3m05s", "2h07m".
std::string FormatEta(absl::Duration remaining);
// A video length: "0:07", "1:23", "1:02:03"; "-" when zero or negative.
std::string FormatVideoDuration(double seconds);
// "2024-05-01 12:00:00Z" (UTC); "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);
// Lower-case status name, e.g. "indexing"; the upstream text when the enum
// does not know it.
std::string StatusName(const twelvelabs::gateway::v1::Task& task);
// The status with indexing progress when known, e.g. "indexing 42%".
std::string StatusWithProgress(const twelvelabs::gateway::v1::Task& task);
// Parses a status name ("ready", "INDEXING", "task_status_failed") as the
// ListTasks filter takes it. TASK_STATUS_UNSPECIFIED if unknown.
twelvelabs::gateway::v1::TaskStatus ParseTaskStatus(absl::string_view name);

// Replaces control characters (newlines, escape sequences) with '?'.
std::string SanitizeCell(absl::string_view text);

// --- Tables ---

// Left-aligned columns two spaces apart, header first; the last column is
// not padded. Widths count UTF-8 code points, not bytes. Cells are
// sanitized. Every line ends with '\n'.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// ID, STATUS, FILENAME, DURATION, CREATED.
std::string RenderTaskTable(const std::vector<twelvelabs::gateway::v1::Task>& tasks);
// One task, one "FIELD       value" line per known field, values aligned at
// column 13 whatever fields are present.
std::string RenderTaskDetail(const twelvelabs::gateway::v1::Task& task);
// STATUS, COUNT in lifecycle order, then any other counts, then total.
std::string RenderIndexTaskCounts(const twelvelabs::gateway::v1::IndexTaskCounts& counts);
std::string RenderIntegrations(const twelvelabs::gateway::v1::ListIntegrationsResponse& list);
std::string RenderImportStarted(const twelvelabs::gateway::v1::ImportVideosResponse& response);
std::string RenderImportStatus(const twelvelabs::gateway::v1::ImportStatus& status);
std::string RenderImportLogs(const twelvelabs::gateway::v1::ListImportLogsResponse& logs);
// Each finding with its fix, errors first as the gateway sends them; a
// one-line verdict when there are none.
std::string RenderS3Findings(const twelvelabs::gateway::v1::CheckAwsS3SetupResponse& response);

// The message in the proto3 JSON mapping (protobuf's JsonPrinter), ending
// with '\n': indented, or on one line (JSON Lines, for streams) when
// `multiline` is false.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, bool multiline = true);

// --- Assets and indexed assets ---

// Lower-case status names, as StatusName: "processing", "indexing".
std::string AssetStatusName(const twelvelabs::gateway::v1::Asset& asset);
std::string IndexedAssetStatusName(const twelvelabs::gateway::v1::IndexedAsset& indexed_asset);
// ID, STATUS, FILENAME, TYPE, SIZE, CREATED.
std::string RenderAssetTable(const std::vector<twelvelabs::gateway::v1::Asset>& assets);
// One "FIELD       value" line per known field, as RenderTaskDetail.
std::string RenderAssetDetail(const twelvelabs::gateway::v1::Asset& asset);
// ID, ASSET, STATUS, FILENAME, DURATION, UPDATED.
std::string RenderIndexedAssetTable(
    const std::vector<twelvelabs::gateway::v1::IndexedAsset>& indexed_assets);
std::string RenderIndexedAssetDetail(const twelvelabs::gateway::v1::IndexedAsset& indexed_asset);
// "2026-01-01 00:00:05Z  <id>  ready": one line per watch event.
std::string AssetWatchLine(const twelvelabs::gateway::v1::AssetEvent& event);
std::string IndexedAssetWatchLine(const twelvelabs::gateway::v1::IndexedAssetEvent& event);

// --- Upload progress ---

// "[#########...............]  37%  1.0 MiB / 2.7 MiB  2.0 MiB/s  ETA 1s";
// rate and ETA are averages since the start, "-"/"?" until known.
std::string ProgressBarLine(int64_t sent, int64_t total, absl::Duration elapsed,
                            int bar_width = 24);
// "uploaded 1.0 MiB of 2.7 MiB (37%), 2.0 MiB/s, ETA 1s": one line of the
// non-terminal progress output.
std::string ProgressPlainLine(int64_t sent, int64_t total, absl::Duration elapsed);

// Prints upload progress: on a terminal (`interactive`) one bar redrawn in
// place with '\r' at most every `redraw_interval`; otherwise one plain line
// each time another 10% is done, so logs and CI output stay short. Not
// thread-safe; `out` is not owned and must outlive the printer.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream* out, bool interactive, absl::Time start,
                  absl::Duration redraw_interval = absl::Milliseconds(100));
  void Update(int64_t sent, int64_t total, absl::Time now);
  // Ends the bar's line. Idempotent.
  void Finish();

 private:
  void Redraw(const std::string& line);

  std::ostream* out_;
  bool interactive_;
  absl::Time start_;
  absl::Duration redraw_interval_;
  absl::Time last_draw_ = absl::InfinitePast();
  int last_decile_ = 0;
  size_t last_width_ = 0;
  bool drew_final_ = false;
  bool line_open_ = false;
};

// --- Watching a task ---

// "6650d1c2...  indexing 42%  ~1m20s left": the status of one event.
std::string WatchLine(const twelvelabs::gateway::v1::TaskEvent& event);

// Prints a WatchTask stream: on a terminal one status line rewritten with
// '\r'; otherwise a timestamped line per change (repeats are skipped). Not
// thread-safe; `out` must outlive the printer.
class WatchPrinter {
 public:
  WatchPrinter(std::ostream* out, bool interactive) : out_(out), interactive_(interactive) {}
  void OnEvent(const twelvelabs::gateway::v1::TaskEvent& event);
  // Ends the live line. Idempotent.
  void Finish();

 private:
  std::ostream* out_;
  bool interactive_;
  std::string last_line_;
  size_t last_width_ = 0;
  bool line_open_ = false;
};

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_FORMAT_H_
