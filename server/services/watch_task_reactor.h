// The WatchTask stream: a TaskWatchHub subscriber that writes the newest
// state to the client. A slow reader is sent the latest state, never a
// backlog (a status is a state, not a log), and always the terminal event,
// after which the stream ends with OK.
#ifndef TL_GATEWAY_SERVER_SERVICES_WATCH_TASK_REACTOR_H_
#define TL_GATEWAY_SERVER_SERVICES_WATCH_TASK_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include "server/watch/task_watch_hub.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// Creates and starts the reactor; it deletes itself when the call ends.
grpc::ServerWriteReactor<twelvelabs::gateway::v1::TaskEvent>* NewWatchTaskReactor(
    TaskWatchHub* hub, const std::string& scope, const std::string& task_id, const std::string& api_key,
    int64_t resume_after);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_WATCH_TASK_REACTOR_H_
