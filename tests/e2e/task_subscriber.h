// A WatchTask stream read with the callback API, so a test can hold
// thousands open on a few threads; shared by the one-gateway and the
// cluster watch tests.
#ifndef TL_GATEWAY_TESTS_E2E_TASK_SUBSCRIBER_H_
#define TL_GATEWAY_TESTS_E2E_TASK_SUBSCRIBER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"

namespace tltest {

class TaskSubscriber : public grpc::ClientReadReactor<twelvelabs::gateway::v1::TaskEvent> {
 public:
  TaskSubscriber(twelvelabs::gateway::v1::TaskService::Stub* stub, const std::string& task_id,
                 int64_t resume_after = 0) {
    req_.set_task_id(task_id);
    req_.set_resume_after(resume_after);
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(180)));
    stub->async()->WatchTask(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  // The reactor must outlive the call: cancel it and wait for its end.
  ~TaskSubscriber() override {
    ctx_.TryCancel();
    WaitDone(absl::Seconds(10));
  }
  TaskSubscriber(const TaskSubscriber&) = delete;
  TaskSubscriber& operator=(const TaskSubscriber&) = delete;

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(event_);
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& s) override {
    absl::MutexLock lock(&mu_);
    status_ = s;
    done_ = true;
  }
  void Cancel() { ctx_.TryCancel(); }

  std::vector<twelvelabs::gateway::v1::TaskEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // Each event's task status text, in order.
  std::vector<std::string> statuses() {
    std::vector<std::string> out;
    for (const auto& e : events()) out.push_back(e.task().status_text());
    return out;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  std::string last_status() {
    absl::MutexLock lock(&mu_);
    return events_.empty() ? "" : events_.back().task().status_text();
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  // Waits until OnDone; false on timeout.
  bool WaitDone(absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }

 private:
  grpc::ClientContext ctx_;
  twelvelabs::gateway::v1::WatchTaskRequest req_;
  twelvelabs::gateway::v1::TaskEvent event_;
  absl::Mutex mu_;
  std::vector<twelvelabs::gateway::v1::TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_E2E_TASK_SUBSCRIBER_H_
