// The Twelve Labs REST API as the gateway's services, watch engine and
// create flow see it: typed, asynchronous, and abstract, so that they are
// tested against a fake (tests/support/fake_twelvelabs_api.h) and the
// curl-backed TwelveLabsClient (client.h) is tested against the simulator.
//
// Threading contract, for every method:
//  - It may be called from any thread and never blocks.
//  - `done` runs exactly once, never inline in the call, on the API's
//    completion executor: never on the transport's event thread, so a
//    callback may parse, touch the state store or finish a gRPC reactor
//    without holding up other upstream calls. It must still not wait long.
//  - Failures are absl::Status values already mapped for a gRPC caller
//    (NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED with RetryInfo, ...),
//    with the upstream error code in ErrorInfo, and never contain a key.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_API_H_
#define TL_GATEWAY_SERVER_TWELVELABS_API_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/twelvelabs/api_version.h"
#include "server/twelvelabs/json_mapping.h"
#include "server/twelvelabs/upload_mapping.h"
#include "server/upstream/http.h"
#include "twelvelabs/gateway/v1/asset.pb.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task_service.pb.h"
#include "twelvelabs/gateway/v1/upload_service.pb.h"

namespace tlgw {

// Per-call inputs from the gRPC layer.
struct CallOptions {
  absl::Time deadline = absl::InfiniteFuture();
  std::string api_key;  // never logged
  // When set, counts the requests sent for the call (retries included),
  // for the audit trail.
  std::shared_ptr<std::atomic<int>> upstream_requests;
};

class TwelveLabsApi {
 public:
  template <typename T>
  using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;
  using DoneStatus = absl::AnyInvocable<void(absl::Status)>;

  virtual ~TwelveLabsApi() = default;

  // The API version the upstream URL names; fixed for the API's lifetime.
  virtual ApiVersion version() const = 0;

  // Creates. With a request_id in the request they may be retried inside
  // when nothing can have been created; without one, never.
  virtual void CreateExternalProviderTask(
      const CallOptions& opts, const twelvelabs::gateway::v1::CreateExternalProviderTaskRequest& req,
      Done<CreatedTask> done) = 0;
  virtual void CreateUrlTask(const CallOptions& opts,
                             const twelvelabs::gateway::v1::CreateUrlTaskRequest& req,
                             Done<CreatedTask> done) = 0;
  // Streams `source` as the video_file part; never retried, and limited
  // only by the caller's own deadline (a large file takes long).
  virtual void UploadVideoFile(const CallOptions& opts,
                               const twelvelabs::gateway::v1::UploadVideoFileHeader& header,
                               std::shared_ptr<BodySource> source, Done<CreatedTask> done) = 0;

  // Reads: retried inside on UNAVAILABLE-class failures while the deadline
  // allows.
  virtual void GetTask(const CallOptions& opts, const std::string& task_id,
                       Done<twelvelabs::gateway::v1::Task> done) = 0;
  // Page `page` (1-based) of at most `page_limit` tasks matching `req`'s
  // filters (its page_size and page_token are ignored).
  virtual void ListTasks(const CallOptions& opts, const twelvelabs::gateway::v1::ListTasksRequest& req,
                         int page, int page_limit, Done<TaskPage> done) = 0;
  virtual void DeleteTask(const CallOptions& opts, const std::string& task_id, DoneStatus done) = 0;
  virtual void GetIndexTaskCounts(const CallOptions& opts, const std::string& index_id,
                                  Done<twelvelabs::gateway::v1::IndexTaskCounts> done) = 0;

  virtual void ImportVideos(const CallOptions& opts, const std::string& integration_id,
                            const twelvelabs::gateway::v1::ImportVideosRequest& req,
                            Done<twelvelabs::gateway::v1::ImportVideosResponse> done) = 0;
  virtual void GetImportStatus(const CallOptions& opts, const std::string& integration_id,
                               const std::string& index_id,
                               Done<twelvelabs::gateway::v1::ImportStatus> done) = 0;
  virtual void ListImportLogs(const CallOptions& opts, const std::string& integration_id,
                              Done<twelvelabs::gateway::v1::ListImportLogsResponse> done) = 0;

  // Assets and indexed assets (docs/upstream-api.md §9). Only API v1.3 has them:
  // on v1.2 every one answers FAILED_PRECONDITION naming v1.3 without
  // asking upstream. Creates and reads follow the rules above.
  // `POST /assets` with method=url; the reply is the new asset.
  virtual void CreateAsset(const CallOptions& opts,
                           const twelvelabs::gateway::v1::CreateAssetRequest& req,
                           Done<twelvelabs::gateway::v1::Asset> done) = 0;
  virtual void GetAsset(const CallOptions& opts, const std::string& asset_id,
                        Done<twelvelabs::gateway::v1::Asset> done) = 0;
  // Page `page` (1-based) of at most `page_limit` assets matching `req`'s
  // filters (its page_size and page_token are ignored).
  virtual void ListAssets(const CallOptions& opts,
                          const twelvelabs::gateway::v1::ListAssetsRequest& req, int page,
                          int page_limit, Done<AssetPage> done) = 0;
  // Without `force`, an asset an indexed asset refers to is not deleted:
  // FAILED_PRECONDITION (upstream's 409), with the upstream code in ErrorInfo.
  virtual void DeleteAsset(const CallOptions& opts, const std::string& asset_id, bool force,
                           DoneStatus done) = 0;
  // `GET /assets/{id}/indexed-assets`: the indexed assets that refer to the
  // asset (what blocks its delete), each with its index id when upstream
  // gives it.
  virtual void ListAssetIndexedAssets(const CallOptions& opts, const std::string& asset_id,
                                      int page, int page_limit, Done<IndexedAssetPage> done) = 0;
  // `POST /indexes/{id}/indexed-assets` (202); the asset must be ready.
  virtual void CreateIndexedAsset(const CallOptions& opts,
                                  const twelvelabs::gateway::v1::IndexAssetRequest& req,
                                  Done<CreatedIndexedAsset> done) = 0;
  virtual void GetIndexedAsset(const CallOptions& opts, const std::string& index_id,
                               const std::string& indexed_asset_id,
                               Done<twelvelabs::gateway::v1::IndexedAsset> done) = 0;
  // As ListAssets, for `req.index_id()`.
  virtual void ListIndexedAssets(const CallOptions& opts,
                                 const twelvelabs::gateway::v1::ListIndexedAssetsRequest& req,
                                 int page, int page_limit, Done<IndexedAssetPage> done) = 0;
  virtual void DeleteIndexedAsset(const CallOptions& opts, const std::string& index_id,
                                  const std::string& indexed_asset_id, DoneStatus done) = 0;

  // ---- Uploads of local files as assets (§9.1 direct, §9.4 multipart) ----
  // `POST /assets` with method=direct, `source` streamed as the file part
  // (exactly header.size_bytes() bytes); never retried, limited only by the
  // caller's deadline, as UploadVideoFile.
  virtual void UploadAssetDirect(const CallOptions& opts,
                                 const twelvelabs::gateway::v1::UploadAssetHeader& header,
                                 std::shared_ptr<BodySource> source,
                                 Done<twelvelabs::gateway::v1::Asset> done) = 0;
  // `POST /assets/multipart-uploads`: opens a session (never retried).
  virtual void CreateMultipartUpload(const CallOptions& opts,
                                     const twelvelabs::gateway::v1::UploadAssetHeader& header,
                                     Done<MultipartSession> done) = 0;
  // `POST .../{id}/presigned-urls`: fresh URLs for chunks start..start+count-1
  // (count 1..50). Retried as a read: extra URLs are harmless.
  virtual void GetPresignedUrls(const CallOptions& opts, const std::string& upload_id, int start,
                                int count, Done<std::vector<PresignedUrl>> done) = 0;
  // `POST .../{id}` with completed chunks. Retried as a read: upstream
  // counts a repeated chunk as a duplicate.
  virtual void ReportChunks(const CallOptions& opts, const std::string& upload_id,
                            std::vector<CompletedChunk> chunks, Done<ChunkReport> done) = 0;
  // `GET .../{id}`, every page of it, as one Upload (completed chunk runs
  // and resume offset filled in).
  virtual void GetUpload(const CallOptions& opts, const std::string& upload_id,
                         Done<twelvelabs::gateway::v1::Upload> done) = 0;
  // `PUT` of `body` (a chunk, in the pieces it arrived in) to a presigned
  // `url` (absolute, as upstream gave it),
  // with no key and no header but the content type; answers the ETag with
  // its quotes stripped. Never retried here. Failures: PERMISSION_DENIED
  // (the URL was refused: expired, used, bad signature), NOT_FOUND (the
  // session takes no more chunks), UNAVAILABLE (5xx, a reset, a timeout,
  // or a 2xx without an ETag), RESOURCE_EXHAUSTED (throttled).
  virtual void PutChunk(const CallOptions& opts, const std::string& url,
                        absl::Cord body, Done<std::string> done) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_API_H_
