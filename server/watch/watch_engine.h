// The watch engine: one mechanism for every kind of watch (a task, the
// tasks of an index, an import; later assets), however many subscribers.
//
// Each watched (scope, subject) has one entry, shared by all its
// subscribers: one upstream read per interval (the kind's adaptive
// interval, spaced by the global PollBudget), its changes numbered with
// increasing sequence numbers and fanned out to every subscriber. A kind
// supplies only what differs (WatchKind): the REST read, what counts as a
// change, when an item is terminal, the interval, the event message.
//
// What the engine guarantees, for every kind:
//  - A new subscriber first gets every item's latest state (a snapshot),
//    then each change. Tenants (scopes) never share an entry.
//  - The key for a read is looked up at every read (`key_for(scope)`), so
//    a rotated key is used by the next poll.
//  - A read fails permanently (NOT_FOUND, ...) or `max_consecutive_failures`
//    times in a row: every subscriber gets the error and the entry ends.
//  - An entry whose items are all terminal (for kinds that end) stops
//    polling; its subscribers end after the terminal event.
//  - When the last subscriber leaves, a tombstone keeps each item's
//    sequence and fingerprint for `tombstone_ttl`, so a subscriber that
//    comes back with resume_after is not sent what it saw.
//  - A webhook naming an item makes every entry that holds it read at once.
//
// Thread-safe. No sink, REST call or kind callback runs under the engine's
// lock. A change is fanned out as one task on the `fanout` executor, never
// on the thread that completed the read; only a new subscriber's snapshot
// is delivered inline, on the thread calling Subscribe().
//
// Who polls a key and when, and how changes are numbered, is the
// WatchCoordinator's (watch_coordinator.h): a LocalCoordinator in one
// process, a SharedCoordinator when several replicas share the work. The
// engine reads when the coordinator hands it a claim, publishes what it
// read, and fans out the rows the coordinator announces, whoever read them.
#ifndef TL_GATEWAY_SERVER_WATCH_WATCH_ENGINE_H_
#define TL_GATEWAY_SERVER_WATCH_WATCH_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/twelvelabs/api.h"
#include "server/watch/local_coordinator.h"
#include "server/watch/poll_budget.h"
#include "server/watch/watch_coordinator.h"
#include "server/watch/watch_options.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// One change, built once and shared read-only by every subscriber it goes
// to. `message` is the kind's event proto (TaskEvent, ImportStatusEvent).
struct WatchEvent {
  int64_t sequence = 0;
  std::string item;
  bool terminal = false;
  std::shared_ptr<const google::protobuf::Message> message;
  std::shared_ptr<const google::protobuf::Message> value;  // the item's state
};
using WatchEventPtr = std::shared_ptr<const WatchEvent>;

// A subscriber. Calls come from any thread (the fan-out executor, or the
// subscribing thread for the snapshot), possibly concurrently, and must not
// block. Events may arrive out of order: a sink ignores an event whose
// sequence is not above the last it handled for that item.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  virtual void OnEvent(WatchEventPtr event) = 0;
  // The watch cannot go on; nothing follows.
  virtual void OnError(const absl::Status& status) = 0;
};

// What one kind of watch supplies. Implementations are thread-safe.
class WatchKind {
 public:
  struct Read {
    std::vector<WatchItem> items;  // new or possibly changed items; others stay as they were
    std::string cursor;            // handed to the next read
  };
  virtual ~WatchKind() = default;
  // "task", "index", "import": metric labels and messages.
  virtual const char* name() const = 0;
  // Reads `subject`'s items. `cursor` is "" for an entry's first read (read
  // everything) and otherwise what the previous read returned. `done` runs
  // once, on any thread.
  virtual void Fetch(const std::string& subject, const std::string& cursor, const CallOptions& opts,
                     absl::AnyInvocable<void(absl::StatusOr<Read>)> done) = 0;
  // The event message for `item` at `sequence`.
  virtual std::shared_ptr<const google::protobuf::Message> MakeEvent(
      const WatchItem& item, int64_t sequence, twelvelabs::gateway::v1::EventSource source,
      absl::Time now) const = 0;
  // Time until the next read, given the items known (empty before the
  // first read) and the failures in a row. By default the base rule for a
  // subject whose state gives no estimate (an index, an import).
  virtual absl::Duration NextInterval(const WatchOptions& options,
                                      const std::vector<const WatchItem*>& items, int failures,
                                      bool webhooks_active, absl::Time now) const;
  // Whether the entry stops polling once every item is terminal (a task,
  // an import) or goes on (an index, which can gain items).
  virtual bool EndsWhenTerminal() const = 0;
  // The item as a webhook says it now is, used when the read the webhook
  // triggered fails; nullopt when the kind cannot tell.
  virtual std::optional<WatchItem> FromWebhook(const WatchItem& known,
                                               const std::string& status) const {
    return std::nullopt;
  }
  // An item's value from its serialized form (stores shared by replicas
  // keep bytes); null when the bytes do not parse.
  virtual std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const = 0;
};

// When the last verified webhook came: while they flow, polls slow to a
// safety net. Shared by every engine. Thread-safe.
class WebhookActivity {
 public:
  WebhookActivity(Clock* clock, absl::Duration window) : clock_(clock), window_(window) {}
  void Record() ABSL_LOCKS_EXCLUDED(mu_);
  bool Active() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Clock* const clock_;
  const absl::Duration window_;
  mutable absl::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class WatchEngine : private WatchListener {
 public:
  // Not owned; all must outlive the engine and every callback it started.
  // `fanout` runs the fan-outs (the tasks hold the sinks, not the engine).
  // This form coordinates in memory (its own LocalCoordinator over the
  // shared `budget`): one process.
  WatchEngine(WatchKind* kind, const WatchOptions& options, Clock* clock, PollBudget* budget,
              Executor* fanout, WebhookActivity* webhooks,
              std::function<std::string(const std::string& scope)> key_for);
  // With a coordinator shared by the engines of every kind (a
  // SharedCoordinator for several replicas). Not owned.
  WatchEngine(WatchKind* kind, const WatchOptions& options, Clock* clock,
              WatchCoordinator* coordinator, Executor* fanout, WebhookActivity* webhooks,
              std::function<std::string(const std::string& scope)> key_for);
  ~WatchEngine() override;
  WatchEngine(const WatchEngine&) = delete;
  WatchEngine& operator=(const WatchEngine&) = delete;

  // Subscribes `sink` to `subject` as seen by `scope` (a tenant). Returns
  // an id for Unsubscribe().
  uint64_t Subscribe(const std::string& scope, const std::string& subject,
                     std::shared_ptr<WatchSink> sink) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(const std::string& scope, const std::string& subject, uint64_t id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A verified webhook said item `item_id` is now `status`: every entry
  // holding it (or watching it as its subject) reads at once.
  void OnWebhook(const std::string& item_id, const std::string& status) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    int64_t entries = 0;
    int64_t subscribers = 0;
    int64_t polls = 0;        // upstream reads made
    int64_t polls_saved = 0;  // reads that N subscribers would have made beyond the one
    int64_t webhook_refreshes = 0;
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  const WatchKind& kind() const { return *kind_; }

 private:
  struct Entry;
  // Work decided under the lock, done after it is released.
  struct Outbox {
    struct Delivery {
      std::shared_ptr<WatchSink> sink;
      WatchEventPtr event;  // null: `error`
      absl::Status error;
    };
    std::vector<Delivery> deliveries;
  };

  // WatchListener:
  void OnClaim(WatchClaim claim) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRows(const std::string& key, std::vector<WatchRow> rows) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnEnded(const std::string& key, const absl::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) override {
    return kind_->ParseValue(bytes);
  }

  void OnLoaded(const std::string& key, uint64_t generation, std::vector<WatchRow> rows)
      ABSL_LOCKS_EXCLUDED(mu_);
  void StartRead(WatchClaim claim);
  void OnRead(const WatchClaim& claim, absl::StatusOr<WatchKind::Read> result) ABSL_LOCKS_EXCLUDED(mu_);
  WatchEventPtr MakeEvent(const WatchRow& row, twelvelabs::gateway::v1::EventSource source) const;
  void Carry(Outbox& out, bool inline_delivery);

  WatchKind* const kind_;
  const WatchOptions options_;
  Clock* const clock_;
  std::unique_ptr<LocalCoordinator> own_coordinator_;  // the one-process form only
  WatchCoordinator* const coordinator_;
  Executor* const fanout_;
  WebhookActivity* const webhooks_;
  const std::function<std::string(const std::string&)> key_for_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t subscribers_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t polls_saved_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t webhook_refreshes_ ABSL_GUARDED_BY(mu_) = 0;
};

// Whether a failed read means the watch cannot succeed by retrying.
bool PermanentWatchError(const absl::Status& status);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_WATCH_ENGINE_H_
