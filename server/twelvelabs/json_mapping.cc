#include "server/twelvelabs/json_mapping.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/twelvelabs/error_mapping.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

using nlohmann::json;

const char* TypeName(const json& j) { return j.type_name(); }

// Reads fields of one JSON object, remembering the first type error. Null
// counts as absent: the API writes `"ended_at": null` for "not yet".
class Reader {
 public:
  Reader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  const json* Find(const char* key) {
    if (!obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool String(const char* key, std::string* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_string()) return Fail(key, "a string", *v);
    *out = v->get<std::string>();
    return true;
  }

  bool Number(const char* key, double* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_number()) return Fail(key, "a number", *v);
    *out = v->get<double>();
    return true;
  }

  bool Int(const char* key, int64_t* out) {
    double d = 0;
    if (!Number(key, &d)) return false;
    if (!std::isfinite(d) || std::fabs(d) > 9.0e15) return Fail(key, "an integer", *Find(key));
    *out = static_cast<int64_t>(std::llround(d));
    return true;
  }

  // Sets `*out` only when the field is present, so an absent time stays
  // unset in the message (callers pass a setter, not mutable_*()).
  template <typename Set>
  bool Time(const char* key, Set set) {
    std::string text;
    if (!String(key, &text)) return false;
    auto ts = ParseRfc3339(text);
    if (!ts.ok()) {
      SetError(absl::StrCat(path_, key, ": '", text, "' is not an RFC 3339 time"));
      return false;
    }
    set(*ts);
    return true;
  }

  // An object or array member, or nullptr when absent or of another type.
  const json* Object(const char* key) { return Typed(key, "an object", &json::is_object); }
  const json* Array(const char* key) { return Typed(key, "an array", &json::is_array); }

  std::string Path(const char* key) const { return absl::StrCat(path_, key); }
  void SetError(std::string e) {
    if (error_.empty()) error_ = std::move(e);
  }
  void Absorb(const Reader& child) {
    if (!child.error_.empty()) SetError(child.error_);
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  const json* Typed(const char* key, const char* want, bool (json::*is)() const noexcept) {
    const json* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!(v->*is)()) {
      Fail(key, want, *v);
      return nullptr;
    }
    return v;
  }

  bool Fail(const char* key, const char* want, const json& got) {
    SetError(absl::StrCat(path_, key, " should be ", want, " but is ", TypeName(got)));
    return false;
  }

  const json& obj_;
  std::string path_;
  std::string error_;
};

absl::StatusOr<json> ParseObject(absl::string_view body, absl::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return MalformedResponse(what, "the body is not valid JSON");
  if (!j.is_object()) return MalformedResponse(what, absl::StrCat("expected an object, got ", j.type_name()));
  return j;
}

gw::HlsStatus HlsStatusFromText(absl::string_view text) {
  if (text == "PROCESSING") return gw::HLS_STATUS_PROCESSING;
  if (text == "COMPLETE") return gw::HLS_STATUS_COMPLETE;
  if (text == "CANCELED") return gw::HLS_STATUS_CANCELED;
  if (text == "ERROR") return gw::HLS_STATUS_ERROR;
  return gw::HLS_STATUS_OTHER;
}

void ReadMetadata(Reader& parent, const json& m, const std::string& path, gw::VideoMetadata* out) {
  Reader r(m, path);
  double d = 0;
  int64_t i = 0;
  if (r.Number("duration", &d)) out->set_duration_seconds(d);
  r.String("filename", out->mutable_filename());
  if (r.Int("width", &i)) out->set_width(static_cast<int32_t>(i));
  if (r.Int("height", &i)) out->set_height(static_cast<int32_t>(i));
  parent.Absorb(r);
}

bool TaskFromJson(const json& j, ApiVersion version, const std::string& path, gw::Task* task,
                  std::string* error) {
  Reader r(j, path);
  if (!j.is_object()) {
    *error = absl::StrCat(path.empty() ? "task" : path, " should be an object but is ", j.type_name());
    return false;
  }
  if (!r.String("_id", task->mutable_id()) && r.ok()) r.SetError(r.Path("_id") + " is missing");
  r.String("index_id", task->mutable_index_id());
  r.String("video_id", task->mutable_video_id());
  if (r.String("status", task->mutable_status_text())) {
    task->set_status(TaskStatusFromText(task->status_text()));
  }
  r.Time("created_at", [&](const auto& t) { *task->mutable_create_time() = t; });
  r.Time("updated_at", [&](const auto& t) { *task->mutable_update_time() = t; });
  r.Time("estimated_time", [&](const auto& t) { *task->mutable_estimated_time() = t; });
  // The version's own key first; the other one too, so nothing is lost if a
  // deployment answers with the newer shape.
  absl::string_view key = TaskMetadataKey(version);
  absl::string_view other = key == "metadata" ? "system_metadata" : "metadata";
  const json* meta = r.Object(std::string(key).c_str());
  if (meta == nullptr) meta = r.Object(std::string(other).c_str());
  if (meta != nullptr) ReadMetadata(r, *meta, r.Path("metadata."), task->mutable_system_metadata());
  if (const json* hls = r.Object("hls")) {
    Reader h(*hls, r.Path("hls."));
    gw::HlsInfo* out = task->mutable_hls();
    h.String("video_url", out->mutable_video_url());
    if (const json* thumbs = h.Array("thumbnail_urls")) {
      for (const json& t : *thumbs) {
        if (t.is_string()) out->add_thumbnail_urls(t.get<std::string>());
      }
    }
    if (h.String("status", out->mutable_status_text())) {
      out->set_status(HlsStatusFromText(out->status_text()));
    }
    h.Time("updated_at", [&](const auto& t) { *out->mutable_update_time() = t; });
    r.Absorb(h);
  }
  if (const json* process = r.Object("process")) {
    Reader p(*process, r.Path("process."));
    double d = 0;
    if (p.Number("percentage", &d)) task->mutable_progress()->set_percentage(d);
    if (p.Number("remain_seconds", &d)) task->mutable_progress()->set_remaining_seconds(d);
    r.Absorb(p);
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

void ReadFailedFile(Reader& parent, const json& j, const std::string& path, gw::FailedFile* out) {
  Reader r(j, path);
  r.String("filename", out->mutable_filename());
  r.String("error_message", out->mutable_error_message());
  r.Time("created_at", [&](const auto& t) { *out->mutable_create_time() = t; });
  parent.Absorb(r);
}

}  // namespace

gw::TaskStatus TaskStatusFromText(absl::string_view text) {
  if (text == "uploading") return gw::TASK_STATUS_UPLOADING;
  if (text == "validating") return gw::TASK_STATUS_VALIDATING;
  if (text == "pending") return gw::TASK_STATUS_PENDING;
  if (text == "queued") return gw::TASK_STATUS_QUEUED;
  if (text == "indexing") return gw::TASK_STATUS_INDEXING;
  if (text == "ready") return gw::TASK_STATUS_READY;
  if (text == "failed") return gw::TASK_STATUS_FAILED;
  return gw::TASK_STATUS_OTHER;
}

std::string TaskStatusText(gw::TaskStatus status) {
  switch (status) {
    case gw::TASK_STATUS_UPLOADING: return "uploading";
    case gw::TASK_STATUS_VALIDATING: return "validating";
    case gw::TASK_STATUS_PENDING: return "pending";
    case gw::TASK_STATUS_QUEUED: return "queued";
    case gw::TASK_STATUS_INDEXING: return "indexing";
    case gw::TASK_STATUS_READY: return "ready";
    case gw::TASK_STATUS_FAILED: return "failed";
    default: return "";
  }
}

bool IsTerminal(gw::TaskStatus status) {
  return status == gw::TASK_STATUS_READY || status == gw::TASK_STATUS_FAILED;
}

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("not an RFC 3339 time: ", err));
  }
  google::protobuf::Timestamp ts;
  int64_t ns = absl::ToUnixNanos(t);
  int64_t secs = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --secs;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(rem));
  return ts;
}

std::string FormatRfc3339(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<gw::Task> ParseTask(absl::string_view body, ApiVersion version) {
  auto j = ParseObject(body, "task");
  if (!j.ok()) return j.status();
  gw::Task task;
  std::string error;
  if (!TaskFromJson(*j, version, "", &task, &error)) return MalformedResponse("task", error);
  return task;
}

absl::StatusOr<CreatedTask> ParseCreatedTask(absl::string_view body) {
  auto j = ParseObject(body, "created task");
  if (!j.ok()) return j.status();
  Reader r(*j, "");
  CreatedTask out;
  if (!r.String("_id", &out.id) && r.ok()) r.SetError("_id is missing");
  r.String("video_id", &out.video_id);
  if (!r.ok()) return MalformedResponse("created task", r.error());
  return out;
}

absl::StatusOr<TaskPage> ParseTaskPage(absl::string_view body, ApiVersion version) {
  auto j = ParseObject(body, "task list");
  if (!j.ok()) return j.status();
  Reader r(*j, "");
  TaskPage page;
  const json* data = r.Array("data");
  if (data == nullptr && r.ok()) r.SetError("data is missing");
  if (data != nullptr) {
    for (size_t i = 0; i < data->size(); ++i) {
      std::string error;
      if (!TaskFromJson((*data)[i], version, absl::StrCat("data[", i, "]."), page.tasks.add_tasks(),
                        &error)) {
        return MalformedResponse("task list", error);
      }
    }
  }
  if (const json* info = r.Object("page_info")) {
    Reader p(*info, "page_info.");
    int64_t v = 0;
    if (p.Int("total_results", &v)) page.tasks.set_total_size(v);
    p.Int("page", &page.page);
    p.Int("total_page", &page.total_pages);
    r.Absorb(p);
  }
  if (!r.ok()) return MalformedResponse("task list", r.error());
  return page;
}

absl::StatusOr<gw::IndexTaskCounts> ParseIndexTaskCounts(absl::string_view body) {
  auto j = ParseObject(body, "task counts");
  if (!j.ok()) return j.status();
  gw::IndexTaskCounts counts;
  Reader r(*j, "");
  r.String("index_id", counts.mutable_index_id());
  for (const auto& [key, value] : j->items()) {
    if (key == "index_id" || value.is_null()) continue;
    if (!value.is_number()) {
      r.SetError(absl::StrCat(key, " should be a number but is ", value.type_name()));
      continue;
    }
    int64_t n = value.get<int64_t>();
    std::string name = key == "total_result" || key == "total_results" ? "total" : key;
    (*counts.mutable_counts())[name] = n;
    if (name == "ready") counts.set_ready(n);
    if (name == "validating") counts.set_validating(n);
    if (name == "pending") counts.set_pending(n);
    if (name == "failed") counts.set_failed(n);
    if (name == "total") counts.set_total(n);
  }
  if (!r.ok()) return MalformedResponse("task counts", r.error());
  return counts;
}

absl::StatusOr<gw::ImportVideosResponse> ParseImportVideos(absl::string_view body) {
  auto j = ParseObject(body, "import");
  if (!j.ok()) return j.status();
  gw::ImportVideosResponse out;
  Reader r(*j, "");
  if (const json* videos = r.Array("videos")) {
    for (size_t i = 0; i < videos->size(); ++i) {
      Reader v((*videos)[i], absl::StrCat("videos[", i, "]."));
      auto* video = out.add_videos();
      v.String("video_id", video->mutable_video_id());
      v.String("filename", video->mutable_filename());
      r.Absorb(v);
    }
  }
  if (const json* failed = r.Array("failed_files")) {
    for (size_t i = 0; i < failed->size(); ++i) {
      ReadFailedFile(r, (*failed)[i], absl::StrCat("failed_files[", i, "]."), out.add_failed_files());
    }
  }
  if (!r.ok()) return MalformedResponse("import", r.error());
  return out;
}

absl::StatusOr<gw::ImportStatus> ParseImportStatus(absl::string_view body) {
  auto j = ParseObject(body, "import status");
  if (!j.ok()) return j.status();
  gw::ImportStatus out;
  Reader r(*j, "");
  if (const json* names = r.Array("not_imported")) {
    for (const json& n : *names) {
      if (n.is_string()) out.add_not_imported(n.get<std::string>());
      // Newer shapes may send objects; keep their filename.
      else if (n.is_object() && n.contains("filename") && n["filename"].is_string())
        out.add_not_imported(n["filename"].get<std::string>());
    }
  }
  auto group = [&r](const char* key, google::protobuf::RepeatedPtrField<gw::ImportVideoItem>* items) {
    const json* list = r.Array(key);
    if (list == nullptr) return;
    for (size_t i = 0; i < list->size(); ++i) {
      Reader v((*list)[i], absl::StrCat(key, "[", i, "]."));
      auto* item = items->Add();
      v.String("video_id", item->mutable_video_id());
      v.String("filename", item->mutable_filename());
      v.Time("created_at", [&](const auto& t) { *item->mutable_create_time() = t; });
      r.Absorb(v);
    }
  };
  group("validating", out.mutable_validating());
  group("pending", out.mutable_pending());
  group("queued", out.mutable_queued());
  group("indexing", out.mutable_indexing());
  group("ready", out.mutable_ready());
  if (const json* failed = r.Array("failed")) {
    for (size_t i = 0; i < failed->size(); ++i) {
      ReadFailedFile(r, (*failed)[i], absl::StrCat("failed[", i, "]."), out.add_failed());
    }
  }
  if (!r.ok()) return MalformedResponse("import status", r.error());
  return out;
}

absl::StatusOr<gw::ListImportLogsResponse> ParseImportLogs(absl::string_view body) {
  auto j = ParseObject(body, "import logs");
  if (!j.ok()) return j.status();
  gw::ListImportLogsResponse out;
  Reader r(*j, "");
  if (const json* data = r.Array("data")) {
    for (size_t i = 0; i < data->size(); ++i) {
      std::string path = absl::StrCat("data[", i, "].");
      Reader l((*data)[i], path);
      gw::ImportLog* log = out.add_logs();
      l.String("index_id", log->mutable_index_id());
      l.String("index_name", log->mutable_index_name());
      l.Time("created_at", [&](const auto& t) { *log->mutable_create_time() = t; });
      l.Time("ended_at", [&](const auto& t) { *log->mutable_end_time() = t; });
      if (const json* vs = l.Object("video_status")) {
        Reader s(*vs, path + "video_status.");
        auto* c = log->mutable_video_status();
        int64_t n = 0;
        if (s.Int("ready", &n)) c->set_ready(n);
        if (s.Int("validating", &n)) c->set_validating(n);
        if (s.Int("queued", &n)) c->set_queued(n);
        if (s.Int("pending", &n)) c->set_pending(n);
        if (s.Int("indexing", &n)) c->set_indexing(n);
        if (s.Int("failed", &n)) c->set_failed(n);
        l.Absorb(s);
      }
      if (const json* failed = l.Array("failed_files")) {
        for (size_t k = 0; k < failed->size(); ++k) {
          ReadFailedFile(l, (*failed)[k], absl::StrCat(path, "failed_files[", k, "]."),
                         log->add_failed_files());
        }
      }
      r.Absorb(l);
    }
  }
  if (!r.ok()) return MalformedResponse("import logs", r.error());
  return out;
}

absl::StatusOr<std::string> UserMetadataJson(const google::protobuf::Struct& metadata,
                                             absl::string_view field) {
  json out = json::object();
  for (const auto& [key, value] : metadata.fields()) {
    switch (value.kind_case()) {
      case google::protobuf::Value::kStringValue: out[key] = value.string_value(); break;
      case google::protobuf::Value::kBoolValue: out[key] = value.bool_value(); break;
      case google::protobuf::Value::kNumberValue: {
        double d = value.number_value();
        if (!std::isfinite(d)) {
          return FieldError(absl::StrCat(field, ".", key), "must be a finite number");
        }
        // Whole numbers go as integers, as the API's examples write them.
        if (std::fabs(d) < 9.0e15 && d == std::floor(d)) out[key] = static_cast<int64_t>(d);
        else out[key] = d;
        break;
      }
      default:
        return FieldError(absl::StrCat(field, ".", key),
                          "values must be strings, numbers or booleans (no nulls, lists or objects)");
    }
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tlgw
