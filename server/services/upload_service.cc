#include "server/services/upload_service.h"

#include <utility>

#include "server/services/create_flow.h"
#include "server/services/reactor_util.h"
#include "server/services/upload_reactor.h"
#include "server/services/validation.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

grpc::ServerUnaryReactor* UploadServiceImpl::CreateExternalProviderTask(
    grpc::CallbackServerContext* ctx, const gw::CreateExternalProviderTaskRequest* req,
    gw::Task* resp) {
  auto call = Admit(*deps_, ctx, "UploadService.CreateExternalProviderTask", {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  absl::Status s = ValidateId("index_id", req->index_id());
  if (s.ok()) s = ValidateHttpUrl("url", req->url());
  if (s.ok() && !IsYouTubeUrl(req->url())) {
    s = FieldError("url", "must be a YouTube video URL (youtube.com or youtu.be); for a direct "
                          "link to a video file use CreateUrlTask");
  }
  if (s.ok()) s = ValidateRequestId("request_id", req->request_id());
  if (s.ok()) s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""});
  if (!s.ok()) return FinishNow(ctx, s);
  // Answer before touching the request_id store: nothing can be created.
  if (auto s = RequireExternalProvider(deps_->api->version()); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  CallOptions opts = call->opts;
  TwelveLabsApi* client = deps_->api;
  RunCreate(*deps_, opts, call->who.tenant, "CreateExternalProviderTask", *req, req->request_id(),
            {req->index_id(), req->url()},
            [client, opts, req](TwelveLabsApi::Done<CreatedTask> done) {
              client->CreateExternalProviderTask(opts, *req, std::move(done));
            },
            FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* UploadServiceImpl::CreateUrlTask(grpc::CallbackServerContext* ctx,
                                                           const gw::CreateUrlTaskRequest* req,
                                                           gw::Task* resp) {
  auto call = Admit(*deps_, ctx, "UploadService.CreateUrlTask", {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  absl::Status s = ValidateId("index_id", req->index_id());
  if (s.ok()) s = ValidateHttpUrl("video_url", req->video_url());
  if (s.ok() && IsYouTubeUrl(req->video_url())) {
    s = FieldError("video_url", "must be a direct link to a video file; YouTube pages are not "
                                "accepted here (use CreateExternalProviderTask on API v1.2)");
  }
  if (s.ok() && !req->transcription_url().empty()) {
    s = ValidateHttpUrl("transcription_url", req->transcription_url());
  }
  if (s.ok() && req->language().size() > 16) {
    s = FieldError("language", "must be a language code such as \"en\"");
  }
  if (s.ok() && req->has_user_metadata()) s = UserMetadataJson(req->user_metadata(), "user_metadata").status();
  if (s.ok()) s = ValidateRequestId("request_id", req->request_id());
  if (s.ok()) s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""});
  if (!s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  CallOptions opts = call->opts;
  TwelveLabsApi* client = deps_->api;
  RunCreate(*deps_, opts, call->who.tenant, "CreateUrlTask", *req, req->request_id(),
            {req->index_id(), req->video_url()},
            [client, opts, req](TwelveLabsApi::Done<CreatedTask> done) {
              client->CreateUrlTask(opts, *req, std::move(done));
            },
            FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerReadReactor<gw::UploadVideoFileRequest>* UploadServiceImpl::UploadVideoFile(
    grpc::CallbackServerContext* ctx, gw::Task* resp) {
  // The index is known only from the header: the reactor checks it then.
  auto call = Admit(*deps_, ctx, "UploadService.UploadVideoFile", {});
  if (!call.ok()) {
    class Refused : public grpc::ServerReadReactor<gw::UploadVideoFileRequest> {
     public:
      explicit Refused(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
      void OnDone() override { delete this; }
    };
    return new Refused(call.status());
  }
  return NewUploadReactor(deps_, ctx, *std::move(call), resp);
}

}  // namespace tlgw
