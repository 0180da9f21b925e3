#include "server/twelvelabs/client.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "server/common/status_details.h"
#include "server/twelvelabs/error_mapping.h"
#include "server/twelvelabs/upload_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

struct TwelveLabsClient::Attempt {
  CallOptions opts;
  RestCall call;
  Safety safety;
  Done<HttpResponse> done;
  absl::Time deadline;
  int number = 0;  // attempts sent so far
  absl::Time sent_at;  // of the current attempt
  // Whether the current attempt's timeout is all the time the call had left
  // (not the shorter per-attempt cap): its timing out is the caller's
  // deadline passing, whatever a millisecond of clock skew says.
  bool until_deadline = false;
};

namespace {

const Redactor& NoSecrets() {
  static const Redactor* const none = new Redactor;
  return *none;
}

// Everything upstream sends enters the gateway here, so this is the one
// place its text is cleaned of keys: whatever the body, a header or a
// transport error echoes (the call's key or any other configured one)
// becomes the marker before any of it is parsed, mapped, logged, stored
// or sent to a caller.
void RedactUpstream(const Redactor& redactor, const std::string& key,
                    absl::StatusOr<HttpResponse>* result) {
  if (result->ok()) {
    redactor.RedactInPlace(&(*result)->body, key);
    for (auto& header : (*result)->headers) redactor.RedactInPlace(&header.second, key);
    return;
  }
  std::string message(result->status().message());
  if (!redactor.RedactInPlace(&message, key)) return;
  absl::Status out(result->status().code(), message);
  result->status().ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
  *result = std::move(out);
}

// A transport failure's kind (http.h) becomes the caller's ErrorInfo.
absl::Status WithTransportReason(absl::Status status) {
  if (ErrorReason(status).has_value()) return status;
  auto kind = status.GetPayload(kUpstreamFailurePayload);
  std::string reason = kind.has_value() ? std::string(*kind) : "UPSTREAM_CONNECTION_FAILED";
  return WithErrorInfo(std::move(status), reason, kGatewayDomain);
}

bool RetryableHttp(int http, TwelveLabsClient::Safety safety) {
  switch (safety) {
    case TwelveLabsClient::Safety::kRead:
      return http == 408 || (http >= 500 && http <= 599);
    case TwelveLabsClient::Safety::kKeyedCreate:
      return http == 502 || http == 503 || http == 504;
    case TwelveLabsClient::Safety::kUnsafe:
    case TwelveLabsClient::Safety::kStreamed:
      return false;
  }
  return false;
}

bool RetryableTransport(const absl::Status& s, TwelveLabsClient::Safety safety) {
  // A streamed body cannot be read twice.
  if (safety == TwelveLabsClient::Safety::kStreamed) return false;
  if (NotSent(s)) return s.code() == absl::StatusCode::kUnavailable;
  if (safety != TwelveLabsClient::Safety::kRead) return false;
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TwelveLabsClient>> TwelveLabsClient::Create(
    const ClientOptions& options, HttpTransport* transport, Clock* clock, Executor* completions) {
  auto version = VersionFromBaseUrl(options.base_url);
  if (!version.ok()) return version.status();
  if (options.max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be >= 1");
  return std::unique_ptr<TwelveLabsClient>(
      new TwelveLabsClient(options, *version, transport, clock, completions));
}

TwelveLabsClient::TwelveLabsClient(const ClientOptions& options, ApiVersion version,
                                   HttpTransport* transport, Clock* clock, Executor* completions)
    : options_(options),
      version_(version),
      base_url_(absl::StripSuffix(options.base_url, "/")),
      transport_(transport),
      clock_(clock),
      completions_(completions),
      budget_tokens_(options.retry_budget_max) {}

void TwelveLabsClient::Execute(const CallOptions& opts, RestCall call, Safety safety,
                               Done<HttpResponse> done) {
  auto a = std::make_shared<Attempt>();
  a->opts = opts;
  a->call = std::move(call);
  a->safety = safety;
  a->done = std::move(done);
  a->deadline = safety == Safety::kStreamed
                    ? opts.deadline
                    : std::min(opts.deadline, clock_->Now() + options_.default_deadline);
  EarnRetryToken();
  SendAttempt(std::move(a));
}

void TwelveLabsClient::SendAttempt(std::shared_ptr<Attempt> a) {
  absl::Duration left = a->deadline - clock_->Now();
  if (left <= absl::ZeroDuration()) {
    Complete<HttpResponse>(std::move(a->done),
                           WithErrorInfo(absl::DeadlineExceededError(
                                             "the call's deadline passed before the Twelve Labs API could be asked"),
                                         "DEADLINE_EXCEEDED", kGatewayDomain));
    return;
  }
  HttpRequest req;
  req.method = a->call.method;
  req.url = base_url_ + a->call.path;
  req.headers.emplace_back("x-api-key", a->opts.api_key);
  req.headers.emplace_back("accept", "application/json");
  req.headers.emplace_back("user-agent", "tl-gateway/1");
  if (!a->call.json_body.empty()) {
    req.headers.emplace_back("content-type", "application/json");
    req.body = a->call.json_body;
  }
  req.form = a->call.form;
  req.timeout = a->safety == Safety::kStreamed ? left : std::min(left, options_.attempt_timeout);
  a->until_deadline = req.timeout == left;
  ++a->number;
  a->sent_at = clock_->Now();
  ++stats_.requests;
  if (a->opts.upstream_requests != nullptr) ++*a->opts.upstream_requests;
  // On the transport's thread: hand the bytes over and return at once.
  transport_->Send(std::move(req), [this, a](absl::StatusOr<HttpResponse> r) mutable {
    completions_->Run([this, a = std::move(a), r = std::move(r)]() mutable {
      OnResult(std::move(a), std::move(r));
    });
  });
}

void TwelveLabsClient::OnResult(std::shared_ptr<Attempt> a, absl::StatusOr<HttpResponse> result) {
  const absl::Time now = clock_->Now();
  if (options_.on_attempt) {
    options_.on_attempt(a->call.method, a->call.path, result.ok() ? result->status : 0, now - a->sent_at);
  }
  RedactUpstream(options_.redactor != nullptr ? *options_.redactor : NoSecrets(), a->opts.api_key,
                 &result);
  absl::Status error;
  bool retryable = false;
  std::optional<absl::Duration> asked;
  if (result.ok()) {
    if (IsSuccess(result->status)) {
      a->done(std::move(result));
      return;
    }
    error = MapHttpError(*result, now);
    retryable = RetryableHttp(result->status, a->safety);
    if (retryable) asked = RetryAfter(*result, now);
  } else {
    error = result.status();
    // An attempt that had all the call's time ran out of the caller's time.
    retryable = RetryableTransport(error, a->safety) &&
                !(a->until_deadline && error.code() == absl::StatusCode::kDeadlineExceeded);
  }
  if (retryable && a->number < options_.max_attempts) {
    absl::Duration delay = std::max(Backoff(a->number), asked.value_or(absl::ZeroDuration()));
    // Only retry when the attempt after the wait still has time to finish.
    if (now + delay + absl::Milliseconds(50) < a->deadline) {
      if (SpendRetryToken()) {
        ++stats_.retries;
        clock_->RunAfter(delay, [this, a](bool cancelled) mutable {
          if (cancelled) {
            Complete<HttpResponse>(std::move(a->done),
                                   WithErrorInfo(absl::UnavailableError("the gateway is shutting down; retry the call"),
                                                 "GATEWAY_SHUTTING_DOWN", kGatewayDomain));
            return;
          }
          SendAttempt(std::move(a));
        });
        return;
      }
      ++stats_.retries_denied_by_budget;
    }
  }
  if (error.code() == absl::StatusCode::kDeadlineExceeded && !a->until_deadline && now < a->deadline &&
      a->safety == Safety::kRead) {
    // One attempt timed out but the caller's deadline had not: the upstream
    // hangs, which is an availability problem.
    error = WithErrorInfo(absl::UnavailableError(absl::StrCat(error.message(), "; retry later")),
                          "UPSTREAM_TIMEOUT", kGatewayDomain);
  }
  if (!result.ok()) error = WithTransportReason(std::move(error));
  a->done(std::move(error));
}

absl::Duration TwelveLabsClient::Backoff(int retry) {
  // Full jitter: uniform in [0, min(max, initial * 2^retry)].
  absl::Duration cap = options_.initial_backoff;
  for (int i = 1; i < retry && cap < options_.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, options_.max_backoff);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> u(0.5, 1.0);
  return cap * u(rng);
}

bool TwelveLabsClient::SpendRetryToken() {
  absl::MutexLock lock(&budget_mu_);
  if (budget_tokens_ < 1.0) return false;
  budget_tokens_ -= 1.0;
  return true;
}

void TwelveLabsClient::EarnRetryToken() {
  absl::MutexLock lock(&budget_mu_);
  budget_tokens_ = std::min(options_.retry_budget_max, budget_tokens_ + options_.retry_budget_ratio);
}

template <typename T>
void TwelveLabsClient::Complete(Done<T> done,
                                typename std::common_type<absl::StatusOr<T>>::type result) {
  completions_->Run([done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

// ---- Operations -----------------------------------------------------------

namespace {

template <typename T, typename Parse>
absl::AnyInvocable<void(absl::StatusOr<HttpResponse>)> Parsed(TwelveLabsApi::Done<T> done,
                                                              Parse parse) {
  return [done = std::move(done), parse](absl::StatusOr<HttpResponse> r) mutable {
    if (!r.ok()) {
      done(r.status());
      return;
    }
    done(parse(r->body));
  };
}

TwelveLabsClient::Safety CreateSafety(const std::string& request_id) {
  return request_id.empty() ? TwelveLabsClient::Safety::kUnsafe
                            : TwelveLabsClient::Safety::kKeyedCreate;
}

}  // namespace

void TwelveLabsClient::CreateExternalProviderTask(
    const CallOptions& opts, const gw::CreateExternalProviderTaskRequest& req,
    Done<CreatedTask> done) {
  auto call = CreateExternalProviderCall(version_, req);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), CreateSafety(req.request_id()),
          Parsed<CreatedTask>(std::move(done), [](const std::string& b) { return ParseCreatedTask(b); }));
}

void TwelveLabsClient::CreateUrlTask(const CallOptions& opts, const gw::CreateUrlTaskRequest& req,
                                     Done<CreatedTask> done) {
  auto call = CreateUrlTaskCall(version_, req);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), CreateSafety(req.request_id()),
          Parsed<CreatedTask>(std::move(done), [](const std::string& b) { return ParseCreatedTask(b); }));
}

void TwelveLabsClient::UploadVideoFile(const CallOptions& opts, const gw::UploadVideoFileHeader& header,
                                       std::shared_ptr<BodySource> source, Done<CreatedTask> done) {
  auto call = UploadVideoFileCall(version_, header, std::move(source));
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), Safety::kStreamed,
          Parsed<CreatedTask>(std::move(done), [](const std::string& b) { return ParseCreatedTask(b); }));
}

void TwelveLabsClient::GetTask(const CallOptions& opts, const std::string& task_id,
                               Done<gw::Task> done) {
  Execute(opts, GetTaskCall(task_id), Safety::kRead,
          Parsed<gw::Task>(std::move(done), [v = version_](const std::string& b) { return ParseTask(b, v); }));
}

void TwelveLabsClient::ListTasks(const CallOptions& opts, const gw::ListTasksRequest& req, int page,
                                 int page_limit, Done<TaskPage> done) {
  Execute(opts, ListTasksCall(version_, req, page, page_limit), Safety::kRead,
          Parsed<TaskPage>(std::move(done),
                           [v = version_](const std::string& b) { return ParseTaskPage(b, v); }));
}

void TwelveLabsClient::DeleteTask(const CallOptions& opts, const std::string& task_id,
                                  DoneStatus done) {
  // DELETE is idempotent on the wire, but a retry after a lost 2xx would
  // answer NOT_FOUND for a delete that worked, so it is not retried.
  Execute(opts, DeleteTaskCall(task_id), Safety::kUnsafe,
          [done = std::move(done)](absl::StatusOr<HttpResponse> r) mutable { done(r.status()); });
}

void TwelveLabsClient::GetIndexTaskCounts(const CallOptions& opts, const std::string& index_id,
                                          Done<gw::IndexTaskCounts> done) {
  Execute(opts, IndexTaskCountsCall(index_id), Safety::kRead,
          Parsed<gw::IndexTaskCounts>(std::move(done),
                                      [](const std::string& b) { return ParseIndexTaskCounts(b); }));
}

void TwelveLabsClient::ImportVideos(const CallOptions& opts, const std::string& integration_id,
                                    const gw::ImportVideosRequest& req,
                                    Done<gw::ImportVideosResponse> done) {
  auto call = ImportVideosCall(integration_id, req);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), Safety::kUnsafe,
          Parsed<gw::ImportVideosResponse>(std::move(done),
                                           [](const std::string& b) { return ParseImportVideos(b); }));
}

void TwelveLabsClient::GetImportStatus(const CallOptions& opts, const std::string& integration_id,
                                       const std::string& index_id, Done<gw::ImportStatus> done) {
  Execute(opts, ImportStatusCall(integration_id, index_id), Safety::kRead,
          Parsed<gw::ImportStatus>(std::move(done),
                                   [](const std::string& b) { return ParseImportStatus(b); }));
}

void TwelveLabsClient::ListImportLogs(const CallOptions& opts, const std::string& integration_id,
                                      Done<gw::ListImportLogsResponse> done) {
  Execute(opts, ImportLogsCall(integration_id), Safety::kRead,
          Parsed<gw::ListImportLogsResponse>(std::move(done),
                                             [](const std::string& b) { return ParseImportLogs(b); }));
}

// ---- Assets and indexed assets (v1.3) ----------------------------------------

namespace {

// Upstream's 409 on DELETE /assets/{id} means indexed assets still refer to
// the asset: a state the caller must change first, not a conflict over a
// name, so FAILED_PRECONDITION (keeping ErrorInfo) rather than the generic
// ALREADY_EXISTS.
absl::Status ReferencedAssetIsPrecondition(absl::Status s) {
  if (s.code() != absl::StatusCode::kAlreadyExists) return s;
  absl::Status out = absl::FailedPreconditionError(
      absl::StrCat(s.message(), " (indexed assets still refer to the asset: delete them first, "
                                "or delete with force)"));
  s.ForEachPayload([&out](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
  return out;
}

}  // namespace

void TwelveLabsClient::CreateAsset(const CallOptions& opts, const gw::CreateAssetRequest& req,
                                   Done<gw::Asset> done) {
  if (absl::Status s = RequireAssets(version_, "CreateAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  auto call = CreateAssetCall(req);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), CreateSafety(req.request_id()),
          Parsed<gw::Asset>(std::move(done), [](const std::string& b) { return ParseAsset(b); }));
}

void TwelveLabsClient::GetAsset(const CallOptions& opts, const std::string& asset_id,
                                Done<gw::Asset> done) {
  if (absl::Status s = RequireAssets(version_, "GetAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  Execute(opts, GetAssetCall(asset_id), Safety::kRead,
          Parsed<gw::Asset>(std::move(done), [](const std::string& b) { return ParseAsset(b); }));
}

void TwelveLabsClient::ListAssets(const CallOptions& opts, const gw::ListAssetsRequest& req, int page,
                                  int page_limit, Done<AssetPage> done) {
  if (absl::Status s = RequireAssets(version_, "ListAssets"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  Execute(opts, ListAssetsCall(req, page, page_limit), Safety::kRead,
          Parsed<AssetPage>(std::move(done), [](const std::string& b) { return ParseAssetPage(b); }));
}

void TwelveLabsClient::DeleteAsset(const CallOptions& opts, const std::string& asset_id, bool force,
                                   DoneStatus done) {
  if (absl::Status s = RequireAssets(version_, "DeleteAsset"); !s.ok()) {
    completions_->Run([done = std::move(done), s]() mutable { done(s); });
    return;
  }
  // Not retried, as DeleteTask: a retry after a lost 2xx would say NOT_FOUND.
  Execute(opts, DeleteAssetCall(asset_id, force), Safety::kUnsafe,
          [done = std::move(done)](absl::StatusOr<HttpResponse> r) mutable {
            done(ReferencedAssetIsPrecondition(r.status()));
          });
}

void TwelveLabsClient::ListAssetIndexedAssets(const CallOptions& opts, const std::string& asset_id,
                                              int page, int page_limit,
                                              Done<IndexedAssetPage> done) {
  if (absl::Status s = RequireAssets(version_, "DeleteAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  // No index in the path: each item names its own (index_id).
  Execute(opts, AssetIndexedAssetsCall(asset_id, page, page_limit), Safety::kRead,
          Parsed<IndexedAssetPage>(
              std::move(done), [](const std::string& b) { return ParseIndexedAssetPage(b, ""); }));
}

void TwelveLabsClient::CreateIndexedAsset(const CallOptions& opts, const gw::IndexAssetRequest& req,
                                          Done<CreatedIndexedAsset> done) {
  if (absl::Status s = RequireAssets(version_, "IndexAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  auto call = CreateIndexedAssetCall(req);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), CreateSafety(req.request_id()),
          Parsed<CreatedIndexedAsset>(std::move(done),
                                      [](const std::string& b) { return ParseCreatedIndexedAsset(b); }));
}

void TwelveLabsClient::GetIndexedAsset(const CallOptions& opts, const std::string& index_id,
                                       const std::string& indexed_asset_id,
                                       Done<gw::IndexedAsset> done) {
  if (absl::Status s = RequireAssets(version_, "GetIndexedAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  Execute(opts, GetIndexedAssetCall(index_id, indexed_asset_id), Safety::kRead,
          Parsed<gw::IndexedAsset>(std::move(done), [index_id](const std::string& b) {
            return ParseIndexedAsset(b, index_id);
          }));
}

void TwelveLabsClient::ListIndexedAssets(const CallOptions& opts,
                                         const gw::ListIndexedAssetsRequest& req, int page,
                                         int page_limit, Done<IndexedAssetPage> done) {
  if (absl::Status s = RequireAssets(version_, "ListIndexedAssets"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  Execute(opts, ListIndexedAssetsCall(req, page, page_limit), Safety::kRead,
          Parsed<IndexedAssetPage>(std::move(done), [index_id = req.index_id()](const std::string& b) {
            return ParseIndexedAssetPage(b, index_id);
          }));
}

void TwelveLabsClient::DeleteIndexedAsset(const CallOptions& opts, const std::string& index_id,
                                          const std::string& indexed_asset_id, DoneStatus done) {
  if (absl::Status s = RequireAssets(version_, "DeleteIndexedAsset"); !s.ok()) {
    completions_->Run([done = std::move(done), s]() mutable { done(s); });
    return;
  }
  Execute(opts, DeleteIndexedAssetCall(index_id, indexed_asset_id), Safety::kUnsafe,
          [done = std::move(done)](absl::StatusOr<HttpResponse> r) mutable { done(r.status()); });
}

// ---- Uploads of local files as assets (§9.1, §9.4) ----------------------------

void TwelveLabsClient::UploadAssetDirect(const CallOptions& opts, const gw::UploadAssetHeader& header,
                                         std::shared_ptr<BodySource> source, Done<gw::Asset> done) {
  if (absl::Status s = RequireAssets(version_, "UploadAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  auto call = UploadAssetDirectCall(header, std::move(source));
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), Safety::kStreamed,
          Parsed<gw::Asset>(std::move(done), [](const std::string& b) { return ParseAsset(b); }));
}

void TwelveLabsClient::CreateMultipartUpload(const CallOptions& opts, const gw::UploadAssetHeader& header,
                                             Done<MultipartSession> done) {
  if (absl::Status s = RequireAssets(version_, "UploadAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  auto call = CreateMultipartUploadCall(header);
  if (!call.ok()) {
    Complete(std::move(done), call.status());
    return;
  }
  Execute(opts, *std::move(call), Safety::kUnsafe,
          Parsed<MultipartSession>(std::move(done),
                                   [](const std::string& b) { return ParseMultipartSession(b); }));
}

void TwelveLabsClient::GetPresignedUrls(const CallOptions& opts, const std::string& upload_id, int start,
                                        int count, Done<std::vector<PresignedUrl>> done) {
  if (absl::Status s = RequireAssets(version_, "UploadAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  count = std::clamp(count, 1, kMaxPresignedUrlsPerCall);
  Execute(opts, PresignedUrlsCall(upload_id, start, count), Safety::kRead,
          Parsed<std::vector<PresignedUrl>>(std::move(done),
                                            [](const std::string& b) { return ParsePresignedUrls(b); }));
}

void TwelveLabsClient::ReportChunks(const CallOptions& opts, const std::string& upload_id,
                                    std::vector<CompletedChunk> chunks, Done<ChunkReport> done) {
  if (absl::Status s = RequireAssets(version_, "UploadAsset"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  Execute(opts, ReportChunksCall(upload_id, chunks), Safety::kRead,
          Parsed<ChunkReport>(std::move(done), [](const std::string& b) { return ParseChunkReport(b); }));
}

void TwelveLabsClient::GetUpload(const CallOptions& opts, const std::string& upload_id, Done<gw::Upload> done) {
  if (absl::Status s = RequireAssets(version_, "GetUpload"); !s.ok()) {
    Complete(std::move(done), s);
    return;
  }
  GetUploadPages(opts, upload_id, 1, 1, nullptr, std::move(done));
}

void TwelveLabsClient::GetUploadPages(const CallOptions& opts, const std::string& upload_id, int page,
                                      int64_t total_pages, std::shared_ptr<UploadPage> upload,
                                      Done<gw::Upload> done) {
  Execute(opts, GetUploadCall(upload_id, page, kMaxUploadPageLimit), Safety::kRead,
          [this, opts, upload_id, page, upload = std::move(upload),
           done = std::move(done)](absl::StatusOr<HttpResponse> r) mutable {
            if (!r.ok()) {
              done(r.status());
              return;
            }
            absl::StatusOr<UploadPage> parsed = ParseUploadPage(r->body);
            if (!parsed.ok()) {
              done(parsed.status());
              return;
            }
            if (upload == nullptr) {
              upload = std::make_shared<UploadPage>(*std::move(parsed));
            } else {
              // The session's counts are taken from the first page; later
              // pages add their chunks only.
              upload->completed.insert(upload->completed.end(), parsed->completed.begin(),
                                       parsed->completed.end());
            }
            // A session lists at most total_chunks entries: bound the pages
            // by that, whatever page_info says.
            const int64_t max_pages =
                std::max<int64_t>(1, (upload->upload.total_chunks() + kMaxUploadPageLimit - 1) / kMaxUploadPageLimit);
            const int64_t pages = std::min(max_pages, std::max<int64_t>(upload->total_pages, 1));
            if (page < pages) {
              GetUploadPages(opts, upload_id, page + 1, pages, std::move(upload), std::move(done));
              return;
            }
            gw::Upload out = std::move(upload->upload);
            SetCompletedChunks(std::move(upload->completed), &out);
            done(std::move(out));
          });
}

namespace {

// A short reason from an S3-style XML error body (`<Code>`...`</Code>`).
std::string S3ErrorCode(const std::string& body) {
  const size_t start = body.find("<Code>");
  if (start == std::string::npos) return "";
  const size_t end = body.find("</Code>", start);
  if (end == std::string::npos || end - start > 70) return "";
  return body.substr(start + 6, end - start - 6);
}

// A presigned PUT's failure. The URL is never in the message: its query
// is a credential.
absl::Status PutFailure(int http, const std::string& body) {
  const std::string code = S3ErrorCode(body);
  const std::string what = absl::StrCat("the upload of a chunk to its presigned URL answered HTTP ", http,
                                        code.empty() ? "" : absl::StrCat(" (", code, ")"));
  if (http == 403) {
    return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat(what, ": the URL was refused")),
                         "PRESIGNED_URL_REJECTED", kUpstreamDomain);
  }
  if (http == 404) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat(what, ": the upload session takes no more chunks")),
                         "UPLOAD_SESSION_CLOSED", kUpstreamDomain);
  }
  if (http == 429 || (http == 503 && code == "SlowDown")) {
    return WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat(what, "; retry later")), "PRESIGNED_PUT_THROTTLED",
                         kUpstreamDomain);
  }
  if (http == 408 || http >= 500) {
    return WithErrorInfo(absl::UnavailableError(absl::StrCat(what, "; retry later")), "PRESIGNED_PUT_FAILED",
                         kUpstreamDomain);
  }
  return WithErrorInfo(absl::InternalError(what), "PRESIGNED_PUT_REFUSED", kUpstreamDomain);
}

}  // namespace

void TwelveLabsClient::PutChunk(const CallOptions& opts, const std::string& url,
                                absl::Cord body, Done<std::string> done) {
  const absl::Duration left = opts.deadline - clock_->Now();
  if (left <= absl::ZeroDuration()) {
    Complete<std::string>(std::move(done),
                          WithErrorInfo(absl::DeadlineExceededError("the call's deadline passed before a chunk "
                                                                    "could be uploaded"),
                                        "DEADLINE_EXCEEDED", kGatewayDomain));
    return;
  }
  HttpRequest req;
  req.method = "PUT";
  req.url = url;
  // Not the API: no key, no accept or user-agent. The official uploaders
  // send only the content type (§9.4).
  req.headers.emplace_back("content-type", "application/octet-stream");
  // Long enough for a slow link (1 MiB/s) on top of the attempt timeout;
  // never past the caller's deadline.
  const absl::Duration transfer =
      options_.attempt_timeout + absl::Seconds(static_cast<double>(body.size()) / (1 << 20));
  req.timeout = std::min(left, transfer);
  req.cord_body = std::move(body);
  ++stats_.requests;
  if (opts.upstream_requests != nullptr) ++*opts.upstream_requests;
  transport_->Send(std::move(req), [this, done = std::move(done)](absl::StatusOr<HttpResponse> r) mutable {
    completions_->Run([r = std::move(r), done = std::move(done)]() mutable {
      if (!r.ok()) {
        done(WithTransportReason(r.status()));
        return;
      }
      if (!IsSuccess(r->status)) {
        done(PutFailure(r->status, r->body));
        return;
      }
      std::string etag = EtagOf(*r);
      if (etag.empty()) {
        done(WithErrorInfo(absl::UnavailableError("the upload of a chunk answered without an ETag, which upstream "
                                                  "needs as the chunk's proof; retry the upload"),
                           "PRESIGNED_PUT_NO_ETAG", kUpstreamDomain));
        return;
      }
      done(std::move(etag));
    });
  });
}

}  // namespace tlgw
