// PostgreSQL implementation of RequestStore and OwnershipStore, shared by
// every replica of a cluster (--state_store=postgres:CONNINFO; design in
// docs: README "Running several replicas").
//
// Claims are arbitrated by the database: one INSERT ... ON CONFLICT DO
// NOTHING RETURNING, so of any number of concurrent claimers on any
// replicas exactly one gets kNew. A claim in progress becomes takeable
// when its attempt's deadline plus `takeover_margin` has passed on the
// database's clock (deadlines are stored as now() + the attempt's length,
// so replicas' clocks never compare); a takeover is an UPDATE conditioned
// on the claim sequence it read, so at most one replica wins it. Complete,
// Release and Reopen are fenced on claimed_by = this replica: a replica
// whose claim was taken over cannot overwrite the winner's record.
//
// Ownership never changes once recorded, so positive answers are cached
// in memory for good (bounded); negative ones are always asked again, so a
// task another replica just created is visible at once.
//
// With the database unreachable every call fails UNAVAILABLE (quickly:
// see PgPool), cached owners excepted; the store reconnects by itself.
#ifndef TL_GATEWAY_SERVER_STATE_POSTGRES_STORE_H_
#define TL_GATEWAY_SERVER_STATE_POSTGRES_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/state/pg_pool.h"
#include "server/state/request_store.h"

namespace tlgw {

struct PostgresStoreOptions {
  PgPoolOptions pool;
  std::string replica_id;  // claimed_by of this replica's claims
  absl::Duration takeover_margin = absl::Seconds(2);
  // request_ids older than this are deleted (by the housekeeping leader,
  // server/state/housekeeper.h, not by this store).
  absl::Duration keep_for = absl::Hours(24 * 7);
  size_t max_cached_owners = 200000;
};

class PostgresStateStore : public RequestStore, public OwnershipStore {
 public:
  // Connects once to migrate the schema. A schema newer than this build's
  // is refused (FAILED_PRECONDITION). An unreachable database is not an
  // error unless `require_database`: the store starts and calls fail
  // UNAVAILABLE until it is back (the first connection then migrates).
  static absl::StatusOr<std::unique_ptr<PostgresStateStore>> Open(PostgresStoreOptions options, Clock* clock,
                                                                  bool require_database = false);
  ~PostgresStateStore() override;

  absl::StatusOr<ClaimResult> Claim(const std::string& scope, const std::string& request_id,
                                    const std::string& fingerprint, const Attempt& attempt) override;
  absl::Status Complete(const std::string& scope, const std::string& request_id,
                        const std::string& task_id) override;
  absl::Status Release(const std::string& scope, const std::string& request_id) override;
  absl::Status Reopen(const std::string& scope, const std::string& request_id,
                      const Attempt& unresolved) override;
  absl::Status RecordOwner(const std::string& task_id, const std::string& tenant) override
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  absl::StatusOr<std::string> Owner(const std::string& task_id) override ABSL_LOCKS_EXCLUDED(cache_mu_);
  absl::StatusOr<std::map<std::string, std::string>> Owners(const std::vector<std::string>& task_ids) override
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  absl::Status Ready() override;

  // The connections, for the other shared-state components of this
  // replica (webhook de-duplication).
  PgPool* pool() { return pool_.get(); }
  const std::string& replica_id() const { return options_.replica_id; }
  absl::Duration keep_for() const { return options_.keep_for; }

 private:
  PostgresStateStore(PostgresStoreOptions options, Clock* clock);
  void Remember(const std::string& task_id, const std::string& tenant) ABSL_LOCKS_EXCLUDED(cache_mu_);

  const PostgresStoreOptions options_;
  Clock* const clock_;
  std::unique_ptr<PgPool> pool_;
  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, std::string> owners_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_POSTGRES_STORE_H_
