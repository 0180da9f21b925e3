// What replicas share about watches, as the SharedCoordinator uses it: the
// statements of docs/cluster.md's needs 3-6, one method each. Implemented by
// PostgreSQL (tables watch_state, watch_polls, watch_interest, poll_budget)
// and, for tests, in memory (tests/support/memory_watch_store.h).
//
// Every time is the store's clock (a database's now()), never a replica's.
// Methods never block: `done` runs once, on any thread (possibly before the
// method returns), with UNAVAILABLE or DEADLINE_EXCEEDED when the store
// cannot be reached.
#ifndef TL_GATEWAY_SERVER_WATCH_WATCH_STORE_H_
#define TL_GATEWAY_SERVER_WATCH_WATCH_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/watch/watch_coordinator.h"

namespace tlgw {

// One item's state as stored (watch_state).
struct StoredRow {
  std::string key;  // WatchKey::str()
  std::string item;
  int64_t sequence = 0;
  std::string fingerprint;
  bool terminal = false;
  int source = 0;  // an EventSource
  absl::Time observed;
  std::string value;  // the item's value, serialized
};

// A lease on one read (a watch_polls row with its fence bumped).
struct StoredClaim {
  WatchKey key;
  int64_t fence = 0;
  std::string cursor;
  int failures = 0;
  absl::Duration read_after;  // from the claim to its budget slot
  absl::Duration lease;       // from the claim: a later publish may find the fence bumped
  absl::Duration since_webhook = absl::InfiniteDuration();  // since any replica's last TakeItem
};

struct StoredPublish {
  std::string replica;
  WatchKey key;
  int64_t fence = 0;
  bool read_ok = false;
  struct Item {
    std::string id, fingerprint, value;
    bool terminal = false;
  };
  std::vector<Item> items;  // oldest change first
  int source = 0;           // an EventSource
  std::string cursor;
  int failures = 0;
  absl::Duration next_poll;
  bool finished = false;
  absl::Status ended;  // not OK: the key's watch ends everywhere
  absl::Duration block_polls = absl::ZeroDuration();  // > 0: no replica claims a poll for this long
};

struct StoredPublishResult {
  bool accepted = false;          // false: the fence had been bumped; nothing changed
  std::vector<StoredRow> changed;  // numbered, in order
};

struct StoredKey {
  std::vector<StoredRow> rows;
  // Another live replica watches the key and it was read since it was
  // first watched: the rows are as current as polling makes them.
  bool current = false;
  absl::Status ended;  // the watch ended with this (a publish said so)
};

class WatchStore {
 public:
  virtual ~WatchStore() = default;

  // Hints: `on_hint(key, sequence)` after any replica published a change
  // (sequence 0: the key's watch ended). `on_channel(true)` each time the
  // hint channel is (re)established: hints may have been missed before it.
  // Call once, before anything else.
  virtual void Listen(const std::string& replica,
                      absl::AnyInvocable<void(const std::string& key, int64_t sequence)> on_hint,
                      absl::AnyInvocable<void(bool up)> on_channel) = 0;

  // Upserts `replica`'s interest in `keys` (expiring after `ttl`) and makes
  // sure each has a poll row. `fresh`: the replica starts watching them
  // (a poll row that ended or has no other live interest starts over).
  // Answers the number of live replicas.
  virtual void AddInterest(const std::string& replica, const std::vector<WatchKey>& keys, bool fresh,
                           absl::Duration ttl, absl::AnyInvocable<void(absl::StatusOr<int>)> done) = 0;
  // Deletes `replica`'s interest; a key nobody watches loses its poll row.
  virtual void DropInterest(const std::string& replica, const std::vector<std::string>& keys,
                            absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Claims up to `max` keys whose poll is due and that some live replica
  // watches, oldest due first, each in the next slot of the shared poll
  // budget (one slot per `spacing`) no later than `horizon` from now;
  // nothing while an upstream 429 blocks polls.
  virtual void Claim(const std::string& replica, int max, absl::Duration spacing,
                     absl::Duration horizon, absl::Duration lease,
                     absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) = 0;
  // Takes the poll of `keys` now, unbudgeted (a new subscriber).
  virtual void Take(const std::string& replica, const std::vector<std::string>& keys,
                    absl::Duration lease,
                    absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) = 0;
  // Takes the poll of every watched key of `kind` whose subject is `item`
  // or that holds a row of `item` (a webhook), and records that a webhook
  // came (claims say since when).
  virtual void TakeItem(const std::string& replica, const std::string& kind, const std::string& item,
                        absl::Duration lease,
                        absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) = 0;

  // Fenced: changes nothing unless the key's fence is still `fence`. A
  // changed item gets sequence greatest(key's previous + 1, store clock
  // in µs) and a hint goes out.
  virtual void Publish(StoredPublish publish,
                       absl::AnyInvocable<void(absl::StatusOr<StoredPublishResult>)> done) = 0;

  virtual void Load(const std::vector<std::string>& keys, const std::string& replica,
                    absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, StoredKey>>)> done) = 0;

  // Rows a replica numbered while the store was unreachable: each replaces
  // the stored row of its item when its sequence is higher, and raises the
  // key's floor.
  virtual void PushRows(const std::vector<StoredRow>& rows, absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Shutdown: `replica`'s claims are due now and its interest is gone.
  virtual void HandBack(const std::string& replica, absl::AnyInvocable<void(absl::Status)> done) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_WATCH_STORE_H_
