// The seam between the watch engine and where a watched key's state lives.
//
// The engine (watch_engine.h) owns subscribers and fans changes out to
// them. A WatchCoordinator owns the rest, for every watched key:
//  - who polls it and when: it hands one engine a WatchClaim (a lease on
//    the next read, with a fence); the engine reads upstream and publishes
//    the outcome under that fence. A publish whose fence was bumped since
//    (a webhook took the poll, the lease expired and another poller took
//    over) changes nothing.
//  - the item states and their sequence numbers: the coordinator compares
//    a published item with the state it holds, and numbers a real change
//    above the previous number (floored by a microsecond clock). Its rows
//    are the truth; the engine's copy is a mirror for fan-out.
//  - who hears of a change: every listener (engine) of the key's kind in
//    this process gets OnRows() for a key it watches, whichever process
//    published it.
//
// LocalCoordinator (one process, today's behaviour) keeps all of this in
// memory. SharedCoordinator (several replicas) keeps it in a WatchStore
// (watch_store.h) shared by the replicas.
#ifndef TL_GATEWAY_SERVER_WATCH_WATCH_COORDINATOR_H_
#define TL_GATEWAY_SERVER_WATCH_WATCH_COORDINATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// One item as upstream said it is (a kind builds it from a read).
struct WatchItem {
  std::string id;           // unique within the entry (a task id; the subject for single-item kinds)
  std::string fingerprint;  // equal fingerprints are the same state: no event
  bool terminal = false;    // no further change is expected
  std::shared_ptr<const google::protobuf::Message> value;  // the upstream state (kind-specific type)
};

// What is watched: a kind ("task"), a tenant, a subject (a task id, ...).
struct WatchKey {
  std::string kind;
  std::string scope;
  std::string subject;
  // "kind/scope/subject": kinds and tenant names hold no '/'.
  std::string str() const { return kind + "/" + scope + "/" + subject; }
};

// One item's numbered state, as the coordinator holds it.
struct WatchRow {
  WatchItem item;
  int64_t sequence = 0;
  twelvelabs::gateway::v1::EventSource source = twelvelabs::gateway::v1::EVENT_SOURCE_POLL;
  absl::Time observed;  // when the change was published
};

// A lease on one read of `key`.
struct WatchClaim {
  WatchKey key;
  int64_t fence = 0;      // the publish must carry it back
  std::string cursor;     // from the previous read of the key ("" at first)
  int failures = 0;       // reads failed in a row before this one
  twelvelabs::gateway::v1::EventSource source = twelvelabs::gateway::v1::EVENT_SOURCE_POLL;
  std::string webhook_item, webhook_status;  // a webhook's word, if a webhook took the poll
  absl::Time read_at;     // when to read (a poll-budget slot; now or past: at once)
  absl::Time deadline;    // the lease ends: a later publish is refused
  bool local = false;     // handed out by a replica's local fallback (the shared store was down)
  // Since a replica of the cluster last received a verified webhook
  // (infinite: never, or not known): while webhooks flow, polls slow to
  // the safety net on every replica, not only the one receiving them.
  absl::Duration since_webhook = absl::InfiniteDuration();
};

// The outcome of one read.
struct WatchPublish {
  bool read_ok = false;
  std::vector<WatchItem> items;  // oldest change first; others stay as they were
  std::string cursor;
  int failures = 0;              // reads failed in a row, this one included
  absl::Duration next_poll;      // until the next read
  bool finished = false;         // nothing more to learn: no further read
  absl::Status ended;            // not OK: the watch ends, for every subscriber, with this
  bool upstream_throttled = false;  // upstream answered 429: every poller backs off
};

// An engine, as the coordinator calls it. Calls come from any thread,
// never under the coordinator's lock, and must not block.
class WatchListener {
 public:
  virtual ~WatchListener() = default;
  // Read the claimed key now (or at claim.read_at) and Publish() the outcome.
  virtual void OnClaim(WatchClaim claim) = 0;
  // Items of `key` changed (sequence above what was announced before).
  virtual void OnRows(const std::string& key, std::vector<WatchRow> rows) = 0;
  // The watch of `key` cannot go on; its local subscribers end with `status`.
  virtual void OnEnded(const std::string& key, const absl::Status& status) = 0;
  // The value of an item from its serialized form (for stores that keep bytes).
  virtual std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) = 0;
};

class WatchCoordinator {
 public:
  virtual ~WatchCoordinator() = default;
  // The engine of `kind`; it must stay until RemoveListener().
  virtual void AddListener(const std::string& kind, WatchListener* listener) = 0;
  virtual void RemoveListener(const std::string& kind) = 0;
  // The engine holds `key` for local subscribers under `token` (unique per
  // engine entry; an Unwatch that overtakes its Watch cancels it). `done`
  // runs once with every item of the key as current as the cluster knows
  // it, after a read when nobody was polling it; it may run before Watch()
  // returns, on the calling thread. If the key's watch ends first,
  // OnEnded() comes instead.
  virtual void Watch(const WatchKey& key, uint64_t token,
                     absl::AnyInvocable<void(std::vector<WatchRow>)> done) = 0;
  virtual void Unwatch(const WatchKey& key, uint64_t token) = 0;
  // A verified webhook named `item`: every watched key of `kind` holding it
  // (in any process) is read at once.
  virtual void OnWebhook(const std::string& kind, const std::string& item, const std::string& status) = 0;
  // The outcome of the read `claim` leased. Changed rows reach the
  // listeners through OnRows(); a stale fence changes nothing.
  virtual void Publish(const WatchClaim& claim, WatchPublish outcome) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_WATCH_COORDINATOR_H_
