#include "server/services/integration_service.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/services/page_token.h"
#include "server/services/reactor_util.h"
#include "server/services/s3_setup_check.h"
#include "server/services/validation.h"
#include "server/services/watch_import_reactor.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

absl::StatusOr<const IntegrationConfig*> IntegrationServiceImpl::Resolve(
    const std::string& name_or_id) const {
  if (name_or_id.empty()) {
    return FieldError("integration", "is required: a configured integration name or its id "
                                     "(ListIntegrations shows them)");
  }
  const IntegrationConfig* ic = FindIntegration(*deps_->config, name_or_id);
  if (ic == nullptr) {
    return WithErrorInfo(
        absl::NotFoundError(absl::StrCat("integration: '", name_or_id.size() > 100 ? "(long value)" : name_or_id,
                                         "' is not configured in this gateway; ListIntegrations "
                                         "shows the ones that are")),
        "INTEGRATION_NOT_CONFIGURED", kGatewayDomain);
  }
  return ic;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ListIntegrations(
    grpc::CallbackServerContext* ctx, const gw::ListIntegrationsRequest* req,
    gw::ListIntegrationsResponse* resp) {
  if (auto s = ValidatePageSize("page_size", req->page_size(), 100); !s.ok()) return FinishNow(ctx, s);
  std::vector<const IntegrationConfig*> all;
  for (const auto& ic : deps_->config->integrations) all.push_back(&ic);
  std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return a->name < b->name; });
  // Local listing: the token's page is a 1-based position in the sorted list.
  PageToken token{1, req->page_size() > 0 ? req->page_size() : static_cast<int64_t>(all.size()), "i"};
  if (!req->page_token().empty()) {
    auto decoded = DecodePageToken("page_token", req->page_token(), "i");
    if (!decoded.ok()) return FinishNow(ctx, decoded.status());
    token = *decoded;
  }
  size_t start = std::min<size_t>(static_cast<size_t>(token.page - 1), all.size());
  size_t end = std::min<size_t>(start + static_cast<size_t>(std::max<int64_t>(token.page_size, 1)), all.size());
  for (size_t i = start; i < end; ++i) {
    gw::Integration* out = resp->add_integrations();
    out->set_name(all[i]->name);
    out->set_integration_id(all[i]->integration_id);
    out->set_bucket(all[i]->bucket);
    out->set_region(all[i]->region);
    out->set_tenant(all[i]->tenant);
  }
  if (end < all.size()) {
    PageToken next = token;
    next.page = static_cast<int64_t>(end) + 1;
    resp->set_next_page_token(EncodePageToken(next));
  }
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ImportVideos(grpc::CallbackServerContext* ctx,
                                                               const gw::ImportVideosRequest* req,
                                                               gw::ImportVideosResponse* resp) {
  auto ic = Resolve(req->integration());
  if (!ic.ok()) return FinishNow(ctx, ic.status());
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  if (req->has_user_metadata()) {
    if (auto s = UserMetadataJson(req->user_metadata(), "user_metadata").status(); !s.ok()) {
      return FinishNow(ctx, s);
    }
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->client->ImportVideos(CallOptionsFor(ctx, *deps_), (*ic)->integration_id, *req,
                              FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::GetImportStatus(grpc::CallbackServerContext* ctx,
                                                                  const gw::GetImportStatusRequest* req,
                                                                  gw::ImportStatus* resp) {
  auto ic = Resolve(req->integration());
  if (!ic.ok()) return FinishNow(ctx, ic.status());
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  deps_->client->GetImportStatus(CallOptionsFor(ctx, *deps_), (*ic)->integration_id, req->index_id(),
                                 FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ListImportLogs(grpc::CallbackServerContext* ctx,
                                                                 const gw::ListImportLogsRequest* req,
                                                                 gw::ListImportLogsResponse* resp) {
  auto ic = Resolve(req->integration());
  if (!ic.ok()) return FinishNow(ctx, ic.status());
  auto* reactor = ctx->DefaultReactor();
  deps_->client->ListImportLogs(CallOptionsFor(ctx, *deps_), (*ic)->integration_id,
                                FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::CheckAwsS3Setup(
    grpc::CallbackServerContext* ctx, const gw::CheckAwsS3SetupRequest* req,
    gw::CheckAwsS3SetupResponse* resp) {
  *resp = tlgw::CheckAwsS3Setup(*req);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<gw::ImportStatusEvent>* IntegrationServiceImpl::WatchImport(
    grpc::CallbackServerContext* ctx, const gw::WatchImportRequest* req) {
  auto ic = Resolve(req->integration());
  absl::Status s = ic.status();
  if (s.ok()) s = ValidateId("index_id", req->index_id());
  if (!s.ok()) return FailedStream<gw::ImportStatusEvent>(s);
  return NewWatchImportReactor(deps_, CallOptionsFor(ctx, *deps_), (*ic)->integration_id, req->index_id());
}

}  // namespace tlgw
