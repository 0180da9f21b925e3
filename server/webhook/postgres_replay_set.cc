#include "server/webhook/postgres_replay_set.h"

#include "postgresql/libpq-fe.h"

namespace tlgw {

PostgresReplaySet::PostgresReplaySet(PgPool* pool, size_t local_capacity, absl::Duration keep_for)
    : pool_(pool), keep_for_(keep_for), local_(local_capacity) {}

bool PostgresReplaySet::Remember(const std::string& id) {
  // Locally too, whatever the database says: the fallback then knows the
  // ids this replica saw before an outage.
  const bool new_here = local_.Remember(id);
  if (since_sweep_.fetch_add(1) + 1 >= 1000) {
    since_sweep_ = 0;
    pool_
        ->Run([&](PGconn* c) {
          return PgExec(c, "sweep webhook_events",
                        "DELETE FROM webhook_events WHERE received_at < now() - ($1::bigint * interval '1 millisecond')",
                        {std::to_string(absl::ToInt64Milliseconds(keep_for_))})
              .status();
        })
        .IgnoreError();
  }
  bool new_everywhere = false;
  absl::Status s = pool_->Run([&](PGconn* c) -> absl::Status {
    auto r = PgExec(c, "record webhook event",
                    "INSERT INTO webhook_events (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", {id});
    if (!r.ok()) return r.status();
    new_everywhere = r->rows() == 1;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    local_decisions_.fetch_add(1);
    return new_here;
  }
  return new_everywhere;
}

}  // namespace tlgw
