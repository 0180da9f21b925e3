// Pieces the watch hubs share: the sink interface, building events, and the
// "outbox" of deliveries and reads that a hub decides under its lock and
// carries out after releasing it (so no sink or REST call ever runs under
// a hub's lock).
#ifndef TL_GATEWAY_SERVER_WATCH_FANOUT_H_
#define TL_GATEWAY_SERVER_WATCH_FANOUT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// A subscriber. Calls come from any thread, possibly concurrently, and must
// not block; events can arrive out of order, so a sink ignores an event
// whose sequence is not above the last it handled for that task.
class TaskEventSink {
 public:
  virtual ~TaskEventSink() = default;
  virtual void OnEvent(const twelvelabs::gateway::v1::TaskEvent& event) = 0;
  // The watch cannot go on (the task or index does not exist, or upstream
  // kept failing). No event follows.
  virtual void OnError(const absl::Status& status) = 0;
};

twelvelabs::gateway::v1::TaskEvent MakeTaskEvent(const twelvelabs::gateway::v1::Task& task,
                                                 int64_t sequence,
                                                 twelvelabs::gateway::v1::EventSource source,
                                                 absl::Time now);

// What counts as a change worth an event: status, progress, estimate, HLS
// state and video id (not updated_at alone).
std::string TaskFingerprint(const twelvelabs::gateway::v1::Task& task);

// Whether a failed read means the watch cannot succeed by retrying.
bool PermanentWatchError(const absl::Status& status);

// Work decided under a hub's lock, done after it is released.
struct Outbox {
  struct Delivery {
    std::shared_ptr<TaskEventSink> sink;
    std::optional<twelvelabs::gateway::v1::TaskEvent> event;  // else `error`
    absl::Status error;
  };
  struct Fetch {
    std::string key;
    uint64_t generation;
    twelvelabs::gateway::v1::EventSource source;
  };
  std::vector<Delivery> deliveries;
  std::vector<Fetch> fetches;

  void Deliver() {
    for (auto& d : deliveries) {
      if (d.event) d.sink->OnEvent(*d.event);
      else d.sink->OnError(d.error);
    }
  }
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_FANOUT_H_
