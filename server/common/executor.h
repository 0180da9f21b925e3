// Hands work to another thread to run (or, in tests, runs it at once).
//
// Used to move the watch hubs' fan-out off the thread that completed the
// upstream read (the single libcurl event thread): one fan-out to 10,000
// subscribers must not delay every other upstream completion.
//
// Why not the existing pieces: SerialQueue runs work on the submitting
// thread (which is the problem here), and ThreadScheduler is for timers
// whose callbacks must not block, so a long fan-out there would delay every
// poll and retry.
#ifndef TL_GATEWAY_SERVER_COMMON_EXECUTOR_H_
#define TL_GATEWAY_SERVER_COMMON_EXECUTOR_H_

#include <deque>
#include <string>
#include <vector>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

// The seam: production code gets a ThreadExecutor, tests may use an
// InlineExecutor. Thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `fn` exactly once, later or now, on a thread the executor picks.
  // It may run before Run() returns and on the caller's thread (an
  // InlineExecutor, a ThreadExecutor after Shutdown()), so callers hold no
  // lock that `fn` takes.
  virtual void Run(absl::AnyInvocable<void()> fn) = 0;
};

// Runs `fn` at once, on the caller's thread. For tests.
class InlineExecutor : public Executor {
 public:
  void Run(absl::AnyInvocable<void()> fn) override { fn(); }
};

// Worker threads taking work from a FIFO queue. With one thread, work runs
// in the order it was handed over, one piece at a time (the watch fan-out);
// with more, pieces run concurrently (upstream completions). Shutdown() (or the destructor)
// lets the worker run everything queued, including work handed over while
// it drains, then joins it; work handed over once the worker has gone runs
// at once on the caller's thread, so none is ever lost. Work must not call
// Shutdown() or destroy the executor.
class ThreadExecutor : public Executor {
 public:
  // `name` names the threads (at most 15 characters are kept).
  explicit ThreadExecutor(int threads = 1, std::string name = "tlgw-fanout");
  ~ThreadExecutor() override;
  ThreadExecutor(const ThreadExecutor&) = delete;
  ThreadExecutor& operator=(const ThreadExecutor&) = delete;

  void Run(absl::AnyInvocable<void()> fn) override ABSL_LOCKS_EXCLUDED(mu_);
  // Idempotent. Returns once the queued work has run.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;  // every worker has left Loop()
  int workers_exited_ ABSL_GUARDED_BY(mu_) = 0;
  const int thread_count_;
  const std::string name_;
  absl::Mutex join_mu_;  // serializes joining: Shutdown() may race the destructor's
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_EXECUTOR_H_
