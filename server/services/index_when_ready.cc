#include "server/services/index_when_ready.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/watch/watch_engine.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

void CancelSlot::Set(std::shared_ptr<Cancellable> step) {
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    step_ = step;
    cancelled = cancelled_;
  }
  if (cancelled && step != nullptr) step->Cancel();
}

void CancelSlot::Cancel() {
  std::shared_ptr<Cancellable> step;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    step = step_;
  }
  if (step != nullptr) step->Cancel();
}

absl::Time AssetWaitUntil(absl::Time now, absl::Time deadline) {
  // A tenth of what is left, between 100 ms and 2 s, is kept for the
  // answer to travel back before gRPC's own deadline.
  absl::Duration margin =
      std::clamp((deadline - now) / 10, absl::Milliseconds(100), absl::Seconds(2));
  return std::min(deadline - margin, now + kMaxAssetWait);
}

namespace {

absl::Status AssetNotFound(const std::string& id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("asset ", id, " was not found")),
                       "RESOURCE_NOT_EXIST", kUpstreamDomain);
}

// Waits, as one subscriber of the asset's shared watch entry, until the
// asset is terminal, the time is up, or it is cancelled; then unsubscribes
// and answers once.
class AssetReadyWait : public WatchSink, public std::enable_shared_from_this<AssetReadyWait> {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<gw::Asset>)>;
  AssetReadyWait(WatchEngine* engine, Clock* clock, std::string scope, std::string asset_id,
                 Done done)
      : engine_(engine),
        clock_(clock),
        scope_(std::move(scope)),
        asset_id_(std::move(asset_id)),
        done_(std::move(done)) {}

  // `by_deadline`: `until` comes from the call's deadline, not kMaxAssetWait.
  void Start(absl::Time until, bool by_deadline) {
    // The snapshot may arrive (and end the wait) inside Subscribe.
    const uint64_t id = engine_->Subscribe(scope_, asset_id_, shared_from_this());
    bool kept = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ended_) {
        subscription_ = id;
        kept = true;
      }
    }
    if (!kept) {
      engine_->Unsubscribe(scope_, asset_id_, id);
      return;
    }
    std::weak_ptr<AssetReadyWait> weak = shared_from_this();
    const absl::Time now = clock_->Now();
    clock_->RunAfter(std::max(until - now, absl::ZeroDuration()), [weak,
                                                                   by_deadline](bool cancelled) {
      auto self = weak.lock();
      if (self == nullptr) return;
      if (cancelled) {
        self->End(
            WithErrorInfo(absl::UnavailableError("the gateway is shutting down; retry IndexAsset"),
                          "GATEWAY_SHUTTING_DOWN", kGatewayDomain));
        return;
      }
      self->End(WithErrorInfo(
          absl::DeadlineExceededError(absl::StrCat(
              "asset ", self->asset_id_, " was still processing ",
              by_deadline ? "when the call's deadline came"
                          : absl::StrCat("after ", absl::FormatDuration(kMaxAssetWait)),
              "; call IndexAsset again (with a later deadline), or wait with WatchAsset first")),
          "ASSET_NOT_READY", kGatewayDomain, {{"asset_id", self->asset_id_}}));
    });
  }

  void Cancel() {
    End(WithErrorInfo(absl::CancelledError(absl::StrCat("cancelled while asset ", asset_id_,
                                                        " was still processing")),
                      "ASSET_NOT_READY", kGatewayDomain, {{"asset_id", asset_id_}}));
  }

  void OnEvent(WatchEventPtr event) override {
    if (!event->terminal || event->value == nullptr) return;  // still processing
    const auto& asset = static_cast<const gw::Asset&>(*event->value);
    if (asset.status() == gw::ASSET_STATUS_READY) {
      End(asset);
      return;
    }
    const std::string& why = asset.error_message();
    End(WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "asset ", asset_id_, " failed upstream and cannot be indexed",
            why.empty() ? "" : absl::StrCat(" (upstream: ", why, ")"), "; create the asset again")),
        "ASSET_FAILED", kGatewayDomain, {{"asset_id", asset_id_}, {"asset_error", why}}));
  }
  void OnError(const absl::Status& status) override {
    End(status.code() == absl::StatusCode::kNotFound ? AssetNotFound(asset_id_) : status);
  }

 private:
  void End(absl::StatusOr<gw::Asset> result) {
    Done done;
    uint64_t subscription = 0;
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
      done = std::move(done_);
      subscription = std::exchange(subscription_, 0);
    }
    // Released before the create: a later watcher or waiter is not held up.
    if (subscription != 0) engine_->Unsubscribe(scope_, asset_id_, subscription);
    done(std::move(result));
  }

  WatchEngine* const engine_;
  Clock* const clock_;
  const std::string scope_;
  const std::string asset_id_;
  absl::Mutex mu_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  Done done_ ABSL_GUARDED_BY(mu_);
};

// One IndexWhenReady: cancellation reaches the wait, whenever it starts.
class IndexStep : public Cancellable {
 public:
  void Cancel() override {
    std::shared_ptr<AssetReadyWait> wait;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      wait = wait_;
    }
    if (wait != nullptr) wait->Cancel();
  }
  // False when already cancelled: the wait is then not started.
  bool Attach(std::shared_ptr<AssetReadyWait> wait) {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return false;
    wait_ = std::move(wait);
    return true;
  }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<AssetReadyWait> wait_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<Cancellable> IndexWhenReady(const ServiceDeps& deps, const Admitted& call,
                                            const gw::IndexAssetRequest& req, absl::Time deadline,
                                            TwelveLabsApi::Done<gw::IndexedAsset> done) {
  auto step = std::make_shared<IndexStep>();
  if (auto s = Authenticator::CheckResources(call.who, {req.index_id(), "", ""}); !s.ok()) {
    done(s);
    return step;
  }
  if (auto v = CheckOwnedIdVisible(deps, call.who, req.asset_id(), AssetNotFound(req.asset_id())); !v.ok()) {
    done(v);
    return step;
  }
  const ServiceDeps* d = &deps;
  const absl::Time now = deps.clock->Now();
  const absl::Time until = AssetWaitUntil(now, deadline);
  const bool by_deadline = until < now + kMaxAssetWait;
  // The upstream calls keep the call's own deadline (`call.opts`, on the
  // system clock); `deadline` (on the gateway's clock) bounds the wait.
  const CallOptions opts = call.opts;
  const std::string tenant = call.who.tenant;
  // The wait comes before the request_id claim, so the claim covers only
  // the POST: a gateway that dies while waiting leaves no claim behind,
  // and one that dies mid-POST leaves one that a retry takes over (after
  // looking upstream) within the request timeout, not the whole wait.
  auto after_wait = [d, opts, tenant, req,
                     done = std::move(done)](absl::StatusOr<gw::Asset> asset) mutable {
    if (!asset.ok()) {
      done(asset.status());
      return;
    }
    auto request = std::make_shared<const gw::IndexAssetRequest>(req);
    CreateFlow<gw::IndexedAsset> flow;
    flow.method = "IndexAsset";
    flow.what = "indexed asset";
    flow.request = request.get();  // fingerprinted before RunCreateFlow returns
    flow.request_id = request->request_id();
    flow.target.index_id = request->index_id();
    flow.target.source = request->asset_id();
    flow.start = [d, opts, request](TwelveLabsApi::Done<gw::IndexedAsset> created) {
      d->api->CreateIndexedAsset(
          opts, *request,
          [index_id = request->index_id(), asset_id = request->asset_id(),
           created = std::move(created)](absl::StatusOr<CreatedIndexedAsset> r) mutable {
            if (!r.ok()) {
              // Upstream's 404 is for the index or the asset; it does not
              // say which, so the message keeps upstream's words.
              created(r.status());
              return;
            }
            gw::IndexedAsset ia;
            ia.set_id(r->id);
            ia.set_index_id(index_id);
            ia.set_asset_id(r->asset_id.empty() ? asset_id : r->asset_id);
            created(std::move(ia));
          });
    };
    flow.read = [d, opts, index_id = request->index_id()](
                    gw::IndexedAsset known, TwelveLabsApi::Done<gw::IndexedAsset> read) {
      // A repeat of a completed create knows only the id; the index is the
      // request's (fingerprinted, so the same).
      if (known.index_id().empty()) known.set_index_id(index_id);
      // The 202 carries only the ids: read the whole indexed asset.
      d->api->GetIndexedAsset(
          opts, known.index_id(), known.id(),
          [known, read = std::move(read)](absl::StatusOr<gw::IndexedAsset> ia) mutable {
            if (ia.ok()) {
              read(std::move(ia));
              return;
            }
            Log(LogLevel::kWarning, "create", "created indexed asset could not be read back",
                {{"id", known.id()}});
            read(std::move(known));
          });
    };
    flow.find = [d, opts](const RequestStore::Attempt& attempt,
                          TwelveLabsApi::Done<std::optional<gw::IndexedAsset>> found) {
      FindUnansweredIndexedAsset(*d, opts, attempt, std::move(found));
    };
    RunCreateFlow<gw::IndexedAsset>(*d, opts, tenant, std::move(flow), std::move(done));
  };
  auto wait = std::make_shared<AssetReadyWait>(deps.asset_watches, deps.clock, tenant,
                                               req.asset_id(), std::move(after_wait));
  if (!step->Attach(wait)) {
    wait->Cancel();  // answers at once; never subscribes
    return step;
  }
  wait->Start(until, by_deadline);
  return step;
}

}  // namespace tlgw
