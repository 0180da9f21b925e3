// Fuzzes the building of REST calls (server/twelvelabs/requests.h) from
// hostile request fields: ids, URLs, file names, languages and
// user_metadata with any keys, any bytes and any kinds of values.
//
// The multipart body itself is encoded by libcurl (curl_mime_* in
// server/upstream/curl_transport.cc), which percent-escapes '"', CR and LF
// in part and file names; what the gateway must get right is what it hands
// to the transport. Asserts (abort() on failure):
// - every path starts with '/', holds only unreserved characters, '/', '?',
//   '&', '=' and %XX escapes (so no CR, LF, space, quote or '#' reaches the
//   request line), and each id or query value decodes back to the field;
// - form parts have the fixed names of the API, each at most once, and
//   carry the request's fields byte for byte (index_id, video_url,
//   transcription_url, language, the file name, size and source);
// - user_metadata is refused (INVALID_ARGUMENT naming user_metadata.<key>)
//   exactly when a value is null, nested or not finite; otherwise it is a
//   JSON object with the same keys and values (text as UTF-8);
// - every JSON body is valid JSON (invalid UTF-8 replaced, never passed on).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/twelvelabs/requests.h"
#include <nlohmann/json.hpp>

namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "requests invariant failed: %s\n", what.c_str());
  std::abort();
}
void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX; aborts on a character that must not appear in a path.
std::string Decode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      Check(i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0, "a bad %XX escape");
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
      Check(ok, std::string("an unescaped character in a path: 0x") + "0123456789abcdef"[(c >> 4) & 15] +
                    "0123456789abcdef"[c & 15]);
      out.push_back(c);
    }
  }
  return out;
}

// The path's segments after `prefix` and its query, decoded.
struct Path {
  std::vector<std::string> segments;
  std::multimap<std::string, std::string> query;
};
Path Split(const std::string& path) {
  Check(!path.empty() && path[0] == '/', "a path starts with '/'");
  Path out;
  const size_t q = path.find('?');
  for (absl::string_view seg : absl::StrSplit(absl::string_view(path).substr(1, q == std::string::npos ? q : q - 1), '/')) {
    out.segments.push_back(Decode(seg));
  }
  if (q != std::string::npos) {
    for (absl::string_view kv : absl::StrSplit(absl::string_view(path).substr(q + 1), '&')) {
      std::vector<absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      Check(p.size() == 2, "a query element is key=value");
      out.query.emplace(Decode(p[0]), Decode(p[1]));
    }
  }
  return out;
}

bool IsUtf8(const std::string& s) {
  // nlohmann's dump throws (here: replaces) on invalid UTF-8; compare.
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace) ==
         json(s).dump(-1, ' ', false, json::error_handler_t::ignore);
}

// Fills a Struct with hostile keys and values; returns whether the API
// would take it (only strings, booleans and finite numbers).
bool FillMetadata(FuzzedDataProvider& in, google::protobuf::Struct* s) {
  bool valid = true;
  const int n = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < n; ++i) {
    const std::string key = in.ConsumeRandomLengthString(16);
    google::protobuf::Value v;
    switch (in.ConsumeIntegralInRange(0, 6)) {
      case 0: v.set_string_value(in.ConsumeRandomLengthString(32)); break;
      case 1: v.set_bool_value(in.ConsumeBool()); break;
      case 2: v.set_number_value(in.ConsumeFloatingPoint<double>()); break;
      case 3: v.set_number_value(static_cast<double>(in.ConsumeIntegral<int64_t>())); break;
      case 4: v.set_null_value(google::protobuf::NULL_VALUE); break;
      case 5: v.mutable_list_value()->add_values()->set_string_value("x"); break;
      default: (*v.mutable_struct_value()->mutable_fields())["k"].set_bool_value(true); break;
    }
    (*s->mutable_fields())[key] = v;
  }
  for (const auto& [key, v] : s->fields()) {
    if (v.kind_case() == google::protobuf::Value::kNumberValue) valid &= std::isfinite(v.number_value());
    else valid &= v.kind_case() == google::protobuf::Value::kStringValue ||
                  v.kind_case() == google::protobuf::Value::kBoolValue;
  }
  return valid;
}

void CheckMetadataJson(const std::string& text, const google::protobuf::Struct& s) {
  json j = json::parse(text, nullptr, false);
  Check(j.is_object(), "user_metadata is a JSON object: " + text);
  Check(j.size() == s.fields_size() || !std::all_of(s.fields().begin(), s.fields().end(),
                                                    [](const auto& kv) { return IsUtf8(kv.first); }),
        "user_metadata keeps every key");
  // An invalid UTF-8 key is written as U+FFFD and can then overwrite (or
  // be overwritten by) another key: values are comparable only without one.
  if (!std::all_of(s.fields().begin(), s.fields().end(), [](const auto& kv) { return IsUtf8(kv.first); })) {
    return;
  }
  for (const auto& [key, v] : s.fields()) {
    auto it = j.find(key);
    Check(it != j.end(), "user_metadata has key " + key);
    switch (v.kind_case()) {
      case google::protobuf::Value::kStringValue:
        Check(it->is_string(), "a string stays a string");
        if (IsUtf8(v.string_value())) Check(*it == v.string_value(), "a string value is kept");
        break;
      case google::protobuf::Value::kBoolValue:
        Check(it->is_boolean() && it->get<bool>() == v.bool_value(), "a bool is kept");
        break;
      default:
        Check(it->is_number() && it->get<double>() == v.number_value(), "a number is kept: " + it->dump());
        break;
    }
  }
}

// The form's parts by name; each name once, from the API's set.
std::map<std::string, const tlgw::FormPart*> Parts(const tlgw::RestCall& call) {
  static const std::set<std::string> kNames = {"index_id", "video_url", "transcription_url",
                                               "provide_transcription", "language", "enable_video_stream",
                                               "disable_video_stream", "user_metadata", "video_file"};
  std::map<std::string, const tlgw::FormPart*> parts;
  for (const auto& p : call.form) {
    Check(kNames.count(p.name) == 1, "an unknown part name: " + p.name);
    Check(parts.emplace(p.name, &p).second, "a part twice: " + p.name);
    Check(p.filename.has_value() == (p.name == "video_file"), "only video_file has a file name");
  }
  return parts;
}

template <typename Req>
void CheckTaskOptions(tlgw::ApiVersion v, const std::map<std::string, const tlgw::FormPart*>& parts,
                      const Req& req, bool metadata_valid) {
  if (auto it = parts.find("language"); it != parts.end()) {
    Check(it->second->value == req.language(), "language kept");
  }
  if (req.has_enable_video_stream()) {
    Check(parts.count("enable_video_stream") + parts.count("disable_video_stream") == 1, "video stream option sent");
  }
  if (auto it = parts.find("user_metadata"); it != parts.end()) {
    Check(metadata_valid, "invalid user_metadata sent");
    CheckMetadataJson(it->second->value, req.user_metadata());
  }
}

void CheckRefusal(const absl::Status& s) {
  Check(s.code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT: " + s.ToString());
  Check(absl::StrContains(s.ToString(), "user_metadata."), "a refusal names user_metadata.<key>");
}

void CheckIdPath(const tlgw::RestCall& call, const std::vector<std::string>& want) {
  Path p = Split(call.path);
  Check(p.segments == want, "the path's segments are the fields: " + call.path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const tlgw::ApiVersion v = in.ConsumeBool() ? tlgw::ApiVersion::kV1_3 : tlgw::ApiVersion::kV1_2;
  const std::string id = in.ConsumeRandomLengthString(40);
  const std::string index_id = in.ConsumeRandomLengthString(40);

  // Calls addressed by id.
  CheckIdPath(tlgw::GetTaskCall(id), {"tasks", id});
  CheckIdPath(tlgw::DeleteTaskCall(id), {"tasks", id});
  CheckIdPath(tlgw::ImportLogsCall(id), {"tasks", "transfers", "import", id, "logs"});
  {
    auto call = tlgw::IndexTaskCountsCall(index_id);
    Path p = Split(call.path);
    Check(p.query.size() == 1 && p.query.begin()->second == index_id, "index_id query kept");
    call = tlgw::ImportStatusCall(id, index_id);
    p = Split(call.path);
    Check(p.segments == std::vector<std::string>{"tasks", "transfers", "import", id, "status"}, "import status path");
    Check(p.query.size() == 1 && p.query.begin()->second == index_id, "import status query kept");
  }

  // POST /tasks with a URL.
  gw::CreateUrlTaskRequest url;
  url.set_index_id(index_id);
  url.set_video_url(in.ConsumeRandomLengthString(64));
  url.set_transcription_url(in.ConsumeRandomLengthString(32));
  url.set_language(in.ConsumeRandomLengthString(8));
  if (in.ConsumeBool()) url.set_enable_video_stream(in.ConsumeBool());
  const bool url_meta_valid = FillMetadata(in, url.mutable_user_metadata());
  if (auto call = tlgw::CreateUrlTaskCall(v, url); call.ok()) {
    Check(call->method == "POST" && call->path == "/tasks" && call->json_body.empty(), "POST /tasks");
    auto parts = Parts(*call);
    Check(parts.count("index_id") && parts.at("index_id")->value == index_id, "index_id kept");
    Check(parts.count("video_url") && parts.at("video_url")->value == url.video_url(), "video_url kept");
    if (auto it = parts.find("transcription_url"); it != parts.end()) {
      Check(it->second->value == url.transcription_url(), "transcription_url kept");
    }
    CheckTaskOptions(v, parts, url, url_meta_valid);
  } else {
    Check(!url_meta_valid, "a valid request refused: " + call.status().ToString());
    CheckRefusal(call.status());
  }

  // POST /tasks with a file.
  gw::UploadVideoFileHeader header;
  header.set_index_id(index_id);
  header.set_filename(in.ConsumeRandomLengthString(64));
  header.set_size_bytes(in.ConsumeIntegral<int64_t>());
  header.set_language(url.language());
  if (in.ConsumeBool()) header.set_enable_video_stream(in.ConsumeBool());
  const bool file_meta_valid = FillMetadata(in, header.mutable_user_metadata());
  if (auto call = tlgw::UploadVideoFileCall(v, header, nullptr); call.ok()) {
    auto parts = Parts(*call);
    Check(parts.count("video_file") == 1, "video_file sent");
    const tlgw::FormPart& file = *parts.at("video_file");
    Check(*file.filename == header.filename(), "the file name is passed on unchanged");
    Check(file.size == header.size_bytes() && file.value.empty(), "the file's size");
    Check(call->form.back().name == "video_file", "the file is the last part");
    CheckTaskOptions(v, parts, header, file_meta_valid);
  } else {
    Check(!file_meta_valid, "a valid upload refused: " + call.status().ToString());
    CheckRefusal(call.status());
  }

  // GET /tasks with every filter.
  gw::ListTasksRequest list;
  list.set_index_id(index_id);
  list.set_filename(in.ConsumeRandomLengthString(64));
  list.set_sort_by(static_cast<gw::TaskSortField>(in.ConsumeIntegralInRange(0, 2)));
  list.set_sort_order(static_cast<gw::SortOrder>(in.ConsumeIntegralInRange(0, 2)));
  for (int i = in.ConsumeIntegralInRange(0, 3); i > 0; --i) {
    list.add_statuses(static_cast<gw::TaskStatus>(in.ConsumeIntegralInRange(1, 7)));
  }
  // As the service validates: finite, non-negative.
  if (in.ConsumeBool()) list.set_duration_seconds(std::fabs(in.ConsumeFloatingPointInRange(0.0, 1e300)));
  if (in.ConsumeBool()) list.set_width(in.ConsumeIntegral<int32_t>());
  if (in.ConsumeBool()) {
    list.mutable_create_time()->set_seconds(in.ConsumeIntegralInRange<int64_t>(-62135596800, 253402300799));
    list.mutable_create_time()->set_nanos(in.ConsumeIntegralInRange(0, 999999999));
  }
  {
    auto call = tlgw::ListTasksCall(v, list, in.ConsumeIntegralInRange(1, 1 << 20), in.ConsumeIntegralInRange(1, 50));
    Path p = Split(call.path);
    Check(p.segments == std::vector<std::string>{"tasks"}, "GET /tasks");
    auto count = [&](const char* k) { return p.query.count(k); };
    if (!list.filename().empty()) {
      Check(count("filename") == 1 && p.query.find("filename")->second == list.filename(), "filename kept");
    }
    if (!index_id.empty()) {
      Check(count("index_id") == 1 && p.query.find("index_id")->second == index_id, "index_id kept");
    }
    if (list.has_duration_seconds()) {
      Check(count("duration") == 1, "duration sent");
      Check(std::strtod(p.query.find("duration")->second.c_str(), nullptr) == list.duration_seconds(),
            "duration kept: " + p.query.find("duration")->second);
    }
  }

  // JSON bodies.
  gw::CreateExternalProviderTaskRequest ext;
  ext.set_index_id(index_id);
  ext.set_url(in.ConsumeRandomLengthString(64));
  if (auto call = tlgw::CreateExternalProviderCall(v, ext); call.ok()) {
    json j = json::parse(call->json_body, nullptr, false);
    Check(j.is_object() && j["index_id"].is_string() && j["url"].is_string(), "external provider body");
    if (IsUtf8(ext.url())) Check(j["url"] == ext.url(), "url kept");
  }
  gw::ImportVideosRequest imp;
  imp.set_index_id(index_id);
  if (in.ConsumeBool()) imp.set_incremental_import(in.ConsumeBool());
  const bool imp_meta_valid = FillMetadata(in, imp.mutable_user_metadata());
  if (auto call = tlgw::ImportVideosCall(id, imp); call.ok()) {
    CheckIdPath(*call, {"tasks", "transfers", "import", id});
    json j = json::parse(call->json_body, nullptr, false);
    Check(j.is_object(), "the import body is JSON: " + call->json_body);
    if (IsUtf8(index_id)) Check(j["index_id"] == index_id, "index_id kept");
    if (auto it = j.find("user_metadata"); it != j.end()) {
      Check(imp_meta_valid, "invalid user_metadata sent");
      CheckMetadataJson(it->dump(), imp.user_metadata());
    }
  } else {
    Check(!imp_meta_valid, "a valid import refused: " + call.status().ToString());
    CheckRefusal(call.status());
  }
  return 0;
}
