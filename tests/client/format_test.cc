// What tlctl prints, checked exactly: sizes, durations, tables, the upload
// progress bar and plain lines, and the watch line, with time passed in.
#include "client/format.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace tlclient {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr int64_t kMiB = 1 << 20;

TEST(HumanBytes, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(5 * kMiB / 2), "2.5 MiB");
  EXPECT_EQ(HumanBytes(5LL << 30), "5.0 GiB");
  EXPECT_EQ(HumanBytes(3LL << 40), "3.0 TiB");
  EXPECT_EQ(HumanBytes(-1), "-");
}

TEST(HumanBytes, MovesUpAUnitRatherThanPrinting1024) {
  EXPECT_EQ(HumanBytes(kMiB - 1), "1.0 MiB");
  EXPECT_EQ(HumanBytes(1023 * 1024), "1023.0 KiB");
}

TEST(HumanRate, PerSecondOrDashWhenUnknown) {
  EXPECT_EQ(HumanRate(2.0 * kMiB), "2.0 MiB/s");
  EXPECT_EQ(HumanRate(500), "500 B/s");
  EXPECT_EQ(HumanRate(-1), "-");
}

TEST(FormatEta, RoundsUpToWholeSeconds) {
  EXPECT_EQ(FormatEta(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatEta(absl::Milliseconds(200)), "1s");
  EXPECT_EQ(FormatEta(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatEta(absl::Seconds(59.5)), "1m00s");
  EXPECT_EQ(FormatEta(absl::Seconds(185)), "3m05s");
  EXPECT_EQ(FormatEta(absl::Hours(2) + absl::Minutes(6) + absl::Seconds(1)), "2h07m");
  EXPECT_EQ(FormatEta(absl::InfiniteDuration()), "?");
  EXPECT_EQ(FormatEta(absl::Seconds(-1)), "?");
}

TEST(FormatVideoDuration, MinutesAndSecondsOrHours) {
  EXPECT_EQ(FormatVideoDuration(0), "-");
  EXPECT_EQ(FormatVideoDuration(7), "0:07");
  EXPECT_EQ(FormatVideoDuration(83.4), "1:23");
  EXPECT_EQ(FormatVideoDuration(3723), "1:02:03");
}

TEST(FormatTimestamp, UtcOrDash) {
  google::protobuf::Timestamp t;
  EXPECT_EQ(FormatTimestamp(t), "-");
  t.set_seconds(1714564800);
  EXPECT_EQ(FormatTimestamp(t), "2024-05-01 12:00:00Z");
}

TEST(Status, NameProgressAndParsing) {
  gw::Task task;
  EXPECT_EQ(StatusName(task), "unknown");
  task.set_status(gw::TASK_STATUS_INDEXING);
  EXPECT_EQ(StatusName(task), "indexing");
  task.mutable_progress()->set_percentage(42.7);
  EXPECT_EQ(StatusWithProgress(task), "indexing 42%");
  task.set_status(gw::TASK_STATUS_READY);
  task.set_status_text("ready");
  EXPECT_EQ(StatusWithProgress(task), "ready");  // no percentage once terminal
  task.set_status(gw::TASK_STATUS_OTHER);
  task.set_status_text("archiving");
  EXPECT_EQ(StatusName(task), "archiving");  // unknown upstream states are kept

  EXPECT_EQ(ParseTaskStatus("ready"), gw::TASK_STATUS_READY);
  EXPECT_EQ(ParseTaskStatus(" Indexing "), gw::TASK_STATUS_INDEXING);
  EXPECT_EQ(ParseTaskStatus("TASK_STATUS_FAILED"), gw::TASK_STATUS_FAILED);
  EXPECT_EQ(ParseTaskStatus("other"), gw::TASK_STATUS_UNSPECIFIED);
  EXPECT_EQ(ParseTaskStatus("bogus"), gw::TASK_STATUS_UNSPECIFIED);
}

TEST(SanitizeCell, ReplacesControlCharactersButKeepsUtf8) {
  EXPECT_EQ(SanitizeCell("a\nb\x1b[2J"), "a?b?[2J");
  EXPECT_EQ(SanitizeCell("x\xc2\x9by"), "x?y");  // U+009B, the 8-bit CSI
  EXPECT_EQ(SanitizeCell("caf\xc3\xa9.mp4"), "caf\xc3\xa9.mp4");
}

TEST(RenderTable, AlignsColumnsAndDoesNotPadTheLast) {
  EXPECT_EQ(
      RenderTable({"ID", "STATUS", "NAME"}, {{"1", "ready", "a.mp4"}, {"22", "indexing 5%", "b"}}),
      "ID  STATUS       NAME\n"
      "1   ready        a.mp4\n"
      "22  indexing 5%  b\n");
}

TEST(RenderTable, CountsCodePointsNotBytes) {
  EXPECT_EQ(RenderTable({"NAME", "X"}, {{"caf\xc3\xa9", "1"}, {"ab", "2"}}),
            "NAME  X\n"
            "caf\xc3\xa9  1\n"
            "ab    2\n");
}

TEST(RenderTable, WithoutHeaderAndWithHostileCells) {
  EXPECT_EQ(RenderTable({}, {{"K", "line1\nline2"}}), "K  line1?line2\n");
}

TEST(RenderTaskTable, HasTheListColumns) {
  gw::Task task;
  task.set_id("6650d1c2a1b2c3d4e5f60718");
  task.set_status(gw::TASK_STATUS_READY);
  task.set_status_text("ready");
  task.mutable_system_metadata()->set_filename("launch.mp4");
  task.mutable_system_metadata()->set_duration_seconds(90);
  task.mutable_create_time()->set_seconds(1714564800);
  gw::Task bare;
  bare.set_id("0123456789abcdef01234567");
  bare.set_status(gw::TASK_STATUS_VALIDATING);
  EXPECT_EQ(RenderTaskTable({task, bare}),
            "ID                        STATUS      FILENAME    DURATION  CREATED\n"
            "6650d1c2a1b2c3d4e5f60718  ready       launch.mp4  1:30      2024-05-01 12:00:00Z\n"
            "0123456789abcdef01234567  validating  -           -         -\n");
}

TEST(RenderTaskDetail, ShowsEveryKnownField) {
  gw::Task task;
  task.set_id("6650d1c2a1b2c3d4e5f60718");
  task.set_index_id("0123456789abcdef01234567");
  task.set_status(gw::TASK_STATUS_INDEXING);
  task.set_status_text("indexing");
  task.mutable_progress()->set_percentage(50);
  task.mutable_progress()->set_remaining_seconds(80);
  task.mutable_system_metadata()->set_width(1920);
  task.mutable_system_metadata()->set_height(1080);
  task.mutable_hls()->set_status(gw::HLS_STATUS_PROCESSING);
  std::string text = RenderTaskDetail(task);
  EXPECT_TRUE(absl::StrContains(text, "ID          6650d1c2a1b2c3d4e5f60718\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "STATUS      indexing 50%\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "REMAINING   1m20s\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "RESOLUTION  1920x1080\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "HLS         PROCESSING\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "VIDEO       -\n")) << text;
}

TEST(RenderIndexTaskCounts, LifecycleOrderThenOthersThenTotal) {
  gw::IndexTaskCounts counts;
  counts.set_index_id("0123456789abcdef01234567");
  auto& m = *counts.mutable_counts();
  m["failed"] = 1;
  m["pending"] = 2;
  m["total"] = 4;
  m["archived"] = 1;
  m["ready"] = 0;
  EXPECT_EQ(RenderIndexTaskCounts(counts),
            "INDEX 0123456789abcdef01234567\n"
            "STATUS    COUNT\n"
            "pending   2\n"
            "ready     0\n"
            "failed    1\n"
            "archived  1\n"
            "total     4\n");
}

TEST(RenderS3Findings, EachFindingWithItsFixAndAVerdict) {
  gw::CheckAwsS3SetupResponse response;
  gw::Finding* f = response.add_findings();
  f->set_field("region");
  f->set_severity(gw::FINDING_SEVERITY_ERROR);
  f->set_problem("the bucket is in eu-central-1");
  f->set_fix("use us-west-2");
  EXPECT_EQ(RenderS3Findings(response),
            "error    region: the bucket is in eu-central-1\n"
            "         fix: use us-west-2\n"
            "S3 setup is not ready: 1 error to fix\n");
  response.clear_findings();
  response.set_ok(true);
  EXPECT_EQ(RenderS3Findings(response), "S3 setup looks right: no findings\n");
}

TEST(RenderImports, EmptyAnswersSaySo) {
  EXPECT_EQ(RenderImportStatus(gw::ImportStatus()), "nothing imported into this index yet\n");
  EXPECT_EQ(RenderImportLogs(gw::ListImportLogsResponse()), "no imports yet\n");
  EXPECT_EQ(RenderIntegrations(gw::ListIntegrationsResponse()),
            "no integrations configured in the gateway\n");
}

TEST(ToJson, Proto3JsonMappingIndentedOrOnOneLine) {
  gw::Task task;
  task.set_id("abc");
  task.set_status(gw::TASK_STATUS_READY);
  absl::StatusOr<std::string> pretty = ToJson(task);
  ASSERT_TRUE(pretty.ok());
  EXPECT_TRUE(absl::StrContains(*pretty, "\"status\": \"TASK_STATUS_READY\"")) << *pretty;
  EXPECT_EQ(pretty->back(), '\n');
  absl::StatusOr<std::string> line = ToJson(task, /*multiline=*/false);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, "{\"id\":\"abc\",\"status\":\"TASK_STATUS_READY\"}\n");
}

TEST(ProgressLines, BarAndPlainLineShowBytesPercentRateAndEta) {
  EXPECT_EQ(ProgressBarLine(kMiB, 4 * kMiB, absl::Seconds(1), 8),
            "[##......]  25%  1.0 MiB / 4.0 MiB  1.0 MiB/s  ETA 3s");
  EXPECT_EQ(ProgressPlainLine(kMiB, 4 * kMiB, absl::Seconds(1)),
            "uploaded 1.0 MiB of 4.0 MiB (25%), 1.0 MiB/s, ETA 3s");
  // Nothing sent yet: the rate and ETA are not known.
  EXPECT_EQ(ProgressBarLine(0, 4 * kMiB, absl::ZeroDuration(), 8),
            "[........]   0%  0 B / 4.0 MiB  -  ETA ?");
  EXPECT_EQ(ProgressBarLine(4 * kMiB, 4 * kMiB, absl::Seconds(2), 8),
            "[########] 100%  4.0 MiB / 4.0 MiB  2.0 MiB/s  ETA 0s");
  // An empty file is complete at once.
  EXPECT_EQ(ProgressPlainLine(0, 0, absl::ZeroDuration()), "uploaded 0 B of 0 B (100%), -, ETA 0s");
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(ProgressPrinter, PlainPrintsALineEveryTenPercent) {
  std::ostringstream out;
  absl::Time start = absl::FromUnixSeconds(1000);
  ProgressPrinter printer(&out, /*interactive=*/false, start);
  for (int64_t sent = 0; sent <= 10 * kMiB; sent += kMiB / 2) {
    printer.Update(sent, 10 * kMiB, start + absl::Seconds(static_cast<double>(sent) / kMiB));
  }
  printer.Finish();
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 10u) << out.str();
  EXPECT_EQ(lines[0], "uploaded 1.0 MiB of 10.0 MiB (10%), 1.0 MiB/s, ETA 9s");
  EXPECT_EQ(lines[9], "uploaded 10.0 MiB of 10.0 MiB (100%), 1.0 MiB/s, ETA 0s");
  EXPECT_FALSE(absl::StrContains(out.str(), "\r"));
}

TEST(ProgressPrinter, PlainSkipsDecilesALargeChunkJumpsOver) {
  std::ostringstream out;
  absl::Time start = absl::FromUnixSeconds(1000);
  ProgressPrinter printer(&out, false, start);
  for (int64_t sent : std::vector<int64_t>{0, 3 * kMiB, 6 * kMiB, 9 * kMiB, 10 * kMiB}) {
    printer.Update(sent, 10 * kMiB, start + absl::Seconds(1));
  }
  std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_TRUE(absl::StrContains(lines[0], "(30%)"));
  EXPECT_TRUE(absl::StrContains(lines[3], "(100%)"));
}

TEST(ProgressPrinter, PlainEmptyFileIsOneLine) {
  std::ostringstream out;
  ProgressPrinter printer(&out, false, absl::FromUnixSeconds(1));
  printer.Update(0, 0, absl::FromUnixSeconds(1));
  printer.Update(0, 0, absl::FromUnixSeconds(2));
  EXPECT_EQ(out.str(), "uploaded 0 B of 0 B (100%), -, ETA 0s\n");
}

TEST(ProgressPrinter, InteractiveRedrawsInPlaceAtMostEveryInterval) {
  std::ostringstream out;
  absl::Time start = absl::FromUnixSeconds(1000);
  ProgressPrinter printer(&out, /*interactive=*/true, start, absl::Milliseconds(100));
  printer.Update(0, 4 * kMiB, start);
  printer.Update(kMiB, 4 * kMiB, start + absl::Milliseconds(50));  // too soon: skipped
  printer.Update(2 * kMiB, 4 * kMiB, start + absl::Milliseconds(150));
  printer.Update(4 * kMiB, 4 * kMiB, start + absl::Milliseconds(160));  // final: always drawn
  printer.Update(4 * kMiB, 4 * kMiB, start + absl::Milliseconds(900));  // after final: nothing
  std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_FALSE(absl::StrContains(text, "\n"));
  EXPECT_FALSE(absl::StrContains(text, " 25%"));
  EXPECT_TRUE(absl::StrContains(text, " 50%"));
  EXPECT_TRUE(absl::StrContains(text, "100%"));
  printer.Finish();
  printer.Finish();
  EXPECT_EQ(out.str(), text + "\n");
}

TEST(ProgressPrinter, InteractivePadsOverALongerPreviousLine) {
  std::ostringstream out;
  absl::Time start = absl::FromUnixSeconds(1000);
  ProgressPrinter printer(&out, true, start, absl::ZeroDuration());
  printer.Update(0, 4 * kMiB, start);  // "... -  ETA ?" is shorter than what follows
  printer.Update(kMiB, 4 * kMiB, start + absl::Seconds(1));
  printer.Update(kMiB + 1, 4 * kMiB, start + absl::Seconds(1000));
  std::vector<std::string> frames = absl::StrSplit(out.str(), '\r', absl::SkipEmpty());
  ASSERT_EQ(frames.size(), 3u);
  // Every frame covers at least the previous one, so no stale characters.
  EXPECT_GE(frames[1].size(), frames[0].size());
  EXPECT_GE(frames[2].size(), frames[1].size());
}

TEST(WatchLine, StatusProgressAndTimeLeft) {
  gw::TaskEvent event;
  event.mutable_task()->set_id("6650d1c2a1b2c3d4e5f60718");
  event.mutable_task()->set_status(gw::TASK_STATUS_INDEXING);
  event.mutable_task()->set_status_text("indexing");
  event.mutable_task()->mutable_progress()->set_percentage(42);
  event.mutable_task()->mutable_progress()->set_remaining_seconds(80);
  EXPECT_EQ(WatchLine(event), "6650d1c2a1b2c3d4e5f60718  indexing 42%  ~1m20s left");
}

gw::TaskEvent StatusEvent(const char* text, gw::TaskStatus status, int64_t seq) {
  gw::TaskEvent event;
  event.set_sequence(seq);
  event.mutable_observe_time()->set_seconds(1714564800 + seq);
  event.mutable_task()->set_id("t1");
  event.mutable_task()->set_status(status);
  event.mutable_task()->set_status_text(text);
  return event;
}

TEST(WatchPrinter, PlainLinePerChangeWithTime) {
  std::ostringstream out;
  WatchPrinter printer(&out, /*interactive=*/false);
  printer.OnEvent(StatusEvent("pending", gw::TASK_STATUS_PENDING, 1));
  printer.OnEvent(StatusEvent("pending", gw::TASK_STATUS_PENDING, 2));  // no change: no line
  printer.OnEvent(StatusEvent("ready", gw::TASK_STATUS_READY, 3));
  printer.Finish();
  EXPECT_EQ(out.str(),
            "2024-05-01 12:00:01Z  t1  pending\n"
            "2024-05-01 12:00:03Z  t1  ready\n");
}

TEST(WatchPrinter, InteractiveRewritesOneLine) {
  std::ostringstream out;
  WatchPrinter printer(&out, /*interactive=*/true);
  printer.OnEvent(StatusEvent("validating", gw::TASK_STATUS_VALIDATING, 1));
  printer.OnEvent(StatusEvent("ready", gw::TASK_STATUS_READY, 2));
  printer.Finish();
  // The shorter second status pads over the rest of the first.
  EXPECT_EQ(out.str(), "\rt1  validating\rt1  ready     \n");
}

}  // namespace
}  // namespace tlclient
