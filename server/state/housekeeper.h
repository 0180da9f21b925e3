// Housekeeping of the shared PostgreSQL state (docs/cluster.md need 7).
//
// One replica at a time leads, through the lease row `leader`
// ('housekeeping', holder, expires_at): taken or renewed with one
// conditional upsert on the database clock, so replicas' clocks never
// compare. The leader deletes, in bounded batches:
//   - request_ids not updated for `request_keep_for` (the SQLite store's
//     keep_for: the record of a create, done or abandoned, is forgotten);
//   - webhook_events received more than `webhook_keep_for` ago;
//   - watch_state rows and watch_polls rows of keys that no replica has
//     been interested in for `watch_idle` (watch_state.observed older than
//     that and no live watch_interest row);
//   - rate_buckets whose TAT is more than `rate_bucket_idle` in the past
//     (a full bucket: deleting it changes no decision);
//   - dead replicas' rows: watch_interest rows expired more than
//     `interest_grace` ago. Replicas have no heartbeat table: they are
//     counted by their live watch_interest rows and by the application
//     names "tl-gateway <replica>" of their sessions (pg_stat_activity),
//     both of which vanish with the replica; the expired interest rows are
//     what a dead replica leaves behind.
// Every sweep is an idempotent DELETE of rows that are already dead by a
// database-clock predicate, so two leaders at once (a lease lapsing while
// its holder still sweeps) only repeat each other's work.
//
// Runs on its own thread, never on gRPC or curl threads; every statement
// carries the pool's statement_timeout. Stop() returns once the statement
// in flight ends (at most the pool's bounds; PgPool::Shutdown cuts it).
#ifndef TL_GATEWAY_SERVER_STATE_HOUSEKEEPER_H_
#define TL_GATEWAY_SERVER_STATE_HOUSEKEEPER_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/state/pg_pool.h"

namespace tlgw {

struct HousekeeperOptions {
  std::string replica_id;
  // How often the lease is taken or renewed and, when leading, swept.
  absl::Duration interval = absl::Seconds(30);
  // How long a lease lasts without renewal (a few intervals).
  absl::Duration lease = absl::Seconds(90);
  absl::Duration request_keep_for = absl::Hours(24 * 7);
  absl::Duration webhook_keep_for = absl::Hours(24);
  absl::Duration watch_idle = absl::Minutes(10);
  absl::Duration rate_bucket_idle = absl::Minutes(10);
  absl::Duration interest_grace = absl::Minutes(1);
  // Rows per DELETE statement, so each stays short under statement_timeout.
  int batch = 5000;
};

struct SweepCounts {
  int64_t request_ids = 0;
  int64_t webhook_events = 0;
  int64_t watch_state = 0;
  int64_t watch_polls = 0;
  int64_t rate_buckets = 0;
  int64_t watch_interest = 0;
};

class Housekeeper {
 public:
  // `pool` is not owned. With `start_thread` false there is no thread
  // (tests call TryLead() and Sweep()).
  Housekeeper(PgPool* pool, HousekeeperOptions options, bool start_thread = true);
  ~Housekeeper();
  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

  // Takes or renews the lease: true when this replica holds it now.
  absl::StatusOr<bool> TryLead();
  // Gives the lease up (at shutdown), so another replica leads at once.
  absl::Status Resign();
  // One round of every sweep (whoever leads: the caller decides).
  absl::StatusOr<SweepCounts> Sweep();
  // Asks the thread to end after its statement in flight.
  void RequestStop();
  // Ends the thread; idempotent.
  void Stop();

 private:
  // Deletes rows matching `where` from `table` in batches; how many.
  absl::StatusOr<int64_t> DeleteBatches(const char* what, const std::string& table, const std::string& where,
                                        const std::vector<std::string>& params);
  void Loop();

  PgPool* const pool_;
  const HousekeeperOptions options_;
  absl::Mutex stop_mu_;  // Notify() may be called once only
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_HOUSEKEEPER_H_
