// A verbatim copy of the tree-based ParseTask/ParseTaskPage code of
// server/twelvelabs/json_mapping.cc at e1a4492 (see the header). Only the
// namespace differs.
#include "tests/support/task_json_reference.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/twelvelabs/error_mapping.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace reference {
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

}  // namespace

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

absl::StatusOr<gw::Task> ParseTask(absl::string_view body, ApiVersion version) {
  auto j = ParseObject(body, "task");
  if (!j.ok()) return j.status();
  gw::Task task;
  std::string error;
  if (!TaskFromJson(*j, version, "", &task, &error)) return MalformedResponse("task", error);
  return task;
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

}  // namespace reference
}  // namespace tlgw
