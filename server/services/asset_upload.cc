#include "server/services/asset_upload.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/auth/authenticator.h"
#include "server/common/serial_queue.h"
#include "server/services/create_flow.h"
#include "server/services/index_when_ready.h"
#include "server/services/multipart_uploader.h"
#include "server/services/upload_pipe.h"
#include "server/services/upload_reactor.h"
#include "server/services/validation.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

absl::Status ValidateUploadAssetHeader(const gw::UploadAssetHeader& h, const std::string& field) {
  auto f = [&field](absl::string_view name) { return absl::StrCat(field, ".", name); };
  if (h.size_bytes() <= 0) {
    return FieldError(f("size_bytes"), "must be the file's exact size in bytes; an empty file cannot be uploaded");
  }
  if (!h.upload_id().empty()) {
    if (auto s = ValidateId(f("upload_id"), h.upload_id()); !s.ok()) return s;
    if (h.size_bytes() > kMaxMultipartAssetBytes) {
      return FieldError(f("size_bytes"), "is over the 10 GB a multipart upload takes");
    }
    if (h.resume_offset() < 0 || h.resume_offset() >= h.size_bytes()) {
      return FieldError(f("resume_offset"),
                        "must be GetUpload's resume_offset: at least 0 and below the file's size (an upload "
                        "whose chunks all arrived needs no continuation)");
    }
    // The session keeps the first header's fields.
    if (!h.filename().empty() || h.type() != gw::ASSET_TYPE_UNSPECIFIED || h.has_enable_hls() ||
        h.has_enable_thumbnail() || h.has_user_metadata()) {
      return FieldError(field,
                        "a continuation (upload_id set) carries only upload_id, size_bytes and resume_offset: "
                        "the session keeps the first upload's filename, type and options");
    }
    if (!h.request_id().empty()) {
      // The session already names the one asset a continuation completes:
      // repeating a continuation cannot make a second one.
      return FieldError(f("request_id"),
                        "is not taken with upload_id: a continuation completes the one asset its session "
                        "reserved, so repeating it is safe without one; to retry the whole upload instead, "
                        "send its first header again with its request_id");
    }
    return absl::OkStatus();
  }
  if (h.resume_offset() != 0) {
    return FieldError(f("resume_offset"), "is only for a continuation: set upload_id too, or leave it 0");
  }
  if (auto s = ValidateFileName(f("filename"), h.filename()); !s.ok()) return s;
  if (h.type() != gw::ASSET_TYPE_VIDEO && h.type() != gw::ASSET_TYPE_AUDIO && h.type() != gw::ASSET_TYPE_IMAGE) {
    return FieldError(f("type"), "must be ASSET_TYPE_VIDEO, ASSET_TYPE_AUDIO or ASSET_TYPE_IMAGE");
  }
  const bool image = h.type() == gw::ASSET_TYPE_IMAGE;
  const int64_t limit = image ? kMaxImageAssetBytes : kMaxMultipartAssetBytes;
  if (h.size_bytes() > limit) {
    return WithErrorInfo(absl::OutOfRangeError(absl::StrCat(
                             f("size_bytes"), ": ", h.size_bytes(), " bytes is over the Twelve Labs limit of ",
                             image ? "32 MB for an image" : "10 GB for a video or audio file", " (", limit,
                             " bytes)")),
                         "FILE_TOO_LARGE", kGatewayDomain);
  }
  if (h.has_user_metadata()) {
    if (auto s = UserMetadataJson(h.user_metadata(), f("user_metadata")).status(); !s.ok()) return s;
  }
  return ValidateRequestId(f("request_id"), h.request_id());
}

namespace {

absl::Status UploadNotFound(const std::string& id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("upload ", id, " was not found")), "RESOURCE_NOT_EXIST",
                       kUpstreamDomain);
}

void RecordOwner(const ServiceDeps& deps, const std::string& id, const std::string& tenant, const char* what) {
  if (id.empty()) return;
  if (absl::Status s = deps.owners->RecordOwner(id, tenant); !s.ok()) {
    Log(LogLevel::kError, "create", absl::StrCat(what, " owner not recorded"), {{"id", id}});
  }
}

class Flow : public AssetUploadFlow, public std::enable_shared_from_this<Flow> {
 public:
  Flow(const ServiceDeps* deps, Admitted call, std::string method, Io io)
      : deps_(deps), who_(std::move(call.who)), opts_(std::move(call.opts)), audit_(call.audit),
        audit_call_(call.audit_call), method_(std::move(method)), io_(std::move(io)) {}

  void Start() override {
    Post([s = shared_from_this()] {
      s->StartIdleTimer();
      s->ReadNext();
    });
  }
  void OnHeader(UploadHeader header) override {
    Post([s = shared_from_this(), header = std::move(header)]() mutable {
      s->read_pending_ = false;
      s->Touch();
      s->Header(std::move(header));
    });
  }
  void OnChunk(std::string bytes) override {
    Post([s = shared_from_this(), bytes = std::move(bytes)]() mutable {
      s->read_pending_ = false;
      s->Touch();
      s->Chunk(std::move(bytes));
    });
  }
  void OnEnd() override {
    Post([s = shared_from_this()] {
      s->read_pending_ = false;
      s->client_done_ = true;
      s->Touch();
      s->End();
    });
  }
  void OnError(absl::Status status) override {
    Post([s = shared_from_this(), status = std::move(status)] {
      s->read_pending_ = false;
      s->Fail(status);
    });
  }

 private:
  // `keep` holds the flow for as long as this thread drains the queue: an
  // action that finishes the call lets the reactor drop its reference at
  // once, and the action's own, destroyed inside the drain, must not be
  // the last while the queue still runs.
  void Post(absl::AnyInvocable<void()> action) {
    auto keep = shared_from_this();
    queue_.Run(std::move(action));
  }
  void Touch() {
    if (deps_->clock != nullptr) last_message_ = deps_->clock->Now();
  }

  void ReadNext() {
    if (finished_ || read_pending_ || client_done_) return;
    // After the header, nothing is read until the request_id allows the
    // upload (a repeat is answered without reading the rest).
    if (have_header_ && !upstream_started_) return;
    if (pipe_ != nullptr && !pipe_->HasRoom()) return;         // resumed by the pipe's on_room
    if (uploader_ != nullptr && !uploader_->HasRoom()) return;  // resumed by the uploader's on_room
    read_pending_ = true;
    io_.read();
  }

  void Header(UploadHeader whole) {
    if (finished_) return;
    if (have_header_) {
      Fail(FieldError("header", "was sent twice; send it once, first, then only chunks"));
      return;
    }
    if (auto s = ValidateUploadAssetHeader(whole.upload); !s.ok()) {
      Fail(s);
      return;
    }
    have_header_ = true;
    header_ = std::move(whole.upload);
    if (audit_ != nullptr) {
      // The call's audit line names the ids the header names, as other
      // methods' lines do. Not the filename: the audit keeps ids only,
      // never client text (a filename can carry a person's name).
      std::map<std::string, std::string> ids = std::move(whole.audit_ids);
      if (!header_.upload_id().empty()) ids["upload_id"] = header_.upload_id();
      audit_->AddResources(audit_call_, ids);
    }
    expected_ = header_.size_bytes() - header_.resume_offset();
    if (!header_.upload_id().empty()) {
      if (auto v = CheckOwnedIdVisible(*deps_, who_, header_.upload_id(), UploadNotFound(header_.upload_id()));
          !v.ok()) {
        Fail(v);
        return;
      }
    }
    // The upload's bytes are reserved before the request_id is claimed or
    // anything asked of upstream, so one that does not fit leaves no
    // trace: a direct POST its pipe's, a multipart upload the most one may
    // hold (its chunk size is not known yet; shrunk once it is).
    auto reserved =
        deps_->upload_budget->Reserve(Direct() ? PipeReservation(header_.size_bytes())
                                               : deps_->asset_upload.max_buffer_bytes);
    if (!reserved.ok()) {
      Fail(reserved.status());
      return;
    }
    reservation_ = *std::move(reserved);
    // The create, as CreateAsset's: the request_id (if any) is claimed
    // first, and only then does `start` begin the upload.
    const ServiceDeps* d = deps_;
    const CallOptions opts = opts_;
    std::weak_ptr<Flow> weak = shared_from_this();
    CreateFlow<gw::Asset> create;
    create.method = method_;
    create.what = "asset";
    create.request = whole.covered != nullptr ? whole.covered.get() : &header_;  // fingerprinted at once
    create.request_id = header_.request_id();  // validated: never with upload_id
    create.target.source = header_.filename();
    create.target.streamed = true;
    // May run later, on an upstream thread (after a look-up for an earlier
    // attempt's asset): the queue orders it with the reads, and an upload
    // that ended meanwhile never starts.
    create.start = [weak](TwelveLabsApi::Done<gw::Asset> created) {
      auto s = weak.lock();
      if (s == nullptr) {
        created(absl::CancelledError("the upload ended before it could start"));
        return;
      }
      s->Post([s, created = std::move(created)]() mutable { s->BeginUpload(std::move(created)); });
    };
    create.read = [d, opts](gw::Asset known, TwelveLabsApi::Done<gw::Asset> done) {
      if (!known.status_text().empty()) {  // the upload's answer is the whole asset
        done(std::move(known));
        return;
      }
      // A repeat of a completed upload: read it fresh.
      d->api->GetAsset(opts, known.id(), [known, done = std::move(done)](absl::StatusOr<gw::Asset> a) mutable {
        done(a.ok() ? std::move(a) : absl::StatusOr<gw::Asset>(std::move(known)));
      });
    };
    create.find = [d, opts](const RequestStore::Attempt& attempt,
                            TwelveLabsApi::Done<std::optional<gw::Asset>> done) {
      FindUnansweredAsset(*d, opts, attempt, std::move(done));
    };
    // Upstream makes no asset of a file whose bytes did not all arrive (a
    // direct POST is cut short; a session is never completed): such a
    // failure releases the request_id at once. Runs on the queue, or (the
    // flow gone, so nothing was uploaded) from `start`.
    create.may_have_created = [weak](const absl::Status& failure) {
      auto s = weak.lock();
      return s != nullptr && s->received_ == s->expected_ && MayHaveCreated(failure);
    };
    RunCreateFlow<gw::Asset>(*deps_, opts_, who_.tenant, std::move(create),
                             [weak](absl::StatusOr<gw::Asset> asset) {
                               if (auto s = weak.lock()) {
                                 s->Post([s, asset = std::move(asset)]() mutable { s->Answer(std::move(asset)); });
                               }
                             });
  }

  // The request_id allows the upload (or there is none): starts it.
  void BeginUpload(TwelveLabsApi::Done<gw::Asset> created) {
    if (finished_) {
      created(absl::CancelledError("the upload ended before it could start"));
      return;
    }
    created_ = std::move(created);
    std::weak_ptr<Flow> weak = shared_from_this();
    auto on_room = [weak] {
      if (auto s = weak.lock()) s->Post([s] { s->ReadNext(); });
    };
    auto on_done = [weak](absl::StatusOr<gw::Asset> asset) {
      if (auto s = weak.lock()) {
        s->Post([s, asset = std::move(asset)]() mutable { s->UpstreamDone(std::move(asset)); });
      }
    };
    const bool resume = !header_.upload_id().empty();
    upstream_started_ = true;
    if (Direct()) {
      pipe_ = std::make_shared<UploadPipe>(kUploadHighWater, on_room);
      // Holds the flow until upstream answers, so even a late answer is
      // seen (UpstreamDone).
      deps_->api->UploadAssetDirect(opts_, header_, pipe_, [self = shared_from_this()](absl::StatusOr<gw::Asset> asset) {
        self->Post([self, asset = std::move(asset)]() mutable { self->UpstreamDone(std::move(asset)); });
      });
      ReadNext();
      return;
    }
    MultipartUploader::Hooks hooks;
    hooks.on_room = on_room;
    hooks.on_open = [deps = deps_, tenant = who_.tenant, resume](const std::string& upload_id,
                                                                 const std::string& asset_id, int64_t) {
      // Before any chunk is sent: the session and its asset are the
      // tenant's from the start, so a lost stream can be continued.
      if (resume) return;
      RecordOwner(*deps, upload_id, tenant, "upload");
      RecordOwner(*deps, asset_id, tenant, "asset");
    };
    hooks.on_done = on_done;
    // The uploader holds the reservation from here: its chunks outlive the
    // call while PUTs under way at an abort finish.
    uploader_ = std::make_shared<MultipartUploader>(deps_->api, deps_->clock, opts_, deps_->asset_upload,
                                                    std::move(hooks), std::move(reservation_));
    if (resume) {
      uploader_->StartResume(header_.upload_id(), header_.size_bytes(), header_.resume_offset());
    } else {
      uploader_->StartNew(header_);
    }
    ReadNext();
  }

  void Chunk(std::string bytes) {
    if (finished_) return;
    if (!have_header_) {
      Fail(FieldError("chunk", "arrived before the header; the first message must be the header"));
      return;
    }
    if (bytes.size() > kMaxUploadChunkBytes) {
      Fail(WithErrorInfo(absl::OutOfRangeError(absl::StrCat(
                             "chunk: ", bytes.size(), " bytes is over the limit of ", kMaxUploadChunkBytes,
                             " bytes (4 MiB) per message; send smaller chunks (1 MiB is a good size)")),
                         "CHUNK_TOO_LARGE", kGatewayDomain));
      return;
    }
    if (received_ + static_cast<int64_t>(bytes.size()) > expected_) {
      Fail(WithErrorInfo(absl::OutOfRangeError(absl::StrCat(
                             "chunk: the stream carries more than the ", expected_, " bytes the header declared",
                             header_.resume_offset() > 0 ? " (size_bytes minus resume_offset)" : "")),
                         "MORE_BYTES_THAN_DECLARED", kGatewayDomain));
      return;
    }
    received_ += static_cast<int64_t>(bytes.size());
    if (pipe_ != nullptr) pipe_->Push(std::move(bytes));
    if (uploader_ != nullptr) {
      uploader_->Push(std::move(bytes));
      // Every byte is in: finish without waiting for the client to close
      // its side, as the direct POST does.
      if (received_ == expected_) uploader_->EndOfInput();
    }
    ReadNext();
  }

  void End() {
    if (finished_) return;
    if (!have_header_) {
      Fail(FieldError("header", "the stream ended before its first message, the header"));
      return;
    }
    if (received_ < expected_) {
      Fail(FieldError("chunk", absl::StrCat("the stream ended after ", received_, " bytes, but the header declared ",
                                            expected_, header_.resume_offset() > 0 ? " (size_bytes minus resume_offset)" : "",
                                            uploader_ != nullptr
                                                ? "; the chunks that arrived are kept: continue with GetUpload "
                                                  "and upload_id"
                                                : "")));
      return;
    }
    // All bytes are in: the upstream's answer finishes the call.
    if (uploader_ != nullptr) uploader_->EndOfInput();
  }

  // The upload's upstream outcome: to the create flow, which records it
  // under the request_id and then answers (Answer). After Fail the create
  // flow has had its outcome already.
  void UpstreamDone(absl::StatusOr<gw::Asset> asset) {
    if (created_ == nullptr) {
      // A direct POST's asset that came after the upload failed on the
      // gateway's side (after every byte went out). Without request_id it
      // is recorded as the tenant's, as any upload's; with one it is left
      // unowned, so the retry's look-up (FindUnansweredAsset) adopts it.
      if (asset.ok() && pipe_ != nullptr && header_.request_id().empty()) {
        RecordOwner(*deps_, asset->id(), who_.tenant, "asset");
      }
      return;
    }
    auto created = std::move(created_);
    created_ = nullptr;
    created(std::move(asset));
  }

  // The call's answer: the asset (new, or a repeat's recorded one), or why not.
  void Answer(absl::StatusOr<gw::Asset> asset) {
    if (finished_) return;
    finished_ = true;
    Abandon(asset.ok() ? absl::OkStatus() : asset.status());
    auto done = std::move(io_.done);
    done(std::move(asset));
  }

  void Fail(const absl::Status& status) {
    if (finished_) return;
    finished_ = true;
    Abandon(status);
    // The create flow hears of the failure before the client does: a
    // retry then finds the request_id released (or reopened).
    UpstreamDone(status);
    auto done = std::move(io_.done);
    done(status);
  }

  // Ends everything the upload holds once the call is answered: no read
  // starts, the reactor is never called again (a pending read's outcome
  // and the idle timer find `finished_`), a direct POST that has not sent
  // every byte is aborted (so no half-uploaded asset is left), and the
  // multipart uploader starts no PUT and drops its chunks once those in
  // flight end (reporting what arrived, so a continuation skips it).
  void Abandon(const absl::Status& why) {
    io_.read = nullptr;
    if (!why.ok() && pipe_ != nullptr) pipe_->Abort();
    if (uploader_ != nullptr) uploader_->Abort(why.ok() ? absl::CancelledError("the upload was answered") : why);
    // The pipe holds nothing now (upstream answered, or it is aborted);
    // nor does an upload that never started.
    reservation_.Release();
  }

  // Whether the upload is one direct POST (else a multipart session).
  bool Direct() const {
    const int64_t direct_limit =
        header_.type() == gw::ASSET_TYPE_IMAGE ? kMaxImageAssetBytes : deps_->asset_direct_max_bytes;
    return header_.upload_id().empty() && header_.size_bytes() <= direct_limit;
  }

  // The idle timer, as UploadVideoFile's (upload_reactor.cc): one pending
  // RunAfter per upload, re-armed from each check.
  void StartIdleTimer() {
    if (deps_->clock == nullptr) return;
    last_message_ = last_upstream_ = deps_->clock->Now();
    ArmIdleTimer(deps_->upload_idle_timeout);
  }
  void ArmIdleTimer(absl::Duration delay) {
    std::weak_ptr<Flow> weak = shared_from_this();
    deps_->clock->RunAfter(std::max(delay, absl::Milliseconds(1)), [weak](bool cancelled) {
      if (cancelled) return;
      if (auto s = weak.lock()) s->Post([s] { s->CheckIdle(); });
    });
  }
  int64_t UpstreamProgress() const {
    if (pipe_ != nullptr) return pipe_->bytes_read();
    if (uploader_ != nullptr) return uploader_->progress();
    return 0;
  }
  void CheckIdle() {
    if (finished_) return;
    const absl::Time now = deps_->clock->Now();
    const absl::Duration limit = deps_->upload_idle_timeout;
    if (int64_t p = UpstreamProgress(); p != seen_progress_) {
      seen_progress_ = p;
      last_upstream_ = now;
    }
    if (read_pending_) {
      if (now - last_message_ >= limit) {
        Fail(WithErrorInfo(
            absl::DeadlineExceededError(absl::StrCat(
                "the upload sent no message for ", absl::FormatDuration(limit), " (",
                have_header_ ? absl::StrCat(received_, " of ", expected_, " bytes received")
                             : std::string("no header yet"),
                ") and was abandoned; send the chunks without pausing that long",
                uploader_ != nullptr ? " (continue this one with GetUpload and upload_id)" : "",
                ", or have the operator raise --upload_idle_timeout_seconds")),
            "UPLOAD_IDLE_TIMEOUT", kGatewayDomain));
        return;
      }
      ArmIdleTimer(last_message_ + limit - now);
      return;
    }
    if (upstream_started_ && now - std::max(last_upstream_, last_message_) >= limit) {
      Fail(WithErrorInfo(absl::UnavailableError(absl::StrCat("the Twelve Labs API made no progress with the upload for ",
                                                             absl::FormatDuration(limit), "; retry the upload later")),
                         "UPSTREAM_UPLOAD_STALLED", kGatewayDomain));
      return;
    }
    ArmIdleTimer(limit / 4);
  }

  SerialQueue queue_;
  const ServiceDeps* const deps_;
  const CallIdentity who_;
  const CallOptions opts_;
  AuditLog* const audit_;
  const void* const audit_call_;
  const std::string method_;
  Io io_;
  gw::UploadAssetHeader header_;
  std::shared_ptr<UploadPipe> pipe_;
  std::shared_ptr<MultipartUploader> uploader_;
  // The upload's share of the upload budget, from its header until it
  // ends (a multipart upload's passes to its uploader).
  UploadBudget::Reservation reservation_;
  // The create flow's callback for the upload's outcome: set once the
  // upload starts, called once (UpstreamDone), by the upload or by Fail.
  TwelveLabsApi::Done<gw::Asset> created_;
  int64_t expected_ = 0;  // bytes the stream must carry after the header
  int64_t received_ = 0;
  absl::Time last_message_;
  absl::Time last_upstream_;
  int64_t seen_progress_ = 0;
  bool have_header_ = false;
  bool upstream_started_ = false;
  bool read_pending_ = false;
  bool client_done_ = false;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<AssetUploadFlow> AssetUploadFlow::Create(const ServiceDeps* deps, Admitted call, std::string method,
                                                         Io io) {
  return std::make_shared<Flow>(deps, std::move(call), std::move(method), std::move(io));
}

grpc::ServerReadReactor<gw::UploadAssetRequest>* NewUploadAssetReactor(const ServiceDeps* deps, Admitted call,
                                                                       gw::Asset* response) {
  return new AssetUploadReactor<gw::UploadAssetRequest, gw::Asset>(
      deps, std::move(call), "UploadAsset", response,
      [](const gw::UploadAssetRequest& m) -> absl::StatusOr<UploadHeader> {
        return UploadHeader{m.header(), nullptr, {}};
      },
      [](absl::StatusOr<gw::Asset> asset, gw::Asset* out, absl::AnyInvocable<void(absl::Status)> finish) {
        if (asset.ok()) *out = *std::move(asset);
        finish(asset.status());
      });
}

namespace {

// The index part of an UploadAndIndex header (no upstream call).
absl::Status ValidateIndexPart(const CallIdentity& who, const gw::UploadAndIndexHeader& h) {
  if (!h.has_upload()) return FieldError("header.upload", "is required: the upload's header, as UploadAsset's");
  if (auto s = ValidateId("header.index_id", h.index_id()); !s.ok()) return s;
  if (h.has_index_user_metadata()) {
    if (auto s = UserMetadataJson(h.index_user_metadata(), "header.index_user_metadata").status(); !s.ok()) {
      return s;
    }
  }
  return Authenticator::CheckResources(who, {h.index_id(), "", ""});
}

class UploadAndIndexReactor : public AssetUploadReactor<gw::UploadAndIndexRequest, gw::IndexedAsset> {
 public:
  using Base = AssetUploadReactor<gw::UploadAndIndexRequest, gw::IndexedAsset>;

  // `index` is filled from the header once it passed; `slot` carries a
  // cancel to the wait once the upload is done.
  UploadAndIndexReactor(const ServiceDeps* deps, const Admitted& call, gw::IndexedAsset* response,
                        std::shared_ptr<gw::UploadAndIndexHeader> index, std::shared_ptr<CancelSlot> slot)
      : Base(
            deps, call, "UploadAndIndex", response,
            [who = call.who, index](const gw::UploadAndIndexRequest& m) -> absl::StatusOr<UploadHeader> {
              if (absl::Status s = ValidateIndexPart(who, m.header()); !s.ok()) return s;
              if (index->index_id().empty()) *index = m.header();  // a second header is refused by the flow
              // The request_id covers the whole header: the index and its
              // options too.
              auto covered = std::make_shared<gw::UploadAndIndexHeader>(m.header());
              covered->mutable_upload()->clear_request_id();
              return UploadHeader{m.header().upload(), std::move(covered), {{"index_id", m.header().index_id()}}};
            },
            [deps, call, index, slot](absl::StatusOr<gw::Asset> asset, gw::IndexedAsset* out,
                                      absl::AnyInvocable<void(absl::Status)> finish) mutable {
              if (!asset.ok()) {
                finish(asset.status());
                return;
              }
              gw::IndexAssetRequest req;
              req.set_index_id(index->index_id());
              req.set_asset_id(asset->id());
              if (index->has_enable_video_stream()) req.set_enable_video_stream(index->enable_video_stream());
              if (index->has_index_user_metadata()) *req.mutable_user_metadata() = index->index_user_metadata();
              // IndexAsset's protection for the index step, under a name no
              // client's IndexAsset request_id can take (':' is refused
              // there). A repeat indexes the same asset with the same
              // fields, so it finds this step's record too.
              if (const std::string& rid = index->upload().request_id(); !rid.empty()) {
                req.set_request_id(absl::StrCat("UploadAndIndex:", rid));
              }
              // The gRPC deadline is on the system clock, the wait on the
              // gateway's (as IndexAsset): carry over the time left.
              absl::Time deadline = absl::InfiniteFuture();
              if (call.opts.deadline != absl::InfiniteFuture()) {
                deadline = deps->clock->Now() +
                           (call.opts.deadline - absl::FromChrono(std::chrono::system_clock::now()));
              }
              auto done = std::make_shared<absl::AnyInvocable<void(absl::Status)>>(std::move(finish));
              slot->Set(IndexWhenReady(*deps, call, req, deadline,
                                       [out, done](absl::StatusOr<gw::IndexedAsset> ia) {
                                         if (ia.ok()) *out = *std::move(ia);
                                         (*done)(ia.status());
                                       }));
            }),
        slot_(std::move(slot)) {}

  void OnCancel() override {
    slot_->Cancel();
    Base::OnCancel();
  }

 private:
  const std::shared_ptr<CancelSlot> slot_;
};

}  // namespace

grpc::ServerReadReactor<gw::UploadAndIndexRequest>* NewUploadAndIndexReactor(const ServiceDeps* deps, Admitted call,
                                                                             gw::IndexedAsset* response) {
  return new UploadAndIndexReactor(deps, call, response, std::make_shared<gw::UploadAndIndexHeader>(),
                                   std::make_shared<CancelSlot>());
}

}  // namespace tlgw
