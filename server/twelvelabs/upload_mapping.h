// The REST side of uploading a local file as an asset (docs/upstream-api.md
// §9.1 `method=direct` and §9.4 multipart-upload sessions): the requests
// and the parsing of their answers. Pure functions like requests.h and
// json_mapping.h; kept apart from them so the upload path reads in one place.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_UPLOAD_MAPPING_H_
#define TL_GATEWAY_SERVER_TWELVELABS_UPLOAD_MAPPING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/twelvelabs/requests.h"
#include "server/upstream/http.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"

namespace tlgw {

// One presigned PUT URL of a session (absolute; single use; expiring).
struct PresignedUrl {
  int chunk_index = 0;  // 1-based
  std::string url;
  absl::Time expires_at = absl::InfiniteFuture();
};

// The 201 of `POST /assets/multipart-uploads`.
struct MultipartSession {
  std::string upload_id;
  std::string asset_id;
  int64_t chunk_size = 0;
  int total_chunks = 0;
  std::vector<PresignedUrl> urls;  // may cover only the first chunks
  absl::Time expires_at = absl::InfiniteFuture();
};

// A chunk upstream took: its ETag (quotes stripped) is the proof reported.
struct CompletedChunk {
  int chunk_index = 0;
  std::string etag;
  int64_t size = 0;
};

// The 200 of `POST /assets/multipart-uploads/{id}` (a report).
struct ChunkReport {
  std::string asset_id;
  int processed = 0;
  int duplicates = 0;
  int total_completed = 0;
  bool all_reported = false;  // upstream sent `url`: every chunk is in
};

// One page of `GET /assets/multipart-uploads/{id}`: the session's fields
// (completed_chunks and resume_offset not filled) and the indexes of this
// page's completed chunks.
struct UploadPage {
  twelvelabs::gateway::v1::Upload upload;
  std::vector<int> completed;
  int64_t page = 0;
  int64_t total_pages = 0;
};

// The most URLs one `/presigned-urls` call hands out (§9.4).
inline constexpr int kMaxPresignedUrlsPerCall = 50;
// The most chunks one page of the session lists.
inline constexpr int kMaxUploadPageLimit = 50;

// `POST /assets` (method=direct) with `source` as the `file` part, exactly
// header.size_bytes() bytes. INVALID_ARGUMENT for refused user_metadata.
absl::StatusOr<RestCall> UploadAssetDirectCall(const twelvelabs::gateway::v1::UploadAssetHeader& header,
                                               std::shared_ptr<BodySource> source);
// `POST /assets/multipart-uploads` (JSON; user_metadata as an object).
absl::StatusOr<RestCall> CreateMultipartUploadCall(const twelvelabs::gateway::v1::UploadAssetHeader& header);
RestCall PresignedUrlsCall(const std::string& upload_id, int start, int count);
RestCall ReportChunksCall(const std::string& upload_id, const std::vector<CompletedChunk>& chunks);
RestCall GetUploadCall(const std::string& upload_id, int page, int page_limit);

absl::StatusOr<MultipartSession> ParseMultipartSession(absl::string_view body);
// `{"upload_urls": [...]}` of `/presigned-urls`.
absl::StatusOr<std::vector<PresignedUrl>> ParsePresignedUrls(absl::string_view body);
absl::StatusOr<ChunkReport> ParseChunkReport(absl::string_view body);
absl::StatusOr<UploadPage> ParseUploadPage(absl::string_view body);

// Fills `upload`'s completed_chunks (runs of `completed`, any order,
// duplicates allowed) and resume_offset (the first missing chunk's offset).
void SetCompletedChunks(std::vector<int> completed, twelvelabs::gateway::v1::Upload* upload);

// The ETag of a presigned PUT's answer without its quotes (and a weak
// validator's W/); "" when there is none.
std::string EtagOf(const HttpResponse& response);

twelvelabs::gateway::v1::UploadStatus UploadStatusFromText(absl::string_view text);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_UPLOAD_MAPPING_H_
