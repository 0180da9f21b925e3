#include "server/services/upload_reactor.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/common/serial_queue.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/services/upload_pipe.h"
#include "server/services/validation.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

absl::Status ValidateHeader(const gw::UploadVideoFileHeader& h) {
  if (auto s = ValidateId("header.index_id", h.index_id()); !s.ok()) return s;
  if (auto s = ValidateFileName("header.filename", h.filename()); !s.ok()) return s;
  if (h.size_bytes() <= 0) {
    return FieldError("header.size_bytes", "must be the file's exact size in bytes; an empty file cannot be indexed");
  }
  if (h.size_bytes() > kMaxUploadBytes) {
    return WithErrorInfo(
        absl::OutOfRangeError(absl::StrCat("header.size_bytes: ", h.size_bytes(),
                                           " bytes is over the Twelve Labs limit of 2 GiB (", kMaxUploadBytes,
                                           " bytes) for one upload")),
        "FILE_TOO_LARGE", kGatewayDomain);
  }
  if (h.language().size() > 16) return FieldError("header.language", "must be a language code such as \"en\"");
  if (h.has_user_metadata()) {
    if (auto s = UserMetadataJson(h.user_metadata(), "header.user_metadata").status(); !s.ok()) return s;
  }
  return ValidateRequestId("header.request_id", h.request_id());
}

class UploadReactor : public grpc::ServerReadReactor<gw::UploadVideoFileRequest> {
 public:
  UploadReactor(const ServiceDeps* deps, Admitted call, gw::Task* response)
      : state_(std::make_shared<State>(this, deps, std::move(call), response)) {
    state_->Post([s = state_] {
      s->StartIdleTimer();
      s->ReadNext();
    });
  }

  void OnReadDone(bool ok) override {
    state_->Post([s = state_, ok] { s->OnRead(ok); });
  }
  void OnCancel() override {
    state_->Post([s = state_] { s->Fail(absl::CancelledError("the client cancelled the upload")); });
  }
  // The chunk buffers an upload freed go back to the system with every
  // other burst's, through the gateway's MemoryTrimmer.
  void OnDone() override { delete this; }

 private:
  // Everything the events touch. Shared with the pipe's and the upstream's
  // callbacks, which may outlive the reactor; they reach the reactor only
  // through actions that check `finished` first.
  struct State : std::enable_shared_from_this<State> {
    State(UploadReactor* r, const ServiceDeps* d, Admitted call, gw::Task* resp)
        : reactor(r), deps(d), who(std::move(call.who)), opts(std::move(call.opts)), response(resp) {}

    // `keep`: the state outlives the drain this thread may run (an action
    // that finishes the call can drop every other reference; see
    // asset_upload.cc's Post).
    void Post(absl::AnyInvocable<void()> action) {
      auto keep = shared_from_this();
      queue.Run(std::move(action));
    }

    void ReadNext() {
      if (finished || read_pending) return;
      if (pipe != nullptr && !pipe->HasRoom()) return;  // resumed by the pipe's on_room
      read_pending = true;
      reactor->StartRead(&message);
    }

    void OnRead(bool ok) {
      read_pending = false;
      if (finished) return;
      if (deps->clock != nullptr) last_message = deps->clock->Now();
      if (!ok) {  // the client closed its side (or the call died)
        if (!have_header) {
          Fail(FieldError("header", "the stream ended before its first message, the header"));
        } else if (received < header.size_bytes()) {
          Fail(FieldError("chunk", absl::StrCat("the stream ended after ", received, " bytes, but the "
                                                "header declared ", header.size_bytes())));
        }
        return;  // all bytes sent: the upstream's answer finishes the call
      }
      switch (message.payload_case()) {
        case gw::UploadVideoFileRequest::kHeader:
          OnHeader();
          break;
        case gw::UploadVideoFileRequest::kChunk:
          OnChunk();
          break;
        default:
          Fail(FieldError("payload", "each message must carry a header or a chunk"));
      }
    }

    void OnHeader() {
      if (have_header) {
        Fail(FieldError("header", "was sent twice; send it once, first, then only chunks"));
        return;
      }
      if (auto s = ValidateHeader(message.header()); !s.ok()) {
        Fail(s);
        return;
      }
      if (!Authenticator::IndexAllowed(who, message.header().index_id())) {
        Fail(WithErrorInfo(absl::PermissionDeniedError(absl::StrCat("client '", who.client_id,
                                                                    "' may not use index ",
                                                                    message.header().index_id())),
                           "INDEX_NOT_ALLOWED", kGatewayDomain));
        return;
      }
      // The pipe's bytes are reserved before anything is claimed or asked
      // of upstream: an upload that does not fit leaves no trace.
      auto reserved = deps->upload_budget->Reserve(PipeReservation(message.header().size_bytes()));
      if (!reserved.ok()) {
        Fail(reserved.status());
        return;
      }
      reservation = *std::move(reserved);
      have_header = true;
      header = message.header();
      std::weak_ptr<State> weak = shared_from_this();
      pipe = std::make_shared<UploadPipe>(kUploadHighWater, [weak] {
        if (auto s = weak.lock()) s->Post([s] { s->ReadNext(); });
      });
      auto self = shared_from_this();
      RunCreate(
          *deps, opts, who.tenant, "UploadVideoFile", header, header.request_id(),
          {header.index_id(), header.filename(), /*streamed=*/true},
          // May run later, on an upstream thread (after a look-up for an
          // earlier attempt's task): the queue orders it with the reads.
          [self](TwelveLabsApi::Done<CreatedTask> done) {
            self->Post([self, done = std::move(done)]() mutable {
              if (self->finished) {
                done(absl::CancelledError("the upload ended before it could start"));
                return;
              }
              self->upstream_started = true;
              self->deps->api->UploadVideoFile(self->opts, self->header, self->pipe, std::move(done));
            });
          },
          [self](absl::StatusOr<gw::Task> task) {
            self->Post([self, task = std::move(task)]() mutable { self->OnUpstreamDone(std::move(task)); });
          });
      ReadNext();
    }

    void OnChunk() {
      if (!have_header) {
        Fail(FieldError("chunk", "arrived before the header; the first message must be the header"));
        return;
      }
      const std::string& chunk = message.chunk();
      if (chunk.size() > kMaxUploadChunkBytes) {
        Fail(WithErrorInfo(absl::OutOfRangeError(absl::StrCat(
                               "chunk: ", chunk.size(), " bytes is over the limit of ", kMaxUploadChunkBytes,
                               " bytes (4 MiB) per message; send smaller chunks (1 MiB is a good size)")),
                           "CHUNK_TOO_LARGE", kGatewayDomain));
        return;
      }
      if (received + static_cast<int64_t>(chunk.size()) > header.size_bytes()) {
        Fail(WithErrorInfo(absl::OutOfRangeError(absl::StrCat(
                               "chunk: the stream carries more than the ", header.size_bytes(),
                               " bytes the header declared")),
                           "MORE_BYTES_THAN_DECLARED", kGatewayDomain));
        return;
      }
      received += static_cast<int64_t>(chunk.size());
      // Buffered even before the upstream request starts (it may wait for
      // a look-up): once the pipe is full, reading waits too.
      pipe->Push(std::move(*message.mutable_chunk()));
      ReadNext();
    }

    void OnUpstreamDone(absl::StatusOr<gw::Task> task) {
      if (finished) return;
      if (task.ok() && have_header && upstream_started && received < header.size_bytes()) {
        // The upstream answered before getting every byte: only possible if
        // it refused the upload early, which arrives as an error, or a bug.
        Log(LogLevel::kWarning, "upload", "upstream answered before the whole file was sent");
      }
      finished = true;
      // The pipe holds nothing more: upstream answered (so it read every
      // byte, or the pipe is aborted now).
      if (!task.ok() && pipe != nullptr) pipe->Abort();
      reservation.Release();
      if (!task.ok()) {
        reactor->Finish(ToGrpcStatus(task.status()));
        return;
      }
      *response = *std::move(task);
      reactor->Finish(grpc::Status::OK);
    }

    // The idle timer: one pending RunAfter per upload, re-armed from each
    // check, so every wait of an upload is bounded whatever its deadline
    // (a client may set none): for the client's next message, for the
    // upstream to take bytes from a full pipe, and for its answer.
    void StartIdleTimer() {
      if (deps->clock == nullptr) return;
      last_message = last_upstream = deps->clock->Now();
      ArmIdleTimer(deps->upload_idle_timeout);
    }

    void ArmIdleTimer(absl::Duration delay) {
      std::weak_ptr<State> weak = shared_from_this();
      deps->clock->RunAfter(std::max(delay, absl::Milliseconds(1)), [weak](bool cancelled) {
        // On shutdown the server cancels the calls left itself.
        if (cancelled) return;
        if (auto s = weak.lock()) s->Post([s] { s->CheckIdle(); });
      });
    }

    void CheckIdle() {
      if (finished) return;
      const absl::Time now = deps->clock->Now();
      const absl::Duration limit = deps->upload_idle_timeout;
      if (pipe != nullptr) {
        if (int64_t read = pipe->bytes_read(); read != seen_read) {
          seen_read = read;
          last_upstream = now;
        }
      }
      if (read_pending) {  // waiting for the client
        if (now - last_message >= limit) {
          // DEADLINE_EXCEEDED, not CANCELLED: the client cancelled nothing,
          // a time limit passed before the upload could complete, which is
          // what DEADLINE_EXCEEDED means; clients take CANCELLED for their
          // own doing and would hide the cause.
          Fail(WithErrorInfo(
              absl::DeadlineExceededError(absl::StrCat(
                  "the upload sent no message for ", absl::FormatDuration(limit), " (",
                  have_header ? absl::StrCat(received, " of ", header.size_bytes(), " bytes received")
                              : std::string("no header yet"),
                  ") and was abandoned; send the chunks without pausing that long, or have the operator "
                  "raise --upload_idle_timeout_seconds")),
              "UPLOAD_IDLE_TIMEOUT", kGatewayDomain));
          return;
        }
        ArmIdleTimer(last_message + limit - now);
        return;
      }
      if (upstream_started && now - std::max(last_upstream, last_message) >= limit) {
        const bool all_sent = received == header.size_bytes() && pipe != nullptr && pipe->buffered() == 0;
        Fail(WithErrorInfo(
            absl::UnavailableError(absl::StrCat(
                "the Twelve Labs API ", all_sent ? "gave no answer to the upload" : "took no bytes of the upload",
                " for ", absl::FormatDuration(limit), "; retry the upload later")),
            "UPSTREAM_UPLOAD_STALLED", kGatewayDomain));
        return;
      }
      // Waiting on the upstream, whose progress is sampled: a stall is
      // seen within 1.25 times the limit.
      ArmIdleTimer(limit / 4);
    }

    void Fail(const absl::Status& status) {
      if (finished) return;
      finished = true;
      // Aborting the pipe fails the upstream request, so no half-uploaded
      // task is left behind.
      if (pipe != nullptr) pipe->Abort();
      reservation.Release();
      reactor->Finish(ToGrpcStatus(status));
    }

    SerialQueue queue;
    UploadReactor* const reactor;  // valid until Finish(); unused after
    const ServiceDeps* const deps;
    const CallIdentity who;
    const CallOptions opts;
    gw::Task* const response;
    gw::UploadVideoFileRequest message;
    gw::UploadVideoFileHeader header;
    std::shared_ptr<UploadPipe> pipe;
    UploadBudget::Reservation reservation;  // the pipe's share of the upload budget
    int64_t received = 0;
    absl::Time last_message;   // the client's last message (or the call's start)
    absl::Time last_upstream;  // when the pipe's read count last moved
    int64_t seen_read = 0;
    bool have_header = false;
    bool upstream_started = false;
    bool read_pending = false;
    bool finished = false;
  };

  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerReadReactor<gw::UploadVideoFileRequest>* NewUploadReactor(const ServiceDeps* deps,
                                                                    grpc::CallbackServerContext*,
                                                                    Admitted call, gw::Task* response) {
  return new UploadReactor(deps, std::move(call), response);
}

}  // namespace tlgw
