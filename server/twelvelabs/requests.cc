#include "server/twelvelabs/requests.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/status_details.h"
#include "server/twelvelabs/json_mapping.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

void AddQuery(std::string* path, absl::string_view key, absl::string_view value) {
  absl::StrAppend(path, path->find('?') == std::string::npos ? "?" : "&", key, "=",
                  UrlEncode(value));
}

std::string FormatNumber(double d) {
  json j = d;
  return j.dump();
}

}  // namespace

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<RestCall> CreateExternalProviderCall(
    ApiVersion v, const gw::CreateExternalProviderTaskRequest& req) {
  if (absl::Status s = RequireExternalProvider(v); !s.ok()) return s;
  json body = {{"index_id", req.index_id()}, {"url", req.url()}};
  return RestCall{"POST", "/tasks/external-provider",
                  body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

namespace {

// The fields both ways of `POST /tasks` share, in the version's own names.
template <typename Req>
absl::Status AddTaskOptions(ApiVersion v, const Req& req, std::vector<FormPart>* form) {
  if (TakesLanguage(v) && !req.language().empty()) {
    form->push_back({"language", req.language(), std::nullopt});
  }
  if (req.has_enable_video_stream()) {
    if (UsesEnableVideoStream(v)) {
      form->push_back(
          {"enable_video_stream", req.enable_video_stream() ? "true" : "false", std::nullopt});
    } else {
      form->push_back(
          {"disable_video_stream", req.enable_video_stream() ? "false" : "true", std::nullopt});
    }
  }
  if (TakesUserMetadata(v) && req.has_user_metadata() && req.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(req.user_metadata(), "user_metadata");
    if (!meta.ok()) return meta.status();
    form->push_back({"user_metadata", *meta, std::nullopt});
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RestCall> CreateUrlTaskCall(ApiVersion v, const gw::CreateUrlTaskRequest& req) {
  RestCall call{"POST", "/tasks", "", {}};
  call.form.push_back({"index_id", req.index_id(), std::nullopt});
  call.form.push_back({"video_url", req.video_url(), std::nullopt});
  if (TakesLanguage(v) && !req.transcription_url().empty()) {
    call.form.push_back({"transcription_url", req.transcription_url(), std::nullopt});
    call.form.push_back({"provide_transcription", "true", std::nullopt});
  }
  if (auto s = AddTaskOptions(v, req, &call.form); !s.ok()) return s;
  return call;
}

absl::StatusOr<RestCall> UploadVideoFileCall(ApiVersion v, const gw::UploadVideoFileHeader& header,
                                             std::shared_ptr<BodySource> source) {
  RestCall call{"POST", "/tasks", "", {}};
  call.form.push_back({"index_id", header.index_id(), std::nullopt});
  if (auto s = AddTaskOptions(v, header, &call.form); !s.ok()) return s;
  FormPart file{"video_file", "", header.filename()};
  file.source = std::move(source);
  file.size = header.size_bytes();
  call.form.push_back(std::move(file));
  return call;
}

RestCall GetTaskCall(const std::string& task_id) {
  return RestCall{"GET", absl::StrCat("/tasks/", UrlEncode(task_id)), "", {}};
}

RestCall ListTasksCall(ApiVersion v, const gw::ListTasksRequest& req, int page, int page_limit) {
  std::string path = "/tasks";
  AddQuery(&path, "page", std::to_string(page));
  AddQuery(&path, "page_limit", std::to_string(page_limit));
  if (req.sort_by() == gw::TASK_SORT_FIELD_CREATE_TIME) AddQuery(&path, "sort_by", "created_at");
  if (req.sort_by() == gw::TASK_SORT_FIELD_UPDATE_TIME) AddQuery(&path, "sort_by", "updated_at");
  if (req.sort_order() == gw::SORT_ORDER_ASCENDING) AddQuery(&path, "sort_option", "asc");
  if (req.sort_order() == gw::SORT_ORDER_DESCENDING) AddQuery(&path, "sort_option", "desc");
  if (!req.index_id().empty()) AddQuery(&path, "index_id", req.index_id());
  std::vector<std::string> statuses;
  for (int s : req.statuses()) statuses.push_back(TaskStatusText(static_cast<gw::TaskStatus>(s)));
  if (!statuses.empty()) {
    if (StatusFilterRepeated(v)) {
      for (const auto& s : statuses) AddQuery(&path, "status", s);
    } else {
      AddQuery(&path, "status", absl::StrJoin(statuses, ","));
    }
  }
  if (!req.filename().empty()) AddQuery(&path, "filename", req.filename());
  if (req.has_duration_seconds()) AddQuery(&path, "duration", FormatNumber(req.duration_seconds()));
  if (req.has_width()) AddQuery(&path, "width", std::to_string(req.width()));
  if (req.has_height()) AddQuery(&path, "height", std::to_string(req.height()));
  if (req.has_create_time()) AddQuery(&path, "created_at", FormatRfc3339(req.create_time()));
  if (req.has_update_time()) AddQuery(&path, "updated_at", FormatRfc3339(req.update_time()));
  return RestCall{"GET", path, "", {}};
}

RestCall DeleteTaskCall(const std::string& task_id) {
  return RestCall{"DELETE", absl::StrCat("/tasks/", UrlEncode(task_id)), "", {}};
}

RestCall IndexTaskCountsCall(const std::string& index_id) {
  std::string path = "/tasks/status";
  AddQuery(&path, "index_id", index_id);
  return RestCall{"GET", path, "", {}};
}

absl::StatusOr<RestCall> ImportVideosCall(const std::string& integration_id,
                                          const gw::ImportVideosRequest& req) {
  json body = {{"index_id", req.index_id()}};
  if (req.has_incremental_import()) body["incremental_import"] = req.incremental_import();
  if (req.has_retry_failed()) body["retry_failed"] = req.retry_failed();
  if (req.has_user_metadata() && req.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(req.user_metadata(), "user_metadata");
    if (!meta.ok()) return meta.status();
    body["user_metadata"] = json::parse(*meta, nullptr, false);
  }
  return RestCall{"POST", absl::StrCat("/tasks/transfers/import/", UrlEncode(integration_id)),
                  body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

RestCall ImportStatusCall(const std::string& integration_id, const std::string& index_id) {
  std::string path = absl::StrCat("/tasks/transfers/import/", UrlEncode(integration_id), "/status");
  AddQuery(&path, "index_id", index_id);
  return RestCall{"GET", path, "", {}};
}

RestCall ImportLogsCall(const std::string& integration_id) {
  return RestCall{"GET", absl::StrCat("/tasks/transfers/import/", UrlEncode(integration_id), "/logs"),
                  "", {}};
}

// ---- Assets and indexed assets ----------------------------------------------

absl::StatusOr<RestCall> CreateAssetCall(const gw::CreateAssetRequest& req) {
  RestCall call{"POST", "/assets", "", {}};
  call.form.push_back({"method", "url", std::nullopt});
  call.form.push_back({"url", req.url(), std::nullopt});
  if (!req.filename().empty()) call.form.push_back({"filename", req.filename(), std::nullopt});
  if (req.has_enable_hls()) {
    call.form.push_back({"enable_hls", req.enable_hls() ? "true" : "false", std::nullopt});
  }
  if (req.has_enable_thumbnail()) {
    call.form.push_back(
        {"enable_thumbnail", req.enable_thumbnail() ? "true" : "false", std::nullopt});
  }
  // A string holding a JSON object on this endpoint (§9.1).
  if (req.has_user_metadata() && req.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(req.user_metadata(), "user_metadata");
    if (!meta.ok()) return meta.status();
    call.form.push_back({"user_metadata", *meta, std::nullopt});
  }
  return call;
}

RestCall GetAssetCall(const std::string& asset_id) {
  return RestCall{"GET", absl::StrCat("/assets/", UrlEncode(asset_id)), "", {}};
}

RestCall ListAssetsCall(const gw::ListAssetsRequest& req, int page, int page_limit) {
  std::string path = "/assets";
  AddQuery(&path, "page", std::to_string(page));
  AddQuery(&path, "page_limit", std::to_string(page_limit));
  for (const std::string& id : req.asset_ids()) AddQuery(&path, "asset_ids", id);
  for (int t : req.asset_types()) {
    std::string text = AssetTypeText(static_cast<gw::AssetType>(t));
    if (!text.empty()) AddQuery(&path, "asset_types", text);
  }
  if (!req.filename().empty()) AddQuery(&path, "filename", req.filename());
  return RestCall{"GET", path, "", {}};
}

RestCall DeleteAssetCall(const std::string& asset_id, bool force) {
  std::string path = absl::StrCat("/assets/", UrlEncode(asset_id));
  // Only when asked: without it upstream answers 409 for a referenced asset.
  if (force) AddQuery(&path, "force", "true");
  return RestCall{"DELETE", path, "", {}};
}

RestCall AssetIndexedAssetsCall(const std::string& asset_id, int page, int page_limit) {
  std::string path = absl::StrCat("/assets/", UrlEncode(asset_id), "/indexed-assets");
  AddQuery(&path, "page", std::to_string(page));
  AddQuery(&path, "page_limit", std::to_string(page_limit));
  return RestCall{"GET", path, "", {}};
}

absl::StatusOr<RestCall> CreateIndexedAssetCall(const gw::IndexAssetRequest& req) {
  json body = {{"asset_id", req.asset_id()}};
  if (req.has_enable_video_stream()) body["enable_video_stream"] = req.enable_video_stream();
  // A JSON object on this endpoint, not a string.
  if (req.has_user_metadata() && req.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(req.user_metadata(), "user_metadata");
    if (!meta.ok()) return meta.status();
    body["user_metadata"] = json::parse(*meta, nullptr, false);
  }
  return RestCall{"POST", absl::StrCat("/indexes/", UrlEncode(req.index_id()), "/indexed-assets"),
                  body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

RestCall GetIndexedAssetCall(const std::string& index_id, const std::string& indexed_asset_id) {
  return RestCall{"GET",
                  absl::StrCat("/indexes/", UrlEncode(index_id), "/indexed-assets/",
                               UrlEncode(indexed_asset_id)),
                  "", {}};
}

namespace {

// Whole numbers without a fraction: width, height and size are integers
// upstream, and "640" is what its docs' examples send.
std::string FormatFilterNumber(double d) {
  if (std::fabs(d) < 9.0e15 && d == std::floor(d)) return std::to_string(static_cast<int64_t>(d));
  return FormatNumber(d);
}

void AddRange(std::string* path, absl::string_view field, const gw::NumberRange& r) {
  if (r.has_equal()) AddQuery(path, field, FormatFilterNumber(r.equal()));
  if (r.has_min()) AddQuery(path, absl::StrCat(field, "[gte]"), FormatFilterNumber(r.min()));
  if (r.has_max()) AddQuery(path, absl::StrCat(field, "[lte]"), FormatFilterNumber(r.max()));
}

void AddTimeRange(std::string* path, absl::string_view field, const gw::TimeRange& r) {
  if (r.has_on_day_from()) AddQuery(path, field, FormatRfc3339(r.on_day_from()));
  if (r.has_start_time()) AddQuery(path, absl::StrCat(field, "[gte]"), FormatRfc3339(r.start_time()));
  if (r.has_end_time()) AddQuery(path, absl::StrCat(field, "[lte]"), FormatRfc3339(r.end_time()));
}

}  // namespace

RestCall ListIndexedAssetsCall(const gw::ListIndexedAssetsRequest& req, int page, int page_limit) {
  std::string path = absl::StrCat("/indexes/", UrlEncode(req.index_id()), "/indexed-assets");
  AddQuery(&path, "page", std::to_string(page));
  AddQuery(&path, "page_limit", std::to_string(page_limit));
  if (req.sort_by() == gw::INDEXED_ASSET_SORT_FIELD_CREATE_TIME) AddQuery(&path, "sort_by", "created_at");
  if (req.sort_by() == gw::INDEXED_ASSET_SORT_FIELD_UPDATE_TIME) AddQuery(&path, "sort_by", "updated_at");
  if (req.sort_order() == gw::SORT_ORDER_ASCENDING) AddQuery(&path, "sort_option", "asc");
  if (req.sort_order() == gw::SORT_ORDER_DESCENDING) AddQuery(&path, "sort_option", "desc");
  for (int s : req.statuses()) {
    std::string text = IndexedAssetStatusText(static_cast<gw::IndexedAssetStatus>(s));
    if (!text.empty()) AddQuery(&path, "status", text);
  }
  if (!req.filename().empty()) AddQuery(&path, "filename", req.filename());
  AddRange(&path, "duration", req.duration_seconds());
  AddRange(&path, "fps", req.fps());
  AddRange(&path, "width", req.width());
  AddRange(&path, "height", req.height());
  AddRange(&path, "size", req.size_bytes());
  AddTimeRange(&path, "created_at", req.create_time());
  AddTimeRange(&path, "updated_at", req.update_time());
  // Sorted (a proto map has no order), so the same request gives the same
  // URL. Plain `key=value`: upstream reads any other key as user metadata.
  std::vector<std::pair<std::string, std::string>> meta(req.user_metadata().begin(),
                                                        req.user_metadata().end());
  std::sort(meta.begin(), meta.end());
  for (const auto& [key, value] : meta) AddQuery(&path, UrlEncode(key), value);
  return RestCall{"GET", path, "", {}};
}

RestCall DeleteIndexedAssetCall(const std::string& index_id, const std::string& indexed_asset_id) {
  return RestCall{"DELETE",
                  absl::StrCat("/indexes/", UrlEncode(index_id), "/indexed-assets/",
                               UrlEncode(indexed_asset_id)),
                  "", {}};
}

}  // namespace tlgw
