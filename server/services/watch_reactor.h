// The TaskEvent streams (WatchTask, WatchIndexTasks): a watch-hub
// subscriber that writes to the client the latest state of each task it
// hears about, in sequence order. A slow reader is sent the latest state,
// never a backlog (a status is a state, not a log), and never misses a
// terminal event.
#ifndef TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_
#define TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_

#include <functional>
#include <memory>
#include <set>

#include <grpcpp/grpcpp.h>

#include "server/common/stream_registry.h"
#include "server/watch/fanout.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

struct WatchStreamOptions {
  // Subscribes the stream's sink to its hub; returns the subscription id.
  std::function<uint64_t(std::shared_ptr<TaskEventSink>)> subscribe;
  std::function<void(uint64_t)> unsubscribe;
  // Events with a sequence at or below this were seen before a reconnect.
  int64_t resume_after = 0;
  // WatchTask: end with OK after the terminal event.
  bool end_on_terminal = false;
  // WatchIndexTasks: only events of tasks in these states (empty = all).
  std::set<int> statuses;
  // When set, events of tasks for which it is false are dropped (another
  // tenant's tasks under a shared upstream key).
  std::function<bool(const twelvelabs::gateway::v1::Task&)> visible;
  // When set, an event it refuses ends the stream with its status.
  std::function<absl::Status(const twelvelabs::gateway::v1::Task&)> admit;
  // When set, rewrites a hub error before it ends the stream.
  std::function<absl::Status(const absl::Status&)> map_error;
  // Registers `end` to run if the caller's credentials are revoked;
  // returns an id for unwatch_revocation.
  std::function<uint64_t(std::function<void()> end)> watch_revocation;
  std::function<void(uint64_t)> unwatch_revocation;
  // Where the stream registers so shutdown can end it; may be null.
  StreamRegistry* registry = nullptr;
};

// Fills the revocation hooks of `o` so the stream ends with UNAUTHENTICATED
// if `who`'s credentials are revoked by a reload.
struct ServiceDeps;
struct CallIdentity;
void BindRevocation(const ServiceDeps& deps, const CallIdentity& who, WatchStreamOptions* o);

// Creates and starts the reactor; it deletes itself when the call ends.
grpc::ServerWriteReactor<twelvelabs::gateway::v1::TaskEvent>* NewWatchReactor(WatchStreamOptions options);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_
