// What the gRPC services share: the REST client, the request_id store, the
// configuration and the Twelve Labs key. Owned by GatewayServer; services
// hold pointers that must not outlive it.
#ifndef TL_GATEWAY_SERVER_SERVICES_DEPS_H_
#define TL_GATEWAY_SERVER_SERVICES_DEPS_H_

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/state/request_store.h"
#include "server/twelvelabs/client.h"
#include "server/watch/index_watch_hub.h"
#include "server/watch/task_watch_hub.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_options.h"
#include "server/common/scheduler.h"

namespace tlgw {

struct ServiceDeps {
  TwelveLabsClient* client = nullptr;
  RequestStore* requests = nullptr;
  TaskWatchHub* task_hub = nullptr;
  IndexWatchHub* index_hub = nullptr;
  Scheduler* scheduler = nullptr;
  PollBudget* poll_budget = nullptr;
  WatchOptions watch;
  const GatewayConfig* config = nullptr;
  // The one tenant's key until multi-tenant configuration arrives. Never
  // logged, never put in a message.
  std::string api_key;
  std::string tenant = "default";
};

// The caller's deadline and the key to use for one call.
inline CallOptions CallOptionsFor(const grpc::CallbackServerContext* ctx, const ServiceDeps& deps) {
  CallOptions opts;
  auto deadline = ctx->deadline();
  opts.deadline = deadline == std::chrono::system_clock::time_point::max()
                      ? absl::InfiniteFuture()
                      : absl::FromChrono(deadline);
  opts.api_key = deps.api_key;
  return opts;
}

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_DEPS_H_
