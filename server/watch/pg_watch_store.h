// The WatchStore of a cluster in PostgreSQL (docs/cluster.md needs 3-6):
// watch_state (durable: the rows and their sequence numbers), watch_polls,
// watch_interest and poll_budget (UNLOGGED: rebuilt within seconds after a
// crash, no WAL cost).
//
// Threads: `workers` threads, each with its own connection, run the
// statements queued by the methods (which never block: the queue is
// bounded and a full queue fails the call UNAVAILABLE); one more thread
// holds the LISTEN connection (TCP keepalives, never a transaction) when
// hints are listened to. Every statement runs under statement_timeout and
// lock_timeout, and under statement_timeout plus a margin on this side
// (PgExecBounded: a database that stops answering costs a job that much,
// never a thread); a connection that cannot be made within connect_timeout
// fails the call UNAVAILABLE, so do the jobs of the next 500 ms, and the
// next call after that tries again. The destructor cuts statements and
// connection attempts under way.
#ifndef TL_GATEWAY_SERVER_WATCH_PG_WATCH_STORE_H_
#define TL_GATEWAY_SERVER_WATCH_PG_WATCH_STORE_H_

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/watch/watch_store.h"

typedef struct pg_conn PGconn;

namespace tlgw {

struct PgWatchStoreOptions {
  std::string conninfo;  // a libpq conninfo or URI; never logged
  // In pg_stat_activity: the gateway's replica id, like the pool's.
  std::string application_name = "tl-gateway";
  bool listen = true;    // false: no LISTEN connection (PgBouncer in transaction mode)
  int workers = 2;
  size_t max_queued = 10000;
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration lock_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
};

class PgWatchStore : public WatchStore {
 public:
  // Starts the threads; connections are made on first use. Unless
  // `migrated` (Migrate succeeded at start-up), the first connection that
  // works migrates the schema first.
  explicit PgWatchStore(PgWatchStoreOptions options, bool migrated = true);
  ~PgWatchStore() override;  // waits for the statement under way, fails the queued ones
  PgWatchStore(const PgWatchStore&) = delete;
  PgWatchStore& operator=(const PgWatchStore&) = delete;

  // The watch tables, created if missing (idempotent, under an advisory
  // lock: safe when several replicas start at once). Blocking: call at
  // start-up, before serving.
  static absl::Status Migrate(const std::string& conninfo, absl::Duration timeout);

  void Listen(const std::string& replica,
              absl::AnyInvocable<void(const std::string& key, int64_t sequence)> on_hint,
              absl::AnyInvocable<void(bool up)> on_channel) override;
  void AddInterest(const std::string& replica, const std::vector<WatchKey>& keys, bool fresh,
                   absl::Duration ttl, absl::AnyInvocable<void(absl::StatusOr<int>)> done) override;
  void DropInterest(const std::string& replica, const std::vector<std::string>& keys,
                    absl::AnyInvocable<void(absl::Status)> done) override;
  void Claim(const std::string& replica, int max, absl::Duration spacing, absl::Duration horizon,
             absl::Duration lease,
             absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override;
  void Take(const std::string& replica, const std::vector<std::string>& keys, absl::Duration lease,
            absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override;
  void TakeItem(const std::string& replica, const std::string& kind, const std::string& item,
                absl::Duration lease,
                absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredClaim>>)> done) override;
  void Publish(StoredPublish publish,
               absl::AnyInvocable<void(absl::StatusOr<StoredPublishResult>)> done) override;
  void Load(const std::vector<std::string>& keys, const std::string& replica,
            absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, StoredKey>>)> done) override;
  void PushRows(const std::vector<StoredRow>& rows, absl::AnyInvocable<void(absl::Status)> done) override;
  void HandBack(const std::string& replica, absl::AnyInvocable<void(absl::Status)> done) override;

  class Conn;  // one connection (pg_watch_store.cc)

 private:
  // A job runs on a worker with its connection; null when it could not
  // connect (then it fails with `unreachable`).
  using Job = absl::AnyInvocable<void(Conn* conn, const absl::Status& unreachable)>;
  // After a failed connection attempt, how long jobs fail at once.
  static constexpr absl::Duration kRetryInterval = absl::Milliseconds(500);
  void Enqueue(Job job) ABSL_LOCKS_EXCLUDED(mu_);
  bool Stopping() ABSL_LOCKS_EXCLUDED(mu_);
  // Connects `conn` if needed (or fails fast right after a failed attempt).
  absl::Status Connect(Conn& conn) ABSL_LOCKS_EXCLUDED(mu_);
  // Registers a connection in use, whose socket the destructor shuts down;
  // false (not registered) once stopping.
  bool MarkBusy(PGconn* c, bool busy) ABSL_LOCKS_EXCLUDED(mu_);
  void Work() ABSL_LOCKS_EXCLUDED(mu_);
  void ListenLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const PgWatchStoreOptions options_;
  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<PGconn*> busy_ ABSL_GUARDED_BY(mu_);
  absl::Time fail_fast_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status unreachable_ ABSL_GUARDED_BY(mu_);
  std::string listen_replica_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<absl::AnyInvocable<void(const std::string&, int64_t)>> on_hint_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<absl::AnyInvocable<void(bool)>> on_channel_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> migrated_;
  std::vector<std::thread> workers_;
  std::thread listener_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_PG_WATCH_STORE_H_
