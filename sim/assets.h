// The v1.3 asset endpoints of docs/upstream-api.md §9: assets (direct, URL
// and multipart uploads), multipart-upload sessions with presigned PUT URLs
// the simulator serves itself, and indexed assets. Transport-free like
// RestApi: a parsed request and the simulated time in, status + JSON out.
// Presigned PUTs come in two calls around the streamed body, so chunk bytes
// are hashed as they arrive and never kept: a chunk is its size, SHA-256 and
// ETag.
//
// Thread-compatible: the server serialises calls under its own mutex.
#ifndef TL_GATEWAY_SIM_ASSETS_H_
#define TL_GATEWAY_SIM_ASSETS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/api_util.h"
#include "sim/model.h"

namespace tlsim {

struct AssetApiOptions {
  // An asset processes for one stage once its bytes are all there; an
  // indexed asset spends one stage in each of pending, queued, indexing.
  absl::Duration stage = absl::Seconds(2);
  // POST /assets method=direct: local files up to 200 MB (§9.1).
  uint64_t max_direct_bytes = 200'000'000;
  // The server's multipart chunk size (§9.4 leaves it to the server; the
  // doc examples use 5 MiB).
  uint64_t chunk_bytes = uint64_t{5} << 20;
  // Presigned URLs handed out with a new session (§9.4: "may cover only the
  // first chunks"); the rest come from /presigned-urls.
  int initial_urls = 10;
  absl::Duration url_ttl = absl::Hours(1);
  absl::Duration session_ttl = absl::Hours(24);
  // Status of a successful DELETE / PATCH / user-metadata call: 204 in the
  // older OpenAPI versions, 200 (no body) in the newest (§9.3, §9.5).
  int empty_success_status = 200;
};

enum class AssetStatus { kProcessing, kReady, kFailed };
enum class IndexedAssetStatus { kPending, kQueued, kIndexing, kReady, kFailed };

const char* AssetStatusName(AssetStatus status);
std::optional<AssetStatus> ParseAssetStatus(absl::string_view name);
const char* IndexedAssetStatusName(IndexedAssetStatus status);
std::optional<IndexedAssetStatus> ParseIndexedAssetStatus(absl::string_view name);

// Multipart part names POST /assets knows.
const std::set<std::string>& AssetFileFieldNames();
const std::set<std::string>& AssetValueFieldNames();

// A chunk PUT that passed the URL checks and may now stream its body.
struct ChunkPut {
  std::string upload_id;
  int index = 0;  // 1-based
  uint64_t expected_size = 0;
  std::string signature;
};

// What a presigned URL answers. Errors are S3-style (XML, code + message).
struct PresignedAnswer {
  int status = 200;
  std::string etag;  // quoted, on success
  std::string error_code;
  std::string error_message;

  std::string XmlBody() const;  // "" on success
};

class AssetApi {
 public:
  using IndexExists = std::function<bool(const std::string&)>;
  AssetApi(AssetApiOptions options, IndexExists index_exists);

  // v1.3 requests whose path is one of §9's; nullopt for any other path
  // (or method), which the caller answers as an unknown endpoint.
  // `request` is authenticated; POST indexed-assets was rate-limited.
  std::optional<ApiResponse> Handle(const ApiRequest& request, absl::Time now);
  static bool IsIndexedAssetCreate(const ApiRequest& request);

  // The path presigned URLs use: /uploads/{upload_id}/{chunk_index}.
  static bool IsPresignedPath(absl::string_view path);
  // Checks a PUT to a presigned URL before its body is read: known upload
  // and chunk, signature issued for this chunk, unused, unexpired, session
  // active. On success fills `*put` and returns nullopt.
  std::optional<PresignedAnswer> BeginChunkPut(absl::string_view path, absl::string_view signature,
                                               absl::Time now, ChunkPut* put);
  // Records the streamed chunk (size and SHA-256 of the body) and spends
  // the URL; a size other than the chunk's is refused and leaves the URL
  // unused.
  PresignedAnswer FinishChunkPut(const ChunkPut& put, uint64_t size, const std::string& sha256,
                                 absl::Time now);

  // Control API.
  nlohmann::json ConfigJson() const;
  // Changes only the keys present; unknown keys are errors.
  absl::Status Configure(const nlohmann::json& config);
  // Every chunk's size, SHA-256 and ETag, and the assembled file's size and
  // composite SHA-256; NotFound for an unknown upload.
  absl::StatusOr<nlohmann::json> UploadDebugJson(const std::string& upload_id, absl::Time now) const;
  absl::StatusOr<std::string> ForceAssetStatus(const std::string& id, AssetStatus status,
                                               absl::Time now);
  absl::StatusOr<std::string> ForceIndexedAssetStatus(const std::string& id,
                                                      IndexedAssetStatus status, absl::Time now);
  void Reset();

 private:
  struct Asset {
    std::string id;
    int64_t seq = 0;
    std::string method;  // direct | url | multipart
    std::string filename;
    std::string file_type;  // MIME
    std::string kind;       // video | audio | image
    std::string url;        // method=url
    absl::Time created_at;
    // When every byte was there: creation, or a multipart session's
    // completion (unset until then).
    std::optional<absl::Time> arrived_at;
    // A multipart asset whose upload never completes fails at this time.
    absl::Time upload_deadline = absl::InfiniteFuture();
    std::string upload_id;
    uint64_t size = 0;
    bool broken = false;       // "broken" in the file name or URL
    bool unindexable = false;  // "unindexable" in the file name or URL
    bool enable_hls = false;
    bool enable_thumbnail = false;
    nlohmann::json user_metadata;  // null or object
    VideoMetadata metadata;
    std::optional<AssetStatus> forced;
    absl::Time forced_at;
  };
  struct Chunk {
    bool stored = false;  // a PUT succeeded
    uint64_t size = 0;
    std::string sha256;
    std::string etag;  // quoted
    enum Report { kPending, kCompleted, kFailed } report = kPending;
    absl::Time completed_at;
  };
  struct Grant {
    int index = 0;
    absl::Time expires_at;
    bool used = false;
  };
  struct Session {
    std::string id;
    int64_t seq = 0;
    std::string asset_id;
    std::string filename;
    std::string type;
    uint64_t total_size = 0;
    uint64_t chunk_size = 0;
    int total_chunks = 0;
    absl::Time created_at;
    absl::Time expires_at;
    std::optional<absl::Time> completed_at;
    bool failed = false;  // its asset was deleted before completion
    std::vector<Chunk> chunks;            // [index - 1]
    std::map<std::string, Grant> grants;  // by signature
  };
  struct IndexedAsset {
    std::string id;
    int64_t seq = 0;
    std::string index_id;
    std::string asset_id;
    absl::Time created_at;
    absl::Duration stage;
    bool fails = false;
    bool stream = false;
    nlohmann::json user_metadata;
    // Snapshot of the asset at indexing time, so a force-deleted asset
    // leaves its indexed assets whole.
    std::string filename;
    VideoMetadata metadata;
    double fps = 0;
    uint64_t size = 0;
    std::optional<IndexedAssetStatus> forced;
    absl::Time forced_at;
  };
  struct IndexedState {
    IndexedAssetStatus status;
    absl::Time updated_at;
  };

  std::string NewId();
  std::string NewSignature();
  AssetStatus StatusOf(const Asset& asset, absl::Time now) const;
  IndexedState StateOf(const IndexedAsset& ia, absl::Time now) const;
  static const char* SessionStatus(const Session& s, absl::Time now);
  nlohmann::json RenderAsset(const Asset& asset, absl::Time now) const;
  nlohmann::json RenderIndexedAsset(const IndexedAsset& ia, absl::Time now) const;
  nlohmann::json UrlJson(const ApiRequest& request, Session& s, int index, absl::Time now);
  uint64_t ChunkSizeOf(const Session& s, int index) const;
  ApiResponse Done() const;  // empty_success_status, no body

  ApiResponse CreateAsset(const ApiRequest& request, absl::Time now);
  ApiResponse GetAsset(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse ListAssets(const ApiRequest& request, absl::Time now);
  ApiResponse DeleteAsset(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse AssetIndexedAssets(const ApiRequest& request, const std::string& id,
                                 absl::Time now);
  ApiResponse AssetUserMetadata(const ApiRequest& request, const std::string& id);
  ApiResponse CreateSession(const ApiRequest& request, absl::Time now);
  ApiResponse ListSessions(const ApiRequest& request, absl::Time now);
  ApiResponse GetSession(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse MoreUrls(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse ReportChunks(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse CreateIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                 absl::Time now);
  ApiResponse GetIndexedAsset(const ApiRequest& request, const std::string& index_id,
                              const std::string& id, absl::Time now);
  ApiResponse ListIndexedAssets(const ApiRequest& request, const std::string& index_id,
                                absl::Time now);
  ApiResponse DeleteIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                 const std::string& id);
  ApiResponse PatchIndexedAsset(const ApiRequest& request, const std::string& index_id,
                                const std::string& id);
  // Checks the index id of an /indexes/{id}/indexed-assets path.
  std::optional<ApiResponse> CheckIndex(const std::string& index_id) const;

  AssetApiOptions options_;
  const IndexExists index_exists_;
  absl::BitGen rng_;
  int64_t next_seq_ = 1;
  std::map<std::string, Asset> assets_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, IndexedAsset> indexed_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_ASSETS_H_
