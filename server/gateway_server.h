// The gateway process's core: the gRPC server with its three services,
// health checking and reflection, wired to one REST client.
//
// main.cc reads flags and the environment into GatewayOptions; everything
// below it receives its settings from here and never reads flags itself.
#ifndef TL_GATEWAY_SERVER_GATEWAY_SERVER_H_
#define TL_GATEWAY_SERVER_GATEWAY_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/call_counter.h"
#include "server/common/scheduler.h"
#include "server/config/config.h"
#include "server/services/deps.h"
#include "server/services/integration_service.h"
#include "server/services/task_service.h"
#include "server/services/upload_service.h"
#include "server/state/request_store.h"
#include "server/twelvelabs/client.h"
#include "server/upstream/http.h"

namespace tlgw {

struct GatewayOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free one
  ClientOptions client;                     // client.base_url is the upstream URL
  std::string api_key;                      // never logged
  GatewayConfig config;
  std::string state_db = ":memory:";
  // Unary calls in flight get this long to finish on Shutdown().
  absl::Duration drain = absl::Seconds(5);
};

class GatewayServer {
 public:
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Create(GatewayOptions options);
  ~GatewayServer();  // Shuts down.

  int port() const { return port_; }
  const TwelveLabsClient& client() const { return *client_; }
  // Stops accepting calls, lets calls in flight finish within the drain
  // time, then cancels what is left and closes idle client connections
  // (gRPC alone would wait for clients to hang up). Idempotent.
  void Shutdown();

 private:
  explicit GatewayServer(GatewayOptions options);

  GatewayOptions options_;
  // Destroyed in reverse order: the transport first (its destructor fails
  // pending requests, whose callbacks still use the client and the store).
  std::unique_ptr<ThreadScheduler> scheduler_;
  std::unique_ptr<RequestStore> store_;
  std::unique_ptr<TwelveLabsClient> client_;
  ServiceDeps deps_;
  std::unique_ptr<UploadServiceImpl> upload_service_;
  std::unique_ptr<TaskServiceImpl> task_service_;
  std::unique_ptr<IntegrationServiceImpl> integration_service_;
  CallCounter calls_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpTransport> transport_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_GATEWAY_SERVER_H_
