#include "server/common/executor.h"

#include <pthread.h>

#include <utility>

namespace tlgw {

ThreadExecutor::ThreadExecutor() : thread_([this] { Loop(); }) {}

ThreadExecutor::~ThreadExecutor() { Shutdown(); }

void ThreadExecutor::Run(absl::AnyInvocable<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!exited_) {
      queue_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void ThreadExecutor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // A second caller waits here until the first has joined the worker.
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void ThreadExecutor::Loop() {
  pthread_setname_np(pthread_self(), "tlgw-fanout");  // for top -H, perf and gdb
  while (true) {
    absl::AnyInvocable<void()> next;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]()
                          ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&has_work));
      if (queue_.empty()) {  // and stopping
        exited_ = true;
        return;
      }
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next();
  }
}

}  // namespace tlgw
