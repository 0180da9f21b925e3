// The watch streams (WatchTask, WatchIndexTasks, WatchImport): one reactor
// for every kind, a WatchEngine subscriber that writes to the client the
// latest state of each item it hears about, in sequence order. A slow
// reader is sent the latest state, never a backlog (a status is a state,
// not a log), and never misses a terminal event. Revoked credentials end
// the stream with UNAUTHENTICATED; shutdown ends it with UNAVAILABLE and
// the resume_after to reconnect with.
#ifndef TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_
#define TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "server/common/stream_registry.h"
#include "server/watch/watch_engine.h"

namespace tlgw {

struct WatchStreamOptions {
  WatchEngine* engine = nullptr;
  std::string scope;    // the caller's tenant
  std::string subject;  // what is watched (a task id, an index id, ...)
  // Events with a sequence at or below this were seen before a reconnect.
  int64_t resume_after = 0;
  // End with OK once the terminal event of an item is written (WatchTask,
  // WatchImport); an index watch never ends by itself.
  bool end_on_terminal = false;
  // When set, events it refuses are not sent (another tenant's task, a
  // status the caller did not ask for); an unsent older state of the item
  // is dropped too. When it cannot decide (an error: the ownership store
  // is unreachable), the event is neither sent nor dropped: the stream
  // ends with that error, its ErrorInfo carrying the resume_after that
  // brings this event and every unsent one again on reconnect.
  std::function<absl::StatusOr<bool>(const WatchEvent&)> filter;
  // When set, an event it refuses ends the stream with its status.
  std::function<absl::Status(const WatchEvent&)> admit;
  // When set, rewrites an engine error before it ends the stream.
  std::function<absl::Status(const absl::Status&)> map_error;
  // Registers `end` to run if the caller's credentials are revoked;
  // returns an id for unwatch_revocation.
  std::function<uint64_t(std::function<void()> end)> watch_revocation;
  std::function<void(uint64_t)> unwatch_revocation;
  // Where the stream registers so shutdown can end it; may be null.
  StreamRegistry* registry = nullptr;
};

// Fills the revocation and shutdown hooks of `o` so the stream ends with
// UNAUTHENTICATED if `who`'s credentials are revoked by a reload.
struct ServiceDeps;
struct CallIdentity;
void BindRevocation(const ServiceDeps& deps, const CallIdentity& who, WatchStreamOptions* o);

// Creates and starts the reactor; it deletes itself when the call ends.
// `Event` is the engine kind's event message (TaskEvent, ImportStatusEvent).
template <typename Event>
grpc::ServerWriteReactor<Event>* NewWatchReactor(WatchStreamOptions options);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_WATCH_REACTOR_H_
