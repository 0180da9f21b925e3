// The webhook replay set of a cluster: webhook_events in the shared
// PostgreSQL, one INSERT ... ON CONFLICT DO NOTHING RETURNING per event,
// so of the replicas an event (or its replay) reaches, exactly one accepts
// it. Rows older than `keep_for` are swept now and then (idempotent, so
// replicas sweeping at once do no harm); the signature's timestamp
// tolerance (5 minutes) already refuses replays older than that.
//
// With the database unreachable (or slow: a call waits at most the pool's
// statement timeout) it falls back to a local in-memory set, which also
// remembers every id it sees: a replay to the same replica is still
// caught, one to another replica during the outage is accepted there
// (harmless: an event only makes the watch engine read the task again).
#ifndef TL_GATEWAY_SERVER_WEBHOOK_POSTGRES_REPLAY_SET_H_
#define TL_GATEWAY_SERVER_WEBHOOK_POSTGRES_REPLAY_SET_H_

#include <atomic>
#include <string>

#include "absl/time/time.h"
#include "server/state/pg_pool.h"
#include "server/webhook/replay_set.h"

namespace tlgw {

class PostgresReplaySet : public WebhookReplaySet {
 public:
  // `pool` is not owned and must outlive this.
  PostgresReplaySet(PgPool* pool, size_t local_capacity, absl::Duration keep_for = absl::Hours(24));
  bool Remember(const std::string& id) override;
  // Deliveries decided locally because the database could not answer.
  int64_t local_decisions() const { return local_decisions_.load(); }

 private:
  PgPool* const pool_;
  const absl::Duration keep_for_;
  MemoryReplaySet local_;
  std::atomic<int64_t> since_sweep_{0};
  std::atomic<int64_t> local_decisions_{0};
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WEBHOOK_POSTGRES_REPLAY_SET_H_
