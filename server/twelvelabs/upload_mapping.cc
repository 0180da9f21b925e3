#include "server/twelvelabs/upload_mapping.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/twelvelabs/error_mapping.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

namespace {

absl::StatusOr<json> Object(absl::string_view body, absl::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MalformedResponse(what, "the body is not valid JSON");
  if (!j.is_object()) return MalformedResponse(what, absl::StrCat("expected an object, got ", j.type_name()));
  return j;
}

// Defensive readers: a missing member leaves the output alone; one of the
// wrong type is an error naming it.
struct Reader {
  const json& j;
  std::string what;
  std::string error;

  const json* Find(const char* key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  void Wrong(const char* key, const char* want) {
    if (error.empty()) error = absl::StrCat(key, " is not ", want);
  }
  bool String(const char* key, std::string* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_string()) return Wrong(key, "a string"), false;
    *out = v->get<std::string>();
    return true;
  }
  bool Int(const char* key, int64_t* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_number_integer() && !v->is_number_unsigned()) return Wrong(key, "an integer"), false;
    *out = v->get<int64_t>();
    return true;
  }
  bool Time(const char* key, absl::Time* out) {
    std::string text;
    if (!String(key, &text)) return false;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, out, &err)) return Wrong(key, "an RFC 3339 time"), false;
    return true;
  }
  bool Timestamp(const char* key, google::protobuf::Timestamp* out) {
    std::string text;
    if (!String(key, &text)) return false;
    auto ts = ParseRfc3339(text);
    if (!ts.ok()) return Wrong(key, "an RFC 3339 time"), false;
    *out = *ts;
    return true;
  }
  absl::Status Done() const { return error.empty() ? absl::OkStatus() : MalformedResponse(what, error); }
};

absl::StatusOr<std::vector<PresignedUrl>> Urls(const json& j, const char* what) {
  std::vector<PresignedUrl> out;
  auto it = j.find("upload_urls");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return MalformedResponse(what, "upload_urls is not an array");
  for (const json& item : *it) {
    if (!item.is_object()) return MalformedResponse(what, "an item of upload_urls is not an object");
    Reader r{item, what};
    PresignedUrl u;
    int64_t index = 0;
    if (!r.Int("chunk_index", &index) && r.error.empty()) r.error = "an upload URL has no chunk_index";
    if (!r.String("url", &u.url) && r.error.empty()) r.error = "an upload URL has no url";
    r.Time("expires_at", &u.expires_at);
    if (auto s = r.Done(); !s.ok()) return s;
    if (index < 1 || index > (int64_t{1} << 30)) return MalformedResponse(what, "chunk_index is out of range");
    // Upstream hands out absolute https URLs (http for a local simulator);
    // anything else is not followed.
    if (!absl::StartsWith(u.url, "https://") && !absl::StartsWith(u.url, "http://")) {
      return MalformedResponse(what, "an upload URL is not an http(s) URL");
    }
    u.chunk_index = static_cast<int>(index);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace

absl::StatusOr<RestCall> UploadAssetDirectCall(const gw::UploadAssetHeader& header,
                                               std::shared_ptr<BodySource> source) {
  RestCall call{"POST", "/assets", "", {}};
  call.form.push_back({"method", "direct", std::nullopt});
  call.form.push_back({"filename", header.filename(), std::nullopt});
  if (header.has_enable_hls()) {
    call.form.push_back({"enable_hls", header.enable_hls() ? "true" : "false", std::nullopt});
  }
  if (header.has_enable_thumbnail()) {
    call.form.push_back({"enable_thumbnail", header.enable_thumbnail() ? "true" : "false", std::nullopt});
  }
  // A string holding a JSON object on this endpoint (§9.1).
  if (header.has_user_metadata() && header.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(header.user_metadata(), "header.user_metadata");
    if (!meta.ok()) return meta.status();
    call.form.push_back({"user_metadata", *meta, std::nullopt});
  }
  FormPart file{"file", "", header.filename()};
  file.source = std::move(source);
  file.size = header.size_bytes();
  call.form.push_back(std::move(file));
  return call;
}

absl::StatusOr<RestCall> CreateMultipartUploadCall(const gw::UploadAssetHeader& header) {
  json body = {{"filename", header.filename()},
               {"type", AssetTypeText(header.type())},
               {"total_size", header.size_bytes()}};
  if (header.has_enable_hls()) body["enable_hls"] = header.enable_hls();
  if (header.has_enable_thumbnail()) body["enable_thumbnail"] = header.enable_thumbnail();
  // A JSON object here, unlike POST /assets's string (§9.4).
  if (header.has_user_metadata() && header.user_metadata().fields_size() > 0) {
    auto meta = UserMetadataJson(header.user_metadata(), "header.user_metadata");
    if (!meta.ok()) return meta.status();
    body["user_metadata"] = json::parse(*meta, nullptr, false);
  }
  return RestCall{"POST", "/assets/multipart-uploads", body.dump(), {}};
}

RestCall PresignedUrlsCall(const std::string& upload_id, int start, int count) {
  return RestCall{"POST", absl::StrCat("/assets/multipart-uploads/", UrlEncode(upload_id), "/presigned-urls"),
                  json{{"start", start}, {"count", count}}.dump(), {}};
}

RestCall ReportChunksCall(const std::string& upload_id, const std::vector<CompletedChunk>& chunks) {
  json list = json::array();
  for (const CompletedChunk& c : chunks) {
    list.push_back({{"chunk_index", c.chunk_index},
                    {"proof", c.etag},
                    {"proof_type", "etag"},
                    {"chunk_size", c.size}});
  }
  return RestCall{"POST", absl::StrCat("/assets/multipart-uploads/", UrlEncode(upload_id)),
                  json{{"completed_chunks", std::move(list)}}.dump(), {}};
}

RestCall GetUploadCall(const std::string& upload_id, int page, int page_limit) {
  return RestCall{"GET",
                  absl::StrCat("/assets/multipart-uploads/", UrlEncode(upload_id), "?page=", page,
                               "&page_limit=", page_limit),
                  "",
                  {}};
}

absl::StatusOr<MultipartSession> ParseMultipartSession(absl::string_view body) {
  constexpr char kWhat[] = "multipart upload";
  auto j = Object(body, kWhat);
  if (!j.ok()) return j.status();
  Reader r{*j, kWhat};
  MultipartSession s;
  int64_t total = 0;
  if (!r.String("upload_id", &s.upload_id) && r.error.empty()) r.error = "upload_id is missing";
  if (!r.String("asset_id", &s.asset_id) && r.error.empty()) r.error = "asset_id is missing";
  if (!r.Int("chunk_size", &s.chunk_size) && r.error.empty()) r.error = "chunk_size is missing";
  if (!r.Int("total_chunks", &total) && r.error.empty()) r.error = "total_chunks is missing";
  r.Time("expires_at", &s.expires_at);
  if (auto st = r.Done(); !st.ok()) return st;
  if (s.chunk_size <= 0) return MalformedResponse(kWhat, "chunk_size is not positive");
  if (total <= 0 || total > (int64_t{1} << 30)) return MalformedResponse(kWhat, "total_chunks is out of range");
  s.total_chunks = static_cast<int>(total);
  auto urls = Urls(*j, kWhat);
  if (!urls.ok()) return urls.status();
  s.urls = *std::move(urls);
  return s;
}

absl::StatusOr<std::vector<PresignedUrl>> ParsePresignedUrls(absl::string_view body) {
  auto j = Object(body, "presigned URLs");
  if (!j.ok()) return j.status();
  return Urls(*j, "presigned URLs");
}

absl::StatusOr<ChunkReport> ParseChunkReport(absl::string_view body) {
  constexpr char kWhat[] = "chunk report";
  auto j = Object(body, kWhat);
  if (!j.ok()) return j.status();
  Reader r{*j, kWhat};
  ChunkReport out;
  int64_t n = 0;
  r.String("asset_id", &out.asset_id);
  if (r.Int("processed_chunks", &n)) out.processed = static_cast<int>(n);
  if (r.Int("duplicate_chunks", &n)) out.duplicates = static_cast<int>(n);
  if (r.Int("total_completed", &n)) out.total_completed = static_cast<int>(n);
  std::string url;
  out.all_reported = r.String("url", &url) && !url.empty();
  if (auto s = r.Done(); !s.ok()) return s;
  return out;
}

gw::UploadStatus UploadStatusFromText(absl::string_view text) {
  if (text == "active") return gw::UPLOAD_STATUS_ACTIVE;
  if (text == "completed") return gw::UPLOAD_STATUS_COMPLETED;
  if (text == "failed") return gw::UPLOAD_STATUS_FAILED;
  if (text == "expired") return gw::UPLOAD_STATUS_EXPIRED;
  return gw::UPLOAD_STATUS_OTHER;
}

absl::StatusOr<UploadPage> ParseUploadPage(absl::string_view body) {
  constexpr char kWhat[] = "multipart upload";
  auto j = Object(body, kWhat);
  if (!j.ok()) return j.status();
  Reader r{*j, kWhat};
  UploadPage out;
  gw::Upload& u = out.upload;
  std::string text;
  int64_t n = 0;
  if (r.String("upload_id", &text)) u.set_upload_id(text);
  if (r.String("asset_id", &text)) u.set_asset_id(text);
  if (r.String("filename", &text)) u.set_filename(text);
  if (r.String("status", &text)) {
    u.set_status(UploadStatusFromText(text));
    u.set_status_text(text);
  } else if (r.error.empty()) {
    r.error = "status is missing";
  }
  if (r.Int("total_size", &n)) u.set_size_bytes(n);
  if (r.Int("chunk_size", &n)) u.set_chunk_size_bytes(n);
  if (r.Int("total_chunks", &n)) u.set_total_chunks(static_cast<int32_t>(n));
  if (r.Int("chunks_completed", &n)) u.set_chunks_completed(static_cast<int32_t>(n));
  if (r.Int("chunks_failed", &n)) u.set_chunks_failed(static_cast<int32_t>(n));
  if (r.Int("chunks_pending", &n)) u.set_chunks_pending(static_cast<int32_t>(n));
  if (r.Int("uploaded_size", &n)) u.set_uploaded_bytes(n);
  r.Timestamp("created_at", u.mutable_create_time());
  r.Timestamp("expires_at", u.mutable_expire_time());
  if (auto s = r.Done(); !s.ok()) return s;
  if (auto chunks = j->find("uploaded_chunks"); chunks != j->end() && !chunks->is_null()) {
    if (!chunks->is_array()) return MalformedResponse(kWhat, "uploaded_chunks is not an array");
    for (const json& c : *chunks) {
      if (!c.is_object()) return MalformedResponse(kWhat, "an item of uploaded_chunks is not an object");
      Reader cr{c, kWhat};
      int64_t index = 0;
      std::string status;
      cr.Int("index", &index);
      cr.String("status", &status);
      if (auto s = cr.Done(); !s.ok()) return s;
      if (status == "completed" && index >= 1 && index <= u.total_chunks()) {
        out.completed.push_back(static_cast<int>(index));
      }
    }
  }
  if (auto info = j->find("page_info"); info != j->end() && info->is_object()) {
    Reader pr{*info, kWhat};
    pr.Int("page", &out.page);
    pr.Int("total_page", &out.total_pages);
    if (auto s = pr.Done(); !s.ok()) return s;
  }
  return out;
}

void SetCompletedChunks(std::vector<int> completed, gw::Upload* upload) {
  std::sort(completed.begin(), completed.end());
  completed.erase(std::unique(completed.begin(), completed.end()), completed.end());
  upload->clear_completed_chunks();
  for (int index : completed) {
    auto& runs = *upload->mutable_completed_chunks();
    if (!runs.empty() && runs.rbegin()->last() + 1 == index) {
      runs.rbegin()->set_last(index);
    } else {
      gw::ChunkRange* run = upload->add_completed_chunks();
      run->set_first(index);
      run->set_last(index);
    }
  }
  // The first chunk upstream lacks; the whole size when it has them all.
  int first_missing = 1;
  if (!upload->completed_chunks().empty() && upload->completed_chunks(0).first() == 1) {
    first_missing = upload->completed_chunks(0).last() + 1;
  }
  const int64_t offset = static_cast<int64_t>(first_missing - 1) * upload->chunk_size_bytes();
  upload->set_resume_offset(std::min(offset, upload->size_bytes()));
}

std::string EtagOf(const HttpResponse& response) {
  std::optional<std::string> etag = response.Header("etag");
  if (!etag) return "";
  absl::string_view v = absl::StripAsciiWhitespace(*etag);
  absl::ConsumePrefix(&v, "W/");
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

}  // namespace tlgw
