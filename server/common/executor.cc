#include "server/common/executor.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace tlgw {

ThreadExecutor::ThreadExecutor(int threads, std::string name)
    : thread_count_(std::max(1, threads)), name_(std::move(name)) {
  absl::MutexLock lock(&join_mu_);
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { Loop(); });
}

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
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ThreadExecutor::Loop() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());  // for top -H, perf and gdb
  while (true) {
    absl::AnyInvocable<void()> next;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]()
                          ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&has_work));
      if (queue_.empty()) {  // and stopping
        // The last worker out makes later work run on its caller's thread.
        if (++workers_exited_ == thread_count_) exited_ = true;
        return;
      }
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next();
  }
}

}  // namespace tlgw
