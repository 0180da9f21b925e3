// Fakes for the watch hubs' tests: a transport whose requests wait until the
// test completes them on a thread of its choosing, a scheduler that runs
// nothing unless told, an executor that counts its tasks, and a sink that
// records every call and the thread it came on.
#ifndef TL_GATEWAY_TESTS_SERVER_WATCH_FAKES_H_
#define TL_GATEWAY_TESTS_SERVER_WATCH_FAKES_H_

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/common/executor.h"
#include "server/common/scheduler.h"
#include "server/twelvelabs/client.h"
#include "server/upstream/http.h"
#include "server/watch/fanout.h"
#include "server/watch/poll_budget.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// Every wait in these tests ends in a failure, not a hang.
inline constexpr absl::Duration kTestWait = absl::Seconds(30);

inline HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = {{"content-type", "application/json"}};
  return r;
}

// Holds each request until the test completes it; the completion (and so
// the hub's handling of the result) runs on the thread that calls
// CompleteNext(), like the curl event thread in production.
class HeldTransport : public HttpTransport {
 public:
  void Send(HttpRequest request, Callback done) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    urls_.push_back(request.url);
    pending_.push_back(std::move(done));
  }

  // Waits for a request and completes the oldest with `response`. False if
  // none came in time.
  bool CompleteNext(absl::StatusOr<HttpResponse> response) ABSL_LOCKS_EXCLUDED(mu_) {
    Callback done;
    {
      absl::MutexLock lock(&mu_);
      auto has_request = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !pending_.empty(); };
      if (!mu_.AwaitWithTimeout(absl::Condition(&has_request), kTestWait)) return false;
      done = std::move(pending_.front());
      pending_.pop_front();
    }
    done(std::move(response));
    return true;
  }

  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }
  std::vector<std::string> urls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return urls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<Callback> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> urls_ ABSL_GUARDED_BY(mu_);
};

// Keeps the callbacks; runs one only when the test asks.
class ManualScheduler : public Scheduler {
 public:
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    due_.push_back({delay, std::move(fn)});
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return due_.size();
  }
  // The delay asked for by the oldest callback kept.
  absl::Duration next_delay() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return due_.empty() ? absl::InfiniteDuration() : due_.front().first;
  }
  // Runs the oldest callback kept, on this thread. False if there is none.
  bool RunNext(bool cancelled = false) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::AnyInvocable<void(bool)> fn;
    {
      absl::MutexLock lock(&mu_);
      if (due_.empty()) return false;
      fn = std::move(due_.front().second);
      due_.pop_front();
    }
    fn(cancelled);
    return true;
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<std::pair<absl::Duration, absl::AnyInvocable<void(bool)>>> due_ ABSL_GUARDED_BY(mu_);
};

// Runs each task at once on the caller, counting them.
class CountingExecutor : public Executor {
 public:
  void Run(absl::AnyInvocable<void()> fn) override {
    ++runs;
    fn();
  }
  std::atomic<int> runs{0};
};

// Records every call. With `release` set, each call first announces itself
// on `entered` (the first call) and then blocks until `release` is notified.
class RecordingSink : public TaskEventSink {
 public:
  struct Call {
    twelvelabs::gateway::v1::TaskEvent event;  // when !error
    const twelvelabs::gateway::v1::TaskEvent* address = nullptr;
    absl::Status error = absl::OkStatus();
    bool is_error = false;
    std::thread::id thread;
  };

  explicit RecordingSink(absl::Notification* release = nullptr) : release_(release) {}

  void OnEvent(TaskEventPtr event) override {
    Record({*event, event.get(), absl::OkStatus(), false, std::this_thread::get_id()});
  }
  void OnError(const absl::Status& status) override {
    Record({{}, nullptr, status, true, std::this_thread::get_id()});
  }

  std::vector<Call> calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  absl::Notification entered;

 private:
  void Record(Call call) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(std::move(call));
    }
    if (release_ == nullptr) return;
    if (!announced_.exchange(true)) entered.Notify();
    release_->WaitForNotificationWithTimeout(kTestWait);
  }

  absl::Notification* const release_;
  std::atomic<bool> announced_{false};
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

// What a hub under test polls through: the real REST client over a
// HeldTransport, a ManualScheduler and a budget that never makes a poll wait.
struct FakeUpstream {
  FakeUpstream() {
    ClientOptions o;
    o.base_url = "http://sim/v1.3";
    client = *TwelveLabsClient::Create(o, &transport, &scheduler);
  }
  static std::string KeyFor(const std::string&) { return "tlk_test"; }

  HeldTransport transport;
  ManualScheduler scheduler;
  PollBudget budget{1000};
  std::unique_ptr<TwelveLabsClient> client;
};

// Completes the oldest request of `transport` with `response` on a thread
// of its own (standing for the curl event thread) while `sink`, built with
// `release`, blocks in its first call; succeeds if that thread finished
// its work before the sink was let go, i.e. the hub did not fan out on it.
// Releases the sink either way; `*upstream` is the thread's id.
inline testing::AssertionResult CompletesWhileSinkBlocks(HeldTransport& transport,
                                                         absl::StatusOr<HttpResponse> response,
                                                         RecordingSink& sink,
                                                         absl::Notification& release,
                                                         std::thread::id* upstream) {
  absl::Notification completed;
  bool sent = false;
  std::thread thread([&] {
    sent = transport.CompleteNext(std::move(response));
    completed.Notify();
  });
  *upstream = thread.get_id();
  testing::AssertionResult result = testing::AssertionSuccess();
  if (!sink.entered.WaitForNotificationWithTimeout(kTestWait)) {
    result = testing::AssertionFailure() << "the sink was never called";
  } else if (!completed.WaitForNotificationWithTimeout(kTestWait)) {
    result = testing::AssertionFailure()
             << "the fan-out ran on the thread that completed the upstream read";
  }
  release.Notify();
  thread.join();
  if (result && !sent) result = testing::AssertionFailure() << "no request was sent";
  return result;
}

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SERVER_WATCH_FAKES_H_
