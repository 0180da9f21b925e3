// A fake of the TwelveLabsApi interface for in-process tests of services
// and the watch engine: a small in-memory upstream (tasks by id, import
// statuses, import logs, assets and indexed assets), every call recorded, failures scripted per
// method, and completion under the test's control.
//
// By default a call completes at once, on the thread that made it (as an
// inline completion executor would). With hold(true), calls wait until the
// test completes them with CompleteNext()/CompleteAll(), on the thread of
// its choosing. Thread-safe.
#ifndef TL_GATEWAY_TESTS_SUPPORT_FAKE_TWELVELABS_API_H_
#define TL_GATEWAY_TESTS_SUPPORT_FAKE_TWELVELABS_API_H_

#include <algorithm>
#include <iterator>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "server/twelvelabs/api.h"

namespace tlgw {

class FakeTwelveLabsApi : public TwelveLabsApi {
 public:
  // What a call asked for.
  struct Call {
    std::string method;  // "GetTask", "ListTasks", ...
    std::string id;      // task id, integration id
    std::string index_id;
    int page = 0;
    CallOptions opts;
    std::shared_ptr<google::protobuf::Message> request;  // a copy, for creates and lists
  };

  explicit FakeTwelveLabsApi(ApiVersion version = ApiVersion::kV1_3) : version_(version) {}

  ApiVersion version() const override { return version_; }

  // ---- The upstream's state -------------------------------------------------
  void PutTask(gw::Task task) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    tasks_[task.id()] = std::move(task);
  }
  std::optional<gw::Task> task(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return std::nullopt;
    return it->second;
  }
  void PutImportStatus(const std::string& integration_id, const std::string& index_id,
                       gw::ImportStatus status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    imports_[integration_id + "/" + index_id] = std::move(status);
  }
  void PutImportLogs(const std::string& integration_id, gw::ListImportLogsResponse logs)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    logs_[integration_id] = std::move(logs);
  }
  void SetIndexCounts(gw::IndexTaskCounts counts) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    counts_[counts.index_id()] = std::move(counts);
  }
  void PutAsset(gw::Asset asset) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    assets_[asset.id()] = std::move(asset);
  }
  std::optional<gw::Asset> asset(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = assets_.find(id);
    if (it == assets_.end()) return std::nullopt;
    return it->second;
  }
  void PutIndexedAsset(gw::IndexedAsset ia) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    indexed_assets_[ia.index_id() + "/" + ia.id()] = std::move(ia);
  }
  std::optional<gw::IndexedAsset> indexed_asset(const std::string& index_id,
                                                const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = indexed_assets_.find(index_id + "/" + id);
    if (it == indexed_assets_.end()) return std::nullopt;
    return it->second;
  }
  // The next call of `method` fails with `status` (queued: each failure
  // serves one call).
  void FailNext(const std::string& method, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    failures_[method].push_back(std::move(status));
  }

  // ---- Calls ---------------------------------------------------------------
  std::vector<Call> calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  int count(const std::string& method) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count_if(calls_.begin(), calls_.end(),
                                          [&](const Call& c) { return c.method == method; }));
  }
  void hold(bool on) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    hold_ = on;
  }
  size_t held() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  // Waits up to `wait` until at least `n` calls are held; false if they
  // did not come.
  bool AwaitHeld(size_t n, absl::Duration wait = absl::Seconds(10)) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return held_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), wait);
  }
  // Completes the oldest held call, answering from the state as it is now.
  // Waits up to `wait` for one; false if none came.
  bool CompleteNext(absl::Duration wait = absl::Seconds(30)) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::AnyInvocable<void()> next;
    {
      absl::MutexLock lock(&mu_);
      auto any = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !held_.empty(); };
      if (!mu_.AwaitWithTimeout(absl::Condition(&any), wait)) return false;
      next = std::move(held_.front());
      held_.pop_front();
    }
    next();
    return true;
  }
  void CompleteAll() {
    while (held() > 0) CompleteNext(absl::ZeroDuration());
  }

  // ---- TwelveLabsApi ---------------------------------------------------------
  void CreateExternalProviderTask(const CallOptions& opts,
                                  const gw::CreateExternalProviderTaskRequest& req,
                                  Done<CreatedTask> done) override {
    Call c{"CreateExternalProviderTask", "", req.index_id(), 0, opts, Copy(req)};
    Answer(std::move(c), std::move(done),
           [this, index = req.index_id()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return NewTaskLocked(index, ""); });
  }
  void CreateUrlTask(const CallOptions& opts, const gw::CreateUrlTaskRequest& req,
                     Done<CreatedTask> done) override {
    Call c{"CreateUrlTask", "", req.index_id(), 0, opts, Copy(req)};
    Answer(std::move(c), std::move(done),
           [this, index = req.index_id()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return NewTaskLocked(index, ""); });
  }
  // Pulls `source` as the transport would (Read() until the header's
  // size_bytes are in, or until it returns 0, waiting for its resume
  // callback on kPause: the real transport sends a file part of exactly
  // the declared size and never asks an UploadPipe for its end), then
  // creates the task; the bytes
  // are kept in uploaded(). A source that aborts fails the call CANCELLED.
  // A FailNext("UploadVideoFile", ...) failure is answered once the whole
  // body was read (as an upstream refusing the file would), keeping nothing.
  // Uploads are not held by hold().
  void UploadVideoFile(const CallOptions& opts, const gw::UploadVideoFileHeader& header,
                       std::shared_ptr<BodySource> source, Done<CreatedTask> done) override {
    auto copy = std::make_shared<gw::UploadVideoFileHeader>(header);
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(Call{"UploadVideoFile", "", header.index_id(), 0, opts, copy});
    }
    auto pull = std::make_shared<Pull>();
    {
      // Kept alive here: the source's resume callback holds it only weakly.
      absl::MutexLock lock(&mu_);
      pulls_.push_back(pull);
    }
    pull->source = std::move(source);
    pull->done = std::move(done);
    pull->index_id = header.index_id();
    pull->filename = header.filename();
    pull->size = header.size_bytes();
    pull->api = this;
    std::weak_ptr<Pull> weak = pull;
    pull->source->Attach([weak] {
      if (auto p = weak.lock()) p->Pump(p);
    });
    pull->Pump(pull);
  }
  void GetTask(const CallOptions& opts, const std::string& task_id, Done<gw::Task> done) override {
    Answer(Call{"GetTask", task_id, "", 0, opts, nullptr}, std::move(done),
           [this, task_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::Task> {
             auto it = tasks_.find(task_id);
             if (it == tasks_.end()) return NotFound("task", task_id);
             return it->second;
           });
  }
  // Tasks of the filtered index (all when none), with the filtered file
  // name, created on create_time's UTC day at or after it (as upstream's
  // `created_at` filter), sorted by update time (creation time when asked;
  // newest first unless ascending is asked for), paged by `page_limit`.
  void ListTasks(const CallOptions& opts, const gw::ListTasksRequest& req, int page, int page_limit,
                 Done<TaskPage> done) override {
    Answer(Call{"ListTasks", "", req.index_id(), page, opts, Copy(req)}, std::move(done),
           [this, req, page, page_limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<TaskPage> {
             std::vector<gw::Task> match;
             const int64_t from = req.create_time().seconds();
             for (const auto& [id, t] : tasks_) {
               if (!req.index_id().empty() && t.index_id() != req.index_id()) continue;
               if (!req.filename().empty() && t.system_metadata().filename() != req.filename()) continue;
               if (req.has_create_time() && (t.create_time().seconds() < from ||
                                             t.create_time().seconds() / 86400 != from / 86400)) {
                 continue;
               }
               match.push_back(t);
             }
             bool asc = req.sort_order() == gw::SORT_ORDER_ASCENDING;
             bool by_create = req.sort_by() == gw::TASK_SORT_FIELD_CREATE_TIME;
             std::stable_sort(match.begin(), match.end(), [asc, by_create](const gw::Task& a, const gw::Task& b) {
               const auto& ta = by_create ? a.create_time() : a.update_time();
               const auto& tb = by_create ? b.create_time() : b.update_time();
               auto ka = std::make_pair(ta.seconds(), ta.nanos());
               auto kb = std::make_pair(tb.seconds(), tb.nanos());
               return asc ? ka < kb : ka > kb;
             });
             TaskPage out;
             out.page = page;
             int limit = std::max(1, page_limit);
             out.total_pages = (static_cast<int>(match.size()) + limit - 1) / limit;
             out.tasks.set_total_size(static_cast<int>(match.size()));
             for (size_t i = static_cast<size_t>((page - 1) * limit);
                  i < match.size() && i < static_cast<size_t>(page * limit); ++i) {
               *out.tasks.add_tasks() = match[i];
             }
             return out;
           });
  }
  void DeleteTask(const CallOptions& opts, const std::string& task_id, DoneStatus done) override {
    Done<bool> as_bool = [done = std::move(done)](absl::StatusOr<bool> r) mutable { done(r.status()); };
    Answer(Call{"DeleteTask", task_id, "", 0, opts, nullptr}, std::move(as_bool),
           [this, task_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<bool> {
             if (tasks_.erase(task_id) == 0) return NotFound("task", task_id);
             return true;
           });
  }
  void GetIndexTaskCounts(const CallOptions& opts, const std::string& index_id,
                          Done<gw::IndexTaskCounts> done) override {
    Answer(Call{"GetIndexTaskCounts", "", index_id, 0, opts, nullptr}, std::move(done),
           [this, index_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::IndexTaskCounts> {
             auto it = counts_.find(index_id);
             if (it == counts_.end()) return NotFound("index", index_id);
             return it->second;
           });
  }
  void ImportVideos(const CallOptions& opts, const std::string& integration_id,
                    const gw::ImportVideosRequest& req, Done<gw::ImportVideosResponse> done) override {
    Answer(Call{"ImportVideos", integration_id, req.index_id(), 0, opts, Copy(req)}, std::move(done),
           [this, index = req.index_id()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::ImportVideosResponse> {
             gw::ImportVideosResponse r;
             auto* v = r.add_videos();
             v->set_video_id(NewTaskLocked(index, "").video_id);
             v->set_filename("imported.mp4");
             return r;
           });
  }
  void GetImportStatus(const CallOptions& opts, const std::string& integration_id,
                       const std::string& index_id, Done<gw::ImportStatus> done) override {
    Answer(Call{"GetImportStatus", integration_id, index_id, 0, opts, nullptr}, std::move(done),
           [this, key = integration_id + "/" + index_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::ImportStatus> {
             auto it = imports_.find(key);
             if (it == imports_.end()) return NotFound("import", key);
             return it->second;
           });
  }
  void ListImportLogs(const CallOptions& opts, const std::string& integration_id,
                      Done<gw::ListImportLogsResponse> done) override {
    Answer(Call{"ListImportLogs", integration_id, "", 0, opts, nullptr}, std::move(done),
           [this, integration_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::ListImportLogsResponse> {
             auto it = logs_.find(integration_id);
             if (it == logs_.end()) return gw::ListImportLogsResponse();
             return it->second;
           });
  }

  // Assets: created `processing` (the test moves them on with PutAsset);
  // only on v1.3, like the client. The index of an indexed asset is not
  // checked (the fake has no indexes).
  void CreateAsset(const CallOptions& opts, const gw::CreateAssetRequest& req,
                   Done<gw::Asset> done) override {
    Answer(Call{"CreateAsset", "", "", 0, opts, Copy(req)}, std::move(done),
           [this, req]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::Asset> {
             if (auto s = RequireAssets(version_, "CreateAsset"); !s.ok()) return s;
             gw::Asset a;
             a.set_id(NewIdLocked(0xc00000));
             a.set_method(gw::ASSET_METHOD_URL);
             a.set_method_text("url");
             a.set_status(gw::ASSET_STATUS_PROCESSING);
             a.set_status_text("processing");
             a.set_filename(req.filename().empty() ? req.url().substr(req.url().rfind('/') + 1)
                                                   : req.filename());
             a.set_file_type("video/mp4");
             a.mutable_create_time()->set_seconds(1767225600 + next_);
             if (req.has_user_metadata()) *a.mutable_user_metadata() = req.user_metadata();
             assets_[a.id()] = a;
             return a;
           });
  }
  void GetAsset(const CallOptions& opts, const std::string& asset_id, Done<gw::Asset> done) override {
    Answer(Call{"GetAsset", asset_id, "", 0, opts, nullptr}, std::move(done),
           [this, asset_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::Asset> {
             if (auto s = RequireAssets(version_, "GetAsset"); !s.ok()) return s;
             auto it = assets_.find(asset_id);
             if (it == assets_.end()) return NotFound("asset", asset_id);
             return it->second;
           });
  }
  // Filters by ids, type (the file_type's prefix) and a case-sensitive
  // substring of the file name; newest first.
  void ListAssets(const CallOptions& opts, const gw::ListAssetsRequest& req, int page,
                  int page_limit, Done<AssetPage> done) override {
    Answer(Call{"ListAssets", "", "", page, opts, Copy(req)}, std::move(done),
           [this, req, page, page_limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<AssetPage> {
             if (auto s = RequireAssets(version_, "ListAssets"); !s.ok()) return s;
             std::vector<gw::Asset> match;
             for (const auto& [id, a] : assets_) {
               if (req.asset_ids_size() > 0 &&
                   std::find(req.asset_ids().begin(), req.asset_ids().end(), id) == req.asset_ids().end()) {
                 continue;
               }
               if (req.asset_types_size() > 0) {
                 bool any = false;
                 for (int t : req.asset_types()) {
                   any |= a.file_type().rfind(AssetTypeText(static_cast<gw::AssetType>(t)) + "/", 0) == 0;
                 }
                 if (!any) continue;
               }
               if (!req.filename().empty() && a.filename().find(req.filename()) == std::string::npos) continue;
               match.push_back(a);
             }
             std::stable_sort(match.begin(), match.end(), [](const gw::Asset& x, const gw::Asset& y) {
               return x.create_time().seconds() > y.create_time().seconds();
             });
             AssetPage out;
             Paginate(match, page, page_limit, out.assets.mutable_assets(), &out.page, &out.total_pages);
             out.assets.set_total_size(static_cast<int64_t>(match.size()));
             return out;
           });
  }
  // Refuses FAILED_PRECONDITION, as the client does for upstream's 409,
  // while an indexed asset refers to the asset and `force` is false.
  void DeleteAsset(const CallOptions& opts, const std::string& asset_id, bool force,
                   DoneStatus done) override {
    Done<bool> as_bool = [done = std::move(done)](absl::StatusOr<bool> r) mutable { done(r.status()); };
    Answer(Call{"DeleteAsset", asset_id, "", force ? 1 : 0, opts, nullptr}, std::move(as_bool),
           [this, asset_id, force]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<bool> {
             if (auto s = RequireAssets(version_, "DeleteAsset"); !s.ok()) return s;
             if (assets_.count(asset_id) == 0) return NotFound("asset", asset_id);
             for (const auto& [key, ia] : indexed_assets_) {
               if (ia.asset_id() == asset_id && !force) {
                 return absl::FailedPreconditionError(
                     absl::StrCat("asset ", asset_id, " is used by indexed asset ", ia.id()));
               }
             }
             assets_.erase(asset_id);
             return true;
           });
  }
  // The indexed assets of `asset_id`, newest first.
  void ListAssetIndexedAssets(const CallOptions& opts, const std::string& asset_id, int page,
                              int page_limit, Done<IndexedAssetPage> done) override {
    Answer(Call{"ListAssetIndexedAssets", asset_id, "", page, opts, nullptr}, std::move(done),
           [this, asset_id, page, page_limit]()
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<IndexedAssetPage> {
                 if (auto s = RequireAssets(version_, "DeleteAsset"); !s.ok()) return s;
                 if (assets_.count(asset_id) == 0) return NotFound("asset", asset_id);
                 std::vector<gw::IndexedAsset> match;
                 for (const auto& [key, ia] : indexed_assets_) {
                   if (ia.asset_id() == asset_id) match.push_back(ia);
                 }
                 std::stable_sort(match.begin(), match.end(),
                                  [](const gw::IndexedAsset& x, const gw::IndexedAsset& y) {
                                    return x.create_time().seconds() > y.create_time().seconds();
                                  });
                 IndexedAssetPage out;
                 Paginate(match, page, page_limit, out.indexed_assets.mutable_indexed_assets(),
                          &out.page, &out.total_pages);
                 out.indexed_assets.set_total_size(static_cast<int64_t>(match.size()));
                 return out;
               });
  }
  // Needs a known, ready asset; the indexed asset starts `pending`.
  void CreateIndexedAsset(const CallOptions& opts, const gw::IndexAssetRequest& req,
                          Done<CreatedIndexedAsset> done) override {
    Answer(Call{"CreateIndexedAsset", req.asset_id(), req.index_id(), 0, opts, Copy(req)}, std::move(done),
           [this, req]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<CreatedIndexedAsset> {
             if (auto s = RequireAssets(version_, "IndexAsset"); !s.ok()) return s;
             auto it = assets_.find(req.asset_id());
             if (it == assets_.end()) return NotFound("asset", req.asset_id());
             if (it->second.status() != gw::ASSET_STATUS_READY) {
               return absl::InvalidArgumentError(absl::StrCat("asset ", req.asset_id(), " is not ready"));
             }
             gw::IndexedAsset ia;
             ia.set_id(NewIdLocked(0xd00000));
             ia.set_index_id(req.index_id());
             ia.set_asset_id(req.asset_id());
             ia.set_status(gw::INDEXED_ASSET_STATUS_PENDING);
             ia.set_status_text("pending");
             ia.mutable_create_time()->set_seconds(1767225600 + next_);
             *ia.mutable_update_time() = ia.create_time();
             ia.mutable_system_metadata()->set_filename(it->second.filename());
             if (req.has_user_metadata()) *ia.mutable_user_metadata() = req.user_metadata();
             indexed_assets_[req.index_id() + "/" + ia.id()] = ia;
             return CreatedIndexedAsset{ia.id(), ia.asset_id()};
           });
  }
  void GetIndexedAsset(const CallOptions& opts, const std::string& index_id,
                       const std::string& indexed_asset_id, Done<gw::IndexedAsset> done) override {
    Answer(Call{"GetIndexedAsset", indexed_asset_id, index_id, 0, opts, nullptr}, std::move(done),
           [this, key = index_id + "/" + indexed_asset_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
               -> absl::StatusOr<gw::IndexedAsset> {
             if (auto s = RequireAssets(version_, "GetIndexedAsset"); !s.ok()) return s;
             auto it = indexed_assets_.find(key);
             if (it == indexed_assets_.end()) return NotFound("indexed asset", key);
             return it->second;
           });
  }
  // Filters by index, status and exact file name only (the range and
  // metadata filters are upstream's; the request is recorded for tests);
  // newest first.
  void ListIndexedAssets(const CallOptions& opts, const gw::ListIndexedAssetsRequest& req, int page,
                         int page_limit, Done<IndexedAssetPage> done) override {
    Answer(Call{"ListIndexedAssets", "", req.index_id(), page, opts, Copy(req)}, std::move(done),
           [this, req, page, page_limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
               -> absl::StatusOr<IndexedAssetPage> {
             if (auto s = RequireAssets(version_, "ListIndexedAssets"); !s.ok()) return s;
             std::vector<gw::IndexedAsset> match;
             for (const auto& [key, ia] : indexed_assets_) {
               if (ia.index_id() != req.index_id()) continue;
               if (req.statuses_size() > 0 &&
                   std::find(req.statuses().begin(), req.statuses().end(), ia.status()) == req.statuses().end()) {
                 continue;
               }
               if (!req.filename().empty() && ia.system_metadata().filename() != req.filename()) continue;
               match.push_back(ia);
             }
             std::stable_sort(match.begin(), match.end(), [](const gw::IndexedAsset& x, const gw::IndexedAsset& y) {
               return x.create_time().seconds() > y.create_time().seconds();
             });
             IndexedAssetPage out;
             Paginate(match, page, page_limit, out.indexed_assets.mutable_indexed_assets(), &out.page,
                      &out.total_pages);
             out.indexed_assets.set_total_size(static_cast<int64_t>(match.size()));
             return out;
           });
  }
  void DeleteIndexedAsset(const CallOptions& opts, const std::string& index_id,
                          const std::string& indexed_asset_id, DoneStatus done) override {
    Done<bool> as_bool = [done = std::move(done)](absl::StatusOr<bool> r) mutable { done(r.status()); };
    Answer(Call{"DeleteIndexedAsset", indexed_asset_id, index_id, 0, opts, nullptr}, std::move(as_bool),
           [this, key = index_id + "/" + indexed_asset_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
               -> absl::StatusOr<bool> {
             if (auto s = RequireAssets(version_, "DeleteIndexedAsset"); !s.ok()) return s;
             if (indexed_assets_.erase(key) == 0) return NotFound("indexed asset", key);
             return true;
           });
  }

  // ---- Uploads of local files as assets -------------------------------------
  // A multipart session: chunk bytes kept by index; URLs are
  // "https://uploads.fake/{upload_id}/{index}?sig={n}", single use unless
  // the test expires them all (ExpireUrls) first.
  struct FakeSession {
    std::string upload_id, asset_id, filename;
    int64_t size = 0, chunk_size = 0;
    int total_chunks = 0;
    std::map<int, std::string> stored;    // PUT bodies by index
    std::map<int, std::string> etags;     // by index
    std::map<int, bool> reported;         // by index
    std::map<std::string, int> urls;      // signature -> index, unused ones
    bool completed = false;
  };
  // The chunk size of new sessions, and how many URLs a new session carries.
  void set_multipart(int64_t chunk_size, int initial_urls) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    chunk_size_ = chunk_size;
    initial_urls_ = initial_urls;
  }
  // Every URL handed out so far is refused from now on (as if expired).
  void ExpireUrls() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (auto& [id, s] : sessions_) s.urls.clear();
  }
  std::optional<FakeSession> session(const std::string& upload_id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(upload_id);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
  }
  // The session's file, its stored chunks in order ("" if one is missing).
  std::string assembled(const std::string& upload_id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(upload_id);
    if (it == sessions_.end()) return "";
    std::string out;
    for (int i = 1; i <= it->second.total_chunks; ++i) {
      auto c = it->second.stored.find(i);
      if (c == it->second.stored.end()) return "";
      out += c->second;
    }
    return out;
  }
  // The most pieces a PUT body was made of (1: the chunk was joined).
  size_t most_put_pieces() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return most_put_pieces_;
  }
  // The largest PUT body seen so far.
  size_t largest_put() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return largest_put_;
  }

  // Direct uploads are pulled as UploadVideoFile's (bytes in uploaded());
  // a FailNext("UploadAssetDirect", ...) failure is answered after the body.
  void UploadAssetDirect(const CallOptions& opts, const gw::UploadAssetHeader& header,
                         std::shared_ptr<BodySource> source, Done<gw::Asset> done) override {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(Call{"UploadAssetDirect", "", "", 0, opts, Copy(header)});
    }
    auto pull = std::make_shared<Pull>();
    {
      absl::MutexLock lock(&mu_);
      pulls_.push_back(pull);
    }
    pull->source = std::move(source);
    pull->method = "UploadAssetDirect";
    pull->done = [this, header, done = std::move(done)](absl::StatusOr<CreatedTask> r) mutable {
      if (!r.ok()) {
        done(r.status());
        return;
      }
      gw::Asset a;
      {
        absl::MutexLock lock(&mu_);
        a = NewAssetLocked(header, "direct");
      }
      done(std::move(a));
    };
    pull->size = header.size_bytes();
    pull->api = this;
    std::weak_ptr<Pull> weak = pull;
    pull->source->Attach([weak] {
      if (auto p = weak.lock()) p->Pump(p);
    });
    pull->Pump(pull);
  }
  void CreateMultipartUpload(const CallOptions& opts, const gw::UploadAssetHeader& header,
                             Done<MultipartSession> done) override {
    Answer(Call{"CreateMultipartUpload", "", "", 0, opts, Copy(header)}, std::move(done),
           [this, header]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<MultipartSession> {
             if (auto s = RequireAssets(version_, "UploadAsset"); !s.ok()) return s;
             gw::Asset a = NewAssetLocked(header, "multipart");
             FakeSession fs;
             fs.upload_id = NewIdLocked(0xe00000);
             fs.asset_id = a.id();
             fs.filename = header.filename();
             fs.size = header.size_bytes();
             fs.chunk_size = chunk_size_;
             fs.total_chunks = static_cast<int>((fs.size + chunk_size_ - 1) / chunk_size_);
             MultipartSession out;
             out.upload_id = fs.upload_id;
             out.asset_id = fs.asset_id;
             out.chunk_size = fs.chunk_size;
             out.total_chunks = fs.total_chunks;
             for (int i = 1; i <= std::min(initial_urls_, fs.total_chunks); ++i) {
               out.urls.push_back(NewUrlLocked(&fs, i));
             }
             sessions_[fs.upload_id] = std::move(fs);
             return out;
           });
  }
  void GetPresignedUrls(const CallOptions& opts, const std::string& upload_id, int start, int count,
                        Done<std::vector<PresignedUrl>> done) override {
    Answer(Call{"GetPresignedUrls", upload_id, "", start, opts, nullptr}, std::move(done),
           [this, upload_id, start, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
               -> absl::StatusOr<std::vector<PresignedUrl>> {
             auto it = sessions_.find(upload_id);
             if (it == sessions_.end()) return NotFound("upload", upload_id);
             std::vector<PresignedUrl> out;
             for (int i = start; i < start + count && i <= it->second.total_chunks; ++i) {
               out.push_back(NewUrlLocked(&it->second, i));
             }
             return out;
           });
  }
  void ReportChunks(const CallOptions& opts, const std::string& upload_id, std::vector<CompletedChunk> chunks,
                    Done<ChunkReport> done) override {
    Answer(Call{"ReportChunks", upload_id, "", static_cast<int>(chunks.size()), opts, nullptr}, std::move(done),
           [this, upload_id, chunks]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<ChunkReport> {
             auto it = sessions_.find(upload_id);
             if (it == sessions_.end()) return NotFound("upload", upload_id);
             FakeSession& fs = it->second;
             ChunkReport r;
             r.asset_id = fs.asset_id;
             for (const CompletedChunk& c : chunks) {
               if (fs.etags[c.chunk_index] != c.etag) {
                 return absl::InvalidArgumentError(absl::StrCat("chunk ", c.chunk_index, ": wrong proof"));
               }
               if (fs.reported[c.chunk_index]) {
                 ++r.duplicates;
               } else {
                 fs.reported[c.chunk_index] = true;
                 ++r.processed;
               }
             }
             for (const auto& [i, rep] : fs.reported) r.total_completed += rep;
             r.all_reported = r.total_completed == fs.total_chunks;
             fs.completed = r.all_reported;
             return r;
           });
  }
  void GetUpload(const CallOptions& opts, const std::string& upload_id, Done<gw::Upload> done) override {
    Answer(Call{"GetUpload", upload_id, "", 0, opts, nullptr}, std::move(done),
           [this, upload_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<gw::Upload> {
             if (auto s = RequireAssets(version_, "GetUpload"); !s.ok()) return s;
             auto it = sessions_.find(upload_id);
             if (it == sessions_.end()) return NotFound("upload", upload_id);
             const FakeSession& fs = it->second;
             gw::Upload u;
             u.set_upload_id(fs.upload_id);
             u.set_asset_id(fs.asset_id);
             u.set_filename(fs.filename);
             u.set_status(fs.completed ? gw::UPLOAD_STATUS_COMPLETED : gw::UPLOAD_STATUS_ACTIVE);
             u.set_status_text(fs.completed ? "completed" : "active");
             u.set_size_bytes(fs.size);
             u.set_chunk_size_bytes(fs.chunk_size);
             u.set_total_chunks(fs.total_chunks);
             std::vector<int> done_chunks;
             for (const auto& [i, rep] : fs.reported) {
               if (!rep) continue;
               done_chunks.push_back(i);
               u.set_uploaded_bytes(u.uploaded_bytes() + static_cast<int64_t>(fs.stored.at(i).size()));
             }
             u.set_chunks_completed(static_cast<int>(done_chunks.size()));
             u.set_chunks_pending(fs.total_chunks - u.chunks_completed());
             SetCompletedChunks(done_chunks, &u);
             return u;
           });
  }
  // Answers PERMISSION_DENIED for a used or expired URL, UNAVAILABLE
  // without ETag never; keeps the body.
  void PutChunk(const CallOptions& opts, const std::string& url, absl::Cord cord,
                Done<std::string> done) override {
    Answer(Call{"PutChunk", url, "", static_cast<int>(cord.size()), opts, nullptr}, std::move(done),
           [this, url, cord]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
             // Read the way the transport reads it: piece by piece.
             auto body = std::make_shared<std::string>();
             for (absl::string_view piece : cord.Chunks()) body->append(piece.data(), piece.size());
             // https://uploads.fake/{upload_id}/{index}?sig={n}
             const std::string rest = url.substr(std::string("https://uploads.fake/").size());
             const std::string upload_id = rest.substr(0, rest.find('/'));
             const std::string sig = rest.substr(rest.find("?sig=") + 5);
             auto it = sessions_.find(upload_id);
             if (it == sessions_.end()) return NotFound("upload", upload_id);
             FakeSession& fs = it->second;
             auto u = fs.urls.find(sig);
             if (u == fs.urls.end()) return absl::PermissionDeniedError("the URL was refused");
             const int index = u->second;
             fs.urls.erase(u);
             const int64_t want = index < fs.total_chunks ? fs.chunk_size
                                                          : fs.size - fs.chunk_size * (fs.total_chunks - 1);
             if (static_cast<int64_t>(body->size()) != want) {
               return absl::InternalError(absl::StrCat("chunk ", index, " has ", body->size(), " bytes, not ", want));
             }
             largest_put_ = std::max(largest_put_, body->size());
             most_put_pieces_ = std::max<size_t>(most_put_pieces_, std::distance(cord.Chunks().begin(), cord.Chunks().end()));
             fs.stored[index] = *body;
             fs.etags[index] = absl::StrCat("etag-", index, "-", body->size());
             return fs.etags[index];
           });
  }

  // Bytes received by UploadVideoFile calls, in order.
  std::vector<std::string> uploaded() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return uploaded_;
  }

 private:
  // One upload being pulled; Pump() runs on whichever thread resumes it,
  // one at a time.
  struct Pull {
    absl::Mutex mu;
    bool pumping ABSL_GUARDED_BY(mu) = false;
    bool again ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;
    std::shared_ptr<BodySource> source;
    Done<CreatedTask> done;
    std::string method = "UploadVideoFile";  // whose FailNext() failures apply
    std::string index_id, filename, bytes;
    int64_t size = 0;  // declared: the part's exact length
    FakeTwelveLabsApi* api;

    void Pump(const std::shared_ptr<Pull>& self) {
      {
        absl::MutexLock lock(&mu);
        if (finished) return;
        if (pumping) {
          again = true;
          return;
        }
        pumping = true;
      }
      while (true) {
        char buf[64 * 1024];
        const int64_t left = size - static_cast<int64_t>(bytes.size());
        int64_t n = left <= 0 ? 0 : source->Read(buf, static_cast<size_t>(std::min<int64_t>(left, sizeof(buf))));
        if (n > 0) {
          bytes.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (n == BodySource::kPause) {
          absl::MutexLock lock(&mu);
          if (again) {
            again = false;
            continue;
          }
          pumping = false;
          return;
        }
        {
          absl::MutexLock lock(&mu);
          finished = true;
        }
        if (n == BodySource::kAbort) {
          done(absl::CancelledError("the upload was aborted"));
          return;
        }
        absl::StatusOr<CreatedTask> created;
        {
          absl::MutexLock lock(&api->mu_);
          auto& failures = api->failures_[method];
          if (!failures.empty()) {
            created = failures.front();
            failures.pop_front();
          } else {
            api->uploaded_.push_back(bytes);
            created = method == "UploadVideoFile" ? api->NewTaskLocked(index_id, filename) : CreatedTask{};
          }
        }
        done(std::move(created));
        return;
      }
    }
  };

  PresignedUrl NewUrlLocked(FakeSession* fs, int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string sig = std::to_string(++next_);
    fs->urls[sig] = index;
    return PresignedUrl{index, absl::StrCat("https://uploads.fake/", fs->upload_id, "/", index, "?sig=", sig),
                        absl::InfiniteFuture()};
  }
  gw::Asset NewAssetLocked(const gw::UploadAssetHeader& header, const std::string& method)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    gw::Asset a;
    a.set_id(NewIdLocked(0xc00000));
    a.set_method(method == "direct" ? gw::ASSET_METHOD_DIRECT : gw::ASSET_METHOD_MULTIPART);
    a.set_method_text(method);
    a.set_status(gw::ASSET_STATUS_PROCESSING);
    a.set_status_text("processing");
    a.set_filename(header.filename());
    a.set_file_type("video/mp4");
    a.mutable_create_time()->set_seconds(1767225600 + next_);
    if (header.has_user_metadata()) *a.mutable_user_metadata() = header.user_metadata();
    assets_[a.id()] = a;
    return a;
  }
  template <typename M>
  static std::shared_ptr<google::protobuf::Message> Copy(const M& m) {
    return std::make_shared<M>(m);
  }
  static absl::Status NotFound(const std::string& what, const std::string& id) {
    return absl::NotFoundError(absl::StrCat(what, " ", id, " does not exist"));
  }
  std::string NewIdLocked(int base) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++next_;
    char id[32];
    snprintf(id, sizeof(id), "%024x", base + next_);
    return id;
  }
  // Page `page` (1-based) of `items`, `page_limit` a page.
  template <typename T, typename Field>
  static void Paginate(const std::vector<T>& items, int page, int page_limit, Field* out,
                       int64_t* out_page, int64_t* total_pages) {
    const int limit = std::max(1, page_limit);
    *out_page = page;
    *total_pages = (static_cast<int64_t>(items.size()) + limit - 1) / limit;
    for (size_t i = static_cast<size_t>((page - 1) * limit);
         i < items.size() && i < static_cast<size_t>(page * limit); ++i) {
      *out->Add() = items[i];
    }
  }
  CreatedTask NewTaskLocked(const std::string& index_id, const std::string& filename)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++next_;
    char id[32], video[32];
    snprintf(id, sizeof(id), "%024x", 0xa00000 + next_);
    snprintf(video, sizeof(video), "%024x", 0xb00000 + next_);
    gw::Task t;
    t.set_id(id);
    t.set_index_id(index_id);
    t.set_video_id(video);
    t.set_status(gw::TASK_STATUS_PENDING);
    t.set_status_text("pending");
    t.mutable_update_time()->set_seconds(1767225600 + next_);
    if (!filename.empty()) t.mutable_system_metadata()->set_filename(filename);
    tasks_[id] = t;
    return CreatedTask{id, video};
  }

  // Records `call`; answers with a scripted failure or `answer()` (under
  // the lock), now or when the test completes the held call.
  template <typename T, typename F>
  void Answer(Call call, Done<T> done, F answer) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::AnyInvocable<void()> finish = [this, method = call.method, done = std::move(done),
                                         answer = std::move(answer)]() mutable {
      absl::StatusOr<T> result;
      {
        absl::MutexLock lock(&mu_);
        auto& failures = failures_[method];
        if (!failures.empty()) {
          result = failures.front();
          failures.pop_front();
        } else {
          result = answer();
        }
      }
      done(std::move(result));
    };
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(std::move(call));
      if (hold_) {
        held_.push_back(std::move(finish));
        return;
      }
    }
    finish();
  }

  const ApiVersion version_;
  mutable absl::Mutex mu_;
  std::map<std::string, gw::Task> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, gw::ImportStatus> imports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, gw::ListImportLogsResponse> logs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, gw::IndexTaskCounts> counts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, gw::Asset> assets_ ABSL_GUARDED_BY(mu_);
  // Keyed "index_id/indexed_asset_id".
  std::map<std::string, gw::IndexedAsset> indexed_assets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<absl::Status>> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void()>> held_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> uploaded_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Pull>> pulls_ ABSL_GUARDED_BY(mu_);  // every upload, for the fake's life
  std::map<std::string, FakeSession> sessions_ ABSL_GUARDED_BY(mu_);
  int64_t chunk_size_ ABSL_GUARDED_BY(mu_) = 1000;
  int initial_urls_ ABSL_GUARDED_BY(mu_) = 2;
  size_t largest_put_ ABSL_GUARDED_BY(mu_) = 0;
  size_t most_put_pieces_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SUPPORT_FAKE_TWELVELABS_API_H_
