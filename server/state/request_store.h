// Durable records of idempotent creates: request_id -> the task it created.
//
// A caller that repeats a create with the same request_id (after a timeout,
// say) gets the first task instead of a second upload. Records live in
// SQLite so they survive a restart; the interface lets a deployment of
// several replicas put them in a shared database instead.
#ifndef TL_GATEWAY_SERVER_STATE_REQUEST_STORE_H_
#define TL_GATEWAY_SERVER_STATE_REQUEST_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"

namespace tlgw {

class RequestStore {
 public:
  enum class Outcome {
    kNew,         // first use: go ahead, then Complete() or Release()
    kDone,        // completed before: `task_id` is the task it created
    kInProgress,  // another call with this id may be running: retry at `retry_at`
    kConflict,    // used before with different request fields
    kTakenOver,   // an earlier create's deadline passed without an answer (a
                  // crash): `unresolved` says what it was about to create. Look
                  // upstream for its task first; then Complete() or Release()
                  // as for kNew, or Reopen() if the look-up failed.
  };
  // What a create is about to do, recorded before its upstream POST.
  struct Attempt {
    std::string index_id;
    std::string source;  // the upload's filename, or the video's URL
    absl::Time started;  // when the claim was made
    absl::Time deadline;  // when the create must have ended, answered or not
  };
  struct ClaimResult {
    Outcome outcome;
    std::string task_id;
    absl::Time retry_at;  // kInProgress: when the claim becomes takeable
    // kTakenOver: the attempt whose outcome is unknown. Its window runs
    // from the first unanswered attempt's start to its deadline.
    Attempt unresolved;
  };
  virtual ~RequestStore() = default;
  // `scope` separates tenants and methods; `fingerprint` identifies the
  // request's fields. Thread-safe.
  virtual absl::StatusOr<ClaimResult> Claim(const std::string& scope, const std::string& request_id,
                                            const std::string& fingerprint, const Attempt& attempt) = 0;
  virtual absl::Status Complete(const std::string& scope, const std::string& request_id,
                                const std::string& task_id) = 0;
  // Forgets a claim whose create failed, so the caller may try again.
  virtual absl::Status Release(const std::string& scope, const std::string& request_id) = 0;
  // Puts back a taken-over attempt whose outcome is still unknown (the
  // look-up upstream failed): the next Claim() takes it over at once and
  // looks again over the same window.
  virtual absl::Status Reopen(const std::string& scope, const std::string& request_id,
                              const Attempt& unresolved) = 0;
};

// Which tenant created each task (and imported video), so one tenant never
// sees another's tasks even when they share an upstream key.
class OwnershipStore {
 public:
  virtual ~OwnershipStore() = default;
  virtual absl::Status RecordOwner(const std::string& task_id, const std::string& tenant) = 0;
  // The owner, or "" when the gateway has no record of the task.
  virtual absl::StatusOr<std::string> Owner(const std::string& task_id) = 0;
  // The owners of those of `task_ids` the gateway has a record of, in one
  // lookup (a page of a listing).
  virtual absl::StatusOr<std::map<std::string, std::string>> Owners(const std::vector<std::string>& task_ids) = 0;
  // Whether RecordOwner can succeed now: a round trip to a shared store
  // (asked before a create whose owner must be recorded); a local one is
  // always ready.
  virtual absl::Status Ready() { return absl::OkStatus(); }
};

// SQLite implementation of both stores. Every call waits at most
// `busy_timeout` for a lock another process holds, then fails UNAVAILABLE.
// One connection, serialized by a mutex (the store sees one write per
// create, far below SQLite's limits). A claim left in progress past its
// attempt's deadline plus `takeover_margin` (a crash mid-create) may be
// taken over; records older than `keep_for` are deleted. Opening a
// database written before attempts were recorded adds their columns; its
// claims in progress become takeable 10 minutes after they were made, as
// they did then, and carry no attempt to look for.
//
// Complete, Release and Reopen are fenced on the claim's owner: several
// processes sharing one file each pass their own `replica_id` (default:
// one per process), and one whose claim was taken over cannot overwrite
// the winner's record (Complete then fails ABORTED).
class SqliteRequestStore : public RequestStore, public OwnershipStore {
 public:
  // `path` ":memory:" keeps nothing across restarts.
  static absl::StatusOr<std::unique_ptr<SqliteRequestStore>> Open(
      const std::string& path, Clock* clock, absl::Duration busy_timeout = absl::Seconds(2),
      absl::Duration takeover_margin = absl::Seconds(2),
      absl::Duration keep_for = absl::Hours(24 * 7), std::string replica_id = "");
  ~SqliteRequestStore() override;

  absl::StatusOr<ClaimResult> Claim(const std::string& scope, const std::string& request_id,
                                    const std::string& fingerprint, const Attempt& attempt) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Complete(const std::string& scope, const std::string& request_id,
                        const std::string& task_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Release(const std::string& scope, const std::string& request_id) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Reopen(const std::string& scope, const std::string& request_id,
                      const Attempt& unresolved) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RecordOwner(const std::string& task_id, const std::string& tenant) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> Owner(const std::string& task_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::map<std::string, std::string>> Owners(const std::vector<std::string>& task_ids) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SqliteRequestStore(void* db, Clock* clock, absl::Duration takeover_margin, absl::Duration keep_for,
                     std::string replica_id);
  absl::Status ExecLocked(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MigrateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MigrateToAttemptsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  void* const db_ ABSL_PT_GUARDED_BY(mu_);  // sqlite3*
  Clock* const clock_;
  const absl::Duration takeover_margin_;
  const absl::Duration keep_for_;
  const std::string replica_id_;
  int64_t claims_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_STATE_REQUEST_STORE_H_
