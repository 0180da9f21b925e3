#include "sim/assets.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/common.h"
#include "sim/multipart.h"

namespace tlsim {
namespace {

using nlohmann::json;

// §9.1 and §9.4: images are capped at 32 MB; multipart video/audio at
// "10 GB", read here as 10 GiB (the generous reading, so a 10 GiB file fits).
constexpr uint64_t kMaxImageBytes = uint64_t{32} << 20;
constexpr uint64_t kMaxMultipartBytes = uint64_t{10} << 30;
constexpr int kMaxUrlsPerRequest = 50;
constexpr size_t kMaxFilenameChars = 255;

ApiResponse NotFound(absl::string_view what, absl::string_view id) {
  // §9: unknown assets, uploads, indexes and indexed assets are 404.
  return Error(404, "resource_not_exist", absl::StrCat("The ", what, " ", id, " does not exist."));
}

// MIME type and kind from the file name's extension; the part's own
// Content-Type when the extension says nothing; video/mp4 otherwise.
std::pair<std::string, std::string> FileTypeOf(absl::string_view filename,
                                               absl::string_view part_type) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".mp4", "video/mp4"},   {".mov", "video/quicktime"}, {".mkv", "video/x-matroska"},
      {".webm", "video/webm"}, {".avi", "video/x-msvideo"}, {".mp3", "audio/mpeg"},
      {".wav", "audio/wav"},   {".m4a", "audio/mp4"},       {".flac", "audio/flac"},
      {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},     {".png", "image/png"},
      {".webp", "image/webp"}};
  const std::string lower = absl::AsciiStrToLower(filename);
  std::string mime;
  for (const auto& [ext, type] : kTypes) {
    if (absl::EndsWith(lower, ext)) mime = type;
  }
  if (mime.empty() && (absl::StartsWith(part_type, "video/") ||
                       absl::StartsWith(part_type, "audio/") ||
                       absl::StartsWith(part_type, "image/"))) {
    mime = std::string(part_type);
  }
  if (mime.empty()) mime = "video/mp4";
  return {mime, mime.substr(0, mime.find('/'))};
}

// FNV-1a, stable across runs.
uint64_t StableHash(absl::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

double FpsFor(absl::string_view source) {
  static constexpr double kFps[] = {24, 25, 29.97, 30, 60};
  return kFps[StableHash(source) % 5];
}

std::string StripQuotes(absl::string_view etag) {
  absl::ConsumePrefix(&etag, "\"");
  absl::ConsumeSuffix(&etag, "\"");
  return std::string(etag);
}

// Reads a required or optional non-negative integer member.
bool JsonUint(const json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

std::optional<ApiResponse> CheckFilename(const std::string& filename) {
  if (filename.empty() || filename.size() > kMaxFilenameChars) {
    return Invalid("filename", "it must be 1 to 255 characters");
  }
  return std::nullopt;
}

// The value of a user-metadata filter as the query spells it.
bool MetadataMatches(const json& metadata, const std::string& key, const std::string& want) {
  if (!metadata.is_object()) return false;
  auto it = metadata.find(key);
  if (it == metadata.end()) return false;
  if (it->is_string()) return it->get<std::string>() == want;
  if (it->is_boolean()) return absl::EqualsIgnoreCase(want, it->get<bool>() ? "true" : "false");
  double d = 0;
  return it->is_number() && absl::SimpleAtod(want, &d) && std::abs(it->get<double>() - d) < 1e-9;
}

}  // namespace

namespace {
constexpr EnumName<AssetStatus> kAssetStatusNames[] = {
    {AssetStatus::kProcessing, "processing"},
    {AssetStatus::kReady, "ready"},
    {AssetStatus::kFailed, "failed"},
};
}  // namespace

const char* AssetStatusName(AssetStatus status) { return NameOf(kAssetStatusNames, status); }

std::optional<AssetStatus> ParseAssetStatus(absl::string_view name) {
  return ValueOf(kAssetStatusNames, name);
}

namespace {
constexpr EnumName<IndexedAssetStatus> kIndexedAssetStatusNames[] = {
    {IndexedAssetStatus::kPending, "pending"},
    {IndexedAssetStatus::kQueued, "queued"},
    {IndexedAssetStatus::kIndexing, "indexing"},
    {IndexedAssetStatus::kReady, "ready"},
    {IndexedAssetStatus::kFailed, "failed"},
};
}  // namespace

const char* IndexedAssetStatusName(IndexedAssetStatus status) {
  return NameOf(kIndexedAssetStatusNames, status);
}

std::optional<IndexedAssetStatus> ParseIndexedAssetStatus(absl::string_view name) {
  return ValueOf(kIndexedAssetStatusNames, name);
}

const std::set<std::string>& AssetFileFieldNames() {
  static const auto* names = new std::set<std::string>{"file"};
  return *names;
}

const std::set<std::string>& AssetValueFieldNames() {
  static const auto* names = new std::set<std::string>{
      "method", "url", "filename", "enable_hls", "enable_thumbnail", "user_metadata"};
  return *names;
}

std::string PresignedAnswer::XmlBody() const {
  if (status < 300) return "";
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>", error_code,
                      "</Code><Message>", error_message, "</Message></Error>");
}

AssetApi::AssetApi(AssetApiOptions options, IndexExists index_exists)
    : options_(std::move(options)), index_exists_(std::move(index_exists)) {}

void AssetApi::Reset() {
  assets_.clear();
  sessions_.clear();
  indexed_.clear();
}

std::string AssetApi::NewId() {
  static constexpr char kHex[] = "0123456789abcdef";
  for (;;) {
    std::string id(24, '0');
    for (char& c : id) c = kHex[absl::Uniform(rng_, 0, 16)];
    if (!assets_.count(id) && !sessions_.count(id) && !indexed_.count(id)) return id;
  }
}

std::string AssetApi::NewSignature() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(64, '0');
  for (char& c : s) c = kHex[absl::Uniform(rng_, 0, 16)];
  return s;
}

ApiResponse AssetApi::Done() const { return EmptyResponse(options_.empty_success_status); }

// ---- Lifecycles -----------------------------------------------------------------

AssetStatus AssetApi::StatusOf(const Asset& asset, absl::Time now) const {
  if (asset.forced.has_value() && now >= asset.forced_at) return *asset.forced;
  if (!asset.arrived_at.has_value()) {
    return now >= asset.upload_deadline ? AssetStatus::kFailed : AssetStatus::kProcessing;
  }
  if (now < *asset.arrived_at + options_.stage) return AssetStatus::kProcessing;
  return asset.broken ? AssetStatus::kFailed : AssetStatus::kReady;
}

AssetApi::IndexedState AssetApi::StateOf(const IndexedAsset& ia, absl::Time now) const {
  if (ia.forced.has_value() && now >= ia.forced_at) return {*ia.forced, ia.forced_at};
  static constexpr IndexedAssetStatus kPath[] = {
      IndexedAssetStatus::kPending, IndexedAssetStatus::kQueued, IndexedAssetStatus::kIndexing,
      IndexedAssetStatus::kReady};
  int64_t stages = 3;
  if (ia.stage > absl::ZeroDuration()) {
    absl::Duration rem;
    stages = absl::IDivDuration(std::max(now - ia.created_at, absl::ZeroDuration()), ia.stage,
                                &rem);
  }
  const int64_t i = std::min<int64_t>(stages, 3);
  if (i == 3 && ia.fails) return {IndexedAssetStatus::kFailed, ia.created_at + ia.stage * 3};
  return {kPath[i], ia.created_at + ia.stage * i};
}

const char* AssetApi::SessionStatus(const Session& s, absl::Time now) {
  if (s.completed_at.has_value()) return "completed";
  if (s.failed) return "failed";
  if (now >= s.expires_at) return "expired";
  return "active";
}

// ---- Rendering ------------------------------------------------------------------

json AssetApi::RenderAsset(const Asset& a, absl::Time now) const {
  const AssetStatus status = StatusOf(a, now);
  json j = {{"_id", a.id},
            {"method", a.method},
            {"status", AssetStatusName(status)},
            {"filename", a.filename},
            {"file_type", a.file_type},
            {"created_at", FormatRfc3339(a.created_at)}};
  if (!a.user_metadata.is_null()) j["user_metadata"] = a.user_metadata;
  const char* side = status == AssetStatus::kReady    ? "ready"
                     : status == AssetStatus::kFailed ? "error"
                                                      : "processing";
  const std::string base = absl::StrCat("https://assets.sim.twelvelabs.invalid/", a.id);
  if (a.enable_hls && a.kind != "image") {
    j["hls"] = {{"status", side}};
    if (status == AssetStatus::kReady) j["hls"]["manifest_url"] = base + "/hls/master.m3u8";
  }
  if (a.enable_thumbnail) {
    j["thumbnail"] = {{"status", side}};
    if (status == AssetStatus::kReady) {
      j["thumbnail"]["representative_url"] = base + "/thumbnail.jpg";
    }
  }
  // §9.2: size, duration and technical metadata are final only at ready.
  if (status == AssetStatus::kReady) {
    j["size"] = a.size;
    json tech = json::object();
    if (a.kind != "image") {
      j["duration"] = a.metadata.duration;
      tech["duration_seconds"] = a.metadata.duration;
      tech["has_audio"] = true;
    }
    if (a.kind == "video") {
      tech["video_width"] = a.metadata.width;
      tech["video_height"] = a.metadata.height;
      tech["video_fps"] = FpsFor(a.id);
      tech["video_codec"] = "h264";
      tech["video_duration_seconds"] = a.metadata.duration;
      tech["audio_codec"] = "aac";
    } else if (a.kind == "audio") {
      tech["audio_codec"] = a.file_type == "audio/mpeg" ? "mp3" : "pcm_s16le";
      tech["audio_sample_rate"] = 48000;
    } else {
      tech["image_width"] = a.metadata.width;
      tech["image_height"] = a.metadata.height;
    }
    j["technical_metadata"] = std::move(tech);
  }
  if (status == AssetStatus::kFailed) {
    std::string message = "The file could not be processed: it is not a valid media file.";
    if (!a.arrived_at.has_value()) {
      message = "The multipart upload expired before every chunk was reported.";
    }
    j["error"] = {{"message", message}};
  }
  return j;
}

json AssetApi::RenderIndexedAsset(const IndexedAsset& ia, absl::Time now) const {
  const IndexedState state = StateOf(ia, now);
  json j = {{"_id", ia.id},
            {"asset_id", ia.asset_id},
            {"created_at", FormatRfc3339(ia.created_at)},
            {"updated_at", FormatRfc3339(state.updated_at)},
            {"status", IndexedAssetStatusName(state.status)},
            {"system_metadata",
             {{"filename", ia.filename},
              {"duration", ia.metadata.duration},
              {"fps", ia.fps},
              {"width", ia.metadata.width},
              {"height", ia.metadata.height},
              {"size", ia.size}}}};
  if (state.status == IndexedAssetStatus::kReady) {
    j["indexed_at"] = FormatRfc3339(state.updated_at);
  }
  if (!ia.user_metadata.is_null()) j["user_metadata"] = ia.user_metadata;
  if (ia.stream) {
    // Task-style HLS, upper-case statuses (§9.5).
    const char* hls = state.status == IndexedAssetStatus::kReady    ? "COMPLETE"
                      : state.status == IndexedAssetStatus::kFailed ? "ERROR"
                                                                    : "PROCESSING";
    const std::string base = absl::StrCat("https://stream.sim.twelvelabs.invalid/", ia.id);
    j["hls"] = {{"video_url", base + "/stream.m3u8"},
                {"thumbnail_urls", json::array({base + "/thumbnails/0.jpg"})},
                {"status", hls},
                {"updated_at", FormatRfc3339(state.updated_at)}};
  }
  return j;
}

uint64_t AssetApi::ChunkSizeOf(const Session& s, int index) const {
  if (index < s.total_chunks) return s.chunk_size;
  return s.total_size - s.chunk_size * static_cast<uint64_t>(s.total_chunks - 1);
}

json AssetApi::UrlJson(const ApiRequest& request, Session& s, int index, absl::Time now) {
  const std::string signature = NewSignature();
  const absl::Time expires = FloorMillis(now + options_.url_ttl);
  s.grants[signature] = Grant{index, expires, false};
  // Shaped like an S3 presigned URL (§9.4); served by the simulator itself.
  return {{"chunk_index", index},
          {"url", absl::StrCat(request.origin, "/uploads/", s.id, "/", index,
                               "?X-Amz-Expires=", absl::ToInt64Seconds(options_.url_ttl),
                               "&X-Amz-Signature=", signature)},
          {"expires_at", FormatRfc3339(expires)}};
}

// ---- Routing --------------------------------------------------------------------

bool AssetApi::IsIndexedAssetCreate(const ApiRequest& request) {
  const std::vector<absl::string_view> seg =
      absl::StrSplit(request.path, '/', absl::SkipEmpty());
  return request.version == ApiVersion::kV1_3 && request.method == "POST" && seg.size() == 3 &&
         seg[0] == "indexes" && seg[2] == "indexed-assets";
}

std::optional<ApiResponse> AssetApi::Handle(const ApiRequest& request, absl::Time now) {
  if (request.version != ApiVersion::kV1_3) return std::nullopt;  // §9 is v1.3 only
  const std::vector<std::string> seg = absl::StrSplit(request.path, '/', absl::SkipEmpty());
  const std::string& m = request.method;
  const size_t n = seg.size();
  if (n >= 1 && seg[0] == "assets") {
    if (n >= 2 && seg[1] == "multipart-uploads") {
      if (n == 2 && m == "POST") return CreateSession(request, now);
      if (n == 2 && m == "GET") return ListSessions(request, now);
      if (n == 3 && m == "POST") return ReportChunks(request, seg[2], now);
      if (n == 3 && m == "GET") return GetSession(request, seg[2], now);
      if (n == 4 && seg[3] == "presigned-urls" && m == "POST") {
        return MoreUrls(request, seg[2], now);
      }
      return std::nullopt;
    }
    if (n == 1 && m == "POST") return CreateAsset(request, now);
    if (n == 1 && m == "GET") return ListAssets(request, now);
    if (n == 2 && m == "GET") return GetAsset(request, seg[1], now);
    if (n == 2 && m == "DELETE") return DeleteAsset(request, seg[1], now);
    if (n == 3 && seg[2] == "indexed-assets" && m == "GET") {
      return AssetIndexedAssets(request, seg[1], now);
    }
    if (n == 3 && seg[2] == "user-metadata" && (m == "PATCH" || m == "PUT" || m == "DELETE")) {
      return AssetUserMetadata(request, seg[1]);
    }
    return std::nullopt;
  }
  if (n >= 3 && seg[0] == "indexes" && seg[2] == "indexed-assets") {
    if (n == 3 && m == "POST") return CreateIndexedAsset(request, seg[1], now);
    if (n == 3 && m == "GET") return ListIndexedAssets(request, seg[1], now);
    if (n == 4 && m == "GET") return GetIndexedAsset(request, seg[1], seg[3], now);
    if (n == 4 && m == "DELETE") return DeleteIndexedAsset(request, seg[1], seg[3]);
    if (n == 4 && m == "PATCH") return PatchIndexedAsset(request, seg[1], seg[3]);
  }
  return std::nullopt;
}

// ---- Assets ---------------------------------------------------------------------

ApiResponse AssetApi::CreateAsset(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!request.multipart) {
    return Error(400, "content_type_invalid",
                 absl::StrCat("POST /assets takes multipart/form-data, not '",
                              request.content_type, "'."));
  }
  std::vector<std::string> names, unknown;
  for (const auto& [name, unused] : request.form) names.push_back(name);
  for (const auto& [name, unused] : request.files) names.push_back(name);
  for (const std::string& name : names) {
    if (!AssetFileFieldNames().count(name) && !AssetValueFieldNames().count(name) &&
        std::find(unknown.begin(), unknown.end(), name) == unknown.end()) {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    return Error(400, "parameter_unknown",
                 absl::StrCat("Unknown parameter(s): ", absl::StrJoin(unknown, ", "), "."));
  }
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) return Invalid(name, "given more than once");
  }
  if (!request.oversized_values.empty()) {
    return Invalid(*request.oversized_values.begin(), "too long");
  }
  std::map<std::string, std::string> form(request.form.begin(), request.form.end());
  auto value = [&form](const char* name) -> const std::string* {
    auto it = form.find(name);
    return it == form.end() ? nullptr : &it->second;
  };
  const UploadedFile* file = nullptr;
  for (const auto& [name, f] : request.files) {
    if (name == "file") file = &f;
  }
  const std::string* method = value("method");
  if (method == nullptr) return NotProvided("method");
  if (*method != "direct" && *method != "url") return Invalid("method", "must be direct or url");
  const std::string* url = value("url");
  Asset a;
  a.method = *method;
  if (*method == "direct") {
    if (file == nullptr) return NotProvided("file");
    if (url != nullptr) return Invalid("url", "not allowed with method=direct");
    if (file->size == 0) return Invalid("file", "the file is empty");
    a.filename = file->filename.empty() ? "file" : file->filename;
    a.size = file->size;
  } else {
    if (url == nullptr) return NotProvided("url");
    if (file != nullptr) return Invalid("file", "not allowed with method=url");
    std::optional<std::string> host = HttpUrlHost(*url);
    if (!host.has_value()) return Invalid("url", "it must be an http(s) URL");
    if (IsYouTubeHost(*host)) {
      return Invalid("url", "it must be a direct link to a raw file; YouTube links are not "
                            "supported");
    }
    a.url = *url;
    a.filename = UrlLastPathSegment(*url);
    if (a.filename.empty()) a.filename = *host;
    // The size of a URL's file is only known once fetched; made up, stably.
    a.size = 1'000'000 + StableHash(*url) % 500'000'000;
  }
  if (const std::string* f = value("filename")) {
    if (auto e = CheckFilename(*f)) return *e;
    a.filename = *f;
  }
  std::tie(a.file_type, a.kind) =
      FileTypeOf(a.filename, file != nullptr ? file->content_type : "");
  if (file != nullptr) {
    // The limits of §9.1; the error code is not documented, so the generic
    // one, with a message that points at multipart uploads.
    const uint64_t limit = a.kind == "image" ? kMaxImageBytes : options_.max_direct_bytes;
    if (file->size > limit) {
      return Invalid("file", absl::StrCat("the file is ", file->size, " bytes; direct uploads take "
                                          "at most ", limit,
                                          " bytes, larger files go through "
                                          "/assets/multipart-uploads"));
    }
  }
  for (auto [name, out] : {std::make_pair("enable_hls", &a.enable_hls),
                           std::make_pair("enable_thumbnail", &a.enable_thumbnail)}) {
    if (const std::string* v = value(name)) {
      std::optional<bool> b = ParseFormBool(*v);
      if (!b) return Invalid(name, "must be true or false");
      *out = *b;
    }
  }
  if (const std::string* v = value("user_metadata")) {
    a.user_metadata = json::parse(*v, nullptr, false);
    if (a.user_metadata.is_discarded() || !IsFlatMetadata(a.user_metadata)) {
      return Invalid("user_metadata",
                     "it must be a JSON object whose values are strings, numbers or booleans");
    }
  }
  a.id = NewId();
  a.seq = next_seq_++;
  a.created_at = FloorMillis(now);
  a.arrived_at = a.created_at;  // every asset starts processing (§9.1, OA26@07-07)
  const std::string source = file != nullptr ? file->sha256 : a.url;
  a.metadata = MetadataFor(a.filename, source);
  a.broken = absl::StrContains(a.filename, "broken") || absl::StrContains(a.url, "broken");
  a.unindexable =
      absl::StrContains(a.filename, "unindexable") || absl::StrContains(a.url, "unindexable");
  Asset& stored = assets_[a.id] = std::move(a);
  return JsonResponse(201, RenderAsset(stored, now));
}

ApiResponse AssetApi::GetAsset(const ApiRequest& request, const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("asset_id");
  auto it = assets_.find(id);
  if (it == assets_.end()) return NotFound("asset", id);
  return JsonResponse(200, RenderAsset(it->second, now));
}

ApiResponse AssetApi::ListAssets(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request,
                               {"page", "page_limit", "asset_ids", "asset_types", "filename"})) {
    return *e;
  }
  Paging paging;
  if (auto e = ParsePaging(request, &paging)) return *e;
  std::optional<std::string> filename;
  if (auto e = SingleQueryValue(request, "filename", &filename)) return *e;
  // Repeated (asset_ids=a&asset_ids=b); comma-joined values are split too.
  std::set<std::string> ids, types;
  for (auto [name, out] : {std::make_pair("asset_ids", &ids), std::make_pair("asset_types", &types)}) {
    auto [b, e] = request.query.equal_range(name);
    for (auto it = b; it != e; ++it) {
      for (absl::string_view v : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
        out->insert(std::string(v));
      }
    }
  }
  for (const std::string& id : ids) {
    if (!IsObjectId(id)) return Invalid("asset_ids", absl::StrCat("'", id, "' is not an id"));
  }
  for (const std::string& t : types) {
    if (t != "video" && t != "audio" && t != "image") {
      return Invalid("asset_types", "each must be image, video or audio");
    }
  }
  const std::string needle = absl::AsciiStrToLower(filename.value_or(""));
  std::vector<const Asset*> rows;
  for (const auto& [id, a] : assets_) {
    if (!ids.empty() && !ids.count(id)) continue;
    if (!types.empty() && !types.count(a.kind)) continue;
    if (!needle.empty() && !absl::StrContains(absl::AsciiStrToLower(a.filename), needle)) continue;
    rows.push_back(&a);
  }
  // Newest first (§9.3).
  std::sort(rows.begin(), rows.end(), [](const Asset* x, const Asset* y) { return x->seq > y->seq; });
  std::vector<json> items;
  for (const Asset* a : rows) items.push_back(RenderAsset(*a, now));
  return JsonResponse(200, PagedList(items, paging));
}

ApiResponse AssetApi::DeleteAsset(const ApiRequest& request, const std::string& id,
                                  absl::Time now) {
  if (auto e = CheckQueryNames(request, {"force"})) return *e;
  std::optional<std::string> force_text;
  if (auto e = SingleQueryValue(request, "force", &force_text)) return *e;
  bool force = false;
  if (force_text) {
    std::optional<bool> b = ParseFormBool(*force_text);
    if (!b) return Invalid("force", "must be true or false");
    force = *b;
  }
  if (!IsObjectId(id)) return Invalid("asset_id");
  auto it = assets_.find(id);
  if (it == assets_.end()) return NotFound("asset", id);
  std::vector<std::string> blockers;
  for (const auto& [ia_id, ia] : indexed_) {
    if (ia.asset_id == id) blockers.push_back(absl::StrCat(ia.index_id, "/", ia_id));
  }
  if (!blockers.empty() && !force) {
    // §9.3 gives the status, not the code; "asset_in_use" is a guess. The
    // message names the blockers (index/indexed-asset) as
    // GET /assets/{id}/indexed-assets would.
    return Error(409, "asset_in_use",
                 absl::StrCat("The asset ", id, " is referenced by indexed asset(s) ",
                              absl::StrJoin(blockers, ", "),
                              "; delete them first or pass force=true."));
  }
  // Forced: the indexed assets stay (they keep their own snapshot of the
  // file's metadata), as the index still holds the embeddings.
  if (!it->second.upload_id.empty()) {
    auto s = sessions_.find(it->second.upload_id);
    if (s != sessions_.end() && !s->second.completed_at.has_value()) s->second.failed = true;
  }
  assets_.erase(it);
  (void)now;
  return Done();
}

ApiResponse AssetApi::AssetIndexedAssets(const ApiRequest& request, const std::string& id,
                                         absl::Time now) {
  if (auto e = CheckQueryNames(request, {"page", "page_limit"})) return *e;
  Paging paging;
  if (auto e = ParsePaging(request, &paging)) return *e;
  if (!IsObjectId(id)) return Invalid("asset_id");
  if (!assets_.count(id)) return NotFound("asset", id);
  std::vector<const IndexedAsset*> rows;
  for (const auto& [ia_id, ia] : indexed_) {
    if (ia.asset_id == id) rows.push_back(&ia);
  }
  std::sort(rows.begin(), rows.end(),
            [](const IndexedAsset* x, const IndexedAsset* y) { return x->seq > y->seq; });
  std::vector<json> items;
  for (const IndexedAsset* ia : rows) {
    json j = RenderIndexedAsset(*ia, now);
    j["index_id"] = ia->index_id;  // needed to act on a blocker
    items.push_back(std::move(j));
  }
  return JsonResponse(200, PagedList(items, paging));
}

ApiResponse AssetApi::AssetUserMetadata(const ApiRequest& request, const std::string& id) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("asset_id");
  auto it = assets_.find(id);
  if (it == assets_.end()) return NotFound("asset", id);
  if (request.method == "DELETE") {
    it->second.user_metadata = nullptr;
    return Done();
  }
  // The body shape is not documented; {"user_metadata": {...}} as the
  // indexed-asset PATCH takes.
  json body;
  if (auto e = ParseJsonObject(request, {"user_metadata"}, &body)) return *e;
  auto md = body.find("user_metadata");
  if (md == body.end()) return NotProvided("user_metadata");
  if (!IsFlatMetadata(*md)) {
    return Invalid("user_metadata", "it must be an object whose values are strings, numbers or "
                                    "booleans");
  }
  json& target = it->second.user_metadata;
  if (request.method == "PUT" || !target.is_object()) {
    target = *md;
  } else {
    target.update(*md);  // PATCH merges
  }
  return Done();
}

// ---- Multipart uploads ----------------------------------------------------------

ApiResponse AssetApi::CreateSession(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  json body;
  if (auto e = ParseJsonObject(request,
                               {"filename", "type", "total_size", "enable_hls",
                                "enable_thumbnail", "user_metadata"},
                               &body)) {
    return *e;
  }
  auto filename = body.find("filename");
  if (filename == body.end()) return NotProvided("filename");
  if (!filename->is_string()) return Invalid("filename", "must be a string");
  if (auto e = CheckFilename(filename->get<std::string>())) return *e;
  auto type = body.find("type");
  if (type == body.end()) return NotProvided("type");
  if (!type->is_string() || (*type != "video" && *type != "audio" && *type != "image")) {
    return Invalid("type", "must be video, audio or image");
  }
  auto total = body.find("total_size");
  if (total == body.end()) return NotProvided("total_size");
  uint64_t total_size = 0;
  if (!JsonUint(*total, &total_size) || total_size == 0) {
    return Invalid("total_size", "must be a positive integer (bytes)");
  }
  const uint64_t limit = *type == "image" ? kMaxImageBytes : kMaxMultipartBytes;
  if (total_size > limit) {
    return Invalid("total_size", absl::StrCat("at most ", limit, " bytes for type ",
                                              type->get<std::string>()));
  }
  Asset a;
  if (auto e = JsonBool(body, "enable_hls", &a.enable_hls)) return *e;
  if (auto e = JsonBool(body, "enable_thumbnail", &a.enable_thumbnail)) return *e;
  if (auto md = body.find("user_metadata"); md != body.end()) {
    // Here a JSON object, unlike POST /assets's string (§9.4).
    if (!IsFlatMetadata(*md)) {
      return Invalid("user_metadata", "it must be an object whose values are strings, numbers "
                                      "or booleans");
    }
    a.user_metadata = *md;
  }
  Session s;
  s.id = NewId();
  s.seq = next_seq_++;
  s.filename = filename->get<std::string>();
  s.type = type->get<std::string>();
  s.total_size = total_size;
  s.chunk_size = options_.chunk_bytes;
  s.total_chunks = static_cast<int>((total_size + s.chunk_size - 1) / s.chunk_size);
  s.created_at = FloorMillis(now);
  s.expires_at = s.created_at + options_.session_ttl;
  s.chunks.resize(s.total_chunks);
  // The asset id is reserved at once (§9.4); the asset shows `processing`
  // until the upload completes and is processed, `failed` if it expires.
  a.id = NewId();
  s.asset_id = a.id;
  a.seq = next_seq_++;
  a.method = "multipart";
  a.filename = s.filename;
  std::tie(a.file_type, a.kind) = FileTypeOf(s.filename, s.type + "/*");
  if (a.kind != s.type) {
    a.kind = s.type;
    a.file_type = s.type == "audio" ? "audio/mpeg" : s.type == "image" ? "image/jpeg" : "video/mp4";
  }
  a.created_at = s.created_at;
  a.upload_deadline = s.expires_at;
  a.upload_id = s.id;
  a.size = total_size;
  a.broken = absl::StrContains(s.filename, "broken");
  a.unindexable = absl::StrContains(s.filename, "unindexable");
  a.metadata = MetadataFor(a.filename, absl::StrCat("multipart:", total_size));
  assets_[a.id] = std::move(a);
  Session& stored = sessions_[s.id] = std::move(s);
  json urls = json::array();
  for (int i = 1; i <= std::min(stored.total_chunks, options_.initial_urls); ++i) {
    urls.push_back(UrlJson(request, stored, i, now));
  }
  return JsonResponse(201, json{{"upload_id", stored.id},
                                {"asset_id", stored.asset_id},
                                {"upload_urls", std::move(urls)},
                                {"upload_headers", json::object()},
                                {"chunk_size", stored.chunk_size},
                                {"total_chunks", stored.total_chunks},
                                {"expires_at", FormatRfc3339(stored.expires_at)}});
}

ApiResponse AssetApi::ListSessions(const ApiRequest& request, absl::Time now) {
  if (auto e = CheckQueryNames(request, {"page", "page_limit"})) return *e;
  Paging paging;
  if (auto e = ParsePaging(request, &paging)) return *e;
  std::vector<const Session*> rows;
  for (const auto& [id, s] : sessions_) {
    // "Incomplete sessions" (§9.4): the ones that can still be finished.
    if (std::string(SessionStatus(s, now)) == "active") rows.push_back(&s);
  }
  std::sort(rows.begin(), rows.end(), [](const Session* x, const Session* y) { return x->seq > y->seq; });
  std::vector<json> items;
  for (const Session* s : rows) {
    int completed = 0;
    for (const Chunk& c : s->chunks) completed += c.report == Chunk::kCompleted;
    items.push_back({{"upload_id", s->id},
                     {"asset_id", s->asset_id},
                     {"filename", s->filename},
                     {"type", s->type},
                     {"status", SessionStatus(*s, now)},
                     {"total_size", s->total_size},
                     {"chunk_size", s->chunk_size},
                     {"total_chunks", s->total_chunks},
                     {"chunks_completed", completed},
                     {"created_at", FormatRfc3339(s->created_at)},
                     {"expires_at", FormatRfc3339(s->expires_at)}});
  }
  return JsonResponse(200, PagedList(items, paging));
}

ApiResponse AssetApi::GetSession(const ApiRequest& request, const std::string& id,
                                 absl::Time now) {
  if (auto e = CheckQueryNames(request, {"page", "page_limit"})) return *e;
  // uploaded_chunks is paged; the page size is not documented, so the
  // usual 10 by default, up to 50.
  Paging paging;
  if (auto e = ParsePaging(request, &paging)) return *e;
  if (!IsObjectId(id)) return Invalid("upload_id");
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return NotFound("upload", id);
  const Session& s = it->second;
  int completed = 0, failed = 0;
  uint64_t uploaded = 0;
  std::vector<json> chunks;
  for (int i = 1; i <= s.total_chunks; ++i) {
    const Chunk& c = s.chunks[i - 1];
    json j = {{"index", i},
              {"status", c.report == Chunk::kCompleted ? "completed"
                         : c.report == Chunk::kFailed  ? "failed"
                                                       : "pending"},
              {"size", ChunkSizeOf(s, i)}};
    if (c.report == Chunk::kCompleted) {
      ++completed;
      uploaded += c.size;
      j["proof"] = StripQuotes(c.etag);
      j["completed_at"] = FormatRfc3339(c.completed_at);
    }
    failed += c.report == Chunk::kFailed;
    chunks.push_back(std::move(j));
  }
  json out = PagedList(chunks, paging, "uploaded_chunks");
  out["upload_id"] = s.id;
  out["asset_id"] = s.asset_id;
  out["filename"] = s.filename;
  out["status"] = SessionStatus(s, now);
  out["total_size"] = s.total_size;
  out["uploaded_size"] = uploaded;
  out["chunk_size"] = s.chunk_size;
  out["total_chunks"] = s.total_chunks;
  out["chunks_completed"] = completed;
  out["chunks_failed"] = failed;
  out["chunks_pending"] = s.total_chunks - completed - failed;
  out["created_at"] = FormatRfc3339(s.created_at);
  out["expires_at"] = FormatRfc3339(s.expires_at);
  return JsonResponse(200, std::move(out));
}

ApiResponse AssetApi::MoreUrls(const ApiRequest& request, const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("upload_id");
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return NotFound("upload", id);
  Session& s = it->second;
  json body;
  if (auto e = ParseJsonObject(request, {"start", "count"}, &body)) return *e;
  auto start_it = body.find("start");
  auto count_it = body.find("count");
  if (start_it == body.end()) return NotProvided("start");
  if (count_it == body.end()) return NotProvided("count");
  uint64_t start = 0, count = 0;
  if (!JsonUint(*start_it, &start) || start < 1 || start > static_cast<uint64_t>(s.total_chunks)) {
    return Invalid("start", absl::StrCat("must be a chunk index from 1 to ", s.total_chunks));
  }
  if (!JsonUint(*count_it, &count) || count < 1 || count > kMaxUrlsPerRequest) {
    return Invalid("count", "must be an integer from 1 to 50");
  }
  const std::string status = SessionStatus(s, now);
  if (status != "active") {
    // Not documented; an expired session "cannot be resumed" (§9.4).
    return Invalid("upload_id", absl::StrCat("the upload session is ", status));
  }
  const int last = static_cast<int>(std::min<uint64_t>(start + count - 1, s.total_chunks));
  json urls = json::array();
  for (int i = static_cast<int>(start); i <= last; ++i) urls.push_back(UrlJson(request, s, i, now));
  return JsonResponse(200, json{{"upload_id", s.id},
                                {"start_index", start},
                                {"count", last - static_cast<int>(start) + 1},
                                {"upload_urls", std::move(urls)},
                                {"generated_at", FormatRfc3339(FloorMillis(now))},
                                {"expires_at", FormatRfc3339(FloorMillis(now + options_.url_ttl))}});
}

ApiResponse AssetApi::ReportChunks(const ApiRequest& request, const std::string& id,
                                   absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (!IsObjectId(id)) return Invalid("upload_id");
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return NotFound("upload", id);
  Session& s = it->second;
  json body;
  if (auto e = ParseJsonObject(request, {"completed_chunks"}, &body)) return *e;
  auto list = body.find("completed_chunks");
  if (list == body.end()) return NotProvided("completed_chunks");
  if (!list->is_array() || list->empty()) {
    return Invalid("completed_chunks", "must be a non-empty array");
  }
  const std::string status = SessionStatus(s, now);
  if (status == "expired" || status == "failed") {
    return Invalid("upload_id", absl::StrCat("the upload session is ", status));
  }
  // Validated whole before anything is applied.
  struct Entry {
    int index;
    std::string proof;
  };
  std::vector<Entry> entries;
  for (const json& c : *list) {
    if (!c.is_object()) return Invalid("completed_chunks", "each entry must be an object");
    for (const auto& item : c.items()) {
      if (item.key() != "chunk_index" && item.key() != "proof" && item.key() != "proof_type" &&
          item.key() != "chunk_size") {
        return Error(400, "parameter_unknown",
                     absl::StrCat("Unknown parameter completed_chunks[].", item.key(), "."));
      }
    }
    auto index = c.find("chunk_index");
    auto proof = c.find("proof");
    uint64_t i = 0;
    if (index == c.end()) return NotProvided("completed_chunks[].chunk_index");
    if (!JsonUint(*index, &i) || i < 1 || i > static_cast<uint64_t>(s.total_chunks)) {
      return Invalid("completed_chunks[].chunk_index",
                     absl::StrCat("must be from 1 to ", s.total_chunks));
    }
    if (proof == c.end()) return NotProvided("completed_chunks[].proof");
    if (!proof->is_string() || proof->get<std::string>().empty()) {
      return Invalid("completed_chunks[].proof", "must be the ETag of the chunk's PUT");
    }
    if (auto pt = c.find("proof_type"); pt != c.end() && *pt != "etag") {
      return Invalid("completed_chunks[].proof_type", "must be etag");
    }
    if (auto size = c.find("chunk_size"); size != c.end()) {
      uint64_t n = 0;
      if (!JsonUint(*size, &n) || n != ChunkSizeOf(s, static_cast<int>(i))) {
        return Invalid("completed_chunks[].chunk_size",
                       absl::StrCat("chunk ", i, " is ", ChunkSizeOf(s, static_cast<int>(i)),
                                    " bytes"));
      }
    }
    entries.push_back({static_cast<int>(i), StripQuotes(proof->get<std::string>())});
  }
  // A proof that does not match what arrived marks the chunk failed (to be
  // PUT again with a fresh URL) and refuses the batch.
  std::vector<std::string> bad;
  for (const Entry& e : entries) {
    Chunk& c = s.chunks[e.index - 1];
    if (c.report == Chunk::kCompleted) continue;  // a duplicate, ignored
    if (!c.stored || StripQuotes(c.etag) != e.proof) {
      c.report = Chunk::kFailed;
      bad.push_back(absl::StrCat(e.index));
    }
  }
  if (!bad.empty()) {
    return Invalid("completed_chunks",
                   absl::StrCat("no upload with that proof arrived for chunk(s) ",
                                absl::StrJoin(bad, ", "), "; PUT them again"));
  }
  int processed = 0, duplicates = 0, total = 0;
  for (const Entry& e : entries) {
    Chunk& c = s.chunks[e.index - 1];
    if (c.report == Chunk::kCompleted) {
      ++duplicates;  // reported before, or twice in this batch
      continue;
    }
    c.report = Chunk::kCompleted;
    c.completed_at = FloorMillis(now);
    ++processed;
  }
  for (const Chunk& c : s.chunks) total += c.report == Chunk::kCompleted;
  json out = {{"asset_id", s.asset_id},
              {"processed_chunks", processed},
              {"duplicate_chunks", duplicates},
              {"total_completed", total}};
  if (total == s.total_chunks) {
    if (!s.completed_at.has_value()) {
      s.completed_at = FloorMillis(now);
      if (auto a = assets_.find(s.asset_id); a != assets_.end()) {
        a->second.arrived_at = s.completed_at;
        a->second.upload_deadline = absl::InfiniteFuture();
      }
    }
    out["url"] = absl::StrCat("https://assets.sim.twelvelabs.invalid/", s.asset_id, "/",
                              s.filename);
  }
  return JsonResponse(200, std::move(out));
}

// ---- Presigned PUTs -------------------------------------------------------------

bool AssetApi::IsPresignedPath(absl::string_view path) {
  return absl::StartsWith(path, "/uploads/");
}

std::optional<PresignedAnswer> AssetApi::BeginChunkPut(absl::string_view path,
                                                       absl::string_view signature,
                                                       absl::Time now, ChunkPut* put) {
  auto fail = [](int status, const char* code, std::string message) {
    PresignedAnswer a;
    a.status = status;
    a.error_code = code;
    a.error_message = std::move(message);
    return a;
  };
  const std::vector<std::string> seg = absl::StrSplit(path, '/', absl::SkipEmpty());
  int index = 0;
  if (seg.size() != 3 || !absl::SimpleAtoi(seg[2], &index)) {
    return fail(404, "NoSuchKey", "The specified key does not exist.");
  }
  auto it = sessions_.find(seg[1]);
  if (it == sessions_.end() || index < 1 || index > it->second.total_chunks) {
    return fail(404, "NoSuchUpload", "The specified multipart upload does not exist.");
  }
  Session& s = it->second;
  auto grant = s.grants.find(std::string(signature));
  if (grant == s.grants.end() || grant->second.index != index) {
    return fail(403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.");
  }
  if (grant->second.used) {
    // §9.4: each URL is single-use.
    return fail(403, "AccessDenied", "This presigned URL was already used.");
  }
  if (now >= grant->second.expires_at) return fail(403, "AccessDenied", "Request has expired");
  const std::string status = SessionStatus(s, now);
  if (status != "active") {
    return fail(404, "NoSuchUpload",
                absl::StrCat("The multipart upload is ", status, " and takes no more parts."));
  }
  put->upload_id = s.id;
  put->index = index;
  put->expected_size = ChunkSizeOf(s, index);
  put->signature = std::string(signature);
  return std::nullopt;
}

PresignedAnswer AssetApi::FinishChunkPut(const ChunkPut& put, uint64_t size,
                                         const std::string& sha256, absl::Time now) {
  PresignedAnswer a;
  auto it = sessions_.find(put.upload_id);
  if (it == sessions_.end()) {  // reset meanwhile
    a.status = 404;
    a.error_code = "NoSuchUpload";
    a.error_message = "The specified multipart upload does not exist.";
    return a;
  }
  Session& s = it->second;
  Grant& grant = s.grants[put.signature];
  if (grant.used) {  // a concurrent PUT on the same URL won
    a.status = 403;
    a.error_code = "AccessDenied";
    a.error_message = "This presigned URL was already used.";
    return a;
  }
  if (size != put.expected_size) {
    // S3 would take any size and fail the completion; refusing the PUT
    // points at the culprit at once. The URL stays usable.
    a.status = 400;
    a.error_code = size < put.expected_size ? "EntityTooSmall" : "EntityTooLarge";
    a.error_message = absl::StrCat("Chunk ", put.index, " must be exactly ", put.expected_size,
                                   " bytes; got ", size, ".");
    return a;
  }
  grant.used = true;
  Chunk& c = s.chunks[put.index - 1];
  // S3 ETags are a quoted MD5; the simulator derives its own from the
  // SHA-256 it computes anyway, so each byte is hashed once.
  a.etag = absl::StrCat("\"", sha256.substr(0, 32), "\"");
  if (c.report != Chunk::kCompleted) {
    // A reported chunk is what the asset is assembled from; a later PUT of
    // it is answered but changes nothing.
    c.stored = true;
    c.size = size;
    c.sha256 = sha256;
    c.etag = a.etag;
    if (c.report == Chunk::kFailed) c.report = Chunk::kPending;
  }
  (void)now;
  return a;
}

// ---- Indexed assets -------------------------------------------------------------

std::optional<ApiResponse> AssetApi::CheckIndex(const std::string& index_id) const {
  if (!IsObjectId(index_id)) return Invalid("index_id");
  if (!index_exists_(index_id)) return NotFound("index", index_id);
  return std::nullopt;
}

ApiResponse AssetApi::CreateIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                         absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (auto e = CheckIndex(index_id)) return *e;
  json body;
  if (auto e = ParseJsonObject(request, {"asset_id", "enable_video_stream", "user_metadata"},
                               &body)) {
    return *e;
  }
  auto asset_id = body.find("asset_id");
  if (asset_id == body.end()) return NotProvided("asset_id");
  if (!asset_id->is_string() || !IsObjectId(asset_id->get<std::string>())) {
    return Invalid("asset_id");
  }
  auto asset = assets_.find(asset_id->get<std::string>());
  if (asset == assets_.end()) return NotFound("asset", asset_id->get<std::string>());
  IndexedAsset ia;
  if (auto e = JsonBool(body, "enable_video_stream", &ia.stream)) return *e;
  if (auto md = body.find("user_metadata"); md != body.end()) {
    if (!IsFlatMetadata(*md)) {
      return Invalid("user_metadata", "it must be an object whose values are strings, numbers "
                                      "or booleans");
    }
    ia.user_metadata = *md;
  }
  const AssetStatus status = StatusOf(asset->second, now);
  if (status != AssetStatus::kReady) {
    // §9.5: the asset must be ready; the error is not documented, 400
    // parameter_invalid is the doc's own guess.
    return Invalid("asset_id", absl::StrCat("the asset is ", AssetStatusName(status),
                                            "; only ready assets can be indexed"));
  }
  const Asset& a = asset->second;
  ia.id = NewId();
  ia.seq = next_seq_++;
  ia.index_id = index_id;
  ia.asset_id = a.id;
  ia.created_at = FloorMillis(now);
  ia.stage = options_.stage;
  ia.fails = a.unindexable;
  ia.filename = a.filename;
  ia.metadata = a.metadata;
  ia.fps = a.kind == "video" ? FpsFor(a.id) : 0;
  ia.size = a.size;
  const std::string id = ia.id;
  indexed_[id] = std::move(ia);
  return JsonResponse(202, json{{"_id", id}, {"asset_id", a.id}});
}

ApiResponse AssetApi::GetIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                      const std::string& id, absl::Time now) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (auto e = CheckIndex(index_id)) return *e;
  if (!IsObjectId(id)) return Invalid("indexed_asset_id");
  auto it = indexed_.find(id);
  if (it == indexed_.end() || it->second.index_id != index_id) {
    return NotFound("indexed asset", id);
  }
  return JsonResponse(200, RenderIndexedAsset(it->second, now));
}

ApiResponse AssetApi::ListIndexedAssets(const ApiRequest& request, const std::string& index_id,
                                        absl::Time now) {
  if (auto e = CheckIndex(index_id)) return *e;
  Paging paging;
  if (auto e = ParsePaging(request, &paging)) return *e;
  static const std::set<std::string> kRangeFields = {"duration", "fps", "width", "height", "size"};
  static const std::set<std::string> kPlain = {"page",        "page_limit", "sort_by",
                                               "sort_option", "status",     "filename",
                                               "created_at",  "updated_at"};
  // Numeric filters: exact (field=) or ranges (field[gte]=, field[lte]=).
  struct Range {
    std::optional<double> eq, gte, lte;
  };
  std::map<std::string, Range> ranges;
  struct TimeRange {
    std::optional<absl::Time> day, gte, lte;
  };
  std::map<std::string, TimeRange> times;
  std::map<std::string, std::string> metadata_filters;
  std::set<IndexedAssetStatus> statuses;
  std::vector<std::string> unknown;
  for (const auto& [name, value] : request.query) {
    std::string field = name;
    std::string op;
    if (size_t b = name.find('['); b != std::string::npos && absl::EndsWith(name, "]")) {
      field = name.substr(0, b);
      op = name.substr(b + 1, name.size() - b - 2);
    }
    const bool is_time = field == "created_at" || field == "updated_at";
    if (kRangeFields.count(field) || (is_time && !op.empty())) {
      if (!op.empty() && op != "gte" && op != "lte") {
        unknown.push_back(name);
        continue;
      }
      if (is_time) {
        std::optional<absl::Time> t = ParseRfc3339(value);
        if (!t) return Invalid(name, "must be an RFC 3339 date-time");
        (op == "gte" ? times[field].gte : times[field].lte) = *t;
        continue;
      }
      double d = 0;
      if (!absl::SimpleAtod(value, &d)) return Invalid(name, "must be a number");
      Range& r = ranges[field];
      (op.empty() ? r.eq : op == "gte" ? r.gte : r.lte) = d;
    } else if (name == "status") {
      std::optional<IndexedAssetStatus> st = ParseIndexedAssetStatus(value);
      if (!st) return Invalid("status", absl::StrCat("unknown status '", value, "'"));
      statuses.insert(*st);
    } else if (is_time) {
      std::optional<absl::Time> t = ParseRfc3339(value);
      if (!t) return Invalid(name, "must be an RFC 3339 date-time");
      times[field].day = *t;
    } else if (kPlain.count(name)) {
      continue;  // read below
    } else if (op.empty() && name.find('[') == std::string::npos) {
      // §9.5: any other plain key filters on user metadata.
      metadata_filters[name] = value;
    } else {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    return Error(400, "parameter_unknown",
                 absl::StrCat("Unknown parameter(s): ", absl::StrJoin(unknown, ", "), "."));
  }
  std::map<std::string, std::optional<std::string>> q;
  for (const char* name : {"sort_by", "sort_option", "filename", "created_at", "updated_at"}) {
    if (auto e = SingleQueryValue(request, name, &q[name])) return *e;
  }
  const std::string sort_by = q["sort_by"].value_or("created_at");
  if (sort_by != "created_at" && sort_by != "updated_at") {
    return Invalid("sort_by", "must be created_at or updated_at");
  }
  const std::string sort_option = q["sort_option"].value_or("desc");
  if (sort_option != "asc" && sort_option != "desc") {
    return Invalid("sort_option", "must be asc or desc");
  }
  // Case-insensitive substring, as GET /assets does (§9.3; §9.5 is silent).
  const std::string needle = absl::AsciiStrToLower(q["filename"].value_or(""));
  struct Row {
    const IndexedAsset* ia;
    absl::Time key;
  };
  std::vector<Row> rows;
  for (const auto& [id, ia] : indexed_) {
    if (ia.index_id != index_id) continue;
    const IndexedState state = StateOf(ia, now);
    if (!statuses.empty() && !statuses.count(state.status)) continue;
    if (!needle.empty() && !absl::StrContains(absl::AsciiStrToLower(ia.filename), needle)) {
      continue;
    }
    const std::map<std::string, double> values = {
        {"duration", ia.metadata.duration},
        {"fps", ia.fps},
        {"width", static_cast<double>(ia.metadata.width)},
        {"height", static_cast<double>(ia.metadata.height)},
        {"size", static_cast<double>(ia.size)}};
    bool keep = true;
    for (const auto& [field, r] : ranges) {
      const double v = values.at(field);
      if ((r.eq && std::abs(v - *r.eq) > 1e-3) || (r.gte && v < *r.gte) || (r.lte && v > *r.lte)) {
        keep = false;
      }
    }
    for (const auto& [field, r] : times) {
      const absl::Time t = field == "created_at" ? ia.created_at : state.updated_at;
      if ((r.day && !SameUtcDayAtOrAfter(t, *r.day)) || (r.gte && t < *r.gte) ||
          (r.lte && t > *r.lte)) {
        keep = false;
      }
    }
    for (const auto& [key, want] : metadata_filters) {
      if (!MetadataMatches(ia.user_metadata, key, want)) keep = false;
    }
    if (!keep) continue;
    rows.push_back({&ia, sort_by == "created_at" ? ia.created_at : state.updated_at});
  }
  const bool asc = sort_option == "asc";
  std::sort(rows.begin(), rows.end(), [asc](const Row& a, const Row& b) {
    if (a.key != b.key) return asc ? a.key < b.key : a.key > b.key;
    return asc ? a.ia->seq < b.ia->seq : a.ia->seq > b.ia->seq;
  });
  std::vector<json> items;
  for (const Row& r : rows) items.push_back(RenderIndexedAsset(*r.ia, now));
  return JsonResponse(200, PagedList(items, paging));
}

ApiResponse AssetApi::DeleteIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                         const std::string& id) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (auto e = CheckIndex(index_id)) return *e;
  if (!IsObjectId(id)) return Invalid("indexed_asset_id");
  auto it = indexed_.find(id);
  if (it == indexed_.end() || it->second.index_id != index_id) {
    return NotFound("indexed asset", id);
  }
  // Any status: the doc names no restriction, unlike DELETE /tasks.
  indexed_.erase(it);
  return Done();
}

ApiResponse AssetApi::PatchIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                        const std::string& id) {
  if (auto e = CheckQueryNames(request, {})) return *e;
  if (auto e = CheckIndex(index_id)) return *e;
  if (!IsObjectId(id)) return Invalid("indexed_asset_id");
  auto it = indexed_.find(id);
  if (it == indexed_.end() || it->second.index_id != index_id) {
    return NotFound("indexed asset", id);
  }
  json body;
  if (auto e = ParseJsonObject(request, {"user_metadata"}, &body)) return *e;
  auto md = body.find("user_metadata");
  if (md == body.end()) return NotProvided("user_metadata");
  if (!IsFlatMetadata(*md)) {
    return Invalid("user_metadata", "it must be an object whose values are strings, numbers or "
                                    "booleans");
  }
  json& target = it->second.user_metadata;
  if (!target.is_object()) target = json::object();
  target.update(*md);
  return Done();
}

// ---- Control API ----------------------------------------------------------------

json AssetApi::ConfigJson() const {
  return {{"multipart_chunk_bytes", options_.chunk_bytes},
          {"initial_urls", options_.initial_urls},
          {"url_ttl_seconds", absl::ToDoubleSeconds(options_.url_ttl)},
          {"session_ttl_seconds", absl::ToDoubleSeconds(options_.session_ttl)},
          {"max_direct_bytes", options_.max_direct_bytes},
          {"empty_success_status", options_.empty_success_status}};
}

absl::Status AssetApi::Configure(const json& config) {
  AssetApiOptions o = options_;
  for (const auto& item : config.items()) {
    const std::string& k = item.key();
    const json& v = item.value();
    uint64_t n = 0;
    if (k == "multipart_chunk_bytes" || k == "max_direct_bytes" || k == "initial_urls") {
      if (!JsonUint(v, &n) || n == 0) {
        return absl::InvalidArgumentError(absl::StrCat(k, " must be a positive integer"));
      }
      if (k == "multipart_chunk_bytes") o.chunk_bytes = n;
      if (k == "max_direct_bytes") o.max_direct_bytes = n;
      if (k == "initial_urls") o.initial_urls = static_cast<int>(std::min<uint64_t>(n, 100000));
    } else if (k == "url_ttl_seconds" || k == "session_ttl_seconds") {
      if (!v.is_number() || v.get<double>() <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(k, " must be a number > 0"));
      }
      (k == "url_ttl_seconds" ? o.url_ttl : o.session_ttl) = absl::Seconds(v.get<double>());
    } else if (k == "empty_success_status") {
      if (v != 200 && v != 204) {
        return absl::InvalidArgumentError("empty_success_status must be 200 or 204");
      }
      o.empty_success_status = v.get<int>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown field ", k));
    }
  }
  options_ = o;  // new sessions use it; existing ones keep their chunk size
  return absl::OkStatus();
}

absl::StatusOr<json> AssetApi::UploadDebugJson(const std::string& upload_id,
                                               absl::Time now) const {
  auto it = sessions_.find(upload_id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("no upload ", upload_id));
  const Session& s = it->second;
  json chunks = json::array();
  // The assembled digest, chunk by chunk in index order: SHA-256 over the
  // chunks' binary SHA-256 digests (as S3's multipart ETag is over MD5s).
  // The file's own SHA-256 would need the chunks' bytes in order, which the
  // simulator never keeps.
  Sha256 composite;
  uint64_t size = 0;
  bool complete = true;
  for (int i = 1; i <= s.total_chunks; ++i) {
    const Chunk& c = s.chunks[i - 1];
    json j = {{"index", i},
              {"stored", c.stored},
              {"report", c.report == Chunk::kCompleted ? "completed"
                         : c.report == Chunk::kFailed  ? "failed"
                                                       : "pending"}};
    if (c.stored) {
      j["size"] = c.size;
      j["sha256"] = c.sha256;
      j["etag"] = c.etag;
      const std::string raw = absl::HexStringToBytes(c.sha256);
      composite.Update(raw.data(), raw.size());
      size += c.size;
    } else {
      complete = false;
    }
    chunks.push_back(std::move(j));
  }
  json out = {{"upload_id", s.id},          {"asset_id", s.asset_id},
              {"status", SessionStatus(s, now)}, {"chunk_size", s.chunk_size},
              {"total_size", s.total_size}, {"total_chunks", s.total_chunks},
              {"chunks", std::move(chunks)}};
  if (complete) {
    out["assembled"] = {{"size", size}, {"sha256_of_chunk_sha256s", composite.HexDigest()}};
  } else {
    out["assembled"] = nullptr;
  }
  return out;
}

absl::StatusOr<std::string> AssetApi::ForceAssetStatus(const std::string& id, AssetStatus status,
                                                       absl::Time now) {
  auto it = assets_.find(id);
  if (it == assets_.end()) return absl::NotFoundError(absl::StrCat("no asset ", id));
  it->second.forced = status;
  it->second.forced_at = FloorMillis(now);
  return std::string(AssetStatusName(StatusOf(it->second, now)));
}

absl::StatusOr<std::string> AssetApi::ForceIndexedAssetStatus(const std::string& id,
                                                              IndexedAssetStatus status,
                                                              absl::Time now) {
  auto it = indexed_.find(id);
  if (it == indexed_.end()) return absl::NotFoundError(absl::StrCat("no indexed asset ", id));
  it->second.forced = status;
  it->second.forced_at = FloorMillis(now);
  return std::string(IndexedAssetStatusName(StateOf(it->second, now).status));
}

}  // namespace tlsim
