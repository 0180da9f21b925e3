// The shared path of every create: request_id protection, the upstream
// create, and a follow-up read so the caller gets the whole resource. One
// mechanism (RunCreateFlow) serves tasks, assets and indexed assets; each
// kind supplies its create, its read and its upstream look-up after a crash.
#ifndef TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_
#define TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/asset.pb.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// SHA-256 (hex) of `request` with its `request_id` field cleared: two
// creates with one request_id must carry the same fields.
std::string RequestFingerprint(const google::protobuf::Message& request);

// The request store's scope of `method`'s request_ids for `tenant`.
std::string CreateScope(const std::string& tenant, const std::string& method);

// The name upstream gives the video of an attempt (RequestStore::Attempt's
// `source`): the filename of an upload; for a URL, its last path segment,
// or a YouTube URL's video id (as the simulator does; docs/design.md).
std::string ExpectedFilename(const std::string& source);

using StartCreate = absl::AnyInvocable<void(TwelveLabsApi::Done<CreatedTask>)>;

// What a create makes, recorded with its request_id before the upstream
// POST so that a retry after a crash can find the task upstream.
// For an asset: no index, `source` its filename or URL. For an indexed
// asset: its index, `source` the asset id.
struct CreateTarget {
  std::string index_id;
  std::string source;     // the upload's filename, or the video's URL
  bool streamed = false;  // an upload: bounded by the call's deadline alone
};

// How long past an attempt's recorded window a task created upstream may
// carry a created_at and still be taken for the attempt's: clocks differ.
inline constexpr absl::Duration kRecoveryClockSkew = absl::Minutes(1);

// With an empty request_id, runs `start` and reads the new task. With one:
// a repeat of a completed create answers the first task (read fresh), a
// repeat while the first may still run answers ABORTED with RetryInfo, and
// a reuse with different fields answers INVALID_ARGUMENT. A repeat after
// the first create's deadline passed unanswered (its gateway died) looks
// upstream for the task that create may have made (same index and file
// name, created in its window, owned by no tenant) and answers it; only
// when there is none does it create (UNAVAILABLE when it cannot look).
// When the follow-up read fails the create still succeeded, so `done` gets
// a Task holding what the create returned (id, index id, video id) rather
// than an error that would make the caller create again.
// The created task is recorded as `tenant`'s.
// Whether a create that failed with `failure` may still have made its task
// upstream (a timeout, a reset, a 5xx, a shutdown): its request_id claim is
// then reopened, not released, so a retry looks upstream before creating.
bool MayHaveCreated(const absl::Status& failure);

void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method,
               const google::protobuf::Message& request, const std::string& request_id,
               const CreateTarget& target, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done);

// What one kind of create supplies to RunCreateFlow. `Resource` is
// gw::Task, gw::Asset or gw::IndexedAsset (anything with id()).
template <typename Resource>
struct CreateFlow {
  std::string method;  // "CreateAsset": the request_id scope and messages
  std::string what;    // "asset": messages and log lines
  const google::protobuf::Message* request = nullptr;  // fingerprinted at once; not kept
  std::string request_id;
  CreateTarget target;  // recorded with the claim, for the look-up after a crash
  // The upstream create: answers the new resource as far as the create's
  // response tells (at least its id).
  absl::AnyInvocable<void(TwelveLabsApi::Done<Resource>)> start;
  // Reads `known` (at least its id) whole. It answers `known` itself when
  // the read fails: the create succeeded, and an error would make the
  // caller create again.
  std::function<void(Resource known, TwelveLabsApi::Done<Resource>)> read;
  // Looks upstream for what an unanswered attempt made: nullopt when it
  // made nothing. Only resources owned by no tenant qualify. Unset when
  // upstream offers no look-up: a retry after a crash then creates again.
  std::function<void(const RequestStore::Attempt&, TwelveLabsApi::Done<std::optional<Resource>>)>
      find;
  // Whether a create that failed with `failure` may still have made its
  // resource upstream (its claim is then reopened, not released). Unset:
  // MayHaveCreated. An upload knows better: one whose bytes did not all
  // arrive cannot have made its asset, whatever the error.
  std::function<bool(const absl::Status& failure)> may_have_created;
};

// RunCreate for any kind: the created (or adopted) resource is recorded
// as `tenant`'s before `done` hears of it.
template <typename Resource>
void RunCreateFlow(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
                   CreateFlow<Resource> flow,
                   absl::AnyInvocable<void(absl::StatusOr<Resource>)> done);

extern template void RunCreateFlow<gw::Task>(const ServiceDeps&, const CallOptions&,
                                             const std::string&, CreateFlow<gw::Task>,
                                             absl::AnyInvocable<void(absl::StatusOr<gw::Task>)>);
extern template void RunCreateFlow<gw::Asset>(const ServiceDeps&, const CallOptions&,
                                              const std::string&, CreateFlow<gw::Asset>,
                                              absl::AnyInvocable<void(absl::StatusOr<gw::Asset>)>);
extern template void RunCreateFlow<gw::IndexedAsset>(
    const ServiceDeps&, const CallOptions&, const std::string&, CreateFlow<gw::IndexedAsset>,
    absl::AnyInvocable<void(absl::StatusOr<gw::IndexedAsset>)>);

// The look-ups after a crash for assets and indexed assets. An asset:
// `GET /assets?filename=` newest first, the one named as the attempt's
// file, created within its window, owned by no tenant, earliest first. An
// indexed asset: `GET /indexes/{id}/indexed-assets` newest first (no
// asset_id filter exists upstream), the one of the attempt's asset created
// within its window, owned by no tenant.
void FindUnansweredAsset(const ServiceDeps& deps, const CallOptions& opts,
                         const RequestStore::Attempt& attempt,
                         TwelveLabsApi::Done<std::optional<gw::Asset>> done);
void FindUnansweredIndexedAsset(const ServiceDeps& deps, const CallOptions& opts,
                                const RequestStore::Attempt& attempt,
                                TwelveLabsApi::Done<std::optional<gw::IndexedAsset>> done);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_
