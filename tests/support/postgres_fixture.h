// A real PostgreSQL server for tests and benchmarks: nothing is mocked at
// the SQL level (README "Running several replicas"; docs/design.md).
//
// `initdb` runs once per test binary into a template directory; every
// PostgresServer copies it and runs its own `postgres` child on a free
// loopback port with fsync, synchronous_commit and full_page_writes off.
// As root (CI) both run as the `postgres` user through `setpriv` (initdb
// refuses root), which works only outside Bazel's linux-sandbox: such
// tests need `tags = ["no-sandbox"]`. As another user they run directly.
//
// Typical use, one database per test:
//
//   static PostgresServer* server = PostgresServer::Shared().value();
//   std::string conninfo = server->CreateDatabase().value();
//
// Stop() and Start() stop the server (fast shutdown, SIGINT) and start it
// again on the same port and data directory, to test a database outage.
// The destructor stops the server (SIGKILL if it does not stop in time)
// and removes its directory; the server also gets SIGINT when the thread
// that started it dies, so a crashed test leaves no stray postgres.
#ifndef TL_GATEWAY_TESTS_SUPPORT_POSTGRES_FIXTURE_H_
#define TL_GATEWAY_TESTS_SUPPORT_POSTGRES_FIXTURE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/child_process.h"

namespace tltest {

class PostgresServer {
 public:
  // A new server (initdb's template is made on first use). Fails with a
  // message naming what is missing (postgresql-15 not installed, ...).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Create();
  // One server shared by every test of the binary, started on first use
  // and stopped at exit. A test that stops it must Start() it again.
  static absl::StatusOr<PostgresServer*> Shared();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  bool running() const { return process_ != nullptr; }
  // Fast shutdown (SIGINT), waiting for the process to exit.
  absl::Status Stop();
  // Starts it again on the same port and data directory; ready when it
  // returns (PQping).
  absl::Status Start();
  // SIGSTOP to the server and every process of it (the postmaster first,
  // so it forks no more): a database that keeps its connections open and
  // its port accepting (the kernel does both) but never answers. Thaw()
  // sends SIGCONT. A running server only.
  absl::Status Freeze();
  absl::Status Thaw();

  // A fresh database, named `prefix` plus a counter; returns its libpq
  // conninfo ("host=127.0.0.1 port=... dbname=... user=postgres ...").
  absl::StatusOr<std::string> CreateDatabase(const std::string& prefix = "t");
  // The conninfo of database `dbname` on this server.
  std::string ConnInfo(const std::string& dbname) const;
  // The server's own log (for failure messages).
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  PostgresServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  absl::Status WaitReady(absl::Duration timeout);
  absl::Status SignalAll(int signal);

  const std::string dir_;  // holds data/ and postgres.log
  const int port_;
  std::unique_ptr<ChildProcess> process_;
  std::atomic<int> next_db_{0};
  bool frozen_ = false;
};

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_SUPPORT_POSTGRES_FIXTURE_H_
