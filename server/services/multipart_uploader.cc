#include "server/services/multipart_uploader.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/common/status_details.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

std::atomic<int64_t> g_buffered{0};

// Failures of one chunk PUT (or URL fetch) worth another attempt: the URL
// was refused (expired, used), the store or the link failed or throttled.
bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace

int64_t MultipartBufferedBytes() { return g_buffered.load(); }

int64_t WorkingSetBytes(const MultipartLimits& limits, int64_t chunk_size, int in_flight) {
  const int64_t steady = chunk_size * in_flight + (chunk_size + 3) / 4;
  return std::min(limits.max_buffer_bytes, steady + limits.max_push_bytes);
}

MultipartUploader::MultipartUploader(TwelveLabsApi* api, Clock* clock, CallOptions opts, MultipartLimits limits,
                                     Hooks hooks, UploadBudget::Reservation reservation)
    : api_(api), clock_(clock), opts_(std::move(opts)), limits_(limits), hooks_(std::move(hooks)),
      reservation_(std::move(reservation)) {}

MultipartUploader::~MultipartUploader() { g_buffered -= buffered_.load(); }

void MultipartUploader::Post(absl::AnyInvocable<void()> action) { queue_.Run(std::move(action)); }

void MultipartUploader::Account(int64_t delta) {
  g_buffered += delta;
  const int64_t now = buffered_ += delta;
  int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
}

void MultipartUploader::StartNew(const gw::UploadAssetHeader& header) {
  auto self = shared_from_this();
  // Queued before the create, whose answer may come inline.
  Post([self, size = header.size_bytes()] { self->size_ = size; });
  api_->CreateMultipartUpload(opts_, header, [self](absl::StatusOr<MultipartSession> s) {
    self->Post([self, s = std::move(s)]() mutable {
      ++self->progress_;
      if (!s.ok()) {
        self->Fail(s.status());
        return;
      }
      const absl::Time now = self->clock_->Now();
      for (PresignedUrl& u : s->urls) self->urls_[u.chunk_index] = HeldUrl{std::move(u.url), now};
      self->Opened(s->upload_id, s->asset_id, s->chunk_size, s->total_chunks, -1, 1);
    });
  });
}

void MultipartUploader::StartResume(const std::string& upload_id, int64_t size, int64_t offset) {
  auto self = shared_from_this();
  Post([self, size] { self->size_ = size; });
  api_->GetUpload(opts_, upload_id, [self, upload_id, size, offset](absl::StatusOr<gw::Upload> u) {
    self->Post([self, u = std::move(u), upload_id, size, offset]() mutable {
      ++self->progress_;
      if (!u.ok()) {
        self->Fail(u.status());
        return;
      }
      if (u->status() != gw::UPLOAD_STATUS_ACTIVE) {
        self->Fail(WithErrorInfo(
            absl::FailedPreconditionError(absl::StrCat(
                "upload ", upload_id, " is ", u->status_text().empty() ? "not active" : u->status_text(),
                u->status() == gw::UPLOAD_STATUS_COMPLETED
                    ? absl::StrCat(": every chunk arrived; its asset is ", u->asset_id())
                    : "; it cannot be continued: upload the file again without upload_id")),
            "UPLOAD_NOT_ACTIVE", kGatewayDomain));
        return;
      }
      if (u->size_bytes() != size) {
        self->Fail(FieldError("header.size_bytes",
                              absl::StrCat("is ", size, " but upload ", upload_id, " is of a ", u->size_bytes(),
                                           "-byte file; a continuation gives the whole file's size")));
        return;
      }
      if (u->chunk_size_bytes() <= 0 || offset % u->chunk_size_bytes() != 0 || offset > u->resume_offset()) {
        self->Fail(WithErrorInfo(
            absl::FailedPreconditionError(absl::StrCat(
                "header.resume_offset: ", offset, " is not where upload ", upload_id,
                " can continue; send the file from byte ", u->resume_offset(),
                " (GetUpload's resume_offset), or from any multiple of its chunk size (",
                u->chunk_size_bytes(), " bytes) below that")),
            "BAD_RESUME_OFFSET", kGatewayDomain));
        return;
      }
      for (const gw::ChunkRange& r : u->completed_chunks()) {
        for (int i = r.first(); i <= r.last(); ++i) self->completed_before_.insert(i);
      }
      self->total_completed_ = static_cast<int>(self->completed_before_.size());
      self->Opened(u->upload_id().empty() ? upload_id : u->upload_id(), u->asset_id(), u->chunk_size_bytes(),
                   u->total_chunks(), size, static_cast<int>(offset / u->chunk_size_bytes()) + 1);
    });
  });
}

void MultipartUploader::Opened(const std::string& upload_id, const std::string& asset_id, int64_t chunk_size,
                               int total_chunks, int64_t size, int first_index) {
  if (size >= 0) size_ = size;
  upload_id_ = upload_id;
  asset_id_ = asset_id;
  chunk_size_ = chunk_size;
  total_chunks_ = total_chunks;
  // Told first, aborted or not: the caller records who owns the session.
  if (hooks_.on_open) hooks_.on_open(upload_id_, asset_id_, chunk_size_);
  if (done_) {
    WindDown();
    return;
  }
  if (chunk_size_ <= 0 || (size_ + chunk_size_ - 1) / chunk_size_ != total_chunks_) {
    Fail(WithErrorInfo(absl::InternalError(absl::StrCat("the Twelve Labs API opened upload ", upload_id_,
                                                        " with ", total_chunks_, " chunks of ", chunk_size_,
                                                        " bytes, which does not fit a ", size_, "-byte file")),
                       "UPSTREAM_BAD_SESSION", kGatewayDomain));
    return;
  }
  // One chunk in flight, one waiting and one filling must fit.
  if (chunk_size_ > limits_.max_buffer_bytes / 3) {
    Fail(WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "the Twelve Labs API asks for chunks of ", chunk_size_, " bytes; three of them are over the ",
            limits_.max_buffer_bytes,
            " bytes the gateway may hold per upload; the operator can raise --asset_upload_max_buffer_mib. "
            "Continue later with upload_id ",
            upload_id_)),
        "UPSTREAM_CHUNK_TOO_LARGE", kGatewayDomain));
    return;
  }
  // Room for the chunks in flight, one waiting for a slot and one filling.
  in_flight_limit_ = static_cast<int>(
      std::clamp<int64_t>(limits_.max_buffer_bytes / chunk_size_ - 2, 1, std::max(1, limits_.chunks_in_flight)));
  limit_ = in_flight_limit_;
  // Taken whole before the size was known; what the session needs is
  // given back to the other uploads now.
  reservation_.ShrinkTo(WorkingSetBytes(limits_, chunk_size_, in_flight_limit_));
  opened_ = true;
  next_index_ = first_index;
  BeginChunk();
  std::deque<std::string> early;
  early.swap(early_);
  for (std::string& bytes : early) {
    Account(-static_cast<int64_t>(bytes.size()));
    Consume(std::move(bytes));
    if (done_) return;
  }
  UpdateRoom();
  CheckFinish();
}

void MultipartUploader::Push(std::string bytes) {
  auto self = shared_from_this();
  const int64_t n = static_cast<int64_t>(bytes.size());
  queued_bytes_ += n;
  Post([self, n, bytes = std::move(bytes)]() mutable {
    self->queued_bytes_ -= n;
    if (self->done_) return;
    if (!self->opened_) {
      self->Account(static_cast<int64_t>(bytes.size()));
      self->early_.push_back(std::move(bytes));
      return;
    }
    self->Consume(std::move(bytes));
    self->UpdateRoom();
  });
}

void MultipartUploader::EndOfInput() {
  auto self = shared_from_this();
  Post([self] {
    self->input_ended_ = true;
    self->CheckFinish();
  });
}

void MultipartUploader::Abort(absl::Status why) {
  auto self = shared_from_this();
  Post([self, why = std::move(why)]() mutable { self->Fail(std::move(why)); });
}

int64_t MultipartUploader::ChunkLength(int index) const {
  if (index < total_chunks_) return chunk_size_;
  return size_ - chunk_size_ * (total_chunks_ - 1);
}

void MultipartUploader::BeginChunk() {
  filled_ = 0;
  assembling_.Clear();
  assembling_held_ = 0;
  if (next_index_ > total_chunks_) return;
  skip_current_ = completed_before_.count(next_index_) > 0;
}

void MultipartUploader::Hold(absl::Cord piece, int64_t held) {
  assembling_.Append(std::move(piece));
  assembling_held_ += held;
  Account(held);
}

void MultipartUploader::Consume(std::string data) {
  // The message's own buffer becomes part of the chunk: no byte is copied
  // unless the message straddles a chunk boundary, and then only its
  // smaller side (the larger keeps the buffer, and with it the other
  // side's bytes until its chunk is sent: counted in `held`, at most half a
  // message per boundary, none when message sizes divide the chunk size).
  absl::Cord rest(std::move(data));
  int64_t rest_held = static_cast<int64_t>(rest.size());  // memory `rest` keeps alive
  while (!rest.empty() && next_index_ <= total_chunks_) {
    const int64_t need = ChunkLength(next_index_) - filled_;
    const int64_t n = static_cast<int64_t>(rest.size());
    if (n <= need) {
      if (!skip_current_) Hold(std::move(rest), rest_held);
      rest.Clear();
      filled_ += n;
    } else if (skip_current_) {
      rest.RemovePrefix(static_cast<size_t>(need));
      filled_ += need;
    } else if (need <= n - need) {
      // The head is the smaller side: copied into the chunk being finished.
      Hold(absl::Cord(std::string(rest.Subcord(0, static_cast<size_t>(need)))), need);
      rest.RemovePrefix(static_cast<size_t>(need));
      filled_ += need;
    } else {
      // The tail is: copied out for the next chunk.
      std::string tail(rest.Subcord(static_cast<size_t>(need), static_cast<size_t>(n - need)));
      rest.RemoveSuffix(static_cast<size_t>(n - need));
      Hold(std::move(rest), rest_held);
      rest = absl::Cord(std::move(tail));
      rest_held = n - need;
      filled_ += need;
    }
    if (filled_ == ChunkLength(next_index_)) CompleteChunk();
  }
  // Bytes past the last chunk cannot come: the caller checks the size.
}

void MultipartUploader::CompleteChunk() {
  if (!skip_current_) {
    Chunk c;
    c.bytes = std::move(assembling_);
    c.held = assembling_held_;
    ready_.emplace_back(next_index_, std::move(c));
  }
  ++next_index_;
  BeginChunk();
  Pump();
}

void MultipartUploader::Pump() {
  while (!stopped_ && static_cast<int>(active_.size()) < in_flight_limit_ && !ready_.empty()) {
    auto [index, chunk] = std::move(ready_.front());
    ready_.pop_front();
    active_[index] = std::move(chunk);
    Dispatch(index);
  }
}

void MultipartUploader::Dispatch(int index) {
  if (stopped_ || active_.count(index) == 0) return;
  auto it = urls_.find(index);
  if (it != urls_.end() && clock_->Now() - it->second.received < limits_.url_lifetime) {
    std::string url = std::move(it->second.url);
    urls_.erase(it);  // single use
    Put(index, url);
    return;
  }
  if (it != urls_.end()) urls_.erase(it);
  url_waiters_.insert(index);
  FetchUrls();
}

void MultipartUploader::FetchUrls() {
  if (url_fetch_in_flight_ || url_waiters_.empty() || stopped_) return;
  const int start = *url_waiters_.begin();
  // The run of chunks from `start` that lack a usable URL, to fetch in one
  // call: the next chunks' URLs come with a new one's.
  const absl::Time now = clock_->Now();
  int count = 1;
  while (count < kMaxPresignedUrlsPerCall && start + count <= total_chunks_) {
    auto it = urls_.find(start + count);
    if (it != urls_.end() && now - it->second.received < limits_.url_lifetime) break;
    ++count;
  }
  url_fetch_in_flight_ = true;
  auto self = shared_from_this();
  api_->GetPresignedUrls(opts_, upload_id_, start, count, [self](absl::StatusOr<std::vector<PresignedUrl>> urls) {
    self->Post([self, urls = std::move(urls)]() mutable { self->OnUrls(std::move(urls)); });
  });
}

void MultipartUploader::OnUrls(absl::StatusOr<std::vector<PresignedUrl>> urls) {
  ++progress_;
  url_fetch_in_flight_ = false;
  if (stopped_) {
    CheckFinish();
    return;
  }
  if (!urls.ok()) {
    if (!Retryable(urls.status()) || ++url_fetch_failures_ >= limits_.put_attempts) {
      Fail(urls.status());
      return;
    }
    auto self = shared_from_this();
    clock_->RunAfter(Backoff(url_fetch_failures_), [self](bool cancelled) {
      self->Post([self, cancelled] {
        if (cancelled) {
          self->Fail(WithErrorInfo(absl::UnavailableError("the gateway is shutting down; continue the upload later"),
                                   "GATEWAY_SHUTTING_DOWN", kGatewayDomain));
          return;
        }
        self->FetchUrls();
      });
    });
    return;
  }
  const absl::Time now = clock_->Now();
  for (PresignedUrl& u : *urls) urls_[u.chunk_index] = HeldUrl{std::move(u.url), now};
  std::set<int> waiters;
  waiters.swap(url_waiters_);
  for (int index : waiters) {
    if (urls_.count(index) == 0) {
      url_waiters_.insert(index);
      continue;
    }
    Dispatch(index);
  }
  if (!url_waiters_.empty()) {
    // Upstream left out a chunk it was asked for: asked again, a bounded
    // number of times.
    if (++url_fetch_failures_ >= limits_.put_attempts) {
      Fail(WithErrorInfo(absl::InternalError(absl::StrCat("the Twelve Labs API gave no upload URL for chunk ",
                                                          *url_waiters_.begin(), " of upload ", upload_id_)),
                         "UPSTREAM_NO_UPLOAD_URL", kGatewayDomain));
      return;
    }
  } else {
    url_fetch_failures_ = 0;
  }
  FetchUrls();
}

void MultipartUploader::Put(int index, const std::string& url) {
  ++putting_;
  ++active_[index].attempts;
  active_[index].putting = true;
  auto self = shared_from_this();
  api_->PutChunk(opts_, url, active_[index].bytes, [self, index](absl::StatusOr<std::string> etag) {
    self->Post([self, index, etag = std::move(etag)]() mutable { self->OnPut(index, std::move(etag)); });
  });
}

void MultipartUploader::OnPut(int index, absl::StatusOr<std::string> etag) {
  ++progress_;
  --putting_;
  auto it = active_.find(index);
  if (it == active_.end()) return;  // cannot happen: PUT chunks stay active
  it->second.putting = false;
  if (etag.ok()) {
    const int64_t size = static_cast<int64_t>(it->second.bytes.size());
    etags_.push_back(CompletedChunk{index, *std::move(etag), size});
    // The chunk's bytes go as soon as upstream has them.
    Account(-it->second.held);
    active_.erase(it);
    if (stopped_) {
      MaybeReleaseBudget();
      CheckFinish();
      return;
    }
    MaybeReport(false);
    Pump();
    UpdateRoom();
    CheckFinish();
    return;
  }
  if (stopped_) {
    Account(-it->second.held);
    active_.erase(it);
    MaybeReleaseBudget();
    CheckFinish();
    return;
  }
  if (!Retryable(etag.status()) || it->second.attempts >= limits_.put_attempts) {
    Fail(WithErrorInfo(
        absl::Status(etag.status().code(),
                     absl::StrCat("chunk ", index, " of upload ", upload_id_, " failed after ", it->second.attempts,
                                  " attempt(s): ", etag.status().message(),
                                  "; continue the upload with its upload_id")),
        ErrorReason(etag.status()).value_or("PRESIGNED_PUT_FAILED"), kGatewayDomain));
    return;
  }
  Log(LogLevel::kInfo, "upload", "chunk PUT failed; retrying with a fresh URL",
      {{"upload_id", upload_id_}, {"chunk", std::to_string(index)}, {"error", std::string(etag.status().message())}});
  auto self = shared_from_this();
  clock_->RunAfter(Backoff(it->second.attempts), [self, index](bool cancelled) {
    self->Post([self, index, cancelled] {
      if (cancelled) {
        self->Fail(WithErrorInfo(absl::UnavailableError("the gateway is shutting down; continue the upload later"),
                                 "GATEWAY_SHUTTING_DOWN", kGatewayDomain));
        return;
      }
      // A used or failed URL is not tried again.
      self->urls_.erase(index);
      self->Dispatch(index);
    });
  });
}

void MultipartUploader::MaybeReport(bool force) {
  if (report_in_flight_ || etags_.empty()) return;
  if (!force && static_cast<int>(etags_.size()) < limits_.report_batch) return;
  std::vector<CompletedChunk> batch;
  const size_t n = std::min<size_t>(etags_.size(), static_cast<size_t>(std::max(limits_.report_batch, 1)) * 4);
  batch.assign(etags_.begin(), etags_.begin() + static_cast<std::ptrdiff_t>(n));
  etags_.erase(etags_.begin(), etags_.begin() + static_cast<std::ptrdiff_t>(n));
  report_in_flight_ = true;
  auto self = shared_from_this();
  api_->ReportChunks(opts_, upload_id_, std::move(batch), [self](absl::StatusOr<ChunkReport> r) {
    self->Post([self, r = std::move(r)]() mutable { self->OnReport(std::move(r)); });
  });
}

void MultipartUploader::OnReport(absl::StatusOr<ChunkReport> report) {
  ++progress_;
  report_in_flight_ = false;
  if (!report.ok()) {
    if (stopped_) return;  // the wind-down reports once, best effort
    Fail(WithErrorInfo(absl::Status(report.status().code(),
                                    absl::StrCat("reporting the uploaded chunks of upload ", upload_id_,
                                                 " failed: ", report.status().message(),
                                                 "; continue the upload with its upload_id")),
                       ErrorReason(report.status()).value_or("UPSTREAM_REPORT_FAILED"), kGatewayDomain));
    return;
  }
  total_completed_ = std::max(total_completed_, report->total_completed);
  all_reported_ = all_reported_ || report->all_reported;
  if (stopped_) {
    CheckFinish();
    return;
  }
  MaybeReport(false);
  CheckFinish();
}

void MultipartUploader::CheckFinish() {
  if (stopped_) {
    // Winding down: once no PUT is under way, report what arrived, once.
    if (putting_ == 0 && !report_in_flight_ && !etags_.empty()) MaybeReport(true);
    return;
  }
  if (done_ || finishing_ || !opened_ || !input_ended_) return;
  if (next_index_ <= total_chunks_ || !ready_.empty() || !active_.empty()) return;
  if (!etags_.empty() || report_in_flight_) {
    MaybeReport(true);
    return;
  }
  if (!all_reported_ && total_completed_ < total_chunks_) {
    Fail(WithErrorInfo(absl::InternalError(absl::StrCat("every chunk of upload ", upload_id_,
                                                        " was sent, but the Twelve Labs API counts ",
                                                        total_completed_, " of ", total_chunks_)),
                       "UPLOAD_INCOMPLETE", kGatewayDomain));
    return;
  }
  finishing_ = true;
  auto self = shared_from_this();
  api_->GetAsset(opts_, asset_id_, [self](absl::StatusOr<gw::Asset> asset) {
    self->Post([self, asset = std::move(asset)]() mutable {
      ++self->progress_;
      if (self->done_) return;
      self->done_ = true;
      self->stopped_ = true;
      self->UpdateRoom();
      // Every chunk is gone: the budget is free before the caller hears.
      self->MaybeReleaseBudget();
      if (!asset.ok()) {
        // The file arrived: answer what is known rather than an error
        // that would make the caller upload it again.
        Log(LogLevel::kWarning, "upload", "uploaded asset could not be read back",
            {{"asset_id", self->asset_id_}, {"error", std::string(asset.status().message())}});
        gw::Asset known;
        known.set_id(self->asset_id_);
        known.set_method(gw::ASSET_METHOD_MULTIPART);
        known.set_method_text("multipart");
        asset = std::move(known);
      }
      if (self->hooks_.on_done) self->hooks_.on_done(std::move(asset));
    });
  });
}

void MultipartUploader::Fail(absl::Status why) {
  if (done_) return;
  done_ = true;
  // Wound down first, so that without a PUT under way the budget is free
  // before the caller hears (and a retry that follows fits).
  WindDown();
  if (hooks_.on_done) hooks_.on_done(std::move(why));
}

void MultipartUploader::MaybeReleaseBudget() {
  if (done_ && active_.empty() && ready_.empty() && early_.empty()) reservation_.Release();
}

void MultipartUploader::WindDown() {
  stopped_ = true;
  room_ = false;
  // Bytes not yet on their way are dropped; PUTs under way finish, and
  // what they complete is reported (CheckFinish), so a resume skips it.
  int64_t freed = assembling_held_;
  assembling_.Clear();
  assembling_held_ = 0;
  for (auto& [index, c] : ready_) freed += c.held;
  ready_.clear();
  for (const std::string& b : early_) freed += static_cast<int64_t>(b.size());
  early_.clear();
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second.putting) {
      ++it;
      continue;
    }
    freed += it->second.held;
    it = active_.erase(it);
  }
  url_waiters_.clear();
  Account(-freed);
  MaybeReleaseBudget();
  if (opened_) CheckFinish();
}

void MultipartUploader::UpdateRoom() {
  // While every slot is busy, the next chunk is filled only a quarter of
  // the way: when a PUT ends the rest arrives quickly (the other PUTs keep
  // going meanwhile), and the upload holds the chunks in flight plus a
  // quarter of a chunk, not plus two. (Half measured ~2 MiB more peak
  // memory for the same CPU and throughput, bench/RESULTS.md.)
  const bool slots_busy = static_cast<int>(active_.size()) >= in_flight_limit_;
  const bool started = next_index_ <= total_chunks_ && !skip_current_ &&
                       filled_ * 4 >= ChunkLength(next_index_);
  const bool room = opened_ && !stopped_ && ready_.empty() && !(slots_busy && started);
  const bool was = room_.exchange(room);
  // Also when the caller found no room only because a push was queued.
  if (room && queued_bytes_.load() == 0 && (!was || asked_while_full_.exchange(false)) && hooks_.on_room) {
    hooks_.on_room();
  }
}

absl::Duration MultipartUploader::Backoff(int attempt) const {
  absl::Duration cap = limits_.initial_backoff;
  for (int i = 1; i < attempt && cap < limits_.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, limits_.max_backoff);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> u(0.5, 1.0);
  return cap * u(rng);
}

}  // namespace tlgw
