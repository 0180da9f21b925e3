// UploadAsset's stream (and, later, UploadAndIndex's): a header, then the
// file's bytes. Up to kMaxDirectAssetBytes (images: kMaxImageAssetBytes)
// the bytes go into one streamed `POST /assets` (method=direct) through an
// UploadPipe, as UploadVideoFile's do; a larger file goes through a
// multipart session (MultipartUploader); a header naming an `upload_id`
// continues such a session. Either way the end of the upload is the
// AssetUploadFlow's `done` callback with the asset (or the error), so a
// method that does more after the upload (UploadAndIndex: wait for ready,
// index) plugs in there.
//
// With a `request_id` the upload is a create like CreateAsset
// (RunCreateFlow): the header is fingerprinted, the request_id claimed,
// and the upload itself starts only once the claim allows it. A repeat of
// a completed upload answers the first asset at once, without reading the
// rest of the stream (so a client's later writes fail); a repeat while the
// first runs answers ABORTED (REQUEST_IN_PROGRESS), one with other fields
// INVALID_ARGUMENT. An upload that ends without an asset before upstream
// had every byte releases its request_id at once, so a retry runs.
//
// The flow is independent of the gRPC message types: a reactor (the
// template AssetUploadReactor below) reads messages and hands the flow the
// header, each chunk and the end of the stream; the flow asks it to read
// the next message only when there is room, so gRPC flow control holds a
// client back to the upstream's pace. Every event runs on the flow's
// SerialQueue. An idle timer bounds every wait, as UploadVideoFile's.
#ifndef TL_GATEWAY_SERVER_SERVICES_ASSET_UPLOAD_H_
#define TL_GATEWAY_SERVER_SERVICES_ASSET_UPLOAD_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "server/common/status_details.h"
#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"

namespace tlgw {

// §9.1/§9.4 limits (decimal, as upstream states them).
inline constexpr int64_t kMaxDirectAssetBytes = 200'000'000;
inline constexpr int64_t kMaxImageAssetBytes = 32'000'000;
inline constexpr int64_t kMaxMultipartAssetBytes = 10'000'000'000;

// The header's own rules (no upstream call): a new upload's fields, or a
// continuation's (`upload_id`, `size_bytes`, `resume_offset` only).
// `field` prefixes field names ("header", "header.upload").
absl::Status ValidateUploadAssetHeader(const twelvelabs::gateway::v1::UploadAssetHeader& h,
                                       const std::string& field = "header");

// A header as the flow takes it: the upload part, and the message its
// request_id covers (UploadAndIndex: the whole header, request_id cleared;
// null: the upload part itself).
struct UploadHeader {
  twelvelabs::gateway::v1::UploadAssetHeader upload;
  std::shared_ptr<const google::protobuf::Message> covered;
  // Ids for the call's audit line besides the upload's own (filename,
  // upload_id): UploadAndIndex's index_id.
  std::map<std::string, std::string> audit_ids;
};

class AssetUploadFlow {
 public:
  struct Io {
    // Starts the read of the next message; its outcome comes back as
    // OnHeader/OnChunk/OnEnd. Called on the flow's queue, never after done.
    std::function<void()> read;
    // Once: the asset (its file arrived; it is `processing` or later), or
    // the status to end the call with.
    absl::AnyInvocable<void(absl::StatusOr<twelvelabs::gateway::v1::Asset>)> done;
  };
  virtual ~AssetUploadFlow() = default;

  // `method` names the gRPC method in messages and the request_id scope
  // ("UploadAsset").
  static std::shared_ptr<AssetUploadFlow> Create(const ServiceDeps* deps, Admitted call, std::string method,
                                                 Io io);

  // Arms the idle timer and reads the first message.
  virtual void Start() = 0;
  // The outcome of a read (any thread).
  virtual void OnHeader(UploadHeader header) = 0;
  virtual void OnChunk(std::string bytes) = 0;
  virtual void OnEnd() = 0;  // the client closed its side
  // Ends the upload with `status` (a bad message, a cancel).
  virtual void OnError(absl::Status status) = 0;
};

// The reactor of a client-streamed upload whose messages carry a `header`
// or a `chunk` (UploadAssetRequest, UploadAndIndexRequest). `header_of`
// checks what else the first message carries and returns the upload
// header in it; `finish` turns the flow's result into the call's answer
// (filling `*response`) and calls the given finisher exactly once.
template <typename Request, typename Response>
class AssetUploadReactor : public grpc::ServerReadReactor<Request> {
 public:
  using HeaderOf = std::function<absl::StatusOr<UploadHeader>(const Request&)>;
  using FinishWith = std::function<void(absl::StatusOr<twelvelabs::gateway::v1::Asset>, Response* response,
                                        absl::AnyInvocable<void(absl::Status)> finish)>;

  AssetUploadReactor(const ServiceDeps* deps, Admitted call, std::string method, Response* response,
                     HeaderOf header_of, FinishWith finish_with)
      : header_of_(std::move(header_of)) {
    AssetUploadFlow::Io io;
    io.read = [this] { this->StartRead(&message_); };
    io.done = [this, response, finish_with = std::move(finish_with)](
                  absl::StatusOr<twelvelabs::gateway::v1::Asset> asset) mutable {
      finish_with(std::move(asset), response,
                  [this](absl::Status s) { this->Finish(ToGrpcStatus(s)); });
    };
    flow_ = AssetUploadFlow::Create(deps, std::move(call), std::move(method), std::move(io));
    flow_->Start();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      flow_->OnEnd();
      return;
    }
    if (message_.payload_case() == Request::kHeader) {
      absl::StatusOr<UploadHeader> h = header_of_(message_);
      if (!h.ok()) {
        flow_->OnError(h.status());
      } else {
        flow_->OnHeader(*std::move(h));
      }
    } else if (message_.payload_case() == Request::kChunk) {
      flow_->OnChunk(std::move(*message_.mutable_chunk()));
    } else {
      flow_->OnError(FieldError("payload", "each message must carry a header or a chunk"));
    }
  }
  void OnCancel() override { flow_->OnError(absl::CancelledError("the client cancelled the upload")); }
  void OnDone() override { delete this; }

 private:
  const HeaderOf header_of_;
  Request message_;
  std::shared_ptr<AssetUploadFlow> flow_;
};

// UploadAsset's reactor.
grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadAssetRequest>* NewUploadAssetReactor(
    const ServiceDeps* deps, Admitted call, twelvelabs::gateway::v1::Asset* response);

// UploadAndIndex's reactor: UploadAsset's stream, then (in `finish_with`)
// IndexWhenReady on the uploaded asset within the call's deadline. With a
// request_id, the upload is claimed under "UploadAndIndex" (the whole
// header fingerprinted), and the index step under IndexAsset's scope as
// "UploadAndIndex:<request_id>" (a name no client request_id can take):
// a repeat finds the recorded asset, then the recorded indexed asset, and
// a gateway that died between the steps leaves the retry the asset to
// index rather than a second upload. The
// header's index part (index_id, the client's right to the index, the
// indexed asset's metadata) is checked with the rest of the header, before
// any upstream request; a cancel reaches the upload or, after it, the wait.
grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadAndIndexRequest>* NewUploadAndIndexReactor(
    const ServiceDeps* deps, Admitted call, twelvelabs::gateway::v1::IndexedAsset* response);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_ASSET_UPLOAD_H_
