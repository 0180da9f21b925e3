// twelvelabs.gateway.v1.IntegrationService unary methods on the gRPC
// callback API. Integrations are named in the gateway's configuration; a
// caller may name one by its configured name or its integration id.
#ifndef TL_GATEWAY_SERVER_SERVICES_INTEGRATION_SERVICE_H_
#define TL_GATEWAY_SERVER_SERVICES_INTEGRATION_SERVICE_H_

#include <functional>

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"

namespace tlgw {

class IntegrationServiceImpl final
    : public twelvelabs::gateway::v1::IntegrationService::CallbackService {
 public:
  // `deps` is not owned and must outlive the service.
  explicit IntegrationServiceImpl(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* ListIntegrations(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::ListIntegrationsRequest* req,
      twelvelabs::gateway::v1::ListIntegrationsResponse* resp) override;
  grpc::ServerUnaryReactor* ImportVideos(grpc::CallbackServerContext* ctx,
                                         const twelvelabs::gateway::v1::ImportVideosRequest* req,
                                         twelvelabs::gateway::v1::ImportVideosResponse* resp) override;
  grpc::ServerUnaryReactor* GetImportStatus(grpc::CallbackServerContext* ctx,
                                            const twelvelabs::gateway::v1::GetImportStatusRequest* req,
                                            twelvelabs::gateway::v1::ImportStatus* resp) override;
  grpc::ServerUnaryReactor* ListImportLogs(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::ListImportLogsRequest* req,
      twelvelabs::gateway::v1::ListImportLogsResponse* resp) override;
  grpc::ServerUnaryReactor* CheckAwsS3Setup(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::CheckAwsS3SetupRequest* req,
      twelvelabs::gateway::v1::CheckAwsS3SetupResponse* resp) override;
  grpc::ServerWriteReactor<twelvelabs::gateway::v1::ImportStatusEvent>* WatchImport(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::WatchImportRequest* req) override;

 private:
  // Admits the call to `method` on the integration named `name_or_id`:
  // credentials first, then `validate` (the request's other fields, may be
  // empty) and the name and index, then the integration must be
  // configured, belong to the caller's tenant (or it is NOT_FOUND) and be
  // one the client may use.
  absl::StatusOr<std::pair<Admitted, IntegrationConfig>> AdmitIntegration(
      grpc::CallbackServerContext* ctx, absl::string_view method, const std::string& name_or_id,
      const std::string& index_id, const std::function<absl::Status()>& validate) const;

  const ServiceDeps* const deps_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_INTEGRATION_SERVICE_H_
