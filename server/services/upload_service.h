// twelvelabs.gateway.v1.UploadService on the gRPC callback API: no thread
// waits on an upstream call; the REST completion finishes the reactor.
#ifndef TL_GATEWAY_SERVER_SERVICES_UPLOAD_SERVICE_H_
#define TL_GATEWAY_SERVER_SERVICES_UPLOAD_SERVICE_H_

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tlgw {

class UploadServiceImpl final : public twelvelabs::gateway::v1::UploadService::CallbackService {
 public:
  // `deps` is not owned and must outlive the service.
  explicit UploadServiceImpl(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* CreateExternalProviderTask(
      grpc::CallbackServerContext* ctx,
      const twelvelabs::gateway::v1::CreateExternalProviderTaskRequest* req,
      twelvelabs::gateway::v1::Task* resp) override;
  grpc::ServerUnaryReactor* CreateUrlTask(grpc::CallbackServerContext* ctx,
                                          const twelvelabs::gateway::v1::CreateUrlTaskRequest* req,
                                          twelvelabs::gateway::v1::Task* resp) override;
  grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadVideoFileRequest>* UploadVideoFile(
      grpc::CallbackServerContext* ctx, twelvelabs::gateway::v1::Task* resp) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_UPLOAD_SERVICE_H_
