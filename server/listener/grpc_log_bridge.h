// gRPC's own log lines (gpr_log) through the gateway's JSON logger, and the
// one of them that means gRPC's listener has stopped accepting connections.
#ifndef TL_GATEWAY_SERVER_LISTENER_GRPC_LOG_BRIDGE_H_
#define TL_GATEWAY_SERVER_LISTENER_GRPC_LOG_BRIDGE_H_

#include <functional>
#include <string>

namespace tlgw {

// From now on gRPC's log lines are JSON lines of component "grpc" (level,
// message, source file and line). Idempotent.
void RouteGrpcLogsToJson();

// Calls `handler` with gRPC's message whenever gRPC 1.51 reports that
// accept() failed on a listener ("Failed accept4: ..."): that listener never
// accepts again. `handler` runs on a gRPC thread: it must only record the
// event. Returns an id for RemoveAcceptFailureHandler.
int AddAcceptFailureHandler(std::function<void(const std::string& message)> handler);
void RemoveAcceptFailureHandler(int id);

// Exposed for tests: what the bridge does with one gRPC log line.
void HandleGrpcLogLineForTest(const char* file, int line, int severity, const char* message);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_LISTENER_GRPC_LOG_BRIDGE_H_
