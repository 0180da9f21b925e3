// IndexAsset's work after its request is validated, as a step of its own:
// wait for the asset to be `ready`, then create the indexed asset (under
// request_id protection) and read it whole. UploadAndIndex runs the same
// step after its upload.
//
// The wait is a subscriber of the shared asset watch engine, on the very
// entry WatchAsset uses (the caller's tenant, the asset id): however many
// calls wait on one asset, and whether or not it is also watched, upstream
// sees one `GET /assets/{id}` per interval. There is no private polling.
#ifndef TL_GATEWAY_SERVER_SERVICES_INDEX_WHEN_READY_H_
#define TL_GATEWAY_SERVER_SERVICES_INDEX_WHEN_READY_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/asset.pb.h"

namespace tlgw {

// Ends a step early. Thread-safe; a no-op once the step has answered or
// its upstream create is under way (that create's answer still comes).
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void Cancel() = 0;
};

// Holds the Cancellable of a call's step so that a gRPC OnCancel, which
// may come before the step has started or after it ended, reaches it.
class CancelSlot {
 public:
  void Set(std::shared_ptr<Cancellable> step) ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Cancellable> step_ ABSL_GUARDED_BY(mu_);
};

// Without a gRPC deadline the wait for an asset still ends after this.
inline constexpr absl::Duration kMaxAssetWait = absl::Minutes(30);

// The time by which a wait must end so that its own answer, not gRPC's
// bare DEADLINE_EXCEEDED, reaches a caller whose deadline is `deadline`.
absl::Time AssetWaitUntil(absl::Time now, absl::Time deadline);

// Indexes `req.asset_id()` into `req.index_id()` once the asset is ready,
// for `call` (admitted; `req`'s fields validated). `deadline` is the call's
// deadline on the gateway's clock (ServiceDeps::clock): the wait ends by
// AssetWaitUntil of it. Answers, through `done` exactly once:
//  - the indexed asset, read whole after the create (what the create
//    returned if that read fails: it was created all the same);
//  - PERMISSION_DENIED when the client may not use the index;
//  - NOT_FOUND (RESOURCE_NOT_EXIST) when the asset does not exist or is
//    another tenant's;
//  - FAILED_PRECONDITION ASSET_FAILED when upstream says the asset failed,
//    with upstream's message in the ErrorInfo metadata `asset_error`;
//  - DEADLINE_EXCEEDED ASSET_NOT_READY when `deadline` (or kMaxAssetWait)
//    comes while the asset is still processing;
//  - CANCELLED when cancelled during the wait (the subscription is
//    released at once);
//  - whatever the create flow answers (request_id in progress, reused with
//    other fields, upstream's refusal).
std::shared_ptr<Cancellable> IndexWhenReady(
    const ServiceDeps& deps, const Admitted& call,
    const twelvelabs::gateway::v1::IndexAssetRequest& req, absl::Time deadline,
    TwelveLabsApi::Done<twelvelabs::gateway::v1::IndexedAsset> done);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_INDEX_WHEN_READY_H_
