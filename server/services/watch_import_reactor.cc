#include "server/services/watch_import_reactor.h"

#include <atomic>
#include <memory>
#include <optional>

#include "absl/time/clock.h"
#include "server/common/log.h"
#include "server/common/serial_queue.h"
#include "server/common/status_details.h"
#include "server/watch/fanout.h"
#include "server/watch/watch_options.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

bool ImportDone(const gw::ImportStatus& s) {
  return s.validating_size() == 0 && s.pending_size() == 0 && s.queued_size() == 0 &&
         s.indexing_size() == 0;
}

namespace {

class WatchImportReactor : public grpc::ServerWriteReactor<gw::ImportStatusEvent> {
 public:
  struct State : std::enable_shared_from_this<State> {
    State(WatchImportReactor* r, const ServiceDeps* d, CallOptions o, std::string integration, std::string index)
        : reactor(r), deps(d), opts(std::move(o)), integration_id(std::move(integration)),
          index_id(std::move(index)) {}

    void Post(absl::AnyInvocable<void()> a) { queue.Run(std::move(a)); }

    // Waits for a poll slot, then reads the status.
    void Poll() {
      if (finished) return;
      const absl::Time now = absl::Now();
      absl::Time slot = deps->poll_budget->Reserve(now);
      std::weak_ptr<State> weak = shared_from_this();
      deps->scheduler->RunAfter(slot - now, [weak](bool cancelled) {
        auto s = weak.lock();
        if (s == nullptr || cancelled) return;
        s->Post([s] {
          if (s->finished) return;
          CallOptions o = s->opts;
          o.deadline = absl::Now() + s->deps->watch.max_interval;
          s->deps->client->GetImportStatus(o, s->integration_id, s->index_id,
                                           [s](absl::StatusOr<gw::ImportStatus> r) {
                                             s->Post([s, r = std::move(r)]() mutable { s->OnStatus(std::move(r)); });
                                           });
        });
      });
    }

    void OnStatus(absl::StatusOr<gw::ImportStatus> r) {
      if (finished) return;
      if (!r.ok()) {
        if (PermanentWatchError(r.status()) || ++failures >= deps->watch.max_consecutive_failures) {
          End(ToGrpcStatus(r.status()));
          return;
        }
        Log(LogLevel::kWarning, "watch", "import status read failed; retrying",
            {{"error", std::string(r.status().message())}});
      } else {
        failures = 0;
        std::string fp = r->SerializeAsString();
        bool done = ImportDone(*r);
        if (fp != fingerprint || done) {
          fingerprint = fp;
          sequence = NextSequence(sequence, absl::Now());
          gw::ImportStatusEvent event;
          *event.mutable_status() = *std::move(r);
          event.set_sequence(sequence);
          event.set_done(done);
          pending = std::move(event);  // latest state only
          MaybeWrite();
        }
        if (done) return;  // no more polls; the stream ends after this event
      }
      gw::Task unknown;
      absl::Duration delay = NextPollInterval(deps->watch, unknown, failures,
                                              deps->task_hub->WebhooksActive(), absl::Now());
      std::weak_ptr<State> weak = shared_from_this();
      deps->scheduler->RunAfter(delay, [weak](bool cancelled) {
        if (auto s = weak.lock(); s != nullptr && !cancelled) s->Post([s] { s->Poll(); });
      });
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
      if (current.done() && !pending) {
        End(grpc::Status::OK);
        return;
      }
      MaybeWrite();
    }

    void End(grpc::Status status) {
      if (finished) return;
      if (writing) {
        if (!deferred_end) deferred_end = status;
        return;
      }
      finished = true;
      reactor->Finish(status);
    }

    SerialQueue queue;
    WatchImportReactor* const reactor;  // used only while !finished
    const ServiceDeps* const deps;
    const CallOptions opts;
    const std::string integration_id;
    const std::string index_id;
    std::string fingerprint;
    int64_t sequence = 0;
    int failures = 0;
    std::optional<gw::ImportStatusEvent> pending;
    gw::ImportStatusEvent current;
    std::optional<grpc::Status> deferred_end;
    bool writing = false;
    bool finished = false;
    std::atomic<uint64_t> registered{0};
  };

  WatchImportReactor(const ServiceDeps* deps, CallOptions opts, std::string integration, std::string index)
      : state_(std::make_shared<State>(this, deps, std::move(opts), std::move(integration), std::move(index))) {}

  std::shared_ptr<State> state() const { return state_; }

  void OnWriteDone(bool ok) override {
    state_->Post([s = state_, ok] { s->WriteDone(ok); });
  }
  void OnCancel() override {
    state_->Post([s = state_] { s->End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); });
  }
  void OnDone() override {
    if (uint64_t id = state_->registered.exchange(0); id != 0) state_->deps->streams->Remove(id);
    delete this;
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerWriteReactor<gw::ImportStatusEvent>* NewWatchImportReactor(const ServiceDeps* deps,
                                                                      const CallOptions& opts,
                                                                      const std::string& integration_id,
                                                                      const std::string& index_id) {
  auto* reactor = new WatchImportReactor(deps, opts, integration_id, index_id);
  std::shared_ptr<WatchImportReactor::State> state = reactor->state();
  if (deps->streams != nullptr) {
    std::weak_ptr<WatchImportReactor::State> weak = state;
    state->registered = deps->streams->Add([weak] {
      if (auto s = weak.lock()) {
        s->Post([s] {
          s->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the gateway is shutting down; reconnect to go on watching the import"));
        });
      }
    });
  }
  state->Post([state] { state->Poll(); });
  return reactor;
}

}  // namespace tlgw
