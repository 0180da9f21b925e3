#include "sim/rest_api.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tlsim {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using nlohmann::json;

// The real API answers unknown ids with 404 and with 400; the simulator uses
// one per version so clients exercise both.
ApiResponse NotFound(ApiVersion version, absl::string_view message) {
  return Error(version == ApiVersion::kV1_2 ? 404 : 400, "resource_not_exist", message);
}

json StatusCountsObject() {
  return json{{"ready", 0},   {"validating", 0}, {"queued", 0},
              {"pending", 0}, {"indexing", 0},   {"failed", 0}};
}

}  // namespace

const std::set<std::string>& TaskFileFieldNames() {
  static const auto* names = new std::set<std::string>{"video_file", "transcription_file"};
  return *names;
}

const std::set<std::string>& TaskValueFieldNames() {
  static const auto* names = new std::set<std::string>{"index_id",
                                                       "video_url",
                                                       "language",
                                                       "disable_video_stream",
                                                       "enable_video_stream",
                                                       "transcription_url",
                                                       "provide_transcription",
                                                       "user_metadata"};
  return *names;
}

RestApi::RestApi(RestApiOptions options, absl::Time now)
    : options_(std::move(options)),
      api_keys_(options_.api_keys.begin(), options_.api_keys.end()),
      assets_(options_.assets, [this](const std::string& id) { return indexes_.count(id) > 0; }) {
  Seed(now);
}

std::string RestApi::NewId() {
  static constexpr char kHex[] = "0123456789abcdef";
  for (;;) {
    std::string id(24, '0');
    for (char& c : id) c = kHex[absl::Uniform(rng_, 0, 16)];
    if (!tasks_.count(id) && !indexes_.count(id) && !integrations_.count(id)) {
      return id;
    }
  }
}

void RestApi::Seed(absl::Time now) {
  Index index{options_.seed_index_id, "sim-index", FloorMillis(now)};
  if (!index.id.empty()) indexes_[index.id] = index;
  if (!options_.seed_integration_id.empty()) {
    Integration integration;
    integration.id = options_.seed_integration_id;
    integration.files = {{"clip-a.mp4", false}, {"clip-b.mp4", false}, {"broken-c.mp4", true}};
    integrations_[integration.id] = std::move(integration);
  }
}

void RestApi::Reset(absl::Time now) {
  indexes_.clear();
  tasks_.clear();
  integrations_.clear();
  rate_windows_.clear();
  unsettled_.clear();
  assets_.Reset();
  Seed(now);
}

ApiResponse RestApi::Handle(const ApiRequest& request, absl::Time now) {
  if (!request.api_key.has_value() || api_keys_.count(*request.api_key) == 0) {
    return Error(401, "api_key_invalid",
                 request.api_key.has_value() ? "The API key you provided is not valid."
                                             : "The x-api-key header is missing.");
  }
  const std::vector<std::string> seg = absl::StrSplit(request.path, '/', absl::SkipEmpty());
  const std::string& m = request.method;
  const size_t n = seg.size();

  if (n == 1 && seg[0] == "indexes" && m == "POST") {
    return CreateIndex(request, now);
  }
  if (n == 4 && seg[0] == "indexes" && seg[2] == "videos" && m == "DELETE") {
    return DeleteVideo(request, seg[1], seg[3], now);
  }
  if (n >= 1 && seg[0] == "tasks") {
    if (n == 1 && m == "POST") return CreateTask(request, now);
    if (n == 1 && m == "GET") return ListTasks(request, now);
    if (n == 2 && seg[1] == "status" && m == "GET") {
      return StatusCounts(request, now);
    }
    if (n == 2 && seg[1] == "external-provider" && m == "POST") {
      if (request.version == ApiVersion::kV1_3) {
        return Error(404, "resource_not_exist",
                     "POST /tasks/external-provider does not exist in v1.3; "
                     "YouTube uploads are not supported.");
      }
      return CreateExternalTask(request, now);
    }
    if (n == 2 && m == "GET") return RetrieveTask(request, seg[1], now);
    if (n == 2 && m == "DELETE") return DeleteTask(request, seg[1], now);
    if (n >= 4 && seg[1] == "transfers" && seg[2] == "import") {
      if (n == 4 && m == "POST") return Import(request, seg[3], now);
      if (n == 5 && seg[4] == "status" && m == "GET") {
        return ImportStatus(request, seg[3], now);
      }
      if (n == 5 && seg[4] == "logs" && m == "GET") {
        return ImportLogs(request, seg[3], now);
      }
    }
  }
  // §9; POST /indexes/{id}/indexed-assets counts against the same "index"
  // rate-limit category as POST /tasks (docs/upstream-api.md §5).
  if (AssetApi::IsIndexedAssetCreate(request)) {
    Headers rate_headers;
    if (auto limited = TakeRateToken(*request.api_key, now, &rate_headers)) return *limited;
    if (std::optional<ApiResponse> r = assets_.Handle(request, now)) {
      r->headers.insert(r->headers.end(), rate_headers.begin(), rate_headers.end());
      return *r;
    }
  } else if (std::optional<ApiResponse> r = assets_.Handle(request, now)) {
    return *r;
  }
  return Error(
      404, "resource_not_exist",
      absl::StrCat("No endpoint ", m, " /", VersionName(request.version), request.path, "."));
}

// ---- Rate limiting ----------------------------------------------------------

std::optional<ApiResponse> RestApi::TakeRateToken(const std::string& api_key, absl::Time now,
                                                  Headers* headers) {
  RateWindow& w = rate_windows_[api_key];
  if (w.used == 0 || now >= w.start + options_.rate_window) {
    w.start = now;
    w.used = 0;
  }
  const bool allowed = w.used < options_.create_rate_limit;
  if (allowed) ++w.used;
  const int64_t reset_ms = absl::ToUnixMillis(w.start + options_.rate_window);
  headers->emplace_back("X-Ratelimit-Limit", absl::StrCat(options_.create_rate_limit));
  headers->emplace_back("X-Ratelimit-Remaining",
                        absl::StrCat(std::max(0, options_.create_rate_limit - w.used)));
  headers->emplace_back("X-Ratelimit-Used", absl::StrCat(w.used));
  headers->emplace_back("X-Ratelimit-Reset", absl::StrCat((reset_ms + 999) / 1000));
  if (allowed) return std::nullopt;
  const int64_t retry_after =
      std::max<int64_t>(1, (reset_ms - absl::ToUnixMillis(now) + 999) / 1000);
  ApiResponse r =
      Error(429, "too_many_requests",
            absl::StrCat("You have exceeded the rate limit (", options_.create_rate_limit,
                         "). Please retry after ", retry_after, " seconds."));
  r.headers = *headers;
  if (options_.send_retry_after) {
    r.headers.emplace_back("Retry-After", absl::StrCat(retry_after));
  }
  return r;
}

ApiResponse RestApi::TooManyRequests(int retry_after_seconds, bool send_retry_after,
                                     absl::Time now) const {
  ApiResponse r =
      Error(429, "too_many_requests",
            absl::StrCat("You have exceeded the rate limit (", options_.create_rate_limit,
                         "). Please retry after ", retry_after_seconds, " seconds."));
  r.headers = {
      {"X-Ratelimit-Limit", absl::StrCat(options_.create_rate_limit)},
      {"X-Ratelimit-Remaining", "0"},
      {"X-Ratelimit-Used", absl::StrCat(options_.create_rate_limit)},
      {"X-Ratelimit-Reset", absl::StrCat(absl::ToUnixSeconds(now) + retry_after_seconds)},
  };
  if (send_retry_after) {
    r.headers.emplace_back("Retry-After", absl::StrCat(retry_after_seconds));
  }
  return r;
}

// ---- Indexes ----------------------------------------------------------------

ApiResponse RestApi::CreateIndex(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  json body;
  const bool v12 = request.version == ApiVersion::kV1_2;
  if (auto e =
          ParseJsonObject(request, {"index_name", v12 ? "engines" : "models", "addons"}, &body)) {
    return *e;
  }
  auto name = body.find("index_name");
  if (name == body.end()) return NotProvided("index_name");
  if (!name->is_string() || name->get<std::string>().empty()) {
    return Invalid("index_name", "must be a non-empty string");
  }
  for (const char* key : {"engines", "models", "addons"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_array()) return Invalid(key, "must be an array");
  }
  absl::StatusOr<std::string> id = AddIndex(std::nullopt, name->get<std::string>(), now);
  if (!id.ok()) {
    return Error(409, "index_name_already_exists",
                 absl::StrCat("An index named '", name->get<std::string>(), "' already exists."));
  }
  return JsonResponse(201, json{{"_id", *id}});
}

absl::StatusOr<std::string> RestApi::AddIndex(std::optional<std::string> id,
                                              const std::string& name, absl::Time now) {
  if (name.empty()) return absl::InvalidArgumentError("index_name is empty");
  for (const auto& [unused, index] : indexes_) {
    if (index.name == name) {
      return absl::AlreadyExistsError(absl::StrCat("an index named '", name, "' exists"));
    }
  }
  if (id.has_value()) {
    if (!IsObjectId(*id)) {
      return absl::InvalidArgumentError("index_id must be 24 lowercase hex");
    }
    if (indexes_.count(*id) || tasks_.count(*id) || integrations_.count(*id)) {
      return absl::AlreadyExistsError(absl::StrCat("id ", *id, " is taken"));
    }
  } else {
    id = NewId();
  }
  indexes_[*id] = Index{*id, name, FloorMillis(now)};
  return *id;
}

ApiResponse RestApi::DeleteVideo(const ApiRequest& request, const std::string& index_id,
                                 const std::string& video_id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(index_id)) return Invalid("index_id");
  if (!IsObjectId(video_id)) return Invalid("video_id");
  if (!indexes_.count(index_id)) {
    return NotFound(request.version, absl::StrCat("Index ", index_id, " does not exist."));
  }
  auto it = tasks_.find(video_id);
  // A video exists from the moment its task is ready until it is deleted.
  if (it == tasks_.end() || it->second.index_id != index_id || it->second.video_deleted ||
      ComputeState(it->second, now).status != TaskStatus::kReady) {
    return NotFound(request.version,
                    absl::StrCat("Video ", video_id, " does not exist in index ", index_id, "."));
  }
  it->second.video_deleted = true;
  ApiResponse r;
  r.status = 204;
  return r;
}

// ---- Tasks ------------------------------------------------------------------

Task& RestApi::AddTask(const std::string& index_id, ApiVersion version, absl::Time now) {
  const std::string id = NewId();
  Task& task = tasks_[id];
  task.id = id;
  task.index_id = index_id;
  task.version = version;
  unsettled_.insert(id);
  task.seq = next_seq_++;
  task.created_at = FloorMillis(now);
  task.stage = options_.stage;
  return task;
}

ApiResponse RestApi::CreateTask(const ApiRequest& request, absl::Time now) {
  Headers rate_headers;
  auto with_rate = [&rate_headers](ApiResponse r) {
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    return r;
  };
  if (auto limited = TakeRateToken(*request.api_key, now, &rate_headers)) {
    return *limited;
  }
  if (auto e = CheckQueryNames(request, {})) return with_rate(*e);
  if (!request.multipart) {
    return with_rate(Error(
        400, "content_type_invalid",
        absl::StrCat("POST /tasks takes multipart/form-data, not '", request.content_type, "'.")));
  }
  const bool v12 = request.version == ApiVersion::kV1_2;
  const std::set<std::string> allowed =
      v12 ? std::set<std::string>{"index_id",           "video_file",           "video_url",
                                  "language",           "disable_video_stream", "transcription_url",
                                  "transcription_file", "provide_transcription"}
          : std::set<std::string>{"index_id", "video_file",          "video_url",
                                  "language", "enable_video_stream", "user_metadata"};
  std::vector<std::string> names, unknown;
  for (const auto& [name, unused] : request.form) names.push_back(name);
  for (const auto& [name, unused] : request.files) names.push_back(name);
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!allowed.count(name) && std::find(unknown.begin(), unknown.end(), name) == unknown.end()) {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    return with_rate(
        Error(400, "parameter_unknown",
              absl::StrCat("Unknown parameter(s): ", absl::StrJoin(unknown, ", "), ".")));
  }
  for (const std::string& name : names) {
    if (!seen.insert(name).second) {
      return with_rate(Invalid(name, "given more than once"));
    }
  }
  if (!request.oversized_values.empty()) {
    return with_rate(Invalid(*request.oversized_values.begin(), "too long"));
  }
  std::map<std::string, std::string> form(request.form.begin(), request.form.end());
  std::map<std::string, UploadedFile> files(request.files.begin(), request.files.end());
  auto value = [&form](const char* name) -> const std::string* {
    auto it = form.find(name);
    return it == form.end() ? nullptr : &it->second;
  };

  const std::string* index_id = value("index_id");
  if (index_id == nullptr) return with_rate(NotProvided("index_id"));
  if (!IsObjectId(*index_id)) return with_rate(Invalid("index_id"));
  if (!indexes_.count(*index_id)) {
    return with_rate(Error(400, "resource_not_exist",
                           absl::StrCat("The index ", *index_id, " does not exist.")));
  }

  const std::string* video_url = value("video_url");
  auto file = files.find("video_file");
  const bool has_file = file != files.end();
  if (video_url == nullptr && !has_file) {
    return with_rate(Error(400, "parameter_not_provided",
                           "Either the video_file or the video_url parameter "
                           "is required."));
  }
  if (video_url != nullptr && has_file) {
    return with_rate(Invalid("video_url",
                             "give either video_file or "
                             "video_url, not both"));
  }
  if (video_url != nullptr) {
    std::optional<std::string> host = HttpUrlHost(*video_url);
    if (!host.has_value()) {
      return with_rate(Invalid("video_url", "it must be an http(s) URL"));
    }
    if (IsYouTubeHost(*host)) {
      return with_rate(
          Invalid("video_url", v12 ? "it must be a direct link to a raw file; use "
                                     "/tasks/external-provider for YouTube"
                                   : "it must be a direct link to a raw file; YouTube links are "
                                     "not supported"));
    }
  }
  if (has_file) {
    if (file->second.size > options_.max_video_file_bytes) {
      return with_rate(Error(400, "video_filesize_too_large",
                             absl::StrCat("The video file is ", file->second.size,
                                          " bytes; the maximum for this endpoint is ",
                                          options_.max_video_file_bytes, " bytes.")));
    }
    if (file->second.size == 0) {
      return with_rate(Error(400, "video_file_broken", "The video file is empty."));
    }
  }
  if (const std::string* language = value("language")) {
    if (language->empty() || language->size() > 35) {
      return with_rate(Invalid("language"));
    }
  }
  bool stream = true;
  if (v12) {
    if (const std::string* v = value("disable_video_stream")) {
      std::optional<bool> b = ParseFormBool(*v);
      if (!b) return with_rate(Invalid("disable_video_stream", "must be true or false"));
      stream = !*b;
    }
    if (const std::string* v = value("provide_transcription")) {
      if (!ParseFormBool(*v)) {
        return with_rate(Invalid("provide_transcription", "must be true or false"));
      }
    }
    if (const std::string* v = value("transcription_url")) {
      if (!HttpUrlHost(*v)) {
        return with_rate(Invalid("transcription_url", "it must be an http(s) URL"));
      }
    }
    auto transcription = files.find("transcription_file");
    if (transcription != files.end() && transcription->second.size == 0) {
      return with_rate(Invalid("transcription_file", "the file is empty"));
    }
  }
  json user_metadata;
  if (!v12) {
    if (const std::string* v = value("enable_video_stream")) {
      std::optional<bool> b = ParseFormBool(*v);
      if (!b) return with_rate(Invalid("enable_video_stream", "must be true or false"));
      stream = *b;
    }
    if (const std::string* v = value("user_metadata")) {
      user_metadata = json::parse(*v, nullptr, false);
      if (user_metadata.is_discarded() || !IsFlatMetadata(user_metadata)) {
        return with_rate(Invalid("user_metadata",
                                 "it must be a JSON object whose values are strings, numbers or "
                                 "booleans"));
      }
    }
  }

  Task& task = AddTask(*index_id, request.version, now);
  std::string filename;
  std::string source;
  if (has_file) {
    filename = file->second.filename.empty() ? "video_file" : file->second.filename;
    source = file->second.sha256;
  } else {
    task.video_url = *video_url;
    filename = UrlLastPathSegment(*video_url);
    if (filename.empty()) filename = *HttpUrlHost(*video_url);
    source = *video_url;
  }
  task.metadata = MetadataFor(filename, source);
  task.broken =
      absl::StrContains(filename, "broken") || absl::StrContains(task.video_url, "broken");
  task.stream_enabled = stream;
  task.user_metadata = std::move(user_metadata);
  if (v12) return with_rate(JsonResponse(200, json{{"_id", task.id}}));
  return with_rate(JsonResponse(201, json{{"_id", task.id}, {"video_id", task.id}}));
}

ApiResponse RestApi::CreateExternalTask(const ApiRequest& request, absl::Time now) {
  Headers rate_headers;
  auto with_rate = [&rate_headers](ApiResponse r) {
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    return r;
  };
  if (auto limited = TakeRateToken(*request.api_key, now, &rate_headers)) {
    return *limited;
  }
  if (auto e = CheckQueryNames(request, {})) return with_rate(*e);
  json body;
  if (auto e = ParseJsonObject(request, {"index_id", "url"}, &body)) {
    return with_rate(*e);
  }
  auto index_id = body.find("index_id");
  if (index_id == body.end()) return with_rate(NotProvided("index_id"));
  if (!index_id->is_string() || !IsObjectId(index_id->get<std::string>())) {
    return with_rate(Invalid("index_id"));
  }
  if (!indexes_.count(index_id->get<std::string>())) {
    return with_rate(
        Error(400, "resource_not_exist",
              absl::StrCat("The index ", index_id->get<std::string>(), " does not exist.")));
  }
  auto url = body.find("url");
  if (url == body.end()) return with_rate(NotProvided("url"));
  std::optional<std::string> host;
  if (url->is_string()) host = HttpUrlHost(url->get<std::string>());
  if (!host.has_value() || !IsYouTubeHost(*host)) {
    return with_rate(Invalid("url", "only YouTube URLs are supported"));
  }
  const std::string u = url->get<std::string>();
  Task& task = AddTask(index_id->get<std::string>(), request.version, now);
  task.video_url = u;
  // youtube.com/watch?v=ID or youtu.be/ID: name the video after its ID.
  std::string name = UrlLastPathSegment(u);
  if (size_t v = u.find("v="); v != std::string::npos && (u[v - 1] == '?' || u[v - 1] == '&')) {
    name = u.substr(v + 2, u.find_first_of("&#", v) - (v + 2));
  }
  if (name.empty()) name = *host;
  task.metadata = MetadataFor(name, u);
  task.broken = absl::StrContains(u, "broken");
  return with_rate(JsonResponse(200, json{{"_id", task.id}}));
}

ApiResponse RestApi::RetrieveTask(const ApiRequest& request, const std::string& id,
                                  absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("task_id");
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    return NotFound(request.version, absl::StrCat("The task ", id, " does not exist."));
  }
  return JsonResponse(200, RenderTask(it->second, request.version, now,
                                      /*with_hls=*/true));
}

ApiResponse RestApi::ListTasks(const ApiRequest& request, absl::Time now) {
  const bool v12 = request.version == ApiVersion::kV1_2;
  if (v12) {
    if (auto e =
            CheckQueryNames(request, {"page", "page_limit", "sort_by", "sort_option", "index_id",
                                      "status", "filename", "duration", "width", "height",
                                      "created_at", "updated_at", "_id", "estimated_time"})) {
      return *e;
    }
  } else if (auto e = CheckQueryNames(request, {"page", "page_limit", "sort_by", "sort_option",
                                                "index_id", "status", "filename", "duration",
                                                "width", "height", "created_at", "updated_at"})) {
    return *e;
  }
  std::map<std::string, std::optional<std::string>> q;
  for (const char* name :
       {"page", "page_limit", "sort_by", "sort_option", "index_id", "filename", "duration", "width",
        "height", "created_at", "updated_at", "_id", "estimated_time"}) {
    if (auto e = SingleQueryValue(request, name, &q[name])) return *e;
  }
  int page = 1, limit = 10;
  if (q["page"] && (!absl::SimpleAtoi(*q["page"], &page) || page < 1)) {
    return Invalid("page", "must be an integer >= 1");
  }
  if (q["page_limit"] &&
      (!absl::SimpleAtoi(*q["page_limit"], &limit) || limit < 1 || limit > kMaxPageLimit)) {
    return Invalid("page_limit", "must be an integer from 1 to 50");
  }
  const std::string sort_by = q["sort_by"].value_or("created_at");
  if (sort_by != "created_at" && sort_by != "updated_at") {
    return Invalid("sort_by", "must be created_at or updated_at");
  }
  const std::string sort_option = q["sort_option"].value_or("desc");
  if (sort_option != "asc" && sort_option != "desc") {
    return Invalid("sort_option", "must be asc or desc");
  }
  // v1.3 repeats `status`; v1.2 takes one comma-joined value.
  std::set<TaskStatus> statuses;
  bool any_status = false;
  std::vector<std::string> status_values;
  auto [sb, se] = request.query.equal_range("status");
  for (auto it = sb; it != se; ++it) status_values.push_back(it->second);
  if (v12 && status_values.size() > 1) {
    return Invalid("status", "give one comma-separated value in v1.2");
  }
  if (v12 && !status_values.empty()) {
    status_values = absl::StrSplit(status_values[0], ',');
  }
  for (const std::string& s : status_values) {
    any_status = true;
    if (std::optional<TaskStatus> st = ParseTaskStatus(s)) {
      statuses.insert(*st);
    } else if (!(s == "uploading" && !v12)) {  // v1.3 knows it, never shows it
      return Invalid("status", absl::StrCat("unknown status '", s, "'"));
    }
  }
  double duration = 0;
  if (q["duration"] && !absl::SimpleAtod(*q["duration"], &duration)) {
    return Invalid("duration", "must be a number");
  }
  int width = 0, height = 0;
  if (q["width"] && !absl::SimpleAtoi(*q["width"], &width)) {
    return Invalid("width", "must be an integer");
  }
  if (q["height"] && !absl::SimpleAtoi(*q["height"], &height)) {
    return Invalid("height", "must be an integer");
  }
  std::map<std::string, absl::Time> times;
  for (const char* name : {"created_at", "updated_at", "estimated_time"}) {
    if (!q[name]) continue;
    std::optional<absl::Time> t = ParseRfc3339(*q[name]);
    if (!t) return Invalid(name, "must be an RFC 3339 date-time");
    times[name] = *t;
  }
  if (q["index_id"] && !IsObjectId(*q["index_id"])) return Invalid("index_id");

  struct Row {
    const Task* task;
    absl::Time key;
  };
  std::vector<Row> rows;
  for (const auto& [id, task] : tasks_) {
    const TaskState state = ComputeState(task, now);
    if (q["index_id"] && task.index_id != *q["index_id"]) continue;
    if (q["_id"] && task.id != *q["_id"]) continue;
    if (any_status && !statuses.count(state.status)) continue;
    if (q["filename"] && task.metadata.filename != *q["filename"]) continue;
    if (q["duration"] && std::abs(task.metadata.duration - duration) > 1e-3) continue;
    if (q["width"] && task.metadata.width != width) continue;
    if (q["height"] && task.metadata.height != height) continue;
    if (times.count("created_at") && !SameUtcDayAtOrAfter(task.created_at, times["created_at"])) {
      continue;
    }
    if (times.count("updated_at") && !SameUtcDayAtOrAfter(state.updated_at, times["updated_at"])) {
      continue;
    }
    if (times.count("estimated_time") &&
        !SameUtcDayAtOrAfter(task.created_at + task.stage * 4, times["estimated_time"])) {
      continue;
    }
    rows.push_back({&task, sort_by == "created_at" ? task.created_at : state.updated_at});
  }
  const bool asc = sort_option == "asc";
  std::sort(rows.begin(), rows.end(), [asc](const Row& a, const Row& b) {
    if (a.key != b.key) return asc ? a.key < b.key : a.key > b.key;
    return asc ? a.task->seq < b.task->seq : a.task->seq > b.task->seq;
  });
  const int64_t total = static_cast<int64_t>(rows.size());
  json data = json::array();
  const int64_t first = static_cast<int64_t>(page - 1) * limit;
  for (int64_t i = first; i < total && i < first + limit; ++i) {
    data.push_back(RenderTask(*rows[i].task, request.version, now,
                              /*with_hls=*/false));
  }
  return JsonResponse(200, json{{"data", std::move(data)},
                                {"page_info",
                                 {{"limit_per_page", limit},
                                  {"page", page},
                                  {"total_page", (total + limit - 1) / limit},
                                  {"total_results", total}}}});
}

ApiResponse RestApi::DeleteTask(const ApiRequest& request, const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("task_id");
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    return NotFound(request.version, absl::StrCat("The task ", id, " does not exist."));
  }
  const TaskStatus status = ComputeState(it->second, now).status;
  if (!IsTerminal(status)) {
    return Error(400, "task_cannot_be_deleted",
                 absl::StrCat("The task ", id, " is ", TaskStatusName(status),
                              "; only ready or failed tasks can be deleted."));
  }
  if (status == TaskStatus::kReady && !it->second.video_deleted) {
    return Error(400, "task_cannot_be_deleted",
                 absl::StrCat("The task ", id,
                              " is ready; delete its video first with DELETE "
                              "/indexes/",
                              it->second.index_id, "/videos/", id, "."));
  }
  tasks_.erase(it);
  if (request.version == ApiVersion::kV1_2) return JsonResponse(200, json::object());
  ApiResponse r;
  r.status = 204;
  return r;
}

ApiResponse RestApi::StatusCounts(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request, {"index_id"})) return *e;
  std::optional<std::string> index_id;
  if (auto e = SingleQueryValue(request, "index_id", &index_id)) return *e;
  if (!index_id) return NotProvided("index_id");
  if (!IsObjectId(*index_id)) return Invalid("index_id");
  if (!indexes_.count(*index_id)) {
    return Error(400, "resource_not_exist",
                 absl::StrCat("The index ", *index_id, " does not exist."));
  }
  json counts = StatusCountsObject();
  int64_t total = 0;
  for (const auto& [id, task] : tasks_) {
    if (task.index_id != *index_id) continue;
    json& count = counts[TaskStatusName(ComputeState(task, now).status)];
    count = count.get<int64_t>() + 1;
    ++total;
  }
  counts["index_id"] = *index_id;
  counts["total_result"] = total;
  return JsonResponse(200, std::move(counts));
}

// ---- Imports ----------------------------------------------------------------

RestApi::FileState RestApi::FileStateFor(const Integration& integration,
                                         const std::string& index_id,
                                         const std::string& filename) const {
  for (auto run = integration.runs.rbegin(); run != integration.runs.rend(); ++run) {
    if (run->index_id != index_id) continue;
    for (const FailedFile& f : run->rejected) {
      if (f.filename == filename) {
        FileState s;
        s.kind = FileState::kRejected;
        s.rejected = f;
        return s;
      }
    }
    for (const std::string& id : run->task_ids) {
      auto it = tasks_.find(id);
      if (it == tasks_.end() || it->second.metadata.filename != filename) continue;
      FileState s;
      s.kind = FileState::kTask;
      s.task = &it->second;
      return s;
    }
    // A run that touched the file but whose task was deleted since: the file
    // counts as not imported.
  }
  return FileState();
}

ApiResponse RestApi::Import(const ApiRequest& request, const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("integration_id");
  auto integration_it = integrations_.find(id);
  if (integration_it == integrations_.end()) {
    return Error(404, "resource_not_exist",
                 absl::StrCat("The integration ", id, " does not exist."));
  }
  Integration& integration = integration_it->second;
  json body;
  if (auto e = ParseJsonObject(
          request, {"index_id", "incremental_import", "retry_failed", "user_metadata"}, &body)) {
    return *e;
  }
  auto index_id_it = body.find("index_id");
  if (index_id_it == body.end()) return NotProvided("index_id");
  if (!index_id_it->is_string() || !IsObjectId(index_id_it->get<std::string>())) {
    return Invalid("index_id");
  }
  const std::string index_id = index_id_it->get<std::string>();
  if (!indexes_.count(index_id)) {
    return Error(400, "resource_not_exist",
                 absl::StrCat("The index ", index_id, " does not exist."));
  }
  bool incremental = true, retry_failed = false;
  if (auto e = JsonBool(body, "incremental_import", &incremental)) return *e;
  if (auto e = JsonBool(body, "retry_failed", &retry_failed)) return *e;
  json user_metadata;
  if (auto it = body.find("user_metadata"); it != body.end()) {
    if (!IsFlatMetadata(*it)) {
      return Invalid("user_metadata",
                     "it must be an object whose values are strings, numbers "
                     "or booleans");
    }
    user_metadata = *it;
  }
  // One import at a time per integration: busy while any video it created
  // is still moving.
  for (const ImportRun& run : integration.runs) {
    for (const std::string& task_id : run.task_ids) {
      auto it = tasks_.find(task_id);
      if (it != tasks_.end() && !IsTerminal(ComputeState(it->second, now).status)) {
        return Error(409, "import_in_progress",
                     absl::StrCat("An import from integration ", id,
                                  " is still running; start the next one "
                                  "after it ends."));
      }
    }
  }
  ImportRun run;
  run.index_id = index_id;
  run.created_at = FloorMillis(now);
  json videos = json::array();
  json failed_files = json::array();
  for (const IntegrationFile& file : integration.files) {
    const FileState prev = FileStateFor(integration, index_id, file.filename);
    const bool prev_failed = prev.kind == FileState::kRejected ||
                             (prev.kind == FileState::kTask &&
                              ComputeState(*prev.task, now).status == TaskStatus::kFailed);
    if (incremental) {
      if (prev.kind == FileState::kTask && !prev_failed) continue;
      if (prev_failed && !retry_failed) continue;
    }
    if (file.broken) {
      run.rejected.push_back({file.filename, kBrokenVideoError, run.created_at});
      failed_files.push_back({{"filename", file.filename}, {"error_message", kBrokenVideoError}});
      continue;
    }
    Task& task = AddTask(index_id, request.version, now);
    task.metadata = MetadataFor(file.filename, absl::StrCat("s3:", id));
    task.user_metadata = user_metadata;
    run.task_ids.push_back(task.id);
    videos.push_back({{"video_id", task.id}, {"filename", file.filename}});
  }
  integration.runs.push_back(std::move(run));
  return JsonResponse(
      201, json{{"videos", std::move(videos)}, {"failed_files", std::move(failed_files)}});
}

ApiResponse RestApi::ImportStatus(const ApiRequest& request, const std::string& id,
                                  absl::Time now) {
  if (auto e = CheckQueryNames(request, {"index_id"})) return *e;
  if (!IsObjectId(id)) return Invalid("integration_id");
  auto integration_it = integrations_.find(id);
  if (integration_it == integrations_.end()) {
    return Error(404, "resource_not_exist",
                 absl::StrCat("The integration ", id, " does not exist."));
  }
  std::optional<std::string> index_id;
  if (auto e = SingleQueryValue(request, "index_id", &index_id)) return *e;
  if (!index_id) return NotProvided("index_id");
  if (!IsObjectId(*index_id)) return Invalid("index_id");
  if (!indexes_.count(*index_id)) {
    return Error(400, "resource_not_exist",
                 absl::StrCat("The index ", *index_id, " does not exist."));
  }
  json out = {{"not_imported", json::array()}, {"validating", json::array()},
              {"pending", json::array()},      {"queued", json::array()},
              {"indexing", json::array()},     {"ready", json::array()},
              {"failed", json::array()}};
  for (const IntegrationFile& file : integration_it->second.files) {
    const FileState s = FileStateFor(integration_it->second, *index_id, file.filename);
    if (s.kind == FileState::kNone) {
      out["not_imported"].push_back(file.filename);
    } else if (s.kind == FileState::kRejected) {
      out["failed"].push_back({{"filename", file.filename},
                               {"created_at", FormatRfc3339(s.rejected.at)},
                               {"error_message", s.rejected.error_message}});
    } else {
      const TaskStatus status = ComputeState(*s.task, now).status;
      if (status == TaskStatus::kFailed) {
        out["failed"].push_back({{"filename", file.filename},
                                 {"created_at", FormatRfc3339(s.task->created_at)},
                                 {"error_message", kBrokenVideoError}});
      } else {
        out[TaskStatusName(status)].push_back({{"video_id", s.task->id},
                                               {"filename", file.filename},
                                               {"created_at", FormatRfc3339(s.task->created_at)}});
      }
    }
  }
  return JsonResponse(200, std::move(out));
}

ApiResponse RestApi::ImportLogs(const ApiRequest& request, const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("integration_id");
  auto integration_it = integrations_.find(id);
  if (integration_it == integrations_.end()) {
    return Error(404, "resource_not_exist",
                 absl::StrCat("The integration ", id, " does not exist."));
  }
  json data = json::array();
  for (const ImportRun& run : integration_it->second.runs) {
    json counts = StatusCountsObject();
    json failed_files = json::array();
    for (const FailedFile& f : run.rejected) {
      failed_files.push_back({{"filename", f.filename}, {"error_message", f.error_message}});
    }
    counts["failed"] = static_cast<int64_t>(run.rejected.size());
    bool running = false;
    absl::Time ended = run.created_at;
    for (const std::string& task_id : run.task_ids) {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) continue;
      const TaskState state = ComputeState(it->second, now);
      json& count = counts[TaskStatusName(state.status)];
      count = count.get<int64_t>() + 1;
      if (!IsTerminal(state.status)) running = true;
      ended = std::max(ended, state.updated_at);
      if (state.status == TaskStatus::kFailed) {
        failed_files.push_back(
            {{"filename", it->second.metadata.filename}, {"error_message", kBrokenVideoError}});
      }
    }
    auto index = indexes_.find(run.index_id);
    data.push_back({
        {"index_id", run.index_id},
        {"index_name", index == indexes_.end() ? std::string() : index->second.name},
        {"created_at", FormatRfc3339(run.created_at)},
        {"ended_at", running ? json(nullptr) : json(FormatRfc3339(ended))},
        {"video_status", std::move(counts)},
        {"failed_files", std::move(failed_files)},
    });
  }
  return JsonResponse(200, json{{"data", std::move(data)}});
}

// ---- Control API --------------------------------------------------------------

absl::StatusOr<std::string> RestApi::PutIntegration(std::optional<std::string> id,
                                                    std::vector<IntegrationFile> files) {
  if (id.has_value()) {
    if (!IsObjectId(*id)) {
      return absl::InvalidArgumentError("integration_id must be 24 lowercase hex");
    }
    if (tasks_.count(*id) || indexes_.count(*id)) {
      return absl::AlreadyExistsError(absl::StrCat("id ", *id, " is taken"));
    }
  } else {
    id = NewId();
  }
  std::set<std::string> names;
  for (const IntegrationFile& f : files) {
    if (f.filename.empty()) return absl::InvalidArgumentError("empty filename");
    if (!names.insert(f.filename).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate filename ", f.filename));
    }
  }
  Integration& integration = integrations_[*id];
  integration.id = *id;
  integration.files = std::move(files);  // runs survive a file-list update
  return *id;
}

absl::StatusOr<TaskState> RestApi::ForceStatus(const std::string& task_id, TaskStatus status,
                                               absl::Time now) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return absl::NotFoundError(absl::StrCat("no task ", task_id));
  }
  it->second.forced_status = status;
  it->second.forced_at = FloorMillis(now);
  unsettled_.insert(task_id);
  return ComputeState(it->second, now);
}

// ---- Webhooks -----------------------------------------------------------------

std::vector<TerminalTransition> RestApi::TakeTerminalTransitions(absl::Time now, absl::Time* next) {
  struct Found {
    TerminalTransition transition;
    int64_t seq;
  };
  std::vector<Found> found;
  *next = absl::InfiniteFuture();
  for (auto it = unsettled_.begin(); it != unsettled_.end();) {
    auto task_it = tasks_.find(*it);
    if (task_it == tasks_.end()) {  // deleted
      it = unsettled_.erase(it);
      continue;
    }
    Task& task = task_it->second;
    const TaskState state = ComputeState(task, now);
    if (IsTerminal(state.status)) {
      if (task.notified_terminal != state.status) {
        task.notified_terminal = state.status;
        found.push_back({{task.id, state.status, state.updated_at}, task.seq});
      }
      it = unsettled_.erase(it);  // nothing moves it again unless forced
      continue;
    }
    task.notified_terminal.reset();
    if (task.forced_status.has_value()) {
      it = unsettled_.erase(it);  // held here until forced again
      continue;
    }
    *next = std::min(*next, NaturalTerminalTime(task));
    ++it;
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    if (a.transition.at != b.transition.at) return a.transition.at < b.transition.at;
    return a.seq < b.seq;
  });
  std::vector<TerminalTransition> out;
  out.reserve(found.size());
  for (Found& f : found) out.push_back(std::move(f.transition));
  return out;
}

const Task* RestApi::FindTask(const std::string& id) const {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

}  // namespace tlsim
