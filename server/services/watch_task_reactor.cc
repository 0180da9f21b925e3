#include "server/services/watch_task_reactor.h"

#include <atomic>
#include <memory>
#include <optional>

#include "server/common/serial_queue.h"
#include "server/common/status_details.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

class WatchTaskReactor : public grpc::ServerWriteReactor<gw::TaskEvent> {
 public:
  // The sink. Shared with the hub, which may call it after the call ended;
  // every action checks `finished` before touching the reactor. It also
  // holds the subscription, so unsubscribing never needs the reactor.
  struct State : TaskEventSink {
    State(WatchTaskReactor* r, TaskWatchHub* h, std::string sc, std::string id, int64_t resume)
        : reactor(r), hub(h), scope(std::move(sc)), task_id(std::move(id)), last_sequence(resume) {}

    void Subscribe(const std::string& api_key, const std::shared_ptr<State>& self) {
      subscription = hub->Subscribe(scope, task_id, api_key, self);
      // The call may have ended while subscribing (OnDone found no id yet).
      if (done) Unsubscribe();
    }
    void Unsubscribe() {
      uint64_t id = subscription.exchange(0);
      if (id != 0) hub->Unsubscribe(scope, task_id, id);
    }

    void OnEvent(const gw::TaskEvent& event) override {
      queue.Run([this, event] { Accept(event); });
    }
    void OnError(const absl::Status& status) override {
      queue.Run([this, status] { End(ToGrpcStatus(status)); });
    }

    void Accept(const gw::TaskEvent& event) {
      if (finished) return;
      if (event.sequence() <= last_sequence) {
        // Seen before (resume_after, or an older event arriving late). If it
        // is the terminal state, the client has it: end the stream.
        if (IsTerminal(event.task().status()) && !writing && !pending) End(grpc::Status::OK);
        return;
      }
      last_sequence = event.sequence();
      pending = event;  // replaces an unsent older state
      MaybeWrite();
    }

    void MaybeWrite() {
      if (finished || writing || !pending) return;
      current = *std::move(pending);
      pending.reset();
      writing = true;
      reactor->StartWrite(&current);
    }

    void WriteDone(bool ok) {
      writing = false;
      if (deferred_end) {
        End(*deferred_end);
        return;
      }
      if (!ok) {
        End(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
        return;
      }
      if (IsTerminal(current.task().status()) && !pending) {
        End(grpc::Status::OK);
        return;
      }
      MaybeWrite();
    }

    void End(grpc::Status status) {
      if (finished) return;
      if (writing) {  // finish once the write in flight completes
        if (!deferred_end) deferred_end = status;
        return;
      }
      finished = true;
      reactor->Finish(status);
    }

    SerialQueue queue;
    WatchTaskReactor* const reactor;  // used only while !finished
    TaskWatchHub* const hub;
    const std::string scope;
    const std::string task_id;
    std::atomic<uint64_t> subscription{0};
    std::atomic<bool> done{false};
    // Touched only inside `queue` actions:
    int64_t last_sequence;
    std::optional<gw::TaskEvent> pending;
    gw::TaskEvent current;
    std::optional<grpc::Status> deferred_end;
    bool writing = false;
    bool finished = false;
  };

  WatchTaskReactor(TaskWatchHub* hub, std::string scope, std::string task_id, int64_t resume_after)
      : state_(std::make_shared<State>(this, hub, std::move(scope), std::move(task_id), resume_after)) {}

  std::shared_ptr<State> state() const { return state_; }

  void OnWriteDone(bool ok) override {
    state_->queue.Run([s = state_, ok] { s->WriteDone(ok); });
  }
  void OnCancel() override {
    state_->Unsubscribe();  // frees the hub entry at once, not when OnDone comes
    state_->queue.Run([s = state_] { s->End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); });
  }
  void OnDone() override {
    state_->done = true;
    state_->Unsubscribe();
    delete this;
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerWriteReactor<gw::TaskEvent>* NewWatchTaskReactor(TaskWatchHub* hub, const std::string& scope,
                                                             const std::string& task_id,
                                                             const std::string& api_key,
                                                             int64_t resume_after) {
  auto* reactor = new WatchTaskReactor(hub, scope, task_id, resume_after);
  // Only the shared state is used from here on: the call may end (and the
  // reactor be deleted) while subscribing.
  std::shared_ptr<WatchTaskReactor::State> state = reactor->state();
  state->Subscribe(api_key, state);
  return reactor;
}

}  // namespace tlgw
