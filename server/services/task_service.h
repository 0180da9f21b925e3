// twelvelabs.gateway.v1.TaskService on the gRPC callback API: unary methods
// become one REST call each; watches subscribe to the shared watch hubs.
#ifndef TL_GATEWAY_SERVER_SERVICES_TASK_SERVICE_H_
#define TL_GATEWAY_SERVER_SERVICES_TASK_SERVICE_H_

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"

namespace tlgw {

class TaskServiceImpl final : public twelvelabs::gateway::v1::TaskService::CallbackService {
 public:
  // `deps` is not owned and must outlive the service.
  explicit TaskServiceImpl(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* ctx,
                                    const twelvelabs::gateway::v1::GetTaskRequest* req,
                                    twelvelabs::gateway::v1::Task* resp) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* ctx,
                                      const twelvelabs::gateway::v1::ListTasksRequest* req,
                                      twelvelabs::gateway::v1::ListTasksResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteTask(grpc::CallbackServerContext* ctx,
                                       const twelvelabs::gateway::v1::DeleteTaskRequest* req,
                                       google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* GetIndexTaskCounts(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::GetIndexTaskCountsRequest* req,
      twelvelabs::gateway::v1::IndexTaskCounts* resp) override;
  grpc::ServerWriteReactor<twelvelabs::gateway::v1::TaskEvent>* WatchTask(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::WatchTaskRequest* req) override;
  grpc::ServerWriteReactor<twelvelabs::gateway::v1::TaskEvent>* WatchIndexTasks(
      grpc::CallbackServerContext* ctx,
      const twelvelabs::gateway::v1::WatchIndexTasksRequest* req) override;

 private:
  const ServiceDeps* const deps_;
};

// Page size used when a request gives 0, and the most the API serves.
inline constexpr int kDefaultTaskPageSize = 10;
inline constexpr int kMaxTaskPageSize = 50;

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_TASK_SERVICE_H_
