#include "server/services/watch_reactor.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"

#include "server/common/serial_queue.h"
#include "server/services/deps.h"
#include "server/common/status_details.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

template <typename Event>
class WatchReactor : public grpc::ServerWriteReactor<Event> {
 public:
  // The sink. Shared with the hub, which may call it after the call ended;
  // every action checks `finished` before touching the reactor. It also
  // holds the subscription, so unsubscribing never needs the reactor.
  struct State : WatchSink {
    State(WatchReactor* r, WatchStreamOptions o) : reactor(r), options(std::move(o)) {}

    void Subscribe(const std::shared_ptr<State>& self) {
      if (options.watch_revocation) {
        std::weak_ptr<State> weak = self;
        revocation = options.watch_revocation([weak] {
          if (auto s = weak.lock()) {
            s->OnError(WithErrorInfo(absl::UnauthenticatedError("the client's credentials were revoked"),
                                     "CREDENTIALS_REVOKED", kGatewayDomain));
          }
        });
      }
      if (options.registry != nullptr) {
        std::weak_ptr<State> weak = self;
        registered = options.registry->Add([weak] {
          if (auto s = weak.lock()) s->queue.Run([s] { s->EndForShutdown(); });
        });
      }
      subscription = options.engine->Subscribe(options.scope, options.subject, self);
      // The call may have ended while subscribing (OnDone found no id yet).
      if (done) Unsubscribe();
    }
    void Unsubscribe() {
      uint64_t id = subscription.exchange(0);
      if (id != 0) options.engine->Unsubscribe(options.scope, options.subject, id);
      uint64_t rev = revocation.exchange(0);
      if (rev != 0) options.unwatch_revocation(rev);
      uint64_t reg = registered.exchange(0);
      if (reg != 0) options.registry->Remove(reg);
    }

    // The resume_after to end with: the newest sequence this stream dealt
    // with (sent, filtered out, or seen before the reconnect), but below
    // every state it holds unsent, so a reconnect brings each of them
    // again. `last_sequence` counts an event once accepted, before it is
    // written: on its own it would skip what a slow reader never got. A
    // write in flight counts as sent: the end waits for it, and its status
    // follows the message on the stream (if the write fails, the call is
    // gone and the status with it). Pending is written oldest first, so
    // what was sent lies below it and does not come twice.
    int64_t ResumePoint() const {
      int64_t resume = options.resume_after;
      for (const auto& [item, seq] : last_sequence) resume = std::max(resume, seq);
      for (const auto& [item, e] : pending) resume = std::min(resume, e->sequence - 1);
      return resume;
    }

    // Tells the client how to carry on where it left off.
    void EndForShutdown() {
      const int64_t resume = ResumePoint();
      End(ToGrpcStatus(WithErrorInfo(
          absl::UnavailableError(absl::StrCat("the gateway is shutting down; reconnect with resume_after=",
                                              resume, " to continue where this stream stopped")),
          "GATEWAY_SHUTTING_DOWN", kGatewayDomain, {{"resume_after", absl::StrCat(resume)}})));
    }

    // The filter could not judge the event of `sequence` (the ownership
    // store is unreachable): showing it could leak another tenant's task,
    // dropping it would lose a change. Ends the stream with the filter's
    // error and the resume_after below the oldest event not yet sent.
    void EndUndecided(const absl::Status& error, int64_t sequence) {
      const int64_t resume = std::min(ResumePoint(), sequence - 1);
      pending.clear();
      absl::Status ended(error.code(), absl::StrCat(error.message(), "; reconnect with resume_after=", resume,
                                                    " to continue where this stream stopped"));
      ended = WithErrorInfo(ended, ErrorReason(error).value_or("STATE_STORE_UNAVAILABLE"), kGatewayDomain,
                            {{"resume_after", absl::StrCat(resume)}});
      if (auto delay = RetryDelay(error)) ended = WithRetryDelay(ended, *delay);
      End(ToGrpcStatus(ended));
    }

    // Keeps the engine's event (shared by every subscriber of the change)
    // rather than a copy: no per-stream copy of a change, and an idle
    // stream holds only a pointer to the last one.
    void OnEvent(WatchEventPtr event) override {
      queue.Run([this, event = std::move(event)] { Accept(event); });
    }
    void OnError(const absl::Status& status) override {
      absl::Status mapped = options.map_error ? options.map_error(status) : status;
      queue.Run([this, mapped] { End(ToGrpcStatus(mapped)); });
    }

    void Accept(const WatchEventPtr& shared) {
      const WatchEvent& event = *shared;
      if (finished) return;
      const std::string& id = event.item;
      int64_t& last = last_sequence[id];
      if (event.sequence <= std::max(last, options.resume_after)) {
        // Seen before (resume_after, or an older event arriving late). An
        // item's terminal state the client already has ends the stream.
        if (options.end_on_terminal && event.terminal && !writing && pending.empty()) {
          End(grpc::Status::OK);
        }
        return;
      }
      last = event.sequence;
      if (options.admit) {
        if (absl::Status s = options.admit(event); !s.ok()) {
          pending.clear();
          End(ToGrpcStatus(s));
          return;
        }
      }
      if (options.filter) {
        absl::StatusOr<bool> keep = options.filter(event);
        if (!keep.ok()) {
          EndUndecided(keep.status(), event.sequence);
          return;
        }
        if (!*keep) {
          pending.erase(id);  // an unsent older state no longer matches
          return;
        }
      }
      pending[id] = shared;  // replaces an unsent older state of the item
      MaybeWrite();
    }

    void MaybeWrite() {
      if (finished || writing || pending.empty()) return;
      // The oldest change first.
      auto next = pending.begin();
      for (auto it = pending.begin(); it != pending.end(); ++it) {
        if (it->second->sequence < next->second->sequence) next = it;
      }
      current = std::move(next->second);
      pending.erase(next);
      writing = true;
      reactor->StartWrite(static_cast<const Event*>(current->message.get()));
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
      if (options.end_on_terminal && current->terminal && pending.empty()) {
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
    WatchReactor* const reactor;  // used only while !finished
    const WatchStreamOptions options;
    std::atomic<uint64_t> subscription{0};
    std::atomic<uint64_t> revocation{0};
    std::atomic<uint64_t> registered{0};
    std::atomic<bool> done{false};
    // Touched only inside `queue` actions:
    std::map<std::string, int64_t> last_sequence;  // per item
    std::map<std::string, WatchEventPtr> pending;  // latest unsent state per item
    WatchEventPtr current;  // being written, or the last written
    std::optional<grpc::Status> deferred_end;
    bool writing = false;
    bool finished = false;
  };

  explicit WatchReactor(WatchStreamOptions options)
      : state_(std::make_shared<State>(this, std::move(options))) {}

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

void BindRevocation(const ServiceDeps& deps, const CallIdentity& who, WatchStreamOptions* o) {
  Authenticator* auth = deps.auth;
  std::string client = who.client_id;
  o->watch_revocation = [auth, client](std::function<void()> end) {
    return auth->WatchRevocation(client, std::move(end));
  };
  o->unwatch_revocation = [auth](uint64_t id) { auth->Unwatch(id); };
  o->registry = deps.streams;
}

template <typename Event>
grpc::ServerWriteReactor<Event>* NewWatchReactor(WatchStreamOptions options) {
  auto* reactor = new WatchReactor<Event>(std::move(options));
  // Only the shared state is used from here on: the call may end (and the
  // reactor be deleted) while subscribing.
  std::shared_ptr<typename WatchReactor<Event>::State> state = reactor->state();
  state->Subscribe(state);
  return reactor;
}

template grpc::ServerWriteReactor<gw::AssetEvent>* NewWatchReactor<gw::AssetEvent>(WatchStreamOptions);
template grpc::ServerWriteReactor<gw::IndexedAssetEvent>* NewWatchReactor<gw::IndexedAssetEvent>(
    WatchStreamOptions);
template grpc::ServerWriteReactor<gw::TaskEvent>* NewWatchReactor<gw::TaskEvent>(WatchStreamOptions);
template grpc::ServerWriteReactor<gw::ImportStatusEvent>* NewWatchReactor<gw::ImportStatusEvent>(
    WatchStreamOptions);

}  // namespace tlgw
