// A C++ client for tl-gateway: the UploadService, TaskService and
// IntegrationService of twelvelabs.gateway.v1 behind one class whose methods
// return absl::Status / absl::StatusOr, so callers never handle gRPC types.
//
// Every call carries the configured bearer token as `authorization: Bearer
// <token>` metadata (never logged, never put in a status message) and a
// deadline. Failures keep the gateway's code and message; the
// google.rpc.ErrorInfo reason and RetryInfo delay are read back with
// ErrorReason() / RetryDelay() from client/error_details.h.
//
// Threading: a GatewayClient is thread-safe; any number of threads may call
// any methods at once (they share one HTTP/2 channel). Every method blocks
// the calling thread until the call ends, and callbacks (upload progress,
// task events) run on that same thread, synchronously, so a slow callback
// slows only its own call. Callbacks must not call back into the same call.
//
// Ownership: the client owns its channel and stubs; results are plain
// protobuf values the caller owns. Nothing passed in by pointer or
// reference is kept after a method returns.
#ifndef TL_GATEWAY_CLIENT_GATEWAY_CLIENT_H_
#define TL_GATEWAY_CLIENT_GATEWAY_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/error_details.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tlclient {

struct GatewayClientOptions {
  // host:port of the gateway.
  std::string address = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <token>` when non-empty.
  std::string bearer_token;
  // Deadline of each unary call. Zero or absl::InfiniteDuration() means none.
  absl::Duration call_timeout = absl::Seconds(30);
  // Deadline of a whole UploadFile or WatchTask stream. Unbounded by
  // default: a large upload or a long indexing run is not an error. Zero or
  // absl::InfiniteDuration() means none.
  absl::Duration stream_timeout = absl::InfiniteDuration();
  // Connect with TLS. With `tls_root_ca_file` empty, the system's roots
  // verify the server.
  bool use_tls = false;
  // PEM file of the CA(s) that signed the gateway's certificate.
  std::string tls_root_ca_file;
  // Prefixed to gRPC's user agent, e.g. "tlctl/1".
  std::string user_agent;
};

// (bytes handed to gRPC so far, file size). Called once with (0, size)
// before the first chunk and after every chunk.
using UploadProgressCallback = std::function<void(int64_t bytes_sent, int64_t total_bytes)>;
// Called for every event of a WatchTask stream, in order. Return false to
// stop watching: the stream is cancelled and WatchTask returns OK.
using TaskEventCallback = std::function<bool(const twelvelabs::gateway::v1::TaskEvent& event)>;
// As TaskEventCallback, for WatchAsset and WatchIndexedAsset.
using AssetEventCallback = std::function<bool(const twelvelabs::gateway::v1::AssetEvent& event)>;
using IndexedAssetEventCallback =
    std::function<bool(const twelvelabs::gateway::v1::IndexedAssetEvent& event)>;

class GatewayClient {
 public:
  // Builds the channel (it connects lazily, on the first call).
  // INVALID_ARGUMENT for an empty address; NOT_FOUND if the CA file cannot
  // be read.
  static absl::StatusOr<std::unique_ptr<GatewayClient>> Create(GatewayClientOptions options);

  // Uses an existing channel (tests, or callers sharing one); the address
  // and TLS options are then ignored.
  GatewayClient(std::shared_ptr<grpc::ChannelInterface> channel, GatewayClientOptions options);

  GatewayClient(const GatewayClient&) = delete;
  GatewayClient& operator=(const GatewayClient&) = delete;

  // --- UploadService ---
  absl::StatusOr<twelvelabs::gateway::v1::Task> CreateUrlTask(
      const twelvelabs::gateway::v1::CreateUrlTaskRequest& request);
  absl::StatusOr<twelvelabs::gateway::v1::Task> CreateExternalProviderTask(
      const twelvelabs::gateway::v1::CreateExternalProviderTaskRequest& request);
  // Streams the file at `path` through UploadVideoFile: first `header` (its
  // `size_bytes` is set from the file, its `filename` defaults to the path's
  // last component), then the bytes in kUploadChunkBytes chunks read from
  // disk one at a time. Local file errors come back as NOT_FOUND /
  // PERMISSION_DENIED / FAILED_PRECONDITION / DATA_LOSS naming the path,
  // before or instead of any gateway answer.
  absl::StatusOr<twelvelabs::gateway::v1::Task> UploadFile(
      const std::string& path, twelvelabs::gateway::v1::UploadVideoFileHeader header,
      const UploadProgressCallback& progress = nullptr);

  // --- AssetService: uploads of local files ---
  // Streams the file at `path` through UploadAsset: `header` (its size is
  // set from the file, its filename defaults to the path's last
  // component), then the bytes as UploadFile sends them. When the header
  // names an `upload_id`, continues that multipart upload instead: asks
  // GetUpload where to start and sends only the rest of the file. Progress
  // counts from the start of the file.
  absl::StatusOr<twelvelabs::gateway::v1::Asset> UploadAssetFile(
      const std::string& path, twelvelabs::gateway::v1::UploadAssetHeader header,
      const UploadProgressCallback& progress = nullptr);
  // The same stream through UploadAndIndex: `header.upload()` as in
  // UploadAssetFile (a continuation included); answers the indexed asset
  // once the asset is ready and indexed.
  absl::StatusOr<twelvelabs::gateway::v1::IndexedAsset> UploadAndIndexFile(
      const std::string& path, twelvelabs::gateway::v1::UploadAndIndexHeader header,
      const UploadProgressCallback& progress = nullptr);
  absl::StatusOr<twelvelabs::gateway::v1::Upload> GetUpload(const std::string& upload_id);

  // --- TaskService ---
  absl::StatusOr<twelvelabs::gateway::v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<twelvelabs::gateway::v1::ListTasksResponse> ListTasks(
      const twelvelabs::gateway::v1::ListTasksRequest& request);
  absl::Status DeleteTask(const std::string& task_id);
  absl::StatusOr<twelvelabs::gateway::v1::IndexTaskCounts> GetIndexTaskCounts(
      const std::string& index_id);
  // Blocks until the stream ends: OK after the terminal event (or when
  // `on_event` returned false), otherwise the stream's error.
  absl::Status WatchTask(const twelvelabs::gateway::v1::WatchTaskRequest& request,
                         const TaskEventCallback& on_event);

  // --- IntegrationService ---
  absl::StatusOr<twelvelabs::gateway::v1::ListIntegrationsResponse> ListIntegrations(
      const twelvelabs::gateway::v1::ListIntegrationsRequest& request = {});
  absl::StatusOr<twelvelabs::gateway::v1::ImportVideosResponse> ImportVideos(
      const twelvelabs::gateway::v1::ImportVideosRequest& request);
  absl::StatusOr<twelvelabs::gateway::v1::ImportStatus> GetImportStatus(
      const twelvelabs::gateway::v1::GetImportStatusRequest& request);
  absl::StatusOr<twelvelabs::gateway::v1::ListImportLogsResponse> ListImportLogs(
      const twelvelabs::gateway::v1::ListImportLogsRequest& request);
  absl::StatusOr<twelvelabs::gateway::v1::CheckAwsS3SetupResponse> CheckAwsS3Setup(
      const twelvelabs::gateway::v1::CheckAwsS3SetupRequest& request);

  // --- AssetService: reading, deleting and watching ---
  absl::StatusOr<twelvelabs::gateway::v1::Asset> GetAsset(const std::string& asset_id);
  absl::StatusOr<twelvelabs::gateway::v1::ListAssetsResponse> ListAssets(
      const twelvelabs::gateway::v1::ListAssetsRequest& request);
  absl::Status DeleteAsset(const std::string& asset_id, bool force);
  // As WatchTask.
  absl::Status WatchAsset(const twelvelabs::gateway::v1::WatchAssetRequest& request,
                          const AssetEventCallback& on_event);
  absl::StatusOr<twelvelabs::gateway::v1::IndexedAsset> GetIndexedAsset(
      const std::string& index_id, const std::string& indexed_asset_id);
  absl::StatusOr<twelvelabs::gateway::v1::ListIndexedAssetsResponse> ListIndexedAssets(
      const twelvelabs::gateway::v1::ListIndexedAssetsRequest& request);
  absl::Status DeleteIndexedAsset(const std::string& index_id, const std::string& indexed_asset_id);
  absl::Status WatchIndexedAsset(const twelvelabs::gateway::v1::WatchIndexedAssetRequest& request,
                                 const IndexedAssetEventCallback& on_event);

 private:
  // A context with the token and a deadline `timeout` from now.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  // One blocking unary call, `stub->*method`, with a fresh context; the
  // gRPC status folded into the result.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Unary(Stub* stub,
                                 grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                                 const Request& request) const;
  // An asset upload's header made ready to send for the file `reader` reads.
  absl::Status PrepareAssetHeader(const std::string& path, class ChunkedFileReader& reader,
                                  twelvelabs::gateway::v1::UploadAssetHeader* header);

  const GatewayClientOptions options_;
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<twelvelabs::gateway::v1::UploadService::Stub> upload_;
  std::unique_ptr<twelvelabs::gateway::v1::TaskService::Stub> tasks_;
  std::unique_ptr<twelvelabs::gateway::v1::IntegrationService::Stub> integrations_;
  std::unique_ptr<twelvelabs::gateway::v1::AssetService::Stub> assets_;
};

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_GATEWAY_CLIENT_H_
