// The curl-backed TwelveLabsApi (api.h) the gateway runs with.
//
// It turns an operation into a RestCall (requests.h), sends it through an
// HttpTransport with the caller's key and a timeout derived from the
// caller's deadline, retries what is safe to retry, maps failures
// (error_mapping.h) and bodies (json_mapping.h). Thread-safe.
//
// Retry rules:
//  - Reads (GET) retry on UNAVAILABLE-class failures (5xx, 408, resets,
//    timeouts of one attempt) with exponential backoff and full jitter,
//    waiting at least what Retry-After asks, while the deadline allows.
//  - Creates retry only when the caller gave a request_id, and then only
//    when the request surely did not create anything (502/503/504), since
//    the API itself has no idempotency key.
//  - Any request is re-sent when the connection could not be made at all.
//  - 429 is never retried here: the caller gets RESOURCE_EXHAUSTED with
//    RetryInfo and decides, because retrying inside would spend the quota
//    every other caller shares.
//  - A retry budget (tokens earned by first attempts) stops a failing
//    upstream from being hammered by retries.
// Nothing a caller gets contains a configured API key: every response and
// transport error is redacted as it arrives (RedactUpstream in client.cc).
//
// Threads: the transport completes attempts on its event thread; the
// client moves every result to the completion executor before mapping
// errors, parsing JSON or calling `done`, so that thread only moves bytes.
#ifndef TL_GATEWAY_SERVER_TWELVELABS_CLIENT_H_
#define TL_GATEWAY_SERVER_TWELVELABS_CLIENT_H_

#include <atomic>
#include <functional>
#include <type_traits>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/common/redactor.h"
#include "server/twelvelabs/api.h"
#include "server/twelvelabs/api_version.h"
#include "server/twelvelabs/json_mapping.h"
#include "server/twelvelabs/requests.h"
#include "server/upstream/http.h"

namespace tlgw {

struct ClientOptions {
  std::string base_url;  // e.g. https://api.twelvelabs.io/v1.2
  // Used when the caller set no deadline.
  absl::Duration default_deadline = absl::Seconds(60);
  // One attempt never waits longer than this, so a hung connection leaves
  // time for a retry.
  absl::Duration attempt_timeout = absl::Seconds(20);
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Retry budget: each first attempt earns this many tokens, each retry
  // spends one; at most `retry_budget_max` tokens are kept.
  double retry_budget_ratio = 0.2;
  double retry_budget_max = 20;
  // When set, told of every attempt: method, path (with query), HTTP status
  // (0 if no response) and latency. Runs on the transport thread.
  std::function<void(const std::string&, const std::string&, int, absl::Duration)> on_attempt;
  // Every configured key, removed from all that upstream sends before it is
  // read (the call's own key is always removed). Not owned; may be null.
  const Redactor* redactor = nullptr;
};

// Counts for metrics and tests.
struct ClientStats {
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> retries_denied_by_budget{0};
};

class TwelveLabsClient : public TwelveLabsApi {
 public:
  // `transport`, `clock` and `completions` are not owned and must outlive
  // the client and every call it started. `clock` times deadlines and
  // retry backoff; `completions` runs every `done`.
  static absl::StatusOr<std::unique_ptr<TwelveLabsClient>> Create(const ClientOptions& options,
                                                                  HttpTransport* transport,
                                                                  Clock* clock,
                                                                  Executor* completions);

  ApiVersion version() const override { return version_; }
  const ClientStats& stats() const { return stats_; }

  void CreateExternalProviderTask(const CallOptions& opts,
                                  const twelvelabs::gateway::v1::CreateExternalProviderTaskRequest& req,
                                  Done<CreatedTask> done) override;
  void CreateUrlTask(const CallOptions& opts,
                     const twelvelabs::gateway::v1::CreateUrlTaskRequest& req, Done<CreatedTask> done) override;
  // Streams `source` as the video_file part; never retried, and limited
  // only by the caller's own deadline (a large file takes long).
  void UploadVideoFile(const CallOptions& opts,
                       const twelvelabs::gateway::v1::UploadVideoFileHeader& header,
                       std::shared_ptr<BodySource> source, Done<CreatedTask> done) override;
  void GetTask(const CallOptions& opts, const std::string& task_id, Done<gw::Task> done) override;
  void ListTasks(const CallOptions& opts, const twelvelabs::gateway::v1::ListTasksRequest& req,
                 int page, int page_limit, Done<TaskPage> done) override;
  void DeleteTask(const CallOptions& opts, const std::string& task_id, DoneStatus done) override;
  void GetIndexTaskCounts(const CallOptions& opts, const std::string& index_id,
                          Done<gw::IndexTaskCounts> done) override;
  void ImportVideos(const CallOptions& opts, const std::string& integration_id,
                    const twelvelabs::gateway::v1::ImportVideosRequest& req,
                    Done<gw::ImportVideosResponse> done) override;
  void GetImportStatus(const CallOptions& opts, const std::string& integration_id,
                       const std::string& index_id, Done<gw::ImportStatus> done) override;
  void ListImportLogs(const CallOptions& opts, const std::string& integration_id,
                      Done<gw::ListImportLogsResponse> done) override;
  void CreateAsset(const CallOptions& opts, const gw::CreateAssetRequest& req,
                   Done<gw::Asset> done) override;
  void GetAsset(const CallOptions& opts, const std::string& asset_id, Done<gw::Asset> done) override;
  void ListAssets(const CallOptions& opts, const gw::ListAssetsRequest& req, int page,
                  int page_limit, Done<AssetPage> done) override;
  void DeleteAsset(const CallOptions& opts, const std::string& asset_id, bool force,
                   DoneStatus done) override;
  void ListAssetIndexedAssets(const CallOptions& opts, const std::string& asset_id, int page,
                              int page_limit, Done<IndexedAssetPage> done) override;
  void CreateIndexedAsset(const CallOptions& opts, const gw::IndexAssetRequest& req,
                          Done<CreatedIndexedAsset> done) override;
  void GetIndexedAsset(const CallOptions& opts, const std::string& index_id,
                       const std::string& indexed_asset_id, Done<gw::IndexedAsset> done) override;
  void ListIndexedAssets(const CallOptions& opts, const gw::ListIndexedAssetsRequest& req, int page,
                         int page_limit, Done<IndexedAssetPage> done) override;
  void DeleteIndexedAsset(const CallOptions& opts, const std::string& index_id,
                          const std::string& indexed_asset_id, DoneStatus done) override;
  void UploadAssetDirect(const CallOptions& opts, const gw::UploadAssetHeader& header,
                         std::shared_ptr<BodySource> source, Done<gw::Asset> done) override;
  void CreateMultipartUpload(const CallOptions& opts, const gw::UploadAssetHeader& header,
                             Done<MultipartSession> done) override;
  void GetPresignedUrls(const CallOptions& opts, const std::string& upload_id, int start, int count,
                        Done<std::vector<PresignedUrl>> done) override;
  void ReportChunks(const CallOptions& opts, const std::string& upload_id,
                    std::vector<CompletedChunk> chunks, Done<ChunkReport> done) override;
  void GetUpload(const CallOptions& opts, const std::string& upload_id, Done<gw::Upload> done) override;
  void PutChunk(const CallOptions& opts, const std::string& url, absl::Cord body,
                Done<std::string> done) override;

  enum class Safety {
    kRead,           // idempotent: retried on UNAVAILABLE-class failures
    kKeyedCreate,    // create with a request_id: retried on 502/503/504
    kUnsafe,         // retried only when nothing was sent
    kStreamed,       // a streamed body: never retried, no default deadline
  };

  // Sends `call` with retries; `done` receives the 2xx response or the
  // mapped error, on the completion executor.
  void Execute(const CallOptions& opts, RestCall call, Safety safety, Done<HttpResponse> done);

 private:
  struct Attempt;
  TwelveLabsClient(const ClientOptions& options, ApiVersion version, HttpTransport* transport,
                   Clock* clock, Executor* completions);
  // Runs `done(result)` on the completion executor.
  // (The second parameter is not used to deduce T, so a plain Status converts.)
  template <typename T>
  void Complete(Done<T> done, typename std::common_type<absl::StatusOr<T>>::type result);
  void SendAttempt(std::shared_ptr<Attempt> a);
  // Pages 2.. of GetUpload, gathered into `upload`.
  void GetUploadPages(const CallOptions& opts, const std::string& upload_id, int page, int64_t total_pages,
                      std::shared_ptr<UploadPage> upload, Done<gw::Upload> done);
  void OnResult(std::shared_ptr<Attempt> a, absl::StatusOr<HttpResponse> result);
  absl::Duration Backoff(int retry);
  bool SpendRetryToken() ABSL_LOCKS_EXCLUDED(budget_mu_);
  void EarnRetryToken() ABSL_LOCKS_EXCLUDED(budget_mu_);

  const ClientOptions options_;
  const ApiVersion version_;
  const std::string base_url_;  // without a trailing '/'
  HttpTransport* const transport_;
  Clock* const clock_;
  Executor* const completions_;
  ClientStats stats_;
  absl::Mutex budget_mu_;
  double budget_tokens_ ABSL_GUARDED_BY(budget_mu_);
};

// True for HTTP 2xx.
inline bool IsSuccess(int http_status) { return http_status >= 200 && http_status <= 299; }

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_TWELVELABS_CLIENT_H_
