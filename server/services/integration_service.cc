#include "server/services/integration_service.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/common/status_details.h"
#include "server/services/page_token.h"
#include "server/services/reactor_util.h"
#include "server/services/s3_setup_check.h"
#include "server/services/validation.h"
#include "server/services/watch_reactor.h"
#include "server/watch/watch_kinds.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

absl::Status NotConfigured(const std::string& name_or_id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("integration: '", name_or_id.size() > 100 ? "(long value)" : name_or_id,
                                       "' is not configured in this gateway; ListIntegrations "
                                       "shows the ones that are")),
      "INTEGRATION_NOT_CONFIGURED", kGatewayDomain);
}

}  // namespace

absl::StatusOr<std::pair<Admitted, IntegrationConfig>> IntegrationServiceImpl::AdmitIntegration(
    grpc::CallbackServerContext* ctx, absl::string_view method, const std::string& name_or_id,
    const std::string& index_id, const std::function<absl::Status()>& validate) const {
  auto call = Admit(*deps_, ctx, method, {{"integration", name_or_id}, {"index_id", index_id}});
  if (!call.ok()) return call.status();
  if (validate) {
    if (auto s = validate(); !s.ok()) return s;
  }
  if (name_or_id.empty()) {
    return FieldError("integration", "is required: a configured integration name or its id "
                                     "(ListIntegrations shows them)");
  }
  if (!index_id.empty()) {
    if (auto s = ValidateId("index_id", index_id); !s.ok()) return s;
  }
  std::shared_ptr<const GatewayConfig> config = deps_->config();
  const IntegrationConfig* found = FindIntegration(*config, name_or_id);
  IntegrationConfig ic = found != nullptr ? *found : IntegrationConfig{};
  if (auto s = Authenticator::CheckResources(call->who, {index_id, ic.name, ic.integration_id}); !s.ok()) {
    return s;
  }
  // Another tenant's integration does not exist for this caller.
  if (found == nullptr || ic.tenant != call->who.tenant) return NotConfigured(name_or_id);
  return std::make_pair(*std::move(call), std::move(ic));
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ListIntegrations(
    grpc::CallbackServerContext* ctx, const gw::ListIntegrationsRequest* req,
    gw::ListIntegrationsResponse* resp) {
  auto call = Admit(*deps_, ctx, "IntegrationService.ListIntegrations", {});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = ValidatePageSize("page_size", req->page_size(), 100); !s.ok()) return FinishNow(ctx, s);
  std::shared_ptr<const GatewayConfig> config = deps_->config();
  std::vector<const IntegrationConfig*> all;
  for (const auto& ic : config->integrations) {
    if (ic.tenant == call->who.tenant) all.push_back(&ic);  // only the caller's tenant's
  }
  std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return a->name < b->name; });
  auto start = StartLocalPage("page_token", req->page_token(), req->page_size(), "i");
  if (!start.ok()) return FinishNow(ctx, start.status());
  const LocalPage page = SliceLocalPage(*start, all.size());
  for (size_t i = page.begin; i < page.end; ++i) {
    gw::Integration* out = resp->add_integrations();
    out->set_name(all[i]->name);
    out->set_integration_id(all[i]->integration_id);
    out->set_bucket(all[i]->bucket);
    out->set_region(all[i]->region);
    out->set_tenant(all[i]->tenant);
  }
  resp->set_next_page_token(page.next_page_token);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ImportVideos(grpc::CallbackServerContext* ctx,
                                                               const gw::ImportVideosRequest* req,
                                                               gw::ImportVideosResponse* resp) {
  auto call = AdmitIntegration(ctx, "IntegrationService.ImportVideos", req->integration(), req->index_id(),
                               [req]() -> absl::Status {
                                 if (req->index_id().empty()) return ValidateId("index_id", req->index_id());
                                 if (!req->has_user_metadata()) return absl::OkStatus();
                                 return UserMetadataJson(req->user_metadata(), "user_metadata").status();
                               });
  if (!call.ok()) return FinishNow(ctx, call.status());
  auto* reactor = ctx->DefaultReactor();
  const ServiceDeps* deps = deps_;
  deps_->api->ImportVideos(
      call->first.opts, call->second.integration_id, *req,
      [reactor, resp, deps, tenant = call->first.who.tenant](absl::StatusOr<gw::ImportVideosResponse> r) {
        if (r.ok()) {
          // Imported videos are tasks of the importing tenant.
          for (const auto& v : r->videos()) {
            if (!deps->owners->RecordOwner(v.video_id(), tenant).ok()) {
              Log(LogLevel::kError, "import", "video owner not recorded", {{"video_id", v.video_id()}});
            }
          }
          *resp = *std::move(r);
        }
        reactor->Finish(ToGrpcStatus(r.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::GetImportStatus(grpc::CallbackServerContext* ctx,
                                                                  const gw::GetImportStatusRequest* req,
                                                                  gw::ImportStatus* resp) {
  auto call = AdmitIntegration(ctx, "IntegrationService.GetImportStatus", req->integration(), req->index_id(),
                               [req] { return ValidateId("index_id", req->index_id()); });
  if (!call.ok()) return FinishNow(ctx, call.status());
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetImportStatus(call->first.opts, call->second.integration_id, req->index_id(),
                                 FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::ListImportLogs(grpc::CallbackServerContext* ctx,
                                                                 const gw::ListImportLogsRequest* req,
                                                                 gw::ListImportLogsResponse* resp) {
  auto call = AdmitIntegration(ctx, "IntegrationService.ListImportLogs", req->integration(), "",
                               [req] { return ValidatePageSize("page_size", req->page_size(), 100); });
  if (!call.ok()) return FinishNow(ctx, call.status());
  // The upstream returns every run at once, oldest first, and runs are only
  // ever added at the end: the gateway pages through that list itself. A
  // token is bound to its integration.
  const std::string filters = absl::StrCat("l:", call->second.integration_id);
  auto start = StartLocalPage("page_token", req->page_token(), req->page_size(), filters);
  if (!start.ok()) return FinishNow(ctx, start.status());
  auto* reactor = ctx->DefaultReactor();
  deps_->api->ListImportLogs(
      call->first.opts, call->second.integration_id,
      [reactor, resp, start = *start](absl::StatusOr<gw::ListImportLogsResponse> all) {
        if (all.ok()) {
          const LocalPage page = SliceLocalPage(start, static_cast<size_t>(all->logs_size()));
          for (size_t i = page.begin; i < page.end; ++i) {
            resp->add_logs()->Swap(all->mutable_logs(static_cast<int>(i)));
          }
          resp->set_next_page_token(page.next_page_token);
        }
        reactor->Finish(ToGrpcStatus(all.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* IntegrationServiceImpl::CheckAwsS3Setup(
    grpc::CallbackServerContext* ctx, const gw::CheckAwsS3SetupRequest* req,
    gw::CheckAwsS3SetupResponse* resp) {
  auto call = Admit(*deps_, ctx, "IntegrationService.CheckAwsS3Setup", {{"bucket", req->bucket()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  *resp = tlgw::CheckAwsS3Setup(*req);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<gw::ImportStatusEvent>* IntegrationServiceImpl::WatchImport(
    grpc::CallbackServerContext* ctx, const gw::WatchImportRequest* req) {
  auto call = AdmitIntegration(ctx, "IntegrationService.WatchImport", req->integration(), req->index_id(),
                               [req] { return ValidateId("index_id", req->index_id()); });
  if (!call.ok()) return FailedStream<gw::ImportStatusEvent>(call.status());
  WatchStreamOptions o;
  o.engine = deps_->import_watches;
  o.scope = call->first.who.tenant;
  o.subject = ImportWatchKind::Subject(call->second.integration_id, req->index_id());
  o.end_on_terminal = true;
  BindRevocation(*deps_, call->first.who, &o);
  return NewWatchReactor<gw::ImportStatusEvent>(std::move(o));
}

}  // namespace tlgw
