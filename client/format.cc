#include "client/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace tlclient {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

// Terminal width of UTF-8 text, counting code points (continuation bytes
// do not start a character). Wide CJK glyphs are rare enough in file names
// that counting them as one column is an acceptable misalignment.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

bool IsTerminal(gw::TaskStatus status) {
  return status == gw::TASK_STATUS_READY || status == gw::TASK_STATUS_FAILED;
}

int Percent(int64_t sent, int64_t total) {
  if (total <= 0) return 100;
  return static_cast<int>(std::min<int64_t>(100, sent * 100 / total));
}

// Average rate since the start; negative while it cannot be known yet.
double Rate(int64_t sent, absl::Duration elapsed) {
  double seconds = absl::ToDoubleSeconds(elapsed);
  if (sent <= 0 || seconds < 0.001) return -1;
  return static_cast<double>(sent) / seconds;
}

absl::Duration Eta(int64_t sent, int64_t total, double rate) {
  if (sent >= total) return absl::ZeroDuration();
  if (rate <= 0) return absl::InfiniteDuration();
  return absl::Seconds(static_cast<double>(total - sent) / rate);
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Plural(int64_t n, const char* singular, const char* plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : plural);
}

}  // namespace

std::string HumanBytes(int64_t bytes) {
  if (bytes < 0) return "-";
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // Move up a unit before printing, so 1048575 bytes reads "1.0 MiB" rather
  // than "1024.0 KiB".
  while (value >= 1023.95 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string HumanRate(double bytes_per_second) {
  if (bytes_per_second < 0 || !std::isfinite(bytes_per_second)) return "-";
  return absl::StrCat(HumanBytes(static_cast<int64_t>(std::llround(bytes_per_second))), "/s");
}

std::string FormatEta(absl::Duration remaining) {
  if (remaining == absl::InfiniteDuration() || remaining < absl::ZeroDuration()) return "?";
  int64_t seconds = absl::ToInt64Seconds(absl::Ceil(remaining, absl::Seconds(1)));
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  // Rounded up: "2h07m" for 2:06:01, so the estimate never undershoots.
  int64_t minutes = (seconds + 59) / 60;
  return absl::StrFormat("%dh%02dm", minutes / 60, minutes % 60);
}

std::string FormatVideoDuration(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return "-";
  int64_t total = std::llround(seconds);
  int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  if (h > 0) return absl::StrFormat("%d:%02d:%02d", h, m, s);
  return absl::StrFormat("%d:%02d", m, s);
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", ToTime(timestamp), absl::UTCTimeZone());
}

std::string StatusName(const gw::Task& task) {
  if (!task.status_text().empty()) return SanitizeCell(task.status_text());
  if (task.status() == gw::TASK_STATUS_UNSPECIFIED) return "unknown";
  std::string name = gw::TaskStatus_Name(task.status());
  return absl::AsciiStrToLower(absl::StripPrefix(name, "TASK_STATUS_"));
}

std::string StatusWithProgress(const gw::Task& task) {
  std::string name = StatusName(task);
  if (task.has_progress() && !IsTerminal(task.status()) && task.progress().percentage() > 0) {
    absl::StrAppend(&name, " ", static_cast<int>(task.progress().percentage()), "%");
  }
  return name;
}

gw::TaskStatus ParseTaskStatus(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
  if (!absl::StartsWith(upper, "TASK_STATUS_")) upper = absl::StrCat("TASK_STATUS_", upper);
  gw::TaskStatus status;
  if (!gw::TaskStatus_Parse(upper, &status)) return gw::TASK_STATUS_UNSPECIFIED;
  // OTHER is a placeholder for statuses the gateway does not know; the
  // API cannot filter on it.
  if (status == gw::TASK_STATUS_OTHER) return gw::TASK_STATUS_UNSPECIFIED;
  return status;
}

std::string SanitizeCell(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out.push_back('?');
    } else if (c == 0xC2 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xE0) == 0x80) {
      // U+0080..U+009F: the C1 controls, which some terminals obey too.
      out.push_back('?');
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> lines;
  if (!header.empty()) lines.push_back(header);
  for (const auto& row : rows) lines.push_back(row);
  std::vector<size_t> widths;
  for (auto& line : lines) {
    for (size_t i = 0; i < line.size(); ++i) {
      line[i] = SanitizeCell(line[i]);
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], DisplayWidth(line[i]));
    }
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text.append(widths[i] - DisplayWidth(line[i]) + 2, ' ');
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(text), "\n");
  }
  return out;
}

std::string RenderTaskTable(const std::vector<gw::Task>& tasks) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(tasks.size());
  for (const auto& t : tasks) {
    rows.push_back({t.id(), StatusWithProgress(t), OrDash(t.system_metadata().filename()),
                    FormatVideoDuration(t.system_metadata().duration_seconds()),
                    FormatTimestamp(t.create_time())});
  }
  return RenderTable({"ID", "STATUS", "FILENAME", "DURATION", "CREATED"}, rows);
}

std::string RenderTaskDetail(const gw::Task& task) {
  std::string out;
  // A fixed key width (not RenderTable's), so the layout is the same for
  // every task whichever optional rows it has.
  auto row = [&out](const char* key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-10s  %s\n", key, SanitizeCell(value)));
  };
  row("ID", task.id());
  row("INDEX", OrDash(task.index_id()));
  row("VIDEO", OrDash(task.video_id()));
  row("STATUS", StatusWithProgress(task));
  if (task.has_progress() && !IsTerminal(task.status()) &&
      task.progress().remaining_seconds() > 0) {
    row("REMAINING", FormatEta(absl::Seconds(task.progress().remaining_seconds())));
  }
  const gw::VideoMetadata& meta = task.system_metadata();
  row("FILENAME", OrDash(meta.filename()));
  row("DURATION", FormatVideoDuration(meta.duration_seconds()));
  if (meta.width() > 0 && meta.height() > 0) {
    row("RESOLUTION", absl::StrCat(meta.width(), "x", meta.height()));
  }
  row("CREATED", FormatTimestamp(task.create_time()));
  row("UPDATED", FormatTimestamp(task.update_time()));
  if (task.has_estimated_time()) row("ESTIMATED", FormatTimestamp(task.estimated_time()));
  if (task.has_hls()) {
    std::string hls =
        task.hls().status_text().empty()
            ? std::string(absl::StripPrefix(gw::HlsStatus_Name(task.hls().status()), "HLS_STATUS_"))
            : task.hls().status_text();
    if (!task.hls().video_url().empty()) absl::StrAppend(&hls, " ", task.hls().video_url());
    row("HLS", hls);
  }
  return out;
}

std::string AssetStatusName(const gw::Asset& asset) {
  if (!asset.status_text().empty()) return SanitizeCell(asset.status_text());
  if (asset.status() == gw::ASSET_STATUS_UNSPECIFIED) return "unknown";
  return absl::AsciiStrToLower(
      absl::StripPrefix(gw::AssetStatus_Name(asset.status()), "ASSET_STATUS_"));
}

std::string IndexedAssetStatusName(const gw::IndexedAsset& ia) {
  if (!ia.status_text().empty()) return SanitizeCell(ia.status_text());
  if (ia.status() == gw::INDEXED_ASSET_STATUS_UNSPECIFIED) return "unknown";
  return absl::AsciiStrToLower(
      absl::StripPrefix(gw::IndexedAssetStatus_Name(ia.status()), "INDEXED_ASSET_STATUS_"));
}

std::string RenderAssetTable(const std::vector<gw::Asset>& assets) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : assets) {
    rows.push_back({a.id(), AssetStatusName(a), OrDash(a.filename()), OrDash(a.file_type()),
                    a.has_size_bytes() ? HumanBytes(a.size_bytes()) : "-",
                    FormatTimestamp(a.create_time())});
  }
  return RenderTable({"ID", "STATUS", "FILENAME", "TYPE", "SIZE", "CREATED"}, rows);
}

std::string RenderAssetDetail(const gw::Asset& a) {
  std::string out;
  auto row = [&out](const char* key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-10s  %s\n", key, SanitizeCell(value)));
  };
  row("ID", a.id());
  row("STATUS", AssetStatusName(a));
  row("METHOD", OrDash(a.method_text()));
  row("FILENAME", OrDash(a.filename()));
  row("TYPE", OrDash(a.file_type()));
  if (a.has_size_bytes()) row("SIZE", HumanBytes(a.size_bytes()));
  if (a.has_duration_seconds()) row("DURATION", FormatVideoDuration(a.duration_seconds()));
  row("CREATED", FormatTimestamp(a.create_time()));
  if (a.has_hls()) {
    row("HLS",
        absl::StrCat(
            OrDash(a.hls().status_text()),
            a.hls().manifest_url().empty() ? "" : absl::StrCat(" ", a.hls().manifest_url())));
  }
  if (a.has_thumbnail()) row("THUMBNAIL", OrDash(a.thumbnail().status_text()));
  if (!a.error_message().empty()) row("ERROR", a.error_message());
  return out;
}

std::string RenderIndexedAssetTable(const std::vector<gw::IndexedAsset>& indexed_assets) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& ia : indexed_assets) {
    rows.push_back({ia.id(), OrDash(ia.asset_id()), IndexedAssetStatusName(ia),
                    OrDash(ia.system_metadata().filename()),
                    FormatVideoDuration(ia.system_metadata().duration_seconds()),
                    FormatTimestamp(ia.update_time())});
  }
  return RenderTable({"ID", "ASSET", "STATUS", "FILENAME", "DURATION", "UPDATED"}, rows);
}

std::string RenderIndexedAssetDetail(const gw::IndexedAsset& ia) {
  std::string out;
  auto row = [&out](const char* key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-10s  %s\n", key, SanitizeCell(value)));
  };
  row("ID", ia.id());
  row("INDEX", OrDash(ia.index_id()));
  row("ASSET", OrDash(ia.asset_id()));
  row("STATUS", IndexedAssetStatusName(ia));
  const gw::IndexedAssetMetadata& meta = ia.system_metadata();
  row("FILENAME", OrDash(meta.filename()));
  row("DURATION", FormatVideoDuration(meta.duration_seconds()));
  if (meta.width() > 0 && meta.height() > 0)
    row("RESOLUTION", absl::StrCat(meta.width(), "x", meta.height()));
  row("CREATED", FormatTimestamp(ia.create_time()));
  row("UPDATED", FormatTimestamp(ia.update_time()));
  if (ia.has_index_time()) row("INDEXED", FormatTimestamp(ia.index_time()));
  if (ia.has_hls()) row("HLS", OrDash(ia.hls().status_text()));
  return out;
}

std::string AssetWatchLine(const gw::AssetEvent& event) {
  return absl::StrCat(FormatTimestamp(event.observe_time()), "  ", SanitizeCell(event.asset().id()),
                      "  ", AssetStatusName(event.asset()), "\n");
}

std::string IndexedAssetWatchLine(const gw::IndexedAssetEvent& event) {
  return absl::StrCat(FormatTimestamp(event.observe_time()), "  ",
                      SanitizeCell(event.indexed_asset().id()), "  ",
                      IndexedAssetStatusName(event.indexed_asset()), "\n");
}

std::string RenderIndexTaskCounts(const gw::IndexTaskCounts& counts) {
  std::map<std::string, int64_t> all(counts.counts().begin(), counts.counts().end());
  if (all.empty()) {
    // An older gateway fills only the named fields.
    all = {{"ready", counts.ready()},
           {"validating", counts.validating()},
           {"pending", counts.pending()},
           {"failed", counts.failed()},
           {"total", counts.total()}};
  }
  std::vector<std::vector<std::string>> rows;
  for (const char* name :
       {"uploading", "validating", "pending", "queued", "indexing", "ready", "failed"}) {
    auto it = all.find(name);
    if (it == all.end()) continue;
    rows.push_back({it->first, absl::StrCat(it->second)});
    all.erase(it);
  }
  auto total = all.find("total");
  int64_t total_count = counts.total();
  if (total != all.end()) {
    total_count = total->second;
    all.erase(total);
  }
  for (const auto& [name, n] : all) rows.push_back({name, absl::StrCat(n)});
  rows.push_back({"total", absl::StrCat(total_count)});
  return absl::StrCat("INDEX ", counts.index_id(), "\n", RenderTable({"STATUS", "COUNT"}, rows));
}

std::string RenderIntegrations(const gw::ListIntegrationsResponse& list) {
  if (list.integrations().empty()) return "no integrations configured in the gateway\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : list.integrations()) {
    rows.push_back(
        {i.name(), i.integration_id(), OrDash(i.bucket()), OrDash(i.region()), OrDash(i.tenant())});
  }
  return RenderTable({"NAME", "INTEGRATION_ID", "BUCKET", "REGION", "TENANT"}, rows);
}

std::string RenderImportStarted(const gw::ImportVideosResponse& response) {
  std::string out = absl::StrCat(
      "import started: ", Plural(response.videos_size(), "video", "videos"), " to index, ",
      Plural(response.failed_files_size(), "file", "files"), " rejected\n");
  if (!response.videos().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : response.videos()) rows.push_back({v.video_id(), v.filename()});
    absl::StrAppend(&out, "\n", RenderTable({"VIDEO_ID", "FILENAME"}, rows));
  }
  if (!response.failed_files().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : response.failed_files()) rows.push_back({f.filename(), f.error_message()});
    absl::StrAppend(&out, "\n", RenderTable({"REJECTED", "ERROR"}, rows));
  }
  return out;
}

std::string RenderImportStatus(const gw::ImportStatus& status) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> summary;
  auto add_items = [&](const char* state,
                       const google::protobuf::RepeatedPtrField<gw::ImportVideoItem>& items) {
    if (items.empty()) return;
    summary.push_back(absl::StrCat(state, " ", items.size()));
    for (const auto& item : items) {
      rows.push_back(
          {state, item.video_id(), item.filename(), FormatTimestamp(item.create_time()), ""});
    }
  };
  if (!status.not_imported().empty()) {
    summary.push_back(absl::StrCat("not_imported ", status.not_imported_size()));
    for (const auto& name : status.not_imported()) {
      rows.push_back({"not_imported", "-", name, "-", ""});
    }
  }
  add_items("validating", status.validating());
  add_items("pending", status.pending());
  add_items("queued", status.queued());
  add_items("indexing", status.indexing());
  add_items("ready", status.ready());
  if (!status.failed().empty()) {
    summary.push_back(absl::StrCat("failed ", status.failed_size()));
    for (const auto& f : status.failed()) {
      rows.push_back(
          {"failed", "-", f.filename(), FormatTimestamp(f.create_time()), f.error_message()});
    }
  }
  if (rows.empty()) return "nothing imported into this index yet\n";
  return absl::StrCat(absl::StrJoin(summary, ", "), "\n\n",
                      RenderTable({"STATE", "VIDEO_ID", "FILENAME", "CREATED", "ERROR"}, rows));
}

std::string RenderImportLogs(const gw::ListImportLogsResponse& logs) {
  if (logs.logs().empty()) return "no imports yet\n";
  std::vector<std::vector<std::string>> rows;
  std::string failures;
  for (const auto& log : logs.logs()) {
    const gw::ImportVideoStatusCounts& c = log.video_status();
    rows.push_back({log.index_id(), OrDash(log.index_name()), FormatTimestamp(log.create_time()),
                    log.has_end_time() ? FormatTimestamp(log.end_time()) : "running",
                    absl::StrCat(c.ready()), absl::StrCat(c.validating()),
                    absl::StrCat(c.pending()), absl::StrCat(c.queued()), absl::StrCat(c.indexing()),
                    absl::StrCat(c.failed())});
    for (const auto& f : log.failed_files()) {
      absl::StrAppend(&failures, "  ", SanitizeCell(f.filename()), ": ",
                      SanitizeCell(f.error_message()), "\n");
    }
  }
  std::string out = RenderTable({"INDEX", "INDEX_NAME", "STARTED", "ENDED", "READY", "VALIDATING",
                                 "PENDING", "QUEUED", "INDEXING", "FAILED"},
                                rows);
  if (!failures.empty()) absl::StrAppend(&out, "\nfailed files:\n", failures);
  return out;
}

std::string RenderS3Findings(const gw::CheckAwsS3SetupResponse& response) {
  std::string out;
  int errors = 0;
  for (const auto& f : response.findings()) {
    const char* severity = "note";
    if (f.severity() == gw::FINDING_SEVERITY_ERROR) {
      severity = "error";
      ++errors;
    } else if (f.severity() == gw::FINDING_SEVERITY_WARNING) {
      severity = "warning";
    }
    absl::StrAppend(&out, absl::StrFormat("%-8s %s: %s\n", severity, SanitizeCell(f.field()),
                                          SanitizeCell(f.problem())));
    if (!f.fix().empty()) absl::StrAppend(&out, "         fix: ", SanitizeCell(f.fix()), "\n");
  }
  if (response.ok()) {
    absl::StrAppend(&out, response.findings().empty()
                              ? "S3 setup looks right: no findings\n"
                              : "S3 setup is usable; see the warnings above\n");
  } else {
    absl::StrAppend(&out, "S3 setup is not ready: ", Plural(errors, "error", "errors"),
                    " to fix\n");
  }
  return out;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, bool multiline) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = multiline;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

std::string ProgressBarLine(int64_t sent, int64_t total, absl::Duration elapsed, int bar_width) {
  int percent = Percent(sent, total);
  int filled = total <= 0
                   ? bar_width
                   : static_cast<int>(std::min<int64_t>(bar_width, sent * bar_width / total));
  double rate = Rate(sent, elapsed);
  return absl::StrFormat("[%s%s] %3d%%  %s / %s  %s  ETA %s", std::string(filled, '#'),
                         std::string(bar_width - filled, '.'), percent, HumanBytes(sent),
                         HumanBytes(total), HumanRate(rate), FormatEta(Eta(sent, total, rate)));
}

std::string ProgressPlainLine(int64_t sent, int64_t total, absl::Duration elapsed) {
  double rate = Rate(sent, elapsed);
  return absl::StrFormat("uploaded %s of %s (%d%%), %s, ETA %s", HumanBytes(sent),
                         HumanBytes(total), Percent(sent, total), HumanRate(rate),
                         FormatEta(Eta(sent, total, rate)));
}

ProgressPrinter::ProgressPrinter(std::ostream* out, bool interactive, absl::Time start,
                                 absl::Duration redraw_interval)
    : out_(out), interactive_(interactive), start_(start), redraw_interval_(redraw_interval) {}

void ProgressPrinter::Redraw(const std::string& line) {
  // Pad over what is left of a longer previous line instead of using an
  // ANSI erase sequence, so dumb terminals show it right too.
  size_t width = DisplayWidth(line);
  *out_ << '\r' << line << std::string(last_width_ > width ? last_width_ - width : 0, ' ');
  out_->flush();
  last_width_ = width;
  line_open_ = true;
}

void ProgressPrinter::Update(int64_t sent, int64_t total, absl::Time now) {
  absl::Duration elapsed = now - start_;
  bool complete = sent >= total;
  if (interactive_) {
    if (drew_final_) return;
    // Redrawing on every 1 MiB chunk of a fast upload would spend more time
    // on the terminal than on the network.
    if (!complete && now - last_draw_ < redraw_interval_) return;
    Redraw(ProgressBarLine(sent, total, elapsed));
    last_draw_ = now;
    drew_final_ = complete;
    return;
  }
  int decile = total <= 0 ? 10 : static_cast<int>(std::min<int64_t>(10, sent * 10 / total));
  if (decile <= last_decile_) return;
  last_decile_ = decile;
  *out_ << ProgressPlainLine(sent, total, elapsed) << '\n';
  out_->flush();
}

void ProgressPrinter::Finish() {
  if (!line_open_) return;
  *out_ << '\n';
  out_->flush();
  line_open_ = false;
}

std::string WatchLine(const gw::TaskEvent& event) {
  const gw::Task& task = event.task();
  std::string line = absl::StrCat(task.id(), "  ", StatusWithProgress(task));
  if (task.has_progress() && !IsTerminal(task.status()) &&
      task.progress().remaining_seconds() > 0) {
    absl::StrAppend(&line, "  ~", FormatEta(absl::Seconds(task.progress().remaining_seconds())),
                    " left");
  }
  return SanitizeCell(line);
}

void WatchPrinter::OnEvent(const gw::TaskEvent& event) {
  std::string line = WatchLine(event);
  if (interactive_) {
    size_t width = DisplayWidth(line);
    *out_ << '\r' << line << std::string(last_width_ > width ? last_width_ - width : 0, ' ');
    out_->flush();
    last_width_ = width;
    line_open_ = true;
    return;
  }
  // A status is a state: an event that changes nothing visible (a new
  // sequence number, a snapshot on reconnect) is not worth a line.
  if (line == last_line_) return;
  last_line_ = line;
  std::string when = event.has_observe_time() ? FormatTimestamp(event.observe_time()) : "-";
  *out_ << when << "  " << line << '\n';
  out_->flush();
}

void WatchPrinter::Finish() {
  if (!line_open_) return;
  *out_ << '\n';
  out_->flush();
  line_open_ = false;
}

}  // namespace tlclient
