// What the cluster watch tests share: a subscriber that behaves as the
// stream reactor does, and a kind whose replica can be killed.
#ifndef TL_GATEWAY_TESTS_SERVER_WATCH_CLUSTER_TEST_SUPPORT_H_
#define TL_GATEWAY_TESTS_SERVER_WATCH_CLUSTER_TEST_SUPPORT_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/watch/watch_engine.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

// A subscriber as the stream reactor is: it skips what it saw (resume_after,
// or an older event arriving late) and records the rest.
class Sink : public WatchSink {
 public:
  explicit Sink(int64_t resume_after = 0) : last_(resume_after) {}
  void OnEvent(WatchEventPtr event) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (event->sequence <= last_) return;
    last_ = event->sequence;
    events_.push_back(std::move(event));
  }
  void OnError(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    error_ = status;
  }
  std::vector<WatchEventPtr> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<std::string> statuses() const {
    std::vector<std::string> out;
    for (const auto& e : events()) out.push_back(static_cast<const gw::Task&>(*e->value).status_text());
    return out;
  }
  std::vector<int64_t> sequences() const {
    std::vector<int64_t> out;
    for (const auto& e : events()) out.push_back(e->sequence);
    return out;
  }
  bool terminal() const {
    auto e = events();
    return !e.empty() && e.back()->terminal;
  }
  int64_t last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  absl::Status error() const {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  int64_t last_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<WatchEventPtr> events_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// A replica's kind: the real one over the shared upstream, whose answers
// are dropped once the replica is killed (a dead process reads nothing).
class KillableKind : public WatchKind {
 public:
  explicit KillableKind(WatchKind* inner) : inner_(inner), dead_(std::make_shared<std::atomic<bool>>(false)) {}
  void Kill() { *dead_ = true; }
  const char* name() const override { return inner_->name(); }
  void Fetch(const std::string& subject, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override {
    inner_->Fetch(subject, cursor, opts, [dead = dead_, done = std::move(done)](absl::StatusOr<Read> r) mutable {
      if (!*dead) done(std::move(r));
    });
  }
  std::shared_ptr<const google::protobuf::Message> MakeEvent(const WatchItem& item, int64_t sequence,
                                                             gw::EventSource source,
                                                             absl::Time now) const override {
    return inner_->MakeEvent(item, sequence, source, now);
  }
  absl::Duration NextInterval(const WatchOptions& options, const std::vector<const WatchItem*>& items,
                              int failures, bool webhooks_active, absl::Time now) const override {
    return inner_->NextInterval(options, items, failures, webhooks_active, now);
  }
  bool EndsWhenTerminal() const override { return inner_->EndsWhenTerminal(); }
  std::optional<WatchItem> FromWebhook(const WatchItem& known, const std::string& status) const override {
    return inner_->FromWebhook(known, status);
  }
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const override {
    return inner_->ParseValue(bytes);
  }

 private:
  WatchKind* const inner_;
  std::shared_ptr<std::atomic<bool>> dead_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SERVER_WATCH_CLUSTER_TEST_SUPPORT_H_
